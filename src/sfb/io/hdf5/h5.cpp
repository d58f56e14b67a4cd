#include "io/hdf5/h5.hpp"

#include <mpi.h>

#include <cerrno>

#include "comm/where.hpp"
#include "core/error.hpp"

namespace sfb::io::h5 {
namespace {
thread_local int t_last_errno = 0;
}  // namespace

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string error_stack() {
  std::string out;
  auto walk = [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
    auto* s = static_cast<std::string*>(data);
    if (n > 0) *s += "; ";
    std::string desc = e->desc ? e->desc : "";
    for (char& c : desc) c = c == '\n' ? ' ' : c;  // one line: HDF5 puts newlines in some texts
    *s += std::string(e->func_name ? e->func_name : "?") + ": " + desc;
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk, &out);
  return out.empty() ? "no HDF5 error message" : out;
}

int last_errno() { return t_last_errno; }

void fail(const char* call, const char* file, int line) {
  t_last_errno = errno;
  throw IoError(std::string(call) + " failed: " + error_stack() + " at " + file + ":" +
                std::to_string(line) + comm::rank_host_suffix());
}

hid_t native_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return H5T_NATIVE_FLOAT;
    case torch::kFloat64:
      return H5T_NATIVE_DOUBLE;
    case torch::kInt64:
      return H5T_NATIVE_INT64;
    case torch::kInt32:
      return H5T_NATIVE_INT32;
    case torch::kUInt8:
      return H5T_NATIVE_UINT8;
    default:
      throw IoError("HDF5: unsupported tensor dtype " + std::string(c10::toString(t)) +
                    " (supported: float32, float64, int64, int32, uint8)");
  }
}

torch::ScalarType scalar_type_of(hid_t dtype) {
  const H5T_class_t cls = H5Tget_class(dtype);
  const size_t size = H5Tget_size(dtype);
  if (cls == H5T_FLOAT && size == 4) return torch::kFloat32;
  if (cls == H5T_FLOAT && size == 8) return torch::kFloat64;
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(dtype) == H5T_SGN_2;
    if (size == 8 && is_signed) return torch::kInt64;
    if (size == 4 && is_signed) return torch::kInt32;
    if (size == 1 && !is_signed) return torch::kUInt8;
  }
  throw IoError("HDF5: unsupported dataset type " + dtype_name(dtype));
}

std::string dtype_name(hid_t dtype) {
  const H5T_class_t cls = H5Tget_class(dtype);
  const size_t size = H5Tget_size(dtype);
  if (cls == H5T_STRING) return "string";
  if (cls == H5T_FLOAT) return "float" + std::to_string(8 * size);
  if (cls == H5T_INTEGER) {
    return std::string(H5Tget_sign(dtype) == H5T_SGN_2 ? "int" : "uint") + std::to_string(8 * size);
  }
  return "other";
}

std::string library_version() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel);
}

}  // namespace sfb::io::h5
