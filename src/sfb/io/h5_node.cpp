#include "io/h5_node.hpp"

#include "core/error.hpp"
#include "io/hdf5/objects.hpp"

namespace sfb::io {

struct H5Node::Impl {
  h5::Handle handle;
};

H5Node::Impl& H5Node::opened(const std::unique_ptr<Impl>& impl) {
  if (!impl || impl->handle.get() < 0) throw IoError("HDF5 object used after it was closed");
  return *impl;
}

H5Node::H5Node() : impl_(std::make_unique<Impl>()) {}
H5Node::~H5Node() = default;
H5Node::H5Node(H5Node&&) noexcept = default;
H5Node& H5Node::operator=(H5Node&&) noexcept = default;

H5Node H5Node::open_readonly(const std::filesystem::path& file) {
  H5Node n;
  n.impl_->handle = h5::open_readonly(file);
  return n;
}

H5Node H5Node::create_parallel(const std::filesystem::path& file, MPI_Comm comm) {
  H5Node n;
  n.impl_->handle = h5::create_parallel(file, comm);
  return n;
}

bool H5Node::is_hdf5(const std::filesystem::path& file) { return h5::is_hdf5(file); }

std::string H5Node::library_version() { return h5::library_version(); }

bool H5Node::is_open() const { return impl_ && impl_->handle.get() >= 0; }

H5Node H5Node::open(const std::string& path) const {
  H5Node n;
  n.impl_->handle = h5::open_object(opened(impl_).handle.get(), path);
  return n;
}

bool H5Node::exists(const std::string& path) const {
  return h5::exists(opened(impl_).handle.get(), path);
}

bool H5Node::has_attr(const std::string& key) const {
  return h5::has_attr(opened(impl_).handle.get(), key);
}

H5Value H5Node::attr(const std::string& key) const {
  return h5::read_attr(opened(impl_).handle.get(), key);
}

void H5Node::write_attr(const std::string& key, const H5Value& value) {
  h5::write_attr(opened(impl_).handle.get(), key, value);
}

H5DatasetInfo H5Node::info() const { return h5::dataset_info(opened(impl_).handle.get()); }

torch::Tensor H5Node::read(const std::string& path) const {
  return h5::read_dataset(opened(impl_).handle.get(), path);
}

void H5Node::read_slab(const Hyperslab& slab, torch::Tensor& out) const {
  h5::read_slab(opened(impl_).handle.get(), slab, out);
}

H5Node H5Node::create_dataset(const std::string& path, torch::ScalarType dtype,
                              const std::vector<uint64_t>& dims) {
  H5Node n;
  n.impl_->handle = h5::create_dataset(opened(impl_).handle.get(), path, dtype, dims);
  return n;
}

void H5Node::write_slab(const Hyperslab& slab, const torch::Tensor& data, bool collective) {
  h5::write_slab(opened(impl_).handle.get(), slab, data, collective);
}

void H5Node::flush() { h5::flush(opened(impl_).handle.get()); }

void H5Node::close() {
  if (impl_) impl_->handle.reset();
}

void H5Node::abandon() {
  if (impl_) impl_->handle.release();
}

}  // namespace sfb::io
