#!/usr/bin/env python3
"""The 12B on one GPU: g4u's latency and memory beside HF transformers', in one run.

For a machine with a CUDA build of g4u (scripts/gpu-build.sh) and, for the comparison, PyTorch and
HF transformers in its Python. Random weights of the preset's shapes, built in memory (nothing is
written to disk but the config HF builds from):

  g4u-bf16   g4u bench --dtype bf16 --contexts C --membw       prefill / decode at each context, roofline
  g4u-<q>    the same with --quant <q> (quantized in memory)    4-bit decode against bf16
  g4u-spec   g4u bench --draft <assistant> --k-sweep K          a round's cost per k, break-even acceptance
  hf-bf16    transformers' model of the same config.json        prefill / decode at each context

Writes <out>/study.json (every command, its JSON, the goals) and <out>/study.md; each stage is
saved as soon as it ends, and a rerun with the same options skips the stages already done.

  python3 bench/gpu/gpu_study.py --g4u build/gpu/apps/g4u --out reports/gpu/h100
  python3 bench/gpu/gpu_study.py --g4u build/release/apps/g4u --device cpu --dtype fp32 \\
      --model tiny --draft tiny-assistant --contexts 16,32 --gen 4 --reps 1 --out /tmp/study --no-hf
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

GOALS = {
    "bf16_decode_roofline_fraction": 0.70,  # of the card's measured read bandwidth
    "bf16_decode_vs_hf": 1.0,
    "quant_decode_vs_bf16": 2.5,
}


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run_json(cmd, timeout):
    print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} exited {p.returncode}:\n{p.stderr[-4000:]}")
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise SystemExit(f"{cmd[0]}: not JSON on stdout ({e}):\n{p.stdout[:2000]}")
    print(f"  {time.time() - t0:.1f} s", flush=True)
    return out


# ---- the HF side (a child process: its GPU memory is gone when it ends) ------------------------

def hf_worker(a):
    import torch
    import transformers

    device = torch.device(a.device)
    cfg = transformers.AutoConfig.from_pretrained(a.config_dir)
    arch = (getattr(cfg, "architectures", None) or [None])[0]
    cls = getattr(transformers, arch, None) if arch else None
    if cls is None:
        cls = transformers.AutoModelForCausalLM
    torch.manual_seed(0)
    t0 = time.time()
    with torch.device(device):
        try:
            model = cls._from_config(cfg, dtype=torch.bfloat16, attn_implementation=a.hf_attn)
        except TypeError:  # transformers < 4.56 names it torch_dtype
            model = cls._from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation=a.hf_attn)
    if next(model.parameters()).dtype != torch.bfloat16:  # a version that ignored the dtype argument
        model = model.to(torch.bfloat16)
    model.eval()
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sync()
    build_s = time.time() - t0
    text_cfg = getattr(cfg, "text_config", cfg)
    vocab = text_cfg.vocab_size

    def step(ids, past):
        kw = dict(input_ids=ids, past_key_values=past, use_cache=True)
        try:
            return model(**kw, logits_to_keep=1)  # the last position's logits only, as g4u
        except TypeError:
            return model(**kw)

    gen = torch.Generator().manual_seed(a.seed)
    contexts = []
    with torch.inference_mode():
        for c in sorted(int(x) for x in a.contexts.split(",")):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            prefill, decode = [], []
            for r in range(a.reps + 1):  # r == 0: warm-up
                ids = torch.randint(32, vocab, (1, c), generator=gen).to(device)
                sync()
                t = time.perf_counter()
                out = step(ids, None)
                sync()
                t_prefill = time.perf_counter() - t
                past = out.past_key_values
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
                sync()
                t = time.perf_counter()
                for _ in range(a.gen):
                    out = step(nxt, past)
                    past = out.past_key_values
                    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
                sync()
                t_decode = time.perf_counter() - t
                if r > 0:
                    prefill.append(c / t_prefill)
                    decode.append(a.gen / t_decode)
                del out, past
            entry = {"context": c,
                     "prefill": {"tokens": c, "tokens_per_s": sum(prefill) / len(prefill)},
                     "decode": {"tokens": a.gen, "depth": c, "tokens_per_s": sum(decode) / len(decode)}}
            if device.type == "cuda":
                entry["peak_cuda_bytes"] = torch.cuda.max_memory_allocated(device)
            contexts.append(entry)
            print(f"  hf context {c}: prefill {entry['prefill']['tokens_per_s']:.1f} tok/s, "
                  f"decode {entry['decode']['tokens_per_s']:.2f} tok/s", file=sys.stderr, flush=True)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    json.dump({"engine": "transformers", "transformers": transformers.__version__, "torch": torch.__version__,
               "class": cls.__name__, "attn_implementation": a.hf_attn, "device": str(device),
               "dtype": str(next(model.parameters()).dtype),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "build_seconds": build_s, "weight_bytes": weight_bytes, "reps": a.reps, "contexts": contexts},
              sys.stdout)


# ---- the report ---------------------------------------------------------------------------------

def by_context(stage):
    return {c["context"]: c for c in (stage or {}).get("result", {}).get("contexts", [])}


def fmt(x, spec=".1f"):
    return "n/a" if x is None else format(x, spec)


def gib(b):
    return None if b is None else b / 2**30


def ratio(a, b):
    return None if a is None or not b else a / b


def decode_tps(entry):
    return (entry or {}).get("decode", {}).get("tokens_per_s")


def evaluate(study, a):
    bf16, quant, hf = (study["stages"].get(k) for k in (f"g4u-{a.dtype}", f"g4u-{a.quant}", "hf-bf16"))
    goals = []
    for c in sorted(by_context(bf16)):
        e = by_context(bf16)[c]
        goals.append({"goal": f"{a.dtype} decode >= {GOALS['bf16_decode_roofline_fraction']:.0%} of the read-bandwidth "
                              f"roofline (context {c})", "value": e.get("roofline_fraction"),
                      "target": GOALS["bf16_decode_roofline_fraction"]})
        if hf:
            goals.append({"goal": f"{a.dtype} decode >= HF transformers bf16 (context {c})",
                          "value": ratio(decode_tps(e), decode_tps(by_context(hf).get(c))),
                          "target": GOALS["bf16_decode_vs_hf"]})
        if quant:
            goals.append({"goal": f"{a.quant} decode >= {GOALS['quant_decode_vs_bf16']}x {a.dtype} (context {c})",
                          "value": ratio(decode_tps(by_context(quant).get(c)), decode_tps(e)),
                          "target": GOALS["quant_decode_vs_bf16"]})
    for g in goals:
        g["met"] = None if g["value"] is None else g["value"] >= g["target"]
    return goals


def markdown(study, a):
    s = study["stages"]
    lines = [f"# {a.model} on {study.get('device', a.device)}", ""]
    lines.append(f"g4u {study.get('g4u_commit', '?')}; random weights of the preset's shapes, batch 1, "
                 f"{a.gen} decoded tokens after each context, {a.reps} timed repetitions after one warm-up.")
    if "hf-bf16" in s:
        h = s["hf-bf16"]["result"]
        lines.append(f"HF transformers {h['transformers']} (torch {h['torch']}, {h['class']}, "
                     f"attention {h['attn_implementation']}).")
    lines += ["", "| engine | weights | context | prefill tok/s | decode tok/s | decode / roofline | peak GPU GiB |",
              "|---|---|---|---|---|---|---|"]
    for name in (f"g4u-{a.dtype}", f"g4u-{a.quant}", "hf-bf16"):
        if name not in s:
            continue
        r = s[name]["result"]
        for c, e in sorted(by_context(s[name]).items()):
            lines.append(f"| {name.split('-')[0]} | {name.split('-', 1)[1]} ({fmt(gib(r.get('weight_bytes')), '.2f')} GiB) "
                         f"| {c} | {fmt(e.get('prefill', {}).get('tokens_per_s'))} | {fmt(decode_tps(e), '.2f')} "
                         f"| {fmt(e.get('roofline_fraction'), '.2f')} | {fmt(gib(e.get('peak_cuda_bytes')), '.2f')} |")
    dense = f"g4u-{a.dtype}"
    if dense in s and s[dense]["result"].get("membw_bytes_per_s"):
        r = s[dense]["result"]
        lines += ["", f"Read bandwidth measured by `--membw`: {r['membw_bytes_per_s'] / 1e9:.0f} GB/s; {a.dtype} roofline "
                      f"{r['roofline_decode_tokens_per_s']:.1f} tok/s ({gib(r['weight_bytes']):.2f} GiB read per token)."]
    if "g4u-spec" in s:
        lines += ["", f"Speculative decoding with {a.draft} (depth {s['g4u-spec']['depth']}): a round of k drafts and "
                      "one verification of k + 1 tokens, in plain decode steps, and the per-token acceptance rate at "
                      "which it breaks even.", "",
                  "| k | draft ms / round | verify ms / round | plain step ms | round / plain step | break-even acceptance |",
                  "|---|---|---|---|---|---|"]
        for e in s["g4u-spec"]["result"].get("k_sweep", []):
            lines.append(f"| {e['k']} | {fmt(1e3 * e.get('draft_seconds_per_round', 0), '.2f')} "
                         f"| {fmt(1e3 * e.get('verify_seconds_per_round', 0), '.2f')} "
                         f"| {fmt(1e3 * e.get('plain_seconds_per_token', 0), '.2f')} "
                         f"| {fmt(e.get('round_cost_in_plain_steps'), '.2f')} "
                         f"| {fmt(e.get('break_even_acceptance'), '.3f')} |")
    lines += ["", "| goal | value | met |", "|---|---|---|"]
    for g in study.get("goals", []):
        lines.append(f"| {g['goal']} | {fmt(g['value'], '.2f')} | {'n/a' if g['met'] is None else ('yes' if g['met'] else 'no')} |")
    lines += ["", "Commands:", "", "```sh"] + [st["command"] for st in s.values()] + ["```", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--g4u", default="build/gpu/apps/g4u")
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="gemma4-12b")
    p.add_argument("--draft", default="gemma4-12b-assistant")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--quant", default="q4_0")
    p.add_argument("--contexts", default="1024,8192,32768")
    p.add_argument("--gen", type=int, default=32)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--ks", default="1,2,4,8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-hf", action="store_true", help="skip HF transformers")
    p.add_argument("--no-spec", action="store_true", help="skip the speculative-decoding sweep")
    p.add_argument("--hf-attn", default="sdpa")
    p.add_argument("--timeout", type=int, default=1800, help="seconds one stage may take")
    p.add_argument("--hf-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config-dir", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.hf_worker:
        return hf_worker(a)

    os.makedirs(a.out, exist_ok=True)
    study_path = os.path.join(a.out, "study.json")
    study = json.load(open(study_path)) if os.path.exists(study_path) else {}
    study.setdefault("stages", {})
    try:
        study["g4u_commit"] = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                             text=True).stdout.strip() or "?"
    except OSError:
        study["g4u_commit"] = "?"

    def save():
        study["goals"] = evaluate(study, a)
        write_atomic(study_path, json.dumps(study, indent=1) + "\n")
        write_atomic(os.path.join(a.out, "study.md"), markdown(study, a))

    def stage(name, cmd, **extra):
        command = " ".join(shlex.quote(c) for c in cmd)
        done = study["stages"].get(name)
        if done and done.get("command") == command:
            print(f"= {name}: done before, kept", flush=True)
            return
        print(f"== {name}", flush=True)
        study["stages"][name] = dict(command=command, result=run_json(cmd, a.timeout), **extra)
        save()

    base = [a.g4u, "bench", "--model", a.model, "--dtype", a.dtype, "--device", a.device, "--seed", str(a.seed),
            "--reps", str(a.reps), "-n", str(a.gen), "--json"]
    stage(f"g4u-{a.dtype}", base + ["--contexts", a.contexts, "--membw"])
    study["device"] = study["stages"][f"g4u-{a.dtype}"]["result"].get("device", a.device)
    if a.quant:
        stage(f"g4u-{a.quant}", base + ["--contexts", a.contexts, "--membw", "--quant", a.quant])
    if not a.no_spec:
        depth = min(int(x) for x in a.contexts.split(","))
        stage("g4u-spec", base + ["-p", "0", "-d", str(depth), "--draft", a.draft, "--k-sweep", a.ks], depth=depth)
    if not a.no_hf:
        config_dir = os.path.join(a.out, "hf-config")
        if not os.path.exists(os.path.join(config_dir, "config.json")):
            subprocess.run([a.g4u, "init", "--model", a.model, "--config-only", "--out", config_dir], check=True)
        stage("hf-bf16", [sys.executable, os.path.abspath(__file__), "--hf-worker", "--config-dir", config_dir,
                          "--device", a.device, "--contexts", a.contexts, "--gen", str(a.gen), "--reps", str(a.reps),
                          "--seed", str(a.seed), "--hf-attn", a.hf_attn, "--out", a.out])
    save()
    print(open(os.path.join(a.out, "study.md")).read())


if __name__ == "__main__":
    main()
