// The per-sample log: record round trip, torn last lines, errors naming file:line:field, UTF-8.
#include "base/error.h"
#include "eval/results/sample_log.h"
#include "test_util.h"

using namespace g4u::runner;
using namespace g4u::test;
using Catch::Matchers::Contains;

namespace {

SampleRecord make_record(const std::string& id, const std::string& prediction) {
  SampleRecord r;
  r.id = id;
  r.task = "arith";
  r.metric = "exact-match";
  r.normalizer = "none";
  r.prompt_hash = "fnv1a64:0123456789abcdef";
  r.prompt_tokens = 12;
  r.new_tokens = 3;
  r.max_new_tokens = 8;
  r.stopped = true;
  r.prediction = prediction;
  r.references = {"7"};
  r.extracted = "7";
  r.score = 1.0;
  r.ttft_s = 0.25;
  r.token_s = {0.01, 0.02};
  r.batch.id = "run/0";
  r.batch.size = 2;
  r.batch.prompt_tokens = 24;
  r.batch.new_tokens = 6;
  r.batch.prefill_s = 0.25;
  r.batch.decode_s = 0.03;
  r.batch.kv_cache_bytes = 4096;
  return r;
}

std::string line_of(const SampleRecord& r) { return record_to_json(r).dump() + "\n"; }

}  // namespace

TEST_CASE("sample record: JSON round trip keeps every field", "[unit]") {
  SampleRecord r = make_record("a", "7");
  r.choices = {"x", "y"};
  r.cluster = "img-1";
  r.group = "12";
  r.precision = 2;
  r.error = "";
  SampleRecord back = record_from_json(record_to_json(r), "mem:1");
  CHECK(record_to_json(back) == record_to_json(r));
  CHECK(back.where == "mem:1");
  CHECK(back.token_s == std::vector<double>{0.01, 0.02});
  CHECK(back.batch.kv_cache_bytes == 4096);
}

TEST_CASE("sample record: missing fields and wrong types name the field", "[unit]") {
  nlohmann::json j = record_to_json(make_record("a", "7"));
  auto fails = [](nlohmann::json x, const std::string& what) {
    CHECK_THROWS_WITH(record_from_json(x, "log.jsonl:4"), Contains("log.jsonl:4") && Contains(what));
  };
  nlohmann::json k = j;
  k.erase("prediction");
  fails(k, "field 'prediction': missing");
  k = j;
  k["score"] = "1";
  fails(k, "field 'score'");
  k = j;
  k["references"] = {"ok", 3};
  fails(k, "field 'references[1]'");
  k = j;
  k["references"] = nlohmann::json::array();
  fails(k, "field 'references': empty");
  k = j;
  k["token_s"] = {0.1, -1};
  fails(k, "field 'token_s[1]'");
  k = j;
  k["batch"].erase("prefill_s");
  fails(k, "field 'prefill_s'");
  k = j;
  k["metric"] = "accuracy";
  fails(k, "field 'metric': unknown metric 'accuracy'");
  k = j;
  k["normalizer"] = "lower";
  fails(k, "field 'normalizer': unknown normalizer 'lower'");
  k = j;
  k["v"] = 99;
  fails(k, "version 99");
  CHECK_THROWS_AS(record_from_json(nlohmann::json::array(), "x:1"), g4u::InputError);
}

