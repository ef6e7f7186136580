// g4u report: results.json files -> report.md + self-contained report.html.
#include "apps/cli_util.h"
#include "apps/command.h"
#include "reports/report.h"

#include <fmt/format.h>

namespace g4u::app {
namespace {

Command report_cmd("report", "Write report.md and a self-contained report.html from results.json files", [](CLI::App& sub) {
  auto o = std::make_shared<reports::ReportOptions>();
  auto positional = std::make_shared<std::vector<std::string>>();
  auto json_out = std::make_shared<bool>(false);
  sub.add_option("--results", o->results, "results.json files (repeatable; also accepted as positional arguments)");
  sub.add_option("files", *positional, "results.json files");
  sub.add_option("--out", o->out, "Output folder")->required();
  sub.add_option("--baseline", o->baseline, "Variant name for paired differences (default: the first)");
  sub.add_option("--published", o->published, "Published scores (e.g. reports/published_gemma4_12b.json)");
  sub.add_option("--spellings", o->spellings, "UK->US spelling map (rescoring whisper-en tasks)");
  sub.add_option("--title", o->title, "Report title")->capture_default_str();
  sub.add_option("--ppl", o->ppl, "ppl.json of `g4u ppl --variant NAME --json` (repeatable): PPL and KL per variant");
  sub.add_option("--bench", o->bench,
                 "bench.json of `g4u bench --variant NAME --json` (repeatable): prefill/decode tokens/s, load, peak RSS");
  sub.add_flag("--json", *json_out, "Print a JSON summary on stdout");
  return [o, positional, json_out]() -> int {
    reports::ReportOptions opt = *o;
    opt.results.insert(opt.results.end(), positional->begin(), positional->end());
    nlohmann::json s = reports::write_report(opt);
    if (*json_out) print_json(s);
    else fmt::print(stderr, "wrote {} and {}\n", s["report_md"].get<std::string>(), s["report_html"].get<std::string>());
    return 0;
  };
});

}  // namespace
}  // namespace g4u::app
