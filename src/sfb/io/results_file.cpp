#include "io/results_file.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <variant>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/output_file.hpp"
#include "core/provenance.hpp"
#include "io/hdf5/objects.hpp"

namespace sfb::io {
namespace fs = std::filesystem;

fs::path summary_path(const fs::path& out) {
  fs::path p = out;
  return p.replace_extension(".json");
}

namespace {

constexpr std::uintmax_t kMaxSummaryBytes = 64ULL << 20;

fs::path dir_of(const fs::path& file) {
  return file.has_parent_path() ? file.parent_path() : fs::path(".");
}

// The message of a write that failed while `what` was written to the results file `out`: the
// storage's reason when errno or the file system says one, else HDF5's.
std::string write_failure(const fs::path& out, const std::string& what, const std::string& detail,
                          int err) {
  std::string sys = storage_error_text(err);
  struct statvfs st {};
  if (sys.empty() && statvfs(dir_of(out).c_str(), &st) == 0 && st.f_bavail == 0) {
    sys = storage_error_text(ENOSPC);  // MPI-IO reports a full disk as a short write
  }
  if (!sys.empty()) {
    return "cannot write results file '" + out.string() + "': " + sys + " (while writing " + what +
           "; nothing was replaced)";
  }
  return "cannot write results file '" + out.string() + "' (while writing " + what + "): " + detail;
}

// Flushes a closed file's data to storage before a rename publishes it.
void sync_to_storage(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw IoError("cannot write '" + file.string() + "': fsync failed: " + std::strerror(err));
  }
  ::close(fd);
}

}  // namespace

bool is_results_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec) || !h5::is_hdf5(file)) return false;
  try {
    auto f = h5::open_readonly(file);
    return h5::has_attr(f.get(), "sfbench_version");
  } catch (const Error&) {
    return false;
  }
}

bool is_summary_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec) || fs::file_size(file, ec) > kMaxSummaryBytes || ec) {
    return false;
  }
  std::ifstream in(file, std::ios::binary);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("sfbench_version") && j.contains("schema_version");
}

void check_companion(const Companion& c) {
  check_name_length(c.path, c.what);
  std::error_code ec;
  if (fs::symlink_status(c.path, ec).type() == fs::file_type::not_found) return;
  bool ours = false;
  try {
    ours = fs::is_regular_file(c.path, ec) && c.is_ours(c.path);
  } catch (const std::exception&) {
    ours = false;
  }
  if (!ours) {
    throw IoError("'" + c.path.string() + "' exists and is not sfbench's " + c.what +
                      "; refusing to overwrite it (move it away or choose another --out)",
                  ExitCode::kBadInput);
  }
}

void check_output_path(const fs::path& out) {
  if (out.empty()) throw IoError("no output file given (--out)", ExitCode::kBadInput);
  if (out.extension() == ".json") {
    throw IoError("output '" + out.string() +
                      "' must be the .h5 results file; the JSON summary is "
                      "written next to it",
                  ExitCode::kBadInput);
  }
  const fs::path dir = dir_of(out);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError("output directory '" + dir.string() + "' does not exist", ExitCode::kBadInput);
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    throw IoError("output directory '" + dir.string() + "' is not writable", ExitCode::kBadInput);
  }
  check_name_length(out);
  if (fs::symlink_status(out, ec).type() != fs::file_type::not_found && !is_results_file(out)) {
    throw IoError("output '" + out.string() +
                      "' exists and is not an sfbench results file; "
                      "refusing to overwrite it",
                  ExitCode::kBadInput);
  }
  check_companion(
      {summary_path(out), "JSON summary of '" + out.filename().string() + "'", is_summary_file});
}

void claim_output(Context& ctx, const fs::path& out, const std::vector<Companion>& companions) {
  ctx.agree([&] {
    if (ctx.rank() != 0) return;
    bool locked = false;
    if (!out.empty()) {
      check_output_path(out);  // first: the lock file goes into out's directory
      locked = lock_output(out);
    }
    for (const auto& c : companions) {
      if (out.empty()) locked = lock_output(c.path);  // no results file: lock the run's own file
      check_companion(c);
    }
    if (locked) {
      // No other run can be writing these names now: temporary files left by runs that died go.
      if (!out.empty()) {
        remove_stale_partials(out);
        remove_stale_partials(summary_path(out));
      }
      for (const auto& c : companions) remove_stale_partials(c.path);
    }
  });
}

