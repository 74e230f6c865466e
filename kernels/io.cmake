# Tensors, .npy files and inline JSON tensors.
add_library(bl_tensor STATIC
  tensor.c
  npy.c
  tensor_json.c
)
target_include_directories(bl_tensor PUBLIC include PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
# bl_json: the type phrases of error messages (tensor_json.c).
target_link_libraries(bl_tensor PUBLIC bl_sched bl_util PkgConfig::JANSSON PRIVATE bl_json)
bl_target_warnings(bl_tensor)
