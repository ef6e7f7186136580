// g4u forward: one forward pass over given token ids; writes the logits of every position as raw
// little-endian float32 [T, vocab] for parity checks against other implementations.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/model_flags.h"
#include "model/error.h"
#include "model/json_util.h"

#include <fmt/format.h>

#include <filesystem>

namespace g4u::app {
namespace {

// Raw float32 bytes of a tensor (row-major), written atomically.
void write_f32(const std::string& path, const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat32).contiguous();
  write_file_atomic(path, std::string(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float)));
}

std::vector<int64_t> tensor_to_ids(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

struct ForwardFlags {
  ModelFlags model;
  std::string tokens;
  std::string out;
  std::string hidden_dir;
  bool json = false;
};

Command forward_cmd("forward", "One forward pass; writes logits [T, vocab] as raw float32", [](CLI::App& sub) {
  auto f = std::make_shared<ForwardFlags>();
  add_model_flags(sub, f->model);
  sub.add_option("--tokens", f->tokens, "Comma-separated token ids")->required();
  sub.add_option("--out", f->out, "Output file for the logits (raw little-endian float32 [T, vocab])")->required();
  sub.add_option("--hidden", f->hidden_dir, "Also write each layer's output [T, hidden] as float32 into this directory");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    std::vector<int64_t> ids = parse_id_list(f->tokens, "--tokens");
    model::LoadedModel lm = load_from_flags(f->model);
    const auto& cfg = lm.model->config().text;
    for (int64_t id : ids)
      if (id < 0 || id >= cfg.vocab_size) throw_input("--tokens: id {} outside the vocabulary [0, {})", id, cfg.vocab_size);
    torch::NoGradGuard ng;
    const int64_t T = ids.size();
    model::KVCache cache(cfg, 1, lm.model->dtype());
    model::ForwardOptions opt;
    opt.collect_layer_outputs = !f->hidden_dir.empty();
    torch::Tensor embeds = lm.model->text().embed(torch::tensor(ids).view({1, T}));
    model::ForwardResult r = lm.model->text().forward(embeds, torch::ones({1, T}, torch::kBool), cache, opt);
    torch::Tensor logits = lm.model->text().logits(r.hidden)[0];
    write_f32(f->out, logits);
    nlohmann::json j = {{"model", lm.source},
                        {"dtype", f->model.dtype},
                        {"tokens", T},
                        {"vocab", cfg.vocab_size},
                        {"logits", f->out},
                        {"shape", {T, cfg.vocab_size}},
                        {"argmax", tensor_to_ids(logits.argmax(-1))}};
    if (!f->hidden_dir.empty()) {
      std::filesystem::create_directories(f->hidden_dir);
      nlohmann::json files = nlohmann::json::array();
      auto emit = [&](const std::string& name, const torch::Tensor& t) {
        std::string path = (std::filesystem::path(f->hidden_dir) / name).string();
        write_f32(path, t[0]);
        files.push_back(name);
      };
      emit("embeddings.f32", embeds);
      for (size_t l = 0; l < r.layer_outputs.size(); ++l) emit(fmt::format("layer_{:02d}.f32", l), r.layer_outputs[l]);
      emit("final_norm.f32", r.hidden);
      j["hidden"] = {{"dir", f->hidden_dir}, {"files", files}, {"shape", {T, cfg.hidden_size}}};
    }
    if (f->json) print_json(j);
    else fmt::print(stderr, "wrote logits [{} x {}] to {}\n", T, cfg.vocab_size, f->out);
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
