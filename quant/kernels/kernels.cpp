#include "quant/kernels/kernels.h"

#include "base/error.h"
#include "quant/formats/interleave.h"
#include "quant/kernels/kernel_impl.h"
#include "quant/formats/rounding.h"
#include "quant/kernels/parallel.h"

#include <cpuid.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace g4u::quant {
namespace detail {

void quantize_act_row_scalar(const float* x, int64_t cols, int8_t* q, float* d, float* s) {
  for (int64_t b = 0; b < cols / kActBlock; ++b) {
    const float* xb = x + b * kActBlock;
    int8_t* qb = q + b * kActBlock;
    float amax = 0.f;
    for (int j = 0; j < kActBlock; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127.f;
    const float id = db != 0.f ? 1.f / db : 0.f;
    int sum = 0;
    for (int j = 0; j < kActBlock; ++j) {
      qb[j] = static_cast<int8_t>(round_half_even(xb[j] * id));
      sum += qb[j];
    }
    d[b] = db;
    s[b] = db * static_cast<float>(sum);
  }
}

void planar_halves_act_groups(int8_t* q, int64_t cols) {
  G4U_CHECK(cols % 128 == 0, "planar activation order needs cols % 128 == 0, got {}", cols);
  int8_t tmp[128];
  for (int64_t g = 0; g < cols; g += 128) {
    for (int k = 0; k < 4; ++k)
      for (int h = 0; h < 2; ++h) std::memcpy(tmp + 64 * h + 16 * k, q + g + 32 * k + 16 * h, 16);
    std::memcpy(q + g, tmp, sizeof(tmp));
  }
}

void quantize_act_q8(const KernelTable& table, const float* x, int64_t n, int64_t cols, ActQ8& out, int threads,
                     ActOrder order, bool half_block_sums) {
  G4U_CHECK(cols % kActBlock == 0, "activation width {} is not a multiple of {}", cols, kActBlock);
  out.n = n;
  out.cols = cols;
  out.nb = cols / kActBlock;
  out.q.resize(static_cast<size_t>(n * cols));
  out.d.resize(static_cast<size_t>(n * out.nb));
  out.s.resize(static_cast<size_t>(n * out.nb));
  G4U_CHECK(!half_block_sums || order == ActOrder::kStorage, "half-block sums are only kept in storage order");
  out.has_s16 = half_block_sums;
  if (half_block_sums) out.s16.resize(static_cast<size_t>(n * 2 * out.nb));
  auto one_row = [&](int64_t a) {
    table.quantize_act_row(x + a * cols, cols, out.q.data() + a * cols, out.d.data() + a * out.nb,
                           out.s.data() + a * out.nb);
    if (half_block_sums) {
      const int8_t* q = out.q.data() + a * cols;
      float* s16 = out.s16.data() + a * 2 * out.nb;
      for (int64_t h = 0; h < 2 * out.nb; ++h) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += q[16 * h + j];
        s16[h] = out.d.data()[a * out.nb + h / 2] * static_cast<float>(sum);
      }
    }
    if (order == ActOrder::kInterleaved) interleave_act_groups(out.q.data() + a * cols, cols);
    if (order == ActOrder::kPlanarHalves) planar_halves_act_groups(out.q.data() + a * cols, cols);
  };
  if (n * cols < (1 << 16)) {
    for (int64_t a = 0; a < n; ++a) one_row(a);
  } else {
    parallel_for(n, threads, one_row);
  }
}

bool is_planar_kernel(KernelKind k) {
  return k == KernelKind::kPlanarSym8 || k == KernelKind::kPlanarIntZero || k == KernelKind::kPlanarFp16Zero;
}

bool avx512_reads(const WeightView& w) {
  if (is_planar_kernel(w.kind)) {
    const int64_t chunks = w.group / kActBlock;
    return w.cols % 256 == 0 && (chunks == 1 || chunks == 2 || chunks == 4 || chunks % 8 == 0);
  }
  if (w.kind == KernelKind::kQ6_K) return !w.interleaved;
  return w.interleaved && (w.kind == KernelKind::kQ4_K || (w.kind == KernelKind::kQ4_0 && w.cols % 256 == 0));
}

bool gemm_reads(const WeightView& w) {
  if (w.cols % 256 != 0) return false;
  return (w.interleaved && (w.kind == KernelKind::kQ4_0 || w.kind == KernelKind::kQ4_K)) ||
         (!w.interleaved && w.kind == KernelKind::kQ6_K);
}

// Codes: 8 x 64 bytes per 32-block; scales: at most two 16-float vectors per block.
int64_t gemm_panel_bytes(const WeightView& w) { return (512 + 128) * (w.cols / kActBlock); }

#if !G4U_HAVE_AVX512_KERNELS
// Built without the AVX-512 kernels: cpu_has_avx512() is false, so these are never dispatched to.
const KernelTable& avx512_kernel_table() { return avx2_kernel_table(); }
void gemm_rows_avx512(const WeightView&, int64_t, int64_t, const GemmActs&, uint8_t*, float*, int64_t) {
  G4U_CHECK(false, "built without the AVX-512 kernels");
}
#endif

}  // namespace detail

