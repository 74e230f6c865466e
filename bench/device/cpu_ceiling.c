/*
 * The machine's own ceiling for the histogram and softmax on a CPU device:
 * the same work as the memory-bound section's kernels, written by hand in
 * AVX2 C and run on as many threads as the device has compute units. Each
 * run follows a triad run on the device, and the ratio is taken as in
 * memory_bound.c, so the two sections' ratios compare directly. What this
 * code reaches is what the processor allows for that work, apart from
 * what the OpenCL compiler makes of the kernels.
 *
 * The histogram bins as the device's CPU form does, with a guess checked
 * against a computed edge. It then counts in one of two ways: into four
 * arrays of counters in turn, as work item 0 does on the device, or by
 * pairs of elements into a 65 x 65 table, which halves the
 * read-modify-writes. Softmax takes each row's maximum, then writes and
 * sums exp(v - max), then scales the row, with the device's polynomial
 * exp. Results are checked against the engine's CPU kernels.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kernels.h>

#include "device_bench.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define CEILING_X86 1
#else
#define CEILING_X86 0
#endif

#define CEILING_THREADS_MAX 256u
#define CEILING_ROWS 4096u
#define CEILING_BINS 64u

/* Elements binned at a time before they are counted, and the slot that
 * an element outside [-1, 1] or NaN gets. */
#define PIECE 1024u
#define OUTSIDE CEILING_BINS
#define SLOTS (CEILING_BINS + 1u)

/* ------------------------------------------------------------------------ */
/* Threads that run one function over slices of the work                    */
/* ------------------------------------------------------------------------ */

typedef void (*slice_fn)(void *arg, unsigned index, unsigned count);

typedef struct slice_call {
	slice_fn fn;
	void *arg;
	unsigned index;
	unsigned count;
} slice_call_t;

static void *slice_main(void *ptr)
{
	slice_call_t *call = ptr;
	call->fn(call->arg, call->index, call->count);
	return NULL;
}

/* Run fn(arg, i, count) for every i below count, slice 0 on the calling
 * thread and the others on threads of their own. Thread start-up (tens
 * of microseconds) is timed with the work, which takes milliseconds.
 * Returns the wall time in milliseconds, or -1 when a thread could not
 * start (the slices that did start are waited for). */
static double run_slices(slice_fn fn, void *arg, unsigned count)
{
	pthread_t threads[CEILING_THREADS_MAX];
	slice_call_t calls[CEILING_THREADS_MAX];
	unsigned started = 1;

	double start = bench_now_ms();
	for (; started < count; started++) {
		calls[started] = (slice_call_t){fn, arg, started, count};
		if (pthread_create(&threads[started], NULL, slice_main, &calls[started]) != 0)
			break;
	}
	if (started == count)
		fn(arg, 0, count);
	for (unsigned i = 1; i < started; i++)
		pthread_join(threads[i], NULL);
	double ms = bench_now_ms() - start;

	return started == count ? ms : -1;
}

/* ------------------------------------------------------------------------ */
/* The work, in AVX2                                                        */
/* ------------------------------------------------------------------------ */

#if CEILING_X86
#define AVX2 __attribute__((target("avx2,fma")))

/* Return the slots of the 8 floats at p for 64 bins over [-1, 1]: the
 * bin, found as the device's CPU form finds it, or OUTSIDE. */
AVX2 static __m256i bin8(const float *p)
{
	const __m256 lo = _mm256_set1_ps(-1.0f);
	const __m256 top = _mm256_set1_ps(1.0f);
	__m256 v = _mm256_loadu_ps(p);

	__m256 guess = _mm256_mul_ps(_mm256_sub_ps(v, lo), _mm256_set1_ps((float)CEILING_BINS / 2));
	guess = _mm256_max_ps(guess, _mm256_setzero_ps()); /* NaN becomes 0 */
	guess = _mm256_min_ps(guess, _mm256_set1_ps((float)CEILING_BINS));
	__m256i nearest = _mm256_cvttps_epi32(_mm256_add_ps(guess, _mm256_set1_ps(0.5f)));

	__m256 edge = _mm256_fmadd_ps(_mm256_cvtepi32_ps(nearest), _mm256_set1_ps(2.0f / CEILING_BINS), lo);
	__m256i below = _mm256_castps_si256(_mm256_cmp_ps(v, edge, _CMP_LT_OQ));
	__m256i bin = _mm256_min_epi32(_mm256_add_epi32(nearest, below), _mm256_set1_epi32(CEILING_BINS - 1));

	__m256 inside = _mm256_and_ps(_mm256_cmp_ps(v, lo, _CMP_GE_OQ), _mm256_cmp_ps(v, top, _CMP_LE_OQ));
	return _mm256_blendv_epi8(_mm256_set1_epi32(OUTSIDE), bin, _mm256_castps_si256(inside));
}

