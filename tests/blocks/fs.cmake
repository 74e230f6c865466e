# The fs block: paths kept inside the tenant folder, every operation, the
# limits, cancellation, a put killed mid-write, and runs through the engine.
bl_add_criterion_tests(NAME test_blocks_fs_paths
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fs_paths.c ${CMAKE_CURRENT_LIST_DIR}/fs_fixture.c
  LIBS bl_blocks LABELS blocks io tsan TIMEOUT 120)
bl_add_criterion_tests(NAME test_blocks_fs_ops
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fs_ops.c ${CMAKE_CURRENT_LIST_DIR}/fs_fixture.c
  LIBS bl_blocks LABELS blocks io tsan TIMEOUT 120)
# Through the engine: bl_run_jobs in the test process, and the
# beamline-engine executable as a child that is killed mid-put.
bl_add_criterion_tests(NAME test_blocks_fs_run
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fs_run.c ${PROJECT_SOURCE_DIR}/tests/engine/run_harness.c
  LIBS bl_engine LABELS blocks io TIMEOUT 300)
target_include_directories(test_blocks_fs_run PRIVATE ${PROJECT_SOURCE_DIR}/tests/engine)
target_compile_definitions(test_blocks_fs_run PRIVATE BL_ENGINE_PATH="$<TARGET_FILE:beamline-engine>")
add_dependencies(test_blocks_fs_run beamline-engine)
