/*
 * Approvals: the requests that human jobs post and the decisions people
 * make on them, kept as files in the state folder so that they survive a
 * restart and so that another process (`beamline-engine approve`) can
 * decide them.
 *
 * An approval's id is "TENANT:JOB_ID". Neither part may contain ':' (job
 * ids and tenant names use [A-Za-z0-9._-]), so the id names one job of one
 * tenant, and running the same job again finds the same approval.
 *
 * Each approval is two files in the approvals folder (STATE_DIR/approvals
 * unless the config names another subfolder):
 *
 *   ID.request.json   written once, when the job first posts the request;
 *   ID.decision.json  written once, by whoever decides first: a person
 *                     (approve command, admin endpoint) or the engine when
 *                     the request expires.
 *
 * Both are written to a temporary file, flushed with fsync, then linked to
 * their name; link(2) fails when the name exists, so the first decision
 * wins even between processes, and no reader sees half a file.
 *
 * The store's functions do blocking file I/O: call them from a thread that
 * may block (the blocking pool, the admin endpoint's thread, the CLI).
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
 * Open the approvals folder STATE_DIR/SUBDIR, making both when `create`
 * is true. Returns 0 and an owned store (free with
 * bl_approval_store_free), or a negative errno / BL_ENOMEM with *err
 * naming the folder.
 */
int bl_approval_store_open(bl_approval_store_t **out, const char *state_dir, const char *subdir, bool create,
			   bl_error_t *err);

/* Close the store. Takes *store; NULL is fine. */
void bl_approval_store_free(bl_approval_store_t **store);

/* Return the approvals folder's path; borrowed for the store's life. */
const char *bl_approval_store_path(const bl_approval_store_t *store);

/*
 * Post `request` (borrowed; must hold "id" and "expires_ms", see
 * docs/blocks/human.md) unless an approval with its id exists. *out
 * receives the stored approval: the new one, or the existing one with its
 * original expiry and any decision made meanwhile (*created false).
 * Returns 0, or a negative errno / BL_EFORMAT (a stored file is damaged)
 * with *err.
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
 * bl_approval_describe), oldest first. Damaged files are skipped. Returns
 * 0, or a negative errno / BL_ENOMEM with *err.
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

/* Return the service's configuration; borrowed. */
const bl_approvals_config_t *bl_approvals_config(const bl_approvals_t *a);

#ifdef __cplusplus
}
#endif

#endif
