# CPU implementations of the kernels; BLAS through OpenBLAS.
add_library(bl_kernels_cpu STATIC
  blas.c
  cpu/histogram.c
  cpu/kmeans.c
  cpu/knn.c
  cpu/map.c
  cpu/pairwise_l2.c
  cpu/reduce.c
  cpu/sgemm.c
  cpu/softmax.c
  cpu/topk.c
)
target_include_directories(bl_kernels_cpu PUBLIC include PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(bl_kernels_cpu PUBLIC bl_tensor PRIVATE PkgConfig::OPENBLAS m)
bl_target_warnings(bl_kernels_cpu)
