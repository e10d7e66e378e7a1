/* plot_axis.c — axes, ticks and data ranges shared by the PNG and SVG charts (plot_axis.h). */
#include "plot_axis.h"

#include <math.h>
#include <stdio.h>

static double nice_step(double range, int target) {
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

void mvae_plot_axis_fit(mvae_plot_axis *a, double lo, double hi, bool log, int target, double margin, bool integer) {
    a->log = log;
    if (log) lo = log10(lo), hi = log10(hi);
    if (!(hi > lo)) {
        double d = log ? 0.5 : (fabs(lo) > 0 ? fabs(lo) * 0.1 : 1);
        lo -= d, hi += d;
    }
    double m = (hi - lo) * margin;
    a->lo = lo - m, a->hi = hi + m;
    a->n_ticks = 0;
    if (log) {
        for (double k = ceil(a->lo); k <= a->hi + 1e-9 && a->n_ticks < MVAE_PLOT_MAX_TICKS; k++)
            a->ticks[a->n_ticks++] = k;
        if (a->n_ticks < 2) { /* under a decade: 1-2-5 (up to 3 a decade: 62 fit) */
            a->n_ticks = 0;
            for (double k = floor(a->lo); k <= a->hi && a->n_ticks < MVAE_PLOT_MAX_TICKS - 4; k++)
                for (int j = 0; j < 3; j++) {
                    double t = k + log10((double[]){1, 2, 5}[j]);
                    if (t >= a->lo && t <= a->hi) a->ticks[a->n_ticks++] = t;
                }
        }
        return;
    }
    double st = nice_step(a->hi - a->lo, target);
    if (integer && st < 1) st = 1; /* epochs: no tick at 1.5 */
    for (double t = ceil(a->lo / st) * st; t <= a->hi + st * 1e-9 && a->n_ticks < MVAE_PLOT_MAX_TICKS; t += st)
        a->ticks[a->n_ticks++] = fabs(t) < st * 1e-9 ? 0 : t;
}

double mvae_plot_axis_px(const mvae_plot_axis *a, double v) {
    double u = a->log ? log10(v) : v;
    return a->p0 + (u - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

double mvae_plot_axis_tick_value(const mvae_plot_axis *a, int i) { return a->log ? pow(10, a->ticks[i]) : a->ticks[i]; }

void mvae_plot_axis_tick_label(const mvae_plot_axis *a, int i, char *buf, size_t n) {
    double t = a->ticks[i];
    if (a->log) {
        snprintf(buf, n, "%g", pow(10, t));
        return;
    }
    if (fabs(t) >= 1e6 || (fabs(t) > 0 && fabs(t) < 1e-4)) {
        snprintf(buf, n, "%.3g", t);
        return;
    }
    double st = a->n_ticks > 1 ? a->ticks[1] - a->ticks[0] : 1;
    int dec = st >= 1 ? 0 : (int)ceil(-log10(st) - 1e-9);
    snprintf(buf, n, "%.*f", dec > 6 ? 6 : dec, t);
}

static void minmax(double v, double *lo, double *hi) {
    if (!isfinite(v)) return;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

bool mvae_plot_lines_range(const mvae_plot_opts *o, const mvae_plot_series *series, int n_series, double *xlo,
                           double *xhi, double *ylo, double *yhi, double *bad_x) {
    *xlo = *ylo = INFINITY, *xhi = *yhi = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < series[i].n; k++) {
            double x = series[i].x[k], y = series[i].y[k], e = series[i].err ? series[i].err[k] : 0;
            if (!isfinite(x) || !isfinite(y)) continue;
            if (o->log_x && !(x > 0)) return *bad_x = x, false;
            minmax(x, xlo, xhi);
            minmax(y, ylo, yhi);
            if (isfinite(e) && e > 0) minmax(y - e, ylo, yhi), minmax(y + e, ylo, yhi);
        }
    if (*xlo > *xhi) *xlo = o->log_x ? 1 : 0, *xhi = o->log_x ? 10 : 1; /* no data: an empty frame */
    if (*ylo > *yhi) *ylo = 0, *yhi = 1;
    if (o->y_from_zero) minmax(0, ylo, yhi);
    return true;
}

void mvae_plot_bars_range(const mvae_plot_opts *o, int n_groups, const mvae_plot_series *series, int n_series,
                          double *ylo, double *yhi) {
    *ylo = INFINITY, *yhi = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int g = 0; g < n_groups && g < series[i].n; g++) {
            double y = series[i].y[g], e = series[i].err ? series[i].err[g] : 0;
            minmax(y, ylo, yhi);
            if (isfinite(y) && isfinite(e) && e > 0) minmax(y - e, ylo, yhi), minmax(y + e, ylo, yhi);
        }
    if (*ylo > *yhi) *ylo = 0, *yhi = 1;
    if (o->y_from_zero) minmax(0, ylo, yhi);
}
