// Python number semantics (docs/eval-benchmarks.md §8), checked against the values CPython 3.11
// gives for these inputs.
#include "eval/pynum.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace g4u::eval;

TEST_CASE("float(): accepted and rejected spellings", "[unit]") {
  CHECK(*py_float(std::string(" 1e3 ")) == 1000.0);
  CHECK(*py_float(std::string("1_000")) == 1000.0);
  CHECK(*py_float(std::string("+.5")) == 0.5);
  CHECK(*py_float(std::string("1.")) == 1.0);
  CHECK(std::isinf(*py_float(std::string("-Infinity"))));
  CHECK(std::isnan(*py_float(std::string("nan"))));
  CHECK(*py_float(std::string("\u00a0\u0663.\u0665\u2003")) == 3.5);  // Arabic-Indic digits, Unicode spaces
  CHECK(std::isinf(*py_float(std::string("2.5e312"))));
  CHECK(*py_float(std::string("1e-400")) == 0.0);
  for (const char* bad : {"1,000", "45%", "", " ", ".", "e5", "1e", "1__0", "_1", "1_", "1_e5", "0x10", "in f", "--1", "1 2"})
    CHECK_FALSE(py_float(std::string(bad)).has_value());
}

TEST_CASE("int(): base 10", "[unit]") {
  CHECK(*py_int(u32(" -007 ")) == "-7");
  CHECK(*py_int(u32("1_000")) == "1000");
  CHECK(*py_int(u32("-0")) == "0");
  CHECK(*py_int(u32("\u0663\u0664")) == "34");
  for (const char* bad : {"12.0", "1e3", "", "+", "_1", "1__0", "0x1"}) CHECK_FALSE(py_int(u32(bad)).has_value());
}

TEST_CASE("repr(float)", "[unit]") {
  CHECK(py_float_repr(2.0) == "2.0");
  CHECK(py_float_repr(0.1) == "0.1");
  CHECK(py_float_repr(1e16) == "1e+16");
  CHECK(py_float_repr(1e15) == "1000000000000000.0");
  CHECK(py_float_repr(0.0001) == "0.0001");
  CHECK(py_float_repr(0.00001) == "1e-05");
  CHECK(py_float_repr(123456789012345678.0) == "1.2345678901234568e+17");
  CHECK(py_float_repr(1.5e-7) == "1.5e-07");
  CHECK(py_float_repr(-0.0) == "-0.0");
  CHECK(py_float_repr(1e300 * 1e300) == "inf");
  CHECK(py_float_repr(1.0 / 3) == "0.3333333333333333");
}

TEST_CASE("round(x, n): ties to even on the binary value", "[unit]") {
  CHECK(py_round(2.675, 2) == 2.67);  // 2.675 is 2.67499999... in binary
  CHECK(py_round(0.125, 2) == 0.12);  // exact tie -> even
  CHECK(py_round(0.375, 2) == 0.38);
  CHECK(py_round(2.5, 0) == 2.0);
  CHECK(std::signbit(py_round(-0.4, 0)));
  CHECK(py_round(1234.5, -1) == 1230.0);
  CHECK(py_round(1250.0, -2) == 1200.0);
  CHECK(py_round(1350.0, -2) == 1400.0);
  CHECK(py_round(1.0 / 3, 2) == 0.33);
}

TEST_CASE("str(int(float))", "[unit]") {
  CHECK(*py_int_of_float(-3.9) == "-3");
  CHECK(*py_int_of_float(1e20) == "100000000000000000000");
  CHECK(*py_int_of_float(0.5) == "0");
  CHECK_FALSE(py_int_of_float(std::nan("")).has_value());
}
