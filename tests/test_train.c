/* test_train.c — the sub-sampled ELBO, weak supervision (paired_fraction), the trainer (run
 * directory, determinism, resume, NaN handling), experiment errors and evaluation, all on a tiny
 * generated Fashion-MNIST look-alike (300 train / 100 test) with small networks. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/checkpoint.h"
#include "mvae/model.h"
#include "mvae/train.h"
#include "tiny_data.h"

#include <sys/stat.h>

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "train", 300, 100); }
static int env_teardown(void **state) { return tiny_env_close(state); }

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle)) fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

/* The tiny experiment with --set style overrides (NULL-terminated). */
static mvae_model *build(env *e, const char *const *sets, mvae_cfg **cfg_out) {
    mvae_error err = {0};
    mvae_model *m = tiny_model(e->reg, e->data, sets, cfg_out, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    return m;
}

static void destroy(mvae_model *m, mvae_cfg *cfg) {
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* A fresh run directory name under the temporary root. */
static void run_dir(env *e, char *buf, size_t n) { snprintf(buf, n, "%s/run%d", e->dir, ++e->n_runs); }

static int train(env *e, const char *const *sets, const char *dir, bool resume, mvae_train_result *r,
                 mvae_error *err) {
    mvae_cfg *cfg;
    mvae_model *m = build(e, sets, &cfg);
    mvae_train_opts o = {.run_dir = dir, .resume = resume, .quiet = true};
    int rc = mvae_train(m, &o, r, err);
    destroy(m, cfg);
    return rc;
}

static void train_ok(env *e, const char *const *sets, const char *dir, bool resume, mvae_train_result *r) {
    mvae_error err = {0};
    int rc = train(e, sets, dir, resume, r, &err);
    if (rc) fprintf(stderr, "train: %s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
}

static int exists(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

static char *slurp_in(const char *dir, const char *name, size_t *len) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *s = tiny_slurp(p, len);
    if (!s) fprintf(stderr, "cannot read %s\n", p);
    assert_non_null(s);
    return s;
}

/* metrics.jsonl without the timing fields: for each line "loss ... terms {...}". */
static int jsonl_losses(const char *dir, char *out, size_t n, double *loss, int max) {
    char *s = slurp_in(dir, "metrics.jsonl", NULL);
    int lines = 0;
    out[0] = '\0';
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *a = strstr(l, "\"loss\":"), *t = strstr(l, "\"terms\":");
        assert_non_null(a);
        assert_non_null(t);
        if (lines < max) loss[lines] = strtod(a + 7, NULL);
        char *comma = strchr(a, ',');
        snprintf(out + strlen(out), n - strlen(out), "%.*s %s\n", (int)(comma - a), a, t);
        lines++;
    }
    free(s);
    return lines;
}

/* ------------------------------------------------------------------------------ objective */
static void fill_batch(const mvae_model *m, mvae_batch *b, int n, const uint8_t *pairing) {
    mvae_error err = {0};
    int64_t idx[64];
    for (int i = 0; i < n; i++) idx[i] = i * 3;
    assert_int_equal(mvae_batch_init(b, m, n, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(b, m, MVAE_SPLIT_TRAIN, idx, n, pairing, &err), MVAE_OK);
}

static mvae_step_stats objective(const mvae_model *m, const mvae_batch *b, float beta, uint64_t seed) {
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    mvae_tensor *loss = NULL;
    mvae_step_stats st;
    int rc = mvae_objective_loss(m, ctx, b, &obj, beta, &rng, &loss, &st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    assert_non_null(loss);
    assert_int_equal(loss->n, 1);
    assert_true(fabs(loss->data[0] - st.loss) < 1e-9);
    double sum = 0;
    for (int t = 0; t < st.n_terms; t++) sum += st.term_loss[t];
    assert_true(fabs(sum - st.loss) <= 1e-4 * fabs(sum));
    /* the loss has a gradient for the parameters */
    mvae_params_zero_grad(m->params);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    assert_true(mvae_grad_norm(m->params) > 0);
    mvae_ctx_free(ctx);
    return st;
}

/* The terms recomputed from the model pieces, in double, with the rng drawn in the same order. */
static void recompute_terms(const mvae_model *m, const mvae_batch *b, float beta, uint64_t seed,
                            const uint32_t *subsets, int n, double *out) {
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_grad(ctx, false);
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    mvae_experts ex;
    assert_int_equal(mvae_model_encode(m, ctx, b, 3u, &ex), MVAE_OK);
    for (int t = 0; t < n; t++) {
        mvae_posterior q;
        mvae_tensor *valid;
        int any;
        assert_int_equal(mvae_model_posterior(m, ctx, &ex, subsets[t], &q, &valid, &any), MVAE_OK);
        assert_true(any);
        mvae_tensor *z = fv->sample(m->fusion, ctx, &q, &rng);
        mvae_tensor *kl = fv->kl(m->fusion, ctx, &q, z);
        double tot = 0;
        for (int i = 0; i < b->n; i++) {
            if (valid->data[i] == 0) continue;
            tot += beta * (double)kl->data[i];
        }
        for (int k = 0; k < m->n_mod; k++) {
            if (!(subsets[t] & (1u << k))) continue;
            mvae_tensor *lp = mvae_likelihood_logp(ctx, m->mod[k].likelihood, mvae_model_decode(m, ctx, k, z),
                                                   mvae_batch_tensor(ctx, m, b, k), m->mod[k].lik_scale);
            assert_non_null(lp);
            for (int i = 0; i < b->n; i++)
                if (b->present[i * m->n_mod + k]) tot -= (double)m->mod[k].weight * lp->data[i];
        }
        out[t] = tot / b->n;
    }
    mvae_ctx_free(ctx);
}

static void test_objective_terms(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    /* joint + unimodal on 2 modalities: {image,label}, {image}, {label} */
    mvae_model *m = build(e, (const char *const[]){"train.objective={joint: true, unimodal: true}", NULL}, &cfg);
    mvae_batch b;
    fill_batch(m, &b, 20, NULL);
    mvae_step_stats st = objective(m, &b, 0.7f, 11);
    assert_int_equal(st.n_terms, 3);
    assert_int_equal(st.subset[0], 3);
    assert_int_equal(st.subset[1], 1);
    assert_int_equal(st.subset[2], 2);
    for (int t = 0; t < 3; t++) assert_true(isfinite(st.term_loss[t]) && st.term_loss[t] > 0);
    /* each term equals the hand recomputation at the same rng */
    double want[3];
    recompute_terms(m, &b, 0.7f, 11, st.subset, 3, want);
    for (int t = 0; t < 3; t++) {
        if (!(fabs(st.term_loss[t] - want[t]) <= 1e-4 * fabs(want[t])))
            fprintf(stderr, "term %d: %.8g, recomputed %.8g\n", t, st.term_loss[t], want[t]);
        assert_true(fabs(st.term_loss[t] - want[t]) <= 1e-4 * fabs(want[t]));
    }
    /* same rng seed: same numbers; other seed: other noise */
    mvae_step_stats st2 = objective(m, &b, 0.7f, 11);
    assert_memory_equal(st.term_loss, st2.term_loss, sizeof st.term_loss);
    st2 = objective(m, &b, 0.7f, 12);
    assert_true(st2.term_loss[0] != st.term_loss[0]);
    /* beta 0 keeps only the reconstruction */
    st2 = objective(m, &b, 0.0f, 11);
    recompute_terms(m, &b, 0.0f, 11, st.subset, 3, want);
    for (int t = 0; t < 3; t++) assert_true(fabs(st2.term_loss[t] - want[t]) <= 1e-4 * fabs(want[t]));
    mvae_batch_free(&b);
    destroy(m, cfg);

    /* k random subsets add k terms (they may repeat: they are samples) */
    m = build(e, (const char *const[]){"train.objective.random_subsets=2", NULL}, &cfg);
    fill_batch(m, &b, 20, NULL);
    st = objective(m, &b, 1.0f, 5);
    assert_int_equal(st.n_terms, 5);
    for (int t = 3; t < 5; t++) assert_true(st.subset[t] >= 1 && st.subset[t] <= 3);
    for (int t = 0; t < 5; t++) assert_int_equal(st.random[t], t >= 3); /* reported together per epoch */
    mvae_batch_free(&b);
    destroy(m, cfg);

    /* only the joint term; only the unimodal terms */
    m = build(e, (const char *const[]){"train.objective={joint: true, unimodal: false}", NULL}, &cfg);
    fill_batch(m, &b, 20, NULL);
    st = objective(m, &b, 1.0f, 5);
    assert_int_equal(st.n_terms, 1);
    assert_int_equal(st.subset[0], 3);
    mvae_batch_free(&b);
    destroy(m, cfg);
    m = build(e, (const char *const[]){"train.objective={joint: false, unimodal: true}", NULL}, &cfg);
    fill_batch(m, &b, 20, NULL);
    st = objective(m, &b, 1.0f, 5);
    assert_int_equal(st.n_terms, 2);
    mvae_batch_free(&b);
    destroy(m, cfg);

    /* every term off is a config error */
    m = build(e, (const char *const[]){"train.objective={joint: false, unimodal: false}", NULL}, &cfg);
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "every term is switched off");
    destroy(m, cfg);
}

/* A modality of weight 0 drops out of the reconstruction: with beta 0 its unimodal term is 0 and
 * the joint term shrinks by its (positive) negative log-likelihood. */
static void test_objective_weights(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(e, NULL, &cfg);
    mvae_batch b;
    fill_batch(m, &b, 20, NULL);
    mvae_step_stats full = objective(m, &b, 0.0f, 9);
    mvae_batch_free(&b);
    destroy(m, cfg);
    m = build(e, (const char *const[]){"modalities.label.weight=0", NULL}, &cfg);
    fill_batch(m, &b, 20, NULL);
    mvae_step_stats w0 = objective(m, &b, 0.0f, 9);
    assert_int_equal(w0.n_terms, 3);
    assert_int_equal(w0.subset[2], 2);
    assert_true(fabs(w0.term_loss[2]) < 1e-12);
    assert_true(w0.term_loss[0] < full.term_loss[0] - 1e-3);
    /* the image term does not involve the label at all */
    assert_true(fabs(w0.term_loss[1] - full.term_loss[1]) <= 1e-6 * fabs(full.term_loss[1]));
    mvae_batch_free(&b);
    destroy(m, cfg);
}

/* ------------------------------------------------------------------------- paired fraction */
static void test_pairing(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){"dataset.paired_fraction=0.1", NULL}, &cfg);
    const int64_t N = 300;
    uint8_t *keep = mvae_make_pairing(m, N);
    assert_non_null(keep);
    int paired = 0, only[2] = {0, 0};
    for (int64_t i = 0; i < N; i++) {
        int c = keep[i * 2] + keep[i * 2 + 1];
        assert_true(c == 1 || c == 2);
        if (c == 2) paired++;
        else only[keep[i * 2] ? 0 : 1]++;
    }
    assert_int_equal(paired, 30); /* round(0.1 * 300) */
    assert_int_equal(only[0] + only[1], 270);
    assert_true(only[0] > 90 && only[1] > 90); /* the kept modality is chosen uniformly */
    /* deterministic for the seed */
    uint8_t *again = mvae_make_pairing(m, N);
    assert_memory_equal(keep, again, (size_t)N * 2);
    free(again);
    /* a batch with this pairing has exactly these presences, absent data zeroed */
    mvae_batch b;
    mvae_error err = {0};
    int64_t idx[50];
    for (int i = 0; i < 50; i++) idx[i] = 299 - 6 * i;
    assert_int_equal(mvae_batch_init(&b, m, 50, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 50, keep, &err), MVAE_OK);
    int in_batch_paired = 0;
    for (int i = 0; i < 50; i++) {
        for (int k = 0; k < 2; k++) assert_int_equal(b.present[i * 2 + k], keep[idx[i] * 2 + k]);
        in_batch_paired += b.present[i * 2] && b.present[i * 2 + 1];
        if (!b.present[i * 2])
            for (int p = 0; p < 784; p++) assert_true(b.x[0][i * 784 + p] == 0.0f);
    }
    assert_true(in_batch_paired < 50);
    /* the objective handles the partially observed batch: finite terms */
    mvae_step_stats st = objective(m, &b, 1.0f, 3);
    assert_int_equal(st.n_terms, 3);
    mvae_batch_free(&b);
    destroy(m, cfg);

    /* another seed pairs other samples (same count) */
    m = build(e, (const char *const[]){"dataset.paired_fraction=0.1", "seed=4", NULL}, &cfg);
    again = mvae_make_pairing(m, N);
    assert_non_null(again);
    assert_memory_not_equal(keep, again, (size_t)N * 2);
    paired = 0;
    for (int64_t i = 0; i < N; i++) paired += again[i * 2] && again[i * 2 + 1];
    assert_int_equal(paired, 30);
    free(again);
    destroy(m, cfg);
    free(keep);

    /* 0: nobody paired; 1: no mask at all */
    m = build(e, (const char *const[]){"dataset.paired_fraction=0", NULL}, &cfg);
    keep = mvae_make_pairing(m, N);
    for (int64_t i = 0; i < N; i++) assert_int_equal(keep[i * 2] + keep[i * 2 + 1], 1);
    free(keep);
    destroy(m, cfg);
    m = build(e, (const char *const[]){"dataset.paired_fraction=1.0", NULL}, &cfg);
    assert_null(mvae_make_pairing(m, N));
    destroy(m, cfg);
}

/* Weak supervision trains, also without the prior expert (samples missing a unimodal term's
 * modality must not turn the loss into NaN). */
static void test_train_weak_supervision(void **state) {
    env *e = *state;
    char dir[256];
    mvae_train_result r;
    run_dir(e, dir, sizeof dir);
    train_ok(e, (const char *const[]){"dataset.paired_fraction=0.1", "train.epochs=2", "eval.pictures=false", NULL},
             dir, false, &r);
    assert_true(isfinite(r.last_loss));
    run_dir(e, dir, sizeof dir);
    train_ok(e, (const char *const[]){"dataset.paired_fraction=0.1", "fusion.prior_expert=false", "train.epochs=2",
                                      "eval.pictures=false", NULL},
             dir, false, &r);
    assert_true(isfinite(r.last_loss));
    assert_true(isfinite(r.eval.elbo));
}

/* ------------------------------------------------------------------------------- training */
static void test_train_run_dir(void **state) {
    env *e = *state;
    char dir[256];
    run_dir(e, dir, sizeof dir);
    mvae_train_result r;
    train_ok(e, (const char *const[]){"train.epochs=5", NULL}, dir, false, &r);
    assert_int_equal(r.epochs, 5);
    assert_true(r.samples_per_sec > 0);
    const char *files[] = {"config.yaml", "metrics.jsonl", "metrics.json", "last.ckpt", "best.ckpt",
                           "reconstructions.png", "prior_samples.png", "image_from_label.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (!exists(dir, files[i])) fprintf(stderr, "missing %s/%s\n", dir, files[i]);
        assert_true(exists(dir, files[i]));
    }
    /* the loss falls */
    char norm[8192];
    double loss[8];
    assert_int_equal(jsonl_losses(dir, norm, sizeof norm, loss, 8), 5);
    assert_true(loss[4] < loss[0]);
    assert_true(fabs(r.last_loss - loss[4]) < 1e-4 * fabs(loss[4]));
    /* metrics.json */
    char *mj = slurp_in(dir, "metrics.json", NULL);
    const char *keys[] = {"\"test\"", "\"elbo\"", "\"log_p\"", "\"accuracy\"", "\"image|label\"", "\"image->label\"",
                          "\"train\"", "\"samples_per_sec\"", "\"epochs\": 5"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) assert_has(mj, keys[i]);
    assert_null(strstr(mj, "nan"));
    free(mj);
    /* the results: finite, and the label is learnt from the image far above chance (0.1) */
    assert_true(isfinite(r.eval.elbo) && r.eval.elbo < 0);
    assert_int_equal(r.eval.n_ll, 3);
    for (int t = 0; t < 3; t++) assert_true(isfinite(r.eval.ll[t]));
    assert_int_equal(r.eval.n_acc, 1);
    assert_string_equal(r.eval.acc_name[0], "image->label");
    if (r.eval.acc_mean[0] < 0.5) fprintf(stderr, "accuracy %g (mean z %g)\n", r.eval.acc[0], r.eval.acc_mean[0]);
    assert_true(r.eval.acc_mean[0] >= 0.5);
    /* config.yaml is the resolved experiment: every default filled in, loadable, valid */
    char p[600];
    snprintf(p, sizeof p, "%s/config.yaml", dir);
    mvae_cfg *cfg;
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_load_file(p, &cfg, &err), MVAE_OK);
    int64_t v;
    assert_int_equal(mvae_cfg_get_int(mvae_cfg_path(mvae_cfg_root(cfg), "train.epochs"), &v, &err), MVAE_OK);
    assert_int_equal(v, 5);
    assert_non_null(mvae_cfg_path(mvae_cfg_root(cfg), "train.clip_grad_norm"));
    assert_int_equal(mvae_experiment_validate(cfg, e->reg, &err), MVAE_OK);
    mvae_cfg_free(cfg);
}

