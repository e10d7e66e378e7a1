/* test_objective_bounds.c — the JMVAE-kl and VAEVAE rows of the objectives table and the bound
 * report (docs/objectives.md):
 *  - each loss against a value computed by hand (double precision, the same draws) on the tiny
 *    model;
 *  - the inequalities that hold by construction (../shared/refs/compositional-objectives.md §7):
 *    E[ELBO] <= E[IWAE-10] <= E[IWAE-100]; JMVAE-kl <= the importance-sampled log p(x,y); the
 *    VAEVAE objective <= [log p(x) + log p~(y|x)] + [log p(y) + log p~(x|y)] (reading A). It is
 *    NOT asserted that VAEVAE bounds log p(x,y) of the shared-latent model: it need not;
 *  - the bound report (what each objective bounds, what breaks it) and its place in metrics.json;
 *  - settings refused with the place and the fix. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/model.h"
#include "mvae/train.h"
#include "objective_internal.h"
#include "tiny_data.h"

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "objective_bounds", 200, 40); }
static int env_teardown(void **state) { return tiny_env_close(state); }

static mvae_objective objective(const mvae_model *m) {
    mvae_objective obj;
    mvae_error err = {0};
    int rc = mvae_objective_from_config(m, &obj, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    return obj;
}

static const char *config_fails(env *e, const char *const *sets) {
    static mvae_error err;
    memset(&err, 0, sizeof err);
    mvae_cfg *cfg = NULL;
    mvae_model *m = tiny_model(e->reg, e->data, sets, &cfg, &err);
    if (m) { /* the model builds; the objective refuses */
        mvae_objective obj;
        assert_int_not_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    }
    tiny_destroy(m, cfg);
    return err.msg;
}

static void fill(const mvae_model *m, mvae_batch *b, int split, int first, int n) {
    mvae_error err = {0};
    int64_t idx[64];
    for (int i = 0; i < n; i++) idx[i] = first + i;
    assert_int_equal(mvae_batch_init(b, m, n, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(b, m, split, idx, n, NULL, &err), MVAE_OK);
}

/* One loss evaluation (rng seeded `seed`) and a backward pass; stats out. */
static void loss_once(const mvae_model *m, const mvae_batch *b, const mvae_objective *obj, float beta, uint64_t seed,
                      mvae_step_stats *st) {
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    mvae_tensor *loss = NULL;
    int rc = mvae_objective_loss(m, ctx, b, obj, beta, &rng, &loss, st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    mvae_params_zero_grad(m->params);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    mvae_ctx_free(ctx);
}

static double grad_mass(const mvae_model *m, const char *prefix) {
    double s = 0;
    for (int i = 0; i < m->params->count; i++) {
        const mvae_param_entry *p = &m->params->entries[i];
        if (strncmp(p->name, prefix, strlen(prefix)) != 0 || p->buffer) continue;
        for (int64_t j = 0; j < p->t->n; j++) s += fabs(m->params->grad[p->offset + (size_t)j]);
    }
    return s;
}

/* ------------------------------------------------------------------ hand-computed reference */
/* Everything a hand computation needs from the model: expert outputs (double), the PoE of a
 * subset with the prior expert, the log-likelihood of each modality at a given z. */
typedef struct gauss {
    double mu[64][8], lv[64][8];
} gauss;

static void experts(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, gauss *ex) {
    mvae_experts e;
    assert_int_equal(mvae_model_encode(m, ctx, b, 3u, &e), MVAE_OK);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < b->n; i++)
            for (int d = 0; d < 8; d++) {
                ex[k].mu[i][d] = e.mu[k]->data[i * 8 + d];
                ex[k].lv[i][d] = e.logvar[k]->data[i * 8 + d];
            }
}

/* PoE(N(0,1), experts in s): precision 1 + sum 1 / (exp(lv) + 1e-8) (the poe plugin's guard). */
static void poe(const gauss *ex, uint32_t s, int n, gauss *q) {
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 8; d++) {
            double T = 1, num = 0;
            for (int k = 0; k < 2; k++)
                if (s & (1u << k)) {
                    double t = 1.0 / (exp(ex[k].lv[i][d]) + 1e-8);
                    T += t;
                    num += ex[k].mu[i][d] * t;
                }
            q->mu[i][d] = num / T;
            q->lv[i][d] = -log(T);
        }
}

