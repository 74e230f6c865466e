/*
 * The I/O pool: file reads and writes, fsync, polls, cancellation, shutdown
 * with operations in flight, and waking a worker that sleeps in its ring.
 *
 * Handlers never assert: they record what they saw and open a latch, and
 * the test thread asserts afterwards (see harness.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <beamline/sched.h>

#include "harness.h"
#include "stress.h"

enum {
	MSG_GO = 1,
	MSG_CANCEL,
	MSG_PING,
};

/* Start a runtime with one I/O pool, or skip the test where the kernel
 * offers no io_uring. */
static bl_runtime_t *start_io_runtime(unsigned workers, unsigned spin_rounds, bl_pool_t **pool)
{
	bl_runtime_t *rt = NULL;
	bl_pool_config_t cfg;

	int rc = bl_runtime_new(&rt);
	cr_assert_eq(rc, 0, "bl_runtime_new returned %s (%d), expected 0", bl_err_name(rc), rc);

	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = workers;
	cfg.spin_rounds = spin_rounds;
	cfg.pin_workers = false;
	rc = bl_runtime_add_pool(rt, &cfg, pool);
	if (rc == -ENOSYS || rc == -EPERM) {
		bl_runtime_free(&rt);
		cr_skip_test("io_uring is unavailable to this process (%s)", bl_err_name(rc));
	}
	cr_assert_eq(rc, 0, "bl_runtime_add_pool returned %s (%d), expected 0", bl_err_name(rc), rc);
	return rt;
}

static bl_actor_t *spawn(bl_pool_t *pool, const bl_behaviour_t *behaviour, const void *state, size_t size)
{
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, behaviour, state, size);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	return actor;
}

static void send_command(bl_actor_t *to, uint32_t type)
{
	int rc = bl_send_u64(to, type, 0);
	cr_assert_eq(rc, 0, "bl_send_u64 returned %s (%d), expected 0", bl_err_name(rc), rc);
}

static void open_pipe(int fds[2])
{
	cr_assert_eq(pipe(fds), 0, "pipe failed: %s", strerror(errno));
}

