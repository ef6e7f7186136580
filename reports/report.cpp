#include "reports/report.h"

#include "eval/metrics.h"
#include "eval/stats.h"
#include "base/error.h"
#include "base/json_util.h"
#include "reports/published.h"
#include "reports/svg.h"
#include "eval/results/merge.h"
#include "eval/results/results.h"
#include "eval/results/sample_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

namespace g4u::reports {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct Variant {
  std::string name, file, dir;
  const json* results = nullptr;  // whole document
  json v;                         // the variant object
  // Per-sample records (loaded on demand for paired differences).
  bool samples_loaded = false;
  std::string samples_error;
  std::vector<runner::SampleRecord> records;
};

// Unknown metric names (an older results file) show as fractions, higher is better.
bool per_100(const std::string& metric) {
  const eval::MetricInfo* info = eval::metric_registry().lookup(metric);
  return info && info->points_100;
}
bool lower_is_better(const std::string& metric) {
  const eval::MetricInfo* info = eval::metric_registry().lookup(metric);
  return info && info->lower_is_better;
}

std::optional<double> num(const json& j) {
  if (j.is_number()) return j.get<double>();
  return std::nullopt;
}
std::optional<double> at(const json& j, std::initializer_list<const char*> path) {
  const json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return std::nullopt;
    p = &(*p)[k];
  }
  return num(*p);
}

// A score in display units: accuracy-type and WER/CER as %, BLEU/chrF as is.
std::string show_score(std::optional<double> v, const std::string& metric) {
  if (!v || !std::isfinite(*v)) return "n/a";
  return per_100(metric) ? fmt::format("{:.2f}", *v) : fmt::format("{:.1f}%", 100 * *v);
}
std::string show_diff(std::optional<double> v, const std::string& metric) {
  if (!v || !std::isfinite(*v)) return "n/a";
  return per_100(metric) ? fmt::format("{:+.2f}", *v) : fmt::format("{:+.1f} pp", 100 * *v);
}
std::string show_ci(const json& ci, const std::string& metric, bool diff = false) {
  if (!ci.is_array() || ci.size() != 2 || !ci[0].is_number()) return "n/a";
  auto f = [&](double x) {
    return diff ? show_diff(x, metric) : show_score(x, metric);
  };
  return "[" + f(ci[0].get<double>()) + ", " + f(ci[1].get<double>()) + "]";
}
// A standard error in display units, unsigned.
std::string show_stderr(const json& se, const std::string& metric) {
  std::string s = show_diff(num(se), metric);
  return s.size() && s[0] == '+' ? s.substr(1) : s;
}
std::string show_bytes(std::optional<double> b) {
  if (!b) return "n/a";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = *b;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", v) : fmt::format("{:.2f} {}", v, units[u]);
}
std::string show_num(std::optional<double> v, const char* f = "{:.4g}") {
  if (!v || !std::isfinite(*v)) return "n/a";
  return fmt::format(fmt::runtime(f), *v);
}
std::string show_ms(std::optional<double> s) {
  if (!s || !std::isfinite(*s)) return "n/a";
  return fmt::format("{:.3g} ms", *s * 1000);
}
std::string show_p(std::optional<double> p) {
  if (!p || !std::isfinite(*p)) return "n/a";
  return *p < 1e-4 ? std::string("<1e-4") : fmt::format("{:.4f}", *p);
}

// A table rendered both as Markdown and HTML.
struct Table {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
  std::string md() const {
    auto cell = [](std::string s) {
      for (size_t p = 0; (p = s.find('|', p)) != std::string::npos; p += 2) s.replace(p, 1, "\\|");
      return s;
    };
    std::string s = "|";
    for (auto& h : head) s += " " + cell(h) + " |";
    s += "\n|";
    for (size_t i = 0; i < head.size(); ++i) s += "---|";
    s += "\n";
    for (auto& r : rows) {
      s += "|";
      for (auto& c : r) s += " " + cell(c) + " |";
      s += "\n";
    }
    return s;
  }
  std::string html() const {
    std::string s = "<table><thead><tr>";
    for (auto& h : head) s += "<th>" + xml_escape(h) + "</th>";
    s += "</tr></thead><tbody>\n";
    for (auto& r : rows) {
      s += "<tr>";
      for (auto& c : r) s += "<td>" + xml_escape(c) + "</td>";
      s += "</tr>\n";
    }
    s += "</tbody></table>\n";
    return s;
  }
};

struct Doc {
  std::string md, html;
  void h2(const std::string& t) {
    md += "\n## " + t + "\n\n";
    html += "<h2>" + xml_escape(t) + "</h2>\n";
  }
  void p(const std::string& t) {
    md += t + "\n\n";
    html += "<p>" + xml_escape(t) + "</p>\n";
  }
  void table(const Table& t) {
    md += t.md() + "\n";
    html += t.html();
  }
};

void load_samples(Variant& v) {
  if (v.samples_loaded) return;
  v.samples_loaded = true;
  std::string path = (fs::path(v.dir) / v.v["samples_path"].get<std::string>()).string();
  if (!fs::exists(path)) {
    v.samples_error = "per-sample log not found: " + path;
    return;
  }
  runner::SampleLog log = runner::read_sample_log(path);
  v.records = std::move(log.records);
}

// Per-category scores (results.json variants[].breakdowns, eval/results/breakdowns.h): one table per
// variant and breakdown, the macro average as its last row.
void breakdown_section(Doc& doc, const std::vector<Variant>& variants) {
  bool any = false;
  for (const Variant& v : variants) any = any || (v.v.contains("breakdowns") && !v.v["breakdowns"].empty());
  if (!any) return;
  doc.h2("Breakdowns");
  doc.p("Each group is scored as its task is (same metric and uncertainty method) on the records of that group; "
        "the macro average is the unweighted mean of the group scores. Records without a group value are counted, "
        "not dropped.");
  for (const Variant& v : variants) {
    if (!v.v.contains("breakdowns")) continue;
    for (const json& b : v.v["breakdowns"]) {
      std::string metric = b["metrics"].empty() ? std::string("exact-match") : b["metrics"][0].get<std::string>();
      doc.p(fmt::format("{} by {} ({}; metrics {}): {} records, {} without a group", b["benchmark"].get<std::string>(),
                        b["by"].get<std::string>(), v.name, fmt::join(b["metrics"].get<std::vector<std::string>>(), ", "),
                        b["records"].get<int64_t>(), b["records_without_group"].get<int64_t>()));
      Table t{{b["by"].get<std::string>(), "samples", "n", "score", "95% CI", "stderr", "parse failures", "failed", "note"},
              {}};
      for (const json& g : b["groups"]) {
        t.rows.push_back({g["group"].get<std::string>(), std::to_string(g["samples"].get<int64_t>()),
                          std::to_string(g["n"].get<int64_t>()), show_score(num(g["score"]), metric),
                          show_ci(g["ci95"], metric), show_stderr(g["stderr"], metric), std::to_string(g.value("parse_failures", int64_t(0))),
                          std::to_string(g.value("failed", int64_t(0))), g.value("note", std::string())});
      }
      const json& m = b["macro"];
      t.rows.push_back({fmt::format("macro ({} groups)", m["groups"].get<int64_t>()), "", "",
                        show_score(num(m["score"]), metric), show_ci(m["ci95"], metric), show_stderr(m["stderr"], metric),
                        "", "",
                        m.value("method", std::string())});
      doc.table(t);
    }
  }
}

