#include "model/text/tokenizer_json.h"

#include "base/error.h"
#include "base/json_util.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>
#include <map>
#include <unordered_map>

namespace g4u::model {
namespace tokenizer_json_detail {

using nlohmann::json;

// Keys and context are views: gcc >= 13 warns (-Wdangling-reference) about a returned reference when a
// temporary std::string is bound to a reference parameter, although the result refers into `o`.
const json& member(const json& o, std::string_view key, std::string_view where) {
  auto it = o.find(key);
  if (it == o.end()) throw_input("{}.{}: missing required field", where, key);
  return *it;
}

const json& object_member(const json& o, std::string_view key, std::string_view where) {
  const json& v = member(o, key, where);
  if (!v.is_object()) throw_input("{}.{}: expected an object, got {}", where, key, v.type_name());
  return v;
}

std::string string_member(const json& o, const std::string& key, const std::string& where) {
  const json& v = member(o, key, where);
  if (!v.is_string()) throw_input("{}.{}: expected a string, got {}", where, key, v.type_name());
  return v.get<std::string>();
}

bool bool_member(const json& o, const std::string& key, const std::string& where, bool def) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return def;
  if (!it->is_boolean()) throw_input("{}.{}: expected true or false, got {}", where, key, it->dump());
  return it->get<bool>();
}

int64_t int_member(const json& o, const std::string& key, const std::string& where) {
  const json& v = member(o, key, where);
  if (!v.is_number_integer()) throw_input("{}.{}: expected an integer, got {}", where, key, v.dump());
  return v.get<int64_t>();
}

std::string type_of(const json& o, const std::string& where) {
  if (!o.is_object()) throw_input("{}: expected an object, got {}", where, o.type_name());
  return string_member(o, "type", where);
}

// {"String": "..."}; a {"Regex": ...} pattern is not supported.
std::string literal_pattern(const json& o, const std::string& where) {
  const json& p = object_member(o, "pattern", where);
  if (p.contains("Regex"))
    throw_input("{}.pattern: Regex patterns are not supported (only {{\"String\": ...}})", where);
  std::string s = string_member(p, "String", where + ".pattern");
  if (s.empty()) throw_input("{}.pattern.String: empty pattern", where);
  return s;
}

void parse_normalizer(const json& n, const std::string& where, std::vector<BpeNormalizerStep>& out) {
  if (n.is_null()) return;
  std::string type = type_of(n, where);
  if (type == "Sequence") {
    const json& list = member(n, "normalizers", where);
    if (!list.is_array()) throw_input("{}.normalizers: expected an array", where);
    for (size_t i = 0; i < list.size(); ++i)
      parse_normalizer(list[i], fmt::format("{}.normalizers[{}]", where, i), out);
  } else if (type == "Replace") {
    out.push_back(BpeNormalizerStep{BpeNormalizerStep::Kind::kReplace, literal_pattern(n, where),
                                   string_member(n, "content", where), false, false});
  } else if (type == "Prepend") {
    out.push_back(BpeNormalizerStep{BpeNormalizerStep::Kind::kPrepend, "", string_member(n, "prepend", where), false,
                                   false});
  } else if (type == "Strip") {
    BpeNormalizerStep s;
    s.kind = BpeNormalizerStep::Kind::kStrip;
    s.left = bool_member(n, "strip_left", where, true);
    s.right = bool_member(n, "strip_right", where, true);
    out.push_back(s);
  } else {
    throw_input("{}.type: normalizer '{}' is not supported (supported: Replace with a String pattern, "
                "Prepend, Strip, Sequence)", where, type);
  }
}

BpeSplitBehavior parse_behavior(const json& n, const std::string& where) {
  static const std::map<std::string, BpeSplitBehavior> kNames = {
      {"Removed", BpeSplitBehavior::kRemoved},
      {"Isolated", BpeSplitBehavior::kIsolated},
      {"MergedWithPrevious", BpeSplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", BpeSplitBehavior::kMergedWithNext},
      {"Contiguous", BpeSplitBehavior::kContiguous},
  };
  std::string b = string_member(n, "behavior", where);
  auto it = kNames.find(b);
  if (it == kNames.end())
    throw_input("{}.behavior: unknown '{}' (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)",
                where, b);
  return it->second;
}

void parse_pre_tokenizer(const json& n, const std::string& where, std::vector<BpeSplitStep>& out) {
  if (n.is_null()) return;
  std::string type = type_of(n, where);
  if (type == "Sequence") {
    const json& list = member(n, "pretokenizers", where);
    if (!list.is_array()) throw_input("{}.pretokenizers: expected an array", where);
    for (size_t i = 0; i < list.size(); ++i)
      parse_pre_tokenizer(list[i], fmt::format("{}.pretokenizers[{}]", where, i), out);
  } else if (type == "Split") {
    BpeSplitStep s;
    s.pattern = literal_pattern(n, where);
    s.behavior = parse_behavior(n, where);
    s.invert = bool_member(n, "invert", where, false);
    out.push_back(s);
  } else {
    throw_input("{}.type: pre-tokenizer '{}' is not supported (supported: Split with a String pattern, "
                "Sequence)", where, type);
  }
}

void parse_decoder(const json& n, const std::string& where, std::vector<BpeDecoderStep>& out) {
  std::string type = type_of(n, where);
  if (type == "Sequence") {
    const json& list = member(n, "decoders", where);
    if (!list.is_array()) throw_input("{}.decoders: expected an array", where);
    for (size_t i = 0; i < list.size(); ++i) parse_decoder(list[i], fmt::format("{}.decoders[{}]", where, i), out);
  } else if (type == "Replace") {
    out.push_back(BpeDecoderStep{BpeDecoderStep::Kind::kReplace, literal_pattern(n, where),
                                string_member(n, "content", where), 0, 0});
  } else if (type == "ByteFallback") {
    out.push_back(BpeDecoderStep{BpeDecoderStep::Kind::kByteFallback, "", "", 0, 0});
  } else if (type == "Fuse") {
    out.push_back(BpeDecoderStep{BpeDecoderStep::Kind::kFuse, "", "", 0, 0});
  } else if (type == "Strip") {
    BpeDecoderStep s;
    s.kind = BpeDecoderStep::Kind::kStrip;
    s.content = string_member(n, "content", where);
    s.start = int_member(n, "start", where);
    s.stop = int_member(n, "stop", where);
    out.push_back(s);
  } else {
    throw_input("{}.type: decoder '{}' is not supported (supported: Replace with a String pattern, "
                "ByteFallback, Fuse, Strip, Sequence)", where, type);
  }
}

}  // namespace tokenizer_json_detail
using namespace tokenizer_json_detail;

BpeVocab parse_tokenizer_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw_input("{}: expected a JSON object, got {}", where, j.type_name());
  BpeVocab v;
  if (j.contains("version")) {
    const json& ver = j["version"];
    if (!ver.is_string() || ver.get<std::string>() != "1.0")
      throw_input("{}: version: unknown tokenizer.json version {} (expected \"1.0\")", where, ver.dump());
  }

