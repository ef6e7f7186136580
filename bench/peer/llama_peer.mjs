#!/usr/bin/env node
// llama.cpp side of g4u's peer benchmark: loads a GGUF through node-llama-cpp (installed by
// bench/peer/install.sh), feeds exact token ids (no tokenizer on the way), decodes greedily and
// prints one JSON document on stdout. The protocol is g4u bench's with --tokens:
//
//   prefill: a fresh sequence evaluates the P prompt ids in one batch and samples token 1;
//            1 warm-up + R timed repetitions, tokens/s = P / seconds;
//   decode:  after an untimed prefill, N single-token steps (each feeds the previous greedy token
//            and samples the next: tokens 2..N+1); 1 warm-up + R timed repetitions, tokens/s = N / seconds.
//
// Seconds are wall-clock around the calls from JavaScript (they include greedy sampling over the
// vocabulary, as g4u bench's include its argmax, and node's per-call overhead); llama.cpp's own
// counters (llama_perf_context: batch and single-token compute time only) are reported beside them.
//
//   node bench/peer/llama_peer.mjs --model f.gguf --threads 2 --tokens 2,17,301 -n 32 [--reps 3]
//        [--peer-dir D] [--ctx C] [--batch B] [--verbose]
//   node bench/peer/llama_peer.mjs --info [--peer-dir D]      # build facts only
//   node bench/peer/llama_peer.mjs --load-only --model f.gguf [--peer-dir D]
//        # loads the file (any architecture, e.g. the gemma4-assistant drafter), then tries a context;
//        # prints the architecture, the tensor count and the context's outcome (a gemma4-assistant
//        # context needs its target's context as ctx_other, which node-llama-cpp never sets)
//
// --tokens may be "@file" (ids separated by commas or whitespace). --peer-dir defaults to
// $G4U_PEER_DIR, else ~/.cache/g4u/peer. Exit code 2 on bad input, 1 on any other failure.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {createRequire} from "node:module";
import {pathToFileURL} from "node:url";

class InputError extends Error {}

function parseArgs(argv) {
  const a = {model: "", threads: 0, tokens: "", n: 32, reps: 3, ctx: 0, batch: 0, info: false, loadOnly: false, verbose: false,
             peerDir: process.env.G4U_PEER_DIR || path.join(os.homedir(), ".cache", "g4u", "peer")};
  const need = (i, flag) => {
    if (i + 1 >= argv.length) throw new InputError(`${flag}: missing value`);
    return argv[i + 1];
  };
  const int = (text, flag, min) => {
    if (!/^-?\d+$/.test(text)) throw new InputError(`${flag} ${text}: expected an integer`);
    const v = Number(text);
    if (v < min) throw new InputError(`${flag} ${v}: must be >= ${min}`);
    return v;
  };
  for (let i = 0; i < argv.length; ++i) {
    const f = argv[i];
    switch (f) {
      case "--model": a.model = need(i, f); ++i; break;
      case "--threads": a.threads = int(need(i, f), f, 1); ++i; break;
      case "--tokens": a.tokens = need(i, f); ++i; break;
      case "-n": case "--gen-tokens": a.n = int(need(i, f), f, 0); ++i; break;
      case "--reps": a.reps = int(need(i, f), f, 1); ++i; break;
      case "--ctx": a.ctx = int(need(i, f), f, 0); ++i; break;
      case "--batch": a.batch = int(need(i, f), f, 0); ++i; break;
      case "--peer-dir": a.peerDir = need(i, f); ++i; break;
      case "--info": a.info = true; break;
      case "--load-only": a.loadOnly = true; break;
      case "--verbose": a.verbose = true; break;
      default: throw new InputError(`unknown argument '${f}'`);
    }
  }
  if (!a.info) {
    if (!a.model) throw new InputError("--model: required");
    if (!fs.existsSync(a.model)) throw new InputError(`--model ${a.model}: no such file`);
  }
  if (!a.info && !a.loadOnly) {
    if (!a.threads) throw new InputError("--threads: required (the benchmark compares equal thread counts)");
    if (!a.tokens) throw new InputError("--tokens: required");
  }
  return a;
}

