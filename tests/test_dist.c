/* test_dist.c — data-parallel training over MPI (mvae/dist.h, docs/scaling.md).
 *
 * The equivalence test: `mpirun -np 2 --oversubscribe mvae train` with train.dist_noise: global
 * (every rank draws the global batch's noise and keeps its rows) against one process with the
 * same global batch: the same loss per epoch and the same parameters within float tolerance
 * (only the summation order of the batch differs: two half-batch GEMMs added by the all-reduce
 * instead of one). SGD, so that a rounding difference stays a rounding difference (Adam's
 * m / sqrt(v) turns a last-bit difference in a near-zero gradient into a full step). The default
 * per-rank noise must NOT match (the comparison can fail), resume works across rank counts, and
 * a failing rank stops every rank with its message. The MPI tests skip with a message when
 * mpirun is absent or libmvae was built without MPI. */
#define _GNU_SOURCE
#include "mvae_test.h"
#include "tiny_data.h"

#include <math.h>
#include <sys/wait.h>

#include "mvae/checkpoint.h"
#include "mvae/dist.h"
#include "mvae/json.h"

#ifndef MVAE_MPIRUN
#define MVAE_MPIRUN ""
#endif

static int setup(void **state) { return tiny_env_open(state, "dist", 300, 100); }
static int teardown(void **state) { return tiny_env_close(state); }

static bool have_mpi(void) {
    if (!mvae_dist_compiled()) {
        print_message("[  SKIPPED ] libmvae was built without MPI (install libopenmpi-dev and configure again)\n");
        return false;
    }
    if (!MVAE_MPIRUN[0] || access(MVAE_MPIRUN, X_OK) != 0) {
        print_message("[  SKIPPED ] mpirun not found (install openmpi-bin; scripts/deps.sh does)\n");
        return false;
    }
    return true;
}

/* Write the tiny experiment with the sets applied to <dir>/<name>.yaml. */
static void write_exp(const tiny_env *e, const char *name, const char *const *sets, char *path, size_t n) {
    mvae_error err = {0};
    mvae_cfg *cfg = tiny_cfg(e->data, sets, &err);
    assert_non_null(cfg);
    snprintf(path, n, "%s/%s.yaml", e->dir, name);
    assert_int_equal(mvae_cfg_write_file(cfg, path, &err), 0);
    mvae_cfg_free(cfg);
}

/* Run a shell command (output to <dir>/log.txt); the exit status. */
static int run(const tiny_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(const tiny_env *e, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && n < (int)sizeof cmd - 200);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " > %s/log.txt 2>&1", e->dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* mpirun as root needs its consent; ASan's leak check would count Open MPI's start-up memory */
static void mpi_env(void) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    const char *a = getenv("ASAN_OPTIONS");
    char buf[512];
    snprintf(buf, sizeof buf, "%s%sdetect_leaks=0", a ? a : "", a && *a ? ":" : "");
    setenv("ASAN_OPTIONS", buf, 1);
}

#define MVAE_CMD MVAE_BINARY_DIR "/mvae"

/* The loss of each epoch in run/metrics.jsonl. */
static int epoch_losses(const char *run_dir, double *loss, int max) {
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run_dir);
    char *txt = tiny_slurp(p, NULL);
    assert_non_null(txt);
    int n = 0;
    for (char *line = strtok(txt, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        mvae_json *j = NULL;
        mvae_error err = {0};
        assert_int_equal(mvae_json_parse(line, strlen(line), p, &j, &err), 0);
        loss[n++] = mvae_json_number_or(j, "loss", NAN);
        mvae_json_free(j);
    }
    free(txt);
    return n;
}

/* A run's last.ckpt parameters (malloc'd, *n floats). */
static float *ckpt_params(const tiny_env *e, const char *const *sets, const char *run_dir, size_t *n) {
    mvae_error err = {0};
    mvae_cfg *cfg = NULL;
    mvae_model *m = tiny_model(e->reg, e->data, sets, &cfg, &err);
    assert_non_null(m);
    char p[512];
    snprintf(p, sizeof p, "%s/last.ckpt", run_dir);
    if (mvae_checkpoint_load(p, m->params, NULL, NULL, NULL, &err)) fail_msg("%s", err.msg);
    *n = m->params->n_floats;
    float *out = malloc(*n * sizeof *out);
    memcpy(out, m->params->data, *n * sizeof *out);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    return out;
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)a[i]));
        if (x > d) d = x;
    }
    return d;
}

