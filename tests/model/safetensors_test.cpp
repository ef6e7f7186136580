#include "model/io/safetensors.h"

#include "base/error.h"
#include "base/json_util.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace g4u::model;
namespace fs = std::filesystem;

namespace {

using namespace g4u::test;


std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}



// A safetensors file from a header text and `data_bytes` bytes of data (values 0, 1, 2, ...).
void write_raw_file(const std::string& path, const std::string& header, size_t data_bytes) {
  std::string data(data_bytes, '\0');
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<char>(i);
  write_file(path, le64(header.size()) + header + data);
}


template <typename F>
bool throws_internal(F&& f) {
  try {
    f();
  } catch (const g4u::InternalError&) {
    return true;
  }
  return false;
}

// The file must be rejected by open() with a message naming the file and containing `needle`.
void expect_rejected(const std::string& path, const std::string& needle) {
  std::string msg = input_error([&] { SafetensorsFile::open(path); });
  INFO("message: " << msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find(needle) != std::string::npos);
}

TensorInfo decl(const std::string& name, DType d, std::vector<int64_t> shape) {
  return TensorInfo{name, d, std::move(shape)};
}

}  // namespace

TEST_CASE("dtype table matches the safetensors spellings and sizes", "[unit][safetensors]") {
  struct Row { DType d; const char* name; size_t size; c10::ScalarType st; };
  const Row rows[] = {
      {DType::kBF16, "BF16", 2, torch::kBFloat16}, {DType::kF16, "F16", 2, torch::kHalf},
      {DType::kF32, "F32", 4, torch::kFloat},      {DType::kF64, "F64", 8, torch::kDouble},
      {DType::kI8, "I8", 1, torch::kInt8},         {DType::kI16, "I16", 2, torch::kInt16},
      {DType::kI32, "I32", 4, torch::kInt32},      {DType::kI64, "I64", 8, torch::kInt64},
      {DType::kU8, "U8", 1, torch::kUInt8},        {DType::kBool, "BOOL", 1, torch::kBool},
  };
  CHECK(all_dtypes().size() == 10);
  for (const Row& r : rows) {
    CHECK(std::string(dtype_name(r.d)) == r.name);
    CHECK(dtype_size(r.d) == r.size);
    CHECK(parse_dtype(r.name) == r.d);
    CHECK(to_scalar_type(r.d) == r.st);
    CHECK(from_scalar_type(r.st) == r.d);
    CHECK(torch::empty({1}, torch::TensorOptions().dtype(r.st)).element_size() == static_cast<int64_t>(r.size));
  }
  CHECK_FALSE(parse_dtype("bf16"));
  CHECK_FALSE(parse_dtype("F8_E4M3"));
  CHECK_THROWS_AS(from_scalar_type(torch::kComplexFloat), g4u::InputError);
}

