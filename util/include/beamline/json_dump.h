/*
 * Compact JSON text of a jansson tree, for results that carry large
 * strings. jansson's own writer decodes every character of a string and
 * appends the plain runs between escapes one by one. On the development
 * machine that took about 7 ms for a 1 MiB string of text lines, some
 * fifty times the fs block's read of the same bytes. This writer took 0.1
 * to 0.25 ms there.
 */
#ifndef BEAMLINE_JSON_DUMP_H
#define BEAMLINE_JSON_DUMP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * Return the compact JSON text of `value` (any type at the top level),
 * byte for byte what json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY)
 * returns: object keys in the order they were added, no spaces, the same
 * escapes and the same numbers. The text is NUL-terminated, owned by the
 * caller (free), and its length goes to *len when len is not NULL.
 *
 * Returns NULL, as json_dumps does, for a string that is not UTF-8, a
 * real that is NaN or infinite, a tree nested deeper than
 * BL_JSON_DUMP_MAX_DEPTH (which also ends a tree that contains itself), or
 * when memory runs out. The tree is not changed; it is not const because
 * jansson's object iterator takes a plain pointer.
 */
char *bl_json_dumps(json_t *value, size_t *len);

/* Text written in place of one value of a tree: see bl_json_dumps_with. */
typedef struct bl_json_text {
	const json_t *slot; /* the value it replaces; NULL: none */
	const char *text;   /* UTF-8, not NUL-terminated; borrowed */
	size_t len;
	/* The caller checked that text is valid UTF-8, so the writer does not
	 * read it a second time for that. */
	bool checked;
} bl_json_text_t;

/*
 * As bl_json_dumps, but write the string sub->text wherever the tree has
 * the value sub->slot (compared by pointer), as if that value were
 * json_stringn(sub->text, sub->len). This lets a result carry megabytes
 * of text without copying it into its tree. sub may be NULL.
 */
char *bl_json_dumps_with(json_t *value, const bl_json_text_t *sub, size_t *len);

/* Containers nested deeper than this are refused. jansson's parser stops
 * at JSON_PARSER_MAX_DEPTH (2048), so a parsed document placed a few
 * levels down in a result still fits. */
#define BL_JSON_DUMP_MAX_DEPTH 4096

#endif
