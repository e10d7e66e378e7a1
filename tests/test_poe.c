/* test_poe.c — the product-of-experts fusion plugin (loaded from the build tree like the command
 * does) against products computed here in double: two experts, per-sample masks, samples with no
 * expert at all, with and without the N(0, I) prior expert; sample() statistics, kl() and log_q()
 * against their closed forms; gradients of the fused mean/log-variance w.r.t. the expert outputs. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/config.h"
#include "mvae/interfaces.h"
#include "mvae/plugin.h"
#include "mvae/ops.h"

#define B 4
#define D 3

typedef struct poe_env {
    mvae_registry *reg;
    const mvae_fusion_vtable *vt;
} poe_env;

static int env_setup(void **state) {
    poe_env *e = calloc(1, sizeof *e);
    mvae_error err = {0};
    e->reg = mvae_registry_new();
    if (mvae_registry_load_dir(e->reg, MVAE_BINARY_DIR "/plugins", &err)) {
        fprintf(stderr, "loading plugins: %s\n", err.msg);
        return -1;
    }
    const mvae_plugin_desc *d = mvae_registry_find(e->reg, MVAE_PLUGIN_FUSION, "poe");
    if (!d) return -1;
    e->vt = d->vtable;
    *state = e;
    return 0;
}

static int env_teardown(void **state) {
    poe_env *e = *state;
    mvae_registry_free(e->reg);
    free(e);
    return 0;
}

/* Create the fusion from a YAML option map ("prior_expert: false") or NULL (defaults). */
static void *make_poe(const poe_env *e, const char *yaml, int n_mod) {
    mvae_error err = {0};
    mvae_cfg *cfg = NULL;
    const mvae_cfg_node *opts = NULL;
    if (yaml) {
        assert_int_equal(mvae_cfg_load_string(yaml, "fusion.yaml", &cfg, &err), MVAE_OK);
        opts = mvae_cfg_root(cfg);
    }
    void *self = NULL;
    int rc = e->vt->create(opts, D, n_mod, &self, &err);
    if (rc) fprintf(stderr, "poe create: %s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_cfg_free(cfg); /* the plugin must not keep pointers into the options */
    return self;
}

/* Expert values: deterministic, varied, including large and small variances. */
static const float MU1[B * D] = {0.5f, -1.0f, 2.0f, 0.0f, 0.3f, -0.7f, 1.5f, -2.5f, 0.1f, -0.4f, 0.9f, 3.0f};
static const float LV1[B * D] = {0.0f, -1.0f, 1.0f, 0.5f, -2.0f, 0.2f, -0.3f, 1.5f, 0.0f, 2.0f, -0.5f, 0.7f};
static const float MU2[B * D] = {-0.5f, 1.0f, 1.0f, 2.0f, -0.3f, 0.4f, -1.0f, 0.5f, 0.6f, 0.8f, -1.2f, 0.0f};
static const float LV2[B * D] = {1.0f, 0.0f, -1.0f, -0.5f, 0.3f, 1.2f, 0.4f, -1.0f, 2.5f, -0.2f, 0.1f, -1.5f};

/* The product in double: q ~ [prior] * prod over present experts. */
static void expected(const float *m1, const float *l1, const float *k1, const float *m2, const float *l2,
                     const float *k2, bool prior, int64_t i, int d, double *mu, double *lv) {
    double T = prior ? 1.0 : 0.0, num = 0;
    double p1 = k1 ? k1[i] : 1.0, p2 = k2 ? k2[i] : 1.0;
    int64_t j = i * D + d;
    if (m1) {
        double t = p1 / (exp((double)l1[j]) + 1e-8);
        T += t;
        num += (double)m1[j] * t;
    }
    if (m2) {
        double t = p2 / (exp((double)l2[j]) + 1e-8);
        T += t;
        num += (double)m2[j] * t;
    }
    *mu = num / T;
    *lv = -log(T);
}

static mvae_tensor *from(mvae_ctx *ctx, const float *v, int64_t rows, int64_t cols) {
    mvae_tensor *t = mvae_tensor_new(ctx, 2, (int64_t[]){rows, cols});
    memcpy(t->data, v, (size_t)(rows * cols) * sizeof(float));
    return t;
}

/* Fuse and compare with the double-precision product for every sample and dim. */
static void check_fuse(const poe_env *e, void *self, bool prior, const float *k1, const float *k2,
                       bool use1, bool use2) {
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *mu[2] = {use1 ? from(ctx, MU1, B, D) : NULL, use2 ? from(ctx, MU2, B, D) : NULL};
    mvae_tensor *lv[2] = {use1 ? from(ctx, LV1, B, D) : NULL, use2 ? from(ctx, LV2, B, D) : NULL};
    mvae_tensor *mask[2] = {k1 ? from(ctx, k1, B, 1) : NULL, k2 ? from(ctx, k2, B, 1) : NULL};
    mvae_posterior q;
    int rc = e->vt->fuse(self, ctx, 2, mu, lv, mask, &q);
    if (rc) fprintf(stderr, "fuse: %s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    assert_non_null(q.mu);
    assert_non_null(q.logvar);
    assert_int_equal(q.mu->ndim, 2);
    assert_int_equal(q.mu->shape[0], B);
    assert_int_equal(q.mu->shape[1], D);
    assert_int_equal(q.logvar->n, B * D);
    for (int64_t i = 0; i < B; i++) {
        bool any = (use1 && (!k1 || k1[i] > 0)) || (use2 && (!k2 || k2[i] > 0));
        for (int d = 0; d < D; d++) {
            double emu, elv;
            if (!any && !prior) {
                /* no expert and no prior expert: the sample is not valid for this subset; its
                 * posterior must still be finite (N(0, I)) so that masking it out with
                 * valid = 0 does not turn the batch loss into NaN */
                emu = 0.0;
                elv = 0.0;
            } else {
                expected(use1 ? MU1 : NULL, LV1, k1, use2 ? MU2 : NULL, LV2, k2, prior, i, d, &emu, &elv);
            }
            double gm = q.mu->data[i * D + d], gl = q.logvar->data[i * D + d];
            if (!(fabs(gm - emu) <= 1e-5 + 1e-5 * fabs(emu)) || !(fabs(gl - elv) <= 1e-5 + 1e-5 * fabs(elv)))
                fprintf(stderr, "sample %lld dim %d: mu %.8g (want %.8g) logvar %.8g (want %.8g)\n", (long long)i, d,
                        gm, emu, gl, elv);
            assert_true(fabs(gm - emu) <= 1e-5 + 1e-5 * fabs(emu));
            assert_true(fabs(gl - elv) <= 1e-5 + 1e-5 * fabs(elv));
        }
    }
    /* mean() is the point estimate used for prediction: the fused mean */
    mvae_tensor *zm = e->vt->mean(self, ctx, &q);
    assert_non_null(zm);
    for (int64_t j = 0; j < B * D; j++) assert_float_equal(zm->data[j], q.mu->data[j], 0);
    mvae_ctx_free(ctx);
}

static void test_poe_two_experts(void **state) {
    poe_env *e = *state;
    void *p = make_poe(e, NULL, 2); /* defaults: prior_expert true */
    check_fuse(e, p, true, NULL, NULL, true, true);
    check_fuse(e, p, true, NULL, NULL, true, false); /* one expert (unimodal term) */
    check_fuse(e, p, true, NULL, NULL, false, true);
    e->vt->destroy(p);
}

static void test_poe_masks(void **state) {
    poe_env *e = *state;
    void *p = make_poe(e, "prior_expert: true", 2);
    /* sample 0: both; 1: only expert 2; 2: only expert 1; 3: none -> the prior N(0, 1) */
    const float k1[B] = {1, 0, 1, 0}, k2[B] = {1, 1, 0, 0};
    check_fuse(e, p, true, k1, k2, true, true);
    /* a mask on one expert, the other always present */
    check_fuse(e, p, true, k1, NULL, true, true);
    e->vt->destroy(p);

    /* explicitly: every expert absent for sample 3 gives exactly N(0, 1) */
    p = make_poe(e, NULL, 2);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *mu[2] = {from(ctx, MU1, B, D), from(ctx, MU2, B, D)};
    mvae_tensor *lv[2] = {from(ctx, LV1, B, D), from(ctx, LV2, B, D)};
    mvae_tensor *mask[2] = {from(ctx, k1, B, 1), from(ctx, k2, B, 1)};
    mvae_posterior q;
    assert_int_equal(e->vt->fuse(p, ctx, 2, mu, lv, mask, &q), MVAE_OK);
    for (int d = 0; d < D; d++) {
        assert_float_equal(q.mu->data[3 * D + d], 0.0f, 1e-7);
        assert_float_equal(q.logvar->data[3 * D + d], 0.0f, 1e-7);
    }
    mvae_ctx_free(ctx);
    e->vt->destroy(p);
}

static void test_poe_no_prior(void **state) {
    poe_env *e = *state;
    void *p = make_poe(e, "prior_expert: false", 2);
    check_fuse(e, p, false, NULL, NULL, true, true);
    /* a single expert without the prior is that expert itself */
    check_fuse(e, p, false, NULL, NULL, true, false);
    const float k1[B] = {1, 0, 1, 0}, k2[B] = {1, 1, 0, 0};
    check_fuse(e, p, false, k1, k2, true, true);
    e->vt->destroy(p);
}

static void test_poe_no_expert_fails(void **state) {
    poe_env *e = *state;
    void *p = make_poe(e, NULL, 2);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *mu[2] = {NULL, NULL}, *lv[2] = {NULL, NULL}, *mask[2] = {NULL, NULL};
    mvae_posterior q;
    assert_int_not_equal(e->vt->fuse(p, ctx, 2, mu, lv, mask, &q), MVAE_OK);
    assert_non_null(strstr(mvae_ctx_error(ctx), "poe"));
    mvae_ctx_free(ctx);
    e->vt->destroy(p);
}

/* A collapsing expert (logvar far below -88, where exp(-logvar) overflows a float) gives a
 * finite posterior: precision capped at 1e8 as in the original code, the mean that expert's. */
static void test_poe_tiny_variance(void **state) {
    poe_env *e = *state;
    void *p = make_poe(e, NULL, 2);
    mvae_ctx *ctx = mvae_ctx_new(0);
    float lv1[B * D];
    for (int j = 0; j < B * D; j++) lv1[j] = j % 2 ? -100.0f : -30.0f;
    mvae_tensor *mu[2] = {from(ctx, MU1, B, D), from(ctx, MU2, B, D)};
    mvae_tensor *lv[2] = {from(ctx, lv1, B, D), from(ctx, LV2, B, D)};
    mvae_tensor *mask[2] = {NULL, NULL};
    mvae_posterior q;
    assert_int_equal(e->vt->fuse(p, ctx, 2, mu, lv, mask, &q), MVAE_OK);
    for (int j = 0; j < B * D; j++) {
        assert_true(isfinite(q.mu->data[j]) && isfinite(q.logvar->data[j]));
        assert_true(fabs(q.mu->data[j] - MU1[j]) < 1e-5 * (1 + fabs(MU1[j])));
        assert_true(fabsf(q.logvar->data[j] - (float)-log(1e8)) < 1e-3f);
    }
    mvae_ctx_free(ctx);
    e->vt->destroy(p);
}

/* ... and finite gradients for any finite logvar, also for a masked-out expert whose logvar is
 * huge (its encoder ran on an absent input): 0 * inf must not appear in backward. */
static void test_poe_extreme_logvar_gradient(void **state) {
    poe_env *e = *state;
    void *p = make_poe(e, NULL, 2);
    mvae_ctx *ctx = mvae_ctx_new(0);
    float lv1[B * D], lv2[B * D];
    for (int j = 0; j < B * D; j++) lv1[j] = j % 2 ? -100.0f : 100.0f, lv2[j] = j % 3 ? 95.0f : -95.0f;
    const float k2[B] = {1, 0, 1, 0};
    mvae_tensor *mu[2] = {from(ctx, MU1, B, D), from(ctx, MU2, B, D)};
    mvae_tensor *lv[2] = {from(ctx, lv1, B, D), from(ctx, lv2, B, D)};
    mvae_tensor *mask[2] = {NULL, from(ctx, k2, B, 1)};
    for (int k = 0; k < 2; k++) mvae_tensor_requires_grad(mu[k]), mvae_tensor_requires_grad(lv[k]);
    mvae_posterior q;
    assert_int_equal(e->vt->fuse(p, ctx, 2, mu, lv, mask, &q), MVAE_OK);
    mvae_tensor *loss = mvae_add(ctx, mvae_sum_all(ctx, q.mu), mvae_sum_all(ctx, q.logvar));
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < B * D; j++) {
            assert_true(isfinite(q.mu->data[j]) && isfinite(q.logvar->data[j]));
            assert_true(isfinite(mu[k]->grad[j]) && isfinite(lv[k]->grad[j]));
        }
    mvae_ctx_free(ctx);
    e->vt->destroy(p);
}

/* The option table rejects a typo through the config validator with a hint. */
static void test_poe_options(void **state) {
    poe_env *e = *state;
    const mvae_plugin_desc *d = mvae_registry_find(e->reg, MVAE_PLUGIN_FUSION, "poe");
    mvae_cfg *cfg;
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_load_string("prior_expret: false\n", "f.yaml", &cfg, &err), MVAE_OK);
    assert_int_not_equal(mvae_cfg_validate(cfg, mvae_cfg_root(cfg), d->options, "fusion", NULL, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "did you mean 'prior_expert'"));
    mvae_cfg_free(cfg);
}

