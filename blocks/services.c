/*
 * The shared services: one table of config sections, each with the
 * functions that open and close its service.
 */
#include <stdlib.h>
#include <string.h>

#include <beamline/http_service.h>
#include <beamline/services.h>

#include "fs_run.h"
#include "approvals_service.h"
#include "sql_service.h"

typedef struct section {
	const char *name;
	/* Open the service from `config` (NULL: defaults) into *s. */
	int (*open)(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup, bl_error_t *err);
	/* Stop its threads and drop its actor references, with the runtime
	 * still running; may be NULL. */
	void (*stop)(bl_block_services_t *s);
	/* Free it, after the runtime; may be NULL. Stop and close are also
	 * called when `open` failed or never ran, so both must accept a
	 * service that is not there. */
	void (*close)(bl_block_services_t *s);
} section_t;

static int open_http(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup, bl_error_t *err)
{
	return bl_http_service_new(&s->http, config, setup->io_pool, err);
}

static void stop_http(bl_block_services_t *s)
{
	bl_http_service_stop(s->http);
}

static void close_http(bl_block_services_t *s)
{
	bl_http_service_free(&s->http);
}

/* The engine reads "admin" itself; it is listed so that it is not an
 * unknown section. */
static const section_t sections[] = {
	{"http", open_http, stop_http, close_http},
	{"fs", bl__fs_config_open, NULL, bl__fs_config_close},
	{"approvals", bl__approvals_open, bl__approvals_stop, bl__approvals_close},
	{"sql", bl__sql_service_open, bl__sql_service_stop, bl__sql_service_close},
	{"admin", NULL, NULL, NULL},
};

#define SECTION_COUNT (sizeof sections / sizeof *sections)

static const section_t *find_section(const char *name)
{
	for (size_t i = 0; i < SECTION_COUNT; i++) {
		if (strcmp(sections[i].name, name) == 0)
			return &sections[i];
	}
	return NULL;
}

/* Reject a config that is not an object or that names an unknown section. */
static int check_sections(json_t *config, bl_error_t *err)
{
	const char *key;
	json_t *value;

	if (!config)
		return 0;
	if (!json_is_object(config))
		return bl_error_set(err, BL_EFORMAT, NULL, "the config must be a JSON object of sections");
	json_object_foreach(config, key, value) {
		if (!find_section(key))
			return bl_error_set(err, BL_EINVAL, key,
					    "unknown config section '%s'; known: fs, http, sql, approvals, admin", key);
	}
	return 0;
}

int bl_block_services_new(bl_block_services_t **out, const bl_services_setup_t *setup, bl_error_t *err)
{
	*out = NULL;
	int rc = check_sections(setup->config, err);
	if (rc < 0)
		return rc;

	bl_block_services_t *s = calloc(1, sizeof *s);
	if (!s)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory making the services");

	for (size_t i = 0; i < SECTION_COUNT && rc == 0; i++) {
		const json_t *section = setup->config ? json_object_get(setup->config, sections[i].name) : NULL;
		if (sections[i].open)
			rc = sections[i].open(s, section, setup, err);
	}
	if (rc < 0) {
		bl_block_services_stop(s);
		bl_block_services_free(&s);
		return rc;
	}
	*out = s;
	return 0;
}

void bl_block_services_stop(bl_block_services_t *s)
{
	if (!s)
		return;
	for (size_t i = SECTION_COUNT; i-- > 0;) {
		if (sections[i].stop)
			sections[i].stop(s);
	}
}

void bl_block_services_free(bl_block_services_t **services)
{
	bl_block_services_t *s = *services;
	if (!s)
		return;
	for (size_t i = SECTION_COUNT; i-- > 0;) {
		if (sections[i].close)
			sections[i].close(s);
	}
	free(s);
	*services = NULL;
}