static void write_byte(int fd)
{
	char byte = 'x';
	cr_assert_eq(write(fd, &byte, 1), 1, "write to the pipe failed: %s", strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* Files: chunked writes at offsets, fsync, reads with a short one at EOF    */
/* ------------------------------------------------------------------------ */

#define FILE_CHUNK (64u * 1024u)
#define FILE_SIZE (4u * 1024u * 1024u + 1000u)
#define FILE_CHUNKS ((FILE_SIZE + FILE_CHUNK - 1u) / FILE_CHUNK)
/* One read more than the file holds, which must return 0 (end of file). */
#define FILE_READS (FILE_CHUNKS + 1u)

enum { PHASE_WRITE = 1, PHASE_FSYNC, PHASE_READ };

#define TAG(phase, index) ((uint64_t)(phase) << 32 | (index))

typedef struct file_job {
	int fd;
	unsigned char *out; /* FILE_SIZE bytes to write */
	unsigned char *in;  /* FILE_READS * FILE_CHUNK bytes read back */
	int64_t write_res[FILE_CHUNKS];
	int64_t fsync_res;
	int64_t read_res[FILE_READS];
	unsigned pending;
	int submit_rc;
	bl_latch_t done;
} file_job_t;

static bool submit_failed(file_job_t *job, int rc)
{
	if (rc == 0)
		return false;
	job->submit_rc = rc;
	bl_latch_count_down(&job->done);
	return true;
}

static void submit_writes(file_job_t *job)
{
	job->pending = FILE_CHUNKS;
	for (uint32_t i = 0; i < FILE_CHUNKS; i++) {
		size_t offset = (size_t)i * FILE_CHUNK;
		size_t len = FILE_SIZE - offset < FILE_CHUNK ? FILE_SIZE - offset : FILE_CHUNK;
		if (submit_failed(job, bl_io_write(NULL, job->fd, job->out + offset, len, offset, TAG(PHASE_WRITE, i))))
			return;
	}
}

static void submit_reads(file_job_t *job)
{
	job->pending = FILE_READS;
	for (uint32_t i = 0; i < FILE_READS; i++) {
		size_t offset = (size_t)i * FILE_CHUNK;
		if (submit_failed(job, bl_io_read(NULL, job->fd, job->in + offset, FILE_CHUNK, offset, TAG(PHASE_READ, i))))
			return;
	}
}

static void file_completed(file_job_t *job, const bl_io_result_t *r)
{
	uint32_t index = (uint32_t)r->tag;

	switch (r->tag >> 32) {
	case PHASE_WRITE:
		job->write_res[index] = r->res;
		if (--job->pending == 0)
			submit_failed(job, bl_io_fsync(NULL, job->fd, TAG(PHASE_FSYNC, 0)));
		break;
	case PHASE_FSYNC:
		job->fsync_res = r->res;
		submit_reads(job);
		break;
	default:
		job->read_res[index] = r->res;
		if (--job->pending == 0)
			bl_latch_count_down(&job->done);
		break;
	}
}

static int file_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	file_job_t *job = *(file_job_t **)state;
	(void)self;

	if (msg->type == MSG_GO)
		submit_writes(job);
	else if (msg->type == BL_MSG_IO)
		file_completed(job, bl_msg_payload(msg));
	return 0;
}

static const bl_behaviour_t file_behaviour = {.name = "file", .receive = file_receive};

Test(sched_io, file_round_trip, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_io_runtime(1, 64, &pool);
	char path[] = "/tmp/bl-test-io-XXXXXX";
	file_job_t *job = calloc(1, sizeof *job);

	cr_assert_not_null(job);
	job->fd = mkstemp(path);
	cr_assert_geq(job->fd, 0, "mkstemp failed: %s", strerror(errno));
	unlink(path);
	job->out = malloc(FILE_SIZE);
	job->in = calloc(FILE_READS, FILE_CHUNK);
	cr_assert(job->out && job->in);
	for (uint32_t i = 0; i < FILE_SIZE; i++)
		job->out[i] = (unsigned char)(i * 2654435761u >> 24);
	bl_latch_init(&job->done, 1);

	bl_actor_t *actor = spawn(pool, &file_behaviour, &job, sizeof job);
	send_command(actor, MSG_GO);
	await_latch(&job->done, "the file's writes, fsync and reads");

	cr_assert_eq(job->submit_rc, 0, "a submit returned %s", bl_err_name(job->submit_rc));
	for (uint32_t i = 0; i < FILE_CHUNKS; i++) {
		int64_t want = i + 1 < FILE_CHUNKS ? FILE_CHUNK : FILE_SIZE - (FILE_CHUNKS - 1) * FILE_CHUNK;
		cr_expect_eq(job->write_res[i], want, "write %u returned %lld, expected %lld", i,
			     (long long)job->write_res[i], (long long)want);
	}
	cr_expect_eq(job->fsync_res, 0, "fsync returned %lld", (long long)job->fsync_res);
	for (uint32_t i = 0; i + 2 < FILE_READS; i++)
		cr_expect_eq(job->read_res[i], FILE_CHUNK, "read %u returned %lld", i, (long long)job->read_res[i]);
	cr_expect_eq(job->read_res[FILE_READS - 2], 1000, "the read at the tail returned %lld, expected 1000",
		     (long long)job->read_res[FILE_READS - 2]);
	cr_expect_eq(job->read_res[FILE_READS - 1], 0, "the read past the end returned %lld, expected 0",
		     (long long)job->read_res[FILE_READS - 1]);
	cr_expect_eq(memcmp(job->in, job->out, FILE_SIZE), 0, "the bytes read back differ from those written");

	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	close(job->fd);
	free(job->out);
	free(job->in);
	free(job);
}

/* ------------------------------------------------------------------------ */
/* One operation on a pipe: poll, read, cancel                               */
/* ------------------------------------------------------------------------ */

typedef struct pipe_job {
	int fd;
	bool poll; /* else a read */
	char buf[16];
	uint64_t id;
	int submit_rc;
	int cancel_rc;
	bl_latch_t submitted;
	bl_latch_t cancel_ran;
	int64_t res;
	uint32_t _Atomic completions;
	bl_latch_t completed;
} pipe_job_t;

static int pipe_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	pipe_job_t *job = *(pipe_job_t **)state;
	(void)self;

	switch (msg->type) {
	case MSG_GO:
		if (job->poll)
			job->submit_rc = bl_io_poll_fd(&job->id, job->fd, POLLIN, 7);
		else
			job->submit_rc = bl_io_read(&job->id, job->fd, job->buf, sizeof job->buf, BL_IO_OFFSET_CURRENT, 7);
		bl_latch_count_down(&job->submitted);
		break;
	case MSG_CANCEL:
		job->cancel_rc = bl_io_cancel(job->id);
		bl_latch_count_down(&job->cancel_ran);
		break;
	case BL_MSG_IO:
		job->res = ((bl_io_result_t *)bl_msg_payload(msg))->res;
		if (atomic_fetch_add(&job->completions, 1) == 0)
			bl_latch_count_down(&job->completed);
		break;
	default:
		break;
	}
	return 0;
}

