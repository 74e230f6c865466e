/*
 * BeamLine kernels: tensors, their file and JSON forms, and the CPU
 * implementation of every compute kernel.
 *
 * Conventions. Functions return 0 or a negative code from
 * <beamline/error.h> and, on failure, fill the optional bl_error_t with the
 * offending field and what was expected. Results come back through
 * out-parameters placed first, written only on success, owned by the
 * caller. Every pointer parameter is borrowed unless stated. All functions
 * may be called from any thread; kernels never block on I/O or locks, and
 * those that can run long poll a bl_cancel_t.
 *
 * Dtypes. A kernel computes in float32 when its floating inputs are all
 * float32 and in float64 otherwise; integer inputs are read as float64.
 * Labels and indices are int64. sgemm takes float32 only.
 */
#ifndef BEAMLINE_KERNELS_H
#define BEAMLINE_KERNELS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum bl_dtype {
	BL_DTYPE_F32 = 0,
	BL_DTYPE_F64,
	BL_DTYPE_I32,
	BL_DTYPE_I64,
} bl_dtype_t;

#define BL_TENSOR_DIMS_MAX 8u

/*
 * A dense tensor in C (row-major) order. `data` is 64-byte aligned and
 * owned by the tensor. A tensor with a zero in its shape has count 0 and a
 * valid (non-NULL) `data`.
 */
typedef struct bl_tensor {
	bl_dtype_t dtype;
	unsigned ndim;                      /* 0 for a scalar */
	size_t shape[BL_TENSOR_DIMS_MAX];
	size_t count;                       /* product of shape; 1 for a scalar */
	size_t nbytes;                      /* count * bl_dtype_size(dtype) */
	void *data;
} bl_tensor_t;

/* Return the size in bytes of one element, and the numpy-style name
 * ("float32", "float64", "int32", "int64"). */
size_t bl_dtype_size(bl_dtype_t dtype);
const char *bl_dtype_name(bl_dtype_t dtype);

/* Parse a dtype name as bl_dtype_name writes it. Returns 0 or BL_EINVAL. */
int bl_dtype_parse(bl_dtype_t *out, const char *name);

/*
 * Allocate a tensor of `dtype` and `shape` (ndim entries, at most
 * BL_TENSOR_DIMS_MAX), data zeroed. Returns 0 and an owned tensor in *out
 * (free with bl_tensor_free), BL_EINVAL, BL_ELIMIT when the size overflows,
 * or BL_ENOMEM. The size check covers the product of the non-zero
 * dimensions even when another dimension is zero, so an empty tensor
 * cannot have more rows than a full one could.
 */
int bl_tensor_new(bl_tensor_t **out, bl_dtype_t dtype, unsigned ndim, const size_t *shape, bl_error_t *err);

/* Free a tensor and its data. Takes *t and sets it to NULL; NULL is fine. */
void bl_tensor_free(bl_tensor_t **t);

/*
 * Copy `in` converted to `dtype` (a plain copy when the dtype matches).
 * Integer targets take values truncated toward zero. Returns 0 and an
 * owned tensor, BL_EINVAL when an element is NaN, infinite or out of the
 * range of an integer target (the message gives its flat index), or
 * BL_ENOMEM.
 */
int bl_tensor_convert(bl_tensor_t **out, const bl_tensor_t *in, bl_dtype_t dtype, bl_error_t *err);

/*
 * Copy rows [row_start, row_stop) and columns [col_start, col_stop) of a
 * 2-D tensor. A 1-D tensor has rows only, so its columns must be 0 and 1.
 * Returns 0 and an owned tensor, or BL_EINVAL naming the bound that is out
 * of range.
 */
int bl_tensor_slice(bl_tensor_t **out, const bl_tensor_t *in, size_t row_start, size_t row_stop,
		    size_t col_start, size_t col_stop, bl_error_t *err);

/* Read element `i` (flat index) as a double, whatever the dtype. */
double bl_tensor_get(const bl_tensor_t *t, size_t i);

/* ------------------------------------------------------------------------ */
/* .npy files                                                                */
/* ------------------------------------------------------------------------ */