function parseIds(spec) {
  const text = spec.startsWith("@") ? fs.readFileSync(spec.slice(1), "utf8") : spec;
  const items = text.split(/[\s,]+/).filter((s) => s.length > 0);
  if (items.length === 0) throw new InputError("--tokens: no token ids");
  return items.map((s) => {
    if (!/^\d+$/.test(s)) throw new InputError(`--tokens: '${s}' is not a token id`);
    return Number(s);
  });
}

async function loadBinding(peerDir) {
  const manifest = path.join(peerDir, "package.json");
  if (!fs.existsSync(manifest))
    throw new InputError(`${peerDir}: no llama.cpp peer installed there (run bash bench/peer/install.sh)`);
  const entry = createRequire(manifest).resolve("node-llama-cpp");
  const version = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), "..", "package.json"), "utf8")).version;
  return {lib: await import(pathToFileURL(entry).href), version};
}

// "llama_perf_context_print: prompt eval time =  123.45 ms /   128 tokens (...)"
function parsePerf(lines) {
  const out = {};
  for (const line of lines) {
    let m = /prompt eval time\s*=\s*([\d.]+)\s*ms\s*\/\s*(\d+)\s*tokens/.exec(line);
    if (m) { out.prompt_ms = Number(m[1]); out.prompt_tokens = Number(m[2]); continue; }
    m = /\beval time\s*=\s*([\d.]+)\s*ms\s*\/\s*(\d+)\s*runs/.exec(line);
    if (m) { out.eval_ms = Number(m[1]); out.eval_runs = Number(m[2]); }
  }
  return out;
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (v) => (v.length ? v.reduce((x, y) => x + y, 0) / v.length : 0);
const now = () => Number(process.hrtime.bigint()) / 1e9;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  // Never download or build: the prebuilt CPU binary or nothing.
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
  const {lib, version} = await loadBinding(args.peerDir);
  const {getLlama, LlamaLogLevel} = lib;
  const logLines = [];
  const llama = await getLlama({
    gpu: false, build: "never", usePrebuiltBinaries: true, logLevel: LlamaLogLevel.info,
    logger: (level, message) => {
      logLines.push(message);
      if (args.verbose) process.stderr.write(message.endsWith("\n") ? message : message + "\n");
    },
  });
  const build = {node_llama_cpp: version, repo: llama.llamaCppRelease.repo, release: llama.llamaCppRelease.release,
                 build_type: llama.buildType, system_info: llama.systemInfo.trim(), cpu_math_cores: llama.cpuMathCores};
  if (args.info) {
    process.stdout.write(JSON.stringify({engine: "llama.cpp", build}, null, 2) + "\n");
    await llama.dispose();
    return;
  }
  if (args.loadOnly) {
    const t0 = now();
    const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
    const result = {engine: "llama.cpp", build, model: args.model, loads: true, load_seconds: now() - t0,
                    architecture: model.fileInfo.metadata?.general?.architecture ?? null,
                    tensors: model.fileInfo.tensorInfo?.length ?? null, train_context_size: model.trainContextSize};
    logLines.length = 0;
    try {
      const context = await model.createContext({contextSize: 64, sequences: 1});
      result.context = {created: true};
      await context.dispose();
    } catch (e) {
      // llama.cpp's reason is in its log ("failed to initialize the context: ..."), node's error is generic.
      const reason = logLines.find((l) => l.includes("failed to initialize the context"));
      result.context = {created: false, error: String(e?.message ?? e),
                        llama_log: reason ? reason.trim().replace(/^.*failed to initialize the context: /, "") : null};
    }
    await model.dispose();
    await llama.dispose();
    process.stdout.write(JSON.stringify(result, null, 2) + "\n");
    return;
  }
  const ids = parseIds(args.tokens);
  const P = ids.length, N = args.n;

  let t0 = now();
  const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
  const context = await model.createContext({
    contextSize: args.ctx || P + N + 16, batchSize: args.batch || Math.max(P, 1), sequences: 1,
    threads: args.threads, performanceTracking: true,
  });
  const seq = context.getSequence();
  const loadSeconds = now() - t0;
  // llama.cpp does not check ids against the vocabulary; an id past it would read out of bounds.
  const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
  for (const id of ids)
    if (nVocab !== undefined && id >= nVocab)
      throw new InputError(`--tokens: id ${id} outside the model's vocabulary of ${nVocab}`);

  const greedy = {generateNext: {token: true, options: {temperature: 0}}};
  const prefill = async () => {
    const input = ids.map((id, i) => (i === P - 1 ? [id, greedy] : id));
    const out = await seq.controlledEvaluate(input);
    const t = out[P - 1]?.next?.token;
    if (t == null) throw new Error("llama.cpp returned no token after the prompt");
    return t;
  };
  const stepOnce = async (token) => {
    const out = await seq.controlledEvaluate([[token, greedy]]);
    const t = out[0]?.next?.token;
    if (t == null) throw new Error("llama.cpp returned no token in a decode step");
    return t;
  };
  // Drops llama.cpp's counters accumulated so far (printTimings prints, then resets them).
  const perfSince = async () => {
    logLines.length = 0;
    await context.printTimings();
    return parsePerf(logLines);
  };

  const result = {engine: "llama.cpp", build, model: args.model, threads: args.threads, context_threads: context.currentThreads,
                  reps: args.reps, load_seconds: loadSeconds, prompt_tokens: P, gen_tokens: N};
  const prefillTps = [], prefillPerfTps = [];
  if (P > 0) {
    for (let r = 0; r <= args.reps; ++r) {
      await seq.clearHistory();
      await perfSince();
      const t = now();
      await prefill();
      const s = now() - t;
      const perf = await perfSince();
      if (r > 0) {  // r == 0 is the warm-up (first touch of the mapped weights)
        prefillTps.push(P / s);
        if (perf.prompt_ms > 0) prefillPerfTps.push(perf.prompt_tokens / (perf.prompt_ms / 1e3));
      }
    }
    result.prefill = {tokens: P, tokens_per_s: mean(prefillTps), median_tokens_per_s: median(prefillTps), runs: prefillTps,
                      llama_perf_tokens_per_s: median(prefillPerfTps)};
  }
  let generated = [];
  if (N > 0) {
    const decodeTps = [], decodePerfTps = [];
    for (let r = 0; r <= args.reps; ++r) {
      await seq.clearHistory();
      let next = await prefill();
      const tokens = [next];
      await perfSince();
      const t = now();
      for (let i = 0; i < N; ++i) {
        next = await stepOnce(next);
        tokens.push(next);
      }
      const s = now() - t;
      const perf = await perfSince();
      if (r > 0) {
        decodeTps.push(N / s);
        if (perf.eval_ms > 0) decodePerfTps.push(perf.eval_runs / (perf.eval_ms / 1e3));
      }
      if (r > 0 && generated.length && JSON.stringify(generated) !== JSON.stringify(tokens))
        result.nondeterministic = true;
      generated = tokens;
    }
    result.decode = {tokens: N, depth: P, tokens_per_s: mean(decodeTps), median_tokens_per_s: median(decodeTps),
                     runs: decodeTps, llama_perf_tokens_per_s: median(decodePerfTps)};
  } else if (P > 0) {
    await seq.clearHistory();
    generated = [await prefill()];
  }
  result.generated = generated;
  result.peak_rss_bytes = process.resourceUsage().maxRSS * 1024;  // ru_maxrss, as /usr/bin/time reports it
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
}

main().catch((e) => {
  process.stderr.write(`error: ${e instanceof InputError ? "" : "internal: "}${e?.message ?? e}\n`);
  process.exit(e instanceof InputError ? 2 : 1);
});
