#include "comm/mpi/mpi_check.hpp"

#include <unistd.h>

#include <string>

#include "core/error.hpp"

namespace sfb::comm::detail {

void mpi_check(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  int rank = -1;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  throw CommError(std::string(call) + " failed: " + std::string(msg, static_cast<size_t>(len)) +
                  " at " + file + ":" + std::to_string(line) + " (rank " + std::to_string(rank) +
                  " on " + host + ")");
}

}  // namespace sfb::comm::detail
