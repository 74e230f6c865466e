/*
 * OpenBLAS kernel selection, internal to the engine.
 */
#ifndef BEAMLINE_KERNELS_BLAS_H
#define BEAMLINE_KERNELS_BLAS_H

/*
 * Return the OPENBLAS_CORETYPE value ("SkylakeX", "Haswell" or
 * "Sandybridge") of the fastest OpenBLAS kernel set that this CPU supports,
 * when that set is faster than the one OpenBLAS picked at load time, and
 * NULL otherwise. NULL also comes back when OpenBLAS reports a name this
 * function does not rank.
 *
 * OpenBLAS reads OPENBLAS_CORETYPE only when the library loads, so a
 * caller that wants the better set re-executes itself with the variable
 * set. That caller must not loop: when the variable is already set and
 * this still returns non-NULL, OpenBLAS has rejected the value.
 *
 * Safe from any thread.
 */
const char *bl__blas_better_coretype(void);

#endif
