/* test_gan.c — the gan model type (docs/model_types.md): the discriminator's and the generator's
 * losses against hand-computed values (non-saturating and hinge, weighted rows); their gradients
 * by finite differences (w.r.t. the logits, and w.r.t. the discriminator's own parameters through
 * the whole network); the objective's score against its parts; the discriminator update and the
 * model update touching only their own parameters; a GAN image + VAE label model trained end to
 * end on the tiny fixture (no log p for the gan terms, the bound report says "no longer a bound",
 * Fréchet distances and coherence reported); resume bit-identical with the discriminator's state;
 * the NaN stop; and the errors for bad settings. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "gan_internal.h"
#include "mvae/checkpoint.h"
#include "mvae/model.h"
#include "mvae/train.h"
#include "tiny_data.h"

#include <sys/stat.h>

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "gan", 200, 60); }
static int env_teardown(void **state) { return tiny_env_close(state); }

/* the tiny experiment with the image as a GAN (the label stays a VAE) */
#define IMAGE_GAN                                                                                  \
    "modalities.image={model: gan, encoder: {plugin: mlp, hidden: [32]}, decoder: {plugin: mlp, "  \
    "hidden: [32]}, gan: {discriminator: {plugin: mlp, hidden: [32]}, features: 16}}"

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* ------------------------------------------------------------------ losses by hand */
static void test_losses_by_hand(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    const float dr[3] = {0.5f, -1.0f, 2.0f}, df[2] = {0.3f, -0.7f};
    mvae_tensor *d_real = mvae_tensor_new(ctx, 1, (int64_t[]){3}), *d_fake = mvae_tensor_new(ctx, 1, (int64_t[]){2});
    memcpy(d_real->data, dr, sizeof dr);
    memcpy(d_fake->data, df, sizeof df);
    /* non-saturating: mean softplus(-d_real) + mean softplus(d_fake) */
    double want = (softplus(-0.5) + softplus(1.0) + softplus(-2.0)) / 3 + (softplus(0.3) + softplus(-0.7)) / 2;
    mvae_tensor *l = mvae_gan_disc_loss(ctx, MVAE_GAN_LOSS_NS, d_real, NULL, d_fake, NULL);
    assert_true(fabs(l->data[0] - want) < 1e-6);
    /* hinge: mean relu(1 - d_real) + mean relu(1 + d_fake) = (0.5 + 2 + 0)/3 + (1.3 + 0.3)/2 */
    l = mvae_gan_disc_loss(ctx, MVAE_GAN_LOSS_HINGE, d_real, NULL, d_fake, NULL);
    assert_true(fabs(l->data[0] - (2.5 / 3 + 0.8)) < 1e-6);
    /* weighted rows: the second real row absent */
    mvae_tensor *w = mvae_tensor_new(ctx, 1, (int64_t[]){3});
    w->data[0] = 1, w->data[1] = 0, w->data[2] = 1;
    l = mvae_gan_disc_loss(ctx, MVAE_GAN_LOSS_NS, d_real, w, d_fake, NULL);
    want = (softplus(-0.5) + softplus(-2.0)) / 2 + (softplus(0.3) + softplus(-0.7)) / 2;
    assert_true(fabs(l->data[0] - want) < 1e-6);
    /* the generator: ns -log sigmoid(d) = softplus(-d); hinge -d */
    mvae_tensor *g = mvae_gan_gen_loss(ctx, MVAE_GAN_LOSS_NS, d_fake);
    assert_true(fabs(g->data[0] - softplus(-0.3)) < 1e-6 && fabs(g->data[1] - softplus(0.7)) < 1e-6);
    assert_true(fabs(g->data[0] - -log(1 / (1 + exp(-0.3)))) < 1e-6);
    g = mvae_gan_gen_loss(ctx, MVAE_GAN_LOSS_HINGE, d_fake);
    assert_true(fabs(g->data[0] + 0.3) < 1e-7 && fabs(g->data[1] - 0.7) < 1e-7);
    mvae_ctx_free(ctx);
}

