// Included by the AVX-512 sources only. GCC 12's AVX-512 intrinsics start some results from
// _mm512_undefined_*(), which its -W(maybe-)uninitialized reports once per inlined use (a known
// false positive), so those two warnings are off for the rest of the including file.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
