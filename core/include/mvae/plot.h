/* mvae/plot.h — small charts as PNG files, with no dependency beyond libpng: line plots with
 * markers and error bars, and grouped bar charts. Text uses a built-in 5x7 bitmap font
 * (printable ASCII). Used by `mvae report`.
 *
 *   double x[] = {0.001, 0.01, 0.1, 1}, y[] = {.5, .7, .8, .85}, sd[] = {.02, .01, .01, .005};
 *   mvae_plot_series s = {.label = "poe", .n = 4, .x = x, .y = y, .err = sd};
 *   mvae_plot_opts o = {.title = "accuracy", .xlabel = "paired fraction", .ylabel = "accuracy",
 *                       .log_x = true};
 *   if (mvae_plot_lines("acc.png", &o, &s, 1, &err)) puts(err.msg);
 *
 * mvae_plot_lines_svg / mvae_plot_bars_svg draw the same charts as SVG text with real typography
 * (the HTML report inlines them).
 *
 * Series i is drawn in mvae_plot_color(i) (a palette of 10 distinct colours) with marker shape
 * i % 4 (circle, square, triangle, diamond). NaN points are skipped (a line is broken there).
 */
#ifndef MVAE_PLOT_H
#define MVAE_PLOT_H
#include "mvae/common.h"
#include <stdbool.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct mvae_plot_series {
    const char *label; /* legend text (NULL: no legend entry) */
    int n;             /* points (line plot) or groups (bar chart) */
    const double *x;   /* line plot: x values (ignored by bar charts) */
    const double *y;   /* values */
    const double *err; /* error bar half-lengths (NULL: none; NaN/0: none for that point) */
} mvae_plot_series;

typedef struct mvae_plot_opts {
    int width, height;  /* pixels (0: 800 x 560) */
    const char *title, *xlabel, *ylabel;
    bool log_x;         /* line plot: log10 x axis (every x must be > 0) */
    bool y_from_zero;   /* include 0 in the y range */
} mvae_plot_opts;

/* The RGB colour of series i. */
void mvae_plot_color(int i, uint8_t rgb[3]);

/* Line plot: each series a polyline through its points in the given order, markers at the points,
 * vertical error bars. Axis ranges fit the data (error bars included) with a margin. */
int mvae_plot_lines(const char *png_path, const mvae_plot_opts *o, const mvae_plot_series *series,
                    int n_series, mvae_error *err);

/* Grouped bar chart: n_groups categories along x (names under the axis); within each, one bar per
 * series (series[s].y[g], error bar series[s].err[g]); NaN values leave a gap. Bars rise from 0
 * when 0 is in the y range and from the bottom of the axis otherwise (e.g. log-likelihoods, all
 * negative and close together: the range fits the data, higher is better). */
int mvae_plot_bars(const char *png_path, const mvae_plot_opts *o, const char *const *groups,
                   int n_groups, const mvae_plot_series *series, int n_series, mvae_error *err);

/* The same two charts as SVG text (vector shapes, text in the viewer's sans-serif font; each point
 * and bar carries a <title> with its value for hover): *svg is malloc'd, the caller frees it. A
 * complete <svg> element, to write to a .svg file or inline into HTML (mvae/report.h). Sizes
 * default to 720 x 420; opts as above. Written by core/src/plot_svg.c. */
int mvae_plot_lines_svg(char **svg, const mvae_plot_opts *o, const mvae_plot_series *series, int n_series,
                        mvae_error *err);
int mvae_plot_bars_svg(char **svg, const mvae_plot_opts *o, const char *const *groups, int n_groups,
                       const mvae_plot_series *series, int n_series, mvae_error *err);

/* Width in pixels of `text` drawn at `scale` with the built-in font (6 * scale per character). */
int mvae_plot_text_width(const char *text, int scale);

#ifdef __cplusplus
}
#endif
#endif
