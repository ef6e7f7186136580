// One table of fields per config.json object (text, vision and audio configs, the model and
// assistant tops, the MTP and Medusa drafters), so a field is listed once: its key, how it is read
// (default, checks, messages naming the field) and how it is written. Parsing runs the reads in
// table order; writing runs the writes. (experiments/config_fields.h does the same for experiment
// configs, which reject unknown keys and carry help; HF config.json objects instead take HF's
// defaults, which differ from the structs' for the text config, and turn unknown keys into warnings.)
// Torch-free.
#pragma once

#include "base/error.h"
#include "base/json_util.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace g4u::model {

// What a read may need besides the object: where warnings go, and whether the text config
// belongs to the assistant (which alone may share K/V).
struct ConfigParse {
  std::vector<std::string>& warnings;
  bool assistant = false;
};

template <typename S>
struct ConfigField {
  std::string key;
  std::function<void(JsonObject& o, S& out, ConfigParse& p)> read;  // reads (and checks) the key
  std::function<void(const S& in, nlohmann::json& out)> write;       // adds the key to `out`, or nothing
};

template <typename S>
void read_config_fields(JsonObject& o, S& out, const std::vector<ConfigField<S>>& fields, ConfigParse& p) {
  for (const auto& f : fields) f.read(o, out, p);
}

template <typename S>
nlohmann::json write_config_fields(const S& in, const std::vector<ConfigField<S>>& fields) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : fields) f.write(in, j);
  return j;
}

namespace config_detail {
template <typename T>
struct NoDeduce {
  using type = T;
};

template <typename T>
T read_value(JsonObject& o, const std::string& key, const std::optional<T>& def) {
  if constexpr (std::is_same_v<T, std::string>) return o.get_string(key, def);
  else if constexpr (std::is_same_v<T, bool>) return o.get_bool(key, def);
  else if constexpr (std::is_integral_v<T>) return o.get_int(key, def);
  else return o.get_double(key, def);
}
}  // namespace config_detail

// A value (integer, number, bool or string) at `get(config)`; `def` when absent (std::nullopt:
// required). `omit_default`: not written when it equals `def`.
template <typename S, typename T, typename Get>
ConfigField<S> value_field_at(std::string key, Get get, std::optional<T> def, bool omit_default = false) {
  ConfigField<S> f;
  f.key = key;
  f.read = [key, get, def](JsonObject& o, S& out, ConfigParse&) { get(out) = config_detail::read_value<T>(o, key, def); };
  f.write = [key, get, def, omit_default](const S& in, nlohmann::json& out) {
    const T& v = get(in);
    if (!(omit_default && def && v == *def)) out[key] = v;
  };
  return f;
}

template <typename S, typename T>
ConfigField<S> value_field(std::string key, T S::*member, typename config_detail::NoDeduce<std::optional<T>>::type def,
                           bool omit_default = false) {
  return value_field_at<S, T>(
      std::move(key), [member](auto& s) -> auto& { return s.*member; }, std::move(def), omit_default);
}

// A member of a member (`sliding.num_heads`).
template <typename S, typename M, typename T>
ConfigField<S> value_field(std::string key, M S::*outer, T M::*inner,
                           typename config_detail::NoDeduce<std::optional<T>>::type def) {
  return value_field_at<S, T>(
      std::move(key), [outer, inner](auto& s) -> auto& { return (s.*outer).*inner; }, std::move(def));
}

// A field with its own read and write.
template <typename S>
ConfigField<S> custom_field(std::string key, std::function<void(JsonObject&, S&, ConfigParse&)> read,
                            std::function<void(const S&, nlohmann::json&)> write) {
  return {std::move(key), std::move(read), std::move(write)};
}

// The object's model_type: `name` (when absent too, unless `required`), else an InputError
// "<field>: model_type '<got>' is not <name><why>".
template <typename S>
ConfigField<S> model_type_field(std::string name, bool required = false, std::string why = "") {
  return custom_field<S>(
      "model_type",
      [name, required, why](JsonObject& o, S&, ConfigParse&) {
        const std::string mt = required ? o.get_string("model_type") : o.get_string("model_type", name);
        if (mt != name) throw_input("{}: model_type '{}' is not {}{}", o.field("model_type"), mt, name, why);
      },
      [name](const S&, nlohmann::json& out) { out["model_type"] = name; });
}

// Written as `value`; read as nothing to check (architectures, dtype).
template <typename S>
ConfigField<S> constant_field(std::string key, nlohmann::json value) {
  return custom_field<S>(
      key, [key](JsonObject& o, S&, ConfigParse&) { o.mark_read(key); },
      [key, value](const S&, nlohmann::json& out) { out[key] = value; });
}

// A field that must keep `value` because g4u implements only that architecture: any other value
// is an InputError "<field>: value <v> is not supported by g4u (<why>)". Written as `value`.
template <typename S>
ConfigField<S> fixed_field(std::string key, nlohmann::json value, std::string why) {
  return custom_field<S>(
      key,
      [key, value, why](JsonObject& o, S&, ConfigParse&) {
        o.mark_read(key);
        if (!o.has(key)) return;
        const nlohmann::json& v = o.raw(key);
        if (v != value) throw_input("{}: value {} is not supported by g4u ({})", o.field(key), v.dump(), why);
      },
      [key, value](const S&, nlohmann::json& out) { out[key] = value; });
}

// A feature g4u does not implement: null, 0 or false only. Written as `written` unless that is null.
template <typename S>
ConfigField<S> absent_feature_field(std::string key, std::string why, nlohmann::json written = nullptr) {
  return custom_field<S>(
      key,
      [key, why](JsonObject& o, S&, ConfigParse&) {
        o.mark_read(key);
        if (!o.has(key)) return;
        const nlohmann::json& v = o.raw(key);
        if (v.is_number() && v.get<double>() == 0) return;
        if (v.is_boolean() && !v.get<bool>()) return;
        throw_input("{}: value {} is not supported by g4u ({})", o.field(key), v.dump(), why);
      },
      [key, written](const S&, nlohmann::json& out) {
        if (!written.is_null()) out[key] = written;
      });
}

}  // namespace g4u::model
