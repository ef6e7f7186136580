// g4u report: charts, the published-scores file, report.md/report.html from two variants, breakdown tables, headless
// Chromium rendering (when installed), bad input.
#include "base/error.h"
#include "eval/results/results.h"
#include "eval/results/results_test_util.h"
#include "reports/published.h"
#include "reports/report.h"
#include "reports/svg.h"
#include "eval/runner/runner_test_util.h"

#include <cstdlib>

using namespace g4u::test;
using Catch::Detail::Approx;
using Catch::Matchers::Contains;
using json = nlohmann::json;
using namespace g4u::reports;

namespace {
const std::string kPublished = std::string(G4U_FIXTURES_DIR) + "/../../reports/published_gemma4_12b.json";

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}
// Scores `rs` and writes them as <dir>/samples.jsonl and <dir>/results.json, the variant's fields
// patched with `variant` (results_input's otherwise).
void write_scored(const std::string& dir, std::vector<g4u::runner::SampleRecord> rs, const json& variant) {
  using namespace g4u::runner;
  Scorer scorer(ScoringOptions{});
  std::string samples;
  for (auto& r : rs) {
    scorer.score_one(r);
    samples += record_to_json(r).dump() + "\n";
  }
  ResultsInput in = g4u::test::results_input();
  in.variant.merge_patch(variant);
  std::filesystem::create_directories(dir);
  write_file(dir + "/results.json", build_results(in, rs, scorer).dump());
  write_file(dir + "/samples.jsonl", samples);
}
}  // namespace

TEST_CASE("nice ticks, escaping and scatter charts", "[unit]") {
  auto t = nice_ticks(0, 1, 5);
  REQUIRE(t.size() == 6);
  for (size_t i = 0; i < t.size(); ++i) CHECK(t[i] == Approx(0.2 * static_cast<double>(i)));
  auto u = nice_ticks(3, 47, 5);  // raw step 8.8 -> 10
  CHECK(u == std::vector<double>{10, 20, 30, 40});
  CHECK(xml_escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;");
  ScatterChart c;
  c.title = "T <1>";
  CHECK_THAT(svg_scatter(c), Contains("no data") && Contains("T &lt;1&gt;"));
  c.log2_x = true;
  c.points = {{4, 0.5, 0.4, 0.6, "s1", "q4"}, {32, 0.7, std::nullopt, std::nullopt, "s1", "fp32"},
              {16, 0.6, std::nullopt, std::nullopt, "s2", "bf16"}, {NAN, 1, std::nullopt, std::nullopt, "s2", "bad"}};
  std::string svg = svg_scatter(c);
  CHECK(count(svg, "<circle") == 3 + 2);  // three points + two legend entries; the NaN point is left out
  CHECK_THAT(svg, Contains(">32<") && Contains(">4<"));  // log2 axis labelled in bits
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.substr(svg.size() - 6) == "</svg>");
}

TEST_CASE("published scores: the shipped Gemma 4 12B file and bad files", "[unit]") {
  PublishedTable t = read_published(kPublished);
  CHECK_THAT(t.model, Contains("12B"));
  std::map<std::string, PublishedScore> by;
  for (auto& e : t.entries) by[e.benchmark] = e;
  // Numbers of gemma4-architecture.md §9.
  CHECK(by.at("MMLU Pro").value == 77.2);
  CHECK(by.at("GPQA Diamond").value == 78.8);
  CHECK(by.at("MMMU Pro (vision)").value == 69.1);
  CHECK(by.at("CoVoST (BLEU, excluding Chinese)").value == 38.5);
  CHECK(by.at("CoVoST (BLEU, excluding Chinese)").task == "covost2");
  CHECK(by.at("FLEURS (error rate, excluding Chinese)").value == 0.069);
  CHECK_FALSE(by.at("FLEURS (error rate, excluding Chinese)").higher_is_better);
  CHECK_FALSE(by.at("DocVQA (ANLS)").verified);
  CHECK(by.at("MMMU Pro (vision)").task == "mmmu-pro-vision");
  CHECK(by.at("InfoVQA (ANLS)").task == "infovqa-val");
  CHECK_FALSE(by.at("InfoVQA (ANLS)").verified);
  for (auto& e : t.entries) CHECK_FALSE(e.source.empty());

  ScratchDir d;
  std::string p = d / "pub.json";
  json good = json::parse(read_file(kPublished));
  auto fails = [&](json j, const std::string& what) {
    write_file(p, j.dump());
    CHECK_THROWS_WITH(read_published(p), Contains(p) && Contains(what));
  };
  json j = good;
  j["entries"][2]["unit"] = "points";
  fails(j, "entries[2]: field 'unit'");
  j = good;
  j["entries"][0].erase("value");
  fails(j, "entries[0]");
  j = good;
  j["entries"][1]["value"] = "77";
  fails(j, "entries[1]");
  j = good;
  j["schema_version"] = 3;
  fails(j, "version 3");
  j = good;
  j["entries"][0]["colour"] = "red";
  fails(j, "unknown field 'colour'");

  CHECK(to_published_unit(0.5, "exact-match", "percent") == 50.0);
  CHECK(to_published_unit(31.5, "bleu", "bleu") == 31.5);
  CHECK(to_published_unit(0.07, "wer", "fraction") == 0.07);
  CHECK_FALSE(to_published_unit(31.5, "bleu", "percent").has_value());
  CHECK_FALSE(to_published_unit(0.5, "anls", "bleu").has_value());
}

