// Data loading throughput per rank: synthetic-shapes generation and CIFAR-10 reading (from a
// temporary file in the real binary format). Counter images_per_s is per rank; time is the max
// over ranks.
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "bench_main.hpp"
#include "core/timer.hpp"
#include "data/cifar.hpp"
#include "data/synthetic_shapes.hpp"

namespace {
namespace fs = std::filesystem;

constexpr int64_t kCifarRecords = 2000;

void run(benchmark::State& state, const sfb::data::Dataset& ds) {
  const int64_t batch = state.range(0);
  const int64_t n = ds.size();
  int64_t next = (sfb::bench::ctx().rank() * 9973) % n;
  std::vector<int64_t> idx(static_cast<size_t>(batch));
  for (auto _ : state) {
    for (auto& i : idx) i = next++ % n;
    sfb::Stopwatch sw;
    auto b = ds.get(idx);
    benchmark::DoNotOptimize(b.images.data_ptr());
    state.SetIterationTime(sfb::bench::max_over_ranks(sw.seconds()));
  }
  state.counters["images_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  state.counters["ranks"] = sfb::bench::ctx().size();
}

void BM_SyntheticShapes(benchmark::State& state) {
  torch::set_num_threads(1);  // per-rank, single core
  sfb::data::SyntheticShapesOptions o;
  o.image_size = state.range(1);
  const sfb::data::SyntheticShapes ds(o);
  run(state, ds);
}

// One temporary CIFAR-10 test file per rank (rank-private directory), removed at exit.
class TempCifar {
 public:
  TempCifar() {
    dir_ = fs::temp_directory_path() / ("sfb_bench_cifar_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(sfb::bench::ctx().rank()));
    fs::create_directories(dir_);
    std::ofstream out(dir_ / "test_batch.bin", std::ios::binary);
    std::vector<char> rec(3073);
    for (int64_t r = 0; r < kCifarRecords; ++r) {
      rec[0] = static_cast<char>(r % 10);
      for (size_t p = 1; p < rec.size(); ++p)
        rec[p] = static_cast<char>((r * 7 + static_cast<int64_t>(p)) % 256);
      out.write(rec.data(), static_cast<std::streamsize>(rec.size()));
    }
  }
  ~TempCifar() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

void BM_CifarRead(benchmark::State& state) {
  torch::set_num_threads(1);
  static TempCifar files;
  sfb::data::CifarOptions o;
  o.split = sfb::data::Split::kTest;
  o.records_per_file = kCifarRecords;
  const sfb::data::CifarDataset ds(files.dir(), o);
  run(state, ds);
}

BENCHMARK(BM_SyntheticShapes)
    ->Args({256, 32})
    ->Args({64, 64})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CifarRead)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
