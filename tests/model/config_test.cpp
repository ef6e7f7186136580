#include "model/io/config.h"
#include "test_util.h"
#include "base/error.h"
#include "base/json_util.h"
#include "model/io/tensor_specs.h"
#include "test_paths.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <tuple>

using namespace g4u::model;
using nlohmann::json;

namespace {
using g4u::test::expect_input_error;
json released_config() { return g4u::read_json_file(std::string(G4U_FIXTURES_DIR) + "/gemma4-12b/config.json"); }

}  // namespace

TEST_CASE("released 12B config.json loads to the gemma4-12b preset", "[unit][config]") {
  ModelConfig c = load_model_config(std::string(G4U_FIXTURES_DIR) + "/gemma4-12b");
  ModelConfig p = *model_preset("gemma4-12b");
  CHECK(c.text.hidden_size == 3840);
  CHECK(c.text.num_layers == 48);
  CHECK(c.text.sliding.num_heads == 16);
  CHECK(c.text.sliding.num_kv_heads == 8);
  CHECK(c.text.sliding.head_dim == 256);
  CHECK(c.text.full.num_kv_heads == 1);
  CHECK(c.text.full.head_dim == 512);
  CHECK(c.text.k_eq_v);
  CHECK(c.text.rope_full.type == "proportional");
  CHECK(c.text.rope_full.partial_rotary_factor == 0.25);
  CHECK(c.text.rope_full.theta == 1e6);
  CHECK(c.text.rope_sliding.theta == 1e4);
  CHECK(c.text.final_logit_softcapping == 30.0);
  CHECK(c.text.eos_token_ids == std::vector<int64_t>{1, 106, 50});  // from generation_config.json
  CHECK(c.suppress_tokens == std::vector<int64_t>{258883, 258882});
  CHECK(c.text.layer_types == p.text.layer_types);
  for (int64_t l : {5, 11, 17, 23, 29, 35, 41, 47}) CHECK(c.text.layer_types[l] == LayerType::kFull);
  CHECK(c.text.count_layers(LayerType::kFull) == 8);
  REQUIRE(c.vision);
  CHECK(c.vision->model_patch_size() == 48);
  CHECK(c.vision->patch_dim() == 6912);
  REQUIRE(c.audio);
  CHECK(c.audio->audio_embed_dim == 640);
  CHECK(c.warnings.empty());
  CHECK(count_params(model_tensor_specs(c)) == count_params(model_tensor_specs(p)));
}

TEST_CASE("preset parameter counts equal the released numbers", "[unit][config]") {
  auto m = count_params(model_tensor_specs(*model_preset("gemma4-12b")));
  CHECK(m["total"] == 11959730224LL);
  CHECK(m["text"] == 11907350320LL);
  CHECK(m["vision_embedder"] == 35176704LL);
  CHECK(m["vision_projection"] == 14745600LL);
  CHECK(m["audio_projection"] == 2457600LL);
  CHECK(model_tensor_specs(*model_preset("gemma4-12b")).size() == 677);
  auto a = count_params(assistant_tensor_specs(*assistant_preset("gemma4-12b-assistant")));
  CHECK(a["total"] == 422856964LL);
  CHECK(assistant_tensor_specs(*assistant_preset("gemma4-12b-assistant")).size() == 48);
}

TEST_CASE("KV-cache bytes of the 12B match the architecture doc", "[unit][config]") {
  const TextConfig t = model_preset("gemma4-12b")->text;
  // 40 sliding layers x 2 x min(T,1024) x 8 x 256 x 2 B + 8 full layers x 2 x T x 512 x 2 B.
  CHECK(kv_cache_bytes(t, 4096, 2) == 384LL << 20);
  CHECK(kv_cache_bytes(t, 32768, 2) == 832LL << 20);
  CHECK(kv_cache_bytes(t, 131072, 2) == 2368LL << 20);
  CHECK(kv_cache_bytes(t, 262144, 2) == 4416LL << 20);
}

