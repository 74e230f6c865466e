/*
 * starpu-tasks: the StarPU 1.3 peer of the `tasks` benchmark in
 * bench/README.md. The main thread submits 1,000,000 empty tasks with
 * starpu_task_submit() to N CPU workers and waits with
 * starpu_task_wait_for_all(). elapsed_s covers exactly these two steps.
 *
 * Usage: starpu-tasks tasks [--threads N]
 */

/* mkdtemp, setenv, nftw and clock_gettime are POSIX, outside C17. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <starpu.h>

#define TASK_COUNT 1000000UL

/* Number of codelet runs. The workers increment it, and main reads it after
 * starpu_task_wait_for_all(). That call waits on StarPU's mutex-protected
 * count of unfinished tasks, so every relaxed increment is visible by then. */
static atomic_ulong tasks_run;

/* The CPU implementation of the empty codelet. Counting is all it does, so
 * the check can prove that every task ran. */
static void run_empty_task(void *buffers[], void *arg)
{
	(void)buffers;
	(void)arg;
	atomic_fetch_add_explicit(&tasks_run, 1, memory_order_relaxed);
}

static struct starpu_codelet empty_codelet = {
	.cpu_funcs = { run_empty_task },
	.nbuffers = 0,
	.name = "empty",
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_usage(void)
{
	fprintf(stderr,
		"usage: starpu-tasks tasks [--threads N]\n"
		"  --threads N  StarPU CPU workers, N >= 1"
		" (default: number of online CPUs)\n");
}

/* Parse the command line into *threads. Returns 0, or -EINVAL after printing
 * the reason. */
static int parse_args(int argc, char **argv, int *threads)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	char *end = NULL;
	long value;

	if ((argc != 2 && argc != 4) || strcmp(argv[1], "tasks") != 0) {
		print_usage();
		return -EINVAL;
	}
	if (argc == 2) {
		*threads = online > 0 ? (int)online : 1;
		return 0;
	}

	errno = 0;
	value = strtol(argv[3], &end, 10);
	if (strcmp(argv[2], "--threads") != 0 || errno != 0 || end == argv[3] ||
	    *end != '\0' || value < 1 || value > STARPU_NMAXWORKERS) {
		fprintf(stderr, "starpu-tasks: invalid option '%s %s'\n",
			argv[2], argv[3]);
		print_usage();
		return -EINVAL;
	}
	*threads = (int)value;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Delete the directory tree at path, deepest entries first, without
 * following symbolic links. */
static void remove_tree(const char *path)
{
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "starpu-tasks: cannot remove %s: %s\n", path,
			strerror(errno));
}

/* Environment read by starpu_conf_init() and starpu_init(). Returns 0, or
 * -errno if setenv() fails. */
static int set_starpu_environment(const char *home)
{
	/* Performance models and bus samples go to home, a fresh directory,
	 * not to $HOME/.starpu. */
	if (setenv("STARPU_HOME", home, 1) != 0)
		return -errno;
	/* No banner, information or warning lines on stdout or stderr. */
	if (setenv("STARPU_SILENT", "1", 1) != 0)
		return -errno;
	/* No performance-model calibration, StarPU's default. */
	if (setenv("STARPU_CALIBRATE", "0", 1) != 0)
		return -errno;
	/* lws, the default policy of StarPU 1.3, pinned so that a
	 * STARPU_SCHED in the caller's environment cannot change the
	 * workload. */
	if (setenv("STARPU_SCHED", "lws", 1) != 0)
		return -errno;
	return 0;
}

/* Submit TASK_COUNT empty tasks and wait for all of them. Returns the number
 * of tasks submitted, which is TASK_COUNT unless a submission failed. */
static unsigned long submit_and_wait(double *elapsed_s)
{
	unsigned long submitted = 0;
	double start = now_s();
	int ret;

	while (submitted < TASK_COUNT) {
		struct starpu_task *task = starpu_task_create();

		task->cl = &empty_codelet;
		ret = starpu_task_submit(task);
		if (ret != 0) {
			fprintf(stderr,
				"starpu-tasks: starpu_task_submit failed after %lu tasks: %s\n",
				submitted, strerror(-ret));
			starpu_task_destroy(task);
			break;
		}
		submitted++;
	}
	ret = starpu_task_wait_for_all();
	*elapsed_s = now_s() - start;

	if (ret != 0) {
		fprintf(stderr, "starpu-tasks: starpu_task_wait_for_all failed: %s\n",
			strerror(-ret));
		return 0;
	}
	return submitted;
}

int main(int argc, char **argv)
{
	char home[] = "/tmp/starpu-tasks-XXXXXX";
	struct starpu_conf conf;
	unsigned long submitted;
	unsigned long ran;
	double elapsed_s = 0.0;
	int threads;
	int check;
	int ret;

	if (parse_args(argc, argv, &threads) != 0)
		return 2;
	if (mkdtemp(home) == NULL) {
		fprintf(stderr, "starpu-tasks: cannot create %s: %s\n", home,
			strerror(errno));
		return 1;
	}
	ret = set_starpu_environment(home);
	if (ret != 0) {
		fprintf(stderr, "starpu-tasks: setenv failed: %s\n",
			strerror(-ret));
		goto err_remove_home;
	}

	/* CPU workers only. The fields below take precedence over STARPU_NCPU
	 * and the other worker-count variables, so --threads is what runs. */
	starpu_conf_init(&conf);
	conf.precedence_over_environment_variables = 1;
	conf.ncpus = threads;
	conf.ncuda = 0;
	conf.nopencl = 0;
	conf.nmic = 0;
	conf.nmpi_ms = 0;
	ret = starpu_init(&conf);
	if (ret != 0) {
		fprintf(stderr, "starpu-tasks: starpu_init failed: %s\n",
			strerror(-ret));
		goto err_remove_home;
	}

	submitted = submit_and_wait(&elapsed_s);
	ran = atomic_load_explicit(&tasks_run, memory_order_relaxed);
	starpu_shutdown();
	remove_tree(home);

	check = submitted == TASK_COUNT && ran == TASK_COUNT;
	printf("{\"system\":\"starpu\",\"bench\":\"tasks\",\"threads\":%d,"
	       "\"ops\":%lu,\"unit\":\"tasks\",\"elapsed_s\":%.6f,"
	       "\"ns_per_op\":%.1f,\"check\":%s}\n",
	       threads, TASK_COUNT, elapsed_s,
	       elapsed_s * 1e9 / (double)TASK_COUNT, check ? "true" : "false");
	return check ? 0 : 1;

err_remove_home:
	remove_tree(home);
	return 1;
}
