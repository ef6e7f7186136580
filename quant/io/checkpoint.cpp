#include "quant/io/checkpoint.h"

#include "base/error.h"
#include "base/json_util.h"
#include "base/mapped_copy.h"
#include "base/temp_files.h"
#include "model/io/memory_plan.h"
#include "model/io/safetensors.h"
#include "quant/formats/interleave.h"
#include "quant/formats/quantized_tensor.h"
#include "quant/layer/quant_linear.h"
#include "quant/layer/tied_head.h"
#include "quant/layer/torch_tensor.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>

namespace g4u::quant {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "g4u-quantized-checkpoint";
constexpr int kVersion = 2;           // the newest this code reads and writes
constexpr int kStorageOrderVersion = 1;  // every qdata in storage order ("qdata_order" absent)
const char* const kArrayNames[4] = {"qdata", "qscales", "qzeros", "qmeta"};

constexpr const char* kPolicyText =
    "decoder linears (q/k/v/o/gate/up/down_proj) -> recipe scheme (shape fallback q4_k->q4_0, else q8_0, else float); "
    "tied embedding/head kept in source dtype (q4_k_m: q6_k); norms, scalars, vision/audio embedders kept";

int64_t array_size(const StorageSizes& s, int i) { return i == 0 ? s.data : i == 1 ? s.scales : i == 2 ? s.zeros : s.meta; }
ByteBuffer& array_of(QuantizedTensor& q, int i) {
  return i == 0 ? q.data : i == 1 ? q.scales : i == 2 ? q.zeros : q.meta;
}

// Drops the pages of a mapped tensor from this process (they stay in the page cache), so streaming
// a checkpoint larger than memory does not grow the resident set.
void release_range(const uint8_t* p, uint64_t nbytes) {
  const long page = sysconf(_SC_PAGESIZE);
  auto begin = reinterpret_cast<uintptr_t>(p);
  uintptr_t end = begin + nbytes;
  begin &= ~static_cast<uintptr_t>(page - 1);
  end = (end + page - 1) & ~static_cast<uintptr_t>(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}
void release_pages(const model::SafetensorsFile& f, const model::TensorInfo& t) { f.release_pages(t); }

// Removes a temp directory unless released.
struct TempDir {
  fs::path path;
  bool keep = false;
  ~TempDir() {
    if (!keep) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

nlohmann::json bytes_json(const ByteAccounting& b) {
  return {{"codes", b.codes}, {"scales", b.scales}, {"zeros_mins", b.zeros_mins}, {"codebook", b.codebook},
          {"other", b.other}, {"total", b.total()}};
}

// Rows [row0, row0 + nrows) of a tensor in fp32, converted straight into `out` (reused from slice to
// slice: a fresh 64 MB buffer per slice cost more in page faults than the encoding of q4_0).
void to_f32(const model::Checkpoint& ck, const std::string& name, int64_t row0, int64_t nrows, std::vector<float>& out) {
  torch::Tensor v = ck.view(name);
  if (v.dim() == 2) v = v.narrow(0, row0, nrows);
  out.resize(static_cast<size_t>(v.numel()));
  torch::from_blob(out.data(), v.sizes(), torch::kFloat32).copy_(v);
}

}  // namespace

model::Checkpoint open_float_checkpoint(const std::string& dir, const std::vector<model::TensorSpec>& specs) {
  model::Checkpoint ck = model::Checkpoint::open(dir);
  ck.rename(model::canonical_model_tensor_name);
  model::check_checkpoint_tensors(ck, specs);
  return ck;
}

void release_tensor_pages(const model::Checkpoint& ck, const std::string& name) {
  ck.release_pages(name);
}

bool is_quantized_checkpoint(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_regular_file(fs::path(dir) / kQuantMetadataFile, ec);
}

nlohmann::json quantize_checkpoint(const std::string& src_dir, const std::string& out_dir, const QuantizeOptions& opt) {
  const Recipe recipe = find_recipe(opt.recipe);
  if (!fs::is_directory(src_dir)) throw_input("--model {}: not a checkpoint directory", src_dir);
  if (is_quantized_checkpoint(src_dir)) throw_input("--model {}: already a quantized checkpoint", src_dir);
  if (fs::exists(out_dir)) throw_input("--out {}: already exists (remove it or choose another path)", out_dir);
  const model::ModelConfig cfg = model::load_model_config(src_dir);
  const std::vector<model::TensorSpec> specs = model::model_tensor_specs(cfg);
  model::Checkpoint ck = open_float_checkpoint(src_dir, specs);
  const std::vector<TensorAssignment> plan = plan_tensors(specs, recipe);
  for (const auto& [name, im] : opt.imatrix) {
    auto it = std::find_if(plan.begin(), plan.end(), [&n = name](const TensorAssignment& a) { return a.spec.name == n; });
    if (it == plan.end() || !it->scheme) throw_input("imatrix: tensor {} is not quantized by recipe {}", name, recipe.name);
    if (static_cast<int64_t>(im.size()) != it->spec.shape[1])
      throw_input("imatrix: tensor {} has {} values, expected {}", name, im.size(), it->spec.shape[1]);
  }

  for (const auto& [name, v] : opt.kept_overrides) {
    auto it = std::find_if(plan.begin(), plan.end(), [&n = name](const TensorAssignment& a) { return a.spec.name == n; });
    G4U_CHECK(it != plan.end() && !it->scheme, "override of {}: not a kept tensor of recipe {}", name, recipe.name);
  }

  // Output tensor list: kept tensors unchanged, quantized ones as their non-empty arrays.
  std::vector<model::TensorInfo> infos;
  std::map<std::string, const TensorAssignment*> by_array;  // array name -> assignment
  std::map<std::string, int> array_index;
  for (const auto& a : plan) {
    if (!a.scheme) {
      model::TensorInfo t;
      t.name = a.spec.name;
      t.dtype = ck.info(a.spec.name).dtype;
      t.shape = a.spec.shape;
      if (auto o = opt.kept_overrides.find(a.spec.name); o != opt.kept_overrides.end()) {
        G4U_CHECK(o->second.sizes().vec() == a.spec.shape, "override of {}: shape {}", a.spec.name, o->second.sizes());
        t.dtype = model::DType::kF32;
      }
      infos.push_back(t);
      continue;
    }
    const StorageSizes ss = a.scheme->storage(*a.scheme, a.spec.shape[0], a.spec.shape[1]);
    for (int i = 0; i < 4; ++i) {
      if (array_size(ss, i) == 0) continue;
      model::TensorInfo t;
      t.name = a.spec.name + "." + kArrayNames[i];
      t.dtype = model::DType::kU8;
      t.shape = {array_size(ss, i)};
      infos.push_back(t);
      by_array[t.name] = &a;
      array_index[t.name] = i;
    }
  }
  model::sort_for_alignment(infos);

  remove_stale_temps(fs::path(out_dir).string());
  TempDir tmp{fs::path(out_dir).string() + ".tmp." + std::to_string(getpid())};
  std::error_code ec;
  fs::remove_all(tmp.path, ec);  // a leftover of an earlier run; when that fails, so does the next line
  fs::create_directories(tmp.path, ec);  // the error names the folder asked for, not the temp beside it
  if (ec) throw_input("--out {}: cannot create folder: {}", out_dir, ec.message());
  nlohmann::json meta = {{"format", kFormat},         {"version", kVersion},
                         {"recipe", recipe.name},     {"recipe_summary", recipe.summary},
                         {"source", opt.source_label.empty() ? src_dir : opt.source_label},         {"policy", kPolicyText},
                         {"calibration", opt.calibration}, {"tensors", nlohmann::json::object()},
                         {"kept", nlohmann::json::object()}};
  int64_t q_params = 0, q_bytes = 0, kept_bytes = 0, total_params = 0;
  {
    model::SafetensorsWriter w((tmp.path / "model.safetensors").string(), infos,
                               {{"format", "pt"}, {"g4u_quant_recipe", recipe.name}});
    std::string current;  // the quantized tensor whose arrays are being written
    QuantizedTensor q;
    std::vector<float> wf;  // the slice being quantized, in fp32
    std::set<std::string> done;
    for (const auto& info : w.tensors()) {
      auto it = by_array.find(info.name);
      const TensorAssignment* kept = nullptr;
      for (const auto& p : plan)
        if (p.spec.name == info.name) kept = &p;
      if (auto o = opt.kept_overrides.find(info.name); o != opt.kept_overrides.end()) {
        const torch::Tensor v = o->second.detach().to(torch::kFloat32).contiguous();
        w.write_raw(info.name, v.data_ptr(), static_cast<size_t>(v.numel()) * sizeof(float));
        kept_bytes += static_cast<int64_t>(v.numel()) * 4;
        total_params += v.numel();
        meta["kept"][info.name] = {{"dtype", "F32"}, {"shape", info.shape}, {"rule", kept ? kept->rule : ""},
                                   {"modified", "calibration (fp32)"}};
        continue;
      }
      if (it == by_array.end()) {  // kept tensor: raw bytes
        const auto& src = ck.info(info.name);
        const auto& file = ck.file_of(info.name);
        // In 64 MiB pieces, each released once written: the 12B's 2 GB embedding never becomes resident.
        constexpr uint64_t kPiece = uint64_t(64) << 20;
        const uint8_t* p = file.data(src);
        if (src.nbytes == 0) w.write_raw(info.name, p, 0);
        for (uint64_t off = 0; off < src.nbytes; off += kPiece) {
          const uint64_t len = std::min(kPiece, src.nbytes - off);
          w.write_part(info.name, p + off, len);
          release_range(p + off, len);
        }
        kept_bytes += static_cast<int64_t>(src.nbytes);
        total_params += src.numel();
        meta["kept"][info.name] = {{"dtype", model::dtype_name(src.dtype)}, {"shape", src.shape}, {"rule", kept ? kept->rule : ""}};
        continue;
      }
      const TensorAssignment& a = *it->second;
      const int idx = array_index[info.name];
      if (a.spec.name != current) {
        G4U_CHECK(!done.count(a.spec.name), "arrays of {} are not contiguous", a.spec.name);
        done.insert(a.spec.name);
        current = a.spec.name;
        const int64_t rows = a.spec.shape[0], cols = a.spec.shape[1];
        const auto& src = ck.info(a.spec.name);
        const auto& file = ck.file_of(a.spec.name);
        const float* im = nullptr;
        if (auto f = opt.imatrix.find(a.spec.name); f != opt.imatrix.end()) im = f->second.data();
        double err_num = 0, err_den = 0;
        // Row-local ggml layouts are encoded in slices of rows so a huge table (the 12B embedding,
        // 4 GB in fp32) never exists in fp32 at once; other schemes see the whole tensor.
        const bool sliced = a.scheme->layout == Layout::kGgmlBlocks && !opt.transform;
        const int64_t slice = sliced ? std::max<int64_t>(1, (int64_t(1) << 24) / cols) : rows;
        q = QuantizedTensor{};
        q.scheme = a.scheme;
        q.rows = rows;
        q.cols = cols;
        if (sliced) q.data.reserve(static_cast<size_t>(a.scheme->storage(*a.scheme, rows, cols).data));
        for (int64_t r0 = 0; r0 < rows; r0 += slice) {
          const int64_t nr = std::min(slice, rows - r0);
          to_f32(ck, a.spec.name, r0, nr, wf);
          QuantizedTensor part;
          bool given = false;
          if (opt.transform) given = opt.transform(a, wf, part);
          DecodeError err;
          if (!given) {
            part = quantize(*a.scheme, wf.data(), nr, cols, im, ck.disk_name(a.spec.name), opt.threads, &err);
          } else {
            G4U_CHECK(part.scheme == a.scheme && part.rows == nr && part.cols == cols,
                      "transform of {} changed the format", a.spec.name);
            err = decoded_error(part, wf.data(), opt.threads, ck.disk_name(a.spec.name));
          }
          err_num += err.squared_error;
          err_den += err.squared_reference;
          if (!sliced) {
            q = std::move(part);
          } else {
            q.data.append(part.data.data(), part.data.size());
          }
        }
        release_pages(file, src);
        if (opt.kernel_order) q = to_interleaved(std::move(q));
        const ByteAccounting b = q.bytes();
        q_params += q.numel();
        total_params += q.numel();
        q_bytes += b.total();
        meta["tensors"][a.spec.name] = {{"scheme", a.scheme->name},
                                        {"shape", {rows, cols}},
                                        {"group_size", a.scheme->group_size(cols)},
                                        {"bits_per_weight", q.bits_per_weight()},
                                        {"bytes", bytes_json(b)},
                                        {"relative_error", err_den > 0 ? std::sqrt(err_num / err_den) : 0.0},
                                        {"rule", a.rule}};
        if (opt.progress)
          opt.progress(fmt::format("{} -> {} ({:.3f} bpw, rel. error {:.4f})", a.spec.name, a.scheme->name,
                                   q.bits_per_weight(), meta["tensors"][a.spec.name]["relative_error"].get<double>()));
      }
      const ByteBuffer& arr = array_of(q, idx);
      G4U_CHECK(static_cast<int64_t>(arr.size()) == info.shape[0], "{}: {} bytes, expected {}", info.name, arr.size(),
                info.shape[0]);
      w.write_raw(info.name, arr.data(), arr.size());
    }
    w.finish();
  }
  // The oldest version that describes the file: 1 unless some qdata is in the kernels' order.
  const bool any_kernel_order = opt.kernel_order && std::any_of(plan.begin(), plan.end(), [](const TensorAssignment& a) {
    return a.scheme && has_interleaved_order(*a.scheme);
  });
  if (any_kernel_order) {
    meta["qdata_order"] = "kernel";
  } else {
    meta["version"] = kStorageOrderVersion;
  }
  meta["totals"] = {{"quantized_params", q_params},
                    {"quantized_bytes", q_bytes},
                    {"quantized_bits_per_weight", q_params ? 8.0 * q_bytes / q_params : 0.0},
                    {"kept_bytes", kept_bytes},
                    {"total_params", total_params},
                    {"file_bits_per_weight", total_params ? 8.0 * (q_bytes + kept_bytes) / total_params : 0.0}};
  for (const auto& e : fs::directory_iterator(src_dir)) {
    const std::string n = e.path().filename().string();
    if (!e.is_regular_file() || n.find(".safetensors") != std::string::npos || n == kQuantMetadataFile) continue;
    fs::copy_file(e.path(), tmp.path / n);
  }
  write_file_atomic((tmp.path / kQuantMetadataFile).string(), meta.dump(1) + "\n");
  fs::rename(tmp.path, out_dir);
  tmp.keep = true;
  return meta;
}

// ---- loading ------------------------------------------------------------------------------------

namespace {

struct ProjRef {
  int64_t layer;
  std::string module;  // "self_attn" or "mlp"
  std::string proj;    // "q_proj", ...
};

std::optional<ProjRef> parse_projection(const std::string& name) {
  static const std::regex re(R"(^model\.language_model\.layers\.(\d+)\.(self_attn|mlp)\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$)");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return std::nullopt;
  return ProjRef{std::stoll(m[1]), m[2], m[3]};
}

std::shared_ptr<model::Linear>* slot(model::Gemma4Model& m, const ProjRef& p, torch::nn::Module** parent) {
  auto& layers = m.text().layers;
  if (p.layer < 0 || p.layer >= static_cast<int64_t>(layers.size())) return nullptr;
  const bool mlp = p.proj == "gate_proj" || p.proj == "up_proj" || p.proj == "down_proj";
  if (mlp != (p.module == "mlp")) return nullptr;
  return projection_slot(*layers[p.layer], p.proj, parent);
}

}  // namespace

std::shared_ptr<model::Linear>* projection_slot(model::DecoderLayer& L, const std::string& proj, torch::nn::Module** parent) {
  auto& a = *L.self_attn;
  auto& f = *L.mlp;
  std::shared_ptr<model::Linear>* s = nullptr;
  if (proj == "q_proj") s = &a.q_proj;
  if (proj == "k_proj") s = &a.k_proj;
  if (proj == "v_proj") s = a.v_proj ? &a.v_proj : nullptr;
  if (proj == "o_proj") s = &a.o_proj;
  if (s) {
    *parent = &a;
    return s;
  }
  if (proj == "gate_proj") s = &f.gate_proj;
  if (proj == "up_proj") s = &f.up_proj;
  if (proj == "down_proj") s = &f.down_proj;
  if (s) *parent = &f;
  return s;
}

void replace_linear(model::Gemma4Model& m, const std::string& tensor_name, std::shared_ptr<model::Linear> linear) {
  auto p = parse_projection(tensor_name);
  torch::nn::Module* parent = nullptr;
  std::shared_ptr<model::Linear>* s = p ? slot(m, *p, &parent) : nullptr;
  if (!s) throw_input("{}: not a decoder projection of this model", tensor_name);
  const auto& old = **s;
  G4U_CHECK(old.in_features() == linear->in_features() && old.out_features() == linear->out_features(),
            "{}: replacement is {}x{}, module is {}x{}", tensor_name, linear->out_features(), linear->in_features(),
            old.out_features(), old.in_features());
  *s = parent->replace_module(p->proj, std::move(linear));
}

std::map<std::string, std::shared_ptr<model::Linear>> decoder_linears(model::Gemma4Model& m) {
  std::map<std::string, std::shared_ptr<model::Linear>> out;
  auto& layers = m.text().layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}) {
      const bool mlp = proj[0] == 'g' || proj[0] == 'u' || proj[0] == 'd';
      ProjRef p{static_cast<int64_t>(l), mlp ? "mlp" : "self_attn", proj};
      torch::nn::Module* parent = nullptr;
      if (auto* s = slot(m, p, &parent); s && *s)
        out[std::string(model::kTextPrefix) + "layers." + std::to_string(l) + "." + p.module + "." + proj + ".weight"] = *s;
    }
  }
  return out;
}

