/* tiny_data.h — a tiny generated Fashion-MNIST look-alike for the trainer and command tests
 * (header-only; define _GNU_SOURCE before any include, then include after mvae_test.h).
 *
 *   char dir[] = "/tmp/mvae_tiny_XXXXXX"; mkdtemp(dir);
 *   tiny_write_dataset(dir, 300, 100);     // train-*.gz / t10k-*.gz, 28x28, 10 classes
 *   char *yaml = tiny_yaml(dir);           // a small experiment on it (hidden 32, latent 8)
 *   ...
 *   tiny_rm_rf(dir);
 *
 * Class c draws a bright horizontal bar on rows 2c+4..2c+7 over faint noise, so a few epochs
 * are enough for the loss to fall and for image -> label accuracy to rise well above chance.
 */
#ifndef MVAE_TINY_DATA_H
#define MVAE_TINY_DATA_H
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <sys/stat.h>

#include "mvae/model.h"
#include "mvae/plugin.h"

static inline void tiny_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint8_t tiny_label(int split, int i) { return (uint8_t)((i * 7 + split * 3) % 10); }

static inline uint8_t tiny_pixel(int split, int i, int k) {
    int c = tiny_label(split, i), row = k / 28;
    uint32_t h = (uint32_t)(split * 7919 + i * 104729 + k * 31337);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    int noise = (int)(h % 40u);
    if (row >= 2 * c + 4 && row < 2 * c + 8) return (uint8_t)(215 + noise);
    return (uint8_t)noise;
}

/* Labels and pixels of a split: the defaults above, or a test's own (called in file order, image
 * by image and pixel by pixel, so a generator may draw from an rng in `user`). */
typedef uint8_t (*tiny_label_fn)(int split, int i, void *user);
typedef uint8_t (*tiny_pixel_fn)(int split, int i, int k, void *user);
static inline uint8_t tiny_label_default_(int split, int i, void *user) {
    (void)user;
    return tiny_label(split, i);
}
static inline uint8_t tiny_pixel_default_(int split, int i, int k, void *user) {
    (void)user;
    return tiny_pixel(split, i, k);
}

/* Write one split with the given generators. images_bytes < 0: the whole body; otherwise only
 * that many pixel bytes (a truncated file). Returns 0 on success. */
static inline int tiny_write_split_with(const char *dir, const char *prefix, int split, int n, long images_bytes,
                                        tiny_label_fn label, tiny_pixel_fn pixel, void *user) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    uint8_t h[16];
    tiny_be32(h, 0x803);
    tiny_be32(h + 4, (uint32_t)n);
    tiny_be32(h + 8, 28);
    tiny_be32(h + 12, 28);
    int bad = gzwrite(g, h, 16) != 16;
    long total = images_bytes >= 0 ? images_bytes : (long)n * 784;
    uint8_t *px = malloc((size_t)total + 1);
    for (long b = 0; b < total; b++) px[b] = pixel(split, (int)(b / 784), (int)(b % 784), user);
    if (total) bad |= gzwrite(g, px, (unsigned)total) != (int)total;
    free(px);
    gzclose(g);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    g = gzopen(path, "wb");
    if (!g) return -1;
    tiny_be32(h, 0x801);
    tiny_be32(h + 4, (uint32_t)n);
    bad |= gzwrite(g, h, 8) != 8;
    for (int i = 0; i < n; i++) {
        uint8_t l = label(split, i, user);
        bad |= gzwrite(g, &l, 1) != 1;
    }
    gzclose(g);
    return bad ? -1 : 0;
}

/* One split of the default look-alike. */
static inline int tiny_write_split(const char *dir, const char *prefix, int split, int n, long images_bytes) {
    return tiny_write_split_with(dir, prefix, split, n, images_bytes, tiny_label_default_, tiny_pixel_default_, NULL);
}

static inline int tiny_write_dataset(const char *dir, int n_train, int n_test) {
    return tiny_write_split(dir, "train", 0, n_train, -1) || tiny_write_split(dir, "t10k", 1, n_test, -1);
}

/* The experiment: image + label, MLPs with one hidden layer of 32, latent 8, PoE, 3 epochs of
 * 6 batches of 50, one thread, cheap evaluation. Lines are stable: tests refer to them. */
static inline char *tiny_yaml(const char *data_dir) {
    static const char *fmt =
        "name: tiny\n"                                                            /* 1 */
        "seed: 3\n"                                                               /* 2 */
        "dataset: {plugin: fashion_mnist, path: \"%s\"}\n"                        /* 3 */
        "latent_dim: 8\n"                                                         /* 4 */
        "modalities:\n"                                                           /* 5 */
        "  image:\n"                                                              /* 6 */
        "    encoder: {plugin: mlp, hidden: [32]}\n"                              /* 7 */
        "    decoder: {plugin: mlp, hidden: [32]}\n"                              /* 8 */
        "    likelihood: bernoulli\n"                                             /* 9 */
        "  label:\n"                                                              /* 10 */
        "    encoder: {plugin: mlp, embed: 16, hidden: [32]}\n"                   /* 11 */
        "    decoder: {plugin: mlp, hidden: [32]}\n"                              /* 12 */
        "    likelihood: categorical\n"                                           /* 13 */
        "    weight: 50.0\n"                                                      /* 14 */
        "fusion: {plugin: poe}\n"                                                 /* 15 */
        "train:\n"                                                                /* 16 */
        "  epochs: 3\n"                                                           /* 17 */
        "  batch_size: 50\n"                                                      /* 18 */
        "  threads: 1\n"                                                          /* 19 */
        "  progress: none\n"                                                      /* 20 */
        "  optimizer: {adam: {lr: 1.0e-2}}\n"                                     /* 21 */
        "eval:\n"                                                                 /* 22 */
        "  batch_size: 50\n"                                                      /* 23 */
        "  log_likelihood: {samples: 16, max_test: 20, terms: [\"image\", \"image,label\", \"image|label\"]}\n"
        "  accuracy: {from: image, predict: label}\n";
    size_t n = strlen(fmt) + strlen(data_dir) + 1;
    char *s = malloc(n);
    snprintf(s, n, fmt, data_dir);
    return s;
}

