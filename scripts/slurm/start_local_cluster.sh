#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine, for trying the g4u Slurm scripts and for the
# Slurm integration test (tests/slurm/slurm_eval_test.sh). As root; Debian's slurm-wlm and munge.
#
#   eval "$(bash scripts/slurm/start_local_cluster.sh [DIR])"    # prints: export SLURM_CONF=DIR/slurm.conf
#   sbatch ... / squeue / scontrol ...
#   bash scripts/slurm/stop_local_cluster.sh DIR                  # cancels its jobs, stops its daemons, removes DIR
#
# Everything lives in DIR (default: a new mktemp -d folder): slurm.conf, the controller's state, the
# node's spool, pid files, logs (DIR/log), DIR/env.sh (the export line), and, when the system's munged
# does not answer, a munged of its own (DIR/munge: its own key and socket). The system's /etc/slurm is
# never read or written. One node named after `hostname -s` with the CPUs and memory `slurmd -C`
# finds; proctrack/linuxproc and task/none, so no cgroups are needed (containers); JobRequeue=1; free
# TCP ports (from 16817 up) so a system cluster on 6817/6818 is left alone.
#
# Running it again on a DIR whose daemons are still up prints the same export line and starts
# nothing. Human messages go to stderr; stdout carries only the export line.
# Environment: G4U_SLURM_START_TIMEOUT (seconds to wait for the node to be idle, default 60),
# G4U_SLURM_OWN_MUNGE=1 (start a munged of its own even if the system's answers),
# G4U_SLURM_CRED_EXPIRE (AuthInfo cred_expire, default 5: a requeued job may start again 6 s after the
# kill instead of Slurm's default 2 minutes).
set -euo pipefail

say() { echo "start_local_cluster: $*" >&2; }
die() { echo "start_local_cluster: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (slurmd starts jobs as their submitting user and must be root)"
missing=()
for tool in slurmctld slurmd munged munge unmunge sinfo sbatch scontrol squeue scancel; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "not installed: ${missing[*]} — run scripts/setup.sh (or apt-get install slurm-wlm munge)"
export PATH="$PATH:/usr/sbin:/sbin"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
marker_name=g4u-local-cluster
if [ $# -ge 1 ]; then
  dir="$1"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -n "$(ls -A "$dir")" ] && [ ! -e "$dir/$marker_name" ]; then
    die "$dir is not empty and not a local cluster folder (no $marker_name file): give an empty or new folder"
  fi
else
  dir="$(mktemp -d /tmp/g4u-slurm.XXXXXX)"
fi
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

# Is the process in pid file $1 alive and one of ours (its command line names this folder)?
alive() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir"
}

if [ -e "$dir/$marker_name" ] && alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid"; then
  say "already running in $dir"
  echo "export SLURM_CONF=$conf"
  exit 0
fi
if [ -e "$dir/$marker_name" ]; then
  # Leftovers of an earlier start in this folder: stop them, keep the folder.
  bash "$script_dir/stop_local_cluster.sh" --keep "$dir" >&2 || true
fi
touch "$dir/$marker_name"
# munged refuses a socket whose folders are not searchable by everyone; jobs (any user) read DIR.
chmod 755 "$dir"
p="$dir"
while [ "$p" != / ]; do
  p="$(dirname "$p")"
  [ "$(( 0$(stat -c %a "$p") & 01 ))" -ne 0 ] || die "$p is not searchable by others (munged needs every folder above its socket to be): use a folder elsewhere or chmod o+x $p"
done
mkdir -p "$dir/state" "$dir/spool" "$dir/log"

node="$(hostname -s)"
hardware="$(slurmd -C | head -n 1)"   # NodeName=<host> CPUs=.. Boards=.. ... RealMemory=..
hardware="${hardware#NodeName=* }"
case "$hardware" in *CPUs=*) ;; *) die "slurmd -C printed no hardware line: $(slurmd -C 2>&1 | head -n 3)";; esac

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ctld_port=16817
while ! port_free "$ctld_port" || ! port_free $((ctld_port + 1)); do
  ctld_port=$((ctld_port + 2))
  [ "$ctld_port" -lt 17817 ] || die "no two free TCP ports between 16817 and 17817"