static double kl2(const gauss *a, const gauss *b, int i) { /* KL(a_i || b_i); b NULL = N(0, I) */
    double s = 0;
    for (int d = 0; d < 8; d++) {
        double m2 = b ? b->mu[i][d] : 0, l2 = b ? b->lv[i][d] : 0, dm = a->mu[i][d] - m2;
        s += 0.5 * (l2 - a->lv[i][d] + (exp(a->lv[i][d]) + dm * dm) * exp(-l2) - 1);
    }
    return s;
}

/* z = mu + exp(lv / 2) eps with eps the next B x 8 normals of rng (as the poe plugin draws them),
 * then log p(image | z) (bernoulli) and log p(label | z) (categorical) per sample, by hand from the
 * decoders' outputs. */
static void sample_and_score(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const gauss *q, mvae_rng *rng,
                             double lp[2][64]) {
    int B = b->n;
    float eps[64 * 8];
    mvae_rng_normal_fill(rng, eps, (size_t)B * 8);
    mvae_tensor *z = mvae_tensor_new(ctx, 2, (int64_t[]){B, 8});
    for (int i = 0; i < B; i++)
        for (int d = 0; d < 8; d++)
            z->data[i * 8 + d] = (float)(q->mu[i][d] + exp(0.5 * q->lv[i][d]) * eps[i * 8 + d]);
    mvae_tensor *li = mvae_model_decode(m, ctx, 0, z), *ll = mvae_model_decode(m, ctx, 1, z);
    assert_non_null(li);
    assert_non_null(ll);
    for (int i = 0; i < B; i++) {
        double s = 0;
        for (int j = 0; j < 784; j++) {
            double l = li->data[i * 784 + j], x = b->x[0][i * 784 + j];
            s += x * l - (l > 0 ? l + log1p(exp(-l)) : log1p(exp(l)));
        }
        lp[0][i] = s;
        const float *r = ll->data + i * 10;
        double mx = r[0], se = 0;
        for (int c = 1; c < 10; c++) mx = fmax(mx, r[c]);
        for (int c = 0; c < 10; c++) se += exp(r[c] - mx);
        int y = ((const int32_t *)b->x[1])[i];
        lp[1][i] = r[y] - mx - log(se);
    }
}

static void assert_close(double got, double want, double rel, const char *what) {
    if (fabs(got - want) > rel * fmax(1.0, fabs(want))) fprintf(stderr, "%s: got %.8g, hand-computed %.8g\n", what, got, want);
    assert_true(fabs(got - want) <= rel * fmax(1.0, fabs(want)));
}

/* JMVAE-kl on 20 samples: the loss and each term against the hand computation, with alpha 0.3,
 * beta 0.7 and label weight 2 so that each knob is seen in its place. */
static void test_jmvae_hand(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){"train.objective.jmvae={alpha: 0.3}", "modalities.label.weight=2.0", NULL}, &cfg);
    mvae_objective obj = objective(m);
    assert_string_equal(obj.kind->name, "jmvae");
    assert_float_equal(obj.jmvae.alpha, 0.3, 1e-7);
    mvae_batch b;
    fill(m, &b, MVAE_SPLIT_TRAIN, 0, 20);
    mvae_step_stats st;
    loss_once(m, &b, &obj, 0.7f, 5, &st);
    assert_int_equal(st.n_terms, 3);
    assert_string_equal(st.name[1], "alpha*kl(joint||image)");
    /* every network receives a gradient */
    assert_true(grad_mass(m, "image.enc") > 0 && grad_mass(m, "label.enc") > 0);
    assert_true(grad_mass(m, "image.dec") > 0 && grad_mass(m, "label.dec") > 0);
    /* by hand */
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_grad(ctx, false);
    static gauss ex[2], qX, qi, ql;
    experts(m, ctx, &b, ex);
    poe(ex, 3u, 20, &qX);
    poe(ex, 1u, 20, &qi);
    poe(ex, 2u, 20, &ql);
    mvae_rng rng;
    mvae_rng_seed(&rng, 5);
    double lp[2][64];
    sample_and_score(m, ctx, &b, &qX, &rng, lp);
    double joint = 0, kli = 0, kll = 0;
    for (int i = 0; i < 20; i++) {
        joint += (-lp[0][i] - 2.0 * lp[1][i] + 0.7 * kl2(&qX, NULL, i)) / 20;
        kli += 0.3 * kl2(&qX, &qi, i) / 20;
        kll += 0.3 * kl2(&qX, &ql, i) / 20;
    }
    assert_close(st.term_loss[0], joint, 2e-5, "jmvae joint term");
    assert_close(st.term_loss[1], kli, 2e-5, "jmvae kl(joint||image)");
    assert_close(st.term_loss[2], kll, 2e-5, "jmvae kl(joint||label)");
    assert_close(st.loss, joint + kli + kll, 2e-5, "jmvae loss");
    assert_true(kli > 0 && kll > 0);
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    tiny_destroy(m, cfg);
}

