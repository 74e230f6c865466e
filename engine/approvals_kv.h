/*
 * The service mode's approvals, kept in NATS so that any engine instance
 * can resume a waiting human job after a restart (docs/serve.md):
 *
 *   approvals_kv.c        the approval store over the key-value bucket
 *                         beamline_approvals; posting a request also
 *                         publishes it on beamline.approvals.v1.<tenant>.<id>;
 *   approvals_kv_watch.c  a thread that watches the bucket and wakes the
 *                         jobs waiting on each approval that changed.
 *
 * Keys: an approval "TENANT:JOB_ID" is stored under "T.J", where T and J
 * are the tenant and the job id with every byte outside [A-Za-z0-9_-]
 * written as '=' and two upper-case hex digits ("a.b" becomes "a=2Eb").
 * '.' and '=' thus appear only as the separator and as escapes, so the
 * mapping is injective, and every key is made of the bytes a key may
 * contain ([-/_=.a-zA-Z0-9]) with no empty token.
 */
#ifndef BL_ENGINE_APPROVALS_KV_H
#define BL_ENGINE_APPROVALS_KV_H

#include <stddef.h>

#include <beamline/approvals.h>
#include <beamline/nats.h>

#define BL_APPROVALS_KV_BUCKET "beamline_approvals"
#define BL_APPROVALS_KV_SUBJECT_PREFIX "beamline.approvals.v1."

/* The maximum key length: each byte of an id escaped, the ':' turned into '.'. */
#define BL_APPROVALS_KV_KEY_MAX (3 * BL_APPROVAL_ID_MAX)

/*
 * Write the key of approval `id` ("TENANT:JOB_ID") into `out` (`size`
 * bytes, at least BL_APPROVALS_KV_KEY_MAX + 1). Returns its length, or
 * BL_EINVAL when `id` has no ':' or an empty part, or BL_ELIMIT when the
 * key does not fit.
 */
int bl__approvals_kv_key(char *out, size_t size, const char *id);

/* Write the approval id of `key` into `out` (`size` bytes, at least
 * BL_APPROVAL_ID_MAX + 1). Returns its length, or BL_EINVAL for a key that
 * no id maps to. */
int bl__approvals_kv_id(char *out, size_t size, const char *key);

/*
 * Open the bucket `bucket` (NULL: BL_APPROVALS_KV_BUCKET), which must
 * exist, as an approval store. Borrows `nats`, which must outlive the
 * store. Returns 0 with *out owned (free with bl_approval_store_free), or
 * a negative code with *err naming the bucket. The store may be used from
 * several threads at once.
 */
int bl__approvals_kv_open(bl_approval_store_t **out, bl_nats_t *nats, const char *bucket, bl_error_t *err);

typedef struct bl_approvals_kv_watch bl_approvals_kv_watch_t;

/*
 * Watch the bucket `bucket` (NULL: BL_APPROVALS_KV_BUCKET) on a thread of
 * its own, calling bl_approvals_notify(service, id) for each approval
 * that is stored or changes, and bl_approvals_set_watched for whether the
 * watch works. Borrows `nats` and `service`, which must outlive the
 * watch. Returns 0 with *out owned (stop with bl__approvals_kv_watch_stop),
 * or a negative code with *err naming the bucket.
 */
int bl__approvals_kv_watch_start(bl_approvals_kv_watch_t **out, bl_nats_t *nats, bl_approvals_t *service,
				 const char *bucket, bl_error_t *err);

/* Stop the thread (within about 250 ms) and free the watch. Takes *watch;
 * NULL is fine. No notification is sent after it returns. */
void bl__approvals_kv_watch_stop(bl_approvals_kv_watch_t **watch);

#endif