/* finite differences of the losses w.r.t. the logits (composite of existing ops: no new op) */
static mvae_tensor *build_disc_loss(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    return mvae_gan_disc_loss(ctx, *(int *)u, in[0], in[2], in[1], NULL);
}
static mvae_tensor *build_gen_loss(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    return mvae_gan_gen_loss(ctx, *(int *)u, in[0]);
}
static void test_loss_gradients(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 31);
    for (int loss = 0; loss < 2; loss++) { /* logits in (-0.5, 0.5): away from the hinge's kinks */
        mvae_tensor *w = mvae_tensor_new(d, 1, (int64_t[]){5});
        for (int i = 0; i < 5; i++) w->data[i] = i == 2 ? 0.0f : 1.0f;
        mvae_tensor *in[3] = {mvae_test_rand(d, &r, 1, (int64_t[]){5}, -0.5f, 0.5f, 1),
                              mvae_test_rand(d, &r, 1, (int64_t[]){4}, -0.5f, 0.5f, 1), w};
        assert_int_equal(mvae_gradcheck("gan_disc_loss", build_disc_loss, 3, in, &loss, (mvae_gc_opts){0}), 0);
        assert_int_equal(mvae_gradcheck("gan_gen_loss", build_gen_loss, 1, in, &loss, (mvae_gc_opts){0}), 0);
    }
    mvae_ctx_free(d);
}

