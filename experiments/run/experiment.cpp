#include "experiments/run/experiment.h"

#include "base/error.h"
#include "base/json_util.h"
#include "experiments/run/step_kinds.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>

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

const char* const kBuiltinDirVariable = "experiment_dir";

bool valid_variable_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string defined_names(const std::map<std::string, std::string>& variables) {
  std::string out;
  for (const auto& [name, value] : variables) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// `text` with "${name}" replaced by lookup(name) (nullopt: undefined) and "$${" by "${".
std::string expand_with(const std::string& text, const std::string& where,
                        const std::function<std::optional<std::string>(const std::string&)>& lookup,
                        const std::function<std::string()>& known) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
    } else if (text.compare(i, 2, "${") == 0) {
      const size_t close = text.find('}', i + 2);
      if (close == std::string::npos) throw_input("{}: '{}': '${{' without a closing '}}'", where, text);
      const std::string name = text.substr(i + 2, close - i - 2);
      if (!valid_variable_name(name))
        throw_input("{}: '{}': '${{{}}}' is not a variable name (letters, digits, '_')", where, text, name);
      const std::optional<std::string> value = lookup(name);
      if (!value)
        throw_input("{}: undefined variable '${{{}}}' (defined: {}; declare it in \"variables\" or pass --set {}=...)",
                    where, name, known(), name);
      out += *value;
      i = close + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// Every string inside `j` expanded; `where` grows with the keys and indices ("steps[3] (x).data").
nlohmann::json expand_json(const nlohmann::json& j, const std::map<std::string, std::string>& variables,
                           const std::string& where) {
  if (j.is_string()) return expand_variables(j.get<std::string>(), variables, where);
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = expand_json(it.value(), variables, where + "." + it.key());
    return out;
  }
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < j.size(); ++i) out.push_back(expand_json(j[i], variables, fmt::format("{}[{}]", where, i)));
    return out;
  }
  return j;
}

// The file's "variables" (strings), overridden by --set, each expanded (variables may use other
// variables; a cycle is an error), plus the built-in ${experiment_dir}.
std::map<std::string, std::string> resolve_variables(JsonObject& top, const std::string& path,
                                                     const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> raw;
  if (top.has("variables")) {
    const nlohmann::json& v = top.raw("variables");
    if (!v.is_object()) throw_input("{}: expected an object of strings", top.field("variables"));
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string at = top.field("variables") + "." + it.key();
      if (!valid_variable_name(it.key())) throw_input("{}: a variable name is letters, digits and '_'", at);
      if (it.key() == kBuiltinDirVariable) throw_input("{}: '{}' is built in (the experiment file's folder)", at, it.key());
      if (!it.value().is_string()) throw_input("{}: expected a string, got {}", at, it.value().type_name());
      raw[it.key()] = it.value().get<std::string>();
    }
  }
  for (const auto& [name, value] : overrides) {
    if (!raw.count(name))
      throw_input("--set {}: {} declares no variable '{}' (declared: {})", name, path, name,
                  raw.empty() ? "none" : defined_names(raw));
    raw[name] = value;
  }
  std::map<std::string, std::string> resolved = {
      {kBuiltinDirVariable, fs::absolute(fs::path(path)).parent_path().lexically_normal().string()}};
  std::set<std::string> expanding;
  std::function<std::optional<std::string>(const std::string&)> lookup = [&](const std::string& name) -> std::optional<std::string> {
    if (auto it = resolved.find(name); it != resolved.end()) return it->second;
    auto it = raw.find(name);
    if (it == raw.end()) return std::nullopt;
    const std::string at = top.field("variables") + "." + name + (overrides.count(name) ? " (--set)" : "");
    if (!expanding.insert(name).second) throw_input("{}: the variable refers to itself through '${{{}}}'", at, name);
    resolved[name] = expand_with(it->second, at, lookup, [&] { return defined_names(raw); });
    expanding.erase(name);
    return resolved[name];
  };
  for (const auto& [name, value] : raw) lookup(name);
  return resolved;
}

}  // namespace

std::string expand_variables(const std::string& text, const std::map<std::string, std::string>& variables,
                             const std::string& where) {
  if (text.find('$') == std::string::npos) return text;
  return expand_with(
      text, where,
      [&](const std::string& name) -> std::optional<std::string> {
        auto it = variables.find(name);
        return it == variables.end() ? std::nullopt : std::optional<std::string>(it->second);
      },
      [&] { return defined_names(variables); });
}

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

Experiment load_experiment(const std::string& path, const std::string& run_dir,
                           const std::map<std::string, std::string>& overrides) {
  const nlohmann::json doc = read_json_file(path);
  JsonObject top(doc, path);
  Experiment e;
  e.file = path;
  e.name = top.get_string("name");
  if (!valid_step_name(e.name)) throw_input("{}: '{}' must be letters, digits, '-', '_' or '.'", top.field("name"), e.name);
  e.description = top.get_string("description", "");
  e.variables = resolve_variables(top, path, overrides);
  if (top.has("estimate")) {
    const nlohmann::json& est = top.raw("estimate");
    if (!est.is_object()) throw_input("{}: expected an object", top.field("estimate"));
    e.estimate = expand_json(est, e.variables, top.field("estimate"));
  }
  e.run_dir = run_dir.empty() ? (fs::path("runs") / e.name).string() : run_dir;
  const nlohmann::json& steps = top.raw("steps");
  if (!steps.is_array() || steps.empty()) throw_input("{}: expected a non-empty list of steps", top.field("steps"));
  auto extra = top.unread_keys();
  if (!extra.empty()) throw_input("{}: unknown key '{}' (known: name, description, variables, estimate, steps)", path, extra.front());

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
    s.settings = expand_json(s.settings, e.variables, s.where);
    if (s.settings.contains("config") && s.settings["config"].is_string()) {
      s.config_file = (fs::path(path).parent_path() / s.settings["config"].get<std::string>()).string();
      s.settings["config"] = expand_json(read_json_file(s.config_file), e.variables, s.config_file);
    }
    e.steps.push_back(std::move(s));
  }
  for (size_t i = 0; i < e.steps.size(); ++i) collect_references(e.steps[i].settings, e, i, e.steps[i].needs);
  return e;
}

}  // namespace g4u::experiments
