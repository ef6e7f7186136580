#include "eval/metrics.h"

#include "eval/edit_distance.h"
#include "eval/pynum.h"
#include "eval/sacrebleu.h"
#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

namespace g4u::eval {

using nlohmann::json;

// ================================================================================================
// Registry
// ================================================================================================

const std::vector<MetricInfo>& metric_registry() {
  static const std::vector<MetricInfo> r = {
      {"exact-match", "prediction.strip() == reference.strip() for any reference (after --normalizer)", false, false},
      {"mmmu-mc", "MMMU official multiple-choice letter parser; correct if the letter is a reference", false, true},
      {"mmmu-open", "MMMU official open-answer parser (indicator tails, numbers to 2 decimals, substring match)",
       false, false},
      {"can-infer", "VLMEvalKit can_infer letter/text matching; correct if the letter is a reference", false, true},
      {"mmau", "MMAU official token-set string match against the answer text", false, true},
      {"mathvista", "MathVista quick/rule-based extraction + official normalisation (no LLM judge)", false, false},
      {"relaxed-accuracy", "ChartQA relaxed accuracy (5 % relative tolerance, else case-insensitive equality)", false,
       false},
      {"anls", "ANLS, lmms-eval/VLMEvalKit variant (raw-length denominator, similarity >= 0.5 kept)", false, false},
      {"anls-official", "ANLS, official RRC definition (normalized lengths, NL < 0.5)", false, false},
      {"vqa-accuracy", "VQA accuracy, EvalAI processing, 10-choose-9 averaged min(1, matches/3)", false, false},
      {"mmbench-circular", "MMBench CircularEval over question groups (can_infer per rotation)", false, true},
      {"wer", "corpus word error rate (S+D+I)/N as a fraction", true, false},
      {"cer", "corpus character error rate (code points, spaces kept as characters) as a fraction", true, false},
      {"bleu", "sacreBLEU corpus BLEU (13a, exp smoothing, 0-100)", true, false},
      {"chrf", "sacreBLEU corpus chrF2 (char 6-grams, beta 2, 0-100)", true, false},
  };
  return r;
}

std::string metric_names() {
  std::string s;
  for (auto& m : metric_registry()) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

const MetricInfo& metric_info(const std::string& name) {
  for (auto& m : metric_registry())
    if (m.name == name) return m;
  throw_input("unknown metric '{}' (known: {})", name, metric_names());
}

// ================================================================================================
// Input
// ================================================================================================
namespace {

constexpr const char* kBadByteMark = "\xEF\xB7\x90";  // U+FDD0, a noncharacter

// Replaces each byte of an invalid UTF-8 sequence with U+FDD0 so the line still parses and the
// offending field can be named.
std::string mark_invalid_utf8(const std::string& s, bool* had_invalid) {
  std::string out;
  *had_invalid = false;
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    auto r = utf8_decode(std::string_view(s).substr(i), &bad);
    if (r) {
      out.append(s, i, std::string::npos);
      break;
    }
    out.append(s, i, bad);
    out += kBadByteMark;
    *had_invalid = true;
    i += bad + 1;
  }
  return out;
}

bool json_has_mark(const json& j) {
  if (j.is_string()) return j.get<std::string>().find(kBadByteMark) != std::string::npos;
  if (j.is_array() || j.is_object()) {
    for (auto& v : j)
      if (json_has_mark(v)) return true;
  }
  return false;
}

U32 get_text(const json& obj, const char* key, const std::string& where) {
  const json& v = obj.at(key);
  if (!v.is_string()) throw_input("{}: field '{}': expected a string, got {}", where, key, v.type_name());
  return u32(v.get<std::string>());
}

std::vector<U32> get_text_list(const json& obj, const char* key, const std::string& where) {
  const json& v = obj.at(key);
  if (!v.is_array()) throw_input("{}: field '{}': expected a list of strings, got {}", where, key, v.type_name());
  if (v.empty()) throw_input("{}: field '{}': the list is empty", where, key);
  std::vector<U32> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string())
      throw_input("{}: field '{}[{}]': expected a string, got {}", where, key, i, v[i].type_name());
    out.push_back(u32(v[i].get<std::string>()));
  }
  return out;
}

std::string id_string(const json& v, const char* key, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  throw_input("{}: field '{}': expected a string or an integer, got {}", where, key, v.type_name());
}

}  // namespace

