/*
 * The approval store over the key-value bucket beamline_approvals
 * (approvals_kv.h). Each approval is one record:
 *
 *   {"request": {...the request...}, "decision": null | {...the decision...}}
 *
 * A request is created with a put that succeeds only while the key has no
 * value, so a job that is delivered again finds the record its earlier
 * delivery made. A decision replaces the record with a compare-and-set on
 * the revision that was read, so of two deciders on any instances the
 * second fails and reads the first one's decision.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kv.h>
#include <nats/nats.h>

#include "approvals_kv.h"
#include "log.h"

typedef struct kv_store {
	bl_approval_store_t base; /* base.where is `bucket` */
	bl_nats_t *nats;          /* borrowed */
	bl_kv_t *kv;
	char bucket[128];
} kv_store_t;

static const bl_approval_store_ops_t kv_ops;

/* ------------------------------------------------------------------------ */
/* Keys                                                                      */
/* ------------------------------------------------------------------------ */

static bool is_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Append the escaped form of the `len` bytes at `text` to out[*at]. */
static int escape(char *out, size_t size, size_t *at, const char *text, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		size_t need = is_plain(c) ? 1 : 3;
		if (*at + need >= size)
			return BL_ELIMIT;
		if (need == 1) {
			out[(*at)++] = (char)c;
			continue;
		}
		out[(*at)++] = '=';
		out[(*at)++] = hex[c >> 4];
		out[(*at)++] = hex[c & 15];
	}
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append the unescaped form of the `len` bytes at `text` to out[*at]; the
 * inverse of escape, which rejects every text escape cannot produce. */
static int unescape(char *out, size_t size, size_t *at, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)text[i];
		if (c == '=') {
			int high = i + 2 < len ? hex_value(text[i + 1]) : -1;
			int low = high >= 0 ? hex_value(text[i + 2]) : -1;
			c = low >= 0 ? high * 16 + low : -1;
			if (c < 0 || is_plain((unsigned char)c))
				return BL_EINVAL;
			i += 2;
		} else if (!is_plain((unsigned char)c)) {
			return BL_EINVAL;
		}
		if (c == 0 || *at + 1 >= size)
			return c == 0 ? BL_EINVAL : BL_ELIMIT;
		out[(*at)++] = (char)c;
	}
	return 0;
}

/* escape or unescape. */
typedef int (*convert_fn)(char *out, size_t size, size_t *at, const char *text, size_t len);

/* Write the two non-empty parts of `text` around its first `from` into
 * `out`, each converted with `convert` and joined by `to`. Returns the
 * length written, BL_EINVAL or BL_ELIMIT. */
static int convert_pair(char *out, size_t size, const char *text, char from, char to, convert_fn convert)
{
	const char *sep = strchr(text, from);
	size_t at = 0;

	if (!sep || sep == text || sep[1] == '\0')
		return BL_EINVAL;
	int rc = convert(out, size, &at, text, (size_t)(sep - text));
	if (rc == 0 && at + 1 >= size)
		rc = BL_ELIMIT;
	if (rc == 0) {
		out[at++] = to;
		rc = convert(out, size, &at, sep + 1, strlen(sep + 1));
	}
	if (rc < 0)
		return rc;
	out[at] = '\0';
	return (int)at;
}

int bl__approvals_kv_key(char *out, size_t size, const char *id)
{
	return convert_pair(out, size, id, ':', '.', escape);
}

/* A second '.' is not a plain byte, so unescape rejects it. */
int bl__approvals_kv_id(char *out, size_t size, const char *key)
{
	return convert_pair(out, size, key, '.', ':', unescape);
}

/* The key of `id`, with *err naming the id when it has none. */
static int key_of(char *out, size_t size, const char *id, bl_error_t *err)
{
	int rc = bl__approvals_kv_key(out, size, id);
	if (rc < 0)
		return bl_error_set(err, rc, "id", "the approval id \"%.64s\" is not \"TENANT:JOB_ID\" or is too long",
				    id);
	return 0;
}

