/*
 * The engine's OpenCL device, opened when a job first needs it, so a run
 * of CPU-only jobs never pays for starting an OpenCL implementation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <beamline/gpu.h>

#include <beamline/placement.h>

struct bl_device_slot {
	pthread_mutex_t lock;
	bool tried;
	bool enabled;
	bl_gpu_t *gpu;
	bl_gpu_config_t cfg;
	bl_placement_t *placement;
	bl_device_opened_fn on_open;
	void *on_open_ctx;
	char why[BL_ERROR_MESSAGE_MAX]; /* why there is no device */
};

int bl_device_slot_new(bl_device_slot_t **out, const bl_gpu_config_t *cfg, bool enabled, bl_placement_t *placement,
		       bl_device_opened_fn on_open, void *ctx)
{
	bl_device_slot_t *slot = calloc(1, sizeof *slot);
	if (!slot)
		return BL_ENOMEM;

	pthread_mutex_init(&slot->lock, NULL);
	slot->enabled = enabled;
	slot->cfg = *cfg;
	slot->placement = placement;
	slot->on_open = on_open;
	slot->on_open_ctx = ctx;
	*out = slot;
	return 0;
}

static void open_once(bl_device_slot_t *slot)
{
	bl_error_t err = {0};
	int rc = slot->enabled ? bl_gpu_open(&slot->gpu, &slot->cfg, &err)
			       : bl_error_set(&err, -ENODEV, NULL, "OpenCL devices are turned off (--no-gpu)");

	if (rc == 0 && slot->placement)
		bl_placement_bind_device(slot->placement, bl_gpu_label(slot->gpu));
	if (rc < 0)
		snprintf(slot->why, sizeof slot->why, "%s", err.message);
	if (slot->on_open)
		slot->on_open(slot->on_open_ctx, slot->gpu, rc < 0 ? &err : NULL);
}

bl_gpu_t *bl_device_slot_get(bl_device_slot_t *slot)
{
	if (!slot)
		return NULL;

	pthread_mutex_lock(&slot->lock);
	if (!slot->tried) {
		slot->tried = true;
		open_once(slot);
	}
	bl_gpu_t *gpu = slot->gpu;
	pthread_mutex_unlock(&slot->lock);
	return gpu;
}

const char *bl_device_slot_why(bl_device_slot_t *slot)
{
	if (!slot)
		return "the engine has no GPU pool";
	return bl_device_slot_get(slot) ? "" : slot->why;
}

void bl_device_slot_free(bl_device_slot_t **slotp)
{
	bl_device_slot_t *slot = *slotp;
	if (!slot)
		return;
	*slotp = NULL;

	bl_gpu_close(&slot->gpu);
	pthread_mutex_destroy(&slot->lock);
	free(slot);
}
