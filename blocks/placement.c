/*
 * The cost model behind "device": "auto"; see placement.h.
 */
#define _GNU_SOURCE /* strdup in C17 mode */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <beamline/placement.h>

#include "kernel_params.h"

#define BUCKETS 64
/* A bucket without data borrows from a neighbour at most this many
 * buckets (powers of two) away. */
#define NEIGHBOUR_REACH 3
/* Weight of a new run in a device's mean; older runs fade out, so a
 * changed machine shows within a few dozen runs. */
#define MEAN_WEIGHT 0.2
#define EXPLORE_FROM 64u
/* Runs counted per device and bucket; more add nothing to a mean. */
#define RUNS_MAX 1000000000u

typedef struct device_stats {
	uint64_t runs;
	double mean_ms;
	unsigned pending; /* calibration runs chosen and not yet recorded */
} device_stats_t;

typedef struct bucket {
	device_stats_t device[2];
	uint64_t decisions;
} bucket_t;

typedef struct kernel_model {
	char *kernel;
	bucket_t buckets[BUCKETS];
	struct kernel_model *next;
} kernel_model_t;

struct bl_placement {
	char *path;
	char *device; /* the label of the device the model measured; NULL: none yet */
	pthread_mutex_t lock;
	kernel_model_t *kernels;
};

static unsigned bucket_of(double work)
{
	if (!(work >= 1.0))
		return 0;
	int exponent = ilogb(work);
	return exponent >= BUCKETS ? BUCKETS - 1 : (unsigned)exponent;
}

/* Find or add the model of `kernel`; the caller holds the lock. */
static kernel_model_t *model_of(bl_placement_t *p, const char *kernel)
{
	for (kernel_model_t *k = p->kernels; k; k = k->next)
		if (strcmp(k->kernel, kernel) == 0)
			return k;

	kernel_model_t *k = calloc(1, sizeof *k);
	if (!k || !(k->kernel = strdup(kernel))) {
		free(k);
		return NULL;
	}
	k->next = p->kernels;
	p->kernels = k;
	return k;
}

/* ------------------------------------------------------------------------ */
/* Choosing                                                                  */
/* ------------------------------------------------------------------------ */

static bool measured(const bucket_t *b)
{
	return b->device[BL_PLACE_CPU].runs > 0 && b->device[BL_PLACE_GPU].runs > 0;
}

static bl_place_t faster(const bucket_t *b)
{
	return b->device[BL_PLACE_GPU].mean_ms < b->device[BL_PLACE_CPU].mean_ms ? BL_PLACE_GPU : BL_PLACE_CPU;
}

/* The nearest measured bucket within reach, or NULL. */
static const bucket_t *neighbour(const kernel_model_t *k, unsigned at)
{
	for (unsigned d = 1; d <= NEIGHBOUR_REACH; d++) {
		if (at >= d && measured(&k->buckets[at - d]))
			return &k->buckets[at - d];
		if (at + d < BUCKETS && measured(&k->buckets[at + d]))
			return &k->buckets[at + d];
	}
	return NULL;
}

/* A device that has neither a run nor a pending calibration here. */
static bool unexplored(const bucket_t *b, bl_place_t device)
{
	return b->device[device].runs == 0 && b->device[device].pending == 0;
}

/* Trust `best`, except at the 64th, 128th, 256th ... decision of the
 * bucket, which measures the other device again. */
static bl_place_t exploit(bucket_t *b, bl_place_t best, bool *calibrating)
{
	b->decisions += b->decisions < RUNS_MAX;
	*calibrating = b->decisions >= EXPLORE_FROM && (b->decisions & (b->decisions - 1)) == 0;
	return *calibrating ? (bl_place_t)!best : best;
}

/* A bucket without evidence: measure the CPU, then the device; while
 * their runs are still in flight, use whichever has a result. */
static bl_place_t calibrate(bucket_t *b, bool *calibrating)
{
	for (bl_place_t d = BL_PLACE_CPU; d <= BL_PLACE_GPU; d++) {
		if (unexplored(b, d)) {
			b->device[d].pending++;
			*calibrating = true;
			return d;
		}
	}
	*calibrating = false;
	return b->device[BL_PLACE_GPU].runs > 0 && b->device[BL_PLACE_CPU].runs == 0 ? BL_PLACE_GPU : BL_PLACE_CPU;
}

static bl_place_t decide(kernel_model_t *k, unsigned at, bool *calibrating)
{
	bucket_t *b = &k->buckets[at];

	if (measured(b))
		return exploit(b, faster(b), calibrating);
	const bucket_t *near = neighbour(k, at);
	if (near)
		return exploit(b, faster(near), calibrating);
	return calibrate(b, calibrating);
}