/* buckets of 1 KB (256 floats): the tiny model's gradient block is cut into many, most of them
 * started during backward */
static const char *const g_sets[] = {"train.optimizer={sgd: {lr: 0.002}}", "train.dist_noise=global",
                                     "train.dist_bucket_mb=0.0009765625", "eval.pictures=false", NULL};
static const char *const g_rank_sets[] = {"train.optimizer={sgd: {lr: 0.002}}", "eval.pictures=false", NULL};

/* The tolerances: float32 summation order only. Measured: losses agree to ~2e-8 relative, the
 * parameters to ~1e-6; the default per-rank noise differs by ~4e-4 in the loss. */
#define LOSS_RTOL 1e-6
#define PARAM_RTOL 1e-5

static void test_two_ranks_match_one(void **state) {
    tiny_env *e = *state;
    if (!have_mpi()) skip();
    mpi_env();
    char exp[256], exp_rank[256], r1[300], r2[300], r3[300];
    write_exp(e, "global", g_sets, exp, sizeof exp);
    write_exp(e, "rank", g_rank_sets, exp_rank, sizeof exp_rank);
    snprintf(r1, sizeof r1, "%s/one", e->dir);
    snprintf(r2, sizeof r2, "%s/two", e->dir);
    snprintf(r3, sizeof r3, "%s/two_rank_noise", e->dir);
    assert_int_equal(run(e, "%s train %s --out %s --quiet", MVAE_CMD, exp, r1), 0);
    assert_int_equal(run(e, "MVAE_DIST_STATS=1 timeout 120 %s -np 2 --oversubscribe %s train %s --out %s --quiet",
                         MVAE_MPIRUN, MVAE_CMD, exp, r2), 0);
    { /* the buckets: most started during backward (the hook), the rest after it */
        char p[400];
        snprintf(p, sizeof p, "%s/log.txt", e->dir);
        char *log = tiny_slurp(p, NULL);
        const char *s = strstr(log, "rank 0 of 2: bucketed: ");
        assert_non_null(s);
        unsigned long long steps = 0, in = 0, after = 0;
        assert_int_equal(sscanf(s, "rank 0 of 2: bucketed: %llu steps, %llu buckets started during backward, %llu after",
                                &steps, &in, &after), 3);
        print_message("  bucketed: %llu steps, %llu buckets started during backward, %llu after it\n", steps, in, after);
        assert_int_equal(steps, 18);
        assert_true(in > steps); /* more than one bucket per step went out while backward ran */
        free(log);
    }
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s train %s --out %s --quiet", MVAE_MPIRUN,
                         MVAE_CMD, exp_rank, r3), 0);
    /* the same with the one-shot all-reduce after backward (train.dist_bucket_mb: 0): for 2 ranks
     * the sums are the same additions, so the bucketed run must be bit-identical to it */
    char r4[300];
    snprintf(r4, sizeof r4, "%s/two_oneshot", e->dir);
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s train %s --out %s --quiet "
                         "--set train.dist_bucket_mb=0", MVAE_MPIRUN, MVAE_CMD, exp, r4), 0);
    double l1[8], l2[8], l3[8];
    int n1 = epoch_losses(r1, l1, 8), n2 = epoch_losses(r2, l2, 8), n3 = epoch_losses(r3, l3, 8);
    assert_int_equal(n1, 3);
    assert_int_equal(n2, 3);
    assert_int_equal(n3, 3);
    double worst = 0, worst_rank = 0;
    for (int i = 0; i < 3; i++) {
        worst = fmax(worst, fabs(l1[i] - l2[i]) / fabs(l1[i]));
        worst_rank = fmax(worst_rank, fabs(l1[i] - l3[i]) / fabs(l1[i]));
    }
    size_t n_a, n_b, n_c;
    float *a = ckpt_params(e, g_sets, r1, &n_a), *b = ckpt_params(e, g_sets, r2, &n_b),
          *c = ckpt_params(e, g_sets, r3, &n_c);
    assert_int_equal(n_a, n_b);
    double pd = max_rel_diff(a, b, n_a), pd_rank = max_rel_diff(a, c, n_a);
    print_message("  2 ranks (global noise) vs 1: loss rel diff %.2e, params %.2e; per-rank noise: loss %.2e, "
                  "params %.2e\n", worst, pd, worst_rank, pd_rank);
    assert_true(worst < LOSS_RTOL);
    assert_true(pd < PARAM_RTOL);
    /* the default: each rank its own noise, a different (equally valid) trajectory */
    assert_true(worst_rank > 100 * LOSS_RTOL);
    size_t n_d;
    float *d = ckpt_params(e, g_sets, r4, &n_d);
    assert_int_equal(n_d, n_b);
    assert_memory_equal(b, d, n_b * sizeof *b);
    free(d);
    /* rank 0 alone wrote the run: the same files as one process */
    char p[400];
    snprintf(p, sizeof p, "%s/metrics.json", r2);
    assert_int_equal(access(p, F_OK), 0);
    free(a);
    free(b);
    free(c);
}

