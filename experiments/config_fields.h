// One list of fields per options struct serves parsing, checking, writing and help, so a field is
// declared once: its name (JSON key or command-line flag), the member it fills, a one-line help and
// the values it accepts. The struct's member initializers are the defaults.
//   JSON configs: JsonField (json_field, json_list_field), read_json_fields, write_json_fields.
//   Command-line options: OptionField, check_option_fields (apps/ registers them with CLI11).
//   Both: help_rows / format_help_rows.
#pragma once

#include "base/error.h"
#include "base/json_util.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace g4u::experiments {

// What a field accepts: numeric bounds, or a list of words for a string.
struct Limits {
  std::optional<double> min, max;
  bool min_open = false, max_open = false;  // min < v (v < max) instead of min <= v (v <= max)
  std::vector<std::string> choices;

  static Limits at_least(double v) { return {v, std::nullopt, false, false, {}}; }
  static Limits above(double v) { return {v, std::nullopt, true, false, {}}; }
  static Limits between(double lo, double hi) { return {lo, hi, false, false, {}}; }  // [lo, hi]
  static Limits from_below(double lo, double hi) { return {lo, hi, false, true, {}}; }  // [lo, hi)
  static Limits one_of(std::vector<std::string> words) { return {std::nullopt, std::nullopt, false, false, std::move(words)}; }

  bool allows(double v) const;
  bool allows(const std::string& v) const;
  std::string describe() const;  // "> 0", ">= 8", "in [0, 1)", "byte | sentencepiece"; "" when any value goes
};

// Throws InputError "<field>: must be <limits>, got <value>" unless `limits` allow `value`.
template <typename T>
void check_limits(const T& value, const Limits& limits, const std::string& field) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!limits.allows(value)) throw_input("{}: '{}' is not {}", field, value, limits.describe());
  } else if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    if (!limits.allows(static_cast<double>(value))) throw_input("{}: must be {}, got {}", field, limits.describe(), value);
  }
}

// "<help> (<limits>)", or the help alone when any value goes.
inline std::string help_with_limits(const std::string& help, const Limits& limits) {
  const std::string rule = limits.describe();
  return rule.empty() ? help : fmt::format("{} ({})", help, rule);
}

// One line of a help listing.
struct HelpRow {
  std::string name, type, default_value, help;
};
// The rows as an aligned table, one field a line.
std::string format_help_rows(const std::vector<HelpRow>& rows);

template <typename T>
const char* field_type_name() {
  if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_integral_v<T>) return "int";
  else if constexpr (std::is_floating_point_v<T>) return "number";
  else return "object";
}

// ---- JSON configs ---------------------------------------------------------------------------

template <typename S>
struct JsonField {
  std::string section;  // "" at the top level, else the key of the object that holds the field
  std::string key;
  // Reads the field, when present (required ones must be), from its section's object and checks it.
  std::function<void(JsonObject& object, S& out)> read;
  std::function<nlohmann::json(const S& in)> write;
  std::vector<HelpRow> help;  // the field's row (a list's: then one per field of its items)
};

namespace detail {

template <typename T>
T read_json_value(JsonObject& o, const std::string& key) {
  if constexpr (std::is_same_v<T, std::string>) {
    return o.get_string(key);
  } else if constexpr (std::is_same_v<T, bool>) {
    return o.get_bool(key);
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(o.get_int(key));
  } else if constexpr (std::is_floating_point_v<T>) {
    return o.get_double(key);
  } else {
    static_assert(std::is_same_v<T, nlohmann::json>, "unsupported field type");
    const nlohmann::json& v = o.raw(key);
    if (!v.is_object()) throw_input("{}: expected an object", o.field(key));
    return v;
  }
}

inline std::string field_path(const std::string& section, const std::string& key) {
  return section.empty() ? key : section + "." + key;
}

inline void reject_unread(const JsonObject& o) {
  auto extra = o.unread_keys();
  if (!extra.empty()) throw_input("{}: unknown key '{}'", o.where(), extra.front());
}

}  // namespace detail

// A field holding one value (string, bool, integer, number, or a JSON object taken as is).
template <typename S, typename T>
JsonField<S> json_field(std::string section, std::string key, T S::*member, std::string help, Limits limits = {},
                        bool required = false) {
  JsonField<S> f;
  f.section = section;
  f.key = key;
  f.read = [key, member, limits, required](JsonObject& o, S& out) {
    if (!required && !o.has(key)) return;
    out.*member = detail::read_json_value<T>(o, key);
    check_limits(out.*member, limits, o.field(key));
  };
  f.write = [member](const S& in) { return nlohmann::json(in.*member); };
  f.help.push_back({detail::field_path(section, key), field_type_name<T>(),
                    required ? "required" : nlohmann::json(S{}.*member).dump(), help_with_limits(help, limits)});
  return f;
}

template <typename S>
void read_json_fields(JsonObject& o, S& out, const std::vector<JsonField<S>>& fields);
template <typename S>
nlohmann::json write_json_fields(const S& in, const std::vector<JsonField<S>>& fields);