TEST_CASE("per_layer_config layout loads like the flat layout", "[unit][config]") {
  json j = released_config();
  auto& t = j["text_config"];
  t.erase("global_head_dim");
  t.erase("num_global_key_value_heads");
  t["per_layer_config"] = json::object();
  for (int l = 5; l < 48; l += 6) t["per_layer_config"][std::to_string(l)] = {{"head_dim", 512}, {"num_key_value_heads", 1}};
  ModelConfig c = model_config_from_json(j, "plc.json");
  CHECK(c.text.full.head_dim == 512);
  CHECK(c.text.full.num_kv_heads == 1);
  CHECK(c.text.sliding.head_dim == 256);
  CHECK(count_params(model_tensor_specs(c))["total"] == 11959730224LL);

  SECTION("a heterogeneous full layer is refused, naming the field") {
    t["per_layer_config"]["11"]["head_dim"] = 256;
    expect_input_error([&] { model_config_from_json(j, "plc.json"); }, "per_layer_config");
  }
  SECTION("an unknown per-layer override is refused") {
    t["per_layer_config"]["5"]["intermediate_size"] = 999;
    expect_input_error([&] { model_config_from_json(j, "plc.json"); }, "per_layer_config.5.intermediate_size");
  }
  SECTION("a layer index out of range is refused") {
    t["per_layer_config"]["48"] = {{"head_dim", 512}};
    expect_input_error([&] { model_config_from_json(j, "plc.json"); }, "'48'");
  }
}

TEST_CASE("architecture-changing fields are errors naming the field", "[unit][config]") {
  struct Case { std::string key; json value; std::string needle; };
  std::vector<Case> cases = {
      {"enable_moe_block", true, "text_config.enable_moe_block"},
      {"num_experts", 8, "text_config.num_experts"},
      {"num_kv_shared_layers", 4, "text_config.num_kv_shared_layers"},
      {"hidden_size_per_layer_input", 256, "text_config.hidden_size_per_layer_input"},
      {"use_double_wide_mlp", true, "text_config.use_double_wide_mlp"},
      {"attention_bias", true, "text_config.attention_bias"},
      {"hidden_activation", "silu", "text_config.hidden_activation"},
      {"tie_word_embeddings", false, "text_config.tie_word_embeddings"},
      {"use_bidirectional_attention", "all", "text_config.use_bidirectional_attention"},
      {"num_hidden_layers", 47, "layer_types"},
      {"num_key_value_heads", 7, "not a multiple"},
  };
  for (const auto& k : cases) {
    DYNAMIC_SECTION(k.key) {
      json j = released_config();
      j["text_config"][k.key] = k.value;
      expect_input_error([&] { model_config_from_json(j, "cfg.json"); }, k.needle);
    }
  }
  SECTION("rope type") {
    json j = released_config();
    j["text_config"]["rope_parameters"]["full_attention"]["rope_type"] = "yarn";
    expect_input_error([&] { model_config_from_json(j, "cfg.json"); }, "rope_parameters.full_attention.rope_type");
  }
  SECTION("contradicting vision patch size") {
    json j = released_config();
    j["vision_config"]["model_patch_size"] = 32;
    expect_input_error([&] { model_config_from_json(j, "cfg.json"); }, "vision_config.model_patch_size");
  }
  SECTION("contradicting audio aliases") {
    json j = released_config();
    j["audio_config"]["audio_samples_per_token"] = 320;
    expect_input_error([&] { model_config_from_json(j, "cfg.json"); }, "audio_config.audio_samples_per_token");
  }
  SECTION("wrong type") {
    json j = released_config();
    j["text_config"]["hidden_size"] = "big";
    expect_input_error([&] { model_config_from_json(j, "cfg.json"); }, "text_config.hidden_size: expected an integer");
  }
}

TEST_CASE("a missing size that fixes tensor shapes is named, not defaulted to HF's placeholder", "[unit][config]") {
  // HF's Gemma4 text defaults for these (2304, 9216, 30, 8, 4) describe no Gemma 4 unified checkpoint.
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads"}) {
    INFO(key);
    json j = released_config();
    j["text_config"].erase(key);
    expect_input_error([&] { model_config_from_json(j, "ckpt/config.json"); },
                       std::string("ckpt/config.json.text_config.") + key + ": missing required field");
  }
  SECTION("fields with a reference default still take it") {
    json j = released_config();
    for (const char* key : {"vocab_size", "head_dim", "max_position_embeddings", "rms_norm_eps", "sliding_window"})
      j["text_config"].erase(key);
    ModelConfig c = model_config_from_json(j, "ckpt/config.json");
    CHECK(c.text.vocab_size == 262144);
    CHECK(c.text.sliding.head_dim == 256);
    CHECK(c.text.max_position_embeddings == 262144);
    CHECK(c.text.sliding_window == 1024);
  }
  SECTION("head counts may come from per_layer_config alone, for every layer") {
    json j = released_config();
    auto& t = j["text_config"];
    t.erase("num_attention_heads");
    t["per_layer_config"] = json::object();
    for (int l = 0; l < 47; ++l) t["per_layer_config"][std::to_string(l)] = {{"num_attention_heads", 16}};
    // Layer 47 has no value anywhere.
    expect_input_error([&] { model_config_from_json(j, "plc.json"); }, "num_attention_heads: missing required field (layer 47");
    t["per_layer_config"]["47"] = {{"num_attention_heads", 16}};
    CHECK(model_config_from_json(j, "plc.json").text.full.num_heads == 16);
  }
}

