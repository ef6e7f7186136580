// safetensors I/O: a validating mmap reader, a streamed writer, and checkpoints (one file or a
// sharded set with `model.safetensors.index.json`).
//
// File layout (little endian): u64 header length N, N bytes of UTF-8 JSON
// {"__metadata__": {str: str}?, name: {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...},
// then the data region. Offsets are relative to the data region; like the reference implementation
// (huggingface/safetensors) the byte ranges, sorted, must tile the data region exactly: the first
// starts at 0, each starts where the previous ends, the last ends at the end of the file.
//
// Every check on the header happens in SafetensorsFile::open() before any tensor byte is read; each
// failure is an InputError naming the file and the problem.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace g4u::model {

enum class DType { kBF16, kF16, kF32, kF64, kI8, kI16, kI32, kI64, kU8, kBool };

size_t dtype_size(DType d);          // bytes per element
const char* dtype_name(DType d);     // the safetensors spelling: "BF16", "F16", ..., "U8", "BOOL"
std::optional<DType> parse_dtype(std::string_view name);
std::vector<DType> all_dtypes();
c10::ScalarType to_scalar_type(DType d);
DType from_scalar_type(c10::ScalarType t);  // InputError if safetensors/g4u has no such dtype

// Largest header accepted, as in the reference implementation (100,000,000 bytes).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute byte offset in the file
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// A validated, read-only memory-mapped safetensors file. Thread-safe after open().
class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t header_size() const { return header_size_; }  // N, the JSON length
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in data-offset order
  const TensorInfo* find(const std::string& name) const;               // nullptr if absent
  const TensorInfo& info(const std::string& name) const;  // InputError naming the file if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const uint8_t* data(const TensorInfo& t) const;

  // Zero-copy CPU tensor aliasing the mapping; it keeps this file mapped while it lives. The mapping
  // is private copy-on-write: writing to a view copies the touched pages into this process and never
  // changes the file. A tensor whose offset is not a multiple of its element size (possible in files
  // written by other tools) is returned as an aligned copy.
  // BOOL tensors are checked to hold only 0/1 bytes (InputError otherwise).
  torch::Tensor view(const std::string& name) const;
  torch::Tensor view(const TensorInfo& t) const;
  torch::Tensor load(const std::string& name) const;  // owned copy
  torch::Tensor load(const TensorInfo& t) const;
  // Drops the pages that lie wholly inside tensor `t` from this process's resident set (they stay
  // in the page cache; a later access reads them again). For readers that copied the tensor: the
  // pages it shares with its neighbours stay, so views of other tensors are never affected.
  void release_pages(const TensorInfo& t) const;
  // The same for bytes [begin, end) of tensor `t` (a reader copying a large tensor slice by slice).
  void release_pages(const TensorInfo& t, uint64_t begin, uint64_t end) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  uint64_t file_size_ = 0;
  uint64_t header_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  void* map_ = nullptr;
  size_t map_len_ = 0;
};

// Streamed writer: the header (all names, dtypes, shapes, hence offsets) is fixed up front so data
// can be written one tensor at a time in declared order. Data go to "<path>.tmp.<pid>", which
// finish() renames onto `path`; the destructor of a writer that was not finished removes the temp
// file, so an interrupted write never leaves a file that later loads. The data region is laid out
// in the declared order (use sort_for_alignment() first to get naturally aligned tensors).
// Misuse (wrong order, dtype, shape, size, writing after finish) is an InternalError.
class SafetensorsWriter {
 public:
  SafetensorsWriter(std::string path, std::vector<TensorInfo> tensors /* name, dtype, shape */,
                    std::map<std::string, std::string> metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void write(const std::string& name, const torch::Tensor& t);  // any device / layout
  void write_raw(const std::string& name, const void* data, size_t nbytes);
  // Appends the next `nbytes` of tensor `name`; the tensor is complete once all its bytes arrived
  // (lets a generator stream a tensor larger than memory).
  void write_part(const std::string& name, const void* data, size_t nbytes);
  // seal() + commit().
  void finish();
  // Two-phase finish for multi-file writers: seal() checks every tensor was written and flushes
  // and closes the temp file; commit() renames it into place.
  void seal();
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // offsets filled in
  uint64_t file_size() const { return file_size_; }
  size_t tensors_written() const { return next_; }

 private:
  void append(const void* data, size_t nbytes);
  const TensorInfo& expect_next(const std::string& name);

  std::string path_, tmp_path_;
  std::vector<TensorInfo> tensors_;
  uint64_t file_size_ = 0;
  size_t next_ = 0;
  size_t part_written_ = 0;  // bytes of tensors_[next_] written by write_part
  int fd_ = -1;
  bool sealed_ = false, committed_ = false;
};

// Orders tensors as the reference writer does: larger element size first, then by name, so every
// tensor starts at a multiple of its element size (the header is padded to 8 bytes).
void sort_for_alignment(std::vector<TensorInfo>& tensors);

// Writes a whole file at once (tensors ordered by sort_for_alignment()).
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// A checkpoint: a directory holding model.safetensors (preferred, as in HF) or
// model.safetensors.index.json + shards, or a single .safetensors file, or an index .json file.
// open() validates the index and every shard header; it is cheap to copy.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir_or_file);

