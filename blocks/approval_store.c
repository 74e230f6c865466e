/*
 * What every approval store shares: posting a request, deciding it with
 * "the first decision wins", and listing the pending ones, written once
 * over the primitives of bl_approval_store_ops_t (approvals.h). The
 * folder store is approval_files.c; the service mode's bucket store is
 * engine/approvals_kv.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/approvals.h>

/* How often a decision is tried again when the record changed under it
 * but is still pending. Only a store whose records change for other
 * reasons than a decision (none today) would ever need a second try. */
#define RECORD_TRIES 4

void bl_approval_store_free(bl_approval_store_t **store)
{
	bl_approval_store_t *s = *store;
	if (!s)
		return;
	s->ops->free(s);
	*store = NULL;
}

const char *bl_approval_store_path(const bl_approval_store_t *store)
{
	return store->where;
}

/* Load `id` after checking its length, which bounds every store's key. */
static int load(bl_approval_store_t *store, const char *id, bl_approval_t *out, uint64_t *version, bl_error_t *err)
{
	out->request = out->decision = NULL;
	if (strlen(id) > BL_APPROVAL_ID_MAX)
		return -ENOENT;
	return store->ops->load(store, id, out, version, err);
}

int bl_approval_store_get(bl_approval_store_t *store, const char *id, bl_approval_t *out, bl_error_t *err)
{
	uint64_t version;
	return load(store, id, out, &version, err);
}

/*
 * Check that a request found in the store has the same "summary" and
 * "details" as `request`. A new job that reuses a tenant and id
 * would otherwise take the old job's decision. Returns 0 or -EEXIST.
 */
static int check_same_request(const json_t *request, const json_t *found, const char *id, bl_error_t *err)
{
	const json_t *summary = json_object_get(request, "summary");
	const json_t *details = json_object_get(request, "details");
	const json_t *found_details = json_object_get(found, "details");

	const char *found_summary = json_string_value(json_object_get(found, "summary"));

	bool same_details = (!details && !found_details) || (details && found_details && json_equal(details, found_details));
	if (json_equal(summary, json_object_get(found, "summary")) && same_details)
		return 0;
	return bl_error_set(err, -EEXIST, id,
			    "approval %s was requested earlier with another summary or details (stored summary '%s'); "
			    "delete its record or send the job with a new id",
			    id, found_summary ? found_summary : "(none)");
}

int bl_approval_store_post(bl_approval_store_t *store, const json_t *request, bl_approval_t *out, bool *created,
			   bl_error_t *err)
{
	const char *id = json_string_value(json_object_get(request, "id"));

	*created = false;
	out->request = out->decision = NULL;
	if (!id || strlen(id) > BL_APPROVAL_ID_MAX)
		return bl_error_set(err, BL_EINVAL, "id", "the request has no valid \"id\"");

	int rc = store->ops->create(store, id, request, err);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	*created = rc == 0;
	rc = bl_approval_store_get(store, id, out, err);
	if (rc < 0 || *created)
		return rc;

	rc = check_same_request(request, out->request, id, err);
	if (rc < 0)
		bl_approval_clear(out);
	return rc;
}

/* Build the decision's object for `in` at `now_ms`. */
static json_t *decision_record(const char *id, const bl_decision_input_t *in, int64_t now_ms)
{
	char at[40];
	bl_approval_format_time(at, sizeof at, now_ms);
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "id", id, "decision", bl_decision_name(in->decision),
			      "decided_by", in->by, "decided_at", at, "decided_ms", (json_int_t)now_ms, "defaulted",
			      in->defaulted);
	if (d && in->comment)
		json_object_set_new(d, "comment", json_string(in->comment));
	return d;
}

/*
 * One try at deciding: load, check, record. Returns 0 with the decided
 * approval in *out, -EAGAIN when the record changed between the load and
 * the write (*out cleared), or the codes of bl_approval_store_decide.
 */
static int try_decide(bl_approval_store_t *store, const char *id, const bl_decision_input_t *in, int64_t now_ms,
		      bl_approval_t *out, bl_error_t *err)
{
	uint64_t version;

	int rc = load(store, id, out, &version, err);
	if (rc < 0)
		return rc;
	if (out->decision)
		return -EEXIST;
	if (!in->defaulted && now_ms >= bl_approval_expires_ms(out))
		return BL_ETIMEDOUT;

	json_t *d = decision_record(id, in, now_ms);
	if (!d) {
		bl_approval_clear(out);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory recording the decision");
	}
	rc = store->ops->record(store, id, out, version, d, err);
	if (rc == 0) {
		out->decision = d;
		return 0;
	}
	json_decref(d);
	bl_approval_clear(out);
	return rc == -EEXIST ? -EAGAIN : rc;
}

int bl_approval_store_decide(bl_approval_store_t *store, const char *id, const bl_decision_input_t *in,
			     int64_t now_ms, bl_approval_t *out, bl_error_t *err)
{
	out->request = out->decision = NULL;
	int rc = bl_decision_input_check(in, err);
	if (rc < 0)
		return rc;

	/* A lost race reloads: the next try then finds the winner's decision
	 * and returns -EEXIST with it. */
	for (int tries = 0; tries < RECORD_TRIES; tries++) {
		rc = try_decide(store, id, in, now_ms, out, err);
		if (rc != -EAGAIN)
			return rc;
	}
	return bl_error_set(err, -EAGAIN, id,
			    "the approval changed during each of %d tries to record the decision; try again",
			    RECORD_TRIES);
}

static int compare_created(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created_ms"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created_ms"));
	return (x > y) - (x < y);
}

/* Sort the array of described approvals by creation time. */
static json_t *sorted(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **items = n ? malloc(n * sizeof *items) : NULL;
	json_t *out = json_array();
	if ((n && !items) || !out) {
		free(items);
		json_decref(out);
		return list; /* unsorted beats nothing */
	}
	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(list, i);
	if (n > 1)
		qsort(items, n, sizeof *items, compare_created); /* items is NULL when n is 0 */
	for (size_t i = 0; i < n; i++)
		json_array_append(out, items[i]);
	free(items);
	json_decref(list);
	return out;
}

int bl_approval_store_list(bl_approval_store_t *store, json_t **out, bl_error_t *err)
{
	char **ids;
	size_t count;

	*out = NULL;
	int rc = store->ops->list_ids(store, &ids, &count, err);
	if (rc < 0)
		return rc;

	json_t *list = json_array();
	for (size_t i = 0; i < count; i++) {
		bl_approval_t a;
		if (list && bl_approval_store_get(store, ids[i], &a, NULL) == 0) {
			if (!a.decision)
				json_array_append_new(list, bl_approval_describe(&a));
			bl_approval_clear(&a);
		}
		free(ids[i]);
	}
	free(ids);
	if (!list)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing the approvals");
	*out = sorted(list);
	return 0;
}