static void test_train_deterministic(void **state) {
    env *e = *state;
    char a[256], b[256];
    run_dir(e, a, sizeof a);
    run_dir(e, b, sizeof b);
    const char *const sets[] = {"train.epochs=2", "eval.pictures=false", NULL};
    mvae_train_result ra, rb;
    train_ok(e, sets, a, false, &ra);
    train_ok(e, sets, b, false, &rb);
    char na[4096], nb[4096];
    double la[4], lb[4];
    assert_int_equal(jsonl_losses(a, na, sizeof na, la, 4), 2);
    assert_int_equal(jsonl_losses(b, nb, sizeof nb, lb, 4), 2);
    assert_string_equal(na, nb);
    /* bit-identical parameters, optimizer state and rng */
    size_t len_a, len_b;
    char *ca = slurp_in(a, "last.ckpt", &len_a), *cb = slurp_in(b, "last.ckpt", &len_b);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(ca, cb, len_a);
    free(ca);
    free(cb);
    assert_memory_equal(&ra.eval.elbo, &rb.eval.elbo, sizeof(double));
    assert_memory_equal(ra.eval.ll, rb.eval.ll, sizeof ra.eval.ll);
}

/* 2 epochs in one go == 1 epoch, then resume for the 2nd: bit-identical. */
static void test_train_resume(void **state) {
    env *e = *state;
    char a[256], b[256];
    run_dir(e, a, sizeof a);
    run_dir(e, b, sizeof b);
    mvae_train_result ra, rb;
    train_ok(e, (const char *const[]){"train.epochs=2", "train.kl_anneal_epochs=3", "eval.pictures=false", NULL}, a,
             false, &ra);
    train_ok(e, (const char *const[]){"train.epochs=1", "train.kl_anneal_epochs=3", "eval.pictures=false", NULL}, b,
             false, &rb);
    train_ok(e, (const char *const[]){"train.epochs=2", "train.kl_anneal_epochs=3", "eval.pictures=false", NULL}, b,
             true, &rb);
    char na[4096], nb[4096];
    double la[4], lb[4];
    assert_int_equal(jsonl_losses(a, na, sizeof na, la, 4), 2);
    assert_int_equal(jsonl_losses(b, nb, sizeof nb, lb, 4), 2);
    assert_string_equal(na, nb);
    assert_memory_equal(&ra.last_loss, &rb.last_loss, sizeof(double));
    size_t len_a, len_b;
    char *ca = slurp_in(a, "last.ckpt", &len_a), *cb = slurp_in(b, "last.ckpt", &len_b);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(ca, cb, len_a);
    free(ca);
    free(cb);
    assert_memory_equal(&ra.eval.elbo, &rb.eval.elbo, sizeof(double));
    /* resuming a finished run trains nothing more and still evaluates */
    train_ok(e, (const char *const[]){"train.epochs=2", "train.kl_anneal_epochs=3", "eval.pictures=false", NULL}, b,
             true, &rb);
    assert_int_equal(jsonl_losses(b, nb, sizeof nb, lb, 4), 2);
    assert_memory_equal(&ra.eval.elbo, &rb.eval.elbo, sizeof(double));
    /* resuming where nothing was trained is an error naming the file */
    char c[256];
    run_dir(e, c, sizeof c);
    mvae_error err = {0};
    assert_int_not_equal(train(e, NULL, c, true, &rb, &err), MVAE_OK);
    assert_has(err.msg, "last.ckpt");
}