TEST_CASE("writer output is byte-identical to the reference serialization", "[unit][safetensors]") {
  ScratchDir dir;
  // Expected bytes from the reference implementation's own serialization test: one F32 tensor
  // "attn.0" of shape [1,2,3] holding 0..5 gives a 64-byte header (no padding needed).
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  REQUIRE(header.size() == 64);
  std::string expected = le64(64) + header;
  for (float v : {0.f, 1.f, 2.f, 3.f, 4.f, 5.f}) {
    char b[4];
    std::memcpy(b, &v, 4);
    expected.append(b, 4);
  }
  save_safetensors(dir.file("a.safetensors"), {{"attn.0", torch::arange(6, torch::kFloat).reshape({1, 2, 3})}});
  CHECK(read_file(dir.file("a.safetensors")) == expected);

  // And with no tensors: "{}" padded with spaces to 8 bytes; with metadata {"framework": "pt"} the
  // header is 35 bytes padded to 40.
  save_safetensors(dir.file("empty.safetensors"), {});
  CHECK(read_file(dir.file("empty.safetensors")) == le64(8) + "{}      ");
  save_safetensors(dir.file("meta.safetensors"), {}, {{"framework", "pt"}});
  CHECK(read_file(dir.file("meta.safetensors")) == le64(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");

  // The reader takes the reference bytes.
  auto f = SafetensorsFile::open(dir.file("a.safetensors"));
  REQUIRE(f->tensors().size() == 1);
  CHECK(f->tensors()[0].offset == 8 + 64);
  CHECK(f->tensors()[0].nbytes == 24);
  CHECK(torch::equal(f->load("attn.0"), torch::arange(6, torch::kFloat).reshape({1, 2, 3})));
  auto e = SafetensorsFile::open(dir.file("meta.safetensors"));
  CHECK(e->tensors().empty());
  CHECK(e->metadata() == std::map<std::string, std::string>{{"framework", "pt"}});
}

TEST_CASE("round trip of every dtype, empty tensors and metadata", "[unit][safetensors]") {
  ScratchDir dir;
  std::vector<std::pair<std::string, torch::Tensor>> ts;
  for (DType d : all_dtypes()) {
    torch::Tensor t;
    if (d == DType::kBool) {
      t = torch::tensor({true, false, false, true, true, false}).reshape({2, 3});
    } else {
      // Values that every dtype holds exactly, including negatives for the signed ones.
      t = torch::arange(-3, 3, torch::kDouble).reshape({2, 3});
      if (d == DType::kU8) t = t + 3;
      t = t.to(to_scalar_type(d));
    }
    ts.emplace_back(std::string("t_") + dtype_name(d), t);
  }
  ts.emplace_back("empty0", torch::empty({0}, torch::kFloat));
  ts.emplace_back("empty30", torch::empty({3, 0}, torch::kBFloat16));
  ts.emplace_back("scalar", torch::tensor(7.5, torch::kDouble).reshape({}));
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"note", "ünïcode ✓"}};
  save_safetensors(dir.file("all.safetensors"), ts, meta);

  auto f = SafetensorsFile::open(dir.file("all.safetensors"));
  CHECK(f->metadata() == meta);
  CHECK(f->tensors().size() == ts.size());
  for (size_t i = 1; i < f->tensors().size(); ++i)  // data-offset order
    CHECK(f->tensors()[i - 1].offset + f->tensors()[i - 1].nbytes == f->tensors()[i].offset);
  for (const auto& [name, t] : ts) {
    INFO(name);
    const TensorInfo* info = f->find(name);
    REQUIRE(info);
    CHECK(info->dtype == from_scalar_type(t.scalar_type()));
    CHECK(info->shape == t.sizes().vec());
    CHECK(info->nbytes == static_cast<uint64_t>(t.numel() * t.element_size()));
    CHECK(info->offset % dtype_size(info->dtype) == 0);  // sort_for_alignment + 8-byte header padding
    torch::Tensor v = f->view(name), l = f->load(name);
    CHECK(v.scalar_type() == t.scalar_type());
    CHECK(v.sizes() == t.sizes());
    CHECK(torch::equal(v, t));
    CHECK(torch::equal(l, t));
  }
  CHECK(f->load("scalar").item<double>() == 7.5);
  CHECK(f->find("missing") == nullptr);
  std::string msg = input_error([&] { f->view("missing"); });
  CHECK(msg.find(dir.file("all.safetensors")) != std::string::npos);
  CHECK(msg.find("no tensor named \"missing\"") != std::string::npos);

  // Little-endian on disk: I32 value -3 is FD FF FF FF.
  const TensorInfo& i32 = f->info("t_I32");
  std::string bytes = read_file(dir.file("all.safetensors"));
  CHECK(bytes.substr(i32.offset, 4) == std::string("\xFD\xFF\xFF\xFF", 4));
}

