/* test_fusion.c — the fusion plugins (fusion/poe, fusion/moe, fusion/mopoe) loaded from the build
 * tree: mixture weights under per-sample absence, the draw layout of sample(), draw statistics,
 * log q against a mixture density computed by hand in double, the KL estimate, the mean, gradient
 * checks of log q and the KL w.r.t. the experts, the poe ablation without the prior expert on a
 * sample with no expert, and a tiny end-to-end training of each fusion on a generated IDX set. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/interfaces.h"
#include "mvae/model.h"
#include "mvae/plugin.h"
#include "mvae/train.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tiny_data.h"

#define BUILD_PLUGINS MVAE_BINARY_DIR "/plugins"
#define LOG_2PI 1.8378770664093453

/* ---- plugin access ---- */

static mvae_registry *g_reg;

static int group_setup(void **state) {
    (void)state;
    g_reg = mvae_registry_new();
    mvae_error err = {0};
    if (mvae_registry_load_dir(g_reg, BUILD_PLUGINS, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    mvae_registry_free(g_reg);
    return 0;
}

typedef struct fusion {
    const mvae_fusion_vtable *vt;
    void *self;
    mvae_cfg *cfg;
} fusion;

/* Create fusion `name` with options given as YAML text (NULL = defaults). */
static int fusion_open(fusion *f, const char *name, const char *yaml, int latent_dim, int n_mod,
                       mvae_error *err) {
    memset(f, 0, sizeof *f);
    const mvae_plugin_desc *d = mvae_registry_require(g_reg, MVAE_PLUGIN_FUSION, name, err);
    if (!d) return err->status;
    f->vt = d->vtable;
    const mvae_cfg_node *opts = NULL;
    if (yaml) {
        int rc = mvae_cfg_load_string(yaml, "fusion.yaml", &f->cfg, err);
        if (rc) return rc;
        opts = mvae_cfg_root(f->cfg);
    }
    return f->vt->create(opts, latent_dim, n_mod, &f->self, err);
}

static void fusion_close(fusion *f) {
    if (f->self) f->vt->destroy(f->self);
    mvae_cfg_free(f->cfg);
    memset(f, 0, sizeof *f);
}

static mvae_tensor *tensor_of(mvae_ctx *ctx, int64_t rows, int64_t cols, const float *v) {
    mvae_tensor *t = mvae_tensor_new(ctx, 2, (int64_t[]){rows, cols});
    memcpy(t->data, v, (size_t)(rows * cols) * sizeof(float));
    return t;
}

/* log N(z; mu, exp(lv)) in double, d dims */
static double logn(const float *z, const float *mu, const float *lv, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) {
        double m = mu ? mu[j] : 0, l = lv ? lv[j] : 0, e = z[j] - m;
        s += -0.5 * (e * e * exp(-l) + l + LOG_2PI);
    }
    return s;
}

/* Hand-computed mixture log density of row r of z [.., D] from q's components (double). */
static double mix_logq_ref(const mvae_posterior *q, const float *z, int64_t r, int64_t B, int D) {
    int64_t i = r % B;
    double s = 0;
    for (int c = 0; c < q->n_comp; c++) {
        double w = q->comp_weight->data[i * q->n_comp + c];
        if (w > 0) s += w * exp(logn(z + r * D, q->comp_mu[c]->data + i * D, q->comp_logvar[c]->data + i * D, D));
    }
    return log(s);
}

/* ---- moe ---- */

enum { B3 = 3, D2 = 2 };
static const float MU0[B3 * D2] = {0.5f, -1.0f, 0.2f, 0.3f, -0.4f, 0.8f};
static const float LV0[B3 * D2] = {-0.5f, 0.2f, 0.1f, -0.3f, 0.0f, 0.4f};
static const float MU1[B3 * D2] = {-0.7f, 0.6f, 1.1f, -0.2f, 0.3f, -0.9f};
static const float LV1[B3 * D2] = {0.3f, -0.6f, -0.2f, 0.5f, 0.2f, -0.1f};
static const float MU2[B3 * D2] = {0.1f, 0.9f, -1.2f, 0.4f, 0.6f, 0.0f};
static const float LV2[B3 * D2] = {-0.1f, 0.1f, 0.4f, -0.4f, -0.2f, 0.3f};

static void test_moe_weights_and_layout(void **state) {
    (void)state;
    fusion f;
    mvae_error err = {0};
    assert_int_equal(fusion_open(&f, "moe", NULL, D2, 4, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* modality 0: always present; 1: absent for sample 1; 2: not in the subset; 3: absent for
     * samples 1 and 2 */
    mvae_tensor *mu[4] = {tensor_of(ctx, B3, D2, MU0), tensor_of(ctx, B3, D2, MU1), NULL,
                          tensor_of(ctx, B3, D2, MU2)};
    mvae_tensor *lv[4] = {tensor_of(ctx, B3, D2, LV0), tensor_of(ctx, B3, D2, LV1), NULL,
                          tensor_of(ctx, B3, D2, LV2)};
    mvae_tensor *mask[4] = {NULL, tensor_of(ctx, B3, 1, (float[]){1, 0, 1}), NULL,
                            tensor_of(ctx, B3, 1, (float[]){1, 0, 0})};
    mvae_posterior q;
    assert_int_equal(f.vt->fuse(f.self, ctx, 4, mu, lv, mask, &q), MVAE_OK);
    assert_int_equal(q.n_comp, 3);
    assert_int_equal(q.n_draws, 3);
    assert_ptr_equal(q.comp_mu[0], mu[0]);
    assert_ptr_equal(q.comp_mu[1], mu[1]);
    assert_ptr_equal(q.comp_mu[2], mu[3]);
    const float want[B3][3] = {{1 / 3.f, 1 / 3.f, 1 / 3.f}, {1, 0, 0}, {0.5f, 0.5f, 0}};
    for (int i = 0; i < B3; i++)
        for (int c = 0; c < 3; c++) {
            assert_float_equal(q.comp_weight->data[i * 3 + c], want[i][c], 1e-7);
            assert_float_equal(q.draw_weight->data[c * B3 + i], want[i][c], 1e-7);
        }
    /* sample: [n_draws * B, D], draw d = component d */
    mvae_rng rng;
    mvae_rng_seed(&rng, 7);
    mvae_tensor *z = f.vt->sample(f.self, ctx, &q, &rng);
    assert_non_null(z);
    assert_int_equal(z->shape[0], 3 * B3);
    assert_int_equal(z->shape[1], D2);
    /* the same noise re-drawn: row c*B+i = mu_c[i] + sigma_c[i] * eps */
    mvae_rng_seed(&rng, 7);
    for (int c = 0; c < 3; c++) {
        float eps[B3 * D2];
        mvae_rng_normal_fill(&rng, eps, B3 * D2);
        for (int e = 0; e < B3 * D2; e++)
            assert_float_equal(z->data[c * B3 * D2 + e],
                               q.comp_mu[c]->data[e] + expf(0.5f * q.comp_logvar[c]->data[e]) * eps[e], 1e-5);
    }
    /* log q against the hand-computed mixture density, for k = 3 rows per sample */
    mvae_tensor *lq = f.vt->log_q(f.self, ctx, &q, z);
    assert_non_null(lq);
    assert_int_equal(lq->n, 3 * B3);
    for (int64_t r = 0; r < 3 * B3; r++)
        assert_float_equal(lq->data[r], mix_logq_ref(&q, z->data, r, B3, D2), 1e-4);
    /* and for a single row per sample */
    mvae_tensor *z1 = mvae_slice(ctx, z, 0, 0, B3);
    mvae_tensor *lq1 = f.vt->log_q(f.self, ctx, &q, z1);
    for (int64_t r = 0; r < B3; r++) assert_float_equal(lq1->data[r], lq->data[r], 1e-5);
    /* kl: log q(z) - log N(z; 0, I) at the drawn z */
    mvae_tensor *kl = f.vt->kl(f.self, ctx, &q, z);
    assert_int_equal(kl->n, 3 * B3);
    for (int64_t r = 0; r < 3 * B3; r++)
        assert_float_equal(kl->data[r], mix_logq_ref(&q, z->data, r, B3, D2) - logn(z->data + r * D2, NULL, NULL, D2), 1e-4);
    /* mean: weighted component means */
    mvae_tensor *mean = f.vt->mean(f.self, ctx, &q);
    for (int i = 0; i < B3; i++)
        for (int j = 0; j < D2; j++) {
            double s = 0;
            for (int c = 0; c < 3; c++) s += want[i][c] * q.comp_mu[c]->data[i * D2 + j];
            assert_float_equal(mean->data[i * D2 + j], s, 1e-6);
        }
    mvae_ctx_free(ctx);
    fusion_close(&f);
}

/* A sample with none of the experts present: weights 0, outputs finite. */
static void test_moe_no_expert_row_finite(void **state) {
    (void)state;
    fusion f;
    mvae_error err = {0};
    assert_int_equal(fusion_open(&f, "moe", NULL, D2, 2, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *mu[2] = {tensor_of(ctx, B3, D2, MU0), tensor_of(ctx, B3, D2, MU1)};
    mvae_tensor *lv[2] = {tensor_of(ctx, B3, D2, LV0), tensor_of(ctx, B3, D2, LV1)};
    mvae_tensor *mask[2] = {tensor_of(ctx, B3, 1, (float[]){1, 0, 0}), tensor_of(ctx, B3, 1, (float[]){0, 0, 1})};
    mvae_posterior q;
    assert_int_equal(f.vt->fuse(f.self, ctx, 2, mu, lv, mask, &q), MVAE_OK);
    assert_float_equal(q.comp_weight->data[1 * 2 + 0], 0, 0);
    assert_float_equal(q.comp_weight->data[1 * 2 + 1], 0, 0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 3);
    mvae_tensor *z = f.vt->sample(f.self, ctx, &q, &rng);
    mvae_tensor *outs[3] = {f.vt->kl(f.self, ctx, &q, z), f.vt->log_q(f.self, ctx, &q, z), f.vt->mean(f.self, ctx, &q)};
    for (int o = 0; o < 3; o++) {
        assert_non_null(outs[o]);
        for (int64_t e = 0; e < outs[o]->n; e++) assert_true(isfinite(outs[o]->data[e]));
    }
    /* sample 0 has expert 0 alone: log q is that expert's density */
    assert_float_equal(outs[1]->data[0], logn(z->data, MU0, LV0, D2), 1e-4);
    mvae_ctx_free(ctx);
    fusion_close(&f);
}

/* Draw statistics: with one sample repeated many times, the draws of component c have the
 * component's mean and variance. */
static void test_mixture_draw_statistics(void **state) {
    (void)state;
    const char *names[2] = {"moe", "mopoe"};
    for (int p = 0; p < 2; p++) {
        fusion f;
        mvae_error err = {0};
        assert_int_equal(fusion_open(&f, names[p], "k: 2\n", D2, 2, &err), MVAE_OK);
        mvae_ctx *ctx = mvae_ctx_new(0);
        enum { N = 4000 };
        mvae_tensor *mu[2], *lv[2];
        mu[0] = mvae_tensor_new(ctx, 2, (int64_t[]){N, D2});
        lv[0] = mvae_tensor_new(ctx, 2, (int64_t[]){N, D2});
        mu[1] = mvae_tensor_new(ctx, 2, (int64_t[]){N, D2});
        lv[1] = mvae_tensor_new(ctx, 2, (int64_t[]){N, D2});
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D2; j++) {
                mu[0]->data[i * D2 + j] = MU0[j];
                lv[0]->data[i * D2 + j] = LV0[j];
                mu[1]->data[i * D2 + j] = MU1[j];
                lv[1]->data[i * D2 + j] = LV1[j];
            }
        mvae_posterior q;
        assert_int_equal(f.vt->fuse(f.self, ctx, 2, mu, lv, NULL, &q), MVAE_OK);
        int C = p == 0 ? 2 : 3;
        assert_int_equal(q.n_comp, C);
        assert_int_equal(q.n_draws, 2 * C); /* k = 2 draws per component */
        for (int d = 0; d < 2 * C; d++) assert_float_equal(q.draw_weight->data[(int64_t)d * N], 1.0 / (2 * C), 1e-7);
        mvae_rng rng;
        mvae_rng_seed(&rng, 11);
        mvae_tensor *z = f.vt->sample(f.self, ctx, &q, &rng);
        assert_int_equal(z->shape[0], (int64_t)2 * C * N);
        for (int d = 0; d < 2 * C; d++) {
            int c = d / 2;
            for (int j = 0; j < D2; j++) {
                double s = 0, s2 = 0;
                for (int i = 0; i < N; i++) {
                    double v = z->data[((int64_t)d * N + i) * D2 + j];
                    s += v;
                    s2 += v * v;
                }
                double m = s / N, var = s2 / N - m * m;
                double mc = q.comp_mu[c]->data[j], vc = exp(q.comp_logvar[c]->data[j]);
                assert_true(fabs(m - mc) < 5 * sqrt(vc / N));
                assert_true(fabs(var / vc - 1) < 0.1);
            }
        }
        mvae_ctx_free(ctx);
        fusion_close(&f);
    }
}

/* ---- mopoe ---- */

static void test_mopoe_components_and_weights(void **state) {
    (void)state;
    fusion f;
    mvae_error err = {0};
    assert_int_equal(fusion_open(&f, "mopoe", NULL, D2, 3, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* modality 1 absent for sample 1, modality 2 absent for sample 2 */
    mvae_tensor *mu[3] = {tensor_of(ctx, B3, D2, MU0), tensor_of(ctx, B3, D2, MU1), tensor_of(ctx, B3, D2, MU2)};
    mvae_tensor *lv[3] = {tensor_of(ctx, B3, D2, LV0), tensor_of(ctx, B3, D2, LV1), tensor_of(ctx, B3, D2, LV2)};
    mvae_tensor *mask[3] = {NULL, tensor_of(ctx, B3, 1, (float[]){1, 0, 1}), tensor_of(ctx, B3, 1, (float[]){1, 1, 0})};
    mvae_posterior q;
    assert_int_equal(f.vt->fuse(f.self, ctx, 3, mu, lv, mask, &q), MVAE_OK);
    assert_int_equal(q.n_comp, 7);
    assert_int_equal(q.n_draws, 7);
    const float *M[3] = {MU0, MU1, MU2}, *L[3] = {LV0, LV1, LV2};
    for (int s = 1; s <= 7; s++) {
        int c = s - 1;
        /* component s - 1 = PoE of the prior and the experts in bitmask s */
        for (int e = 0; e < B3 * D2; e++) {
            double T = 1, num = 0;
            for (int j = 0; j < 3; j++)
                if (s & (1 << j)) {
                    T += exp(-L[j][e]);
                    num += M[j][e] * exp(-L[j][e]);
                }
            assert_float_equal(q.comp_mu[c]->data[e], num / T, 1e-5);
            assert_float_equal(q.comp_logvar[c]->data[e], -log(T), 1e-5);
        }
        /* weights: sample 0 has all 3 (7 subsets), sample 1 has {0, 2} (3 subsets), sample 2 has
         * {0, 1} (3 subsets) */
        const unsigned have[B3] = {7, 5, 3};
        const float cnt[B3] = {7, 3, 3};
        for (int i = 0; i < B3; i++) {
            float w = ((unsigned)s & ~have[i]) == 0 ? 1 / cnt[i] : 0;
            assert_float_equal(q.comp_weight->data[i * 7 + c], w, 1e-7);
            assert_float_equal(q.draw_weight->data[c * B3 + i], w, 1e-7);
        }
    }
    mvae_rng rng;
    mvae_rng_seed(&rng, 5);
    mvae_tensor *z = f.vt->sample(f.self, ctx, &q, &rng);
    assert_int_equal(z->shape[0], 7 * B3);
    mvae_tensor *lq = f.vt->log_q(f.self, ctx, &q, z), *kl = f.vt->kl(f.self, ctx, &q, z);
    for (int64_t r = 0; r < 7 * B3; r++) {
        double ref = mix_logq_ref(&q, z->data, r, B3, D2);
        assert_float_equal(lq->data[r], ref, 1e-4);
        assert_float_equal(kl->data[r], ref - logn(z->data + r * D2, NULL, NULL, D2), 1e-4);
    }
    mvae_tensor *mean = f.vt->mean(f.self, ctx, &q);
    for (int i = 0; i < B3; i++)
        for (int j = 0; j < D2; j++) {
            double s = 0;
            for (int c = 0; c < 7; c++) s += q.comp_weight->data[i * 7 + c] * q.comp_mu[c]->data[i * D2 + j];
            assert_float_equal(mean->data[i * D2 + j], s, 1e-6);
        }
    mvae_ctx_free(ctx);
    fusion_close(&f);
}

static void test_mopoe_without_prior_and_limits(void **state) {
    (void)state;
    fusion f;
    mvae_error err = {0};
    assert_int_equal(fusion_open(&f, "mopoe", "prior_expert: false\n", D2, 2, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *mu[2] = {tensor_of(ctx, B3, D2, MU0), tensor_of(ctx, B3, D2, MU1)};
    mvae_tensor *lv[2] = {tensor_of(ctx, B3, D2, LV0), tensor_of(ctx, B3, D2, LV1)};
    mvae_posterior q;
    assert_int_equal(f.vt->fuse(f.self, ctx, 2, mu, lv, NULL, &q), MVAE_OK);
    assert_int_equal(q.n_comp, 3);
    /* single experts are themselves; the pair is their plain product */
    assert_ptr_equal(q.comp_mu[0], mu[0]);
    assert_ptr_equal(q.comp_mu[1], mu[1]);
    for (int e = 0; e < B3 * D2; e++) {
        double t0 = exp(-LV0[e]), t1 = exp(-LV1[e]);
        assert_float_equal(q.comp_mu[2]->data[e], (MU0[e] * t0 + MU1[e] * t1) / (t0 + t1), 1e-5);
    }
    mvae_ctx_free(ctx);
    fusion_close(&f);
    /* more than 6 modalities; k out of range (IWAE / DReG are the trainer's: test_train) */
    assert_int_not_equal(fusion_open(&f, "mopoe", NULL, D2, 7, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "at most 6"));
    fusion_close(&f);
    const char *names[2] = {"moe", "mopoe"};
    for (int p = 0; p < 2; p++) {
        mvae_error_clear(&err);
        assert_int_not_equal(fusion_open(&f, names[p], "k: 0\n", D2, 2, &err), MVAE_OK);
        fusion_close(&f);
    }
}

/* ---- gradient checks: log q and the reparameterised KL w.r.t. expert mu / logvar ---- */

typedef struct gc_user {
    fusion *f;
    mvae_tensor *mask[2];
    mvae_tensor *z; /* fixed z for log_q, NULL: draw z with the seeded rng (reparameterised) */
    int kl;
} gc_user;

static mvae_tensor *gc_build(mvae_ctx *ctx, mvae_tensor **in, void *user) {
    gc_user *u = user;
    mvae_tensor *mu[2] = {in[0], in[2]}, *lv[2] = {in[1], in[3]};
    mvae_posterior q;
    if (u->f->vt->fuse(u->f->self, ctx, 2, mu, lv, u->mask, &q)) return NULL;
    mvae_tensor *z = u->z;
    if (!z) {
        mvae_rng rng;
        mvae_rng_seed(&rng, 99);
        z = u->f->vt->sample(u->f->self, ctx, &q, &rng);
    }
    return u->kl ? u->f->vt->kl(u->f->self, ctx, &q, z) : u->f->vt->log_q(u->f->self, ctx, &q, z);
}

static void run_mixture_gradchecks(const char *name) {
    fusion f;
    mvae_error err = {0};
    assert_int_equal(fusion_open(&f, name, NULL, 3, 2, &err), MVAE_OK);
    mvae_ctx *data = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 2024);
    enum { B = 3, D = 3 };
    mvae_tensor *in[4];
    for (int k = 0; k < 4; k++) in[k] = mvae_test_rand(data, &r, 2, (int64_t[]){B, D}, -0.8f, 0.8f, 1);
    /* sample 1 lacks modality 1 (its gradient there must be exactly what the weights say) */
    gc_user u = {.f = &f, .mask = {NULL, tensor_of(data, B, 1, (float[]){1, 0, 1})}};
    u.z = mvae_test_rand(data, &r, 2, (int64_t[]){2 * B, D}, -1.5f, 1.5f, 0);
    char label[64];
    for (int kl = 0; kl < 2; kl++) {
        u.kl = kl;
        snprintf(label, sizeof label, "%s %s(fixed z)", name, kl ? "kl" : "log_q");
        assert_int_equal(mvae_gradcheck(label, gc_build, 4, in, &u, (mvae_gc_opts){0}), 0);
    }
    /* through the reparameterised draws */
    u.z = NULL;
    u.kl = 1;
    snprintf(label, sizeof label, "%s kl(z ~ q)", name);
    assert_int_equal(mvae_gradcheck(label, gc_build, 4, in, &u, (mvae_gc_opts){0}), 0);
    u.kl = 0;
    snprintf(label, sizeof label, "%s log_q(z ~ q)", name);
    assert_int_equal(mvae_gradcheck(label, gc_build, 4, in, &u, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(data);
    fusion_close(&f);
}

static void test_moe_grad(void **state) {
    (void)state;
    run_mixture_gradchecks("moe");
}

static void test_mopoe_grad(void **state) {
    (void)state;
    run_mixture_gradchecks("mopoe");
}

/* ---- poe without the prior expert: a sample with no expert present stays finite ---- */

static void test_poe_no_prior_all_absent_row(void **state) {
    (void)state;
    fusion f;
    mvae_error err = {0};
    assert_int_equal(fusion_open(&f, "poe", "prior_expert: false\n", D2, 2, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *mu[2] = {tensor_of(ctx, B3, D2, MU0), tensor_of(ctx, B3, D2, MU1)};
    mvae_tensor *lv[2] = {tensor_of(ctx, B3, D2, LV0), tensor_of(ctx, B3, D2, LV1)};
    mvae_tensor *mask[2] = {tensor_of(ctx, B3, 1, (float[]){1, 0, 0}), tensor_of(ctx, B3, 1, (float[]){1, 0, 1})};
    mvae_posterior q;
    assert_int_equal(f.vt->fuse(f.self, ctx, 2, mu, lv, mask, &q), MVAE_OK);
    for (int j = 0; j < D2; j++) {
        assert_float_equal(q.mu->data[1 * D2 + j], 0, 0); /* no expert: mu 0, logvar 0 */
        assert_float_equal(q.logvar->data[1 * D2 + j], 0, 0);
        /* expert 1 alone (its precision 1e8 * sigmoid(ln 1e-8 - logvar) is exact to a few ulp) */
        assert_float_equal(q.mu->data[2 * D2 + j], MU1[2 * D2 + j], 1e-6);
        assert_float_equal(q.logvar->data[2 * D2 + j], LV1[2 * D2 + j], 1e-5);
    }
    mvae_rng rng;
    mvae_rng_seed(&rng, 1);
    mvae_tensor *z = f.vt->sample(f.self, ctx, &q, &rng);
    mvae_tensor *outs[3] = {z, f.vt->kl(f.self, ctx, &q, z), f.vt->log_q(f.self, ctx, &q, z)};
    for (int o = 0; o < 3; o++)
        for (int64_t e = 0; e < outs[o]->n; e++) assert_true(isfinite(outs[o]->data[e]));
    mvae_ctx_free(ctx);
    fusion_close(&f);
}

/* ---- end to end: a tiny training of every fusion on a generated IDX data set ---- */

static uint8_t fx_label(int split, int i, void *user) {
    (void)user;
    return (uint8_t)((split * 3 + i) % 10);
}

/* images whose brightness pattern depends on the label, so that there is something to learn */
static uint8_t fx_pixel(int split, int i, int k, void *user) {
    int l = fx_label(split, i, user);
    return (uint8_t)(((k / 28) / 3 == l) ? 230 : (k * 7 + i) % 40);
}

static void write_split(const char *dir, const char *prefix, int split, int n) {
    assert_int_equal(tiny_write_split_with(dir, prefix, split, n, -1, fx_label, fx_pixel, NULL), 0);
}

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void train_tiny(const char *data_dir, const char *fusion_yaml, const char *modalities,
                       double paired) {
    char yaml[2048], run[300];
    snprintf(yaml, sizeof yaml,
             "name: tiny\nseed: 3\n"
             "dataset: { plugin: fashion_mnist, path: '%s', paired_fraction: %g }\n"
             "latent_dim: 4\n"
             "modalities:\n%s"
             "fusion: %s\n"
             "train: { epochs: 2, batch_size: 20, max_batches: 4, threads: 1, progress: none,\n"
             "         objective: { joint: true, unimodal: true, random_subsets: 1 } }\n"
             "eval: { batch_size: 20, pictures: false, log_likelihood: { samples: 8, max_test: 20 } }\n",
             data_dir, paired, modalities, fusion_yaml);
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    int rc = mvae_cfg_load_string(yaml, "tiny.yaml", &cfg, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_model *m = NULL;
    rc = mvae_model_build(cfg, g_reg, &m, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    snprintf(run, sizeof run, "%s/run", data_dir);
    mvae_train_opts o = {.run_dir = run, .quiet = true};
    mvae_train_result res;
    rc = mvae_train(m, &o, &res, &err);
    if (rc) fprintf(stderr, "%s: %s\n", fusion_yaml, err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_true(isfinite(res.last_loss));
    assert_true(isfinite(res.eval.elbo));
    assert_true(res.eval.n_ll > 0);
    for (int t = 0; t < res.eval.n_ll; t++) assert_true(isfinite(res.eval.ll[t]) && res.eval.ll[t] < 0);
    for (int a = 0; a < res.eval.n_acc; a++) assert_true(res.eval.acc[a] >= 0 && res.eval.acc[a] <= 1);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    rm_rf(run);
}

static void test_train_tiny_every_fusion(void **state) {
    (void)state;
    char dir[64] = "/tmp/mvae_test_fusion_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_split(dir, "train", 0, 100);
    write_split(dir, "t10k", 1, 40);
    const char *both =
        "  image: { encoder: { plugin: mlp, hidden: [16] }, decoder: { plugin: mlp, hidden: [16] } }\n"
        "  label: { encoder: { plugin: mlp, embed: 8, hidden: [16] }, decoder: { plugin: mlp, hidden: [16] }, weight: 5.0 }\n";
    const char *fusions[] = {"{ plugin: poe }", "{ plugin: poe, prior_expert: false }",
                             "{ plugin: moe }", "{ plugin: moe, k: 2 }", "{ plugin: mopoe }"};
    for (int i = 0; i < 5; i++) {
        train_tiny(dir, fusions[i], both, 1.0);
        train_tiny(dir, fusions[i], both, 0.3); /* weak supervision: per-sample absent experts */
    }
    /* the single-modality VAE baseline */
    train_tiny(dir, "{ plugin: poe }",
               "  image: { encoder: { plugin: mlp, hidden: [16] }, decoder: { plugin: mlp, hidden: [16] } }\n",
               1.0);
    rm_rf(dir);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moe_weights_and_layout),
        cmocka_unit_test(test_moe_no_expert_row_finite),
        cmocka_unit_test(test_mixture_draw_statistics),
        cmocka_unit_test(test_mopoe_components_and_weights),
        cmocka_unit_test(test_mopoe_without_prior_and_limits),
        cmocka_unit_test(test_moe_grad),
        cmocka_unit_test(test_mopoe_grad),
        cmocka_unit_test(test_poe_no_prior_all_absent_row),
        cmocka_unit_test(test_train_tiny_every_fusion),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("fusion", tests, group_setup, group_teardown);
}
