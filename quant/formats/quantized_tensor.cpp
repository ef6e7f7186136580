#include "quant/formats/quantized_tensor.h"

#include "base/error.h"
#include "quant/formats/interleave.h"
#include "quant/kernels/parallel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

namespace g4u::quant {
namespace {

std::string describe(float v) { return std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"); }

std::string imatrix_scheme_list() {
  std::string out;
  for (const auto* s : all_schemes())
    if (s->uses_imatrix) out += (out.empty() ? "" : ", ") + std::string(s->name);
  return out;
}

// Decodes the tensor in row chunks and throws if any value is not finite (an fp16 scale overflow);
// with `error`, also sums the squared error against w (per task, then in task order: the result
// does not depend on the thread count).
void check_decoded_finite(const QuantizedTensor& q, const std::string& where, const float* w, int threads,
                          DecodeError* error) {
  const int64_t per_task = std::max<int64_t>(1, 65536 / q.cols);
  const int64_t tasks = (q.rows + per_task - 1) / per_task;
  std::atomic<int64_t> bad_row{std::numeric_limits<int64_t>::max()};
  std::vector<DecodeError> sums(error ? static_cast<size_t>(tasks) : 0);
  parallel_for(tasks, threads, [&](int64_t t) {
    const int64_t r0 = t * per_task, r1 = std::min(q.rows, r0 + per_task);
    thread_local std::vector<float> buf;
    buf.resize(static_cast<size_t>((r1 - r0) * q.cols));
    q.dequantize_rows(r0, r1, buf.data());
    for (size_t i = 0; i < buf.size(); ++i) {
      if (!std::isfinite(buf[i])) {
        int64_t r = r0 + static_cast<int64_t>(i) / q.cols, cur = bad_row.load();
        while (r < cur && !bad_row.compare_exchange_weak(cur, r)) {
        }
        return;
      }
    }
    if (error) {
      const float* ref = w + r0 * q.cols;
      double e = 0, s = 0;
      for (size_t i = 0; i < buf.size(); ++i) {
        const double d = double(ref[i]) - buf[i];
        e += d * d;
        s += double(ref[i]) * ref[i];
      }
      sums[static_cast<size_t>(t)] = {e, s};
    }
  });
  if (error) {
    *error = {};
    for (const DecodeError& d : sums) {
      error->squared_error += d.squared_error;
      error->squared_reference += d.squared_reference;
    }
  }
  const int64_t r = bad_row.load();
  if (r != std::numeric_limits<int64_t>::max()) {
    float amax = 0.f;
    for (int64_t c = 0; c < q.cols; ++c) amax = std::max(amax, std::fabs(w[r * q.cols + c]));
    throw_input("{}: row {}: values up to {} are too large for the fp16 scales of scheme {} (|w| must stay well "
                "below 65504 times the format's largest code)",
                where, r, amax, q.scheme->name);
  }
}

}  // namespace

ByteAccounting QuantizedTensor::bytes() const {
  G4U_CHECK(scheme != nullptr, "QuantizedTensor without a scheme");
  ByteAccounting a = scheme->accounting(*scheme, rows, cols);
  G4U_CHECK(a.total() == static_cast<int64_t>(data.size() + scales.size() + zeros.size() + meta.size()),
            "byte accounting of {} ({}) does not match the stored arrays ({})", scheme->name, a.total(),
            data.size() + scales.size() + zeros.size() + meta.size());
  return a;
}

double QuantizedTensor::bits_per_weight() const {
  return 8.0 * static_cast<double>(bytes().total()) / static_cast<double>(numel());
}

int64_t QuantizedTensor::data_row_bytes() const {
  if (scheme->layout == Layout::kGgmlBlocks) return cols / scheme->block * scheme->bytes_per_block;
  return cols / 2;  // planar codes (nf4's flat order is also row-contiguous since cols % 64 == 0)
}

void QuantizedTensor::dequantize_rows(int64_t r0, int64_t r1, float* out) const {
  G4U_CHECK(scheme != nullptr && 0 <= r0 && r0 <= r1 && r1 <= rows, "bad row range [{}, {}) of {}", r0, r1, rows);
  if (!interleaved) {
    scheme->decode_ref(*this, r0, r1, out);
    return;
  }
  // One row at a time back in storage order (q4_0 / q4_k keep everything in `data`).
  QuantizedTensor row;
  row.scheme = scheme;
  row.rows = 1;
  row.cols = cols;
  row.data.resize(static_cast<size_t>(data_row_bytes()));
  for (int64_t r = r0; r < r1; ++r) {
    detail::deinterleave_row(*scheme, cols, data.data() + r * data_row_bytes(), row.data.mutable_data());
    scheme->decode_ref(row, 0, 1, out + (r - r0) * cols);
  }
}

std::vector<float> QuantizedTensor::dequantize() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  const int64_t per_task = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, cols));
  parallel_for((rows + per_task - 1) / per_task, 0, [&](int64_t t) {
    const int64_t r0 = t * per_task, r1 = std::min(rows, r0 + per_task);
    dequantize_rows(r0, r1, out.data() + r0 * cols);
  });
  return out;
}