TEST_CASE("bf16 and f16 bit patterns survive a round trip and decode to the right values", "[unit][safetensors]") {
  ScratchDir dir;
  // bf16 is the top half of an IEEE float: 0x3F80 = 1.0, 0xC000 = -2.0, 0x4049 = 3.140625,
  // 0x7F80 = +inf, 0xFF80 = -inf, 0x8000 = -0.0, 0x0001 = 2^-133 (smallest subnormal), 0x7FC1 = a NaN.
  const std::vector<uint16_t> bf{0x3F80, 0xC000, 0x4049, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x7FC1};
  // f16: 0x3C00 = 1.0, 0xC000 = -2.0, 0x7BFF = 65504 (max), 0x0001 = 2^-24.
  const std::vector<uint16_t> hf{0x3C00, 0xC000, 0x7BFF, 0x0001};
  {
    SafetensorsWriter w(dir.file("b.safetensors"),
                        {decl("bf", DType::kBF16, {8}), decl("hf", DType::kF16, {2, 2})});
    w.write_raw("bf", bf.data(), bf.size() * 2);
    w.write_raw("hf", hf.data(), hf.size() * 2);
    w.finish();
  }
  auto f = SafetensorsFile::open(dir.file("b.safetensors"));
  torch::Tensor b = f->load("bf");
  REQUIRE(b.scalar_type() == torch::kBFloat16);
  std::vector<uint16_t> bits(8);
  std::memcpy(bits.data(), b.data_ptr(), 16);
  CHECK(bits == bf);
  torch::Tensor bf32 = b.to(torch::kFloat);
  const float* p = bf32.data_ptr<float>();
  CHECK(p[0] == 1.0f);
  CHECK(p[1] == -2.0f);
  CHECK(p[2] == 3.140625f);
  CHECK(std::isinf(p[3]));
  CHECK(p[3] > 0);
  CHECK(std::isinf(p[4]));
  CHECK(p[4] < 0);
  CHECK(p[5] == 0.0f);
  CHECK(std::signbit(p[5]));
  CHECK(p[6] == std::ldexp(1.0f, -133));
  CHECK(std::isnan(p[7]));
  torch::Tensor h = f->view("hf").to(torch::kFloat).flatten();
  CHECK(h[0].item<float>() == 1.0f);
  CHECK(h[1].item<float>() == -2.0f);
  CHECK(h[2].item<float>() == 65504.0f);
  CHECK(h[3].item<float>() == std::ldexp(1.0f, -24));
}

TEST_CASE("view() aliases the mapping and keeps the file mapped", "[unit][safetensors]") {
  ScratchDir dir;
  const std::string path = dir.file("v.safetensors");
  torch::Tensor w = torch::randn({4, 5});
  save_safetensors(path, {{"w", w}, {"b", torch::arange(3, torch::kInt64)}});

  auto f = SafetensorsFile::open(path);
  std::weak_ptr<SafetensorsFile> weak = f;
  torch::Tensor v = f->view("w");
  torch::Tensor l = f->load("w");
  CHECK(v.data_ptr() == static_cast<const void*>(f->data(f->info("w"))));
  CHECK(l.data_ptr() != v.data_ptr());
  CHECK(torch::equal(v, w));

  // Drop every other owner and the file on disk: the view still reads the right data.
  f.reset();
  fs::remove(path);
  CHECK_FALSE(weak.expired());
  CHECK(torch::equal(v, w));
  torch::Tensor v2 = v.view({20});  // a derived view shares the storage and the keep-alive
  v = torch::Tensor();
  CHECK_FALSE(weak.expired());
  CHECK(torch::equal(v2.view({4, 5}), w));
  v2 = torch::Tensor();
  CHECK(weak.expired());
  CHECK(torch::equal(l, w));
}

TEST_CASE("misaligned tensors from other writers are returned as aligned copies", "[unit][safetensors]") {
  ScratchDir dir;
  const std::string path = dir.file("m.safetensors");
  // U8[1] at data offset 0, then F32[2] at data offset 1 (legal, but not 4-byte aligned). The header
  // length is a multiple of 8 so only the data offset misaligns.
  std::string header = R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string data(1, '\x07');
  for (float x : {1.5f, -4.0f}) {
    char b[4];
    std::memcpy(b, &x, 4);
    data.append(b, 4);
  }
  write_file(path, le64(header.size()) + header + data);
  auto f = SafetensorsFile::open(path);
  CHECK(f->tensors()[0].name == "u");  // offset order
  torch::Tensor v = f->view("f");
  CHECK(reinterpret_cast<uintptr_t>(v.data_ptr()) % 4 == 0);
  CHECK(v[0].item<float>() == 1.5f);
  CHECK(v[1].item<float>() == -4.0f);
  CHECK(f->view("u").item<uint8_t>() == 7);
}