// Judged scores (`g4u judge`, eval/results/judge_log.h) in a table of their own, next to the
// judge-free score of the same task, never in its place.
void judged_section(Doc& doc, const std::vector<Variant>& variants, json& summary) {
  json rows = json::array();
  Table t{{"task", "metric", "variant", "judge-free score", "judge-free 95% CI", "judged score", "judged 95% CI", "sent to judge",
           "judged", "changed", "no answer", "invalid judge output", "not judged yet", "judge"},
          {}};
  std::vector<std::string> notes;
  for (const Variant& v : variants) {
    if (!v.v.contains("judge") || !v.v["judge"].is_object()) continue;
    const json& jb = v.v["judge"];
    const json& cfg = jb["config"];  // fields checked by runner::read_results
    const json& model = cfg["model"];
    const std::string judge = fmt::format("{} ({}), prompt {}", model["source"].get<std::string>(),
                                          model["dtype"].get<std::string>(), cfg["prompt_version"].get<std::string>());
    for (const json& task : v.v["tasks"]) {
      if (!task.contains("judged") || !task["judged"].is_object()) continue;
      const json& j = task["judged"];
      const std::string metric = task["metric"].get<std::string>();
      auto count = [&](const char* k) { return std::to_string(j.value(k, int64_t(0))); };
      t.rows.push_back({task["key"].get<std::string>(), metric, v.name, show_score(num(task["score"]), metric),
                        show_ci(task["ci95"], metric), show_score(num(j["score"]), metric), show_ci(j["ci95"], metric),
                        count("sent"), count("judged"), count("changed"), count("no_answer"), count("invalid"), count("missing"),
                        judge});
      for (const char* k : {"invalid_ids", "missing_ids"})
        if (j.contains(k) && j[k].is_array() && !j[k].empty())
          notes.push_back(fmt::format("{} / {}: {} {}", v.name, task["key"].get<std::string>(),
                                      k == std::string("invalid_ids") ? "invalid judge output for" : "not judged yet:",
                                      fmt::join(j[k].get<std::vector<std::string>>(), ", ")));
      rows.push_back({{"variant", v.name}, {"task", task["key"]}, {"metric", metric}, {"judge_free_score", task["score"]},
                      {"judged", j}, {"judge", cfg}});
    }
  }
  summary["judged"] = rows;
  if (t.rows.empty()) return;
  doc.h2("Judged scores beside judge-free scores");
  doc.p("A local judge model (g4u judge) named the option of multiple-choice answers the rule-based extraction could "
        "not parse, and extracted the final answer of free-form ones; the task's own metric then scored the judge's "
        "answer. The judge-free score above is unchanged. A record whose judge output was invalid, or that was not "
        "judged yet, keeps its judge-free prediction and is counted here.");
  doc.table(t);
  for (const std::string& n : notes) doc.p("Note: " + n);
}

// A ppl.json (`g4u ppl --variant`) or bench.json (`g4u bench --variant --json`) of one variant.
struct Measure {
  std::string file;
  json j;
};

// Reads the files and keys them by their "variant", which must be one of the results' variants.
// `kind` ("ppl" / "bench") names the command in messages; `required` is a number every file of that
// kind holds (a path of keys).
std::map<std::string, Measure> read_measures(const std::vector<std::string>& files, const std::string& kind,
                                             const std::vector<std::vector<const char*>>& required,
                                             const std::vector<Variant>& variants) {
  std::map<std::string, Measure> out;
  for (const std::string& f : files) {
    json j = read_json_file(f);
    if (!j.is_object() || !j.contains("variant") || !j["variant"].is_string())
      throw_input("{}: no \"variant\" naming the variant it measured (g4u {} --variant NAME)", f, kind);
    const std::string name = j["variant"].get<std::string>();
    bool any = required.empty();
    for (const auto& path : required) {
      const json* p = &j;
      bool ok = true;
      for (const char* k : path) {
        if (!p->is_object() || !p->contains(k)) {
          ok = false;
          break;
        }
        p = &(*p)[k];
      }
      any = any || (ok && p->is_number());
    }
    if (!any) throw_input("{}: not a {} measurement (no {} figures)", f, kind, kind);
    if (std::none_of(variants.begin(), variants.end(), [&](const Variant& v) { return v.name == name; })) {
      std::string names;
      for (const auto& v : variants) names += (names.empty() ? "" : ", ") + v.name;
      throw_input("{}: variant '{}' is not among the results' variants ({})", f, name, names);
    }
    auto [it, fresh] = out.emplace(name, Measure{f, std::move(j)});
    if (!fresh) throw_input("{}: variant '{}' is also measured by {}", f, name, it->second.file);
  }
  return out;
}

json or_null(std::optional<double> v) { return v ? json(*v) : json(nullptr); }

std::string value_pm(const json& j, const char* value, const char* unc, const char* f) {
  auto v = at(j, {value});
  if (!v) return "n/a";
  auto u = at(j, {unc});
  return fmt::format(fmt::runtime(f), *v) + (u ? " ± " + fmt::format(fmt::runtime(f), *u) : std::string());
}

