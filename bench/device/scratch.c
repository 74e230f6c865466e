/*
 * The bench's temporary folder, which holds the engine's data folder, its
 * jobs and results files and its placement model, and the runs of the
 * engine over it. Nothing the bench does writes outside this folder,
 * except the program caches when BEAMLINE_CACHE_DIR or POCL_CACHE_DIR
 * name another (see device_bench.c).
 */
#define _GNU_SOURCE /* mkdtemp, nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device_bench.h"
#include "run.h"

int scratch_create(scratch_t *s, bl_error_t *err)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(s->root, sizeof s->root, "%s/bl-device-bench-XXXXXX", tmp);
	if (!mkdtemp(s->root)) {
		int rc = -errno;
		s->root[0] = '\0';
		return bl_error_set(err, rc, NULL, "cannot create a temporary folder in %s: %s", tmp, strerror(-rc));
	}

	snprintf(s->data, sizeof s->data, "%s/data", s->root);
	snprintf(s->tenant, sizeof s->tenant, "%s/b", s->data);
	snprintf(s->placement, sizeof s->placement, "%s/placement.json", s->root);
	if (mkdir(s->data, 0700) != 0 || mkdir(s->tenant, 0700) != 0)
		return bl_error_set(err, -errno, NULL, "cannot create %s: %s", s->tenant, strerror(errno));
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, BENCH_NAME ": cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

void scratch_remove(scratch_t *s)
{
	if (!s->root[0])
		return;
	nftw(s->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	s->root[0] = '\0';
}

int scratch_write_npy(const scratch_t *s, const bl_tensor_t *t, const char *name, bl_error_t *err)
{
	int fd = open(s->tenant, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return bl_error_set(err, -errno, NULL, "cannot open %s: %s", s->tenant, strerror(errno));

	int rc = bl_npy_write(t, fd, name, err);
	close(fd);
	return rc;
}

int scratch_write_file(const scratch_t *s, const char *name, const char *text, char *path, size_t size,
		       bl_error_t *err)
{
	snprintf(path, size, "%s/%s", s->root, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return bl_error_set(err, -errno, NULL, "cannot create %s: %s", path, strerror(errno));

	bool ok = fputs(text, f) >= 0;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : bl_error_set(err, -EIO, NULL, "cannot write %s", path);
}

/* Read the results file into {id: result}. */
static int read_results(json_t **out, const char *path, bl_error_t *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return bl_error_set(err, -errno, NULL, "cannot read the results %s: %s", path, strerror(errno));

	json_t *by_id = json_object();
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *r = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(r, "id"));
		if (id)
			json_object_set(by_id, id, r);
		json_decref(r);
	}
	free(line);
	fclose(f);
	*out = by_id;
	return 0;
}

/* Return the first result that did not end "ok", or NULL. */
static json_t *first_failure(json_t *by_id)
{
	const char *id;
	json_t *r;
	json_object_foreach (by_id, id, r) {
		const char *status = json_string_value(json_object_get(r, "status"));
		if (!status || strcmp(status, "ok") != 0)
			return r;
	}
	return NULL;
}

static void config_for(bl_run_config_t *cfg, const scratch_t *s, const char *jobs_path, const char *out_path,
		       const char *quotas_path, int device_index)
{
	bl_run_config_init(cfg);
	cfg->jobs_path = jobs_path;
	cfg->output_path = out_path;
	cfg->data_dir = s->data;
	cfg->quotas_path = quotas_path;
	cfg->gpu_device = device_index;
	cfg->placement_path = s->placement;
}

int scratch_run_jobs(json_t **results, double *jobs_per_s, const scratch_t *s, const char *jobs, const char *quotas,
		     int device_index, bl_error_t *err)
{
	char jobs_path[400], out_path[400], quotas_path[400];
	int rc = scratch_write_file(s, "jobs.jsonl", jobs, jobs_path, sizeof jobs_path, err);
	if (rc == 0 && quotas)
		rc = scratch_write_file(s, "quotas.json", quotas, quotas_path, sizeof quotas_path, err);
	if (rc < 0)
		return rc;
	snprintf(out_path, sizeof out_path, "%s/results.jsonl", s->root);

	bl_run_config_t cfg;
	bl_run_summary_t summary = {0};
	config_for(&cfg, s, jobs_path, out_path, quotas ? quotas_path : NULL, device_index);
	rc = bl_run_jobs(&cfg, &summary, err);
	double rate = summary.jobs_per_s;
	bl_run_summary_free(&summary);
	if (rc < 0)
		return rc;

	json_t *by_id = NULL;
	if ((rc = read_results(&by_id, out_path, err)) < 0)
		return rc;
	json_t *failed = first_failure(by_id);
	if (failed) {
		char *text = json_dumps(failed, JSON_COMPACT);
		rc = bl_error_set(err, BL_EINVAL, NULL, "an engine job did not succeed: %s", text ? text : "?");
		free(text);
		json_decref(by_id);
		return rc;
	}

	if (jobs_per_s)
		*jobs_per_s = rate;
	if (results)
		*results = by_id;
	else
		json_decref(by_id);
	return 0;
}