TEST_CASE("writer streams in declared order and handles non-contiguous input", "[unit][safetensors]") {
  ScratchDir dir;
  torch::Tensor base = torch::arange(12, torch::kFloat).reshape({3, 4});
  torch::Tensor tr = base.t();                            // [4, 3], non-contiguous
  torch::Tensor strided = base.index({torch::indexing::Slice(), torch::indexing::Slice(0, 4, 2)});  // [3, 2]
  REQUIRE_FALSE(tr.is_contiguous());
  {
    SafetensorsWriter w(dir.file("w.safetensors"),
                        {decl("tr", DType::kF32, {4, 3}), decl("s", DType::kF32, {3, 2})}, {{"k", "v"}});
    CHECK(w.tensors()[0].offset % 8 == 0);
    w.write("tr", tr);
    w.write("s", strided);
    CHECK_FALSE(fs::exists(dir.file("w.safetensors")));  // only the temp file until finish()
    CHECK(fs::exists(w.temp_path()));
    w.finish();
    CHECK(fs::file_size(dir.file("w.safetensors")) == w.file_size());
  }
  CHECK(dir.count() == 1);  // no temp file left
  auto f = SafetensorsFile::open(dir.file("w.safetensors"));
  torch::Tensor expected_tr = torch::tensor({0.f, 4.f, 8.f, 1.f, 5.f, 9.f, 2.f, 6.f, 10.f, 3.f, 7.f, 11.f}).reshape({4, 3});
  torch::Tensor expected_s = torch::tensor({0.f, 2.f, 4.f, 6.f, 8.f, 10.f}).reshape({3, 2});
  CHECK(torch::equal(f->load("tr"), expected_tr));
  CHECK(torch::equal(f->load("s"), expected_s));
  CHECK(f->metadata().at("k") == "v");
}

TEST_CASE("writer misuse is an internal error and an unfinished writer leaves no file", "[unit][safetensors]") {
  ScratchDir dir;
  const std::string path = dir.file("x.safetensors");
  // An older, valid file at the destination must survive an interrupted write untouched.
  save_safetensors(path, {{"old", torch::ones({2})}});
  const std::string old_bytes = read_file(path);
  {
    SafetensorsWriter w(path, {decl("a", DType::kF32, {2, 2}), decl("b", DType::kI64, {3})});
    CHECK(throws_internal([&] { w.write("b", torch::zeros({3}, torch::kInt64)); }));   // out of order
    CHECK(throws_internal([&] { w.write("nope", torch::zeros({2, 2})); }));            // undeclared
    CHECK(throws_internal([&] { w.write("a", torch::zeros({4})); }));                  // shape
    CHECK(throws_internal([&] { w.write("a", torch::zeros({2, 2}, torch::kDouble)); }));  // dtype
    CHECK(throws_internal([&] { w.write_raw("a", "abc", 3); }));                       // size
    CHECK(throws_internal([&] { w.finish(); }));                                       // incomplete
    w.write("a", torch::zeros({2, 2}));
    CHECK(throws_internal([&] { w.finish(); }));
    CHECK(fs::exists(w.temp_path()));
    // destroyed unfinished
  }
  CHECK(dir.count() == 1);
  CHECK(read_file(path) == old_bytes);
  {
    SafetensorsWriter w(dir.file("y.safetensors"), {decl("a", DType::kF32, {1})});
    w.write("a", torch::ones({1}));
    w.finish();
    CHECK(throws_internal([&] { w.write("a", torch::ones({1})); }));  // after finish
  }
  CHECK(fs::exists(dir.file("y.safetensors")));
  CHECK(throws_internal([&] { SafetensorsWriter(dir.file("z.safetensors"), {decl("a", DType::kF32, {1}), decl("a", DType::kF32, {1})}); }));
  CHECK(throws_internal([&] { SafetensorsWriter(dir.file("z.safetensors"), {decl("__metadata__", DType::kF32, {1})}); }));
  CHECK(throws_internal([&] { SafetensorsWriter(dir.file("z.safetensors"), {decl("a", DType::kF32, {-1})}); }));
  CHECK_FALSE(fs::exists(dir.file("z.safetensors")));
  std::string msg = input_error([&] { SafetensorsWriter(dir.file("no/such/dir/f.safetensors"), {}); });
  CHECK(msg.find("no/such/dir/f.safetensors") != std::string::npos);
  CHECK(msg.find("cannot create") != std::string::npos);
}

