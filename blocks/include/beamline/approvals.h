/*
 * Approvals: the requests that human jobs post and the decisions people
 * make on them, kept in a store that survives a restart and that another
 * process can decide in.
 *
 * An approval's id is "TENANT:JOB_ID". Neither part may contain ':' (job
 * ids and tenant names use [A-Za-z0-9._-]), so the id names one job of one
 * tenant, and running the same job again finds the same approval.
 *
 * Two stores implement one interface (bl_approval_store_ops_t below):
 *
 *   the approvals folder (approval_files.c), for `run` and the approve
 *     command: STATE_DIR/approvals holds ID.request.json, written once
 *     when the job first posts the request, and ID.decision.json, written
 *     once by whoever decides first. Each file is written to a temporary
 *     name, flushed, then linked to its name; link(2) fails when the name
 *     exists, so the first decision wins even between processes;
 *   the NATS key-value bucket beamline_approvals (engine/approvals_kv.c),
 *     for `serve`: one record per approval, decided with a compare-and-set
 *     on the record's revision, so the first decision wins across engine
 *     instances.
 *
 * The request and decision logic (bl_approval_store_post, _decide, _list)
 * is written once, in approval_store.c, over the interface's primitives.
 * Every store function blocks on I/O: call them from a thread that may
 * block (the blocking pool, the admin endpoint's thread, a cnats thread,
 * the CLI).
 */
#ifndef BEAMLINE_APPROVALS_H
#define BEAMLINE_APPROVALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Maximum approval id length, in bytes: "ID.decision.json" must fit in a file
 * name of 255 bytes. */
#define BL_APPROVAL_ID_MAX 240

/* Maximum lengths, in bytes: of the summary; of "requested_by" and "by"; of the comment. */
#define BL_APPROVAL_SUMMARY_MAX 4096
#define BL_APPROVAL_NAME_MAX 256
#define BL_APPROVAL_COMMENT_MAX 4096

typedef enum bl_decision {
	BL_DECISION_APPROVE = 0,
	BL_DECISION_REJECT,
} bl_decision_t;

/* Parse "approve" or "reject". Returns 0, or BL_EINVAL for any other
 * word. */
int bl_decision_parse(bl_decision_t *out, const char *word);

/* Return "approve" or "reject". */
const char *bl_decision_name(bl_decision_t d);

/*
 * Write "TENANT:JOB_ID" into `out` (`size` bytes). Returns its length, or
 * BL_ELIMIT with *err naming "id" when it is longer than
 * BL_APPROVAL_ID_MAX.
 */
int bl_approval_id(char *out, size_t size, const char *tenant, const char *job_id, bl_error_t *err);

/* Check an id given by a person (CLI, admin endpoint): "TENANT:JOB_ID"
 * with both parts made of [A-Za-z0-9._-], the tenant not starting with a
 * dot. Returns 0, or BL_EFORMAT / BL_ELIMIT with *err naming `field`. */
int bl_approval_id_check(const char *id, const char *field, bl_error_t *err);

/* One approval as stored: its request and, once decided, its decision.
 * Both are the files' JSON objects (see docs/blocks/human.md); owned. */
typedef struct bl_approval {
	json_t *request;  /* never NULL in a loaded approval */
	json_t *decision; /* NULL while pending */
} bl_approval_t;

/* Free what *a owns and zero it. */
void bl_approval_clear(bl_approval_t *a);

/* Return the request's expiry (Unix time in ms). */
int64_t bl_approval_expires_ms(const bl_approval_t *a);

/*
 * Return a new JSON object describing *a for people and clients: the
 * request's fields, "status" ("pending", "approved", "rejected") and, once
 * decided, "decision". Returns NULL when memory runs out.
 */
json_t *bl_approval_describe(const bl_approval_t *a);

/* Check a stored request for the fields every reader relies on: "id",
 * "expires_ms" and "default_decision". Returns 0, or BL_EFORMAT with *err
 * naming `name` (the file or key). */
int bl_approval_check_request(const json_t *request, const char *name, bl_error_t *err);

