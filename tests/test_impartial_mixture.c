/* test_impartial_mixture.c — impartiality blocks for mixture posteriors (fusion moe, mopoe;
 * docs/impartial.md): one block per mixture component on each term's z, and the decoder-parameter
 * block (train.impartial.decoder_params), whose branches are the components and which reaches
 * the parameters through op source substitution (mvae_ctx_substitute).
 *  - engine: a parameter fanned out, each "component" reading its branch through the
 *    substitution: `none` = the plain per-component sum bit for bit, pcgrad = the hand values of
 *    J = [[-4,1,1],[6,1,1]] plus an outside reader's gradient unchanged;
 *  - model: each component's z rows combined by their own block (against the reference
 *    combination of each component's rows, and unlike one block over all rows); diagnostics
 *    named by component; decoder_params with method none = the plain decoders' gradients (up to
 *    float summation order: each component is decoded on its own); pcgrad changes only the
 *    parameters' gradients and not the loss; resume with a stateful method; errors. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/impartial.h"
#include "mvae/model.h"
#include "mvae/params.h"
#include "mvae/train.h"
#include "tiny_data.h"

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "impmix", 200, 60); }
static int env_teardown(void **state) { return tiny_env_close(state); }

static mvae_impartial *mk(const char *spec, int K, mvae_rng *rng) {
    mvae_impartial *b = NULL;
    mvae_error err = {0};
    int rc = mvae_impartial_new(spec, K, rng, &b, &err);
    if (rc) fprintf(stderr, "%s: %s\n", spec, err.msg);
    assert_int_equal(rc, MVAE_OK);
    return b;
}

static mvae_tensor *constant(mvae_ctx *ctx, int64_t n, const float *v) {
    mvae_tensor *t = mvae_tensor_new(ctx, 1, (int64_t[]){n});
    memcpy(t->data, v, (size_t)n * sizeof(float));
    return t;
}

/* ------------------------------------------------------------------------ engine: parameters */
/* loss = sum_c <W as component c reads it, A_c> + <W, Bout>. With a block (spec), W is fanned out
 * and component c's op reads branch c through the substitution; without, it reads W. Returns W's
 * gradient after one backward into grad[n]. */
static void param_graph(const char *spec, int C, int64_t n, const float *const *A, const float *Bout, float *grad) {
    mvae_error err = {0};
    mvae_params *ps = mvae_params_new();
    mvae_tensor *W = mvae_params_add(ps, "dec.w", 1, (int64_t[]){n}, MVAE_INIT_ZEROS, n, &err);
    mvae_rng init;
    mvae_rng_seed(&init, 1);
    assert_int_equal(mvae_params_finalize(ps, &init, &err), MVAE_OK);
    for (int64_t i = 0; i < n; i++) W->data[i] = 0.25f * (float)i - 0.5f;
    mvae_params_zero_grad(ps);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 3);
    mvae_impartial *blk = spec ? mk(spec, C, &r) : NULL;
    mvae_tensor **br = blk ? mvae_impartial_fanout(ctx, blk, W) : NULL;
    mvae_tensor *loss = NULL;
    for (int c = 0; c < C; c++) {
        if (br) mvae_ctx_substitute(ctx, 1, &W, &br[c]);
        mvae_tensor *t = mvae_sum_all(ctx, mvae_mul(ctx, W, constant(ctx, n, A[c])));
        mvae_ctx_substitute(ctx, 0, NULL, NULL);
        assert_true(t->src[0]->src[0] == (br ? br[c] : W)); /* the op recorded the branch as its source */
        loss = loss ? mvae_add(ctx, loss, t) : t;
    }
    if (Bout) { /* an outside reader (a term with one component): not redirected any more */
        mvae_tensor *t = mvae_sum_all(ctx, mvae_mul(ctx, W, constant(ctx, n, Bout)));
        assert_true(t->src[0]->src[0] == W);
        loss = mvae_add(ctx, loss, t);
    }
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    memcpy(grad, W->grad, (size_t)n * sizeof(float));
    mvae_impartial_free(blk);
    mvae_ctx_free(ctx);
    mvae_params_free(ps);
}