/* Limits on what a reader accepts. */
typedef struct bl_npy_limits {
	size_t max_data_bytes;   /* largest array body */
	size_t max_header_bytes; /* largest header, magic included */
} bl_npy_limits_t;

/* Fill *lim with the defaults: 1 GiB of data, 64 KiB of header. Functions
 * that take limits use these defaults when passed NULL. */
void bl_npy_limits_init(bl_npy_limits_t *lim);

/*
 * Decode a .npy image (format versions 1.0, 2.0 and 3.0) held in memory.
 * Accepts little-endian float32, float64, int32 and int64 (descr '<f4',
 * '<f8', '<i4' or '<i8') in C order, with at most BL_TENSOR_DIMS_MAX
 * dimensions. The header must be a dict with exactly the keys descr,
 * fortran_order and shape. Anything else (big-endian, '|' or '=' byte
 * orders, Fortran order, other dtypes, object arrays, a header that does
 * not parse or disagrees with the data length) is rejected with BL_EFORMAT
 * and a message naming what was found and what is accepted. A header or a
 * body over the limits is rejected with BL_ELIMIT; for an empty array the
 * body limit applies to the product of its non-zero dimensions.
 */
int bl_npy_decode(bl_tensor_t **out, const void *buf, size_t len, const bl_npy_limits_t *lim,
		  bl_error_t *err);

/*
 * Read a .npy file at `path`, resolved beneath the directory `dirfd` with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): no absolute path, no
 * "..", no symbolic link may leave that directory. Errors as
 * bl_npy_decode, plus -ENOENT, -EXDEV (the path escapes), -ELOOP (a magic
 * link such as /proc/self/fd/N), -EISDIR, BL_EINVAL for another file that
 * is not regular (a FIFO is never waited on), BL_ELIMIT for a file larger
 * than both limits together (checked before anything is allocated), and
 * other negative errno values from the system (-ENOSYS before Linux 5.6,
 * which has no openat2), always with the path in err->field.
 */
int bl_npy_read(bl_tensor_t **out, int dirfd, const char *path, const bl_npy_limits_t *lim, bl_error_t *err);

/* Encode `t` as a version 1.0 .npy image. Returns 0 with an owned buffer in
 * *buf (free with free()) and its length in *len, BL_ENOMEM, or BL_EINVAL
 * for a tensor with an unknown dtype or more than BL_TENSOR_DIMS_MAX
 * dimensions. */
int bl_npy_encode(void **buf, size_t *len, const bl_tensor_t *t, bl_error_t *err);

/*
 * Write `t` as a .npy file at `path` beneath `dirfd` (resolved as in
 * bl_npy_read), atomically. The data goes to a temporary file in the same
 * directory, named ".<name>.<random>.tmp", and is flushed with fsync. The
 * file is then renamed over `path` and the directory flushed, so a crash
 * never leaves a partial file under that name. On failure the temporary
 * file is removed and an existing file at `path` keeps its old content.
 * Returns 0, BL_EINVAL when the path does not end with a file name, or
 * another negative code, with the path in err->field.
 */
int bl_npy_write(const bl_tensor_t *t, int dirfd, const char *path, bl_error_t *err);

/* ------------------------------------------------------------------------ */
/* Tensors as JSON                                                           */
/* ------------------------------------------------------------------------ */

/* Limits on inline JSON tensors. */
typedef struct bl_json_tensor_limits {
	size_t max_elements;
	unsigned max_depth; /* nesting of arrays, at most BL_TENSOR_DIMS_MAX */
} bl_json_tensor_limits_t;

/* Fill *lim with the defaults: 65,536 elements, depth 8.
 * bl_tensor_from_json uses these defaults when passed NULL. */
void bl_json_tensor_limits_init(bl_json_tensor_limits_t *lim);

