#include "model/text/bpe.h"

#include "base/error.h"
#include "base/utf8.h"
#include "model/text/special_tokens.h"

#include <fmt/format.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <queue>
#include <unordered_set>

namespace g4u::model {
// Named, not anonymous: unity builds share one translation unit between several sources.
namespace bpe_detail {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of the UTF-8 sequence that starts with byte `b` (valid text assumed).
size_t char_len(unsigned char b) {
  if (b < 0x80) return 1;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  return 4;
}

char32_t code_point_at(std::string_view s, size_t i) {
  auto cp = utf8_decode(s.substr(i, char_len(static_cast<unsigned char>(s[i]))));
  return cp && !cp->empty() ? (*cp)[0] : 0xFFFD;
}

// Rust's char::is_whitespace and regex \s: the Unicode White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Rust regex \w (Unicode): Alphabetic, marks, decimal numbers, connector punctuation, joiners.
bool is_word_char(char32_t c) {
  if (c == 0x200C || c == 0x200D) return true;
  UChar32 u = static_cast<UChar32>(c);
  if (u_hasBinaryProperty(u, UCHAR_ALPHABETIC)) return true;
  int8_t t = u_charType(u);
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK ||
         t == U_DECIMAL_DIGIT_NUMBER || t == U_CONNECTOR_PUNCTUATION;
}

// Start of the last code point before byte offset `end`.
size_t prev_char_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Byte ranges of the non-overlapping occurrences of `pattern` in `s`, left to right, with the
// stretches between them: (begin, end, is_match), covering `s`.
std::vector<std::tuple<size_t, size_t, bool>> literal_matches(std::string_view s, std::string_view pattern) {
  std::vector<std::tuple<size_t, size_t, bool>> out;
  size_t prev = 0, pos = 0;
  while ((pos = s.find(pattern, pos)) != std::string_view::npos) {
    if (pos != prev) out.emplace_back(prev, pos, false);
    out.emplace_back(pos, pos + pattern.size(), true);
    pos += pattern.size();
    prev = pos;
  }
  if (prev != s.size()) out.emplace_back(prev, s.size(), false);
  return out;
}

std::string replace_all(std::string_view s, std::string_view pattern, std::string_view content) {
  std::string out;
  for (const auto& [b, e, m] : literal_matches(s, pattern)) {
    if (m) out += content;
    else out.append(s.data() + b, e - b);
  }
  return out;
}

std::string normalize(std::string_view text, const std::vector<BpeNormalizerStep>& steps) {
  std::string s(text);
  for (const auto& step : steps) {
    switch (step.kind) {
      case BpeNormalizerStep::Kind::kReplace:
        s = replace_all(s, step.pattern, step.content);
        break;
      case BpeNormalizerStep::Kind::kPrepend:
        if (!s.empty()) s = step.content + s;
        break;
      case BpeNormalizerStep::Kind::kStrip: {
        size_t b = 0, e = s.size();
        if (step.left)
          while (b < e && is_white_space(code_point_at(s, b))) b += char_len(static_cast<unsigned char>(s[b]));
        if (step.right)
          while (e > b) {
            size_t p = prev_char_start(s, e);
            if (!is_white_space(code_point_at(s, p))) break;
            e = p;
          }
        s = s.substr(b, e - b);
        break;
      }
    }
  }
  return s;
}

// One pre-tokenizer Split over one word: HF's NormalizedString::split with a literal pattern.
void split_word(std::string_view word, const BpeSplitStep& step, std::vector<std::string>& out) {
  auto matches = literal_matches(word, step.pattern);
  if (step.invert)
    for (auto& m : matches) std::get<2>(m) = !std::get<2>(m);
  std::vector<std::pair<size_t, size_t>> pieces;  // kept ranges
  bool previous_match = false;
  switch (step.behavior) {
    case BpeSplitBehavior::kIsolated:
      for (const auto& [b, e, m] : matches) pieces.emplace_back(b, e);
      break;
    case BpeSplitBehavior::kRemoved:
      for (const auto& [b, e, m] : matches)
        if (!m) pieces.emplace_back(b, e);
      break;
    case BpeSplitBehavior::kContiguous:
      for (const auto& [b, e, m] : matches) {
        if (m == previous_match && !pieces.empty()) pieces.back().second = e;
        else pieces.emplace_back(b, e);
        previous_match = m;
      }
      break;
    case BpeSplitBehavior::kMergedWithPrevious:
      for (const auto& [b, e, m] : matches) {
        if (m && !previous_match && !pieces.empty()) pieces.back().second = e;
        else pieces.emplace_back(b, e);
        previous_match = m;
      }
      break;
    case BpeSplitBehavior::kMergedWithNext:
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        const auto& [b, e, m] = *it;
        if (m && !previous_match && !pieces.empty()) pieces.back().first = b;
        else pieces.emplace_back(b, e);
        previous_match = m;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  for (const auto& [b, e] : pieces)
    if (e > b) out.emplace_back(word.substr(b, e - b));
}

// Added-token contents, found leftmost-longest.
class TokenMatcher {
 public:
  void add(const std::string& pattern, size_t index) {
    if (pattern.empty()) return;
    first_bytes_[static_cast<unsigned char>(pattern[0])] = true;
    if (std::find(lengths_.begin(), lengths_.end(), pattern.size()) == lengths_.end()) {
      lengths_.push_back(pattern.size());
      std::sort(lengths_.rbegin(), lengths_.rend());
    }
    index_.emplace(pattern, index);  // the first token with a pattern keeps it
  }
  bool empty() const { return index_.empty(); }
  // Longest pattern starting at byte i: (length, token index).
  std::optional<std::pair<size_t, size_t>> match_at(std::string_view s, size_t i) const {
    if (!first_bytes_[static_cast<unsigned char>(s[i])]) return std::nullopt;
    for (size_t len : lengths_) {
      if (len > s.size() - i) continue;
      auto it = index_.find(std::string(s.substr(i, len)));
      if (it != index_.end()) return std::make_pair(len, it->second);
    }
    return std::nullopt;
  }

 private:
  std::unordered_map<std::string, size_t> index_;
  std::vector<size_t> lengths_;
  std::array<bool, 256> first_bytes_{};
};

struct Segment {
  std::string_view text;
  int64_t added_id = -1;  // >= 0: this segment is that added token
};

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace bpe_detail
using namespace bpe_detail;

struct BpeEncoder::Impl {
  std::unordered_map<std::string, int32_t> ids;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a, b) -> (rank, merged id)
  std::array<int32_t, 256> byte_ids{};                               // <0xNN> pieces, -1 if absent
  std::unordered_map<int64_t, size_t> added_by_id;                  // id -> index in added_tokens
  std::vector<std::string> added_patterns;                          // as matched (normalized if so)
  std::unordered_set<std::string> special_contents;
  std::unordered_map<std::string, int64_t> special_ids;  // content -> id, the first token wins
  TokenMatcher raw_matcher, normalized_matcher;

  // HF's AddedVocabulary::find_matches over `s`, appended to `out`.
  void find_added(std::string_view s, const TokenMatcher& matcher, const BpeVocab& v,
                  std::vector<Segment>& out) const {
    if (matcher.empty()) {
      out.push_back({s, -1});
      return;
    }
    size_t start_offset = 0, i = 0;
    while (i < s.size()) {
      auto m = matcher.match_at(s, i);
      if (!m) {
        ++i;
        continue;
      }
      size_t start = i, stop = i + m->first;
      i = stop;  // the search resumes after the match, kept or not
      const BpeAddedToken& t = v.added_tokens[m->second];
      if (t.single_word) {
        bool word_before = start > 0 && is_word_char(code_point_at(s, prev_char_start(s, start)));
        bool word_after = stop < s.size() && is_word_char(code_point_at(s, stop));
        if (word_before || word_after) continue;
      }
      if (t.lstrip) {
        size_t p = start;
        while (p > 0) {
          size_t q = prev_char_start(s, p);
          if (!is_white_space(code_point_at(s, q))) break;
          p = q;
        }
        start = std::max(p, start_offset);
      }
      if (t.rstrip)
        while (stop < s.size() && is_white_space(code_point_at(s, stop)))
          stop += char_len(static_cast<unsigned char>(s[stop]));
      start = std::max(start, start_offset);
      if (start_offset < start) out.push_back({s.substr(start_offset, start - start_offset), -1});
      out.push_back({s.substr(start, stop - start), t.id});
      start_offset = stop;
      i = std::max(i, stop);
    }
    if (start_offset < s.size()) out.push_back({s.substr(start_offset), -1});
  }

  // One word through the BPE model (HF's BPE::tokenize).
  void encode_word(std::string_view w, const BpeVocab& v, std::vector<int64_t>& out) const {
    if (w.empty()) return;
    if (v.ignore_merges) {
      auto it = ids.find(std::string(w));
      if (it != ids.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::vector<int32_t> symbols;
    std::optional<int32_t> unk_pending;
    auto unk_id = [&]() -> int32_t {
      auto it = ids.find(*v.unk_token);
      if (it == ids.end()) throw_input("BPE: unk_token '{}' is not in the vocabulary", *v.unk_token);
      return it->second;
    };
    for (size_t i = 0; i < w.size();) {
      size_t n = char_len(static_cast<unsigned char>(w[i]));
      auto it = ids.find(std::string(w.substr(i, n)));
      if (it != ids.end()) {
        if (unk_pending) symbols.push_back(*unk_pending);
        unk_pending.reset();
        symbols.push_back(it->second);
      } else {
        bool handled = false;
        if (v.byte_fallback) {
          bool all = true;
          for (size_t k = 0; k < n; ++k) all = all && byte_ids[static_cast<unsigned char>(w[i + k])] >= 0;
          if (all) {
            // As HF: the byte pieces go in before a pending <unk> is flushed.
            for (size_t k = 0; k < n; ++k) symbols.push_back(byte_ids[static_cast<unsigned char>(w[i + k])]);
            handled = true;
          }
        }
        if (!handled && v.unk_token) {
          if (unk_pending && !v.fuse_unk) symbols.push_back(*unk_pending);
          if (!unk_pending || !v.fuse_unk) unk_pending = unk_id();
        }
      }
      i += n;
    }
    if (unk_pending) symbols.push_back(*unk_pending);
    merge_all(symbols);
    for (int32_t s : symbols) out.push_back(s);
  }

  // Applies merges lowest rank first, leftmost first among equal ranks.
  void merge_all(std::vector<int32_t>& sym) const {
    const size_t n = sym.size();
    if (n < 2 || merges.empty()) return;
    std::vector<int64_t> prev(n), next(n);
    std::vector<bool> alive(n, true);
    for (size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<int64_t>(i) - 1;
      next[i] = i + 1 < n ? static_cast<int64_t>(i + 1) : -1;
    }
    using Entry = std::tuple<int32_t, size_t, int32_t>;  // rank, position, merged id
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
    auto push = [&](size_t pos) {
      if (next[pos] < 0) return;
      auto it = merges.find(pair_key(sym[pos], sym[next[pos]]));
      if (it != merges.end()) queue.emplace(it->second.first, pos, it->second.second);
    };
    for (size_t i = 0; i + 1 < n; ++i) push(i);
    while (!queue.empty()) {
      auto [rank, pos, merged] = queue.top();
      queue.pop();
      if (!alive[pos] || next[pos] < 0) continue;
      auto it = merges.find(pair_key(sym[pos], sym[next[pos]]));
      if (it == merges.end() || it->second.second != merged) continue;  // stale entry
      size_t right = static_cast<size_t>(next[pos]);
      sym[pos] = merged;
      alive[right] = false;
      next[pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = static_cast<int64_t>(pos);
      if (prev[pos] >= 0) push(static_cast<size_t>(prev[pos]));
      push(pos);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; ++i)
      if (alive[i]) sym[k++] = sym[i];
    sym.resize(k);
  }
};

BpeEncoder::BpeEncoder(BpeVocab vocab, std::string where)
    : vocab_(std::move(vocab)), where_(std::move(where)), impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  const int64_t n = static_cast<int64_t>(vocab_.pieces.size());
  if (n == 0) throw_input("{}: the vocabulary is empty", where_);
  if (n > (int64_t{1} << 30)) throw_input("{}: the vocabulary has {} pieces, too many", where_, n);
  m.ids.reserve(vocab_.pieces.size());
  m.byte_ids.fill(-1);
  for (int64_t id = 0; id < n; ++id) {
    const std::string& p = vocab_.pieces[id];
    if (!is_valid_utf8(p)) throw_input("{}: piece {} is not valid UTF-8", where_, id);
    if (!m.ids.emplace(p, static_cast<int32_t>(id)).second)
      throw_input("{}: piece '{}' appears twice (ids {} and {})", where_, p, m.ids[p], id);
    if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
      unsigned v = 0;
      bool ok = true;
      for (int k = 3; k < 5; ++k) {
        char c = p[k];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        ok = ok && d >= 0;
        v = v * 16 + static_cast<unsigned>(std::max(d, 0));
      }
      if (ok) m.byte_ids[v] = static_cast<int32_t>(id);
    }
  }
  m.merges.reserve(vocab_.merges.size());
  for (size_t r = 0; r < vocab_.merges.size(); ++r) {
    const auto& [a, b] = vocab_.merges[r];
    auto ia = m.ids.find(a), ib = m.ids.find(b), ic = m.ids.find(a + b);
    if (ia == m.ids.end()) throw_input("{}: merge {} ('{}' '{}'): '{}' is not in the vocabulary", where_, r, a, b, a);
    if (ib == m.ids.end()) throw_input("{}: merge {} ('{}' '{}'): '{}' is not in the vocabulary", where_, r, a, b, b);
    if (ic == m.ids.end())
      throw_input("{}: merge {} ('{}' '{}'): the merged piece '{}' is not in the vocabulary", where_, r, a, b, a + b);
    // A pair listed twice keeps its last rank, as HF's merge map does.
    m.merges[pair_key(ia->second, ib->second)] = {static_cast<int32_t>(r), ic->second};
  }
  for (size_t k = 0; k < vocab_.added_tokens.size(); ++k) {
    BpeAddedToken& t = vocab_.added_tokens[k];
    if (t.id < 0 || t.id >= n) throw_input("{}: added token '{}' has id {} outside [0, {})", where_, t.content, t.id, n);
    if (t.content.empty()) throw_input("{}: added token {} has empty content", where_, t.id);
    if (!is_valid_utf8(t.content)) throw_input("{}: added token {} is not valid UTF-8", where_, t.id);
    m.added_by_id[t.id] = k;
    if (t.special) {
      m.special_contents.insert(t.content);
      m.special_ids.emplace(t.content, t.id);
    }
    std::string pattern = t.normalized ? normalize(t.content, vocab_.normalizer) : t.content;
    m.added_patterns.push_back(pattern);
    (t.normalized ? m.normalized_matcher : m.raw_matcher).add(pattern, k);
  }
  for (const auto& s : vocab_.normalizer)
    if (s.kind == BpeNormalizerStep::Kind::kReplace && s.pattern.empty())
      throw_input("{}: normalizer: Replace with an empty pattern", where_);
  for (const auto& s : vocab_.pre_tokenizer)
    if (s.pattern.empty()) throw_input("{}: pre_tokenizer: Split with an empty pattern", where_);
  if (vocab_.decoder)
    for (const auto& s : *vocab_.decoder) {
      if (s.kind == BpeDecoderStep::Kind::kReplace && s.pattern.empty())
        throw_input("{}: decoder: Replace with an empty pattern", where_);
      if (s.kind == BpeDecoderStep::Kind::kStrip && (utf8_decode(s.content).value_or(U"").size() != 1 ||
                                                     s.start < 0 || s.stop < 0))
        throw_input("{}: decoder: Strip needs one character and non-negative counts", where_);
    }
}

BpeEncoder::~BpeEncoder() = default;
BpeEncoder::BpeEncoder(BpeEncoder&& o) noexcept = default;
BpeEncoder& BpeEncoder::operator=(BpeEncoder&& o) noexcept = default;

std::vector<int64_t> BpeEncoder::encode(std::string_view text) const {
  size_t bad = utf8_invalid_at(text);
  if (bad != std::string::npos) throw_input("text to tokenize is not valid UTF-8 (byte offset {})", bad);
  const Impl& m = *impl_;
  std::vector<int64_t> ids;
  std::vector<Segment> raw;
  m.find_added(text, m.raw_matcher, vocab_, raw);
  std::vector<Segment> parts;
  std::vector<std::string> words, next_words;
  for (const Segment& seg : raw) {
    if (seg.added_id >= 0) {
      ids.push_back(seg.added_id);
      continue;
    }
    if (seg.text.empty()) continue;
    std::string normalized = normalize(seg.text, vocab_.normalizer);
    parts.clear();
    m.find_added(normalized, m.normalized_matcher, vocab_, parts);
    for (const Segment& part : parts) {
      if (part.added_id >= 0) {
        ids.push_back(part.added_id);
        continue;
      }
      if (part.text.empty()) continue;
      words.assign(1, std::string(part.text));
      for (const BpeSplitStep& step : vocab_.pre_tokenizer) {
        next_words.clear();
        for (const std::string& w : words) split_word(w, step, next_words);
        words.swap(next_words);
      }
      for (const std::string& w : words) m.encode_word(w, vocab_, ids);
    }
  }
  return ids;
}

std::string BpeEncoder::decode(const std::vector<int64_t>& ids, bool skip_special, InvalidBytes invalid) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    const std::string& p = piece(id);
    auto it = m.added_by_id.find(id);
    const std::string& tok = it != m.added_by_id.end() ? m.added_patterns[it->second] : p;
    if (skip_special && m.special_contents.count(tok)) continue;
    tokens.push_back(tok);
  }
  if (!vocab_.decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const BpeDecoderStep& step : *vocab_.decoder) {
    switch (step.kind) {
      case BpeDecoderStep::Kind::kReplace:
        for (auto& t : tokens) t = replace_all(t, step.pattern, step.content);
        break;
      case BpeDecoderStep::Kind::kFuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case BpeDecoderStep::Kind::kStrip: {
        for (auto& t : tokens) {
          std::u32string cps = utf8_decode(t).value_or(U"");
          char32_t c = (*utf8_decode(step.content))[0];
          size_t b = 0, e = cps.size();
          while (b < e && b < static_cast<size_t>(step.start) && cps[b] == c) ++b;
          for (int64_t k = 0; k < step.stop && e > b && cps[e - 1] == c; ++k) --e;
          t = utf8_encode(cps.substr(b, e - b));
        }
        break;
      }
      case BpeDecoderStep::Kind::kByteFallback: {
        std::vector<std::string> out;
        std::string bytes;
        auto flush = [&] {
          if (bytes.empty()) return;
          if (is_valid_utf8(bytes) || invalid == InvalidBytes::kKeep) {
            out.push_back(bytes);
          } else {
            for (size_t k = 0; k < bytes.size(); ++k) out.emplace_back(kReplacementChar);
          }
          bytes.clear();
        };
        for (auto& t : tokens) {
          // HF reads "<0xNN>" with u8::from_str_radix(NN, 16), which also takes a leading '+'.
          int v = -1;
          if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
            auto hex = [](char c) {
              return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            };
            int h = hex(t[3]), l = hex(t[4]);
            if (h >= 0 && l >= 0) v = h * 16 + l;
            else if (t[3] == '+' && l >= 0) v = l;
          }
          if (v >= 0) {
            bytes.push_back(static_cast<char>(v));
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        tokens.swap(out);
        break;
      }
    }
  }
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

const std::string& BpeEncoder::piece(int64_t id) const {
  if (id < 0 || id >= size()) throw_input("token id {} is outside the vocabulary [0, {})", id, size());
  return vocab_.pieces[id];
}

std::optional<int64_t> BpeEncoder::piece_id(std::string_view piece) const {
  auto it = impl_->ids.find(std::string(piece));
  if (it == impl_->ids.end()) return std::nullopt;
  return it->second;
}

const BpeAddedToken* BpeEncoder::added_token(int64_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it == impl_->added_by_id.end() ? nullptr : &vocab_.added_tokens[it->second];
}

bool BpeEncoder::is_special(int64_t id) const {
  const BpeAddedToken* t = added_token(id);
  return t != nullptr && t->special;
}

std::optional<int64_t> BpeEncoder::special_id(std::string_view content) const {
  auto it = impl_->special_ids.find(std::string(content));
  if (it == impl_->special_ids.end()) return std::nullopt;
  return it->second;
}

// ---- SentencePiece -> BPE ----------------------------------------------------------------------

namespace bpe_detail {
bool is_unused_piece(std::string_view s) {
  constexpr std::string_view kPrefix = "<unused";
  if (s.size() <= kPrefix.size() + 1 || s.substr(0, kPrefix.size()) != kPrefix || s.back() != '>') return false;
  for (size_t i = kPrefix.size(); i + 1 < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}
}  // namespace bpe_detail

BpeVocab bpe_vocab_from_sentencepiece(const std::vector<std::string>& pieces, const std::vector<float>& scores,
                                      const std::vector<int32_t>& types, const std::string& where) {
  if (pieces.size() != scores.size() || pieces.size() != types.size())
    throw_input("{}: {} pieces but {} scores and {} types", where, pieces.size(), scores.size(), types.size());
  if (pieces.empty()) throw_input("{}: no pieces", where);
  BpeVocab v;
  v.pieces = pieces;
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (!is_valid_utf8(pieces[i])) throw_input("{}: piece {} is not valid UTF-8", where, i);
    if (!ids.emplace(pieces[i], static_cast<int32_t>(i)).second)
      throw_input("{}: piece '{}' appears twice (ids {} and {})", where, pieces[i], ids[pieces[i]], i);
    if (types[i] < 1 || types[i] > 6) throw_input("{}: piece {} has unknown type {}", where, i, types[i]);
  }
  struct Candidate {
    int32_t left, right;  // ids of the halves
    float score;
    uint32_t left_len, right_len;  // code points
  };
  std::vector<Candidate> all;
  std::vector<size_t> starts;  // byte offsets of the code points of a piece
  std::vector<Candidate> local;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    starts.clear();
    for (size_t b = 0; b < p.size(); b += char_len(static_cast<unsigned char>(p[b]))) starts.push_back(b);
    local.clear();
    for (size_t k = 1; k < starts.size(); ++k) {
      auto l = ids.find(p.substr(0, starts[k])), r = ids.find(p.substr(starts[k]));
      if (l != ids.end() && r != ids.end())
        local.push_back({l->second, r->second, scores[i], static_cast<uint32_t>(k),
                         static_cast<uint32_t>(starts.size() - k)});
    }
    std::sort(local.begin(), local.end(), [](const Candidate& a, const Candidate& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    all.insert(all.end(), local.begin(), local.end());
  }
  std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_len != b.left_len) return a.left_len > b.left_len;
    return a.right_len > b.right_len;
  });
  v.merges.reserve(all.size());
  for (const Candidate& c : all) v.merges.emplace_back(pieces[c.left], pieces[c.right]);