std::vector<EvalItem> read_eval_jsonl(const std::string& path, const MetricInfo& metric) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input("{}: cannot open file", path);
  std::vector<EvalItem> items;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string where = fmt::format("{}:{}", path, lineno);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    bool bad_utf8 = false;
    std::string text = mark_invalid_utf8(line, &bad_utf8);
    json j;
    try {
      j = json::parse(text);
    } catch (const json::parse_error& e) {
      throw_input("{}: invalid JSON: {}", where, e.what());
    }
    if (!j.is_object()) throw_input("{}: expected a JSON object, got {}", where, j.type_name());
    if (bad_utf8) {
      for (auto& [k, v] : j.items())
        if (json_has_mark(v)) throw_input("{}: field '{}': invalid UTF-8", where, k);
      throw_input("{}: invalid UTF-8", where);
    }
    EvalItem it;
    it.where = where;
    for (const char* key : {"prediction", "references"})
      if (!j.contains(key) || j[key].is_null()) throw_input("{}: field '{}': missing", where, key);
    it.prediction = get_text(j, "prediction", where);
    it.references = get_text_list(j, "references", where);
    if (j.contains("choices") && !j["choices"].is_null()) it.choices = get_text_list(j, "choices", where);
    else if (metric.needs_choices) throw_input("{}: field 'choices': missing (metric {} needs it)", where, metric.name);
    if (j.contains("cluster") && !j["cluster"].is_null()) it.cluster = id_string(j["cluster"], "cluster", where);
    if (j.contains("group") && !j["group"].is_null()) {
      it.group = id_string(j["group"], "group", where);
    } else if (j.contains("index") && !j["index"].is_null()) {
      if (!j["index"].is_number_integer()) throw_input("{}: field 'index': expected an integer", where);
      it.group = std::to_string(j["index"].get<int64_t>() % 1000000);  // MMBench circular copies
    }
    for (const char* key : {"question_type", "answer_type"}) {
      if (j.contains(key) && !j[key].is_null()) {
        if (!j[key].is_string()) throw_input("{}: field '{}': expected a string", where, key);
        (std::string(key) == "question_type" ? it.question_type : it.answer_type) = j[key].get<std::string>();
      }
    }
    if (j.contains("precision") && !j["precision"].is_null()) {
      const json& p = j["precision"];
      if (p.is_number_integer()) it.precision = static_cast<int>(p.get<int64_t>());
      else if (p.is_number_float() && std::floor(p.get<double>()) == p.get<double>() && std::fabs(p.get<double>()) < 100)
        it.precision = static_cast<int>(p.get<double>());
      else throw_input("{}: field 'precision': expected an integer, got {}", where, p.dump());
    }
    if (metric.name == "mmbench-circular" && !it.group)
      throw_input("{}: field 'group': missing (mmbench-circular needs `group` or `index` to form question groups)",
                  where);
    if (metric.name == "mathvista") {
      if (it.question_type && *it.question_type != "multi_choice" && *it.question_type != "free_form")
        throw_input("{}: field 'question_type': expected multi_choice or free_form, got '{}'", where, *it.question_type);
      static const std::set<std::string> types = {"text", "integer", "float", "list"};
      if (it.answer_type && !types.count(*it.answer_type))
        throw_input("{}: field 'answer_type': expected text, integer, float or list, got '{}'", where, *it.answer_type);
      bool mc = it.question_type ? *it.question_type == "multi_choice" : !it.choices.empty();
      if (mc && it.choices.empty()) throw_input("{}: field 'choices': missing (multi_choice question)", where);
    }
    items.push_back(std::move(it));
  }
  if (items.empty()) throw_input("{}: no predictions (the file is empty)", path);
  return items;
}

// ================================================================================================
// Single-item scorers
// ================================================================================================

bool relaxed_correctness(const U32& prediction, const U32& target, double max_relative_change) {
  auto to_float = [](const U32& t) -> std::optional<double> {
    if (!t.empty() && t.back() == '%') {
      auto f = py_float(py_rstrip_chars(t, U"%"));
      if (!f) return std::nullopt;
      return *f / 100.0;
    }
    return py_float(t);
  };
  auto p = to_float(prediction), t = to_float(target);
  if (p && t && *t != 0) {  // `target_float` is truthy: non-zero (NaN is truthy)
    double rel = std::fabs(*p - *t) / std::fabs(*t);
    return rel <= max_relative_change;
  }
  return py_lower(prediction) == py_lower(target);
}