/* VAEVAE on 20 samples: the paired term (z ~ q(z|x,y)), then each unimodal ELBO, drawn in that
 * order, against the hand computation (cond_kl 0.5, beta 0.8, label weight 2). */
static void test_vaevae_hand(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){"train.objective.vaevae={cond_kl: 0.5}", "modalities.label.weight=2.0", NULL}, &cfg);
    mvae_objective obj = objective(m);
    assert_string_equal(obj.kind->name, "vaevae");
    mvae_batch b;
    fill(m, &b, MVAE_SPLIT_TRAIN, 0, 20);
    mvae_step_stats st;
    loss_once(m, &b, &obj, 0.8f, 9, &st);
    assert_int_equal(st.n_terms, 3);
    assert_string_equal(st.name[0], "paired");
    assert_true(grad_mass(m, "image.enc") > 0 && grad_mass(m, "label.enc") > 0);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_grad(ctx, false);
    static gauss ex[2], qX, qi, ql;
    experts(m, ctx, &b, ex);
    poe(ex, 3u, 20, &qX);
    poe(ex, 1u, 20, &qi);
    poe(ex, 2u, 20, &ql);
    mvae_rng rng;
    mvae_rng_seed(&rng, 9);
    double lpX[2][64], lpi[2][64], lpl[2][64];
    sample_and_score(m, ctx, &b, &qX, &rng, lpX);
    sample_and_score(m, ctx, &b, &qi, &rng, lpi);
    sample_and_score(m, ctx, &b, &ql, &rng, lpl);
    double pair = 0, ui = 0, ul = 0;
    for (int i = 0; i < 20; i++) {
        pair += (-lpX[0][i] - 2.0 * lpX[1][i] + 0.5 * 0.8 * (kl2(&qX, &qi, i) + kl2(&qX, &ql, i))) / 20;
        ui += (-lpi[0][i] + 0.8 * kl2(&qi, NULL, i)) / 20;
        ul += (-2.0 * lpl[1][i] + 0.8 * kl2(&ql, NULL, i)) / 20;
    }
    assert_close(st.term_loss[0], pair, 2e-5, "vaevae paired term");
    assert_close(st.term_loss[1], ui, 2e-5, "vaevae image ELBO");
    assert_close(st.term_loss[2], ul, 2e-5, "vaevae label ELBO");
    assert_close(st.loss, pair + ui + ul, 2e-5, "vaevae loss");
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    tiny_destroy(m, cfg);
}

/* The joint encoder by hand: q(z | x,y) = N(mu, exp(logvar)) of an MLP on [image, one-hot label]
 * (one hidden layer of 16, swish), in double from the parameter tensors. */
