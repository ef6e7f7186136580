// Copying packed weights out of a memory-mapped file at the cost of the copy, not of its page faults.
//
// A plain memcpy from a file mapping into fresh memory takes a page fault per 4 KiB on each side.
// On virtual machines every fault traps to the hypervisor, and loading a 12B-shaped q4_0
// checkpoint spent about two thirds of its time there (`perf`: exc_page_fault under memmove).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace g4u {

// out = the n bytes at src (a read-only file mapping). out's memory is asked to be transparent huge
// pages (MADV_HUGEPAGE: 512x fewer faults, and fewer TLB misses when the weights are read for every
// token); then, 64 MiB at a time, the page tables of both sides are set up in one call each
// (MADV_POPULATE_WRITE / MADV_POPULATE_READ, Linux 5.14+) and the slice is copied. All advice is
// best effort: where the kernel lacks it, this is a plain copy.
void copy_from_mapping(const uint8_t* src, size_t n, std::vector<uint8_t>& out);

// Maps every page of the n bytes at p (a read-only file mapping) into this process now, reading
// the file where the page cache lacks it (MADV_POPULATE_READ; best effort, as above): a reader
// that keeps views of a mapping pays its page faults while loading, in one call, rather than
// one by one in its first computation.
void populate_mapping(const uint8_t* p, size_t n);

// Asks that a whole file mapping (map, n: as mmap returned them) be read into the page cache in
// 2 MiB folios and mapped with huge page table entries where the filesystem has large folios
// (MADV_HUGEPAGE on a file mapping; ext4 and xfs on Linux 6.x): views of it that are read for
// every token then take 512x fewer TLB entries and, on a VM with shadow page tables, far fewer
// hypervisor faults. Only pages read in from now on; ones already cached in smaller folios stay
// as they are. Best effort, as above.
void advise_huge_file_pages(const void* map, size_t n);

}  // namespace g4u
