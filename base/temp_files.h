// Temporary files of the write-then-rename outputs ("<path>.tmp.<pid>", see write_file_atomic).
#pragma once

#include <string>

namespace g4u {

// Removes what killed writers left beside `path`: "<path>.tmp.<pid>" files or folders whose process
// no longer exists (kill -9, power loss), so reruns do not pile up partial outputs (a killed 12B
// quantization leaves gigabytes). A temp of a live process is kept. Returns how many were removed.
int remove_stale_temps(const std::string& path);

}  // namespace g4u