/* Killed after epoch 1 (the test hook), resumed with the other number of ranks: the same end as
 * the uninterrupted one-process run. */
static void test_resume_with_other_rank_count(void **state) {
    tiny_env *e = *state;
    if (!have_mpi()) skip();
    mpi_env();
    char exp[256], r1[300], ra[300], rb[300];
    write_exp(e, "global_resume", g_sets, exp, sizeof exp);
    snprintf(r1, sizeof r1, "%s/ref", e->dir);
    snprintf(ra, sizeof ra, "%s/one_then_two", e->dir);
    snprintf(rb, sizeof rb, "%s/two_then_one", e->dir);
    assert_int_equal(run(e, "%s train %s --out %s --quiet", MVAE_CMD, exp, r1), 0);
    /* 1 rank, killed once last.ckpt of epoch 1 is renamed into place (the loss falls every epoch,
     * so each epoch renames best.ckpt, then last.ckpt); resumed by 2 ranks */
    double l[8];
    assert_int_not_equal(run(e, "MVAE_TEST_CRASH_AT=ckpt_renamed:2 %s train %s --out %s --quiet", MVAE_CMD, exp, ra), 0);
    assert_int_equal(epoch_losses(ra, l, 8), 1);
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s train --resume %s --quiet", MVAE_MPIRUN, MVAE_CMD,
                         ra), 0);
    /* 2 ranks, rank 0 killed after epoch 2's checkpoint (mpirun stops the other); resumed by 1 */
    assert_int_not_equal(run(e, "MVAE_TEST_CRASH_AT=ckpt_renamed:4 timeout 120 %s -np 2 --oversubscribe %s train %s "
                             "--out %s --quiet", MVAE_MPIRUN, MVAE_CMD, exp, rb), 0);
    assert_int_equal(epoch_losses(rb, l, 8), 2);
    assert_int_equal(run(e, "%s train --resume %s --quiet", MVAE_CMD, rb), 0);
    size_t n;
    float *ref = ckpt_params(e, g_sets, r1, &n), *pa = ckpt_params(e, g_sets, ra, &n),
          *pb = ckpt_params(e, g_sets, rb, &n);
    double da = max_rel_diff(ref, pa, n), db = max_rel_diff(ref, pb, n);
    print_message("  resumed 1 -> 2 ranks: params rel diff %.2e; 2 -> 1 ranks: %.2e\n", da, db);
    assert_true(da < PARAM_RTOL);
    assert_true(db < PARAM_RTOL);
    double lr[8], la[8];
    assert_int_equal(epoch_losses(r1, lr, 8), 3);
    assert_int_equal(epoch_losses(ra, la, 8), 3);
    assert_int_equal(epoch_losses(rb, l, 8), 3);
    for (int i = 0; i < 3; i++) {
        assert_true(fabs(lr[i] - la[i]) / fabs(lr[i]) < LOSS_RTOL);
        assert_true(fabs(lr[i] - l[i]) / fabs(lr[i]) < LOSS_RTOL);
    }
    free(ref);
    free(pa);
    free(pb);
}

/* The default per-rank noise: reproducible for a given N, across a kill and resume too (rank
 * r's stream is forked from rank 0's, which last.ckpt holds, at every epoch): bit-identical. */