namespace {
// A packed copy of the dense projection `linear` (weight `name`) in `scheme`, run in its dtype.
std::shared_ptr<QuantLinear> quantized_linear(model::Linear& linear, std::string_view scheme, const std::string& name,
                                              int threads) {
  auto* dense = dynamic_cast<model::DenseLinear*>(&linear);
  if (!dense) throw_input("{}: already quantized", name);
  return std::make_shared<QuantLinear>(quantize_tensor(dense->weight, scheme, torch::Tensor(), name, threads),
                                       dense->weight.scalar_type());
}
}  // namespace

namespace {

Recipe rtn_recipe(const std::string& recipe_name) {
  const Recipe recipe = find_recipe(recipe_name);
  if (recipe.method != Method::kRoundToNearest)
    throw_input("recipe {} needs calibration: use g4u quantize --calib and load the result", recipe.name);
  return recipe;
}

// Quantizes the tensor of assignment `a` (a.scheme set) in `m`: a decoder projection becomes a
// QuantLinear, the token table a packed table. The caller's handles on the float weight and its
// module (`params`, `linears`) are dropped, so the float matrix is freed here, not when the whole
// model is done.
void quantize_assigned(model::Gemma4Model& m, const TensorAssignment& a, torch::OrderedDict<std::string, torch::Tensor>& params,
                       std::map<std::string, std::shared_ptr<model::Linear>>& linears, int threads, bool packed_head) {
  if (a.spec.kind == model::TensorKind::kEmbedding) {
    G4U_CHECK(a.spec.name == model::kTextEmbeddingName, "{}: not the token table", a.spec.name);
    torch::Tensor w = params[a.spec.name];
    // As load_quantized_model: the head and the lookups read the packed table.
    set_quantized_table(m.text(), quantize_tensor(w, a.scheme->name, torch::Tensor(), a.spec.name, threads),
                        w.scalar_type(), packed_head);
  } else {
    replace_linear(m, a.spec.name, quantized_linear(*linears.at(a.spec.name), a.scheme->name, a.spec.name, threads));
    linears.erase(a.spec.name);
  }
  params[a.spec.name] = torch::Tensor();
}

}  // namespace

