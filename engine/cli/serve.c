/*
 * beamline-engine serve --config FILE [--log-level LEVEL]: the service mode
 * (engine/serve.h, docs/serve.md).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "serve.h"

static void usage(FILE *to)
{
	fputs("usage: beamline-engine serve --config FILE [--log-level LEVEL]\n"
	      "\n"
	      "Runs jobs from the NATS JetStream stream BEAMLINE_JOBS and from requests on\n"
	      "beamline.engine.v1.execute until SIGTERM or SIGINT, then drains: it finishes\n"
	      "the jobs in flight (up to nats.drain_timeout_ms), hands the rest back, and\n"
	      "exits 0. docs/serve.md describes the config file, the subjects and the\n"
	      "attempt and dead-letter model.\n"
	      "\n"
	      "options:\n"
	      "  --config FILE       JSON: \"nats\" (required: \"urls\"), \"engine\", and the\n"
	      "                      block and admin sections of `run --config`\n"
	      "  --log-level LEVEL   debug, info, warn, error or off (default: info); logs are\n"
	      "                      JSON lines on standard error\n"
	      "\n"
	      "Exit status: 0 drained after a signal, 2 usage error, 3 setup failed (config,\n"
	      "NATS unreachable, a stream that exists with other settings).\n",
	      to);
}

/* Parse the words after "serve". Returns 0, 1 for help, or -1 after printing what was wrong. */
static int parse(int argc, char **argv, const char **config, bl_log_level_t *level)
{
	for (int i = 2; i < argc; i++) {
		const char *word = argv[i];
		if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
			return 1;
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(word, "--config") != 0 && strcmp(word, "--log-level") != 0) {
			fprintf(stderr, "beamline-engine serve: unknown option '%s'; expected --config or --log-level\n",
				word);
			return -1;
		}
		if (!value) {
			fprintf(stderr, "beamline-engine serve: option %s needs a value\n", word);
			return -1;
		}
		i++;
		if (strcmp(word, "--config") == 0) {
			*config = value;
		} else if (bl_log_level_parse(level, value) != 0) {
			fprintf(stderr, "beamline-engine serve: --log-level: expected debug, info, warn, error or off, got '%s'\n",
				value);
			return -1;
		}
	}
	if (!*config) {
		fputs("beamline-engine serve: missing --config FILE\n", stderr);
		return -1;
	}
	return 0;
}

int bl__serve_main(int argc, char **argv)
{
	const char *path = NULL;
	bl_log_level_t level = BL_LOG_INFO;
	bl_serve_config_t cfg;
	bl_error_t err = {0};

	int parsed = parse(argc, argv, &path, &level);
	if (parsed != 0) {
		usage(parsed == 1 ? stdout : stderr);
		return parsed == 1 ? 0 : EXIT_USAGE;
	}
	if (bl_serve_config_load(&cfg, path, &err) < 0) {
		fprintf(stderr, "beamline-engine serve: %s: %s%s%s\n", path, err.field[0] ? err.field : "",
			err.field[0] ? ": " : "", err.message);
		return EXIT_RUN_FAILED;
	}

	/* The log writer is a thread too: it must start with SIGTERM and SIGINT
	 * blocked, or it could take the signal meant for the drain and die. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	bl_log_start(level, STDERR_FILENO);
	int rc = bl_serve_run(&cfg, &err);
	if (rc < 0)
		BL_LOG(BL_LOG_ERROR, "serve", "serve_failed", NULL, err.message, BL_LOG_S("field", err.field));
	bl_log_stop();
	bl_serve_config_free(&cfg);
	if (rc < 0) {
		fprintf(stderr, "beamline-engine serve: %s%s%s\n", err.field[0] ? err.field : "", err.field[0] ? ": " : "",
			err.message);
		return EXIT_RUN_FAILED;
	}
	return 0;
}
