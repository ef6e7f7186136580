// g4u forward: one forward pass over given token ids; writes the logits of every position as raw
// little-endian float32 [T, vocab] for parity checks against other implementations.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "apps/flags/model_flags.h"
#include "apps/flags/prompt_flags.h"
#include "model/multimodal/prompt.h"
#include "model/text/generate.h"
#include "base/error.h"
#include "base/json_util.h"

#include <fmt/format.h>

#include <filesystem>

namespace g4u::app {
namespace {

// Raw little-endian bytes of a tensor (row-major) as float32 or int64, written atomically.
void write_raw(const std::string& path, const torch::Tensor& t, torch::ScalarType type) {
  torch::Tensor c = t.to(torch::kCPU, type).contiguous();
  write_file_atomic(path, std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}
void write_f32(const std::string& path, const torch::Tensor& t) { write_raw(path, t, torch::kFloat32); }

// --dump-inputs: the preprocessed model inputs, so the model math can be checked apart from
// preprocessing. Returns a description of the files.
nlohmann::json dump_inputs(const std::string& dir, const model::MultimodalPrompt& p) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  auto path = [&](const std::string& n) { return (fs::path(dir) / n).string(); };
  nlohmann::json files = nlohmann::json::object();
  int64_t T = p.input_ids.size();
  write_raw(path("input_ids.i64"), torch::tensor(p.input_ids), torch::kInt64);
  files["input_ids.i64"] = {{"dtype", "int64"}, {"shape", {T}}};
  write_raw(path("mm_token_type_ids.i64"), torch::tensor(p.mm_token_type_ids), torch::kInt64);
  files["mm_token_type_ids.i64"] = {{"dtype", "int64"}, {"shape", {T}}};
  if (!p.images.empty()) {
    std::vector<torch::Tensor> pix, pos;
    for (const auto& im : p.images) {
      pix.push_back(im.pixels);
      pos.push_back(im.positions);
    }
    torch::Tensor pv = torch::stack(pix), pp = torch::stack(pos);  // same budget for every image
    write_f32(path("pixel_values.f32"), pv);
    write_raw(path("image_position_ids.i64"), pp, torch::kInt64);
    files["pixel_values.f32"] = {{"dtype", "float32"}, {"shape", pv.sizes().vec()}};
    files["image_position_ids.i64"] = {{"dtype", "int64"}, {"shape", pp.sizes().vec()}, {"layout", "(x, y); padding (-1, -1)"}};
  }
  for (size_t k = 0; k < p.audios.size(); ++k) {
    std::string n = fmt::format("audio_frames_{}.f32", k);
    write_f32(path(n), p.audios[k].frames);
    files[n] = {{"dtype", "float32"}, {"shape", p.audios[k].frames.sizes().vec()}};
  }
  nlohmann::json j = {{"dir", dir}, {"files", files}};
  write_file_atomic(path("inputs.json"), j.dump(2) + "\n");
  return j;
}

std::vector<int64_t> tensor_to_ids(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

struct ForwardFlags {
  ModelFlags model;
  PromptFlags prompt;
  std::string dump_inputs;
  std::string tokens;
  std::string out;
  std::string hidden_dir;
  bool json = false;
};

Command forward_cmd("forward", "One forward pass; writes logits [T, vocab] as raw float32", [](CLI::App& sub) {
  auto f = std::make_shared<ForwardFlags>();
  add_model_flags(sub, f->model);
  sub.add_option("--tokens", f->tokens, "Comma-separated token ids (or --prompt)");
  add_prompt_flags(sub, f->prompt, /*prompt_required=*/false);
  sub.add_option("--dump-inputs", f->dump_inputs,
                 "Write the preprocessed inputs (input_ids, mm_token_type_ids, pixel patches, positions, audio frames) "
                 "as raw int64/float32 files into this directory");
  sub.add_option("--out", f->out, "Output file for the logits (raw little-endian float32 [T, vocab])")->required();
  sub.add_option("--hidden", f->hidden_dir, "Also write each layer's output [T, hidden] as float32 into this directory");
  sub.add_flag("--json", f->json, "Print JSON on stdout");
  return [f]() -> int {
    const bool by_prompt = !f->prompt.prompt.empty() || !f->prompt.images.empty() || !f->prompt.audios.empty();
    if (by_prompt == !f->tokens.empty()) throw_input("forward: give either --tokens or --prompt (with --image/--audio)");
    model::VisionMask mask = parse_vision_mask(f->prompt.vision_mask);
    model::LoadedModel lm = load_from_flags(f->model, /*with_tokenizer=*/by_prompt);
    const auto& cfg = lm.model->config().text;
    model::MultimodalPrompt mp;
    if (by_prompt) {
      mp = build_prompt(lm, f->prompt);
    } else {
      std::vector<int64_t> ids = parse_id_list(f->tokens, "--tokens");
      for (int64_t id : ids)
        if (id < 0 || id >= cfg.vocab_size) throw_input("--tokens: id {} outside the vocabulary [0, {})", id, cfg.vocab_size);
      mp = model::expand_placeholders(ids, lm.model->config(), {}, {}, "--tokens");
    }
    torch::NoGradGuard ng;
    const int64_t T = mp.input_ids.size();
    model::check_fits_positions(lm.model->config().text, T, 0, "forward");
    model::check_fits_memory(lm.model->config().text, 1, T, 0, T, c10::elementSize(parse_dtype_flag(f->model.dtype)),
                             "forward");
    torch::Tensor ids = torch::tensor(mp.input_ids).view({1, T});
    model::ForwardOptions opt = model::multimodal_forward_options(ids, lm.model->config(), mask);
    opt.collect_layer_outputs = !f->hidden_dir.empty();
    torch::Tensor embeds = model::embed_multimodal(*lm.model, ids, mp.images, mp.audios);
    model::ForwardResult r = lm.model->text().forward(embeds, torch::ones({1, T}, torch::kBool), nullptr, opt);
    torch::Tensor logits = lm.model->text().logits(r.hidden)[0];
    write_f32(f->out, logits);
    nlohmann::json j = {{"model", lm.source},
                        {"dtype", f->model.dtype},
                        {"device", f->model.device},
                        {"tokens", T},
                        {"vocab", cfg.vocab_size},
                        {"logits", f->out},
                        {"shape", {T, cfg.vocab_size}},
                        {"argmax", tensor_to_ids(logits.argmax(-1))},
                        {"input_ids", mp.input_ids},
                        {"mm_token_type_ids", mp.mm_token_type_ids},
                        {"vision_mask", f->prompt.vision_mask}};
    if (!f->dump_inputs.empty()) j["dump_inputs"] = dump_inputs(f->dump_inputs, mp);
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