static void joint_encoder_hand(const mvae_model *m, const mvae_batch *b, gauss *q) {
    const mvae_tensor *W0 = mvae_params_find(m->params, "joint.enc.fc0.w"), *b0 = mvae_params_find(m->params, "joint.enc.fc0.b");
    const mvae_tensor *Wm = mvae_params_find(m->params, "joint.enc.mu.w"), *bm = mvae_params_find(m->params, "joint.enc.mu.b");
    const mvae_tensor *Wl = mvae_params_find(m->params, "joint.enc.logvar.w"), *bl = mvae_params_find(m->params, "joint.enc.logvar.b");
    assert_non_null(W0);
    assert_non_null(Wl);
    assert_int_equal(W0->shape[0], 16);
    assert_int_equal(W0->shape[1], 794);
    for (int i = 0; i < b->n; i++) {
        double in[794], a[16];
        for (int j = 0; j < 784; j++) in[j] = b->x[0][i * 784 + j];
        for (int c = 0; c < 10; c++) in[784 + c] = ((const int32_t *)b->x[1])[i] == c;
        for (int h = 0; h < 16; h++) {
            double s = b0->data[h];
            for (int j = 0; j < 794; j++) s += W0->data[h * 794 + j] * in[j];
            a[h] = s / (1 + exp(-s)); /* swish */
        }
        for (int d = 0; d < 8; d++) {
            double sm = bm->data[d], sl = bl->data[d];
            for (int h = 0; h < 16; h++) sm += Wm->data[d * 16 + h] * a[h], sl += Wl->data[d * 16 + h] * a[h];
            q->mu[i][d] = sm;
            q->lv[i][d] = sl;
        }
    }
}

static void test_vaevae_joint_encoder_hand(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){"train.objective.vaevae={cond_kl: 0.5, joint_encoder: {hidden: [16]}}", NULL}, &cfg);
    mvae_objective obj = objective(m);
    assert_int_equal(obj.vaevae.n_layers, 1);
    mvae_batch b;
    fill(m, &b, MVAE_SPLIT_TRAIN, 0, 20);
    mvae_step_stats st;
    loss_once(m, &b, &obj, 0.8f, 9, &st);
    assert_true(grad_mass(m, "joint.enc") > 0);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_grad(ctx, false);
    static gauss ex[2], qX, qi, ql;
    experts(m, ctx, &b, ex);
    joint_encoder_hand(m, &b, &qX);
    poe(ex, 1u, 20, &qi);
    poe(ex, 2u, 20, &ql);
    mvae_rng rng;
    mvae_rng_seed(&rng, 9);
    double lpX[2][64];
    sample_and_score(m, ctx, &b, &qX, &rng, lpX);
    double pair = 0;
    for (int i = 0; i < 20; i++)
        pair += (-lpX[0][i] - 50.0 * lpX[1][i] + 0.5 * 0.8 * (kl2(&qX, &qi, i) + kl2(&qX, &ql, i))) / 20;
    assert_close(st.term_loss[0], pair, 2e-5, "vaevae paired term with the joint encoder");
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    tiny_destroy(m, cfg);
}

/* Weak supervision: an unpaired sample adds its own ELBO only (VAEVAE), and JMVAE's KLs skip
 * samples with a single modality; both train end to end with IWAE / DReG estimators. */
static void test_unpaired_and_estimators(void **state) {
    env *e = *state;
    const char *const objs[] = {"train.objective.vaevae={iw_samples: 3, estimator: dreg}",
                                "train.objective.jmvae={alpha: 0.5, iw_samples: 3}"};
    for (int o = 0; o < 2; o++) {
        mvae_cfg *cfg;
        mvae_model *m = tiny_build(e, (const char *const[]){objs[o], "train.epochs=1", "dataset.paired_fraction=0.5", NULL}, &cfg);
        mvae_objective obj = objective(m);
        mvae_batch b;
        fill(m, &b, MVAE_SPLIT_TRAIN, 0, 10);
        /* only the label for every sample: no paired term, no KL between posteriors */
        for (int i = 0; i < 10; i++) b.present[i * m->n_mod + 0] = 0;
        mvae_step_stats st;
        loss_once(m, &b, &obj, 1.0f, 3, &st);
        for (int t = 0; t < st.n_terms; t++) {
            assert_true(isfinite(st.term_loss[t]));
            if (strcmp(st.name[t], "paired") == 0) fail_msg("a paired term without paired samples");
            if (strstr(st.name[t], "kl(joint")) assert_float_equal(st.term_loss[t], 0.0, 1e-7);
        }
        assert_true(grad_mass(m, "image.enc") == 0); /* the image expert saw nothing */
        assert_true(grad_mass(m, "label.enc") > 0);
        mvae_batch_free(&b);
        /* a short run: finite losses and evaluation */
        char dir[512];
        snprintf(dir, sizeof dir, "%s/run%d", e->dir, ++e->n_runs);
        mvae_train_result r;
        mvae_train_opts to = {.run_dir = dir, .quiet = true};
        mvae_error err = {0};
        int rc = mvae_train(m, &to, &r, &err);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, MVAE_OK);
        assert_true(isfinite(r.last_loss) && isfinite(r.eval.ll[0]));
        tiny_destroy(m, cfg);
    }
}

