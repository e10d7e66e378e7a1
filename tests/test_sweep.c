/* test_sweep.c — sweeps on a tiny generated Fashion-MNIST-format dataset: grid expansion, naming,
 * validation errors, running (tiny nets, 1 epoch, few batches), resumability, the report, and
 * dataset.paired_only (the baseline trained on the paired subset alone). */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/model.h"
#include "mvae/plugin.h"
#include "mvae/sweep.h"
#include "mvae/train.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define N_TRAIN 200
#define N_TEST 40

static char g_dir[64];       /* dataset and sweeps live here */
static mvae_registry *g_reg;

/* ---- the IDX writer of test_plugin.c ---- */
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint8_t fx_label(int split, int i) { return (uint8_t)((split * 3 + i) % 10); }
/* images that depend on the label, so that there is something to learn */
static uint8_t fx_pixel(int split, int i, int k) {
    int l = fx_label(split, i);
    return (uint8_t)(((k / 28) / 3 == l) ? 220 : ((split * 101 + i * 7 + k) % 40));
}
static void write_images(const char *dir, const char *prefix, int split, int n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    uint8_t h[16];
    put_be32(h, 0x803), put_be32(h + 4, (uint32_t)n), put_be32(h + 8, 28), put_be32(h + 12, 28);
    assert_int_equal(gzwrite(g, h, 16), 16);
    uint8_t px[784];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 784; k++) px[k] = fx_pixel(split, i, k);
        assert_int_equal(gzwrite(g, px, 784), 784);
    }
    gzclose(g);
}
static void write_labels(const char *dir, const char *prefix, int split, int n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    uint8_t h[8];
    put_be32(h, 0x801), put_be32(h + 4, (uint32_t)n);
    assert_int_equal(gzwrite(g, h, 8), 8);
    for (int i = 0; i < n; i++) {
        uint8_t l = fx_label(split, i);
        gzwrite(g, &l, 1);
    }
    gzclose(g);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mvae_test_sweep_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    write_images(g_dir, "train", 0, N_TRAIN);
    write_labels(g_dir, "train", 0, N_TRAIN);
    write_images(g_dir, "t10k", 1, N_TEST);
    write_labels(g_dir, "t10k", 1, N_TEST);
    char path[256], text[2048];
    snprintf(path, sizeof path, "%s/base.yaml", g_dir);
    snprintf(text, sizeof text,
             "name: tiny\n"
             "seed: 1\n"
             "dataset: { plugin: fashion_mnist, path: '%s', paired_fraction: 1.0 }\n"
             "latent_dim: 4\n"
             "modalities:\n"
             "  image: { encoder: { plugin: mlp, hidden: [16] }, decoder: { plugin: mlp, hidden: [16] } }\n"
             "  label: { encoder: { plugin: mlp, embed: 8, hidden: [16] }, decoder: { plugin: mlp, hidden: [16] } }\n"
             "fusion: { plugin: poe }\n"
             "train: { epochs: 1, batch_size: 20, max_batches: 3, progress: none }\n"
             "eval:\n"
             "  log_likelihood: { samples: 3, max_test: 10, terms: [\"image\", \"image,label\"] }\n"
             "  accuracy: { from: image, predict: label }\n"
             "  pictures: false\n",
             g_dir);
    write_text(path, text);
    g_reg = mvae_registry_new();
    mvae_error err = {0};
    if (mvae_registry_load_default(g_reg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mvae_registry_free(g_reg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *sweep_file(const char *name, const char *body) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    write_text(path, body);
    return path;
}

static void test_grid_and_names(void **state) {
    (void)state;
    const char *p = sweep_file("grid.yaml",
                               "base: base.yaml\n"
                               "axes:\n"
                               "  a.x: [1, 2]\n"
                               "  b: [x, 'y z', /p/q]\n"
                               "  seed: 7\n"
                               "variants:\n"
                               "  only: { set: { c: 3 }, axes: { b: [x] } }\n");
    mvae_sweep *s;
    mvae_error err = {0};
    assert_int_equal(mvae_sweep_load(p, &s, &err), MVAE_OK);
    assert_string_equal(mvae_sweep_name(s), "grid"); /* from the file name */
    assert_int_equal(mvae_sweep_n_axes(s), 3);
    assert_string_equal(mvae_sweep_axis(s, 1), "b");
    assert_int_equal(mvae_sweep_n_runs(s), 6 + 2);
    const char *labels[] = {"a.x=1,b=x,seed=7", "a.x=1,b=y z,seed=7", "a.x=1,b=/p/q,seed=7",
                            "a.x=2,b=x,seed=7", "a.x=2,b=y z,seed=7", "a.x=2,b=/p/q,seed=7",
                            "a.x=1,b=x,seed=7,variant=only", "a.x=2,b=x,seed=7,variant=only"};
    for (int i = 0; i < 8; i++) assert_string_equal(mvae_sweep_run_at(s, i)->label, labels[i]);
    assert_string_equal(mvae_sweep_run_at(s, 1)->dir, "a.x=1,b=y_z,seed=7");
    assert_string_equal(mvae_sweep_run_at(s, 2)->dir, "a.x=1,b=_p_q,seed=7");
    assert_null(mvae_sweep_run_at(s, 0)->variant);
    assert_string_equal(mvae_sweep_run_at(s, 7)->variant, "only");
    assert_string_equal(mvae_sweep_run_at(s, 4)->values[1], "y z");
    assert_null(mvae_sweep_run_at(s, 8));
    /* the config of a run: base + axes (+ variant set), values rendered back as YAML */
    mvae_cfg *cfg;
    assert_int_equal(mvae_sweep_run_config(s, 4, &cfg, &err), MVAE_OK);
    mvae_cfg_node *r = mvae_cfg_root(cfg);
    assert_string_equal(mvae_cfg_path(r, "a.x")->value, "2");
    assert_string_equal(mvae_cfg_path(r, "b")->value, "y z");
    assert_string_equal(mvae_cfg_path(r, "seed")->value, "7");
    assert_string_equal(mvae_cfg_path(r, "name")->value, "tiny");
    assert_null(mvae_cfg_path(r, "c"));
    mvae_cfg_free(cfg);
    assert_int_equal(mvae_sweep_run_config(s, 7, &cfg, &err), MVAE_OK);
    assert_string_equal(mvae_cfg_path(mvae_cfg_root(cfg), "c")->value, "3");
    mvae_cfg_free(cfg);
    mvae_sweep_free(s);
}

static void load_fails(const char *body, const char *needle) {
    const char *p = sweep_file("bad.yaml", body);
    mvae_sweep *s = NULL;
    mvae_error err = {0};
    assert_int_not_equal(mvae_sweep_load(p, &s, &err), MVAE_OK);
    assert_null(s);
    if (!strstr(err.msg, needle)) fprintf(stderr, "message: %s\nexpected: %s\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
}

static void test_sweep_file_errors(void **state) {
    (void)state;
    load_fails("base: base.yaml\naxis: {seed: [1]}\n", "bad.yaml:2:1: unknown key 'axis'");
    load_fails("base: base.yaml\naxis: {seed: [1]}\n", "did you mean 'axes'");
    load_fails("axes: {seed: [1]}\n", "missing required key 'base'");
    load_fails("base: base.yaml\naxes: [1, 2]\n", "bad.yaml:2:7: axes: expected a map");
    load_fails("base: base.yaml\naxes: {seed: []}\n", "no values for axis seed");
    load_fails("base: base.yaml\naxes: {seed: [1, 1]}\n", "repeated value in axis seed");
    load_fails("base: base.yaml\nset: 3\naxes: {seed: [1]}\n", "set: expected a map");
    load_fails("base: base.yaml\naxes: {seed: [1]}\nvariants: {v: {axes: {sed: [1]}}}\n",
               "variants.v.axes: 'sed' is not an axis of the sweep (did you mean 'seed'?)");
    load_fails("base: base.yaml\naxes: {seed: [1]}\nvariants: {v: {sett: {}}}\n", "unknown key 'sett'");
    load_fails("base: base.yaml\naxes: {b: ['a/b', 'a_b']}\n", "would share the directory");
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static void test_run_resume_report(void **state) {
    (void)state;
    const char *p = sweep_file("fw.yaml",
                               "name: fw\n"
                               "base: base.yaml\n"
                               "set: { train.max_batches: 2 }\n"
                               "axes:\n"
                               "  latent_dim: [4, 6]\n"
                               "  dataset.paired_fraction: [0.1, 1.0]\n"
                               "  seed: [1, 2]\n"
                               "variants:\n"
                               "  paired_only: { set: { dataset.paired_only: true }, axes: { dataset.paired_fraction: [0.1] } }\n");
    mvae_sweep *s;
    mvae_error err = {0};
    assert_int_equal(mvae_sweep_load(p, &s, &err), MVAE_OK);
    assert_int_equal(mvae_sweep_n_runs(s), 8 + 4);
    char out[256], path[1024];
    snprintf(out, sizeof out, "%s/out", g_dir);
    mvae_sweep_opts o = {.out_dir = out, .command = "mvae sweep fw.yaml", .quiet = true};
    mvae_sweep_summary sum;
    /* a dry run trains nothing */
    o.dry_run = true;
    assert_int_equal(mvae_sweep_execute(s, g_reg, &o, &sum, &err), MVAE_OK);
    assert_int_equal(sum.failed, 0);
    assert_false(exists(out));
    o.dry_run = false;
    assert_int_equal(mvae_sweep_execute(s, g_reg, &o, &sum, &err), MVAE_OK);
    assert_int_equal(sum.total, 12);
    assert_int_equal(sum.trained, 12);
    assert_int_equal(sum.failed, 0);
    snprintf(path, sizeof path, "%s/runs.jsonl", out);
    assert_int_equal(count_lines(path), 12);
    snprintf(path, sizeof path, "%s/sweep.yaml", out);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/latent_dim=6,dataset.paired_fraction=0.1,seed=2,variant=paired_only/metrics.json", out);
    assert_true(exists(path));

    /* resumable: a run without metrics.json but with last.ckpt is resumed, a missing one trained,
     * the others skipped */
    snprintf(path, sizeof path, "%s/latent_dim=4,dataset.paired_fraction=1.0,seed=1/metrics.json", out);
    assert_int_equal(unlink(path), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/latent_dim=6,dataset.paired_fraction=1.0,seed=2'", out);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(mvae_sweep_execute(s, g_reg, &o, &sum, &err), MVAE_OK);
    assert_int_equal(sum.skipped, 10);
    assert_int_equal(sum.resumed, 1);
    assert_int_equal(sum.trained, 1);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/runs.jsonl", out);
    assert_int_equal(count_lines(path), 12);

    /* report */
    assert_int_equal(mvae_sweep_report(out, true, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/report.md", out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char md[16384];
    size_t n = fread(md, 1, sizeof md - 1, f);
    md[n] = '\0';
    fclose(f);
    assert_non_null(strstr(md, "# Sweep report: fw"));
    assert_non_null(strstr(md, "`mvae sweep fw.yaml`"));
    assert_non_null(strstr(md, "seeds: 2 (1, 2)"));
    assert_non_null(strstr(md, "1 epoch(s), at most 2 batch(es) per epoch"));
    assert_non_null(strstr(md, "| latent_dim | dataset.paired_fraction | variant | seeds | test.elbo |"));
    assert_non_null(strstr(md, "| 6 | 0.1 | paired_only | 2 |"));
    assert_non_null(strstr(md, "test.accuracy.image->label"));
    assert_non_null(strstr(md, " ± "));
    snprintf(path, sizeof path, "%s/report.csv", out);
    assert_int_equal(count_lines(path), 1 + 6); /* header + 4 grid points + 2 paired_only */
    const char *pngs[] = {"lines_test.accuracy.image-_label.png", "bars_test.log_p.image.png", "bars_test.log_p.image,label.png"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", out, pngs[i]);
        if (!exists(path)) fprintf(stderr, "missing %s\n", path);
        assert_true(exists(path));
    }
    mvae_sweep_free(s);
    /* not a sweep directory */
    assert_int_equal(mvae_sweep_report(g_dir, true, &err), MVAE_ERR_IO);
    assert_non_null(strstr(err.msg, "runs.jsonl"));
}

static void test_failed_run_continues(void **state) {
    (void)state;
    const char *p = sweep_file("fail.yaml", "base: base.yaml\naxes:\n  latent_dim: [0, 4]\n");
    mvae_sweep *s;
    mvae_error err = {0};
    assert_int_equal(mvae_sweep_load(p, &s, &err), MVAE_OK);
    char out[256], path[512];
    snprintf(out, sizeof out, "%s/fail", g_dir);
    mvae_sweep_opts o = {.out_dir = out, .quiet = true};
    mvae_sweep_summary sum;
    assert_int_equal(mvae_sweep_execute(s, g_reg, &o, &sum, &err), MVAE_OK);
    assert_int_equal(sum.failed, 1);
    assert_int_equal(sum.trained, 1);
    snprintf(path, sizeof path, "%s/latent_dim=0/error.txt", out);
    assert_true(exists(path));
    mvae_sweep_free(s);
}

static void test_paired_only(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/base.yaml", g_dir);
    const double fr[] = {0.1, 0.37, 1.0};
    for (int t = 0; t < 3; t++) {
        mvae_cfg *cfg;
        mvae_error err = {0};
        assert_int_equal(mvae_cfg_load_file(path, &cfg, &err), MVAE_OK);
        char set[64];
        snprintf(set, sizeof set, "dataset.paired_fraction=%g", fr[t]);
        assert_int_equal(mvae_cfg_set(cfg, set, &err), MVAE_OK);
        assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_only=true", &err), MVAE_OK);
        mvae_model *m;
        assert_int_equal(mvae_model_build(cfg, g_reg, &m, &err), MVAE_OK);
        int64_t *idx, n;
        assert_int_equal(mvae_train_indices(m, 0, &idx, &n, &err), MVAE_OK);
        assert_int_equal(n, llround(fr[t] * N_TRAIN));
        for (int64_t i = 1; i < n; i++) assert_true(idx[i] > idx[i - 1]);
        free(idx);
        if (t == 0) { /* 20 paired samples, batch_size 20 ok; with batch 50 it shrinks to 20 */
            assert_int_equal(mvae_cfg_set(cfg, "train.batch_size=50", &err), MVAE_OK);
            char run[256];
            snprintf(run, sizeof run, "%s/paired_only_run", g_dir);
            mvae_train_opts o = {.run_dir = run, .quiet = true};
            mvae_train_result r;
            assert_int_equal(mvae_train(m, &o, &r, &err), MVAE_OK);
            assert_int_equal(r.epochs, 1);
        }
        mvae_model_free(m);
        /* without paired_only: every training sample */
        assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_only=false", &err), MVAE_OK);
        assert_int_equal(mvae_model_build(cfg, g_reg, &m, &err), MVAE_OK);
        assert_int_equal(mvae_train_indices(m, 5, &idx, &n, &err), MVAE_OK);
        assert_int_equal(n, N_TRAIN - 5);
        free(idx);
        mvae_model_free(m);
        mvae_cfg_free(cfg);
    }
    /* paired_repeat R: each paired sample listed R times, every unpaired one once, all in order */
    {
        mvae_cfg *cfg;
        mvae_error err = {0};
        assert_int_equal(mvae_cfg_load_file(path, &cfg, &err), MVAE_OK);
        assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_fraction=0.1", &err), MVAE_OK);
        assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_repeat=3", &err), MVAE_OK);
        mvae_model *m;
        assert_int_equal(mvae_model_build(cfg, g_reg, &m, &err), MVAE_OK);
        int64_t *idx, n;
        assert_int_equal(mvae_train_indices(m, 0, &idx, &n, &err), MVAE_OK);
        int64_t n_paired = llround(0.1 * N_TRAIN);
        assert_int_equal(n, N_TRAIN + 2 * n_paired);
        uint8_t *pairing = mvae_make_pairing(m, N_TRAIN);
        assert_non_null(pairing);
        int64_t j = 0;
        for (int64_t i = 0; i < N_TRAIN; i++) {
            bool all = true;
            for (int k = 0; k < m->n_mod; k++) all = all && pairing[i * m->n_mod + k];
            for (int r = 0; r < (all ? 3 : 1); r++, j++) {
                assert_true(j < n);
                assert_int_equal(idx[j], i);
            }
        }
        assert_int_equal(j, n);
        free(pairing);
        free(idx);
        mvae_model_free(m);
        /* out of range, and combined with paired_only: errors naming the key */
        assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_repeat=0", &err), MVAE_OK);
        assert_int_not_equal(mvae_model_build(cfg, g_reg, &m, &err), MVAE_OK);
        assert_non_null(strstr(err.msg, "dataset.paired_repeat"));
        memset(&err, 0, sizeof err);
        assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_repeat=2", &err), MVAE_OK);
        assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_only=true", &err), MVAE_OK);
        assert_int_not_equal(mvae_model_build(cfg, g_reg, &m, &err), MVAE_OK);
        assert_non_null(strstr(err.msg, "paired_only"));
        mvae_cfg_free(cfg);
    }
    /* a wrong type is an error at validation */
    mvae_cfg *cfg;
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_load_file(path, &cfg, &err), MVAE_OK);
    assert_int_equal(mvae_cfg_set(cfg, "dataset.paired_only=maybe", &err), MVAE_OK);
    assert_int_not_equal(mvae_experiment_validate(cfg, g_reg, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "maybe"));
    mvae_cfg_free(cfg);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_and_names),
        cmocka_unit_test(test_sweep_file_errors),
        cmocka_unit_test(test_paired_only),
        cmocka_unit_test(test_run_resume_report),
        cmocka_unit_test(test_failed_run_continues),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("sweep", tests, setup, teardown);
}