TEST_CASE("sizes past g4u's limits are named as the config is read, before anything is sized from them", "[unit][config]") {
  struct Case {
    const char* key;
    int64_t value;
    const char* message;
  };
  for (const Case& k : {Case{"num_hidden_layers", 1000000000, "text_config.num_hidden_layers: 1000000000 layers is above g4u's limit of 4096"},
                        Case{"vocab_size", 1000000000000, "vocab_size 1000000000000 is above g4u's limit of 16777216"},
                        Case{"hidden_size", int64_t(1) << 21, "hidden_size 2097152 is above g4u's limit of 1048576"},
                        Case{"max_position_embeddings", int64_t(1) << 40, "max_position_embeddings 1099511627776 is above"}}) {
    INFO(k.key);
    json j = released_config();
    j["text_config"][k.key] = k.value;
    if (std::string(k.key) == "num_hidden_layers") j["text_config"].erase("layer_types");
    expect_input_error([&] { model_config_from_json(j, "ckpt/config.json"); }, k.message);
  }
  json j = released_config();
  j["vision_config"]["num_soft_tokens"] = 1 << 20;
  expect_input_error([&] { model_config_from_json(j, "ckpt/config.json"); },
                     "vision_config: num_soft_tokens 1048576 is above g4u's limit of 65536");
}

TEST_CASE("fields without effect on inference are accepted", "[unit][config]") {
  json j = released_config();
  j["text_config"]["initializer_range"] = 0.5;
  j["text_config"]["attention_dropout"] = 0.1;
  j["transformers_version"] = "9.9.9";
  ModelConfig c = model_config_from_json(j, "cfg.json");
  CHECK(c.warnings.empty());
  j["text_config"]["some_future_field"] = 1;
  c = model_config_from_json(j, "cfg.json");
  REQUIRE(c.warnings.size() == 1);
  CHECK(c.warnings[0].find("some_future_field") != std::string::npos);
}

TEST_CASE("missing layer_types follow HF's 5:1 default with the last layer full", "[unit][config]") {
  json j = released_config();
  j["text_config"].erase("layer_types");
  j["text_config"]["num_hidden_layers"] = 8;
  ModelConfig c = model_config_from_json(j, "cfg.json");
  REQUIRE(c.text.layer_types.size() == 8);
  CHECK(c.text.layer_types[5] == LayerType::kFull);
  CHECK(c.text.layer_types[7] == LayerType::kFull);  // forced, as HF does
  CHECK(c.text.layer_types[6] == LayerType::kSliding);
}

TEST_CASE("every preset round-trips through config.json", "[unit][config]") {
  for (const auto& name : model_preset_names()) {
    ModelConfig p = *model_preset(name);
    ModelConfig back = model_config_from_json(model_config_to_json(p), name);
    CHECK(back.warnings.empty());
    CHECK(count_params(model_tensor_specs(back)) == count_params(model_tensor_specs(p)));
    CHECK(back.text.layer_types == p.text.layer_types);
    CHECK(back.tokenizer == p.tokenizer);
    CHECK(back.suppress_tokens == p.suppress_tokens);
  }
  for (const auto& name : assistant_preset_names()) {
    AssistantConfig p = *assistant_preset(name);
    AssistantConfig back = assistant_config_from_json(assistant_config_to_json(p), name);
    CHECK(back.warnings.empty());
    CHECK(count_params(assistant_tensor_specs(back)) == count_params(assistant_tensor_specs(p)));
  }
}

