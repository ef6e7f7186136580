#!/usr/bin/env python3
"""g4u beside llama.cpp on the same GGUF, same prompt ids, same threads (bench/peer/README.md).

  python3 bench/peer/peer_bench.py bench   --config bench/peer/configs/medium.json --work W [--out D]
                                           [--rounds R] [--reps R] [-p P] [-n N] [--only q4_0,...]
                                           [--with-12b] [--g4u-gguf] [--g4u B] [--peer-dir D]
  python3 bench/peer/peer_bench.py interop --config bench/peer/configs/interop.json --work W [--out D] [--no-drafter]

`bench` creates what it needs in the work folder (g4u init / quantize / export-gguf, each skipped
when its output exists), then runs `g4u bench --tokens` and `llama_peer.mjs` on every
(model, scheme, threads) of the config, round after round, the two engines alternating which goes
first, and writes results.json and table.md. `interop` trains a small model, quantizes and exports
it, and checks that llama.cpp loads each GGUF and decodes the same greedy tokens as g4u; with the
config's `drafter` section it also distils a Gemma 4 assistant drafter, exports it (gemma4-assistant),
loads it in node-llama-cpp and runs greedy speculative decoding in llama.cpp through its C API
(mtp_peer.cpp, built here against the prebuilt libraries) against `g4u generate --draft`.

Python 3 standard library only. Exit code 2 on bad input, 1 when a run fails.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PEER = os.path.join(HERE, "llama_peer.mjs")
MTP_PEER_SRC = os.path.join(HERE, "mtp_peer.cpp")


class InputError(Exception):
    pass


def log(msg):
    print(f"[peer {datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}")
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: line {e.lineno}: {e.msg}")


def require(obj, key, kind, where):
    if key not in obj:
        raise InputError(f"{where}: '{key}' is required")
    if not isinstance(obj[key], kind) or isinstance(obj[key], bool) and kind is not bool:
        raise InputError(f"{where}: '{key}' has the wrong type")
    return obj[key]


def check_keys(obj, allowed, where):
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


# ---------------------------------------------------------------------------------------------
# Running commands

TIME_BIN = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run(cmd, env=None, timeout=None, capture=True, where=""):
    """Runs cmd; returns (stdout, peak RSS bytes from /usr/bin/time -v or None). Raises on failure."""
    full = list(cmd)
    time_file = None
    if TIME_BIN:
        time_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"g4u_peer_time_{os.getpid()}.txt")
        full = [TIME_BIN, "-v", "-o", time_file] + full
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(full, env=e, timeout=timeout, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE, text=True)
    rss = None
    if time_file and os.path.exists(time_file):
        with open(time_file, encoding="utf-8", errors="replace") as f:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
            rss = int(m.group(1)) * 1024 if m else None
        os.remove(time_file)
    if p.returncode != 0:
        tail = "\n".join((p.stderr or "").strip().splitlines()[-15:])
        raise RuntimeError(f"{where or cmd[0]}: exit code {p.returncode}: {' '.join(cmd)}\n{tail}")
    return p.stdout, rss


def step(desc, outputs, cmd, env=None):
    """Runs a preparation command unless all its outputs exist (each command writes atomically)."""
    if outputs and all(os.path.exists(o) for o in outputs):
        log(f"{desc}: present")
        return
    log(f"{desc}: {' '.join(cmd)}")
    t0 = time.time()
    run(cmd, env=env, capture=False, where=desc)
    log(f"{desc}: done in {time.time() - t0:.0f} s")


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def prompt_ids(count, seed, min_id, vocab):
    """<bos> (id 2) then count-1 ids drawn uniformly from [min_id, vocab) by SplitMix64(seed)."""
    ids, state = [2], seed
    while len(ids) < count:
        state, r = splitmix64(state)
        ids.append(min_id + r % (vocab - min_id))
    return ids[:count]


def vocab_size(ckpt):
    cfg = load_json(os.path.join(ckpt, "config.json"), "config")
    text = cfg.get("text_config", cfg)
    if "vocab_size" not in text:
        raise InputError(f"{ckpt}/config.json: no vocab_size")
    return int(text["vocab_size"])


def git_commit():
    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(args):
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "g4u_commit": git_commit(), "g4u_binary": os.path.relpath(args.g4u, REPO) if args.g4u.startswith(REPO) else args.g4u,
            "cpu": cpu_name(), "logical_cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg()),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), "python": platform.python_version(),
            "isa": getattr(args, "isa", "auto")}


class Engines:
    def __init__(self, args):
        self.args = args
        self.g4u = args.g4u
        if not os.path.exists(self.g4u):
            raise InputError(f"{self.g4u}: no g4u binary (build the release preset, or pass --g4u)")
        node = shutil.which("node")
        if not node:
            raise InputError("node not found (bash bench/peer/install.sh needs it too)")
        self.node = node
        out, _ = run([node, PEER, "--info", "--peer-dir", args.peer_dir], where="llama_peer --info")
        self.llama_build = json.loads(out)["build"]
        # libgomp threads spin between operators unless told otherwise (README: timing runs).
        self.g4u_env = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        if getattr(args, "isa", "auto") == "avx2":
            if "AVX512 = 1" in self.llama_build["system_info"]:
                raise InputError(f"--isa avx2: llama.cpp in {args.peer_dir} runs AVX-512 code (system_info: "
                                 f"{self.llama_build['system_info']}); use the folder of "
                                 "bash bench/peer/install.sh --cpu-variant haswell")
            self.g4u_env["G4U_KERNEL_ISA"] = "avx2"

    def g4u_bench(self, model, ids_file, threads, gen, reps):
        cmd = [self.g4u, "bench", "--model", model, "--threads", str(threads), "--tokens", "@" + ids_file, "-n", str(gen),
               "--reps", str(reps), "--json"]
        t0 = time.time()
        out, rss = run(cmd, env=self.g4u_env, timeout=self.args.timeout, where="g4u bench")
        j = json.loads(out)
        j["wall_seconds"] = time.time() - t0
        j["peak_rss_bytes_time"] = rss
        return j

    def llama_load_only(self, gguf):
        out, _ = run([self.node, PEER, "--load-only", "--model", gguf, "--peer-dir", self.args.peer_dir],
                     timeout=self.args.timeout, where="llama_peer --load-only")
        return json.loads(out)

    def mtp_peer(self, work):
        """Builds bench/peer/mtp_peer.cpp against the llama.cpp headers of the source node-llama-cpp bundles
        (its gitRelease.bundle, cloned offline into the work folder) and its prebuilt libraries."""
        mod = os.path.join(self.args.peer_dir, "node_modules")
        bins = os.path.join(mod, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
        bundle = os.path.join(mod, "node-llama-cpp", "llama", "gitRelease.bundle")
        for path in (bins, bundle):
            if not os.path.exists(path):
                raise InputError(f"{path}: missing (run bash bench/peer/install.sh)")
        release = self.llama_build["release"]
        src = os.path.join(work, "llama.cpp-" + release)
        if not os.path.exists(os.path.join(src, "include", "llama.h")):
            git = shutil.which("git")
            if not git:
                raise InputError("git not found (needed to unpack node-llama-cpp's llama.cpp source bundle)")
            shutil.rmtree(src, ignore_errors=True)
            run([git, "clone", "--quiet", bundle, src], where="git clone of the llama.cpp bundle")
        exe = os.path.join(work, "mtp_peer-" + release)
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(MTP_PEER_SRC):
            cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
            if not cxx:
                raise InputError("no C++ compiler (g++) to build bench/peer/mtp_peer.cpp")
            run([cxx, "-std=c++17", "-O2", "-I" + os.path.join(src, "include"), "-I" + os.path.join(src, "src"),
                 "-I" + os.path.join(src, "ggml", "include"), MTP_PEER_SRC, "-o", exe, "-L" + bins,
                 f"-l:libllama.{release}.so", f"-l:libggml.{release}.so", "-l:libggml-base.so", "-Wl,-rpath," + bins],
                where="building mtp_peer")
        return exe, bins

    def llama(self, gguf, ids_file, threads, gen, reps):
        cmd = [self.node, PEER, "--model", gguf, "--threads", str(threads), "--tokens", "@" + ids_file, "-n", str(gen),
               "--reps", str(reps), "--peer-dir", self.args.peer_dir]
        t0 = time.time()
        out, rss = run(cmd, timeout=self.args.timeout, where="llama_peer")
        j = json.loads(out)
        j["wall_seconds"] = time.time() - t0
        j["peak_rss_bytes_time"] = rss
        return j


def compare_tokens(a, b):
    """{"equal", "first_difference" (index or None), "compared"} of two greedy token lists."""
    n = min(len(a), len(b))
    first = next((i for i in range(n) if a[i] != b[i]), None)
    if first is None and len(a) != len(b):
        first = n
    return {"equal": first is None, "first_difference": first, "compared": max(len(a), len(b))}


def summarize_run(r):
    """The numbers of one engine invocation that the tables use."""
    return {"prefill_tokens_per_s": r.get("prefill", {}).get("tokens_per_s"),
            "decode_tokens_per_s": r.get("decode", {}).get("tokens_per_s"),
            "load_seconds": r.get("load_seconds"),
            "peak_rss_bytes": r.get("peak_rss_bytes_time") or r.get("peak_rss_bytes"),
            "wall_seconds": r.get("wall_seconds")}


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


# ---------------------------------------------------------------------------------------------
# bench


def parse_bench_config(path):
    c = load_json(path, "config")
    check_keys(c, {"description", "prompt", "gen_tokens", "reps", "rounds", "runs", "optional_runs"}, path)
    pr = require(c, "prompt", dict, path)
    check_keys(pr, {"tokens", "seed", "min_id"}, path + ": prompt")
    for k in ("tokens", "seed", "min_id"):
        require(pr, k, int, path + ": prompt")
    for k in ("gen_tokens", "reps", "rounds"):
        if require(c, k, int, path) < (0 if k == "gen_tokens" else 1):
            raise InputError(f"{path}: {k} out of range")
    runs = list(require(c, "runs", list, path))
    optional = c.get("optional_runs", {})
    if not isinstance(optional, dict):
        raise InputError(f"{path}: optional_runs: expected an object of named run lists")
    for name, lst in optional.items():
        if not isinstance(lst, list):
            raise InputError(f"{path}: optional_runs.{name}: expected a list")
    for i, r in enumerate(runs + [r for lst in optional.values() for r in lst]):
        where = f"{path}: run {i}"
        check_keys(r, {"model", "init_seed", "scheme", "threads", "prompt_tokens", "gen_tokens"}, where)
        require(r, "model", str, where)
        require(r, "scheme", str, where)
        th = require(r, "threads", list, where)
        if not th or any(not isinstance(t, int) or t < 1 for t in th):
            raise InputError(f"{where}: threads: expected a list of integers >= 1")
    return c


def prepare_model(engines, work, model, init_seed, scheme):
    """work/<model>-s<seed>-bf16 -> -<scheme> -> .gguf; returns (checkpoint dir, gguf path)."""
    g = engines.g4u
    base = os.path.join(work, f"{model}-s{init_seed}-bf16")
    if not os.path.exists(os.path.join(base, "config.json")):
        # g4u init writes in place: into a temporary folder, renamed when complete.
        tmp = base + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        step(f"init {model}", [], [g, "init", "--model", model, "--out", tmp, "--seed", str(init_seed), "--dtype", "bf16"])
        os.rename(tmp, base)
    qdir = os.path.join(work, f"{model}-s{init_seed}-{scheme}")
    step(f"quantize {model} {scheme}", [os.path.join(qdir, "quantization.json")],
         [g, "quantize", "--model", base, "--scheme", scheme, "--out", qdir])
    gguf = qdir + ".gguf"
    step(f"export-gguf {model} {scheme}", [gguf], [g, "export-gguf", "--model", qdir, "--out", gguf, "-q"])
    return qdir, gguf


def fmt_num(x, digits=1):
    return "n/a" if x is None else f"{x:.{digits}f}"


def fmt_gib(x):
    return "n/a" if x is None else f"{x / 2**30:.2f}"


def isa_note(env):
    if env.get("isa") != "avx2":
        return ""
    return ", both engines on their AVX2 code (g4u G4U_KERNEL_ISA=avx2, llama.cpp's haswell CPU backend)"


def bench_table(rows, env, rounds, reps):
    lines = [
        "| model | scheme | threads | prompt | gen | g4u prefill tok/s | llama.cpp prefill tok/s | prefill g4u/llama.cpp "
        "| g4u decode tok/s | llama.cpp decode tok/s | decode g4u/llama.cpp | g4u load s | llama.cpp load s "
        "| g4u peak RSS GiB | llama.cpp peak RSS GiB | greedy tokens equal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["median"]
        eq = r["greedy_tokens_equal"]
        lines.append(
            f"| {r['model']} | {r['scheme']} | {r['threads']} | {r['prompt_tokens']} | {r['gen_tokens']} "
            f"| {fmt_num(m['g4u']['prefill_tokens_per_s'])} | {fmt_num(m['llama.cpp']['prefill_tokens_per_s'])} "
            f"| {fmt_num(m['ratio']['prefill'], 2)} "
            f"| {fmt_num(m['g4u']['decode_tokens_per_s'])} | {fmt_num(m['llama.cpp']['decode_tokens_per_s'])} "
            f"| {fmt_num(m['ratio']['decode'], 2)} "
            f"| {fmt_num(m['g4u']['load_seconds'], 2)} | {fmt_num(m['llama.cpp']['load_seconds'], 2)} "
            f"| {fmt_gib(m['g4u']['peak_rss_bytes'])} | {fmt_gib(m['llama.cpp']['peak_rss_bytes'])} "
            f"| {eq['rounds_equal']}/{eq['rounds']}"
            + (f" (first difference at {eq['first_difference']})" if eq["first_difference"] is not None else "") + " |")
    la = env["load_average_at_start"]
    lines.append("")
    lines.append(f"Medians over {rounds} round(s), each engine {reps} timed repetition(s) after one warm-up per run; "
                 f"ratios are medians of the per-round ratios. g4u {env['g4u_commit'][:12]}, llama.cpp "
                 f"{env['llama_cpp']['repo']} {env['llama_cpp']['release']} (node-llama-cpp "
                 f"{env['llama_cpp']['node_llama_cpp']}){isa_note(env)}; {env['cpu']}, {env['logical_cpus']} logical CPUs; "
                 f"load average {la[0]:.1f} at start, {env['load_average_at_end'][0]:.1f} at end"
                 + (f"; g4u's OPENBLAS_THREAD_TIMEOUT {', '.join(env['g4u_openblas_thread_timeout'])}"
                    if "g4u_openblas_thread_timeout" in env else "") + ".")
    return "\n".join(lines) + "\n"


def cmd_bench(args):
    cfg = parse_bench_config(args.config)
    engines = Engines(args)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    out_dir = os.path.abspath(args.out or os.path.join(work, "peer-" + os.path.splitext(os.path.basename(args.config))[0]))
    os.makedirs(out_dir, exist_ok=True)
    rounds = args.rounds or cfg["rounds"]
    reps = args.reps or cfg["reps"]
    runs = list(cfg["runs"])
    if args.with_12b:
        if "12b" not in cfg.get("optional_runs", {}):
            raise InputError(f"{args.config}: --with-12b needs optional_runs.12b")
        runs += cfg["optional_runs"]["12b"]
    only = set(args.only.split(",")) if args.only else None

    # Preparation first, so that timing rounds are not interleaved with quantization.
    cases = []
    for r in runs:
        if only and r["scheme"] not in only:
            continue
        seed = r.get("init_seed", 0)
        qdir, gguf = prepare_model(engines, work, r["model"], seed, r["scheme"])
        P = args.prompt_tokens or r.get("prompt_tokens") or cfg["prompt"]["tokens"]
        N = args.gen_tokens if args.gen_tokens is not None else r.get("gen_tokens", cfg["gen_tokens"])
        vocab = vocab_size(qdir)
        ids = prompt_ids(P, cfg["prompt"]["seed"], cfg["prompt"]["min_id"], vocab)
        ids_file = os.path.join(work, f"prompt-{r['model']}-p{P}-s{cfg['prompt']['seed']}.txt")
        with open(ids_file, "w", encoding="utf-8") as f:
            f.write(",".join(map(str, ids)) + "\n")
        for t in r["threads"]:
            cases.append({"model": r["model"], "scheme": r["scheme"], "threads": t, "prompt_tokens": P, "gen_tokens": N,
                          "checkpoint": qdir, "gguf": gguf, "ids_file": ids_file, "rounds": []})
    if not cases:
        raise InputError("no runs selected")

    env = environment(args)
    env["llama_cpp"] = engines.llama_build
    for rnd in range(rounds):
        for ci, c in enumerate(cases):
            order = ["g4u", "llama.cpp"] if (rnd + ci) % 2 == 0 else ["llama.cpp", "g4u"]
            res = {}
            for eng in order:
                la = os.getloadavg()[0]
                log(f"round {rnd + 1}/{rounds} {c['model']} {c['scheme']} t{c['threads']}: {eng} (load {la:.1f})")
                if eng == "g4u":
                    model = c["gguf"] if args.g4u_gguf else c["checkpoint"]
                    res[eng] = engines.g4u_bench(model, c["ids_file"], c["threads"], c["gen_tokens"], reps)
                else:
                    res[eng] = engines.llama(c["gguf"], c["ids_file"], c["threads"], c["gen_tokens"], reps)
                res[eng]["load_average_before"] = la
            c["rounds"].append({"order": order, "g4u": res["g4u"], "llama.cpp": res["llama.cpp"],
                                "tokens": compare_tokens(res["g4u"].get("generated", []),
                                                         res["llama.cpp"].get("generated", []))})
            s = {e: summarize_run(res[e]) for e in ("g4u", "llama.cpp")}
            log(f"  prefill {fmt_num(s['g4u']['prefill_tokens_per_s'])} vs {fmt_num(s['llama.cpp']['prefill_tokens_per_s'])}"
                f" tok/s, decode {fmt_num(s['g4u']['decode_tokens_per_s'])} vs "
                f"{fmt_num(s['llama.cpp']['decode_tokens_per_s'])} tok/s")
    env["load_average_at_end"] = list(os.getloadavg())
    # What g4u ran with: 4 (set by g4u itself) unless the environment chose a value (apps/blas_threads.h).
    env["g4u_openblas_thread_timeout"] = sorted({str(r["g4u"].get("openblas_thread_timeout", "not reported"))
                                                 for c in cases for r in c["rounds"]})

    rows = []
    for c in cases:
        per = {e: [summarize_run(r[e]) for r in c["rounds"]] for e in ("g4u", "llama.cpp")}
        median = {e: {k: med([p[k] for p in per[e]]) for k in per[e][0]} for e in per}

        def ratio(key):
            vals = [a[key] / b[key] for a, b in zip(per["g4u"], per["llama.cpp"]) if a[key] and b[key]]
            return statistics.median(vals) if vals else None

        median["ratio"] = {"prefill": ratio("prefill_tokens_per_s"), "decode": ratio("decode_tokens_per_s")}
        firsts = [r["tokens"]["first_difference"] for r in c["rounds"] if not r["tokens"]["equal"]]
        rows.append({k: c[k] for k in ("model", "scheme", "threads", "prompt_tokens", "gen_tokens")}
                    | {"checkpoint": os.path.relpath(c["checkpoint"], work), "gguf": os.path.relpath(c["gguf"], work),
                       "median": median,
                       "greedy_tokens_equal": {"rounds": len(c["rounds"]),
                                               "rounds_equal": sum(r["tokens"]["equal"] for r in c["rounds"]),
                                               "first_difference": min(firsts) if firsts else None},
                       "rounds": c["rounds"]})
    result = {"kind": "g4u-vs-llama.cpp", "config": os.path.relpath(os.path.abspath(args.config), REPO),
              "command": " ".join(sys.argv), "rounds": rounds, "reps": reps, "g4u_model": "gguf" if args.g4u_gguf else "checkpoint",
              "environment": env, "results": rows}
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    table = bench_table(rows, env, rounds, reps)
    with open(os.path.join(out_dir, "table.md"), "w", encoding="utf-8") as f:
        f.write(table)
    print(table, end="")
    log(f"wrote {out_dir}/results.json and table.md")
    return 0


# ---------------------------------------------------------------------------------------------
# interop


def cmd_interop(args):
    path = args.config
    c = load_json(path, "config")
    check_keys(c, {"description", "train_config", "schemes", "float_gguf", "prompt_text", "gen_tokens", "threads", "drafter"},
               path)
    train_cfg = os.path.join(REPO, require(c, "train_config", str, path))
    schemes = require(c, "schemes", list, path)
    text = require(c, "prompt_text", str, path)
    gen = require(c, "gen_tokens", int, path)
    threads = require(c, "threads", int, path)
    engines = Engines(args)
    g = engines.g4u
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    out_dir = os.path.abspath(args.out or os.path.join(work, "peer-interop"))
    os.makedirs(out_dir, exist_ok=True)

    trained = os.path.join(work, "interop-trained")
    step("train", [os.path.join(trained, "summary.json")],
         [g, "train", "--config", train_cfg, "--out", trained, "--quiet"], env=engines.g4u_env)
    variants = []
    if c.get("float_gguf", True):
        gguf = trained + "-f32.gguf"
        step("export-gguf fp32", [gguf], [g, "export-gguf", "--model", trained, "--out", gguf, "-q"])
        variants.append({"name": "f32", "checkpoint": trained, "gguf": gguf})
    for s in schemes:
        qdir = f"{trained}-{s}"
        step(f"quantize {s}", [os.path.join(qdir, "quantization.json")],
             [g, "quantize", "--model", trained, "--scheme", s, "--out", qdir])
        gguf = qdir + ".gguf"
        step(f"export-gguf {s}", [gguf], [g, "export-gguf", "--model", qdir, "--out", gguf, "-q"])
        variants.append({"name": s, "checkpoint": qdir, "gguf": gguf})

    # The prompt's ids as g4u's own tokenizer makes them (--raw: <bos> + the text).
    out, _ = run([g, "generate", "--model", trained, "--raw", "--prompt", text, "-n", "1", "--json"], env=engines.g4u_env,
                 where="g4u generate")
    ids = json.loads(out)["prompt_ids"]
    ids_file = os.path.join(work, "interop-prompt.txt")
    with open(ids_file, "w", encoding="utf-8") as f:
        f.write(",".join(map(str, ids)) + "\n")

    rows = []
    for v in variants:
        log(f"interop {v['name']}")
        row = {"variant": v["name"], "gguf": os.path.relpath(v["gguf"], work)}
        a = engines.g4u_bench(v["gguf"] if args.g4u_gguf else v["checkpoint"], ids_file, threads, gen, 1)
        row["g4u_generated"] = a["generated"]
        try:
            b = engines.llama(v["gguf"], ids_file, threads, gen, 1)
            row["llama_loads"] = True
            row["llama_generated"] = b["generated"]
            row["tokens"] = compare_tokens(a["generated"], b["generated"])
        except RuntimeError as e:
            row["llama_loads"] = False
            row["llama_error"] = str(e)
        rows.append(row)
    if "drafter" in c and not args.no_drafter:
        drafter = drafter_interop(engines, args, require(c, "drafter", dict, path), f"{path}: drafter", work, trained, text,
                                  gen, threads)
    else:
        drafter = {"checked": False, "reason": "--no-drafter" if args.no_drafter else "no drafter section in the config"}
    result = {"kind": "g4u-llama.cpp-interop", "config": os.path.relpath(os.path.abspath(path), REPO),
              "command": " ".join(sys.argv), "prompt_text": text, "prompt_ids": ids, "gen_tokens": gen, "threads": threads,
              "environment": environment(args) | {"llama_cpp": engines.llama_build}, "variants": rows, "drafter": drafter}
    with open(os.path.join(out_dir, "interop.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    lines = ["| GGUF | loads in llama.cpp | greedy tokens equal | first difference |", "|---|---|---|---|"]
    for r in rows:
        if r["llama_loads"]:
            t = r["tokens"]
            lines.append(f"| {r['variant']} | yes | {'yes' if t['equal'] else 'no'} ({t['compared']} tokens) "
                         f"| {'-' if t['first_difference'] is None else t['first_difference']} |")
        else:
            lines.append(f"| {r['variant']} | no | - | - |")
    if drafter.get("checked"):
        lines += ["", "| drafter GGUF (gemma4-assistant) | loads in node-llama-cpp | context in node-llama-cpp | "
                  "speculative runs (llama.cpp C API) | tokens and acceptance counters equal |", "|---|---|---|---|---|"]
        ctx = drafter["node_llama_cpp"]["context"]
        for r in drafter["runs"]:
            lines.append(f"| {drafter['gguf']} k={r['k']} | {'yes' if drafter['node_llama_cpp']['loads'] else 'no'} "
                         f"| {'yes' if ctx['created'] else 'no: ' + str(ctx.get('llama_log') or ctx['error'])} "
                         f"| prompt {r['prompt']}: {r['llama']['rounds']} rounds, {r['llama']['accepted']}/"
                         f"{r['llama']['drafted']} accepted | {'yes' if r['equal'] else 'no: ' + ', '.join(r['differences'])} |")
    else:
        lines.append(f"| drafter (gemma4-assistant) | not checked ({drafter['reason']}) | - | - |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "interop.md"), "w", encoding="utf-8") as f:
        f.write(table)
    print(table, end="")
    ok = all(r["llama_loads"] and r["tokens"]["equal"] for r in rows) and drafter.get("equal", True)
    log(f"wrote {out_dir}/interop.json and interop.md; {'all equal' if ok else 'DIFFERENCES'}")
    return 0 if ok else 3


def stop_and_suppress(ckpt):
    """The stop ids (eos) and suppressed ids g4u decodes a checkpoint with (model/io/config.h):
    generation_config.json first, then config.json (eos_token_id top level or in text_config, g4u_suppress_tokens)."""
    cfg = load_json(os.path.join(ckpt, "config.json"), "config")
    gen_path = os.path.join(ckpt, "generation_config.json")
    gen = load_json(gen_path, "generation config") if os.path.exists(gen_path) else {}
    as_list = lambda v: v if isinstance(v, list) else [v]
    eos = gen.get("eos_token_id", cfg.get("eos_token_id", cfg.get("text_config", {}).get("eos_token_id")))
    sup = gen.get("suppress_tokens", cfg.get("g4u_suppress_tokens"))
    if eos is None or sup is None:
        raise InputError(f"{ckpt}: cannot tell its eos ids and suppressed tokens (config.json written by g4u expected)")
    return as_list(eos), as_list(sup)


def drafter_interop(engines, args, d, where, work, trained, default_prompt, gen, threads):
    """The Gemma 4 assistant drafter check: a target (the interop model, or one trained from the section's own
    train_config: the interop model's greedy text is one repeated token, useless for acceptance), g4u train-drafter,
    export-gguf of both (the drafter as gemma4-assistant with the target GGUF's vocabulary), node-llama-cpp load of
    the drafter (and its context attempt), then greedy speculative decoding in llama.cpp through its C API
    (mtp_peer.cpp) against g4u generate --draft on the same prompt ids: tokens and acceptance counters compared."""
    check_keys(d, {"train_config", "preset", "train_prompts", "max_train_prompts", "steps", "samples", "prompts", "raw",
                   "k", "gen_tokens"}, where)
    g = engines.g4u
    preset = require(d, "preset", str, where)
    ks = require(d, "k", list, where)
    prompts = d.get("prompts", [default_prompt])
    raw = bool(d.get("raw", True))
    gen = int(d.get("gen_tokens", gen))
    target = trained
    if "train_config" in d:
        target = os.path.join(work, "interop-drafter-target")
        step("train drafter target", [os.path.join(target, "summary.json")],
             [g, "train", "--config", os.path.join(REPO, require(d, "train_config", str, where)), "--out", target, "--quiet"],
             env=engines.g4u_env)
    # Training prompts: a .jsonl manifest of tasks (rendered as g4u eval renders them), or a text file whose
    # non-empty lines are raw prompts. "{target}" names the target's folder (g4u train writes data/ there).
    src = require(d, "train_prompts", str, where).replace("{target}", target)
    if src.endswith(".jsonl"):
        prompt_flags = ["--prompts", src]
    else:
        prompts_file = os.path.join(work, "interop-drafter-prompts.txt")
        with open(src, encoding="utf-8") as f:
            lines = [ln.strip() for ln in f if ln.strip()][: int(d.get("max_train_prompts", 250))]
        with open(prompts_file, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        prompt_flags = ["--prompts", prompts_file, "--raw-prompts"]
    ddir = os.path.join(work, "interop-drafter")
    step("train-drafter", [os.path.join(ddir, "config.json")],
         [g, "train-drafter", "--model", target, "--draft", preset, "--out", ddir] + prompt_flags +
         ["--sample-temperature", "0", "--samples", str(d.get("samples", 128)), "--steps", str(d.get("steps", 100)),
          "--threads", str(threads), "--eval-prompts", "0"], env=engines.g4u_env)
    target_gguf = target + "-f32.gguf"
    step("export-gguf drafter target", [target_gguf], [g, "export-gguf", "--model", target, "--out", target_gguf, "-q"])
    dgguf = ddir + ".gguf"
    step("export-gguf drafter", [dgguf], [g, "export-gguf", "--model", ddir, "--target", target_gguf, "--out", dgguf, "-q"])
    log("drafter: node-llama-cpp load")
    loaded = engines.llama_load_only(dgguf)
    exe, bins = engines.mtp_peer(work)
    stop, suppress = stop_and_suppress(target)
    runs = []
    for pi, text in enumerate(prompts):
        for k in ks:
            log(f"drafter: prompt {pi}, k={k}")
            out, _ = run([g, "generate", "--model", target, "--draft", ddir, "--k", str(k), "-n", str(gen)] +
                         (["--raw"] if raw else []) + ["--prompt", text, "--threads", str(threads), "--json"],
                         env=engines.g4u_env, timeout=args.timeout, where="g4u generate --draft")
            a = json.loads(out)
            out, _ = run([exe, "--target", target_gguf, "--draft", dgguf, "--backends", bins, "--tokens",
                          ",".join(map(str, a["prompt_ids"])), "-n", str(gen), "--k", str(k), "--threads", str(threads),
                          "--stop", ",".join(map(str, stop)), "--suppress", ",".join(map(str, suppress))],
                         timeout=args.timeout, where="mtp_peer")
            b = json.loads(out)
            keys = ["tokens", "rounds", "drafted", "accepted", "position_drafted", "position_accepted"]
            diffs = [key for key in keys if a[key] != b[key]]
            runs.append({"prompt": pi, "k": k, "equal": not diffs, "differences": diffs,
                         "g4u": {key: a[key] for key in keys + ["acceptance_rate", "tau", "matches_plain", "text"]},
                         "llama": {key: b[key] for key in keys + ["drafts"]}})
    return {"checked": True, "target": os.path.relpath(target, work), "checkpoint": os.path.relpath(ddir, work),
            "gguf": os.path.relpath(dgguf, work), "target_gguf": os.path.relpath(target_gguf, work), "stop_ids": stop,
            "suppress_tokens": suppress, "gen_tokens": gen, "node_llama_cpp": loaded, "prompts": prompts, "runs": runs,
            "equal": all(r["equal"] for r in runs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("bench", "interop"):
        s = sub.add_parser(name)
        s.add_argument("--config", required=True, help="bench/peer/configs/*.json")
        s.add_argument("--work", required=True, help="folder for checkpoints, GGUFs and prompts (reused across runs)")
        s.add_argument("--out", help="results folder (default: <work>/peer-<config name>)")
        s.add_argument("--g4u", default=os.path.join(REPO, "build", "release", "apps", "g4u"), help="g4u binary")
        s.add_argument("--peer-dir", help="where bench/peer/install.sh put node-llama-cpp (default: $G4U_PEER_DIR, "
                       "else ~/.cache/g4u/peer; with --isa avx2 that folder + '-cpu-haswell')")
        s.add_argument("--g4u-gguf", action="store_true", help="g4u loads the .gguf instead of its checkpoint folder")
        s.add_argument("--timeout", type=int, default=3600, help="seconds one engine invocation may take")
        if name == "interop":
            s.add_argument("--no-drafter", action="store_true", help="skip the config's drafter check")
        if name == "bench":
            s.add_argument("--rounds", type=int, help="override the config's rounds")
            s.add_argument("--reps", type=int, help="override the config's timed repetitions per invocation")
            s.add_argument("-p", "--prompt-tokens", type=int, help="override the prompt length")
            s.add_argument("-n", "--gen-tokens", type=int, help="override the decoded tokens")
            s.add_argument("--only", help="comma-separated schemes to run (default: all of the config)")
            s.add_argument("--with-12b", action="store_true", help="also the config's optional_runs.12b (22 GiB init)")
            s.add_argument("--isa", choices=("auto", "avx2"), default="auto",
                           help="avx2: both engines run their AVX2 code (g4u G4U_KERNEL_ISA=avx2, llama.cpp its "
                           "haswell CPU backend from install.sh --cpu-variant haswell), as on a CPU without AVX-512")
    args = ap.parse_args()
    if args.peer_dir is None:
        args.peer_dir = os.environ.get("G4U_PEER_DIR", os.path.expanduser("~/.cache/g4u/peer"))
        if getattr(args, "isa", "auto") == "avx2":
            args.peer_dir += "-cpu-haswell"
    for k in ("rounds", "reps", "prompt_tokens"):
        if getattr(args, k, None) is not None and getattr(args, k) < 1:
            ap.error(f"--{k.replace('_', '-')} must be >= 1")
    try:
        return cmd_bench(args) if args.cmd == "bench" else cmd_interop(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
