// Loading at the cost of the weights: parameters stored in the run dtype view the memory-mapped
// checkpoint (the kernel's /proc/self/maps says where each one lives), converted ones are owned
// copies, writes never reach the file, and a checkpoint without a vocabulary says so.
#include "model/io/loader.h"
#include "model/io/sysinfo.h"
#include "test_util.h"

#include <catch2/catch.hpp>

#include <malloc.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace g4u;
using namespace g4u::test;
namespace fs = std::filesystem;

namespace {

// A random `tiny` checkpoint stored in `stored` under dir/name; returns its folder.
std::string write_tiny(const ScratchDir& dir, const char* name, uint64_t seed, torch::Dtype stored) {
  const std::string ck = dir / name;
  model::write_random_checkpoint(*model::model_preset("tiny"), ck, seed, stored);
  return ck;
}

model::LoadOptions run_in(torch::Dtype dtype, bool map_weights = false) {
  model::LoadOptions opt;
  opt.dtype = dtype;
  opt.map_weights = map_weights;
  return opt;
}

// Every parameter holds the preset's seeded fp32 weights (the reference path builds them in memory).
void check_equals_preset(const model::LoadedModel& lm, uint64_t seed) {
  model::LoadedModel ref = model::load_model("tiny", {torch::kFloat32, seed});
  auto loaded = lm.model->named_parameters(true);
  for (const auto& p : ref.model->named_parameters(true)) {
    CHECK(!model::is_placeholder(loaded[p.key()]));
    CHECK(torch::equal(loaded[p.key()], p.value()));
  }
}

}  // namespace

TEST_CASE("by default every tensor is an owned copy and the file is not kept mapped", "[unit][load]") {
  ScratchDir dir("load_copies");
  const std::string ck = write_tiny(dir, "fp32", 3, torch::kFloat32);
  model::LoadedModel lm = model::load_model(ck, run_in(torch::kFloat32));
  CHECK(mappings_of(ck + "/model.safetensors").empty());
  check_equals_preset(lm, 3);
}

TEST_CASE("with map_weights a checkpoint stored in the run dtype is loaded as views of its mapping", "[unit][load]") {
  ScratchDir dir("load_views");
  const std::string ck = write_tiny(dir, "fp32", 3, torch::kFloat32);
  const model::LoadOptions opt = run_in(torch::kFloat32, true);
  model::LoadedModel lm = model::load_model(ck, opt);
  const auto ranges = mappings_of(ck + "/model.safetensors");
  REQUIRE(!ranges.empty());
  int64_t viewed = 0, params = 0;
  for (const auto& p : lm.model->named_parameters(true)) {
    ++params;
    viewed += inside(ranges, p.value()) ? 1 : 0;
    CHECK(!model::is_placeholder(p.value()));
  }
  // Every tensor of an aligned fp32 file is a view: none was copied.
  CHECK(viewed == params);

  // The same values as the reference path: the preset's seeded weights.
  check_equals_preset(lm, 3);

  // Writing to a parameter copies the page: the file keeps its bytes.
  const std::string before = read_file(ck + "/model.safetensors");
  {
    torch::NoGradGuard ng;
    lm.model->text().norm->weight.fill_(42.0f);
  }
  CHECK(read_file(ck + "/model.safetensors") == before);
  CHECK(model::load_model(ck, opt).model->text().norm->weight.eq(42.0f).sum().item<int64_t>() == 0);
}

TEST_CASE("a checkpoint converted to another dtype owns its tensors and keeps no mapping alive", "[unit][load]") {
  ScratchDir dir("load_convert");
  const std::string ck = write_tiny(dir, "bf16", 4, torch::kBFloat16);
  model::LoadedModel lm = model::load_model(ck, run_in(torch::kFloat32));
  for (const auto& p : lm.model->named_parameters(true)) CHECK(p.value().scalar_type() == torch::kFloat32);
  // No parameter views the file, so once loading is done it is no longer mapped.
  CHECK(mappings_of(ck + "/model.safetensors").empty());

  // Run in the stored dtype instead, mapped: views again.
  model::LoadedModel same = model::load_model(ck, run_in(torch::kBFloat16, true));
  const auto ranges = mappings_of(ck + "/model.safetensors");
  REQUIRE(!ranges.empty());
  CHECK(inside(ranges, same.model->text().embed_tokens->weight));
  // Widened exactly: bf16 -> fp32 is lossless.
  CHECK(torch::equal(same.model->text().embed_tokens->weight.to(torch::kFloat32), lm.model->text().embed_tokens->weight));
}