/* ------------------------------------------------------------------------ the inequalities */
/* The tiny model trained for a few epochs with every bound's settings (continuous Bernoulli,
 * unit weights, beta 1), so that the posteriors are not the prior and the gaps are visible. */
static mvae_model *trained(env *e, const char *obj, mvae_cfg **cfg) {
    mvae_model *m = tiny_build(e, (const char *const[]){obj, "modalities.image.likelihood=continuous_bernoulli",
                                                        "modalities.label.weight=1.0", "train.epochs=4", NULL}, cfg);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/run%d", e->dir, ++e->n_runs);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    int rc = mvae_train(m, &o, &r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    return m;
}

/* Mean over samples of an importance-sampled estimate with K draws from q = q(z | x_prop):
 *   log (1/K) sum_k p(x_tgt | z_k) r(z_k) / q(z_k),  r = p(z) (cond 0) or q(z | x_cond).
 * prop = tgt, cond 0: IWAE-K of log p(x_tgt). prop = {x,y}, tgt = {y}, cond = {x}: the K-sample
 * bound on log p~(y | x) = log integral p(y | z) q(z | x) dz (the sheet's eq. 1). */
static double is_mean(const mvae_model *m, const mvae_batch *b, uint32_t prop, uint32_t tgt, uint32_t cond, int K,
                      uint64_t seed) {
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_grad(ctx, false);
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    int64_t B = b->n;
    mvae_experts ex, et;
    assert_int_equal(mvae_model_encode(m, ctx, b, 3u, &ex), MVAE_OK);
    mvae_experts_tile(ctx, m, &ex, K, &et);
    mvae_posterior q, r;
    mvae_tensor *v;
    int any;
    assert_int_equal(mvae_model_posterior(m, ctx, &et, prop, &q, &v, &any), MVAE_OK);
    mvae_tensor *z = fv->sample(m->fusion, ctx, &q, &rng);
    mvae_tensor *lw = mvae_scale(ctx, fv->log_q(m->fusion, ctx, &q, z), -1.0f);
    if (cond) {
        assert_int_equal(mvae_model_posterior(m, ctx, &et, cond, &r, &v, &any), MVAE_OK);
        lw = mvae_add(ctx, lw, fv->log_q(m->fusion, ctx, &r, z));
    } else {
        lw = mvae_add(ctx, lw, mvae_gaussian_logp(ctx, z, mvae_tensor_zeros(ctx, 2, z->shape), NULL));
    }
    for (int k = 0; k < m->n_mod; k++)
        if (tgt & (1u << k)) {
            mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k);
            lw = mvae_add(ctx, lw, mvae_likelihood_logp(ctx, m->mod[k].likelihood, mvae_model_decode_target(m, ctx, k, z, x), x, m->mod[k].lik_scale));
        }
    assert_non_null(lw);
    double mean = 0;
    for (int64_t i = 0; i < B; i++) {
        double mx = -INFINITY, s = 0;
        for (int k = 0; k < K; k++) mx = fmax(mx, lw->data[k * B + i]);
        for (int k = 0; k < K; k++) s += exp(lw->data[k * B + i] - mx);
        mean += (mx + log(s / K)) / (double)B;
    }
    mvae_ctx_free(ctx);
    return mean;
}

/* -(mean objective) over `reps` draws, each a loss evaluation at beta 1 with its own seed. */
static double objective_mean(const mvae_model *m, const mvae_batch *b, const mvae_objective *obj, int reps) {
    double s = 0;
    for (int r = 0; r < reps; r++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_grad(ctx, false);
        mvae_rng rng;
        mvae_rng_seed(&rng, 1000 + (uint64_t)r);
        mvae_tensor *loss;
        mvae_step_stats st;
        assert_int_equal(mvae_objective_loss(m, ctx, b, obj, 1.0f, &rng, &loss, &st), MVAE_OK);
        s -= st.loss / reps;
        mvae_ctx_free(ctx);
    }
    return s;
}