TEST_CASE("g4u report: two variants, paired differences, charts, published table, Chromium", "[integration]") {
  ScratchDir d;
  std::string base = "eval --model tiny --data " + small_manifest() + " --tasks arith,count-shapes --batch 2 --json";
  auto a = run_g4u(base + " --out " + (d / "fp32"));
  REQUIRE(a.code == 0);
  auto b = run_g4u(base + " --out " + (d / "bf16") + " --dtype bf16 --variant tiny-bf16");
  INFO(b.err);
  REQUIRE(b.code == 0);
  json ra = json::parse(a.out), rb = json::parse(b.out);
  CHECK(rb["variants"][0]["weights"]["bits_per_weight"].get<double>() == Approx(16));
  std::string out = d / "report";
  auto r = run_g4u("report --out " + out + " --results " + (d / "fp32/results.json") + " " + (d / "bf16/results.json") +
                   " --published " + kPublished + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  json s = json::parse(r.out);
  CHECK(s["baseline"] == "tiny");
  REQUIRE(s["paired"].size() == 2);  // arith and count-shapes
  for (const auto& p : s["paired"]) {
    std::string task = p["task"].get<std::string>();
    double sa = 0, sb = 0;
    for (auto& t : ra["variants"][0]["tasks"]) if (t["key"] == task) sa = t["score"].get<double>();
    for (auto& t : rb["variants"][0]["tasks"]) if (t["key"] == task) sb = t["score"].get<double>();
    // Every id is shared, so the mean paired difference is the difference of the means.
    CHECK(p["mean_diff"].get<double>() == Approx(sb - sa).margin(1e-12));
    CHECK(p["method"] == "paired-t");
    CHECK(p["variant"] == "tiny-bf16");
  }
  std::string md = read_file(out + "/report.md"), html = read_file(out + "/report.html");
  CHECK_THAT(md, Contains("## Scores per task") && Contains("## Paired differences vs baseline tiny") &&
                     Contains("Published vs ours") && Contains("| MMLU Pro | 77.2% |") && Contains("tiny-bf16") &&
                     Contains("| 32.00 |") && Contains("| 16.00 |"));
  CHECK_THAT(html, Contains("<svg") && Contains("Accuracy vs bits per weight") && Contains("Latency vs memory"));
  // Self-contained: nothing to fetch, no scripts.
  for (const char* bad : {"<script", "src=", "<link", "@import", "url("}) CHECK(html.find(bad) == std::string::npos);
  CHECK(count(html, "<svg") == 2);

  if (std::system("command -v chromium >/dev/null 2>&1") == 0) {
    std::string png = d / "report.png";
    std::string cmd = "timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2200 "
                      "--screenshot=" + png + " file://" + out + "/report.html >/dev/null 2>&1";
    CHECK(std::system(cmd.c_str()) == 0);
    std::string bytes = read_file(png);
    REQUIRE(bytes.size() > 20000);  // a real page, not a blank one
    CHECK(bytes.substr(1, 3) == "PNG");
    if (const char* keep = std::getenv("G4U_REPORT_SCREENSHOT")) write_file(keep, bytes);
  } else {
    WARN("chromium not installed: report.html not rendered");
  }

  // Bad input: another schema version, an unknown baseline, a missing file.
  json other = json::parse(read_file(d / "fp32/results.json"));
  other["schema_version"] = 7;
  write_file(d / "old.json", other.dump());
  auto old = run_g4u("report --out " + (d / "r2") + " --results " + (d / "old.json"));
  CHECK(old.code == 2);
  CHECK_THAT(old.err, Contains("old.json") && Contains("schema_version") && Contains("version 7"));
  auto nob = run_g4u("report --out " + (d / "r3") + " " + (d / "fp32/results.json") + " --baseline zzz");
  CHECK(nob.code == 2);
  CHECK_THAT(nob.err, Contains("--baseline zzz") && Contains("known: tiny"));
  CHECK(run_g4u("report --out " + (d / "r4") + " " + (d / "nope.json")).code == 2);
  // A number that overflows double in another run's results.json: exit 2 naming the file.
  write_file(d / "huge.json", "{\"schema_version\": 1, \"results\": [{\"mean\": 1e999}]}");
  auto huge = run_g4u("report --out " + (d / "r6") + " " + (d / "huge.json"));
  CHECK(huge.code == 2);
  CHECK_THAT(huge.err, Contains(d / "huge.json") && Contains("1e999"));
  // An --out the file system refuses (a file where a folder is needed): exit 2 naming it.
  auto nodir = run_g4u("report --out " + (d / "fp32/results.json/rep") + " " + (d / "fp32/results.json"));
  CHECK(nodir.code == 2);
  CHECK_THAT(nodir.err, Contains("--out " + (d / "fp32/results.json/rep") + ": cannot create folder: Not a directory"));
  auto dup = run_g4u("report --out " + (d / "r5") + " " + (d / "fp32/results.json") + " " + (d / "fp32/results.json"));
  CHECK(dup.code == 2);
}

TEST_CASE("g4u report: breakdown tables and published - ours from a hand-made results file", "[unit]") {
  using namespace g4u::runner;
  ScratchDir d;
  auto record = [](const std::string& id, const std::string& task, const std::string& metric, const std::string& pred,
                   const std::string& ref, std::vector<std::string> choices, const char* subject) {
    SampleRecord r = g4u::test::record(id, task, metric, pred, {ref});
    r.choices = std::move(choices);
    if (subject) r.breakdown["subject"] = {subject};
    return r;
  };
  const std::vector<std::string> abc = {"x", "y", "z"};
  std::vector<SampleRecord> rs = {record("a1", "mmmu-val-mc", "mmmu-mc", "(A)", "A", abc, "Art"),
                                  record("a2", "mmmu-val-mc", "mmmu-mc", "(B)", "A", abc, "Art"),
                                  record("m1", "mmmu-val-mc", "mmmu-mc", "(C)", "C", abc, "Math"),
                                  record("i1", "infovqa-val", "anls", "germany", "Germany", {}, nullptr),
                                  record("i2", "infovqa-val", "anls", "xyz", "abc", {}, nullptr)};
  write_scored(d.path, rs, {{"weights", {{"bits_per_weight", 16}}}});
  ReportOptions o;
  o.results = {d / "results.json"};
  o.out = d / "report";
  o.published = kPublished;
  Report r = build_report(o);
  // Art: 1 and 0 -> 50.0 %, SE 50.0 pp; Math: one right item; macro (50 % + 100 %) / 2 = 75 %.
  CHECK_THAT(r.markdown, Contains("## Breakdowns") && Contains("mmmu by subject (v; metrics mmmu-mc): 3 records, 0 without a group") &&
                             Contains("| Art | 2 | 2 | 50.0% | [9.5%, 90.5%] | 50.0 pp | 0 | 0 |  |") &&
                             Contains("| macro (2 groups) |  |  | 75.0% |"));
  // InfoVQA: ANLS 1 and 0 -> 50.0 %; published 88.4 lies inside the Wilson interval of 1 in 2, [9.5 %, 90.5 %].
  CHECK_THAT(r.markdown, Contains("50.0% (n=2); published - ours +38.4 pp; inside our 95% CI [9.5%, 90.5%]"));
  CHECK_THAT(r.html, Contains("<h2>Breakdowns</h2>"));
}

namespace {
// A results.json + samples.jsonl of variant `name` in `dir`: task "t" (exact-match), 12 items whose
// answer is "a"; the first `wrong` items predicted "b".
void write_variant(const std::string& dir, const std::string& name, int wrong, double bits, double bytes) {
  std::vector<g4u::runner::SampleRecord> rs;
  for (int i = 0; i < 12; ++i) rs.push_back(g4u::test::record("i" + std::to_string(i), "t", "exact-match", i < wrong ? "b" : "a", {"a"}));
  write_scored(dir, rs, {{"name", name}, {"weights", {{"bits_per_weight", bits}, {"total_bytes", bytes}}}});
}
}  // namespace

TEST_CASE("g4u report: perplexity, KL and throughput per variant, the findings, bad measurement files", "[unit]") {
  ScratchDir d;
  write_variant(d / "fp32", "fp32", 0, 32, 4000);
  write_variant(d / "q4", "q4", 8, 4.5, 600);
  write_file(d / "ppl.json", R"({"variant": "q4", "ppl": {"value": 12.345, "uncertainty": 0.1},
    "ppl_ratio": {"value": 1.0123, "uncertainty": 0.0004}, "kld": {"mean": 0.00123, "uncertainty": 0.00001,
    "percentiles": {"99.0": 0.0456}}, "same_top": {"fraction": 0.9876}, "data": "text.txt", "ctx": 128,
    "scored_tokens": 630, "kl_base": "fp32-dir"})");
  write_file(d / "bench-fp32.json", R"({"variant": "fp32", "prefill": {"tokens": 128, "tokens_per_s": 400, "stddev": 8},
    "decode": {"tokens": 32, "tokens_per_s": 50, "stddev": 2}, "load_seconds": 0.25, "peak_rss_bytes": 209715200,
    "reps": 5, "threads": 1})");
  write_file(d / "bench-q4.json", R"({"variant": "q4", "prefill": {"tokens": 128, "tokens_per_s": 300, "stddev": 6},
    "decode": {"tokens": 32, "tokens_per_s": 125, "stddev": 5}, "load_seconds": 0.5, "peak_rss_bytes": 104857600,
    "reps": 5, "threads": 1})");
  ReportOptions o;
  o.results = {d / "fp32/results.json", d / "q4/results.json"};
  o.out = d / "report";
  o.ppl = {d / "ppl.json"};
  o.bench = {d / "bench-fp32.json", d / "bench-q4.json"};
  Report r = build_report(o);
  CHECK_THAT(r.markdown, Contains("## Perplexity, KL and throughput"));
  CHECK_THAT(r.markdown, Contains("| q4 | 4.50 | 600 B | 12.345 ± 0.100 | 1.0123 ± 0.0004 | 0.00123 ± 1e-05 | 0.0456 | 98.76% | "
                                  "300.0 ± 6.0 | 125.0 ± 5.0 | 0.50 s | 100.00 MiB |"));
  CHECK_THAT(r.markdown, Contains("| fp32 | 32.00 | 3.91 KiB | n/a | n/a | n/a | n/a | n/a | 400.0 ± 8.0 | 50.0 ± 2.0 | 0.25 s |"));
  CHECK_THAT(r.markdown, Contains("on text.txt (128 tokens of context, 630 scored tokens"));
  CHECK(r.summary["measures"]["q4"]["kld_mean"].get<double>() == 0.00123);
  // Findings, first after the introduction. Paired differences of q4 vs fp32: eight -1 and four 0:
  // mean -2/3, sd sqrt((8/9 + 16/9) / 11) = 0.4924, t = -0.6667 / (0.4924 / sqrt(12)) = -4.69 on 11 df,
  // p = 0.0007.
  const size_t findings = r.markdown.find("## Findings");
  REQUIRE(findings != std::string::npos);
  CHECK(findings < r.markdown.find("## Variants"));
  CHECK_THAT(r.markdown, Contains("1 of 1 variant-task comparisons with the baseline fp32 differ significantly") &&
                             Contains("q4 on t: -66.7 pp") && Contains("p 0.0007"));
  CHECK_THAT(r.markdown, Contains("Smallest weights: q4, 600 B at 4.50 bits/weight (15% of fp32's 3.91 KiB)."));
  CHECK_THAT(r.markdown, Contains("Lowest mean KL to the base model: q4 (0.00123 nats per token)."));
  CHECK_THAT(r.markdown, Contains("Fastest decode: q4 (125.0 tokens/s, 2.50x fp32)."));
  CHECK_THAT(r.html, Contains("Decode speed vs KL to the baseline"));

  // Bad measurement files: exit-2 errors naming the file.
  auto fails = [&](const std::string& text, const std::string& what) {
    write_file(d / "bad.json", text);
    ReportOptions b = o;
    b.ppl = {d / "bad.json"};
    CHECK_THROWS_WITH(build_report(b), Contains(d / "bad.json") && Contains(what));
  };
  fails(R"({"ppl": {"value": 3}})", "no \"variant\"");
  fails(R"({"variant": "zz", "ppl": {"value": 3}})", "variant 'zz' is not among the results' variants (fp32, q4)");
  fails(R"({"variant": "q4", "decode": {"tokens_per_s": 3}})", "not a ppl measurement");
  ReportOptions twice = o;
  twice.bench = {d / "bench-q4.json", d / "bench-q4.json"};
  CHECK_THROWS_WITH(build_report(twice), Contains("variant 'q4' is also measured by"));
}