ResultsFile::ResultsFile(Context& ctx, const fs::path& out, const RunInfo& info)
    : ctx_(ctx), out_(out) {
  claim_output(ctx_, out_);
  run_id_ = comm::broadcast_string(ctx_.host_comm(), ctx_.rank() == 0 ? random_tag() : "", 0);
  partial_ = partial_path(out_, run_id_);
  ctx_.agree([&] {
    file_ = std::make_unique<h5::Handle>(h5::create_parallel(partial_, ctx_.mpi_comm()));
  });
  const Provenance& p = ctx_.provenance();
  set_attr("/", "schema_version", kSchemaVersion);
  set_attr("/", "sfbench_version", p.sfbench_version);
  set_attr("/", "run_id", run_id_);
  set_attr("/", "git_commit", p.git_commit);
  set_attr("/", "git_dirty", static_cast<int64_t>(p.git_dirty));
  set_attr("/", "command", info.command);
  set_attr("/", "subcommand", info.subcommand);
  set_attr("/", "config_toml", info.config_toml);
  set_attr("/", "config_sha256", info.config_sha256);
  set_attr("/", "seed", info.seed);
  set_attr("/", "world_size", static_cast<int64_t>(ctx_.size()));
  set_attr("/", "created_utc", p.created_utc);
  set_attr("/", "complete", int64_t{0});
  set_attr("/provenance", "hosts", p.hosts);
  set_attr("/provenance", "devices", p.devices);
  set_attr("/provenance", "libtorch", p.libtorch);
  set_attr("/provenance", "cuda", p.cuda);
  set_attr("/provenance", "nccl", p.nccl);
  set_attr("/provenance", "mpi", p.mpi);
  set_attr("/provenance", "hdf5", h5::library_version());
  set_attr("/provenance", "build_type", p.build_type);
  set_attr("/provenance", "compiler", p.compiler);
  set_attr("/provenance", "cpu_model", p.cpu_model);
  set_attr("/provenance", "allocator", p.allocator);
  set_attr("/provenance", "precision", p.precision);
  set_attr("/provenance", "channels_last", p.channels_last);
  set_attr("/provenance", "slurm_job_id", p.slurm_job_id);
  set_attr("/provenance", "gpus_per_node", p.gpus_per_node);
  set_attr("/provenance", "ranks_per_node", p.ranks_per_node);
  set_attr("/provenance", "interconnect", p.interconnect);

  nlohmann::json prov = p.to_json();
  prov["hdf5"] = h5::library_version();
  summary_ = nlohmann::json{{"schema_version", kSchemaVersion},
                            {"sfbench_version", p.sfbench_version},
                            {"git_commit", p.git_commit},
                            {"git_dirty", p.git_dirty},
                            {"command", info.command},
                            {"subcommand", info.subcommand},
                            {"config_toml", info.config_toml},
                            {"config_sha256", info.config_sha256},
                            {"seed", info.seed},
                            {"world_size", ctx_.size()},
                            {"slurm_job_id", p.slurm_job_id},
                            {"created_utc", p.created_utc},
                            {"system", p.system_json()},
                            {"provenance", prov},
                            {"results_file", out_.filename().string()},
                            {"run_id", run_id_},
                            {"metrics", nlohmann::json::object()},
                            {"timing", nlohmann::json::object()}};
}

ResultsFile::~ResultsFile() {
  if (!finished_) {
    // Unwinding after an error: closing a parallel file is collective and other ranks may be gone,
    // so the handle is left open (MPI_Abort or MPI_Finalize ends the process). The .partial file
    // keeps complete = 0 and the final name is untouched.
    if (file_) file_->release();
  }
}

void ResultsFile::guarded(const std::string& what, const std::function<void()>& fn) {
  try {
    ctx_.agree([&] {
      errno = 0;  // what errno says after a failure is then about this work
      try {
        fn();
      } catch (const IoError& e) {
        throw IoError(write_failure(out_, what, e.what(), h5::last_errno()), e.exit_code());
      }
    });
  } catch (const AgreedError&) {
    abandon();
    throw;
  }
}

void ResultsFile::abandon() {
  finished_ = true;  // nothing left for the destructor
  if (file_) {
    // Not closed: after a failed write (HDF5 1.10) a collective H5Fclose can wait forever, a
    // failed one leaves a half-closed file on which HDF5's clean-up in MPI_Finalize crashes, and
    // that clean-up of a file left open crashes or waits too. So the process ends with MPI_Abort
    // (Context::set_abort_at_exit) once the error is printed.
    file_->release();
    ctx_.set_abort_at_exit();
    file_.reset();
  }
  std::error_code ec;
  if (ctx_.rank() == 0) fs::remove(partial_, ec);
  // Open MPI's 'individual' shared-file-pointer component (Context) keeps one data and one
  // metadata file per rank next to the file, deleted on close; an abandoned file is not closed.
  const std::string rank = std::to_string(ctx_.rank());
  fs::remove(partial_.string() + ".data." + rank, ec);
  fs::remove(partial_.string() + ".metadata." + rank, ec);
}