/* Copy a NATS layer error into the caller's, prefixed with what failed. */
static int nats_failed(const kv_store_t *s, bl_error_t *err, int rc, const bl_nats_error_t *nerr, const char *what,
		       const char *key)
{
	return bl_error_set(err, rc, key, "cannot %s in the bucket %s: %s", what, s->bucket,
			    nerr->error.message[0] ? nerr->error.message : bl_strerror(rc));
}

/* ------------------------------------------------------------------------ */
/* Announcing a new request                                                  */
/* ------------------------------------------------------------------------ */

/* Whether `text` makes one or more subject tokens: no empty token, no
 * wildcard, no white space. */
static bool subject_safe(const char *text)
{
	if (!text[0] || text[0] == '.' || text[strlen(text) - 1] == '.' || strstr(text, ".."))
		return false;
	return strpbrk(text, "*> \t\r\n") == NULL;
}

/*
 * Publish the request on beamline.approvals.v1.<tenant>.<job id> with its
 * traceparent as a header. A core publish: no stream stores the subject,
 * and the record in the bucket is what any instance reads back, so a
 * failure is logged and the request stays posted.
 *
 * NOTE: an instance that dies between the put and this publish leaves the
 * request stored but never published, and the instance that takes the job
 * again finds the record and publishes nothing. Clients that must see
 * every request watch the bucket. A fix would mark the record once
 * published and publish again from a record without the mark.
 */
static void announce(kv_store_t *s, const json_t *request, const char *text)
{
	const char *tenant = json_string_value(json_object_get(request, "tenant"));
	const char *job_id = json_string_value(json_object_get(request, "job_id"));
	const char *id = json_string_value(json_object_get(request, "id"));
	const char *traceparent = json_string_value(json_object_get(request, "traceparent"));
	char subject[BL_APPROVAL_ID_MAX + sizeof BL_APPROVALS_KV_SUBJECT_PREFIX + 1];
	natsMsg *msg = NULL;

	if (!tenant || !job_id || !subject_safe(tenant) || strchr(tenant, '.') || !subject_safe(job_id)) {
		BL_LOG(BL_LOG_WARN, "approvals", "approval_not_announced", NULL,
		       "the tenant or job id cannot form a subject; the request is stored but not published",
		       BL_LOG_S("approval_id", id));
		return;
	}
	snprintf(subject, sizeof subject, "%s%s.%s", BL_APPROVALS_KV_SUBJECT_PREFIX, tenant, job_id);
	natsStatus ns = natsMsg_Create(&msg, subject, NULL, text, (int)strlen(text));
	if (ns == NATS_OK && traceparent)
		ns = natsMsgHeader_Set(msg, "traceparent", traceparent);
	if (ns == NATS_OK)
		ns = natsConnection_PublishMsg(bl_nats_raw(s->nats), msg);
	natsMsg_Destroy(msg);
	if (ns != NATS_OK)
		BL_LOG(BL_LOG_WARN, "approvals", "approval_publish_failed", NULL,
		       "cannot publish the approval request; it stays stored in the bucket",
		       BL_LOG_S("approval_id", id), BL_LOG_S("subject", subject),
		       BL_LOG_S("reason", natsStatus_GetText(ns)));
}

/* ------------------------------------------------------------------------ */
/* The store's primitives                                                    */
/* ------------------------------------------------------------------------ */

/* Encode the record of `request` and `decision` (NULL: pending). Returns
 * an owned string, or NULL when memory runs out. */
static char *encode_record(const json_t *request, const json_t *decision)
{
	json_t *record = json_pack("{s:O, s:O}", "request", request, "decision", decision ? decision : json_null());
	char *text = record ? json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(record);
	return text;
}

