# Tensors, .npy files and inline JSON tensors: one program per source file.
foreach(name tensor npy tensor_json)
  bl_add_criterion_tests(NAME test_kernels_${name}
    SOURCES test_${name}.c
    LIBS bl_tensor LABELS kernels)
endforeach()