/* tiny_yaml(data_dir) written to `path`. Returns 0 on success. */
static inline int tiny_write_yaml(const char *path, const char *data_dir) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    char *y = tiny_yaml(data_dir);
    int bad = fputs(y, f) < 0;
    free(y);
    return fclose(f) || bad ? -1 : 0;
}

/* Replace the first occurrence of `from` in s by `to` (s is freed; a new string is returned).
 * Aborts the test when `from` is missing, so a stale template cannot silently pass. */
static inline char *tiny_replace(char *s, const char *from, const char *to) {
    char *p = strstr(s, from);
    if (!p) {
        fprintf(stderr, "tiny_replace: '%s' not in the template\n", from);
        abort();
    }
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    free(s);
    return o;
}

static inline int tiny_rm_one_(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}
static inline void tiny_rm_rf(const char *dir) { nftw(dir, tiny_rm_one_, 16, FTW_DEPTH | FTW_PHYS); }

/* Whole file into a malloc'd NUL-terminated buffer (NULL if unreadable). */
static inline char *tiny_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = '\0';
    if (len) *len = got;
    return b;
}
/* The tiny experiment on `data` with --set style overrides (NULL-terminated, may be NULL): the
 * config, or NULL with err filled. */
static inline mvae_cfg *tiny_cfg(const char *data, const char *const *sets, mvae_error *err) {
    char *y = tiny_yaml(data);
    mvae_cfg *cfg = NULL;
    int rc = mvae_cfg_load_string(y, "tiny.yaml", &cfg, err);
    free(y);
    for (int i = 0; !rc && sets && sets[i]; i++) rc = mvae_cfg_set(cfg, sets[i], err);
    if (rc) {
        mvae_cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Its model: NULL with err filled on failure. *cfg_out receives the config (NULL when it did
 * not load); the caller frees both. */
static inline mvae_model *tiny_model(const mvae_registry *reg, const char *data, const char *const *sets,
                                     mvae_cfg **cfg_out, mvae_error *err) {
    mvae_model *m = NULL;
    *cfg_out = tiny_cfg(data, sets, err);
    if (*cfg_out && mvae_model_build(*cfg_out, reg, &m, err)) m = NULL;
    return m;
}

/* A test group's environment: a temporary root with the tiny data set in <root>/data and the
 * build tree's plugins loaded. For cmocka group setup/teardown:
 *   static int setup(void **state) { return tiny_env_open(state, "train", 300, 100); }
 *   static int teardown(void **state) { return tiny_env_close(state); } */
typedef struct tiny_env {
    char dir[128];  /* the temporary root */
    char data[256]; /* the tiny data set */
    mvae_registry *reg;
    int n_runs;     /* for tests that number run directories */
} tiny_env;

/* A temporary root /tmp/mvae_test_<name>_XXXXXX (into dir) holding the tiny data set in
 * <root>/data (into data). Returns 0 on success. */
static inline int tiny_root_make(char *dir, size_t dir_len, char *data, size_t data_len, const char *name,
                                 int n_train, int n_test) {
    snprintf(dir, dir_len, "/tmp/mvae_test_%s_XXXXXX", name);
    if (!mkdtemp(dir)) return -1;
    snprintf(data, data_len, "%s/data", dir);
    mkdir(data, 0777);
    return tiny_write_dataset(data, n_train, n_test);
}

static inline int tiny_env_open(void **state, const char *name, int n_train, int n_test) {
    tiny_env *e = calloc(1, sizeof *e);
    if (!e) return -1;
    if (tiny_root_make(e->dir, sizeof e->dir, e->data, sizeof e->data, name, n_train, n_test)) return -1;
    mvae_error err = {0};
    e->reg = mvae_registry_new();
    if (mvae_registry_load_dir(e->reg, MVAE_BINARY_DIR "/plugins", &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = e;
    return 0;
}

static inline int tiny_env_close(void **state) {
    tiny_env *e = *state;
    mvae_registry_free(e->reg);
    tiny_rm_rf(e->dir);
    free(e);
    return 0;
}

/* tiny_model in the environment, asserting that it builds (the error printed when not). */
static inline mvae_model *tiny_build(const tiny_env *e, const char *const *sets, mvae_cfg **cfg_out) {
    mvae_error err = {0};
    mvae_model *m = tiny_model(e->reg, e->data, sets, cfg_out, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    return m;
}

static inline void tiny_destroy(mvae_model *m, mvae_cfg *cfg) {
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}
#endif