double anls_harness(const U32& prediction, const std::vector<U32>& golds, double threshold) {
  double best = HUGE_VAL;
  U32 det = anls_normalize(prediction);
  size_t plen = py_upper(prediction).size();
  for (const U32& g : golds) {
    U32 gt = anls_normalize(g);
    double dist = static_cast<double>(levenshtein(gt, det));
    double length = static_cast<double>(std::max(py_upper(g).size(), plen));
    double v = length == 0 ? 0.0 : dist / length;
    best = std::min(best, v);
  }
  double r = 1 - best;
  return r < threshold ? 0.0 : r;
}

double anls_official(const U32& prediction, const std::vector<U32>& golds, double threshold) {
  U32 det = anls_normalize(prediction);
  double best = 0;
  for (const U32& g : golds) {
    U32 gt = anls_normalize(g);
    size_t len = std::max(gt.size(), det.size());
    double nl = len == 0 ? 0.0 : static_cast<double>(levenshtein(gt, det)) / static_cast<double>(len);
    double s = nl < threshold ? 1 - nl : 0.0;
    best = std::max(best, s);
  }
  return best;
}

namespace {
// num / den correctly rounded to the nearest double (ties to even); num, den > 0 and small enough
// that num << 60 fits.
double ratio_to_double(unsigned __int128 num, unsigned __int128 den) {
  if (num == 0) return 0.0;
  auto bits = [](unsigned __int128 v) {
    int b = 0;
    while (v) {
      ++b;
      v >>= 1;
    }
    return b;
  };
  int s = 53 - (bits(num) - bits(den));
  for (int attempt = 0; attempt < 4; ++attempt) {
    unsigned __int128 n2 = num, d2 = den;
    if (s >= 0) n2 <<= s;
    else d2 <<= -s;
    unsigned __int128 q = n2 / d2, rem = n2 % d2;
    if (q >= (static_cast<unsigned __int128>(1) << 53)) {
      --s;
      continue;
    }
    if (q < (static_cast<unsigned __int128>(1) << 52)) {
      ++s;
      continue;
    }
    unsigned __int128 twice = rem * 2;
    if (twice > d2 || (twice == d2 && (q & 1))) ++q;
    return std::ldexp(static_cast<double>(static_cast<uint64_t>(q)), -s);
  }
  return static_cast<double>(num) / static_cast<double>(den);
}
}  // namespace

double vqa_accuracy(const U32& prediction, const std::vector<U32>& golds) {
  U32 pred = vqa_normalize(prediction);
  std::vector<U32> g;
  for (const U32& x : golds) g.push_back(vqa_normalize(x));
  size_t k = 0;
  for (const U32& x : g) k += x == pred;
  // acc_i = min(1, float(m_i) / 3) with m_i = matches among the other golds; statistics.mean
  // averages the exact binary values and rounds once: do the same with integers in units of
  // 2^-54 (1/3 and 2/3 as doubles are multiples of it).
  const unsigned __int128 one = static_cast<unsigned __int128>(1) << 54;
  const unsigned __int128 third = 6004799503160661ULL;  // double(1/3) * 2^54
  unsigned __int128 sum = 0;
  for (const U32& x : g) {
    size_t m = k - (x == pred ? 1 : 0);
    sum += m >= 3 ? one : m * third;
  }
  return ratio_to_double(sum, static_cast<unsigned __int128>(g.size()) * one);
}

// ================================================================================================
// Evaluation
// ================================================================================================
namespace {

json text_json(const U32& s) { return utf8_encode(s); }

std::vector<U32> letters_for(size_t n) {
  std::vector<U32> out;
  for (size_t i = 0; i < n; ++i) out.push_back(U32(1, static_cast<char32_t>(U'A' + i)));
  return out;
}

// References given as option letters (taken as they are in the file), or as option texts (mapped
// to their letter after the same normalization as the choices).
std::set<U32> gold_letters(const EvalItem& it, const std::vector<U32>& choices,
                           const std::function<U32(const U32&)>& norm) {
  std::set<U32> out;
  std::vector<U32> letters = letters_for(choices.size());
  for (const U32& r : it.references) {
    U32 t = py_strip(r);
    if (std::find(letters.begin(), letters.end(), t) != letters.end()) {
      out.insert(t);
      continue;
    }
    auto c = std::find(choices.begin(), choices.end(), norm(r));
    if (c != choices.end()) out.insert(letters[static_cast<size_t>(c - choices.begin())]);
    else
      throw_input("{}: field 'references': '{}' is neither an option letter (A-{}) nor one of the choices", it.where,
                  utf8_encode(r), utf8_encode(letters.empty() ? U32(U"?") : letters.back()));
  }
  return out;
}

struct Prepared {
  U32 prediction;
  std::vector<U32> references, choices;
};

}  // namespace