bl_place_t bl_placement_choose(bl_placement_t *p, const char *kernel, double work, bool *calibrating)
{
	bool ignored;
	calibrating = calibrating ? calibrating : &ignored;

	pthread_mutex_lock(&p->lock);
	kernel_model_t *k = model_of(p, kernel);
	bl_place_t pick = k ? decide(k, bucket_of(work), calibrating) : BL_PLACE_CPU;
	pthread_mutex_unlock(&p->lock);
	return pick;
}

void bl_placement_record(bl_placement_t *p, const char *kernel, double work, bl_place_t device, double ms)
{
	pthread_mutex_lock(&p->lock);
	kernel_model_t *k = model_of(p, kernel);
	if (k) {
		device_stats_t *s = &k->buckets[bucket_of(work)].device[device];
		if (ms >= 0) {
			/* Once a device has a few runs, one stalled run (the
			 * machine was busy) moves its mean at most fourfold. */
			if (s->runs >= 3)
				ms = ms > 4 * s->mean_ms ? 4 * s->mean_ms : ms < s->mean_ms / 4 ? s->mean_ms / 4 : ms;
			s->mean_ms = s->runs == 0 ? ms : s->mean_ms + MEAN_WEIGHT * (ms - s->mean_ms);
			s->runs += s->runs < RUNS_MAX;
		}
		if (s->pending)
			s->pending--;
	}
	pthread_mutex_unlock(&p->lock);
}

double bl_placement_mean_ms(bl_placement_t *p, const char *kernel, double work, bl_place_t device)
{
	pthread_mutex_lock(&p->lock);
	kernel_model_t *k = model_of(p, kernel);
	const device_stats_t *s = k ? &k->buckets[bucket_of(work)].device[device] : NULL;
	double mean = s && s->runs ? s->mean_ms : -1.0;
	pthread_mutex_unlock(&p->lock);
	return mean;
}

/* ------------------------------------------------------------------------ */
/* The file                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The file has one object per kernel, keyed by bucket:
 *   {"version": 1, "device": "label", "kernels": {"sgemm": {"20": {"cpu": [runs, mean_ms],
 *                                  "gpu": [runs, mean_ms], "decisions": n}}}}
 * where decisions counts the choices the model made there, so the
 * re-measuring schedule carries over from run to run.
 */
static int read_device(device_stats_t *s, json_t *value)
{
	json_int_t runs;
	double mean;
	if (!value)
		return 0;
	if (json_unpack(value, "[IF]", &runs, &mean) != 0 || runs < 0 || !(mean >= 0) || !isfinite(mean))
		return BL_EFORMAT;
	s->runs = runs > RUNS_MAX ? RUNS_MAX : (uint64_t)runs;
	s->mean_ms = mean;
	return 0;
}

static int read_kernel(kernel_model_t *k, json_t *buckets)
{
	const char *key;
	json_t *value;
	json_object_foreach(buckets, key, value)
	{
		char *end;
		unsigned long at = strtoul(key, &end, 10);
		if (*end || at >= BUCKETS || !json_is_object(value))
			return BL_EFORMAT;
		if (read_device(&k->buckets[at].device[BL_PLACE_CPU], json_object_get(value, "cpu")) < 0 ||
		    read_device(&k->buckets[at].device[BL_PLACE_GPU], json_object_get(value, "gpu")) < 0)
			return BL_EFORMAT;
		json_int_t decisions = json_integer_value(json_object_get(value, "decisions"));
		k->buckets[at].decisions = decisions > 0 && decisions < (json_int_t)RUNS_MAX ? (uint64_t)decisions : 0;
	}
	return 0;
}

static int read_model(bl_placement_t *p, json_t *root)
{
	json_t *kernels = json_object_get(root, "kernels");
	json_t *device = json_object_get(root, "device");
	if (json_is_null(device))
		device = NULL;
	if (json_integer_value(json_object_get(root, "version")) != 1 || !json_is_object(kernels) ||
	    (device && !json_is_string(device)))
		return BL_EFORMAT;
	if (device && !(p->device = strdup(json_string_value(device))))
		return BL_ENOMEM;

	const char *name;
	json_t *buckets;
	json_object_foreach(kernels, name, buckets)
	{
		if (!kernel_spec_find(name))
			continue; /* a kernel this engine does not have: dropped */
		kernel_model_t *k = json_is_object(buckets) ? model_of(p, name) : NULL;
		if (!k || read_kernel(k, buckets) < 0)
			return BL_EFORMAT;
	}
	return 0;
}