static const bl_behaviour_t pipe_behaviour = {.name = "pipe", .receive = pipe_receive};

static void init_pipe_job(pipe_job_t *job, int fd, bool poll)
{
	memset(job, 0, sizeof *job);
	job->fd = fd;
	job->poll = poll;
	bl_latch_init(&job->submitted, 1);
	bl_latch_init(&job->cancel_ran, 1);
	bl_latch_init(&job->completed, 1);
}

static void *write_later(void *arg)
{
	const struct timespec pause = {.tv_nsec = 20 * NS_PER_MS};
	nanosleep(&pause, NULL);
	write_byte(*(int *)arg);
	return NULL;
}

Test(sched_io, poll_sees_pipe_readable, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_io_runtime(1, 16, &pool);
	int fds[2];
	pipe_job_t job;
	pthread_t writer;

	open_pipe(fds);
	init_pipe_job(&job, fds[0], true);
	bl_actor_t *actor = spawn(pool, &pipe_behaviour, &(pipe_job_t *){&job}, sizeof(pipe_job_t *));
	send_command(actor, MSG_GO);
	await_latch(&job.submitted, "the poll's submission");
	cr_assert_eq(job.submit_rc, 0, "bl_io_poll_fd returned %s", bl_err_name(job.submit_rc));

	/* Another thread makes the pipe readable while the worker sleeps. */
	cr_assert_eq(pthread_create(&writer, NULL, write_later, &fds[1]), 0);
	await_latch(&job.completed, "the poll's completion");
	pthread_join(writer, NULL);

	cr_expect(job.res > 0 && (job.res & POLLIN), "the poll returned %lld, expected POLLIN set", (long long)job.res);

	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	cr_expect_eq(atomic_load(&job.completions), 1, "the poll completed %u times, expected once",
		     atomic_load(&job.completions));
	close(fds[0]);
	close(fds[1]);
}

Test(sched_io, cancel_read_on_empty_pipe, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_io_runtime(1, 16, &pool);
	int fds[2];
	pipe_job_t job;

	open_pipe(fds);
	init_pipe_job(&job, fds[0], false);
	bl_actor_t *actor = spawn(pool, &pipe_behaviour, &(pipe_job_t *){&job}, sizeof(pipe_job_t *));
	send_command(actor, MSG_GO);
	await_latch(&job.submitted, "the read's submission");
	cr_assert_eq(job.submit_rc, 0, "bl_io_read returned %s", bl_err_name(job.submit_rc));

	send_command(actor, MSG_CANCEL);
	await_latch(&job.cancel_ran, "the cancel");
	await_latch(&job.completed, "the cancelled read's completion");

	cr_expect_eq(job.cancel_rc, 0, "bl_io_cancel returned %s", bl_err_name(job.cancel_rc));
	cr_expect_eq(job.res, -ECANCELED, "the read completed with %lld, expected -ECANCELED (%d)", (long long)job.res,
		     -ECANCELED);

	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	cr_expect_eq(atomic_load(&job.completions), 1, "the read completed %u times, expected once",
		     atomic_load(&job.completions));
	close(fds[0]);
	close(fds[1]);
}

