#define _GNU_SOURCE /* mkstemp */

#include "output.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The temporary file that the signal handler removes if the process is
 * interrupted. A single global is enough because one run writes at a time. */
static char pending_temp[PATH_MAX];
static struct sigaction previous_int, previous_term;

void bl_output_remove_pending(void)
{
	/* unlink is async-signal-safe. */
	if (pending_temp[0])
		unlink(pending_temp);
}

static void remove_temp_and_die(int sig)
{
	/* signal and raise are async-signal-safe too. */
	bl_output_remove_pending();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void guard_temp(const char *path)
{
	struct sigaction sa = {.sa_handler = remove_temp_and_die};
	snprintf(pending_temp, sizeof pending_temp, "%s", path);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &previous_int);
	sigaction(SIGTERM, &sa, &previous_term);
}

static void unguard_temp(void)
{
	sigaction(SIGINT, &previous_int, NULL);
	sigaction(SIGTERM, &previous_term, NULL);
	pending_temp[0] = '\0';
}

static mode_t new_file_mode(void)
{
	/* umask can only be read by setting it; this runs before any thread
	 * of the run starts. */
	mode_t mask = umask(0);
	umask(mask);
	return 0666 & ~mask;
}

static int open_in_place(bl_output_t *out, const char *path, bl_error_t *err)
{
	out->file = fopen(path, "w");
	if (!out->file)
		return bl_error_set(err, -errno, path, "cannot open the output: %s", strerror(errno));
	return 0;
}

/* Create the temporary file beside `target`, with `mode`. */
static int open_temp(bl_output_t *out, const char *target, mode_t mode, bl_error_t *err)
{
	size_t len = strlen(target) + 16;
	out->temp_path = malloc(len);
	out->target = strdup(target);
	if (!out->temp_path || !out->target)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	snprintf(out->temp_path, len, "%s.tmp-XXXXXX", target);

	int fd = mkstemp(out->temp_path);
	if (fd >= 0 && fchmod(fd, mode) == 0)
		out->file = fdopen(fd, "w");
	if (!out->file) {
		int rc = -errno;
		if (fd >= 0) {
			close(fd);
			unlink(out->temp_path);
		}
		return bl_error_set(err, rc, target, "cannot create the output file: %s", strerror(-rc));
	}
	guard_temp(out->temp_path);
	return 0;
}

int bl_output_open(bl_output_t *out, const char *path, const struct stat *input, bl_error_t *err)
{
	struct stat st;
	*out = (bl_output_t){0};

	if (!path || strcmp(path, "-") == 0) {
		out->file = stdout;
		return 0;
	}
	if (stat(path, &st) != 0) {
		if (errno != ENOENT)
			return bl_error_set(err, -errno, path, "cannot use the output path: %s", strerror(errno));
		return open_temp(out, path, new_file_mode(), err);
	}

	if (input && st.st_dev == input->st_dev && st.st_ino == input->st_ino)
		return bl_error_set(err, BL_EINVAL, path, "the output is the jobs file itself; choose another --output");
	if (!S_ISREG(st.st_mode))
		return open_in_place(out, path, err);

	/* An existing regular file, perhaps behind a symbolic link: replace
	 * the file itself, keeping its mode. */
	char target[PATH_MAX];
	if (!realpath(path, target))
		return bl_error_set(err, -errno, path, "cannot resolve the output path: %s", strerror(errno));
	int rc = open_temp(out, target, st.st_mode & 07777, err);
	if (rc < 0) {
		free(out->temp_path);
		free(out->target);
		*out = (bl_output_t){0};
	}
	return rc;
}

int bl_output_close(bl_output_t *out, bool keep, bl_error_t *err)
{
	int rc = 0;
	if (!out->file)
		return 0;

	if (fflush(out->file) == EOF)
		rc = -errno;
	if (out->temp_path && rc == 0 && fsync(fileno(out->file)) != 0)
		rc = -errno;
	if (out->file != stdout && fclose(out->file) != 0 && rc == 0)
		rc = -errno;
	if (out->temp_path) {
		if (rc == 0 && keep && rename(out->temp_path, out->target) != 0)
			rc = -errno;
		if (rc < 0 || !keep)
			unlink(out->temp_path);
		unguard_temp();
	}

	const char *name = out->target ? out->target : "output";
	if (rc < 0)
		bl_error_set(err, rc, name, "cannot write the results: %s", strerror(-rc));
	free(out->temp_path);
	free(out->target);
	*out = (bl_output_t){0};
	return rc;
}
