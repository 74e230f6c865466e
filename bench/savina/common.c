#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "savina.h"

double savina_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double savina_compute(double theta)
{
	/* Read through a volatile so the compiler cannot fold sin(37.2) into a
	 * constant, even with link-time optimisation: the work must happen. */
	volatile double angle = theta;
	double s = sin(angle);
	return s * s;
}

int savina_send_ptr(bl_actor_t *to, uint32_t type, void *ptr)
{
	bl_msg_t *msg = bl_msg_new(type, sizeof ptr);
	if (!msg)
		return BL_ENOMEM;
	memcpy(bl_msg_payload(msg), &ptr, sizeof ptr);
	return bl_send(to, &msg);
}

void *savina_msg_ptr(bl_msg_t *msg)
{
	void *ptr;
	memcpy(&ptr, bl_msg_payload(msg), sizeof ptr);
	return ptr;
}

int64_t savina_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;

	long size = 0, resident = 0;
	int n = fscanf(f, "%ld %ld", &size, &resident);
	fclose(f);
	if (n != 2)
		return -1;
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}