/* Count the PIECE elements at p into four arrays of SLOTS counters in
 * `table`, element t into array t % 4, so that neighbours of one bin do
 * not wait on each other. */
AVX2 static void count_four_ways(const float *p, uint32_t *table)
{
	uint32_t(*ways)[SLOTS] = (uint32_t(*)[SLOTS])table;
	uint8_t slots[PIECE];
	for (unsigned k = 0; k < PIECE; k += 8) {
		__m256i s = bin8(p + k);
		__m128i words = _mm_packus_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
		_mm_storel_epi64((__m128i *)(slots + k), _mm_packus_epi16(words, words));
	}

	for (unsigned t = 0; t < PIECE; t += 4) {
		ways[0][slots[t]]++;
		ways[1][slots[t + 1]]++;
		ways[2][slots[t + 2]]++;
		ways[3][slots[t + 3]]++;
	}
}

/* Count the PIECE elements at p by pairs: element k + j (j < 8) of each
 * 16 with element k + 8 + j, into pairs[first * SLOTS + second]. */
AVX2 static void count_pairs(const float *p, uint32_t *pairs)
{
	uint16_t index[PIECE / 2];
	for (unsigned k = 0; k < PIECE; k += 16) {
		__m256i first = bin8(p + k);
		__m256i second = bin8(p + k + 8);
		__m256i pair = _mm256_add_epi32(_mm256_mullo_epi32(first, _mm256_set1_epi32(SLOTS)), second);
		__m128i words = _mm_packus_epi32(_mm256_castsi256_si128(pair), _mm256_extracti128_si256(pair, 1));
		_mm_storeu_si128((__m128i *)(index + k / 2), words);
	}

	for (unsigned t = 0; t < PIECE / 2; t += 2) {
		pairs[index[t]]++;
		pairs[index[t + 1]]++;
	}
}

/* Return exp(x) for x <= 0, computed as exp_nonpositive in softmax.cl. */
AVX2 static __m256 exp_nonpositive8(__m256 x)
{
	const __m256 magic = _mm256_set1_ps(12582912.0f);
	__m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), magic);
	__m256 n = _mm256_sub_ps(shifted, magic);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);

	static const float coefficients[] = {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
	__m256 poly = _mm256_set1_ps(1.0f / 720);
	for (size_t i = 0; i < sizeof coefficients / sizeof *coefficients; i++)
		poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(coefficients[i]));

	__m256i biased = _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic)),
					  _mm256_set1_epi32(127));
	__m256 scaled = _mm256_mul_ps(poly, _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23)));
	__m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33f), _CMP_LT_OQ);
	return _mm256_andnot_ps(underflow, scaled);
}

/* Return the largest of the 8 lanes of v. */
AVX2 static float lanes_max(__m256 v)
{
	float lanes[8];
	_mm256_storeu_ps(lanes, v);
	float top = lanes[0];
	for (int i = 1; i < 8; i++)
		top = fmaxf(top, lanes[i]);
	return top;
}

/* Return the sum of the 8 lanes of v. */
AVX2 static float lanes_sum(__m256 v)
{
	float lanes[8];
	_mm256_storeu_ps(lanes, v);
	float sum = 0;
	for (int i = 0; i < 8; i++)
		sum += lanes[i];
	return sum;
}

/* Write the softmax of a row of `cols` finite floats (a multiple of 8) to
 * out: the maximum, then e = exp(v - max) written and summed, then
 * e / sum. */
