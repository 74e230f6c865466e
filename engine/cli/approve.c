/*
 * beamline-engine approve ID --decision approve|reject [--by NAME]
 *                 [--comment TEXT] [--state-dir DIR | --data-dir DIR]
 *                 [--config FILE]
 * beamline-engine approvals [--json] [--state-dir DIR | --data-dir DIR]
 *                 [--config FILE]
 *
 * Both work on the approvals folder directly, so they work whether or not
 * an engine runs. A running engine notices a new decision through its
 * folder watch and resumes the waiting job.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/approvals.h>

#include "cli.h"

typedef struct approve_options {
	const char *id;
	const char *decision;
	const char *by;
	const char *comment;
	const char *state_dir;
	const char *data_dir;
	const char *config;
	const char *command; /* "approve" or "approvals", for messages */
	bool json;
} approve_options_t;

static void approve_usage(FILE *to)
{
	fputs("usage: beamline-engine approve ID --decision approve|reject [--by NAME] [--comment TEXT]\n"
	      "                               [--state-dir DIR | --data-dir DIR] [--config FILE]\n"
	      "       beamline-engine approvals [--json] [--state-dir DIR | --data-dir DIR] [--config FILE]\n"
	      "\n"
	      "approve records a decision on a pending approval; approvals lists the pending ones.\n"
	      "ID is TENANT:JOB_ID, as approvals lists it.\n"
	      "\n"
	      "  --decision WORD   approve or reject\n"
	      "  --by NAME         who decides (default: $USER)\n"
	      "  --comment TEXT    a note kept with the decision and returned to the job\n"
	      "  --state-dir DIR   the engine's state folder (default: DATA_DIR/.beamline)\n"
	      "  --data-dir DIR    the engine's data folder (default: .)\n"
	      "  --config FILE     the engine's config file, for approvals.dir\n"
	      "  --json            list as one JSON array\n"
	      "\n"
	      "Exit status: 0 done, 2 usage error, 3 the folder could not be read or written,\n"
	      "4 no such approval, 5 already decided, 6 expired (its default decision applies).\n",
	      to);
}

/* Point the value option `word` at `value`. Returns 0, or -1 after
 * printing why. */
static int take_value(approve_options_t *o, const char *word, const char *value)
{
	const struct {
		const char *name;
		const char **target;
	} options[] = {
		{"--decision", &o->decision}, {"--by", &o->by},		  {"--comment", &o->comment},
		{"--state-dir", &o->state_dir}, {"--data-dir", &o->data_dir}, {"--config", &o->config},
	};
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
		if (strcmp(word, options[i].name) == 0) {
			*options[i].target = value;
			return 0;
		}
	}
	fprintf(stderr, "beamline-engine: unknown option %s; see beamline-engine %s --help\n", word, o->command);
	return -1;
}

/* Parse the words after the command. Returns 0, 1 for --help, or -1 after
 * printing what was wrong. */
static int parse(int argc, char **argv, approve_options_t *o, bool takes_id)
{
	o->command = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *word = argv[i];
		if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
			return 1;
		if (strcmp(word, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strncmp(word, "--", 2) == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "beamline-engine: option %s needs a value\n", word);
				return -1;
			}
			if (take_value(o, word, argv[++i]) < 0)
				return -1;
			continue;
		}
		if (!takes_id || o->id) {
			fprintf(stderr, "beamline-engine: unexpected argument '%s'\n", word);
			return -1;
		}
		o->id = word;
	}
	if (o->state_dir && o->data_dir) {
		fprintf(stderr, "beamline-engine: give --state-dir or --data-dir, not both\n");
		return -1;
	}
	return 0;
}

/* Read approvals.dir from the config file, if one is given. */
static int load_config(const approve_options_t *o, bl_approvals_config_t *cfg)
{
	json_error_t jerr;
	bl_error_t err = {0};

	bl_approvals_config_init(cfg);
	if (!o->config)
		return 0;
	json_t *doc = json_load_file(o->config, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		fprintf(stderr, "beamline-engine: %s: cannot read the config file: line %d: %s\n", o->config, jerr.line,
			jerr.text);
		return -1;
	}
	int rc = bl_approvals_config_parse(cfg, json_object_get(doc, "approvals"), &err);
	json_decref(doc);
	if (rc < 0) {
		fprintf(stderr, "beamline-engine: %s: %s: %s\n", o->config, err.field, err.message);
		return -1;
	}
	return 0;
}

