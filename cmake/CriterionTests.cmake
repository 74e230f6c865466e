# Criterion cannot run under ThreadSanitizer. Its sandbox library, BoxFort,
# maps an arena with MAP_FIXED at random addresses between 0x200000000000 and
# 0x7f0000000000 (BoxFort's src/arena.c). ThreadSanitizer (GCC 12, x86-64)
# reserves nearly all of that range for its shadow and metadata memory, so
# every test program aborts at start-up before a test runs. ThreadSanitizer
# builds therefore compile the same test sources against a stand-in: a header
# that shadows <criterion/criterion.h> and a runner that runs each test in the
# test program's own process (tests/support/criterion_shim).
if(BL_SANITIZE_THREAD)
  set(_bl_criterion_shim_dir ${PROJECT_SOURCE_DIR}/tests/support/criterion_shim)
  add_library(bl_criterion_shim STATIC ${_bl_criterion_shim_dir}/runner.c)
  target_include_directories(bl_criterion_shim PUBLIC ${_bl_criterion_shim_dir})
  target_link_libraries(bl_criterion_shim PUBLIC Threads::Threads)
  bl_target_warnings(bl_criterion_shim)
endif()

set(_bl_sanitizer_reports "ERROR: LeakSanitizer;ERROR: AddressSanitizer;WARNING: ThreadSanitizer;runtime error:")

# bl_add_criterion_tests(NAME <exe> SOURCES <files...> LIBS <targets...>
#                        [LABELS <labels...>] [TIMEOUT <seconds>]
#                        [ENVIRONMENT <NAME=value...>] [FIXTURES <names...>])
#
# Builds one Criterion test program and registers every Test(suite, name) in
# its sources as a CTest entry of its own, so ctest reports, times out and
# reruns each test separately. The test list is read from the sources at
# configure time; CMake reconfigures when a listed source changes.
#
# A test fails when its output shows a sanitizer report, whatever its exit
# status: Criterion 2.4 prints a LeakSanitizer report from the test process
# and still exits 0.
#
# FIXTURES names CTest fixtures (FIXTURES_SETUP of another test) that each
# test needs; ctest then runs their setup first.
#
# A test that calls cr_skip_test() is reported by ctest as skipped. The
# stand-in runner exits with 77 for it. Criterion 2.4 exits with 0 and, with
# --ascii, prints only its summary line, which then reads "Tested: 0" (as it
# also does for a test with .disabled = true).
function(bl_add_criterion_tests)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ENVIRONMENT;FIXTURES" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()

  add_executable(${ARG_NAME} ${ARG_SOURCES})
  if(BL_SANITIZE_THREAD)
    # BEFORE: the stand-in header must win over an installed Criterion.
    target_include_directories(${ARG_NAME} BEFORE PRIVATE ${_bl_criterion_shim_dir})
    target_link_libraries(${ARG_NAME} PRIVATE ${ARG_LIBS} bl_criterion_shim)
    set(skip_property SKIP_RETURN_CODE 77)
  else()
    target_link_libraries(${ARG_NAME} PRIVATE ${ARG_LIBS} PkgConfig::CRITERION)
    set(skip_property SKIP_REGULAR_EXPRESSION "Synthesis: Tested: 0 [|]")
  endif()
  bl_target_warnings(${ARG_NAME})

  # PoCL 3.1 compiles kernels with libLLVM-15, which gives the calling
  # thread its own alternate signal stack: under strace, a GPU pool worker
  # got a 72 KiB one in heap memory. When that thread exits,
  # AddressSanitizer unmaps the thread's current alternate stack as if it
  # were its own, munmap fails with EINVAL, and ASan aborts with "failed to
  # deallocate". Tests on the OpenCL device therefore run without ASan's
  # alternate stack, which it uses only to report stack overflows.
  if(BL_SANITIZE_ADDRESS AND "gpu" IN_LIST ARG_LABELS)
    list(APPEND ARG_ENVIRONMENT "ASAN_OPTIONS=use_sigaltstack=0")
  endif()

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
                           TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}"
                           FAIL_REGULAR_EXPRESSION "${_bl_sanitizer_reports}"
                           ${skip_property})
      if(ARG_ENVIRONMENT)
        set_tests_properties(${suite}.${name} PROPERTIES ENVIRONMENT "${ARG_ENVIRONMENT}")
      endif()
      if(ARG_FIXTURES)
        set_tests_properties(${suite}.${name} PROPERTIES FIXTURES_REQUIRED "${ARG_FIXTURES}")
      endif()
      math(EXPR found "${found} + 1")
    endforeach()
  endforeach()

  if(found EQUAL 0)
    message(FATAL_ERROR "${ARG_NAME}: no Test(suite, name) found in ${ARG_SOURCES}")
  endif()
endfunction()
