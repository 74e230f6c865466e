# Device kernels on OpenCL: devices, programs, launches, and the host side
# of each kernel. The OpenCL C sources (*.cl) are compiled into the library
# as strings, so an installed engine needs no source tree.
find_package(OpenCL REQUIRED)
pkg_check_modules(CLBLAST REQUIRED IMPORTED_TARGET clblast)

# Every bundled OpenCL C file; gpu/embed.cmake turns each into a string.
set(BL_GPU_CL_FILES
  histogram.cl
  kmeans.cl
  knn.cl
  map.cl
  noop.cl
  pairwise_l2.cl
  reduce.cl
  softmax.cl
  topk.cl
)

set(bl_gpu_sources_c "${CMAKE_CURRENT_BINARY_DIR}/gpu_sources.c")
add_custom_command(
  OUTPUT "${bl_gpu_sources_c}"
  COMMAND ${CMAKE_COMMAND} -DOUT=${bl_gpu_sources_c} -DDIR=${CMAKE_CURRENT_SOURCE_DIR}
          "-DFILES=${BL_GPU_CL_FILES}" -P ${CMAKE_CURRENT_SOURCE_DIR}/gpu/embed.cmake
  DEPENDS ${BL_GPU_CL_FILES} gpu/embed.cmake
  COMMENT "Embedding the OpenCL C sources"
  VERBATIM)

add_library(bl_kernels_gpu STATIC
  gpu/describe.c
  gpu/device.c
  gpu/error.c
  gpu/grid.c
  gpu/histogram.c
  gpu/kmeans.c
  gpu/knn.c
  gpu/launch.c
  gpu/map.c
  gpu/noop.c
  gpu/pairwise_l2.c
  gpu/program.c
  gpu/real.c
  gpu/reduce.c
  gpu/sgemm.c
  gpu/softmax.c
  gpu/topk.c
  gpu/warm.c
  "${bl_gpu_sources_c}"
)
target_include_directories(bl_kernels_gpu PUBLIC include PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} gpu)
target_compile_definitions(bl_kernels_gpu PUBLIC CL_TARGET_OPENCL_VERSION=120)
target_link_libraries(bl_kernels_gpu PUBLIC bl_tensor OpenCL::OpenCL
                      PRIVATE bl_kernels_cpu PkgConfig::CLBLAST Threads::Threads m)
bl_target_warnings(bl_kernels_gpu)
