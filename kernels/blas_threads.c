#include <cblas.h>

#include <beamline/kernels.h>

void bl_blas_single_threaded(void)
{
	openblas_set_num_threads(1);
}
