#include "datasets/manifest/out_folder.h"

#include "base/error.h"

#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace g4u::datasets {

OutputFolder::OutputFolder(const std::string& out, bool overwrite, const std::string& flag) : flag_(flag) {
  if (out.empty()) throw_input("{}: missing output folder", flag);
  fs::path p = fs::absolute(out).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  out_ = p.string();
  std::error_code ec;
  if (fs::exists(p, ec)) {
    if (!fs::is_directory(p)) throw_input("{}: '{}' exists and is not a folder", flag, out);
    if (!fs::is_empty(p) && !overwrite)
      throw_input("{}: '{}' exists and is not empty (pass --overwrite to replace it)", flag, out);
  }
  if (!fs::is_directory(p.parent_path())) throw_input("{}: the parent folder of '{}' does not exist", flag, out);
  tmp_ = out_ + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp_, ec);
  fs::create_directories(tmp_, ec);
  if (ec) throw_input("{}: cannot create '{}': {}", flag, tmp_, ec.message());
}

OutputFolder::~OutputFolder() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

void OutputFolder::commit() {
  std::error_code ec;
  std::string old;
  if (fs::exists(out_, ec)) {
    old = out_ + ".old-" + std::to_string(::getpid());
    fs::remove_all(old, ec);
    fs::rename(out_, old, ec);
    if (ec) throw_input("{}: cannot move the existing '{}' aside: {}", flag_, out_, ec.message());
  }
  fs::rename(tmp_, out_, ec);
  if (ec) {
    std::error_code ec2;
    if (!old.empty()) fs::rename(old, out_, ec2);
    throw_input("{}: cannot move the result into '{}': {}", flag_, out_, ec.message());
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace g4u::datasets