/* sample(): many draws from one fused posterior; kl() and log_q() against closed forms. */
static void test_poe_sample_kl_logq(void **state) {
    poe_env *e = *state;
    void *p = make_poe(e, NULL, 2);
    enum { N = 20000 };
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* every row holds sample 1's experts, so one sample() call gives N draws per dim */
    mvae_tensor *mu[2], *lv[2];
    for (int m = 0; m < 2; m++) {
        mu[m] = mvae_tensor_new(ctx, 2, (int64_t[]){N, D});
        lv[m] = mvae_tensor_new(ctx, 2, (int64_t[]){N, D});
        for (int64_t i = 0; i < N; i++)
            for (int d = 0; d < D; d++) {
                mu[m]->data[i * D + d] = (m ? MU2 : MU1)[1 * D + d];
                lv[m]->data[i * D + d] = (m ? LV2 : LV1)[1 * D + d];
            }
    }
    mvae_tensor *mask[2] = {NULL, NULL};
    mvae_posterior q;
    assert_int_equal(e->vt->fuse(p, ctx, 2, mu, lv, mask, &q), MVAE_OK);
    mvae_rng rng;
    mvae_rng_seed(&rng, 7);
    mvae_tensor *z = e->vt->sample(p, ctx, &q, &rng);
    assert_non_null(z);
    assert_int_equal(z->n, (int64_t)N * D);
    for (int d = 0; d < D; d++) {
        double emu, elv;
        expected(MU1, LV1, NULL, MU2, LV2, NULL, true, 1, d, &emu, &elv);
        double s = 0, ss = 0;
        for (int64_t i = 0; i < N; i++) s += z->data[i * D + d];
        double mean = s / N;
        for (int64_t i = 0; i < N; i++) ss += (z->data[i * D + d] - mean) * (z->data[i * D + d] - mean);
        double var = ss / (N - 1), evar = exp(elv);
        /* 5 standard errors */
        assert_true(fabs(mean - emu) < 5.0 * sqrt(evar / N));
        assert_true(fabs(var / evar - 1.0) < 5.0 * sqrt(2.0 / (N - 1)));
    }
    /* kl: -0.5 sum_d (1 + lv - mu^2 - exp(lv)) */
    mvae_tensor *kl = e->vt->kl(p, ctx, &q, z);
    assert_non_null(kl);
    assert_int_equal(kl->n, N);
    double ekl = 0;
    for (int d = 0; d < D; d++) {
        double emu, elv;
        expected(MU1, LV1, NULL, MU2, LV2, NULL, true, 1, d, &emu, &elv);
        ekl += -0.5 * (1.0 + elv - emu * emu - exp(elv));
    }
    assert_true(ekl > 0);
    for (int64_t i = 0; i < N; i += 997) assert_true(fabs(kl->data[i] - ekl) <= 1e-5 + 1e-5 * ekl);
    /* log_q: the diagonal Gaussian density of q at z */
    mvae_tensor *lq = e->vt->log_q(p, ctx, &q, z);
    assert_non_null(lq);
    assert_int_equal(lq->n, N);
    double mean_lq = 0;
    for (int64_t i = 0; i < N; i++) {
        double elq = 0;
        for (int d = 0; d < D; d++) {
            double emu, elv;
            expected(MU1, LV1, NULL, MU2, LV2, NULL, true, 1, d, &emu, &elv);
            double dz = z->data[i * D + d] - emu;
            elq += -0.5 * (log(2 * M_PI) + elv + dz * dz / exp(elv));
        }
        assert_true(fabs(lq->data[i] - elq) <= 1e-4 + 1e-5 * fabs(elq));
        mean_lq += lq->data[i] / N;
    }
    /* E_q[log q] = -entropy = -0.5 sum_d (log 2 pi e + lv) */
    double neg_ent = 0;
    for (int d = 0; d < D; d++) {
        double emu, elv;
        expected(MU1, LV1, NULL, MU2, LV2, NULL, true, 1, d, &emu, &elv);
        neg_ent += -0.5 * (log(2 * M_PI) + 1.0 + elv);
    }
    assert_true(fabs(mean_lq - neg_ent) < 0.05);
    /* a Monte-Carlo KL from log q - log p agrees with the analytic one */
    double mc = 0;
    for (int64_t i = 0; i < N; i++) {
        double lp = 0;
        for (int d = 0; d < D; d++) lp += -0.5 * (log(2 * M_PI) + (double)z->data[i * D + d] * z->data[i * D + d]);
        mc += (lq->data[i] - lp) / N;
    }
    assert_true(fabs(mc - ekl) < 0.1);
    mvae_ctx_free(ctx);
    e->vt->destroy(p);
}

