/* test_objective_supervised.c — train.objective.supervised (the MVAE paper's NN baseline: the
 * image encoder + label decoder trained supervised on the paired samples, z = the expert's mean): it
 * trains, its accuracy lands in metrics.json, it ignores unpaired samples and the rng, and its
 * configuration errors name the place. Tiny generated Fashion-MNIST look-alike (tiny_data.h). */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/model.h"
#include "mvae/optim.h"
#include "mvae/train.h"
#include "tiny_data.h"

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "objsup", 300, 100); }
static int env_teardown(void **state) { return tiny_env_close(state); }

#define SUP "train.objective.supervised={from: image, to: label}", "fusion.prior_expert=false"

static mvae_model *build(env *e, const char *const *sets, mvae_cfg **cfg_out, mvae_error *err) {
    return tiny_model(e->reg, e->data, sets, cfg_out, err);
}

/* metrics.json's "<section>": {"image->label": X} */
static double metric(const char *dir, const char *section) {
    char p[600], key[128];
    snprintf(p, sizeof p, "%s/metrics.json", dir);
    char *s = tiny_slurp(p, NULL);
    assert_non_null(s);
    snprintf(key, sizeof key, "\"%s\": {\"image->label\": ", section);
    const char *h = strstr(s, key);
    if (!h) fprintf(stderr, "metrics.json has no %s:\n%s\n", key, s);
    assert_non_null(h);
    double v = strtod(h + strlen(key), NULL);
    free(s);
    return v;
}

static double train_run(env *e, const char *const *sets, char *dir, size_t n) {
    snprintf(dir, n, "%s/run%d", e->dir, ++e->n_runs);
    mvae_error err = {0};
    mvae_cfg *cfg;
    mvae_model *m = build(e, sets, &cfg, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    int rc = mvae_train(m, &o, &r, &err);
    if (rc) fprintf(stderr, "train: %s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    return r.last_loss;
}

/* It trains: the loss falls to a small cross-entropy and the image -> label accuracy of the
 * mean z (what the baseline predicts with) is well above chance, in metrics.json. */
static void test_supervised_trains(void **state) {
    env *e = *state;
    char dir[512];
    double loss = train_run(e, (const char *const[]){SUP, "train.epochs=8", "eval.pictures=false", NULL}, dir, sizeof dir);
    assert_true(isfinite(loss));
    assert_true(loss < 1.0); /* categorical cross-entropy, chance = log 10 = 2.3 */
    double acc = metric(dir, "accuracy_mean_z");
    assert_true(acc >= 0.8);
}

/* Only samples with both modalities count: with no paired sample at all the loss is 0 in
 * every step; with 10 % paired it is not. */
static void test_supervised_paired_only(void **state) {
    env *e = *state;
    char dir[512];
    double l0 = train_run(e, (const char *const[]){SUP, "train.epochs=1", "dataset.paired_fraction=0.0",
                                                   "eval.pictures=false", NULL}, dir, sizeof dir);
    assert_true(l0 == 0.0);
    double l1 = train_run(e, (const char *const[]){SUP, "train.epochs=1", "dataset.paired_fraction=0.1",
                                                   "eval.pictures=false", NULL}, dir, sizeof dir);
    assert_true(l1 > 0.0);
}

/* No sampling: the loss of a batch does not depend on the rng, and it is the mean
 * cross-entropy of the label decoder on the image expert's mean head. */
static void test_supervised_deterministic(void **state) {
    env *e = *state;
    mvae_error err = {0};
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){SUP, NULL}, &cfg, &err);
    assert_non_null(m);
    mvae_objective obj;
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    assert_string_equal(obj.kind->name, "supervised");
    mvae_batch b;
    int64_t idx[20];
    for (int i = 0; i < 20; i++) idx[i] = i;
    assert_int_equal(mvae_batch_init(&b, m, 20, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 20, NULL, &err), MVAE_OK);
    double v[2];
    for (int s = 0; s < 2; s++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_rng rng;
        mvae_rng_seed(&rng, 11 + (uint64_t)s * 1000);
        mvae_tensor *loss;
        mvae_step_stats st;
        assert_int_equal(mvae_objective_loss(m, ctx, &b, &obj, 1.0f, &rng, &loss, &st), MVAE_OK);
        v[s] = loss->data[0];
        assert_int_equal(st.n_terms, 1);
        mvae_params_zero_grad(m->params);
        assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
        assert_true(mvae_grad_norm(m->params) > 0);
        if (s == 0) { /* recomputed from the pieces: -mean log softmax(decode(mu_image(x)))[y] */
            mvae_ctx *c2 = mvae_ctx_new(0);
            mvae_experts ex;
            mvae_posterior q;
            mvae_tensor *valid;
            int any, img = mvae_model_find(m, "image"), lab = mvae_model_find(m, "label");
            assert_int_equal(mvae_model_encode(m, c2, &b, 1u << img, &ex), MVAE_OK);
            assert_int_equal(mvae_model_posterior(m, c2, &ex, 1u << img, &q, &valid, &any), MVAE_OK);
            (void)q;
            mvae_tensor *logits = mvae_model_decode(m, c2, lab, ex.mu[img]);
            double ref = 0;
            for (int i = 0; i < 20; i++) {
                const float *l = logits->data + i * 10;
                double mx = l[0], se = 0;
                for (int c = 1; c < 10; c++) mx = fmax(mx, l[c]);
                for (int c = 0; c < 10; c++) se += exp(l[c] - mx);
                ref -= (l[tiny_label(0, i)] - mx - log(se)) / 20;
            }
            assert_true(fabs(ref - v[0]) < 1e-4 * fmax(1.0, fabs(ref)));
            mvae_ctx_free(c2);
        }
        mvae_ctx_free(ctx);
    }
    assert_true(v[0] == v[1]);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static void expect_error(env *e, const char *set, const char *needle) {
    mvae_error err = {0};
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){set, NULL}, &cfg, &err);
    int rc = m ? MVAE_OK : err.status;
    if (m) {
        mvae_objective obj;
        rc = mvae_objective_from_config(m, &obj, &err);
        mvae_model_free(m);
    }
    assert_int_not_equal(rc, MVAE_OK);
    if (!strstr(err.msg, needle)) fprintf(stderr, "message: %s\nexpected: %s\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
    mvae_cfg_free(cfg);
}

static void test_supervised_errors(void **state) {
    env *e = *state;
    expect_error(e, "train.objective.supervised={from: image, to: lable}", "'lable' is not a modality");
    expect_error(e, "train.objective.supervised={from: image, to: image}", "must not be one of `from`");
    expect_error(e, "train.objective.supervised={form: image, to: label}", "did you mean 'from'");
    expect_error(e, "train.objective.supervised={from: imag, to: label}", "train.objective.supervised.from");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_supervised_trains),
        cmocka_unit_test(test_supervised_paired_only),
        cmocka_unit_test(test_supervised_deterministic),
        cmocka_unit_test(test_supervised_errors),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("objective_supervised", tests, env_setup, env_teardown);
}