Evaluation evaluate(const std::string& metric, const std::vector<EvalItem>& items, const ScoreOptions& opt) {
  const MetricInfo& info = metric_info(metric);
  Evaluation e;
  e.metric = metric;
  e.corpus = info.corpus;
  G4U_CHECK(!items.empty(), "evaluate: no items");
  auto norm = [&](const U32& s) { return opt.normalize ? opt.normalize(s) : s; };

  std::vector<Prepared> prep;
  for (const EvalItem& it : items) {
    StrippedOutput so = strip_reasoning(it.prediction, opt.reasoning);
    if (so.truncated) ++e.truncated_reasoning;
    Prepared p;
    p.prediction = norm(so.text);
    for (const U32& r : it.references) p.references.push_back(norm(r));
    for (const U32& c : it.choices) p.choices.push_back(norm(c));
    prep.push_back(std::move(p));
  }
  bool all_clustered = std::all_of(items.begin(), items.end(), [](const EvalItem& it) { return it.cluster.has_value(); });

  std::unique_ptr<PyRandom> fallback;
  if (opt.mmmu_random_fallback) fallback = std::make_unique<PyRandom>(opt.mmmu_seed);

  if (!info.corpus) {
    std::vector<std::optional<U32>> circ_letters;  // mmbench-circular rows
    for (size_t i = 0; i < items.size(); ++i) {
      const EvalItem& it = items[i];
      const Prepared& p = prep[i];
      ItemResult r;
      double s = 0;
      if (metric == "exact-match") {
        U32 pred = py_strip(p.prediction);
        for (const U32& ref : p.references) s = std::max(s, pred == py_strip(ref) ? 1.0 : 0.0);
        r.extracted = text_json(pred);
      } else if (metric == "mmmu-mc") {
        McParse mp = mmmu_parse_mc(p.prediction, p.choices, fallback.get());
        std::set<U32> gold = gold_letters(it, p.choices, norm);
        r.rule = mp.rule;
        r.parsed = mp.rule != "none" && mp.rule != "random-fallback";
        r.extracted = mp.letter.empty() ? json(nullptr) : json(mp.letter);
        s = !mp.letter.empty() && gold.count(u32(mp.letter)) ? 1.0 : 0.0;
      } else if (metric == "mmmu-open") {
        std::vector<OpenCandidate> c = mmmu_parse_open(p.prediction);
        json ex = json::array();
        for (auto& x : c) {
          if (std::holds_alternative<double>(x)) {
            double d = std::get<double>(x);
            ex.push_back(std::isfinite(d) ? json(d) : json(py_float_repr(d)));
          } else {
            ex.push_back(text_json(std::get<U32>(x)));
          }
        }
        r.extracted = ex;
        s = mmmu_eval_open(p.references, c) ? 1.0 : 0.0;
      } else if (metric == "can-infer" || metric == "mmbench-circular") {
        CanInfer ci = can_infer(p.prediction, p.choices);
        std::set<U32> gold = gold_letters(it, p.choices, norm);
        r.rule = ci.rule;
        r.parsed = !ci.letter.empty();
        r.extracted = ci.letter.empty() ? json(nullptr) : json(ci.letter);
        s = !ci.letter.empty() && gold.count(u32(ci.letter)) ? 1.0 : 0.0;
      } else if (metric == "mmau") {
        bool any = false;
        for (const U32& ref : p.references) any = any || mmau_string_match(ref, p.prediction, p.choices);
        s = any ? 1.0 : 0.0;
        r.extracted = text_json(p.prediction);
        // an output with no word token can never match: count it as a parse failure
        bool has_word = std::any_of(p.prediction.begin(), p.prediction.end(), [](char32_t c) { return py_isword(c); });
        r.parsed = has_word;
      } else if (metric == "mathvista") {
        MathVistaProblem mp;
        mp.multi_choice = it.question_type ? *it.question_type == "multi_choice" : !p.choices.empty();
        mp.answer_type = it.answer_type ? *it.answer_type : (mp.multi_choice ? "text" : "text");
        mp.precision = it.precision.value_or(0);
        mp.choices = p.choices;
        bool any = false;
        MathVistaResult first;
        for (size_t k = 0; k < p.references.size(); ++k) {
          MathVistaResult mr = mathvista_score(p.prediction, p.references[k], mp);
          if (k == 0) first = mr;
          any = any || mr.correct;
        }
        s = any ? 1.0 : 0.0;
        r.rule = first.rule;
        r.parsed = first.extraction.has_value();
        r.extracted = first.prediction ? text_json(*first.prediction) : json(nullptr);
      } else if (metric == "relaxed-accuracy") {
        for (const U32& ref : p.references) s = std::max(s, relaxed_correctness(p.prediction, ref) ? 1.0 : 0.0);
        r.extracted = text_json(p.prediction);
      } else if (metric == "anls") {
        s = anls_harness(p.prediction, p.references);
        r.extracted = text_json(anls_normalize(p.prediction));
      } else if (metric == "anls-official") {
        s = anls_official(p.prediction, p.references);
        r.extracted = text_json(anls_normalize(p.prediction));
      } else if (metric == "vqa-accuracy") {
        s = vqa_accuracy(p.prediction, p.references);
        r.extracted = text_json(vqa_normalize(p.prediction));
      } else {
        G4U_CHECK(false, "metric {} has no scorer", metric);
      }
      r.score = s;
      if (!r.parsed) ++e.parse_failures;
      e.items.push_back(r);
    }
    if (metric == "mmbench-circular") {
      std::vector<std::string> order;
      std::map<std::string, std::pair<bool, size_t>> groups;  // all correct, rows
      for (size_t i = 0; i < items.size(); ++i) {
        auto [itg, fresh] = groups.try_emplace(*items[i].group, true, 0);
        if (fresh) order.push_back(*items[i].group);
        itg->second.first = itg->second.first && *e.items[i].score == 1.0;
        itg->second.second++;
      }
      double vanilla = 0;
      for (auto& r : e.items) vanilla += *r.score;
      for (auto& g : order) e.unit_scores.push_back(groups[g].first ? 1.0 : 0.0);
      e.units = order.size();
      e.extras["groups"] = order.size();
      e.extras["rows"] = items.size();
      e.extras["vanilla_accuracy"] = vanilla / static_cast<double>(items.size());
      e.extras["headline"] = "circular";
    } else {
      for (auto& r : e.items) e.unit_scores.push_back(*r.score);
      e.units = items.size();
      if (all_clustered)
        for (auto& it : items) e.unit_clusters.push_back(*it.cluster);
    }
    e.score = mean(e.unit_scores);
    if (metric == "mmmu-mc")
      e.extras["fallback"] = opt.mmmu_random_fallback ? fmt::format("random (python random.seed({}))", opt.mmmu_seed)
                                                      : std::string("none (unparsed = wrong)");
    if (metric == "mathvista")
      e.extras["extraction"] =
          "quick paths + rule-based (can_infer letter / last number / last list); the LLM extractor of the "
          "official evaluator is not available offline";
    return e;
  }

  // ---------------- corpus metrics ----------------
  e.units = items.size();
  if (metric == "wer" || metric == "cer") {
    bool chars = metric == "cer";
    auto counts = std::make_shared<std::vector<EditCounts>>();
    EditCounts total;
    for (size_t i = 0; i < items.size(); ++i) {
      const Prepared& p = prep[i];
      EditCounts c;
      if (chars) c = align_chars(py_strip(p.references[0]), py_strip(p.prediction));
      else c = align(py_split(p.references[0]), py_split(p.prediction));
      counts->push_back(c);
      total += c;
      ItemResult r;
      if (c.ref_len() > 0) r.score = static_cast<double>(c.errors()) / static_cast<double>(c.ref_len());
      r.extracted = text_json(chars ? py_strip(p.prediction) : py_join(py_split(p.prediction), U" "));
      e.items.push_back(r);
    }
    if (total.ref_len() == 0)
      throw_input("{}: every reference is empty after normalization: {} is undefined", items[0].where, metric);
    e.score = static_cast<double>(total.errors()) / static_cast<double>(total.ref_len());
    e.statistic = [counts](const std::vector<uint32_t>& idx) {
      double err = 0, n = 0;
      for (uint32_t k : idx) {
        err += static_cast<double>((*counts)[k].errors());
        n += static_cast<double>((*counts)[k].ref_len());
      }
      return n > 0 ? err / n : 0.0;
    };
    e.extras["substitutions"] = total.substitutions;
    e.extras["deletions"] = total.deletions;
    e.extras["insertions"] = total.insertions;
    e.extras["hits"] = total.hits;
    e.extras[chars ? "ref_chars" : "ref_words"] = total.ref_len();
    if (items.size() > 0 && std::any_of(items.begin(), items.end(), [](const EvalItem& it) { return it.references.size() > 1; }))
      e.extras["note"] = "only the first reference of each line is used";
  } else if (metric == "bleu") {
    auto stats = std::make_shared<std::vector<BleuStats>>();
    BleuStats total;
    std::set<size_t> nrefs;
    for (size_t i = 0; i < items.size(); ++i) {
      const Prepared& p = prep[i];
      size_t nonempty = 0;
      for (auto& r : p.references) nonempty += !r.empty();
      if (nonempty == 0) throw_input("{}: field 'references': every reference is empty (BLEU needs one)", items[i].where);
      nrefs.insert(nonempty);
      BleuStats s = bleu_segment_stats(p.prediction, p.references);
      stats->push_back(s);
      total += s;
      ItemResult r;
      r.score = bleu_from_stats(s, /*effective_order=*/true).score;
      r.extracted = text_json(tokenize_13a(py_rstrip(p.prediction)));
      e.items.push_back(r);
    }
    BleuScore b = bleu_from_stats(total);
    e.score = b.score;
    e.statistic = [stats](const std::vector<uint32_t>& idx) {
      BleuStats s;
      for (uint32_t k : idx) s += (*stats)[k];
      return bleu_from_stats(s).score;
    };
    json counts = json::array(), totals = json::array(), precisions = json::array();
    for (int n = 0; n < kBleuOrder; ++n) {
      counts.push_back(static_cast<int64_t>(total.correct[n]));
      totals.push_back(static_cast<int64_t>(total.total[n]));
      precisions.push_back(b.precisions[n]);
    }
    e.extras["counts"] = counts;
    e.extras["totals"] = totals;
    e.extras["precisions"] = precisions;
    e.extras["bp"] = b.bp;
    e.extras["sys_len"] = static_cast<int64_t>(total.hyp_len);
    e.extras["ref_len"] = static_cast<int64_t>(total.ref_len);
    e.extras["signature"] = fmt::format("nrefs:{}|case:mixed|eff:no|tok:13a|smooth:exp",
                                        nrefs.size() == 1 ? std::to_string(*nrefs.begin()) : std::string("var"));
    e.extras["per_item_note"] = "per-item scores are sentence BLEU with effective order (sacrebleu.sentence_bleu)";
  } else if (metric == "chrf") {
    auto stats = std::make_shared<std::vector<ChrfStats>>();
    ChrfStats total;
    std::set<size_t> nrefs;
    for (size_t i = 0; i < items.size(); ++i) {
      const Prepared& p = prep[i];
      size_t nonempty = 0;
      for (auto& r : p.references) nonempty += !r.empty();
      if (nonempty == 0) throw_input("{}: field 'references': every reference is empty (chrF needs one)", items[i].where);
      nrefs.insert(nonempty);
      ChrfStats s = chrf_segment_stats(p.prediction, p.references);
      stats->push_back(s);
      total += s;
      ItemResult r;
      r.score = chrf_from_stats(s);
      r.extracted = text_json(p.prediction);
      e.items.push_back(r);
    }
    e.score = chrf_from_stats(total);
    e.statistic = [stats](const std::vector<uint32_t>& idx) {
      ChrfStats s;
      for (uint32_t k : idx) s += (*stats)[k];
      return chrf_from_stats(s);
    };
    e.extras["signature"] = fmt::format("nrefs:{}|case:mixed|eff:yes|nc:6|nw:0|space:no",
                                        nrefs.size() == 1 ? std::to_string(*nrefs.begin()) : std::string("var"));
  } else {
    G4U_CHECK(false, "corpus metric {} has no scorer", metric);
  }
  return e;
}