TEST_CASE("scatter charts: labels never overlap, the legend fits, log10 axes", "[unit]") {
  ScatterChart c;
  c.log10_x = true;
  // 24 variants crowded around the same spot, each its own series.
  for (int i = 0; i < 24; ++i)
    c.points.push_back({0.001 * (1 + 0.01 * i), 50 + 0.05 * i, std::nullopt, std::nullopt, "s" + std::to_string(i),
                        "variant-" + std::to_string(i)});
  c.points.push_back({0.1, 10, std::nullopt, std::nullopt, "far", "far-away"});
  const std::string svg = svg_scatter(c);
  // The chart grows to hold 25 legend entries (18 px each below the 34-px title band).
  const double height = std::stod(svg.substr(svg.find("height=\"") + 8));
  CHECK(height >= 34 + 8 + 18 * 25);
  CHECK_THAT(svg, Contains("(log10 scale)") && Contains(">0.01<"));
  // Point labels: 10-px text at (x, y), about 5.6 px a character; no two boxes may overlap.
  struct Box { double x0, y0, x1, y1; };
  std::vector<Box> boxes;
  const std::string tag = "<text x=\"";
  for (size_t p = svg.find(tag); p != std::string::npos; p = svg.find(tag, p + 1)) {
    const size_t end = svg.find("</text>", p);
    const std::string el = svg.substr(p, end - p);
    if (el.find("font-size=\"10\"") == std::string::npos) continue;  // axis and legend text
    const double x = std::stod(el.substr(tag.size()));
    const double y = std::stod(el.substr(el.find("y=\"") + 3));
    const std::string label = el.substr(el.find('>') + 1);
    boxes.push_back({x, y - 10, x + 5.6 * static_cast<double>(label.size()), y});
  }
  CHECK(boxes.size() >= 3);  // the crowd cannot all be labelled, but some are, and the far point is
  CHECK_THAT(svg, Contains(">far-away</text>"));
  for (size_t i = 0; i < boxes.size(); ++i)
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      const Box& a = boxes[i];
      const Box& b = boxes[j];
      CHECK_FALSE((a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1));
    }
  // Every point keeps its tooltip.
  for (int i = 0; i < 24; ++i) CHECK_THAT(svg, Contains(": variant-" + std::to_string(i) + " ("));
}

