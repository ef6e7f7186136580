#!/usr/bin/env bash
# Runs one fuzz target of this folder (README.md):
#   run_fuzz.sh <fuzzer executable> <target> <seconds> <work folder> [libFuzzer flags...]
# 1. seeds: the test fixtures of the target's format, plus the seeds the target writes itself;
# 2. replays every input kept in regressions/<target>/ (crashes found earlier, now fixed);
# 3. fuzzes for <seconds>, the corpus growing in <work folder>/corpus (kept between runs).
# A crash, leak, hang (> 30 s per input: a JPEG of 2^28 pixels from a few hundred bytes takes
# over 10 s to decode under ASan) or out-of-memory (> 2 GB) input is saved to
# <work folder>/artifacts/ and the script fails.
set -euo pipefail
exe=$1 target=$2 seconds=$3 work=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts"

# Fixture files that are inputs of the target's parser.
case $target in
  image) patterns=("tests/fixtures/media/*.png" "tests/fixtures/media/*.jpg" "tests/fixtures/benchmarks/*/media/*.png"
                   "tests/fixtures/benchmarks/*/media/*.jpg") ;;
  audio) patterns=("tests/fixtures/benchmarks/*/media/*.wav") ;;
  config) patterns=("tests/fixtures/config/*.json" "tests/fixtures/gemma4-12b/config.json") ;;
  tokenizer_json) patterns=("tests/fixtures/tokenizer_json/*.json") ;;
  manifest) patterns=("tests/fixtures/benchmarks/*/rows.jsonl") ;;
  experiment) patterns=("experiments/*.json") ;;
  *) patterns=() ;;
esac
for p in "${patterns[@]}"; do
  for f in $root/$p; do
    [ -f "$f" ] && cp "$f" "$work/seeds/$(echo "${f#$root/}" | tr / _)"
  done
done

flags=(-rss_limit_mb=2048 -timeout=30 -artifact_prefix="$work/artifacts/" -print_final_stats=1 -print_funcs=0)
export G4U_FUZZ_SEEDS=$work/seeds
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

regressions=("$here/regressions/$target"/*)
if [ -e "${regressions[0]}" ]; then
  echo "fuzz $target: replaying ${#regressions[@]} regression input(s)"
  G4U_FUZZ_SEEDS= "$exe" "${flags[@]}" "$@" "${regressions[@]}"
fi
echo "fuzz $target: fuzzing for $seconds s"
"$exe" "${flags[@]}" -max_total_time="$seconds" "$@" "$work/corpus" "$work/seeds"
