# CPU kernels: one program per kernel, each checked against a reference
# written in the test. kmeans and knn read the published example tables
# (iris.csv, and digits.csv.gz through zlib).
find_package(ZLIB REQUIRED)
foreach(name sgemm map reduce softmax histogram pairwise_l2 topk kmeans knn)
  bl_add_criterion_tests(NAME test_kernels_${name}
    SOURCES test_${name}.c
    LIBS bl_kernels_cpu LABELS kernels)
endforeach()
foreach(name kmeans knn)
  target_compile_definitions(test_kernels_${name} PRIVATE
    BL_EXAMPLES_DATA="${PROJECT_SOURCE_DIR}/examples/data")
endforeach()
target_link_libraries(test_kernels_knn PRIVATE ZLIB::ZLIB)

# BLAS core selection, built against the internal kernels/blas.h. OpenBLAS
# reads OPENBLAS_CORETYPE only when it loads, so each test that forces a
# kernel set gets the variable from CTest; run by hand, those tests skip.
bl_add_criterion_tests(NAME test_kernels_blas
  SOURCES test_blas.c
  LIBS bl_kernels_cpu LABELS kernels)
target_include_directories(test_kernels_blas PRIVATE ${PROJECT_SOURCE_DIR}/kernels)
set_tests_properties(kernels_blas.prescott_upgrades_to_best PROPERTIES ENVIRONMENT OPENBLAS_CORETYPE=Prescott)
set_tests_properties(kernels_blas.haswell_upgrades_only_with_avx512 PROPERTIES ENVIRONMENT OPENBLAS_CORETYPE=Haswell)
set_tests_properties(kernels_blas.skylakex_needs_no_change PROPERTIES ENVIRONMENT OPENBLAS_CORETYPE=SkylakeX)
