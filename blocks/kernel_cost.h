/*
 * The cost of a kernel run, as the kernel table's entries report it.
 * Work is multiply-adds for the products and distances (sgemm,
 * pairwise_l2, knn, kmeans), and elements read for the rest. Device bytes
 * are the size of the largest tensor a run keeps on the device.
 */
#ifndef BL_BLOCKS_KERNEL_COST_H
#define BL_BLOCKS_KERNEL_COST_H

#include <beamline/kernels.h>

struct kernel_run;

double kernel_work_elements(const struct kernel_run *run);
double kernel_work_sgemm(const struct kernel_run *run);
double kernel_work_pairwise(const struct kernel_run *run);
double kernel_work_knn(const struct kernel_run *run);
double kernel_work_kmeans(const struct kernel_run *run);

double kernel_bytes_inputs(const struct kernel_run *run);
double kernel_bytes_pairwise(const struct kernel_run *run);
double kernel_bytes_sgemm(const struct kernel_run *run);

/* The k-means arguments of a run, with their defaults (kernel_table.c). */
bl_kmeans_args_t kernel_kmeans_args(const struct kernel_run *run);

#endif