TEST_CASE("g4u report: replicates pooled by group, item-level paired differences against the baseline's group", "[unit]") {
  ScratchDir d;
  // Six items answered "a". Group base: both replicates right on all; group alt: replicate 1 wrong
  // on items 0-3, replicate 2 on items 0-1.
  auto replicate = [&](const std::string& name, const std::string& group, int wrong) {
    std::vector<g4u::runner::SampleRecord> rs;
    for (int i = 0; i < 6; ++i) rs.push_back(g4u::test::record("i" + std::to_string(i), "t", "exact-match", i < wrong ? "b" : "a", {"a"}));
    write_scored(d / name, rs, {{"name", name}, {"group", group}});
    return d / name + "/results.json";
  };
  ReportOptions o;
  o.results = {replicate("base-s0", "base", 0), replicate("base-s1", "base", 0), replicate("alt-s0", "alt", 4),
               replicate("alt-s1", "alt", 2)};
  o.out = d / "report";
  Report r = build_report(o);
  // alt: 33.3 % and 66.7 %: mean 50.0 %, SD sqrt(2 x (1/6)^2 / 1) = 23.6 pp.
  CHECK_THAT(r.markdown, Contains("## Replicates pooled by group") &&
                             Contains("| alt | t | 2 | 50.0% | [3.1%, 96.9%] | 23.6 pp | 33.3% | 66.7% | 33.3%, 66.7% |"));
  // The 95 % CI over items: item means 0, 0, .5, .5, 1, 1: 0.5 +- 2.571 x 0.1826 (items as clusters).
  // Item means of alt: 0, 0, .5, .5, 1, 1 against 1 each: differences -1, -1, -.5, -.5, 0, 0; mean -0.5,
  // SD sqrt(1 / 5) = 0.447, SE 0.183, t = -2.74 on 5 df, p = 0.041; CI -0.5 +- 2.571 x 0.1826 = [-0.969, -0.031].
  CHECK_THAT(r.markdown, Contains("| alt | t | 6 | 2 vs 2 | 50.0% | 100.0% | -50.0 pp | [-96.9 pp, -3.1 pp] | 0.0409 |"));
  CHECK_THAT(r.markdown, Contains("Pooled over replicates, alt vs base on t: -50.0 pp (95% CI [-96.9 pp, -3.1 pp], p 0.0409), significant."));
  CHECK(r.summary["replicates"]["alt"]["paired"]["t"]["items"] == 6);
  // A group that is not a string is refused, naming the file.
  json bad = json::parse(read_file(d / "alt-s1/results.json"));
  bad["variants"][0]["group"] = 3;
  write_file(d / "alt-s1/results.json", bad.dump());
  CHECK_THROWS_WITH(build_report(o), Contains("alt-s1/results.json") && Contains("'group'"));
}

