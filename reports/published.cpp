#include "reports/published.h"

#include "base/error.h"
#include "base/json_util.h"
#include "eval/metrics.h"

#include <set>

namespace g4u::reports {

PublishedTable read_published(const std::string& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw_input("{}: expected a JSON object", path);
  JsonObject o(j, path);
  std::string schema = o.get_string("schema");
  if (schema != "g4u.published") throw_input("{}: field 'schema': expected \"g4u.published\", got \"{}\"", path, schema);
  int64_t version = o.get_int("schema_version");
  if (version != 1) throw_input("{}: field 'schema_version': version {} (this g4u reads version 1)", path, version);
  PublishedTable t;
  t.model = o.get_string("model");
  t.source = o.get_string("source");
  t.note = o.get_string("note", "");
  const nlohmann::json& entries = o.raw("entries");
  if (!entries.is_array() || entries.empty()) throw_input("{}: field 'entries': expected a non-empty list", path);
  static const std::set<std::string> units = {"percent", "fraction", "bleu"};
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string where = fmt::format("{}: entries[{}]", path, i);
    if (!entries[i].is_object()) throw_input("{}: expected an object", where);
    JsonObject e(entries[i], where);
    PublishedScore s;
    s.benchmark = e.get_string("benchmark");
    s.value = e.get_double("value");
    s.unit = e.get_string("unit");
    if (!units.count(s.unit)) throw_input("{}: field 'unit': '{}' (known: percent, fraction, bleu)", where, s.unit);
    s.higher_is_better = e.get_bool("higher_is_better", true);
    s.task = e.get_string("task", "");
    s.source = e.get_string("source", t.source);
    s.verified = e.get_bool("verified", true);
    s.note = e.get_string("note", "");
    auto unread = e.unread_keys();
    if (!unread.empty()) throw_input("{}: unknown field '{}'", where, unread.front());
    t.entries.push_back(std::move(s));
  }
  return t;
}

std::optional<double> to_published_unit(double ours, const std::string& metric, const std::string& unit) {
  const eval::MetricInfo* info = eval::metric_registry().lookup(metric);
  bool points_100 = info && info->points_100;  // BLEU, chrF
  if (unit == "bleu") return points_100 ? std::optional<double>(ours) : std::nullopt;
  if (points_100) return std::nullopt;
  if (unit == "fraction") return ours;
  if (unit == "percent") return 100.0 * ours;
  return std::nullopt;
}

}  // namespace g4u::reports
