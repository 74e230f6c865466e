/*
 * Structured logging: one JSON object per line on a file descriptor
 * (stderr by default), with fixed keys `ts` (UTC, RFC 3339, microseconds),
 * `level`, `module`, `event` (a stable snake_case name), `corr_id` and
 * `msg`, then the record's own fields.
 *
 * Records are formatted by the calling thread and written by one writer
 * thread, so a worker never blocks on a slow terminal or pipe. The queue
 * is bounded: when it is full, records are dropped and counted, and the
 * count is logged once room returns. Check the level before building a
 * record: BL_LOG does that, so a disabled level costs one load and a
 * branch.
 */
#ifndef BL_ENGINE_LOG_H
#define BL_ENGINE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum bl_log_level {
	BL_LOG_DEBUG = 0,
	BL_LOG_INFO,
	BL_LOG_WARN,
	BL_LOG_ERROR,
	BL_LOG_OFF,
} bl_log_level_t;

/* Parse "debug", "info", "warn", "error" or "off". Returns 0 or -1. */
int bl_log_level_parse(bl_log_level_t *out, const char *name);

typedef enum bl_log_type {
	BL_LOG_STR = 0,
	BL_LOG_INT,
	BL_LOG_DOUBLE,
	BL_LOG_BOOL,
} bl_log_type_t;

/* One key/value field of a record; `key` NULL marks an unused slot. */
typedef struct bl_log_field {
	const char *key;
	bl_log_type_t type;
	const char *s;
	int64_t i;
	double d;
} bl_log_field_t;

#define BL_LOG_S(k, v) ((bl_log_field_t){.key = (k), .type = BL_LOG_STR, .s = (v)})
#define BL_LOG_I(k, v) ((bl_log_field_t){.key = (k), .type = BL_LOG_INT, .i = (int64_t)(v)})
#define BL_LOG_D(k, v) ((bl_log_field_t){.key = (k), .type = BL_LOG_DOUBLE, .d = (double)(v)})
#define BL_LOG_B(k, v) ((bl_log_field_t){.key = (k), .type = BL_LOG_BOOL, .i = (v) ? 1 : 0})

/* Start the writer thread on `fd` with `level` as the threshold. Returns 0
 * or a negative errno. Before start (or after stop) records go straight to
 * `fd` 2 from the calling thread. */
int bl_log_start(bl_log_level_t level, int fd);

/* Write every queued record and stop the writer thread. */
void bl_log_stop(void);

bool bl_log_enabled(bl_log_level_t level);

/* Format and queue one record; `corr_id` and `msg` may be NULL. */
void bl_log_write(bl_log_level_t level, const char *module, const char *event, const char *corr_id, const char *msg,
		  const bl_log_field_t *fields, size_t nfields);

/* Log a record with fields: BL_LOG(level, module, event, corr_id, msg,
 * BL_LOG_S("tenant", t), BL_LOG_I("attempt", n)). */
#define BL_LOG(level, module, event, corr_id, ...)                                                            \
	do {                                                                                                  \
		if (bl_log_enabled(level)) {                                                                  \
			const bl_log_field_t bl_log_fields_[] = {{.key = NULL}, BL__LOG_REST(__VA_ARGS__)};   \
			bl_log_write((level), (module), (event), (corr_id), BL__LOG_FIRST(__VA_ARGS__),       \
				     bl_log_fields_, sizeof bl_log_fields_ / sizeof *bl_log_fields_);         \
		}                                                                                             \
	} while (0)

/* The message is the first variadic argument; the fields follow it. */
#define BL__LOG_FIRST(...) BL__LOG_FIRST_(__VA_ARGS__, 0)
#define BL__LOG_FIRST_(first, ...) (first)
#define BL__LOG_REST(...) BL__LOG_REST_(__VA_ARGS__, BL_LOG_S(NULL, NULL))
#define BL__LOG_REST_(first, ...) __VA_ARGS__

#endif
