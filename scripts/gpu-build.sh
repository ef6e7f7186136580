#!/usr/bin/env bash
# Builds g4u with CUDA on a GPU machine: against the LibTorch that comes with its PyTorch
# (python3 -c "import torch; print(torch.utils.cmake_prefix_path)"), for the GPU's architecture
# (sm_90 for an H100 / H200 unless TORCH_CUDA_ARCH_LIST says otherwise). Libraries the machine
# lacks come from the Debian packages that scripts/gpu-deps.sh put into .gpu-deps/ (unpacked here
# into a private prefix; nothing is installed system-wide). Speech synthesis is left out.
#
#   scripts/gpu-build.sh [build-dir] [target...]    default: build/gpu, targets g4u and the model,
#                                                   quant and quant/io tests
#   TORCH_PREFIX=<LibTorch cmake prefix> scripts/gpu-build.sh ...   another LibTorch (no CUDA checks)
#   G4U_CMAKE_ARGS="-D..."                                          more CMake settings
# Then: build/gpu/apps/g4u bench --model tiny --device cuda ...  (the binaries find the prefix's
# libraries, and theirs, through DT_RPATH: no LD_LIBRARY_PATH needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build/gpu}")  # absolute: the prefix paths below are written into files
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(g4u g4u_model_tests g4u_quant_tests g4u_quant_io_tests)

if [ -n "${TORCH_PREFIX:-}" ]; then
  # Another LibTorch's CMake prefix (e.g. a CPU one, to check this script and the 2.x API off a GPU).
  torch_prefix=$TORCH_PREFIX
else
  python=${PYTHON:-python3}
  torch_prefix=$("$python" -c "import torch; print(torch.utils.cmake_prefix_path)") ||
    { echo "gpu-build: $python cannot import torch" >&2; exit 2; }
  "$python" -c "import torch, sys; sys.exit(0 if torch.version.cuda else 1)" ||
    { echo "gpu-build: the PyTorch of $python has no CUDA" >&2; exit 2; }
  command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] ||
    { echo "gpu-build: no nvcc (CUDA toolkit) found" >&2; exit 2; }
  export PATH="$PATH:/usr/local/cuda/bin"
fi

# The Debian packages, unpacked once into build/gpu/deps (their pkg-config files rewritten to point there).
deps_src="$root/.gpu-deps"
prefix="$build/deps"
if [ -d "$deps_src" ] && ls "$deps_src"/*.deb >/dev/null 2>&1; then
  if [ ! -f "$prefix/.unpacked" ] || [ "$deps_src/SHA256SUMS" -nt "$prefix/.unpacked" ]; then
    (cd "$deps_src" && sha256sum --quiet -c SHA256SUMS) || { echo "gpu-build: .gpu-deps is damaged" >&2; exit 2; }
    rm -rf "$prefix" && mkdir -p "$prefix"
    for deb in "$deps_src"/*.deb; do dpkg-deb -x "$deb" "$prefix" 2>/dev/null || {
      # No dpkg on the machine: a .deb is an ar archive holding data.tar.*.
      tmp=$(mktemp -d); (cd "$tmp" && ar x "$deb" && tar -xf data.tar.* -C "$prefix"); rm -rf "$tmp"; }
    done
    # Debian's .pc files name /usr; make them name the prefix.
    find "$prefix" -name '*.pc' -print0 | xargs -0 sed -i -E "s#^(prefix|exec_prefix|libdir|includedir)( *)=( *)/usr#\1\2=\3$prefix/usr#"
    # Library symlinks that point at absolute /lib paths (zlib) point into the prefix instead.
    find "$prefix" -type l | while IFS= read -r l; do
      t=$(readlink "$l"); case "$t" in /*) ln -sfn "$prefix$t" "$l" ;; esac
    done
    touch "$prefix/.unpacked"
    rm -f "$build/CMakeCache.txt"  # pkg-config results are cached: find everything in the new prefix
  fi
  export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  search="$torch_prefix;$prefix/usr;$prefix/usr/lib/x86_64-linux-gnu/cmake"
else
  echo "gpu-build: no .gpu-deps (scripts/gpu-deps.sh): relying on the machine's own libraries" >&2
  search="$torch_prefix"
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$search" \
  -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" \
  -DG4U_WITH_SPEECH=OFF -DG4U_BUILD_BENCH=OFF -DG4U_BUILD_TESTS=ON \
  -DCMAKE_BUILD_RPATH="$prefix/usr/lib/x86_64-linux-gnu;$prefix/lib/x86_64-linux-gnu" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,--disable-new-dtags" -DCMAKE_SHARED_LINKER_FLAGS="-Wl,--disable-new-dtags" \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16 ${G4U_CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
echo "gpu-build: built ${targets[*]} in $build"
# Smoke run: the tiny preset's logits on the device this build is for.
device=cuda
[ -z "${TORCH_PREFIX:-}" ] || device=cpu
"$build/apps/g4u" forward --model tiny --tokens 2,17,42 --out "$build/smoke_logits.f32" --device "$device" --json |
  grep -E '"(device|argmax)"' -A3 | head -8