/* Check a stored decision, which is read back into a job's result: a
 * decision word, "decided_by", "decided_at", "defaulted" and an optional
 * string "comment". A person editing the store or a crash may leave one
 * without them. Returns 0, or BL_EFORMAT with *err naming `name`. */
int bl_approval_check_decision(const json_t *decision, const char *name, bl_error_t *err);

/* What a decider supplies; strings borrowed. */
typedef struct bl_decision_input {
	bl_decision_t decision;
	const char *by;      /* who decided; 1 to BL_APPROVAL_NAME_MAX bytes */
	const char *comment; /* may be NULL */
	bool defaulted;      /* the engine applied the default on expiry */
} bl_decision_input_t;

/* Check a decision's "by" and comment. Returns 0, or BL_EFORMAT /
 * BL_ELIMIT with *err naming "by" or "comment". */
int bl_decision_input_check(const bl_decision_input_t *in, bl_error_t *err);

typedef struct bl_approval_store bl_approval_store_t;

/*
 * The primitives a store implements. Each borrows its arguments and
 * returns 0 or a negative code with *err (which may be NULL).
 */
typedef struct bl_approval_store_ops {
	/* Store `request` as approval `id` unless `id` has a record. Returns
	 * 0, or -EEXIST when it has one (nothing is written). */
	int (*create)(bl_approval_store_t *store, const char *id, const json_t *request, bl_error_t *err);

	/* Load approval `id` into *out (owned by the caller), and into
	 * *version what `record` needs to detect a concurrent change (0 for a
	 * store that needs none). Returns 0, -ENOENT when there is none, or
	 * BL_EFORMAT for a damaged record. */
	int (*load)(bl_approval_store_t *store, const char *id, bl_approval_t *out, uint64_t *version,
		    bl_error_t *err);

	/* Record `decision` for approval `id`, which was pending as `pending`
	 * at `version`. Returns 0, or -EEXIST when the record changed since
	 * (a decision got there first); nothing is written then. */
	int (*record)(bl_approval_store_t *store, const char *id, const bl_approval_t *pending, uint64_t version,
		      const json_t *decision, bl_error_t *err);

	/* Return in *ids the ids of every stored approval, decided or not, as
	 * an owned array of owned strings (free each, then the array), and
	 * their number in *count. */
	int (*list_ids)(bl_approval_store_t *store, char ***ids, size_t *count, bl_error_t *err);

	/* Free the store; bl_approval_store_free calls it. */
	void (*free)(bl_approval_store_t *store);
} bl_approval_store_ops_t;

/* The part of a store that every implementation starts with; an
 * implementation's own struct has it as its first member. */
struct bl_approval_store {
	const bl_approval_store_ops_t *ops;
	const char *where; /* the folder's path, or the bucket's name, for messages; owned by the store */
};

/*
 * Open the approvals folder STATE_DIR/SUBDIR, making both when `create`
 * is true. Returns 0 and an owned store (free with
 * bl_approval_store_free), or a negative errno / BL_ENOMEM with *err
 * naming the folder.
 */
int bl_approval_store_open(bl_approval_store_t **out, const char *state_dir, const char *subdir, bool create,
			   bl_error_t *err);

/* Close the store. Takes *store; NULL is fine. */
void bl_approval_store_free(bl_approval_store_t **store);

/* Return the folder's path for the approvals folder, the bucket's name
 * for the bucket; borrowed for the store's life. */
const char *bl_approval_store_path(const bl_approval_store_t *store);

/*
 * Post `request` (borrowed; must hold "id" and "expires_ms", see
 * docs/blocks/human.md) unless an approval with its id exists. *out
 * receives the stored approval: the new one, or the existing one with its
 * original expiry and any decision made meanwhile (*created false).
 * Returns 0, -EEXIST when the existing request has another "summary" or
 * "details" (a new job reusing the id; *out is then empty), or another
 * negative errno / BL_EFORMAT (a stored record is damaged or belongs to
 * another approval) with *err.
 */
int bl_approval_store_post(bl_approval_store_t *store, const json_t *request, bl_approval_t *out, bool *created,
			   bl_error_t *err);

/* Load approval `id` into *out. Returns 0, -ENOENT when there is none,
 * or a negative errno / BL_EFORMAT with *err. */