  // ---- model ----
  const std::string mw = where + ": model";
  if (!j.contains("model")) throw_input("{}: model: missing required field", where);
  const json& model = j["model"];
  if (!model.is_object()) throw_input("{}: expected an object, got {}", mw, model.type_name());
  std::string type = model.contains("type") ? type_of(model, mw) : "";
  if (type != "BPE")
    throw_input("{}.type: model type '{}' is not supported (only BPE)", mw, type.empty() ? "(none)" : type);
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
    throw_input("{}.dropout: BPE dropout is not supported", mw);
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(k) && !model[k].is_null() && !(model[k].is_string() && model[k].get<std::string>().empty()))
      throw_input("{}.{}: not supported (must be null)", mw, k);
  }
  const json& vocab = object_member(model, "vocab", mw);
  std::map<int64_t, std::string> by_id;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      throw_input("{}.vocab[\"{}\"]: expected a non-negative integer id, got {}", mw, it.key(), it.value().dump());
    int64_t id = it.value().get<int64_t>();
    auto [pos, fresh] = by_id.emplace(id, it.key());
    if (!fresh) throw_input("{}.vocab: id {} is given to both '{}' and '{}'", mw, id, pos->second, it.key());
  }
  if (by_id.empty()) throw_input("{}.vocab: empty vocabulary", mw);
  const size_t model_size = by_id.size();
  // Model ids are 0..n-1 (HF allows gaps; g4u's embedding rows are indexed by id).
  if (by_id.rbegin()->first != static_cast<int64_t>(model_size) - 1)
    throw_input("{}.vocab: ids must be 0..{} without gaps, but '{}' has id {}", mw, model_size - 1,
                by_id.rbegin()->second, by_id.rbegin()->first);
  std::unordered_map<std::string, int64_t> model_ids;
  for (const auto& [id, p] : by_id) model_ids.emplace(p, id);

  const json& merges = member(model, "merges", mw);
  if (!merges.is_array()) throw_input("{}.merges: expected an array", mw);
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    std::string mwi = fmt::format("{}.merges[{}]", mw, i);
    std::string a, b;
    if (m.is_string()) {
      std::string s = m.get<std::string>();
      if (s.rfind("#version", 0) == 0) continue;  // as HF: a header line, not a merge
      std::tie(a, b) = split_merge_line(s, mwi);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw_input("{}: expected \"a b\" or [\"a\", \"b\"], got {}", mwi, m.dump());
    }
    for (const std::string& piece : {a, b})
      if (!model_ids.count(piece)) throw_input("{}: '{}' is not in model.vocab", mwi, piece);
    if (!model_ids.count(a + b)) throw_input("{}: the merged piece '{}' is not in model.vocab", mwi, a + b);
    v.merges.emplace_back(std::move(a), std::move(b));
  }
  if (model.contains("unk_token") && !model["unk_token"].is_null()) v.unk_token = string_member(model, "unk_token", mw);
  v.fuse_unk = bool_member(model, "fuse_unk", mw, false);
  v.byte_fallback = bool_member(model, "byte_fallback", mw, false);
  v.ignore_merges = bool_member(model, "ignore_merges", mw, false);

  // ---- added tokens, ids as HF's AddedVocabulary gives them ----
  std::map<int64_t, std::string> added_new;  // ids past the model vocabulary
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    const json& list = j["added_tokens"];
    if (!list.is_array()) throw_input("{}: added_tokens: expected an array", where);
    std::unordered_map<std::string, int64_t> added_ids;
    int64_t next_id = static_cast<int64_t>(model_size);
    for (size_t i = 0; i < list.size(); ++i) {
      std::string aw = fmt::format("{}: added_tokens[{}]", where, i);
      const json& t = list[i];
      if (!t.is_object()) throw_input("{}: expected an object", aw);
      BpeAddedToken a;
      a.content = string_member(t, "content", aw);
      int64_t file_id = int_member(t, "id", aw);
      a.special = bool_member(t, "special", aw, false);
      a.normalized = bool_member(t, "normalized", aw, !a.special);
      a.lstrip = bool_member(t, "lstrip", aw, false);
      a.rstrip = bool_member(t, "rstrip", aw, false);
      a.single_word = bool_member(t, "single_word", aw, false);
      if (a.content.empty()) continue;  // HF ignores empty added tokens
      if (auto it = added_ids.find(a.content); it != added_ids.end()) {
        a.id = it->second;
      } else if (auto m = model_ids.find(a.content); m != model_ids.end()) {
        a.id = m->second;
      } else {
        a.id = next_id++;
        if (a.id != file_id)
          throw_input("{}: '{}' is not in model.vocab, so it gets id {}, but the file says {}", aw, a.content,
                      a.id, file_id);
        added_new[a.id] = a.content;
      }
      added_ids[a.content] = a.id;
      // A token added again replaces the earlier entry for its id.
      auto same = std::find_if(v.added_tokens.begin(), v.added_tokens.end(),
                               [&](const BpeAddedToken& x) { return x.id == a.id; });
      if (same != v.added_tokens.end()) *same = a;
      else v.added_tokens.push_back(a);
    }
  }
  // The pieces must cover 0..n-1.
  const int64_t total = static_cast<int64_t>(model_size + added_new.size());
  v.pieces.resize(total);
  for (auto& [id, p] : by_id) v.pieces[id] = p;
  for (auto& [id, p] : added_new) v.pieces[id] = p;

  parse_normalizer(j.contains("normalizer") ? j["normalizer"] : json(), where + ": normalizer", v.normalizer);
  parse_pre_tokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), where + ": pre_tokenizer",
                      v.pre_tokenizer);
  if (j.contains("decoder") && !j["decoder"].is_null()) {
    v.decoder.emplace();
    parse_decoder(j["decoder"], where + ": decoder", *v.decoder);
  }
  return v;
}

BpeVocab read_tokenizer_json(const std::string& path) { return parse_tokenizer_json(read_json_file(path), path); }

}  // namespace g4u::model
