#include "eval/results/meters.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace g4u::runner {
namespace {

using json = nlohmann::json;

json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json distribution(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return {{"n", v.size()},
          {"mean", v.empty() ? json(nullptr) : num_or_null(sum / static_cast<double>(v.size()))},
          {"p50", num_or_null(percentile(v, 50))},
          {"p90", num_or_null(percentile(v, 90))},
          {"p99", num_or_null(percentile(v, 99))}};
}

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t dot = name.find('.', pos);
    out.push_back(name.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const std::vector<std::string>& class_order() {
  static const std::vector<std::string> k = {"linear", "embedding", "head", "norm", "quant_metadata", "other"};
  return k;
}

std::vector<WeightRule> default_rules() {
  std::vector<WeightRule> r;
  r.push_back({"quant-metadata", "quant_metadata",
               [](const TensorEntry& t) {
                 for (const char* s : {".scales", ".scale", ".zeros", ".zero", ".absmax", ".qmeta", ".codebook"})
                   if (ends_with(t.name, s)) return true;
                 return false;
               },
               [](const TensorEntry&) { return int64_t(0); }});
  r.push_back({"head", "head", [](const TensorEntry& t) { return t.name.rfind("lm_head.", 0) == 0 || t.name.find(".lm_head.") != std::string::npos; },
               nullptr});
  r.push_back({"embedding", "embedding", [](const TensorEntry& t) {
                 auto parts = split_path(t.name);
                 for (const auto& p : parts)
                   if (p == "embed_tokens" || p == "embed_tokens_per_layer") return true;
                 return parts.back().rfind("pos_embedding", 0) == 0;
               },
               nullptr});
  r.push_back({"norm", "norm", [](const TensorEntry& t) {
                 auto parts = split_path(t.name);
                 for (size_t i = 0; i + 1 < parts.size(); ++i) {
                   const std::string& p = parts[i];
                   if (p.find("norm") != std::string::npos || p.rfind("ln", 0) == 0 || p.find("_ln") != std::string::npos)
                     return true;
                 }
                 return false;
               },
               nullptr});
  r.push_back({"linear", "linear", [](const TensorEntry& t) { return t.shape.size() >= 2; }, nullptr});
  r.push_back({"other", "other", [](const TensorEntry&) { return true; }, nullptr});
  return r;
}

}  // namespace

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  G4U_CHECK(q >= 0 && q <= 100, "percentile {} out of range", q);
  std::sort(v.begin(), v.end());
  double rank = q / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, v.size() - 1);
  double frac = rank - static_cast<double>(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

json latency_summary(const std::vector<const SampleRecord*>& records) {
  std::vector<double> ttft, per_token, e2e;
  std::map<std::string, const BatchTiming*> batches;
  int64_t prompt_tokens = 0, new_tokens = 0;
  for (const SampleRecord* r : records) {
    prompt_tokens += r->prompt_tokens;
    new_tokens += r->new_tokens;
    if (!r->error.empty()) continue;  // never generated
    ttft.push_back(r->ttft_s);
    double decode = 0;
    for (double t : r->token_s) {
      per_token.push_back(t);
      decode += t;
    }
    e2e.push_back(r->batch.preprocess_s + r->ttft_s + decode);
    batches.emplace(r->batch.id, &r->batch);
  }
  double prefill_s = 0, decode_s = 0, preprocess_s = 0, embed_s = 0;
  int64_t batch_prompt = 0, batch_decode_tokens = 0, kv_max = 0;
  double kv_sum = 0;
  for (auto& [id, b] : batches) {
    prefill_s += b->prefill_s;
    decode_s += b->decode_s;
    preprocess_s += b->preprocess_s;
    embed_s += b->embed_s;
    batch_prompt += b->prompt_tokens;
    // Tokens after each row's first one: the decode phase's output.
    batch_decode_tokens += std::max<int64_t>(0, b->new_tokens - b->size);
    kv_max = std::max(kv_max, b->kv_cache_bytes);
    kv_sum += static_cast<double>(b->kv_cache_bytes);
  }
  json j;
  j["samples"] = records.size();
  j["batches"] = batches.size();
  j["prompt_tokens"] = prompt_tokens;
  j["new_tokens"] = new_tokens;
  j["ttft_s"] = distribution(ttft);
  j["per_token_s"] = distribution(per_token);
  j["e2e_s"] = distribution(e2e);
  j["prefill_tokens_per_s"] = prefill_s > 0 ? json(static_cast<double>(batch_prompt) / prefill_s) : json(nullptr);
  j["decode_tokens_per_s"] = decode_s > 0 ? json(static_cast<double>(batch_decode_tokens) / decode_s) : json(nullptr);
  j["preprocess_s_total"] = preprocess_s;
  j["embed_s_total"] = embed_s;
  j["prefill_s_total"] = prefill_s;
  j["decode_s_total"] = decode_s;
  j["kv_cache_bytes_max"] = kv_max;
  j["kv_cache_bytes_mean"] = batches.empty() ? json(nullptr) : json(kv_sum / static_cast<double>(batches.size()));
  return j;
}

std::vector<WeightRule>& weight_rules() {
  static std::vector<WeightRule> rules = default_rules();
  return rules;
}

void add_weight_rule(WeightRule rule) {
  const auto& known = class_order();
  G4U_CHECK(std::find(known.begin(), known.end(), rule.klass) != known.end(), "weight rule '{}': unknown class '{}'",
            rule.name, rule.klass);
  auto& rules = weight_rules();
  for (const auto& r : rules) G4U_CHECK(r.name != rule.name, "duplicate weight rule '{}'", rule.name);
  rules.insert(rules.begin(), std::move(rule));
}

WeightBytes weight_bytes_by_class(const std::vector<TensorEntry>& tensors) {
  std::map<std::string, int64_t> bytes, count;
  WeightBytes w;
  std::set<const void*> storages;
  for (const TensorEntry& t : tensors) {
    if (t.storage && !storages.insert(t.storage).second) {
      w.tied_bytes += t.bytes;
      continue;
    }
    const WeightRule* rule = nullptr;
    for (const WeightRule& r : weight_rules())
      if (r.match(t)) {
        rule = &r;
        break;
      }
    G4U_CHECK(rule != nullptr, "no weight rule matches {}", t.name);
    bytes[rule->klass] += t.bytes;
    count[rule->klass] += 1;
    w.total_bytes += t.bytes;
    w.weights += rule->weights ? rule->weights(t) : t.numel;
  }
  for (const std::string& k : class_order()) {
    w.by_class.emplace_back(k, bytes[k]);
    w.tensors_by_class.emplace_back(k, count[k]);
  }
  return w;
}

json WeightBytes::to_json() const {
  json by = json::object(), n = json::object();
  for (auto& [k, v] : by_class) by[k] = v;
  for (auto& [k, v] : tensors_by_class) n[k] = v;
  return {{"bytes_by_class", by},
          {"tensors_by_class", n},
          {"total_bytes", total_bytes},
          {"weights", weights},
          {"bits_per_weight", bits_per_weight()},
          {"tied_bytes_not_counted", tied_bytes}};
}

}  // namespace g4u::runner