AVX2 static void softmax_row(const float *x, float *out, size_t cols)
{
	__m256 m0 = _mm256_set1_ps(-__builtin_inff());
	__m256 m1 = m0;
	size_t j = 0;
	for (; j + 16 <= cols; j += 16) {
		m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + j));
		m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + j + 8));
	}
	for (; j < cols; j += 8)
		m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + j));
	__m256 top = _mm256_set1_ps(lanes_max(_mm256_max_ps(m0, m1)));

	__m256 s0 = _mm256_setzero_ps();
	__m256 s1 = s0;
	for (j = 0; j + 16 <= cols; j += 16) {
		__m256 e0 = exp_nonpositive8(_mm256_sub_ps(_mm256_loadu_ps(x + j), top));
		__m256 e1 = exp_nonpositive8(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), top));
		_mm256_storeu_ps(out + j, e0);
		_mm256_storeu_ps(out + j + 8, e1);
		s0 = _mm256_add_ps(s0, e0);
		s1 = _mm256_add_ps(s1, e1);
	}
	for (; j < cols; j += 8) {
		__m256 e = exp_nonpositive8(_mm256_sub_ps(_mm256_loadu_ps(x + j), top));
		_mm256_storeu_ps(out + j, e);
		s0 = _mm256_add_ps(s0, e);
	}

	__m256 inverse = _mm256_set1_ps(1.0f / lanes_sum(_mm256_add_ps(s0, s1)));
	for (j = 0; j < cols; j += 8)
		_mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_loadu_ps(out + j), inverse));
}
#endif

/* ------------------------------------------------------------------------ */
/* Slices                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct ceiling_job {
	const float *x;
	size_t n; /* a multiple of PIECE */
	size_t cols;
	float *out;
	uint32_t *tables; /* SLOTS * SLOTS counters per thread */
} ceiling_job_t;

#if CEILING_X86
/* Return the first of the `parts` parts of `total` items that part
 * `index` gets. Only the AVX2 slices use it, and an unused static
 * function fails the build under -Werror elsewhere. */
static size_t part_start(size_t total, unsigned index, unsigned parts)
{
	return total * index / parts;
}

/* Count the pieces of thread `index`'s part of the input with
 * count_piece into the thread's table. */
static void histogram_slice(ceiling_job_t *job, unsigned index, unsigned count,
			    void (*count_piece)(const float *p, uint32_t *table))
{
	uint32_t *table = job->tables + (size_t)index * SLOTS * SLOTS;
	memset(table, 0, SLOTS * SLOTS * sizeof *table);

	size_t pieces = job->n / PIECE;
	for (size_t i = part_start(pieces, index, count); i < part_start(pieces, index + 1, count); i++)
		count_piece(job->x + i * PIECE, table);
}
#endif

static void histogram_four_ways_slice(void *arg, unsigned index, unsigned count)
{
#if CEILING_X86
	histogram_slice(arg, index, count, count_four_ways);
#else
	(void)arg, (void)index, (void)count;
#endif
}

static void histogram_pairs_slice(void *arg, unsigned index, unsigned count)
{
#if CEILING_X86
	histogram_slice(arg, index, count, count_pairs);
#else
	(void)arg, (void)index, (void)count;
#endif
}

static void softmax_slice(void *arg, unsigned index, unsigned count)
{
#if CEILING_X86
	ceiling_job_t *job = arg;
	for (size_t r = part_start(CEILING_ROWS, index, count); r < part_start(CEILING_ROWS, index + 1, count); r++)
		softmax_row(job->x + r * job->cols, job->out + r * job->cols, job->cols);
#else
	(void)arg, (void)index, (void)count;
#endif
}

/* ------------------------------------------------------------------------ */
/* Checks against the engine's CPU kernels                                  */
/* ------------------------------------------------------------------------ */

typedef enum ceiling_work { WORK_FOUR_WAYS, WORK_PAIRS, WORK_SOFTMAX } ceiling_work_t;

/* Add one thread's four arrays of counters into bins[CEILING_BINS]. */
static void fold_four_ways(uint64_t *bins, const uint32_t *table)
{
	for (unsigned i = 0; i < 4 * SLOTS; i++)
		if (i % SLOTS != OUTSIDE)
			bins[i % SLOTS] += table[i];
}

/* Add one thread's table of pairs into bins[CEILING_BINS]: each pair
 * counts once for each of its two slots. */
static void fold_pairs(uint64_t *bins, const uint32_t *table)
{
	for (unsigned i = 0; i < SLOTS * SLOTS; i++) {
		if (i / SLOTS != OUTSIDE)
			bins[i / SLOTS] += table[i];
		if (i % SLOTS != OUTSIDE)
			bins[i % SLOTS] += table[i];
	}
}

/* Add the counters of `threads` tables into bins[CEILING_BINS]. */
static void fold_tables(uint64_t *bins, const uint32_t *tables, unsigned threads, ceiling_work_t work)
{
	memset(bins, 0, CEILING_BINS * sizeof *bins);
	for (unsigned t = 0; t < threads; t++) {
		const uint32_t *table = tables + (size_t)t * SLOTS * SLOTS;
		if (work == WORK_FOUR_WAYS)
			fold_four_ways(bins, table);
		else
			fold_pairs(bins, table);
	}
}