namespace {
// Every field of the parsed structs as one tuple (`name` and `warnings` are not config.json fields).
auto fields(const AttentionGeometry& g) { return std::tie(g.num_heads, g.num_kv_heads, g.head_dim); }
auto fields(const RopeParams& r) { return std::tie(r.type, r.theta, r.partial_rotary_factor); }
auto fields(const TextConfig& t) {
  return std::tuple_cat(std::tie(t.vocab_size, t.hidden_size, t.intermediate_size, t.num_layers, t.k_eq_v,
                                 t.sliding_window, t.layer_types, t.rms_norm_eps, t.final_logit_softcapping,
                                 t.max_position_embeddings, t.pad_token_id, t.bos_token_id, t.eos_token_ids,
                                 t.bidirectional_vision, t.num_kv_shared_layers),
                        fields(t.sliding), fields(t.full), fields(t.rope_sliding), fields(t.rope_full));
}
auto fields(const VisionConfig& v) {
  return std::tie(v.patch_size, v.pooling_kernel_size, v.mm_embed_dim, v.mm_posemb_size, v.output_proj_dims,
                  v.num_soft_tokens, v.rms_norm_eps, v.layer_norm_eps, v.projector, v.position, v.token_pooling);
}
auto fields(const AudioConfig& a) {
  return std::tie(a.audio_embed_dim, a.sample_rate, a.max_frames, a.rms_norm_eps, a.projector);
}
auto fields(const SpecialTokens& k) { return std::tie(k.boi, k.eoi, k.image, k.video, k.boa, k.eoa, k.audio); }

void check_same(const ModelConfig& a, const ModelConfig& b) {
  CHECK(fields(a.text) == fields(b.text));
  REQUIRE(a.vision.has_value() == b.vision.has_value());
  if (a.vision) CHECK(fields(*a.vision) == fields(*b.vision));
  REQUIRE(a.audio.has_value() == b.audio.has_value());
  if (a.audio) CHECK(fields(*a.audio) == fields(*b.audio));
  CHECK(fields(a.tokens) == fields(b.tokens));
  CHECK(a.suppress_tokens == b.suppress_tokens);
  CHECK(a.tokenizer == b.tokenizer);
}

void check_same(const AssistantConfig& a, const AssistantConfig& b) {
  CHECK(fields(a.text) == fields(b.text));
  CHECK(std::tie(a.backbone_hidden_size, a.use_ordered_embeddings, a.num_centroids, a.centroid_intermediate_top_k) ==
        std::tie(b.backbone_hidden_size, b.use_ordered_embeddings, b.num_centroids, b.centroid_intermediate_top_k));
}
}  // namespace

TEST_CASE("parse -> to_json -> parse keeps every field", "[unit][config]") {
  const std::string fixtures = G4U_FIXTURES_DIR;
  SECTION("every field off the value an absent key gives") {
    ModelConfig c = load_model_config(fixtures + "/config/every-field.json");
    CHECK(c.warnings.empty());
    CHECK(c.text.full.num_heads != c.text.sliding.num_heads);  // written as per_layer_config
    CHECK(c.vision->layer_norm_eps == 1e-4);
    ModelConfig back = model_config_from_json(model_config_to_json(c), "back.json");
    CHECK(back.warnings.empty());
    check_same(back, c);
  }
  SECTION("the released config.json") {
    ModelConfig c = load_model_config(fixtures + "/gemma4-12b");
    check_same(model_config_from_json(model_config_to_json(c), "back.json"), c);
  }
  SECTION("every preset") {
    for (const auto& name : model_preset_names()) {
      ModelConfig p = *model_preset(name);
      check_same(model_config_from_json(model_config_to_json(p), name), p);
    }
  }
  SECTION("assistants") {
    AssistantConfig c = load_assistant_config(fixtures + "/config/every-field-assistant.json");
    CHECK(c.warnings.empty());
    AssistantConfig back = assistant_config_from_json(assistant_config_to_json(c), "back.json");
    CHECK(back.warnings.empty());
    check_same(back, c);
    for (const auto& name : assistant_preset_names()) {
      AssistantConfig p = *assistant_preset(name);
      check_same(assistant_config_from_json(assistant_config_to_json(p), name), p);
    }
  }
}

TEST_CASE("tiny preset keeps the features tests need", "[unit][config]") {
  TextConfig t = model_preset("tiny")->text;
  CHECK(t.count_layers(LayerType::kFull) >= 2);
  CHECK(t.k_eq_v);
  CHECK(t.rope_full.type == "proportional");
  CHECK(t.sliding_window < 16);
}

TEST_CASE("alternative tensor-name spellings map to the canonical names", "[unit][config]") {
  CHECK(canonical_model_tensor_name("model.layers.3.mlp.up_proj.weight") == "model.language_model.layers.3.mlp.up_proj.weight");
  CHECK(canonical_model_tensor_name("model.embed_tokens.weight") == "model.language_model.embed_tokens.weight");
  CHECK(canonical_model_tensor_name("model.embed_vision.patch_ln1.bias") == "model.vision_embedder.patch_ln1.bias");
  CHECK(canonical_model_tensor_name("model.embed_vision.pos_embedding") == "model.vision_embedder.pos_embedding");
  CHECK(canonical_model_tensor_name("model.embed_vision.multimodal_embedder.embedding_projection.weight") ==
        "model.embed_vision.embedding_projection.weight");
  CHECK(canonical_model_tensor_name("model.language_model.norm.weight") == "model.language_model.norm.weight");
}