void ResultsFile::agree_on(const std::string& what, const std::string& canonical) {
  // Parallel HDF5 needs identical metadata calls on every rank; compare a hash of the arguments.
  const auto h = static_cast<int64_t>(std::hash<std::string>{}(canonical) >> 1);
  auto t = torch::tensor({h, -h}, torch::kInt64);
  ctx_.host_comm().allreduce(t, comm::ReduceOp::kMax);
  if (t[0].item<int64_t>() != -t[1].item<int64_t>()) {
    throw IoError("ranks disagree on " + what + " (every rank must pass identical values)");
  }
}

void ResultsFile::set_attr(const std::string& object, const std::string& key, const AttrValue& v) {
  std::string canon = object + "\n" + key + "\n" + h5::attr_kind(v) + "\n";
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          canon += x;
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          canon += std::to_string(x);
        } else {
          for (auto& e : x) {
            if constexpr (std::is_same_v<std::decay_t<decltype(e)>, std::string>) {
              canon += e + "\x1f";
            } else {
              canon += std::to_string(e) + ",";
            }
          }
        }
      },
      v);
  agree_on("attribute " + object + "@" + key, canon);
  guarded("attribute " + object + "@" + key, [&] {
    h5::Handle obj = h5::exists(file_->get(), object) ? h5::open_object(file_->get(), object)
                                                      : h5::ensure_group(file_->get(), object);
    h5::write_attr(obj.get(), key, v);
  });
}

void ResultsFile::write_per_sample(const std::string& path, int64_t offset,
                                   const torch::Tensor& local) {
  SFB_ASSERT(local.dim() >= 1, "per-sample dataset '" + path + "' needs a leading sample axis");
  torch::Tensor data = local.to(torch::kCPU).contiguous();
  std::vector<int64_t> trailing(data.sizes().begin() + 1, data.sizes().end());
  std::string canon = path + "\n" + std::string(c10::toString(data.scalar_type()));
  for (auto d : trailing) canon += "," + std::to_string(d);
  agree_on("per-sample dataset '" + path + "' (dtype or trailing shape)", canon);
  auto mine = torch::tensor({offset, data.size(0)}, torch::kInt64);
  auto all = ctx_.host_comm().allgather(mine);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int64_t n = 0;
  for (int r = 0; r < ctx_.size(); ++r) {
    ranges.emplace_back(all[r][0].item<int64_t>(), all[r][1].item<int64_t>());
    n += ranges.back().second;
  }
  if (auto problem = tiling_problem(ranges)) {
    throw IoError("per-sample dataset '" + path + "': " + *problem);
  }
  const Hyperslab slab = per_sample_slab(n, offset, data.size(0), trailing);
  guarded("dataset " + path, [&] {
    h5::Handle d = h5::create_dataset(file_->get(), path, data.scalar_type(), slab.file_dims);
    h5::write_slab(d.get(), slab, data, /*collective=*/true);
  });
}

void ResultsFile::write_samples(int64_t offset, const torch::Tensor& index,
                                const torch::Tensor& labels, const torch::Tensor& preds) {
  write_per_sample("/samples/index", offset, index);
  write_per_sample("/samples/label", offset, labels);
  write_per_sample("/samples/pred", offset, preds);
  write_per_sample("/samples/correct", offset, preds.eq(labels).to(torch::kUInt8));
}

void ResultsFile::write_global(const std::string& path, const torch::Tensor& value) {
  torch::Tensor data = value.to(torch::kCPU).contiguous();
  std::string canon = path + "\n" + std::string(c10::toString(data.scalar_type()));
  std::vector<uint64_t> dims;
  for (auto d : data.sizes()) {
    canon += "," + std::to_string(d);
    dims.push_back(static_cast<uint64_t>(d));
  }
  agree_on("global dataset '" + path + "' (dtype or shape)", canon);
  guarded("dataset " + path, [&] {
    h5::Handle d = h5::create_dataset(file_->get(), path, data.scalar_type(), dims);
    h5::write_from_root(d.get(), data, ctx_.rank() == 0, /*collective=*/true);
  });
}

namespace {

nlohmann::json& summary_at(nlohmann::json& summary, const SummaryKey& where) {
  nlohmann::json* j = &summary;
  for (const auto& k : where) j = &(*j)[k];
  return *j;
}

}  // namespace