int64_t quantize_in_memory(model::Gemma4Model& m, const std::string& recipe_name, int threads, bool packed_head) {
  const Recipe recipe = rtn_recipe(recipe_name);
  torch::NoGradGuard ng;
  auto linears = decoder_linears(m);
  auto params = m.named_parameters(true);
  int64_t n = 0;
  for (const auto& a : plan_tensors(m.tensor_specs(), recipe)) {
    if (!a.scheme) continue;
    quantize_assigned(m, a, params, linears, threads, packed_head);
    ++n;
  }
  // The packed layers were made on the CPU: a model on a GPU gets their device form now.
  if (!m.device().is_cpu()) m.to(m.device());
  return n;
}

std::shared_ptr<model::Gemma4Model> random_quantized_model(const model::ModelConfig& cfg, uint64_t seed,
                                                           torch::ScalarType dtype, const std::string& recipe_name,
                                                           int threads, bool packed_head) {
  const Recipe recipe = rtn_recipe(recipe_name);
  torch::NoGradGuard ng;
  const auto specs = model::model_tensor_specs(cfg);
  const auto plan = plan_tensors(specs, recipe);
  // Refused before anything is drawn when the packed model and one float matrix do not fit.
  double packed = 0, largest = 0;
  for (const auto& a : plan) {
    const double floats = static_cast<double>(a.spec.numel()) * c10::elementSize(dtype);
    packed += a.scheme ? static_cast<double>(a.scheme->storage(*a.scheme, a.spec.shape[0], a.spec.shape[1]).total()) : floats;
    if (a.scheme) largest = std::max(largest, floats);
  }
  model::check_memory_plan({{{"packed weights", packed}, {"one float matrix being packed", largest}}},
                           "--model " + cfg.name + " --quant " + recipe.name);
  auto m = model::model_with_placeholders(cfg);
  model::check_parameters_match(*m, specs);
  auto linears = decoder_linears(*m);
  auto params = m->named_parameters(true);
  // Drawn where they stay float; drawn and packed at once where the recipe quantizes, so no more
  // than one float matrix exists beside the packed model.
  for (const auto& a : plan) {
    params[a.spec.name].set_data(model::random_init_tensor(a.spec, seed, dtype));
    if (a.scheme) quantize_assigned(*m, a, params, linears, threads, packed_head);
  }
  m->to(dtype);  // buffers
  return m;
}

