#!/usr/bin/env bash
# Submits a sharded g4u evaluation to Slurm: the array job (eval_array.sh, one `g4u eval --shard i/N`
# per task) and the merge-and-report job (merge_report.sh), which starts once every array task has
# ended. Prints the two job ids on stdout as ARRAY_JOB=<id> and MERGE_JOB=<id> (eval-able).
#
#   submit_eval.sh --shards N --out OUT [--g4u BIN] [--tasks LIST] [--cpus-per-task C] [--mem M] [--time T]
#                  [--sbatch ARG]... [--report-arg ARG]... [--allow-partial] -- <g4u eval flags: --model M --data D ...>
#
#   --tasks LIST     array tasks to (re)submit, default 0-<N-1>; e.g. --tasks 3,7 after shards 3 and 7 died
#                    (they resume from their samples.jsonl), with the same other arguments
#   --sbatch ARG     an extra sbatch option for both jobs (repeatable), e.g. --sbatch --partition=cpu
#   --report-arg ARG an extra `g4u report` flag (repeatable), e.g. --report-arg --published --report-arg FILE
#   --allow-partial  the merge job merges the shards that finished instead of failing (still naming the others)
#
# Outputs: OUT/shard-<i> (one g4u eval folder per shard), OUT/merged (g4u merge), OUT/report
# (g4u report), OUT/logs/eval-<array job>_<task>.log and OUT/logs/merge-<job>.log.
# The merge job depends on the array with afterany, not afterok: with afterok a dead shard would
# leave it pending forever (DependencyNeverSatisfied) and nothing would say which shard died;
# merge_report.sh instead names every missing or unfinished shard and fails.
set -euo pipefail

die() { echo "submit_eval: error: $*" >&2; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
shards="" out="" g4u="${G4U:-g4u}" tasks="" cpus=1 mem="" time_limit="" allow_partial=()
sbatch_args=() report_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --shards) shards="${2:-}"; shift 2 || die "--shards needs a value" ;;
    --out) out="${2:-}"; shift 2 || die "--out needs a value" ;;
    --g4u) g4u="${2:-}"; shift 2 || die "--g4u needs a value" ;;
    --tasks) tasks="${2:-}"; shift 2 || die "--tasks needs a value" ;;
    --cpus-per-task) cpus="${2:-}"; shift 2 || die "--cpus-per-task needs a value" ;;
    --mem) mem="${2:-}"; shift 2 || die "--mem needs a value" ;;
    --time) time_limit="${2:-}"; shift 2 || die "--time needs a value" ;;
    --sbatch) sbatch_args+=("${2:-}"); shift 2 || die "--sbatch needs a value" ;;
    --report-arg) report_args+=("${2:-}"); shift 2 || die "--report-arg needs a value" ;;
    --allow-partial) allow_partial=(--allow-partial); shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (the g4u eval flags go after --)" ;;
  esac
done
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "--shards N (N >= 1) is required"
[ -n "$out" ] || die "--out DIR is required"
[ $# -gt 0 ] || die "no g4u eval flags after -- (at least --model and --data)"
case " $* " in *" --model "*|*" --model="*) ;; *) die "the g4u eval flags lack --model" ;; esac
case " $* " in *" --data "*|*" --data="*) ;; *) die "the g4u eval flags lack --data" ;; esac
command -v sbatch >/dev/null 2>&1 || die "sbatch not found (no Slurm client here)"
g4u_path="$(command -v "$g4u" 2>/dev/null)" || die "g4u binary '$g4u' not found (--g4u BIN)"
g4u_path="$(cd "$(dirname "$g4u_path")" && pwd)/$(basename "$g4u_path")"
tasks="${tasks:-0-$((shards - 1))}"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"

array_opts=(--parsable --array="$tasks" --cpus-per-task="$cpus" --output="$out/logs/eval-%A_%a.log")
[ -n "$mem" ] && array_opts+=(--mem="$mem")
[ -n "$time_limit" ] && array_opts+=(--time="$time_limit")
array_job="$(sbatch "${array_opts[@]}" "${sbatch_args[@]}" "$here/eval_array.sh" \
  --shards "$shards" --out "$out" --g4u "$g4u_path" -- "$@")"
array_job="${array_job%%;*}"
[[ "$array_job" =~ ^[0-9]+$ ]] || die "sbatch of the array printed '$array_job', not a job id"

merge_job="$(sbatch --parsable --dependency="afterany:$array_job" --cpus-per-task=1 \
  --output="$out/logs/merge-%j.log" "${sbatch_args[@]}" "$here/merge_report.sh" \
  --shards "$shards" --out "$out" --g4u "$g4u_path" --array-job "$array_job" "${allow_partial[@]}" -- "${report_args[@]}")" \
  || { scancel "$array_job" 2>/dev/null; die "sbatch of the merge job failed; array job $array_job cancelled"; }
merge_job="${merge_job%%;*}"

echo "submit_eval: array job $array_job (tasks $tasks of $shards shards) -> $out/shard-<i>, logs $out/logs/eval-${array_job}_<i>.log" >&2
echo "submit_eval: merge job $merge_job (after the array) -> $out/merged, $out/report, log $out/logs/merge-$merge_job.log" >&2
echo "ARRAY_JOB=$array_job"
echo "MERGE_JOB=$merge_job"
