# Generates gen/sfb/version_info.cpp at every build (not only at configure time), so the git commit
# and dirty flag recorded in results are those of the sources actually compiled. The file is only
# rewritten when its content changes, so an unchanged tree does not relink.
set(SFB_VERSION_CPP "${CMAKE_BINARY_DIR}/gen/sfb/version_info.cpp")
add_custom_target(sfb_version_info
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${SFB_VERSION_CPP}
          -DVERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/SfbWriteVersion.cmake
  BYPRODUCTS "${SFB_VERSION_CPP}"
  COMMENT "" VERBATIM)