static void test_param_block_engine(void **state) {
    (void)state;
    /* none: the plain sum, bit for bit, with and without an outside reader */
    const float a0[5] = {0.3f, -1.7f, 2.9f, 0.11f, -0.6f}, a1[5] = {-2.3f, 0.7f, 1.3f, -0.9f, 4.1f};
    const float bo[5] = {1.1f, 0.2f, -0.35f, 7.5f, -3.25f};
    float plain[5], blocked[5];
    for (int outside = 0; outside < 2; outside++) {
        param_graph(NULL, 2, 5, (const float *[]){a0, a1}, outside ? bo : NULL, plain);
        param_graph("none", 2, 5, (const float *[]){a0, a1}, outside ? bo : NULL, blocked);
        assert_memory_equal(plain, blocked, sizeof plain);
    }
    /* pcgrad on J = [[-4,1,1],[6,1,1]] (hand values, test_impartial.c), norm restored to |(2,2,2)|,
     * plus the outside reader's gradient unchanged */
    const float j1[3] = {-4, 1, 1}, j2[3] = {6, 1, 1}, out[3] = {0.5f, -1, 2};
    float g[3];
    param_graph("pcgrad", 2, 3, (const float *[]){j1, j2}, out, g);
    const double want[3] = {0.3746343 + 0.5, 2.4351231 - 1, 2.4351231 + 2};
    for (int i = 0; i < 3; i++) assert_true(fabs(g[i] - want[i]) < 1e-5);
    param_graph("pcgrad:norm_restore=false", 2, 3, (const float *[]){j1, j2}, NULL, g);
    const double want2[3] = {0.5847953, 3.8011696, 3.8011696};
    for (int i = 0; i < 3; i++) assert_true(fabs(g[i] - want2[i]) < 1e-5);
}

/* --------------------------------------------------------------------------- model: z blocks */
static const char *build_fails(env *e, const char *const *sets) {
    static mvae_error err;
    memset(&err, 0, sizeof err);
    mvae_cfg *cfg = NULL;
    mvae_model *m = tiny_model(e->reg, e->data, sets, &cfg, &err);
    assert_null(m);
    mvae_cfg_free(cfg);
    return err.msg;
}

/* z [C * B, D] through the joint term's branches, loss = <image branch, A> + <label branch, L>:
 * z's gradient, component by component, must be the reference combination of that component's
 * rows of A and L (pcgrad without norm restoration); for MoE the first component's rows conflict
 * and the second's agree, so one block over all rows would give something else. */
