// The option table of `g4u train-drafter` (experiments/drafter_trainer.h): one list serves the
// flags, their checks and their help.
#include "base/error.h"
#include "experiments/drafter_trainer.h"

#include <catch2/catch.hpp>

using namespace g4u;
using namespace g4u::experiments;

TEST_CASE("drafter training options: defaults pass, each bad value names its flag", "[unit]") {
  const auto& fields = drafter_train_option_fields();
  CHECK_NOTHROW(check_option_fields(DrafterTrainOptions{}, fields));
  auto error_of = [&](const DrafterTrainOptions& o) -> std::string {
    try {
      check_option_fields(o, fields);
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  DrafterTrainOptions o;
  o.batch_size = 0;
  CHECK(error_of(o) == "--batch: must be >= 1, got 0");
  o = {};
  o.lr = 0;
  CHECK(error_of(o) == "--lr: must be > 0, got 0");
  o = {};
  o.min_lr_ratio = 1.5;
  CHECK(error_of(o) == "--min-lr-ratio: must be in [0, 1], got 1.5");
  o = {};
  o.grad_clip = -1;  // <= 0: clipping off
  CHECK(error_of(o) == "no error");

  std::string listing = format_help_rows(help_rows(fields));
  CHECK(listing.find("--no-init") != std::string::npos);
  CHECK(listing.find("--draft") != std::string::npos);
  for (const auto& f : fields) CHECK(listing.find(f.flag) != std::string::npos);
  CHECK(help_rows(fields).at(0).default_value == "required");
}
