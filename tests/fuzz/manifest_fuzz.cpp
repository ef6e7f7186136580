// A JSONL manifest (datasets/manifest/manifest.h) read as `g4u eval --data` and `g4u data check`
// read it: strictly (the first bad line is an error naming file:line and field) and skipping bad
// lines. Media paths resolve against the scratch folder, which holds one small image and one WAV.
#include "datasets/manifest/manifest.h"
#include "test_paths.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdlib>
#include <filesystem>

using namespace g4u;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  const std::string media = std::string(G4U_FIXTURES_DIR) + "/media";
  fs::copy_file(media + "/palette.png", fuzz::scratch_dir() + "/img.png");
  for (const auto& e : fs::recursive_directory_iterator(std::string(G4U_FIXTURES_DIR) + "/benchmarks"))
    if (e.path().extension() == ".wav") {
      fs::copy_file(e.path(), fuzz::scratch_dir() + "/clip.wav");
      break;
    }
  fuzz::write_seed(R"({"id": "q1", "task": "t", "question": "2+2?", "answers": ["4"], "meta": {"subject": "Math"}})" "\n"
                   R"({"id": "q2", "task": "t", "images": ["img.png"], "question": "Which?", "choices": ["a", "b"], "answers": ["a"]})" "\n"
                   R"({"id": "q3", "task": "t", "audios": ["clip.wav"], "question": "Say", "answers": ["x", "y"], "cluster": "c"})" "\n"
                   R"({"id": "q4", "task": "t", "messages": [{"role": "user", "content": [{"type": "image", "path": "img.png"}, )"
                   R"({"type": "text", "text": "What?"}]}], "answers": ["x"]})" "\n",
                   "three_lines.jsonl");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "manifest.jsonl");
  size_t strict = 0;
  fuzz::expect_clean_errors([&] { strict = datasets::read_manifest(path).size(); });
  fuzz::expect_clean_errors([&] {
    datasets::ReaderOptions o;
    o.skip_invalid = true;
    if (datasets::read_manifest(path, o).size() < strict) std::abort();  // skipping loses no valid line
  });
  return 0;
}
