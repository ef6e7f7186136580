// `g4u quant decode` input (quant/formats/quantized_tensor.h): the first three bytes pick the scheme
// and a shape, the rest is the encoded file. A file of the right size decodes to `rows x cols`
// values; the command then refuses non-finite ones by element.
#include "quant/formats/quantized_tensor.h"
#include "quant/formats/scheme.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>

using namespace g4u;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputReader in(data, size);
  const auto& schemes = quant::all_schemes();
  const quant::SchemeTraits& scheme = *schemes[in.byte() % schemes.size()];
  const int64_t rows = 1 + in.byte() % 8;
  const int64_t cols = 32 * (1 + in.byte() % 16);  // multiples of 32 and 256 among them
  const std::string bytes(in.rest());
  fuzz::expect_clean_errors([&] {
    quant::check_shape(scheme, rows, cols, "input");
    const quant::QuantizedTensor q = quant::from_bytes(scheme, rows, cols, bytes, "input");
    if (q.dequantize().size() != size_t(rows * cols)) std::abort();
  });
  return 0;
}
