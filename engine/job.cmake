# Jobs and results: parsing, validation, limits, encoding.
add_library(bl_job STATIC
  job.c
  job_limits.c
  result.c
)
target_include_directories(bl_job PUBLIC include PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(bl_job PUBLIC bl_sched bl_util bl_json PkgConfig::JANSSON)
bl_target_warnings(bl_job)