/* a filled batch of the first n training samples */
static void fill(mvae_model *m, mvae_batch *b, int n) {
    mvae_error err = {0};
    int64_t idx[64];
    for (int i = 0; i < n; i++) idx[i] = i;
    assert_int_equal(mvae_batch_init(b, m, n, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(b, m, MVAE_SPLIT_TRAIN, idx, n, NULL, &err), MVAE_OK);
}

/* the discriminator's loss on a batch as a function of its parameters (no gradient) */
static double disc_loss_at(mvae_gan *g, mvae_model *m, mvae_tensor *x, mvae_tensor *fake) {
    (void)m;
    mvae_ctx *c = mvae_ctx_new(0);
    mvae_ctx_set_grad(c, false);
    double v = mvae_gan_disc_loss(c, g->loss, mvae_gan_disc_logits(g, c, x, NULL), NULL,
                                  mvae_gan_disc_logits(g, c, fake, NULL), NULL)->data[0];
    mvae_ctx_free(c);
    return v;
}

/* The gradient of the discriminator's loss w.r.t. its own parameters (head and first layer),
 * through the whole network, against central differences in its parameter store. */
static void test_disc_param_gradient(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.discriminator.activation=tanh", NULL}, &cfg);
    int k = mvae_model_find(m, "image");
    mvae_gan *g = m->mod[k].mt_self;
    mvae_batch b;
    fill(m, &b, 8);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = mvae_batch_tensor(ctx, m, &b, k);
    mvae_rng r;
    mvae_rng_seed(&r, 3);
    mvae_tensor *fake = mvae_test_rand(ctx, &r, 4, (int64_t[]){8, 1, 28, 28}, 0, 1, 0);
    mvae_params_zero_grad(g->dps);
    mvae_tensor *loss = mvae_gan_disc_loss(ctx, g->loss, mvae_gan_disc_logits(g, ctx, x, NULL), NULL,
                                           mvae_gan_disc_logits(g, ctx, fake, NULL), NULL);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    const char *names[] = {"image.gan.disc.head.w", "image.gan.disc.head.b", "image.gan.disc.fc1.w", NULL};
    int checked = 0;
    for (int n = 0; names[n]; n++) {
        mvae_tensor *p = mvae_params_find(g->dps, names[n]);
        if (!p) {
            for (int i = 0; i < g->dps->count; i++) fprintf(stderr, "  %s\n", g->dps->entries[i].name);
        }
        assert_non_null(p);
        for (int64_t i = 0; i < p->n && i < 40; i += 7) {
            float keep = p->data[i];
            const float h = 1e-2f;
            p->data[i] = keep + h;
            double lp = disc_loss_at(g, m, x, fake);
            p->data[i] = keep - h;
            double lm = disc_loss_at(g, m, x, fake);
            p->data[i] = keep;
            double num = (lp - lm) / (2 * h), ana = p->grad[i];
            if (fabs(num - ana) > 2e-3 + 3e-2 * fmax(fabs(num), fabs(ana)))
                fprintf(stderr, "%s[%lld]: analytic %g numeric %g\n", names[n], (long long)i, ana, num);
            assert_true(fabs(num - ana) <= 2e-3 + 3e-2 * fmax(fabs(num), fabs(ana)));
            checked++;
        }
    }
    assert_true(checked >= 10);
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* The score the objective uses, against its three parts computed separately. */
static void test_score_parts(void **state) {
    env *e = *state;
    const char *const variants[3][2] = {
        {"modalities.image.gan.feature_weight=0", "modalities.image.gan.adversarial_weight=0"},
        {"modalities.image.gan.pixel_weight=0", "modalities.image.gan.adversarial_weight=0"},
        {"modalities.image.gan.pixel_weight=0", "modalities.image.gan.feature_weight=0"}};
    for (int v = 0; v < 3; v++) {
        mvae_cfg *cfg;
        mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.pixel_weight=1.0",
                                                       variants[v][0], variants[v][1], NULL}, &cfg);
        int k = mvae_model_find(m, "image");
        mvae_gan *g = m->mod[k].mt_self;
        mvae_batch b;
        fill(m, &b, 4);
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_grad(ctx, false);
        mvae_rng r;
        mvae_rng_seed(&r, 9);
        mvae_tensor *x = mvae_batch_tensor(ctx, m, &b, k);
        mvae_tensor *z = mvae_test_rand(ctx, &r, 2, (int64_t[]){8, m->latent_dim}, -1, 1, 0); /* 2 rows per sample */
        mvae_tensor *s = mvae_model_logp(m, ctx, k, z, x, NULL);
        assert_non_null(s);
        assert_int_equal(s->n, 8);
        mvae_tensor *p = mvae_model_decode(m, ctx, k, z);
        mvae_tensor *img = mvae_sigmoid(ctx, p);
        for (int row = 0; row < 8; row++) {
            double want = 0;
            const float *xr = x->data + (row % 4) * 784, *pr = p->data + row * 784;
            if (v == 0) /* the bernoulli log-likelihood of the decoder's logits, by hand */
                for (int j = 0; j < 784; j++) want += xr[j] * pr[j] - softplus(pr[j]);
            if (v == 1) { /* -1/2 |f(x) - f(G(z))|^2 */
                mvae_tensor *fx, *fg;
                mvae_gan_disc_logits(g, ctx, x, &fx);
                mvae_gan_disc_logits(g, ctx, img, &fg);
                for (int j = 0; j < 16; j++) {
                    double dlt = fx->data[(row % 4) * 16 + j] - fg->data[row * 16 + j];
                    want -= 0.5 * dlt * dlt;
                }
            }
            if (v == 2) { /* -softplus(-D(G(z))) */
                mvae_tensor *d = mvae_gan_disc_logits(g, ctx, img, NULL);
                want = -softplus(-d->data[row]);
            }
            if (fabs(s->data[row] - want) > 1e-3 + 1e-5 * fabs(want))
                fprintf(stderr, "variant %d row %d: score %g, by hand %g\n", v, row, (double)s->data[row], want);
            assert_true(fabs(s->data[row] - want) <= 1e-3 + 1e-5 * fabs(want));
        }
        mvae_ctx_free(ctx);
        mvae_batch_free(&b);
        mvae_model_free(m);
        mvae_cfg_free(cfg);
    }
}