namespace {
json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
}  // namespace

json summarize(const Evaluation& e, const ScoreOptions& opt, bool per_item) {
  json j;
  j["metric"] = e.metric;
  j["n"] = e.units;
  j["score"] = num_or_null(e.score);
  if (!e.corpus) {
    double se = clt_stderr(e.unit_scores);
    j["stderr"] = num_or_null(se);
    j["stderr_method"] = "clt";
    if (std::isfinite(se)) {
      Interval ci = normal_ci95(e.score, se);
      j["ci95"] = {ci.lo, ci.hi};
    } else {
      j["ci95"] = nullptr;
    }
    if (!e.unit_clusters.empty()) {
      j["stderr_clustered"] = num_or_null(clustered_stderr(e.unit_scores, e.unit_clusters));
      j["clusters"] = std::set<std::string>(e.unit_clusters.begin(), e.unit_clusters.end()).size();
    }
  } else {
    Bootstrap b = bootstrap(e.items.size(), opt.bootstrap_samples, opt.bootstrap_seed, e.statistic);
    j["stderr"] = num_or_null(b.stderr);
    j["stderr_method"] = "bootstrap";
    j["ci95"] = {b.ci95.lo, b.ci95.hi};
    j["bootstrap"] = {{"samples", b.samples}, {"seed", b.seed}, {"mean", b.mean}, {"half_width", b.half_width}};
  }
  j["parse_failures"] = e.parse_failures;
  j["parse_failure_rate"] = num_or_null(parse_failure_rate(e.parse_failures, e.items.size()));
  j["truncated_reasoning"] = e.truncated_reasoning;
  j["reasoning_tags"] = opt.reasoning.name;
  j["normalizer"] = opt.normalizer;
  for (auto& [k, v] : e.extras.items()) j[k] = v;
  if (per_item) {
    json arr = json::array();
    for (const ItemResult& r : e.items) {
      json o;
      o["score"] = r.score ? num_or_null(*r.score) : json(nullptr);
      o["extracted"] = r.extracted;
      if (!r.rule.empty()) o["rule"] = r.rule;
      if (!r.parsed) o["parsed"] = false;
      arr.push_back(o);
    }
    j["per_item"] = arr;
  }
  return j;
}

