#define _GNU_SOURCE /* strerrordesc_np */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/error.h>

#include "sanitize.h"

typedef struct {
	int code;
	const char *name;
	const char *text;
} error_entry_t;

static const error_entry_t engine_errors[] = {
	{BL_OK, "OK", "success"},
	{BL_EDEAD, "BL_EDEAD", "actor has terminated"},
	{BL_ESHUTDOWN, "BL_ESHUTDOWN", "runtime is shutting down"},
	{BL_EINTENSITY, "BL_EINTENSITY", "supervisor restart intensity exceeded"},
	{BL_ELINKED, "BL_ELINKED", "linked actor exited abnormally"},
	{BL_EKILLED, "BL_EKILLED", "actor was killed"},
	{BL_ENOTIMER, "BL_ENOTIMER", "timer is not pending"},
	{BL_EINVAL, "BL_EINVAL", "invalid argument"},
	{BL_ENOMEM, "BL_ENOMEM", "out of memory"},
	{BL_EFORMAT, "BL_EFORMAT", "malformed input"},
	{BL_ELIMIT, "BL_ELIMIT", "limit exceeded"},
	{BL_ECANCELED, "BL_ECANCELED", "cancelled"},
	{BL_ETIMEDOUT, "BL_ETIMEDOUT", "timed out"},
	{BL_EQUOTA, "BL_EQUOTA", "quota exceeded"},
};

/* errno names for the codes the runtime and its callers pass up; others
 * still get strerrordesc_np() text from bl_strerror(). */
static const error_entry_t errno_names[] = {
	{-EPERM, "EPERM", NULL},       {-ENOENT, "ENOENT", NULL},   {-EINTR, "EINTR", NULL},
	{-EIO, "EIO", NULL},           {-EBADF, "EBADF", NULL},     {-EAGAIN, "EAGAIN", NULL},
	{-ENOMEM, "ENOMEM", NULL},     {-EACCES, "EACCES", NULL},   {-EEXIST, "EEXIST", NULL},
	{-ENOTDIR, "ENOTDIR", NULL},   {-EISDIR, "EISDIR", NULL},   {-EINVAL, "EINVAL", NULL},
	{-EMFILE, "EMFILE", NULL},     {-ENOSPC, "ENOSPC", NULL},   {-EPIPE, "EPIPE", NULL},
	{-ERANGE, "ERANGE", NULL},     {-ENAMETOOLONG, "ENAMETOOLONG", NULL},
	{-ENOSYS, "ENOSYS", NULL},     {-ELOOP, "ELOOP", NULL},     {-EXDEV, "EXDEV", NULL},
	{-ETIMEDOUT, "ETIMEDOUT", NULL}, {-ECONNREFUSED, "ECONNREFUSED", NULL},
	{-ECONNRESET, "ECONNRESET", NULL}, {-ECANCELED, "ECANCELED", NULL},
	{-EOVERFLOW, "EOVERFLOW", NULL}, {-EFBIG, "EFBIG", NULL},
	/* The NATS client layer's codes. */
	{-ENOTCONN, "ENOTCONN", NULL}, {-ESTALE, "ESTALE", NULL},   {-EREMOTEIO, "EREMOTEIO", NULL},
	{-EPROTO, "EPROTO", NULL},     {-ENOTSUP, "ENOTSUP", NULL}, {-EHOSTUNREACH, "EHOSTUNREACH", NULL},
	{-EMSGSIZE, "EMSGSIZE", NULL},
};

static const error_entry_t *find(const error_entry_t *table, size_t n, int code)
{
	for (size_t i = 0; i < n; i++) {
		if (table[i].code == code)
			return &table[i];
	}
	return NULL;
}

const char *bl_strerror(int code)
{
	const error_entry_t *e = find(engine_errors, sizeof engine_errors / sizeof *engine_errors, code);
	if (e)
		return e->text;
	if (code < 0 && code > -4096) {
		const char *text = strerrordesc_np(-code);
		if (text)
			return text;
	}
	return "unknown error";
}

const char *bl_err_name(int code)
{
	const error_entry_t *e = find(engine_errors, sizeof engine_errors / sizeof *engine_errors, code);
	if (!e)
		e = find(errno_names, sizeof errno_names / sizeof *errno_names, code);
	return e ? e->name : "UNKNOWN";
}

_Noreturn void bl__die(const char *why)
{
	fputs("beamline: fatal: ", stderr);
	fputs(why, stderr);
	fputc('\n', stderr);
	abort();
}

int bl_error_set(bl_error_t *err, int code, const char *field, const char *fmt, ...)
{
	if (!err)
		return code;

	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");

	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return code;
}

void bl_error_prefix(bl_error_t *err, const char *fmt, ...)
{
	if (!err)
		return;

	char prefix[BL_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	size_t plen = n < 0 ? 0 : (size_t)n < sizeof prefix ? (size_t)n : sizeof prefix - 1;

	size_t size = sizeof err->message;
	size_t len = strnlen(err->message, size - 1);
	if (plen >= size)
		plen = size - 1;
	if (plen + len >= size)
		len = size - 1 - plen;
	memmove(err->message + plen, err->message, len);
	memcpy(err->message, prefix, plen);
	err->message[plen + len] = '\0';
}
