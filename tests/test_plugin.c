/* test_plugin.c — the plugin registry (dlopen, checks, search order, hints) and the fashion_mnist
 * dataset plugin on tiny generated IDX fixtures (and on the real data when installed). */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/interfaces.h"
#include "mvae/plugin.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MVAE_TEST_STR_(x) #x
#define MVAE_TEST_STR(x) MVAE_TEST_STR_(x)
#define TP_DIR MVAE_BINARY_DIR "/test_plugins"
#define BUILD_PLUGINS MVAE_BINARY_DIR "/plugins"
#define REAL_FM_DIR "/usr/share/datasets/fashion-mnist"

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle))
        fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

/* ---- loading .so files ---- */

static void test_load_good(void **state) {
    (void)state;
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_load_file(reg, TP_DIR "/good/mvae_encoder_good.so", &err),
                     MVAE_OK);
    assert_int_equal(mvae_registry_count(reg), 1);
    const mvae_plugin_desc *d = mvae_registry_find(reg, MVAE_PLUGIN_ENCODER, "good");
    assert_non_null(d);
    assert_string_equal(d->version, "1.0.0");
    assert_null(mvae_registry_find(reg, MVAE_PLUGIN_DECODER, "good"));
    assert_string_equal(mvae_registry_at(reg, 0)->file, TP_DIR "/good/mvae_encoder_good.so");
    assert_null(mvae_registry_at(reg, 1));
    const mvae_encoder_vtable *vt = d->vtable;
    assert_non_null(vt->forward);
    /* the same file twice is a duplicate */
    assert_int_equal(mvae_registry_load_file(reg, TP_DIR "/good/mvae_encoder_good.so", &err),
                     MVAE_ERR_PLUGIN);
    assert_has(err.msg, "duplicate encoder plugin 'good'");
    mvae_registry_free(reg);
    mvae_registry_free(NULL);
}

static void expect_load_file_fails(const char *path, const char *const *needles) {
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_load_file(reg, path, &err), MVAE_ERR_PLUGIN);
    assert_int_equal(err.status, MVAE_ERR_PLUGIN);
    assert_has(err.msg, path);
    for (int i = 0; needles[i]; i++) assert_has(err.msg, needles[i]);
    assert_int_equal(mvae_registry_count(reg), 0);
    mvae_registry_free(reg);
}

#define TP_STR2(x) #x
#define TP_STR(x) TP_STR2(x)
#define TP_MINOR TP_STR(MVAE_ABI_MINOR)

static void test_abi_major_mismatch(void **state) {
    (void)state;
    expect_load_file_fails(TP_DIR "/abi_major/mvae_encoder_abi_major.so",
                           (const char *[]){"built for mvae ABI 1." MVAE_TEST_STR(MVAE_ABI_MINOR),
                                            "this mvae is ABI " TP_STR(MVAE_ABI_MAJOR) "." TP_MINOR,
                                            "rebuild the plugin against this mvae's headers",
                                            NULL});
}

static void test_newer_minor(void **state) {
    (void)state;
    expect_load_file_fails(TP_DIR "/newer_minor/mvae_encoder_newer_minor.so",
                           (const char *[]){"ABI " TP_STR(MVAE_ABI_MAJOR) ".7", "newer than this mvae", NULL});
}

/* A plugin that exports the descriptor itself (data) under the entry name is refused with the
 * fix, instead of being called. */
static void test_data_entry_symbol(void **state) {
    (void)state;
    expect_load_file_fails(TP_DIR "/data_entry/mvae_encoder_data_entry.so",
                           (const char *[]){"exports 'mvae_plugin_descriptor' as data",
                                            "MVAE_PLUGIN_DEFINE", NULL});
}

static void test_missing_hook(void **state) {
    (void)state;
    expect_load_file_fails(
        TP_DIR "/missing_hook/mvae_encoder_missing_hook.so",
        (const char *[]){"encoder plugin 'missing_hook'", "required hook 'forward' is NULL", NULL});
}

