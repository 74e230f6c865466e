# The cancel hook that tells an I/O block's actor about a cancellation.
bl_add_criterion_tests(NAME test_blocks_cancel_hook
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cancel_hook.c
  LIBS bl_blocks LABELS blocks tsan)