TEST_CASE("malformed safetensors files are rejected with a message naming the file", "[unit][safetensors]") {
  ScratchDir dir;
  auto p = [&](const std::string& n) { return dir.file(n); };
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

  SECTION("shorter than 8 bytes") {
    write_file(p("short"), std::string("\x10\x00\x00", 3));
    expect_rejected(p("short"), "file is 3 bytes, shorter than the 8-byte header length");
    write_file(p("zero"), "");
    expect_rejected(p("zero"), "file is 0 bytes");
  }
  SECTION("huge header length") {
    write_file(p("huge"), le64(uint64_t{1} << 62) + "{}");
    expect_rejected(p("huge"), "header length 4611686018427387904 exceeds the limit of 100000000 bytes");
    write_file(p("max"), le64(~uint64_t{0}) + "{}");
    expect_rejected(p("max"), "exceeds the limit");
  }
  SECTION("header length past the end of the file") {
    write_file(p("past"), le64(1000) + std::string("{}", 2));
    expect_rejected(p("past"), "header length 1000 runs past the end of the file (10 bytes");
  }
  SECTION("truncated data") {
    save_safetensors(p("t"), {{"a", torch::ones({4})}});
    std::string b = read_file(p("t"));
    write_file(p("t"), b.substr(0, b.size() - 3));
    expect_rejected(p("t"), "data_offsets [0, 16] lie outside the data region of 13 bytes");
  }
  // Header text (then data_bytes bytes of data) -> a message naming the file and containing `needle`.
  struct Bad {
    const char* section;
    const char* name;
    std::string header;
    size_t data_bytes;
    const char* needle;
  };
  const std::vector<Bad> bad = {
      {"bad JSON", "json", R"({"a":{"dtype":"F32",)", 0, "invalid JSON"},
      {"bad JSON", "trail", "{} x", 0, "invalid JSON"},
      {"header not UTF-8", "utf", "{\"a\xff\":1}", 0, "header is not valid UTF-8 (byte 3 of the header)"},
      {"header not UTF-8", "overlong", "{\"\xc0\xaf\":1}", 0, "not valid UTF-8"},  // overlong encoding of '/'
      {"header not an object", "arr", "[1, 2]", 0, "header must be a JSON object, got array"},
      {"header not an object", "entry", R"({"a": [1, 2]})", 0, "tensor \"a\": expected an object with dtype, shape, data_offsets"},
      {"duplicate keys", "dup", "{" + ok_entry + "," + ok_entry + "}", 8, "duplicate key \"a\""},
      {"duplicate keys", "dupmeta", R"({"__metadata__":{"x":"1","x":"2"}})", 0, "duplicate key \"x\""},
      {"duplicate keys", "dupfield", R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, "duplicate key \"dtype\""},
      {"unknown dtype", "dt", R"({"a":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}})", 8, "tensor \"a\": unknown or unsupported dtype \"Q4_K\""},
      {"unknown dtype", "f8", R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2, "unsupported dtype \"F8_E4M3\""},
      {"unknown dtype", "dtnum", R"({"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})", 8, "dtype must be a string"},
      {"bad shapes", "neg", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "shape must be a list of non-negative integers"},
      {"bad shapes", "float", R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8, "shape must be a list of non-negative integers"},
      {"bad shapes", "notlist", R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, "shape must be a list"},
      {"bad shapes", "missing", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, "tensor \"a\": missing field 'shape'"},
      // 2^32 * 2^32 overflows u64; 2^61 * 4 bytes overflows i64; 2^63 does not fit torch's int64.
      {"shape overflow", "ov1", R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0, "overflows a 64-bit byte count"},
      {"shape overflow", "ov2", R"({"a":{"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,8]}})", 8, "overflows a 64-bit byte count"},
      {"shape overflow", "ov3", R"({"a":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8, "non-negative integers"},
      // A product that wraps to a small number must not pass: 2^33 * 2^31 = 2^64 -> 0 mod 2^64.
      {"shape overflow", "wrap", R"({"a":{"dtype":"U8","shape":[8589934592,2147483648],"data_offsets":[0,0]}})", 0, "overflows"},
      {"bad data_offsets", "one", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, "data_offsets must be [begin, end]"},
      {"bad data_offsets", "negoff", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8, "data_offsets must be [begin, end]"},
      {"bad data_offsets", "rev", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8, "data_offsets [8, 0] has begin > end"},
      {"shape x dtype size does not match the byte range", "size", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8 bytes"},
      {"shape x dtype size does not match the byte range", "bf", R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,4]}})", 4, "needs 8 bytes"},
      {"range outside the file", "out", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, "data_offsets [0, 16] lie outside the data region of 8 bytes"},
      {"range outside the file", "far", R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[1000000000000,1000000000008]}})", 8, "outside the data region"},
      {"overlapping ranges", "ovl", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, "tensor \"b\" (data_offsets [4, 12]) overlaps tensor \"a\" which ends at 8"},
      {"overlapping ranges", "same", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8, "overlaps"},
      {"gaps and uncovered bytes", "gap", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12, "gap in the data: tensor \"b\" starts at data offset 8 but the bytes before end at 4"},
      {"gaps and uncovered bytes", "start", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "gap in the data: tensor \"a\" starts at data offset 4"},
      {"gaps and uncovered bytes", "tail", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, "tensors cover 4 bytes of the 8-byte data region; 4 trailing bytes"},
      {"gaps and uncovered bytes", "notensor", "{}", 3, "3 trailing bytes"},
      {"metadata that is not a string map", "meta", R"({"__metadata__":{"step":1}})", 0, "__metadata__[\"step\"] must be a string, got number 1"},
      {"metadata that is not a string map", "metalist", R"({"__metadata__":["a"]})", 0, "__metadata__ must be an object of strings, got array"},
  };
  for (const Bad& b : bad) {
    DYNAMIC_SECTION(b.section << ": " << b.name) {
      write_raw_file(p(b.name), b.header, b.data_bytes);
      expect_rejected(p(b.name), b.needle);
    }
  }
  SECTION("deep nesting is an error, not a stack overflow") {
    std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    write_raw_file(p("deep"), deep, 0);
    expect_rejected(p("deep"), "tensor \"a\": expected an object");
  }
  SECTION("not a regular file / missing") {
    fs::create_directories(p("adir"));
    expect_rejected(p("adir"), "not a regular file");
    expect_rejected(p("nothing"), "cannot open");
  }
}

