/*
 * BeamLine error codes, shared by every layer.
 *
 * A function that can fail returns int: 0 (or a non-negative count) on
 * success, a negative errno value for an operating-system cause, or a negative
 * BL_E* value for an engine cause. The BL_E* codes sit far below any errno
 * value (-100000 and down), so the two ranges never overlap and
 * bl_strerror() accepts either.
 */
#ifndef BEAMLINE_ERROR_H
#define BEAMLINE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	BL_OK = 0,
	/* The actor has terminated; the message was discarded. */
	BL_EDEAD = -100000,
	/* The runtime or pool is shutting down and accepts no new work. */
	BL_ESHUTDOWN = -100001,
	/* A supervisor exceeded its restart intensity and gave up. */
	BL_EINTENSITY = -100002,
	/* A linked actor exited abnormally and this actor did not trap exits. */
	BL_ELINKED = -100003,
	/* The actor was stopped by bl_actor_kill(). */
	BL_EKILLED = -100004,
	/* The timer already fired, was cancelled, or never existed. */
	BL_ENOTIMER = -100005,
	/* An argument is outside its documented range. */
	BL_EINVAL = -100006,
	/* Memory ran out. */
	BL_ENOMEM = -100007,
	/* Input (a job, a file, a tensor) is malformed; bl_error_t says where. */
	BL_EFORMAT = -100008,
	/* A configured limit (size, depth, count, quota) was exceeded. */
	BL_ELIMIT = -100009,
	/* The work was cancelled before it finished. */
	BL_ECANCELED = -100010,
	/* The work ran past its deadline. */
	BL_ETIMEDOUT = -100011,
	/* A tenant's quota does not allow the request (device memory, ...). */
	BL_EQUOTA = -100012,
};

/*
 * What went wrong, for a person: the code, the offending field or path (a
 * JSON path such as "params.inputs.a", a file name, or "" when there is
 * none), and a sentence that says what was expected. Functions that take a
 * `bl_error_t *` fill it when they fail and leave it untouched otherwise;
 * NULL is accepted and means "not interested".
 */
#define BL_ERROR_FIELD_MAX 128
#define BL_ERROR_MESSAGE_MAX 384

typedef struct bl_error {
	int code;
	char field[BL_ERROR_FIELD_MAX];
	char message[BL_ERROR_MESSAGE_MAX];
} bl_error_t;

/*
 * Fill *err (when not NULL) with `code`, `field` (NULL for none) and a
 * printf-style message; text that does not fit is cut. Returns `code`, so
 * callers can write `return bl_error_set(err, ...)`.
 */
int bl_error_set(bl_error_t *err, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Put printf-style text in front of err->message (when err is not NULL);
 * a message pushed past the buffer loses its end. */
void bl_error_prefix(bl_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Return a static English description of a code: a BL_E* value, a negative
 * errno value, or 0. Never returns NULL. Safe from any thread.
 */
const char *bl_strerror(int code);

/*
 * Return the symbolic name of a code ("BL_EDEAD", "ENOENT", "OK"), for logs
 * and JSON error fields. Unknown codes return "UNKNOWN". Never returns NULL.
 */
const char *bl_err_name(int code);

#ifdef __cplusplus
}
#endif

#endif
