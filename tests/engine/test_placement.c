#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <beamline/placement.h>

#define WORK (1024.0 * 1024.0)

static bl_placement_t *empty_model(void)
{
	bl_placement_t *model = NULL;
	cr_assert_eq(bl_placement_open(&model, NULL, NULL), 0);
	return model;
}

Test(engine_placement, calibrates_cpu_then_gpu)
{
	bl_placement_t *model = empty_model();
	bool calibrating = false;

	cr_assert_eq(bl_placement_choose(model, "sgemm", WORK, &calibrating), BL_PLACE_CPU);
	cr_assert(calibrating);
	cr_assert_eq(bl_placement_choose(model, "sgemm", WORK, &calibrating), BL_PLACE_GPU);
	cr_assert(calibrating);
	cr_assert_eq(bl_placement_choose(model, "sgemm", WORK, &calibrating), BL_PLACE_CPU,
		     "both calibrations are in flight, so the default device runs");
	cr_assert_not(calibrating);

	bl_placement_free(&model);
}

Test(engine_placement, faster_device_wins)
{
	bl_placement_t *model = empty_model();
	bl_placement_choose(model, "map", WORK, NULL);
	bl_placement_choose(model, "map", WORK, NULL);
	bl_placement_record(model, "map", WORK, BL_PLACE_CPU, 10.0);
	bl_placement_record(model, "map", WORK, BL_PLACE_GPU, 2.0);

	for (int i = 1; i < 64; i++)
		cr_assert_eq(bl_placement_choose(model, "map", WORK, NULL), BL_PLACE_GPU, "decision %d", i);
	bool calibrating = false;
	cr_assert_eq(bl_placement_choose(model, "map", WORK, &calibrating), BL_PLACE_CPU,
		     "the 64th decision measures the slower device again");
	cr_assert(calibrating);
	cr_assert_eq(bl_placement_choose(model, "map", WORK * 1.5, NULL), BL_PLACE_GPU, "same bucket");

	bl_placement_free(&model);
}

Test(engine_placement, near_bucket_is_borrowed)
{
	bl_placement_t *model = empty_model();
	bl_placement_record(model, "knn", WORK, BL_PLACE_CPU, 1.0);
	bl_placement_record(model, "knn", WORK, BL_PLACE_GPU, 3.0);
	bool calibrating = true;

	cr_assert_eq(bl_placement_choose(model, "knn", WORK * 4, &calibrating), BL_PLACE_CPU);
	cr_assert_not(calibrating, "a neighbour within a factor of 8 decides");
	cr_assert_eq(bl_placement_choose(model, "knn", WORK * 64, &calibrating), BL_PLACE_CPU);
	cr_assert(calibrating, "a bucket 64 times larger is measured afresh");
	cr_assert_eq(bl_placement_choose(model, "topk", WORK, &calibrating), BL_PLACE_CPU);
	cr_assert(calibrating, "kernels do not share evidence");

	bl_placement_free(&model);
}

Test(engine_placement, failed_calibration_is_retried)
{
	bl_placement_t *model = empty_model();
	bl_placement_choose(model, "map", WORK, NULL);
	cr_assert_eq(bl_placement_choose(model, "map", WORK, NULL), BL_PLACE_GPU);
	bl_placement_record(model, "map", WORK, BL_PLACE_GPU, -1.0);
	bool calibrating = false;

	cr_assert_eq(bl_placement_choose(model, "map", WORK, &calibrating), BL_PLACE_GPU);
	cr_assert(calibrating, "a run without a usable time leaves the device unmeasured");
	cr_assert_lt(bl_placement_mean_ms(model, "map", WORK, BL_PLACE_GPU), 0.0);

	bl_placement_free(&model);
}

Test(engine_placement, model_survives_save_and_load)
{
	char path[] = "/tmp/bl-placement-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	unlink(path);
	bl_placement_t *model = NULL;
	bl_error_t err = {0};

	cr_assert_eq(bl_placement_open(&model, path, &err), 0, "a missing file is an empty model: %s", err.message);
	bl_placement_record(model, "sgemm", WORK, BL_PLACE_CPU, 4.0);
	bl_placement_record(model, "sgemm", WORK, BL_PLACE_GPU, 40.0);
	cr_assert_eq(bl_placement_save(model, &err), 0, "%s", err.message);
	bl_placement_free(&model);

	cr_assert_eq(bl_placement_open(&model, path, &err), 0, "%s", err.message);
	cr_assert_float_eq(bl_placement_mean_ms(model, "sgemm", WORK, BL_PLACE_CPU), 4.0, 1e-9);
	cr_assert_float_eq(bl_placement_mean_ms(model, "sgemm", WORK, BL_PLACE_GPU), 40.0, 1e-9);
	cr_assert_eq(bl_placement_choose(model, "sgemm", WORK, NULL), BL_PLACE_CPU);
	bl_placement_free(&model);
	unlink(path);
}