namespace {

using detail::ActQ8;
using detail::ActRef;
using detail::KernelTable;
using detail::WeightView;

// What kAuto means in this process: the widest ISA of the CPU, or G4U_KERNEL_ISA (avx512, avx2 or
// scalar) to time a narrower path with the same binary, as a CPU without AVX-512 would run it.
KernelIsa auto_isa() {
  static const KernelIsa isa = [] {
    const char* v = std::getenv("G4U_KERNEL_ISA");
    const std::string name = v == nullptr ? "" : v;
    if (name.empty() || name == "auto")
      return cpu_has_avx512() ? KernelIsa::kAvx512 : cpu_has_avx2() ? KernelIsa::kAvx2 : KernelIsa::kScalar;
    if (name == "scalar") return KernelIsa::kScalar;
    if (name == "avx2" && cpu_has_avx2()) return KernelIsa::kAvx2;
    if (name == "avx512" && cpu_has_avx512()) return KernelIsa::kAvx512;
    if (name == "avx2" || name == "avx512")
      throw_input("G4U_KERNEL_ISA={}: this CPU (or this build) has no {} kernels", name, name);
    throw_input("G4U_KERNEL_ISA=\"{}\": expected auto, avx512, avx2 or scalar", name);
  }();
  return isa;
}

// kAuto resolves through auto_isa(), which never returns kAuto.
const KernelTable* pick_table(const KernelOptions& opt) {
  switch (opt.isa == KernelIsa::kAuto ? auto_isa() : opt.isa) {
    case KernelIsa::kAvx2:
      G4U_CHECK(cpu_has_avx2(), "AVX2 kernels requested on a CPU without AVX2/FMA/F16C");
      return &detail::avx2_kernel_table();
    case KernelIsa::kAvx512:
      G4U_CHECK(cpu_has_avx512(), "AVX-512 kernels requested on a CPU without AVX-512 F/BW/VL/VNNI");
      return &detail::avx512_kernel_table();
    default:
      return &detail::scalar_kernel_table();
  }
}

WeightView make_view(const QuantizedTensor& w) {
  WeightView v{};
  v.kind = w.scheme->kernel;
  v.cols = w.cols;
  v.data = w.data.data();
  v.row_bytes = w.data_row_bytes();
  v.scales = w.scales.data();
  v.zeros = w.zeros.data();
  v.group = w.scheme->group_size(w.cols);
  v.groups = w.cols / v.group;
  v.interleaved = w.interleaved;
  return v;
}

void check_tensor(const QuantizedTensor& w) {
  G4U_CHECK(w.scheme != nullptr, "QuantizedTensor without a scheme");
  G4U_CHECK(static_cast<int64_t>(w.data.size()) == w.scheme->storage(*w.scheme, w.rows, w.cols).data,
            "QuantizedTensor data size does not match its scheme {}", w.scheme->name);
}

ActRef act_ref(const ActQ8& a, int64_t row) {
  return ActRef{a.q.data() + row * a.cols, a.d.data() + row * a.nb, a.s.data() + row * a.nb,
                a.has_s16 ? a.s16.data() + row * 2 * a.nb : nullptr};
}

// Rows per task: each thread gets about 4 contiguous tasks, so it streams long runs of weights (many
// small tasks measured up to 1.5x slower: every task start costs the prefetchers a ramp and the
// threads a shared counter) while a thread that is held up still leaves work to the others;
// at least ~128 KiB of weight bytes per task.
int64_t rows_per_task(int64_t rows, int64_t row_bytes, int threads) {
  const int64_t min_rows = std::max<int64_t>(1, (128 << 10) / std::max<int64_t>(1, row_bytes));
  const int64_t parts = 4 * static_cast<int64_t>(std::max(1, threads));
  return std::max(min_rows, (rows + parts - 1) / parts);
}

int64_t rows_per_task(const QuantizedTensor& w, int threads) {
  return rows_per_task(w.rows, w.bytes().total() / std::max<int64_t>(1, w.rows), threads);
}

// Reference path: dequantize each row to fp32, dot in fp32 (4 partial sums).
void reference_product(const QuantizedTensor& w, const float* x, int64_t n, float* y, int threads) {
  const int64_t per_task = std::max<int64_t>(1, 16384 / w.cols);
  const int64_t tasks = (w.rows + per_task - 1) / per_task;
  parallel_for(tasks, threads, [&](int64_t t) {
    const int64_t r0 = t * per_task, r1 = std::min(w.rows, r0 + per_task);
    std::vector<float> buf(static_cast<size_t>((r1 - r0) * w.cols));
    w.dequantize_rows(r0, r1, buf.data());
    for (int64_t r = r0; r < r1; ++r) {
      const float* wr = buf.data() + (r - r0) * w.cols;
      for (int64_t a = 0; a < n; ++a) {
        const float* xa = x + a * w.cols;
        float s[4] = {0, 0, 0, 0};
        int64_t c = 0;
        for (; c + 3 < w.cols; c += 4)
          for (int k = 0; k < 4; ++k) s[k] += wr[c + k] * xa[c + k];
        for (; c < w.cols; ++c) s[0] += wr[c] * xa[c];
        y[a * w.rows + r] = (s[0] + s[1]) + (s[2] + s[3]);
      }
    }
  });
}

// The register-blocked GEMM (kernel_impl.h) of the AVX-512 or the AVX2 table: the activations
// quantized in storage order and packed into 8-row group records, then tasks of whole 16-row
// panels, each thread streaming its own weight rows.
void gemm_product(const KernelTable& table, const WeightView& view, const float* x, int64_t n, int64_t rows, float* y,
                  int threads) {
  // (built without the AVX-512 kernels, avx512_kernel_table() is the AVX2 table)
  const bool avx512 = cpu_has_avx512() && &table == &detail::avx512_kernel_table();
  const auto gemm_rows = avx512 ? detail::gemm_rows_avx512 : detail::gemm_rows_avx2;
  ActQ8 act;
  detail::quantize_act_q8(table, x, n, view.cols, act, threads, detail::ActOrder::kStorage);
  constexpr int64_t kGroup = detail::kGemmActs;
  const int64_t groups = (n + kGroup - 1) / kGroup, group_bytes = act.nb * detail::kGemmActRecord;
  detail::CacheAlignedArray<uint8_t> records;
  records.resize(static_cast<size_t>(groups * group_bytes));
  parallel_for(groups, n * view.cols < (1 << 16) ? 1 : threads, [&](int64_t g) {
    detail::gemm_pack_acts(view.kind, act.q.data(), act.d.data(), act.s.data(), g * kGroup,
                           std::min(n, (g + 1) * kGroup), view.cols, records.data() + g * group_bytes);
  });
  const detail::GemmActs acts{records.data(), n, act.nb};
  constexpr int64_t kPanel = detail::kGemmRows;
  const int64_t per_task = (rows_per_task(rows, view.row_bytes, threads) + kPanel - 1) / kPanel * kPanel;
  const int64_t tasks = (rows + per_task - 1) / per_task;
  parallel_for(tasks, threads, [&](int64_t t) {
    detail::CacheAlignedArray<uint8_t> panel;
    panel.resize(static_cast<size_t>(detail::gemm_panel_bytes(view)));
    gemm_rows(view, t * per_task, std::min(rows, (t + 1) * per_task), acts, panel.data(), y, rows);
  });
}

}  // namespace

bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    // F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports does not know "f16c".
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  }();
  return has;
}

bool cpu_has_avx512() {
#if G4U_HAVE_AVX512_KERNELS
  static const bool has = [] {
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }();
  return has;
#else
  return false;
#endif
}

std::string kernel_isa() {
  switch (auto_isa()) {
    case KernelIsa::kAvx512:
      return "avx512";
    case KernelIsa::kAvx2:
      return "avx2";
    default:
      return "scalar";
  }
}

std::string kernel_path(const QuantizedTensor& w, const KernelOptions& opt) {
  if (w.scheme == nullptr || w.scheme->reference_only()) return "reference";
  const KernelTable* table = pick_table(opt);
  if (table == &detail::scalar_kernel_table()) return "scalar";
  if (cpu_has_avx512() && table == &detail::avx512_kernel_table() && detail::avx512_reads(make_view(w)))
    return "avx512";
  return "avx2";
}

std::string bf16_kernel_path(const KernelOptions& opt) {
  const KernelTable* table = pick_table(opt);
  if (table == &detail::scalar_kernel_table()) return "scalar";
  return table == &detail::avx512_kernel_table() && cpu_has_avx512() ? "avx512" : "avx2";
}

void bf16_matvec(const uint16_t* w, int64_t rows, int64_t cols, const float* x, float* y, const KernelOptions& opt) {
  if (rows <= 0) return;
  const int threads = opt.threads > 0 ? opt.threads : default_threads();
  const detail::Bf16DotFn dot = pick_table(opt)->bf16_dot;
  const int64_t per_task = rows_per_task(rows, 2 * cols, threads);
  const int64_t tasks = (rows + per_task - 1) / per_task;
  parallel_for(tasks, threads, [&](int64_t t) {
    const int64_t r1 = std::min(rows, (t + 1) * per_task);
    for (int64_t r = t * per_task; r < r1; ++r) y[r] = dot(w + r * cols, x, cols);
  });
}