/* ------------------------------------------------------------------------ */
/* Shutdown with reads in flight                                             */
/* ------------------------------------------------------------------------ */

#define STRANDED_ACTORS 8u

/* Discard callbacks receive only the message, so the counts are reached
 * through file-scope variables. Each test runs in its own process. A
 * cancelled read may reach the actor while its worker still runs, or the
 * discard callback once it stopped: both count, as long as it says
 * -ECANCELED. */
static uint32_t _Atomic stranded_cancelled;
static uint32_t _Atomic stranded_other;

typedef struct stranded_state {
	int fd;
	bl_latch_t *submitted;
	char buf[64]; /* the read's buffer, inside the state block */
} stranded_state_t;

static void count_stranded(bl_msg_t *msg)
{
	if (((bl_io_result_t *)bl_msg_payload(msg))->res == -ECANCELED)
		atomic_fetch_add(&stranded_cancelled, 1);
	else
		atomic_fetch_add(&stranded_other, 1);
}

static int stranded_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	stranded_state_t *s = state;
	(void)self;

	if (msg->type == MSG_GO && bl_io_read(NULL, s->fd, s->buf, sizeof s->buf, BL_IO_OFFSET_CURRENT, 0) == 0)
		bl_latch_count_down(s->submitted);
	if (msg->type == BL_MSG_IO)
		count_stranded(msg);
	return 0;
}

static void stranded_discard(bl_msg_t *msg)
{
	if (msg->type == BL_MSG_IO)
		count_stranded(msg);
}

static const bl_behaviour_t stranded_behaviour = {
	.name = "stranded", .receive = stranded_receive, .discard = stranded_discard};

Test(sched_io, shutdown_cancels_reads_in_flight, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_io_runtime(2, 16, &pool);
	bl_latch_t submitted;
	int fds[2];

	open_pipe(fds);
	bl_latch_init(&submitted, STRANDED_ACTORS);
	for (unsigned i = 0; i < STRANDED_ACTORS; i++) {
		stranded_state_t state = {.fd = fds[0], .submitted = &submitted};
		bl_actor_t *actor = spawn(pool, &stranded_behaviour, &state, sizeof state);
		send_command(actor, MSG_GO);
		bl_actor_release(&actor);
	}
	await_latch(&submitted, "every actor's read submission");

	bl_runtime_free(&rt);

	cr_expect_eq(atomic_load(&stranded_cancelled), STRANDED_ACTORS,
		     "%u reads ended as cancelled, expected %u", atomic_load(&stranded_cancelled),
		     STRANDED_ACTORS);
	cr_expect_eq(atomic_load(&stranded_other), 0, "%u completions arrived otherwise, expected none",
		     atomic_load(&stranded_other));
	close(fds[0]);
	close(fds[1]);
}

/* ------------------------------------------------------------------------ */
/* Waking a worker that sleeps in its ring                                   */
/* ------------------------------------------------------------------------ */

static int ping_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)self;
	(void)state;

	if (msg->type == MSG_PING)
		bl_latch_count_down(msg_ptr(msg));
	return 0;
}

static const bl_behaviour_t ping_behaviour = {.name = "ping", .receive = ping_receive};