static void test_rank_noise_resume_bit_identical(void **state) {
    tiny_env *e = *state;
    if (!have_mpi()) skip();
    mpi_env();
    char exp[256], ra[300], rb[300];
    write_exp(e, "rank_resume", g_rank_sets, exp, sizeof exp);
    snprintf(ra, sizeof ra, "%s/rank_whole", e->dir);
    snprintf(rb, sizeof rb, "%s/rank_killed", e->dir);
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s train %s --out %s --quiet", MVAE_MPIRUN, MVAE_CMD,
                         exp, ra), 0);
    assert_int_not_equal(run(e, "MVAE_TEST_CRASH_AT=ckpt_renamed:2 timeout 120 %s -np 2 --oversubscribe %s train %s "
                             "--out %s --quiet", MVAE_MPIRUN, MVAE_CMD, exp, rb), 0);
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s train --resume %s --quiet", MVAE_MPIRUN, MVAE_CMD,
                         rb), 0);
    size_t n;
    float *a = ckpt_params(e, g_rank_sets, ra, &n), *b = ckpt_params(e, g_rank_sets, rb, &n);
    assert_memory_equal(a, b, n * sizeof *a);
    free(b);
    /* rank 1's parameters made to differ after epoch 1 (test hook): rank 0 warns, rank 1 takes
     * rank 0's back, and the run ends as the undisturbed one, bit for bit */
    char rc_dir[300], p[400];
    snprintf(rc_dir, sizeof rc_dir, "%s/rank_perturbed", e->dir);
    assert_int_equal(run(e, "MVAE_TEST_DIST_PERTURB=1 timeout 120 %s -np 2 --oversubscribe %s train %s --out %s",
                         MVAE_MPIRUN, MVAE_CMD, exp, rc_dir), 0);
    snprintf(p, sizeof p, "%s/log.txt", e->dir);
    char *log = tiny_slurp(p, NULL);
    assert_non_null(strstr(log, "the parameters of rank 1 differ from rank 0's"));
    free(log);
    b = ckpt_params(e, g_rank_sets, rc_dir, &n);
    assert_memory_equal(a, b, n * sizeof *a);
    free(a);
    free(b);
}

/* A rank that fails stops all of them, with its own message; a batch smaller than the number of
 * ranks is refused with the fix. */
static void test_failure_stops_all_ranks(void **state) {
    tiny_env *e = *state;
    if (!have_mpi()) skip();
    mpi_env();
    static const char *const nan_sets[] = {"train.optimizer={sgd: {lr: 0.05}}", "train.dist_noise=global",
                                           "eval.pictures=false", NULL};
    static const char *const odd_sets[] = {"train.batch_size=1", "train.max_batches=2", "eval.pictures=false", NULL};
    char exp[256], exp_odd[256], log[300];
    write_exp(e, "nan", nan_sets, exp, sizeof exp);
    write_exp(e, "odd", odd_sets, exp_odd, sizeof exp_odd);
    snprintf(log, sizeof log, "%s/log.txt", e->dir);
    double t0 = mvae_time_sec();
    int st = run(e, "timeout 120 %s -np 2 --oversubscribe %s train %s --out %s/nan --quiet", MVAE_MPIRUN, MVAE_CMD, exp,
                 e->dir);
    char *out = tiny_slurp(log, NULL);
    assert_int_not_equal(st, 0);
    assert_int_not_equal(st, 124); /* stopped, not hung until the timeout */
    assert_true(mvae_time_sec() - t0 < 100);
    assert_non_null(strstr(out, "mvae: error (rank "));
    assert_non_null(strstr(out, "is NaN"));
    free(out);
    st = run(e, "timeout 120 %s -np 2 --oversubscribe %s train %s --out %s/odd --quiet", MVAE_MPIRUN, MVAE_CMD, exp_odd,
             e->dir);
    out = tiny_slurp(log, NULL);
    assert_int_not_equal(st, 0);
    assert_int_not_equal(st, 124);
    assert_non_null(strstr(out, "train.batch_size 1 is smaller than the 2 MPI ranks"));
    assert_non_null(strstr(out, "set train.batch_size to 2 or more"));
    free(out);
}

