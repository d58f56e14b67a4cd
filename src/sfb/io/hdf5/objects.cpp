#include "io/hdf5/objects.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace sfb::io::h5 {
namespace {

Handle plist(hid_t cls) { return Handle(SFB_H5_CHECK(H5Pcreate(cls)), H5Pclose); }

Handle make_string_type() {
  Handle t(SFB_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  SFB_H5_CHECK(H5Tset_size(t.get(), H5T_VARIABLE));
  SFB_H5_CHECK(H5Tset_cset(t.get(), H5T_CSET_UTF8));
  return t;
}

Handle simple_space(const std::vector<uint64_t>& dims) {
  if (dims.empty()) return Handle(SFB_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  std::vector<hsize_t> d(dims.begin(), dims.end());
  return Handle(SFB_H5_CHECK(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr)),
                H5Sclose);
}

}  // namespace

Handle create_parallel(const std::filesystem::path& file, MPI_Comm comm) {
  silence_errors();
  Handle fapl = plist(H5P_FILE_ACCESS);
  SFB_H5_CHECK(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL));
  // Metadata operations are collective (every rank makes them with identical arguments).
  SFB_H5_CHECK(H5Pset_all_coll_metadata_ops(fapl.get(), true));
  SFB_H5_CHECK(H5Pset_coll_metadata_write(fapl.get(), true));
  // H5F_ACC_EXCL: MPI_MODE_EXCL, i.e. O_CREAT | O_EXCL, which never opens an existing file nor
  // follows a symbolic link.
  hid_t f = H5Fcreate(file.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get());
  if (f < 0) {
    std::error_code ec;
    if (std::filesystem::symlink_status(file, ec).type() != std::filesystem::file_type::not_found) {
      throw IoError("cannot create '" + file.string() +
                        "': a file or symbolic link of that name is in the way",
                    ExitCode::kBadInput);
    }
    throw IoError("cannot create '" + file.string() + "': " + error_stack());
  }
  return Handle(f, H5Fclose);
}

bool is_hdf5(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  char sig[8] = {0};
  in.read(sig, 8);
  return in.gcount() == 8 && std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
}

Handle open_readonly(const std::filesystem::path& file) {
  silence_errors();
  if (!std::filesystem::exists(file)) {
    throw IoError("'" + file.string() + "': no such file", ExitCode::kBadInput);
  }
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    throw IoError("'" + file.string() + "' is not a readable HDF5 file: " + error_stack(),
                  ExitCode::kBadInput);
  }
  return Handle(f, H5Fclose);
}

bool exists(hid_t file, const std::string& path) {
  if (path == "/") return true;
  // Check each prefix: H5Lexists fails when a parent is missing.
  size_t pos = 1;
  while (true) {
    size_t next = path.find('/', pos);
    std::string prefix = path.substr(0, next);
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (next == std::string::npos) return true;
    pos = next + 1;
  }
}

