/* test_api.c — the stable C API (mvae/api.h) on the tiny generated Fashion-MNIST look-alike:
 * training with hooks (stop, resume), opening a run, arrays and their checks, encode against the
 * model's own path, evaluate on arrays against mvae_evaluate on the dataset, decode, sampling
 * against `mvae sample`'s picture, and the messages of errors. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/api.h"
#include "mvae/image.h"
#include "mvae/train.h"
#include "tiny_data.h"

typedef struct {
    tiny_env *e;
    char yaml[300];  /* the tiny experiment as a file */
    char run[300];   /* a run trained by the setup (2 epochs) */
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (tiny_env_open((void **)&f->e, "api", 300, 100)) return -1;
    snprintf(f->yaml, sizeof f->yaml, "%s/tiny.yaml", f->e->dir);
    if (tiny_write_yaml(f->yaml, f->e->data)) return -1;
    snprintf(f->run, sizeof f->run, "%s/run", f->e->dir);
    char msg[MVAE_API_MSG_MAX];
    const char *sets[] = {"train.epochs=2"};
    if (mvae_api_train(f->yaml, sets, 1, f->run, MVAE_API_QUIET, NULL, NULL, NULL, NULL, NULL, msg, sizeof msg)) {
        fprintf(stderr, "setup: %s\n", msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tiny_env_close((void **)&f->e);
    free(f);
    return 0;
}

static mvae_run *open_ok(const fixture *f, const char *which) {
    char msg[MVAE_API_MSG_MAX] = "";
    mvae_run *r = NULL;
    int rc = mvae_run_open(f->run, which, NULL, 0, 0, &r, msg, sizeof msg);
    if (rc) fprintf(stderr, "open: %s\n", msg);
    assert_int_equal(rc, MVAE_OK);
    return r;
}

/* The test split of the tiny data set as arrays: pixels / 255 as the dataset plugin reads them. */
static mvae_arrays *test_arrays(mvae_run *r, int n, bool image, bool label) {
    char msg[MVAE_API_MSG_MAX] = "";
    mvae_arrays *x = NULL;
    assert_int_equal(mvae_arrays_new(r, n, &x, msg, sizeof msg), MVAE_OK);
    float *px = malloc((size_t)n * 784 * sizeof *px);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    for (int i = 0; i < n; i++) {
        lab[i] = tiny_label(1, i);
        for (int k = 0; k < 784; k++) px[i * 784 + k] = (float)tiny_pixel(1, i, k) * (1.0f / 255.0f);
    }
    if (image) assert_int_equal(mvae_arrays_set(x, "image", px, (int64_t)n * 784, msg, sizeof msg), MVAE_OK);
    if (label) assert_int_equal(mvae_arrays_set(x, "label", lab, n, msg, sizeof msg), MVAE_OK);
    free(px);
    free(lab);
    return x;
}

static void test_version(void **state) {
    (void)state;
    assert_int_equal(mvae_api_version(), (MVAE_API_VERSION_MAJOR << 16) | MVAE_API_VERSION_MINOR);
    assert_int_equal(mvae_api_version() >> 16, 1);
    assert_string_equal(mvae_api_library_version(), MVAE_VERSION_STRING);
    assert_string_equal(mvae_api_status_name(MVAE_ERR_INTERRUPTED), "interrupted");
}

static void test_open_and_describe(void **state) {
    fixture *f = *state;
    mvae_run *r = open_ok(f, "last");
    int64_t sh[3];
    assert_int_equal(mvae_run_epoch(r), 2);
    assert_int_equal(mvae_run_latent_dim(r), 8);
    assert_int_equal(mvae_run_n_modalities(r), 2);
    assert_string_equal(mvae_run_modality_name(r, 0), "image");
    assert_string_equal(mvae_run_modality_name(r, 1), "label");
    assert_null(mvae_run_modality_name(r, 2));
    assert_int_equal(mvae_run_n_inputs(r), 2);
    assert_string_equal(mvae_run_input_name(r, 1), "label");
    assert_null(mvae_run_input_name(r, 2));
    assert_null(mvae_run_likelihood(r, "nope"));
    assert_null(mvae_run_class_name(r, "label", 10));
    assert_int_equal(mvae_run_shape(r, "nope", sh), -1);
    assert_int_equal(mvae_run_decode_size(r, "nope"), -1);
    assert_string_equal(mvae_run_type(r, "image"), "image");
    assert_string_equal(mvae_run_type(r, "label"), "categorical");
    assert_null(mvae_run_type(r, "nope"));
    assert_int_equal(mvae_run_shape(r, "image", sh), 3);
    assert_true(sh[0] == 1 && sh[1] == 28 && sh[2] == 28);
    assert_int_equal(mvae_run_classes(r, "label"), 10);
    assert_int_equal(mvae_run_classes(r, "image"), 0);
    assert_string_equal(mvae_run_class_name(r, "label", 7), "Sneaker");
    assert_int_equal(mvae_run_encodable(r, "label"), 1);
    assert_int_equal(mvae_run_encodable(r, "x"), -1);
    assert_string_equal(mvae_run_likelihood(r, "image"), "bernoulli");
    assert_int_equal(mvae_run_decode_size(r, "image"), 784);
    assert_int_equal(mvae_run_decode_size(r, "label"), 10);
    char *cfg = mvae_run_config(r);
    assert_non_null(cfg);
    mvae_assert_has(cfg, "latent_dim: 8");
    mvae_api_free(cfg);
    mvae_assert_has(mvae_run_checkpoint(r), "/last.ckpt");
    mvae_run_close(r);
}

static void test_open_errors(void **state) {
    fixture *f = *state;
    char msg[MVAE_API_MSG_MAX];
    mvae_run *r = NULL;
    assert_int_equal(mvae_run_open("/nonexistent/run", NULL, NULL, 0, 0, &r, msg, sizeof msg), MVAE_ERR_IO);
    mvae_assert_has(msg, "'/nonexistent/run' is not a run directory");
    assert_null(r);
    assert_int_equal(mvae_run_open(f->run, "first", NULL, 0, 0, &r, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "checkpoint 'first': it is 'last' or 'best'");
    const char *bad[] = {"latent_dim=4"};
    assert_int_equal(mvae_run_open(f->run, NULL, bad, 1, 0, &r, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "only eval.* settings");
    const char *typo[] = {"eval.batch_sise=10"};
    assert_int_equal(mvae_run_open(f->run, NULL, typo, 1, 0, &r, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "did you mean 'batch_size'");
    /* a short buffer gets a truncated, terminated message */
    char tiny[8];
    assert_int_equal(mvae_run_open("/nonexistent/run", NULL, NULL, 0, 0, &r, tiny, sizeof tiny), MVAE_ERR_IO);
    assert_int_equal(strlen(tiny), 7);
}

static void test_arrays_checks(void **state) {
    fixture *f = *state;
    mvae_run *r = open_ok(f, "last");
    char msg[MVAE_API_MSG_MAX];
    mvae_arrays *x = NULL;
    assert_int_equal(mvae_arrays_new(r, 0, &x, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "give at least 1");
    assert_int_equal(mvae_arrays_new(r, 2, &x, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_arrays_size(x), 2);
    float px[2 * 784] = {0};
    assert_int_equal(mvae_arrays_set(x, "imag", px, 2 * 784, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "'imag' is not an input of dataset 'fashion_mnist' (did you mean 'image'?); inputs: image, label");
    assert_int_equal(mvae_arrays_set(x, "image", px, 784, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "'image' has 784 values; 2 samples of shape [1,28,28] (784 each) make 1568");
    px[900] = 255.0f;
    assert_int_equal(mvae_arrays_set(x, "image", px, 2 * 784, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "'image' sample 1 holds 255; image values are in [0, 1] (8-bit pixels: divide by 255)");
    px[900] = NAN;
    assert_int_equal(mvae_arrays_set(x, "image", px, 2 * 784, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "'image' sample 1 holds NaN");
    int32_t lab[2] = {3, 10};
    assert_int_equal(mvae_arrays_set(x, "label", lab, 2, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "'label' sample 1 holds 10; classes are in 0..9");
    lab[1] = 9;
    assert_int_equal(mvae_arrays_set(x, "label", lab, 2, msg, sizeof msg), MVAE_OK);
    /* encode what the arrays do not hold; evaluate without every modality */
    float mu[2 * 8];
    assert_int_equal(mvae_run_encode(r, x, "image", 0, mu, NULL, NULL, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "encode: 'image' is given but the arrays hold no 'image'");
    assert_int_equal(mvae_run_encode(r, x, "labl", 0, mu, NULL, NULL, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "encode: unknown modality 'labl' in 'labl' (did you mean 'label'?)");
    char *json = NULL;
    assert_int_equal(mvae_run_evaluate(r, x, 1, &json, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "the arrays hold no 'image'");
    assert_null(json);
    float out[2 * 784];
    assert_int_equal(mvae_run_decode(r, mu, 2, "imgae", 0, out, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "decode: 'imgae' is not a modality of this model (did you mean 'image'?)");
    mvae_arrays_free(x);
    mvae_run_close(r);
}

/* encode's mean, log-variance and draws are the model's own: q(z | .) built by
 * mvae_model_encode / posterior / fusion mean on the dataset's test split */
static void test_encode_matches_model(void **state) {
    fixture *f = *state;
    mvae_run *r = open_ok(f, "last");
    const int N = 100, D = 8;
    mvae_arrays *x = test_arrays(r, N, true, true);
    char msg[MVAE_API_MSG_MAX];
    float *mu = malloc(N * D * sizeof *mu), *lv = malloc(N * D * sizeof *lv), *z = malloc(N * D * sizeof *z);
    float *z2 = malloc(N * D * sizeof *z2);
    const char *givens[] = {"image", "label", "image,label"};
    /* the reference: the model built from the run's config and checkpoint, the dataset's batches */
    mvae_error err = {0};
    mvae_cfg *cfg = NULL;
    char path[400];
    snprintf(path, sizeof path, "%s/config.yaml", f->run);
    assert_int_equal(mvae_cfg_load_file(path, &cfg, &err), MVAE_OK);
    mvae_model *m = NULL;
    assert_int_equal(mvae_model_build(cfg, f->e->reg, &m, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/last.ckpt", f->run);
    assert_int_equal(mvae_run_checkpoint_load(m, path, NULL, NULL, false, NULL, &err), MVAE_OK);
    mvae_batch b;
    assert_int_equal(mvae_batch_init(&b, m, 50, &err), MVAE_OK); /* eval.batch_size 50 */
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    for (int g = 0; g < 3; g++) {
        assert_int_equal(mvae_run_encode(r, x, givens[g], 5, mu, lv, z, msg, sizeof msg), MVAE_OK);
        assert_int_equal(mvae_run_encode(r, x, givens[g], 5, NULL, NULL, z2, msg, sizeof msg), MVAE_OK);
        assert_memory_equal(z, z2, N * D * sizeof *z); /* seeded */
        assert_int_equal(mvae_run_encode(r, x, givens[g], 6, NULL, NULL, z2, msg, sizeof msg), MVAE_OK);
        assert_memory_not_equal(z, z2, N * D * sizeof *z);
        uint32_t S;
        assert_int_equal(mvae_model_parse_subset(m, givens[g], &S, &err), MVAE_OK);
        for (int s = 0; s < N; s += 50) {
            int64_t idx[50];
            for (int i = 0; i < 50; i++) idx[i] = s + i;
            assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, 50, NULL, &err), MVAE_OK);
            mvae_ctx_reset(ctx);
            mvae_experts e;
            mvae_posterior q;
            mvae_tensor *valid;
            int any;
            assert_int_equal(mvae_model_encode(m, ctx, &b, S, &e), MVAE_OK);
            assert_int_equal(mvae_model_posterior(m, ctx, &e, S, &q, &valid, &any), MVAE_OK);
            mvae_tensor *mean = ((const mvae_fusion_vtable *)m->fusion_desc->vtable)->mean(m->fusion, ctx, &q);
            assert_memory_equal(mean->data, mu + s * D, 50 * D * sizeof(float));
            assert_memory_equal(q.logvar->data, lv + s * D, 50 * D * sizeof(float));
        }
        /* the draws are near the mean on the scale of q's standard deviation */
        double zs = 0;
        for (int i = 0; i < N * D; i++) zs += (z[i] - mu[i]) * (z[i] - mu[i]) / exp(lv[i]);
        assert_true(zs / (N * D) > 0.5 && zs / (N * D) < 1.6);
    }
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    free(mu);
    free(lv);
    free(z);
    free(z2);
    mvae_arrays_free(x);
    mvae_run_close(r);
}

/* metrics.json text without its timing lines */
static void strip_seconds(char *s) {
    char *o = s;
    for (char *l = s; *l;) {
        char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l + 1) : strlen(l);
        if (!memmem(l, n, "seconds", 7)) {
            memmove(o, l, n);
            o += n;
        }
        l += n;
    }
    *o = '\0';
}

/* evaluate on arrays holding the test split = mvae_evaluate on the dataset's test split */
static void test_evaluate_matches_dataset(void **state) {
    fixture *f = *state;
    mvae_run *r = open_ok(f, "best");
    mvae_arrays *x = test_arrays(r, 100, true, true);
    char msg[MVAE_API_MSG_MAX], *json = NULL;
    int rc = mvae_run_evaluate(r, x, 1, &json, msg, sizeof msg);
    if (rc) fprintf(stderr, "evaluate: %s\n", msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_assert_has(json, "\"elbo\"");
    mvae_assert_has(json, "\"image->label\"");
    /* the reference */
    mvae_error err = {0};
    mvae_cfg *cfg = NULL;
    char path[400];
    snprintf(path, sizeof path, "%s/config.yaml", f->run);
    assert_int_equal(mvae_cfg_load_file(path, &cfg, &err), MVAE_OK);
    mvae_model *m = NULL;
    assert_int_equal(mvae_model_build(cfg, f->e->reg, &m, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/best.ckpt", f->run);
    assert_int_equal(mvae_run_checkpoint_load(m, path, NULL, NULL, false, NULL, &err), MVAE_OK);
    mvae_eval_result *e = malloc(sizeof *e);
    assert_int_equal(mvae_evaluate(m, MVAE_SPLIT_TEST, e, true, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/ref.json", f->e->dir);
    assert_int_equal(mvae_write_metrics_json(path, e, NULL, &err), MVAE_OK);
    char *ref = tiny_slurp(path, NULL);
    strip_seconds(ref);
    strip_seconds(json);
    assert_string_equal(json, ref);
    /* a different test set gives different metrics (the arrays are really read) */
    mvae_arrays *x2 = test_arrays(r, 60, true, true);
    char *json2 = NULL;
    assert_int_equal(mvae_run_evaluate(r, x2, 1, &json2, msg, sizeof msg), MVAE_OK);
    mvae_assert_has(json2, "\"test_points\": 60");
    free(ref);
    free(e);
    mvae_api_free(json);
    mvae_api_free(json2);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_arrays_free(x);
    mvae_arrays_free(x2);
    mvae_run_close(r);
}

static void test_decode(void **state) {
    fixture *f = *state;
    mvae_run *r = open_ok(f, "last");
    const int N = 70, D = 8; /* more than one eval batch */
    char msg[MVAE_API_MSG_MAX];
    float *z = malloc(N * D * sizeof *z), *p = malloc(N * 784 * sizeof *p), *lg = malloc(N * 784 * sizeof *lg);
    float *c = malloc(N * 10 * sizeof *c);
    assert_int_equal(mvae_run_sample(r, NULL, NULL, N, 3, z, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_run_decode(r, z, N, "image", 0, p, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_run_decode(r, z, N, "image", 1, lg, msg, sizeof msg), MVAE_OK);
    for (int i = 0; i < N * 784; i++) {
        assert_true(p[i] >= 0.0f && p[i] <= 1.0f);
        assert_float_equal(p[i], 1.0 / (1.0 + exp(-(double)lg[i])), 1e-5);
    }
    assert_int_equal(mvae_run_decode(r, z, N, "label", 0, c, msg, sizeof msg), MVAE_OK);
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < 10; k++) s += c[i * 10 + k];
        assert_float_equal(s, 1.0, 1e-5);
    }
    z[5] = NAN;
    assert_int_equal(mvae_run_decode(r, z, N, "label", 0, c, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "decode: z row 0 holds a non-finite value");
    free(z);
    free(p);
    free(lg);
    free(c);
    mvae_run_close(r);
}

/* sample + decode = `mvae sample`'s picture for the same seed (given a label, and from the prior) */
static void test_sample_matches_mvae_sample(void **state) {
    fixture *f = *state;
    const int N = 16, D = 8;
    char msg[MVAE_API_MSG_MAX], png[400];
    snprintf(png, sizeof png, "%s/s.png", f->e->dir);
    mvae_run *r = open_ok(f, "last");
    mvae_arrays *x = NULL;
    assert_int_equal(mvae_arrays_new(r, N, &x, msg, sizeof msg), MVAE_OK);
    int32_t lab[16];
    for (int i = 0; i < N; i++) lab[i] = 3;
    assert_int_equal(mvae_arrays_set(x, "label", lab, N, msg, sizeof msg), MVAE_OK);
    float z[16 * 8], img[16 * 784];
    /* the reference: mvae_sample on the same run (a model of its own) */
    mvae_error err = {0};
    mvae_cfg *cfg = NULL;
    char path[400];
    snprintf(path, sizeof path, "%s/config.yaml", f->run);
    assert_int_equal(mvae_cfg_load_file(path, &cfg, &err), MVAE_OK);
    mvae_model *m = NULL;
    assert_int_equal(mvae_model_build(cfg, f->e->reg, &m, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/last.ckpt", f->run);
    assert_int_equal(mvae_run_checkpoint_load(m, path, NULL, NULL, false, NULL, &err), MVAE_OK);
    for (int prior = 0; prior < 2; prior++) {
        assert_int_equal(mvae_run_sample(r, prior ? NULL : x, prior ? NULL : "label", N, 11, z, msg, sizeof msg), MVAE_OK);
        assert_int_equal(mvae_run_decode(r, z, N, "image", 0, img, msg, sizeof msg), MVAE_OK);
        assert_int_equal(mvae_sample(m, prior ? NULL : "label=3", NULL, N, 11, png, NULL, &err), MVAE_OK);
        uint8_t *px;
        int w, h, ch;
        assert_int_equal(mvae_png_read(png, &px, &w, &h, &ch, &err), MVAE_OK);
        assert_int_equal(w, 4 * 28 + 3 * 2); /* 4 x 4 tiles, 2 pixels between */
        int diff = 0;
        for (int i = 0; i < N; i++)
            for (int y = 0; y < 28; y++)
                for (int xx = 0; xx < 28; xx++) {
                    float v = img[i * 784 + y * 28 + xx];
                    int want = v > 0 ? (v >= 1 ? 255 : (int)lrintf(v * 255.0f)) : 0;
                    int got = px[((i / 4) * 30 + y) * w * ch + ((i % 4) * 30 + xx) * ch];
                    diff += want != got;
                }
        assert_int_equal(diff, 0);
        free(px);
    }
    /* the same seed, the same draws; errors */
    float z2[16 * 8];
    assert_int_equal(mvae_run_sample(r, x, "label", N, 11, z2, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_run_sample(r, x, "label", N, 11, z, msg, sizeof msg), MVAE_OK);
    assert_memory_equal(z, z2, sizeof z);
    assert_int_equal(mvae_run_sample(r, x, "label", N - 1, 11, z, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "sample: n is 15 but the given arrays hold 16 samples");
    assert_int_equal(mvae_run_sample(r, x, "image", N, 11, z, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "sample: given: 'image' is given but the arrays hold no 'image'");
    (void)D;
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_arrays_free(x);
    mvae_run_close(r);
}

typedef struct {
    int epochs, batches, stop_after_epoch, stop_at_batch;
    char last_line[4096];
} counter;
static int count_batch(void *u, int epoch, int64_t batch, int64_t nb, double loss) {
    counter *c = u;
    c->batches++;
    assert_true(batch >= 1 && batch <= nb && epoch >= 1 && isfinite(loss));
    return c->stop_at_batch && c->batches == c->stop_at_batch;
}
static int count_epoch(void *u, const char *line) {
    counter *c = u;
    c->epochs++;
    snprintf(c->last_line, sizeof c->last_line, "%s", line);
    return c->stop_after_epoch && c->epochs == c->stop_after_epoch;
}

static int jsonl_lines(const char *dir) {
    char p[400];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    char *s = tiny_slurp(p, NULL);
    int n = 0;
    for (char *q = s; q && *q; q++) n += *q == '\n';
    free(s);
    return n;
}

static void test_train_stop_and_resume(void **state) {
    fixture *f = *state;
    char msg[MVAE_API_MSG_MAX], dir[400];
    char *out_dir = NULL, *metrics = NULL;
    snprintf(dir, sizeof dir, "%s/stopped", f->e->dir);
    const char *sets[] = {"train.epochs=3"};
    /* stopped by the epoch hook after epoch 1: the run holds epoch 1 */
    counter c = {.stop_after_epoch = 1};
    int rc = mvae_api_train(f->yaml, sets, 1, dir, MVAE_API_QUIET, count_batch, count_epoch, &c, &out_dir, &metrics, msg,
                            sizeof msg);
    assert_int_equal(rc, MVAE_ERR_INTERRUPTED);
    mvae_assert_has(msg, "training stopped after epoch 1 of 3 on request");
    mvae_assert_has(msg, "--resume");
    assert_string_equal(out_dir, dir);
    assert_null(metrics);
    assert_int_equal(c.epochs, 1);
    assert_int_equal(c.batches, 6); /* 300 / 50 */
    mvae_assert_has(c.last_line, "{\"epoch\": 1, \"loss\": ");
    assert_int_equal(c.last_line[strlen(c.last_line) - 1], '}');
    assert_int_equal(jsonl_lines(dir), 1);
    mvae_api_free(out_dir);
    /* a new run on it is refused; resume refuses a model change */
    rc = mvae_api_train(f->yaml, sets, 1, dir, MVAE_API_QUIET, NULL, NULL, NULL, NULL, NULL, msg, sizeof msg);
    assert_int_equal(rc, MVAE_ERR_INVALID);
    mvae_assert_has(msg, "already holds a trained run");
    rc = mvae_api_train(NULL, sets, 1, dir, MVAE_API_RESUME | MVAE_API_QUIET, NULL, NULL, NULL, NULL, NULL, msg, sizeof msg);
    assert_int_equal(rc, MVAE_ERR_INVALID);
    mvae_assert_has(msg, "set train.epochs=3: an existing run keeps its config.yaml");
    /* interrupted by the batch hook in epoch 2: the run still holds epoch 1 */
    counter c2 = {.stop_at_batch = 2};
    rc = mvae_api_train(NULL, NULL, 0, dir, MVAE_API_RESUME | MVAE_API_QUIET, count_batch, count_epoch, &c2, NULL, NULL, msg,
                        sizeof msg);
    assert_int_equal(rc, MVAE_ERR_INTERRUPTED);
    mvae_assert_has(msg, "training interrupted in epoch 2 (batch 2 of 6)");
    mvae_assert_has(msg, "holds epoch 1");
    assert_int_equal(jsonl_lines(dir), 1);
    /* resumed to the end: epochs 2 and 3, then the evaluation */
    counter c3 = {0};
    rc = mvae_api_train(NULL, NULL, 0, dir, MVAE_API_RESUME | MVAE_API_QUIET, count_batch, count_epoch, &c3, NULL, &metrics,
                        msg, sizeof msg);
    if (rc) fprintf(stderr, "resume: %s\n", msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(c3.epochs, 2);
    assert_int_equal(c3.batches, 12);
    mvae_assert_has(c3.last_line, "{\"epoch\": 3,");
    assert_int_equal(jsonl_lines(dir), 3);
    mvae_assert_has(metrics, "\"elbo\"");
    mvae_api_free(metrics);
    /* stopped in the first epoch: nothing to resume, and the message says so */
    snprintf(dir, sizeof dir, "%s/early", f->e->dir);
    counter c4 = {.stop_at_batch = 1};
    rc = mvae_api_train(f->yaml, NULL, 0, dir, MVAE_API_QUIET, count_batch, NULL, &c4, NULL, NULL, msg, sizeof msg);
    assert_int_equal(rc, MVAE_ERR_INTERRUPTED);
    mvae_assert_has(msg, "before any checkpoint: nothing to resume");
    /* errors carry the experiment's place */
    const char *typo[] = {"train.epochz=2"};
    snprintf(dir, sizeof dir, "%s/typo", f->e->dir);
    rc = mvae_api_train(f->yaml, typo, 1, dir, MVAE_API_QUIET, NULL, NULL, NULL, NULL, NULL, msg, sizeof msg);
    assert_int_equal(rc, MVAE_ERR_INVALID);
    mvae_assert_has(msg, "unknown key 'epochz'");
    mvae_assert_has(msg, "did you mean 'epochs'");
    rc = mvae_api_train(NULL, NULL, 0, NULL, MVAE_API_RESUME, NULL, NULL, NULL, NULL, NULL, msg, sizeof msg);
    assert_int_equal(rc, MVAE_ERR_INVALID);
    mvae_assert_has(msg, "resuming needs the run directory");
}

/* per-sample presence: a sample without the label is encoded from its image alone */
static void test_presence(void **state) {
    fixture *f = *state;
    mvae_run *r = open_ok(f, "last");
    const int N = 60, D = 8;
    mvae_arrays *x = test_arrays(r, N, true, true);
    char msg[MVAE_API_MSG_MAX];
    uint8_t pres[60];
    for (int i = 0; i < N; i++) pres[i] = i % 2 == 0;
    float both[60 * 8], img[60 * 8], lab[60 * 8], lv[60 * 8], m2[60 * 8];
    assert_int_equal(mvae_run_encode(r, x, "image,label", 0, both, NULL, NULL, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_run_encode(r, x, "image", 0, img, NULL, NULL, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_arrays_set_present(x, "label", pres, N - 1, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "presence of 'label': 59 flags for 60 samples");
    assert_int_equal(mvae_arrays_set_present(x, "label", pres, N, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_run_encode(r, x, "image,label", 0, m2, NULL, NULL, msg, sizeof msg), MVAE_OK);
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) assert_float_equal(m2[i * D + d], (i % 2 ? img : both)[i * D + d], 1e-6);
    /* given the label alone, a sample without it gets the prior expert alone: N(0, I) */
    assert_int_equal(mvae_run_encode(r, x, "label", 0, lab, lv, NULL, msg, sizeof msg), MVAE_OK);
    assert_float_equal(lab[1 * D], 0.0, 1e-6);
    assert_float_equal(lv[1 * D], 0.0, 1e-6);
    assert_true(fabsf(lab[0]) > 1e-4);
    char *json = NULL;
    assert_int_equal(mvae_run_evaluate(r, x, 1, &json, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "evaluate: 'label' is missing for 30 of 60 samples");
    memset(pres, 0, sizeof pres);
    assert_int_equal(mvae_arrays_set_present(x, "label", pres, N, msg, sizeof msg), MVAE_OK);
    assert_int_equal(mvae_run_encode(r, x, "label", 0, lab, NULL, NULL, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "encode: samples 0..49 have none of the given modalities (label)");
    mvae_arrays *y = test_arrays(r, N, true, false);
    assert_int_equal(mvae_arrays_set_present(y, "label", pres, N, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "the arrays hold no 'label' (set it first)");
    mvae_arrays_free(y);
    mvae_arrays_free(x);
    mvae_run_close(r);
}

/* a mixture fusion: q(z | .) has a mean and draws, no single log-variance */
static void test_encode_mixture(void **state) {
    fixture *f = *state;
    char msg[MVAE_API_MSG_MAX], dir[400];
    snprintf(dir, sizeof dir, "%s/moe", f->e->dir);
    const char *sets[] = {"train.epochs=1", "fusion.plugin=moe"};
    assert_int_equal(mvae_api_train(f->yaml, sets, 2, dir, MVAE_API_QUIET, NULL, NULL, NULL, NULL, NULL, msg, sizeof msg),
                     MVAE_OK);
    mvae_run *r = NULL;
    assert_int_equal(mvae_run_open(dir, NULL, NULL, 0, 0, &r, msg, sizeof msg), MVAE_OK);
    mvae_arrays *x = test_arrays(r, 10, true, true);
    float mu[10 * 8], lv[10 * 8], z[10 * 8];
    assert_int_equal(mvae_run_encode(r, x, "image,label", 1, mu, lv, z, msg, sizeof msg), MVAE_ERR_INVALID);
    mvae_assert_has(msg, "fusion 'moe' makes q(z | image,label) a mixture, which has no single log-variance");
    assert_int_equal(mvae_run_encode(r, x, "image,label", 1, mu, NULL, z, msg, sizeof msg), MVAE_OK);
    /* the mixture's mean: the average of the two experts' (uniform weights, both present) */
    float mi[10 * 8], ml[10 * 8];
    float lvi[10 * 8];
    assert_int_equal(mvae_run_encode(r, x, "image", 1, mi, lvi, NULL, msg, sizeof msg), MVAE_OK); /* one component */
    assert_true(isfinite(lvi[0]) && lvi[0] != 0.0f);
    assert_int_equal(mvae_run_encode(r, x, "label", 1, ml, NULL, NULL, msg, sizeof msg), MVAE_OK);
    for (int i = 0; i < 10 * 8; i++) assert_float_equal(mu[i], 0.5f * (mi[i] + ml[i]), 1e-5);
    mvae_arrays_free(x);
    mvae_run_close(r);
}

static int n_logged;
static void count_log(int level, const char *m, void *user) {
    (void)user;
    if (level == 1 && !strcmp(m, "a line for the sink")) n_logged++;
    else n_logged += 100;
}
static void test_log_sink(void **state) {
    fixture *f = *state;
    mvae_api_set_log_sink(count_log, NULL);
    int prev = mvae_api_set_log_level(1);
    (void)f;
    MVAE_INFO("a line for the sink");
    MVAE_DEBUG("below the level: not passed on");
    mvae_api_set_log_sink(NULL, NULL);
    MVAE_WARN("to stderr again, not to the sink");
    mvae_api_set_log_level(prev);
    assert_int_equal(n_logged, 1);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_open_and_describe),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_arrays_checks),
        cmocka_unit_test(test_encode_matches_model),
        cmocka_unit_test(test_evaluate_matches_dataset),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_sample_matches_mvae_sample),
        cmocka_unit_test(test_train_stop_and_resume),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_encode_mixture),
        cmocka_unit_test(test_log_sink),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("api", tests, setup, teardown);
}
