/* The string scans of the JSON loader (json_load.c), declared apart so
 * that the tests compare the SSE2 scan with the plain one. */
#ifndef BEAMLINE_JSON_LOAD_INTERNAL_H
#define BEAMLINE_JSON_LOAD_INTERNAL_H

/*
 * Return the first byte in [p, end) that ends a run of plain string bytes:
 * '"', '\\' or a control byte (below 0x20). Returns end when there is
 * none. bl__json_find_special reads 16 bytes a step with SSE2 where the
 * compiler targets it; bl__json_find_special_plain reads one byte a step
 * and is what other targets use.
 */
const char *bl__json_find_special(const char *p, const char *end);
const char *bl__json_find_special_plain(const char *p, const char *end);

#endif
