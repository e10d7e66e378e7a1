/* test_coherence.c — the classifier plugin kind (conv_classifier), classifier training and its
 * cache (reuse, corrupted file), coherence and the linear probe on a tiny generated Fashion-MNIST
 * look-alike whose classes are separable (class k = a bright horizontal bar at rows 2k+4, 2k+5). */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/coherence.h"
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
#define N_TRAIN 600
#define N_TEST 200

typedef struct fixture {
    char dir[256];   /* the dataset */
    char cache[300]; /* classifier cache */
    char run[300];   /* a run directory */
    mvae_registry *reg;
} fixture;

static uint8_t fx_label(int split, int i, void *user) {
    (void)user;
    return (uint8_t)((i * 7 + split) % 10);
}

/* class k: a bright bar on rows 2k+4 and 2k+5 over uniform noise drawn from the rng in user */
static uint8_t fx_pixel(int split, int i, int p, void *user) {
    int k = fx_label(split, i, NULL), row = p / 28;
    double u = mvae_rng_uniform((mvae_rng *)user);
    return (uint8_t)(row == 2 * k + 4 || row == 2 * k + 5 ? 200 + 55 * u : 50 * u);
}

static void write_split(const char *dir, const char *prefix, int split, int n) {
    mvae_rng r;
    mvae_rng_seed(&r, 100 + (uint64_t)split);
    assert_int_equal(tiny_write_split_with(dir, prefix, split, n, -1, fx_label, fx_pixel, &r), 0);
}

