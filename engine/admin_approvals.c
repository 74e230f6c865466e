/*
 * The admin endpoint's approvals routes:
 *
 *   GET  /approvals      200 {"approvals": [pending approvals, oldest first]}
 *   POST /approvals/ID   body {"decision": "approve" | "reject", "by": "...",
 *                        "comment": "..."} (comment optional):
 *                        200 the decided approval; 400 a bad body, naming
 *                        the field; 404 no such approval; 409 already
 *                        decided (with that decision) or expired.
 *
 * A decision goes to the same store as `beamline-engine approve`, and the
 * waiting job is woken at once rather than through the folder watch.
 */
#include <errno.h>
#include <string.h>

#include <beamline/approvals.h>
#include <microhttpd.h>

#include "admin.h"
#include "admin_approvals.h"
#include "log.h"

static void list_pending(bl_approvals_t *service, bl_admin_response_t *res)
{
	bl_approval_store_t *store;
	json_t *list = NULL;
	bl_error_t err = {0};

	int rc = bl_approvals_store(service, &store, &err);
	if (rc == 0)
		rc = bl_approval_store_list(store, &list, &err);
	if (rc < 0) {
		BL_LOG(BL_LOG_ERROR, "admin", "approvals_list_failed", NULL, err.message, BL_LOG_S("field", err.field));
		bl_admin_error(res, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_failed", err.field, "%s", err.message);
		return;
	}
	res->status = MHD_HTTP_OK;
	res->body = json_pack("{s:o}", "approvals", list);
}

/* Take an optional string member `key` of `body` into *out. */
static int take_string(json_t *body, const char *key, bool required, const char **out, bl_admin_response_t *res)
{
	json_t *v = json_object_get(body, key);
	*out = NULL;
	if (!v && !required)
		return 0;
	if (!json_is_string(v)) {
		bl_admin_error(res, MHD_HTTP_BAD_REQUEST, "invalid_body", key, v ? "expected a string" : "missing");
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* Read the decision from the body; on failure *res is the 400 response. */
static int parse_body(const bl_admin_request_t *req, json_t **body, bl_decision_input_t *in, bl_admin_response_t *res)
{
	json_error_t jerr;
	const char *key;
	json_t *v;
	const char *word;

	*body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(*body)) {
		bl_admin_error(res, MHD_HTTP_BAD_REQUEST, "invalid_body", "", "expected a JSON object: %s",
			       *body ? "got another JSON value" : jerr.text);
		return -1;
	}
	json_object_foreach(*body, key, v) {
		if (strcmp(key, "decision") != 0 && strcmp(key, "by") != 0 && strcmp(key, "comment") != 0) {
			bl_admin_error(res, MHD_HTTP_BAD_REQUEST, "invalid_body", key,
				       "unknown field; the body takes decision, by and comment");
			return -1;
		}
	}
	if (take_string(*body, "decision", true, &word, res) < 0 || take_string(*body, "by", true, &in->by, res) < 0 ||
	    take_string(*body, "comment", false, &in->comment, res) < 0)
		return -1;
	if (bl_decision_parse(&in->decision, word) < 0) {
		bl_admin_error(res, MHD_HTTP_BAD_REQUEST, "invalid_body", "decision",
			       "expected \"approve\" or \"reject\"");
		return -1;
	}
	return 0;
}

/* Turn the store's return code into the response. */
static void answer(bl_admin_response_t *res, int rc, const char *id, bl_approval_t *a, const bl_error_t *err)
{
	switch (rc) {
	case 0:
		res->status = MHD_HTTP_OK;
		res->body = bl_approval_describe(a);
		break;
	case -ENOENT:
		bl_admin_error(res, MHD_HTTP_NOT_FOUND, "not_found", NULL, "no approval %s", id);
		break;
	case -EEXIST:
		bl_admin_error(res, MHD_HTTP_CONFLICT, "already_decided", NULL, "approval %s was already decided", id);
		json_object_set_new(res->body, "approval", bl_approval_describe(a));
		break;
	case BL_ETIMEDOUT:
		bl_admin_error(res, MHD_HTTP_CONFLICT, "expired", NULL,
			       "approval %s expired; its default decision applies", id);
		json_object_set_new(res->body, "approval", bl_approval_describe(a));
		break;
	case BL_EFORMAT:
	case BL_ELIMIT:
		bl_admin_error(res, MHD_HTTP_BAD_REQUEST, "invalid_body", err->field, "%s", err->message);
		break;
	default:
		BL_LOG(BL_LOG_ERROR, "admin", "approval_decision_failed", NULL, err->message,
		       BL_LOG_S("approval_id", id), BL_LOG_S("field", err->field));
		bl_admin_error(res, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_failed", err->field, "%s", err->message);
		break;
	}
}

static void decide(bl_approvals_t *service, const bl_admin_request_t *req, bl_admin_response_t *res)
{
	const char *id = req->rest;
	bl_decision_input_t in = {0};
	bl_approval_store_t *store;
	bl_approval_t a = {0};
	bl_error_t err = {0};
	json_t *body = NULL;

	if (bl_approval_id_check(id, "id", &err) < 0) {
		bl_admin_error(res, MHD_HTTP_NOT_FOUND, "not_found", NULL, "no approval %.64s: %s", id, err.message);
		return;
	}
	if (parse_body(req, &body, &in, res) < 0) {
		json_decref(body);
		return;
	}

	int rc = bl_approvals_store(service, &store, &err);
	if (rc == 0)
		rc = bl_approval_store_decide(store, id, &in, bl_approval_now_ms(), &a, &err);
	answer(res, rc, id, &a, &err);
	if (rc == 0) {
		BL_LOG(BL_LOG_INFO, "admin", "approval_decision_received", NULL, NULL, BL_LOG_S("approval_id", id),
		       BL_LOG_S("decision", bl_decision_name(in.decision)), BL_LOG_S("decided_by", in.by));
		bl_approvals_notify(service, id);
	}
	bl_approval_clear(&a);
	json_decref(body);
}

static void on_list(void *ctx, const bl_admin_request_t *req, bl_admin_response_t *res)
{
	if (strcmp(req->method, "GET") != 0) {
		bl_admin_error(res, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL, "/approvals takes GET");
		return;
	}
	list_pending(ctx, res);
}

static void on_one(void *ctx, const bl_admin_request_t *req, bl_admin_response_t *res)
{
	if (strcmp(req->method, "POST") != 0) {
		bl_admin_error(res, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
			       "/approvals/ID takes POST with a decision");
		return;
	}
	decide(ctx, req, res);
}

int bl__admin_approvals_register(bl_admin_t *admin, bl_approvals_t *service)
{
	int rc = bl_admin_route(admin, "/approvals", true, on_list, service);
	if (rc == 0)
		rc = bl_admin_route(admin, "/approvals/", true, on_one, service);
	return rc;
}