/* E[ELBO] <= E[IWAE-10] <= E[IWAE-100] (Burda et al. 2016, Theorem 1) for the joint and a
 * unimodal term, by mvae_objective_iw_term on 20 test samples, averaged over enough draws that
 * the order is far outside the Monte Carlo error (fixed seeds: deterministic). */
static void test_iwae_grows_with_k(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = trained(e, "train.objective.joint=true", &cfg);
    mvae_batch b;
    fill(m, &b, MVAE_SPLIT_TEST, 0, 20);
    const int Ks[3] = {1, 10, 100}, reps[3] = {200, 30, 4};
    const uint32_t subsets[2] = {3u, 1u};
    for (int s = 0; s < 2; s++) {
        double v[3];
        for (int j = 0; j < 3; j++) {
            v[j] = 0;
            for (int r = 0; r < reps[j]; r++) {
                mvae_ctx *ctx = mvae_ctx_new(0);
                mvae_ctx_set_grad(ctx, false);
                mvae_rng rng;
                mvae_rng_seed(&rng, 77 + (uint64_t)r);
                mvae_experts ex;
                assert_int_equal(mvae_model_encode(m, ctx, &b, 3u, &ex), MVAE_OK);
                int skipped;
                double val = 0;
                assert_non_null(mvae_objective_iw_term(m, ctx, &b, &ex, subsets[s], subsets[s], Ks[j], false, 1.0f, &rng, &skipped, &val));
                v[j] -= val / reps[j];
                mvae_ctx_free(ctx);
            }
        }
        fprintf(stderr, "subset %u: ELBO %.3f  IWAE-10 %.3f  IWAE-100 %.3f\n", subsets[s], v[0], v[1], v[2]);
        assert_true(v[0] < v[1]);
        assert_true(v[1] < v[2]);
        /* and the IWAE-1000 estimate of log p lies above all of them */
        double ll = is_mean(m, &b, subsets[s], subsets[s], 0, 1000, 5);
        assert_true(v[2] < ll);
    }
    mvae_batch_free(&b);
    tiny_destroy(m, cfg);
}

/* JMVAE-kl <= joint ELBO <= the importance-sampled log p(x,y) (K = 500), on held-out samples. */
static void test_jmvae_below_log_p(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = trained(e, "train.objective.jmvae={alpha: 1.0}", &cfg);
    mvae_objective obj = objective(m);
    mvae_batch b;
    fill(m, &b, MVAE_SPLIT_TEST, 0, 20);
    double jm = objective_mean(m, &b, &obj, 100);
    /* the joint ELBO alone: the same model with alpha 0 */
    mvae_objective elbo = obj;
    elbo.jmvae.alpha = 0;
    double el = objective_mean(m, &b, &elbo, 100);
    double ll = is_mean(m, &b, 3u, 3u, 0, 500, 11);
    fprintf(stderr, "JMVAE-kl %.3f <= joint ELBO %.3f <= IS log p(x,y) %.3f\n", jm, el, ll);
    assert_true(jm < el);
    assert_true(el < ll);
    mvae_batch_free(&b);
    tiny_destroy(m, cfg);
}

/* VAEVAE on paired samples: L_pair + L_x + L_y <= [log p(x) + log p~(y|x)] + [log p(y) + log p~(x|y)]
 * (reading A, every term importance-sampled with K = 500), with each half's own inequality too. */