int bl_approval_store_get(bl_approval_store_t *store, const char *id, bl_approval_t *out, bl_error_t *err);

/*
 * Record decision `in` for approval `id` at `now_ms` (Unix ms). Returns 0
 * with the decided approval in *out, or:
 *   -ENOENT       no such approval;
 *   -EEXIST       already decided: *out holds the existing decision;
 *   BL_ETIMEDOUT  expired and `in` is not the engine's default: *out holds
 *                 the pending approval;
 *   BL_EFORMAT / BL_ELIMIT for a bad "by" or comment, or another negative
 *   errno, with *err.
 * *out is cleared on the other failures.
 */
int bl_approval_store_decide(bl_approval_store_t *store, const char *id, const bl_decision_input_t *in,
			     int64_t now_ms, bl_approval_t *out, bl_error_t *err);

/*
 * Return in *out a new array of the pending approvals (described as by
 * bl_approval_describe), oldest first. Damaged records are skipped.
 * Returns 0, or a negative errno / BL_ENOMEM with *err.
 */
int bl_approval_store_list(bl_approval_store_t *store, json_t **out, bl_error_t *err);

/* Return the current Unix time in milliseconds. */
int64_t bl_approval_now_ms(void);

/* Write Unix time `ms` as RFC 3339 with milliseconds, in UTC
 * ("2026-12-05T03:04:05.678Z"), into `out` (at least 32 bytes). */
void bl_approval_format_time(char *out, size_t size, int64_t ms);

/* ------------------------------------------------------------------------ */
/* The service: one per engine (services.h), made from the "approvals"      */
/* config section.                                                          */
/* ------------------------------------------------------------------------ */

typedef struct bl_approvals bl_approvals_t;

/* The "approvals" config section, after validation. */
typedef struct bl_approvals_config {
	bl_decision_t default_decision; /* on expiry, when the job names none */
	uint64_t max_expiry_ms;         /* largest params.expires_in_ms */
	char dir[128];                  /* subfolder of the state folder */
	uint64_t rescan_ms;             /* polling period when the folder is not watched */
	bool watch;                     /* watch the folder with inotify; false polls (network file systems) */
} bl_approvals_config_t;

/* Fill *cfg with the defaults: reject, 24 hours, "approvals", 200 ms,
 * watched. */
void bl_approvals_config_init(bl_approvals_config_t *cfg);

/*
 * Read the "approvals" section `section` (borrowed; NULL: defaults) into
 * *cfg. Returns 0, or BL_EFORMAT / BL_EINVAL with *err naming the key, as
 * "approvals.max_expiry_ms".
 */
int bl_approvals_config_parse(bl_approvals_config_t *cfg, const json_t *section, bl_error_t *err);

/*
 * Return the service's store, opening the folder (and its watch) on the
 * first call. Blocks on file I/O. Returns 0 and a store borrowed for the
 * service's life, or a negative code with *err. Thread-safe.
 */
int bl_approvals_store(bl_approvals_t *a, bl_approval_store_t **out, bl_error_t *err);

/* Tell the jobs waiting on approval `id` that it may have been decided,
 * without waiting for the folder watch. Any thread. */
void bl_approvals_notify(bl_approvals_t *a, const char *id);

/*
 * Make the service keep approvals in `*store` (taken; *store is set to
 * NULL) instead of the approvals folder. The service mode calls it with
 * the bucket store before the first job starts, and then reports
 * decisions through bl_approvals_notify and bl_approvals_set_watched.
 * Returns 0, or -EBUSY when the service has a store already (the store
 * is then left to the caller). Any thread.
 */
int bl_approvals_use_store(bl_approvals_t *a, bl_approval_store_t **store);

/*
 * Record whether something reports every decision of the store through
 * bl_approvals_notify. While nothing does, waiting jobs reread their
 * approval every rescan_ms; turning it off wakes them all once. Any
 * thread.
 */
void bl_approvals_set_watched(bl_approvals_t *a, bool watched);

/* Return the service's configuration; borrowed. */
const bl_approvals_config_t *bl_approvals_config(const bl_approvals_t *a);

#ifdef __cplusplus
}
#endif

#endif