Handle ensure_group(hid_t file, const std::string& path) {
  if (path == "/" || path.empty())
    return Handle(SFB_H5_CHECK(H5Gopen2(file, "/", H5P_DEFAULT)), H5Gclose);
  if (exists(file, path))
    return Handle(SFB_H5_CHECK(H5Gopen2(file, path.c_str(), H5P_DEFAULT)), H5Gclose);
  Handle lcpl = plist(H5P_LINK_CREATE);
  SFB_H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1));
  return Handle(SFB_H5_CHECK(H5Gcreate2(file, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Gclose);
}

Handle open_object(hid_t file, const std::string& path) {
  return Handle(SFB_H5_CHECK(H5Oopen(file, path.c_str(), H5P_DEFAULT)), H5Oclose);
}

bool has_attr(hid_t obj, const std::string& key) {
  return SFB_H5_CHECK(H5Aexists(obj, key.c_str())) > 0;
}

void write_attr(hid_t obj, const std::string& key, const AttrValue& v) {
  if (has_attr(obj, key)) SFB_H5_CHECK(H5Adelete(obj, key.c_str()));
  auto write = [&](hid_t type, const std::vector<uint64_t>& dims, const void* buf) {
    Handle space = simple_space(dims);
    Handle a(
        SFB_H5_CHECK(H5Acreate2(obj, key.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT)),
        H5Aclose);
    SFB_H5_CHECK(H5Awrite(a.get(), type, buf));
  };
  if (auto i = std::get_if<int64_t>(&v)) {
    write(H5T_NATIVE_INT64, {}, i);
  } else if (auto d = std::get_if<double>(&v)) {
    write(H5T_NATIVE_DOUBLE, {}, d);
  } else if (auto s = std::get_if<std::string>(&v)) {
    Handle t = make_string_type();
    const char* p = s->c_str();
    write(t.get(), {}, &p);
  } else if (auto vi = std::get_if<std::vector<int64_t>>(&v)) {
    write(H5T_NATIVE_INT64, {vi->size()}, vi->data());
  } else if (auto vd = std::get_if<std::vector<double>>(&v)) {
    write(H5T_NATIVE_DOUBLE, {vd->size()}, vd->data());
  } else if (auto vs = std::get_if<std::vector<std::string>>(&v)) {
    Handle t = make_string_type();
    std::vector<const char*> ptrs;
    for (auto& s2 : *vs) ptrs.push_back(s2.c_str());
    write(t.get(), {vs->size()}, ptrs.data());
  }
}

AttrValue read_attr(hid_t obj, const std::string& key) {
  Handle a(SFB_H5_CHECK(H5Aopen(obj, key.c_str(), H5P_DEFAULT)), H5Aclose);
  Handle type(SFB_H5_CHECK(H5Aget_type(a.get())), H5Tclose);
  Handle space(SFB_H5_CHECK(H5Aget_space(a.get())), H5Sclose);
  const int rank = SFB_H5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  const hssize_t n = SFB_H5_CHECK(H5Sget_simple_extent_npoints(space.get()));
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_STRING) {
    std::vector<std::string> out;
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle mt = make_string_type();
      std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
      SFB_H5_CHECK(H5Aread(a.get(), mt.get(), ptrs.data()));
      for (char* p : ptrs) out.emplace_back(p ? p : "");
      H5Dvlen_reclaim(mt.get(), space.get(), H5P_DEFAULT, ptrs.data());
    } else {
      const size_t sz = H5Tget_size(type.get());
      std::vector<char> buf(sz * static_cast<size_t>(n) + 1, '\0');
      SFB_H5_CHECK(H5Aread(a.get(), type.get(), buf.data()));
      for (hssize_t i = 0; i < n; ++i) {
        std::string s(buf.data() + i * sz, sz);
        out.emplace_back(s.c_str());
      }
    }
    if (rank == 0) return out.empty() ? std::string() : out[0];
    return out;
  }
  if (cls == H5T_INTEGER) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    SFB_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, v.data()));
    if (rank == 0) return v.at(0);
    return v;
  }
  if (cls == H5T_FLOAT) {
    std::vector<double> v(static_cast<size_t>(n));
    SFB_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, v.data()));
    if (rank == 0) return v.at(0);
    return v;
  }
  throw IoError("attribute '" + key + "' has an unsupported type");
}

std::string attr_kind(const AttrValue& v) {
  static const char* kNames[] = {"int", "float", "string", "int[]", "float[]", "string[]"};
  return kNames[v.index()];
}

Handle create_dataset(hid_t file, const std::string& path, torch::ScalarType dtype,
                      const std::vector<uint64_t>& dims) {
  if (exists(file, path)) {
    throw IoError("dataset '" + path + "' is written twice in one results file");
  }
  Handle space = simple_space(dims);
  Handle lcpl = plist(H5P_LINK_CREATE);
  SFB_H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1));
  return Handle(SFB_H5_CHECK(H5Dcreate2(file, path.c_str(), native_type(dtype), space.get(),
                                        lcpl.get(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Dclose);
}

void write_slab(hid_t dset, const Hyperslab& slab, const torch::Tensor& data, bool collective) {
  // A dataset with no elements has no storage to write to (every rank sees the same file_dims,
  // so every rank returns here together).
  if (std::any_of(slab.file_dims.begin(), slab.file_dims.end(),
                  [](uint64_t d) { return d == 0; })) {
    return;
  }
  Handle fspace(SFB_H5_CHECK(H5Dget_space(dset)), H5Sclose);
  const bool empty =
      std::any_of(slab.count.begin(), slab.count.end(), [](uint64_t c) { return c == 0; });
  std::vector<hsize_t> start(slab.start.begin(), slab.start.end());
  std::vector<hsize_t> count(slab.count.begin(), slab.count.end());
  Handle mspace;
  if (empty) {
    SFB_H5_CHECK(H5Sselect_none(fspace.get()));
    mspace = Handle(SFB_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
    SFB_H5_CHECK(H5Sselect_none(mspace.get()));
  } else {
    if (!count.empty()) {
      SFB_H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                       count.data(), nullptr));
    }
    mspace = simple_space(slab.count);
  }
  Handle dxpl = plist(H5P_DATASET_XFER);
  if (collective) SFB_H5_CHECK(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE));
  static const double kDummy = 0;
  const void* buf = empty ? static_cast<const void*>(&kDummy) : data.data_ptr();
  Handle type(SFB_H5_CHECK(H5Dget_type(dset)), H5Tclose);
  SFB_H5_CHECK(
      H5Dwrite(dset, native_type(data.scalar_type()), mspace.get(), fspace.get(), dxpl.get(), buf));
}

