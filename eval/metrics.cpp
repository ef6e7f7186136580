#include "eval/metrics.h"

#include "eval/edit_distance.h"
#include "eval/pynum.h"
#include "eval/sacrebleu.h"
#include "base/error.h"
#include "base/json_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

namespace g4u::eval {

using nlohmann::json;

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

std::vector<EvalItem> read_eval_jsonl(const std::string& path, const Metric& metric) {
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
    json j = parse_json_object_line(text, where);
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
    if (metric.check_line) metric.check_line(it);
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
// Aggregations
// ================================================================================================

MetricContext::MetricContext(const ScoreOptions& opt) : options(opt) {
  if (opt.mmmu_random_fallback) random_fallback = std::make_unique<PyRandom>(opt.mmmu_seed);
}

Aggregator mean_of_items() {
  return [](const std::vector<MetricLine>& lines, Evaluation& e) {
    for (const ItemResult& r : e.items) e.unit_scores.push_back(*r.score);
    e.units = e.items.size();
    bool all_clustered =
        std::all_of(lines.begin(), lines.end(), [](const MetricLine& l) { return l.item->cluster.has_value(); });
    if (all_clustered)
      for (const MetricLine& l : lines) e.unit_clusters.push_back(*l.item->cluster);
    e.score = mean(e.unit_scores);
  };
}

Aggregator circular_groups() {
  return [](const std::vector<MetricLine>& lines, Evaluation& e) {
    std::vector<std::string> order;
    std::map<std::string, std::pair<bool, size_t>> groups;  // all correct, rows
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& group = *lines[i].item->group;
      auto [it, fresh] = groups.try_emplace(group, true, 0);
      if (fresh) order.push_back(group);
      it->second.first = it->second.first && *e.items[i].score == 1.0;
      it->second.second++;
    }
    double vanilla = 0;
    for (const ItemResult& r : e.items) vanilla += *r.score;
    for (const std::string& g : order) e.unit_scores.push_back(groups[g].first ? 1.0 : 0.0);
    e.units = order.size();
    e.score = mean(e.unit_scores);
    e.extras["groups"] = order.size();
    e.extras["rows"] = lines.size();
    e.extras["vanilla_accuracy"] = vanilla / static_cast<double>(lines.size());
    e.extras["headline"] = "circular";
  };
}

namespace {
void add_statistics(CorpusStatistics& sum, const CorpusStatistics& line) {
  if (sum.empty()) sum.assign(line.size(), 0.0);
  G4U_CHECK(sum.size() == line.size(), "corpus statistics of different lengths ({} vs {})", sum.size(), line.size());
  for (size_t k = 0; k < line.size(); ++k) sum[k] += line[k];
}
}  // namespace

CorpusStatistics summed_statistics(const Evaluation& e) {
  CorpusStatistics sum;
  for (const ItemResult& r : e.items) add_statistics(sum, r.statistics);
  return sum;
}

Aggregator corpus_statistic(CorpusScore score_of_sum) {
  return [score_of_sum](const std::vector<MetricLine>& lines, Evaluation& e) {
    e.units = e.items.size();
    std::optional<double> score = score_of_sum(summed_statistics(e));
    if (!score)
      throw_input("{}: every reference is empty after normalization: {} is undefined", lines.at(0).item->where,
                  e.metric);
    e.score = *score;
    auto per_line = std::make_shared<std::vector<CorpusStatistics>>();
    for (const ItemResult& r : e.items) per_line->push_back(r.statistics);
    e.statistic = [per_line, score_of_sum](const std::vector<uint32_t>& resample) {
      CorpusStatistics sum;
      for (uint32_t k : resample) add_statistics(sum, (*per_line)[k]);
      return score_of_sum(sum).value_or(0.0);
    };
  };
}

// ================================================================================================
// Records
// ================================================================================================
namespace {

json text_json(const U32& s) { return utf8_encode(s); }
json letter_json(const std::string& letter) { return letter.empty() ? json(nullptr) : json(letter); }

std::vector<U32> letters_for(size_t n) {
  std::vector<U32> out;
  for (size_t i = 0; i < n; ++i) out.push_back(U32(1, static_cast<char32_t>(U'A' + i)));
  return out;
}

// References given as option letters (taken as they are in the file), or as option texts (mapped
// to their letter after the same normalization as the choices).
std::set<U32> gold_letters(const MetricLine& line, const MetricContext& context) {
  std::set<U32> out;
  std::vector<U32> letters = letters_for(line.choices.size());
  for (const U32& r : line.item->references) {
    U32 t = py_strip(r);
    if (std::find(letters.begin(), letters.end(), t) != letters.end()) {
      out.insert(t);
      continue;
    }
    auto c = std::find(line.choices.begin(), line.choices.end(), context.normalize(r));
    if (c != line.choices.end()) out.insert(letters[static_cast<size_t>(c - line.choices.begin())]);
    else
      throw_input("{}: field 'references': '{}' is neither an option letter (A-{}) nor one of the choices",
                  line.item->where, utf8_encode(r), utf8_encode(letters.empty() ? U32(U"?") : letters.back()));
  }
  return out;
}

// 1 when the extracted letter is a gold one. The references are checked (InputError) on every
// line, also where nothing was extracted.
double score_letter(const std::string& letter, const MetricLine& line, const MetricContext& context) {
  std::set<U32> gold = gold_letters(line, context);
  return !letter.empty() && gold.count(u32(letter)) ? 1.0 : 0.0;
}

// 1 when `correct` holds for any reference.
double any_reference(const MetricLine& line, const std::function<bool(const U32& reference)>& correct) {
  return std::any_of(line.references.begin(), line.references.end(), correct) ? 1.0 : 0.0;
}

// --- accuracy-type scorers ---------------------------------------------------------------------

ItemResult score_exact_match(const MetricLine& line, MetricContext&) {
  ItemResult r;
  U32 prediction = py_strip(line.prediction);
  r.score = any_reference(line, [&](const U32& ref) { return prediction == py_strip(ref); });
  r.extracted = text_json(prediction);
  return r;
}

// A letter parser of the MMMU family (mmmu_parse_mc, mmmu_pro_parse_mc) as an item scorer.
using LetterParser = McParse (*)(const U32& response, const std::vector<U32>& choices, PyRandom* fallback);
ItemScorer letter_parser_scorer(LetterParser parse_letter) {
  return [parse_letter](const MetricLine& line, MetricContext& context) {
    ItemResult r;
    McParse parse = parse_letter(line.prediction, line.choices, context.random_fallback.get());
    r.rule = parse.rule;
    r.parsed = parse.rule != "none" && parse.rule != "random-fallback";
    r.extracted = letter_json(parse.letter);
    r.score = score_letter(parse.letter, line, context);
    return r;
  };
}

// MATH-Vision: the official extraction; the gold is the letter (multiple choice, with the option
// text also accepted) or the free-form answer.
ItemResult score_mathvision(const MetricLine& line, MetricContext&) {
  ItemResult r;
  bool any = false;
  MathVisionResult first;  // what the per-item log shows: the comparison with the first reference
  for (size_t k = 0; k < line.references.size(); ++k) {
    MathVisionResult m = mathvision_score(line.prediction, line.references[k], line.choices);
    if (k == 0) first = m;
    any = any || m.correct;
  }
  r.score = any ? 1.0 : 0.0;
  r.rule = first.rule;
  r.parsed = !first.answer.empty();
  r.extracted = first.answer.empty() ? json(nullptr) : text_json(first.answer);
  return r;
}

ItemResult score_mmmu_open(const MetricLine& line, MetricContext&) {
  ItemResult r;
  std::vector<OpenCandidate> candidates = mmmu_parse_open(line.prediction);
  r.extracted = json::array();
  for (const OpenCandidate& c : candidates) {
    if (std::holds_alternative<double>(c)) {
      double d = std::get<double>(c);
      r.extracted.push_back(std::isfinite(d) ? json(d) : json(py_float_repr(d)));
    } else {
      r.extracted.push_back(text_json(std::get<U32>(c)));
    }
  }
  r.score = mmmu_eval_open(line.references, candidates) ? 1.0 : 0.0;
  return r;
}

ItemResult score_can_infer(const MetricLine& line, MetricContext& context) {
  ItemResult r;
  CanInfer match = can_infer(line.prediction, line.choices);
  r.rule = match.rule;
  r.parsed = !match.letter.empty();
  r.extracted = letter_json(match.letter);
  r.score = score_letter(match.letter, line, context);
  return r;
}

ItemResult score_mmau(const MetricLine& line, MetricContext&) {
  ItemResult r;
  r.score = any_reference(line, [&](const U32& ref) { return mmau_string_match(ref, line.prediction, line.choices); });
  r.extracted = text_json(line.prediction);
  // an output with no word token can never match: count it as a parse failure
  r.parsed = std::any_of(line.prediction.begin(), line.prediction.end(), [](char32_t c) { return py_isword(c); });
  return r;
}

bool mathvista_multi_choice(const EvalItem& item, bool has_choices) {
  return item.question_type ? *item.question_type == "multi_choice" : has_choices;
}

void check_mathvista_line(const EvalItem& it) {
  if (it.question_type && *it.question_type != "multi_choice" && *it.question_type != "free_form")
    throw_input("{}: field 'question_type': expected multi_choice or free_form, got '{}'", it.where, *it.question_type);
  static const std::set<std::string> types = {"text", "integer", "float", "list"};
  if (it.answer_type && !types.count(*it.answer_type))
    throw_input("{}: field 'answer_type': expected text, integer, float or list, got '{}'", it.where, *it.answer_type);
  if (mathvista_multi_choice(it, !it.choices.empty()) && it.choices.empty())
    throw_input("{}: field 'choices': missing (multi_choice question)", it.where);
}

ItemResult score_mathvista(const MetricLine& line, MetricContext&) {
  MathVistaProblem problem;
  problem.multi_choice = mathvista_multi_choice(*line.item, !line.choices.empty());
  problem.answer_type = line.item->answer_type.value_or("text");
  problem.precision = line.item->precision.value_or(0);
  problem.choices = line.choices;
  bool any = false;
  MathVistaResult first;  // what the per-item log shows: the extraction against the first reference
  for (size_t k = 0; k < line.references.size(); ++k) {
    MathVistaResult m = mathvista_score(line.prediction, line.references[k], problem);
    if (k == 0) first = m;
    any = any || m.correct;
  }
  ItemResult r;
  r.score = any ? 1.0 : 0.0;
  r.rule = first.rule;
  r.parsed = first.extraction.has_value();
  r.extracted = first.prediction ? text_json(*first.prediction) : json(nullptr);
  return r;
}

ItemResult score_relaxed_accuracy(const MetricLine& line, MetricContext&) {
  ItemResult r;
  r.score = any_reference(line, [&](const U32& ref) { return relaxed_correctness(line.prediction, ref); });
  r.extracted = text_json(line.prediction);
  return r;
}

// A score of the prediction against the whole reference list, shown as `shown(prediction)`.
using ReferenceListScore = double (*)(const U32& prediction, const std::vector<U32>& references);
ItemScorer against_references(ReferenceListScore score, U32 (*shown)(const U32&)) {
  return [score, shown](const MetricLine& line, MetricContext&) {
    ItemResult r;
    r.score = score(line.prediction, line.references);
    r.extracted = text_json(shown(line.prediction));
    return r;
  };
}

void check_mmbench_line(const EvalItem& it) {
  if (!it.group)
    throw_input("{}: field 'group': missing (mmbench-circular needs `group` or `index` to form question groups)",
                it.where);
}

// --- corpus scorers ----------------------------------------------------------------------------

// WER / CER statistics: substitutions, deletions, insertions, hits.
CorpusStatistics edit_statistics(const EditCounts& c) {
  return {static_cast<double>(c.substitutions), static_cast<double>(c.deletions), static_cast<double>(c.insertions),
          static_cast<double>(c.hits)};
}
std::optional<double> error_rate(const CorpusStatistics& s) {
  double errors = s[0] + s[1] + s[2], reference_length = s[0] + s[1] + s[3];
  if (reference_length == 0) return std::nullopt;
  return errors / reference_length;
}

ItemResult score_error_rate(const MetricLine& line, bool characters) {
  ItemResult r;
  const U32& reference = line.references[0];  // only the first reference is used (see the `note` extra)
  EditCounts c = characters ? align_chars(py_strip(reference), py_strip(line.prediction))
                            : align(py_split(reference), py_split(line.prediction));
  r.statistics = edit_statistics(c);
  r.score = error_rate(r.statistics);
  r.extracted = text_json(characters ? py_strip(line.prediction) : py_join(py_split(line.prediction), U" "));
  return r;
}

ExtrasWriter error_rate_extras(const char* reference_length_key) {
  return [reference_length_key](const std::vector<MetricLine>& lines, const ScoreOptions&, Evaluation& e) {
    CorpusStatistics total = summed_statistics(e);
    auto count = [](double v) { return static_cast<size_t>(v); };
    e.extras["substitutions"] = count(total[0]);
    e.extras["deletions"] = count(total[1]);
    e.extras["insertions"] = count(total[2]);
    e.extras["hits"] = count(total[3]);
    e.extras[reference_length_key] = count(total[0] + total[1] + total[3]);
    if (std::any_of(lines.begin(), lines.end(), [](const MetricLine& l) { return l.item->references.size() > 1; }))
      e.extras["note"] = "only the first reference of each line is used";
  };
}

// sacreBLEU ignores empty references; a line needs one that is not.
size_t nonempty_references(const MetricLine& line, const char* metric) {
  size_t n = 0;
  for (const U32& r : line.references) n += !r.empty();
  if (n == 0)
    throw_input("{}: field 'references': every reference is empty ({} needs one)", line.item->where, metric);
  return n;
}
// sacreBLEU's signature field: the number of references, or "var" when it differs between lines.
std::string nrefs_signature(const std::vector<MetricLine>& lines, const char* metric) {
  std::set<size_t> counts;
  for (const MetricLine& l : lines) counts.insert(nonempty_references(l, metric));
  return counts.size() == 1 ? std::to_string(*counts.begin()) : std::string("var");
}

CorpusStatistics bleu_statistics(const BleuStats& s) {
  CorpusStatistics v = {s.hyp_len, s.ref_len};
  v.insert(v.end(), s.correct.begin(), s.correct.end());
  v.insert(v.end(), s.total.begin(), s.total.end());
  return v;
}
BleuStats bleu_stats(const CorpusStatistics& v) {
  BleuStats s;
  s.hyp_len = v[0];
  s.ref_len = v[1];
  std::copy(v.begin() + 2, v.begin() + 2 + kBleuOrder, s.correct.begin());
  std::copy(v.begin() + 2 + kBleuOrder, v.begin() + 2 + 2 * kBleuOrder, s.total.begin());
  return s;
}

ItemResult score_bleu(const MetricLine& line, MetricContext&) {
  nonempty_references(line, "BLEU");
  BleuStats s = bleu_segment_stats(line.prediction, line.references);
  ItemResult r;
  r.statistics = bleu_statistics(s);
  r.score = bleu_from_stats(s, /*effective_order=*/true).score;
  r.extracted = text_json(tokenize_13a(py_rstrip(line.prediction)));
  return r;
}

void bleu_extras(const std::vector<MetricLine>& lines, const ScoreOptions&, Evaluation& e) {
  BleuStats total = bleu_stats(summed_statistics(e));
  BleuScore b = bleu_from_stats(total);
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
  e.extras["signature"] = fmt::format("nrefs:{}|case:mixed|eff:no|tok:13a|smooth:exp", nrefs_signature(lines, "BLEU"));
  e.extras["per_item_note"] = "per-item scores are sentence BLEU with effective order (sacrebleu.sentence_bleu)";
}

ChrfStats chrf_stats(const CorpusStatistics& v) {
  ChrfStats s;
  std::copy(v.begin(), v.end(), s.v.begin());
  return s;
}

ItemResult score_chrf(const MetricLine& line, MetricContext&) {
  nonempty_references(line, "chrF");
  ChrfStats s = chrf_segment_stats(line.prediction, line.references);
  ItemResult r;
  r.statistics.assign(s.v.begin(), s.v.end());
  r.score = chrf_from_stats(s);
  r.extracted = text_json(line.prediction);
  return r;
}

// --- record builders ---------------------------------------------------------------------------

Metric accuracy_metric(std::string name, std::string description, ItemScorer score_item) {
  Metric m;
  m.name = std::move(name);
  m.description = std::move(description);
  m.score_item = std::move(score_item);
  m.aggregate = mean_of_items();
  return m;
}

Metric choice_metric(std::string name, std::string description, ItemScorer score_item) {
  Metric m = accuracy_metric(std::move(name), std::move(description), std::move(score_item));
  m.needs_choices = true;
  return m;
}

Metric corpus_metric(std::string name, std::string description, ItemScorer score_item, CorpusScore score_of_sum) {
  Metric m;
  m.name = std::move(name);
  m.description = std::move(description);
  m.corpus = true;
  m.score_item = std::move(score_item);
  m.aggregate = corpus_statistic(std::move(score_of_sum));
  return m;
}

// WER or CER: edit counts over words or over code points.
Metric error_rate_metric(std::string name, std::string description, bool characters) {
  Metric m = corpus_metric(
      std::move(name), std::move(description),
      [characters](const MetricLine& line, MetricContext&) { return score_error_rate(line, characters); }, error_rate);
  m.lower_is_better = true;
  m.add_extras = error_rate_extras(characters ? "ref_chars" : "ref_words");
  return m;
}

Registry<Metric> build_metric_registry() {
  Registry<Metric> r("metric");
  r.add(accuracy_metric("exact-match",
                        "prediction.strip() == reference.strip() for any reference (after --normalizer)",
                        score_exact_match));
  auto fallback_extras = [](const std::vector<MetricLine>&, const ScoreOptions& opt, Evaluation& e) {
    e.extras["fallback"] = opt.mmmu_random_fallback ? fmt::format("random (python random.seed({}))", opt.mmmu_seed)
                                                    : std::string("none (unparsed = wrong)");
  };
  {
    Metric m = choice_metric("mmmu-mc",
                             "MMMU official multiple-choice letter parser; correct if the letter is a reference",
                             letter_parser_scorer(mmmu_parse_mc));
    m.add_extras = fallback_extras;
    r.add(std::move(m));
  }
  {
    Metric m = choice_metric("mmmu-pro",
                             "MMMU-Pro official parser: the one option letter after the last \"Answer:\", else the "
                             "MMMU letter parser; correct if the letter is a reference",
                             letter_parser_scorer(mmmu_pro_parse_mc));
    m.add_extras = fallback_extras;
    r.add(std::move(m));
  }
  r.add(accuracy_metric(
      "mmmu-open", "MMMU official open-answer parser (indicator tails, numbers to 2 decimals, substring match)",
      score_mmmu_open));
  r.add(choice_metric("can-infer",
                      "VLMEvalKit can_infer letter/text matching; correct if the letter is a reference",
                      score_can_infer));
  r.add(choice_metric("mmau", "MMAU official token-set string match against the answer text", score_mmau));
  {
    Metric m = accuracy_metric("mathvista",
                               "MathVista quick/rule-based extraction + official normalisation (no LLM judge)",
                               score_mathvista);
    m.check_line = check_mathvista_line;
    m.add_extras = [](const std::vector<MetricLine>&, const ScoreOptions&, Evaluation& e) {
      e.extras["extraction"] =
          "quick paths + rule-based (can_infer letter / last number / last list); the LLM extractor of the "
          "official evaluator is not available offline";
    };
    r.add(std::move(m));
  }
  {
    Metric m = accuracy_metric("mathvision",
                               "MATH-Vision official answer extraction (letter patterns, answer phrases, \\boxed{}) and "
                               "is_equal without latex2sympy (strings, numbers and fractions to 2 decimals)",
                               score_mathvision);
    m.add_extras = [](const std::vector<MetricLine>&, const ScoreOptions&, Evaluation& e) {
      e.extras["equivalence"] = "string / numeric to 2 decimals; latex2sympy symbolic equivalence not available offline";
    };
    r.add(std::move(m));
  }
  r.add(accuracy_metric("relaxed-accuracy",
                        "ChartQA relaxed accuracy (5 % relative tolerance, else case-insensitive equality)",
                        score_relaxed_accuracy));
  r.add(accuracy_metric("anls", "ANLS, lmms-eval/VLMEvalKit variant (raw-length denominator, similarity >= 0.5 kept)",
                        against_references([](const U32& p, const std::vector<U32>& g) { return anls_harness(p, g); },
                                           anls_normalize)));
  r.add(accuracy_metric("anls-official", "ANLS, official RRC definition (normalized lengths, NL < 0.5)",
                        against_references([](const U32& p, const std::vector<U32>& g) { return anls_official(p, g); },
                                           anls_normalize)));
  r.add(accuracy_metric("vqa-accuracy", "VQA accuracy, EvalAI processing, 10-choose-9 averaged min(1, matches/3)",
                        against_references(vqa_accuracy, vqa_normalize)));
  {
    Metric m = choice_metric("mmbench-circular", "MMBench CircularEval over question groups (can_infer per rotation)",
                             score_can_infer);
    m.check_line = check_mmbench_line;
    m.aggregate = circular_groups();
    r.add(std::move(m));
  }
  r.add(error_rate_metric("wer", "corpus word error rate (S+D+I)/N as a fraction", /*characters=*/false));
  r.add(error_rate_metric("cer", "corpus character error rate (code points, spaces kept as characters) as a fraction",
                          /*characters=*/true));
  {
    Metric m = corpus_metric("bleu", "sacreBLEU corpus BLEU (13a, exp smoothing, 0-100)", score_bleu,
                             [](const CorpusStatistics& s) { return bleu_from_stats(bleu_stats(s)).score; });
    m.points_100 = true;
    m.add_extras = bleu_extras;
    r.add(std::move(m));
  }
  {
    Metric m = corpus_metric("chrf", "sacreBLEU corpus chrF2 (char 6-grams, beta 2, 0-100)", score_chrf,
                             [](const CorpusStatistics& s) { return chrf_from_stats(chrf_stats(s)); });
    m.points_100 = true;
    m.add_extras = [](const std::vector<MetricLine>& lines, const ScoreOptions&, Evaluation& e) {
      e.extras["signature"] =
          fmt::format("nrefs:{}|case:mixed|eff:yes|nc:6|nw:0|space:no", nrefs_signature(lines, "chrF"));
    };
    r.add(std::move(m));
  }
  return r;
}

}  // namespace

const Registry<Metric>& metric_registry() {
  static const Registry<Metric> registry = build_metric_registry();
  return registry;
}

// ================================================================================================
// Evaluation
// ================================================================================================

Evaluation evaluate(const std::string& metric_name, const std::vector<EvalItem>& items, const ScoreOptions& opt) {
  const Metric& metric = find_metric(metric_name);
  G4U_CHECK(!items.empty(), "evaluate: no items");
  Evaluation e;
  e.metric = metric.name;
  e.corpus = metric.corpus;
  MetricContext context(opt);

  std::vector<MetricLine> lines;
  lines.reserve(items.size());
  for (const EvalItem& it : items) {
    StrippedOutput so = strip_reasoning(it.prediction, opt.reasoning);
    if (so.truncated) ++e.truncated_reasoning;
    MetricLine line;
    line.item = &it;
    line.prediction = context.normalize(so.text);
    for (const U32& r : it.references) line.references.push_back(context.normalize(r));
    for (const U32& c : it.choices) line.choices.push_back(context.normalize(c));
    lines.push_back(std::move(line));
  }

  for (const MetricLine& line : lines) {
    ItemResult r = metric.score_item(line, context);
    if (!r.parsed) ++e.parse_failures;
    e.items.push_back(std::move(r));
  }
  metric.aggregate(lines, e);
  if (metric.add_extras) metric.add_extras(lines, opt, e);
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
    // Right/wrong items: the Wilson interval (a normal one passes 100 % near perfect scores).
    if (all_binary(e.unit_scores)) {
      Interval ci = wilson_ci95(e.score, e.unit_scores.size());
      j["ci95"] = {ci.lo, ci.hi};
      j["ci95_method"] = "wilson";
    } else if (std::isfinite(se)) {
      Interval ci = normal_ci95(e.score, se);
      j["ci95"] = {ci.lo, ci.hi};
      j["ci95_method"] = "normal";
    } else {
      j["ci95"] = nullptr;
      j["ci95_method"] = nullptr;
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