static void test_no_entry_symbol(void **state) {
    (void)state;
    expect_load_file_fails(TP_DIR "/nosym/mvae_encoder_nosym.so",
                           (const char *[]){"not an mvae plugin", "mvae_plugin_descriptor", NULL});
    expect_load_file_fails(TP_DIR "/nosym/does_not_exist.so",
                           (const char *[]){"cannot load plugin", NULL});
    /* a bad file in a directory fails the whole directory */
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_load_dir(reg, TP_DIR "/nosym", &err), MVAE_ERR_PLUGIN);
    assert_has(err.msg, "mvae_encoder_nosym.so");
    mvae_registry_free(reg);
}

static void test_duplicate_in_dir(void **state) {
    (void)state;
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_load_dir(reg, TP_DIR "/dup", &err), MVAE_ERR_PLUGIN);
    assert_has(err.msg, "duplicate encoder plugin 'twin'");
    assert_has(err.msg, TP_DIR "/dup/mvae_encoder_dup_a.so");
    assert_has(err.msg, TP_DIR "/dup/mvae_encoder_dup_b.so");
    mvae_registry_free(reg);

    reg = mvae_registry_new();
    mvae_error_clear(&err);
    assert_int_equal(mvae_registry_load_dir(reg, TP_DIR "/no_such_dir", &err), MVAE_ERR_IO);
    assert_has(err.msg, "no_such_dir");
    mvae_registry_free(reg);
}

static void test_load_dir_pattern(void **state) {
    (void)state;
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_load_dir(reg, TP_DIR "/order2", &err), MVAE_OK);
    /* other_plugin.so does not match mvae_*.so */
    assert_int_equal(mvae_registry_count(reg), 1);
    assert_null(mvae_registry_find(reg, MVAE_PLUGIN_ENCODER, "ignored"));
    assert_string_equal(mvae_registry_find(reg, MVAE_PLUGIN_ENCODER, "shared")->version, "second");
    /* load_dir itself does not apply "first wins": a second directory with the name is an error */
    assert_int_equal(mvae_registry_load_dir(reg, TP_DIR "/order1", &err), MVAE_ERR_PLUGIN);
    assert_has(err.msg, "duplicate");
    mvae_registry_free(reg);
}

static const char *find_version(const char *plugin_path, mvae_error *err) {
    static char version[64];
    setenv("MVAE_PLUGIN_PATH", plugin_path, 1);
    mvae_registry *reg = mvae_registry_new();
    int rc = mvae_registry_load_default(reg, err);
    unsetenv("MVAE_PLUGIN_PATH");
    if (rc) {
        mvae_registry_free(reg);
        return NULL;
    }
    /* the build tree's plugins come along */
    assert_non_null(mvae_registry_find(reg, MVAE_PLUGIN_DATASET, "fashion_mnist"));
    const mvae_plugin_desc *d = mvae_registry_find(reg, MVAE_PLUGIN_ENCODER, "shared");
    assert_non_null(d);
    snprintf(version, sizeof version, "%s", d->version);
    mvae_registry_free(reg);
    return version;
}

static void test_plugin_path_first_wins(void **state) {
    (void)state;
    mvae_error err = {0};
    const char *v = find_version(TP_DIR "/order1:" TP_DIR "/order2", &err);
    assert_non_null(v);
    assert_string_equal(v, "first");
    v = find_version(TP_DIR "/order2::" TP_DIR "/order1", &err);
    assert_non_null(v);
    assert_string_equal(v, "second");
    /* the same directory twice: the second listing is skipped, not a duplicate */
    v = find_version(TP_DIR "/order1:" TP_DIR "/order1:/nonexistent/dir", &err);
    assert_non_null(v);
    assert_string_equal(v, "first");
    /* duplicates inside one directory are still errors */
    assert_null(find_version(TP_DIR "/order1:" TP_DIR "/dup", &err));
    assert_has(err.msg, "duplicate encoder plugin 'twin'");
}

/* ---- descriptor checks and lookups on static descriptors ---- */

