# Warnings are errors everywhere: a warning that is tolerated once is never read again.
set(BL_C_WARNINGS
  -Wall -Wextra -Wpedantic -Werror
  -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
  -Wformat=2 -Wvla -Wundef -Wcast-qual -Wswitch-enum -Wimplicit-fallthrough)

# bl_target_warnings(TARGET): apply the project's warning set to a C target.
function(bl_target_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:${BL_C_WARNINGS}>)
endfunction()
