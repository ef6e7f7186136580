// Shared by the libFuzzer targets of this folder (README.md). Each target feeds the bytes libFuzzer
// gives it to one parser of untrusted input, the way a g4u command would meet them.
//
// The contract under test is the CLI's: bad input is an InputError (exit 2) or, for the
// environment, a std::system_error (also exit 2). Anything else that escapes — an internal error,
// a c10::Error, an out-of-range access, a sanitizer report, a hang, unbounded memory — is a finding
// that libFuzzer reports as a crash.
#pragma once

#include "base/error.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace g4u::fuzz {

// A private folder for this process (removed at exit): parsers that take paths read from here.
const std::string& scratch_dir();

// Writes the input to <scratch_dir>/<name> (replacing the previous input) and returns the path.
std::string write_input(const uint8_t* data, size_t size, const std::string& name);
std::string write_input(std::string_view bytes, const std::string& name);

// Runs `parse`; the errors a command maps to exit 2 are the expected outcome of bad input.
template <typename F>
void expect_clean_errors(F&& parse) {
  try {
    parse();
  } catch (const InputError&) {
  } catch (const std::system_error&) {
  }
}

// Reads bytes off the front of the input (for targets that take a few parameters before the data).
class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  std::string_view rest() const { return {reinterpret_cast<const char*>(p_), size_t(end_ - p_)}; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace g4u::fuzz

namespace g4u::fuzz {

// Targets whose format has no file among the test fixtures make their seed inputs themselves:
// when G4U_FUZZ_SEEDS names a folder, write_seed puts one there (tests/fuzz/run_fuzz.sh sets it).
void write_seed(std::string_view bytes, const std::string& name);
// write_seed with the bytes of the file `path` (a seed the target wrote with the library's writer).
void copy_seed(const std::string& path, const std::string& name);
// Whether seeds are wanted (for targets whose seeds are costly to make).
bool writing_seeds();

}  // namespace g4u::fuzz
