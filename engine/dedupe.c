#include "dedupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

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

/*
 * Hash a JSON value without serialising it. An object's members are
 * summed, so their order does not matter, as in canonical JSON; array
 * items are folded in order. An integer and a real of the same value
 * (1 and 1.0) hash differently, because their JSON texts differ.
 */
static uint64_t hash_value(json_t *v)
{
	uint64_t h = bl__hash_bytes(BL_HASH_INIT, &(int){json_typeof(v)}, sizeof(int));

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		size_t key_len;
		json_t *member;
		uint64_t sum = 0;
		json_object_keylen_foreach(v, key, key_len, member)
			sum += bl__hash_mix(bl__hash_bytes(h, key, key_len) ^ hash_value(member));
		return bl__hash_mix(h ^ sum);
	}
	case JSON_ARRAY:
		for (size_t i = 0; i < json_array_size(v); i++)
			h = bl__hash_mix(h ^ hash_value(json_array_get(v, i)));
		return h;
	case JSON_STRING:
		return bl__hash_mix(bl__hash_bytes(h, json_string_value(v), json_string_length(v)));
	case JSON_INTEGER:
		return bl__hash_mix(bl__hash_bytes(h, &(json_int_t){json_integer_value(v)}, sizeof(json_int_t)));
	case JSON_REAL:
		return bl__hash_mix(bl__hash_bytes(h, &(double){json_real_value(v)}, sizeof(double)));
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
	default:
		return bl__hash_mix(h); /* true, false and null carry nothing beyond their type */
	}
}

uint64_t bl_dedupe_fingerprint(const bl_job_t *job)
{
	char head[128];
	int len = snprintf(head, sizeof head, "%s|%d|%llu|", job->block, (int)job->priority,
			   (unsigned long long)job->timeout_ms);
	size_t head_len = len < 0 ? 0 : (size_t)len < sizeof head ? (size_t)len : sizeof head - 1;
	uint64_t h = bl__hash_bytes(BL_HASH_INIT, head, head_len);
	return bl__hash_mix(h ^ hash_value(job->params));
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

void bl_dedupe_finish(bl_dedupe_t *d, const bl_job_t *job, char *line, bl_job_status_t status)
{
	bl_dedupe_entry_t *e = bl_dedupe_get(d, job);
	if (!e || e->finished) {
		free(line);
		return;
	}

	e->finished = true;
	e->status = status;
	size_t len = line ? strlen(line) : 0;
	if (line && d->kept_bytes + len <= d->budget) {
		e->line = line;
		d->kept_bytes += len;
		return;
	}
	free(line);
}
