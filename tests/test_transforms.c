/* test_transforms.c — the transform plugins (gray, edges, segmentation) on synthetic images, the
 * experiment's `transforms:` section (derived modalities built, filled per batch, errors), the
 * eval.cross metrics and pictures, and the metric functions (PSNR, IoU, F1). */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/model.h"
#include "mvae/train.h"
#include "tiny_data.h"

#include <sys/stat.h>

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "tf", 200, 60); }
static int env_teardown(void **state) { return tiny_env_close(state); }

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle)) fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

static mvae_modality_info image_info(int c, int h, int w) {
    mvae_modality_info m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "image");
    m.type = MVAE_MOD_IMAGE;
    m.ndim = 3;
    m.shape[0] = c;
    m.shape[1] = h;
    m.shape[2] = w;
    return m;
}

/* Create transform `name` with options from a YAML flow map. */
static int make_tf(env *e, const char *name, const char *yaml, const mvae_modality_info *src, mvae_modality_info *out,
                   void **self, const mvae_transform_vtable **vt, mvae_cfg **cfg, mvae_error *err) {
    memset(err, 0, sizeof *err);
    const mvae_plugin_desc *d = mvae_registry_find(e->reg, MVAE_PLUGIN_TRANSFORM, name);
    assert_non_null(d);
    *vt = d->vtable;
    assert_int_equal(mvae_cfg_load_string(yaml, "tf.yaml", cfg, err), MVAE_OK);
    static const char *const extra[] = {"plugin", "from", NULL};
    int rc = mvae_cfg_validate(*cfg, mvae_cfg_root(*cfg), d->options, name, extra, err);
    if (rc) return rc;
    return (*vt)->create(mvae_cfg_root(*cfg), src, out, self, err);
}