/*
 * Build a tensor from nested JSON arrays of numbers (a bare number is a
 * scalar, [] a 1-D tensor of 0 elements). The arrays must be rectangular.
 * The dtype is `dtype`, or, when `dtype` is NULL, int64 when every number
 * is a JSON integer (written without '.' or exponent) and float64
 * otherwise. `field` names the value in errors ("params.inputs.a").
 * Returns 0 and an owned tensor, or an error with the JSON path of the
 * first offending element in document order ("params.inputs.a[3][1]"):
 *   BL_EFORMAT  a ragged array or a non-number;
 *   BL_EINVAL   a value the dtype cannot hold (out of range, or not an
 *               integer for int32 and int64), or an unknown `dtype`;
 *   BL_ELIMIT   more elements or deeper nesting than `lim` allows (a
 *               max_depth above BL_TENSOR_DIMS_MAX counts as that);
 *   BL_ENOMEM.
 */
int bl_tensor_from_json(bl_tensor_t **out, const json_t *value, const bl_dtype_t *dtype,
			const bl_json_tensor_limits_t *lim, const char *field, bl_error_t *err);

/* Return `t` as nested JSON arrays (new reference), or NULL when memory
 * runs out. NaN and infinities, which JSON cannot hold, become null. */
json_t *bl_tensor_to_json(const bl_tensor_t *t);

/* ------------------------------------------------------------------------ */
/* Cancellation                                                              */
/* ------------------------------------------------------------------------ */

/* Set by whoever owns the work; long kernels poll it and stop early with
 * BL_ECANCELED. */
typedef struct bl_cancel {
	bool _Atomic requested;
} bl_cancel_t;

