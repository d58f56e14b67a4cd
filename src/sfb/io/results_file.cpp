#include "io/results_file.hpp"

#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <variant>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/provenance.hpp"
#include "io/hdf5/objects.hpp"

namespace sfb::io {
namespace fs = std::filesystem;

fs::path summary_path(const fs::path& out) {
  fs::path p = out;
  return p.replace_extension(".json");
}

void check_output_path(const fs::path& out) {
  if (out.empty()) throw IoError("no output file given (--out)", ExitCode::kBadInput);
  if (out.extension() == ".json") {
    throw IoError("output '" + out.string() +
                      "' must be the .h5 results file; the JSON summary is "
                      "written next to it",
                  ExitCode::kBadInput);
  }
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError("output directory '" + dir.string() + "' does not exist", ExitCode::kBadInput);
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    throw IoError("output directory '" + dir.string() + "' is not writable", ExitCode::kBadInput);
  }
  if (fs::exists(out, ec)) {
    bool ours = false;
    if (fs::is_regular_file(out, ec) && h5::is_hdf5(out)) {
      try {
        auto f = h5::open_readonly(out);
        ours = h5::has_attr(f.get(), "sfbench_version");
      } catch (const Error&) {
        ours = false;
      }
    }
    if (!ours) {
      throw IoError("output '" + out.string() +
                        "' exists and is not an sfbench results file; "
                        "refusing to overwrite it",
                    ExitCode::kBadInput);
    }
  }
}

ResultsFile::ResultsFile(Context& ctx, const fs::path& out, const RunInfo& info)
    : ctx_(ctx), out_(out), partial_(out.string() + ".partial") {
  ctx_.agree([&] { check_output_path(out_); });
  ctx_.agree([&] {
    file_ = std::make_unique<h5::Handle>(h5::create_parallel(partial_, ctx_.mpi_comm()));
  });
  const Provenance& p = ctx_.provenance();
  set_attr("/", "schema_version", kSchemaVersion);
  set_attr("/", "sfbench_version", p.sfbench_version);
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
  h5::Handle obj = h5::exists(file_->get(), object) ? h5::open_object(file_->get(), object)
                                                    : h5::ensure_group(file_->get(), object);
  h5::write_attr(obj.get(), key, v);
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
  h5::Handle d = h5::create_dataset(file_->get(), path, data.scalar_type(), slab.file_dims);
  h5::write_slab(d.get(), slab, data, /*collective=*/true);
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
  h5::Handle d = h5::create_dataset(file_->get(), path, data.scalar_type(), dims);
  h5::write_from_root(d.get(), data, ctx_.rank() == 0, /*collective=*/true);
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
  h5::flush(file_->get());
  file_->reset();  // collective close
  ctx_.host_comm().barrier();
  ctx_.agree([&] {
    if (ctx_.rank() != 0) return;
    summary_["finished_utc"] = utc_now_iso8601();
    summary_["complete"] = true;
    const fs::path json = summary_path(out_);
    const fs::path json_partial = json.string() + ".partial";
    {
      std::ofstream os(json_partial);
      os << summary_.dump(2) << "\n";
      if (!os) throw IoError("cannot write '" + json_partial.string() + "'");
    }
    std::error_code ec;
    fs::rename(partial_, out_, ec);
    if (ec)
      throw IoError("cannot rename '" + partial_.string() + "' to '" + out_.string() +
                    "': " + ec.message());
    fs::rename(json_partial, json, ec);
    if (ec)
      throw IoError("cannot rename '" + json_partial.string() + "' to '" + json.string() +
                    "': " + ec.message());
  });
  finished_ = true;
  log::info("results: " + out_.string() + " (summary " + summary_path(out_).string() + ")");
}

}  // namespace sfb::io