// Perplexity, KL against the base and throughput of the variants measured, and the speed vs
// quality chart. Adds summary["measures"].
void measures_section(Doc& doc, json& summary, const std::vector<Variant>& variants,
                      const std::map<std::string, Measure>& ppl, const std::map<std::string, Measure>& bench) {
  if (ppl.empty() && bench.empty()) return;
  doc.h2("Perplexity, KL and throughput");
  Table t{{"variant", "bits/weight", "weights", "PPL", "PPL ratio", "mean KL", "KL p99", "same top-1", "prefill tok/s",
           "decode tok/s", "load", "peak RSS"},
          {}};
  json measures = json::object();
  for (const Variant& v : variants) {
    auto pi = ppl.find(v.name);
    auto bi = bench.find(v.name);
    if (pi == ppl.end() && bi == bench.end()) continue;
    static const json kNone = json::object();
    const json& p = pi == ppl.end() ? kNone : pi->second.j;
    const json& b = bi == bench.end() ? kNone : bi->second.j;
    auto obj = [&](const json& j, const char* k) -> const json& { return j.contains(k) && j[k].is_object() ? j[k] : kNone; };
    auto same_top = at(p, {"same_top", "fraction"});
    auto load = at(b, {"load_seconds"});
    t.rows.push_back({v.name, show_num(at(v.v, {"weights", "bits_per_weight"}), "{:.2f}"),
                      show_bytes(at(v.v, {"weights", "total_bytes"})), value_pm(obj(p, "ppl"), "value", "uncertainty", "{:.3f}"),
                      value_pm(obj(p, "ppl_ratio"), "value", "uncertainty", "{:.4f}"),
                      value_pm(obj(p, "kld"), "mean", "uncertainty", "{:.3g}"),
                      show_num(at(p, {"kld", "percentiles", "99.0"}), "{:.3g}"),
                      same_top ? fmt::format("{:.2f}%", 100 * *same_top) : "n/a",
                      value_pm(obj(b, "prefill"), "tokens_per_s", "stddev", "{:.1f}"),
                      value_pm(obj(b, "decode"), "tokens_per_s", "stddev", "{:.1f}"),
                      load ? fmt::format("{:.2f} s", *load) : "n/a", show_bytes(at(b, {"peak_rss_bytes"}))});
    json m = json::object();
    if (pi != ppl.end()) {
      m["ppl_file"] = pi->second.file;
      m["ppl"] = or_null(at(p, {"ppl", "value"}));
      m["kld_mean"] = or_null(at(p, {"kld", "mean"}));
      m["same_top"] = or_null(same_top);
    }
    if (bi != bench.end()) {
      m["bench_file"] = bi->second.file;
      m["prefill_tokens_per_s"] = or_null(at(b, {"prefill", "tokens_per_s"}));
      m["decode_tokens_per_s"] = or_null(at(b, {"decode", "tokens_per_s"}));
      m["peak_rss_bytes"] = or_null(at(b, {"peak_rss_bytes"}));
    }
    measures[v.name] = m;
  }
  doc.table(t);
  if (!ppl.empty()) {
    const json& p = ppl.begin()->second.j;
    auto str = [&](const char* k) { return p.contains(k) && p[k].is_string() ? p[k].get<std::string>() : std::string("n/a"); };
    doc.p(fmt::format("PPL and KL: llama-perplexity's protocol (eval/perplexity/perplexity.h) on {} ({} tokens of context, "
                      "{} scored tokens, fp32 logits); KL, PPL ratio and same top-1 against {}. Uncertainties are one "
                      "standard error.",
                      str("data"), at(p, {"ctx"}).value_or(0), at(p, {"scored_tokens"}).value_or(0), str("kl_base")));
  }
  if (!bench.empty()) {
    const json& b = bench.begin()->second.j;
    doc.p(fmt::format("Throughput: `g4u bench` (llama-bench style) in its own measurement, {} prompt tokens and {} decoded "
                      "tokens from random ids, {} repetitions after a warm-up, {} thread(s); mean ± standard deviation. "
                      "Peak RSS: the high-water mark of load plus that run.",
                      at(b, {"prefill", "tokens"}).value_or(0), at(b, {"decode", "tokens"}).value_or(0),
                      at(b, {"reps"}).value_or(0), at(b, {"threads"}).value_or(0)));
  }
  ScatterChart sq;
  sq.title = "Decode speed vs KL to the baseline";
  sq.x_label = "mean KL divergence (nats per token)";
  sq.y_label = "decode tokens/s";
  sq.log10_x = true;
  for (const Variant& v : variants) {
    auto pi = ppl.find(v.name);
    auto bi = bench.find(v.name);
    if (pi == ppl.end() || bi == bench.end()) continue;
    auto kl = at(pi->second.j, {"kld", "mean"});
    auto dec = at(bi->second.j, {"decode", "tokens_per_s"});
    if (!kl || !dec) continue;
    ChartPoint cp;
    cp.x = *kl;
    cp.y = *dec;
    if (auto sd = at(bi->second.j, {"decode", "stddev"})) {
      cp.y_lo = *dec - *sd;
      cp.y_hi = *dec + *sd;
    }
    cp.series = v.v.value("quant", json(nullptr)).is_string() ? "4-bit and 8-bit schemes" : "float";
    cp.label = v.name;
    sq.points.push_back(cp);
  }
  if (!sq.points.empty()) {
    doc.html += "<div class=\"charts\">" + svg_scatter(sq) + "</div>\n";
    doc.html += "<p class=\"meta\">Error bars: ± one standard deviation of decode tokens/s over the repetitions.</p>\n";
    doc.md += "The HTML report charts decode tokens/s against mean KL (log scale), one point per variant.\n\n";
  }
  summary["measures"] = measures;
}

// What a reader needs first, written from the data: which variants differ significantly from the
// baseline on which tasks (p < 0.05, uncorrected), the largest difference, and size, speed and KL
// of the variants. Adds summary["findings"] (the lines).
void findings_section(Doc& doc, const std::vector<Variant>& variants, size_t base_idx, const json& paired, json& summary) {
  std::vector<std::string> lines;
  const Variant& base = variants[base_idx];
  if (variants.size() > 1) {
    size_t comparisons = 0;
    std::vector<std::string> significant;
    const json* largest = nullptr;
    for (const json& c : paired) {
      auto d = num(c["mean_diff"]);
      if (!d) continue;
      ++comparisons;
      if (!largest || std::fabs(*d) > std::fabs(*num((*largest)["mean_diff"]))) largest = &c;
      auto p = num(c["p_value"]);
      if (p && *p < 0.05) {
        const std::string metric = c.value("metric", std::string("exact-match"));
        significant.push_back(fmt::format("{} on {}: {} (95% CI {}, p {})", c["variant"].get<std::string>(),
                                          c["task"].get<std::string>(), show_diff(d, metric), show_ci(c["ci95"], metric, true),
                                          show_p(p)));
      }
    }
    if (comparisons == 0) {
      lines.push_back("No paired comparison with the baseline " + base.name + " could be made (see the notes below).");
    } else if (significant.empty()) {
      lines.push_back(fmt::format("No variant differs significantly from the baseline {} on any task (paired tests, p < "
                                  "0.05, {} comparisons).",
                                  base.name, comparisons));
    } else {
      // A long list is cut: the paired-differences table below holds every comparison.
      constexpr size_t kListed = 8;
      std::string listed = fmt::format("{}", fmt::join(significant.begin(), significant.begin() + std::min(kListed, significant.size()), "; "));
      if (significant.size() > kListed)
        listed += fmt::format("; and {} more (all in \"Paired differences\" below)", significant.size() - kListed);
      lines.push_back(fmt::format("{} of {} variant-task comparisons with the baseline {} differ significantly (p < 0.05, "
                                  "uncorrected for the {} comparisons): {}.",
                                  significant.size(), comparisons, base.name, comparisons, listed));
    }
    if (largest && *num((*largest)["mean_diff"]) == 0) {
      lines.push_back(fmt::format("No variant's score differs from {}'s on any task (every paired difference is 0).", base.name));
    } else if (largest) {
      const std::string metric = largest->value("metric", std::string("exact-match"));
      lines.push_back(fmt::format("Largest difference from {}: {} on {}, {} (p {}).", base.name,
                                  (*largest)["variant"].get<std::string>(), (*largest)["task"].get<std::string>(),
                                  show_diff(num((*largest)["mean_diff"]), metric), show_p(num((*largest)["p_value"]))));
    }
  }
  // Replicate groups: pooled differences against the baseline's group.
  if (summary.contains("replicates"))
    for (const auto& [group, g] : summary["replicates"].items()) {
      if (!g.contains("paired")) continue;
      for (const auto& [task, c] : g["paired"].items()) {
        const std::string metric = c["metric"].get<std::string>();
        const double p = c["p_value"].get<double>();
        lines.push_back(fmt::format("Pooled over replicates, {} vs {} on {}: {} (95% CI [{}, {}], p {}){}.", group,
                                    c["baseline_group"].get<std::string>(), task, show_diff(c["mean_diff"].get<double>(), metric),
                                    show_diff(c["ci95"][0].get<double>(), metric), show_diff(c["ci95"][1].get<double>(), metric),
                                    show_p(p), p < 0.05 ? ", significant" : ""));
      }
    }
  // Size: the smallest and the baseline's weights.
  const Variant* smallest = nullptr;
  for (const Variant& v : variants) {
    auto b = at(v.v, {"weights", "total_bytes"});
    if (b && (!smallest || *b < *at(smallest->v, {"weights", "total_bytes"}))) smallest = &v;
  }
  auto base_bytes = at(base.v, {"weights", "total_bytes"});
  if (smallest && base_bytes && smallest != &base)
    lines.push_back(fmt::format("Smallest weights: {}, {} at {} bits/weight ({:.0f}% of {}'s {}).", smallest->name,
                                show_bytes(at(smallest->v, {"weights", "total_bytes"})),
                                show_num(at(smallest->v, {"weights", "bits_per_weight"}), "{:.2f}"),
                                100 * *at(smallest->v, {"weights", "total_bytes"}) / *base_bytes, base.name,
                                show_bytes(base_bytes)));
  // Quality and speed from the measurements (ppl.json, bench.json), where given.
  if (summary.contains("measures")) {
    const json& m = summary["measures"];
    std::string best_kl, fastest;
    double kl = INFINITY, dec = 0;
    for (const auto& [name, x] : m.items()) {
      if (x.contains("kld_mean") && x["kld_mean"].is_number() && x["kld_mean"].get<double>() < kl) {
        kl = x["kld_mean"].get<double>();
        best_kl = name;
      }
      if (x.contains("decode_tokens_per_s") && x["decode_tokens_per_s"].is_number() &&
          x["decode_tokens_per_s"].get<double>() > dec) {
        dec = x["decode_tokens_per_s"].get<double>();
        fastest = name;
      }
    }
    if (!best_kl.empty()) lines.push_back(fmt::format("Lowest mean KL to the base model: {} ({:.3g} nats per token).", best_kl, kl));
    if (!fastest.empty()) {
      std::string line = fmt::format("Fastest decode: {} ({:.1f} tokens/s", fastest, dec);
      if (m.contains(base.name) && m[base.name].contains("decode_tokens_per_s") && m[base.name]["decode_tokens_per_s"].is_number() &&
          fastest != base.name)
        line += fmt::format(", {:.2f}x {}", dec / m[base.name]["decode_tokens_per_s"].get<double>(), base.name);
      lines.push_back(line + ").");
    }
  }
  for (const Variant& v : variants) {
    if (!v.v.contains("speculative") || !v.v["speculative"].is_object()) continue;
    const json& s = v.v["speculative"];
    auto checked = at(s, {"checked"});
    auto mism = at(s, {"mismatches"});
    if (!checked || !mism) continue;
    std::string line = fmt::format("Speculative decoding of {} ({}): ", v.name,
                                   v.v.contains("drafter") && v.v["drafter"].is_object() && v.v["drafter"].contains("draft")
                                       ? v.v["drafter"]["draft"].dump()
                                       : std::string("drafter"));
    line += *mism > 0 ? fmt::format("NOT lossless: {:.0f} of {:.0f} samples differ from plain greedy", *mism, *checked)
                      : fmt::format("lossless on all {:.0f} samples", *checked);
    if (auto tau = at(s, {"tau"})) line += fmt::format(", tau {:.2f}", *tau);
    if (auto sp = at(s, {"speedup"})) line += fmt::format(", decode speedup {:.2f}x", *sp);
    lines.push_back(line + ".");
  }
  if (lines.empty()) return;
  doc.h2("Findings");
  for (const auto& l : lines) doc.p("- " + l);
  summary["findings"] = lines;
}

