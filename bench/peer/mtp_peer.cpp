// llama.cpp side of the drafter interop check (bench/peer/README.md, `peer_bench.py drafter`):
// greedy speculative decoding with a gemma4 target GGUF and the gemma4-assistant drafter GGUF that
// `g4u export-gguf` wrote for it, through llama.cpp's C API — the path node-llama-cpp cannot take,
// because a gemma4-assistant context needs the target's context as `ctx_other` and its binding never
// sets that field. Prints one JSON document with the emitted tokens and the acceptance counters of
// g4u's speculative loop (model/mtp/speculative.h), so the two can be compared number for number.
//
// The loop is g4u's, step for step (greedy only):
//   prefill the prompt, x = argmax of the last row (suppressed ids excluded);
//   each round at position p (the target holds [0, p)): kk = min(k, max_new - emitted - 1) drafts,
//     each a one-token drafter decode at position p (llama.cpp's shared-KV convention, and g4u's:
//     the position stays constant within a round) fed the previous token and the previous context
//     row (the target's post-norm hidden of slot p - 1 first, then the drafter's own h_nextn),
//     drafting stops after a stop id; the target verifies [x, d_1..d_kk] at p..p+kk, the longest
//     prefix with d_i == argmax row i-1 is accepted, argmax row n is emitted, the target's cache is
//     cropped to p + n + 1 and its hidden row n is the next round's context.
//   Emission stops at a stop id or after max_new tokens.
//
// Built by peer_bench.py against the llama.cpp headers of the source bundled with node-llama-cpp
// (node_modules/node-llama-cpp/llama/gitRelease.bundle, the release of the prebuilt binary) and the
// prebuilt libraries of @node-llama-cpp/linux-x64; llama-ext.h declares the nextn calls.
//
//   mtp_peer --target t.gguf --draft d.gguf --backends DIR --tokens 2,17,... [-n 32] [--k 4]
//            [--threads 2] [--stop 1,6] [--suppress 258883,258882]
#include "llama.h"
#include "llama-ext.h"
#include "ggml-backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<int> parse_ids(const std::string& s) {
  std::vector<int> out;
  std::string item;
  std::stringstream ss(s);
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    out.push_back(std::stoi(item));
  }
  return out;
}

std::string json_ids(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

struct Args {
  std::string target, draft, backends, tokens;
  int n = 32, k = 4, threads = 2;
  std::vector<int> stop, suppress;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto need = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(f + ": missing value");
      return argv[++i];
    };
    if (f == "--target") a.target = need();
    else if (f == "--draft") a.draft = need();
    else if (f == "--backends") a.backends = need();
    else if (f == "--tokens") a.tokens = need();
    else if (f == "-n") a.n = std::stoi(need());
    else if (f == "--k") a.k = std::stoi(need());
    else if (f == "--threads") a.threads = std::stoi(need());
    else if (f == "--stop") a.stop = parse_ids(need());
    else if (f == "--suppress") a.suppress = parse_ids(need());
    else throw std::invalid_argument("unknown argument '" + f + "'");
  }
  if (a.target.empty() || a.draft.empty() || a.tokens.empty())
    throw std::invalid_argument("--target, --draft and --tokens are required");
  if (a.n < 1 || a.k < 1) throw std::invalid_argument("-n and --k must be >= 1");
  return a;
}

