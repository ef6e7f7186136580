// Helpers of the media library tests.
#pragma once

#include "test_paths.h"

#include <string>

namespace g4u::test {

// tests/fixtures/media/, with a trailing slash.
inline const std::string kMediaFixtures = std::string(G4U_FIXTURES_DIR) + "/media/";

}  // namespace g4u::test