json compare(const Evaluation& sys, const Evaluation& base, const ScoreOptions& opt) {
  G4U_CHECK(sys.metric == base.metric, "compare: different metrics");
  if (sys.items.size() != base.items.size())
    throw_input("--baseline: {} lines vs {} in --input: a paired comparison needs the same items in the same order",
                base.items.size(), sys.items.size());
  json j;
  j["baseline_score"] = num_or_null(base.score);
  if (!sys.corpus) {
    if (sys.unit_scores.size() != base.unit_scores.size())
      throw_input("--baseline: {} question groups vs {} in --input", base.unit_scores.size(), sys.unit_scores.size());
    PairedTest t = paired_t_test(sys.unit_scores, base.unit_scores);
    j["method"] = "paired-t";
    j["n"] = t.n;
    j["mean_diff"] = num_or_null(t.mean_diff);
    j["stderr"] = num_or_null(t.stderr);
    j["t"] = std::isnan(t.t) ? json(nullptr) : (std::isinf(t.t) ? json(t.t > 0 ? "inf" : "-inf") : json(t.t));
    j["df"] = t.df;
    j["p_value"] = num_or_null(t.p_value);
    j["ci95"] = std::isfinite(t.ci95.lo) ? json({t.ci95.lo, t.ci95.hi}) : json(nullptr);
  } else {
    PairedBootstrap b = paired_bootstrap(sys.items.size(), opt.bootstrap_samples, opt.bootstrap_seed, sys.statistic,
                                         base.statistic);
    j["method"] = "paired-bootstrap";
    j["n"] = sys.items.size();
    j["mean_diff"] = b.diff;
    j["stderr"] = num_or_null(b.stderr);
    j["p_value"] = b.p_value;
    j["ci95"] = {b.ci95.lo, b.ci95.hi};
    j["samples"] = b.samples;
    j["seed"] = opt.bootstrap_seed;
  }
  return j;
}

}  // namespace g4u::eval
