# Device kernels on the machine's first OpenCL device (PoCL in CI), each
# against its CPU counterpart. Program caches go to the build folder, so a
# test run never writes to the user's home. The tests skip where the
# machine has no OpenCL device.
set(BL_GPU_TESTS
  describe
  histogram
  kmeans
  knn
  launch
  map
  pairwise_l2
  reduce
  sgemm
  softmax
  topk
)

add_library(bl_gpu_test STATIC gpu/gpu_test.c)
target_link_libraries(bl_gpu_test PUBLIC bl_kernels_gpu bl_kernels_cpu)
if(BL_SANITIZE_THREAD)
  target_include_directories(bl_gpu_test BEFORE PRIVATE ${_bl_criterion_shim_dir})
else()
  target_link_libraries(bl_gpu_test PRIVATE PkgConfig::CRITERION)
endif()
bl_target_warnings(bl_gpu_test)



foreach(name IN LISTS BL_GPU_TESTS)
  bl_add_criterion_tests(NAME test_kernels_gpu_${name}
    SOURCES gpu/test_gpu_${name}.c
    LIBS bl_gpu_test LABELS kernels gpu TIMEOUT 600
    ENVIRONMENT ${bl_gpu_test_env})
  target_include_directories(test_kernels_gpu_${name} PRIVATE gpu)
endforeach()

# k-means and knn also run on the published example tables, as their CPU
# tests do: iris.csv, and digits.csv.gz through zlib.
foreach(name kmeans knn)
  target_compile_definitions(test_kernels_gpu_${name} PRIVATE
    BL_EXAMPLES_DATA="${PROJECT_SOURCE_DIR}/examples/data")
endforeach()
target_link_libraries(test_kernels_gpu_knn PRIVATE ZLIB::ZLIB)