TEST_CASE("files that are valid for the reference implementation load", "[unit][safetensors]") {
  ScratchDir dir;
  // Unpadded header, leading/trailing JSON whitespace, null metadata, unknown extra fields, keys in
  // any order, zero-size tensors sharing an offset.
  const std::string h =
      R"( {"__metadata__":null,"z":{"data_offsets":[0,4],"shape":[2],"dtype":"I16","extra":1},)"
      R"("e1":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},"e2":{"dtype":"F64","shape":[0],"data_offsets":[4,4]},)"
      R"("y":{"dtype":"U8","shape":[],"data_offsets":[4,5]}}  )";
  write_raw_file(dir.file("ok"), h, 5);
  auto f = SafetensorsFile::open(dir.file("ok"));
  CHECK(f->metadata().empty());
  CHECK(f->tensors().size() == 4);
  CHECK(f->info("y").shape.empty());
  CHECK(f->load("y").item<uint8_t>() == 4);  // data bytes are 0, 1, 2, 3, 4
  CHECK(f->load("z")[1].item<int16_t>() == 0x0302);
  CHECK(f->load("e1").sizes() == torch::IntArrayRef({0, 5}));
  CHECK(f->view("e2").numel() == 0);
}

TEST_CASE("BOOL tensors with bytes other than 0/1 are rejected on read", "[unit][safetensors]") {
  ScratchDir dir;
  std::string header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  write_raw_file(dir.file("b"), header, 3);  // bytes 0, 1, 2
  auto f = SafetensorsFile::open(dir.file("b"));  // header is fine
  std::string msg = input_error([&] { f->load("m"); });
  CHECK(msg.find(dir.file("b")) != std::string::npos);
  CHECK(msg.find("BOOL element 2 has byte value 2") != std::string::npos);
  CHECK(input_error([&] { f->view("m"); }).find("must be 0 or 1") != std::string::npos);
}

