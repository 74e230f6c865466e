# bl_add_criterion_tests(NAME <exe> SOURCES <files...> LIBS <targets...>
#                        [LABELS <labels...>] [TIMEOUT <seconds>])
#
# Builds one Criterion test program and registers every Test(suite, name) in
# its sources as a CTest entry of its own, so ctest reports, times out and
# reruns each test separately. The test list is read from the sources at
# configure time; CMake reconfigures when a listed source changes.
function(bl_add_criterion_tests)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()

  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_LIBS} PkgConfig::CRITERION)
  bl_target_warnings(${ARG_NAME})

  set(found 0)
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(abs "${src}" ABSOLUTE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${abs}")
    file(STRINGS "${abs}" lines REGEX "^[ \t]*Test[ \t]*\\(")
    foreach(line IN LISTS lines)
      string(REGEX MATCH "Test[ \t]*\\([ \t]*([A-Za-z0-9_]+)[ \t]*,[ \t]*([A-Za-z0-9_]+)" _ "${line}")
      set(suite "${CMAKE_MATCH_1}")
      set(name "${CMAKE_MATCH_2}")
      add_test(NAME ${suite}.${name}
               COMMAND ${ARG_NAME} --filter=${suite}/${name} --jobs=1 --ascii)
      set_tests_properties(${suite}.${name} PROPERTIES
                           TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
      math(EXPR found "${found} + 1")
    endforeach()
  endforeach()

  if(found EQUAL 0)
    message(FATAL_ERROR "${ARG_NAME}: no Test(suite, name) found in ${ARG_SOURCES}")
  endif()
endfunction()
