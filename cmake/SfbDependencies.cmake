# Finds every dependency of sfbench and defines the imported targets the modules link:
#   torch (LibTorch), MPI::MPI_C, sfb::hdf5 (parallel HDF5), CLI11, toml++, nlohmann_json, spdlog,
#   OpenSSL::Crypto, and, when enabled, sfb::cudart (the CUDA runtime the torch install loads) and
#   NCCL::NCCL (the NCCL the torch install loads).

# ---- LibTorch -------------------------------------------------------------------------------------
# Torch_DIR / CMAKE_PREFIX_PATH win; otherwise ask the project's virtual environment (.venv) for the
# pip wheel's CMake prefix, which is what scripts/setup-deps.sh installs.
if(NOT Torch_DIR AND NOT DEFINED ENV{Torch_DIR})
  set(_sfb_py "${CMAKE_SOURCE_DIR}/.venv/bin/python")
  if(EXISTS "${_sfb_py}")
    execute_process(COMMAND "${_sfb_py}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _sfb_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _sfb_rc ERROR_QUIET)
    if(_sfb_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_sfb_torch_prefix}")
    endif()
  endif()
endif()
# Torch's CUDA detection wants an architecture list; the binary itself compiles no kernels.
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()
find_package(Torch REQUIRED)
get_filename_component(SFB_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
message(STATUS "LibTorch: ${SFB_TORCH_LIB_DIR}")

# The ABI of std::string in LibTorch must match the one Debian's GoogleTest and Google Benchmark use
# (the C++11 ABI). A library built with the old ABI exports std::basic_string without __cxx11.
find_library(_sfb_c10 c10 PATHS "${SFB_TORCH_LIB_DIR}" NO_DEFAULT_PATH REQUIRED)
file(STRINGS "${_sfb_c10}" _sfb_abi_hits REGEX "St7__cxx1112basic_string" LIMIT_COUNT 1)
if(NOT _sfb_abi_hits)
  message(FATAL_ERROR "LibTorch at ${SFB_TORCH_LIB_DIR} uses _GLIBCXX_USE_CXX11_ABI=0, but GoogleTest "
                      "and Google Benchmark from Debian use the C++11 ABI. Use a torch >= 2.7 wheel.")
endif()
set(SFB_TORCH_CXX11_ABI 1)

# ---- MPI and parallel HDF5 ------------------------------------------------------------------------
find_package(MPI REQUIRED COMPONENTS C)
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR "HDF5 at ${HDF5_INCLUDE_DIRS} is not parallel (H5Pset_fapl_mpio missing). "
                      "Install libhdf5-openmpi-dev (scripts/setup-deps.sh does).")
endif()
add_library(sfb_hdf5 INTERFACE)
target_include_directories(sfb_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(sfb_hdf5 INTERFACE ${HDF5_C_LIBRARIES} MPI::MPI_C)
target_compile_definitions(sfb_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} ${HDF5_DEFINITIONS})
add_library(sfb::hdf5 ALIAS sfb_hdf5)

# ---- Libraries from Debian ------------------------------------------------------------------------
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
find_path(SFB_VALIJSON_INCLUDE valijson/validator.hpp REQUIRED)

# ---- CUDA runtime and NCCL: the copies the torch install loads ------------------------------------
# The pip wheel ships them in site-packages/nvidia/<pkg>/lib and libtorch_cuda.so finds them through
# its RPATH; linking sfbench's own CUDA/NCCL calls against the same files (and putting their folders
# first in the executables' run path) keeps exactly one copy of each in the process.
get_filename_component(_sfb_site "${SFB_TORCH_LIB_DIR}/../.." ABSOLUTE)
set(SFB_HAVE_CUDA OFF)
if(NOT SFB_WITH_CUDA STREQUAL "OFF" AND TARGET torch_cuda_library AND CUDAToolkit_FOUND)
  set(SFB_HAVE_CUDA ON)
elseif(SFB_WITH_CUDA STREQUAL "ON")
  message(FATAL_ERROR "SFB_WITH_CUDA=ON but LibTorch at ${SFB_TORCH_LIB_DIR} has no CUDA")
endif()
if(SFB_HAVE_CUDA)
  file(GLOB _sfb_wheel_cudart "${_sfb_site}/nvidia/cu*/lib/libcudart.so.*"
                              "${_sfb_site}/nvidia/cuda_runtime/lib/libcudart.so.*")
  add_library(sfb_cudart INTERFACE)
  if(_sfb_wheel_cudart)
    list(GET _sfb_wheel_cudart 0 _sfb_cudart_lib)
    get_filename_component(_sfb_cudart_dir "${_sfb_cudart_lib}" DIRECTORY)
    get_filename_component(_sfb_cudart_inc "${_sfb_cudart_dir}/../include" ABSOLUTE)
    target_include_directories(sfb_cudart SYSTEM INTERFACE "${_sfb_cudart_inc}")
    target_link_libraries(sfb_cudart INTERFACE "${_sfb_cudart_lib}")
    target_link_options(sfb_cudart INTERFACE "LINKER:-rpath,${_sfb_cudart_dir}")
    set(SFB_CUDART_SOURCE "${_sfb_cudart_lib} (torch wheel)")
    # Torch's own CMake config links the toolkit's libcudart (torch::cudart -> CUDA::cudart); point
    # it at the wheel's copy too, so one libcudart.so is on every link line and in the run path.
    if(TARGET torch::cudart)
      set_property(TARGET torch::cudart PROPERTY INTERFACE_LINK_LIBRARIES sfb_cudart)
    endif()
  else()
    target_link_libraries(sfb_cudart INTERFACE CUDA::cudart)
    set(SFB_CUDART_SOURCE "CUDA toolkit ${CUDAToolkit_VERSION}")
  endif()
  add_library(sfb::cudart ALIAS sfb_cudart)
  message(STATUS "CUDA runtime: ${SFB_CUDART_SOURCE}")
endif()

set(SFB_HAVE_NCCL OFF)
if(NOT SFB_WITH_NCCL STREQUAL "OFF" AND SFB_HAVE_CUDA)
  set(NCCL_HINTS "${_sfb_site}/nvidia/nccl" ${CUDAToolkit_LIBRARY_ROOT})
  find_package(NCCL)
  if(NCCL_FOUND)
    set(SFB_HAVE_NCCL ON)
  endif()
endif()
if(SFB_WITH_NCCL STREQUAL "ON" AND NOT SFB_HAVE_NCCL)
  message(FATAL_ERROR "SFB_WITH_NCCL=ON but NCCL (or CUDA) was not found")
endif()
if(SFB_HAVE_CUDA)
  set(SFB_HAVE_CUDA_INT 1)
else()
  set(SFB_HAVE_CUDA_INT 0)
endif()
if(SFB_HAVE_NCCL)
  set(SFB_HAVE_NCCL_INT 1)
else()
  set(SFB_HAVE_NCCL_INT 0)
endif()
