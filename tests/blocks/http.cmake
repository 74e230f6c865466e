# The http block: the address classifier and the circuit breaker on their
# own, parameters and config, then the block against a real HTTP server
# that each test starts on 127.0.0.1 (tests/support/http_server.py), and a
# run of beamline-engine with an http jobs file.
bl_add_criterion_tests(NAME test_blocks_http_addr
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_addr.c
  LIBS bl_blocks LABELS blocks tsan)
target_include_directories(test_blocks_http_addr PRIVATE ${PROJECT_SOURCE_DIR}/blocks)

bl_add_criterion_tests(NAME test_blocks_http_breaker
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_breaker.c
  LIBS bl_blocks LABELS blocks tsan)
target_include_directories(test_blocks_http_breaker PRIVATE ${PROJECT_SOURCE_DIR}/blocks)

bl_add_criterion_tests(NAME test_blocks_http_params
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_params.c
  LIBS bl_blocks LABELS blocks tsan)
target_include_directories(test_blocks_http_params PRIVATE ${PROJECT_SOURCE_DIR}/blocks)

bl_add_criterion_tests(NAME test_blocks_http
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http.c ${CMAKE_CURRENT_LIST_DIR}/http_fixture.c
  LIBS bl_blocks LABELS blocks integration tsan TIMEOUT 120)
target_compile_definitions(test_blocks_http PRIVATE BL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

bl_add_criterion_tests(NAME test_blocks_http_run
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_run.c ${CMAKE_CURRENT_LIST_DIR}/http_fixture.c
          ${PROJECT_SOURCE_DIR}/tests/engine/cli_harness.c
  LIBS bl_blocks LABELS blocks integration tsan TIMEOUT 120)
target_include_directories(test_blocks_http_run PRIVATE ${PROJECT_SOURCE_DIR}/tests/engine)
target_compile_definitions(test_blocks_http_run PRIVATE BL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  BL_ENGINE_PATH="$<TARGET_FILE:beamline-engine>")
add_dependencies(test_blocks_http_run beamline-engine)