/* The discriminator's update changes only its parameters (and their mirror); the model's
 * update changes only the model's. */
static void test_updates_touch_own_params(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_GAN, NULL}, &cfg);
    int k = mvae_model_find(m, "image");
    mvae_gan *g = m->mod[k].mt_self;
    mvae_batch b;
    fill(m, &b, 16);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 4);
    mvae_tensor *state_buf = mvae_params_find(m->params, "image.gan.state");
    assert_non_null(state_buf);
    size_t nm = m->params->n_floats, nd = g->dps->n_floats;
    float *m0 = malloc(nm * sizeof(float)), *d0 = malloc(nd * sizeof(float));
    memcpy(m0, m->params->data, nm * sizeof(float));
    memcpy(d0, g->dps->data, nd * sizeof(float));
    assert_int_equal(mvae_model_types_train_step(m, ctx, &b, &rng), MVAE_OK);
    size_t s0 = (size_t)(state_buf->data - m->params->data), s1 = s0 + (size_t)state_buf->n;
    for (size_t i = 0; i < nm; i++)
        if (i < s0 || i >= s1) assert_true(m->params->data[i] == m0[i]);
    bool moved = false;
    for (size_t i = 0; i < nd; i++) moved = moved || g->dps->data[i] != d0[i];
    assert_true(moved);
    assert_int_equal(g->opt.step, 1);
    /* the mirror holds the state: data, the step, the valid flag */
    assert_memory_equal(state_buf->data, g->dps->data, nd * sizeof(float));
    assert_true(state_buf->data[3 * nd + 1] == 1.0f && state_buf->data[3 * nd + 2] == 1.0f);
    /* the model's update */
    memcpy(d0, g->dps->data, nd * sizeof(float));
    memcpy(m0, m->params->data, nm * sizeof(float));
    mvae_error err = {0};
    mvae_objective obj;
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_tensor *loss;
    mvae_step_stats st;
    mvae_params_zero_grad(m->params);
    assert_int_equal(mvae_objective_loss(m, ctx, &b, &obj, 1.0f, &rng, &loss, &st), MVAE_OK);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    mvae_optim opt = mvae_optim_adam(1e-3f);
    assert_int_equal(mvae_optim_step(&opt, m->params, &err), MVAE_OK);
    assert_memory_equal(g->dps->data, d0, nd * sizeof(float));
    assert_memory_equal(state_buf->data, m0 + s0, (s1 - s0) * sizeof(float)); /* a buffer: not optimised */
    bool model_moved = false;
    for (size_t i = 0; i < s0; i++) model_moved = model_moved || m->params->data[i] != m0[i];
    assert_true(model_moved);
    free(m0);
    free(d0);
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static bool exists(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0;
}

#define GAN_EVAL                                                                                   \
    "eval.coherence={enabled: true, max_test: 40, cache_dir: \"\", classifier: {plugin: conv_classifier, " \
    "epochs: 1, channels: [8], hidden: 16}}"

