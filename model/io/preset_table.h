// PresetTable<Config>: the named configurations of one kind (models, assistants, MTP modules,
// Medusa heads). A preset is a function that builds its config; the table lists the names in
// sorted order and hands out a preset named after its key and checked by `validate(config,
// "preset <name>")`. Torch-free.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace g4u::model {

template <typename Config>
class PresetTable {
 public:
  using Make = std::function<Config()>;
  PresetTable(std::initializer_list<std::pair<const std::string, Make>> presets) : presets_(presets) {}

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : presets_) out.push_back(kv.first);
    return out;
  }

  std::optional<Config> get(const std::string& name) const {
    auto it = presets_.find(name);
    if (it == presets_.end()) return std::nullopt;
    Config c = it->second();
    c.name = name;
    validate(c, "preset " + name);
    return c;
  }

 private:
  std::map<std::string, Make> presets_;
};

}  // namespace g4u::model
