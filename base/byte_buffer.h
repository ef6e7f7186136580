// ByteBuffer: bytes that are either owned (a std::vector) or borrowed from memory that something
// else keeps alive (a read-only file mapping, held through `keeper`).
//
// Why: packed weights stored on disk exactly as the kernels read them can stay views of the
// checkpoint's mapping, so loading costs no copy (quant/io/checkpoint.h). Reads see both kinds the
// same way; every mutation goes through an explicit mutable accessor, which first copies borrowed
// bytes into an owned vector (copy on write), so a mapping is never written through and a caller
// that only reads never copies by accident.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace g4u {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(std::vector<uint8_t> bytes) : owned_(std::move(bytes)) {}  // NOLINT: implicit by design

  // `n` bytes at `p`, valid as long as `keeper` lives (it is held by this buffer and its copies).
  static ByteBuffer borrow(const uint8_t* p, size_t n, std::shared_ptr<const void> keeper) {
    ByteBuffer b;
    b.borrowed_ = p;
    b.borrowed_size_ = n;
    b.keeper_ = std::move(keeper);
    return b;
  }

  bool is_borrowed() const { return keeper_ != nullptr; }
  const uint8_t* data() const { return is_borrowed() ? borrowed_ : owned_.data(); }
  size_t size() const { return is_borrowed() ? borrowed_size_ : owned_.size(); }
  bool empty() const { return size() == 0; }
  const uint8_t& operator[](size_t i) const { return data()[i]; }
  const uint8_t* begin() const { return data(); }
  const uint8_t* end() const { return data() + size(); }

  // The bytes as an owned vector, copying borrowed ones first.
  std::vector<uint8_t>& mutable_vector() {
    if (is_borrowed()) {
      owned_.assign(borrowed_, borrowed_ + borrowed_size_);
      borrowed_ = nullptr;
      borrowed_size_ = 0;
      keeper_.reset();
    }
    return owned_;
  }
  uint8_t* mutable_data() { return mutable_vector().data(); }

  void assign(size_t n, uint8_t value) {
    drop_borrow();
    owned_.assign(n, value);
  }
  void resize(size_t n) { mutable_vector().resize(n); }
  void reserve(size_t n) { mutable_vector().reserve(n); }
  void append(const uint8_t* p, size_t n) { mutable_vector().insert(owned_.end(), p, p + n); }
  void clear() {
    drop_borrow();
    owned_.clear();
  }

  friend bool operator==(const ByteBuffer& a, const ByteBuffer& b) {
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
  }
  friend bool operator!=(const ByteBuffer& a, const ByteBuffer& b) { return !(a == b); }

 private:
  void drop_borrow() {
    borrowed_ = nullptr;
    borrowed_size_ = 0;
    keeper_.reset();
  }

  std::vector<uint8_t> owned_;
  const uint8_t* borrowed_ = nullptr;
  size_t borrowed_size_ = 0;
  std::shared_ptr<const void> keeper_;
};

}  // namespace g4u
