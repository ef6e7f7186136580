// Errors used across g4u.
//
// InputError: something the user gave us is wrong (file, flag, field). The CLI maps it to exit
// code 2 and the message must name the place ("ckpt/config.json: text_config.hidden_size: ...").
// Everything else (std::exception, c10::Error) is an internal error, exit code 1.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace g4u {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct InternalError : std::logic_error {
  using std::logic_error::logic_error;
};

template <typename... Args>
[[noreturn]] void throw_input(fmt::format_string<Args...> f, Args&&... args) {
  throw InputError(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace g4u

// Invariant check that is always on; failing means a bug in g4u, not bad input.
#define G4U_CHECK(cond, ...)                                                                   \
  do {                                                                                         \
    if (!(cond))                                                                               \
      throw ::g4u::InternalError(::fmt::format("{}:{}: check '{}' failed: {}", __FILE__,       \
                                               __LINE__, #cond, ::fmt::format(__VA_ARGS__))); \
  } while (0)
