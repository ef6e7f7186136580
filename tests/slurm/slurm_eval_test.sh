#!/usr/bin/env bash
# Slurm integration test of scripts/slurm (CTest entry slurm.integration):
#   1. starts a single-node Slurm cluster on this machine (scripts/slurm/start_local_cluster.sh);
#   2. evaluates the tiny model on a synthetic text + image manifest without Slurm (the reference);
#   3. submits the same evaluation as a 2-shard array job plus the dependent merge-and-report job
#      (scripts/slurm/submit_eval.sh);
#   4. once shard 1 has logged samples but not finished, `scontrol requeue`s it — the kill a preemption
#      does — and checks that it died mid-run (k samples logged, 0 < k < its share, no results.json) and
#      that the requeued task resumed from those k samples (results.json: resumed_from_log = k);
#   5. waits for the merge job and checks that the merged samples.jsonl and results.json equal the
#      reference: same sample ids, identical records except timing (predictions, extracted answers,
#      per-sample scores, ...), identical config hash and per-task score / n / stderr / ci95 and every
#      other statistic except latency and memory — and that the comparison does fail on a copy with one
#      prediction or one interval changed;
#   6. without Slurm: merge_report.sh on the shard folders with shard 1 missing, and with shard 1 cut
#      off mid-run, fails and names shard 1 (a dead shard is reported, never dropped).
# The cluster is stopped and its daemons killed on every exit (trap; if this script is killed outright,
# by a watchdog process).
#
#   bash tests/slurm/slurm_eval_test.sh <g4u binary>      # as root; exit 0 pass, 1 fail, 77 skipped
#
# Skipped (77) only when not root or when slurm-wlm / munge are not installed (scripts/setup.sh installs them).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: slurm_eval_test.sh <g4u binary>" >&2; exit 2; }
g4u="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[ -x "$g4u" ] || { echo "FAIL: $1 is not an executable" >&2; exit 1; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
scripts="$repo/scripts/slurm"
export PATH="$PATH:/usr/sbin:/sbin"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the Slurm integration test runs as root (it starts slurmctld, slurmd and munged)"
  exit 77
fi
for tool in slurmctld slurmd sbatch scontrol munged; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool not installed (scripts/setup.sh, or apt-get install slurm-wlm munge)"
    exit 77
  fi
done
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 is needed to compare the results" >&2; exit 1; }

t0=$SECONDS
log() { echo "[$((SECONDS - t0))s] $*"; }
work="$(mktemp -d /tmp/g4u-slurm-test.XXXXXX)"
chmod 755 "$work"   # munged wants every folder above its socket searchable
cluster="$work/cluster"
run="$work/run"
ref_pid="" watchdog_pid=""
ARRAY_JOB="" MERGE_JOB=""
passed=0

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$ref_pid" ] && kill -0 "$ref_pid" 2>/dev/null; then kill "$ref_pid"; wait "$ref_pid" 2>/dev/null; fi
  if [ -e "$cluster/g4u-local-cluster" ]; then
    if [ "$passed" -eq 1 ]; then
      bash "$scripts/stop_local_cluster.sh" "$cluster" >/dev/null 2>&1 || true
    else
      bash "$scripts/stop_local_cluster.sh" --keep "$cluster" 2>&1 | sed 's/^/  /' || true
    fi
  fi
  [ -n "$watchdog_pid" ] && kill "$watchdog_pid" 2>/dev/null
  if [ "$passed" -eq 1 ]; then
    rm -rf "$work"
  else
    echo "test folder kept for inspection: $work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