static int enc_create(const mvae_module_args *a, void **self, mvae_error *err) {
    return 0;
}
static void enc_destroy(void *self) {}
static int enc_forward(void *self, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **mu,
                       mvae_tensor **logvar) {
    return 0;
}
static const mvae_encoder_vtable enc_vt = {enc_create, enc_destroy, enc_forward};
static const mvae_plugin_desc mlp_desc =
    MVAE_PLUGIN_DESC(MVAE_PLUGIN_ENCODER, "mlp", "1", "mlp", &enc_vt, NULL);
static const mvae_plugin_desc conv_desc =
    MVAE_PLUGIN_DESC(MVAE_PLUGIN_ENCODER, "conv_image", "1", "conv", &enc_vt, NULL);

static void test_require_did_you_mean(void **state) {
    (void)state;
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_add(reg, &mlp_desc, NULL, &err), MVAE_OK);
    assert_int_equal(mvae_registry_add(reg, &conv_desc, "conv.so", &err), MVAE_OK);
    assert_string_equal(mvae_registry_at(reg, 0)->file, "<static>");
    assert_ptr_equal(mvae_registry_require(reg, MVAE_PLUGIN_ENCODER, "mlp", &err), &mlp_desc);
    assert_null(mvae_registry_require(reg, MVAE_PLUGIN_ENCODER, "mpl", &err));
    assert_int_equal(err.status, MVAE_ERR_PLUGIN);
    assert_has(err.msg, "no encoder plugin named 'mpl' (did you mean 'mlp'?); available encoders: "
                        "conv_image, mlp");
    mvae_error_clear(&err);
    assert_null(mvae_registry_require(reg, MVAE_PLUGIN_ENCODER, "transformer", &err));
    assert_null(strstr(err.msg, "did you mean"));
    mvae_error_clear(&err);
    assert_null(mvae_registry_require(reg, MVAE_PLUGIN_DECODER, "mlp", &err));
    assert_has(err.msg, "available decoders: none");
    /* a duplicate static descriptor names both sources */
    mvae_error_clear(&err);
    assert_int_equal(mvae_registry_add(reg, &conv_desc, "other.so", &err), MVAE_ERR_PLUGIN);
    assert_has(err.msg, "conv.so");
    assert_has(err.msg, "other.so");
    mvae_registry_free(reg);
}

static void expect_add_fails(const mvae_plugin_desc *d, const char *needle) {
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_add(reg, d, "/x/mvae_encoder_bad.so", &err), MVAE_ERR_PLUGIN);
    assert_has(err.msg, needle);
    assert_has(err.msg, "/x/mvae_encoder_bad.so");
    assert_int_equal(mvae_registry_count(reg), 0);
    mvae_registry_free(reg);
}

/* ABI 1.2 added optional trailing decoder hooks: a decoder built against 1.0 (a 3-hook vtable) is
 * still accepted, and mvae_decoder_hook reports the missing hooks as NULL. */
static mvae_tensor *dec_forward(void *self, mvae_ctx *ctx, mvae_tensor *z) {
    (void)self, (void)ctx;
    return z;
}
static mvae_tensor *dec_teacher(void *self, mvae_ctx *ctx, mvae_tensor *z, mvae_tensor *t) {
    (void)self, (void)ctx, (void)t;
    return z;
}
static void test_decoder_optional_hooks(void **state) {
    (void)state;
    static const mvae_decoder_vtable full = {.create = enc_create, .destroy = enc_destroy,
                                             .forward = dec_forward, .forward_teacher = dec_teacher};
    mvae_plugin_desc d = MVAE_PLUGIN_DESC(MVAE_PLUGIN_DECODER, "old", "1", "", &full, NULL);
    d.abi_minor = 0;
    d.vtable_size = 3 * sizeof(void (*)(void)); /* a 1.0 vtable: create, destroy, forward */
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    assert_int_equal(mvae_registry_add(reg, &d, NULL, &err), MVAE_OK);
    assert_null(mvae_decoder_hook(&d, forward_teacher));
    assert_null(mvae_decoder_hook(&d, generate));
    mvae_plugin_desc n = MVAE_PLUGIN_DESC(MVAE_PLUGIN_DECODER, "new", "1", "", &full, NULL);
    assert_int_equal(mvae_registry_add(reg, &n, NULL, &err), MVAE_OK);
    assert_ptr_equal(mvae_decoder_hook(&n, forward_teacher), dec_teacher);
    assert_null(mvae_decoder_hook(&n, generate));
    n.vtable_size = 2 * sizeof(void (*)(void)); /* too small for the required hooks */
    n.name = "tiny";
    assert_int_not_equal(mvae_registry_add(reg, &n, NULL, &err), MVAE_OK);
    mvae_registry_free(reg);
}

