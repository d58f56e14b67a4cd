#pragma once
#include <hdf5.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace sfb::io::h5 {

/// Owns one HDF5 identifier and closes it with the matching H5?close on destruction.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  /// The raw identifier (still owned).
  hid_t get() const { return id_; }
  /// Gives up ownership without closing (used when an error must not trigger collective closes).
  hid_t release() {
    hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  /// Closes now (a no-op when empty).
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

/// Turns off HDF5's automatic printing of error stacks; errors are reported through exceptions.
void silence_errors();
/// The current HDF5 error stack as "function: description; ..." (innermost last).
std::string error_stack();
/// Throws IoError("<call> failed: <HDF5 error stack> at file:line (rank r)") when rc < 0, after
/// recording errno (last_errno()).
[[noreturn]] void fail(const char* call, const char* file, int line);
/// errno as this thread's last failed HDF5 call left it (MPI-IO and HDF5 report a full disk as a
/// short write; the C library's errno still says ENOSPC). 0 before any failure.
int last_errno();
template <class T>
T check(T rc, const char* call, const char* file, int line) {
  if (rc < 0) fail(call, file, line);
  return rc;
}

/// The HDF5 native type for a LibTorch dtype (float32, float64, int64, int32, uint8).
hid_t native_type(torch::ScalarType t);
/// The LibTorch dtype matching an HDF5 datatype, or throws IoError for an unsupported one.
torch::ScalarType scalar_type_of(hid_t dtype);
/// "float32", "int64", ... for an HDF5 datatype ("string" for strings, "other" otherwise).
std::string dtype_name(hid_t dtype);
/// HDF5 library version, "1.10.8".
std::string library_version();

}  // namespace sfb::io::h5

/// Checks an HDF5 call's return value (negative = failure); throws IoError with the error stack.
#define SFB_H5_CHECK(call) ::sfb::io::h5::check((call), #call, __FILE__, __LINE__)