// Speculative decoding inside the evaluation (`g4u eval --draft`): losslessness, acceptance and
// speedup per variant and task, from results.json's "speculative" block.
void speculative_section(Doc& doc, const std::vector<Variant>& variants) {
  bool any = false;
  for (const Variant& v : variants) any = any || (v.v.contains("speculative") && v.v["speculative"].is_object());
  if (!any) return;
  doc.h2("Speculative decoding");
  Table t{{"variant", "task", "drafter", "k", "checked", "equal to plain greedy", "acceptance", "tau", "per-position acceptance",
           "plain decode tok/s", "speculative decode tok/s", "speedup"},
          {}};
  auto row = [&](const Variant& v, const std::string& task, const json& s) {
    const json& d = v.v.value("drafter", json(nullptr));
    auto str = [](const json& x, const char* k) {
      return x.is_object() && x.contains(k) ? (x[k].is_string() ? x[k].get<std::string>() : x[k].dump()) : std::string("-");
    };
    std::string drafter = str(d, "draft");
    if (d.is_object()) {
      drafter += " (" + str(d, "kind") + ", " + str(d, "params") + " params";
      if (d.contains("draft_quant") && d["draft_quant"].is_string()) drafter += ", " + d["draft_quant"].get<std::string>();
      drafter += ")";
    }
    std::string positions;
    if (s.contains("per_position_acceptance") && s["per_position_acceptance"].is_array())
      for (const json& p : s["per_position_acceptance"])
        if (p.is_number()) positions += (positions.empty() ? "" : " ") + fmt::format("{:.2f}", p.get<double>());
    auto checked = at(s, {"checked"});
    auto mism = at(s, {"mismatches"});
    std::string equal = checked && mism ? fmt::format("{:.0f} of {:.0f}{}", *checked - *mism, *checked, *mism > 0 ? " (NOT lossless)" : "")
                                        : "n/a";
    t.rows.push_back({v.name, task, drafter, str(d, "k") + (d.is_object() && d.contains("k_schedule") ? " " + str(d, "k_schedule") : ""),
                      show_num(checked, "{:.0f}"), equal, show_num(at(s, {"acceptance_rate"}), "{:.3f}"),
                      show_num(at(s, {"tau"}), "{:.3f}"), positions.empty() ? "-" : positions,
                      show_num(at(s, {"plain_decode_tokens_per_s"}), "{:.1f}"),
                      show_num(at(s, {"speculative_decode_tokens_per_s"}), "{:.1f}"),
                      at(s, {"speedup"}) ? fmt::format("{:.2f}x", *at(s, {"speedup"})) : "n/a"});
  };
  for (const Variant& v : variants) {
    if (!v.v.contains("speculative") || !v.v["speculative"].is_object()) continue;
    const json& s = v.v["speculative"];
    row(v, "all", s);
    if (s.contains("tasks") && s["tasks"].is_object())
      for (const auto& [task, ts] : s["tasks"].items()) row(v, task, ts);
  }
  doc.table(t);
  doc.p("Each sample was decoded twice at batch 1: plainly (the scored output) and by the drafter + target "
        "(g4u eval --draft); greedy speculative decoding must give the same tokens, checked per sample. Acceptance = "
        "accepted / drafted tokens; tau = tokens per verify pass, bonus token included; per-position acceptance = "
        "the share of rounds whose draft positions 0..j were all accepted; decode tok/s = tokens after each sample's "
        "first over the decode time of the same samples, plain and speculative.");
}

// Replicates (variants sharing a "group": one design trained with several seeds): per group and task
// the mean score over replicates and its spread, and the item-level paired difference against the
// baseline's group — per item the mean score over a group's replicates, then a paired t-test over
// the items both groups scored in every replicate (the items are the clusters: the replicates of an
// item are not independent). Accuracy-type metrics only. Adds summary["replicates"].
// "x ± sd" over replicates ("x" alone for one).
std::string mean_sd(const std::vector<double>& x, const char* f) {
  if (x.empty()) return "n/a";
  std::string out = fmt::format(fmt::runtime(f), eval::mean(x));
  if (x.size() > 1) out += " ± " + fmt::format(fmt::runtime(f), eval::sample_std(x));
  return out;
}

// The training run behind a variant, when its model folder is one (`g4u train`: curves.json and
// summary.json); null otherwise.
json training_run(const Variant& v) {
  const json& model = v.v.value("model", json(nullptr));
  if (!model.is_string()) return nullptr;
  const fs::path curves = fs::path(model.get<std::string>()) / "curves.json", summary = fs::path(model.get<std::string>()) / "summary.json";
  if (!fs::exists(curves) || !fs::exists(summary)) return nullptr;
  return {{"curves", read_json_file(curves.string())}, {"summary", read_json_file(summary.string())}};
}

