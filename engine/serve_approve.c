/*
 * Decisions as requests on beamline.engine.v1.approve (queue group
 * beamline-engine), on a cnats subscription thread. The body is
 *
 *   {"tenant": "acme", "id": "JOB_ID", "decision": "approve" | "reject",
 *    "by": "alice", "comment": "..."}          (comment optional)
 *
 * and the reply is one JSON object whose "status" is the outcome:
 *   decided           the decision was recorded;
 *   already_decided   an earlier decision stands (in "approval");
 *   unknown_approval  no job posted this approval;
 *   expired           the default decision applies;
 *   invalid_request   "error.field" names the field at fault;
 *   error             the bucket could not be read or written (retryable).
 *
 * Whichever instance receives the request writes the decision into the
 * bucket. The instance whose job waits on the approval learns of it
 * through its bucket watch (approvals_kv_watch.c), not through this
 * request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/approvals.h>
#include <beamline/services.h>

#include "log.h"
#include "serve_ctx.h"

/* The maximum size of an approve request's body, in bytes. A comment and
 * a name are at most 4096 and 256 bytes, so 16 KiB leaves room for JSON
 * escapes. */
#define APPROVE_BODY_MAX (16u << 10)

/* A parsed approve request; strings borrowed from the parsed body. */
typedef struct approve_request {
	const char *tenant;
	const char *job_id;
	char id[BL_APPROVAL_ID_MAX + 1];
	bl_decision_input_t in;
} approve_request_t;

