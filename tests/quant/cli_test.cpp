// `g4u quant encode|decode` end to end: exact ggml bytes, round trips, bad-input exit codes.
#include "base/json_util.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/kernels/kernels.h"
#include "quant_test_util.h"
#include "test_paths.h"

#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace fs = std::filesystem;
using namespace g4u::quant;
using g4u::test::gaussian;

namespace {

using g4u::test::ScratchDir;


void write_floats(const std::string& path, const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  g4u::write_file_atomic(path, s);
}

std::vector<float> read_floats(const std::string& path) {
  const std::string s = g4u::read_text_file(path);
  std::vector<float> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

struct Run {
  int code;
  std::string err;
};

Run g4u_run(const ScratchDir& dir, const std::string& args) {
  const std::string err = dir / "stderr.txt";
  const std::string cmd = std::string(G4U_BINARY) + " " + args + " > /dev/null 2> " + err;
  const int status = std::system(cmd.c_str());
  Run r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, g4u::read_text_file(err)};
  return r;
}

std::string shape(const char* scheme, int64_t rows, int64_t cols) {
  return std::string("--scheme ") + scheme + " --rows " + std::to_string(rows) + " --cols " + std::to_string(cols);
}

}  // namespace

TEST_CASE("quant encode writes ggml q4_0 blocks row after row", "[integration][cli]") {
  ScratchDir dir;
  std::vector<float> w(2 * 32);
  for (int j = 0; j < 16; ++j) w[j] = static_cast<float>(j - 8), w[16 + j] = static_cast<float>(7 - j);
  for (int j = 0; j < 32; ++j) w[32 + j] = 0.5f * w[j];  // second row: d = 0.5
  write_floats(dir / "w.f32", w);
  Run r = g4u_run(dir, "quant encode " + shape("q4_0", 2, 32) + " --input " + (dir / "w.f32") + " --output " +
                           (dir / "w.q4_0"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string b = g4u::read_text_file(dir / "w.q4_0");
  REQUIRE(b.size() == 36);
  std::vector<uint8_t> expected = {0x00, 0x3C};
  for (int j = 0; j < 16; ++j) expected.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
  expected.push_back(0x00);
  expected.push_back(0x38);  // fp16 0.5
  for (int j = 0; j < 16; ++j) expected.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
  CHECK(std::vector<uint8_t>(b.begin(), b.end()) == expected);

  r = g4u_run(dir, "quant decode " + shape("q4_0", 2, 32) + " --input " + (dir / "w.q4_0") + " --output " +
                       (dir / "back.f32"));
  REQUIRE(r.code == 0);
  CHECK(read_floats(dir / "back.f32") == w);
}

TEST_CASE("quant encode/decode round trips equal the library for several schemes", "[integration][cli]") {
  ScratchDir dir;
  const int64_t rows = 5, cols = 512;
  auto w = gaussian(rows * cols, 77);
  std::vector<float> imat(cols);
  for (int64_t j = 0; j < cols; ++j) imat[j] = 0.5f + static_cast<float>(j % 5);
  write_floats(dir / "w.f32", w);
  write_floats(dir / "imat.f32", imat);
  for (const char* scheme : {"q4_k", "nf4_dq", "rtn4_asym_g128"}) {
    INFO(scheme);
    const bool with_imatrix = find_scheme(scheme).uses_imatrix;
    const std::string q = dir / (std::string("w.") + scheme);
    Run r = g4u_run(dir, "quant encode " + shape(scheme, rows, cols) + " --input " + (dir / "w.f32") + " --output " +
                             q + (with_imatrix ? " --imatrix " + (dir / "imat.f32") : std::string()));
    INFO(r.err);
    REQUIRE(r.code == 0);
    QuantizedTensor lib = quantize(scheme, w.data(), rows, cols, with_imatrix ? imat.data() : nullptr);
    const std::string file = g4u::read_text_file(q);
    CHECK(file == to_bytes(lib));
    r = g4u_run(dir, "quant decode " + shape(scheme, rows, cols) + " --input " + q + " --output " + (dir / "d.f32"));
    REQUIRE(r.code == 0);
    CHECK(read_floats(dir / "d.f32") == lib.dequantize());
  }
}

TEST_CASE("quant encode/decode bad input exits 2 naming the file", "[integration][cli]") {
  ScratchDir dir;
  auto w = gaussian(3 * 256, 78);
  write_floats(dir / "w.f32", w);
  const std::string in = dir / "w.f32", out = dir / "out.q";

  Run r = g4u_run(dir, "quant encode " + shape("q4_0", 4, 256) + " --input " + in + " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find(in) != std::string::npos);
  CHECK(r.err.find("3072 bytes") != std::string::npos);

  r = g4u_run(dir, "quant encode " + shape("q4_k", 8, 96) + " --input " + in + " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find("not a multiple of 256") != std::string::npos);

  auto bad = w;
  bad[300] = std::numeric_limits<float>::quiet_NaN();
  write_floats(dir / "nan.f32", bad);
  r = g4u_run(dir, "quant encode " + shape("q4_0", 3, 256) + " --input " + (dir / "nan.f32") + " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find(dir / "nan.f32") != std::string::npos);
  CHECK(r.err.find("[1, 44] is NaN") != std::string::npos);

  r = g4u_run(dir, "quant encode " + shape("q4_x", 3, 256) + " --input " + in + " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find("unknown quantization scheme 'q4_x'") != std::string::npos);
  CHECK(r.err.find("q4_k") != std::string::npos);

  write_floats(dir / "imat.f32", std::vector<float>(100, 1.f));
  r = g4u_run(dir, "quant encode " + shape("q4_k", 3, 256) + " --input " + in + " --imatrix " + (dir / "imat.f32") +
                       " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find(dir / "imat.f32") != std::string::npos);

  write_floats(dir / "imat.f32", std::vector<float>(256, 1.f));
  r = g4u_run(dir, "quant encode " + shape("q8_0", 3, 256) + " --input " + in + " --imatrix " + (dir / "imat.f32") +
                       " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find("no importance-matrix path") != std::string::npos);
  CHECK(!fs::exists(out));

  // decode: wrong byte count for the shape
  r = g4u_run(dir, "quant decode " + shape("q4_0", 3, 256) + " --input " + in + " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find(in + ": 3072 bytes, but scheme q4_0 stores a [3, 256] tensor in exactly 432 bytes") !=
        std::string::npos);
  CHECK(!fs::exists(out));

  r = g4u_run(dir, "quant decode " + shape("q4_0", 3, 256) + " --input " + (dir / "missing.q") + " --output " + out);
  CHECK(r.code == 2);
  CHECK(r.err.find("missing.q") != std::string::npos);
  CHECK(!fs::exists(out));
}

TEST_CASE("G4U_KERNEL_ISA narrows the packed kernels' instruction set or is refused by name", "[integration][cli]") {
  ScratchDir dir;
  struct Isa {
    int code;
    std::string isa, err;
  };
  auto run_with = [&](const std::string& value) {
    const std::string out = dir / "out.json", err = dir / "err.txt";
    const std::string cmd = "G4U_KERNEL_ISA='" + value + "' " + std::string(G4U_BINARY) + " quant schemes --json > " +
                            out + " 2> " + err;
    const int status = std::system(cmd.c_str());
    Isa r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, "", g4u::read_text_file(err)};
    if (r.code == 0) r.isa = nlohmann::json::parse(g4u::read_text_file(out))["kernel_isa"].get<std::string>();
    return r;
  };
  const std::string widest = cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "scalar";
  CHECK(run_with("").isa == widest);
  CHECK(run_with("auto").isa == widest);
  CHECK(run_with("scalar").isa == "scalar");
  const Isa avx2 = run_with("avx2");
  CHECK(avx2.code == (cpu_has_avx2() ? 0 : 2));
  if (cpu_has_avx2()) CHECK(avx2.isa == "avx2");
  const Isa avx512 = run_with("avx512");
  CHECK(avx512.code == (cpu_has_avx512() ? 0 : 2));
  if (!cpu_has_avx512()) CHECK(avx512.err.find("has no avx512 kernels") != std::string::npos);
  const Isa bad = run_with("avx3");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("G4U_KERNEL_ISA=\"avx3\": expected auto, avx512, avx2 or scalar") != std::string::npos);
}
