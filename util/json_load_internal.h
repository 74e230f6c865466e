/* The string scans of the JSON loader (json_load.c), declared apart so
 * that the tests compare the SSE2 scan with the plain one. */
#ifndef BEAMLINE_JSON_LOAD_INTERNAL_H
#define BEAMLINE_JSON_LOAD_INTERNAL_H

#include <beamline/json_load.h>

/* bl_json_find_special one byte a step: what targets without SSE2 use. */
const char *bl__json_find_special_plain(const char *p, const char *end);

#endif
