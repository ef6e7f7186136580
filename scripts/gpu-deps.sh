#!/usr/bin/env bash
# Fetches the Debian 12 packages that g4u needs beyond a CUDA PyTorch, for a GPU machine that has
# CUDA, PyTorch (with its LibTorch), CMake and ninja but no package registry. Run it here (Debian 12
# with apt); the .deb files land in .gpu-deps/ (ignored by git, ~40 MiB), which travels with the tree
# to the GPU machine, where scripts/gpu-build.sh unpacks them into a private prefix.
#
# Before it finishes it unpacks the set into a scratch prefix and checks that every shared library
# in it finds its own dependencies in the set or in the C/C++ runtime any Linux distribution has.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/.gpu-deps}

# -dev packages for the headers, pkg-config and CMake files; the runtime libraries they need.
packages=(
  libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev catch2
  libsentencepiece-dev libsentencepiece0 libprotobuf-lite32
  libsndfile1-dev libsndfile1 libflac12 libogg0 libvorbis0a libvorbisenc2 libopus0 libmpg123-0 libmp3lame0
  libsoxr-dev libsoxr0 libgomp1
  libstb-dev libstb0
  libjpeg62-turbo-dev libjpeg62-turbo libpng-dev libpng16-16 zlib1g-dev zlib1g
  libicu-dev libicu72 icu-devtools
  libboost1.74-dev
)
# Not speech synthesis (libespeak-ng, which pulls in the PulseAudio and X11 client libraries):
# gpu-build.sh configures with -DG4U_WITH_SPEECH=OFF.

mkdir -p "$out"
rm -f "$out"/*.deb
if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
  apt-get update -q
fi
# apt-get download writes into the current folder; the _apt sandbox user may not write there.
(cd "$out" && apt-get download -q -o APT::Sandbox::User=root "${packages[@]}")

# Check: unpack into a scratch prefix and resolve every shared library against it.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for deb in "$out"/*.deb; do dpkg -x "$deb" "$scratch"; done
libdir="$scratch/usr/lib/x86_64-linux-gnu"
missing=0
while IFS= read -r so; do
  while IFS= read -r line; do
    echo "gpu-deps: $(basename "$so") needs $line, which the set lacks" >&2
    missing=1
  done < <(env -i LD_LIBRARY_PATH="$libdir" ldd "$so" 2>/dev/null | awk '/not found/ {print $1}')
done < <(find "$libdir" -maxdepth 1 -name '*.so.*' -type f)
# Base libraries the check may resolve from this machine: those every distribution ships.
while IFS= read -r so; do
  env -i LD_LIBRARY_PATH="$libdir" ldd "$so" 2>/dev/null | awk '/=>/ && $3 !~ /^\/tmp/ {print $3}'
done < <(find "$libdir" -maxdepth 1 -name '*.so.*' -type f) | sort -u | while IFS= read -r dep; do
  case "$(basename "$dep")" in
    libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) ;;
    *) echo "gpu-deps: note: resolved $(basename "$dep") from this machine" >&2 ;;
  esac
done
[ "$missing" -eq 0 ] || { echo "gpu-deps: incomplete set" >&2; exit 1; }

(cd "$out" && sha256sum *.deb > SHA256SUMS)
echo "gpu-deps: $(ls "$out"/*.deb | wc -l) packages, $(du -sh "$out" | cut -f1) in $out"
