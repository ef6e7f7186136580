// An output folder written atomically: everything goes into a temporary sibling
// ("<out>.tmp-<pid>") that commit() renames into place, so readers never see a half-written
// manifest. An existing empty folder is replaced; a non-empty one only with `overwrite` (it is
// moved aside first and removed after the rename). The temporary folder is removed when the
// object dies uncommitted (an exception on the way).
#pragma once

#include <string>

namespace g4u::datasets {

class OutputFolder {
 public:
  // InputError (naming `flag`) when `out` is a file, non-empty without overwrite, or its parent
  // folder does not exist.
  OutputFolder(const std::string& out, bool overwrite, const std::string& flag = "--out");
  ~OutputFolder();
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const std::string& tmp() const { return tmp_; }    // write here
  const std::string& final_path() const { return out_; }
  void commit();

 private:
  std::string out_, tmp_, flag_;
  bool committed_ = false;
};

}  // namespace g4u::datasets
