/* mvae/report.h — a self-contained HTML page for a run directory or a sweep directory, to read
 * in a browser: tables, SVG plots (mvae_plot_*_svg), every picture grid embedded as a base64
 * PNG, and each run's config and metrics in collapsible sections. One file, nothing beside it
 * needed: it can be mailed or attached. `mvae report DIR` writes it (docs/sweeps.md).
 *
 *   mvae_error err = {0};
 *   if (mvae_report_run_html("runs/quickstart", false, &err)) puts(err.msg);   // report.html
 *   if (mvae_sweep_report("runs/fusion", false, &err)) puts(err.msg);  // .md, .csv, .png, .html
 *   if (mvae_report_dir(dir, false, &err)) puts(err.msg);              // either, by what DIR is
 *
 * The page runs no code but a check after loading: every picture must have decoded, else it
 * logs an error to the browser console; it sets <body data-images-ok="OK/TOTAL">.
 */
#ifndef MVAE_REPORT_H
#define MVAE_REPORT_H
#include "mvae/common.h"
#include <stdbool.h>
#ifdef __cplusplus
extern "C" {
#endif

/* A run directory (made by `mvae train`) -> RUN_DIR/report.html: the test metrics (metrics.json),
 * the training curves (metrics.jsonl: loss, validation loss, each objective term, impartiality
 * cosines), the picture grids (*.png), config.yaml. Needs config.yaml or metrics.json or
 * metrics.jsonl (a run that has not finished an epoch gets a page that says so). */
int mvae_report_run_html(const char *run_dir, bool quiet, mvae_error *err);

/* A sweep directory after mvae_sweep_report (which calls this) -> SWEEP_DIR/report.html: the
 * table of report.csv (mean ± std over seeds), a side-by-side view (one column per point of the
 * grid, headed by the values of the axes that vary: fusions, objectives, methods, ...; best value
 * of each metric in bold), a line plot per metric against a numeric axis that varies
 * (dataset.paired_fraction first), a bar chart per metric with error bars over seeds, every group's
 * training loss in one plot, each picture grid side by side, and every run's metrics and config
 * in collapsible sections; runs that failed (error.txt, no metrics.json) with their messages. */
int mvae_report_sweep_html(const char *sweep_dir, bool quiet, mvae_error *err);

/* Runs side by side, sweep or not: `mvae report RUN_A RUN_B ... [-o compare.html]` -> out_path:
 * the settings of their config.yaml that differ (the runs as columns), every metric of their
 * metrics.json side by side (the best quality metric in bold), their training losses in one plot,
 * each picture grid side by side, each config collapsible. 2 to 64 run directories. */
int mvae_report_compare_html(const char *const *run_dirs, int n, const char *out_path, bool quiet, mvae_error *err);

/* What `mvae report DIR` does: a sweep directory (it has runs.jsonl) gets mvae_sweep_report
 * (report.md, report.csv, PNG plots and report.html), anything else mvae_report_run_html. */
int mvae_report_dir(const char *dir, bool quiet, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