TEST_CASE("sharded checkpoint round trip", "[unit][safetensors]") {
  ScratchDir dir;
  std::vector<TensorInfo> decls{decl("model.embed", DType::kBF16, {16, 8}),   // 256 B
                                decl("model.a", DType::kF32, {10}),           // 40 B
                                decl("model.b", DType::kF32, {10}),           // 40 B
                                decl("model.big", DType::kF32, {100}),        // 400 B > max: own shard
                                decl("model.c", DType::kI64, {3}),            // 24 B
                                decl("model.flag", DType::kBool, {5})};       // 5 B
  std::map<std::string, torch::Tensor> data;
  torch::manual_seed(3);
  data["model.embed"] = torch::randn({16, 8}).to(torch::kBFloat16);
  data["model.a"] = torch::randn({10});
  data["model.b"] = torch::randn({10});
  data["model.big"] = torch::randn({100});
  data["model.c"] = torch::tensor({-1, 0, 1}, torch::kInt64);
  data["model.flag"] = torch::tensor({true, false, true, true, false});
  // Expected shards with max 300 bytes, greedy in declared order: [embed 256] [a 40, b 40]
  // [big 400] [c 24, flag 5].
  {
    ShardedCheckpointWriter w(dir.path, decls, 300, {{"creator", "test"}});
    REQUIRE(w.shard_files() == std::vector<std::string>{"model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                                        "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"});
    CHECK(w.shard_of("model.b") == "model-00002-of-00004.safetensors");
    CHECK(w.total_bytes() == 256 + 40 + 40 + 400 + 24 + 5);
    CHECK(throws_internal([&] { w.write("model.a", data["model.a"]); }));  // out of order, across shards
    for (const auto& d : decls) w.write(d.name, data[d.name]);
    CHECK_FALSE(fs::exists(dir.file("model.safetensors.index.json")));
    CHECK_FALSE(fs::exists(dir.file("model-00001-of-00004.safetensors")));  // temp until finish
    w.finish();
  }
  CHECK(dir.count() == 5);
  nlohmann::json index = g4u::read_json_file(dir.file("model.safetensors.index.json"));
  CHECK(index["metadata"]["total_size"] == 765);
  CHECK(index["weight_map"].size() == 6);
  CHECK(index["weight_map"]["model.big"] == "model-00003-of-00004.safetensors");
  CHECK(index["weight_map"]["model.flag"] == "model-00004-of-00004.safetensors");

  Checkpoint c = Checkpoint::open(dir.path);
  CHECK(c.path() == dir.file("model.safetensors.index.json"));
  CHECK(c.files().size() == 4);
  CHECK(c.index_total_size() == uint64_t{765});
  CHECK(c.names() == std::vector<std::string>{"model.a", "model.b", "model.big", "model.c", "model.embed", "model.flag"});
  for (const auto& d : decls) {
    INFO(d.name);
    CHECK(c.contains(d.name));
    CHECK(c.info(d.name).shape == d.shape);
    CHECK(torch::equal(c.load(d.name), data[d.name]));
    CHECK(torch::equal(c.view(d.name), data[d.name]));
  }
  CHECK(c.files()[1]->metadata().at("format") == "pt");
  CHECK(c.files()[1]->metadata().at("creator") == "test");
  CHECK(c.file_of("model.c").path() == dir.file("model-00004-of-00004.safetensors"));
  std::string msg = input_error([&] { c.info("model.zzz"); });
  CHECK(msg.find(dir.file("model.safetensors.index.json")) != std::string::npos);
  CHECK(msg.find("no tensor named \"model.zzz\"") != std::string::npos);
  // Opening the index file directly works too.
  CHECK(Checkpoint::open(dir.file("model.safetensors.index.json")).size() == 6);

  // Rewriting the directory as one shard replaces the index (which would otherwise shadow nothing,
  // but stale indexes are removed so the directory has one layout).
  {
    ShardedCheckpointWriter w(dir.path, {decl("x", DType::kF32, {2})}, 1 << 20);
    CHECK(w.shard_files() == std::vector<std::string>{"model.safetensors"});
    w.write("x", torch::ones({2}));
    w.finish();
  }
  CHECK_FALSE(fs::exists(dir.file("model.safetensors.index.json")));
  Checkpoint single = Checkpoint::open(dir.path);
  CHECK(single.names() == std::vector<std::string>{"x"});
  CHECK(single.path() == dir.file("model.safetensors"));
}

TEST_CASE("an unfinished sharded writer leaves no files", "[unit][safetensors]") {
  ScratchDir dir;
  {
    ShardedCheckpointWriter w(dir.path, {decl("a", DType::kF32, {4}), decl("b", DType::kF32, {4})}, 16);
    REQUIRE(w.shard_files().size() == 2);
    w.write("a", torch::ones({4}));
    w.write("b", torch::ones({4}));
    CHECK(dir.count() == 2);  // two temp files
  }
  CHECK(dir.count() == 0);
}

TEST_CASE("checkpoint rename maps names and rejects clashes", "[unit][safetensors]") {
  ScratchDir dir;
  save_safetensors(dir.file("m.safetensors"), {{"model.layers.0.w", torch::ones({2})}, {"lm.x", torch::zeros({1})}});
  Checkpoint c = Checkpoint::open(dir.file("m.safetensors"));
  auto to_canonical = [](const std::string& n) {
    const std::string p = "model.layers.";
    return n.rfind(p, 0) == 0 ? "model.language_model.layers." + n.substr(p.size()) : n;
  };
  c.rename(to_canonical);
  CHECK(c.names() == std::vector<std::string>{"lm.x", "model.language_model.layers.0.w"});
  CHECK(c.disk_name("model.language_model.layers.0.w") == "model.layers.0.w");
  CHECK(torch::equal(c.load("model.language_model.layers.0.w"), torch::ones({2})));
  CHECK_FALSE(c.contains("model.layers.0.w"));
  std::string msg = input_error([&] { c.rename([](const std::string&) { return std::string("same"); }); });
  CHECK(msg.find(dir.file("m.safetensors")) != std::string::npos);
  CHECK(msg.find("both map to the name \"same\"") != std::string::npos);
  CHECK(c.contains("lm.x"));  // a failed rename leaves the names as they were
}

TEST_CASE("malformed checkpoints and indexes are rejected with a message naming the file", "[unit][safetensors]") {
  ScratchDir dir;
  const std::string idx = dir.file("model.safetensors.index.json");
  save_safetensors(dir.file("s1.safetensors"), {{"a", torch::ones({2})}, {"b", torch::ones({1})}});
  save_safetensors(dir.file("s2.safetensors"), {{"c", torch::ones({3})}, {"b", torch::ones({1})}});
  auto expect = [&](const std::string& index_text, const std::string& needle, const std::string& where) {
    write_file(idx, index_text);
    std::string msg = input_error([&] { Checkpoint::open(dir.path); });
    INFO("message: " << msg);
    CHECK(msg.find(where) != std::string::npos);
    CHECK(msg.find(needle) != std::string::npos);
  };
  expect(R"({"weight_map": {"a": "s1.safetensors",}})", "invalid JSON", idx);
  expect(R"({"metadata": {"total_size": 8}})", "missing weight_map", idx);
  expect(R"({"weight_map": ["s1.safetensors"]})", "weight_map must be an object", idx);
  expect(R"({"weight_map": {"a": 3}})", "weight_map[\"a\"] must be a shard file name", idx);
  expect(R"({"weight_map": {"a": "../s1.safetensors"}})", "must be a plain file name", idx);
  expect(R"({"weight_map": {"a": "/etc/passwd"}})", "must be a plain file name", idx);
  expect(R"({"weight_map": {"a": ".."}})", "must be a plain file name", idx);
  expect(R"({"weight_map": {"a": "gone.safetensors"}})", "gone.safetensors\" (listed for tensor \"a\") does not exist", idx);
  expect(R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "zz": "s1.safetensors"}})",
         "tensor \"zz\" is listed in shard \"s1.safetensors\" but that file has no such tensor", idx);
  expect(R"({"weight_map": {"a": "s1.safetensors"}})", "tensor \"b\" is in shard \"s1.safetensors\" but not in weight_map", idx);
  expect(R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})",
         "tensor \"b\" is present in two shards: \"s1.safetensors\" (per weight_map) and \"s2.safetensors\"", idx);
  expect(R"({"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}})", "duplicate key \"a\"", idx);
  expect(R"({"metadata": {"total_size": -1}, "weight_map": {}})", "metadata.total_size must be a non-negative integer", idx);
  // A shard whose header is bad is reported with the shard's own path.
  write_file(dir.file("bad.safetensors"), "1234");
  expect(R"({"weight_map": {"a": "bad.safetensors"}})", "shorter than the 8-byte", dir.file("bad.safetensors"));

  // A valid index opens.
  write_file(idx, R"({"metadata": {"total_size": 12}, "weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})");
  fs::remove(dir.file("s2.safetensors"));
  Checkpoint ok = Checkpoint::open(dir.path);
  CHECK(ok.names() == std::vector<std::string>{"a", "b"});

  // Directory with neither file, and a path that does not exist.
  ScratchDir empty;
  std::string msg = input_error([&] { Checkpoint::open(empty.path); });
  CHECK(msg.find(empty.path) != std::string::npos);
  CHECK(msg.find("neither model.safetensors nor model.safetensors.index.json") != std::string::npos);
  msg = input_error([&] { Checkpoint::open(empty.file("nope")); });
  CHECK(msg.find("no such file or directory") != std::string::npos);
}
