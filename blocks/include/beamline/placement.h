/*
 * The placement model, which chooses where a kernel with "device": "auto"
 * runs: a cost model per kernel and size, fed by measured run times on
 * each device.
 *
 * Sizes fall into buckets of powers of two of the kernel's work (its
 * multiply-adds, or the elements it reads). In a bucket, the first runs
 * calibrate: one on the CPU, then one on the device; after that the
 * faster device by mean run time wins. The slower one is measured again
 * at the 64th, 128th, 256th ... decision of the bucket, so a model that
 * was wrong, or a machine that changed, corrects itself at a cost that
 * shrinks as the evidence grows. A bucket without data borrows the
 * choice of the nearest bucket within a factor of 8 that has both.
 *
 * The model is kept in a JSON file between runs, written atomically.
 */
#ifndef BEAMLINE_PLACEMENT_H
#define BEAMLINE_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#include <beamline/blocks.h>

/* Load the model from `path`; a missing file gives an empty model, and
 * `path` NULL a model that is never saved. Returns 0 and an owned model,
 * BL_EINVAL when `path` is not a regular file (a FIFO is never opened),
 * BL_EFORMAT naming the file for one that does not parse, or BL_ENOMEM. */
int bl_placement_open(bl_placement_t **out, const char *path, bl_error_t *err);

/* Set the file a model opened without one is saved to; `path` is copied. */
void bl_placement_set_path(bl_placement_t *model, const char *path);

/* Write the model to its file through a temporary file and a rename; a
 * path that is no longer a regular file is left alone, and a symbolic
 * link is replaced by the file. Returns 0 (also for a model without a file), BL_EINVAL for such
 * a path, or a negative errno. */
int bl_placement_save(bl_placement_t *model, bl_error_t *err);

/* Tie the model to the device `label` names. A model measured on another
 * device (its file names a different one) starts empty again. */
void bl_placement_bind_device(bl_placement_t *model, const char *label);

/* Free the model without saving it. Takes *model; NULL is fine. */
void bl_placement_free(bl_placement_t **model);

typedef enum bl_place {
	BL_PLACE_CPU = 0,
	BL_PLACE_GPU = 1,
} bl_place_t;

/* Choose a device for `kernel` with `work` units of work. *calibrating is
 * set when the choice measures a device rather than trusting the model.
 * Thread-safe. */
bl_place_t bl_placement_choose(bl_placement_t *model, const char *kernel, double work, bool *calibrating);

/* Record that a run of `kernel` with `work` took `ms` on `device`, its
 * program builds excluded. A negative `ms` records nothing but ends a
 * calibration run that gave no usable time (it failed, or it was the
 * first launch, which includes the device's own compilation). Every
 * choice should be followed by one record. Thread-safe. */
void bl_placement_record(bl_placement_t *model, const char *kernel, double work, bl_place_t device, double ms);

/* Mean measured time of the bucket of `work`, or a negative value when the
 * device has no run there. For tests and reports. */
double bl_placement_mean_ms(bl_placement_t *model, const char *kernel, double work, bl_place_t device);

#endif