TEST_CASE("sample log: a torn last line is ignored and cut on repair", "[unit]") {
  ScratchDir d;
  std::string path = d / "samples.jsonl";
  std::string good = line_of(make_record("a", "1")) + line_of(make_record("b", "2"));
  std::string torn = line_of(make_record("c", "3"));
  torn.resize(torn.size() / 2);  // a crash mid-write: half a line, no newline
  write_file(path, good + torn);
  SampleLog log = read_sample_log(path);
  CHECK(log.records.size() == 2);
  CHECK(log.torn_tail);
  CHECK(log.valid_bytes == good.size());
  CHECK(read_file(path).size() == good.size() + torn.size());  // not repaired without asking
  SampleLog repaired = read_sample_log(path, /*repair=*/true);
  CHECK(repaired.records.size() == 2);
  CHECK(read_file(path) == good);
  CHECK_FALSE(read_sample_log(path).torn_tail);

  // A complete record whose newline never made it is also torn (redone, never half-trusted).
  write_file(path, good + line_of(make_record("c", "3")).substr(0, line_of(make_record("c", "3")).size() - 1));
  CHECK(read_sample_log(path).records.size() == 2);
  // Garbage in a newline-terminated last line (zero-filled blocks after a power cut): torn too.
  write_file(path, good + std::string(5, '\0') + "\n");
  SampleLog z = read_sample_log(path);
  CHECK(z.torn_tail);
  CHECK(z.records.size() == 2);
}

TEST_CASE("sample log: bad lines before the last, duplicate ids, missing file", "[unit]") {
  ScratchDir d;
  std::string path = d / "samples.jsonl";
  write_file(path, line_of(make_record("a", "1")) + "{not json\n" + line_of(make_record("b", "2")));
  CHECK_THROWS_WITH(read_sample_log(path), Contains(path + ":2") && Contains("invalid JSON"));
  write_file(path, line_of(make_record("a", "1")) + line_of(make_record("a", "2")));
  CHECK_THROWS_WITH(read_sample_log(path), Contains(path + ":2") && Contains("'a' already logged on line 1"));
  nlohmann::json j = record_to_json(make_record("b", "1"));
  j.erase("batch");
  write_file(path, j.dump() + "\n" + line_of(make_record("c", "1")));
  CHECK_THROWS_WITH(read_sample_log(path), Contains(path + ":1") && Contains("field 'batch': missing"));
  // A number beyond double's range before the last line: bad input naming the line, not an internal error.
  write_file(path, "{\"id\": \"x\", \"score\": 1e999}\n" + line_of(make_record("c", "1")));
  CHECK_THROWS_WITH(read_sample_log(path), Contains(path + ":1") && Contains("invalid JSON"));
  SampleLog none = read_sample_log(d / "absent.jsonl");
  CHECK(none.records.empty());
  CHECK_FALSE(none.torn_tail);
}

TEST_CASE("sample log writer: appends whole lines, one writer at a time", "[unit]") {
  ScratchDir d;
  std::string path = d / "samples.jsonl";
  {
    SampleLogWriter w(path);
    w.append(make_record("a", "x"));
    CHECK_THROWS_WITH(SampleLogWriter(path), Contains("another run is writing"));
    w.append(make_record("b", "y"));
  }
  SampleLog log = read_sample_log(path);
  REQUIRE(log.records.size() == 2);
  CHECK(log.records[1].prediction == "y");
  SampleLogWriter again(path);  // the lock is released with the first writer
  again.append(make_record("c", "z"));
  CHECK(read_sample_log(path).records.size() == 3);
}

TEST_CASE("sanitize_utf8 replaces each invalid run by one U+FFFD", "[unit]") {
  bool lossy = true;
  CHECK(sanitize_utf8("plain \xC3\xA9", &lossy) == "plain \xC3\xA9");
  CHECK_FALSE(lossy);
  CHECK(sanitize_utf8("a\xFF" "b", &lossy) == "a\xEF\xBF\xBD" "b");
  CHECK(lossy);
  CHECK(sanitize_utf8("\xFF\xFE", &lossy) == "\xEF\xBF\xBD");
  CHECK(sanitize_utf8("x\xE2\x82", &lossy) == "x\xEF\xBF\xBD");  // truncated 3-byte sequence at the end
  CHECK(sanitize_utf8("\xED\xA0\x80" "z", &lossy) == "\xEF\xBF\xBD" "z");  // a surrogate is one invalid run
}