static void check_components(env *e, const char *fusion, int C) {
    char fu[64];
    snprintf(fu, sizeof fu, "fusion={plugin: %s}", fusion);
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){fu, "train.impartial={method: pcgrad, norm_restore: false}", NULL}, &cfg);
    enum { B = 2, D = 8 };
    const int64_t n = (int64_t)C * B * D, rows = (int64_t)B * D;
    float *A = malloc((size_t)n * sizeof *A), *L = malloc((size_t)n * sizeof *L);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i / rows);
        A[i] = (float)((i * 7) % 5) - 2.0f;
        L[i] = c == 0 ? -A[i] + 0.5f * (float)(i % 3) : A[i] + (float)(i % 2); /* c 0: conflict */
    }
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *z = mvae_tensor_new(ctx, 2, (int64_t[]){(int64_t)C * B, D});
    for (int64_t i = 0; i < n; i++) z->data[i] = 0.01f * (float)i;
    mvae_tensor_requires_grad(z);
    mvae_tensor *zb[MVAE_MAX_MODALITIES];
    mvae_rng r;
    mvae_rng_seed(&r, 9);
    mvae_impartial_set_reseed(m, &r);
    assert_int_equal(mvae_impartial_set_branches(m, ctx, 3u, 3u, z, C, zb), MVAE_OK);
    assert_true(zb[0] != z && zb[1] != z);
    mvae_tensor *loss = mvae_add(ctx, mvae_sum_all(ctx, mvae_mul(ctx, zb[0], mvae_reshape(ctx, constant(ctx, n, A), 2, z->shape))),
                                 mvae_sum_all(ctx, mvae_mul(ctx, zb[1], mvae_reshape(ctx, constant(ctx, n, L), 2, z->shape))));
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    float *want = malloc((size_t)rows * sizeof *want);
    double all_diff = 0;
    for (int c = 0; c < C; c++) {
        mvae_rng rr;
        mvae_rng_seed(&rr, 1);
        mvae_impartial *ref = mk("pcgrad:norm_restore=false", 2, &rr);
        mvae_error err = {0};
        const float *g[2] = {A + c * rows, L + c * rows};
        assert_int_equal(mvae_impartial_combine(ref, 2, rows, g, NULL, 1, want, false, &err), MVAE_OK);
        for (int64_t i = 0; i < rows; i++) assert_true(fabsf(z->grad[c * rows + i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])));
        mvae_impartial_free(ref);
    }
    /* one block over every row would differ */
    {
        mvae_rng rr;
        mvae_rng_seed(&rr, 1);
        mvae_impartial *one = mk("pcgrad:norm_restore=false", 2, &rr);
        float *w_all = malloc((size_t)n * sizeof *w_all);
        mvae_error err = {0};
        assert_int_equal(mvae_impartial_combine(one, 2, n, (const float *[]){A, L}, NULL, 1, w_all, false, &err), MVAE_OK);
        for (int64_t i = 0; i < n; i++) all_diff += fabs(w_all[i] - z->grad[i]);
        free(w_all);
        mvae_impartial_free(one);
    }
    assert_true(all_diff > 1e-3);
    /* the diagnostics: one block per component, named by it */
    char *js = malloc(1 << 16);
    assert_true(mvae_impartial_set_stats_json(m, js, 1 << 16) > 0);
    if (strcmp(fusion, "moe") == 0) {
        mvae_assert_has(js, "\"impartial.image,label[image].cos.image-label\": ");
        mvae_assert_has(js, "\"impartial.image,label[label].calls\": 1");
    } else {
        mvae_assert_has(js, "\"impartial.image,label[image+label].cos.image-label\": ");
        mvae_assert_has(js, "\"impartial.image,label[label].calls\": 1");
    }
    free(js);
    free(want);
    free(A);
    free(L);
    mvae_ctx_free(ctx);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static void test_component_blocks(void **state) {
    check_components(*state, "moe", 2);
    check_components(*state, "mopoe", 3);
}