void check_shape(const SchemeTraits& s, int64_t rows, int64_t cols, const std::string& where) {
  if (rows < 1 || cols < 1) throw_input("{}: shape [{}, {}]: rows and cols must be positive", where, rows, cols);
  if (rows > (int64_t{1} << 40) / cols) throw_input("{}: shape [{}, {}] is too large", where, rows, cols);
  if (cols % s.cols_multiple != 0)
    throw_input("{}: cols {} is not a multiple of {}, the block size of scheme {} (shape [{}, {}])", where, cols,
                s.cols_multiple, s.name, rows, cols);
}

QuantizedTensor quantize(const SchemeTraits& s, const float* w, int64_t rows, int64_t cols, const float* imatrix,
                         const std::string& where, int threads, DecodeError* error) {
  check_shape(s, rows, cols, where);
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!std::isfinite(w[i]))
      throw_input("{}: weight [{}, {}] is {}: quantization needs finite values", where, i / cols, i % cols,
                  describe(w[i]));
  if (imatrix) {
    if (!s.uses_imatrix)
      throw_input("{}: scheme {} has no importance-matrix path (schemes with one: {})", where, s.name,
                  imatrix_scheme_list());
    for (int64_t j = 0; j < cols; ++j)
      if (!std::isfinite(imatrix[j]) || imatrix[j] < 0)
        throw_input("{}: imatrix[{}] = {}: importance values must be finite and >= 0", where, j, imatrix[j]);
  }
  QuantizedTensor q;
  q.scheme = &s;
  q.rows = rows;
  q.cols = cols;
  s.encode_ref(s, w, rows, cols, imatrix, threads, q);
  const StorageSizes z = s.storage(s, rows, cols);
  G4U_CHECK(static_cast<int64_t>(q.data.size()) == z.data && static_cast<int64_t>(q.scales.size()) == z.scales &&
                static_cast<int64_t>(q.zeros.size()) == z.zeros && static_cast<int64_t>(q.meta.size()) == z.meta,
            "encoder of {} produced arrays of unexpected size", s.name);
  check_decoded_finite(q, where, w, threads, error);
  return q;
}

DecodeError decoded_error(const QuantizedTensor& q, const float* w, int threads, const std::string& where) {
  DecodeError e;
  check_decoded_finite(q, where, w, threads, &e);
  return e;
}

QuantizedTensor quantize(std::string_view scheme, const float* w, int64_t rows, int64_t cols, const float* imatrix,
                         const std::string& where, int threads) {
  return quantize(find_scheme(scheme), w, rows, cols, imatrix, where, threads);
}

double relative_error(const float* w, const float* w_hat, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(w[i]) - static_cast<double>(w_hat[i]);
    num += d * d;
    den += static_cast<double>(w[i]) * static_cast<double>(w[i]);
  }
  if (den == 0) return num == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(num / den);
}

double relative_error(const QuantizedTensor& q, const float* w) {
  const std::vector<float> w_hat = q.dequantize();
  return relative_error(w, w_hat.data(), q.numel());
}

std::string to_bytes(const QuantizedTensor& q) {
  G4U_CHECK(!q.interleaved, "to_bytes: the tensor is in the kernels' interleaved order (use to_storage_order)");
  std::string out;
  out.reserve(q.data.size() + q.scales.size() + q.zeros.size() + q.meta.size());
  for (const auto* part : {&q.data, &q.scales, &q.zeros, &q.meta})
    out.append(reinterpret_cast<const char*>(part->data()), part->size());
  return out;
}

QuantizedTensor from_bytes(const SchemeTraits& s, int64_t rows, int64_t cols, std::string_view bytes,
                           const std::string& where) {
  check_shape(s, rows, cols, where);
  const StorageSizes z = s.storage(s, rows, cols);
  if (static_cast<int64_t>(bytes.size()) != z.total())
    throw_input("{}: {} bytes, but scheme {} stores a [{}, {}] tensor in exactly {} bytes", where, bytes.size(),
                s.name, rows, cols, z.total());
  QuantizedTensor q;
  q.scheme = &s;
  q.rows = rows;
  q.cols = cols;
  size_t pos = 0;
  const std::pair<ByteBuffer*, int64_t> parts[] = {
      {&q.data, z.data}, {&q.scales, z.scales}, {&q.zeros, z.zeros}, {&q.meta, z.meta}};
  for (const auto& [part, n] : parts) {
    *part = std::vector<uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(pos), bytes.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += static_cast<size_t>(n);
  }
  return q;
}

}  // namespace g4u::quant
