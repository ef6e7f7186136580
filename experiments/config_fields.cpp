#include "experiments/config_fields.h"

#include <algorithm>

namespace g4u::experiments {

bool Limits::allows(double v) const {
  if (min && (min_open ? !(v > *min) : !(v >= *min))) return false;
  if (max && (max_open ? !(v < *max) : !(v <= *max))) return false;
  return true;
}

bool Limits::allows(const std::string& v) const {
  return choices.empty() || std::find(choices.begin(), choices.end(), v) != choices.end();
}

std::string Limits::describe() const {
  if (!choices.empty()) return fmt::format("{}", fmt::join(choices, " | "));
  if (min && max) return fmt::format("in {}{}, {}{}", min_open ? "(" : "[", *min, *max, max_open ? ")" : "]");
  if (min) return fmt::format("{} {}", min_open ? ">" : ">=", *min);
  if (max) return fmt::format("{} {}", max_open ? "<" : "<=", *max);
  return "";
}

std::string format_help_rows(const std::vector<HelpRow>& rows) {
  size_t name_width = 0, type_width = 0, default_width = 0;
  for (const auto& r : rows) {
    name_width = std::max(name_width, r.name.size());
    type_width = std::max(type_width, r.type.size());
    default_width = std::max(default_width, r.default_value.size());
  }
  std::string out;
  for (const auto& r : rows)
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", r.name, name_width, r.type, type_width, r.default_value,
                       default_width, r.help);
  return out;
}

}  // namespace g4u::experiments