/* ---------------------------------------------------------------- model: decoder parameters */
/* One objective step on the first 40 training samples: loss and a copy of every gradient. */
static float *step_grads(env *e, const char *const *sets, double *loss, mvae_model **keep, mvae_cfg **keep_cfg) {
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, sets, &cfg);
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_batch b;
    int64_t idx[40];
    for (int i = 0; i < 40; i++) idx[i] = i;
    assert_int_equal(mvae_batch_init(&b, m, 40, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 40, NULL, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_recycle_values(ctx, true); /* as the trainer */
    mvae_rng rng;
    mvae_rng_seed(&rng, 5);
    mvae_tensor *l = NULL;
    mvae_step_stats st;
    int rc = mvae_objective_loss(m, ctx, &b, &obj, 1.0f, &rng, &l, &st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    mvae_params_zero_grad(m->params);
    assert_int_equal(mvae_backward(ctx, l), MVAE_OK);
    *loss = st.loss;
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    float *g = malloc(m->params->n_floats * sizeof(float));
    memcpy(g, m->params->grad, m->params->n_floats * sizeof(float));
    *keep = m;
    *keep_cfg = cfg;
    return g;
}

static bool is_dec(const char *name) { return strstr(name, ".dec.") != NULL; }

static void check_decoder_params(env *e, const char *fusion) {
    char fu[64];
    snprintf(fu, sizeof fu, "fusion={plugin: %s}", fusion);
    double l0, l1, l2;
    mvae_cfg *c0, *c1, *c2;
    mvae_model *m0, *m1, *m2;
    /* the plain objective, each term decoded on its own (no stacking), against method none with
     * decoder blocks: each component decoded on its own and the blocks' plain sum */
    float *g0 = step_grads(e, (const char *const[]){fu, "train.objective.stack_decoders=false", NULL}, &l0, &m0, &c0);
    float *g1 = step_grads(e, (const char *const[]){fu, "train.impartial={method: none, decoder_params: true}", NULL}, &l1, &m1, &c1);
    assert_non_null(m1->impartial);
    assert_true(mvae_impartial_set_has_decoder_block(m1, 3u, 0) && mvae_impartial_set_has_decoder_block(m1, 3u, 1));
    assert_false(mvae_impartial_set_has_decoder_block(m1, 1u, 0)); /* a unimodal term: one component */
    assert_true(fabs(l1 - l0) <= 1e-5 * fabs(l0));
    const mvae_params *ps = m0->params;
    assert_int_equal(ps->n_floats, m1->params->n_floats);
    for (int i = 0; i < ps->count; i++) {
        const mvae_param_entry *p = &ps->entries[i];
        double mx = 0;
        for (int64_t j = 0; j < p->t->n; j++) mx = fmax(mx, fabs(g0[p->offset + (size_t)j]));
        for (int64_t j = 0; j < p->t->n; j++) {
            size_t o = p->offset + (size_t)j;
            if (!(fabs(g0[o] - g1[o]) <= 1e-5 * mx + 1e-7))
                fprintf(stderr, "%s: %s[%lld] plain %.9g, blocks %.9g\n", fusion, p->name, (long long)j, g0[o], g1[o]);
            assert_true(fabs(g0[o] - g1[o]) <= 1e-5 * mx + 1e-7);
        }
    }
    /* pcgrad on the parameters (and on z per component): the loss does not change; the decoders'
     * gradients do (the components' decoder gradients are not parallel), and the diagnostics name
     * the components */
    float *g2 = step_grads(e, (const char *const[]){fu, "train.impartial={method: mgda, decoder_params: true}", NULL}, &l2, &m2, &c2);
    assert_true(fabs(l2 - l0) <= 1e-5 * fabs(l0));
    double dec_diff = 0;
    for (int i = 0; i < ps->count; i++) {
        const mvae_param_entry *p = &ps->entries[i];
        if (!is_dec(p->name)) continue;
        for (int64_t j = 0; j < p->t->n; j++) dec_diff += fabs(g0[p->offset + (size_t)j] - g2[p->offset + (size_t)j]);
    }
    assert_true(dec_diff > 1e-3);
    char *js = malloc(1 << 16);
    assert_true(mvae_impartial_set_stats_json(m2, js, 1 << 16) > 0);
    mvae_assert_has(js, strcmp(fusion, "moe") == 0 ? "\"impartial.image,label.dec.image.cos.image-label\": "
                                              : "\"impartial.image,label.dec.label.cos.image-image+label\": ");
    free(js);
    free(g0);
    free(g1);
    free(g2);
    mvae_model_free(m0);
    mvae_model_free(m1);
    mvae_model_free(m2);
    mvae_cfg_free(c0);
    mvae_cfg_free(c1);
    mvae_cfg_free(c2);
}

static void test_decoder_params(void **state) {
    check_decoder_params(*state, "moe");
    check_decoder_params(*state, "mopoe");
}

/* gradvac (state: its EMA targets) on z per component and on the decoders: 2 epochs in one go
 * equal 1 epoch + resume, with the states in the checkpoint. */
static void test_decoder_params_resume(void **state) {
    env *e = *state;
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/run_mix_a", e->dir);
    snprintf(b, sizeof b, "%s/run_mix_b", e->dir);
    double loss[2];
    for (int run = 0; run < 2; run++) {
        for (int part = 0; part < (run ? 2 : 1); part++) {
            mvae_cfg *cfg;
            mvae_model *m = tiny_build(e, (const char *const[]){"fusion={plugin: mopoe}", "train.impartial={method: gradvac, decoder_params: true}",
                                                          run && !part ? "train.epochs=1" : "train.epochs=2",
                                                          "eval.pictures=false", "eval.probe.enabled=false", NULL},
                                  &cfg);
            assert_non_null(mvae_params_find(m->params, "impartial.image+label.state"));
            assert_non_null(mvae_params_find(m->params, "impartial.image+label.dec.image.state"));
            mvae_train_opts o = {.run_dir = run ? b : a, .resume = part == 1, .quiet = true};
            mvae_train_result r;
            mvae_error err = {0};
            int rc = mvae_train(m, &o, &r, &err);
            if (rc) fprintf(stderr, "%s\n", err.msg);
            assert_int_equal(rc, MVAE_OK);
            loss[run] = r.last_loss;
            mvae_model_free(m);
            mvae_cfg_free(cfg);
        }
    }
    assert_true(loss[0] == loss[1]);
}

/* A modality of weight 0 (probed, never trained) gives z no gradient: it reads z itself and is
 * no branch of the block (as a branch it made IMTL-G degenerate at every step on the digits). */
static void test_zero_weight_not_a_branch(void **state) {
    env *e = *state;
    for (int zero = 0; zero < 2; zero++) {
        mvae_cfg *cfg;
        const char *const with[] = {"modalities.label.weight=0", "train.impartial={method: imtl_g}", NULL};
        const char *const without[] = {"train.impartial={method: imtl_g}", NULL};
        mvae_model *m = tiny_build(e, zero ? with : without, &cfg);
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_tensor *z = mvae_tensor_new(ctx, 2, (int64_t[]){2, 8});
        for (int64_t i = 0; i < z->n; i++) z->data[i] = 0.1f * (float)i;
        mvae_tensor_requires_grad(z);
        mvae_tensor *zb[MVAE_MAX_MODALITIES];
        assert_int_equal(mvae_impartial_set_branches(m, ctx, 3u, 3u, z, 1, zb), MVAE_OK);
        mvae_tensor *loss = mvae_add(ctx, mvae_sum_all(ctx, mvae_mul(ctx, zb[0], zb[0])), mvae_sum_all(ctx, zb[1]));
        assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
        char *js = malloc(1 << 16);
        mvae_impartial_set_stats_json(m, js, 1 << 16);
        if (zero) { /* one branch left: nothing to balance, no block on the joint term */
            assert_ptr_equal(zb[0], z);
            assert_ptr_equal(zb[1], z);
            assert_null(strstr(js, "impartial.image,label."));
        } else {
            assert_true(zb[0] != z && zb[1] != z);
            mvae_assert_has(js, "impartial.image,label");
        }
        free(js);
        mvae_ctx_free(ctx);
        mvae_model_free(m);
        mvae_cfg_free(cfg);
    }
}

static void test_errors(void **state) {
    env *e = *state;
    const char *msg = build_fails(e, (const char *const[]){"train.impartial={method: pcgrad, decoder_params: true}", NULL});
    mvae_assert_has(msg, "decoder_params");
    mvae_assert_has(msg, "fusion 'poe' has one component");
    mvae_assert_has(msg, "<--set>:1:"); /* the place of the key */
    msg = build_fails(e, (const char *const[]){"fusion={plugin: moe}", "train.impartial={method: pcgrad, decoder_params: true}",
                                                "train.objective={iw_samples: 2, estimator: dreg}", NULL});
    mvae_assert_has(msg, "estimator: dreg");
    msg = build_fails(e, (const char *const[]){"fusion={plugin: moe}", "train.impartial={method: pcgrad, decoder_params: 1.5}", NULL});
    mvae_assert_has(msg, "decoder_params");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_block_engine),
        cmocka_unit_test(test_component_blocks),
        cmocka_unit_test(test_decoder_params),
        cmocka_unit_test(test_decoder_params_resume),
        cmocka_unit_test(test_zero_weight_not_a_branch),
        cmocka_unit_test(test_errors),
    };
    (void)argc;
    (void)argv;
    return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
