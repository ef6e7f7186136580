// An experiment file of `g4u run` (format: experiments/README.md, "g4u run"): a name and an ordered
// list of steps, each a `kind` (experiments/run/step_kinds.h) with its settings. A string setting
// "@<step>" or "@<step>/<path>" names the output folder of an earlier step (or a file in it); these
// references are the dependencies between steps. Parsing checks the document's shape, the step
// names and the references; the settings of each kind are checked by the kind.
//
// Variables: a top-level "variables" object of strings; "${name}" inside any string of a step (or
// of another variable's value) is replaced by the value, after the command line's `--set
// name=value` overrides. `${experiment_dir}` is built in: the folder of the experiment file. "$${"
// is a literal "${". An undefined variable is an InputError naming the file and the key.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace g4u::experiments {

struct ExperimentStep {
  std::string name;                // unique; its outputs go to <run folder>/<name>
  std::string kind;                // a step kind (step_kinds())
  nlohmann::json settings;         // the step object without name and kind, references unresolved
  std::vector<std::string> needs;  // the earlier steps it references, in order of first mention
  std::string where;               // "<file>: steps[i] (<name>)", for messages
  std::string config_file;         // a `config` setting given as a file name: that file ("" otherwise)
};

struct Experiment {
  std::string file;         // the experiment file
  std::string name, description;
  std::string run_dir;      // where the steps' folders go
  std::map<std::string, std::string> variables;  // resolved values (overrides applied, references expanded)
  nlohmann::json estimate = nlohmann::json::object();  // the "estimate" object (run/cost_model.h), variables expanded
  std::vector<ExperimentStep> steps;

  const ExperimentStep* find(const std::string& name) const;
  std::string step_dir(const std::string& step) const;  // <run_dir>/<step>
};

// Reads and checks an experiment file. A `config` setting that is a string is a JSON file
// (relative to the experiment file's folder), read and put in its place, so that its content is
// part of the step's settings (and of the hash that recognises a completed step). `run_dir` empty: runs/<name> (relative to the working
// directory). `overrides`: --set name=value (each name must be a variable the file declares).
// InputError naming the file (and line, for malformed JSON) and the key otherwise.
Experiment load_experiment(const std::string& path, const std::string& run_dir,
                           const std::map<std::string, std::string>& overrides = {});

// `text` with every "${name}" replaced by variables.at(name) and "$${" by "${". InputError
// "<where>: undefined variable '${name}' ..." for a name not in `variables`.
std::string expand_variables(const std::string& text, const std::map<std::string, std::string>& variables,
                             const std::string& where);

// A copy of `j` with every reference string "@<step>[/<path>]" replaced by the path it names.
nlohmann::json resolve_references(const nlohmann::json& j, const Experiment& experiment);
// The step a reference string names ("" when `value` is not a reference).
std::string referenced_step(const std::string& value);

}  // namespace g4u::experiments