static void rm_rf(const char *dir) {
    char cmd[600];
    if (strncmp(dir, "/tmp/mvae_test_coh", 18) != 0) return; /* only what setup made */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mvae_test_coh_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    write_split(f->dir, "train", 0, N_TRAIN);
    write_split(f->dir, "t10k", 1, N_TEST);
    snprintf(f->cache, sizeof f->cache, "%s/cache", f->dir);
    snprintf(f->run, sizeof f->run, "%s/run", f->dir);
    f->reg = mvae_registry_new();
    mvae_error err = {0};
    if (mvae_registry_load_dir(f->reg, BUILD_PLUGINS, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    mvae_registry_free(f->reg);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static const char *EXP =
    "name: coh\n"
    "seed: 3\n"
    "dataset: {plugin: fashion_mnist, path: '%s'}\n"
    "latent_dim: 8\n"
    "modalities:\n"
    "  image:\n"
    "    encoder: {plugin: mlp, hidden: [64]}\n"
    "    decoder: {plugin: mlp, hidden: [64]}\n"
    "  label:\n"
    "    encoder: {plugin: mlp, embed: 16, hidden: [32]}\n"
    "    decoder: {plugin: mlp, hidden: [32]}\n"
    "    weight: 20.0\n"
    "train: {epochs: %d, batch_size: 50, progress: none}\n"
    "eval:\n"
    "  log_likelihood: {samples: 5, max_test: 20}\n"
    "  pictures: false\n"
    "  probe: {max_train: 400, iterations: 200}\n"
    "  coherence:\n"
    "    enabled: true\n"
    "    cache_dir: '%s'\n"
    "    classifier: {plugin: conv_classifier, %s, epochs: 3, batch_size: 32}\n";

static mvae_model *build(fixture *f, int epochs, const char *clf, mvae_cfg **cfg) {
    char text[2048];
    snprintf(text, sizeof text, EXP, f->dir, epochs, f->cache, clf);
    mvae_error err = {0};
    int rc = mvae_cfg_load_string(text, "coh.yaml", cfg, &err);
    mvae_model *m = NULL;
    if (!rc) rc = mvae_model_build(*cfg, f->reg, &m, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    return m;
}

/* log capture */
static char g_log[8192];
static void capture(mvae_log_level level, const char *msg, void *user) {
    (void)user;
    if (level < MVAE_LOG_WARN) return;
    size_t u = strlen(g_log);
    snprintf(g_log + u, sizeof g_log - u, "%s\n", msg);
}

static void test_plugin_kind(void **state) {
    fixture *f = *state;
    const mvae_plugin_desc *d = mvae_registry_find(f->reg, MVAE_PLUGIN_CLASSIFIER, "conv_classifier");
    assert_non_null(d);
    assert_int_equal(d->abi_minor, MVAE_ABI_MINOR);
    const mvae_classifier_vtable *vt = d->vtable;
    assert_non_null(vt->create);
    assert_non_null(vt->forward);
    assert_string_equal(mvae_plugin_kind_name(MVAE_PLUGIN_CLASSIFIER), "classifier");
    /* a classifier vtable missing its forward is rejected */
    static const mvae_classifier_vtable bad = {.create = NULL};
    mvae_plugin_desc bd = *d;
    bd.name = "bad";
    bd.vtable = &bad;
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_add(reg, &bd, "/x/bad.so", &err), MVAE_ERR_PLUGIN);
    assert_non_null(strstr(err.msg, "classifier plugin 'bad'"));
    assert_non_null(strstr(err.msg, "required hook 'create'"));
    mvae_registry_free(reg);
    /* any image shape: [3, 20, 12] through the cnn gives [B, 5] logits */
    mvae_params *ps = mvae_params_new();
    mvae_modality_info mi = {.name = "img", .type = MVAE_MOD_IMAGE, .ndim = 3, .shape = {3, 20, 12}};
    void *self = NULL;
    assert_int_equal(vt->create(NULL, &mi, 5, ps, "img.clf", &self, &err), MVAE_OK);
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    assert_int_equal(mvae_params_finalize(ps, &r, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 4, (int64_t[]){2, 3, 20, 12}, 0, 1, 0);
    mvae_tensor *lg = vt->forward(self, ctx, x);
    assert_non_null(lg);
    assert_int_equal(lg->ndim, 2);
    assert_int_equal(lg->shape[0], 2);
    assert_int_equal(lg->shape[1], 5);
    vt->destroy(self);
    mvae_params_free(ps);
    /* too small for its convolutions: an error naming the size */
    ps = mvae_params_new();
    mvae_modality_info tiny = {.name = "img", .type = MVAE_MOD_IMAGE, .ndim = 3, .shape = {1, 2, 2}};
    mvae_error_clear(&err);
    assert_int_equal(vt->create(NULL, &tiny, 5, ps, "img.clf", &self, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "too small"));
    mvae_params_free(ps);
    mvae_ctx_free(ctx);
}

static void test_classifier_cache(void **state) {
    fixture *f = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(f, 1, "architecture: cnn, channels: [8, 16], hidden: 32", &cfg);
    mvae_error err = {0};
    mvae_classifier *c = NULL;
    int img = mvae_model_find(m, "image"), lab = mvae_model_find(m, "label");
    char cache[1200];
    assert_string_equal(mvae_classifier_cache_dir(m, "/run", cache, sizeof cache), f->cache);
    /* 1. trained, accurate on separable classes, written to the cache */
    assert_int_equal(mvae_classifier_get(m, img, lab, f->cache, &c, &err), MVAE_OK);
    assert_true(c->trained);
    assert_true(c->test_accuracy > 0.95);
    assert_int_equal(c->n_train, N_TRAIN);
    assert_int_equal(c->epochs, 3);
    assert_int_equal(access(c->path, R_OK), 0);
    assert_non_null(strstr(c->path, f->cache));
    double acc = c->test_accuracy;
    char path[1200];
    snprintf(path, sizeof path, "%s", c->path);
    mvae_classifier_free(c);
    /* 2. the second call loads it: same accuracy, same predictions */
    assert_int_equal(mvae_classifier_get(m, img, lab, f->cache, &c, &err), MVAE_OK);
    assert_false(c->trained);
    assert_true(fabs(c->test_accuracy - acc) < 1e-9);
    assert_string_equal(c->path, path);
    mvae_classifier_free(c);
    /* 2b. the pairing keys do not change the data: the same cache entry is used */
    {
        mvae_cfg *cfg2;
        mvae_model *m2 = NULL;
        mvae_error e2 = {0};
        char text[2048];
        snprintf(text, sizeof text, EXP, f->dir, 1, f->cache, "architecture: cnn, channels: [8, 16], hidden: 32");
        assert_int_equal(mvae_cfg_load_string(text, "coh.yaml", &cfg2, &e2), MVAE_OK);
        assert_int_equal(mvae_cfg_set(cfg2, "dataset.paired_fraction=0.5", &e2), MVAE_OK);
        assert_int_equal(mvae_cfg_set(cfg2, "dataset.paired_repeat=3", &e2), MVAE_OK);
        assert_int_equal(mvae_model_build(cfg2, f->reg, &m2, &e2), MVAE_OK);
        assert_int_equal(mvae_classifier_get(m2, img, lab, f->cache, &c, &e2), MVAE_OK);
        assert_false(c->trained);
        assert_string_equal(c->path, path);
        mvae_classifier_free(c);
        mvae_model_free(m2);
        mvae_cfg_free(cfg2);
    }
    /* 3. a corrupted file: retrained with a warning, not a crash; then loadable again */
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 200, SEEK_SET);
    fputs("garbage garbage garbage", fp);
    fclose(fp);
    g_log[0] = '\0';
    mvae_log_set_sink(capture, NULL);
    assert_int_equal(mvae_classifier_get(m, img, lab, f->cache, &c, &err), MVAE_OK);
    mvae_log_set_sink(NULL, NULL);
    assert_true(c->trained);
    assert_true(fabs(c->test_accuracy - acc) < 1e-9); /* same seed, same data: same network */
    assert_non_null(strstr(g_log, "unusable"));
    assert_non_null(strstr(g_log, path));
    mvae_classifier_free(c);
    assert_int_equal(mvae_classifier_get(m, img, lab, f->cache, &c, &err), MVAE_OK);
    assert_false(c->trained);
    mvae_classifier_free(c);
    /* 4. a truncated file too */
    assert_int_equal(truncate(path, 40), 0);
    mvae_log_set_sink(capture, NULL);
    assert_int_equal(mvae_classifier_get(m, img, lab, f->cache, &c, &err), MVAE_OK);
    mvae_log_set_sink(NULL, NULL);
    assert_true(c->trained);
    mvae_classifier_free(c);
    /* 5. no cache directory: always trains, writes nothing */
    assert_int_equal(mvae_classifier_get(m, img, lab, NULL, &c, &err), MVAE_OK);
    assert_true(c->trained);
    assert_string_equal(c->path, "");
    mvae_classifier_free(c);
    /* a label that is not categorical is refused */
    assert_int_equal(mvae_classifier_get(m, img, img, f->cache, &c, &err), MVAE_ERR_INVALID);
    assert_null(c);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    /* other classifier settings are another cache entry; the mlp architecture works too */
    m = build(f, 1, "architecture: mlp, mlp_hidden: [64]", &cfg);
    mvae_error_clear(&err);
    assert_int_equal(mvae_classifier_get(m, img, lab, f->cache, &c, &err), MVAE_OK);
    assert_true(c->trained);
    assert_true(c->test_accuracy > 0.95);
    assert_string_not_equal(c->path, path);
    mvae_classifier_free(c);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static void test_coherence_and_probe(void **state) {
    fixture *f = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(f, 30, "architecture: cnn, channels: [8, 16], hidden: 32", &cfg);
    mvae_error err = {0};
    mvae_train_opts o = {.run_dir = f->run, .quiet = true};
    mvae_train_result res;
    int rc = mvae_train(m, &o, &res, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    const mvae_eval_result *e = &res.eval;
    assert_int_equal(e->n_clf, 1);
    assert_string_equal(e->clf_name[0], "image");
    assert_true(e->clf_acc[0] > 0.95);
    assert_int_equal(e->n_coh, 2);
    assert_string_equal(e->coh_name[0], "label->image");
    /* the joint coherence: z from the prior decoded into both modalities */
    assert_string_equal(e->coh_name[1], "prior->image");
    assert_true(e->coh[1] >= 0 && e->coh[1] <= 1);
    fprintf(stderr, "joint coherence %.3f\n", e->coh[1]);
    fprintf(stderr, "coherence %.3f probe %.3f accuracy %.3f\n", e->coh[0], e->probe[0], e->acc[0]);
    assert_true(e->coh[0] >= 0 && e->coh[0] <= 1);
    assert_true(e->coh[0] > 0.3); /* chance is 0.1 */
    assert_int_equal(e->n_probe, 1);
    assert_string_equal(e->probe_name[0], "image->label");
    assert_true(e->probe[0] > 0.5);
    /* metrics.json has the new keys */
    char path[600], buf[8192];
    snprintf(path, sizeof path, "%s/metrics.json", f->run);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    assert_non_null(strstr(buf, "\"coherence\": {\"label->image\": "));
    assert_non_null(strstr(buf, ", \"prior->image\": "));
    assert_non_null(strstr(buf, "\"classifier_accuracy\": {\"image\": "));
    assert_non_null(strstr(buf, "\"probe\": {\"image->label\": "));
    assert_non_null(strstr(buf, "\"accuracy_mean_z\": {\"image->label\": "));
    /* evaluation again: the classifier now comes from the cache and gives the same numbers */
    mvae_eval_result e2;
    assert_int_equal(mvae_evaluate(m, MVAE_SPLIT_TEST, &e2, true, &err), MVAE_OK);
    assert_true(fabs(e2.clf_acc[0] - e->clf_acc[0]) < 1e-9);
    assert_true(fabs(e2.coh[0] - e->coh[0]) < 1e-9);
    assert_true(fabs(e2.probe[0] - e->probe[0]) < 1e-9);
    /* switched off: no coherence, no probe */
    assert_int_equal(mvae_cfg_set(cfg, "eval.coherence.enabled=false", &err), MVAE_OK);
    assert_int_equal(mvae_cfg_set(cfg, "eval.probe.enabled=false", &err), MVAE_OK);
    assert_int_equal(mvae_evaluate(m, MVAE_SPLIT_TEST, &e2, true, &err), MVAE_OK);
    assert_int_equal(e2.n_coh, 0);
    assert_int_equal(e2.n_clf, 0);
    assert_int_equal(e2.n_probe, 0);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static void test_config_errors(void **state) {
    fixture *f = *state;
    char text[2048];
    snprintf(text, sizeof text, EXP, f->dir, 1, f->cache, "architecture: cnn, chanels: [8]");
    mvae_cfg *cfg;
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_load_string(text, "coh.yaml", &cfg, &err), MVAE_OK);
    assert_int_not_equal(mvae_experiment_validate(cfg, f->reg, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "chanels"));
    assert_non_null(strstr(err.msg, "channels"));
    mvae_cfg_free(cfg);
    /* an unknown classifier plugin is named with the available ones */
    snprintf(text, sizeof text, EXP, f->dir, 1, f->cache, "architecture: cnn");
    char *p = strstr(text, "plugin: conv_classifier");
    assert_non_null(p);
    memcpy(p, "plugin: conv_classifiex", 23);
    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_load_string(text, "coh.yaml", &cfg, &err), MVAE_OK);
    assert_int_not_equal(mvae_experiment_validate(cfg, f->reg, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "no classifier plugin named 'conv_classifiex'"));
    mvae_cfg_free(cfg);
}

static void test_logreg(void **state) {
    (void)state;
    /* 4 Gaussian clusters in 6 dimensions, centres 3 apart along different axes, features on very
     * different scales (standardisation must cope) */
    enum { N = 800, D = 6, K = 4 };
    static float X[N * D], Xt[N * D];
    static int32_t y[N], yt[N];
    mvae_rng r;
    mvae_rng_seed(&r, 9);
    for (int s = 0; s < 2; s++) {
        float *x = s ? Xt : X;
        int32_t *l = s ? yt : y;
        for (int i = 0; i < N; i++) {
            l[i] = i % K;
            for (int j = 0; j < D; j++) {
                float v = (float)mvae_rng_normal(&r) * 0.6f + (j == l[i] ? 3.0f : 0.0f);
                x[i * D + j] = v * (j == 1 ? 1000.0f : 1.0f) + (j == 2 ? 50.0f : 0.0f);
            }
        }
    }
    mvae_logreg lr;
    mvae_error err = {0};
    assert_int_equal(mvae_logreg_fit(X, y, N, D, K, 1e-4f, 200, &lr, &err), MVAE_OK);
    double tr = mvae_logreg_accuracy(&lr, X, y, N), te = mvae_logreg_accuracy(&lr, Xt, yt, N);
    fprintf(stderr, "logreg: train %.4f test %.4f loss %.4f\n", tr, te, lr.final_loss);
    assert_true(tr > 0.95);
    assert_true(te > 0.95);
    assert_true(lr.final_loss < 0.3);
    /* deterministic */
    mvae_logreg lr2;
    assert_int_equal(mvae_logreg_fit(X, y, N, D, K, 1e-4f, 200, &lr2, &err), MVAE_OK);
    assert_memory_equal(lr.W, lr2.W, sizeof(float) * K * D);
    mvae_logreg_free(&lr);
    mvae_logreg_free(&lr2);
    /* bad labels and sizes are errors */
    y[5] = K;
    assert_int_equal(mvae_logreg_fit(X, y, N, D, K, 1e-4f, 10, &lr, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "row 5"));
    mvae_error_clear(&err);
    assert_int_equal(mvae_logreg_fit(X, y, 0, D, K, 1e-4f, 10, &lr, &err), MVAE_ERR_INVALID);
}

/* ridge regression (the probe of a real-valued target): a hand-computed least-squares line, an
 * exact linear map recovered from badly scaled features, R^2 of noise near 0, a huge penalty
 * predicting the mean, and bad sizes */
static void test_ridge(void **state) {
    (void)state;
    mvae_error err = {0};
    mvae_ridge rg;
    /* x = 0 1 2 3, y = 1 3 2 5: slope 1.1, intercept 1.1, SSE 2.7, SST 8.75, R^2 = 1 - 2.7/8.75 */
    const float x1[4] = {0, 1, 2, 3}, y1[4] = {1, 3, 2, 5};
    assert_int_equal(mvae_ridge_fit(x1, y1, 4, 1, 1, 0.0f, &rg, &err), MVAE_OK);
    assert_true(fabs(mvae_ridge_r2(&rg, x1, y1, 4) - (1.0 - 2.7 / 8.75)) < 1e-6);
    assert_true(fabs(rg.W[0] * rg.inv_std[0] - 1.1) < 1e-5);                    /* slope in x units */
    assert_true(fabs(rg.b[0] - rg.W[0] * rg.inv_std[0] * rg.mean[0] - 1.1) < 1e-5); /* intercept */
    mvae_ridge_free(&rg);
    /* y0 = 2 x0 - 3 x1 / 1000 + 0.5 and y1 = noise, x1 on a 1000x scale, x2 constant */
    enum { N = 400, D = 3, K = 2 };
    static float X[N * D], Y[N * K], Xt[N * D], Yt[N * K];
    mvae_rng r;
    mvae_rng_seed(&r, 3);
    for (int s = 0; s < 2; s++) {
        float *x = s ? Xt : X, *y = s ? Yt : Y;
        for (int i = 0; i < N; i++) {
            x[i * D] = (float)mvae_rng_normal(&r);
            x[i * D + 1] = 1000.0f * (float)mvae_rng_normal(&r);
            x[i * D + 2] = 7.0f;
            y[i * K] = 2.0f * x[i * D] - 3.0f * x[i * D + 1] / 1000.0f + 0.5f;
            y[i * K + 1] = (float)mvae_rng_normal(&r);
        }
    }
    assert_int_equal(mvae_ridge_fit(X, Y, N, D, K, 0.0f, &rg, &err), MVAE_OK);
    double r2 = mvae_ridge_r2(&rg, Xt, Yt, N);
    mvae_ridge one = rg;
    one.k = 1; /* the first target's R^2 alone: W row 0 and b[0] */
    static float Y0[N];
    for (int i = 0; i < N; i++) Y0[i] = Yt[i * K];
    double r2_0 = mvae_ridge_r2(&one, Xt, Y0, N);
    fprintf(stderr, "ridge: R^2 linear %.8f, both columns %.4f\n", r2_0, r2);
    assert_true(r2_0 > 1 - 1e-6);
    assert_true(fabs(rg.W[2]) < 1e-6); /* the constant feature gets no weight */
    double r2_1 = 2 * r2 - r2_0;      /* the mean of the two columns' R^2 */
    assert_true(r2_1 < 0.05 && r2_1 > -0.1);
    mvae_ridge_free(&rg);
    /* an enormous penalty: W ~ 0, the prediction is the training mean, R^2 ~ 0 (slightly below) */
    assert_int_equal(mvae_ridge_fit(X, Y, N, D, K, 1e9f, &rg, &err), MVAE_OK);
    r2 = mvae_ridge_r2(&rg, Xt, Yt, N);
    assert_true(r2 <= 1e-6 && r2 > -0.1);
    mvae_ridge_free(&rg);
    assert_int_equal(mvae_ridge_fit(X, Y, 1, D, K, 0.0f, &rg, &err), MVAE_ERR_INVALID);
    mvae_ridge_free(NULL);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logreg),
        cmocka_unit_test(test_ridge),
        cmocka_unit_test_setup_teardown(test_plugin_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classifier_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coherence_and_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
    };
    return mvae_test_run("coherence", tests, argc, argv);
}
