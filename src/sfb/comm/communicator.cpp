#include "comm/communicator.hpp"

#include <torch/torch.h>

#include <cstring>

namespace sfb::comm {

std::string broadcast_string(Communicator& comm, const std::string& s, int root) {
  const auto dev = comm.device();
  auto len = torch::tensor({static_cast<int64_t>(s.size())}, torch::kInt64).to(dev);
  comm.broadcast(len, root);
  const int64_t n = len.cpu().item<int64_t>();
  auto bytes = torch::zeros({n}, torch::kUInt8);
  if (comm.rank() == root && n > 0) std::memcpy(bytes.data_ptr<uint8_t>(), s.data(), s.size());
  bytes = bytes.to(dev);
  comm.broadcast(bytes, root);
  bytes = bytes.cpu();
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()),
                     static_cast<size_t>(n));
}

std::vector<std::string> allgather_strings(Communicator& comm, const std::string& s) {
  const auto dev = comm.device();
  auto len = torch::tensor({static_cast<int64_t>(s.size())}, torch::kInt64).to(dev);
  comm.allreduce(len, ReduceOp::kMax);
  const int64_t width = len.cpu().item<int64_t>();
  auto mine = torch::zeros({width + 1}, torch::kUInt8);
  std::memcpy(mine.data_ptr<uint8_t>(), s.data(), s.size());
  mine[width] = static_cast<uint8_t>(0);
  auto all = comm.allgather(mine.to(dev)).cpu();
  std::vector<std::string> out;
  for (int r = 0; r < comm.size(); ++r) {
    out.emplace_back(reinterpret_cast<const char*>(all[r].data_ptr<uint8_t>()));
  }
  return out;
}

double allreduce_scalar(Communicator& comm, double v, ReduceOp op) {
  auto t = torch::tensor({v}, torch::kFloat64).to(comm.device());
  comm.allreduce(t, op);
  return t.cpu().item<double>();
}

}  // namespace sfb::comm