static void test_gray(void **state) {
    env *e = *state;
    mvae_error err = {0};
    mvae_modality_info src = image_info(3, 1, 2), out;
    void *self;
    const mvae_transform_vtable *vt;
    mvae_cfg *cfg;
    assert_int_equal(make_tf(e, "gray", "plugin: gray\n", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_int_equal(out.type, MVAE_MOD_IMAGE);
    assert_int_equal(out.shape[0], 1);
    assert_int_equal(out.shape[1], 1);
    assert_int_equal(out.shape[2], 2);
    /* two samples, planar [R R G G B B] */
    const float x[12] = {1, 0, 0, 0, 0, 1, /* pixel 0 red, pixel 1 blue */ 0.5f, 1, 0.5f, 1, 0.5f, 1};
    float y[4];
    assert_int_equal(vt->apply(self, x, y, 2, &err), MVAE_OK);
    assert_float_equal(y[0], 0.299f, 1e-6);
    assert_float_equal(y[1], 0.114f, 1e-6);
    assert_float_equal(y[2], 0.5f, 1e-6);
    assert_float_equal(y[3], 1.0f, 1e-5);
    vt->destroy(self);
    mvae_cfg_free(cfg);
    /* a categorical source is refused */
    mvae_modality_info lab = {.name = "label", .type = MVAE_MOD_CATEGORICAL, .ndim = 1, .shape = {1}, .n_classes = 10};
    assert_int_not_equal(make_tf(e, "gray", "plugin: gray\n", &lab, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "needs an image");
    mvae_cfg_free(cfg);
}

static void test_edges_step(void **state) {
    env *e = *state;
    mvae_error err = {0};
    mvae_modality_info src = image_info(1, 8, 8), out;
    void *self;
    const mvae_transform_vtable *vt;
    mvae_cfg *cfg;
    assert_int_equal(make_tf(e, "edges", "plugin: edges\n", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    float x[64], y[64];
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++) x[r * 8 + c] = c >= 4 ? 1.0f : 0.0f; /* a vertical step */
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++) {
            /* columns 3 and 4 see the full step: |gx| = 4 -> 0.25 * 4 = 1; elsewhere flat */
            float want = (c == 3 || c == 4) ? 1.0f : 0.0f;
            assert_float_equal(y[r * 8 + c], want, 1e-6);
        }
    vt->destroy(self);
    mvae_cfg_free(cfg);
    /* a half step (0 -> 0.25) with threshold 0.5: soft value 0.25 falls below, so no edge;
     * scale 1 doubles it past the threshold */
    for (int i = 0; i < 64; i++) x[i] = (i % 8) >= 4 ? 0.25f : 0.0f;
    assert_int_equal(make_tf(e, "edges", "{plugin: edges, threshold: 0.5}", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    for (int i = 0; i < 64; i++) assert_float_equal(y[i], 0.0f, 0);
    vt->destroy(self);
    mvae_cfg_free(cfg);
    assert_int_equal(make_tf(e, "edges", "{plugin: edges, threshold: 0.5, scale: 1.0}", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    for (int i = 0; i < 64; i++) assert_float_equal(y[i], (i % 8 == 3 || i % 8 == 4) ? 1.0f : 0.0f, 0);
    vt->destroy(self);
    mvae_cfg_free(cfg);
    /* RGB source: luminance first (a pure green step of 1 -> |gx| = 4 * 0.587) */
    mvae_modality_info rgb = image_info(3, 4, 4);
    float xr[48] = {0}, yr[16];
    for (int p = 0; p < 16; p++) xr[16 + p] = (p % 4) >= 2 ? 1.0f : 0.0f;
    assert_int_equal(make_tf(e, "edges", "plugin: edges\n", &rgb, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_int_equal(vt->apply(self, xr, yr, 1, &err), MVAE_OK);
    assert_float_equal(yr[1], 0.587f, 1e-5);
    assert_float_equal(yr[0], 0.0f, 1e-6);
    vt->destroy(self);
    mvae_cfg_free(cfg);
    /* bad options */
    assert_int_not_equal(make_tf(e, "edges", "{plugin: edges, threshold: 1.5}", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "threshold");
    mvae_cfg_free(cfg);
    assert_int_not_equal(make_tf(e, "edges", "{plugin: edges, method: canny, low: 0.5, high: 0.2}", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "low <= high");
    mvae_cfg_free(cfg);
}

/* Canny on a blurred vertical step: one thin line, one pixel per interior row, borders empty;
 * a faint step below `high` gives nothing; a faint step connected to a strong one is kept. */
static void test_edges_canny(void **state) {
    env *e = *state;
    mvae_error err = {0};
    enum { N = 16 };
    mvae_modality_info src = image_info(1, N, N), out;
    void *self;
    const mvae_transform_vtable *vt;
    mvae_cfg *cfg;
    assert_int_equal(make_tf(e, "edges", "{plugin: edges, method: canny, sigma: 1.0, low: 0.1, high: 0.3}", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    float x[N * N], y[N * N];
    for (int r = 0; r < N; r++)
        for (int c = 0; c < N; c++) x[r * N + c] = c >= N / 2 ? 1.0f : 0.0f;
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    for (int r = 0; r < N; r++) {
        int count = 0, col = -1;
        for (int c = 0; c < N; c++) {
            assert_true(y[r * N + c] == 0.0f || y[r * N + c] == 1.0f);
            if (y[r * N + c] > 0) count++, col = c;
        }
        if (r == 0 || r == N - 1) {
            assert_int_equal(count, 0);
        } else {
            assert_int_equal(count, 1);
            assert_true(col == N / 2 - 1 || col == N / 2);
        }
    }
    /* a faint step (0.1: scaled magnitude below high = 0.3 everywhere) has no strong pixel */
    for (int i = 0; i < N * N; i++) x[i] = (i % N) >= N / 2 ? 0.1f : 0.0f;
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    for (int i = 0; i < N * N; i++) assert_float_equal(y[i], 0.0f, 0);
    /* a step fading from 1 (top) to 0.2 (bottom): its scaled magnitude (~0.62 x height) falls
     * below high = 0.3 in the lower rows, but hysteresis keeps them, connected to the strong top */
    for (int r = 0; r < N; r++)
        for (int c = 0; c < N; c++) x[r * N + c] = c >= N / 2 ? 1.0f - 0.8f * (float)r / (N - 1) : 0.0f;
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    int rows_with_edge = 0;
    for (int r = 1; r < N - 1; r++) {
        int count = 0;
        for (int c = 0; c < N; c++) count += y[r * N + c] > 0;
        rows_with_edge += count > 0;
    }
    assert_int_equal(rows_with_edge, N - 2);
    vt->destroy(self);
    mvae_cfg_free(cfg);
    /* without hysteresis (low = high) the faint rows are lost */
    assert_int_equal(make_tf(e, "edges", "{plugin: edges, method: canny, sigma: 1.0, low: 0.3, high: 0.3}", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    rows_with_edge = 0;
    for (int r = 1; r < N - 1; r++) {
        int count = 0;
        for (int c = 0; c < N; c++) count += y[r * N + c] > 0;
        rows_with_edge += count > 0;
    }
    assert_true(rows_with_edge < N - 2);
    assert_true(rows_with_edge > 4);
    vt->destroy(self);
    mvae_cfg_free(cfg);
}

static void test_segmentation(void **state) {
    env *e = *state;
    mvae_error err = {0};
    mvae_modality_info src = image_info(1, 1, 4), out;
    void *self;
    const mvae_transform_vtable *vt;
    mvae_cfg *cfg;
    assert_int_equal(make_tf(e, "segmentation", "plugin: segmentation\n", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    const float x[4] = {0.0f, 0.49f, 0.51f, 1.0f};
    float y[4];
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    assert_float_equal(y[0], 0, 0);
    assert_float_equal(y[1], 0, 0);
    assert_float_equal(y[2], 1, 0);
    assert_float_equal(y[3], 1, 0);
    vt->destroy(self);
    mvae_cfg_free(cfg);
    assert_int_equal(make_tf(e, "segmentation", "{plugin: segmentation, threshold: 0.0}", &src, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_int_equal(vt->apply(self, x, y, 1, &err), MVAE_OK);
    assert_float_equal(y[0], 0, 0);
    assert_float_equal(y[1], 1, 0);
    vt->destroy(self);
    mvae_cfg_free(cfg);
    /* an RGB source is refused: the mask comes from a one-channel (alpha) image */
    mvae_modality_info rgb = image_info(3, 2, 2);
    assert_int_not_equal(make_tf(e, "segmentation", "plugin: segmentation\n", &rgb, &out, &self, &vt, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "one-channel");
    mvae_cfg_free(cfg);
}

/* ---------------------------------------------------------------------- transforms: section */
static char *tf_yaml(env *e) {
    char *y = tiny_yaml(e->data);
    y = tiny_replace(y, "latent_dim: 8\n", "transforms:\n  edges: {plugin: edges, from: image}\n  bin: {plugin: segmentation, from: edges, threshold: 0.2}\nlatent_dim: 8\n");
    y = tiny_replace(y, "  label:\n", "  edges:\n    encoder: {plugin: mlp, hidden: [32]}\n    decoder: {plugin: mlp, hidden: [32]}\n  label:\n");
    return y;
}

static int build_yaml(env *e, const char *y, const char *const *sets, mvae_cfg **cfg, mvae_model **m, mvae_error *err) {
    *m = NULL;
    memset(err, 0, sizeof *err);
    int rc = mvae_cfg_load_string(y, "tf.yaml", cfg, err);
    for (int i = 0; !rc && sets && sets[i]; i++) rc = mvae_cfg_set(*cfg, sets[i], err);
    if (!rc) rc = mvae_model_build(*cfg, e->reg, m, err);
    return rc;
}

static void test_experiment_transforms(void **state) {
    env *e = *state;
    mvae_error err = {0};
    char *y = tf_yaml(e);
    mvae_cfg *cfg;
    mvae_model *m;
    int rc = build_yaml(e, y, NULL, &cfg, &m, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(m->n_tf, 2);
    assert_int_equal(m->n_mod, 3);
    int k = mvae_model_find(m, "edges");
    assert_true(k >= 0);
    assert_int_equal(m->mod[k].info.type, MVAE_MOD_IMAGE);
    assert_int_equal(m->mod[k].info.shape[0], 1);
    assert_int_equal(m->mod[k].info.shape[1], 28);
    assert_int_equal(m->tf[1].src, m->n_ds_modalities); /* bin derives from edges */
    assert_int_equal(m->tf[1].root, 0);
    /* a batch: the derived modality equals the transform applied to the image */
    mvae_batch b;
    int64_t idx[4] = {0, 5, 9, 17};
    assert_int_equal(mvae_batch_init(&b, m, 4, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 4, NULL, &err), MVAE_OK);
    int img = mvae_model_find(m, "image");
    float *want = malloc(4 * 784 * sizeof(float));
    const mvae_transform_vtable *vt = m->tf[0].desc->vtable;
    assert_int_equal(vt->apply(m->tf[0].self, b.x[img], want, 4, &err), MVAE_OK);
    double maxv = 0;
    for (int i = 0; i < 4 * 784; i++) {
        assert_float_equal(b.x[k][i], want[i], 0);
        maxv = fmax(maxv, b.x[k][i]);
    }
    assert_true(maxv > 0.5); /* the bars have edges */
    for (int i = 0; i < 4; i++) assert_int_equal(b.present[i * m->n_mod + k], 1);
    /* the chained transform's buffer (not a model modality) is filled too */
    const float *bin = b.ds_bufs[m->n_ds_modalities + 1];
    for (int i = 0; i < 4 * 784; i++) assert_float_equal(bin[i], want[i] > 0.2f ? 1.0f : 0.0f, 0);
    free(want);
    mvae_batch_free(&b);
    /* a short training run with eval.cross: metrics.json gains test.cross */
    char run[300];
    snprintf(run, sizeof run, "%s/run_tf", e->dir);
    const char *sets[] = {"train.epochs=1", "eval.pictures=true",
                          "eval.cross=[{from: image, to: edges, metric: psnr}, {from: edges, to: label, metric: accuracy}, "
                          "{from: image, to: edges, metric: iou}, {from: image, to: edges, metric: f1}]",
                          NULL};
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    rc = build_yaml(e, y, sets, &cfg, &m, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_train_opts o = {.run_dir = run, .quiet = true};
    mvae_train_result r;
    rc = mvae_train(m, &o, &r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(r.eval.n_cross, 4);
    assert_string_equal(r.eval.cross_name[0], "image->edges");
    assert_true(r.eval.cross[0][0] > 0 && r.eval.cross[0][0] <= 100);
    assert_true(r.eval.cross[1][0] >= 0 && r.eval.cross[1][0] <= 1);
    assert_true(r.eval.cross[2][0] >= 0 && r.eval.cross[2][0] <= 1);
    assert_true(r.eval.cross[3][2] >= 0 && r.eval.cross[3][2] <= 1);
    char p[400];
    snprintf(p, sizeof p, "%s/metrics.json", run);
    char *js = tiny_slurp(p, NULL);
    assert_non_null(js);
    assert_has(js, "\"cross\": {\"image->edges\": {\"psnr\": ");
    assert_has(js, "\"iou\": ");
    assert_has(js, "\"f1_macro\": ");
    assert_has(js, "\"edges->label\": {\"accuracy\": ");
    free(js);
    struct stat st;
    snprintf(p, sizeof p, "%s/cross_edges.png", run);
    assert_int_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/cross_image.png", run);
    assert_int_equal(stat(p, &st), 0);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    free(y);
}

static void test_experiment_transform_errors(void **state) {
    env *e = *state;
    mvae_error err = {0};
    mvae_cfg *cfg;
    mvae_model *m;
    char *y = tf_yaml(e);
    /* unknown source: a hint */
    char *y1 = tiny_replace(strdup(y), "from: image}", "from: imgae}");
    assert_int_not_equal(build_yaml(e, y1, NULL, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "did you mean 'image'");
    mvae_cfg_free(cfg);
    free(y1);
    /* a name the dataset already has */
    y1 = tiny_replace(strdup(y), "  edges: {plugin: edges, from: image}", "  label: {plugin: edges, from: image}");
    assert_int_not_equal(build_yaml(e, y1, NULL, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "name is taken");
    mvae_cfg_free(cfg);
    free(y1);
    /* unknown transform plugin and unknown option */
    y1 = tiny_replace(strdup(y), "{plugin: edges, from: image}", "{plugin: edgez, from: image}");
    assert_int_not_equal(build_yaml(e, y1, NULL, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "did you mean 'edges'");
    mvae_cfg_free(cfg);
    free(y1);
    y1 = tiny_replace(strdup(y), "{plugin: edges, from: image}", "{plugin: edges, from: image, treshold: 0.3}");
    assert_int_not_equal(build_yaml(e, y1, NULL, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "did you mean 'threshold'");
    mvae_cfg_free(cfg);
    free(y1);
    /* missing from */
    y1 = tiny_replace(strdup(y), "{plugin: edges, from: image}", "{plugin: edges}");
    assert_int_not_equal(build_yaml(e, y1, NULL, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "missing key 'from'");
    mvae_cfg_free(cfg);
    free(y1);
    /* the plugin refuses the source: a categorical label */
    y1 = tiny_replace(strdup(y), "{plugin: edges, from: image}", "{plugin: edges, from: label}");
    assert_int_not_equal(build_yaml(e, y1, NULL, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "transforms.edges (edges)");
    mvae_cfg_free(cfg);
    free(y1);
    /* eval.cross: a bad metric for the modality, an unknown modality */
    /* refused when the model is built (before any epoch), not after training */
    const char *s1[] = {"eval.cross=[{from: image, to: label, metric: psnr}]", NULL};
    assert_int_not_equal(build_yaml(e, y, s1, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "use accuracy");
    mvae_cfg_free(cfg);
    const char *s2[] = {"eval.cross=[{from: image, to: edgse, metric: psnr}]", NULL};
    assert_int_not_equal(build_yaml(e, y, s2, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "'edgse' is not a modality");
    mvae_cfg_free(cfg);
    const char *s3[] = {"eval.cross=[{from: image, to: edges, metric: psnrr}]", NULL};
    assert_int_not_equal(build_yaml(e, y, s3, &cfg, &m, &err), MVAE_OK);
    assert_has(err.msg, "psnrr");
    mvae_cfg_free(cfg);
    free(y);
}

/* ---------------------------------------------------------------------------------- metrics */
static void test_metric_functions(void **state) {
    (void)state;
    float a[100], b[100];
    for (int i = 0; i < 100; i++) a[i] = b[i] = (float)i / 100.0f;
    assert_float_equal(mvae_psnr(a, b, 100), 100.0, 0);
    for (int i = 0; i < 100; i++) b[i] = a[i] + 0.1f; /* mse 0.01 -> 20 dB */
    assert_float_equal(mvae_psnr(a, b, 100), 20.0, 1e-4);
    /* IoU: pred {0,1,2,3} > 0.5, target {2,3,4} -> 2 / 5 */
    float p[6] = {0.9f, 0.8f, 0.7f, 0.6f, 0.1f, 0.0f}, t[6] = {0, 0, 1, 1, 1, 0};
    assert_float_equal(mvae_iou(p, t, 6, 0.5f), 0.4, 1e-12);
    float z[3] = {0, 0, 0};
    assert_float_equal(mvae_iou(z, z, 3, 0.5f), 1.0, 0);
    /* F1: two samples, three attributes */
    float pr[6] = {1, 0, 1, /**/ 1, 1, 0}, tg[6] = {1, 0, 0, /**/ 0, 1, 0};
    int64_t tp[3] = {0}, fp[3] = {0}, fn[3] = {0}, tn[3] = {0};
    mvae_binary_counts(pr, tg, 2, 3, tp, fp, fn, tn);
    assert_int_equal(tp[0], 1);
    assert_int_equal(fp[0], 1);
    assert_int_equal(tp[1], 1);
    assert_int_equal(tn[1], 1);
    assert_int_equal(fp[2], 1);
    assert_int_equal(tn[2], 1);
    assert_float_equal(mvae_f1(tp[0], fp[0], fn[0]), 2.0 / 3.0, 1e-12);
    assert_float_equal(mvae_f1(tp[1], fp[1], fn[1]), 1.0, 0);
    assert_float_equal(mvae_f1(tp[2], fp[2], fn[2]), 0.0, 0);
    assert_true(isnan(mvae_f1(0, 0, 0)));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gray),
        cmocka_unit_test(test_edges_step),
        cmocka_unit_test(test_edges_canny),
        cmocka_unit_test(test_segmentation),
        cmocka_unit_test(test_experiment_transforms),
        cmocka_unit_test(test_experiment_transform_errors),
        cmocka_unit_test(test_metric_functions),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("transforms", tests, env_setup, env_teardown);
}
