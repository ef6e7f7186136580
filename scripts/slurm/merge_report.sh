#!/usr/bin/env bash
# Merge-and-report job of a sharded evaluation (submitted by submit_eval.sh to start once the array
# job has ended; also runs by hand, without Slurm):
#
#   merge_report.sh --shards N --out OUT [--g4u BIN] [--array-job ID] [--allow-partial] [-- <g4u report flags>]
#
# Checks that every shard folder OUT/shard-0 .. OUT/shard-<N-1> exists and holds a finished, complete
# run of its shard; each shard that does not is named with what is wrong (and, with --array-job, its
# array task's Slurm state), they are counted, and the script fails (exit 1) — a dead shard is never
# dropped silently. --allow-partial merges what is there instead (the merged results.json lists the
# missing shards under run.missing_shards). Then `g4u merge --out OUT/merged OUT/shard-*` and
# `g4u report --out OUT/report OUT/merged/results.json <report flags>`.
#SBATCH --job-name=g4u-merge
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail

usage() {
  echo "usage: merge_report.sh --shards N --out DIR [--g4u BIN] [--array-job ID] [--allow-partial] [-- <g4u report flags>]" >&2
  exit 2
}
shards="" out="" g4u="${G4U:-g4u}" array_job="" allow_partial=0
while [ $# -gt 0 ]; do
  case "$1" in
    --shards) shards="${2:-}"; shift 2 || usage ;;
    --out) out="${2:-}"; shift 2 || usage ;;
    --g4u) g4u="${2:-}"; shift 2 || usage ;;
    --array-job) array_job="${2:-}"; shift 2 || usage ;;
    --allow-partial) allow_partial=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "merge_report: --shards N (N >= 1) is required" >&2; usage; }
[ -n "$out" ] || { echo "merge_report: --out DIR is required" >&2; usage; }
say() { echo "merge_report: $*"; }

# One line per shard that cannot be merged: "<i>\t<what is wrong>".
check_shard() {
  local i="$1"
  local dir="$out/shard-$i" logged=0
  if [ ! -d "$dir" ]; then echo "no folder $dir: the task never started"; return; fi
  if [ ! -f "$dir/run.json" ]; then echo "no run.json in $dir: the run never started"; return; fi
  [ -f "$dir/samples.jsonl" ] && logged="$(wc -l <"$dir/samples.jsonl")"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$dir" "$i/$shards" "$logged" "$g4u" <<'EOF'
import json, os, subprocess, sys
folder, want, logged, g4u = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def load(name):
    try:
        with open(os.path.join(folder, name)) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return e
run = load("run.json")
if isinstance(run, Exception):
    print(f"unreadable run.json ({run})"); sys.exit()
if run.get("shard") != want:
    print(f"run.json is of shard {run.get('shard')}, not {want}"); sys.exit()
def expected():
    # The shard's sample count, when its manifest is still where run.json says (best effort).
    manifest = run.get("config", {}).get("data", {}).get("manifest")
    if not manifest or not os.path.isfile(manifest):
        return ""
    try:
        out = subprocess.run([g4u, "data", "check", "--manifest", manifest, "--shard", want, "--media", "none", "--json"],
                             capture_output=True, text=True, timeout=120)
        return f" of {json.loads(out.stdout)['samples']}" if out.returncode == 0 else ""
    except Exception:
        return ""
results = load("results.json")
if isinstance(results, FileNotFoundError):
    print(f"did not finish: {logged}{expected()} samples logged, no results.json"); sys.exit()
if isinstance(results, Exception):
    print(f"unreadable results.json ({results})"); sys.exit()
r = results.get("run", {})
if not r.get("complete"):
    print(f"incomplete: results.json has {r.get('logged')} of {r.get('selected')} samples (limit {r.get('limit')})"); sys.exit()
if logged != r.get("logged"):
    print(f"samples.jsonl has {logged} records but results.json {r.get('logged')}: a later run did not finish")
EOF
  elif [ ! -f "$dir/results.json" ]; then
    echo "did not finish: $logged samples logged, no results.json"
  fi
}

bad=()
for ((i = 0; i < shards; i++)); do
  problem="$(check_shard "$i")"
  if [ -n "$problem" ]; then
    where="shard $i/$shards"
    if [ -n "$array_job" ]; then
      where="$where (array task ${array_job}_$i"
      if command -v scontrol >/dev/null 2>&1 && line="$(scontrol -o show job "${array_job}_$i" 2>/dev/null)"; then
        state="$(grep -o 'JobState=[^ ]*' <<<"$line" || true)"
        code="$(grep -o 'ExitCode=[^ ]*' <<<"$line" || true)"
        where="$where: ${state#JobState=}, exit ${code#ExitCode=}"
      fi
      where="$where)"
    fi
    bad+=("$i")
    say "  $where: $problem"
  fi
done
if [ ${#bad[@]} -gt 0 ]; then
  list="$(IFS=,; echo "${bad[*]}")"
  say "${#bad[@]} of $shards shards missing or unfinished: shard $list"
  if [ "$allow_partial" -eq 0 ]; then
    say "error: not merged. Resubmit those shards (they resume from their samples.jsonl): submit_eval.sh --tasks $list with the same arguments; or merge what is there with --allow-partial"
    exit 1
  fi
  say "--allow-partial: merging the other $((shards - ${#bad[@]})) shards"
fi

dirs=()
for ((i = 0; i < shards; i++)); do
  [[ " ${bad[*]} " == *" $i "* ]] || dirs+=("$out/shard-$i")
done
[ ${#dirs[@]} -gt 0 ] || { say "error: no shard to merge"; exit 1; }
merge=("$g4u" merge --out "$out/merged")
[ "$allow_partial" -eq 1 ] && merge+=(--allow-partial)
say "${merge[*]} ${dirs[*]}"
"${merge[@]}" "${dirs[@]}"
report=("$g4u" report --out "$out/report" "$out/merged/results.json" "$@")
say "${report[*]}"
"${report[@]}"
say "done: $out/merged/results.json, $out/report/report.md"
