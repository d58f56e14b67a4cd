#include "comm/mpi/mpi_check.hpp"

#include <string>

#include "comm/where.hpp"
#include "core/error.hpp"

namespace sfb::comm::detail {

void mpi_check(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw CommError(std::string(call) + " failed: " + std::string(msg, static_cast<size_t>(len)) +
                  " at " + file + ":" + std::to_string(line) + rank_host_suffix());
}

}  // namespace sfb::comm::detail
