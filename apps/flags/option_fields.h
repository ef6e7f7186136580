// Registers a table of command-line options (experiments/config_fields.h OptionField) with CLI11:
// one option per field, bound to its member of `options`, its help followed by the values it
// accepts, defaults shown; a bool member is a flag.
#pragma once

#include "experiments/config_fields.h"

#include <CLI/CLI.hpp>

#include <type_traits>
#include <variant>
#include <vector>

namespace g4u::app {

template <typename S>
void add_option_fields(CLI::App& sub, S& options, const std::vector<experiments::OptionField<S>>& fields) {
  for (const auto& f : fields)
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(options.*member)>;
          const std::string help = experiments::help_with_limits(f.help, f.limits);
          if constexpr (std::is_same_v<T, bool>) {
            sub.add_flag(f.flag, options.*member, help);
          } else {
            CLI::Option* option = sub.add_option(f.flag, options.*member, help);
            if (f.required) option->required();
            else if constexpr (!std::is_same_v<T, std::string>) option->capture_default_str();
          }
        },
        f.member);
}

}  // namespace g4u::app
