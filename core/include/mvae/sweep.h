/* mvae/sweep.h — parameter sweeps: a base experiment and a grid of overrides, run one after the
 * other in-process (resumable), then a report: a Markdown table and a CSV (mean +- std over
 * seeds) and PNG plots. The file format and the commands are in docs/sweeps.md.
 *
 *   mvae_sweep *s;
 *   if (mvae_sweep_load("sweeps/fusion.yaml", &s, &err)) { puts(err.msg); ... }
 *   mvae_sweep_opts o = {.out_dir = NULL};            // runs/<sweep name>
 *   mvae_sweep_summary sum;
 *   mvae_sweep_execute(s, reg, &o, &sum, &err);       // sum.failed runs failed; the others ran
 *   mvae_sweep_report("runs/fusion", false, &err);    // report.md, report.csv, *.png
 *   mvae_sweep_free(s);
 */
#ifndef MVAE_SWEEP_H
#define MVAE_SWEEP_H
#include "mvae/config.h"
#include "mvae/plugin.h"
#include <stdio.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct mvae_sweep mvae_sweep;

/* One run of the grid. */
typedef struct mvae_sweep_run {
    const char *label;          /* "fusion.plugin=poe,dataset.paired_fraction=0.01,seed=1" and, for
                                   a variant, ",variant=NAME" */
    const char *dir;            /* directory name inside the sweep directory (the label with
                                   characters other than [A-Za-z0-9._=,+-] replaced by '_') */
    const char *variant;        /* NULL: the base grid */
    const char *const *values;  /* per sweep axis: the value as written (scalars as they are) */
} mvae_sweep_run;

/* Parse and check a sweep file (unknown keys and bad shapes are errors with file:line:col) and
 * expand its grid: the cartesian product of the axes in file order (the first axis varies
 * slowest), then each variant's runs. The base experiment is not read here. */
int mvae_sweep_load(const char *path, mvae_sweep **out, mvae_error *err);
void mvae_sweep_free(mvae_sweep *s); /* NULL is a no-op */
const char *mvae_sweep_name(const mvae_sweep *s);
int mvae_sweep_n_axes(const mvae_sweep *s);
const char *mvae_sweep_axis(const mvae_sweep *s, int i);
int mvae_sweep_n_runs(const mvae_sweep *s);
const mvae_sweep_run *mvae_sweep_run_at(const mvae_sweep *s, int i);
/* The experiment of run i: the base file, then the sweep's `set`, the axis values and the
 * variant's `set`, each applied like --set KEY=VALUE. The caller frees *cfg. */
int mvae_sweep_run_config(const mvae_sweep *s, int i, mvae_cfg **cfg, mvae_error *err);

typedef struct mvae_sweep_opts {
    const char *out_dir; /* sweep directory (NULL: runs/<sweep name>) */
    const char *command; /* recorded in command.txt for the report (may be NULL) */
    bool dry_run;        /* list the runs and their state, check each experiment; train nothing */
    bool quiet;          /* no progress output from training (run lines are still printed) */
    /* shards (`--shard i/N`): with n_shards > 0 this process runs only the runs j with
     * j % n_shards == shard. Every run, sharded or not, is claimed before it trains (below), so
     * processes that share the sweep directory never train the same run twice. */
    int shard, n_shards;
} mvae_sweep_opts;

typedef struct mvae_sweep_summary {
    int total;   /* runs in the grid */
    int skipped; /* already finished (metrics.json present) */
    int trained; /* trained from the start */
    int resumed; /* continued from last.ckpt */
    int failed;  /* failed (message printed and written to the run's error.txt) */
    int other_shards; /* left to other shards (--shard) */
    int claimed;      /* being trained by another process (its claim is held) */
} mvae_sweep_summary;

/* ---- processes and hosts sharing one sweep directory (docs/scaling.md) ---- */
/* A claim on a run directory: flock on RUN/claim, which holds "pid P host H started T" while
 * held and is emptied when released. The kernel (or the NFS server, after its lease) drops the
 * lock of a process that dies, so a crashed claim is taken over by the next process that asks;
 * flock needs a file system that supports it across hosts (NFSv4, Lustre with -o flock, GPFS). */
typedef struct mvae_run_claim {
    int fd; /* -1 when not held */
} mvae_run_claim;
/* Try to claim run_dir (created if missing). *got = true: claimed; then `prev` holds the text of a
 * crashed holder's claim that was taken over ("" if none). *got = false: another live process
 * holds it, described in prev ("PID 123 on host x since ..."). prev: at least 256 bytes. */
int mvae_run_claim_try(const char *run_dir, mvae_run_claim *c, bool *got, char *prev, size_t prev_len,
                       mvae_error *err);
void mvae_run_claim_release(mvae_run_claim *c); /* not held: no-op */

typedef struct mvae_slurm_opts {
    const char *exe;       /* absolute path of the mvae command */
    const char *sweep_file;/* absolute path of the sweep file */
    const char *out_dir;   /* absolute sweep directory (on a file system every node sees) */
    const char *workdir;   /* directory the tasks start in (relative paths in the experiment) */
    int n_shards;          /* array tasks; 0: one per run */
    int cpus;              /* --cpus-per-task (0: 1) */
    const char *time;      /* --time (NULL: 24:00:00) */
    const char *partition; /* --partition (NULL: the cluster's default) */
} mvae_slurm_opts;
/* Write a Slurm job-array script: one array task per shard, each running
 *   mvae sweep FILE --out DIR --shard $SLURM_ARRAY_TASK_ID/N --quiet
 * so `sbatch` of it runs the whole sweep (and re-submitting it finishes what failed). */
int mvae_sweep_write_slurm(const mvae_sweep *s, const mvae_slurm_opts *o, FILE *out, mvae_error *err);

/* Run every run of the grid that has no metrics.json yet, one model at a time; a run with
 * last.ckpt but no metrics.json is resumed from its own config.yaml. Writes sweep.yaml (a copy
 * of the sweep file), command.txt and runs.jsonl (one line per finished run: its directory,
 * label, variant, axis values and metrics path), rewritten after every run. A failing run is
 * reported and the sweep goes on: the return is MVAE_OK with sum->failed > 0; an error is
 * returned only when the sweep itself cannot proceed (e.g. the directory cannot be made). */
int mvae_sweep_execute(const mvae_sweep *s, const mvae_registry *reg, const mvae_sweep_opts *o,
                       mvae_sweep_summary *sum, mvae_error *err);

/* Read runs.jsonl and each run's metrics.json and config.yaml in sweep_dir; write report.md,
 * report.csv and the plots (lines_<metric>.png: accuracy/coherence vs the paired fraction, one
 * line per value of the other axes; bars_<metric>.png: log-likelihoods). Prints the files
 * written unless quiet. */
int mvae_sweep_report(const char *sweep_dir, bool quiet, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
