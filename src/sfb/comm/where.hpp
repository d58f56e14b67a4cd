#pragma once
#include <string>

namespace sfb::comm {

/// " (rank R on HOST)": where an error from a library call (MPI, CUDA, NCCL, HDF5) happened, with
/// this process's rank in MPI_COMM_WORLD (-1 before MPI_Init) and its host name. Every such error
/// ends with it, so a message from one rank of a large job names the node to look at.
std::string rank_host_suffix();

}  // namespace sfb::comm