TEST_CASE("g4u report: the design of each replicate group, its embedding time and training runs", "[unit]") {
  ScratchDir d;
  // Two groups of two replicates; the models of three are training-run folders (curves.json,
  // summary.json), the fourth's is not.
  auto replicate = [&](const std::string& name, const std::string& group, const std::string& projector, double final_loss,
                       double seconds, bool run) {
    const std::string model = d / ("model-" + name);
    std::filesystem::create_directories(model);
    if (run) {
      json curves = {{"train", json::array()}};
      for (int step = 1; step <= 80; ++step) curves["train"].push_back({{"step", step}, {"loss", final_loss + 80.0 / step}});
      write_file(model + "/curves.json", curves.dump());
      write_file(model + "/summary.json", json({{"final_loss_mean_last_10", final_loss}, {"train_step_seconds_total", seconds}}).dump());
    }
    std::vector<g4u::runner::SampleRecord> rs;
    for (int i = 0; i < 4; ++i) rs.push_back(g4u::test::record("i" + std::to_string(i), "t", "exact-match", "a", {"a"}));
    write_scored(d / name, rs,
                 {{"name", name}, {"group", group}, {"model", model}, {"projector", projector}, {"audio_projector", "gemma4"},
                  {"params", {{"text", 1000}, {"vision_embedder", 200}, {"vision_projection", 100}, {"audio_projection", 40}, {"total", 1340}}}});
    return d / name + "/results.json";
  };
  ReportOptions o;
  o.results = {replicate("base-s0", "base", "gemma4", 1.0, 10, true), replicate("base-s1", "base", "gemma4", 2.0, 20, true),
               replicate("alt-s0", "alt", "linear", 0.5, 30, true), replicate("alt-s1", "alt", "linear", 0.7, 0, false)};
  o.out = d / "report";
  Report r = build_report(o);
  // Parameters: image = embedder + its projection (300), audio = the projection (40); final loss and
  // time as mean +- SD over the replicates with a run: base 1.5 +- 0.707, 15 +- 7 s; alt one run.
  CHECK_THAT(r.markdown, Contains("| group | image projector | audio projector | image embedder params | audio embedder params | "
                                  "embedding ms/item: t | final train loss | train time |") &&
                             Contains("| base | gemma4 | gemma4 | 300 | 40 | 0 ± 0 | 1.500 ± 0.707 | 15 ± 7 s |") &&
                             Contains("| alt | linear | gemma4 | 300 | 40 | 0 ± 0 | 0.500 | 30 s |") &&
                             Contains("No training run (curves.json, summary.json) in the model folder of: alt-s1."));
  CHECK(r.summary["replicates"]["base"]["final_train_loss"]["mean"].get<double>() == Approx(1.5));
  // The loss curves: one line a group, 40 windows of 2 steps of the mean over its runs.
  CHECK_THAT(r.html, Contains("Training loss (mean over replicates)"));
  size_t lines = 0;
  for (size_t p = r.html.find("<polyline"); p != std::string::npos; p = r.html.find("<polyline", p + 1)) ++lines;
  CHECK(lines == 2);
  // base, steps 1-2: losses 1 + 80, 1 + 40 and 2 + 80, 2 + 40: mean 61.5, plotted at step 2.
  CHECK_THAT(r.html, Contains("base:  (x=2, y=61.5)"));
}
