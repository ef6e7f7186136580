#!/usr/bin/env python3
"""g4u's speed under several settings of the environment, side by side in one run.

    python3 bench/threads/env_ab.py --model M [--model M2 ...] (--tokens @FILE | -p N) [-n N]
        [--threads 1,2] [--reps R] [--rounds K] [--isa avx2] [--g4u BIN] --out DIR
        --variant NAME:VAR=VALUE[,VAR=VALUE...] [--variant NAME: ...]

Each round runs `g4u bench --json` once for every model, thread count and variant, the variants of a
case back to back (which of them goes first rotating from one case to the next), so that a machine
whose speed drifts slows all of them about equally. A variant is a name and the environment variables it sets; every variable
that any variant sets is removed from the environment of the others (`default:` runs with none of
them). Writes DIR/results.json (every run, with the settings g4u reports: `openblas_thread_timeout`,
`omp_wait_policy`) and DIR/table.md (median and range of prefill and decode tokens/s per case).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_variant(text):
    name, sep, rest = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected NAME:VAR=VALUE[,VAR=VALUE...] or NAME:")
    env = {}
    for item in filter(None, rest.split(",")):
        var, eq, value = item.partition("=")
        if not eq or not var:
            raise argparse.ArgumentTypeError(f"--variant {text!r}: {item!r} is not VAR=VALUE")
        env[var] = value
    return name, env


def git_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def bench(args, model, threads, env):
    cmd = [args.g4u, "bench", "--model", model, "--threads", str(threads), "-n", str(args.gen), "--reps",
           str(args.reps), "--json"]
    cmd += ["--tokens", args.tokens] if args.tokens else ["-p", str(args.prompt)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout)


def fmt_range(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def table(runs, variants, models, threads, rounds):
    lines = ["| model | threads | variant | environment | prefill tok/s median (range) | decode tok/s median (range) |",
             "|---|---|---|---|---|---|"]
    for model in models:
        for t in threads:
            for name, env in variants:
                sel = [r for r in runs if r["model"] == model and r["threads"] == t and r["variant"] == name]
                env_text = ", ".join(f"{k}={v}" for k, v in env.items()) or "none set"
                lines.append(f"| {os.path.basename(model.rstrip('/'))} | {t} | {name} | {env_text} "
                             f"| {fmt_range([r['prefill_tokens_per_s'] for r in sel])} "
                             f"| {fmt_range([r['decode_tokens_per_s'] for r in sel])} |")
    lines += ["", f"{rounds} round(s) of one `g4u bench` invocation per case; in each, the variants run in turn."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="checkpoint folder or GGUF (repeatable)")
    ap.add_argument("--tokens", help="prompt token ids, as g4u bench --tokens takes them (@FILE or a list)")
    ap.add_argument("-p", "--prompt", type=int, default=128, help="prompt tokens when --tokens is not given")
    ap.add_argument("-n", "--gen", type=int, default=32, help="decoded tokens")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--reps", type=int, default=2, help="timed repetitions per invocation")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variant", type=parse_variant, action="append", required=True)
    ap.add_argument("--isa", choices=("auto", "avx2"), default="auto", help="avx2: G4U_KERNEL_ISA=avx2 for every run")
    ap.add_argument("--g4u", default=os.path.join(REPO, "build", "release", "apps", "g4u"))
    ap.add_argument("--timeout", type=int, default=3600, help="seconds one invocation may take")
    ap.add_argument("--out", required=True, help="results folder")
    args = ap.parse_args()
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        ap.error(f"--threads {args.threads!r}: expected comma-separated integers")
    if min(threads) < 1 or args.reps < 1 or args.rounds < 1 or args.gen < 1:
        ap.error("--threads, --reps, --rounds and -n must be >= 1")
    names = [n for n, _ in args.variant]
    if len(set(names)) != len(names):
        ap.error("variant names must differ")
    if not os.access(args.g4u, os.X_OK):
        ap.error(f"{args.g4u}: no g4u binary (build the release preset, or pass --g4u)")

    managed = {k for _, env in args.variant for k in env}
    base = {k: v for k, v in os.environ.items() if k not in managed}
    if args.isa == "avx2":
        base["G4U_KERNEL_ISA"] = "avx2"
    os.makedirs(args.out, exist_ok=True)
    started = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "g4u_commit": git_commit(), "machine": platform.machine(), "logical_cpus": os.cpu_count(),
               "load_average_at_start": list(os.getloadavg()), "isa": args.isa}
    runs = []
    order = list(args.variant)
    for rnd in range(args.rounds):
        for model in args.model:
            for t in threads:
                for name, env in order:
                    la = os.getloadavg()[0]
                    j = bench(args, model, t, base | env)
                    runs.append({"round": rnd, "model": model, "threads": t, "variant": name, "environment": env,
                                 "load_average_before": la,
                                 "prefill_tokens_per_s": j["prefill"]["tokens_per_s"],
                                 "decode_tokens_per_s": j["decode"]["tokens_per_s"],
                                 "openblas_thread_timeout": j.get("openblas_thread_timeout"),
                                 "omp_wait_policy": j.get("omp_wait_policy")})
                    print(f"round {rnd + 1}/{args.rounds} {os.path.basename(model.rstrip('/'))} t{t} {name}: prefill "
                          f"{runs[-1]['prefill_tokens_per_s']:.1f}, decode {runs[-1]['decode_tokens_per_s']:.1f} tok/s",
                          file=sys.stderr, flush=True)
                order = order[1:] + order[:1]  # who goes first rotates
    started["load_average_at_end"] = list(os.getloadavg())
    result = {"kind": "g4u-environment-variants", "command": " ".join(sys.argv), "environment": started,
              "variants": [{"name": n, "environment": e} for n, e in args.variant], "runs": runs}
    tmp = os.path.join(args.out, "results.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "results.json"))
    with open(os.path.join(args.out, "table.md"), "w", encoding="utf-8") as f:
        f.write(table(runs, args.variant, args.model, threads, args.rounds))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
