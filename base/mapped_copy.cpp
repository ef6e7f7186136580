#include "base/mapped_copy.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

namespace g4u {
namespace {

constexpr size_t kSlice = size_t{64} << 20;
constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

// madvise over the aligned blocks inside [p, p + n) (inward: never a byte of a neighbouring
// allocation) or, for a file mapping, over every page touching it (outward: it spans whole pages).
void advise(const void* p, size_t n, uintptr_t align, bool inward, int advice) {
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t lo = inward ? (begin + align - 1) & ~(align - 1) : begin & ~(align - 1);
  const uintptr_t hi = inward ? (begin + n) & ~(align - 1) : (begin + n + align - 1) & ~(align - 1);
  if (n > 0 && hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, advice);  // errors ignored: advice only
}

}  // namespace

void copy_from_mapping(const uint8_t* src, size_t n, std::vector<uint8_t>& out) {
  out.clear();
  out.reserve(n);
  if (n == 0) return;
  advise(out.data(), n, kHugePage, /*inward=*/true, MADV_HUGEPAGE);
  for (size_t off = 0; off < n; off += kSlice) {
    const size_t len = std::min(kSlice, n - off);
#ifdef MADV_POPULATE_WRITE
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    advise(out.data() + off, len, page, /*inward=*/true, MADV_POPULATE_WRITE);
    advise(src + off, len, page, /*inward=*/false, MADV_POPULATE_READ);
#endif
    out.insert(out.end(), src + off, src + off + len);
  }
}

void advise_huge_file_pages(const void* map, size_t n) {
  if (map != nullptr && n > 0) ::madvise(const_cast<void*>(map), n, MADV_HUGEPAGE);  // errors ignored: advice only
}

void populate_mapping(const uint8_t* p, size_t n) {
#ifdef MADV_POPULATE_READ
  advise(p, n, static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE)), /*inward=*/false, MADV_POPULATE_READ);
#else
  (void)p, (void)n;
#endif
}

}  // namespace g4u