/* Image GAN + label VAE end to end on the tiny fixture. */
static void test_gan_trains(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_GAN, GAN_EVAL, NULL}, &cfg);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run_trains", e->dir);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    int rc = mvae_train(m, &o, &r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    int k = mvae_model_find(m, "image");
    mvae_gan *g = m->mod[k].mt_self;
    assert_int_equal(g->opt.step, 3 * 4); /* 3 epochs of 4 batches of 50, n_critic 1 */
    assert_true(isfinite(g->last_d_loss) && g->last_d_loss > 0);
    /* no log-likelihood for the terms that score the gan image; the label's is there */
    for (int t = 0; t < r.eval.n_ll; t++) assert_true(isnan(r.eval.ll[t]));
    /* the bound report says the objective is no longer a bound */
    assert_true(r.has_bound);
    char bs[4096];
    mvae_bound_summary(&r.bound, bs, sizeof bs);
    mvae_assert_has(bs, "model: gan");
    mvae_assert_has(bs, "no longer a likelihood bound");
    /* coherence and Fréchet distances, in metrics.json too */
    assert_true(r.eval.n_coh >= 1);
    bool prior = false, cond = false;
    for (int i = 0; i < r.eval.n_fd; i++) {
        assert_true(isfinite(r.eval.fd[i]) && r.eval.fd[i] >= 0);
        prior |= strcmp(r.eval.fd_name[i], "prior->image") == 0;
        cond |= strcmp(r.eval.fd_name[i], "label->image") == 0;
    }
    assert_true(prior && cond);
    char mp[600];
    snprintf(mp, sizeof mp, "%s/metrics.json", dir);
    char *mj = tiny_slurp(mp, NULL);
    assert_non_null(mj);
    mvae_assert_has(mj, "\"frechet\": {\"label->image\": ");
    mvae_assert_has(mj, "model: gan");
    free(mj);
    assert_true(exists(dir, "prior_samples.png"));
    /* samples in [0, 1] */
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 8);
    mvae_tensor *z = mvae_test_rand(ctx, &rng, 2, (int64_t[]){4, m->latent_dim}, -1, 1, 0);
    float *a = malloc(4 * 784 * sizeof(float));
    assert_int_equal(mvae_model_generate(m, ctx, k, z, &rng, a), MVAE_OK);
    for (int i = 0; i < 4 * 784; i++) assert_true(a[i] >= 0 && a[i] <= 1);
    free(a);
    mvae_ctx_free(ctx);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static char *slurp_in(const char *dir, const char *name, size_t *len) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return tiny_slurp(p, len);
}

