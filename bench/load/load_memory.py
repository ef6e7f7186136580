#!/usr/bin/env python3
"""Memory and time of loading a checkpoint: peak RSS and seconds of `g4u bench` (load + prefill +
decode) for each checkpoint of a config, against the checkpoint's bytes.

    python3 bench/load/load_memory.py --config bench/load/configs/medium.json --work DIR [--g4u BIN]
        [--before OTHER_BIN] [--variant LABEL=FLAGS ...] [--rounds R] [--runtime-only] [--out results.json]

The config names a preset and the checkpoints to make from it (`g4u init` in a stored dtype, then
optionally `g4u quantize`); missing ones are created under --work, existing ones reused. Every
checkpoint is run `rounds` times with `g4u bench --json`; with --before, the other binary runs each
round right after this one (same machine state), so before/after are compared side by side; each
binary loads the quantized checkpoint its own `g4u quantize` wrote (--before's in "<name>.before":
their formats may differ), from the same float source. --variant runs --g4u once more per round
with extra flags (e.g. `no-mmap=--no-mmap`). --evict drops each checkpoint's files from the page
cache once before its rounds (posix_fadvise DONTNEED), so that what the cache holds, and in which
folio sizes, comes from the binaries' own loads rather than from whoever wrote the files; the
first round then reads from disk. Reported per run: load seconds (g4u's own clock), seconds of the whole process, VmHWM
after loading, the process's peak RSS (/usr/bin/time -v), the checkpoint's bytes on disk, the KV
cache bytes, and peak / (checkpoint bytes + KV); the goal is <= 1.15 when the run dtype is the
stored dtype. `runtime_rss_bytes` is the peak RSS of the same bench on the `tiny` preset (weights of
a few MB): what the process takes before any checkpoint (LibTorch, its thread pools), reported
beside peak - runtime over checkpoint + KV. `read_seconds` is the time to read the checkpoint's
files once (page cache warm), the floor a load that copies every byte cannot beat.
With --runtime-only no checkpoint is made or run: only the runtime is measured, as the peak RSS of
`g4u --help` (libraries loaded, nothing run) and of the tiny bench, and what the latter had resident
at its end by kind of mapping (`resident_at_end` of `g4u bench --json`: anonymous memory, shared
libraries and how many, LibTorch's own among them, other mapped files).
Writes JSON (--out, default <work>/load_memory.json) and a Markdown table next to it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def die(msg):
    print(f"load_memory: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        die(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def run_measured(cmd):
    """stdout, wall seconds and peak RSS bytes of the process (/usr/bin/time -v), the latter None
    without /usr/bin/time."""
    timer = ["/usr/bin/time", "-v"] if os.access("/usr/bin/time", os.X_OK) else []
    start = time.perf_counter()
    p = subprocess.run(timer + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        die(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    rss = None
    for line in p.stderr.splitlines():
        if "Maximum resident set size (kbytes)" in line:
            rss = int(line.rsplit(":", 1)[1]) * 1024
    return p.stdout, wall, rss


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.endswith(".safetensors"))


def evict(path):
    for f in sorted(os.listdir(path)):
        if f.endswith(".safetensors"):
            fd = os.open(os.path.join(path, f), os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def read_seconds(path):
    start = time.perf_counter()
    for f in sorted(os.listdir(path)):
        if f.endswith(".safetensors"):
            with open(os.path.join(path, f), "rb", buffering=0) as fh:
                while fh.read(1 << 24):
                    pass
    return time.perf_counter() - start


def make_checkpoint(g4u, preset, ck, work, suffix=""):
    src = os.path.join(work, f"{preset}_{ck['init_dtype']}")
    if not os.path.isdir(src):
        run([g4u, "init", "--model", preset, "--out", src, "--dtype", ck["init_dtype"]])
    if "quantize" not in ck:
        return src
    out = os.path.join(work, f"{preset}_{ck['quantize']}{suffix}")
    if not os.path.isdir(out):
        run([g4u, "quantize", "--model", src, "--scheme", ck["quantize"], "--out", out])
    return out


def bench_once(g4u, flags, path, ck, cfg):
    cmd = [g4u, "bench", "--model", path, "--dtype", ck["run_dtype"], "--threads", str(cfg["threads"]),
           "-p", str(cfg["prompt_tokens"]), "-n", str(cfg["gen_tokens"]), "--reps", "1", "--json"] + flags
    out, wall, rss = run_measured(cmd)
    j = json.loads(out)
    return {k: j.get(k) for k in ("load_seconds", "load_peak_rss_bytes", "kv_cache_bytes", "weight_bytes")} | {
        "peak_rss_bytes": rss if rss is not None else j.get("peak_rss_bytes"),
        "process_seconds": wall,
        "prefill_tokens_per_s": j.get("prefill", {}).get("tokens_per_s"),
        "decode_tokens_per_s": j.get("decode", {}).get("tokens_per_s")}


def runtime_rss(g4u, cfg):
    """Peak RSS of `g4u bench` on the tiny preset (the runtime's own resident memory) and what that
    bench had resident at its end by kind of mapping (`resident_at_end`; None from older binaries)."""
    out, _, rss = run_measured([g4u, "bench", "--model", "tiny", "--threads", str(cfg["threads"]), "-p", "8", "-n", "1",
                                "--reps", "1", "--json"])
    return rss, json.loads(out).get("resident_at_end")


def idle_rss(g4u):
    """Peak RSS of `g4u --help`: the process with its libraries loaded and nothing run."""
    _, _, rss = run_measured([g4u, "--help"])
    return rss


def runtime_table(runtime, idle):
    """Markdown: the runtime's resident memory per binary, by kind of mapping."""
    def mib(v):
        return "n/a" if v is None else f"{v / (1 << 20):.1f} MiB"
    lines = ["| binary | `g4u --help` peak RSS | tiny bench peak RSS | resident at its end | anonymous (heap, stacks) | "
             "shared libraries | of which LibTorch | other files |",
             "|---|---|---|---|---|---|---|---|"]
    for label, (rss, kinds) in runtime.items():
        k = kinds or {}
        total = sum(k[key] for key in ("anonymous_bytes", "shared_library_bytes", "other_file_bytes")) if kinds else None
        libs = f"{mib(k['shared_library_bytes'])} in {k['shared_libraries']} files" if kinds else "n/a"
        lines.append(f"| {label} | {mib(idle[label])} | {mib(rss)} | {mib(total)} | {mib(k.get('anonymous_bytes'))} | {libs} | "
                     f"{mib(k.get('libtorch_bytes'))} | {mib(k.get('other_file_bytes'))} |")
    return lines


def num(value, spec, scale=1):
    """A table cell: n/a for a value an older binary does not report."""
    return "n/a" if value is None else format(value / scale, spec)


def median(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", required=True, help="folder for the checkpoints (reused across runs)")
    ap.add_argument("--g4u", default="build/release/apps/g4u")
    ap.add_argument("--before", help="a second g4u binary run beside --g4u in every round")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=FLAGS",
                    help="also run --g4u with these extra flags (space-separated) in every round")
    ap.add_argument("--out")
    ap.add_argument("--only", help="comma-separated checkpoint names of the config to run (default: all)")
    ap.add_argument("--rounds", type=int, help="override the config's rounds")
    ap.add_argument("--evict", action="store_true", help="drop the checkpoints' pages from the page cache before their rounds")
    ap.add_argument("--runtime-only", action="store_true",
                    help="measure only the runtime's own resident memory (no checkpoints are made or run)")
    a = ap.parse_args()
    if a.rounds is not None and a.rounds < 1:
        die("--rounds must be >= 1")
    try:
        with open(a.config) as fh:
            cfg = json.load(fh)
        for key in ("preset", "checkpoints", "threads", "prompt_tokens", "gen_tokens", "rounds"):
            if key not in cfg:
                die(f"{a.config}: missing field '{key}'")
    except (OSError, json.JSONDecodeError) as e:
        die(f"{a.config}: {e}")
    for b in [a.g4u] + ([a.before] if a.before else []):
        if not os.access(b, os.X_OK):
            die(f"{b}: not an executable g4u")
    if a.rounds is not None:
        cfg["rounds"] = a.rounds
    os.makedirs(a.work, exist_ok=True)
    # label -> (binary, extra flags, checkpoint folder suffix)
    binaries = {"after": (a.g4u, [], "")}
    for v in a.variant:
        label, sep, flags = v.partition("=")
        if not sep or not label or label in ("after", "before") or label in binaries:
            die(f"--variant {v}: expected a new LABEL=FLAGS")
        binaries[label] = (a.g4u, flags.split(), "")
    if a.before:
        binaries["before"] = (a.before, [], ".before")

    results = []
    runtime = {label: runtime_rss(binary, cfg) for label, (binary, _, _) in binaries.items()}
    idle = {label: idle_rss(binary) for label, (binary, _, _) in binaries.items()}
    only = set(a.only.split(",")) if a.only else None
    for ck in ([] if a.runtime_only else cfg["checkpoints"]):
        if only is not None and ck["name"] not in only:
            continue
        paths = {label: make_checkpoint(binary, cfg["preset"], ck, a.work, suffix)
                 for label, (binary, _, suffix) in binaries.items()}
        path = paths["after"]
        if a.evict:
            for p in set(paths.values()):
                evict(p)
        size = dir_bytes(path)
        runs = {label: [] for label in binaries}
        for rnd in range(cfg["rounds"]):
            # The binaries take turns going first, so a drift in the machine's state hits both alike.
            order = list(binaries.items())
            for label, (binary, flags, _) in (order if rnd % 2 == 0 else order[::-1]):
                runs[label].append(bench_once(binary, flags, paths[label], ck, cfg))
        entry = {"checkpoint": ck["name"], "path": os.path.basename(path), "run_dtype": ck["run_dtype"], "evicted": a.evict,
                 "checkpoint_bytes": size, "read_seconds": read_seconds(path), "runs": runs}
        for label, rows in runs.items():
            peak = median(rows, "peak_rss_bytes")
            kv = median(rows, "kv_cache_bytes") or 0
            size = dir_bytes(paths[label])
            entry[label] = {"path": os.path.basename(paths[label]), "flags": binaries[label][1],
                            "checkpoint_bytes": size,
                            "load_seconds": median(rows, "load_seconds"),
                            "process_seconds": median(rows, "process_seconds"),
                            "load_peak_rss_bytes": median(rows, "load_peak_rss_bytes"),
                            "peak_rss_bytes": peak,
                            "peak_over_checkpoint_plus_kv": peak / (size + kv) if peak else None,
                            "runtime_rss_bytes": runtime[label][0],
                            "peak_minus_runtime_over_checkpoint_plus_kv":
                                (peak - runtime[label][0]) / (size + kv) if peak and runtime[label][0] else None,
                            "prefill_tokens_per_s": median(rows, "prefill_tokens_per_s"),
                            "decode_tokens_per_s": median(rows, "decode_tokens_per_s")}
        results.append(entry)
        print(json.dumps({k: entry[k] for k in entry if k != "runs"}), file=sys.stderr)

    out = a.out or os.path.join(a.work, "load_memory.json")
    doc = {"config": cfg, "g4u": {label: {"binary": b, "flags": f} for label, (b, f, _) in binaries.items()}, "uname": os.uname().release, "results": results}
    gib = 1 << 30
    lines = [] if a.runtime_only else ["| checkpoint | run dtype | on disk | binary | load s | process s | read s | load peak RSS | peak RSS | peak / (disk + KV) | (peak - runtime) / (disk + KV) | prefill tok/s | decode tok/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in results:
        for label in binaries:
            r = e[label]
            lines.append(f"| {e['checkpoint']} | {e['run_dtype']} | {r['checkpoint_bytes'] / gib:.2f} GiB | {label} | "
                         f"{num(r['load_seconds'], '.2f')} | {num(r['process_seconds'], '.2f')} | {e['read_seconds']:.2f} | "
                         f"{num(r['load_peak_rss_bytes'], '.2f', gib)} GiB | {num(r['peak_rss_bytes'], '.2f', gib)} GiB | "
                         f"{num(r['peak_over_checkpoint_plus_kv'], '.3f')} | "
                         f"{num(r['peak_minus_runtime_over_checkpoint_plus_kv'], '.3f')} | {num(r['prefill_tokens_per_s'], '.1f')} | "
                         f"{num(r['decode_tokens_per_s'], '.2f')} |")
    if lines:
        lines.append("")
        lines.append("Runtime RSS (`g4u bench` on the tiny preset): " +
                     ", ".join(f"{label} {num(rss, '.3f', gib)} GiB" for label, (rss, _) in runtime.items()) + ".")
        lines.append("")
    lines += runtime_table(runtime, idle)
    doc["runtime_rss_bytes"] = {label: rss for label, (rss, _) in runtime.items()}
    doc["runtime_resident_at_end"] = {label: kinds for label, (_, kinds) in runtime.items()}
    doc["idle_rss_bytes"] = idle
    for path, text in ((out, json.dumps(doc, indent=2) + "\n"), (os.path.splitext(out)[0] + ".md", "\n".join(lines) + "\n")):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)))
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