TEST_CASE("a preset is built in the run dtype with the values g4u init writes, on any thread count", "[unit][load]") {
  ScratchDir dir("load_preset_dtype");
  // The streamed writer rounds each fp32 chunk to bf16 on its own: an independent path to the values.
  const std::string ck = write_tiny(dir, "bf16", 6, torch::kBFloat16);
  model::LoadedModel stored = model::load_model(ck, run_in(torch::kBFloat16));
  model::LoadedModel preset = model::load_model("tiny", {torch::kBFloat16, 6});
  CHECK(preset.random_weights);
  auto want = stored.model->named_parameters(true);
  for (const auto& p : preset.model->named_parameters(true)) {
    CHECK(p.value().scalar_type() == torch::kBFloat16);
    CHECK(torch::equal(p.value(), want[p.key()]));
  }

  // A tensor of several chunks: drawn in parallel, the same values as chunk by chunk in order.
  model::TensorSpec big;
  big.name = "model.language_model.layers.0.mlp.up_proj.weight";
  big.shape = {3 * model::kInitChunk + 5};
  big.kind = model::TensorKind::kLinear;
  const int threads = torch::get_num_threads();
  torch::set_num_threads(2);
  const torch::Tensor two = model::random_init_tensor(big, 9, torch::kBFloat16);
  torch::set_num_threads(1);
  const torch::Tensor one = model::random_init_tensor(big, 9, torch::kBFloat16);
  torch::set_num_threads(threads);
  torch::Tensor chunk = torch::empty({model::kInitChunk}, torch::kFloat32);
  for (int64_t c = 0; c < 4; ++c) {
    const int64_t off = c * model::kInitChunk, len = std::min(model::kInitChunk, big.numel() - off);
    torch::Tensor part = chunk.narrow(0, 0, len);
    model::random_init_chunk(big, 9, c, part);
    CHECK(torch::equal(two.narrow(0, off, len), part.to(torch::kBFloat16)));
  }
  CHECK(torch::equal(one, two));
}

TEST_CASE("the 12B preset runs on token ids alone; text without its tokenizer is refused before allocating",
          "[unit][load]") {
  // tokenizer = true (every text command): an InputError naming what runs without one, before any
  // of the 22 GiB is allocated.
  const std::string msg = input_error([] { model::load_model("gemma4-12b", {torch::kBFloat16, 0}); });
  CHECK_THAT(msg, Catch::Contains("no built-in tokenizer"));
  CHECK_THAT(msg, Catch::Contains("token ids"));
}

TEST_CASE("a preset without a built-in vocabulary is written with tokenizer none", "[unit][load]") {
  ScratchDir dir("load_none");
  model::ModelConfig cfg = *model::model_preset("tiny");
  cfg.tokenizer = "sentencepiece";  // as gemma4-12b: its tokenizer.model is not something g4u can write
  model::write_random_checkpoint(cfg, dir / "ck", 1, torch::kFloat32);
  const model::ModelConfig written = model::load_model_config(dir / "ck");
  CHECK(written.tokenizer == "none");

  // Token ids only: loads without a tokenizer.
  model::LoadOptions ids_only;
  ids_only.tokenizer = false;
  CHECK(model::load_model(dir / "ck", ids_only).tokenizer == nullptr);
  // Text needs a vocabulary: the error says why and what runs without one.
  const std::string msg = input_error([&] { model::load_model(dir / "ck"); });
  CHECK_THAT(msg, Catch::Contains("no vocabulary"));
  CHECK_THAT(msg, Catch::Contains("token ids"));
}

TEST_CASE("resident memory is split by kind of mapping, and the kinds add up to the process's RSS", "[unit][load]") {
  constexpr size_t kAnon = size_t(64) << 20, kFile = size_t(16) << 20;
  ScratchDir dir("resident_kinds");
  const std::string path = dir / "data.bin";
  { std::ofstream(path, std::ios::binary) << std::string(kFile, 'x'); }
  // Freed heap memory goes back to the system now, not in a trim between the snapshots below.
  ::malloc_trim(0);
  const ResidentBreakdown before = resident_breakdown();
  // This test binary links LibTorch, so its libraries are mapped and partly resident.
  CHECK(before.shared_libraries > 1);
  CHECK(before.libtorch_bytes > 0);
  CHECK(before.libtorch_bytes <= before.shared_library_bytes);
  const double sum = static_cast<double>(before.anonymous_bytes + before.shared_library_bytes + before.other_file_bytes);
  CHECK(sum == Approx(static_cast<double>(current_rss_bytes())).epsilon(0.05));

  // 64 MiB of anonymous memory, every page written, and a 16 MiB file mapped and read: with them
  // mapped, each kind holds what was touched (4 KiB pages) more than right after they are unmapped
  // (two snapshots microseconds apart, nothing else allocated or freed between them).
  void* anon = ::mmap(nullptr, kAnon, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(anon != MAP_FAILED);
  for (size_t i = 0; i < kAnon; i += 4096) static_cast<volatile char*>(anon)[i] = 1;
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  void* file = ::mmap(nullptr, kFile, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  REQUIRE(file != MAP_FAILED);
  int64_t bytes_read = 0;
  for (size_t i = 0; i < kFile; i += 4096) bytes_read += static_cast<const volatile char*>(file)[i];
  const ResidentBreakdown mapped = resident_breakdown();
  ::munmap(anon, kAnon);
  ::munmap(file, kFile);
  const ResidentBreakdown unmapped = resident_breakdown();
  // The second snapshot's own allocations may add a few pages (ASan's shadow memory: 8 KiB in CI).
  constexpr int64_t kSlack = int64_t(1) << 20;
  CHECK(bytes_read == 'x' * int64_t(kFile / 4096));
  CHECK(mapped.anonymous_bytes - unmapped.anonymous_bytes >= int64_t(kAnon) - kSlack);
  CHECK(mapped.anonymous_bytes - unmapped.anonymous_bytes < int64_t(kAnon) + (int64_t(16) << 20));
  CHECK(mapped.other_file_bytes - unmapped.other_file_bytes >= int64_t(kFile) - kSlack);
  CHECK(mapped.other_file_bytes - unmapped.other_file_bytes < int64_t(kFile) + (int64_t(4) << 20));
  CHECK(mapped.shared_libraries == before.shared_libraries);
  CHECK(unmapped.shared_libraries == before.shared_libraries);
}
