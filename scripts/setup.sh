#!/usr/bin/env bash
# Installs every Debian 12 package g4u needs to build, test and run. Idempotent: packages that
# are already installed are skipped, so a second run does nothing and needs no network.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-pthread        # without OpenBLAS LibTorch uses a ~40x slower reference BLAS
  libfmt-dev nlohmann-json3-dev libcli11-dev
  catch2 libbenchmark-dev
  libsentencepiece-dev sentencepiece
  libsndfile1-dev libsoxr-dev libstb-dev
  libjpeg62-turbo-dev libpng-dev zlib1g-dev  # JPEG/PNG decoding as PIL does it (model/media)
  libicu-dev                               # Unicode tables for the Python-exact text normalizers
  libboost-math-dev                        # Student-t / beta functions of the statistics
  libespeak-ng-dev espeak-ng-data
  clang-14 libfuzzer-14-dev                # the asan preset: ASan + UBSan tests and the libFuzzer targets
  slurm-wlm munge                          # the Slurm integration test (tests/slurm): a single-node cluster
)
# Optional: headless Chromium renders report.html in the reports tests (skipped without it).
if [ "${G4U_WITH_CHROMIUM:-0}" = "1" ]; then
  packages+=(chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