int bl_placement_open(bl_placement_t **out, const char *path, bl_error_t *err)
{
	bl_placement_t *p = calloc(1, sizeof *p);
	if (!p || (path && !(p->path = strdup(path)))) {
		free(p);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory loading the placement model");
	}
	pthread_mutex_init(&p->lock, NULL);

	struct stat st;
	if (path && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		bl_placement_free(&p);
		return bl_error_set(err, BL_EINVAL, path,
				    "placement model '%s' is not a regular file; name a file for the model", path);
	}
	json_error_t jerr;
	json_t *root = path ? json_load_file(path, 0, &jerr) : NULL;
	bool missing = !root && path && access(path, F_OK) != 0 && errno == ENOENT;
	if (path && !missing && (!root || read_model(p, root) < 0)) {
		json_decref(root);
		bl_placement_free(&p);
		return bl_error_set(err, BL_EFORMAT, path,
				    "placement model '%s' is not a valid model file (%s); delete it to start "
				    "measuring again",
				    path, root ? "unexpected layout" : jerr.text);
	}
	json_decref(root);
	*out = p;
	return 0;
}

void bl_placement_set_path(bl_placement_t *p, const char *path)
{
	free(p->path);
	p->path = path ? strdup(path) : NULL;
}

static json_t *device_json(const device_stats_t *s)
{
	return s->runs ? json_pack("[I,f]", (json_int_t)s->runs, s->mean_ms) : NULL;
}

static json_t *model_json(bl_placement_t *p)
{
	json_t *kernels = json_object();
	for (kernel_model_t *k = p->kernels; kernels && k; k = k->next) {
		json_t *buckets = json_object();
		for (unsigned at = 0; buckets && at < BUCKETS; at++) {
			const bucket_t *b = &k->buckets[at];
			if (!b->device[0].runs && !b->device[1].runs)
				continue;
			char key[8];
			snprintf(key, sizeof key, "%u", at);
			json_t *entry = json_object();
			json_object_set_new(entry, "cpu", device_json(&b->device[BL_PLACE_CPU]));
			json_object_set_new(entry, "gpu", device_json(&b->device[BL_PLACE_GPU]));
			if (b->decisions)
				json_object_set_new(entry, "decisions", json_integer((json_int_t)b->decisions));
			json_object_set_new(buckets, key, entry);
		}
		json_object_set_new(kernels, k->kernel, buckets);
	}
	return json_pack("{s:i, s:s*, s:o}", "version", 1, "device", p->device, "kernels", kernels);
}

int bl_placement_save(bl_placement_t *p, bl_error_t *err)
{
	if (!p->path)
		return 0;

	/* Only a regular file (or a link to one) is replaced: never a device,
	 * a FIFO or a folder that something put under the path during the
	 * run. */
	struct stat st;
	if (stat(p->path, &st) == 0 && !S_ISREG(st.st_mode))
		return bl_error_set(err, BL_EINVAL, p->path, "placement model '%s' is no longer a regular file; not replaced",
				    p->path);
	pthread_mutex_lock(&p->lock);
	json_t *root = model_json(p);
	pthread_mutex_unlock(&p->lock);
	if (!root)
		return bl_error_set(err, BL_ENOMEM, p->path, "out of memory saving the placement model");

	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%.4000s.%d.tmp", p->path, (int)getpid());
	int rc = json_dump_file(root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) == 0 && rename(tmp, p->path) == 0
			 ? 0
			 : -(errno ? errno : EIO);
	json_decref(root);
	if (rc < 0) {
		unlink(tmp);
		return bl_error_set(err, rc, p->path, "cannot save the placement model to '%s': %s", p->path,
				    strerror(-rc));
	}
	return 0;
}

static void clear_kernels(bl_placement_t *p)
{
	for (kernel_model_t *k = p->kernels, *next; k; k = next) {
		next = k->next;
		free(k->kernel);
		free(k);
	}
	p->kernels = NULL;
}

void bl_placement_bind_device(bl_placement_t *p, const char *label)
{
	pthread_mutex_lock(&p->lock);
	if (!p->device || strcmp(p->device, label) != 0) {
		if (p->device)
			clear_kernels(p); /* times from another device mean nothing here */
		free(p->device);
		p->device = strdup(label);
	}
	pthread_mutex_unlock(&p->lock);
}

void bl_placement_free(bl_placement_t **model)
{
	bl_placement_t *p = *model;
	if (!p)
		return;
	*model = NULL;

	clear_kernels(p);
	pthread_mutex_destroy(&p->lock);
	free(p->device);
	free(p->path);
	free(p);
}
