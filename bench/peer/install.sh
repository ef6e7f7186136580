#!/usr/bin/env bash
# Installs the llama.cpp peer: the npm package node-llama-cpp with its prebuilt CPU binary
# @node-llama-cpp/linux-x64 (no GPU variants, no build from source, no models) into a cache folder
# outside the repository. Idempotent: a second run with the same versions does nothing.
#
#   bash bench/peer/install.sh            # into ${G4U_PEER_DIR:-~/.cache/g4u/peer}
#   G4U_PEER_DIR=/some/dir bash bench/peer/install.sh
#
# Prints the folder on stdout. Needs node >= 20 and npm; reaches only the npm registry.
set -euo pipefail

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

stamp="${DIR}/.installed-${VERSION}"
if [ -f "${stamp}" ] && [ -d "${DIR}/node_modules/node-llama-cpp" ] \
   && [ -d "${DIR}/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64" ]; then
  echo "${DIR}"
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
echo "${DIR}"