  const std::string& path() const { return path_; }  // the file or index it was opened from
  std::vector<std::string> names() const;           // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // InputError naming the checkpoint if absent
  const SafetensorsFile& file_of(const std::string& name) const;
  torch::Tensor view(const std::string& name) const;
  torch::Tensor load(const std::string& name) const;
  void release_pages(const std::string& name) const;  // SafetensorsFile::release_pages
  void release_pages(const std::string& name, uint64_t begin, uint64_t end) const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  size_t size() const { return entries_.size(); }
  // total_size from the index's metadata, if there is one (informative; not checked).
  std::optional<uint64_t> index_total_size() const { return index_total_size_; }

  // Re-keys the checkpoint: names() and lookups use fn(on-disk name) from now on (applied to the
  // on-disk names, not composed with an earlier rename). Two names mapping to one is an InputError.
  void rename(const std::function<std::string(const std::string&)>& fn);
  // The on-disk name of a (possibly renamed) tensor.
  const std::string& disk_name(const std::string& name) const;

 private:
  struct Entry {
    size_t file = 0;
    const TensorInfo* info = nullptr;
  };
  const Entry& entry(const std::string& name) const;

  std::string path_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> entries_;
  std::optional<uint64_t> index_total_size_;
};

// Writes a checkpoint into `dir` split into shards of at most `max_shard_bytes` of tensor data
// (a tensor larger than that gets a shard of its own), streamed in declared order like
// SafetensorsWriter. Shard names follow HF: "model-00001-of-00003.safetensors" plus
// "model.safetensors.index.json"; if everything fits in one shard, a plain "model.safetensors" is
// written and no index. Every shard carries {"format": "pt"} (HF refuses safetensors metadata
// without it) plus `metadata`. All shards stay temp files until finish(), which renames them and
// writes the index last (atomically), then removes a stale model.safetensors / index of the other
// layout that would shadow the new one. An unfinished writer removes all its temp files.
class ShardedCheckpointWriter {
 public:
  ShardedCheckpointWriter(std::string dir, std::vector<TensorInfo> tensors, uint64_t max_shard_bytes,
                          std::map<std::string, std::string> metadata = {});
  ~ShardedCheckpointWriter();
  ShardedCheckpointWriter(const ShardedCheckpointWriter&) = delete;
  ShardedCheckpointWriter& operator=(const ShardedCheckpointWriter&) = delete;

  void write(const std::string& name, const torch::Tensor& t);
  void write_raw(const std::string& name, const void* data, size_t nbytes);
  void finish();

  // File names (relative to dir) of the shards, in order, and each tensor's shard.
  const std::vector<std::string>& shard_files() const { return shard_files_; }
  const std::string& shard_of(const std::string& name) const;
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  SafetensorsWriter& writer_for(const std::string& name);

  std::string dir_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::vector<TensorInfo>> shard_tensors_;
  std::vector<std::string> shard_files_;
  std::map<std::string, size_t> shard_index_;
  std::vector<std::unique_ptr<SafetensorsWriter>> writers_;  // created lazily, in shard order
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

}  // namespace g4u::model