int64_t quantize_drafter_in_memory(model::Drafter& d, const std::string& recipe_name, int threads) {
  const Recipe recipe = find_recipe(recipe_name);
  if (recipe.method != Method::kRoundToNearest)
    throw_input("recipe {} needs calibration; drafters are quantized with round-to-nearest recipes only", recipe.name);
  auto slots = d.linear_slots();
  if (slots.empty()) throw_input("drafter {} ({}) has no quantizable projections", d.name(), d.kind());
  torch::NoGradGuard ng;
  for (auto& s : slots)
    *s.member = s.parent->replace_module(s.child, quantized_linear(**s.member, recipe.base->name, s.name, threads));
  return static_cast<int64_t>(slots.size());
}

bool qdata_in_kernel_order(const nlohmann::json& meta, const std::string& meta_path) {
  if (!meta.is_object() || !meta.contains("format") || meta["format"] != kFormat)
    throw_input("{}: format: expected \"{}\"", meta_path, kFormat);
  const nlohmann::json version = meta.value("version", nlohmann::json());
  if (!version.is_number_integer() || version.get<int64_t>() < kStorageOrderVersion || version.get<int64_t>() > kVersion)
    throw_input("{}: version: expected {} or {} (got {}; a newer g4u wrote it?)", meta_path, kStorageOrderVersion,
                kVersion, version.dump());
  if (version.get<int>() == kStorageOrderVersion) {
    if (meta.contains("qdata_order")) throw_input("{}: qdata_order: not part of version 1 (every qdata is in storage order)", meta_path);
    return false;
  }
  const nlohmann::json order = meta.value("qdata_order", nlohmann::json());
  if (order != "kernel" && order != "storage")
    throw_input("{}: qdata_order: expected \"kernel\" or \"storage\" (got {})", meta_path, order.dump());
  return order == "kernel";
}