  for (size_t i = 0; i < pieces.size(); ++i) {
    int32_t t = types[i];
    if (t == 6) v.byte_fallback = true;
    if (t == 2 && !v.unk_token) v.unk_token = pieces[i];
    if (t == 2 || t == 3 || t == 4) {
      BpeAddedToken a;
      a.id = static_cast<int64_t>(i);
      a.content = pieces[i];
      a.normalized = false;
      a.special = t != 4 || special_token_index(pieces[i]).has_value() || is_unused_piece(pieces[i]);
      v.added_tokens.push_back(std::move(a));
    }
  }
  v.fuse_unk = true;
  set_gemma_text_pipeline(v);
  return v;
}

void set_gemma_text_pipeline(BpeVocab& v) {
  const std::string kSpace = "\xE2\x96\x81";  // U+2581
  v.normalizer = {{BpeNormalizerStep::Kind::kReplace, " ", kSpace, false, false}};
  v.pre_tokenizer = {{" ", BpeSplitBehavior::kMergedWithPrevious, false}};
  v.decoder = std::vector<BpeDecoderStep>{{BpeDecoderStep::Kind::kReplace, kSpace, " ", 0, 0},
                                          {BpeDecoderStep::Kind::kByteFallback, "", "", 0, 0},
                                          {BpeDecoderStep::Kind::kFuse, "", "", 0, 0}};
}

std::pair<std::string, std::string> split_merge_line(const std::string& line, const std::string& where) {
  size_t sp = line.find(' ');
  if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
    throw_input("{}: \"{}\" is not two pieces separated by one space", where, line);
  return {line.substr(0, sp), line.substr(sp + 1)};
}

}  // namespace g4u::model
