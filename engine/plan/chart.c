/*
 * The planner's chart (report.h): p99 latency (left axis, solid lines) and
 * CPU utilisation (right axis, dashed lines) against CPU workers per
 * instance, one colour per instance count, the target as a horizontal
 * line and the recommendation circled. Plain SVG text; latencies above
 * three times the target are drawn at the top edge.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

#define WIDTH 860
#define HEIGHT 500
#define LEFT 80
#define RIGHT 80
#define TOP 60
#define BOTTOM 60
#define PLOT_W (WIDTH - LEFT - RIGHT)
#define PLOT_H (HEIGHT - TOP - BOTTOM)

/* Colours for instance counts 1, 2, ...; red is kept for the target. */
static const char *const colours[] = {"#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};
#define COLOURS (sizeof colours / sizeof colours[0])

typedef struct frame {
	unsigned x_max;   /* CPU workers at the right edge */
	double y_max;     /* ms at the top edge */
	unsigned io;      /* the I/O worker count whose points are drawn */
} frame_t;

static double px(const frame_t *f, double workers)
{
	double span = f->x_max > 1 ? (double)(f->x_max - 1) : 1;
	return LEFT + (workers - 1) / span * PLOT_W;
}

static double py_ms(const frame_t *f, double ms)
{
	return TOP + PLOT_H - fmin(ms, f->y_max) / f->y_max * PLOT_H;
}

static double py_share(double share)
{
	return TOP + PLOT_H - fmin(fmax(share, 0), 1) * PLOT_H;
}

static void draw_axes(FILE *out, const frame_t *f, double target)
{
	unsigned step = f->x_max > 10 ? (f->x_max + 9) / 10 : 1;

	fprintf(out, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#333'/>\n", LEFT, TOP, PLOT_W,
		PLOT_H);
	for (unsigned x = 1; x <= f->x_max; x += step)
		fprintf(out, "<text x='%.1f' y='%d' text-anchor='middle'>%u</text>\n", px(f, x), TOP + PLOT_H + 18, x);
	for (int i = 0; i <= 5; i++) {
		double ms = f->y_max * i / 5, y = py_ms(f, ms);
		fprintf(out, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/>\n", LEFT, y, LEFT + PLOT_W, y);
		fprintf(out, "<text x='%d' y='%.1f' text-anchor='end'>%.4g</text>\n", LEFT - 6, y + 4, ms);
		fprintf(out, "<text x='%d' y='%.1f'>%d%%</text>\n", LEFT + PLOT_W + 6, y + 4, i * 20);
	}
	fprintf(out, "<text x='%d' y='%d' text-anchor='middle'>CPU workers per instance</text>\n", LEFT + PLOT_W / 2,
		HEIGHT - 15);
	fprintf(out, "<text transform='translate(20,%d) rotate(-90)' text-anchor='middle'>p99 latency (ms)</text>\n",
		TOP + PLOT_H / 2);
	fprintf(out, "<text transform='translate(%d,%d) rotate(90)' text-anchor='middle'>CPU utilisation</text>\n",
		WIDTH - 20, TOP + PLOT_H / 2);
	fprintf(out, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#c00' stroke-dasharray='8 4'/>\n", LEFT,
		py_ms(f, target), LEFT + PLOT_W, py_ms(f, target));
	fprintf(out, "<text x='%d' y='%.1f' fill='#c00'>target p99 %.4g ms</text>\n", LEFT + 6, py_ms(f, target) - 5,
		target);
}

/* One instance count's two lines: p99 solid, utilisation dashed. */
static void draw_series(FILE *out, const frame_t *f, const bl_plan_sweep_t *s, unsigned instances)
{
	const char *colour = colours[(instances - 1) % COLOURS];

	fprintf(out, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colour);
	for (size_t i = 0; i < s->count; i++) {
		const bl_plan_point_t *p = &s->points[i];
		if (p->instances == instances && p->io_workers == f->io && p->simulated)
			fprintf(out, "%.1f,%.1f ", px(f, p->cpu_workers), py_ms(f, p->result.p99_ms));
	}
	fprintf(out, "'/>\n<polyline fill='none' stroke='%s' stroke-dasharray='4 3' points='", colour);
	for (size_t i = 0; i < s->count; i++) {
		const bl_plan_point_t *p = &s->points[i];
		if (p->instances == instances && p->io_workers == f->io && p->simulated)
			fprintf(out, "%.1f,%.1f ", px(f, p->cpu_workers), py_share(p->result.utilisation));
	}
	fprintf(out, "'/>\n<text x='%d' y='%u' fill='%s'>%u instance%s: p99 solid, utilisation dashed</text>\n",
		LEFT + 10 + (int)((instances - 1) % 2) * PLOT_W / 2, 18 + 16 * ((instances - 1) / 2), colour, instances,
		instances == 1 ? "" : "s");
}

static frame_t make_frame(const bl_plan_sweep_t *s, double target)
{
	frame_t f = {.x_max = 1, .y_max = 3 * target, .io = 1};
	double highest = 0;

	if (s->recommended >= 0)
		f.io = s->points[s->recommended].io_workers;
	for (size_t i = 0; i < s->count; i++) {
		const bl_plan_point_t *p = &s->points[i];
		if (p->cpu_workers > f.x_max)
			f.x_max = p->cpu_workers;
		if (p->simulated)
			highest = fmax(highest, p->result.p99_ms);
	}
	/* Zoom in when every latency is well under the target's band. */
	if (highest > 0 && highest < f.y_max)
		f.y_max = fmax(highest * 1.1, target * 1.2);
	return f;
}

int bl_plan_write_svg(const char *path, const bl_plan_sweep_t *s, double target_p99_ms, bl_error_t *err)
{
	FILE *out = fopen(path, "w");
	unsigned instances_max = 0;

	if (!out)
		return bl_error_set(err, -errno, path, "cannot write the chart: %s", strerror(errno));
	frame_t f = make_frame(s, target_p99_ms);
	for (size_t i = 0; i < s->count; i++)
		instances_max = s->points[i].instances > instances_max ? s->points[i].instances : instances_max;

	fprintf(out, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' "
		     "font-size='12'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
		WIDTH, HEIGHT);
	draw_axes(out, &f, target_p99_ms);
	for (unsigned k = 1; k <= instances_max; k++)
		draw_series(out, &f, s, k);
	if (s->recommended >= 0) {
		const bl_plan_point_t *p = &s->points[s->recommended];
		fprintf(out, "<circle cx='%.1f' cy='%.1f' r='7' fill='none' stroke='black' stroke-width='2'/>\n",
			px(&f, p->cpu_workers), py_ms(&f, p->result.p99_ms));
	}
	fprintf(out, "</svg>\n");
	if (fclose(out) != 0)
		return bl_error_set(err, -EIO, path, "cannot write the chart");
	return 0;
}