/*
 * Write the record of `request` and `decision` under the key of `id`:
 * when `last` is 0 only while the key has no value, else only while the
 * key's revision is `last` (revisions start at 1). Returns 0, -EEXIST
 * when that condition fails, or another negative code with *err naming
 * the key and `what` failed.
 */
static int write_record(kv_store_t *s, const char *id, const json_t *request, const json_t *decision, uint64_t last,
			const char *what, bl_error_t *err)
{
	char key[BL_APPROVALS_KV_KEY_MAX + 1];
	bl_nats_error_t nerr = {0};

	int rc = key_of(key, sizeof key, id, err);
	if (rc < 0)
		return rc;
	char *text = encode_record(request, decision);
	if (!text)
		return bl_error_set(err, BL_ENOMEM, key, "out of memory encoding the approval record");

	if (last == 0)
		rc = bl_kv_create(s->kv, key, text, strlen(text), NULL, &nerr);
	else
		rc = bl_kv_update(s->kv, key, text, strlen(text), last, NULL, &nerr);
	free(text);
	if (rc == -EEXIST || rc == -ESTALE)
		return -EEXIST;
	if (rc < 0)
		return nats_failed(s, err, rc, &nerr, what, key);
	return 0;
}

static int kv_create(bl_approval_store_t *store, const char *id, const json_t *request, bl_error_t *err)
{
	kv_store_t *s = (kv_store_t *)store;

	int rc = write_record(s, id, request, NULL, 0, "store the approval request", err);
	if (rc < 0)
		return rc;

	char *body = json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS);
	if (body)
		announce(s, request, body);
	free(body);
	return 0;
}