QuantizedLayout check_quantized_checkpoint(const std::string& dir, const model::Checkpoint& ck) {
  const std::string meta_path = (fs::path(dir) / kQuantMetadataFile).string();
  const nlohmann::json meta = read_json_file(meta_path);
  QuantizedLayout out;
  out.kernel_order = qdata_in_kernel_order(meta, meta_path);
  if (!meta.contains("tensors") || !meta["tensors"].is_object()) throw_input("{}: tensors: expected an object", meta_path);
  if (meta.contains("recipe")) {
    if (!meta["recipe"].is_string()) throw_input("{}: recipe: expected a string", meta_path);
    out.recipe = meta["recipe"].get<std::string>();
    try {
      find_recipe(out.recipe);
    } catch (const InputError& e) {
      throw_input("{}: recipe: {}", meta_path, e.what());
    }
  }

  out.config = model::load_model_config(dir);
  out.specs = model::model_tensor_specs(out.config);
  std::map<std::string, const model::TensorSpec*> spec_of;
  for (const auto& s : out.specs) spec_of[s.name] = &s;
  const std::string file = ck.path();
  std::set<std::string> accounted;

  for (const auto& [name, tj] : meta["tensors"].items()) {
    const std::string where = meta_path + ": tensors." + name;
    JsonObject t(tj, where);
    auto sit = spec_of.find(name);
    if (sit == spec_of.end() || sit->second->shape.size() != 2)
      throw_input("{}: not a 2-D tensor of this model's config", where);
    const auto& spec = *sit->second;
    const SchemeTraits* scheme = lookup_scheme(t.get_string("scheme"));
    if (!scheme) throw_input("{}: scheme '{}' unknown (known: {})", where, t.get_string("scheme"), fmt::join(scheme_names(), ", "));
    std::vector<int64_t> shape = t.get_int_list("shape");
    if (shape != spec.shape)
      throw_input("{}: shape [{}] does not match the config's [{}]", where, fmt::join(shape, ", "), fmt::join(spec.shape, ", "));
    check_shape(*scheme, shape[0], shape[1], where);
    // Written for the reader's information; a value the scheme does not use means the file was edited.
    if (t.has("group_size") && t.get_int("group_size") != scheme->group_size(shape[1]))
      throw_input("{}: group_size {}, but scheme {} on {} columns uses {}", where, t.get_int("group_size"), scheme->name,
                  shape[1], scheme->group_size(shape[1]));
    if (spec.kind == model::TensorKind::kLinear && !parse_projection(name))
      throw_input("{}: only decoder projections can be quantized", where);
    if (spec.kind != model::TensorKind::kLinear && spec.kind != model::TensorKind::kEmbedding)
      throw_input("{}: a {} tensor cannot be quantized", where, "non-matrix");
    if (spec.kind == model::TensorKind::kEmbedding && name != model::kTextEmbeddingName)
      throw_input("{}: only the token table {} can be quantized among the embeddings", where, model::kTextEmbeddingName);
    const StorageSizes ss = scheme->storage(*scheme, shape[0], shape[1]);
    for (int i = 0; i < 4; ++i) {
      const std::string an = name + "." + kArrayNames[i];
      const int64_t want = array_size(ss, i);
      if (!ck.contains(an)) {
        if (want == 0) continue;
        throw_input("{}: tensor {} is missing ({} {} needs {} bytes)", file, an, scheme->name, fmt::join(shape, "x"), want);
      }
      const auto& info = ck.info(an);
      if (info.dtype != model::DType::kU8 || info.shape.size() != 1 || info.shape[0] != want)
        throw_input("{}: tensor {} is {} [{}], scheme {} for [{}] needs U8 [{}]", file, an, model::dtype_name(info.dtype),
                    fmt::join(info.shape, ", "), scheme->name, fmt::join(shape, ", "), want);
      accounted.insert(an);
    }
    out.quantized.push_back({name, scheme, shape[0], shape[1]});
    accounted.insert(name);
  }

  // Float tensors: everything else of the config.
  for (const auto& s : out.specs) {
    if (accounted.count(s.name)) continue;
    if (!ck.contains(s.name))
      throw_input("{}: tensor {} is missing (neither quantized in {} nor stored in float)", file, s.name, kQuantMetadataFile);
    const auto& info = ck.info(s.name);
    if (info.shape != s.shape)
      throw_input("{}: tensor {} has shape [{}], the config needs [{}]", file, s.name, fmt::join(info.shape, ", "),
                  fmt::join(s.shape, ", "));
    if (!model::is_float_dtype(info.dtype))
      throw_input("{}: tensor {} has dtype {}, expected a floating-point type", file, s.name, model::dtype_name(info.dtype));
    accounted.insert(s.name);
  }
  for (const auto& n : ck.names())
    if (!accounted.count(n))
      throw_input("{}: unexpected tensor {} (not in the config nor in {})", file, n, kQuantMetadataFile);
  return out;
}

