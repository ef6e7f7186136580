#!/usr/bin/env bash
# Slurm array-job script: array task i runs `g4u eval --shard i/N` into OUT/shard-i.
#
#   sbatch --array=0-<N-1> --cpus-per-task=C [--mem=..] [--time=..] --output=OUT/logs/eval-%A_%a.log \
#          scripts/slurm/eval_array.sh --shards N --out OUT [--g4u BIN] -- <g4u eval flags: --model M --data D ...>
#
# (scripts/slurm/submit_eval.sh submits this and the merge-and-report job in one command.)
# Requeue-safe: a requeued or resubmitted task (preemption, node failure, `scontrol requeue`,
# `sbatch --array=i ...`) reruns the same command on the same folder, and `g4u eval` resumes from the
# shard's samples.jsonl — the folder is never emptied. The eval flags must be the same on every run
# (they make the config hash; a changed config is refused). --threads defaults to the task's CPUs.
#SBATCH --job-name=g4u-eval
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail

usage() {
  echo "usage: sbatch --array=0-<N-1> eval_array.sh --shards N --out DIR [--g4u BIN] -- <g4u eval flags>" >&2
  exit 2
}
shards="" out="" g4u="${G4U:-g4u}"
while [ $# -gt 0 ]; do
  case "$1" in
    --shards) shards="${2:-}"; shift 2 || usage ;;
    --out) out="${2:-}"; shift 2 || usage ;;
    --g4u) g4u="${2:-}"; shift 2 || usage ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "eval_array: --shards N (N >= 1) is required" >&2; usage; }
[ -n "$out" ] || { echo "eval_array: --out DIR is required" >&2; usage; }
task="${SLURM_ARRAY_TASK_ID:-}"
[[ "$task" =~ ^[0-9]+$ ]] || { echo "eval_array: SLURM_ARRAY_TASK_ID is not set: submit with sbatch --array=0-$((shards - 1))" >&2; exit 2; }
[ "$task" -lt "$shards" ] || { echo "eval_array: array task $task is not a shard of $shards (use --array=0-$((shards - 1)))" >&2; exit 2; }

threads=()
for arg in "$@"; do
  case "$arg" in
    --shard|--shard=*|--out|--out=*) echo "eval_array: $arg is set by the script (shard $task/$shards, $out/shard-$task)" >&2; exit 2 ;;
  esac
done
case " $* " in
  *" --threads "*|*" --threads="*) ;;
  *) threads=(--threads "${SLURM_CPUS_PER_TASK:-${SLURM_CPUS_ON_NODE:-0}}") ;;
esac

shard_dir="$out/shard-$task"
mkdir -p "$shard_dir"
logged=0
[ -f "$shard_dir/samples.jsonl" ] && logged="$(wc -l <"$shard_dir/samples.jsonl")"
echo "eval_array: shard $task/$shards (job ${SLURM_ARRAY_JOB_ID:-?}_$task, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname -s) at $(date -u +%FT%TZ): $logged samples already logged"
cmd=("$g4u" eval "$@" --shard "$task/$shards" --out "$shard_dir" "${threads[@]}")
echo "eval_array: ${cmd[*]}"
rc=0
"${cmd[@]}" || rc=$?
echo "eval_array: shard $task/$shards exit $rc at $(date -u +%FT%TZ)"
exit "$rc"