// A field holding a list of objects, each read with `item_fields` (all at their top level).
template <typename S, typename Item>
JsonField<S> json_list_field(std::string section, std::string key, std::vector<Item> S::*member,
                             std::vector<JsonField<Item>> item_fields, std::string help) {
  JsonField<S> f;
  f.section = section;
  f.key = key;
  f.read = [key, member, item_fields](JsonObject& o, S& out) {
    if (!o.has(key)) return;
    const nlohmann::json& list = o.raw(key);
    if (!list.is_array()) throw_input("{}: expected a list", o.field(key));
    for (size_t i = 0; i < list.size(); ++i) {
      JsonObject item_object(list[i], fmt::format("{}[{}]", o.field(key), i));
      Item item;
      read_json_fields(item_object, item, item_fields);
      (out.*member).push_back(std::move(item));
    }
  };
  f.write = [member, item_fields](const S& in) {
    nlohmann::json list = nlohmann::json::array();
    for (const Item& item : in.*member) list.push_back(write_json_fields(item, item_fields));
    return list;
  };
  const std::string path = detail::field_path(section, key);
  f.help.push_back({path, "list", "[]", help});
  for (const auto& item_field : item_fields)
    for (HelpRow row : item_field.help) {
      row.name = path + "[]." + row.name;
      f.help.push_back(std::move(row));
    }
  return f;
}

// Reads every field of `fields` from `o` (sections from their sub-objects); a key no field names
// is an InputError naming it.
template <typename S>
void read_json_fields(JsonObject& o, S& out, const std::vector<JsonField<S>>& fields) {
  std::vector<std::string> sections;
  for (const auto& f : fields)
    if (!f.section.empty() && std::find(sections.begin(), sections.end(), f.section) == sections.end())
      sections.push_back(f.section);
  for (const auto& f : fields)
    if (f.section.empty()) f.read(o, out);
  static const nlohmann::json kAbsent = nlohmann::json::object();
  for (const auto& section : sections) {
    const bool present = o.has(section);
    JsonObject sub = present ? o.object(section) : JsonObject(kAbsent, o.field(section));
    for (const auto& f : fields)
      if (f.section == section) f.read(sub, out);
    detail::reject_unread(sub);
  }
  detail::reject_unread(o);
}

template <typename S>
nlohmann::json write_json_fields(const S& in, const std::vector<JsonField<S>>& fields) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : fields) (f.section.empty() ? out : out[f.section])[f.key] = f.write(in);
  return out;
}

template <typename S>
std::vector<HelpRow> help_rows(const std::vector<JsonField<S>>& fields) {
  std::vector<HelpRow> rows;
  for (const auto& f : fields) rows.insert(rows.end(), f.help.begin(), f.help.end());
  return rows;
}

// ---- command-line options -------------------------------------------------------------------

template <typename S>
using OptionMember = std::variant<std::string S::*, bool S::*, int64_t S::*, double S::*>;

template <typename S>
struct OptionField {
  std::string flag;  // "--steps"; a bool member is a flag without a value
  OptionMember<S> member;
  std::string help;
  Limits limits = {};
  bool required = false;
};

// InputError naming the flag for the first value outside its limits.
template <typename S>
void check_option_fields(const S& options, const std::vector<OptionField<S>>& fields) {
  for (const auto& f : fields)
    std::visit([&](auto member) { check_limits(options.*member, f.limits, f.flag); }, f.member);
}

// The JSON key of an option in an experiment file: the flag without "--", '-' as '_'
// ("--sample-temperature" -> "sample_temperature").
inline std::string option_json_key(const std::string& flag) {
  std::string key = flag.rfind("--", 0) == 0 ? flag.substr(2) : flag;
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

// Reads the options of `fields` but those in `skip` from `o` by their JSON keys and checks their
// limits; a required option that is missing is an InputError naming the key.
template <typename S>
void read_option_fields(JsonObject& o, S& out, const std::vector<OptionField<S>>& fields,
                        const std::vector<std::string>& skip) {
  for (const auto& f : fields) {
    if (std::find(skip.begin(), skip.end(), f.flag) != skip.end()) continue;
    const std::string key = option_json_key(f.flag);
    if (!o.has(key)) {
      if (f.required) throw_input("{}: missing", o.field(key));
      continue;
    }
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(out.*member)>;
          out.*member = detail::read_json_value<T>(o, key);
          check_limits(out.*member, f.limits, o.field(key));
        },
        f.member);
  }
}

template <typename S>
std::vector<HelpRow> help_rows(const std::vector<OptionField<S>>& fields) {
  std::vector<HelpRow> rows;
  const S defaults{};
  for (const auto& f : fields)
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(defaults.*member)>;
          rows.push_back({f.flag, field_type_name<T>(), f.required ? "required" : nlohmann::json(defaults.*member).dump(),
                          help_with_limits(f.help, f.limits)});
        },
        f.member);
  return rows;
}

}  // namespace g4u::experiments
