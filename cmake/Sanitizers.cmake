# Sanitizer flags apply to every target, including tests and benchmarks, so a
# sanitized library is never linked into an unsanitized program.
if(BL_SANITIZE_ADDRESS)
  set(_bl_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(BL_SANITIZE_THREAD)
  set(_bl_san -fsanitize=thread -fno-omit-frame-pointer)
endif()

if(DEFINED _bl_san)
  add_compile_options(${_bl_san})
  add_link_options(${_bl_san})
endif()

# Fuzz builds instrument every library for coverage, not just the fuzz
# programs, or libFuzzer cannot see inside the code under test.
if(BL_BUILD_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