// Per replicate group: the design (projectors, parameters of each embedder), the embedding time per
// item of each task, and, when the variants' models are training runs, the final training loss and a
// chart of the loss curves (mean over the group's replicates).
void design_section(Doc& doc, const std::vector<std::string>& order,
                    const std::map<std::string, std::vector<Variant*>>& groups, json& js) {
  std::vector<std::string> keys;
  for (const std::string& name : order)
    for (Variant* v : groups.at(name))
      for (const json& t : v->v["tasks"])
        if (std::find(keys.begin(), keys.end(), t["key"].get<std::string>()) == keys.end()) keys.push_back(t["key"]);
  Table t{{"group", "image projector", "audio projector", "image embedder params", "audio embedder params"}, {}};
  for (const std::string& k : keys) t.head.push_back("embedding ms/item: " + k);
  t.head.insert(t.head.end(), {"final train loss", "train time"});
  ScatterChart chart;
  chart.title = "Training loss (mean over replicates)";
  chart.x_label = "step";
  chart.y_label = "loss (mean over a window of steps)";
  chart.lines = true;
  chart.width = 720;
  std::vector<std::string> missing_runs;
  for (const std::string& name : order) {
    const auto& reps = groups.at(name);
    const json& first = reps.front()->v;
    const json params = first.value("params", json::object());
    auto count = [&](std::initializer_list<const char*> components) -> std::string {
      int64_t n = 0;
      bool any = false;
      for (const char* c : components)
        if (params.contains(c)) {
          n += params[c].get<int64_t>();
          any = true;
        }
      return any ? fmt::format("{}", n) : "n/a";
    };
    auto text = [&](const char* key) {
      const json& x = first.value(key, json(nullptr));
      return x.is_string() ? x.get<std::string>() : std::string("n/a");
    };
    std::vector<std::string> row = {name, text("projector"), text("audio_projector"), count({"vision_embedder", "vision_projection"}),
                                    count({"audio_projection"})};
    for (const std::string& k : keys) {
      std::vector<double> ms;
      for (Variant* v : reps)
        for (const json& task : v->v["tasks"])
          if (task["key"] == k && task["n"].get<int64_t>() > 0)
            if (auto e = at(task, {"latency", "embed_s_total"})) ms.push_back(*e * 1e3 / task["n"].get<double>());
      row.push_back(mean_sd(ms, "{:.3g}"));
      if (!ms.empty()) js[name]["embedding_ms_per_item"][k] = eval::mean(ms);
    }
    std::vector<double> final_loss, train_s;
    std::map<int64_t, std::vector<double>> loss_at;  // step -> loss of each replicate
    size_t runs = 0;
    for (Variant* v : reps) {
      const json run = training_run(*v);
      if (run.is_null()) {
        missing_runs.push_back(v->name);
        continue;
      }
      ++runs;
      if (auto l = num(run["summary"].value("final_loss_mean_last_10", json(nullptr)))) final_loss.push_back(*l);
      if (auto sec = num(run["summary"].value("train_step_seconds_total", json(nullptr)))) train_s.push_back(*sec);
      for (const json& r : run["curves"].value("train", json::array()))
        if (r.contains("step") && r.contains("loss") && r["loss"].is_number()) loss_at[r["step"].get<int64_t>()].push_back(r["loss"].get<double>());
    }
    row.push_back(mean_sd(final_loss, "{:.3f}"));
    row.push_back(train_s.empty() ? "n/a" : mean_sd(train_s, "{:.0f}") + " s");
    t.rows.push_back(row);
    if (!final_loss.empty()) js[name]["final_train_loss"] = {{"mean", eval::mean(final_loss)}, {"values", final_loss}};
    // About 40 points a curve: the mean loss of each window of steps (a step's loss is noisy).
    if (loss_at.empty()) continue;
    const int64_t last = loss_at.rbegin()->first, window = std::max<int64_t>(1, last / 40);
    for (int64_t lo = 1; lo <= last; lo += window) {
      std::vector<double> xs;
      for (auto it = loss_at.lower_bound(lo); it != loss_at.end() && it->first < lo + window; ++it)
        if (it->second.size() == runs) xs.push_back(eval::mean(it->second));  // steps every run logged
      if (!xs.empty()) chart.points.push_back({static_cast<double>(lo + window / 2), eval::mean(xs), {}, {}, name, ""});
    }
  }
  doc.p("Design of each group: the projectors, parameters of the embedders (the image embedder with its projection "
        "into the decoder, the audio projection), the time the embedders took per evaluated item of each task (mean ± "
        "SD over replicates; the runner times the media embedding inside the prefill), and, for models trained by g4u, "
        "the training loss (mean of the last 10 steps) and training time (mean ± SD over replicates).");
  doc.table(t);
  if (!missing_runs.empty())
    doc.p(fmt::format("No training run (curves.json, summary.json) in the model folder of: {}.", fmt::join(missing_runs, ", ")));
  if (!chart.points.empty()) doc.html += "<div class=\"charts\">" + svg_scatter(chart) + "</div>\n";
}

