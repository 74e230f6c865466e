#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define QUEUE_MAX 8192u

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

static int _Atomic threshold = BL_LOG_INFO;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	char *lines[QUEUE_MAX]; /* ring of formatted records */
	unsigned head;
	unsigned count;
	uint64_t dropped;
	bool running;
	bool stopping;
	int fd;
	pthread_t thread;
} writer = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER, .fd = 2};

int bl_log_level_parse(bl_log_level_t *out, const char *name)
{
	for (int i = 0; i <= BL_LOG_OFF; i++) {
		if (strcmp(level_names[i], name) == 0) {
			*out = (bl_log_level_t)i;
			return 0;
		}
	}
	return -1;
}

bool bl_log_enabled(bl_log_level_t level)
{
	return (int)level >= atomic_load_explicit(&threshold, memory_order_relaxed);
}

static void write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

static void timestamp(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static json_t *field_value(const bl_log_field_t *f)
{
	switch (f->type) {
	case BL_LOG_STR:
		return f->s ? json_string(f->s) : json_null();
	case BL_LOG_INT:
		return json_integer(f->i);
	case BL_LOG_DOUBLE:
		return json_real(f->d);
	case BL_LOG_BOOL:
		return json_boolean(f->i);
	}
	return json_null();
}

/* Format a record as one line, newline included; NULL when out of memory. */
static char *format(bl_log_level_t level, const char *module, const char *event, const char *corr_id,
		    const char *msg, const bl_log_field_t *fields, size_t nfields)
{
	char ts[48];
	timestamp(ts, sizeof ts);

	json_t *obj = json_object();
	json_object_set_new(obj, "ts", json_string(ts));
	json_object_set_new(obj, "level", json_string(level_names[level]));
	json_object_set_new(obj, "module", json_string(module));
	json_object_set_new(obj, "event", json_string(event));
	json_object_set_new(obj, "corr_id", corr_id ? json_string(corr_id) : json_null());
	if (msg)
		json_object_set_new(obj, "msg", json_string(msg));
	for (size_t i = 0; i < nfields; i++) {
		if (fields[i].key)
			json_object_set_new(obj, fields[i].key, field_value(&fields[i]));
	}

	char *body = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (!body)
		return NULL;
	size_t len = strlen(body);
	char *line = realloc(body, len + 2);
	if (!line) {
		free(body);
		return NULL;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	return line;
}

void bl_log_write(bl_log_level_t level, const char *module, const char *event, const char *corr_id, const char *msg,
		  const bl_log_field_t *fields, size_t nfields)
{
	if (!bl_log_enabled(level))
		return;
	char *line = format(level, module, event, corr_id, msg, fields, nfields);
	if (!line)
		return;

	pthread_mutex_lock(&writer.lock);
	if (!writer.running) {
		pthread_mutex_unlock(&writer.lock);
		write_all(2, line, strlen(line));
		free(line);
		return;
	}
	if (writer.count == QUEUE_MAX) {
		writer.dropped++;
		pthread_mutex_unlock(&writer.lock);
		free(line);
		return;
	}
	writer.lines[(writer.head + writer.count) % QUEUE_MAX] = line;
	writer.count++;
	pthread_cond_signal(&writer.ready);
	pthread_mutex_unlock(&writer.lock);
}

/* Requires: writer.lock held. Reports drops once the queue has room. */
static void report_drops_locked(void)
{
	if (writer.dropped == 0 || writer.count == QUEUE_MAX)
		return;
	bl_log_field_t f = BL_LOG_I("dropped", writer.dropped);
	char *line = format(BL_LOG_WARN, "log", "log_records_dropped", NULL,
			    "the log queue was full; records were dropped", &f, 1);
	if (!line)
		return;
	writer.lines[(writer.head + writer.count) % QUEUE_MAX] = line;
	writer.count++;
	writer.dropped = 0;
}

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&writer.lock);
	for (;;) {
		while (writer.count == 0 && !writer.stopping)
			pthread_cond_wait(&writer.ready, &writer.lock);
		if (writer.count == 0 && writer.stopping)
			break;

		char *line = writer.lines[writer.head];
		writer.head = (writer.head + 1) % QUEUE_MAX;
		writer.count--;
		report_drops_locked();
		pthread_mutex_unlock(&writer.lock);

		write_all(writer.fd, line, strlen(line));
		free(line);
		pthread_mutex_lock(&writer.lock);
	}
	pthread_mutex_unlock(&writer.lock);
	return NULL;
}

int bl_log_start(bl_log_level_t level, int fd)
{
	atomic_store(&threshold, (int)level);

	pthread_mutex_lock(&writer.lock);
	writer.fd = fd;
	writer.stopping = false;
	int rc = writer.running ? 0 : pthread_create(&writer.thread, NULL, writer_main, NULL);
	if (rc == 0)
		writer.running = true;
	pthread_mutex_unlock(&writer.lock);
	return -rc;
}

void bl_log_stop(void)
{
	pthread_mutex_lock(&writer.lock);
	bool running = writer.running;
	writer.stopping = true;
	pthread_cond_signal(&writer.ready);
	pthread_mutex_unlock(&writer.lock);
	if (!running)
		return;

	pthread_join(writer.thread, NULL);
	pthread_mutex_lock(&writer.lock);
	writer.running = false;
	pthread_mutex_unlock(&writer.lock);
}
