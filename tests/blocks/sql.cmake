# The sql block: its config, SQLite (the embedded default), PostgreSQL
# against a server each test starts (tests/support/pg_server.c), and a run
# of the engine's executable with a config and a jobs file.
set(bl_sql_support ${CMAKE_CURRENT_LIST_DIR}/sql_fixture.c ${PROJECT_SOURCE_DIR}/tests/support/pg_server.c
  ${PROJECT_SOURCE_DIR}/tests/support/slow_proxy.c)

bl_add_criterion_tests(NAME test_blocks_sql_config
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sql_config.c ${bl_sql_support}
  LIBS bl_blocks PkgConfig::LIBPQ LABELS blocks)
bl_add_criterion_tests(NAME test_blocks_sql_sqlite
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sql_sqlite.c ${bl_sql_support}
  LIBS bl_blocks PkgConfig::LIBPQ LABELS blocks tsan TIMEOUT 120)
bl_add_criterion_tests(NAME test_blocks_sql_deleted_db
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sql_deleted_db.c ${bl_sql_support}
  LIBS bl_blocks PkgConfig::LIBPQ LABELS blocks TIMEOUT 120)
bl_add_criterion_tests(NAME test_blocks_sql_pg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sql_pg.c ${bl_sql_support}
  LIBS bl_blocks PkgConfig::LIBPQ LABELS blocks integration tsan TIMEOUT 180)
foreach(t test_blocks_sql_config test_blocks_sql_sqlite test_blocks_sql_deleted_db test_blocks_sql_pg)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
endforeach()

# The executable end to end. Not labelled tsan: the child is the ordinary
# executable.
bl_add_criterion_tests(NAME test_blocks_sql_run
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sql_run.c ${PROJECT_SOURCE_DIR}/tests/engine/cli_harness.c
          ${PROJECT_SOURCE_DIR}/tests/support/pg_server.c
  LIBS PkgConfig::JANSSON PkgConfig::LIBPQ LABELS blocks integration TIMEOUT 180)
target_include_directories(test_blocks_sql_run PRIVATE ${PROJECT_SOURCE_DIR}/tests/support
                           ${PROJECT_SOURCE_DIR}/tests/engine)
target_compile_definitions(test_blocks_sql_run PRIVATE BL_ENGINE_PATH="$<TARGET_FILE:beamline-engine>")
add_dependencies(test_blocks_sql_run beamline-engine)

# The PostgreSQL pool's bookkeeping, built against the blocks' private
# header; no server needed.
bl_add_criterion_tests(NAME test_blocks_sql_pg_pool
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sql_pg_pool.c
  LIBS bl_blocks PkgConfig::LIBPQ LABELS blocks tsan)
target_include_directories(test_blocks_sql_pg_pool PRIVATE ${PROJECT_SOURCE_DIR}/blocks)