/* ---- gradient of the fused (mu, logvar) w.r.t. the expert outputs ---- */
typedef struct gc_user {
    const poe_env *e;
    void *poe;
    mvae_tensor *mask[2];
} gc_user;

static mvae_tensor *build_fused(mvae_ctx *ctx, mvae_tensor **in, void *user) {
    gc_user *u = user;
    mvae_tensor *mu[2] = {in[0], in[2]}, *lv[2] = {in[1], in[3]};
    mvae_posterior q;
    if (u->e->vt->fuse(u->poe, ctx, 2, mu, lv, u->mask, &q)) return NULL;
    mvae_tensor *both[2] = {q.mu, q.logvar};
    return mvae_concat(ctx, 2, both, 1); /* [B, 2D] */
}

static void run_gc(const poe_env *e, const char *yaml, bool masked) {
    gc_user u = {e, make_poe(e, yaml, 2), {NULL, NULL}};
    mvae_ctx *data = mvae_ctx_new(0);
    mvae_tensor *in[4] = {from(data, MU1, B, D), from(data, LV1, B, D), from(data, MU2, B, D), from(data, LV2, B, D)};
    for (int k = 0; k < 4; k++) mvae_tensor_requires_grad(in[k]);
    const float k1[B] = {1, 0, 1, 1}, k2[B] = {1, 1, 0, 1};
    if (masked) {
        u.mask[0] = from(data, k1, B, 1);
        u.mask[1] = from(data, k2, B, 1);
    }
    int bad = mvae_gradcheck(yaml ? yaml : "poe", build_fused, 4, in, &u, (mvae_gc_opts){0});
    assert_int_equal(bad, 0);
    mvae_ctx_free(data);
    e->vt->destroy(u.poe);
}

static void test_poe_gradient(void **state) {
    poe_env *e = *state;
    run_gc(e, NULL, false);
    run_gc(e, NULL, true);
    run_gc(e, "prior_expert: false", false);
    run_gc(e, "prior_expert: false", true);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poe_two_experts),    cmocka_unit_test(test_poe_masks),
        cmocka_unit_test(test_poe_no_prior),       cmocka_unit_test(test_poe_no_expert_fails),
        cmocka_unit_test(test_poe_options),        cmocka_unit_test(test_poe_sample_kl_logq),
        cmocka_unit_test(test_poe_gradient),       cmocka_unit_test(test_poe_tiny_variance),
        cmocka_unit_test(test_poe_extreme_logvar_gradient),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("poe", tests, env_setup, env_teardown);
}