// A batch carrying token ids and (for the drafter) one embedding row per token.
struct Batch {
  llama_batch b;
  int n_embd;
  Batch(int capacity, int n_embd_rows) : n_embd(n_embd_rows) {
    b = llama_batch_init(capacity, n_embd_rows, 1);
    if (n_embd_rows > 0) b.token = static_cast<llama_token*>(std::malloc(sizeof(llama_token) * capacity));
  }
  ~Batch() { llama_batch_free(b); }
  void clear() { b.n_tokens = 0; }
  void add(llama_token t, llama_pos pos, bool logits, const float* row = nullptr) {
    const int i = b.n_tokens++;
    b.token[i] = t;
    b.pos[i] = pos;
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = logits ? 1 : 0;
    if (row) std::memcpy(b.embd + static_cast<size_t>(i) * n_embd, row, sizeof(float) * n_embd);
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    a = parse_args(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  const std::vector<int> prompt = parse_ids(a.tokens);
  const int P = static_cast<int>(prompt.size());
  if (P < 1) {
    std::fprintf(stderr, "error: --tokens: no ids\n");
    return 2;
  }
  if (!a.backends.empty()) ggml_backend_load_all_from_path(a.backends.c_str());
  else ggml_backend_load_all();
  llama_backend_init();

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* target = llama_model_load_from_file(a.target.c_str(), mp);
  if (!target) { std::fprintf(stderr, "error: %s: llama.cpp cannot load it\n", a.target.c_str()); return 1; }
  llama_model* draft = llama_model_load_from_file(a.draft.c_str(), mp);
  if (!draft) { std::fprintf(stderr, "error: %s: llama.cpp cannot load it\n", a.draft.c_str()); return 1; }
  const llama_vocab* vocab = llama_model_get_vocab(target);
  const int V = llama_vocab_n_tokens(vocab);
  const int Vd = llama_vocab_n_tokens(llama_model_get_vocab(draft));
  const int H = llama_model_n_embd_out(target);
  if (llama_model_n_embd_out(draft) != H) {
    std::fprintf(stderr, "error: drafter embedding_length_out %d != target width %d\n", llama_model_n_embd_out(draft), H);
    return 1;
  }

  const int n_ctx = P + a.n + a.k + 16;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_ctx;
  cp.n_batch = std::max(P, a.k + 1);
  cp.n_ubatch = cp.n_batch;
  cp.n_seq_max = 1;
  cp.n_threads = a.threads;
  cp.n_threads_batch = a.threads;
  cp.swa_full = true;  // cropping rejected drafts must leave every sliding entry the next round needs
  cp.no_perf = true;
  llama_context* ctx_t = llama_init_from_model(target, cp);
  if (!ctx_t) { std::fprintf(stderr, "error: cannot create the target context\n"); return 1; }
  llama_set_embeddings_nextn(ctx_t, true, /*masked=*/false);  // post-norm hidden of every batch row
  llama_context_params dp = cp;
  dp.ctx_other = ctx_t;  // the drafter reads the target's token table and K/V
  llama_context* ctx_d = llama_init_from_model(draft, dp);
  if (!ctx_d) { std::fprintf(stderr, "error: cannot create the drafter context (ctx_other = target)\n"); return 1; }
  llama_set_embeddings_nextn(ctx_d, true, /*masked=*/true);

  auto is_stop = [&](int t) { return std::find(a.stop.begin(), a.stop.end(), t) != a.stop.end(); };
  auto argmax = [&](const float* logits, int n) {
    int best = -1;
    for (int i = 0; i < n; ++i) {
      if (std::find(a.suppress.begin(), a.suppress.end(), i) != a.suppress.end()) continue;
      if (best < 0 || logits[i] > logits[best]) best = i;
    }
    return best;
  };

  Batch tb(std::max(P, a.k + 1), 0);
  Batch db(1, H);
  std::vector<float> ctx_row(H);
  std::vector<int> tokens;
  std::vector<std::vector<int>> drafts;
  std::vector<long> pos_drafted, pos_accepted;
  long rounds = 0, drafted = 0, accepted = 0, plain_steps = 0;
  bool done = false;
  auto emit = [&](int t) {
    tokens.push_back(t);
    if (is_stop(t) || static_cast<int>(tokens.size()) >= a.n) done = true;
  };

  // Prefill.
  tb.clear();
  for (int i = 0; i < P; ++i) tb.add(prompt[i], i, i == P - 1);
  if (llama_decode(ctx_t, tb.b) != 0) { std::fprintf(stderr, "error: target prefill failed\n"); return 1; }
  std::memcpy(ctx_row.data(), llama_get_embeddings_nextn_ith(ctx_t, P - 1), sizeof(float) * H);
  int x = argmax(llama_get_logits_ith(ctx_t, P - 1), V);
  emit(x);
  int p = P;  // position of x; the target holds [0, p)

  while (!done) {
    const int remaining = a.n - static_cast<int>(tokens.size());
    const int kk = std::min(a.k, remaining - 1);
    std::vector<int> d;
    std::vector<float> row = ctx_row;
    int tok = x;
    for (int j = 0; j < kk; ++j) {
      db.clear();
      db.add(tok, p, true, row.data());
      if (llama_decode(ctx_d, db.b) != 0) { std::fprintf(stderr, "error: drafter decode failed\n"); return 1; }
      tok = argmax(llama_get_logits_ith(ctx_d, 0), Vd);
      d.push_back(tok);
      std::memcpy(row.data(), llama_get_embeddings_nextn_ith(ctx_d, 0), sizeof(float) * H);
      if (is_stop(tok)) break;
    }
    const int nd = static_cast<int>(d.size());
    tb.clear();
    tb.add(x, p, true);
    for (int j = 0; j < nd; ++j) tb.add(d[j], p + 1 + j, true);
    if (llama_decode(ctx_t, tb.b) != 0) { std::fprintf(stderr, "error: target verify failed\n"); return 1; }
    std::vector<int> choice;
    for (int i = 0; i <= nd; ++i) choice.push_back(argmax(llama_get_logits_ith(ctx_t, i), V));
    int n = 0;
    while (n < nd && d[n] == choice[n]) ++n;
    llama_memory_seq_rm(llama_get_memory(ctx_t), 0, p + n + 1, -1);
    std::memcpy(ctx_row.data(), llama_get_embeddings_nextn_ith(ctx_t, n), sizeof(float) * H);
    if (nd > 0) {
      ++rounds;
      drafted += nd;
      accepted += n;
      drafts.push_back(d);
      if (static_cast<int>(pos_drafted.size()) < nd) {
        pos_drafted.resize(nd, 0);
        pos_accepted.resize(nd, 0);
      }
      for (int j = 0; j < nd; ++j) {
        ++pos_drafted[j];
        if (j < n) ++pos_accepted[j];
      }
    } else {
      ++plain_steps;
    }
    for (int i = 0; i < n && !done; ++i) emit(d[i]);
    if (!done) emit(choice[n]);
    x = choice[n];
    p += n + 1;
  }

  auto longs = [](const std::vector<long>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  std::string rounds_json = "[";
  for (size_t i = 0; i < drafts.size(); ++i) rounds_json += (i ? ", " : "") + json_ids(drafts[i]);
  rounds_json += "]";
  char desc[256];
  llama_model_desc(draft, desc, sizeof desc);
  std::printf(
      "{\"engine\": \"llama.cpp\", \"target\": \"%s\", \"draft\": \"%s\", \"draft_desc\": \"%s\", \"k\": %d, "
      "\"max_new_tokens\": %d, \"prompt_tokens\": %d, \"tokens\": %s, \"rounds\": %ld, \"drafted\": %ld, "
      "\"accepted\": %ld, \"plain_steps\": %ld, \"position_drafted\": %s, \"position_accepted\": %s, \"drafts\": %s}\n",
      a.target.c_str(), a.draft.c_str(), desc, a.k, a.n, P, json_ids(tokens).c_str(), rounds, drafted, accepted,
      plain_steps, longs(pos_drafted).c_str(), longs(pos_accepted).c_str(), rounds_json.c_str());
  llama_free(ctx_d);
  llama_free(ctx_t);
  llama_model_free(draft);
  llama_model_free(target);
  llama_backend_free();
  return 0;
}
