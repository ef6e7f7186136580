#include "experiments/run/experiment.h"

#include "base/error.h"
#include "base/json_util.h"
#include "experiments/run/step_kinds.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace g4u::experiments {
namespace fs = std::filesystem;

namespace {

// Step names become folder names and appear in references: keep them to a safe alphabet.
bool valid_step_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
}

// Every reference inside `j` (depth first), each checked against the steps before `index`.
void collect_references(const nlohmann::json& j, const Experiment& e, size_t index, std::vector<std::string>& needs) {
  if (j.is_object() || j.is_array()) {
    for (const auto& item : j) collect_references(item, e, index, needs);
    return;
  }
  if (!j.is_string()) return;
  const std::string step = referenced_step(j.get<std::string>());
  if (step.empty()) return;
  const ExperimentStep& self = e.steps[index];
  auto earlier = std::find_if(e.steps.begin(), e.steps.begin() + static_cast<std::ptrdiff_t>(index),
                              [&](const ExperimentStep& s) { return s.name == step; });
  if (earlier == e.steps.begin() + static_cast<std::ptrdiff_t>(index)) {
    const bool later = e.find(step) != nullptr;
    throw_input("{}: reference '{}': {}", self.where, j.get<std::string>(),
                later ? fmt::format("step '{}' comes later; a step can only use the outputs of earlier steps", step)
                      : fmt::format("no step named '{}'", step));
  }
  if (std::find(needs.begin(), needs.end(), step) == needs.end()) needs.push_back(step);
}

}  // namespace

const ExperimentStep* Experiment::find(const std::string& step) const {
  for (const auto& s : steps)
    if (s.name == step) return &s;
  return nullptr;
}

std::string Experiment::step_dir(const std::string& step) const { return (fs::path(run_dir) / step).string(); }

std::string referenced_step(const std::string& value) {
  if (value.size() < 2 || value[0] != '@') return "";
  return value.substr(1, value.find('/') == std::string::npos ? std::string::npos : value.find('/') - 1);
}

nlohmann::json resolve_references(const nlohmann::json& j, const Experiment& e) {
  if (j.is_object() || j.is_array()) {
    nlohmann::json out = j;
    for (auto it = out.begin(); it != out.end(); ++it) *it = resolve_references(*it, e);
    return out;
  }
  if (!j.is_string()) return j;
  const std::string value = j.get<std::string>();
  const std::string step = referenced_step(value);
  if (step.empty()) return j;
  const size_t slash = value.find('/');
  return slash == std::string::npos ? e.step_dir(step) : (fs::path(e.step_dir(step)) / value.substr(slash + 1)).string();
}

Experiment load_experiment(const std::string& path, const std::string& run_dir) {
  const nlohmann::json doc = read_json_file(path);
  JsonObject top(doc, path);
  Experiment e;
  e.file = path;
  e.name = top.get_string("name");
  if (!valid_step_name(e.name)) throw_input("{}: '{}' must be letters, digits, '-', '_' or '.'", top.field("name"), e.name);
  e.description = top.get_string("description", "");
  e.run_dir = run_dir.empty() ? (fs::path("runs") / e.name).string() : run_dir;
  const nlohmann::json& steps = top.raw("steps");
  if (!steps.is_array() || steps.empty()) throw_input("{}: expected a non-empty list of steps", top.field("steps"));
  auto extra = top.unread_keys();
  if (!extra.empty()) throw_input("{}: unknown key '{}' (known: name, description, steps)", path, extra.front());

  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string at = fmt::format("{}: steps[{}]", path, i);
    if (!steps[i].is_object()) throw_input("{}: expected an object", at);
    JsonObject o(steps[i], at);
    ExperimentStep s;
    s.name = o.get_string("name");
    s.kind = o.get_string("kind");
    if (!valid_step_name(s.name)) throw_input("{}: '{}' must be letters, digits, '-', '_' or '.'", o.field("name"), s.name);
    if (e.find(s.name)) throw_input("{}: step name '{}' is used twice", o.field("name"), s.name);
    step_kinds().find(s.kind, o.field("kind"));
    s.where = fmt::format("{} ({})", at, s.name);
    s.settings = steps[i];
    s.settings.erase("name");
    s.settings.erase("kind");
    if (s.settings.contains("config") && s.settings["config"].is_string()) {
      s.config_file = (fs::path(path).parent_path() / s.settings["config"].get<std::string>()).string();
      s.settings["config"] = read_json_file(s.config_file);
    }
    e.steps.push_back(std::move(s));
  }
  for (size_t i = 0; i < e.steps.size(); ++i) collect_references(e.steps[i].settings, e, i, e.steps[i].needs);
  return e;
}

}  // namespace g4u::experiments