/* Open the approvals folder without making it. Returns an exit status;
 * EXIT_NOT_FOUND when there is no folder, reported on stderr unless
 * `quiet`. */
static int open_store(const approve_options_t *o, bl_approval_store_t **store, bool quiet)
{
	bl_approvals_config_t cfg;
	bl_error_t err = {0};
	char state[4096];

	if (load_config(o, &cfg) < 0)
		return EXIT_USAGE;
	if (o->state_dir)
		snprintf(state, sizeof state, "%s", o->state_dir);
	else
		snprintf(state, sizeof state, "%s/.beamline", o->data_dir ? o->data_dir : ".");

	int rc = bl_approval_store_open(store, state, cfg.dir, false, &err);
	if (rc == -ENOENT) {
		if (!quiet)
			fprintf(stderr,
				"beamline-engine: no approvals folder at %s/%s; no job has asked for approval there "
				"(check --state-dir or --data-dir)\n",
				state, cfg.dir);
		return EXIT_NOT_FOUND;
	}
	if (rc < 0) {
		fprintf(stderr, "beamline-engine: %s: %s\n", err.field, err.message);
		return EXIT_RUN_FAILED;
	}
	return 0;
}

/* Say why a decision was refused; returns the exit status. */
static int explain_refusal(int rc, const char *id, const bl_approval_t *a, const bl_error_t *err)
{
	char expires[40];

	switch (rc) {
	case -ENOENT:
		fprintf(stderr,
			"beamline-engine: approval %s not found; `beamline-engine approvals` lists the pending ones\n",
			id);
		return EXIT_NOT_FOUND;
	case -EEXIST:
		fprintf(stderr, "beamline-engine: approval %s was already decided: %s by %s at %s%s\n", id,
			json_string_value(json_object_get(a->decision, "decision")),
			json_string_value(json_object_get(a->decision, "decided_by")),
			json_string_value(json_object_get(a->decision, "decided_at")),
			json_is_true(json_object_get(a->decision, "defaulted")) ? " (default on expiry)" : "");
		return EXIT_CONFLICT;
	case BL_ETIMEDOUT:
		bl_approval_format_time(expires, sizeof expires, bl_approval_expires_ms(a));
		fprintf(stderr, "beamline-engine: approval %s expired at %s; its default decision (%s) applies\n", id,
			expires, json_string_value(json_object_get(a->request, "default_decision")));
		return EXIT_EXPIRED;
	case BL_EFORMAT:
	case BL_ELIMIT:
		fprintf(stderr, "beamline-engine: --%s: %s\n", err->field, err->message);
		return EXIT_USAGE;
	default:
		fprintf(stderr, "beamline-engine: %s: %s\n", err->field[0] ? err->field : id, err->message);
		return EXIT_RUN_FAILED;
	}
}

/* Check the arguments of approve; returns 0 or an exit status. */
static int check_approve_args(const approve_options_t *o, bl_decision_input_t *in)
{
	bl_error_t err = {0};

	if (!o->id) {
		fprintf(stderr, "beamline-engine: missing the approval id (TENANT:JOB_ID)\n");
		return EXIT_USAGE;
	}
	if (bl_approval_id_check(o->id, "ID", &err) < 0) {
		fprintf(stderr, "beamline-engine: %s: %s\n", err.field, err.message);
		return EXIT_USAGE;
	}
	if (!o->decision) {
		fprintf(stderr, "beamline-engine: missing --decision approve|reject\n");
		return EXIT_USAGE;
	}
	if (bl_decision_parse(&in->decision, o->decision) < 0) {
		fprintf(stderr, "beamline-engine: --decision: expected approve or reject, got '%s'\n", o->decision);
		return EXIT_USAGE;
	}
	if (o->by && o->by[strspn(o->by, " \t")] == '\0') {
		fprintf(stderr, "beamline-engine: --by: expected the name of who decides, got '%s'\n", o->by);
		return EXIT_USAGE;
	}
	const char *user = getenv("USER");
	in->by = o->by ? o->by : (user && *user ? user : "unknown");
	in->comment = o->comment;
	return 0;
}