/* Send {"status": status, "tenant", "id", "approval"?, "error"?}. Takes `approval`. */
static void reply_with(serve_t *s, const char *reply, const char *status, const approve_request_t *req,
		       json_t *approval, const bl_error_t *err, bool retryable)
{
	json_t *r = json_pack("{s:s}", "status", status);
	if (r && req->tenant)
		json_object_set_new(r, "tenant", json_string(req->tenant));
	if (r && req->job_id)
		json_object_set_new(r, "id", json_string(req->job_id));
	if (r && approval)
		json_object_set(r, "approval", approval);
	if (r && err) {
		json_t *e = json_pack("{s:s, s:b}", "message", err->message, "retryable", retryable);
		if (e && err->field[0])
			json_object_set_new(e, "field", json_string(err->field));
		json_object_set_new(r, "error", e);
	}
	char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
	if (text)
		bl__serve_reply(s, reply, text);
	free(text);
	json_decref(r);
	json_decref(approval);
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

/* A tenant or job id as jobs name them: 1 to SERVE_NAME_MAX - 1 bytes of
 * [A-Za-z0-9._-]; a tenant has no '.'. */
static int check_name(const char *value, const char *field, bool is_tenant, bl_error_t *err)
{
	size_t len = strlen(value);

	if (len == 0 || len >= SERVE_NAME_MAX)
		return bl_error_set(err, BL_EFORMAT, field, "expected 1 to %d bytes, got %zu", SERVE_NAME_MAX - 1, len);
	for (size_t i = 0; i < len; i++) {
		if (!is_name_char(value[i]) || (is_tenant && value[i] == '.'))
			return bl_error_set(err, BL_EFORMAT, field,
					    "expected only [A-Za-z0-9_-]%s, got byte 0x%02X at offset %zu",
					    is_tenant ? "" : " and '.'", (unsigned char)value[i], i);
	}
	return 0;
}

/* Take the string member `key`; a missing optional one leaves *out NULL. */
static int take_string(const json_t *body, const char *key, bool required, const char **out, bl_error_t *err)
{
	const json_t *v = json_object_get(body, key);

	*out = NULL;
	if (!v || (!required && json_is_null(v)))
		return required ? bl_error_set(err, BL_EFORMAT, key, "missing; expected a string") : 0;
	if (!json_is_string(v))
		return bl_error_set(err, BL_EFORMAT, key, "expected a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bl_error_set(err, BL_EFORMAT, key, "the string contains a NUL character");
	*out = json_string_value(v);
	return 0;
}

/* Reject members other than tenant, id, decision, by and comment. */
static int check_keys(json_t *body, bl_error_t *err)
{
	static const char *const known[] = {"tenant", "id", "decision", "by", "comment", NULL};
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		bool found = false;
		for (int i = 0; known[i] && !found; i++)
			found = strcmp(key, known[i]) == 0;
		if (!found)
			return bl_error_set(err, BL_EFORMAT, key,
					    "unknown field; the request takes tenant, id, decision, by and comment");
	}
	return 0;
}

/* Read the request from `body`. Returns 0, or BL_EFORMAT / BL_ELIMIT with *err naming the field. */
static int parse_request(json_t *body, approve_request_t *req, bl_error_t *err)
{
	const char *word = NULL;

	int rc = check_keys(body, err);
	if (rc == 0)
		rc = take_string(body, "tenant", true, &req->tenant, err);
	if (rc == 0)
		rc = take_string(body, "id", true, &req->job_id, err);
	if (rc == 0)
		rc = take_string(body, "decision", true, &word, err);
	if (rc == 0)
		rc = take_string(body, "by", true, &req->in.by, err);
	if (rc == 0)
		rc = take_string(body, "comment", false, &req->in.comment, err);
	if (rc == 0)
		rc = check_name(req->tenant, "tenant", true, err);
	if (rc == 0)
		rc = check_name(req->job_id, "id", false, err);
	if (rc == 0 && bl_decision_parse(&req->in.decision, word) < 0)
		rc = bl_error_set(err, BL_EFORMAT, "decision", "expected \"approve\" or \"reject\", got \"%.32s\"",
				  word);
	if (rc == 0)
		rc = bl_decision_input_check(&req->in, err);
	if (rc == 0)
		rc = bl_approval_id(req->id, sizeof req->id, req->tenant, req->job_id, err);
	return rc < 0 ? rc : 0;
}

/* Turn the store's return code into the reply. Takes a->request and a->decision. */
static void answer(serve_t *s, const char *reply, const approve_request_t *req, int rc, bl_approval_t *a,
		   bl_error_t *err)
{
	json_t *described = a->request ? bl_approval_describe(a) : NULL;
	bl_approval_clear(a);

	switch (rc) {
	case 0:
		reply_with(s, reply, "decided", req, described, NULL, false);
		return;
	case -ENOENT:
		bl_error_set(err, -ENOENT, "id", "no approval %s: the job has not posted one, or it is in no bucket",
			     req->id);
		reply_with(s, reply, "unknown_approval", req, described, err, false);
		return;
	case -EEXIST:
		bl_error_set(err, -EEXIST, NULL, "approval %s was already decided; the earlier decision stands",
			     req->id);
		reply_with(s, reply, "already_decided", req, described, err, false);
		return;
	case BL_ETIMEDOUT:
		bl_error_set(err, BL_ETIMEDOUT, NULL, "approval %s expired; its default decision applies", req->id);
		reply_with(s, reply, "expired", req, described, err, false);
		return;
	case BL_EFORMAT:
	case BL_ELIMIT:
		reply_with(s, reply, "invalid_request", req, described, err, false);
		return;
	default:
		BL_LOG(BL_LOG_ERROR, "serve", "approval_decision_failed", NULL, err->message,
		       BL_LOG_S("approval_id", req->id), BL_LOG_S("field", err->field));
		reply_with(s, reply, "error", req, described, err, true);
		return;
	}
}

/* Decide the parsed request in the service's store and reply. */
static void decide(serve_t *s, const char *reply, const approve_request_t *req)
{
	bl_approvals_t *service = s->ctx.services ? s->ctx.services->approvals : NULL;
	bl_approval_store_t *store;
	bl_approval_t a = {0};
	bl_error_t err = {0};

	if (!service) {
		bl_error_set(&err, BL_EINVAL, NULL, "this engine has no approvals service (no state folder)");
		reply_with(s, reply, "error", req, NULL, &err, false);
		return;
	}
	int rc = bl_approvals_store(service, &store, &err);
	if (rc == 0)
		rc = bl_approval_store_decide(store, req->id, &req->in, bl_approval_now_ms(), &a, &err);
	BL_LOG(BL_LOG_INFO, "serve", rc == 0 ? "approval_decision_received" : "approval_decision_not_applied", NULL,
	       NULL, BL_LOG_S("approval_id", req->id), BL_LOG_S("decision", bl_decision_name(req->in.decision)),
	       BL_LOG_S("decided_by", req->in.by), BL_LOG_S("err_name", rc == 0 ? "" : bl_err_name(rc)));
	if (rc == 0)
		bl_approvals_notify(service, req->id); /* at once when the job waits here; the watch does it too */
	answer(s, reply, req, rc, &a, &err);
}

void bl__serve_approve(serve_t *s, const char *reply, const char *data, size_t len)
{
	approve_request_t req = {0};
	bl_error_t err = {0};
	json_error_t jerr;

	if (!reply)
		return; /* a publish, not a request: no one would read the outcome */
	if (len > APPROVE_BODY_MAX) {
		bl_error_set(&err, BL_ELIMIT, NULL, "the request is %zu bytes, over the limit of %u", len,
			     APPROVE_BODY_MAX);
		reply_with(s, reply, "invalid_request", &req, NULL, &err, false);
		return;
	}
	json_t *body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		bl_error_set(&err, BL_EFORMAT, NULL, "expected a JSON object {tenant, id, decision, by, comment}: %s",
			     body ? "got another JSON value" : jerr.text);
		reply_with(s, reply, "invalid_request", &req, NULL, &err, false);
		json_decref(body);
		return;
	}
	if (parse_request(body, &req, &err) < 0) {
		BL_LOG(BL_LOG_INFO, "serve", "approve_request_invalid", NULL, err.message,
		       BL_LOG_S("field", err.field));
		reply_with(s, reply, "invalid_request", &req, NULL, &err, false);
	} else {
		decide(s, reply, &req);
	}
	json_decref(body);
}
