#include "comm/where.hpp"

#include <mpi.h>
#include <unistd.h>

namespace sfb::comm {

std::string rank_host_suffix() {
  int rank = -1, initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized != 0 && finalized == 0) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return " (rank " + std::to_string(rank) + " on " + host + ")";
}

}  // namespace sfb::comm