/* A global batch that 2 ranks cannot split evenly (25 = 12 + 13 rows): each rank's gradient
 * counts by its share, so the trajectory is one process's with batch 25, within the same
 * tolerance as the even split; an equal weighting (1/2 each) would be off by ~4 % of a step. */
static void test_uneven_split_matches_one(void **state) {
    tiny_env *e = *state;
    if (!have_mpi()) skip();
    mpi_env();
    static const char *const sets[] = {"train.optimizer={sgd: {lr: 0.002}}", "train.dist_noise=global",
                                       "train.batch_size=25", "train.epochs=2", "eval.pictures=false", NULL};
    char exp[256], r1[300], r2[300];
    write_exp(e, "uneven", sets, exp, sizeof exp);
    snprintf(r1, sizeof r1, "%s/uneven_one", e->dir);
    snprintf(r2, sizeof r2, "%s/uneven_two", e->dir);
    assert_int_equal(run(e, "%s train %s --out %s --quiet", MVAE_CMD, exp, r1), 0);
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s train %s --out %s --quiet", MVAE_MPIRUN,
                         MVAE_CMD, exp, r2), 0);
    double l1[8], l2[8];
    assert_int_equal(epoch_losses(r1, l1, 8), 2);
    assert_int_equal(epoch_losses(r2, l2, 8), 2);
    double worst = 0;
    for (int i = 0; i < 2; i++) worst = fmax(worst, fabs(l1[i] - l2[i]) / fabs(l1[i]));
    size_t n;
    float *a = ckpt_params(e, sets, r1, &n), *b = ckpt_params(e, sets, r2, &n);
    double pd = max_rel_diff(a, b, n);
    print_message("  batch 25 over 2 ranks (12 + 13) vs 1: loss rel diff %.2e, params %.2e\n", worst, pd);
    assert_true(worst < LOSS_RTOL);
    assert_true(pd < PARAM_RTOL);
    free(a);
    free(b);
}

/* Every number of an eval_last.json, by its dotted path. */
typedef struct leaves { int n; char path[256][96]; double v[256]; } leaves;
static void leaf_cb(const char *path, double v, void *user) {
    leaves *l = user;
    if (l->n < 256) snprintf(l->path[l->n], sizeof l->path[0], "%s", path), l->v[l->n++] = v;
}
static void eval_leaves(const char *run_dir, leaves *l) {
    char p[400];
    snprintf(p, sizeof p, "%s/eval_last.json", run_dir);
    mvae_json *j = NULL;
    mvae_error err = {0};
    if (mvae_json_parse_file(p, &j, &err)) fail_msg("%s", err.msg);
    l->n = 0;
    mvae_json_leaves(j, leaf_cb, l);
    mvae_json_free(j);
}

/* `mpirun -np 2 mvae eval`: each rank evaluates every other batch of the test split (100 samples
 * in batches of 30: rank 0 takes 30 + 30, rank 1 30 + 10, the last one partial) with the same
 * draws as one process (each batch forks its own stream) — the ELBO, accuracy, log-likelihoods
 * and coherence (the classifier trained by rank 0, its parameters broadcast) — and the sums are
 * added up: every metric equals one process's up to the order of double additions. */
