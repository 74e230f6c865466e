#include "dedupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bl_dedupe_init(bl_dedupe_t *d, size_t budget)
{
	*d = (bl_dedupe_t){.budget = budget};
}

static void free_entry(void *value)
{
	bl_dedupe_entry_t *e = value;
	free(e->line);
	free(e);
}

void bl_dedupe_clear(bl_dedupe_t *d)
{
	bl_strmap_clear(&d->entries, free_entry);
	d->kept_bytes = 0;
}

static uint64_t fnv1a(uint64_t h, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t bl_dedupe_fingerprint(const bl_job_t *job)
{
	char head[128];
	snprintf(head, sizeof head, "%s|%d|%llu|", job->block, (int)job->priority,
		 (unsigned long long)job->timeout_ms);
	char *params = json_dumps(job->params, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ull, head), params ? params : "");
	free(params);
	return h;
}

static void key_of(char *out, size_t size, const bl_job_t *job)
{
	snprintf(out, size, "%s/%s", job->tenant, job->id);
}

bl_dedupe_entry_t *bl_dedupe_lookup(bl_dedupe_t *d, const bl_job_t *job, uint64_t fingerprint)
{
	char key[300];
	key_of(key, sizeof key, job);
	bl_dedupe_entry_t *e = bl_strmap_get(&d->entries, key);
	if (e)
		return e;

	/* Without memory for the record, a later duplicate runs again. That
	 * repeats work but loses nothing. */
	e = calloc(1, sizeof *e);
	if (e && bl_strmap_put(&d->entries, key, e) != 0) {
		free(e);
		return NULL;
	}
	if (e)
		e->fingerprint = fingerprint;
	return NULL;
}

bl_dedupe_entry_t *bl_dedupe_get(bl_dedupe_t *d, const bl_job_t *job)
{
	char key[300];
	key_of(key, sizeof key, job);
	return bl_strmap_get(&d->entries, key);
}

void bl_dedupe_finish(bl_dedupe_t *d, const bl_job_t *job, const char *line, bl_job_status_t status)
{
	bl_dedupe_entry_t *e = bl_dedupe_get(d, job);
	if (!e || e->finished)
		return;

	e->finished = true;
	e->status = status;
	size_t len = line ? strlen(line) : 0;
	if (line && d->kept_bytes + len <= d->budget) {
		e->line = strdup(line);
		d->kept_bytes += e->line ? len : 0;
	}
}