static void test_descriptor_checks(void **state) {
    (void)state;
    mvae_plugin_desc d = mlp_desc;
    d.abi_major = MVAE_ABI_MAJOR + 1;
    char want[128];
    snprintf(want, sizeof want, "was built for mvae ABI %d.%d but this mvae is ABI %d.%d: rebuild the plugin",
             MVAE_ABI_MAJOR + 1, MVAE_ABI_MINOR, MVAE_ABI_MAJOR, MVAE_ABI_MINOR);
    expect_add_fails(&d, want);
    d = mlp_desc;
    d.struct_size = 16;
    expect_add_fails(&d, "descriptor is 16 bytes");
    d = mlp_desc;
    d.name = NULL;
    expect_add_fails(&d, "has no name");
    d = mlp_desc;
    d.vtable = NULL;
    expect_add_fails(&d, "NULL vtable");
    d = mlp_desc;
    d.vtable_size = 8;
    expect_add_fails(&d, "vtable is 8 bytes");
    d = mlp_desc;
    d.kind = 42;
    expect_add_fails(&d, "unknown kind 42");
    static const mvae_encoder_vtable no_destroy = {.create = enc_create, .forward = enc_forward};
    d = mlp_desc;
    d.vtable = &no_destroy;
    expect_add_fails(&d, "encoder plugin 'mlp' (/x/mvae_encoder_bad.so): required hook 'destroy' "
                         "is NULL");
    /* a fusion descriptor pointing at a (smaller) encoder vtable */
    d = mlp_desc;
    d.kind = MVAE_PLUGIN_FUSION;
    expect_add_fails(&d, "mvae_fusion_vtable");
    expect_add_fails(NULL, "NULL descriptor");
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(mvae_plugin_kind_name(MVAE_PLUGIN_DATASET), "dataset");
    assert_string_equal(mvae_plugin_kind_name(MVAE_PLUGIN_TRANSFORM), "transform");
    assert_string_equal(mvae_plugin_kind_name(MVAE_PLUGIN_CLASSIFIER), "classifier");
    assert_string_equal(mvae_plugin_kind_name(99), "unknown");
    assert_string_equal(mvae_modality_type_name(MVAE_MOD_CATEGORICAL), "categorical");
    assert_string_equal(mvae_modality_type_name(MVAE_MOD_REAL), "real");
    mvae_modality_info m = {.ndim = 3, .shape = {3, 64, 64}};
    assert_int_equal(mvae_modality_numel(&m), 3 * 64 * 64);
}

/* ---- fashion_mnist on generated fixtures ---- */

typedef struct fm_fixture {
    char dir[256];
} fm_fixture;

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t fx_pixel(int split, int i, int k) {
    return (uint8_t)((split * 101 + i * 7 + k) % 256);
}
static uint8_t fx_label(int split, int i) {
    return (uint8_t)((split * 3 + i) % 10);
}

/* header_n: count in the header; body_n: images actually written; body_bytes < 0: all. */
static void write_images(const char *dir, const char *prefix, int split, uint32_t magic,
                         int header_n, int body_n, int body_bytes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    uint8_t h[16];
    put_be32(h, magic);
    put_be32(h + 4, (uint32_t)header_n);
    put_be32(h + 8, 28);
    put_be32(h + 12, 28);
    assert_int_equal(gzwrite(g, h, 16), 16);
    int total = body_bytes >= 0 ? body_bytes : body_n * 784;
    uint8_t *px = malloc((size_t)total + 1);
    for (int b = 0; b < total; b++) px[b] = fx_pixel(split, b / 784, b % 784);
    if (total) assert_int_equal(gzwrite(g, px, (unsigned)total), total);
    free(px);
    gzclose(g);
}

