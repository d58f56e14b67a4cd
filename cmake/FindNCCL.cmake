# FindNCCL: locates nccl.h and libnccl, defines NCCL::NCCL, NCCL_FOUND, NCCL_VERSION.
# Search order: NCCL_ROOT / $NCCL_ROOT, the folders in NCCL_HINTS (sfbench passes the torch wheel's
# nvidia/nccl first), then the system.
find_path(NCCL_INCLUDE_DIR nccl.h
  HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${NCCL_HINTS} PATH_SUFFIXES include)
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR
  HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${NCCL_HINTS} PATH_SUFFIXES lib lib64)
# nccl.h and libnccl must come from one installation.
if(NCCL_INCLUDE_DIR AND EXISTS "${NCCL_INCLUDE_DIR}/nccl.h")
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_v REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX MATCH "NCCL_${_part} ([0-9]+)" _m "${_nccl_v}")
    set(NCCL_${_part} "${CMAKE_MATCH_1}")
  endforeach()
  set(NCCL_VERSION "${NCCL_MAJOR}.${NCCL_MINOR}.${NCCL_PATCH}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR
                                  VERSION_VAR NCCL_VERSION)
if(NCCL_FOUND AND NOT TARGET NCCL::NCCL)
  get_filename_component(_nccl_dir "${NCCL_LIBRARY}" DIRECTORY)
  add_library(NCCL::NCCL UNKNOWN IMPORTED)
  set_target_properties(NCCL::NCCL PROPERTIES IMPORTED_LOCATION "${NCCL_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
  target_link_options(NCCL::NCCL INTERFACE "LINKER:-rpath,${_nccl_dir}")
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
