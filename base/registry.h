// Registry<Record>: the one registry template of g4u. A record is a whole description of one
// member (a quantization scheme, a metric, a normalizer, a projector variant, a drafter kind...)
// with a stable `name`; adding a member is adding one record. Records keep their addresses (they
// live in a deque), so callers may hold pointers to them.
#pragma once

#include "base/error.h"

#include <deque>
#include <string>
#include <string_view>

namespace g4u {

template <typename Record>
class Registry {
 public:
  // `what` names the kind of member in messages: "unknown <what> 'x' (known: a, b)".
  explicit Registry(std::string what) : what_(std::move(what)) {}

  // Adds a record; a name registered twice is a programming error.
  const Record& add(Record record) {
    G4U_CHECK(lookup(record.name) == nullptr, "{} '{}' registered twice", what_, std::string_view(record.name));
    records_.push_back(std::move(record));
    return records_.back();
  }

  const Record* lookup(std::string_view name) const {
    for (const Record& r : records_)
      if (std::string_view(r.name) == name) return &r;
    return nullptr;
  }
  // InputError naming the unknown name and listing the known ones.
  const Record& find(std::string_view name) const {
    if (const Record* r = lookup(name)) return *r;
    throw_input("unknown {} '{}' (known: {})", what_, name, names());
  }
  // The same, the message led by `context`: where the name came from ("--suite",
  // "file:3: field 'metric'").
  const Record& find(std::string_view name, std::string_view context) const {
    if (const Record* r = lookup(name)) return *r;
    throw_input("{}: unknown {} '{}' (known: {})", context, what_, name, names());
  }

  // Records in registration order (stable: it reaches help texts and listings).
  const std::deque<Record>& all() const { return records_; }
  std::string names(std::string_view separator = ", ") const {
    std::string out;
    for (const Record& r : records_) {
      if (!out.empty()) out += separator;
      out += std::string_view(r.name);
    }
    return out;
  }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::deque<Record> records_;
};

}  // namespace g4u