static void test_vaevae_reading_a(void **state) {
    env *e = *state;
    const char *const objs[] = {"train.objective.vaevae={cond_kl: 1.0}",
                                "train.objective.vaevae={cond_kl: 1.0, joint_encoder: {hidden: [32]}}"};
    for (int o = 0; o < 2; o++) {
        mvae_cfg *cfg;
        mvae_model *m = trained(e, objs[o], &cfg);
        mvae_objective obj = objective(m);
        mvae_batch b;
        fill(m, &b, MVAE_SPLIT_TEST, 0, 20);
        double vv = objective_mean(m, &b, &obj, 100);
        const uint32_t X = 1u, Y = 2u;
        double lpx = is_mean(m, &b, X, X, 0, 500, 21), lpy = is_mean(m, &b, Y, Y, 0, 500, 22);
        double ly_x = is_mean(m, &b, X | Y, Y, X, 500, 23), lx_y = is_mean(m, &b, X | Y, X, Y, 500, 24);
        double rhs = lpx + ly_x + lpy + lx_y;
        fprintf(stderr, "VAEVAE%s %.3f <= log p(x) %.3f + log p~(y|x) %.3f + log p(y) %.3f + log p~(x|y) %.3f = %.3f\n",
                o ? " (joint encoder)" : "", vv, lpx, ly_x, lpy, lx_y, rhs);
        assert_true(vv < rhs);
        /* p~(y|x) is a distribution over the 10 labels: log p~(y|x) <= 0 (a sanity check of eq. 1) */
        assert_true(ly_x < 0);
        mvae_batch_free(&b);
        tiny_destroy(m, cfg);
    }
}

/* ------------------------------------------------------------------------ the bound report */
static mvae_bound_report report(env *e, const char *const *sets) {
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, sets, &cfg);
    mvae_objective obj = objective(m);
    mvae_bound_report r;
    mvae_objective_bounds(m, &obj, &r);
    tiny_destroy(m, cfg);
    return r;
}

static bool has_flag(const mvae_bound_report *r, bool breaks, const char *needle) {
    for (int i = 0; i < r->n_flags; i++)
        if (r->breaks[i] == breaks && strstr(r->flag[i], needle)) return true;
    return false;
}

#define VALID_SETTINGS "modalities.image.likelihood=continuous_bernoulli", "modalities.label.weight=1.0"

static void test_bound_report(void **state) {
    env *e = *state;
    /* the tiny experiment as it is: bernoulli on grey levels breaks it, weight 50 on a categorical loosens it */
    mvae_bound_report r = report(e, NULL);
    assert_int_equal(r.kind, MVAE_BOUND_COMPOSITE);
    assert_string_equal(r.what, "log p(image,label) + log p(image) + log p(label)");
    assert_false(r.valid);
    assert_true(has_flag(&r, true, "grey levels"));
    assert_true(has_flag(&r, false, "weight 50 > 1 on a discrete likelihood"));
    /* valid settings: the MVAE sum bounds a composite; the joint term alone bounds log p(X) */
    r = report(e, (const char *const[]){VALID_SETTINGS, NULL});
    assert_true(r.valid);
    assert_int_equal(r.kind, MVAE_BOUND_COMPOSITE);
    r = report(e, (const char *const[]){VALID_SETTINGS, "train.objective.unimodal=false", NULL});
    assert_true(r.valid);
    assert_int_equal(r.kind, MVAE_BOUND_LOG_P);
    assert_string_equal(r.what, "log p(image,label)");
    /* JMVAE: log p(X); VAEVAE: a composite, with the shared-latent caveat as a note */
    r = report(e, (const char *const[]){VALID_SETTINGS, "train.objective.jmvae={alpha: 0.1}", NULL});
    assert_true(r.valid);
    assert_int_equal(r.kind, MVAE_BOUND_LOG_P);
    r = report(e, (const char *const[]){VALID_SETTINGS, "train.objective.vaevae={}", NULL});
    assert_true(r.valid);
    assert_int_equal(r.kind, MVAE_BOUND_COMPOSITE);
    assert_true(has_flag(&r, false, "not a bound on log p(image,label) of the shared-latent model"));
    r = report(e, (const char *const[]){VALID_SETTINGS, "train.objective.vaevae={cond_kl: 0.5}", NULL});
    assert_false(r.valid);
    assert_true(has_flag(&r, true, "cond_kl 0.5 < 1"));
    /* what breaks it: a weight != 1 on a density, beta < 1 at the end of training */
    r = report(e, (const char *const[]){VALID_SETTINGS, "modalities.image.weight=2.0", NULL});
    assert_false(r.valid);
    assert_true(has_flag(&r, true, "weight 2 != 1 on a continuous_bernoulli likelihood"));
    r = report(e, (const char *const[]){VALID_SETTINGS, "train.kl_anneal_epochs=6", NULL});
    assert_false(r.valid);
    assert_true(has_flag(&r, true, "beta = 0.5 at the end of training"));
    r = report(e, (const char *const[]){VALID_SETTINGS, "train.kl_anneal_epochs=3", NULL}); /* done by the end */
    assert_true(r.valid);
    r = report(e, (const char *const[]){VALID_SETTINGS, "train.beta=0.5", NULL});
    assert_false(r.valid);
    /* the supervised baseline bounds nothing */
    r = report(e, (const char *const[]){"train.objective.supervised={from: image, to: label}", NULL});
    assert_int_equal(r.kind, MVAE_BOUND_NOTHING);
    assert_false(r.valid);
    char buf[2048];
    mvae_assert_has(mvae_bound_summary(&r, buf, sizeof buf), "bounds nothing");
}

