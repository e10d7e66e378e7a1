/* test_flow.c — the flow model type (docs/model_types.md): the flow ops' gradients, inverses and
 * log-determinants (against a brute-force finite-difference Jacobian), the exact log-likelihood
 * at the identity initialisation against a hand computation, a multimodal model with a flow
 * image trained end to end on the tiny fixture (the loss falls, bits/dim reported, samples
 * drawn), and the errors: a flow on class labels, an unknown type, a decoder or likelihood on a
 * flow modality, and a NaN during flow training stopping with the step named. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "flow_internal.h"
#include "mvae/model.h"
#include "mvae/train.h"
#include "tiny_data.h"

#include <sys/stat.h>

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "flow", 200, 60); }
static int env_teardown(void **state) { return tiny_env_close(state); }

/* the tiny experiment with the image as a flow (the label stays a VAE) */
#define IMAGE_FLOW                                                                                 \
    "modalities.image={model: flow, encoder: {plugin: mlp, hidden: [32]}, "                        \
    "flow: {layers: 4, hidden: [32], cond_dim: 16}}"

/* ------------------------------------------------------------------------------ gradchecks */
static mvae_tensor *build_affine_coupling(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_affine_coupling(ctx, in[0], in[1], in[2], in[3]);
}
MVAE_GRADCHECK_OP(affine_coupling)
static void gradcheck_affine_coupling(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 21);
    int64_t sh[] = {3, 4};
    mvae_tensor *mask = mvae_tensor_new(d, 1, (int64_t[]){4});
    const float mk[4] = {1, 0, 0, 1};
    memcpy(mask->data, mk, sizeof mk);
    mvae_tensor *in[4] = {mvae_test_rand(d, &r, 2, sh, -1, 1, 1), mvae_test_rand(d, &r, 2, sh, -1, 1, 1),
                          mvae_test_rand(d, &r, 2, sh, -1, 1, 1), mask};
    assert_int_equal(mvae_gradcheck("affine_coupling", build_affine_coupling, 4, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_coupling_logdet(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_coupling_logdet(ctx, in[0], in[1]);
}
MVAE_GRADCHECK_OP(coupling_logdet)
static void gradcheck_coupling_logdet(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 22);
    mvae_tensor *mask = mvae_tensor_new(d, 3, (int64_t[]){1, 2, 2});
    const float mk[4] = {0, 1, 1, 0};
    memcpy(mask->data, mk, sizeof mk);
    mvae_tensor *in[2] = {mvae_test_rand(d, &r, 4, (int64_t[]){3, 1, 2, 2}, -2, 2, 1), mask};
    assert_int_equal(mvae_gradcheck("coupling_logdet", build_coupling_logdet, 2, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_soft_clamp(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_soft_clamp(ctx, in[0], 1.5f);
}
MVAE_GRADCHECK_OP(soft_clamp)
static void gradcheck_soft_clamp(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 23);
    mvae_tensor *in[1] = {mvae_test_rand(d, &r, 2, (int64_t[]){3, 5}, -4, 4, 1)};
    assert_int_equal(mvae_gradcheck("soft_clamp", build_soft_clamp, 1, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_actnorm(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_actnorm(ctx, in[0], in[1], in[2]);
}
MVAE_GRADCHECK_OP(actnorm)
static void gradcheck_actnorm(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 24);
    mvae_tensor *in[3] = {mvae_test_rand(d, &r, 4, (int64_t[]){3, 1, 2, 2}, -1, 1, 1),
                          mvae_test_rand(d, &r, 1, (int64_t[]){4}, -0.5f, 0.5f, 1),
                          mvae_test_rand(d, &r, 1, (int64_t[]){4}, -0.5f, 0.5f, 1)};
    assert_int_equal(mvae_gradcheck("actnorm", build_actnorm, 3, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

/* --------------------------------------------------------------------------- ops: values */
/* Hand values of the coupling and actnorm, their inverses, and the shape errors. */
static void test_op_values_and_inverses(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = mvae_tensor_new(ctx, 2, (int64_t[]){1, 2}), *s = mvae_tensor_new(ctx, 2, (int64_t[]){1, 2}),
                *t = mvae_tensor_new(ctx, 2, (int64_t[]){1, 2}), *m = mvae_tensor_new(ctx, 1, (int64_t[]){2});
    x->data[0] = 0.5f, x->data[1] = -2.0f;
    s->data[0] = 0.3f, s->data[1] = logf(3.0f);
    t->data[0] = 7.0f, t->data[1] = 1.0f;
    m->data[0] = 1.0f, m->data[1] = 0.0f;
    mvae_tensor *y = mvae_affine_coupling(ctx, x, s, t, m);
    assert_float_equal(y->data[0], 0.5f, 1e-6);        /* masked: passes through */
    assert_float_equal(y->data[1], -2.0f * 3 + 1, 1e-5); /* x e^s + t */
    mvae_tensor *ld = mvae_coupling_logdet(ctx, s, m);
    assert_float_equal(ld->data[0], logf(3.0f), 1e-6);  /* only the transformed feature counts */
    mvae_tensor *xi = mvae_affine_coupling_inverse(ctx, y, s, t, m);
    assert_float_equal(xi->data[0], 0.5f, 1e-6);
    assert_float_equal(xi->data[1], -2.0f, 1e-5);
    mvae_tensor *an = mvae_actnorm(ctx, x, t, s); /* (x + b) e^logs */
    assert_float_equal(an->data[0], (0.5f + 7.0f) * expf(0.3f), 1e-4);
    assert_float_equal(an->data[1], (-2.0f + 1.0f) * 3.0f, 1e-5);
    mvae_tensor *ai = mvae_actnorm_inverse(ctx, an, t, s);
    assert_float_equal(ai->data[0], 0.5f, 1e-5);
    assert_float_equal(ai->data[1], -2.0f, 1e-5);
    mvae_tensor *c = mvae_soft_clamp(ctx, t, 2.0f);
    assert_float_equal(c->data[0], 2.0f * tanhf(3.5f), 1e-6);
    /* errors name the op and the shapes */
    mvae_tensor *bad = mvae_tensor_new(ctx, 1, (int64_t[]){3});
    assert_null(mvae_affine_coupling(ctx, x, s, t, bad));
    mvae_assert_has(mvae_ctx_error(ctx), "affine_coupling");
    mvae_ctx_reset(ctx);
    assert_null(mvae_soft_clamp(ctx, t, 0.0f));
    mvae_assert_has(mvae_ctx_error(ctx), "soft_clamp");
    mvae_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ a flow on its own */
typedef struct standalone {
    mvae_params *ps;
    mvae_flow *f;
    mvae_modality_info mi;
} standalone;

/* A flow for modality mi with latent 3; every parameter randomised (away from the identity
 * initialisation) unless identity. */
static void standalone_make(standalone *st, const mvae_modality_info *mi, const char *yaml, bool identity) {
    mvae_error err = {0};
    st->mi = *mi;
    st->ps = mvae_params_new();
    mvae_cfg *cfg = NULL;
    if (yaml) assert_int_equal(mvae_cfg_load_string(yaml, "flow.yaml", &cfg, &err), MVAE_OK);
    int rc = mvae_flow_create(cfg ? mvae_cfg_root(cfg) : NULL, &st->mi, 3, st->ps, "x.flow", &st->f, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_cfg_free(cfg);
    mvae_rng r;
    mvae_rng_seed(&r, 9);
    assert_int_equal(mvae_params_finalize(st->ps, &r, &err), MVAE_OK);
    if (!identity) mvae_rng_uniform_fill(&r, st->ps->data, st->ps->n_floats, -0.3f, 0.3f);
}
static void standalone_free(standalone *st) {
    mvae_flow_free(st->f);
    mvae_params_free(st->ps);
}

/* inverse(forward(v)) == v, for a vector flow (half masks) and an image flow (checkerboard), with
 * random parameters */
static void test_flow_inverse(void **state) {
    (void)state;
    const mvae_modality_info shapes[2] = {{"vec", MVAE_MOD_REAL, 1, {7, 0, 0}, 0, NULL},
                                          {"img", MVAE_MOD_IMAGE, 3, {2, 4, 4}, 0, NULL}};
    for (int c = 0; c < 2; c++) {
        standalone st;
        standalone_make(&st, &shapes[c], "{layers: 5, hidden: [16, 16], cond_dim: 8}", false);
        assert_int_equal(st.f->mask_kind, c == 0 ? MVAE_FLOW_MASK_HALF : MVAE_FLOW_MASK_CHECKERBOARD);
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 3 + c);
        int64_t R = 5, D = st.f->D;
        mvae_tensor *v = mvae_test_rand(ctx, &r, 2, (int64_t[]){R, D}, -3, 3, 0);
        mvae_tensor *z = mvae_test_rand(ctx, &r, 2, (int64_t[]){R, 3}, -1, 1, 0);
        mvae_tensor *ld, *u = mvae_flow_forward(st.f, ctx, v, z, &ld);
        assert_non_null(u);
        double moved = 0;
        for (int64_t i = 0; i < u->n; i++) moved = fmax(moved, fabs(u->data[i] - v->data[i]));
        assert_true(moved > 0.1); /* the parameters are not the identity */
        mvae_tensor *vi = mvae_flow_inverse(st.f, ctx, u, z);
        assert_non_null(vi);
        double sc, md = mvae_test_maxdiff(vi->data, v->data, v->n, &sc);
        if (md > 1e-4) fprintf(stderr, "inverse: max |v - f^-1(f(v))| = %g\n", md);
        assert_true(md <= 1e-4);
        /* a different z gives a different u: the flow is conditioned on z */
        mvae_tensor *z2 = mvae_test_rand(ctx, &r, 2, (int64_t[]){R, 3}, -1, 1, 0), *ld2;
        mvae_tensor *u2 = mvae_flow_forward(st.f, ctx, v, z2, &ld2);
        assert_true(mvae_test_maxdiff(u2->data, u->data, u->n, &sc) > 1e-3);
        mvae_ctx_free(ctx);
        standalone_free(&st);
    }
}

/* log|det| of an n x n matrix (double, partial pivoting) */
static double log_abs_det(double *a, int n) {
    double s = 0;
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
        for (int k = 0; k < n; k++) {
            double t = a[c * n + k];
            a[c * n + k] = a[p * n + k];
            a[p * n + k] = t;
        }
        s += log(fabs(a[c * n + c]));
        for (int r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];
            for (int k = c; k < n; k++) a[r * n + k] -= f * a[c * n + k];
        }
    }
    return s;
}

/* The flow's log-det against log|det J| of a finite-difference Jacobian du/dv, per row */
static void test_flow_logdet_bruteforce(void **state) {
    (void)state;
    const mvae_modality_info shapes[2] = {{"vec", MVAE_MOD_REAL, 1, {5, 0, 0}, 0, NULL},
                                          {"img", MVAE_MOD_IMAGE, 3, {1, 2, 3}, 0, NULL}};
    for (int c = 0; c < 2; c++) {
        standalone st;
        standalone_make(&st, &shapes[c], "{layers: 4, hidden: [12], cond_dim: 4}", false);
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_grad(ctx, false);
        mvae_rng r;
        mvae_rng_seed(&r, 11 + c);
        const int D = (int)st.f->D;
        mvae_tensor *v = mvae_test_rand(ctx, &r, 2, (int64_t[]){2, D}, -2, 2, 0);
        mvae_tensor *z = mvae_test_rand(ctx, &r, 2, (int64_t[]){2, 3}, -1, 1, 0);
        mvae_tensor *ld, *u = mvae_flow_forward(st.f, ctx, v, z, &ld);
        assert_non_null(u);
        double J[36];
        const float h = 1e-3f;
        for (int row = 0; row < 2; row++) {
            for (int j = 0; j < D; j++) {
                float *vj = &v->data[row * D + j], v0 = *vj;
                mvae_tensor *lp, *lm;
                *vj = v0 + h;
                mvae_tensor *up = mvae_flow_forward(st.f, ctx, v, z, &lp);
                *vj = v0 - h;
                mvae_tensor *um = mvae_flow_forward(st.f, ctx, v, z, &lm);
                *vj = v0;
                for (int i = 0; i < D; i++) J[i * D + j] = ((double)up->data[row * D + i] - um->data[row * D + i]) / (2.0 * h);
            }
            double bf = log_abs_det(J, D);
            if (fabs(bf - ld->data[row]) > 2e-2)
                fprintf(stderr, "logdet: flow %g, finite differences %g\n", (double)ld->data[row], bf);
            assert_true(fabs(bf - ld->data[row]) <= 2e-2);
            assert_true(fabs(bf) > 0.1); /* a non-trivial volume change */
        }
        mvae_ctx_free(ctx);
        standalone_free(&st);
    }
}

/* Gradients through a whole flow (random parameters) to its input and to z, the path by which
 * the encoder learns from a flow modality: log N(f(v; z)) + log-det, by finite differences */
static mvae_tensor *build_flow_density(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    const mvae_flow *f = u;
    mvae_tensor *ld, *out = mvae_flow_forward(f, ctx, in[0], in[1], &ld);
    if (!out) return NULL;
    return mvae_add(ctx, mvae_gaussian_logp(ctx, out, mvae_tensor_zeros(ctx, 2, out->shape), NULL), ld);
}
static void test_flow_gradients(void **state) {
    (void)state;
    const mvae_modality_info mi = {"img", MVAE_MOD_IMAGE, 3, {1, 2, 3}, 0, NULL};
    standalone st;
    standalone_make(&st, &mi, "{layers: 3, hidden: [8], cond_dim: 4, activation: tanh}", false);
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 31);
    mvae_tensor *in[2] = {mvae_test_rand(d, &r, 2, (int64_t[]){2, 6}, -1, 1, 1), mvae_test_rand(d, &r, 2, (int64_t[]){2, 3}, -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("flow density", build_flow_density, 2, in, st.f, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
    standalone_free(&st);
}

/* Dequantisation + logit: the preprocessing's log-det by finite differences too, and the
 * postprocessing maps v back to the level it came from */
static void test_flow_preprocess(void **state) {
    (void)state;
    const mvae_modality_info mi = {"img", MVAE_MOD_IMAGE, 3, {1, 2, 2}, 0, NULL};
    standalone st;
    standalone_make(&st, &mi, NULL, true);
    assert_int_equal(st.f->levels, 256);
    assert_float_equal(st.f->alpha, 0.05f, 1e-7);
    /* dequantisation assumes [0, 1] levels: refused on real-valued data, with the fix */
    {
        const mvae_modality_info real = {"vec", MVAE_MOD_REAL, 1, {3, 0, 0}, 0, NULL};
        mvae_params *ps = mvae_params_new();
        mvae_cfg *cfg = NULL;
        mvae_error err = {0};
        mvae_flow *f = NULL;
        assert_int_equal(mvae_cfg_load_string("{preprocess: dequantize_logit}", "f.yaml", &cfg, &err), MVAE_OK);
        assert_int_not_equal(mvae_flow_create(mvae_cfg_root(cfg), &real, 3, ps, "v.flow", &f, &err), MVAE_OK);
        assert_null(f);
        mvae_assert_has(err.msg, "use preprocess: none");
        mvae_cfg_free(cfg);
        mvae_params_free(ps);
    }
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = mvae_tensor_new(ctx, 2, (int64_t[]){1, 4});
    const float lv[4] = {0, 17, 128, 255};
    for (int j = 0; j < 4; j++) x->data[j] = lv[j] / 255.0f;
    mvae_tensor *ld, *v = mvae_flow_preprocess(st.f, ctx, x, NULL, &ld);
    double want = -4 * log(256.0);
    float back[4];
    for (int j = 0; j < 4; j++) {
        double y = (lv[j] + 0.5) / 256.0, p = 0.05 + 0.9 * y, g = log(p / (1 - p));
        assert_float_equal(v->data[j], g, 1e-5);
        double hh = 1e-6, gp = log((p + 0.9 * hh) / (1 - p - 0.9 * hh)), gm = log((p - 0.9 * hh) / (1 - p + 0.9 * hh));
        want += log((gp - gm) / (2 * hh)); /* dv/dy by central differences */
    }
    assert_float_equal(ld->data[0], want, 1e-3);
    mvae_flow_postprocess(st.f, v->data, back, 4);
    for (int j = 0; j < 4; j++) assert_float_equal(back[j], lv[j] / 255.0f, 1e-6);
    mvae_ctx_free(ctx);
    standalone_free(&st);
}

/* ------------------------------------------------------------------------ inside a model */
/* At the identity initialisation log p(x | z) is the base density's change of variables alone:
 * sum_j log N(v_j) + log|dv/dy| - D log 256, v = logit(0.05 + 0.9 (k + 1/2) / 256), whatever z.
 * Computed here by hand in double from the raw levels. */
static void test_flow_identity_loglik(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_FLOW, NULL}, &cfg);
    int k = mvae_model_find(m, "image");
    assert_string_equal(m->mod[k].mtype->name, "flow");
    assert_null(m->mod[k].dec);
    mvae_error err = {0};
    mvae_batch b;
    int64_t idx[6] = {0, 1, 2, 3, 4, 5};
    assert_int_equal(mvae_batch_init(&b, m, 6, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 6, NULL, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_tensor *z = mvae_test_rand(ctx, &r, 2, (int64_t[]){12, m->latent_dim}, -2, 2, 0); /* 2 draws per sample */
    mvae_tensor *x = mvae_batch_tensor(ctx, m, &b, k);
    mvae_tensor *lp = mvae_model_logp(m, ctx, k, z, x, NULL);
    assert_non_null(lp);
    assert_int_equal(lp->n, 12);
    for (int row = 0; row < 12; row++) {
        int i = row % 6;
        double want = -784 * log(256.0);
        for (int j = 0; j < 784; j++) {
            int lvl = tiny_pixel(0, i, j);
            double p = 0.05 + 0.9 * (lvl + 0.5) / 256.0, v = log(p / (1 - p));
            want += -0.5 * log(2 * M_PI) - 0.5 * v * v + log(0.9) - log(p) - log(1 - p);
        }
        if (fabs(lp->data[row] - want) > 0.05) fprintf(stderr, "row %d: flow %g, hand %g\n", row, (double)lp->data[row], want);
        assert_true(fabs(lp->data[row] - want) <= 0.05);
    }
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* The objective's loss on a fixed batch with a fixed rng */
static double fixed_loss(mvae_model *m) {
    mvae_error err = {0};
    mvae_objective obj;
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_batch b;
    int64_t idx[50];
    for (int i = 0; i < 50; i++) idx[i] = i;
    assert_int_equal(mvae_batch_init(&b, m, 50, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 50, NULL, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 5);
    mvae_tensor *loss = NULL;
    mvae_step_stats st;
    int rc = mvae_objective_loss(m, ctx, &b, &obj, 1.0f, &rng, &loss, &st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    return st.loss;
}

static bool exists(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Image flow + label VAE trained end to end: the loss on a fixed batch falls, the flow's
 * parameters moved, the evaluation reports bits/dim for the flow terms only, pictures and
 * samples are drawn (values in [0, 1], on the 256 levels), and a checkpoint reloads. */
static void test_flow_trains(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_FLOW, "train.epochs=3", "train.optimizer.adam.lr=3.0e-3", NULL}, &cfg);
    double before = fixed_loss(m);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run_trains", e->dir);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    int rc = mvae_train(m, &o, &r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    double after = fixed_loss(m);
    fprintf(stderr, "flow + vae: loss on a fixed batch %.1f -> %.1f\n", before, after);
    assert_true(after < before - 100.0);
    /* bits/dim: only for the terms whose scored modalities are all flows */
    int seen = 0;
    for (int t = 0; t < r.eval.n_ll; t++) {
        bool flow_only = strcmp(r.eval.ll_name[t], "image") == 0 || strcmp(r.eval.ll_name[t], "image|label") == 0;
        assert_true(flow_only == isfinite(r.eval.bpd[t]));
        if (flow_only) {
            seen++;
            assert_float_equal(r.eval.bpd[t], -r.eval.ll[t] / (784 * log(2.0)), 1e-9);
            assert_true(r.eval.bpd[t] > 0 && r.eval.bpd[t] < 8.5);
        }
    }
    assert_int_equal(seen, 2);
    char mp[600];
    snprintf(mp, sizeof mp, "%s/metrics.json", dir);
    char *mj = tiny_slurp(mp, NULL);
    assert_non_null(mj);
    mvae_assert_has(mj, "\"bits_per_dim\": {\"image\": ");
    free(mj);
    assert_true(exists(dir, "prior_samples.png"));
    assert_true(exists(dir, "image_from_label.png"));
    /* samples: on the levels, inside [0, 1]; the mode (rng NULL) is deterministic */
    int k = mvae_model_find(m, "image");
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 8);
    mvae_tensor *z = mvae_test_rand(ctx, &rng, 2, (int64_t[]){4, m->latent_dim}, -1, 1, 0);
    float *a = malloc(4 * 784 * sizeof(float)), *b2 = malloc(4 * 784 * sizeof(float));
    assert_int_equal(mvae_model_generate(m, ctx, k, z, &rng, a), MVAE_OK);
    bool inside = true, levels = true, varied = false;
    for (int i = 0; i < 4 * 784; i++) {
        inside = inside && a[i] >= 0 && a[i] <= 1;
        levels = levels && fabsf(a[i] * 255.0f - roundf(a[i] * 255.0f)) < 1e-3f;
        varied = varied || a[i] != a[0];
    }
    assert_true(inside && levels && varied);
    assert_int_equal(mvae_model_generate(m, ctx, k, z, NULL, a), MVAE_OK);
    assert_int_equal(mvae_model_generate(m, ctx, k, z, NULL, b2), MVAE_OK);
    assert_memory_equal(a, b2, 4 * 784 * sizeof(float));
    /* the decoder entry point refuses a flow modality with a message */
    assert_null(mvae_model_decode(m, ctx, k, z));
    mvae_assert_has(mvae_ctx_error(ctx), "model: flow");
    free(a);
    free(b2);
    mvae_ctx_free(ctx);
    /* the flow's parameters are in the checkpoint */
    assert_non_null(mvae_params_find(m->params, "image.flow.l1.out.w"));
    mvae_cfg *cfg2;
    mvae_model *m2 = tiny_build(e, (const char *const[]){IMAGE_FLOW, "train.epochs=3", "train.optimizer.adam.lr=3.0e-3", NULL}, &cfg2);
    snprintf(mp, sizeof mp, "%s/last.ckpt", dir);
    assert_int_equal(mvae_run_checkpoint_load(m2, mp, NULL, NULL, false, NULL, &err), MVAE_OK);
    assert_memory_equal(m2->params->data, m->params->data, m->params->n_floats * sizeof(float));
    assert_float_equal(fixed_loss(m2), after, 1e-6 * fabs(after));
    mvae_model_free(m2);
    mvae_cfg_free(cfg2);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* A divergence during flow training stops with the step named (the trainer's NaN stop) */
static void test_flow_nan_stops(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_FLOW, "train.optimizer.adam.lr=1.0e30", "eval.pictures=false", NULL}, &cfg);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run_nan", e->dir);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    assert_int_equal(mvae_train(m, &o, &r, &err), MVAE_ERR_NUMERIC);
    mvae_assert_has(err.msg, "step ");
    mvae_assert_has(err.msg, "(epoch 1, batch ");
    assert_false(exists(dir, "last.ckpt"));
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static const char *build_fails(env *e, const char *const *sets) {
    static mvae_error err;
    memset(&err, 0, sizeof err);
    mvae_cfg *cfg = NULL;
    mvae_model *m = tiny_model(e->reg, e->data, sets, &cfg, &err);
    assert_null(m);
    mvae_cfg_free(cfg);
    return err.msg;
}

static void test_model_type_errors(void **state) {
    env *e = *state;
    /* a flow on class indices: the key, the data, what is allowed */
    const char *msg = build_fails(e, (const char *const[]){
        "modalities.label={model: flow, encoder: {plugin: mlp, embed: 16, hidden: [32]}}", NULL});
    mvae_assert_has(msg, "modalities.label.model");
    mvae_assert_has(msg, "categorical");
    mvae_assert_has(msg, "allowed here: vae");
    /* an unknown type (the gan row's own errors: test_gan.c) */
    msg = build_fails(e, (const char *const[]){"modalities.image.model=glow", NULL});
    mvae_assert_has(msg, "modalities.image.model");
    /* a flow modality has no decoder and no likelihood */
    msg = build_fails(e, (const char *const[]){"modalities.image.model=flow", NULL});
    mvae_assert_has(msg, "modalities.image.decoder belongs to model: vae");
    msg = build_fails(e, (const char *const[]){IMAGE_FLOW, "modalities.image.likelihood=gaussian", NULL});
    mvae_assert_has(msg, "modalities.image.likelihood: a model: flow modality has no likelihood");
    /* a flow section on a vae, a vae without decoder, a bad flow option (with its place) */
    msg = build_fails(e, (const char *const[]){"modalities.image.flow={layers: 2}", NULL});
    mvae_assert_has(msg, "modalities.image.flow belongs to model: flow");
    msg = build_fails(e, (const char *const[]){"modalities.image={encoder: {plugin: mlp, hidden: [32]}}", NULL});
    mvae_assert_has(msg, "missing key 'decoder'");
    msg = build_fails(e, (const char *const[]){IMAGE_FLOW, "modalities.image.flow.layers=0", NULL});
    mvae_assert_has(msg, "layers");
    mvae_assert_has(msg, "out of range");
    msg = build_fails(e, (const char *const[]){IMAGE_FLOW, "modalities.image.flow.lyers=3", NULL});
    mvae_assert_has(msg, "did you mean 'layers'");
}

/* Every row of the table is complete (or reserved with an explanation). */
static void test_model_type_table(void **state) {
    (void)state;
    int n = 0;
    for (const mvae_model_type *t = mvae_model_types; t->name; t++, n++) {
        assert_non_null(t->bound);
        if (t->unavailable) continue;
        assert_non_null(t->section);
        assert_non_null(t->accepts);
        assert_non_null(t->create);
        assert_non_null(t->destroy);
        assert_non_null(t->logp);
        assert_non_null(t->generate);
    }
    assert_int_equal(n, 3);
    assert_non_null(mvae_model_type_find("flow"));
    assert_null(mvae_model_type_find("nope"));
    const mvae_modality_info lab = {"label", MVAE_MOD_CATEGORICAL, 1, {1, 0, 0}, 10, NULL};
    assert_false(mvae_model_type_find("flow")->accepts(&lab));
    assert_true(mvae_model_type_find("vae")->accepts(&lab));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_values_and_inverses),
        cmocka_unit_test(test_flow_inverse),
        cmocka_unit_test(test_flow_logdet_bruteforce),
        cmocka_unit_test(test_flow_gradients),
        cmocka_unit_test(test_flow_preprocess),
        cmocka_unit_test(test_model_type_table),
        cmocka_unit_test(test_flow_identity_loglik),
        cmocka_unit_test(test_flow_trains),
        cmocka_unit_test(test_flow_nan_stops),
        cmocka_unit_test(test_model_type_errors),
        cmocka_unit_test(gradcheck_affine_coupling),
        cmocka_unit_test(gradcheck_coupling_logdet),
        cmocka_unit_test(gradcheck_soft_clamp),
        cmocka_unit_test(gradcheck_actnorm),
    };
    mvae_test_filters_(argc, argv); /* gradcheck_<op> alone, or --no-gradcheck */
    return cmocka_run_group_tests_name("flow", tests, env_setup, env_teardown);
}
