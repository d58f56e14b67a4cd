#pragma once
#include <mpi.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "io/hyperslab.hpp"

namespace sfb::io {

/// A value an HDF5 attribute can hold.
using H5Value = std::variant<int64_t, double, std::string, std::vector<int64_t>,
                             std::vector<double>, std::vector<std::string>>;

/// Shape and type of an HDF5 dataset.
struct H5DatasetInfo {
  std::string dtype;           ///< "float32", "int64", "uint8", ... ("string", "other")
  std::vector<uint64_t> dims;  ///< empty for a scalar
};

/// An open HDF5 file, group or dataset for modules outside io/: typed calls only, the HDF5
/// identifier and <hdf5.h> stay inside io/. Closes on destruction (collective for objects of a
/// parallel file). Errors throw IoError with HDF5's error stack.
class H5Node {
 public:
  H5Node();
  ~H5Node();
  H5Node(H5Node&&) noexcept;
  H5Node& operator=(H5Node&&) noexcept;
  H5Node(const H5Node&) = delete;
  H5Node& operator=(const H5Node&) = delete;

  /// Opens `file` read-only on this process alone (no MPI-IO).
  static H5Node open_readonly(const std::filesystem::path& file);
  /// Creates `file`, which must not exist (h5::create_parallel), for parallel access over `comm`.
  /// Collective over `comm`.
  static H5Node create_parallel(const std::filesystem::path& file, MPI_Comm comm);
  /// True when the file starts with the HDF5 signature.
  static bool is_hdf5(const std::filesystem::path& file);
  /// The HDF5 library version, "1.10.8".
  static std::string library_version();

  /// True while this node holds an open object.
  bool is_open() const;
  /// Opens the object (group or dataset) at `path` (absolute, or relative to this group).
  H5Node open(const std::string& path) const;
  /// True when a link `path` exists (every parent must exist too).
  bool exists(const std::string& path) const;
  /// True when this object has attribute `key`.
  bool has_attr(const std::string& key) const;
  /// Attribute `key` as whatever type it holds (int -> int64, float -> double, strings).
  H5Value attr(const std::string& key) const;
  /// Writes (replacing) attribute `key`. Collective in parallel files.
  void write_attr(const std::string& key, const H5Value& value);
  /// Shape and type of this dataset.
  H5DatasetInfo info() const;
  /// Reads the whole dataset at `path` into a CPU tensor of the matching dtype.
  torch::Tensor read(const std::string& path) const;
  /// Independent read of the hyperslab `slab` of this dataset into `out` (contiguous CPU tensor of
  /// `slab.count` elements). Not collective; HDF5 is not thread-safe, so callers serialize.
  void read_slab(const Hyperslab& slab, torch::Tensor& out) const;
  /// Creates dataset `path` (parents created) with `dtype` and `dims`. Collective.
  H5Node create_dataset(const std::string& path, torch::ScalarType dtype,
                        const std::vector<uint64_t>& dims);
  /// Collective write of `data` (contiguous CPU tensor) to the hyperslab `slab` of this dataset.
  void write_slab(const Hyperslab& slab, const torch::Tensor& data, bool collective);
  /// Flushes all buffers of the file to storage. Collective in parallel files.
  void flush();
  /// Closes now (a no-op when not open). Collective for objects of a parallel file.
  void close();
  /// Forgets the object without closing it (after an error on this rank alone, when other ranks
  /// may be gone and a collective close would hang).
  void abandon();

 private:
  struct Impl;
  /// The open object's state; IoError when the node is closed or moved from.
  static Impl& opened(const std::unique_ptr<Impl>& impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sfb::io
