// Helper of the pack-imagenet CLI test: `write DIR N` writes N generated JPEGs of assorted sizes
// and DIR/labels.txt (4 classes); `check DIR PACKED` exits 0 when PACKED holds exactly the folder's
// transformed images (uint8) and labels, 1 otherwise.
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "data/image_fixtures.hpp"
#include "data/imagenet_h5.hpp"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s write DIR N | check DIR PACKED\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const fs::path dir = argv[2];
  try {
    if (mode == "write") {
      const auto samples = sfb::test::write_folder(dir / "images", std::stoll(argv[3]), 4);
      sfb::test::write_labels(dir / "labels.txt", samples);
      return 0;
    }
    sfb::data::ImageNetFolderOptions o;
    o.label_file = dir / "labels.txt";
    o.num_classes = 4;
    sfb::data::ImageNetFolder folder(dir / "images", o);
    sfb::data::ImageNetH5 packed(argv[3]);
    std::vector<int64_t> all(static_cast<size_t>(folder.size()));
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    const auto expect = sfb::data::quantize_u8(folder.get(all).images);
    const auto b = packed.get(all);
    const bool same = packed.size() == folder.size() && torch::equal(packed.get_u8(all), expect) &&
                      torch::equal(b.labels, folder.get(all).labels);
    std::printf("%s\n", same ? "identical" : "DIFFERENT");
    return same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