static void write_labels(const char *dir, const char *prefix, int split, uint32_t magic, int n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    uint8_t h[8];
    put_be32(h, magic);
    put_be32(h + 4, (uint32_t)n);
    assert_int_equal(gzwrite(g, h, 8), 8);
    for (int i = 0; i < n; i++) {
        uint8_t l = fx_label(split, i);
        gzwrite(g, &l, 1);
    }
    gzclose(g);
}

static void write_good_fixture(const char *dir) {
    write_images(dir, "train", 0, 0x803, 5, 5, -1);
    write_labels(dir, "train", 0, 0x801, 5);
    write_images(dir, "t10k", 1, 0x803, 3, 3, -1);
    write_labels(dir, "t10k", 1, 0x801, 3);
}

static int fm_setup(void **state) {
    fm_fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mvae_test_fm_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    write_good_fixture(f->dir);
    *state = f;
    return 0;
}

static int fm_teardown(void **state) {
    fm_fixture *f = *state;
    const char *names[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    char path[512];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A hand-built `dataset:` map (the plugin reads the node tree directly). */
typedef struct opt_map {
    mvae_cfg_node map, kv[4];
    mvae_cfg_node *items[4];
} opt_map;

static const mvae_cfg_node *opts_make(opt_map *o, const char *const *kv) {
    memset(o, 0, sizeof *o);
    o->map.kind = MVAE_CFG_MAP;
    o->map.items = o->items;
    for (int i = 0; kv[2 * i]; i++) {
        o->kv[i] = (mvae_cfg_node){.kind = MVAE_CFG_SCALAR,
                                   .key = (char *)kv[2 * i],
                                   .value = (char *)kv[2 * i + 1],
                                   .file = "exp.yaml",
                                   .line = 3 + i,
                                   .col = 9};
        o->items[i] = &o->kv[i];
        o->map.n_items = i + 1;
    }
    return &o->map;
}

static mvae_registry *fm_registry(const mvae_dataset_vtable **vt) {
    mvae_registry *reg = mvae_registry_new();
    mvae_error err = {0};
    int rc = mvae_registry_load_dir(reg, BUILD_PLUGINS, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    const mvae_plugin_desc *d =
        mvae_registry_require(reg, MVAE_PLUGIN_DATASET, "fashion_mnist", &err);
    assert_non_null(d);
    assert_non_null(d->options);
    *vt = d->vtable;
    return reg;
}

static int fm_open_with(const mvae_dataset_vtable *vt, const char *const *kv, void **ds,
                        mvae_error *err) {
    opt_map o;
    return vt->open(opts_make(&o, kv), ds, err);
}

static void test_fm_fixture(void **state) {
    fm_fixture *f = *state;
    const mvae_dataset_vtable *vt;
    mvae_registry *reg = fm_registry(&vt);
    mvae_error err = {0};
    void *ds = NULL;
    int rc = fm_open_with(vt, (const char *[]){"path", f->dir, NULL}, &ds, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(vt->n_modalities(ds), 2);
    const mvae_modality_info *im = vt->modality(ds, 0), *lb = vt->modality(ds, 1);
    assert_string_equal(im->name, "image");
    assert_int_equal(im->type, MVAE_MOD_IMAGE);
    assert_int_equal(im->ndim, 3);
    assert_int_equal(im->shape[0], 1);
    assert_int_equal(im->shape[1], 28);
    assert_int_equal(im->shape[2], 28);
    assert_int_equal(mvae_modality_numel(im), 784);
    assert_string_equal(lb->name, "label");
    assert_int_equal(lb->type, MVAE_MOD_CATEGORICAL);
    assert_int_equal(mvae_modality_numel(lb), 1);
    assert_int_equal(lb->n_classes, 10);
    assert_string_equal(lb->class_names[0], "T-shirt/top");
    assert_string_equal(lb->class_names[9], "Ankle boot");
    assert_null(vt->modality(ds, 2));
    assert_int_equal(vt->size(ds, MVAE_SPLIT_TRAIN), 5);
    assert_int_equal(vt->size(ds, MVAE_SPLIT_TEST), 3);
    assert_int_equal(vt->size(ds, MVAE_SPLIT_VALID), 0);

    for (int split = 0; split < 2; split++) {
        int64_t idx[] = {split ? 2 : 4, 0};
        float img[2 * 784], lab[2];
        uint8_t present[4] = {0};
        float *out[2] = {img, lab};
        assert_int_equal(vt->get_batch(ds, split, idx, 2, out, present, &err), MVAE_OK);
        for (int i = 0; i < 2; i++) {
            for (int k = 0; k < 784; k++)
                assert_float_equal(img[i * 784 + k], fx_pixel(split, (int)idx[i], k) / 255.0f,
                                   1e-6);
            int32_t l;
            memcpy(&l, &lab[i], sizeof l);
            assert_int_equal(l, fx_label(split, (int)idx[i]));
            assert_int_equal(present[2 * i], 1);
            assert_int_equal(present[2 * i + 1], 1);
        }
    }
    /* out-of-range index and split */
    {
        int64_t idx[] = {5};
        float img[784], lab[1];
        uint8_t present[2];
        float *out[2] = {img, lab};
        assert_int_equal(vt->get_batch(ds, MVAE_SPLIT_TRAIN, idx, 1, out, present, &err),
                         MVAE_ERR_INVALID);
        assert_has(err.msg, "index 5");
    }
    vt->close(ds);
    mvae_registry_free(reg);
}

static void test_fm_options(void **state) {
    fm_fixture *f = *state;
    const mvae_dataset_vtable *vt;
    mvae_registry *reg = fm_registry(&vt);
    mvae_error err = {0};
    void *ds = NULL;
    assert_int_equal(fm_open_with(vt,
                                  (const char *[]){"path", f->dir, "binarize", "true",
                                                   "train_limit", "2", "test_limit", "0", NULL},
                                  &ds, &err),
                     MVAE_OK);
    assert_int_equal(vt->size(ds, MVAE_SPLIT_TRAIN), 2);
    assert_int_equal(vt->size(ds, MVAE_SPLIT_TEST), 3);
    int64_t idx[] = {1};
    float img[784], lab[1];
    uint8_t present[2];
    float *out[2] = {img, lab};
    assert_int_equal(vt->get_batch(ds, MVAE_SPLIT_TRAIN, idx, 1, out, present, &err), MVAE_OK);
    for (int k = 0; k < 784; k++)
        assert_float_equal(img[k], fx_pixel(0, 1, k) / 255.0f > 0.5f ? 1.0f : 0.0f, 0);
    vt->close(ds);

    ds = NULL;
    assert_int_equal(
        fm_open_with(vt, (const char *[]){"path", f->dir, "binarize", "maybe", NULL}, &ds, &err),
        MVAE_ERR_INVALID);
    assert_null(ds);
    assert_has(err.msg, "exp.yaml:4:9");
    assert_has(err.msg, "binarize");
    mvae_error_clear(&err);
    assert_int_equal(
        fm_open_with(vt, (const char *[]){"path", f->dir, "train_limit", "-3", NULL}, &ds, &err),
        MVAE_ERR_INVALID);
    assert_has(err.msg, "train_limit");
    mvae_registry_free(reg);
}

static void expect_open_fails(const mvae_dataset_vtable *vt, const char *dir, int status,
                              const char *const *needles) {
    mvae_error err = {0};
    void *ds = NULL;
    assert_int_equal(fm_open_with(vt, (const char *[]){"path", dir, NULL}, &ds, &err), status);
    assert_null(ds);
    for (int i = 0; needles[i]; i++) assert_has(err.msg, needles[i]);
}

static void test_fm_errors(void **state) {
    fm_fixture *f = *state;
    const mvae_dataset_vtable *vt;
    mvae_registry *reg = fm_registry(&vt);
    char path[512];

    expect_open_fails(vt, "/nonexistent/fashion", MVAE_ERR_IO,
                      (const char *[]){"Fashion-MNIST not found at /nonexistent/fashion",
                                       "sudo apt-get install dataset-fashion-mnist", "dataset.path",
                                       NULL});
    /* truncated pixels: the header says 5 images, 1000 bytes follow */
    write_images(f->dir, "train", 0, 0x803, 5, 0, 1000);
    snprintf(path, sizeof path, "'%s/train-images-idx3-ubyte.gz' is truncated", f->dir);
    expect_open_fails(vt, f->dir, MVAE_ERR_IO,
                      (const char *[]){path, "expected 3920 bytes of pixels, got 1000", NULL});
    /* wrong magic in the labels */
    write_images(f->dir, "train", 0, 0x803, 5, 5, -1);
    write_labels(f->dir, "train", 0, 0x803, 5);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", f->dir);
    expect_open_fails(vt, f->dir, MVAE_ERR_FORMAT,
                      (const char *[]){path, "magic 0x00000803", "0x00000801", NULL});
    /* image and label counts disagree */
    write_labels(f->dir, "train", 0, 0x801, 4);
    expect_open_fails(vt, f->dir, MVAE_ERR_FORMAT,
                      (const char *[]){"has 5 images", "has 4 labels", NULL});
    /* a missing file */
    write_good_fixture(f->dir);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", f->dir);
    unlink(path);
    expect_open_fails(vt, f->dir, MVAE_ERR_IO,
                      (const char *[]){path, "apt-get install dataset-fashion-mnist", NULL});
    write_good_fixture(f->dir);
    mvae_registry_free(reg);
}

static void test_fm_real_data(void **state) {
    (void)state;
    struct stat st;
    if (stat(REAL_FM_DIR "/train-images-idx3-ubyte.gz", &st) != 0) skip();
    const mvae_dataset_vtable *vt;
    mvae_registry *reg = fm_registry(&vt);
    mvae_error err = {0};
    void *ds = NULL;
    int rc = vt->open(NULL, &ds, &err); /* all defaults */
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(vt->size(ds, MVAE_SPLIT_TRAIN), 60000);
    assert_int_equal(vt->size(ds, MVAE_SPLIT_TEST), 10000);
    /* the test split is balanced: 1000 per class */
    enum { B = 500 };
    static float img[B * 784], lab[B];
    uint8_t present[2 * B];
    float *out[2] = {img, lab};
    int64_t idx[B];
    int counts[10] = {0};
    double sum = 0, lo = 1, hi = 0;
    for (int64_t s = 0; s < 10000; s += B) {
        for (int i = 0; i < B; i++) idx[i] = s + i;
        assert_int_equal(vt->get_batch(ds, MVAE_SPLIT_TEST, idx, B, out, present, &err), MVAE_OK);
        for (int i = 0; i < B; i++) {
            int32_t l;
            memcpy(&l, &lab[i], sizeof l);
            assert_true(l >= 0 && l < 10);
            counts[l]++;
        }
        for (int k = 0; k < B * 784; k++) {
            sum += img[k];
            if (img[k] < lo) lo = img[k];
            if (img[k] > hi) hi = img[k];
        }
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 1000);
    assert_float_equal(lo, 0.0, 0);
    assert_float_equal(hi, 1.0, 0);
    double mean = sum / (10000.0 * 784);
    assert_true(mean > 0.25 && mean < 0.32); /* Fashion-MNIST pixel mean is about 0.286 */
    vt->close(ds);
    mvae_registry_free(reg);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_good),
        cmocka_unit_test(test_abi_major_mismatch),
        cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_missing_hook),
        cmocka_unit_test(test_no_entry_symbol),
        cmocka_unit_test(test_data_entry_symbol),
        cmocka_unit_test(test_duplicate_in_dir),
        cmocka_unit_test(test_load_dir_pattern),
        cmocka_unit_test(test_plugin_path_first_wins),
        cmocka_unit_test(test_require_did_you_mean),
        cmocka_unit_test(test_descriptor_checks),
        cmocka_unit_test(test_decoder_optional_hooks),
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_fm_fixture, fm_setup, fm_teardown),
        cmocka_unit_test_setup_teardown(test_fm_options, fm_setup, fm_teardown),
        cmocka_unit_test_setup_teardown(test_fm_errors, fm_setup, fm_teardown),
        cmocka_unit_test(test_fm_real_data),
    };
    return mvae_test_run("plugin", tests, argc, argv);
}