Test(sched_io, foreign_send_wakes_sleeping_worker, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	/* One search round before sleeping, so the worker sleeps between
	 * most pings. */
	bl_runtime_t *rt = start_io_runtime(1, 1, &pool);
	unsigned long rounds = bl_test_iterations(5000, 500);
	bl_actor_t *actor = spawn(pool, &ping_behaviour, NULL, 0);

	for (unsigned long i = 0; i < rounds; i++) {
		/* Every 16th round waits long enough for the worker to be
		 * asleep for certain; the others race its falling asleep. */
		if (i % 16 == 0)
			nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
		bl_latch_t answered;
		bl_latch_init(&answered, 1);
		int rc = send_ptr(actor, MSG_PING, &answered);
		cr_assert_eq(rc, 0, "send_ptr returned %s in round %lu", bl_err_name(rc), i);
		rc = bl_latch_wait_for(&answered, 10000);
		cr_assert_eq(rc, 0, "round %lu of %lu: the worker was not woken within 10 s (lost wake-up)", i,
			     rounds);
	}

	bl_pool_stats_t stats;
	bl_pool_stats(pool, &stats);
	cr_expect_gt(stats.parks, 0, "the worker never slept, so no wake-up was tested");

	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* More operations in flight than the ring has entries                       */
/* ------------------------------------------------------------------------ */

#define CROWD_ACTORS 40u
#define CROWD_POLLS 16u
#define CROWD_OPS (CROWD_ACTORS * CROWD_POLLS)

typedef struct crowd {
	int fd;
	bl_latch_t submitted;
	int _Atomic submit_rc;
	uint32_t _Atomic seen[CROWD_OPS];
	uint32_t _Atomic readable;
	uint32_t _Atomic total;
	bl_latch_t completed;
} crowd_t;

typedef struct crowd_state {
	crowd_t *crowd;
	uint32_t index;
} crowd_state_t;

static void crowd_submit(crowd_state_t *s)
{
	for (uint32_t k = 0; k < CROWD_POLLS; k++) {
		int rc = bl_io_poll_fd(NULL, s->crowd->fd, POLLIN, s->index * CROWD_POLLS + k);
		if (rc < 0)
			atomic_store(&s->crowd->submit_rc, rc);
	}
	bl_latch_count_down(&s->crowd->submitted);
}

static void crowd_completed(crowd_t *crowd, const bl_io_result_t *r)
{
	if (r->tag < CROWD_OPS)
		atomic_fetch_add(&crowd->seen[r->tag], 1);
	if (r->res > 0 && (r->res & POLLIN))
		atomic_fetch_add(&crowd->readable, 1);
	if (atomic_fetch_add(&crowd->total, 1) + 1 == CROWD_OPS)
		bl_latch_count_down(&crowd->completed);
}

static int crowd_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	crowd_state_t *s = state;
	(void)self;

	if (msg->type == MSG_GO)
		crowd_submit(s);
	else if (msg->type == BL_MSG_IO)
		crowd_completed(s->crowd, bl_msg_payload(msg));
	return 0;
}

static const bl_behaviour_t crowd_behaviour = {.name = "crowd", .receive = crowd_receive};

Test(sched_io, more_polls_than_ring_entries, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_io_runtime(2, 16, &pool);
	crowd_t *crowd = calloc(1, sizeof *crowd);
	int fds[2];

	cr_assert_not_null(crowd);
	open_pipe(fds);
	crowd->fd = fds[0];
	bl_latch_init(&crowd->submitted, CROWD_ACTORS);
	bl_latch_init(&crowd->completed, 1);
	for (uint32_t i = 0; i < CROWD_ACTORS; i++) {
		crowd_state_t state = {.crowd = crowd, .index = i};
		bl_actor_t *actor = spawn(pool, &crowd_behaviour, &state, sizeof state);
		send_command(actor, MSG_GO);
		bl_actor_release(&actor);
	}
	await_latch(&crowd->submitted, "every actor's polls");
	cr_assert_eq(atomic_load(&crowd->submit_rc), 0, "a poll submit returned %s",
		     bl_err_name(atomic_load(&crowd->submit_rc)));

	write_byte(fds[1]);
	await_latch(&crowd->completed, "every poll's completion");
	/* With the runtime freed, no handler runs during the checks. */
	bl_runtime_free(&rt);

	cr_expect_eq(atomic_load(&crowd->total), CROWD_OPS, "%u completions, expected %u",
		     atomic_load(&crowd->total), CROWD_OPS);
	cr_expect_eq(atomic_load(&crowd->readable), CROWD_OPS, "%u polls saw POLLIN, expected %u",
		     atomic_load(&crowd->readable), CROWD_OPS);
	for (uint32_t i = 0; i < CROWD_OPS; i++)
		cr_expect_eq(atomic_load(&crowd->seen[i]), 1, "poll %u completed %u times, expected once", i,
			     atomic_load(&crowd->seen[i]));
	close(fds[0]);
	close(fds[1]);
	free(crowd);
}
