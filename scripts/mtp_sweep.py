#!/usr/bin/env python3
"""Speculative-decoding sweep: tau, acceptance and wall-clock speedup per drafter, k and temperature.

Runs `g4u generate --draft D --k K --json` once per (drafter, k, temperature, prompt) and pools the
counts over the prompts:
  acceptance_rate = sum accepted / sum drafted
  tau             = 1 + sum accepted / sum rounds   (tokens per target verify pass, bonus token included)
  p_k             = per-position acceptance, pooled over rounds
  speedup         = speculative decode tok/s / plain decode tok/s, both pooled as sum tokens / sum seconds
Prompts: one per line of --prompts (e.g. the `prompt` fields of a `g4u data synth` manifest).

Usage: scripts/mtp_sweep.py --g4u build/release/apps/g4u --model M --drafts d1,d2 --prompts FILE
       [--ks 1,2,3,4,8] [--temps 0,1] [-n 64] [--extra '--threads 1 --draft-quant q4_0'] [--out results.json]
"""
import argparse
import json
import shlex
import subprocess
import sys


def run(g4u, args):
    r = subprocess.run([g4u] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"g4u {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--g4u", default="build/release/apps/g4u")
    ap.add_argument("--model", required=True)
    ap.add_argument("--drafts", required=True)
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--ks", default="1,2,3,4,8")
    ap.add_argument("--temps", default="0,1")
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--max-prompts", type=int, default=8)
    ap.add_argument("--raw", action="store_true", help="pass --raw (no chat template)")
    ap.add_argument("--extra", default="", help="more g4u generate flags, e.g. '--threads 1 --draft-quant q4_0'")
    ap.add_argument("--out")
    a = ap.parse_args()
    prompts = [l.rstrip("\n") for l in open(a.prompts, encoding="utf-8") if l.strip()][: a.max_prompts]
    rows = []
    for draft in a.drafts.split(","):
        for temp in [float(t) for t in a.temps.split(",")]:
            for k in [int(x) for x in a.ks.split(",")]:
                acc = dra = rounds = 0
                pos_acc, pos_n = [], []
                spec_tok = spec_s = plain_tok = plain_s = 0.0
                matches = True
                for i, p in enumerate(prompts):
                    args = ["generate", "--model", a.model, "--draft", draft, "--k", str(k), "--prompt", p,
                            "-n", str(a.n), "--temperature", str(temp), "--seed", str(i), "--json"]
                    if a.raw:
                        args.append("--raw")
                    args += shlex.split(a.extra)
                    j = run(a.g4u, args)
                    acc += j["accepted"]
                    dra += j["drafted"]
                    rounds += j["rounds"]
                    for q, (nd, na) in enumerate(zip(j["position_drafted"], j["position_accepted"])):
                        while len(pos_acc) <= q:
                            pos_acc.append(0)
                            pos_n.append(0)
                        pos_acc[q] += na
                        pos_n[q] += nd
                    st = len(j["tokens"]) - 1
                    spec_tok += st
                    spec_s += j["timing"]["decode_s"]
                    pt = len(j["plain_tokens"]) - 1
                    if j["plain_decode_tokens_per_s"] > 0:
                        plain_tok += pt
                        plain_s += pt / j["plain_decode_tokens_per_s"]
                    if temp == 0:
                        matches = matches and j.get("matches_plain", False)
                spec_tps = spec_tok / spec_s if spec_s else 0
                plain_tps = plain_tok / plain_s if plain_s else 0
                row = {"draft": draft, "temperature": temp, "k": k, "prompts": len(prompts), "rounds": rounds,
                       "drafted": dra, "accepted": acc, "speculative_tokens": int(spec_tok + len(prompts)),
                       "acceptance_rate": acc / dra if dra else 0, "tau": 1 + acc / rounds if rounds else 0,
                       "tau_includes_bonus_token": True,
                       "per_position_acceptance": [x / rounds if rounds else 0 for x in pos_acc],  # vLLM: per round
                       "position_drafted": pos_n,
                       "plain_tokens_per_s": plain_tps, "speculative_tokens_per_s": spec_tps,
                       "speedup": spec_tps / plain_tps if plain_tps else None}
                if temp == 0:
                    row["matches_plain"] = matches
                rows.append(row)
                print(f"{draft:>28} T={temp:g} k={k}: acc {row['acceptance_rate']:.3f} tau {row['tau']:.2f} "
                      f"speedup {row['speedup'] or 0:.2f} ({spec_tps:.0f} vs {plain_tps:.0f} tok/s; {rounds} rounds)"
                      + ("" if temp else f" matches_plain={matches}"), file=sys.stderr, flush=True)
    doc = {"model": a.model, "n": a.n, "extra": a.extra, "rows": rows}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
    json.dump(doc, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