bool uses_gemm_tiles(const QuantizedTensor& w, int64_t n, const KernelOptions& opt) {
  // G4U_GEMM_TILES=0 turns the tiles off process-wide (before/after timings in one binary).
  static const bool env_off = [] {
    const char* v = std::getenv("G4U_GEMM_TILES");
    return v != nullptr && std::string(v) == "0";
  }();
  if (env_off || !opt.gemm_tiles || n < detail::kGemmMinActs || w.scheme == nullptr || w.scheme->reference_only())
    return false;
  const KernelTable* table = pick_table(opt);
  const bool has_gemm = table == &detail::avx2_kernel_table() ||
                        (table == &detail::avx512_kernel_table() && cpu_has_avx512());
  return has_gemm && detail::gemm_reads(make_view(w));
}

void matvec(const QuantizedTensor& w, const float* x, float* y, const KernelOptions& opt) {
  matmul(w, x, 1, y, opt);
}

void matmul(const QuantizedTensor& w, const float* x, int64_t n, float* y, const KernelOptions& opt) {
  check_tensor(w);
  if (n <= 0 || w.rows == 0) return;
  const int threads = opt.threads > 0 ? opt.threads : default_threads();
  if (w.scheme->reference_only()) {
    reference_product(w, x, n, y, threads);
    return;
  }
  const KernelTable* table = pick_table(opt);
  const detail::RowDotFn dot = table->dot[static_cast<int>(w.scheme->kernel)];
  G4U_CHECK(dot != nullptr, "no kernel for scheme {}", w.scheme->name);
  const WeightView view = make_view(w);
  if (uses_gemm_tiles(w, n, opt)) {
    gemm_product(*table, view, x, n, w.rows, y, threads);
    return;
  }
  // Interleaved weights: the AVX2 kernels read them as they are (with matching activations); the
  // scalar ones get each row back in storage order.
  const bool native_rows = !view.interleaved || table->reads_interleaved;
  detail::ActOrder order = view.interleaved && native_rows ? detail::ActOrder::kInterleaved : detail::ActOrder::kStorage;
  const bool avx512_rows = table == &detail::avx512_kernel_table() && cpu_has_avx512() && detail::avx512_reads(view);
  if (avx512_rows && detail::is_planar_kernel(view.kind)) order = detail::ActOrder::kPlanarHalves;
  ActQ8 act;
  // The SIMD Q6_K row dots take the codes unsigned and subtract 32 times the half-block sums.
  const bool half_sums = view.kind == KernelKind::kQ6_K && table != &detail::scalar_kernel_table();
  detail::quantize_act_q8(*table, x, n, w.cols, act, threads, order, half_sums);

  // Activation tiles of ~256 KiB stay in cache while a task's weight rows stream past them.
  const int64_t tile = std::max<int64_t>(detail::kMaxActs, ((256 << 10) / w.cols) / detail::kMaxActs * detail::kMaxActs);
  const int64_t per_task = rows_per_task(w, threads);
  const int64_t tasks = (w.rows + per_task - 1) / per_task;
  parallel_for(tasks, threads, [&](int64_t t) {
    const int64_t r0 = t * per_task, r1 = std::min(w.rows, r0 + per_task);
    ActRef refs[detail::kMaxActs];
    float out[detail::kMaxActs];
    std::vector<uint8_t> row_buf(native_rows ? 0 : static_cast<size_t>(view.row_bytes));
    WeightView row_view = view;  // one row back in storage order, read as row 0
    row_view.interleaved = false;
    row_view.data = row_buf.data();
    for (int64_t a0 = 0; a0 < n; a0 += tile) {
      const int64_t a1 = std::min(n, a0 + tile);
      for (int64_t r = r0; r < r1; ++r) {
        if (!native_rows) detail::deinterleave_row(*w.scheme, w.cols, view.data + r * view.row_bytes, row_buf.data());
        for (int64_t a = a0; a < a1; a += detail::kMaxActs) {
          const int na = static_cast<int>(std::min<int64_t>(detail::kMaxActs, a1 - a));
          for (int k = 0; k < na; ++k) refs[k] = act_ref(act, a + k);
          if (native_rows)
            dot(view, r, refs, na, out);
          else
            dot(row_view, 0, refs, na, out);
          for (int k = 0; k < na; ++k) y[(a + k) * w.rows + r] = out[k];
        }
      }
    }
  });
}

}  // namespace g4u::quant
