# Helper functions shared by every CMakeLists.txt of the project.

# Warnings as errors on project targets only (third-party headers come in as SYSTEM includes).
add_library(sfb_warnings INTERFACE)
target_compile_options(sfb_warnings INTERFACE -Wall -Wextra -Wpedantic -Werror)

# Compile settings every project target that sees LibTorch headers shares. LibTorch ships fmt 12
# headers in its include folder, which shadow Debian's fmt 9: project code uses them header-only,
# and spdlog (built against fmt 9) is confined to core/log.cpp, compiled without LibTorch's paths.
add_library(sfb_defaults INTERFACE)
# libtorch.so exports copies of some libstdc++ symbols (std::filesystem, std::chrono tzdb, built by
# a newer GCC). Listing libstdc++ before LibTorch puts it first in the dynamic symbol lookup order,
# so calls from sfbench bind to the system libstdc++ (interposed, std::filesystem::remove_all
# jumped to a null pointer).
target_link_libraries(sfb_defaults INTERFACE stdc++ torch)
# mpi.h from C++ must not pull in the deprecated MPI C++ bindings (Open MPI, MPICH).
target_compile_definitions(sfb_defaults INTERFACE FMT_HEADER_ONLY=1 OMPI_SKIP_MPICXX=1 MPICH_SKIP_MPICXX=1)

# One precompiled LibTorch header shared by every project target: each translation unit that
# includes <torch/torch.h> costs ~15 s on 2 cores without it.
add_library(sfb_pch STATIC ${CMAKE_SOURCE_DIR}/cmake/pch_anchor.cpp)
target_link_libraries(sfb_pch PUBLIC sfb_defaults)
target_link_libraries(sfb_pch PRIVATE sfb_warnings)
target_precompile_headers(sfb_pch PRIVATE <torch/torch.h>)

# sfb_add_library(<module> SOURCES ... [DEPS ...]): static library sfb_<module>, alias sfb::<module>.
function(sfb_add_library module)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(sfb_${module} STATIC ${A_SOURCES})
  add_library(sfb::${module} ALIAS sfb_${module})
  target_include_directories(sfb_${module} PUBLIC ${CMAKE_SOURCE_DIR}/src/sfb
                                                  ${CMAKE_BINARY_DIR}/gen/sfb)
  target_link_libraries(sfb_${module} PUBLIC sfb_defaults ${A_DEPS} PRIVATE sfb_warnings ${A_PRIVATE_DEPS})
  target_precompile_headers(sfb_${module} REUSE_FROM sfb_pch)
endfunction()

# sfb_target_defaults(<target>): warnings, include paths and the shared PCH for apps/tests/benches.
function(sfb_target_defaults target)
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/src/sfb ${CMAKE_BINARY_DIR}/gen/sfb)
  target_link_libraries(${target} PRIVATE sfb_defaults sfb_warnings)
  target_precompile_headers(${target} REUSE_FROM sfb_pch)
endfunction()

# Every mpirun in tests and benchmark smoke runs: root is allowed (CI runs as root), more ranks than
# cores are allowed (3 ranks on 2 cores), and no rank may hang the suite (each test has a TIMEOUT).
set(SFB_MPIEXEC ${MPIEXEC_EXECUTABLE} --oversubscribe ${MPIEXEC_PREFLAGS})
set(SFB_TEST_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;HDF5_USE_FILE_LOCKING=FALSE;OMP_NUM_THREADS=1")
