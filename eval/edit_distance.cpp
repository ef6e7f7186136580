#include "eval/edit_distance.h"

#include <algorithm>

namespace g4u::eval {

size_t levenshtein(const U32& a, const U32& b) {
  if (a.size() < b.size()) return levenshtein(b, a);
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({sub, prev[j] + 1, cur[j - 1] + 1});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {
template <typename Seq>
EditCounts align_impl(const Seq& ref, const Seq& hyp) {
  const size_t n = ref.size(), m = hyp.size();
  std::vector<uint32_t> d((n + 1) * (m + 1));
  auto at = [&](size_t i, size_t j) -> uint32_t& { return d[i * (m + 1) + j]; };
  for (size_t i = 0; i <= n; ++i) at(i, 0) = static_cast<uint32_t>(i);
  for (size_t j = 0; j <= m; ++j) at(0, j) = static_cast<uint32_t>(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j)
      at(i, j) = std::min({at(i - 1, j - 1) + (ref[i - 1] == hyp[j - 1] ? 0u : 1u), at(i - 1, j) + 1, at(i, j - 1) + 1});
  EditCounts c;
  size_t i = n, j = m;
  while (i > 0 || j > 0) {
    if (i > 0 && j > 0) {
      bool same = ref[i - 1] == hyp[j - 1];
      if (at(i, j) == at(i - 1, j - 1) + (same ? 0u : 1u)) {
        if (same) ++c.hits;
        else ++c.substitutions;
        --i;
        --j;
        continue;
      }
    }
    if (i > 0 && at(i, j) == at(i - 1, j) + 1) {
      ++c.deletions;
      --i;
    } else {
      ++c.insertions;
      --j;
    }
  }
  return c;
}
}  // namespace

EditCounts align(const std::vector<U32>& ref, const std::vector<U32>& hyp) { return align_impl(ref, hyp); }
EditCounts align_chars(const U32& ref, const U32& hyp) { return align_impl(ref, hyp); }

}  // namespace g4u::eval