/* metrics.json carries the report of the run's objective. */
static void test_bound_in_metrics(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){"train.objective.jmvae={alpha: 0.1}", "train.epochs=1", NULL}, &cfg);
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/run%d", e->dir, ++e->n_runs);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    assert_int_equal(mvae_train(m, &o, &r, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    char *js = tiny_slurp(path, NULL);
    assert_non_null(js);
    mvae_assert_has(js, "\"bound\": {\"bounds\": \"log p(X)\", \"what\": \"log p(image,label)\", \"valid\": false");
    mvae_assert_has(js, "grey levels");
    free(js);
    /* and metrics.jsonl names the objective's own terms */
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    js = tiny_slurp(path, NULL);
    assert_non_null(js);
    mvae_assert_has(js, "\"alpha*kl(joint||label)\": ");
    free(js);
    tiny_destroy(m, cfg);
}

/* ---------------------------------------------------------------------------- refused settings */
static void test_refused(void **state) {
    env *e = *state;
    mvae_assert_has(config_fails(e, (const char *const[]){"transforms={edges: {plugin: edges, from: image}}",
                                                          "modalities.edges={encoder: {plugin: mlp, hidden: [16]}, decoder: {plugin: mlp, hidden: [16]}}",
                                                          "train.objective.vaevae={}", NULL}),
                    "train.objective.vaevae needs exactly two modalities with an encoder (this experiment has 3)");
    mvae_assert_has(config_fails(e, (const char *const[]){"train.objective.jmvae={}", "train.objective.vaevae={}", NULL}),
                    "give one of 'jmvae' and 'vaevae', not both");
    mvae_assert_has(config_fails(e, (const char *const[]){"train.objective.jmvae={estimator: dreg}", NULL}),
                    "train.objective.jmvae.estimator: dreg needs iw_samples >= 2");
    mvae_assert_has(config_fails(e, (const char *const[]){"train.objective.jmvae={alpha: -1}", NULL}), "alpha");
    mvae_assert_has(config_fails(e, (const char *const[]){"train.objective.vaevae={cond_k: 1}", NULL}), "did you mean 'cond_kl'");
    mvae_assert_has(config_fails(e, (const char *const[]){"train.objective.jmvae={}", "train.impartial={method: pcgrad}", NULL}),
                    "train.impartial works with the default (mvae) objective only");
    mvae_assert_has(config_fails(e, (const char *const[]){"fusion.plugin=moe", "train.objective.vaevae={joint_encoder: {}}", NULL}),
                    "train.objective.vaevae.joint_encoder needs fusion: {plugin: poe}");
    mvae_assert_has(config_fails(e, (const char *const[]){"modalities.image.likelihood=continuous_bernouli", NULL}),
                    "continuous_bernoulli");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jmvae_hand),
        cmocka_unit_test(test_vaevae_hand),
        cmocka_unit_test(test_vaevae_joint_encoder_hand),
        cmocka_unit_test(test_unpaired_and_estimators),
        cmocka_unit_test(test_iwae_grows_with_k),
        cmocka_unit_test(test_jmvae_below_log_p),
        cmocka_unit_test(test_vaevae_reading_a),
        cmocka_unit_test(test_bound_report),
        cmocka_unit_test(test_bound_in_metrics),
        cmocka_unit_test(test_refused),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("objective_bounds", tests, env_setup, env_teardown);
}
