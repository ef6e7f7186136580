#!/usr/bin/env bash
# One prepared run for a GPU machine lease (issue 21): build with CUDA, run the device tests, make the
# reference parity fixtures with HF transformers and check g4u against them, and measure the tiny and
# medium presets on the GPU beside the CPU. Everything it produces goes to $OUT (default: out/gpu):
#   build.log, tests.log, parity.tgz (tests/fixtures/parity, to commit), bench.json
#   and with STUDY=1 study/ (bench/gpu/gpu_study.py: the 12B beside HF transformers; STUDY_ARGS for its options)
# Carry .gpu-deps (scripts/gpu-deps.sh) with the tree. Stops at the first failing stage.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/out/gpu}
mkdir -p "$out"
cd "$root"
stage() { echo "== $1 ($(date +%T))"; }

stage build
bash scripts/gpu-build.sh build/gpu > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
tail -4 "$out/build.log"
g4u=build/gpu/apps/g4u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

stage "device tests"
{ build/gpu/tests/g4u_model_tests "[device]" && build/gpu/tests/g4u_quant_tests "[int4],[unit]" &&
  build/gpu/tests/g4u_quant_io_tests "[unit]"; } > "$out/tests.log" 2>&1
rc=$?; tail -6 "$out/tests.log"; [ $rc -eq 0 ] || exit 1

stage "parity fixtures (HF transformers, CPU, fp32)"
rm -rf tests/fixtures/parity
PYTHONUNBUFFERED=1 python3 tests/parity/make_fixtures.py --out tests/fixtures/parity || exit 1
tar czf "$out/parity.tgz" tests/fixtures/parity
cmake --build build/gpu --target g4u_parity_tests > /dev/null && build/gpu/tests/g4u_parity_tests 2>&1 | tail -30

stage "bench: tiny and medium, CPU and GPU"
{
  echo "["
  first=1
  for model in tiny medium; do
    for device in cpu cuda; do
      dtype=bf16; [ "$device" = cpu ] && dtype=fp32
      [ $first -eq 1 ] || echo ","
      first=0
      "$g4u" bench --model "$model" --device "$device" --dtype "$dtype" -p 256 -n 64 --reps 3 --json
    done
  done
  echo "]"
} > "$out/bench.json" 2> "$out/bench.log" || { tail -20 "$out/bench.log"; exit 1; }
grep -E '"(model|device|tokens_per_s|peak_cuda_bytes)"' "$out/bench.json" | head -40

# The 12B beside HF transformers (bench/gpu/README.md): STUDY=1, optional because it takes minutes.
if [ "${STUDY:-0}" = 1 ]; then
  stage "12B study"
  python3 bench/gpu/gpu_study.py --g4u "$g4u" --out "$out/study" ${STUDY_ARGS:-} > "$out/study.log" 2>&1
  rc=$?; tail -40 "$out/study.log"; [ $rc -eq 0 ] || exit 1
fi
stage done