static void test_eval_split_matches_one(void **state) {
    tiny_env *e = *state;
    if (!have_mpi()) skip();
    mpi_env();
    static const char *const sets[] = {"train.epochs=1", "eval.pictures=false", NULL};
    char exp[256], r[300];
    write_exp(e, "evalsplit", sets, exp, sizeof exp);
    snprintf(r, sizeof r, "%s/evalsplit", e->dir);
    assert_int_equal(run(e, "%s train %s --out %s --quiet", MVAE_CMD, exp, r), 0);
    const char *ev = "--set eval.batch_size=30 --set 'eval.log_likelihood={samples: 16, max_test: 70, terms: "
                     "[\"image\", \"image,label\", \"image|label\"]}' --set eval.coherence.enabled=true";
    static leaves one, two;
    assert_int_equal(run(e, "%s eval %s %s --quiet", MVAE_CMD, r, ev), 0);
    eval_leaves(r, &one);
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s eval %s %s", MVAE_MPIRUN, MVAE_CMD, r, ev), 0);
    eval_leaves(r, &two);
    char p[400];
    snprintf(p, sizeof p, "%s/log.txt", e->dir);
    char *log = tiny_slurp(p, NULL);
    assert_non_null(strstr(log, "test batches split over 2 ranks")); /* not two processes of one */
    free(log);
    assert_int_equal(one.n, two.n);
    int compared = 0, ll = 0, coh = 0;
    double worst = 0;
    for (int i = 0; i < one.n; i++) {
        assert_string_equal(one.path[i], two.path[i]);
        if (strstr(one.path[i], "second") || strstr(one.path[i], "environment")) continue; /* timings, host */
        if (isnan(one.v[i])) {
            assert_true(isnan(two.v[i]));
            continue;
        }
        double d = fabs(one.v[i] - two.v[i]) / (1.0 + fabs(one.v[i]));
        worst = fmax(worst, d);
        if (d > 1e-9) fail_msg("%s: 1 process %.12g, 2 ranks %.12g", one.path[i], one.v[i], two.v[i]);
        compared++;
        ll += strstr(one.path[i], "log_p") != NULL || strstr(one.path[i], "elbo") != NULL;
        coh += strstr(one.path[i], "coherence") != NULL;
    }
    print_message("  eval over 2 ranks vs 1: %d metrics (%d coherence), worst rel diff %.2e\n", compared, coh, worst);
    assert_true(compared >= 6 && ll >= 2 && coh >= 1);
}

/* `mpirun -np 2 mvae sweep`: each rank a shard that trains its runs alone; every run once. */
static void test_sweep_over_ranks(void **state) {
    tiny_env *e = *state;
    if (!have_mpi()) skip();
    mpi_env();
    char exp[256], sw[300], out[300], p[400];
    static const char *const sets[] = {"train.epochs=1", "eval.pictures=false", NULL};
    write_exp(e, "sweep_base", sets, exp, sizeof exp);
    snprintf(sw, sizeof sw, "%s/sw.yaml", e->dir);
    FILE *f = fopen(sw, "w");
    assert_non_null(f);
    fprintf(f, "name: ranks\nbase: sweep_base.yaml\naxes:\n  seed: [1, 2, 3]\n");
    fclose(f);
    snprintf(out, sizeof out, "%s/sweep_out", e->dir);
    assert_int_equal(run(e, "timeout 120 %s -np 2 --oversubscribe %s sweep %s --out %s --quiet", MVAE_MPIRUN, MVAE_CMD,
                         sw, out), 0);
    snprintf(p, sizeof p, "%s/log.txt", e->dir);
    char *log = tiny_slurp(p, NULL);
    assert_non_null(log);
    for (int seed = 1; seed <= 3; seed++) {
        char done[64];
        snprintf(done, sizeof done, "run %d/3: done in", seed);
        const char *a = strstr(log, done);
        assert_non_null(a);
        assert_null(strstr(a + 1, done)); /* once */
        snprintf(p, sizeof p, "%s/seed=%d/metrics.json", out, seed);
        assert_int_equal(access(p, F_OK), 0);
    }
    assert_non_null(strstr(log, "left to the other 1 shard(s)"));
    free(log);
}

/* The noise of a slice: exactly the rows one process draws for those samples. */
static void test_noise_window(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r1, r2;
    mvae_rng_seed(&r1, 7);
    r2 = r1;
    const int64_t G = 6, n = 2, row0 = 4, D = 5, S = 3;
    float all[3 * 6 * 5];
    mvae_rng_normal_fill(&r1, all, (size_t)(S * G * D));
    mvae_ctx_set_batch_window(ctx, row0, n, G);
    mvae_tensor *eps = mvae_tensor_new(ctx, 2, (int64_t[]){S * n, D});
    mvae_noise_fill(ctx, &r2, eps);
    for (int64_t s = 0; s < S; s++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t d = 0; d < D; d++)
                assert_true(eps->data[(s * n + i) * D + d] == all[(s * G + row0 + i) * D + d]);
    assert_memory_equal(&r1, &r2, sizeof r1); /* the stream advanced as one process's did */
    /* no window: plain draws */
    mvae_ctx_set_batch_window(ctx, 0, 0, 0);
    mvae_rng r3 = r2;
    float plain[10];
    mvae_rng_normal_fill(&r3, plain, 10);
    mvae_tensor *e2 = mvae_tensor_new(ctx, 2, (int64_t[]){2, 5});
    mvae_noise_fill(ctx, &r2, e2);
    assert_memory_equal(e2->data, plain, sizeof plain);
    mvae_ctx_free(ctx);
}

