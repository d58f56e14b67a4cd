// ImageNet input pipeline per rank: JPEG decode (libjpeg) + Resize(256) + CenterCrop(224) of
// generated 500x375 JPEGs through ImageNetFolder::get, with 1 and 4 decoder threads. Counter:
// images/s per rank (the slowest rank's time).
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "bench_main.hpp"
#include "core/timer.hpp"
#include "data/imagenet_folder.hpp"
#include "data/jpeg.hpp"

namespace {
namespace fs = std::filesystem;

constexpr int64_t kImages = 32;

// Removes the generated folder when the process ends.
struct TempFolder {
  fs::path dir;
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// A folder of kImages smooth random 500x375 JPEGs (quality 90) and its label file, per process.
const fs::path& folder() {
  static const TempFolder tmp{[] {
    const fs::path d =
        fs::temp_directory_path() / ("sfb_bench_imagenet_" + std::to_string(::getpid()));
    fs::create_directories(d / "n00000000");
    std::ofstream labels(d / "labels.txt");
    auto gen = at::detail::createCPUGenerator(5);
    for (int64_t i = 0; i < kImages; ++i) {
      auto low = torch::rand({1, 3, 24, 32}, gen);
      auto img =
          torch::nn::functional::interpolate(low, torch::nn::functional::InterpolateFuncOptions()
                                                      .size(std::vector<int64_t>{375, 500})
                                                      .mode(torch::kBilinear)
                                                      .align_corners(false));
      img = ((img * 0.9 + torch::rand({1, 3, 375, 500}, gen) * 0.1) * 255).to(torch::kUInt8)[0];
      const std::string bytes = sfb::data::encode_jpeg(img, 90);
      const std::string rel = "n00000000/" + std::to_string(i) + ".JPEG";
      std::ofstream(d / rel, std::ios::binary)
          .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      labels << rel << " 0\n";
    }
    return d;
  }()};
  return tmp.dir;
}

void BM_ImageNetDecodeTransform(benchmark::State& state) {
  sfb::data::ImageNetFolderOptions o;
  o.label_file = folder() / "labels.txt";
  o.threads = state.range(0);
  sfb::data::ImageNetFolder f(folder(), o);
  std::vector<int64_t> idx(kImages);
  for (int64_t i = 0; i < kImages; ++i) idx[static_cast<size_t>(i)] = i;
  for (auto _ : state) {
    sfb::Stopwatch sw;
    auto b = f.get(idx);
    benchmark::DoNotOptimize(b.images.data_ptr());
    state.SetIterationTime(sfb::bench::max_over_ranks(sw.seconds()));
  }
  state.counters["images_per_s_per_rank"] = benchmark::Counter(
      static_cast<double>(kImages), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["decoder_threads"] = static_cast<double>(state.range(0));
  state.counters["ranks"] = sfb::bench::ctx().size();
}

BENCHMARK(BM_ImageNetDecodeTransform)
    ->Arg(1)
    ->Arg(4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