/* Split a record's text into *out; BL_EFORMAT when it is not a record. */
static int decode_record(const bl_kv_entry_t *e, bl_approval_t *out, bl_error_t *err)
{
	json_error_t jerr;
	json_t *record = json_loadb(e->value, e->len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *request = json_object_get(record, "request");
	json_t *decision = json_object_get(record, "decision");

	int rc = json_is_object(request)
			 ? bl_approval_check_request(request, e->key, err)
			 : bl_error_set(err, BL_EFORMAT, e->key, "the record under key %s is not JSON with a \"request\" object",
					e->key);
	if (rc == 0 && !json_is_null(decision))
		rc = json_is_object(decision) ? bl_approval_check_decision(decision, e->key, err)
					      : bl_error_set(err, BL_EFORMAT, e->key,
							     "the record's \"decision\" is neither null nor an object");
	if (rc == 0) {
		out->request = json_incref(request);
		out->decision = json_is_object(decision) ? json_incref(decision) : NULL;
	}
	json_decref(record);
	return rc;
}

/*
 * Check that a decoded record belongs to approval `id`: its request's
 * "id", and its "tenant" and "job_id" joined by ':', are `id`, and so is
 * its decision's "id" when it has one. A record written under another
 * key by hand would otherwise decide this approval. Returns 0 or
 * BL_EFORMAT naming the key.
 */
static int check_owner(const bl_approval_t *a, const char *id, const char *key, bl_error_t *err)
{
	char joined[2 * BL_APPROVAL_ID_MAX + 2];
	const char *request_id = json_string_value(json_object_get(a->request, "id"));
	const char *tenant = json_string_value(json_object_get(a->request, "tenant"));
	const char *job_id = json_string_value(json_object_get(a->request, "job_id"));
	const char *decision_id = a->decision ? json_string_value(json_object_get(a->decision, "id")) : NULL;

	snprintf(joined, sizeof joined, "%s:%s", tenant ? tenant : "", job_id ? job_id : "");
	if (!request_id || strcmp(request_id, id) != 0 || strcmp(joined, id) != 0)
		return bl_error_set(err, BL_EFORMAT, key,
				    "the record under key %s is for approval '%s' (tenant '%s', job_id '%s'), not '%s'",
				    key, request_id ? request_id : "(none)", tenant ? tenant : "(none)",
				    job_id ? job_id : "(none)", id);
	if (decision_id && strcmp(decision_id, id) != 0)
		return bl_error_set(err, BL_EFORMAT, key, "the record under key %s holds a decision for approval '%s', not '%s'",
				    key, decision_id, id);
	return 0;
}

static int kv_load(bl_approval_store_t *store, const char *id, bl_approval_t *out, uint64_t *version,
		   bl_error_t *err)
{
	kv_store_t *s = (kv_store_t *)store;
	char key[BL_APPROVALS_KV_KEY_MAX + 1];
	bl_nats_error_t nerr = {0};
	bl_kv_entry_t *e = NULL;

	*version = 0;
	if (bl__approvals_kv_key(key, sizeof key, id) < 0)
		return -ENOENT; /* no record can have this id */
	int rc = bl_kv_get(&e, s->kv, key, &nerr);
	if (rc == -ENOENT)
		return rc;
	if (rc < 0)
		return nats_failed(s, err, rc, &nerr, "read the approval", key);

	rc = decode_record(e, out, err);
	if (rc == 0 && (rc = check_owner(out, id, key, err)) < 0)
		bl_approval_clear(out);
	*version = e->revision;
	bl_kv_entry_free(e);
	return rc;
}

static int kv_record(bl_approval_store_t *store, const char *id, const bl_approval_t *pending, uint64_t version,
		     const json_t *decision, bl_error_t *err)
{
	return write_record((kv_store_t *)store, id, pending->request, decision, version, "record the decision", err);
}

static int kv_list_ids(bl_approval_store_t *store, char ***ids, size_t *count, bl_error_t *err)
{
	kv_store_t *s = (kv_store_t *)store;
	bl_nats_error_t nerr = {0};
	char **keys = NULL;
	char id[BL_APPROVAL_ID_MAX + 1];

	*ids = NULL;
	*count = 0;
	int n = bl_kv_keys(&keys, s->kv, &nerr);
	if (n < 0)
		return nats_failed(s, err, n, &nerr, "list the approvals", s->bucket);

	/* Each id is no longer than its key, so the keys' strings take the ids in place. */
	size_t valid = 0;
	for (int i = 0; i < n; i++) {
		if (bl__approvals_kv_id(id, sizeof id, keys[i]) < 0) {
			free(keys[i]);
			continue;
		}
		snprintf(keys[i], strlen(keys[i]) + 1, "%s", id);
		keys[valid++] = keys[i];
	}
	*ids = keys;
	*count = valid;
	return 0;
}

static void kv_free(bl_approval_store_t *store)
{
	kv_store_t *s = (kv_store_t *)store;
	bl_kv_free(s->kv);
	free(s);
}

static const bl_approval_store_ops_t kv_ops = {
	.create = kv_create,
	.load = kv_load,
	.record = kv_record,
	.list_ids = kv_list_ids,
	.free = kv_free,
};

int bl__approvals_kv_open(bl_approval_store_t **out, bl_nats_t *nats, const char *bucket, bl_error_t *err)
{
	bl_nats_error_t nerr = {0};
	const char *name = bucket ? bucket : BL_APPROVALS_KV_BUCKET;

	*out = NULL;
	kv_store_t *s = calloc(1, sizeof *s);
	if (!s)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory opening the approvals bucket");
	if (strlen(name) >= sizeof s->bucket) {
		free(s);
		return bl_error_set(err, BL_EINVAL, "bucket", "the bucket name is %zu bytes, over the limit of %zu",
				    strlen(name), sizeof s->bucket - 1);
	}
	snprintf(s->bucket, sizeof s->bucket, "%s", name);

	int rc = bl_kv_open(&s->kv, nats, s->bucket, &nerr);
	if (rc < 0) {
		free(s);
		return bl_error_set(err, rc, name, "cannot open the approvals bucket: %s", nerr.error.message);
	}
	s->base.ops = &kv_ops;
	s->base.where = s->bucket;
	s->nats = nats;
	*out = &s->base;
	return 0;
}