/* The backward hook (mvae_ctx_set_backward_hook): once with (end, end) before the sweep, then
 * after every tape position from end-1 down to 0, and a leaf's gradient is final once the sweep
 * has passed the first op reading it (what the bucketed all-reduce relies on). */
typedef struct hook_log { int n; size_t pos[16], end; float a_grad_at[16]; mvae_tensor *a; } hook_log;
static void record_hook(mvae_ctx *ctx, void *user, size_t pos, size_t end) {
    hook_log *h = user;
    assert_non_null(mvae_ctx_tape_at(ctx, end - 1));
    assert_null(mvae_ctx_tape_at(ctx, end));
    if (h->n < 16) h->a_grad_at[h->n] = h->a->grad ? h->a->grad[0] : 0, h->pos[h->n++] = pos;
    h->end = end;
}
static void test_backward_hook(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = mvae_tensor_fill(ctx, 1, (int64_t[]){1}, 2.0f), *b = mvae_tensor_fill(ctx, 1, (int64_t[]){1}, 3.0f);
    mvae_tensor_requires_grad(a);
    mvae_tensor_requires_grad(b);
    mvae_tensor *ab = mvae_mul(ctx, a, b);          /* tape 0: the only reader of a */
    mvae_tensor *bb = mvae_mul(ctx, b, b);          /* tape 1 */
    mvae_tensor *y = mvae_add(ctx, ab, bb);         /* tape 2: y = a b + b^2 */
    hook_log h = {0};
    h.a = a;
    mvae_ctx_set_backward_hook(ctx, record_hook, &h);
    assert_int_equal(mvae_backward(ctx, y), 0);
    assert_int_equal(h.end, 3);
    assert_int_equal(h.n, 4);
    const size_t want[4] = {3, 2, 1, 0};
    for (int i = 0; i < 4; i++) assert_int_equal(h.pos[i], want[i]);
    assert_true(h.a_grad_at[2] == 0.0f);         /* after position 1: a's reader (0) not run yet */
    assert_true(h.a_grad_at[3] == 3.0f);         /* after position 0: d y / d a = b, final */
    assert_true(b->grad[0] == 2.0f + 2 * 3.0f);  /* a + 2 b */
    mvae_ctx_set_backward_hook(ctx, NULL, NULL);
    mvae_ctx_free(ctx);
}

/* Without a launcher: one process; the collectives are no-ops. Under a launcher's environment
 * but without MPI compiled in: refused with how to enable it. */
static void test_single_process(void **state) {
    (void)state;
    mvae_error err = {0};
    unsetenv("OMPI_COMM_WORLD_SIZE");
    assert_int_equal(mvae_dist_init(&err), 0);
    assert_int_equal(mvae_dist_size(), 1);
    assert_int_equal(mvae_dist_rank(), 0);
    float g[3] = {1, 2, 3};
    assert_int_equal(mvae_dist_allreduce_sum_f32(g, 3, &err), 0);
    assert_true(g[0] == 1 && g[1] == 2 && g[2] == 3);
    assert_non_null(mvae_dist_backend());
    if (mvae_dist_compiled()) return;
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    assert_int_not_equal(mvae_dist_init(&err), 0);
    assert_non_null(strstr(err.msg, "built without MPI"));
    assert_non_null(strstr(err.msg, "libopenmpi-dev"));
    unsetenv("OMPI_COMM_WORLD_SIZE");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_process),
        cmocka_unit_test(test_noise_window),
        cmocka_unit_test(test_backward_hook),
        cmocka_unit_test(test_two_ranks_match_one),
        cmocka_unit_test(test_resume_with_other_rank_count),
        cmocka_unit_test(test_rank_noise_resume_bit_identical),
        cmocka_unit_test(test_failure_stops_all_ranks),
        cmocka_unit_test(test_uneven_split_matches_one),
        cmocka_unit_test(test_eval_split_matches_one),
        cmocka_unit_test(test_sweep_over_ranks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
