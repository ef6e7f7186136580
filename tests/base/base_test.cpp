// The torch-free base library: hashing, random streams, UTF-8, JSON files, errors.
#include "base/byte_buffer.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/json_util.h"
#include "base/mapped_copy.h"
#include "base/registry.h"
#include "base/rng.h"
#include "base/temp_files.h"
#include "base/utf8.h"
#include "test_util.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <sstream>
#include <vector>

using namespace g4u;
using g4u::test::ScratchDir;

TEST_CASE("FNV-1a 64 matches the published test vectors", "[unit]") {
  // Vectors from the FNV reference (draft-eastlake-fnv, isthe.com/chongo/tech/comp/fnv).
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
  // Continuing from a partial hash equals hashing the concatenation.
  CHECK(fnv1a64("bar", fnv1a64("foo")) == fnv1a64("foobar"));
  static_assert(fnv1a64("a") == 0xaf63dc4c8601ec8cull, "usable at compile time");
  CHECK(hex64(0xaf63dc4c8601ec8cull) == "af63dc4c8601ec8c");
  CHECK(hex64(1) == "0000000000000001");
}

TEST_CASE("fnv1a64_file streams the bytes of a file; a missing file is an InputError naming it", "[unit]") {
  ScratchDir dir("base");
  std::string big(200000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);  // crosses the 64 KiB reads
  test::write_file(dir / "f.bin", big);
  CHECK(fnv1a64_file(dir / "f.bin") == fnv1a64(big));
  CHECK_THAT(test::input_error([&] { fnv1a64_file(dir / "missing"); }), Catch::Contains("missing"));
}