/* What the engine's CPU kernels give for the input: the histogram's
 * counts and the softmax of its rows. */
typedef struct expected {
	bl_tensor_t *counts;
	bl_tensor_t *edges;
	bl_tensor_t *softmax;
} expected_t;

static int expected_results(expected_t *want, const bl_tensor_t *x, size_t cols, bl_error_t *err)
{
	bl_tensor_t rows = *x; /* the same data seen as CEILING_ROWS rows */
	rows.ndim = 2;
	rows.shape[0] = CEILING_ROWS;
	rows.shape[1] = cols;

	int rc = bl_cpu_histogram(&want->counts, &want->edges, x, CEILING_BINS, true, -1.0, 1.0, err);
	if (rc == 0)
		rc = bl_cpu_softmax(&want->softmax, &rows, err);
	return rc;
}

/* Compare the warm-up run's result of `work` with the engine's. */
static int check_result(const ceiling_job_t *job, const bl_tensor_t *out, unsigned threads, ceiling_work_t work,
			const expected_t *want, bl_error_t *err)
{
	if (work == WORK_SOFTMAX) {
		double diff = bench_max_rel_diff(out, want->softmax);
		if (!(diff <= 1e-4))
			return bl_error_set(err, BL_EINVAL, NULL, "softmax differs from the engine's by %g",
					    diff);
		return 0;
	}

	uint64_t bins[CEILING_BINS];
	fold_tables(bins, job->tables, threads, work);
	const int64_t *counts = want->counts->data;
	for (unsigned b = 0; b < CEILING_BINS; b++)
		if ((int64_t)bins[b] != counts[b])
			return bl_error_set(err, BL_EINVAL, NULL,
					    "histogram bin %u counted %llu, the engine %lld", b,
					    (unsigned long long)bins[b], (long long)counts[b]);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The section                                                              */
/* ------------------------------------------------------------------------ */

typedef struct ceiling_case {
	const char *name;
	slice_fn fn;
	ceiling_work_t work;
} ceiling_case_t;

static const ceiling_case_t cases[] = {
	{"histogram, four counter arrays", histogram_four_ways_slice, WORK_FOUR_WAYS},
	{"histogram, counted by pairs", histogram_pairs_slice, WORK_PAIRS},
	{"softmax, 4096 rows", softmax_slice, WORK_SOFTMAX},
};

/* Return why the section cannot run here, or NULL. */
static const char *skip_reason(const bench_t *b, size_t cols)
{
	cl_device_type type = 0;
	clGetDeviceInfo(bl_gpu_device_id(b->gpu), CL_DEVICE_TYPE, sizeof type, &type, NULL);
	if (!(type & CL_DEVICE_TYPE_CPU))
		return "the device is not a CPU";
#if CEILING_X86
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
		return "the CPU has no AVX2 and FMA";
#else
	return "the hand-written code is for x86-64 with AVX2";
#endif
	if (cols == 0)
		return "the device's largest buffer is too small for 4096 rows";
	return NULL;
}

static unsigned device_threads(const bench_t *b)
{
	cl_uint units = 1;
	clGetDeviceInfo(bl_gpu_device_id(b->gpu), CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
	if (units < 1)
		return 1;
	return units < CEILING_THREADS_MAX ? units : CEILING_THREADS_MAX;
}

/* Run one case once to warm up and check it, then `reps` pairs of a
 * triad run and a run of the case. */
static int bench_case(json_t **out, const bench_t *b, const ceiling_case_t *c, ceiling_job_t *job,
		      const bl_tensor_t *result, unsigned threads, const expected_t *want, bench_triad_t *triad,
		      bl_error_t *err)
{
	double bytes = c->work == WORK_SOFTMAX ? 2.0 * (double)job->n * sizeof(float)
					       : (double)job->n * sizeof(float) + CEILING_BINS * sizeof(int64_t);
	double ms[BENCH_REPS_MAX], gbps[BENCH_REPS_MAX], triad_gbps[BENCH_REPS_MAX], ratio[BENCH_REPS_MAX];

	int rc = 0;
	if (run_slices(c->fn, job, threads) < 0)
		rc = bl_error_set(err, BL_ENOMEM, NULL, "%s: could not start a thread", c->name);
	if (rc == 0)
		rc = check_result(job, result, threads, c->work, want, err);

	for (unsigned r = 0; rc == 0 && r < b->reps; r++) {
		rc = bench_triad_gbps(&triad_gbps[r], triad, err);
		ms[r] = rc == 0 ? run_slices(c->fn, job, threads) : 0;
		if (rc == 0 && ms[r] <= 0)
			rc = bl_error_set(err, BL_ENOMEM, NULL, "%s: could not start a thread", c->name);
		gbps[r] = bytes / (ms[r] * 1e6);
		ratio[r] = gbps[r] / triad_gbps[r];
	}
	if (rc < 0)
		return rc;

	summary_t time = bench_summarize(ms, b->reps);
	summary_t bandwidth = bench_summarize(gbps, b->reps);
	summary_t paired = bench_summarize(triad_gbps, b->reps);
	summary_t share = bench_summarize(ratio, b->reps);
	fprintf(stderr, "%-32s %8.2f GB/s  [%.2f - %.2f]  triad %6.2f  %5.2f of triad [%.2f - %.2f]  %.3f ms\n", c->name,
		bandwidth.median, bandwidth.min, bandwidth.max, paired.median, share.median, share.min, share.max,
		time.median);
	*out = json_pack("{s:s, s:f, s:o, s:o, s:o, s:f, s:o}", "kernel", c->name, "bytes", bytes, "ms",
			 bench_summary_json(time), "bandwidth_gbps", bench_summary_json(bandwidth), "triad_gbps",
			 bench_summary_json(paired), "ratio_to_triad", share.median, "ratio_runs",
			 bench_summary_json(share));
	return 0;
}

/* Allocate the input, the output, the counters and the expected results,
 * then run every case. */
static int run_cases(json_t *rows, const bench_t *b, size_t n, size_t cols, unsigned threads, bench_triad_t *triad,
		     bl_error_t *err)
{
	bl_tensor_t *x = NULL, *result = NULL;
	expected_t want = {0};
	ceiling_job_t job = {.n = n, .cols = cols};

	int rc = bench_random(&x, BL_DTYPE_F32, 1, (size_t[]){n}, -1.0, 1.0, 11, err);
	if (rc == 0)
		rc = bl_tensor_new(&result, BL_DTYPE_F32, 2, (size_t[]){CEILING_ROWS, cols}, err);
	job.tables = rc == 0 ? calloc((size_t)threads * SLOTS * SLOTS, sizeof *job.tables) : NULL;
	if (rc == 0 && !job.tables)
		rc = bl_error_set(err, BL_ENOMEM, NULL, "no memory for the counters");
	if (rc == 0)
		rc = expected_results(&want, x, cols, err);

	if (rc == 0) {
		job.x = x->data;
		job.out = result->data;
	}
	for (size_t i = 0; rc == 0 && i < sizeof cases / sizeof *cases; i++) {
		json_t *row;
		if (cases[i].work == WORK_SOFTMAX && cols % 8 != 0) {
			fprintf(stderr, "%-32s skipped: rows of %zu, not a multiple of 8\n", cases[i].name, cols);
			json_array_append_new(rows, json_pack("{s:s, s:s}", "kernel", cases[i].name, "skipped",
							      "the rows are not a multiple of 8 long"));
			continue;
		}
		rc = bench_case(&row, b, &cases[i], &job, result, threads, &want, triad, err);
		if (rc == 0)
			json_array_append_new(rows, row);
	}

	free(job.tables);
	bl_tensor_free(&want.counts);
	bl_tensor_free(&want.edges);
	bl_tensor_free(&want.softmax);
	bl_tensor_free(&result);
	bl_tensor_free(&x);
	return rc;
}

int bench_cpu_ceiling(json_t **out, bench_t *b, bench_triad_t *triad, bl_error_t *err)
{
	size_t n = bench_stream_elements(b);
	size_t cols = n / CEILING_ROWS;
	const char *skip = skip_reason(b, cols);
	if (skip) {
		fprintf(stderr, "\ncpu ceiling: skipped, %s\n", skip);
		*out = json_pack("{s:s}", "skipped", skip);
		return 0;
	}

	unsigned threads = device_threads(b);
	fprintf(stderr, "\ncpu ceiling: hand-written AVX2 C on %u threads, %zu float32 elements\n", threads, n);
	json_t *rows = json_array();
	int rc = run_cases(rows, b, n, cols, threads, triad, err);
	if (rc < 0) {
		json_decref(rows);
		bl_error_prefix(err, "cpu ceiling: ");
		return rc;
	}
	*out = json_pack("{s:i, s:o}", "threads", (int)threads, "rows", rows);
	return 0;
}