model::LoadedModel load_quantized_model(const std::string& dir, const model::LoadOptions& opt) {
  model::Checkpoint ck = model::Checkpoint::open(dir);
  // Every name, shape, dtype and array size from the headers before a byte of weights is read.
  const QuantizedLayout layout = check_quantized_checkpoint(dir, ck);
  const model::ModelConfig& cfg = layout.config;
  double packed = 0, dense = 0;
  std::set<std::string> packed_names;
  for (const QuantizedEntry& e : layout.quantized) {
    packed += static_cast<double>(e.scheme->storage(*e.scheme, e.rows, e.cols).total());
    packed_names.insert(e.name);
  }
  for (const auto& s : layout.specs)
    if (!packed_names.count(s.name)) dense += static_cast<double>(s.numel()) * static_cast<double>(c10::elementSize(opt.dtype));
  model::check_memory_plan({{{"packed weights", packed}, {"float weights", dense}}}, "--model " + dir);

  model::LoadedModel out;
  out.source = dir;
  out.model = model::model_with_placeholders(cfg);  // weights come one tensor at a time
  model::Gemma4Model& m = *out.model;
  torch::NoGradGuard no_grad;
  auto params = m.named_parameters(true);
  const std::string table_name = model::kTextEmbeddingName;

  // Quantized tensors, one at a time. Arrays stored in the order QuantLinear keeps stay views of the
  // mapping (with map_packed); the others are copied out of it (its pages then released) and become
  // a QuantLinear at once. Either way the resident set grows by one copy of the weights, not two.
  std::set<std::string> quantized;
  for (const QuantizedEntry& e : layout.quantized) {
    QuantizedTensor q;
    q.scheme = e.scheme;
    q.rows = e.rows;
    q.cols = e.cols;
    q.interleaved = layout.kernel_order && has_interleaved_order(*e.scheme);
    const bool kernel_ready = q.interleaved || !has_interleaved_order(*e.scheme);
    for (int i = 0; i < 4; ++i) {
      const std::string an = e.name + "." + kArrayNames[i];
      if (!ck.contains(an)) continue;  // an array the scheme leaves empty
      const auto& info = ck.info(an);
      const model::SafetensorsFile& file = ck.file_of(an);
      const uint8_t* p = file.data(info);
      if (opt.map_packed && kernel_ready) {
        populate_mapping(p, info.nbytes);
        array_of(q, i) = ByteBuffer::borrow(p, info.nbytes, file.shared_from_this());
      } else {
        copy_from_mapping(p, info.nbytes, array_of(q, i).mutable_vector());
        ck.release_pages(an);
      }
    }
    quantized.insert(e.name);
    if (e.name == table_name) {
      // The head's product reads the packed table, as llama.cpp computes its output layer
      // (activations in 8-bit blocks, quant/kernels/kernels.h), and so do the lookups, row by row.
      set_quantized_table(m.text(), std::move(q), opt.dtype, opt.packed_head);
    } else {
      replace_linear(m, e.name, std::make_shared<QuantLinear>(std::move(q), opt.dtype));
    }
  }

  // Float tensors: everything else of the config, as views of the mapping where stored in the run
  // dtype. The tied table stays in its stored bf16 under an fp32 run (quant/layer/tied_head.h).
  const bool bf16_table = opt.packed_head && opt.dtype == torch::kFloat32 && !quantized.count(table_name) &&
                          ck.info(table_name).dtype == model::DType::kBF16;
  for (const auto& s : layout.specs) {
    if (quantized.count(s.name)) continue;
    auto pit = params.find(s.name);
    G4U_CHECK(pit != nullptr, "model has no parameter {}", s.name);
    // The bf16 table is set after Module::to() below, which would widen it.
    if (s.name != table_name || !bf16_table) pit->set_data(model::checkpoint_tensor_as(ck, s.name, opt.dtype, opt.map_weights));
  }
  if (opt.tokenizer) out.tokenizer = model::load_tokenizer(cfg, dir);
  out.model->to(opt.dtype);
  if (bf16_table) {
    // Read as stored by the head for every token, like the packed weights: a view under map_packed.
    model::TextModel& text = m.text();
    const bool view = opt.map_weights || opt.map_packed;
    if (view) populate_mapping(ck.file_of(table_name).data(ck.info(table_name)), ck.info(table_name).nbytes);
    text.embed_tokens->weight.set_data(model::checkpoint_tensor_as(ck, table_name, torch::kBFloat16, view));
    text.head = std::make_shared<TiedBf16Head>(text.embed_tokens);
  }
  model::check_no_placeholders(m);
  out.model->eval();
  return out;
}

}  // namespace g4u::quant
