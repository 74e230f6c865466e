/*
 * JetStream message metadata, read from the ack reply subject.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/js.h>

enum {
	/* "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>" */
	V1_TOKENS = 9,
	/* "$JS.ACK.<domain>.<account hash>.<stream>...<pending>.<random>"; later servers may append more. */
	V2_TOKENS = 12,
	MAX_TOKENS = 16,
};

static int parse_u64(uint64_t *out, const char *text)
{
	if (!text[0] || text[0] == '-' || text[0] == '+')
		return BL_EFORMAT;
	char *end = NULL;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno || *end)
		return BL_EFORMAT;
	*out = value;
	return 0;
}

static int split(char *buf, char **tokens, size_t max)
{
	size_t n = 0;
	char *p = buf;
	for (;;) {
		if (n == max)
			return -1;
		tokens[n++] = p;
		char *dot = strchr(p, '.');
		if (!dot)
			break;
		*dot = '\0';
		p = dot + 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!tokens[i][0])
			return -1;
	}
	return (int)n;
}

int bl_js_meta_parse(bl_js_meta_t *out, char *buf, size_t size, const char *reply)
{
	if (!reply)
		return BL_EFORMAT;
	size_t len = strlen(reply);
	if (len + 1 > size)
		return BL_ELIMIT;
	memcpy(buf, reply, len + 1);

	char *tokens[MAX_TOKENS];
	int n = split(buf, tokens, MAX_TOKENS);
	if (n < V1_TOKENS || (n > V1_TOKENS && n < V2_TOKENS))
		return BL_EFORMAT;
	if (strcmp(tokens[0], "$JS") != 0 || strcmp(tokens[1], "ACK") != 0)
		return BL_EFORMAT;

	/* The newer form has the domain and the account hash before the stream. */
	int base = n == V1_TOKENS ? 2 : 4;
	bl_js_meta_t meta = {
		.domain = "",
		.stream = tokens[base],
		.consumer = tokens[base + 1],
	};
	if (n >= V2_TOKENS && strcmp(tokens[2], "_") != 0)
		meta.domain = tokens[2];

	uint64_t timestamp = 0;
	if (parse_u64(&meta.delivered, tokens[base + 2]) || parse_u64(&meta.stream_seq, tokens[base + 3]) ||
	    parse_u64(&meta.consumer_seq, tokens[base + 4]) || parse_u64(&timestamp, tokens[base + 5]) ||
	    parse_u64(&meta.pending, tokens[base + 6]) || timestamp > INT64_MAX)
		return BL_EFORMAT;
	meta.timestamp_ns = (int64_t)timestamp;

	*out = meta;
	return 0;
}
