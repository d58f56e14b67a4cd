# Test helpers (DESIGN.md layout: cmake/ holds sfb_add_test and sfb_add_mpi_test).

# sfb_add_test(<name> [WHOLE] SOURCES ... LIBS ...): a gtest binary whose tests ctest discovers;
# WHOLE: one ctest test running the whole binary (a suite whose set-up is costly runs it once).
function(sfb_add_test name)
  cmake_parse_arguments(A "WHOLE" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${A_SOURCES} ${CMAKE_SOURCE_DIR}/tests/unit/unit_main.cpp)
  sfb_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${A_LIBS} GTest::gtest)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)  # shared fixtures in data/
  # gtest_discover_tests (CMake 3.25) passes only the first entry of a list-valued ENVIRONMENT
  # property, so the unit tests' shared main sets one intra-op thread and the same variables.
  # Discovery runs when ctest starts (PRE_TEST), not at build time: a loaded machine must never
  # fail the build because listing a binary's tests took long.
  if(A_WHOLE)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 600)
    return()
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS unit
                       DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 600)
endfunction()

# sfb_add_mpi_test(<name> SOURCES ... LIBS ... NP 2 3): one gtest binary run under mpirun for
# each rank count, with the MPI-aware main (tests/mpi/mpi_main.cpp). Label `mpi`.
function(sfb_add_mpi_test name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS;NP" ${ARGN})
  add_executable(${name} ${A_SOURCES} ${CMAKE_SOURCE_DIR}/tests/mpi/mpi_main.cpp)
  sfb_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${A_LIBS} sfb::comm GTest::gtest)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  foreach(np ${A_NP})
    add_test(NAME ${name}_np${np}
             COMMAND ${SFB_MPIEXEC} ${MPIEXEC_NUMPROC_FLAG} ${np} $<TARGET_FILE:${name}>)
    set_tests_properties(${name}_np${np} PROPERTIES LABELS mpi TIMEOUT 300
                         ENVIRONMENT "${SFB_TEST_ENV}" PROCESSORS ${np})
  endforeach()
endfunction()

