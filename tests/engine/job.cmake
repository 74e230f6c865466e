# Jobs and results. test_job_limits.c calls the private scan in engine/.
bl_add_criterion_tests(NAME test_engine_job SOURCES test_job.c LIBS bl_job LABELS engine)

bl_add_criterion_tests(NAME test_engine_job_limits SOURCES test_job_limits.c LIBS bl_job LABELS engine)
target_include_directories(test_engine_job_limits PRIVATE ${PROJECT_SOURCE_DIR}/engine)

bl_add_criterion_tests(NAME test_engine_result SOURCES test_result.c LIBS bl_job LABELS engine)

bl_add_criterion_tests(NAME test_engine_trace SOURCES test_trace.c LIBS bl_job LABELS engine)