static void train_ok(env *e, const char *const *sets, const char *dir, bool resume, mvae_train_result *r) {
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, sets, &cfg);
    mvae_train_opts o = {.run_dir = dir, .resume = resume, .quiet = true};
    mvae_error err = {0};
    int rc = mvae_train(m, &o, r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* 2 epochs in one go == 1 epoch, then resume for the 2nd: bit-identical checkpoints (the
 * discriminator's parameters, moments and step included) and losses. */
static void test_gan_resume(void **state) {
    env *e = *state;
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/run_resume_a", e->dir);
    snprintf(b, sizeof b, "%s/run_resume_b", e->dir);
    mvae_train_result ra, rb;
    train_ok(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.n_critic=2", "train.epochs=2", "eval.pictures=false", NULL}, a, false, &ra);
    train_ok(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.n_critic=2", "train.epochs=1", "eval.pictures=false", NULL}, b, false, &rb);
    /* after epoch 1 the checkpoint holds a discriminator state (valid flag, step 4 x 2) */
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.n_critic=2", NULL}, &cfg);
    char p[600];
    snprintf(p, sizeof p, "%s/last.ckpt", b);
    mvae_error err = {0};
    assert_int_equal(mvae_checkpoint_load(p, m->params, NULL, NULL, NULL, &err), MVAE_OK);
    mvae_gan *g = m->mod[mvae_model_find(m, "image")].mt_self;
    mvae_gan_sync(g);
    assert_int_equal(g->opt.step, 8);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    train_ok(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.n_critic=2", "train.epochs=2", "eval.pictures=false", NULL}, b, true, &rb);
    assert_memory_equal(&ra.last_loss, &rb.last_loss, sizeof(double));
    size_t la, lb;
    char *ca = slurp_in(a, "last.ckpt", &la), *cb = slurp_in(b, "last.ckpt", &lb);
    assert_non_null(ca);
    assert_non_null(cb);
    assert_int_equal(la, lb);
    assert_memory_equal(ca, cb, la);
    free(ca);
    free(cb);
}

/* A diverging discriminator stops training with the step named, no checkpoint written. */
static void test_gan_nan_stops(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = tiny_build(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.lr=1.0e30", "eval.pictures=false", NULL}, &cfg);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run_nan", e->dir);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    assert_int_equal(mvae_train(m, &o, &r, &err), MVAE_ERR_NUMERIC);
    fprintf(stderr, "the NaN stop: %s\n", err.msg);
    mvae_assert_has(err.msg, "step ");
    mvae_assert_has(err.msg, "(epoch 1, batch ");
    assert_false(exists(dir, "last.ckpt"));
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    /* a discriminator whose state went NaN: its own check names it, before any update */
    m = tiny_build(e, (const char *const[]){IMAGE_GAN, "eval.pictures=false", NULL}, &cfg);
    mvae_gan *g = m->mod[mvae_model_find(m, "image")].mt_self;
    mvae_gan_sync(g); /* the mirror now holds the fresh state */
    g->state->data[0] = NAN;
    snprintf(dir, sizeof dir, "%s/run_nan_disc", e->dir);
    memset(&err, 0, sizeof err);
    assert_int_equal(mvae_train(m, &o, &r, &err), MVAE_ERR_NUMERIC);
    fprintf(stderr, "the discriminator's NaN stop: %s\n", err.msg);
    mvae_assert_has(err.msg, "step 1 (epoch 1, batch 1)");
    mvae_assert_has(err.msg, "modality 'image' (model: gan): the discriminator's loss is NaN in its update 1 of 1");
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

static void test_gan_errors(void **state) {
    env *e = *state;
    /* a gan on class indices */
    const char *msg = build_fails(e, (const char *const[]){"modalities.label.model=gan", "modalities.label.likelihood=", NULL});
    mvae_assert_has(msg, "modalities.label");
    msg = build_fails(e, (const char *const[]){
        "modalities.label={model: gan, encoder: {plugin: mlp, embed: 16, hidden: [32]}, decoder: {plugin: mlp}}", NULL});
    mvae_assert_has(msg, "modalities.label.model: 'gan' cannot model 'label' (categorical data)");
    /* the generator is the decoder: it is required */
    msg = build_fails(e, (const char *const[]){"modalities.image={model: gan, encoder: {plugin: mlp, hidden: [32]}}", NULL});
    mvae_assert_has(msg, "model: gan needs a decoder plugin as its generator");
    /* no likelihood key */
    msg = build_fails(e, (const char *const[]){IMAGE_GAN, "modalities.image.likelihood=gaussian", NULL});
    mvae_assert_has(msg, "modalities.image.likelihood: a model: gan modality has no likelihood");
    /* the discriminator's plugin and options, with their place */
    msg = build_fails(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.discriminator.plugin=mlpp", NULL});
    mvae_assert_has(msg, "modalities.image.gan.discriminator.plugin");
    mvae_assert_has(msg, ":");
    msg = build_fails(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.discriminator.hiden=[8]", NULL});
    mvae_assert_has(msg, "hiden");
    msg = build_fails(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.n_critic=0", NULL});
    mvae_assert_has(msg, "n_critic");
    mvae_assert_has(msg, "out of range");
    msg = build_fails(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.loss=wgan", NULL});
    mvae_assert_has(msg, "wgan");
    msg = build_fails(e, (const char *const[]){IMAGE_GAN, "modalities.image.gan.feature_weight=0",
                                               "modalities.image.gan.adversarial_weight=0", NULL});
    mvae_assert_has(msg, "the generator would get no loss");
    mvae_assert_has(msg, "modalities.image.gan");
    /* a gan section on a vae */
    msg = build_fails(e, (const char *const[]){"modalities.image.gan={n_critic: 2}", NULL});
    mvae_assert_has(msg, "modalities.image.gan belongs to model: gan");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_losses_by_hand),
        cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_disc_param_gradient),
        cmocka_unit_test(test_score_parts),
        cmocka_unit_test(test_updates_touch_own_params),
        cmocka_unit_test(test_gan_trains),
        cmocka_unit_test(test_gan_resume),
        cmocka_unit_test(test_gan_nan_stops),
        cmocka_unit_test(test_gan_errors),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("gan", tests, env_setup, env_teardown);
}
