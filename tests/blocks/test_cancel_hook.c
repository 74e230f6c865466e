/* The cancel hook: exactly one message per cancel, whether the watch
 * comes before or after the fire, and none after an unwatch. */
#include <criterion/criterion.h>
#include <stdatomic.h>

#include <beamline/blocks.h>

enum { MSG_CANCELLED = 77 };

typedef struct seen {
	int _Atomic cancels;
	bl_latch_t got;
} seen_t;

static int on_message(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)self;
	seen_t *seen = *(seen_t **)state;
	if (msg->type == MSG_CANCELLED) {
		atomic_fetch_add(&seen->cancels, 1);
		bl_latch_count_down(&seen->got);
	}
	return 0;
}

static const bl_behaviour_t watcher = {.name = "watcher", .receive = on_message};

typedef struct fixture {
	bl_runtime_t *rt;
	bl_pool_t *pool;
	bl_actor_t *actor;
	seen_t seen;
	bl_cancel_t cancel;
	bl_cancel_hook_t *hook;
} fixture_t;

static void setup(fixture_t *f)
{
	bl_pool_config_t cfg;
	seen_t *seen = &f->seen;

	bl_latch_init(&f->seen.got, 1);
	cr_assert_eq(bl_runtime_new(&f->rt), 0);
	bl_pool_config_init(&cfg);
	cfg.workers = 1;
	cfg.pin_workers = false;
	cr_assert_eq(bl_runtime_add_pool(f->rt, &cfg, &f->pool), 0);
	cr_assert_eq(bl_actor_spawn(&f->actor, f->pool, &watcher, &seen, sizeof seen), 0);
	f->hook = bl_cancel_hook_new(&f->cancel);
	cr_assert_not_null(f->hook);
}

static void teardown(fixture_t *f)
{
	bl_cancel_hook_free(&f->hook);
	bl_actor_release(&f->actor);
	bl_runtime_free(&f->rt);
}

Test(blocks_cancel_hook, a_fire_after_the_watch_sends_one_message)
{
	fixture_t f = {0};
	setup(&f);

	cr_assert_eq(bl_cancel_hook_watch(f.hook, f.actor, MSG_CANCELLED), 0);
	bl_cancel_hook_fire(f.hook);
	bl_cancel_hook_fire(f.hook);

	cr_assert_eq(bl_latch_wait_for(&f.seen.got, 10000), 0);
	cr_assert(bl_cancel_requested(&f.cancel));
	teardown(&f);
	cr_assert_eq(atomic_load(&f.seen.cancels), 1);
}

Test(blocks_cancel_hook, a_watch_after_the_fire_sends_at_once)
{
	fixture_t f = {0};
	setup(&f);

	bl_cancel_hook_fire(f.hook);
	cr_assert_eq(bl_cancel_hook_watch(f.hook, f.actor, MSG_CANCELLED), 0);

	cr_assert_eq(bl_latch_wait_for(&f.seen.got, 10000), 0);
	teardown(&f);
	cr_assert_eq(atomic_load(&f.seen.cancels), 1);
}

Test(blocks_cancel_hook, an_unwatched_actor_hears_nothing)
{
	fixture_t f = {0};
	setup(&f);

	cr_assert_eq(bl_cancel_hook_watch(f.hook, f.actor, MSG_CANCELLED), 0);
	bl_cancel_hook_unwatch(f.hook);
	bl_cancel_hook_fire(f.hook);

	cr_assert(bl_cancel_requested(&f.cancel));
	teardown(&f);
	cr_assert_eq(atomic_load(&f.seen.cancels), 0);
}

Test(blocks_cancel_hook, a_null_actor_is_refused)
{
	bl_cancel_t cancel = {0};
	bl_cancel_hook_t *hook = bl_cancel_hook_new(&cancel);

	cr_assert_eq(bl_cancel_hook_watch(hook, NULL, MSG_CANCELLED), BL_EINVAL);
	cr_assert_eq(bl_cancel_hook_watch(NULL, NULL, MSG_CANCELLED), BL_EINVAL);
	bl_cancel_hook_free(&hook);
}