TEST_CASE("SplitMix64 gives the reference stream and unbiased bounded draws", "[unit]") {
  // First outputs of SplitMix64 from state 0 (Vigna's splitmix64.c).
  Rng r(0);
  CHECK(r.next_u64() == 0xe220a8397b1dcdafull);
  CHECK(r.next_u64() == 0x6e789e6aa1b965f4ull);
  CHECK(splitmix64(0) == 0xe220a8397b1dcdafull);
  // below(n): every value in [0, n), each about equally often (n = 3 does not divide 2^64).
  Rng s(42);
  std::vector<int> counts(3, 0);
  const int draws = 30000;
  for (int i = 0; i < draws; ++i) {
    uint64_t v = s.below(3);
    REQUIRE(v < 3);
    ++counts[v];
  }
  for (int c : counts) CHECK(std::abs(c - draws / 3) < 500);  // ~6 standard deviations
  CHECK(Rng(7).below(1) == 0);
  // A shuffle is a permutation.
  std::vector<int> v = {0, 1, 2, 3, 4, 5, 6, 7};
  Rng(9).shuffle(v);
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int>({0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_CASE("UTF-8: strict decoding names the first bad byte; encoding round-trips", "[unit]") {
  CHECK(utf8_decode("a\xc3\xa9") == std::u32string(U"a\u00e9"));
  CHECK(utf8_encode(U'\U0001F600') == "\xf0\x9f\x98\x80");
  CHECK(utf8_decode(utf8_encode(std::u32string(U"x\u00e9\u4e2d\U0001F600"))) == std::u32string(U"x\u00e9\u4e2d\U0001F600"));
  size_t bad = 99;
  CHECK_FALSE(utf8_decode("ab\xc0\x80", &bad));  // overlong NUL
  CHECK(bad == 2);
  CHECK(utf8_invalid_at("ab\xff") == 2);
  CHECK(utf8_invalid_at("\xed\xa0\x80") == 0);        // a surrogate
  CHECK(utf8_invalid_at("\xf4\x90\x80\x80") == 0);    // past U+10FFFF
  CHECK(utf8_invalid_at("ok\xe2\x82") == 2);          // truncated sequence
  CHECK(utf8_invalid_at("\xe0\x9f\xbf") == 0);        // overlong 3-byte form
  CHECK(is_valid_utf8("\xe2\x82\xac"));
  CHECK(utf8_invalid_at("") == std::string::npos);
}

TEST_CASE("JSON files: errors name the file and the line; atomic writes leave no temp file", "[unit]") {
  ScratchDir dir("base");
  test::write_file(dir / "bad.json", "{\n  \"a\": 1,\n  oops\n}");
  std::string msg = test::input_error([&] { read_json_file(dir / "bad.json"); });
  CHECK_THAT(msg, Catch::Contains("bad.json"));
  write_file_atomic(dir / "out.json", "{\"a\": 1}");
  write_file_atomic(dir / "out.json", "{\"a\": 2}");
  CHECK(read_json_file(dir / "out.json")["a"] == 2);
  CHECK(dir.count() == 2);  // bad.json and out.json, no leftover temp file
  const nlohmann::json cfg = {{"n", "x"}};
  JsonObject o(cfg, "cfg.json");
  CHECK_THAT(test::input_error([&] { o.get_int("n"); }), Catch::Contains("cfg.json") && Catch::Contains("n"));
}

TEST_CASE("JSON whose number overflows double (1e999) is an InputError naming the file, not an internal error", "[unit]") {
  ScratchDir dir("base_overflow");
  test::write_file(dir / "big.json", "{\"score\": 1e999}");
  CHECK_THAT(test::input_error([&] { read_json_file(dir / "big.json"); }),
             Catch::Contains("big.json") && Catch::Contains("1e999"));
  CHECK_THAT(test::input_error([&] { parse_json_object_line("{\"n\": -1e999}", "m.jsonl:3"); }),
             Catch::Contains("m.jsonl:3") && Catch::Contains("invalid JSON"));
  // The largest finite double still parses.
  test::write_file(dir / "max.json", "{\"score\": 1.7976931348623157e308}");
  CHECK(read_json_file(dir / "max.json")["score"].get<double>() == std::numeric_limits<double>::max());
}

TEST_CASE("getline_bounded reads lines like std::getline and refuses one past the limit", "[unit]") {
  std::istringstream in("ab\n\nxyz\nlast");
  std::string line;
  std::vector<std::string> got;
  while (getline_bounded(in, line, 4, "f.jsonl")) got.push_back(line);
  CHECK(got == std::vector<std::string>{"ab", "", "xyz", "last"});
  std::istringstream longer("abcd\nabcde\n");
  CHECK(getline_bounded(longer, line, 4, "f.jsonl:1"));
  CHECK(line == "abcd");
  CHECK_THAT(test::input_error([&] { getline_bounded(longer, line, 4, "f.jsonl:2"); }),
             Catch::Contains("f.jsonl:2: a line longer than 4 bytes"));
}

TEST_CASE("a JSON file over kMaxJsonFileBytes is refused unread, naming the file and the limit", "[unit]") {
  ScratchDir dir("base_bigjson");
  const std::string p = dir / "huge.json";
  test::write_file(p, "{}");
  std::filesystem::resize_file(p, kMaxJsonFileBytes + 1);  // sparse: nothing written
  CHECK_THAT(test::input_error([&] { read_json_file(p); }),
             Catch::Contains(p) && Catch::Contains("268435457 bytes is more than g4u reads as one JSON file (268435456 bytes)"));
}

TEST_CASE("atomic writes never replace a folder, device or pipe, and a failed write leaves no temp file", "[unit]") {
  ScratchDir dir("base_outputs");
  REQUIRE(::mkfifo((dir / "pipe").c_str(), 0644) == 0);
  std::filesystem::create_directory(dir / "folder");
  for (const std::string& target : {dir / "pipe", dir / "folder", std::string("/dev/null")}) {
    INFO(target);
    CHECK_THAT(test::input_error([&] { write_file_atomic(target, "x"); }),
               Catch::Contains(target) && Catch::Contains("not a regular file"));
  }
  CHECK(std::filesystem::is_fifo(dir / "pipe"));
  CHECK(std::filesystem::is_character_file("/dev/null"));
  // A folder that does not exist: the error names the output and the reason.
  CHECK_THAT(test::input_error([&] { write_file_atomic(dir / "no/such/out.json", "x"); }),
             Catch::Contains("no/such/out.json") && Catch::Contains("No such file"));
  CHECK(dir.count() == 2);  // pipe and folder: no temp file left behind
}

TEST_CASE("remove_stale_temps removes the temps of dead writers only; write_file_atomic calls it", "[unit]") {
  ScratchDir d("stale_temps");
  // A process that has exited (and been reaped): its pid names no process.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string dead = std::to_string(child), alive = std::to_string(::getppid());
  test::write_file(d / ("out.json.tmp." + dead), "half");
  std::filesystem::create_directories(d / ("ckpt.tmp." + dead + "/sub"));
  test::write_file(d / ("out.json.tmp." + alive), "another writer, still running");
  test::write_file(d / "out.json.tmp.notapid", "kept");
  test::write_file(d / ("other.json.tmp." + dead), "another output's temp");
  CHECK(remove_stale_temps(d / "ckpt") == 1);
  CHECK_FALSE(std::filesystem::exists(d / ("ckpt.tmp." + dead)));
  write_file_atomic(d / "out.json", "{}");
  CHECK_FALSE(std::filesystem::exists(d / ("out.json.tmp." + dead)));
  CHECK(std::filesystem::exists(d / ("out.json.tmp." + alive)));
  CHECK(std::filesystem::exists(d / "out.json.tmp.notapid"));
  CHECK(std::filesystem::exists(d / ("other.json.tmp." + dead)));
  CHECK(test::read_file(d / "out.json") == "{}");
  CHECK(remove_stale_temps(d / "missing-folder/x") == 0);
}

TEST_CASE("Registry: records by name, in order; unknown names list the known ones", "[unit]") {
  struct Fruit {
    std::string name;
    int calories = 0;
  };
  Registry<Fruit> fruits("fruit");
  const Fruit& apple = fruits.add({"apple", 52});
  fruits.add({"pear", 57});
  for (int i = 0; i < 100; ++i) fruits.add({"f" + std::to_string(i), i});  // records never move
  CHECK(&apple == fruits.lookup("apple"));
  CHECK(fruits.find("pear").calories == 57);
  CHECK(fruits.lookup("plum") == nullptr);
  CHECK(fruits.all().size() == 102);
  CHECK(fruits.names().rfind("apple, pear, f0", 0) == 0);
  CHECK_THAT(test::input_error([&] { fruits.find("plum"); }), Catch::Contains("unknown fruit 'plum'") &&
                                                               Catch::Contains("known: apple, pear"));
  CHECK_THAT(test::input_error([&] { fruits.find("plum", "--fruit"); }),
             Catch::StartsWith("--fruit: unknown fruit 'plum' (known: apple, pear"));
  CHECK_THROWS_AS(fruits.add({"apple", 1}), InternalError);
}

TEST_CASE("copy_from_mapping copies any range of a file mapping byte for byte; the advice calls change no byte", "[unit]") {
  ScratchDir dir;
  // 70 MiB + 5: more than one 64 MiB slice, ends inside a page; bytes from a seeded stream.
  const size_t size = (size_t{70} << 20) + 5;
  std::string bytes(size, '\0');
  Rng rng(17);
  for (auto& c : bytes) c = static_cast<char>(rng.next_u64() & 0xFF);
  const std::string path = dir / "blob.bin";
  write_file_atomic(path, bytes);
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  const auto* base = static_cast<const uint8_t*>(map);
  advise_huge_file_pages(map, size);  // advice only: nothing below reads differently
  // Offsets and lengths off every alignment the advice rounds to (pages, 2 MiB, slices).
  const std::vector<std::pair<size_t, size_t>> ranges = {
      {0, 0}, {0, 1}, {4095, 2}, {1, size - 1}, {(size_t{2} << 20) - 3, (size_t{64} << 20) + 7}, {size - 10, 10}};
  for (const auto& [off, len] : ranges) {
    INFO("offset " << off << ", length " << len);
    std::vector<uint8_t> out = {1, 2, 3};  // replaced, not appended to
    copy_from_mapping(base + off, len, out);
    REQUIRE(out.size() == len);
    CHECK(std::equal(out.begin(), out.end(), reinterpret_cast<const uint8_t*>(bytes.data()) + off));
    populate_mapping(base + off, len);  // advice only: the bytes read the same after it
    CHECK(std::equal(base + off, base + off + len, reinterpret_cast<const uint8_t*>(bytes.data()) + off));
  }
  ::munmap(map, size);
}

TEST_CASE("ByteBuffer: borrowed bytes are read in place, kept alive by their keeper, and copied on the first write", "[unit]") {
  const std::vector<uint8_t> source = {10, 20, 30, 40};
  auto keeper = std::make_shared<std::vector<uint8_t>>(source);
  std::weak_ptr<std::vector<uint8_t>> watch = keeper;
  ByteBuffer b = ByteBuffer::borrow(keeper->data(), 3, keeper);
  keeper.reset();
  REQUIRE(!watch.expired());  // the buffer holds its keeper
  CHECK(b.is_borrowed());
  CHECK(b.size() == 3);
  CHECK(b.data() == watch.lock()->data());  // no copy
  CHECK(b[2] == 30);
  ByteBuffer copy = b;  // copies share the borrowed bytes
  CHECK(copy.data() == b.data());
  CHECK(copy == ByteBuffer(std::vector<uint8_t>{10, 20, 30}));
  CHECK(copy != ByteBuffer(std::vector<uint8_t>{10, 20, 31}));

  copy.mutable_data()[0] = 99;  // a write copies first: the borrowed bytes never change
  CHECK(!copy.is_borrowed());
  CHECK(copy.data() != b.data());
  CHECK(copy == ByteBuffer(std::vector<uint8_t>{99, 20, 30}));
  CHECK(watch.lock()->at(0) == 10);
  copy.append(source.data() + 3, 1);
  CHECK(copy == ByteBuffer(std::vector<uint8_t>{99, 20, 30, 40}));

  b.assign(2, 7);  // replaced: the keeper is let go
  CHECK(!b.is_borrowed());
  CHECK(b == ByteBuffer(std::vector<uint8_t>{7, 7}));
  copy.clear();
  CHECK(copy.empty());
  CHECK(watch.expired());
}
