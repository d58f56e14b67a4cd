#pragma once
#include <mpi.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "io/h5_node.hpp"
#include "io/hdf5/h5.hpp"
#include "io/hyperslab.hpp"

namespace sfb::io::h5 {

/// A value an attribute can hold.
using AttrValue = H5Value;

/// Creates `file` for parallel access over `comm` with the MPI-IO driver. The file must not exist
/// (H5F_ACC_EXCL: an existing file or a symbolic link is never opened; IoError with exit code 2
/// naming it). Collective.
Handle create_parallel(const std::filesystem::path& file, MPI_Comm comm);
/// Opens `file` read-only on this process alone (no MPI-IO). Throws IoError naming the file and
/// HDF5's reason (e.g. "truncated file: eof = …").
Handle open_readonly(const std::filesystem::path& file);
/// True when the file starts with the HDF5 signature.
bool is_hdf5(const std::filesystem::path& file);

/// Opens the group at `path`, creating it and missing parents. Collective in parallel files.
Handle ensure_group(hid_t file, const std::string& path);
/// Opens the object (group or dataset) at `path`.
Handle open_object(hid_t file, const std::string& path);
/// True when a link `path` exists (every parent must exist too).
bool exists(hid_t file, const std::string& path);

/// Writes (replacing) attribute `key` on object `obj`. Strings are variable-length UTF-8.
void write_attr(hid_t obj, const std::string& key, const AttrValue& v);
/// True when `obj` has attribute `key`.
bool has_attr(hid_t obj, const std::string& key);
/// Reads attribute `key` as whatever type it holds (int → int64, float → double, strings).
AttrValue read_attr(hid_t obj, const std::string& key);
/// "int", "float", "string", "int[]", "float[]", "string[]" for an AttrValue.
std::string attr_kind(const AttrValue& v);

/// Creates dataset `path` (parents created) with `dtype` and `dims`, contiguous layout. Collective.
Handle create_dataset(hid_t file, const std::string& path, torch::ScalarType dtype,
                      const std::vector<uint64_t>& dims);
/// Collective write of `data` (contiguous CPU tensor, `slab.count` elements) to the hyperslab
/// `slab` of `dset`; a rank with no rows passes rows = 0 and selects nothing. `collective` chooses
/// MPI-IO collective transfer (parallel files) or the default transfer (serial files).
void write_slab(hid_t dset, const Hyperslab& slab, const torch::Tensor& data, bool collective);
/// Writes all of `data` to `dset` from rank 0 (others select nothing). Collective.
void write_from_root(hid_t dset, const torch::Tensor& data, bool is_root, bool collective);

/// Shape and type of a dataset (dtype as dtype_name()).
using DatasetInfo = H5DatasetInfo;
DatasetInfo dataset_info(hid_t dset);
/// Reads a whole dataset into a CPU tensor of the matching dtype.
torch::Tensor read_dataset(hid_t file, const std::string& path);
/// Independent read of the hyperslab `slab` of `dset` into `out` (contiguous CPU tensor of
/// `slab.count` elements; its dtype picks the memory type, HDF5 converts). A slab with a zero count
/// reads nothing. Not collective; HDF5 is not thread-safe, so callers serialize concurrent reads.
void read_slab(hid_t dset, const Hyperslab& slab, torch::Tensor& out);
/// Calls `fn(path)` for every dataset in the file (absolute paths, depth-first, sorted by name).
void visit_datasets(hid_t file, const std::function<void(const std::string&)>& fn);
/// Flushes all buffers of `file` to storage. Collective in parallel files.
void flush(hid_t file);
/// Closes the file `file` now (it is empty afterwards) and throws IoError when HDF5 fails to, e.g.
/// when its last metadata cannot be written. Collective in parallel files.
void close_file(Handle& file);

}  // namespace sfb::io::h5