void replicate_section(Doc& doc, std::vector<Variant>& variants, size_t base_idx, json& summary) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<Variant*>> groups;
  for (Variant& v : variants) {
    const json& g = v.v.value("group", json(nullptr));
    if (g.is_null()) continue;
    if (!g.is_string()) throw_input("{}: variants[] '{}': field 'group': expected a string", v.file, v.name);
    if (!groups.count(g.get<std::string>())) order.push_back(g.get<std::string>());
    groups[g.get<std::string>()].push_back(&v);
  }
  if (groups.empty()) return;
  doc.h2("Replicates pooled by group");
  // Per-item scores of a group's replicates for one task key: id -> scores (one per replicate that scored it).
  auto item_scores = [&](const std::vector<Variant*>& reps, const std::string& key) {
    std::map<std::string, std::vector<double>> out;
    for (Variant* v : reps) {
      load_samples(*v);
      for (const auto& g : runner::group_by_task(v->records)) {
        if (g.key != key) continue;
        for (const auto* r : g.records)
          if (r->score) out[r->id].push_back(*r->score);
      }
    }
    return out;
  };
  json js = json::object();
  Table spread{{"group", "task", "replicates", "mean score", "95% CI (items)", "SD over replicates", "min", "max", "replicate scores"}, {}};
  std::set<std::string> keys;
  for (const std::string& name : order) {
    const auto& reps = groups[name];
    std::map<std::string, std::vector<double>> scores;
    std::map<std::string, std::string> metric_of;
    std::vector<std::string> key_order;
    for (Variant* v : reps)
      for (const json& t : v->v["tasks"]) {
        const std::string key = t["key"].get<std::string>();
        if (!scores.count(key)) key_order.push_back(key);
        metric_of[key] = t["metric"].get<std::string>();
        if (auto x = num(t["score"])) scores[key].push_back(*x);
      }
    for (const std::string& key : key_order) {
      const std::vector<double>& x = scores[key];
      const std::string& metric = metric_of[key];
      keys.insert(key);
      std::vector<std::string> each;
      for (double v : x) each.push_back(show_score(v, metric));
      const double sd = x.size() > 1 ? eval::sample_std(x) : NAN;
      // The items are the clusters: per item the mean over the replicates that scored it, then a
      // t interval over the items (a replicate's own CI would ignore the seed-to-seed spread).
      std::string ci = "n/a";
      json ci_json = nullptr;
      if (!eval::metric_info(metric).corpus) {
        std::vector<double> item_means;
        for (const auto& [id, sc] : item_scores(reps, key))
          if (sc.size() == reps.size()) item_means.push_back(eval::mean(sc));
        if (item_means.size() >= 2) {
          const eval::PairedTest t = eval::paired_t_test(item_means, std::vector<double>(item_means.size(), 0.0));
          ci = fmt::format("[{}, {}]", show_score(std::max(t.ci95.lo, 0.0), metric), show_score(t.ci95.hi, metric));
          ci_json = {t.ci95.lo, t.ci95.hi};
        }
      }
      spread.rows.push_back({name, key, std::to_string(x.size()), show_score(x.empty() ? std::nullopt : std::optional<double>(eval::mean(x)), metric),
                             ci, std::isfinite(sd) ? show_stderr(json(sd), metric) : "n/a",
                             x.empty() ? "n/a" : show_score(*std::min_element(x.begin(), x.end()), metric),
                             x.empty() ? "n/a" : show_score(*std::max_element(x.begin(), x.end()), metric), fmt::format("{}", fmt::join(each, ", "))});
      js[name]["tasks"][key] = {{"replicates", x.size()}, {"scores", x}, {"mean", x.empty() ? json(nullptr) : json(eval::mean(x))},
                                {"sd", std::isfinite(sd) ? json(sd) : json(nullptr)}, {"ci95_items", ci_json}};
    }
    json names = json::array();
    for (Variant* v : reps) names.push_back(v->name);
    js[name]["variants"] = names;
  }
  doc.p("Per group: the mean of its replicates' scores; the 95% CI is over the items (per item the mean over the "
        "replicates, items as clusters), so it reflects which items were drawn, not how much another seed would move the "
        "score: the SD, min and max over the replicates show that.");
  doc.table(spread);
  design_section(doc, order, groups, js);
  const json& base_group = variants[base_idx].v.value("group", json(nullptr));
  if (!base_group.is_string()) {
    doc.p("The baseline " + variants[base_idx].name + " belongs to no group: no pooled differences.");
    summary["replicates"] = js;
    return;
  }
  const std::string base_name = base_group.get<std::string>();
  Table pt{{"group", "task", "items", "replicates", "group mean", "baseline group mean", "difference", "95% CI", "p-value"}, {}};
  for (const std::string& name : order) {
    if (name == base_name) continue;
    for (const std::string& key : keys) {
      const json* metric_task = nullptr;
      for (const json& t : groups[name].front()->v["tasks"])
        if (t["key"] == key) metric_task = &t;
      if (!metric_task) continue;
      const std::string metric = (*metric_task)["metric"].get<std::string>();
      if (eval::metric_info(metric).corpus) continue;
      auto a = item_scores(groups[name], key), b = item_scores(groups[base_name], key);
      std::vector<double> xa, xb;
      for (const auto& [id, sa] : a) {
        auto it = b.find(id);
        if (it == b.end() || sa.size() != groups[name].size() || it->second.size() != groups[base_name].size()) continue;
        xa.push_back(eval::mean(sa));
        xb.push_back(eval::mean(it->second));
      }
      if (xa.size() < 2) continue;
      eval::PairedTest t = eval::paired_t_test(xa, xb);
      pt.rows.push_back({name, key, std::to_string(t.n), fmt::format("{} vs {}", groups[name].size(), groups[base_name].size()),
                         show_score(eval::mean(xa), metric), show_score(eval::mean(xb), metric), show_diff(t.mean_diff, metric),
                         fmt::format("[{}, {}]", show_diff(t.ci95.lo, metric), show_diff(t.ci95.hi, metric)), show_p(t.p_value)});
      js[name]["paired"][key] = {{"baseline_group", base_name}, {"items", t.n}, {"mean_diff", t.mean_diff},
                                 {"ci95", {t.ci95.lo, t.ci95.hi}}, {"p_value", t.p_value}, {"metric", metric}};
    }
  }
  doc.p("Pooled over replicates against the baseline's group " + base_name +
        ": per item the mean score over each group's replicates, then a paired t-test over the items scored in every "
        "replicate of both groups (items are the clusters).");
  doc.table(pt);
  summary["replicates"] = js;
}

const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:30px;border-bottom:1px solid #ccc;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px;max-width:100%}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f2f4f7}tr:nth-child(even) td{background:#fafbfc}
p{font-size:14px;line-height:1.45}.charts{display:flex;flex-wrap:wrap;gap:16px}
svg.chart{border:1px solid #ddd;border-radius:4px}
.meta{color:#555;font-size:13px}
)";

}  // namespace

