#!/usr/bin/env bash
# Installs the llama.cpp peer: the npm package node-llama-cpp with its prebuilt CPU binary
# @node-llama-cpp/linux-x64 (no GPU variants, no build from source, no models) into a cache folder
# outside the repository. Idempotent: a second run with the same versions does nothing.
#
#   bash bench/peer/install.sh            # into ${G4U_PEER_DIR:-~/.cache/g4u/peer}
#   G4U_PEER_DIR=/some/dir bash bench/peer/install.sh
#   bash bench/peer/install.sh --cpu-variant haswell   # also ${DIR}-cpu-haswell (below)
#
# --cpu-variant NAME: the prebuilt binary holds one ggml CPU backend per x86 generation
# (libggml-cpu-haswell.so, -skylakex, -zen4, ...) and llama.cpp loads the best one this CPU runs.
# This makes a second folder, ${DIR}-cpu-NAME, whose binary holds only libggml-cpu-NAME.so, so
# llama.cpp runs e.g. its AVX2 code (haswell: AVX2 + FMA + F16C, no AVX-512) on a newer CPU, the
# peer of g4u's G4U_KERNEL_ISA=avx2 (peer_bench.py --isa avx2).
#
# Prints the folder on stdout. Needs node >= 20 and npm; reaches only the npm registry.
set -euo pipefail

variant=""
case "${1:-}" in
  "") ;;
  --cpu-variant)
    variant="${2:-}"
    [[ "${variant}" =~ ^[a-z0-9_]+$ ]] || { echo "install.sh: --cpu-variant needs a name such as haswell" >&2; exit 2; } ;;
  *) echo "install.sh: unknown argument '$1' (known: --cpu-variant NAME)" >&2; exit 2 ;;
esac

VERSION="3.22.1"
DIR="${G4U_PEER_DIR:-${HOME}/.cache/g4u/peer}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "install.sh: only linux-x64 has a prebuilt CPU binary wired up here (got $(uname -s)-$(uname -m))" >&2; exit 2 ;;
esac
command -v node >/dev/null || { echo "install.sh: node not found (needs node >= 20)" >&2; exit 2; }
command -v npm >/dev/null || { echo "install.sh: npm not found" >&2; exit 2; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "${node_major}" -lt 20 ]; then echo "install.sh: node ${node_major} too old (needs >= 20)" >&2; exit 2; fi

# The repository is never the target: npm would leave node_modules/ and lock files in it.
repo_root="$(cd "${HERE}/../.." && pwd)"
case "$(mkdir -p "${DIR}" && cd "${DIR}" && pwd)/" in
  "${repo_root}/"*) echo "install.sh: ${DIR} is inside the repository; choose a folder outside it" >&2; exit 2 ;;
esac

# The folder with only libggml-cpu-${variant}.so among the CPU backends, from a full install.
make_variant() {
  local out="${DIR}-cpu-${variant}" bins="node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
  if [ ! -f "${DIR}/${bins}/libggml-cpu-${variant}.so" ]; then
    echo "install.sh: the prebuilt binary has no libggml-cpu-${variant}.so; it has:" \
      "$(cd "${DIR}/${bins}" && ls libggml-cpu-*.so | sed 's/^libggml-cpu-//; s/\.so$//' | tr '\n' ' ')" >&2
    exit 2
  fi
  if [ ! -f "${out}/.installed-${VERSION}" ]; then
    rm -rf "${out}.tmp" && cp -a "${DIR}" "${out}.tmp"
    find "${out}.tmp/${bins}" -name 'libggml-cpu-*.so' ! -name "libggml-cpu-${variant}.so" -delete
    G4U_PEER_DIR="${out}.tmp" node "${HERE}/llama_peer.mjs" --info >&2
    rm -rf "${out}" && mv "${out}.tmp" "${out}"
  fi
  echo "${out}"
}

stamp="${DIR}/.installed-${VERSION}"
if [ -f "${stamp}" ] && [ -d "${DIR}/node_modules/node-llama-cpp" ] \
   && [ -d "${DIR}/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64" ]; then
  if [ -n "${variant}" ]; then make_variant; else echo "${DIR}"; fi
  exit 0
fi

cat > "${DIR}/package.json" <<JSON
{
  "name": "g4u-llama-peer",
  "private": true,
  "description": "llama.cpp peer of g4u's benchmarks (bench/peer/install.sh)",
  "dependencies": {
    "node-llama-cpp": "${VERSION}",
    "@node-llama-cpp/linux-x64": "${VERSION}"
  }
}
JSON
# --omit=optional: node-llama-cpp lists every platform's binary (CUDA and Vulkan ones are hundreds
# of MB) as optional dependencies; only the CPU one, a direct dependency above, is wanted.
# --ignore-scripts: its postinstall step may try to download or build llama.cpp; the prebuilt binary
# needs no step.
(cd "${DIR}" && npm install --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >&2)

# Offline check: load the binding with downloads and builds forbidden and print its build facts.
G4U_PEER_DIR="${DIR}" node "${HERE}/llama_peer.mjs" --info >&2
touch "${stamp}"
if [ -n "${variant}" ]; then make_variant; else echo "${DIR}"; fi