/* Divergence: one good epoch, then a huge learning rate. Training stops with MVAE_ERR_NUMERIC
 * naming the step and what went non-finite; last.ckpt (epoch 1) still loads and is finite. */
static void test_train_nan(void **state) {
    env *e = *state;
    char dir[256];
    run_dir(e, dir, sizeof dir);
    mvae_train_result r;
    train_ok(e, (const char *const[]){"train.epochs=1", "eval.pictures=false", NULL}, dir, false, &r);
    size_t len0;
    char *before = slurp_in(dir, "last.ckpt", &len0);
    mvae_error err = {0};
    int rc = train(e, (const char *const[]){"train.epochs=2", "train.optimizer.adam.lr=1e30", NULL}, dir, true, &r, &err);
    assert_int_equal(rc, MVAE_ERR_NUMERIC);
    /* 6 batches per epoch: the first step of epoch 2 applies the huge update, the second sees it */
    assert_has(err.msg, "step 8 (epoch 2, batch 2)");
    assert_true(strstr(err.msg, "objective term '") || strstr(err.msg, "gradient norm"));
    assert_has(err.msg, "last.ckpt (epoch 1)");
    assert_has(err.msg, "learning rate");
    /* the checkpoint is the epoch-1 one, untouched, finite, loadable */
    size_t len1;
    char *after = slurp_in(dir, "last.ckpt", &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
    mvae_cfg *cfg;
    mvae_model *m = build(e, NULL, &cfg);
    char p[600];
    snprintf(p, sizeof p, "%s/last.ckpt", dir);
    char *extra = NULL;
    assert_int_equal(mvae_checkpoint_load(p, m->params, NULL, NULL, &extra, &err), MVAE_OK);
    assert_has(extra, "\"epoch\": 1");
    free(extra);
    for (size_t i = 0; i < m->params->n_floats; i++) assert_true(isfinite(m->params->data[i]));
    destroy(m, cfg);
    /* metrics.jsonl holds only the good epoch */
    char norm[4096];
    double loss[4];
    assert_int_equal(jsonl_losses(dir, norm, sizeof norm, loss, 4), 1);
}

/* A non-finite loss from the first step (a Gaussian likelihood with a tiny scale) is reported
 * with the term's name, and no checkpoint is claimed. */
static void test_train_nan_first_step(void **state) {
    env *e = *state;
    char dir[256];
    run_dir(e, dir, sizeof dir);
    mvae_train_result r;
    mvae_error err = {0};
    int rc = train(e, (const char *const[]){"modalities.image.likelihood=gaussian", "modalities.image.likelihood_scale=1e-30", NULL},
                   dir, false, &r, &err);
    assert_int_equal(rc, MVAE_ERR_NUMERIC);
    assert_has(err.msg, "step 1 (epoch 1, batch 1)");
    assert_has(err.msg, "objective term 'image,label'");
    assert_has(err.msg, "no checkpoint was written yet");
    assert_false(exists(dir, "last.ckpt"));
}

/* ------------------------------------------------------------------------ bad experiments */
static void expect_build_fails(env *e, char *yaml, const char *const *needles) {
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    int rc = mvae_cfg_load_string(yaml, "exp.yaml", &cfg, &err);
    mvae_model *m = NULL;
    if (!rc) rc = mvae_model_build(cfg, e->reg, &m, &err);
    assert_int_not_equal(rc, MVAE_OK);
    assert_null(m);
    for (int i = 0; needles[i]; i++) assert_has(err.msg, needles[i]);
    mvae_cfg_free(cfg);
    free(yaml);
}

static void test_bad_experiments(void **state) {
    env *e = *state;
    expect_build_fails(e, tiny_replace(tiny_yaml(e->data), "latent_dim: 8", "laten_dim: 8"),
                       (const char *const[]){"exp.yaml:4:1", "laten_dim", "did you mean 'latent_dim'", NULL});
    expect_build_fails(e, tiny_replace(tiny_yaml(e->data), "encoder: {plugin: mlp, hidden", "encoder: {plugin: mpl, hidden"),
                       (const char *const[]){"exp.yaml:7:", "mpl", "did you mean 'mlp'", NULL});
    expect_build_fails(e, tiny_replace(tiny_yaml(e->data), "epochs: 3", "epochs: ten"),
                       (const char *const[]){"exp.yaml:17:", "'ten'", "integer", NULL});
    expect_build_fails(e, tiny_replace(tiny_yaml(e->data), "  image:\n", "  imag:\n"),
                       (const char *const[]){"exp.yaml:6:", "'imag'", "did you mean 'image'", "label", NULL});
    expect_build_fails(e, tiny_replace(tiny_yaml(e->data), "{plugin: poe}", "{plugin: poe, prior_expret: true}"),
                       (const char *const[]){"exp.yaml:15:", "prior_expret", "did you mean 'prior_expert'", NULL});
    expect_build_fails(e, tiny_replace(tiny_yaml(e->data), "likelihood: bernoulli", "likelihood: bernouli"),
                       (const char *const[]){"exp.yaml:9:", "bernouli", NULL});
    /* the data set is missing: the message says how to install it */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nowhere", e->dir);
    expect_build_fails(e, tiny_yaml(missing),
                       (const char *const[]){missing, "apt-get install dataset-fashion-mnist", NULL});
    /* a truncated IDX file */
    char trunc[300];
    snprintf(trunc, sizeof trunc, "%s/trunc", e->dir);
    mkdir(trunc, 0777);
    assert_int_equal(tiny_write_split(trunc, "train", 0, 300, 784 * 100 + 17), 0);
    assert_int_equal(tiny_write_split(trunc, "t10k", 1, 100, -1), 0);
    expect_build_fails(e, tiny_yaml(trunc), (const char *const[]){"train-images-idx3-ubyte.gz", "truncated", NULL});
    /* batch larger than the training split */
    char dir[256];
    run_dir(e, dir, sizeof dir);
    mvae_train_result r;
    mvae_error err = {0};
    assert_int_equal(train(e, (const char *const[]){"train.batch_size=400", NULL}, dir, false, &r, &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "fewer than one batch");
}

/* ------------------------------------------------------------------------------ evaluation */
static void test_eval_terms(void **state) {
    env *e = *state;
    char dir[256];
    run_dir(e, dir, sizeof dir);
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){"train.epochs=3", "eval.pictures=false", NULL}, &cfg);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    assert_int_equal(mvae_train(m, &o, &r, &err), MVAE_OK);
    /* log p(image|label) against log p(image,label) - log p(label), each estimated separately */
    assert_int_equal(mvae_cfg_set(cfg, "eval.log_likelihood={samples: 2000, max_test: 10, terms: [\"image,label\", label, \"image|label\", image]}", &err), MVAE_OK);
    assert_int_equal(mvae_cfg_set(cfg, "eval.accuracy={from: \"\", predict: \"\"}", &err), MVAE_OK);
    mvae_eval_result ev;
    int rc = mvae_evaluate(m, MVAE_SPLIT_TEST, &ev, true, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(ev.n_ll, 4);
    assert_string_equal(ev.ll_name[0], "image,label");
    assert_string_equal(ev.ll_name[1], "label");
    assert_string_equal(ev.ll_name[2], "image|label");
    assert_string_equal(ev.ll_name[3], "image");
    assert_int_equal(ev.n_ll_test, 10);
    assert_int_equal(ev.n_test, 100);
    assert_int_equal(ev.ll_samples, 2000);
    for (int t = 0; t < 4; t++) assert_true(isfinite(ev.ll[t]));
    double joint = ev.ll[0], label = ev.ll[1], cond = ev.ll[2], image = ev.ll[3];
    /* log p(label) <= 0 (up to estimator noise); conditioning on the label cannot lower it */
    assert_true(label < 0.05);
    assert_true(cond > joint - 0.05);
    assert_true(image > joint - 0.05);
    double diff = cond - (joint - label);
    if (!(fabs(diff) < 0.3)) fprintf(stderr, "log p(i|l) %g vs log p(i,l) - log p(l) = %g - %g\n", cond, joint, label);
    assert_true(fabs(diff) < 0.3);
    /* log p(label) by plain Monte Carlo over the prior, p(c) = E_{z ~ N(0, I)} softmax(dec(z))_c,
     * an estimator independent of the fusion and of importance sampling */
    {
        enum { NZ = 20000 };
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_grad(ctx, false);
        mvae_ctx_set_training(ctx, false);
        mvae_rng rng;
        mvae_rng_seed(&rng, 99);
        mvae_tensor *z = mvae_tensor_new(ctx, 2, (int64_t[]){NZ, m->latent_dim});
        mvae_rng_normal_fill(&rng, z->data, (size_t)z->n);
        int lab = mvae_model_find(m, "label");
        mvae_tensor *logits = mvae_model_decode(m, ctx, lab, z);
        assert_non_null(logits);
        assert_int_equal(logits->shape[1], 10);
        double pc[10] = {0};
        for (int64_t i = 0; i < NZ; i++) {
            const float *l = logits->data + i * 10;
            double mx = l[0], s = 0;
            for (int c = 1; c < 10; c++) mx = fmax(mx, l[c]);
            for (int c = 0; c < 10; c++) s += exp(l[c] - mx);
            for (int c = 0; c < 10; c++) pc[c] += exp(l[c] - mx) / s / NZ;
        }
        double mc = 0;
        for (int i = 0; i < 10; i++) mc += log(pc[tiny_label(1, i)]) / 10;
        /* importance sampling from q(z | label) is a stochastic lower bound that converges slowly
         * (q is narrower than the true posterior): about 0.2 nats low at K = 2000 here */
        if (!(label < mc + 0.05 && label > mc - 0.5))
            fprintf(stderr, "log p(label): importance sampled %g, prior Monte Carlo %g\n", label, mc);
        assert_true(label < mc + 0.05);
        assert_true(label > mc - 0.5);
        mvae_ctx_free(ctx);
    }
    /* default accuracy: every non-categorical modality -> the first categorical */
    assert_int_equal(ev.n_acc, 1);
    assert_string_equal(ev.acc_name[0], "image->label");
    assert_true(ev.acc[0] >= 0 && ev.acc[0] <= 1);
    /* an unknown modality in a term: a hint */
    assert_int_equal(mvae_cfg_set(cfg, "eval.log_likelihood.terms=[\"image|lable\"]", &err), MVAE_OK);
    assert_int_not_equal(mvae_evaluate(m, MVAE_SPLIT_TEST, &ev, true, &err), MVAE_OK);
    assert_has(err.msg, "did you mean 'label'");
    /* more terms than a result holds: an error naming the key, not a silent cut */
    char many[1024] = "eval.log_likelihood.terms=[";
    for (int i = 0; i <= MVAE_MAX_LL_TERMS; i++) strcat(many, i ? ", image" : "image");
    strcat(many, "]");
    err = (mvae_error){0};
    assert_int_equal(mvae_cfg_set(cfg, many, &err), MVAE_OK);
    assert_int_not_equal(mvae_evaluate(m, MVAE_SPLIT_TEST, &ev, true, &err), MVAE_OK);
    assert_has(err.msg, "eval.log_likelihood.terms lists 35 terms; at most 34");
    destroy(m, cfg);
}

/* ------------------------------------------------------------------------- IWAE and DReG */
/* Gradients of one objective evaluation (fixed rng seed) into a malloc'd copy. */
static float *objective_grads(const mvae_model *m, const mvae_batch *b, const mvae_objective *obj, double *value) {
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 99);
    mvae_tensor *loss = NULL;
    mvae_step_stats st;
    int rc = mvae_objective_loss(m, ctx, b, obj, 0.7f, &rng, &loss, &st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    mvae_params_zero_grad(m->params);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    float *g = malloc(m->params->n_floats * sizeof(float));
    memcpy(g, m->params->grad, m->params->n_floats * sizeof(float));
    *value = st.loss;
    mvae_ctx_free(ctx);
    return g;
}

/* DReG changes only the encoder gradients: with the same draws the bound and every decoder
 * gradient equal IWAE's, and some encoder gradient differs. For PoE and for a stratified mixture. */
static void test_iwae_dreg(void **state) {
    env *e = *state;
    static const char *const fusions[] = {"fusion.plugin=poe", "fusion.plugin=moe"};
    for (int f = 0; f < 2; f++) {
        const char *sets[] = {fusions[f], "train.objective.iw_samples=4", NULL};
        mvae_cfg *cfg;
        mvae_model *m = build(e, sets, &cfg);
        mvae_batch b;
        fill_batch(m, &b, 20, NULL);
        mvae_objective obj;
        mvae_error err = {0};
        assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
        assert_int_equal(obj.mvae.iw_samples, 4);
        double v_iwae, v_dreg;
        float *g_iwae = objective_grads(m, &b, &obj, &v_iwae);
        obj.mvae.dreg = true;
        float *g_dreg = objective_grads(m, &b, &obj, &v_dreg);
        assert_true(isfinite(v_iwae));
        assert_true(fabs(v_iwae - v_dreg) <= 1e-5 * fabs(v_iwae));
        double dec_diff = 0, enc_diff = 0, dec_scale = 0;
        for (int i = 0; i < m->params->count; i++) {
            const mvae_param_entry *pe = &m->params->entries[i];
            if (pe->buffer) continue;
            bool is_dec = strstr(pe->name, ".dec.") != NULL;
            for (int64_t j = 0; j < pe->t->n; j++) {
                double a = g_iwae[pe->offset + j], d = g_dreg[pe->offset + j];
                if (is_dec) {
                    dec_diff = fmax(dec_diff, fabs(a - d));
                    dec_scale = fmax(dec_scale, fabs(a));
                } else {
                    enc_diff = fmax(enc_diff, fabs(a - d));
                }
            }
        }
        assert_true(dec_scale > 0);
        assert_true(dec_diff <= 1e-4 * dec_scale + 1e-6); /* decoder gradients: identical estimators */
        assert_true(enc_diff > 1e-5);                     /* encoder gradients: DReG's own */
        free(g_iwae);
        free(g_dreg);
        mvae_batch_free(&b);
        destroy(m, cfg);
    }
    /* DReG needs several samples: a clear error otherwise */
    const char *bad[] = {"train.objective.estimator=dreg", NULL};
    mvae_cfg *cfg;
    mvae_model *m = build(e, bad, &cfg);
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "iw_samples"));
    destroy(m, cfg);
}

/* A whole run with the importance-weighted objective trains and evaluates to finite numbers. */
static void test_iwae_trains(void **state) {
    env *e = *state;
    const char *sets[] = {"train.objective.iw_samples=3", "train.epochs=1", NULL};
    char dir[512];
    run_dir(e, dir, sizeof dir);
    mvae_train_result r;
    mvae_error err = {0};
    assert_int_equal(train(e, sets, dir, false, &r, &err), MVAE_OK);
    assert_true(isfinite(r.last_loss));
    assert_true(isfinite(r.eval.ll[0]));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objective_terms),   cmocka_unit_test(test_objective_weights),
        cmocka_unit_test(test_pairing),           cmocka_unit_test(test_train_weak_supervision),
        cmocka_unit_test(test_train_run_dir),     cmocka_unit_test(test_train_deterministic),
        cmocka_unit_test(test_train_resume),      cmocka_unit_test(test_train_nan),
        cmocka_unit_test(test_train_nan_first_step), cmocka_unit_test(test_bad_experiments),
        cmocka_unit_test(test_eval_terms),        cmocka_unit_test(test_iwae_dreg),
        cmocka_unit_test(test_iwae_trains),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("train", tests, env_setup, env_teardown);
}