Report build_report(const ReportOptions& o) {
  if (o.results.empty()) throw_input("g4u report: no results files given");
  std::vector<std::unique_ptr<json>> docs;
  std::vector<Variant> variants;
  std::map<std::string, std::string> name_file;
  for (const std::string& path : o.results) {
    docs.push_back(std::make_unique<json>(runner::read_results(path)));
    const json& d = *docs.back();
    for (const json& v : d["variants"]) {
      Variant var;
      var.name = v["name"].get<std::string>();
      var.file = path;
      var.dir = fs::path(path).parent_path().string();
      if (var.dir.empty()) var.dir = ".";
      var.results = &d;
      var.v = v;
      auto [it, fresh] = name_file.emplace(var.name, path);
      if (!fresh)
        throw_input("{}: variant '{}' also in {} (name variants apart with `g4u eval --variant`)", path, var.name,
                    it->second);
      variants.push_back(std::move(var));
    }
  }
  size_t base_idx = 0;
  if (!o.baseline.empty()) {
    auto it = std::find_if(variants.begin(), variants.end(), [&](const Variant& v) { return v.name == o.baseline; });
    if (it == variants.end()) {
      std::string names;
      for (auto& v : variants) names += (names.empty() ? "" : ", ") + v.name;
      throw_input("--baseline {}: no such variant (known: {})", o.baseline, names);
    }
    base_idx = static_cast<size_t>(it - variants.begin());
  }
  std::optional<PublishedTable> published;
  if (!o.published.empty()) published = read_published(o.published);
  const auto ppl = read_measures(o.ppl, "ppl", {{"ppl", "value"}}, variants);
  const auto bench = read_measures(o.bench, "bench", {{"prefill", "tokens_per_s"}, {"decode", "tokens_per_s"}}, variants);

  // Task keys in order of first appearance, with their metric.
  std::vector<std::string> task_keys;
  std::map<std::string, std::string> task_metric;
  for (auto& v : variants)
    for (const json& t : v.v["tasks"]) {
      std::string key = t["key"].get<std::string>();
      if (!task_metric.count(key)) {
        task_keys.push_back(key);
        task_metric[key] = t["metric"].get<std::string>();
      }
    }
  auto find_task = [](const Variant& v, const std::string& key) -> const json* {
    for (const json& t : v.v["tasks"])
      if (t["key"] == key) return &t;
    return nullptr;
  };

  Doc doc;
  json summary;
  summary["baseline"] = variants[base_idx].name;
  summary["variants"] = json::array();
  for (auto& v : variants) summary["variants"].push_back(v.name);
  summary["tasks"] = task_keys;

  // --- header -------------------------------------------------------------------------------
  doc.md += "# " + o.title + "\n\n";
  doc.html += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + xml_escape(o.title) +
              "</title><style>" + kCss + "</style></head><body>\n<h1>" + xml_escape(o.title) + "</h1>\n";
  std::string intro = fmt::format(
      "{} variant(s) from {} results file(s); baseline for paired differences: {}. Scores: accuracy-type metrics and "
      "WER/CER in %, BLEU/chrF on sacreBLEU's 0-100 scale; 95% CIs as each results file computed them "
      "(results.json ci95_method: Wilson for right/wrong items, else the CLT; a seeded bootstrap for corpus metrics).",
      variants.size(), o.results.size(), variants[base_idx].name);
  doc.p(intro);
  // The findings come first but are written last, from the sections below.
  const size_t findings_md = doc.md.size(), findings_html = doc.html.size();

  // --- variants ----------------------------------------------------------------------------
  doc.h2("Variants: weights, memory, latency");
  Table vt{{"variant", "model", "dtype", "quant", "weights", "bits/weight", "linear", "embedding", "norm",
            "quant meta", "peak RSS", "peak CUDA", "KV max", "TTFT p50", "per-token p50 / p90 / p99",
            "prefill tok/s", "decode tok/s"}, {}};
  for (auto& v : variants) {
    const json& w = v.v["weights"];
    const json& lat = v.v["latency"];
    auto cls = [&](const char* k) { return show_bytes(at(w, {"bytes_by_class", k})); };
    auto str = [](const json& x) { return x.is_string() ? x.get<std::string>() : std::string(x.is_null() ? "-" : x.dump()); };
    vt.rows.push_back({v.name, str(v.v.value("model", json(nullptr))), str(v.v.value("dtype", json(nullptr))),
                       str(v.v.value("quant", json(nullptr))), show_bytes(num(w["total_bytes"])),
                       show_num(num(w["bits_per_weight"]), "{:.2f}"), cls("linear"), cls("embedding"), cls("norm"),
                       cls("quant_metadata"), show_bytes(at(v.v, {"memory", "peak_rss_bytes"})),
                       show_bytes(at(v.v, {"memory", "peak_cuda_bytes"})),
                       show_bytes(at(v.v, {"memory", "kv_cache_bytes_max"})), show_ms(at(lat, {"ttft_s", "p50"})),
                       show_ms(at(lat, {"per_token_s", "p50"})) + " / " + show_ms(at(lat, {"per_token_s", "p90"})) +
                           " / " + show_ms(at(lat, {"per_token_s", "p99"})),
                       show_num(at(lat, {"prefill_tokens_per_s"}), "{:.1f}"),
                       show_num(at(lat, {"decode_tokens_per_s"}), "{:.1f}")});
  }
  doc.table(vt);
  doc.p("Latency excludes warm-up generations (never logged). Per-token latency: every token after a sample's first, "
        "the decode step that produced it (numpy-style linear percentiles). TTFT: the batch's prompt forward plus "
        "first token. Peak RSS is the process high-water mark (VmHWM); peak CUDA is n/a on CPU runs.");
  measures_section(doc, summary, variants, ppl, bench);
  speculative_section(doc, variants);

  // --- per-task scores -----------------------------------------------------------------------
  doc.h2("Scores per task");
  Table st{{"task", "metric", "variant", "n", "score", "95% CI", "stderr", "clustered SE", "parse failures",
            "truncated reasoning", "failed", "hit max tokens"}, {}};
  for (const std::string& key : task_keys) {
    const std::string& metric = task_metric[key];
    for (auto& v : variants) {
      const json* t = find_task(v, key);
      if (!t) continue;
      std::string se = show_stderr((*t)["stderr"], metric);
      std::string cse = t->contains("stderr_clustered") ? show_stderr((*t)["stderr_clustered"], metric) : "-";
      st.rows.push_back({key, metric + (lower_is_better(metric) ? " (lower is better)" : ""), v.name,
                         std::to_string((*t)["n"].get<int64_t>()), show_score(num((*t)["score"]), metric),
                         show_ci((*t)["ci95"], metric), se + " (" + t->value("stderr_method", std::string("?")) + ")", cse,
                         fmt::format("{} ({})", t->value("parse_failures", int64_t(0)),
                                     show_score(num((*t)["parse_failure_rate"]), "exact-match")),
                         std::to_string(t->value("truncated_reasoning", int64_t(0))),
                         std::to_string(t->value("failed", int64_t(0))),
                         std::to_string(t->value("hit_max_new_tokens", int64_t(0)))});
    }
  }
  doc.table(st);
  judged_section(doc, variants, summary);
  breakdown_section(doc, variants);

  // --- paired differences ---------------------------------------------------------------------
  doc.h2("Paired differences vs baseline " + variants[base_idx].name);
  Table pt{{"task", "metric", "variant", "shared n", "variant score", "baseline score", "difference", "95% CI",
            "p-value", "method"}, {}};
  json paired = json::array();
  Variant& base = variants[base_idx];
  std::vector<std::string> notes;
  if (variants.size() > 1) {
    load_samples(base);
    runner::ScoringOptions so = runner::scoring_from_config((*base.results)["config"], base.file, o.spellings);
    runner::Scorer scorer(so);
    auto base_groups = runner::group_by_task(base.records);
    for (size_t vi = 0; vi < variants.size(); ++vi) {
      if (vi == base_idx) continue;
      Variant& v = variants[vi];
      load_samples(v);
      if (!v.samples_error.empty() || !base.samples_error.empty()) {
        notes.push_back(v.name + ": " + (v.samples_error.empty() ? base.samples_error : v.samples_error));
        continue;
      }
      auto groups = runner::group_by_task(v.records);
      for (const auto& g : groups) {
        auto bg = std::find_if(base_groups.begin(), base_groups.end(), [&](const runner::TaskGroup& b) { return b.key == g.key; });
        if (bg == base_groups.end()) continue;
        if (bg->metric != g.metric) {
          notes.push_back(fmt::format("{} / {}: metric {} vs baseline {}; not compared", v.name, g.key, g.metric, bg->metric));
          continue;
        }
        std::map<std::string, const runner::SampleRecord*> bmap;
        for (auto* r : bg->records) bmap[r->id] = r;
        runner::TaskGroup gs = g, bs = *bg;
        gs.records.clear();
        bs.records.clear();
        for (auto* r : g.records) {
          auto it = bmap.find(r->id);
          if (it == bmap.end()) continue;
          gs.records.push_back(r);
          bs.records.push_back(it->second);
        }
        if (gs.records.empty()) {
          notes.push_back(fmt::format("{} / {}: no sample id in common with the baseline", v.name, g.key));
          continue;
        }
        eval::Evaluation es = runner::evaluate_group(gs, scorer), eb = runner::evaluate_group(bs, scorer);
        json c = eval::compare(es, eb, scorer.score_options(g.normalizer));
        c["task"] = g.key;
        c["metric"] = g.metric;
        c["variant"] = v.name;
        c["baseline"] = base.name;
        c["variant_score"] = std::isfinite(es.score) ? json(es.score) : json(nullptr);
        paired.push_back(c);
        pt.rows.push_back({g.key, g.metric, v.name, std::to_string(gs.records.size()), show_score(num(c["variant_score"]), g.metric),
                           show_score(num(c["baseline_score"]), g.metric), show_diff(num(c["mean_diff"]), g.metric),
                           show_ci(c["ci95"], g.metric, true), show_p(num(c["p_value"])), c["method"].get<std::string>()});
      }
    }
    doc.table(pt);
    doc.p("Differences are variant minus baseline on the sample ids both variants logged (for WER/CER a negative "
          "difference is an improvement). Accuracy-type metrics: paired t-test on per-item differences; corpus "
          "metrics: paired bootstrap (sacreBLEU's procedure).");
  } else {
    doc.p("Only one variant: no paired differences.");
  }
  for (auto& n : notes) doc.p("Note: " + n);
  summary["paired"] = paired;
  replicate_section(doc, variants, base_idx, summary);

  // --- charts --------------------------------------------------------------------------------
  doc.h2("Charts");
  ScatterChart acc;
  acc.title = "Accuracy vs bits per weight";
  acc.x_label = "bits per weight (all weight bytes / weights)";
  acc.y_label = "score (accuracy-type tasks)";
  acc.log2_x = true;
  acc.y_range = std::make_pair(0.0, 1.0);
  ScatterChart lm;
  lm.title = "Latency vs memory";
  lm.x_label = "peak RSS (MiB)";
  lm.y_label = "per-token latency p50 (ms)";
  for (auto& v : variants) {
    auto bpw = at(v.v, {"weights", "bits_per_weight"});
    for (const json& t : v.v["tasks"]) {
      std::string metric = t["metric"].get<std::string>();
      if (eval::metric_info(metric).corpus || !bpw) continue;
      ChartPoint p;
      p.x = *bpw;
      p.y = num(t["score"]).value_or(NAN);
      if (t["ci95"].is_array()) {
        p.y_lo = t["ci95"][0].get<double>();
        p.y_hi = t["ci95"][1].get<double>();
      }
      p.series = t["key"].get<std::string>();
      p.label = v.name;
      acc.points.push_back(p);
    }
    auto rss = at(v.v, {"memory", "peak_rss_bytes"});
    auto ptok = at(v.v, {"latency", "per_token_s", "p50"});
    if (rss && ptok) {
      ChartPoint p;
      p.x = *rss / (1024.0 * 1024.0);
      p.y = *ptok * 1000;
      auto p90 = at(v.v, {"latency", "per_token_s", "p90"});
      if (p90) {
        p.y_lo = p.y;
        p.y_hi = *p90 * 1000;
      }
      p.series = v.name;
      p.label = v.name;
      lm.points.push_back(p);
    }
  }
  std::string svg1 = svg_scatter(acc), svg2 = svg_scatter(lm);
  doc.html += "<div class=\"charts\">" + svg1 + "\n" + svg2 + "</div>\n";
  doc.html += "<p class=\"meta\">Error bars: 95% CI (accuracy chart), p50 to p90 (latency chart).</p>\n";
  doc.md += "The HTML report holds two charts: accuracy vs bits per weight (one point per variant and accuracy-type "
            "task, 95% CI bars) and per-token latency p50 vs peak RSS (one point per variant).\n\n";
  Table ct{{"variant", "bits/weight", "peak RSS (MiB)", "per-token p50 (ms)"}, {}};
  for (auto& v : variants) {
    auto rss = at(v.v, {"memory", "peak_rss_bytes"});
    ct.rows.push_back({v.name, show_num(at(v.v, {"weights", "bits_per_weight"}), "{:.2f}"),
                       rss ? fmt::format("{:.1f}", *rss / (1024.0 * 1024.0)) : "n/a",
                       show_num(at(v.v, {"latency", "per_token_s", "p50"}).has_value()
                                    ? std::optional<double>(*at(v.v, {"latency", "per_token_s", "p50"}) * 1000)
                                    : std::nullopt,
                                "{:.3g}")});
  }
  doc.md += ct.md() + "\n";

  // --- published vs ours ---------------------------------------------------------------------
  if (published) {
    doc.h2("Published vs ours: " + published->model);
    doc.p("Source: " + published->source + (published->note.empty() ? "" : ". " + published->note));
    Table pub{{"benchmark", "published", "g4u task"}, {}};
    for (auto& v : variants) pub.head.push_back(v.name);
    pub.head.push_back("source");
    for (const PublishedScore& e : published->entries) {
      std::string pv = e.unit == "percent" ? fmt::format("{:g}%", e.value) : fmt::format("{:g}", e.value);
      if (!e.higher_is_better) pv += " (lower is better)";
      if (!e.verified) pv += " [unverified]";
      std::vector<std::string> row{e.benchmark, pv, e.task.empty() ? "-" : e.task};
      for (auto& v : variants) {
        const json* t = e.task.empty() ? nullptr : find_task(v, e.task);
        if (!t) {
          row.push_back(e.task.empty() ? "-" : "not run");
          continue;
        }
        auto ours = num((*t)["score"]);
        const std::string metric = (*t)["metric"].get<std::string>();
        auto conv = ours ? to_published_unit(*ours, metric, e.unit) : std::nullopt;
        if (!conv) {
          row.push_back("n/a (metric " + (*t)["metric"].get<std::string>() + ")");
          continue;
        }
        auto shown = [&](double x) { return e.unit == "percent" ? fmt::format("{:.1f}%", x) : fmt::format("{:.4g}", x); };
        std::string cell = shown(*conv) + fmt::format(" (n={})", (*t)["n"].get<int64_t>());
        cell += "; published - ours " + (e.unit == "percent" ? fmt::format("{:+.1f} pp", e.value - *conv)
                                                             : fmt::format("{:+.4g}", e.value - *conv));
        const json& ci = (*t)["ci95"];
        auto lo = ci.is_array() ? to_published_unit(ci[0].get<double>(), metric, e.unit) : std::nullopt;
        auto hi = ci.is_array() ? to_published_unit(ci[1].get<double>(), metric, e.unit) : std::nullopt;
        if (lo && hi)
          cell += fmt::format("; {} our 95% CI [{}, {}]", e.value >= *lo && e.value <= *hi ? "inside" : "outside",
                              shown(*lo), shown(*hi));
        row.push_back(cell);
      }
      row.push_back(e.source + (e.note.empty() ? "" : "; " + e.note));
      pub.rows.push_back(row);
    }
    doc.table(pub);
  }

  // --- findings (shown first) ------------------------------------------------------------------
  Doc findings;
  findings_section(findings, variants, base_idx, paired, summary);
  doc.md.insert(findings_md, findings.md);
  doc.html.insert(findings_html, findings.html);

  // --- environment ----------------------------------------------------------------------------
  doc.h2("Environment and configuration");
  Table et{{"results file", "variants", "config hash", "git commit", "LibTorch", "CPU", "threads", "GPU", "seeds", "run"}, {}};
  for (size_t i = 0; i < o.results.size(); ++i) {
    const json& d = *docs[i];
    const json& e = d["environment"];
    std::string names;
    for (const json& v : d["variants"]) names += (names.empty() ? "" : ", ") + v["name"].get<std::string>();
    auto s = [&](const char* k) { return e.contains(k) ? (e[k].is_string() ? e[k].get<std::string>() : e[k].dump()) : "n/a"; };
    std::string commit = s("git_commit") + (e.value("git_dirty", false) ? " (dirty)" : "");
    const json& run = d["run"];
    std::string runs = fmt::format("{} samples, shards {}{}", run.value("logged", size_t(0)),
                                   run.contains("shards") ? run["shards"].dump() : "?",
                                   run.value("complete", false) ? "" : ", INCOMPLETE");
    et.rows.push_back({o.results[i], names, d["config_hash"].get<std::string>(), commit, s("libtorch_version"),
                       s("cpu_model"), s("threads"), s("gpu"), s("seeds"), runs});
  }
  doc.table(et);
  for (size_t i = 0; i < o.results.size(); ++i) {
    std::string cfg = (*docs[i])["config"].dump(2);
    doc.md += "<details><summary>config of " + o.results[i] + "</summary>\n\n```json\n" + cfg + "\n```\n</details>\n\n";
    doc.html += "<details><summary>config of " + xml_escape(o.results[i]) + "</summary><pre>" + xml_escape(cfg) +
                "</pre></details>\n";
  }
  doc.html += "</body></html>\n";
  return {doc.md, doc.html, summary};
}

json write_report(const ReportOptions& o) {
  if (o.out.empty()) throw_input("--out: required");
  Report r = build_report(o);
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw_input("--out {}: cannot create folder: {}", o.out, ec.message());
  write_file_atomic((fs::path(o.out) / "report.md").string(), r.markdown);
  write_file_atomic((fs::path(o.out) / "report.html").string(), r.html);
  json s = r.summary;
  s["report_md"] = (fs::path(o.out) / "report.md").string();
  s["report_html"] = (fs::path(o.out) / "report.html").string();
  return s;
}

}  // namespace g4u::reports