int bl__approve_main(int argc, char **argv)
{
	approve_options_t o = {0};
	bl_decision_input_t in = {0};
	bl_approval_store_t *store = NULL;
	bl_approval_t a = {0};
	bl_error_t err = {0};

	int parsed = parse(argc, argv, &o, true);
	if (parsed != 0) {
		approve_usage(parsed == 1 ? stdout : stderr);
		return parsed == 1 ? 0 : EXIT_USAGE;
	}
	int status = check_approve_args(&o, &in);
	if (status == 0)
		status = open_store(&o, &store, false);
	if (status != 0)
		return status;

	int rc = bl_approval_store_decide(store, o.id, &in, bl_approval_now_ms(), &a, &err);
	if (rc == 0)
		printf("approval %s: %s by %s\n", o.id, bl_decision_name(in.decision), in.by);
	else
		status = explain_refusal(rc, o.id, &a, &err);
	bl_approval_clear(&a);
	bl_approval_store_free(&store);
	return status;
}

/* Print `text` padded to `width` bytes, with control characters (C0, DEL
 * and the two-byte UTF-8 forms of C1) written as \xNN: a summary comes
 * from a job, and escape sequences or line breaks in it could redraw the
 * decider's terminal. */
static void print_field(const char *text, int width)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	int written = 0;

	for (; *s; s++) {
		bool c1 = s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F;
		if (*s < 0x20 || *s == 0x7F || c1) {
			written += printf("\\x%02X", c1 ? s[1] : *s);
			s += c1;
		} else {
			putchar(*s);
			written++;
		}
	}
	printf("%*s", width > written ? width - written : 0, "");
}

/* Print the pending approvals as a table. */
static void print_table(const json_t *list)
{
	size_t i;
	const json_t *a;
	int64_t now = bl_approval_now_ms();

	if (json_array_size(list) == 0) {
		puts("no pending approvals");
		return;
	}
	printf("%-32s %-12s %-16s %s\n", "id", "expires in", "requested by", "summary");
	json_array_foreach(list, i, a) {
		int64_t left = (int64_t)json_integer_value(json_object_get(a, "expires_ms")) - now;
		printf("%-32s %10llds ", json_string_value(json_object_get(a, "id")),
		       (long long)(left > 0 ? (left + 999) / 1000 : 0));
		print_field(json_string_value(json_object_get(a, "requested_by")), 16);
		putchar(' ');
		print_field(json_string_value(json_object_get(a, "summary")), 0);
		putchar('\n');
	}
}

int bl__approvals_main(int argc, char **argv)
{
	approve_options_t o = {0};
	bl_approval_store_t *store = NULL;
	json_t *list = NULL;
	bl_error_t err = {0};

	int parsed = parse(argc, argv, &o, false);
	if (parsed != 0) {
		approve_usage(parsed == 1 ? stdout : stderr);
		return parsed == 1 ? 0 : EXIT_USAGE;
	}
	int status = open_store(&o, &store, true);
	if (status == EXIT_NOT_FOUND) {
		/* No folder yet: nothing is pending. */
		puts(o.json ? "[]" : "no pending approvals");
		return 0;
	}
	if (status != 0)
		return status;

	int rc = bl_approval_store_list(store, &list, &err);
	bl_approval_store_free(&store);
	if (rc < 0) {
		fprintf(stderr, "beamline-engine: %s: %s\n", err.field, err.message);
		return EXIT_RUN_FAILED;
	}
	if (o.json) {
		char *text = json_dumps(list, JSON_COMPACT);
		puts(text ? text : "[]");
		free(text);
	} else {
		print_table(list);
	}
	json_decref(list);
	return 0;
}
