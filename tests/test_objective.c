/* test_objective.c — the objectives table (objective.c), the all-subsets form of the MVAE's
 * objective and decoder-only modalities (`encoder: none`): the enumeration gives exactly
 * 2^M - 1 distinct terms, a decoder-only modality receives gradients from every term but never
 * enters q(z | .), and settings that would condition on it are refused with the place. Tiny
 * generated Fashion-MNIST look-alike (tiny_data.h), with `edges` derived from the image as a
 * third modality where three are needed. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/model.h"
#include "mvae/train.h"
#include "tiny_data.h"

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "objective", 200, 60); }
static int env_teardown(void **state) { return tiny_env_close(state); }

#define THREE_MODALITIES                                                                           \
    "transforms={edges: {plugin: edges, from: image}}",                                            \
        "modalities.edges={encoder: {plugin: mlp, hidden: [16]}, decoder: {plugin: mlp, hidden: [16]}}"
/* the tiny experiment's log-likelihood terms include "image|label": a decoder-only label cannot
 * be conditioned on */
#define LABEL_DECODER_ONLY "modalities.label.encoder=none", "eval.log_likelihood.terms=[image, \"image,label\"]"

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle)) fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

static mvae_model *build(env *e, const char *const *sets, mvae_cfg **cfg) {
    mvae_error err = {0};
    mvae_model *m = tiny_model(e->reg, e->data, sets, cfg, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    return m;
}

/* The error of building with these settings (static buffer). */
static const char *build_fails(env *e, const char *const *sets) {
    static mvae_error err;
    memset(&err, 0, sizeof err);
    mvae_cfg *cfg = NULL;
    mvae_model *m = tiny_model(e->reg, e->data, sets, &cfg, &err);
    assert_null(m);
    mvae_cfg_free(cfg);
    return err.msg;
}

/* One objective evaluation and backward on the first 40 training samples. */
static void one_step(mvae_model *m, const mvae_objective *obj, mvae_step_stats *st, double *loss_out) {
    mvae_error err = {0};
    mvae_batch b;
    int64_t idx[40];
    for (int i = 0; i < 40; i++) idx[i] = i;
    assert_int_equal(mvae_batch_init(&b, m, 40, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 40, NULL, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 5);
    mvae_tensor *loss = NULL;
    int rc = mvae_objective_loss(m, ctx, &b, obj, 1.0f, &rng, &loss, st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    mvae_params_zero_grad(m->params);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    if (loss_out) *loss_out = st->loss;
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
}

/* Train m into dir (resume: continue it); the run must succeed. */
static void train_ok(mvae_model *m, const char *dir, bool resume, mvae_train_result *r) {
    mvae_train_opts o = {.run_dir = dir, .resume = resume, .quiet = true};
    mvae_error err = {0};
    int rc = mvae_train(m, &o, r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
}

/* Sum of |grad| over the parameters whose names start with prefix; -1 if there are none. */
static double grad_mass(const mvae_model *m, const char *prefix) {
    double s = -1;
    for (int i = 0; i < m->params->count; i++) {
        const mvae_param_entry *p = &m->params->entries[i];
        if (strncmp(p->name, prefix, strlen(prefix)) != 0 || p->buffer) continue;
        if (s < 0) s = 0;
        for (int64_t j = 0; j < p->t->n; j++) s += fabs(m->params->grad[p->offset + (size_t)j]);
    }
    return s;
}

/* ------------------------------------------------------------------------------- the table */
static void test_kinds_table(void **state) {
    env *e = *state;
    int n = 0, n_default = 0;
    for (int i = 0; mvae_objective_kinds[i]; i++, n++) {
        const mvae_objective_kind *k = mvae_objective_kinds[i];
        assert_non_null(k->name);
        assert_non_null(k->configure);
        assert_non_null(k->loss);
        assert_non_null(k->bounds);
        n_default += k->key == NULL;
    }
    assert_true(n >= 2);
    assert_int_equal(n_default, 1); /* exactly one default row */
    mvae_cfg *cfg;
    mvae_model *m = build(e, NULL, &cfg);
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    assert_string_equal(obj.kind->name, "mvae");
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    m = build(e, (const char *const[]){"train.objective.supervised={from: image, to: label}", NULL}, &cfg);
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    assert_string_equal(obj.kind->name, "supervised");
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* ------------------------------------------------------------------------------ all subsets */
static void check_all_subsets(env *e, const char *const *sets, int n_mod) {
    mvae_cfg *cfg;
    mvae_model *m = build(e, sets, &cfg);
    assert_int_equal(m->n_mod, n_mod);
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    assert_true(obj.mvae.all_subsets);
    mvae_step_stats st;
    one_step(m, &obj, &st, NULL);
    int want = (1 << n_mod) - 1;
    assert_int_equal(st.n_terms, want);
    uint32_t seen = 0; /* bit s set: subset s seen */
    for (int t = 0; t < st.n_terms; t++) {
        uint32_t s = st.subset[t];
        assert_true(s >= 1 && s <= (uint32_t)want);
        assert_false(seen & (1u << s)); /* distinct */
        seen |= 1u << s;
        assert_true(isfinite(st.term_loss[t]));
    }
    assert_int_equal(__builtin_popcount(seen), want);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static void test_all_subsets(void **state) {
    env *e = *state;
    /* alone, and together with joint/unimodal (whose terms are among the subsets: no repeats) */
    check_all_subsets(e, (const char *const[]){"train.objective={all_subsets: true, joint: false, unimodal: false}", NULL}, 2);
    check_all_subsets(e, (const char *const[]){"train.objective.all_subsets=true", NULL}, 2);
    check_all_subsets(e, (const char *const[]){THREE_MODALITIES, "train.objective.all_subsets=true", NULL}, 3);
}

/* ---------------------------------------------------------------------------- decoder-only */
static void test_decoder_only(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){THREE_MODALITIES, LABEL_DECODER_ONLY, "train.objective.all_subsets=true", NULL},
                          &cfg);
    int lab = mvae_model_find(m, "label"), img = mvae_model_find(m, "image");
    assert_true(m->decoder_only == 1u << lab);
    assert_true(m->encodable == ((1u << m->n_mod) - 1) - (1u << lab));
    assert_null(m->mod[lab].enc);
    assert_true(grad_mass(m, "label.enc") < 0); /* no expert, no parameters */
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_step_stats st;
    double with_label;
    one_step(m, &obj, &st, &with_label);
    /* the terms are the 3 subsets of {image, edges}: the label is in none of them */
    assert_int_equal(st.n_terms, 3);
    for (int t = 0; t < st.n_terms; t++) assert_false(st.subset[t] & (1u << lab));
    /* ... yet its decoder is trained by every term */
    assert_true(grad_mass(m, "label.dec") > 0);
    assert_true(grad_mass(m, "image.enc") > 0);
    /* and it is scored: the loss changes with its weight */
    m->mod[lab].weight = 0.0f;
    double without;
    one_step(m, &obj, &st, &without);
    assert_true(with_label > without + 1e-3);
    /* q never sees it: the posterior of {image, label} is the posterior of {image} */
    mvae_batch b;
    int64_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(mvae_batch_init(&b, m, 8, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 8, NULL, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_experts ex;
    mvae_posterior q1, q2;
    mvae_tensor *valid;
    int any;
    assert_int_equal(mvae_model_encode(m, ctx, &b, (1u << img) | (1u << lab), &ex), MVAE_OK);
    assert_null(ex.mu[lab]);
    assert_true(ex.has[lab]);
    assert_int_equal(mvae_model_posterior(m, ctx, &ex, (1u << img) | (1u << lab), &q1, &valid, &any), MVAE_OK);
    assert_int_equal(mvae_model_posterior(m, ctx, &ex, 1u << img, &q2, &valid, &any), MVAE_OK);
    assert_memory_equal(q1.mu->data, q2.mu->data, (size_t)q1.mu->n * sizeof(float));
    assert_memory_equal(q1.logvar->data, q2.logvar->data, (size_t)q1.logvar->n * sizeof(float));
    /* q(z | label) alone has nothing to fuse: no valid sample */
    assert_int_equal(mvae_model_posterior(m, ctx, &ex, 1u << lab, &q1, &valid, &any), MVAE_OK);
    assert_false(any);
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* It trains and evaluates end to end: the label is predicted from the image (accuracy in
 * metrics.json), and the evaluation never conditions on the label. */
static void test_decoder_only_trains(void **state) {
    env *e = *state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run_dec_only", e->dir);
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){LABEL_DECODER_ONLY, "train.epochs=4", "eval.pictures=true", NULL}, &cfg);
    mvae_train_result r;
    train_ok(m, dir, false, &r);
    assert_true(r.eval.n_acc >= 1);
    assert_true(r.eval.acc_mean[0] > 0.3); /* 10 classes: chance 0.1 */
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static void test_decoder_only_errors(void **state) {
    env *e = *state;
    const char *msg;
    msg = build_fails(e, (const char *const[]){LABEL_DECODER_ONLY, "eval.accuracy.from=label", "eval.accuracy.predict=label", NULL});
    assert_has(msg, "decoder-only");
    msg = build_fails(e, (const char *const[]){LABEL_DECODER_ONLY, "eval.log_likelihood.terms=[\"image|label\"]", NULL});
    assert_has(msg, "'label' is decoder-only");
    msg = build_fails(e, (const char *const[]){LABEL_DECODER_ONLY, "eval.log_likelihood.terms=[label]", NULL});
    assert_has(msg, "only decoder-only modalities");
    msg = build_fails(e, (const char *const[]){"modalities.label.encoder=none", "modalities.image.encoder=none", NULL});
    assert_has(msg, "at least one needs an encoder");
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){LABEL_DECODER_ONLY, "train.objective.supervised={from: label, to: image}", NULL},
                          &cfg);
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_not_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    assert_has(err.msg, "decoder-only");
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    /* more subsets than terms: 7 modalities make 127 */
    m = build(e, (const char *const[]){"transforms={e1: {plugin: edges, from: image}, e2: {plugin: gray, from: image}, "
                                       "e3: {plugin: segmentation, from: image}, e4: {plugin: edges, from: image, sigma: 2}, "
                                       "e5: {plugin: segmentation, from: image, threshold: 0.7}}",
                                       "modalities.e1={encoder: {plugin: mlp}, decoder: {plugin: mlp}}",
                                       "modalities.e2={encoder: {plugin: mlp}, decoder: {plugin: mlp}}",
                                       "modalities.e3={encoder: {plugin: mlp}, decoder: {plugin: mlp}}",
                                       "modalities.e4={encoder: {plugin: mlp}, decoder: {plugin: mlp}}",
                                       "modalities.e5={encoder: {plugin: mlp}, decoder: {plugin: mlp}}",
                                       "train.objective.all_subsets=true", NULL},
              &cfg);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    assert_has(err.msg, "all_subsets: 7 modalities with an encoder make 2^7 - 1 terms");
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* eval.subsets: a row per given subset, a column per modality; the row `image` and column `label`
 * is the accuracy of the label decoded from the mean of q(z | image), which the evaluation also
 * reports as accuracy_mean_z: the two must agree exactly. With a decoder-only label its rows
 * disappear (it cannot be given) but its column stays. */
static void test_subset_table(void **state) {
    env *e = *state;
    for (int dec_only = 0; dec_only < 2; dec_only++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/run_subsets_%d", e->dir, dec_only);
        mvae_cfg *cfg;
        mvae_model *m = build(e, dec_only ? (const char *const[]){LABEL_DECODER_ONLY, "train.epochs=2", "eval.pictures=false",
                                                                  "eval.subsets=true", NULL}
                                          : (const char *const[]){"train.epochs=2", "eval.pictures=false", "eval.subsets=true", NULL},
                              &cfg);
        mvae_train_result r;
        train_ok(m, dir, false, &r);
        const mvae_eval_result *ev = &r.eval;
        int img = mvae_model_find(m, "image"), lab = mvae_model_find(m, "label");
        assert_int_equal(ev->n_sub, dec_only ? 1 : 3);
        assert_int_equal(ev->n_sub_mod, 2);
        assert_string_equal(ev->sub_name[0], "image");
        for (int ri = 0; ri < ev->n_sub; ri++) {
            assert_true(isfinite(ev->sub_nll[ri][img]) && ev->sub_nll[ri][img] > 0);
            assert_true(isfinite(ev->sub_nll[ri][lab]) && ev->sub_nll[ri][lab] > 0);
            assert_true(ev->sub_acc[ri][lab] >= 0 && ev->sub_acc[ri][lab] <= 1);
            assert_false(isfinite(ev->sub_acc[ri][img])); /* not categorical */
        }
        assert_int_equal(ev->n_acc, 1);
        assert_true(fabs(ev->sub_acc[0][lab] - ev->acc_mean[0]) < 1e-12);
        if (!dec_only) { /* singletons first, then pairs */
            assert_string_equal(ev->sub_name[1], "label");
            assert_string_equal(ev->sub_name[2], "image,label");
        }
        char p[400];
        snprintf(p, sizeof p, "%s/metrics.json", dir);
        char *js = tiny_slurp(p, NULL);
        assert_non_null(js);
        assert_has(js, "\"subsets\": {");
        assert_has(js, "\"image\": {\"nll\": {\"image\": ");
        free(js);
        mvae_model_free(m);
        mvae_cfg_free(cfg);
    }
}

/* ------------------------------------------------------------------- train.impartial wiring */
/* Gradients of one step with the given settings (fixed batch and rng) into a malloc'd copy. */
static float *step_grads(env *e, const char *const *sets, double *loss, mvae_model **keep, mvae_cfg **keep_cfg) {
    mvae_cfg *cfg;
    mvae_model *m = build(e, sets, &cfg);
    mvae_objective obj;
    mvae_error err = {0};
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_step_stats st;
    one_step(m, &obj, &st, loss);
    float *g = malloc(m->params->n_floats * sizeof(float));
    memcpy(g, m->params->grad, m->params->n_floats * sizeof(float));
    if (keep) {
        *keep = m;
        *keep_cfg = cfg;
    } else {
        mvae_model_free(m);
        mvae_cfg_free(cfg);
    }
    return g;
}

static void test_impartial_wiring(void **state) {
    env *e = *state;
    /* method none: no block at all, the same loss and gradients bit for bit */
    double l0, l1, l2;
    size_t n;
    mvae_cfg *cfg;
    mvae_model *m;
    float *g0 = step_grads(e, (const char *const[]){NULL}, &l0, &m, &cfg);
    n = m->params->n_floats;
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    float *g1 = step_grads(e, (const char *const[]){"train.impartial={method: none}", NULL}, &l1, &m, &cfg);
    assert_null(m->impartial);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    assert_true(l0 == l1);
    assert_memory_equal(g0, g1, n * sizeof(float));
    /* mgda: a block on the joint term (two branches); the loss is the same (blocks change only
     * gradients), the encoders' gradients differ, the decoders' do not (they are below the block) */
    float *g2 = step_grads(e, (const char *const[]){"train.impartial={method: mgda}", NULL}, &l2, &m, &cfg);
    assert_non_null(m->impartial);
    assert_true(l2 == l0);
    bool enc_differs = false;
    for (int i = 0; i < m->params->count; i++) {
        const mvae_param_entry *p = &m->params->entries[i];
        bool dec = strstr(p->name, ".dec.") != NULL;
        for (int64_t j = 0; j < p->t->n; j++) {
            size_t o = p->offset + (size_t)j;
            if (dec) assert_true(g0[o] == g2[o]);
            else enc_differs = enc_differs || g0[o] != g2[o];
        }
    }
    assert_true(enc_differs);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    free(g0);
    free(g1);
    free(g2);
}

/* Stateful and random methods resume exactly: 2 epochs in one go equal 1 epoch + resume, and
 * metrics.jsonl has the blocks' diagnostics. gradnorm+pcgrad: GradNorm's weights are state in
 * the checkpoint, PCGrad draws its order. */
static void test_impartial_resume(void **state) {
    env *e = *state;
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/run_imp_a", e->dir);
    snprintf(b, sizeof b, "%s/run_imp_b", e->dir);
    const char *imp = "train.impartial={method: gradnorm+pcgrad}";
    double loss[2];
    for (int run = 0; run < 2; run++) {
        for (int part = 0; part < (run ? 2 : 1); part++) {
            mvae_cfg *cfg;
            mvae_model *m = build(e, (const char *const[]){imp, run && !part ? "train.epochs=1" : "train.epochs=2",
                                                          "eval.pictures=false", "eval.probe.enabled=false", NULL},
                                  &cfg);
            assert_non_null(mvae_params_find(m->params, "impartial.image+label.state"));
            mvae_train_result r;
            train_ok(m, run ? b : a, part == 1, &r);
            loss[run] = r.last_loss;
            mvae_model_free(m);
            mvae_cfg_free(cfg);
        }
    }
    assert_true(loss[0] == loss[1]);
    char p[400];
    snprintf(p, sizeof p, "%s/metrics.jsonl", a);
    char *js = tiny_slurp(p, NULL);
    assert_non_null(js);
    assert_has(js, "\"impartial.image,label.cos.image-label\": ");
    assert_has(js, "\"impartial.image,label.norm.label\": ");
    free(js);
}

static void test_impartial_errors(void **state) {
    env *e = *state;
    const char *msg = build_fails(e, (const char *const[]){"train.impartial={method: pcgard}", NULL});
    assert_has(msg, "did you mean 'pcgrad'");
    msg = build_fails(e, (const char *const[]){"train.impartial={method: pcgrad}",
                                                "train.objective.supervised={from: image, to: label}", NULL});
    assert_has(msg, "supervised objective");
    msg = build_fails(e, (const char *const[]){"train.impartial={method: cagrad, cagrad: {c: -1}}", NULL});
    assert_has(msg, "out of range");
}

/* The training curves: terms.png for every run with pictures, conflict.png with blocks. */
static void test_training_plots(void **state) {
    env *e = *state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run_plots", e->dir);
    mvae_cfg *cfg;
    mvae_model *m = build(e, (const char *const[]){"train.impartial={method: pcgrad}", "train.epochs=3",
                                                  "eval.probe.enabled=false", NULL},
                          &cfg);
    mvae_train_result r;
    train_ok(m, dir, false, &r);
    const char *files[] = {"terms.png", "conflict.png"};
    for (int i = 0; i < 2; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_true(st.st_size > 1000);
    }
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_table),
        cmocka_unit_test(test_all_subsets),
        cmocka_unit_test(test_decoder_only),
        cmocka_unit_test(test_decoder_only_trains),
        cmocka_unit_test(test_decoder_only_errors),
        cmocka_unit_test(test_subset_table),
        cmocka_unit_test(test_impartial_wiring),
        cmocka_unit_test(test_impartial_resume),
        cmocka_unit_test(test_impartial_errors),
        cmocka_unit_test(test_training_plots),
    };
    return cmocka_run_group_tests_name("objective", tests, env_setup, env_teardown);
}
