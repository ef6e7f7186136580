#!/usr/bin/env bash
# Stops a cluster of start_local_cluster.sh: cancels its jobs, stops the slurmd, slurmctld and (if it
# started one) munged whose pid files are in DIR, then removes DIR (kept with --keep).
#
#   bash scripts/slurm/stop_local_cluster.sh [--keep] DIR
#
# Only processes of this folder are signalled: a pid file's process must name DIR on its command
# line, a leftover slurmstepd must carry SLURM_CONF=DIR/slurm.conf in its environment. Safe to run
# twice, or on a folder whose daemons already died.
set -uo pipefail

say() { echo "stop_local_cluster: $*" >&2; }
keep=0
if [ "${1:-}" = --keep ]; then keep=1; shift; fi
[ $# -eq 1 ] || { echo "usage: stop_local_cluster.sh [--keep] DIR" >&2; exit 2; }
[ -d "$1" ] || { say "no folder $1: nothing to stop"; exit 0; }
dir="$(cd "$1" && pwd)"
[ -e "$dir/g4u-local-cluster" ] || { say "error: $dir is not a local cluster folder (no g4u-local-cluster file)"; exit 2; }
conf="$dir/slurm.conf"
export SLURM_CONF="$conf" PATH="$PATH:/usr/sbin:/sbin"

ours() {  # pid file -> pid of a live process that names $dir on its command line
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir" && echo "$pid"
}

stop_pids() {  # SIGTERM, up to 10 s, then SIGKILL
  local pid left
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null
  for _ in $(seq 100); do
    left=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null
  sleep 0.2
}

# 1. Cancel every job while the controller still runs, and give the steps time to end (KillWait=5).
if [ -f "$conf" ] && ours "$dir/slurmctld.pid" >/dev/null; then
  jobs="$(timeout 10 squeue -h -o %F 2>/dev/null | sort -u | tr '\n' ' ')"
  if [ -n "${jobs// /}" ]; then
    say "cancelling jobs $jobs"
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null
    for _ in $(seq 150); do
      [ -z "$(timeout 5 squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi

# 2. The daemons, together (each takes ~2 s to exit after SIGTERM).
pids=() stopped=()
for name in slurmd slurmctld munge/munged; do
  if pid="$(ours "$dir/$name.pid")"; then pids+=("$pid"); stopped+=("${name#munge/} ($pid)"); fi
done
if [ ${#pids[@]} -gt 0 ]; then
  stop_pids "${pids[@]}"
  say "stopped ${stopped[*]}"
fi

# 3. A job step that outlived its slurmd (slurmstepd and the job's processes under it).
steps=()
for env_file in /proc/[0-9]*/environ; do
  pid="${env_file#/proc/}"; pid="${pid%/environ}"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmstepd ] || continue
  tr '\0' '\n' <"$env_file" 2>/dev/null | grep -qxF "SLURM_CONF=$conf" && steps+=("$pid")
done
if [ ${#steps[@]} -gt 0 ]; then
  tree=("${steps[@]}")
  frontier=("${steps[@]}")
  while [ ${#frontier[@]} -gt 0 ]; do
    next=()
    for parent in "${frontier[@]}"; do
      while read -r child; do [ -n "$child" ] && next+=("$child"); done < <(ps -o pid= --ppid "$parent" 2>/dev/null)
    done
    tree+=("${next[@]}")
    frontier=("${next[@]}")
  done
  say "killing leftover job steps: ${tree[*]}"
  kill -KILL "${tree[@]}" 2>/dev/null
fi

if [ "$keep" -eq 1 ]; then
  say "kept $dir"
else
  rm -rf "$dir"
  say "removed $dir"
fi
exit 0