done
slurmd_port=$((ctld_port + 1))

# Munge: the system's daemon when it answers, else one of our own with its own key and socket.
# cred_expire (default 120 s) is also how long a requeued job waits before it may start again (Reason=BeginTime):
# slurmd refuses to relaunch a job id whose credential it revoked less than that ago ("Job credential revoked").
cred_expire="${G4U_SLURM_CRED_EXPIRE:-5}"
auth_info="AuthInfo=cred_expire=$cred_expire"
if [ "${G4U_SLURM_OWN_MUNGE:-0}" != 1 ] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "using the system's munged"
else
  mkdir -p "$dir/munge"
  chmod 755 "$dir/munge"
  if [ ! -s "$dir/munge/munge.key" ]; then
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile="$dir/munge/munge.key" 2>/dev/null || mungekey -c -k "$dir/munge/munge.key"
    else
      dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 400 "$dir/munge/munge.key"
  fi
  socket="$dir/munge/munge.socket"
  munged --socket="$socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
         --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/daemons.out" 2>&1 \
    || { tail -n 5 "$dir/log/daemons.out" >&2; tail -n 20 "$dir/munge/munged.log" >&2 2>/dev/null || true; die "munged did not start (log above)"; }
  for _ in $(seq 50); do munge -n -S "$socket" 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n -S "$socket" | unmunge -S "$socket" >/dev/null || die "munged in $dir/munge does not answer"
  auth_info="AuthInfo=socket=$socket,cred_expire=$cred_expire"
  say "started munged (socket $socket)"
fi

cat >"$conf" <<EOF
# Single-node Slurm cluster of scripts/slurm/start_local_cluster.sh; stop with stop_local_cluster.sh $dir
ClusterName=g4u-local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
$auth_info
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# Look at pending jobs every second (defaults: 60 s, backfill 30 s): a requeued job starts as soon as
# its BeginTime passes.
SchedulerParameters=sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# A job whose node fails, or that scontrol requeue names, goes back to the queue.
JobRequeue=1
ReturnToService=2
SlurmdTimeout=30
SlurmctldTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=5
# Finished jobs stay visible to scontrol show job for 10 minutes (there is no accounting database).
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
: >"$dir/plugstack.conf"
echo "export SLURM_CONF=$conf" >"$dir/env.sh"

fail() {
  echo "start_local_cluster: error: $*" >&2
  for log in "$dir/log/daemons.out" "$dir/munge/munged.log" "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; do
    [ -e "$log" ] && { echo "--- tail of $log" >&2; tail -n 25 "$log" >&2; }
  done
  sinfo -N -l >&2 2>/dev/null || true
  bash "$script_dir/stop_local_cluster.sh" --keep "$dir" >&2 || true
  echo "start_local_cluster: the folder is kept for inspection: $dir" >&2
  exit 1
}

# The daemons get no stdin/stdout/stderr of the caller: a caller reading our output (eval "$(...)",
# a test runner's pipe) would otherwise wait for them to exit.
slurmctld -f "$conf" </dev/null >>"$dir/log/daemons.out" 2>&1 || fail "slurmctld did not start"
slurmd -f "$conf" -N "$node" </dev/null >>"$dir/log/daemons.out" 2>&1 || fail "slurmd did not start"

timeout_s="${G4U_SLURM_START_TIMEOUT:-60}"
start=$SECONDS
state=""
while [ $((SECONDS - start)) -lt "$timeout_s" ]; do
  state="$(sinfo -h -n "$node" -o %T 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || fail "node $node not idle after ${timeout_s}s (sinfo says '${state:-nothing}')"
say "node $node idle ($(sinfo -h -n "$node" -o '%c CPUs, %m MB'), ports $ctld_port/$slurmd_port) in $dir; stop with: bash $script_dir/stop_local_cluster.sh $dir"
echo "export SLURM_CONF=$conf"