void write_from_root(hid_t dset, const torch::Tensor& data, bool is_root, bool collective) {
  Hyperslab slab;
  for (auto s : data.sizes()) {
    slab.file_dims.push_back(static_cast<uint64_t>(s));
    slab.start.push_back(0);
    slab.count.push_back(is_root ? static_cast<uint64_t>(s) : 0);
  }
  if (data.dim() == 0) {
    // Scalar dataset: rank 0 writes all, the others select nothing.
    Handle fspace(SFB_H5_CHECK(H5Dget_space(dset)), H5Sclose);
    Handle mspace(SFB_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
    if (!is_root) {
      SFB_H5_CHECK(H5Sselect_none(fspace.get()));
      SFB_H5_CHECK(H5Sselect_none(mspace.get()));
    }
    Handle dxpl = plist(H5P_DATASET_XFER);
    if (collective) SFB_H5_CHECK(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE));
    SFB_H5_CHECK(H5Dwrite(dset, native_type(data.scalar_type()), mspace.get(), fspace.get(),
                          dxpl.get(), data.data_ptr()));
    return;
  }
  write_slab(dset, slab, data, collective);
}

DatasetInfo dataset_info(hid_t dset) {
  Handle type(SFB_H5_CHECK(H5Dget_type(dset)), H5Tclose);
  Handle space(SFB_H5_CHECK(H5Dget_space(dset)), H5Sclose);
  const int rank = SFB_H5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) SFB_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  DatasetInfo info;
  info.dtype = dtype_name(type.get());
  info.dims.assign(dims.begin(), dims.end());
  return info;
}

torch::Tensor read_dataset(hid_t file, const std::string& path) {
  Handle d(SFB_H5_CHECK(H5Dopen2(file, path.c_str(), H5P_DEFAULT)), H5Dclose);
  Handle type(SFB_H5_CHECK(H5Dget_type(d.get())), H5Tclose);
  const auto st = scalar_type_of(type.get());
  const auto info = dataset_info(d.get());
  std::vector<int64_t> shape(info.dims.begin(), info.dims.end());
  auto out = torch::empty(shape, torch::TensorOptions().dtype(st));
  if (out.numel() > 0) {
    SFB_H5_CHECK(H5Dread(d.get(), native_type(st), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()));
  }
  return out;
}

void read_slab(hid_t dset, const Hyperslab& slab, torch::Tensor& out) {
  SFB_ASSERT(out.is_contiguous() && out.device().is_cpu(),
             "read_slab needs a contiguous CPU tensor");
  uint64_t elems = 1;
  for (auto c : slab.count) elems *= c;
  SFB_ASSERT(static_cast<uint64_t>(out.numel()) == elems, "read_slab: tensor size != slab size");
  if (elems == 0) return;
  Handle fspace(SFB_H5_CHECK(H5Dget_space(dset)), H5Sclose);
  std::vector<hsize_t> start(slab.start.begin(), slab.start.end());
  std::vector<hsize_t> count(slab.count.begin(), slab.count.end());
  if (!count.empty()) {
    SFB_H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                     count.data(), nullptr));
  }
  Handle mspace = simple_space(slab.count);
  SFB_H5_CHECK(H5Dread(dset, native_type(out.scalar_type()), mspace.get(), fspace.get(),
                       H5P_DEFAULT, out.data_ptr()));
}

void visit_datasets(hid_t file, const std::function<void(const std::string&)>& fn) {
  std::vector<std::string> paths;
  auto cb = [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
    if (info->type == H5O_TYPE_DATASET) {
      static_cast<std::vector<std::string>*>(data)->push_back(std::string("/") + name);
    }
    return 0;
  };
  SFB_H5_CHECK(H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, cb, &paths, H5O_INFO_BASIC));
  for (auto& p : paths) fn(p);
}

void flush(hid_t file) { SFB_H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL)); }

void close_file(Handle& file) {
  const hid_t id = file.release();
  if (id >= 0) SFB_H5_CHECK(H5Fclose(id));
}

}  // namespace sfb::io::h5
