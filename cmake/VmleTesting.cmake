# vmle_add_test(NAME <name> SOURCES <src...> LIBS <lib...> [LABELS <label...>])
# One GoogleTest executable, registered test by test with CTest.
find_package(GTest REQUIRED)
include(GoogleTest)

function(vmle_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
      VMLE_SHARED_DATA_DIR="${VMLE_SHARED_DATA_DIR}"
      VMLE_BINARY_DIR="${CMAKE_BINARY_DIR}")
  vmle_target_defaults(${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  gtest_discover_tests(${T_NAME}
      DISCOVERY_TIMEOUT 60
      PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()
