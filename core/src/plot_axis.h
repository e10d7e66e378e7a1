/* plot_axis.h — what the PNG charts (plot.c) and the SVG charts (plot_svg.c) share (not
 * installed): an axis with its range and round ticks, the tick labels, and the data ranges of
 * line and bar charts.
 *
 *   mvae_plot_axis ya;
 *   mvae_plot_axis_fit(&ya, ylo, yhi, false, 6, 0.06, false);
 *   ya.p0 = bottom_px, ya.p1 = top_px;
 *   for (int i = 0; i < ya.n_ticks; i++) {
 *       double y = mvae_plot_axis_px(&ya, mvae_plot_axis_tick_value(&ya, i));
 *       mvae_plot_axis_tick_label(&ya, i, buf, sizeof buf);
 *       ...
 *   } */
#ifndef MVAE_PLOT_AXIS_H
#define MVAE_PLOT_AXIS_H
#include "mvae/plot.h"

#include <stdbool.h>
#include <stddef.h>

#define MVAE_PLOT_MAX_TICKS 64

typedef struct mvae_plot_axis {
    double lo, hi; /* the range in axis units (log10 of the value on a log axis) */
    bool log;
    double p0, p1; /* pixels of lo and hi (set by the caller's layout) */
    int n_ticks;
    double ticks[MVAE_PLOT_MAX_TICKS]; /* axis units */
} mvae_plot_axis;

/* Fit the axis to data in [lo, hi] (values, > 0 on a log axis): an empty range is widened (by
 * 10% of |lo|, 1 at 0, half a decade on a log axis), then `margin` of the range is added on each
 * side. Ticks: each decade on a log axis (1-2-5 within a decade when that gives fewer than 2);
 * otherwise multiples of a 1-2-5 step giving about `target` ticks, at least 1 when `integer`. */
void mvae_plot_axis_fit(mvae_plot_axis *a, double lo, double hi, bool log, int target, double margin, bool integer);

/* The pixel position of value v (not axis units) along the axis. */
double mvae_plot_axis_px(const mvae_plot_axis *a, double v);

/* The value of tick i (10^tick on a log axis). */
double mvae_plot_axis_tick_value(const mvae_plot_axis *a, int i);

/* Tick i's label: %g of the value on a log axis; %.3g for |t| >= 1e6 or 0 < |t| < 1e-4; else
 * fixed with as many decimals as the tick step needs (at most 6). */
void mvae_plot_axis_tick_label(const mvae_plot_axis *a, int i, char *buf, size_t n);

/* The data ranges of a line chart: x and y over the finite points, y widened by the error bars;
 * no points: x in [0, 1] ([1, 10] with o->log_x) and y in [0, 1]; y reaches 0 with
 * o->y_from_zero. Returns false, with *bad_x the value, at the first finite point with x <= 0
 * on a log x axis (the caller words the error). */
bool mvae_plot_lines_range(const mvae_plot_opts *o, const mvae_plot_series *series, int n_series, double *xlo,
                           double *xhi, double *ylo, double *yhi, double *bad_x);

/* The y range of a bar chart (groups 0 .. n_groups-1 of each series, error bars included): [0, 1]
 * when no value is finite; reaches 0 with o->y_from_zero. */
void mvae_plot_bars_range(const mvae_plot_opts *o, int n_groups, const mvae_plot_series *series, int n_series,
                          double *ylo, double *yhi);
#endif
