#pragma once
#include <mpi.h>

namespace sfb::comm::detail {
/// Throws CommError with the MPI error string, the call text, file:line, rank and host when
/// `rc` is not MPI_SUCCESS.
void mpi_check(int rc, const char* call, const char* file, int line);
}  // namespace sfb::comm::detail

/// Checks the return code of an MPI call (the only place MPI errors are turned into exceptions).
#define SFB_MPI_CHECK(call) ::sfb::comm::detail::mpi_check((call), #call, __FILE__, __LINE__)