diagnostics() {
  echo "--- diagnostics"
  for job in ${ARRAY_JOB:+"${ARRAY_JOB}_0" "${ARRAY_JOB}_1"} ${MERGE_JOB:+"$MERGE_JOB"}; do
    echo "scontrol show job $job:"; scontrol show job "$job" 2>&1 | sed 's/^/  /' || true
  done
  for f in "$run"/logs/*.log "$cluster/log/slurmctld.log" "$cluster/log/slurmd.log" "$work/ref.log"; do
    [ -f "$f" ] && { echo "--- tail of $f"; tail -n 15 "$f"; }
  done
  return 0
}
fail() { echo "FAIL: $*"; diagnostics; exit 1; }

job_field() {  # job_field <job> <Field> -> value from `scontrol show job` (empty if the job is unknown)
  scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# 1-2. Fixtures (360 samples: 240 arith text items, 120 count-shapes images; ~3-6 s of decoding per
# shard with the tiny model on one core) and the unsharded reference run, in the background.
"$g4u" data synth --suite count-shapes --n 120 --seed 1 --out "$work/data" >/dev/null 2>&1 || fail "g4u data synth count-shapes"
"$g4u" data synth --suite arith --n 240 --seed 1 --out "$work/arith" >/dev/null 2>&1 || fail "g4u data synth arith"
manifest="$work/data/all.jsonl"
cat "$work/data/manifest.jsonl" "$work/arith/manifest.jsonl" >"$manifest"
eval_flags=(--model tiny --data "$manifest" --batch 1)
"$g4u" eval "${eval_flags[@]}" --threads 1 --out "$work/ref" >"$work/ref.log" 2>&1 &
ref_pid=$!
log "fixtures: $(wc -l <"$manifest") samples in $manifest; reference eval started (pid $ref_pid)"

# 3. Cluster and submission.
# If this script is killed outright (SIGKILL, e.g. a CTest timeout) the trap cannot run: a watchdog in
# its own session then stops the cluster's daemons.
# shellcheck disable=SC2016  # expanded by the watchdog's shell
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; bash "$2" --keep "$3"' watchdog $$ \
  "$scripts/stop_local_cluster.sh" "$cluster" </dev/null >/dev/null 2>&1 &
watchdog_pid=$!
env_line="$(bash "$scripts/start_local_cluster.sh" "$cluster")" || fail "the local cluster did not start"
eval "$env_line"
log "cluster up: $env_line"
ids="$(bash "$scripts/submit_eval.sh" --shards 2 --out "$run" --g4u "$g4u" --cpus-per-task 1 -- "${eval_flags[@]}")" \
  || fail "submit_eval.sh failed"
eval "$ids"
if [ -z "$ARRAY_JOB" ] || [ -z "$MERGE_JOB" ]; then fail "submit_eval.sh printed no job ids: $ids"; fi
log "submitted: array job $ARRAY_JOB (2 tasks), merge job $MERGE_JOB (Dependency=$(job_field "$MERGE_JOB" Dependency))"

# 4. Kill shard 1 mid-run, as a preemption would: requeue it once it has logged a sample.
victim="${ARRAY_JOB}_1"
shard1="$run/shard-1"
deadline=$((SECONDS + 60))
seen=0
while :; do
  [ -f "$shard1/results.json" ] && fail "shard 1 finished before it could be killed (the test needs a longer run: more samples)"
  [ -f "$shard1/samples.jsonl" ] && seen="$(wc -l <"$shard1/samples.jsonl")"
  [ "$seen" -ge 1 ] && break
  [ $SECONDS -lt $deadline ] || fail "shard 1 logged no sample within 60 s (state $(job_field "$victim" JobState))"
  sleep 0.05
done
state="$(job_field "$victim" JobState)"
scontrol requeue "$victim" || fail "scontrol requeue $victim failed"
log "shard 1 ($victim, $state) had $seen samples logged: scontrol requeue $victim"

# The requeued task must be pending again (its old run killed) before the log is counted.
deadline=$((SECONDS + 30))
while state="$(job_field "$victim" JobState)"; [ "$state" != PENDING ]; do
  [ $SECONDS -lt $deadline ] || fail "$victim not PENDING 30 s after the requeue (state $state)"
  sleep 0.1
done
restarts="$(job_field "$victim" Restarts)"
reason="$(job_field "$victim" Reason)"
killed_at="$(wc -l <"$shard1/samples.jsonl")"   # complete (newline-terminated) records
[ -f "$shard1/results.json" ] && fail "shard 1 wrote results.json: it finished before the requeue killed it"
[ "$killed_at" -ge 1 ] || fail "shard 1 has no complete record after the kill"
[ "$restarts" = 1 ] || fail "$victim: Restarts=$restarts after one requeue"
log "$victim killed mid-run: $killed_at samples logged, no results.json; now PENDING, Reason=$reason, Restarts=$restarts, EligibleTime=$(job_field "$victim" EligibleTime)"
# Nothing is done to restart it: Slurm starts a requeued job again once its old credential has expired
# (AuthInfo cred_expire: 120 s by default, 5 s on the local cluster; Reason=BeginTime until then) —
# moving its start time earlier (scontrol update starttime=now) can make slurmd refuse the launch as
# "Job credential revoked" when it lands in the same second, and the task fails.

# 5. The merge job runs once both tasks have ended.
deadline=$((SECONDS + 120))
while :; do
  state="$(job_field "$MERGE_JOB" JobState)"
  case "$state" in
    COMPLETED) break ;;
    FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
      fail "merge job $MERGE_JOB ended $state (exit $(job_field "$MERGE_JOB" ExitCode))" ;;
  esac
  [ $SECONDS -lt $deadline ] || fail "merge job $MERGE_JOB not done within 120 s (state ${state:-unknown}, reason $(job_field "$MERGE_JOB" Reason))"
  sleep 0.2
done
log "merge job $MERGE_JOB COMPLETED; array tasks: 0 $(job_field "${ARRAY_JOB}_0" JobState), 1 $(job_field "$victim" JobState) (Restarts=$(job_field "$victim" Restarts))"
wait "$ref_pid" || { ref_pid=""; fail "the reference g4u eval failed"; }
ref_pid=""
log "reference eval done: $(grep -m1 'samples (' "$work/ref.log")"
[ -f "$run/report/report.md" ] || fail "the merge job wrote no report/report.md"

# The requeued run resumed from the k records of the killed one.
read -r selected resumed generated complete < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["run"]
print(r["selected"], r["resumed_from_log"], r["generated"], r["complete"])' "$shard1/results.json")
[ "$complete" = True ] || fail "shard 1's results.json is not complete"
[ "$killed_at" -lt "$selected" ] || fail "shard 1 had all $selected samples logged when killed: not killed mid-run"
[ "$resumed" -eq "$killed_at" ] || fail "shard 1 resumed from $resumed samples, but $killed_at were logged when it was killed"
[ "$generated" -eq $((selected - killed_at)) ] || fail "shard 1 generated $generated after the restart, expected $((selected - killed_at))"
task_log="$run/logs/eval-${victim}.log"
grep -q "restart 1) .*: $killed_at samples already logged" "$task_log" || fail "$task_log does not show the restart with $killed_at samples logged"
log "requeue verified: shard 1 killed at $killed_at/$selected samples, its second run resumed $resumed and generated $generated"

# Merged == unsharded, timing aside.
cat >"$work/compare.py" <<'EOF'
import json, sys

TIMING = {"ttft_s", "token_s", "batch"}  # per-record timing fields
SKIP = {"latency", "memory"}             # timing and process memory in results.json

def records(folder):
    out = {}
    with open(f"{folder}/samples.jsonl") as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            if r["id"] in out:
                sys.exit(f"{folder}/samples.jsonl:{n}: id {r['id']} logged twice")
            out[r["id"]] = {k: v for k, v in r.items() if k not in TIMING}
    return out

def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in SKIP}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x

def differences(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'merged' if k in b else 'reference'}")
            else:
                differences(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (u, v) in enumerate(zip(a, b)):
            differences(u, v, f"{path}/{i}", out)
    elif a != b:
        out.append(f"{path}: {a!r} (reference) vs {b!r} (merged)")

ref, merged = sys.argv[1], sys.argv[2]
errors = []
a, b = records(ref), records(merged)
if set(a) != set(b):
    errors.append(f"sample ids differ: only in the reference {sorted(set(a) - set(b))[:5]}, "
                  f"only in the merged run {sorted(set(b) - set(a))[:5]}")
for i in sorted(set(a) & set(b)):
    if a[i] != b[i]:
        differences(a[i], b[i], f"samples.jsonl[{i}]", errors)
ra = json.load(open(f"{ref}/results.json"))
rb = json.load(open(f"{merged}/results.json"))
for key in ("schema", "schema_version", "config_hash", "config", "variants"):
    differences(strip(ra.get(key)), strip(rb.get(key)), f"results.json/{key}", errors)
run = rb["run"]
if not run.get("complete") or run.get("missing_shards") or run.get("shard_count") != 2:
    errors.append(f"merged run block: complete={run.get('complete')} missing_shards={run.get('missing_shards')} shard_count={run.get('shard_count')}")
for k in ("selected", "logged"):
    if ra["run"][k] != run[k]:
        errors.append(f"results.json/run/{k}: {ra['run'][k]} (reference) vs {run[k]} (merged)")
if errors:
    print(f"{len(errors)} difference(s) between the reference and the merged run:")
    for e in errors[:20]:
        print("  " + e)
    sys.exit(1)
print(f"{len(a)} samples, identical records (timing aside; {len({r['prediction'] for r in a.values()})} distinct predictions), "
      f"config hash {ra['config_hash']}")
for t in rb["variants"][0]["tasks"]:
    print(f"  {t['key']:14s} n={t['n']} score={t['score']:.4g} stderr={t['stderr']:.4g} "
          f"ci95=[{t['ci95'][0]:.4g}, {t['ci95'][1]:.4g}] failed={t['failed']}: identical")
EOF
python3 "$work/compare.py" "$work/ref" "$run/merged" || fail "the merged results differ from the unsharded run"
log "merged results equal the unsharded run"

# The comparison does catch a changed prediction and a changed interval.
cp -r "$run/merged" "$work/corrupt1"
python3 - "$work/corrupt1/samples.jsonl" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[7]); r["prediction"] += "x"; lines[7] = json.dumps(r)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
cp -r "$run/merged" "$work/corrupt2"
python3 - "$work/corrupt2/results.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); d["variants"][0]["tasks"][0]["ci95"][1] += 1e-9
json.dump(d, open(sys.argv[1], "w"), indent=2)
EOF
for c in corrupt1 corrupt2; do
  if out="$(python3 "$work/compare.py" "$work/ref" "$work/$c")"; then fail "the comparison accepted $c: $out"; fi
  log "comparison rejects $c: $(echo "$out" | sed -n 2p | cut -c1-150)"
done

# 6. A dead shard is named and counted by merge_report.sh (no Slurm needed).
mkdir -p "$work/dead"
cp -r "$run/shard-0" "$work/dead/"
if out="$(bash "$scripts/merge_report.sh" --shards 2 --out "$work/dead" --g4u "$g4u" 2>&1)"; then
  fail "merge_report.sh merged with shard 1 missing: $out"
fi
if ! grep -q "shard 1/2: no folder" <<<"$out" || ! grep -q "1 of 2 shards missing or unfinished: shard 1" <<<"$out"; then
  fail "merge_report.sh did not name the missing shard 1: $out"
fi
[ ! -e "$work/dead/merged" ] || fail "merge_report.sh wrote a merged folder with shard 1 missing"
log "missing shard reported: $(grep -m1 'shard 1/2' <<<"$out")"
mkdir -p "$work/dead/shard-1"
cp "$shard1/run.json" "$work/dead/shard-1/"
head -n "$killed_at" "$shard1/samples.jsonl" >"$work/dead/shard-1/samples.jsonl"
if out="$(bash "$scripts/merge_report.sh" --shards 2 --out "$work/dead" --g4u "$g4u" 2>&1)"; then
  fail "merge_report.sh merged with shard 1 unfinished: $out"
fi
grep -q "shard 1/2: did not finish: $killed_at of $selected samples logged" <<<"$out" \
  || fail "merge_report.sh did not name the unfinished shard 1: $out"
log "unfinished shard reported: $(grep -m1 'shard 1/2' <<<"$out")"

passed=1
log "PASS (wall time $((SECONDS - t0)) s)"