static inline bool bl_cancel_requested(const bl_cancel_t *c)
{
	return c && atomic_load_explicit(&c->requested, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* CPU kernels                                                               */
/* ------------------------------------------------------------------------ */

/*
 * C = alpha * op(A) * op(B) + beta * C through OpenBLAS's cblas_sgemm, on
 * rows [row_start, row_stop) of C only, so that callers can split one
 * product over workers; other rows are not touched. A is M x K (K x M
 * when trans_a), B is K x N (N x K when trans_b), C is M x N, all float32;
 * `c` must already exist with that shape. As in BLAS, beta 0 does not read
 * C, so NaN already there does not reach the result. Returns 0, BL_EINVAL
 * for mismatched shapes or dtypes (the message gives both shapes) or a
 * row range outside [0, M], or BL_ELIMIT for a dimension above INT_MAX,
 * which OpenBLAS's int interface cannot take. The call does not poll a
 * bl_cancel_t; callers that need to cancel split C into row ranges.
 * NOTE: Debian's OpenBLAS (pthread build) runs large products on its own
 * threads, one per core unless OPENBLAS_NUM_THREADS says otherwise, so
 * workers that split one product by rows compete with those threads for
 * the cores. Setting OPENBLAS_NUM_THREADS=1 avoids that.
 */
typedef struct bl_sgemm_args {
	float alpha;
	float beta;
	bool trans_a;
	bool trans_b;
} bl_sgemm_args_t;

int bl_cpu_sgemm_rows(bl_tensor_t *c, const bl_tensor_t *a, const bl_tensor_t *b, const bl_sgemm_args_t *args,
		      size_t row_start, size_t row_stop, bl_error_t *err);

/* Check the shapes and dtypes of an sgemm and return M, N and K. Returns 0,
 * BL_EINVAL or BL_ELIMIT as bl_cpu_sgemm_rows does. */
int bl_sgemm_dims(size_t *m, size_t *n, size_t *k, const bl_tensor_t *a, const bl_tensor_t *b,
		  const bl_sgemm_args_t *args, bl_error_t *err);

typedef enum bl_map_op {
	BL_MAP_ADD = 0, /* x + y */
	BL_MAP_MUL,     /* x * y */
	BL_MAP_SCALE,   /* x * scalar */
	BL_MAP_RELU,    /* max(x, 0) */
	BL_MAP_GELU,    /* x * Phi(x), the exact form with erf */
	BL_MAP_EXP,     /* e^x */
} bl_map_op_t;

/* Parse "add", "mul", "scale", "relu", "gelu", "exp". Returns 0 or
 * BL_EINVAL. */
int bl_map_op_parse(bl_map_op_t *out, const char *name);

/*
 * Elementwise `op`. ADD and MUL take `y` of the same shape as `x` or with a
 * single element (broadcast); the others ignore `y`, which may be NULL.
 * SCALE uses `scalar`, which does not count as a float64 input. NaN stays
 * NaN through every op, RELU included. Returns 0 and an owned tensor of
 * x's shape, or BL_EINVAL (an unknown op, y missing or of another shape).
 */
int bl_cpu_map(bl_tensor_t **out, bl_map_op_t op, const bl_tensor_t *x, const bl_tensor_t *y, double scalar,
	       bl_error_t *err);

typedef enum bl_reduce_op {
	BL_REDUCE_SUM = 0,
	BL_REDUCE_MAX,
	BL_REDUCE_MIN,
	BL_REDUCE_MEAN,
} bl_reduce_op_t;

/* Parse "sum", "max", "min", "mean". Returns 0 or BL_EINVAL. */
int bl_reduce_op_parse(bl_reduce_op_t *out, const char *name);

/*
 * Reduce `x` along `axis` (0 .. ndim-1; negative counts from the end), or
 * over every element when `all` is set (the result is then a scalar and
 * `axis` is ignored). The result has x's shape without the reduced axis.
 * Sums accumulate in float64 (pairwise, so float32 input does not lose
 * precision on long axes). NaN in a line makes every op on that line NaN.
 * MAX, MIN and MEAN of an empty axis are BL_EINVAL; a SUM over nothing is
 * 0. A scalar x has no axis and needs `all`. Returns 0 and an owned
 * tensor, or BL_EINVAL.
 */
int bl_cpu_reduce(bl_tensor_t **out, bl_reduce_op_t op, const bl_tensor_t *x, int axis, bool all,
		  bl_error_t *err);

/*
 * Row-wise softmax of a 1-D or 2-D tensor, computed stably (each row's
 * maximum is subtracted first). A row that contains NaN, or whose elements
 * are all -inf, becomes NaN throughout. In a row that contains +inf, the
 * +inf elements share 1 equally and the others get 0. Returns 0 and an
 * owned tensor of x's shape, or BL_EINVAL for another rank.
 */
int bl_cpu_softmax(bl_tensor_t **out, const bl_tensor_t *x, bl_error_t *err);

/*
 * Histogram of every element of `x` in `bins` equal-width bins over
 * [lo, hi]; the last bin includes hi, values outside are not counted.
 * Without `range`, lo and hi are the minimum and maximum of x's non-NaN
 * elements. NaN is not counted. A range of zero width becomes
 * [lo - 0.5, hi + 0.5]. Each element is counted in the bin whose edges
 * hold it, edge[i] <= v < edge[i + 1]. Returns 0, owned counts (int64,
 * [bins]) and edges (float64, [bins + 1]), or BL_EINVAL (bins 0, lo > hi,
 * a bound that is not finite or a width that overflows, x empty or all
 * NaN without a range).
 */
int bl_cpu_histogram(bl_tensor_t **counts, bl_tensor_t **edges, const bl_tensor_t *x, size_t bins, bool range,
		     double lo, double hi, bl_error_t *err);

/*
 * Euclidean distances between the rows of x (n x d) and y (m x d); y NULL
 * means y = x, and the result is then exactly symmetric. `squared` skips
 * the square root. Differences are squared and summed directly in float64,
 * so close points keep their precision. A NaN in a row makes that row's
 * distances NaN. Returns 0 and an owned n x m tensor, BL_EINVAL when an
 * input is not 2-D or the widths differ, or BL_ECANCELED (polled between
 * rows).
 */
int bl_cpu_pairwise_l2(bl_tensor_t **out, const bl_tensor_t *x, const bl_tensor_t *y, bool squared,
		       const bl_cancel_t *cancel, bl_error_t *err);

/*
 * The k largest (or smallest) elements of each row of a 2-D tensor (a 1-D
 * tensor is one row), sorted best first; ties go to the lower index. NaN
 * ranks after every number whether the largest or the smallest are
 * asked for. int64 values are compared as integers. Returns 0, owned
 * values (x's dtype, [rows, k] or [k]) and indices (int64, same shape), or
 * BL_EINVAL when k is 0 or larger than the row, or x is not 1-D or 2-D.
 */
int bl_cpu_topk(bl_tensor_t **values, bl_tensor_t **indices, const bl_tensor_t *x, size_t k, bool largest,
		bl_error_t *err);

typedef struct bl_kmeans_args {
	size_t k;
	unsigned max_iterations; /* Lloyd iterations per start */
	double tolerance;        /* stop when no centroid moves further */
	uint64_t seed;           /* for k-means++ seeding; same seed, same result */
	unsigned starts;         /* independent starts; the lowest inertia wins */
} bl_kmeans_args_t;

typedef struct bl_kmeans_result {
	bl_tensor_t *centroids; /* k x d, float64 */
	bl_tensor_t *labels;    /* n, int64 */
	double inertia;         /* sum of squared distances to the centroids */
	unsigned iterations;    /* iterations of the winning start */
} bl_kmeans_result_t;

/*
 * k-means of the rows of x (n x d), computed in float64: k-means++
 * seeding, then Lloyd iterations, repeated `starts` times. A row goes to
 * the nearest centroid, the lower index on a tie. A cluster left empty is
 * re-seeded with the row farthest from its centroid. The labels and
 * inertia returned describe the final centroids. Deterministic for a
 * given seed. Returns 0 and the owned result (free with
 * bl_kmeans_result_free), BL_EINVAL (x not 2-D or not finite, k 0 or
 * above n, starts 0, tolerance negative or NaN), or BL_ECANCELED (polled
 * between rows and iterations).
 */
int bl_cpu_kmeans(bl_kmeans_result_t *out, const bl_tensor_t *x, const bl_kmeans_args_t *args,
		  const bl_cancel_t *cancel, bl_error_t *err);

/* Free the tensors of a result and set them to NULL; NULL is fine. */
void bl_kmeans_result_free(bl_kmeans_result_t *r);

/*
 * k-nearest-neighbour classification: each row of test_x (m x d) gets the
 * label held by most of its k nearest rows of train_x (n x d). Distances
 * are Euclidean, computed in float64, and at equal distance the lower
 * training index is nearer. A tie in votes goes to the label whose
 * nearest member is closest, then to the smaller label. train_y holds n
 * integer labels (int32 or int64, 1-D). Returns 0 and owned predictions
 * (int64, [m]), BL_EINVAL (k 0 or above n, shapes or dtypes that do not
 * fit, features that are not finite), or BL_ECANCELED (polled between
 * test rows).
 */
int bl_cpu_knn(bl_tensor_t **predictions, const bl_tensor_t *train_x, const bl_tensor_t *train_y,
	       const bl_tensor_t *test_x, size_t k, const bl_cancel_t *cancel, bl_error_t *err);

/*
 * Adjusted Rand index between two labellings of the same n items (integer
 * tensors of n elements): 1 for identical partitions, about 0 for random
 * ones, negative for worse than random (Hubert and Arabie, 1985). Returns 0
 * with the index in *out, or BL_EINVAL when the shapes differ or a tensor
 * is not integer. With fewer than two items, or both labellings putting
 * every item in one cluster, the index is 1.
 */
int bl_adjusted_rand_index(double *out, const bl_tensor_t *a, const bl_tensor_t *b, bl_error_t *err);

/* ------------------------------------------------------------------------ */
/* BLAS                                                                      */
/* ------------------------------------------------------------------------ */

/* Return the name of the OpenBLAS kernel set in use, as OpenBLAS reports
 * it ("SkylakeX", "Haswell", "Prescott", ...). */
const char *bl_blas_core_name(void);

/*
 * Make OpenBLAS run each call on the calling thread only. The engine splits
 * large products over its own CPU workers; OpenBLAS threads on top of them
 * would compete for the same cores. Affects the whole process.
 */
void bl_blas_single_threaded(void);

#ifdef __cplusplus
}
#endif

#endif
