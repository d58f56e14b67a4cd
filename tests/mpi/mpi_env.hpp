#pragma once
#include "comm/context.hpp"

namespace sfb::test {
/// The process-wide Context of an MPI test binary (configured for CPU and MPI by mpi_main.cpp).
Context& ctx();
}  // namespace sfb::test