Test(engine_placement, corrupt_file_names_path)
{
	char path[] = "/tmp/bl-placement-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "{\"version\": 1, \"kernels\": {\"map\": {\"99\": {}}}}", 46), 46);
	close(fd);
	bl_placement_t *model = NULL;
	bl_error_t err = {0};

	cr_assert_eq(bl_placement_open(&model, path, &err), BL_EFORMAT);
	cr_assert_null(model);
	cr_assert(strstr(err.message, path), "message: %s", err.message);
	unlink(path);
}

Test(engine_placement, non_regular_path_refused)
{
	bl_placement_t *model = NULL;
	bl_error_t err = {0};

	cr_assert_eq(bl_placement_open(&model, "/dev/null", &err), BL_EINVAL, "a device is not a model file");
	cr_assert_null(model);
	cr_assert(strstr(err.message, "not a regular file"), "message: %s", err.message);
	cr_assert_eq(bl_placement_open(&model, "/tmp", &err), BL_EINVAL, "nor is a folder");
}

Test(engine_placement, save_leaves_replaced_path_alone)
{
	char dir[] = "/tmp/bl-placement-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof path, "%s/model.json", dir);
	bl_placement_t *model = NULL;
	bl_error_t err = {0};

	cr_assert_eq(bl_placement_open(&model, path, &err), 0);
	bl_placement_record(model, "map", WORK, BL_PLACE_CPU, 1.0);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(bl_placement_save(model, &err), BL_EINVAL, "a FIFO made during the run is not replaced");

	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISFIFO(st.st_mode));
	bl_placement_free(&model);
	unlink(path);
	rmdir(dir);
}

Test(engine_placement, file_counts_and_kernels_bounded)
{
	char path[] = "/tmp/bl-placement-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *text = "{\"version\": 1, \"kernels\": {\"map\": {\"20\": {\"cpu\": [9223372036854775807, 1.0]}},"
			   " \"no such kernel\": {\"20\": {\"cpu\": [1, 2.0]}}}}";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	bl_placement_t *model = NULL;
	bl_error_t err = {0};

	cr_assert_eq(bl_placement_open(&model, path, &err), 0, "%s", err.message);
	bl_placement_record(model, "map", WORK, BL_PLACE_CPU, 1.0);
	cr_assert_eq(bl_placement_save(model, &err), 0, "%s", err.message);
	bl_placement_free(&model);

	json_t *saved = json_load_file(path, 0, NULL);
	cr_assert_not_null(saved);
	json_t *kernels = json_object_get(saved, "kernels");
	cr_assert_null(json_object_get(kernels, "no such kernel"), "an unknown kernel is dropped");
	json_int_t runs = json_integer_value(json_array_get(
		json_object_get(json_object_get(json_object_get(kernels, "map"), "20"), "cpu"), 0));
	cr_assert_gt(runs, 0, "the run count saturates instead of wrapping");
	json_decref(saved);
	cr_assert_eq(bl_placement_open(&model, path, &err), 0, "the engine reads its own file back: %s", err.message);
	bl_placement_free(&model);
	unlink(path);
}

/* The count of decisions is kept in the file, so re-measuring the slower
 * device happens at the 64th, 128th ... decision over all runs, not in
 * every run again. */
Test(engine_placement, decisions_carry_over)
{
	char path[] = "/tmp/bl-placement-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	unlink(path);
	bl_placement_t *model = NULL;

	cr_assert_eq(bl_placement_open(&model, path, NULL), 0);
	bl_placement_record(model, "map", WORK, BL_PLACE_CPU, 1.0);
	bl_placement_record(model, "map", WORK, BL_PLACE_GPU, 5.0);
	for (int i = 1; i < 64; i++)
		bl_placement_choose(model, "map", WORK, NULL);
	cr_assert_eq(bl_placement_save(model, NULL), 0);
	bl_placement_free(&model);

	cr_assert_eq(bl_placement_open(&model, path, NULL), 0);
	bool calibrating = false;
	cr_assert_eq(bl_placement_choose(model, "map", WORK, &calibrating), BL_PLACE_GPU,
		     "the 64th decision, in the next run, measures the slower device");
	cr_assert(calibrating);
	cr_assert_eq(bl_placement_choose(model, "map", WORK, &calibrating), BL_PLACE_CPU);
	bl_placement_free(&model);
	unlink(path);
}

/* One stalled run moves a well-measured mean at most fourfold. */
Test(engine_placement, stalled_run_bounded)
{
	bl_placement_t *model = empty_model();
	for (int i = 0; i < 5; i++)
		bl_placement_record(model, "map", WORK, BL_PLACE_CPU, 1.0);
	bl_placement_record(model, "map", WORK, BL_PLACE_GPU, 2.0);

	bl_placement_record(model, "map", WORK, BL_PLACE_CPU, 1000.0);

	cr_assert_float_eq(bl_placement_mean_ms(model, "map", WORK, BL_PLACE_CPU), 1.6, 1e-9);
	cr_assert_eq(bl_placement_choose(model, "map", WORK, NULL), BL_PLACE_CPU, "one stall does not flip it");
	bl_placement_free(&model);
}
