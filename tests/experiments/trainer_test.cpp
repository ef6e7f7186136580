#include "cli_runner.h"
#include "experiments/adamw.h"
#include "experiments/progress.h"
#include "experiments/train_config.h"
#include "experiments/trainer.h"
#include "base/error.h"
#include "model/io/safetensors.h"
#include "datasets/synth/synth.h"
#include "model/io/config.h"
#include "test_paths.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using namespace g4u;
using namespace g4u::experiments;

namespace {

std::string fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("g4u_train_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p.string();
}

// A tiny run on a text suite, an image suite and an audio suite plus a plain-text file.
nlohmann::json tiny_config(int64_t steps, const std::string& text_file) {
  return {{"model", "tiny"},
          {"seed", 7},
          {"data",
           {{"suites", {{{"suite", "arith"}, {"n", 24}}, {{"suite", "count-shapes"}, {"n", 8}}, {{"suite", "tone-compare"}, {"n", 4}}}},
            {"text_files", {{{"path", text_file}, {"ctx", 32}}}},
            {"eval_n", 4}}},
          {"train",
           {{"steps", steps}, {"batch_size", 4}, {"lr", 3e-3}, {"warmup_steps", 2}, {"checkpoint_every", 3},
            {"threads", 1}}}};
}

std::string write_text_file(const std::string& dir) {
  fs::create_directories(dir);
  std::string path = dir + "/corpus.txt";
  std::string text;
  for (int i = 0; i < 20; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("warm-up then cosine learning rate", "[unit]") {
  REQUIRE(warmup_cosine_lr(0, 100, 10, 1.0, 0.1) == Approx(0.1));
  REQUIRE(warmup_cosine_lr(9, 100, 10, 1.0, 0.1) == Approx(1.0));
  REQUIRE(warmup_cosine_lr(10, 100, 10, 1.0, 0.1) == Approx(1.0));
  REQUIRE(warmup_cosine_lr(55, 100, 10, 1.0, 0.1) == Approx(0.55));  // half way: (1 + 0.1) / 2
  REQUIRE(warmup_cosine_lr(100, 100, 10, 1.0, 0.1) == Approx(0.1));
  REQUIRE(format_duration(3725) == "1:02:05");
  REQUIRE(format_duration(65) == "1:05");
}

TEST_CASE("training configs with mistakes are errors naming the field", "[unit]") {
  nlohmann::json good = tiny_config(3, "/dev/null");
  REQUIRE_NOTHROW(parse_train_config(good, "c.json"));
  auto bad = [&](nlohmann::json j, const std::string& needle) {
    try {
      parse_train_config(j, "c.json");
      FAIL("no error");
    } catch (const InputError& e) {
      INFO(e.what());
      REQUIRE(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  nlohmann::json j = good;
  j["train"]["setps"] = 3;
  bad(j, "setps");
  j = good;
  j["train"]["steps"] = 0;
  bad(j, "train.steps");
  j = good;
  j["data"]["suites"][0]["n"] = -1;
  bad(j, "suites[0]");
  j = good;
  j["tokenizer"] = {{"type", "wordpiece"}};
  bad(j, "tokenizer.type");
  j = good;
  j["data"] = nlohmann::json::object();
  bad(j, "no suites");
}

TEST_CASE("train config: one field table parses, writes and lists every field", "[unit]") {
  nlohmann::json j = tiny_config(3, "/dev/null");
  j["data"]["manifests"] = {{{"path", "m.jsonl"}, {"limit", 5}}};
  j["tokenizer"] = {{"type", "sentencepiece"}, {"vocab_size", 300}};
  j["config_overrides"] = {{"text_config", {{"vocab_size", 300}}}};
  TrainConfig c = parse_train_config(j, "c.json");
  CHECK(c.seed == 7);
  CHECK(c.tokenizer == "sentencepiece");
  CHECK(c.tokenizer_vocab_size == 300);
  CHECK(c.manifests.at(0).limit == 5);
  CHECK(c.texts.at(0).ctx == 32);
  CHECK(c.texts.at(0).repeat == 1);  // default
  CHECK(c.beta2 == 0.95);            // default

  // The writer gives every field; what it writes parses to the same config.
  nlohmann::json written = train_config_to_json(c);
  CHECK(written["train"]["beta2"] == 0.95);
  CHECK(written["data"]["text_files"][0]["repeat"] == 1);
  CHECK(written["config_overrides"] == j["config_overrides"]);
  CHECK(train_config_to_json(parse_train_config(written, "written.json")) == written);

  // The help lists every field the writer writes, with its default, and README documents each.
  const std::string help = train_config_help();
  const std::string readme = test::read_file(std::string(G4U_SOURCE_DIR) + "/experiments/README.md");
  for (const auto& [section, value] : written.items()) {
    std::vector<std::string> keys;
    if (value.is_object() && section != "config_overrides") {
      for (const auto& [key, v] : value.items()) keys.push_back(section + "." + key);
    } else {
      keys.push_back(section);
    }
    for (const auto& key : keys) {
      INFO(key);
      CHECK(help.find(key + " ") != std::string::npos);
      CHECK(readme.find("\"" + key.substr(key.rfind('.') + 1) + "\"") != std::string::npos);
    }
  }
  CHECK(help.find("data.suites[].n") != std::string::npos);
  CHECK(help.find("train.lr ") != std::string::npos);
  CHECK(help.find("0.001") != std::string::npos);  // lr's default

  // Accepted values are checked per field, in list items too.
  auto error_of = [](const nlohmann::json& bad) -> std::string {
    try {
      parse_train_config(bad, "c.json");
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  nlohmann::json bad = j;
  bad["train"]["beta1"] = 1.0;
  CHECK(error_of(bad).find("train.beta1: must be in [0, 1)") != std::string::npos);
  bad = j;
  bad["data"]["text_files"][0]["ctx"] = 4;
  CHECK(error_of(bad).find("text_files[0].ctx: must be >= 8") != std::string::npos);
  bad = j;
  bad["data"]["manifests"][0]["limt"] = 1;
  CHECK(error_of(bad).find("limt") != std::string::npos);
  bad = j;
  bad["data"]["suites"][0].erase("n");
  CHECK(error_of(bad).find("suites[0].n: missing") != std::string::npos);
  bad = j;
  bad["train"]["warmup_steps"] = 4;
  CHECK(error_of(bad).find("warmup_steps") != std::string::npos);
  bad = j;
  bad["config_overrides"] = 3;
  CHECK(error_of(bad).find("config_overrides: expected an object") != std::string::npos);
}

TEST_CASE("g4u train --help-config lists the fields without a --config", "[integration]") {
  auto r = test::run_g4u("train --help-config");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == train_config_help());
}

TEST_CASE("a few training steps on a tiny model lower the loss", "[integration]") {
  std::string dir = fresh_dir("loss");
  std::string text = write_text_file(dir + "_text");
  nlohmann::json j = tiny_config(24, text);
  j["data"]["suites"] = {{{"suite", "arith"}, {"n", 16}}};
  j["train"]["checkpoint_every"] = 0;
  TrainConfig c = parse_train_config(j, "test");
  TrainRunOptions o;
  o.out = dir;
  o.progress = false;
  nlohmann::json s = train(c, o);
  nlohmann::json curves = nlohmann::json::parse(test::read_file(dir + "/curves.json"));
  const auto& tr = curves["train"];
  REQUIRE(tr.size() == 24);
  double first = (tr[0]["loss"].get<double>() + tr[1]["loss"].get<double>() + tr[2]["loss"].get<double>()) / 3;
  double last = (tr[21]["loss"].get<double>() + tr[22]["loss"].get<double>() + tr[23]["loss"].get<double>()) / 3;
  INFO("first " << first << " last " << last);
  REQUIRE(last < 0.8 * first);
  // The run folder is a checkpoint every command loads.
  REQUIRE(fs::exists(dir + "/config.json"));
  auto r = test::run_g4u("generate --model " + dir + " --prompt 'What is 1 + 2?' -n 4 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  REQUIRE(s["eval"].contains("arith"));
}

TEST_CASE("resuming after an interruption gives the weights of an uninterrupted run", "[integration]") {
  std::string a = fresh_dir("whole"), b = fresh_dir("resumed");
  std::string text = write_text_file(a + "_text");
  TrainConfig c = parse_train_config(tiny_config(7, text), "test");
  TrainRunOptions o;
  o.progress = false;
  o.out = a;
  nlohmann::json whole = train(c, o);
  REQUIRE_FALSE(whole["interrupted"].get<bool>());

  o.out = b;
  o.stop_at_step = 4;  // after the checkpoint of step 3, so the last checkpoint is written on stop
  nlohmann::json part = train(c, o);
  REQUIRE(part["interrupted"].get<bool>());
  REQUIRE(fs::exists(b + "/checkpoint/optimizer.safetensors"));
  REQUIRE_FALSE(fs::exists(b + "/model.safetensors"));
  o.stop_at_step = 0;
  nlohmann::json rest = train(c, o);
  REQUIRE(rest["resumed_from_step"].get<int64_t>() == 4);
  REQUIRE(rest["steps"].get<int64_t>() == 7);

  auto fa = model::SafetensorsFile::open(a + "/model.safetensors");
  auto fb = model::SafetensorsFile::open(b + "/model.safetensors");
  REQUIRE(fa->tensors().size() == fb->tensors().size());
  for (const auto& t : fa->tensors()) {
    INFO(t.name);
    REQUIRE(torch::equal(fa->load(t), fb->load(t.name)));
  }
  // The curves of the resumed run continue the interrupted one.
  auto ca = nlohmann::json::parse(test::read_file(a + "/curves.json"));
  auto cb = nlohmann::json::parse(test::read_file(b + "/curves.json"));
  REQUIRE(cb["train"].size() == 7);
  for (size_t i = 0; i < 7; ++i) REQUIRE(ca["train"][i]["loss"] == cb["train"][i]["loss"]);
  // A finished run is not silently retrained.
  REQUIRE_THROWS_AS(train(c, o), InputError);
}

TEST_CASE("g4u train: a SentencePiece vocabulary is trained and shipped with the model", "[integration]") {
  std::string dir = fresh_dir("sp");
  std::string text = write_text_file(dir + "_text");
  nlohmann::json j = tiny_config(2, text);
  j["tokenizer"] = {{"type", "sentencepiece"}, {"vocab_size", 400}};
  j["config_overrides"] = {{"text_config", {{"vocab_size", 400}}}};
  j["data"]["suites"] = {{{"suite", "arith"}, {"n", 40}}};
  std::string cfg = dir + "_text/config.json";
  std::ofstream(cfg) << j.dump();
  auto r = test::run_g4u("train --quiet --json --config " + cfg + " --out " + dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  REQUIRE(fs::exists(dir + "/tokenizer.model"));
  auto conf = nlohmann::json::parse(test::read_file(dir + "/config.json"));
  REQUIRE(conf["g4u_tokenizer"] == "sentencepiece");
  auto g = test::run_g4u("generate --model " + dir + " --prompt 'What is 2 + 2?' -n 3 --json");
  INFO(g.err);
  REQUIRE(g.code == 0);
  // Bad config: exit 2 with the field named.
  std::ofstream(cfg) << R"({"model": "tiny", "data": {"suites": [{"suite": "nope", "n": 3}]}})";
  auto bad = test::run_g4u("train --quiet --config " + cfg + " --out " + dir + "_bad");
  REQUIRE(bad.code == 2);
  REQUIRE(bad.err.find("nope") != std::string::npos);
}

TEST_CASE("every training config shipped in experiments/configs/ parses and names known suites and models", "[unit]") {
  int configs = 0;
  for (const auto& e : fs::directory_iterator(std::string(G4U_SOURCE_DIR) + "/experiments/configs")) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path().string());
    TrainConfig c = load_train_config(e.path().string());
    CHECK(c.steps > 0);
    CHECK((c.suites.size() + c.manifests.size() + c.texts.size()) > 0);
    for (const auto& s : c.suites) CHECK_NOTHROW(datasets::find_suite(s.suite));
    CHECK(model::model_preset(c.model).has_value());
    ++configs;
  }
  CHECK(configs >= 1);
}


TEST_CASE("g4u train: an --out the file system refuses is exit 2 naming the folder", "[integration]") {
  test::ScratchDir d("train_out");
  test::write_file(d / "afile", "x");
  const std::string cfg = d / "config.json";
  test::write_file(cfg, tiny_config(3, write_text_file(d / "text")).dump());
  // A file where a folder is needed, and a place no one may create a folder in (sysfs).
  for (const std::string& out : {d / "afile/run", std::string("/sys/g4u_train_out")}) {
    INFO(out);
    auto r = test::run_g4u("train --quiet --config " + cfg + " --out " + out);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains("--out " + out + ": cannot create folder: "));
  }
}
