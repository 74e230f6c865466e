# The human block: its approval store and its parameters.
bl_add_criterion_tests(NAME test_blocks_approval_store
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_approval_store.c
  LIBS bl_blocks LABELS blocks tsan)
bl_add_criterion_tests(NAME test_blocks_human
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_human.c
  LIBS bl_blocks LABELS blocks tsan)