void ResultsFile::record_metrics(const std::string& object, const SummaryKey& where,
                                 const std::vector<Metric>& metrics) {
  nlohmann::json& j = summary_at(summary_, where);
  for (const auto& m : metrics) {
    set_attr(object, m.key, m.value);
    std::visit([&](const auto& v) { j[m.key] = v; }, m.value);
  }
}

void ResultsFile::record_values(const std::string& path, const SummaryKey& where,
                                const std::string& key, const torch::Tensor& value) {
  write_global(path, value);
  const torch::Tensor c = value.to(torch::kCPU, torch::kFloat64).contiguous();
  nlohmann::json& j = summary_at(summary_, where)[key];
  if (c.dim() == 0) {
    j = c.item<double>();
  } else {
    j = std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
}

void ResultsFile::record_stage(const std::string& stage, const StageTiming& mine) {
  const double rate = mine.seconds > 0 ? mine.items / mine.seconds : 0.0;
  set_attr("/timing", stage + "_seconds", mine.seconds);
  set_attr("/timing", stage + "_items", mine.items);
  set_attr("/timing", stage + "_unit", mine.unit);
  set_attr("/timing", stage + "_items_per_s", rate);
  auto& t = summary_["timing"][stage];
  t["seconds"] = mine.seconds;
  t["items"] = mine.items;
  t["unit"] = mine.unit;
  t["items_per_s"] = rate;
  record_device_seconds(stage, mine.device_seconds);
  record_traffic(stage, mine.traffic);
}

void ResultsFile::record_traffic(const std::string& stage, const comm::Traffic& mine) {
  auto mx = torch::tensor({mine.bytes, mine.collectives}, torch::kInt64);
  auto sum = torch::tensor({mine.bytes}, torch::kInt64);
  ctx_.host_comm().allreduce(mx, comm::ReduceOp::kMax);
  ctx_.host_comm().allreduce(sum, comm::ReduceOp::kSum);
  const int64_t bytes = mx[0].item<int64_t>(), calls = mx[1].item<int64_t>();
  set_attr("/timing", stage + "_bytes_communicated", bytes);
  set_attr("/timing", stage + "_collectives", calls);
  auto& t = summary_["timing"][stage];
  t["bytes_communicated"] = bytes;
  t["bytes_communicated_all_ranks"] = sum[0].item<int64_t>();
  t["collectives"] = calls;
}

void ResultsFile::record_device_seconds(const std::string& stage, double mine) {
  const double s = comm::allreduce_scalar(ctx_.host_comm(), mine, comm::ReduceOp::kMax);
  set_attr("/timing", stage + "_device_seconds", s);
  summary_["timing"][stage]["device_seconds"] = s;
}

void ResultsFile::finish() {
  SFB_ASSERT(!finished_, "ResultsFile::finish called twice");
  const double wall =
      comm::allreduce_scalar(ctx_.host_comm(), ctx_.elapsed_seconds(), comm::ReduceOp::kMax);
  set_attr("/timing", "wall_seconds", wall);
  summary_["wall_time_s"] = wall;
  set_attr("/", "complete", int64_t{1});
  // The last metadata reaches the file when it is closed: a close that fails is a failed write.
  guarded("the file's metadata", [&] {
    h5::flush(file_->get());
    h5::close_file(*file_);  // collective close
  });
  file_.reset();
  finished_ = true;
  try {
    ctx_.agree([&] {
      if (ctx_.rank() != 0) return;
      summary_["finished_utc"] = utc_now_iso8601();
      summary_["complete"] = true;
      const fs::path json = summary_path(out_);
      NewFile summary(json, run_id_);
      const std::string text = summary_.dump(2) + "\n";
      summary.write(text.data(), text.size());
      sync_to_storage(partial_);  // on storage before the rename publishes it
      // The older summary goes first: between the two renames a reader finds the new results file
      // without a summary, never next to another run's summary.
      std::error_code ec;
      fs::remove(json, ec);
      if (ec) throw IoError("cannot replace '" + json.string() + "': " + ec.message());
      fs::rename(partial_, out_, ec);
      if (ec) {
        throw IoError("cannot rename '" + partial_.string() + "' to '" + out_.string() +
                      "': " + ec.message());
      }
      summary.commit();
    });
  } catch (const AgreedError&) {
    if (ctx_.rank() == 0) {
      std::error_code ec;
      fs::remove(partial_, ec);  // not renamed: nothing of this run stays behind
    }
    throw;
  }
  log::info("results: " + out_.string() + " (summary " + summary_path(out_).string() + ")");
}

}  // namespace sfb::io
