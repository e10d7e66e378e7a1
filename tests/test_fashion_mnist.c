/* test_fashion_mnist.c — the fashion_mnist dataset's storage: disk (images read per sample from a
 * cache file) against storage: memory on tiny generated IDX files: bit-identical batches (both
 * splits, binarize on and off, limits), the cache's place ($MVAE_CACHE_DIR/fashion_mnist or
 * dataset.cache_dir), its reuse, its rebuild when the source changes, when it holds too few
 * images, is truncated or is not a cache at all, a read error in get_batch, the fallback to memory
 * (one warning) when the cache cannot be written, concurrent builders, and a bad `storage:`.
 * Every test points MVAE_CACHE_DIR or dataset.cache_dir into its own temporary directory. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/interfaces.h"
#include "mvae/plugin.h"
#include "tiny_data.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUILD_PLUGINS MVAE_BINARY_DIR "/plugins"
#define N_TRAIN 37
#define N_TEST 23

typedef struct fx {
    char tmp[128];   /* everything lives under here */
    char data[200];  /* the IDX files */
    char cache[200]; /* dataset.cache_dir of the tests that name one */
    mvae_registry *reg;
    const mvae_plugin_desc *desc;
    const mvae_dataset_vtable *vt;
    char *old_env; /* MVAE_CACHE_DIR before the test */
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    snprintf(f->tmp, sizeof f->tmp, "/tmp/mvae_test_fm_XXXXXX");
    if (!mkdtemp(f->tmp)) return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->tmp);
    snprintf(f->cache, sizeof f->cache, "%s/cache", f->tmp);
    mkdir(f->data, 0777);
    if (tiny_write_dataset(f->data, N_TRAIN, N_TEST)) return -1;
    const char *env = getenv("MVAE_CACHE_DIR");
    f->old_env = env ? strdup(env) : NULL;
    char envdir[200];
    snprintf(envdir, sizeof envdir, "%s/env", f->tmp);
    setenv("MVAE_CACHE_DIR", envdir, 1); /* never the user's home */
    f->reg = mvae_registry_new();
    mvae_error err = {0};
    if (mvae_registry_load_dir(f->reg, BUILD_PLUGINS, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    f->desc = mvae_registry_require(f->reg, MVAE_PLUGIN_DATASET, "fashion_mnist", &err);
    if (!f->desc) return -1;
    f->vt = f->desc->vtable;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    mvae_registry_free(f->reg);
    if (f->old_env)
        setenv("MVAE_CACHE_DIR", f->old_env, 1);
    else
        unsetenv("MVAE_CACHE_DIR");
    free(f->old_env);
    tiny_rm_rf(f->tmp);
    free(f);
    return 0;
}

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle))
        fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

/* ---- warnings ---- */
static char g_log[8192];
static int g_warnings;
static void capture(mvae_log_level level, const char *msg, void *user) {
    (void)user;
    if (level < MVAE_LOG_WARN) return;
    g_warnings++;
    snprintf(g_log + strlen(g_log), sizeof g_log - strlen(g_log), "%s\n", msg);
}
static void capture_start(void) {
    g_log[0] = '\0';
    g_warnings = 0;
    mvae_log_set_sink(capture, NULL);
}
static void capture_stop(void) {
    mvae_log_set_sink(NULL, NULL);
}

/* Open with `yaml` (a flow map: the dataset section), checked against the plugin's options
 * first when `validate`. */
static int open_yaml(fx *f, const char *yaml, bool validate, void **ds, mvae_error *err) {
    mvae_cfg *cfg = NULL;
    *ds = NULL;
    memset(err, 0, sizeof *err);
    assert_int_equal(mvae_cfg_load_string(yaml, "exp.yaml", &cfg, err), MVAE_OK);
    static const char *const extra[] = {"plugin", NULL};
    int rc = validate ? mvae_cfg_validate(cfg, mvae_cfg_root(cfg), f->desc->options, "dataset",
                                          extra, err)
                      : MVAE_OK;
    if (rc == MVAE_OK) rc = f->vt->open(mvae_cfg_root(cfg), ds, err);
    mvae_cfg_free(cfg);
    return rc;
}

/* Open with storage `storage`, the other settings in `more` (", key: value, ..." or ""). */
static void *open_ok(fx *f, const char *storage, const char *more) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "{plugin: fashion_mnist, path: '%s', storage: %s%s}", f->data,
             storage, more);
    mvae_error err;
    void *ds;
    int rc = open_yaml(f, yaml, true, &ds, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_non_null(ds);
    return ds;
}

/* Every sample of `split` in a scrambled order, in batches of 7: images and labels as floats. */
static float *read_split(fx *f, void *ds, int split, int64_t *n_out) {
    int64_t n = f->vt->size(ds, split);
    *n_out = n;
    float *all = calloc((size_t)(n ? n : 1) * 785, sizeof *all);
    enum { B = 7 };
    float img[B * 784], lab[B];
    uint8_t present[2 * B];
    float *out[2] = {img, lab};
    for (int64_t s = 0; s < n; s += B) {
        int64_t idx[B];
        int nb = (int)(n - s < B ? n - s : B);
        for (int i = 0; i < nb; i++)
            idx[i] = (s + i) * 11 % n; /* 11 and 37 / 23 / 10 / 5 are coprime */
        mvae_error err = {0};
        memset(present, 0, sizeof present);
        int rc = f->vt->get_batch(ds, split, idx, nb, out, present, &err);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, MVAE_OK);
        for (int i = 0; i < nb; i++) {
            memcpy(all + idx[i] * 785, img + i * 784, 784 * sizeof(float));
            memcpy(all + idx[i] * 785 + 784, lab + i, sizeof(float));
            assert_int_equal(present[2 * i], 1);
            assert_int_equal(present[2 * i + 1], 1);
        }
    }
    return all;
}

/* Both splits of two open datasets give the same bytes. */
static void assert_same_data(fx *f, void *a, void *b) {
    for (int split = MVAE_SPLIT_TRAIN; split <= MVAE_SPLIT_TEST; split++) {
        int64_t na, nb;
        float *va = read_split(f, a, split, &na), *vb = read_split(f, b, split, &nb);
        assert_int_equal(na, nb);
        assert_true(na > 0);
        assert_memory_equal(va, vb, (size_t)na * 785 * sizeof(float));
        free(va);
        free(vb);
    }
}

/* The images match what tiny_data wrote (grey levels). */
static void assert_tiny_pixels(fx *f, void *ds, int split, int seed_split) {
    int64_t n;
    float *v = read_split(f, ds, split, &n);
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 784; k++)
            assert_true(v[i * 785 + k] == tiny_pixel(seed_split, (int)i, k) * (1.0f / 255.0f));
        int32_t l;
        memcpy(&l, v + i * 785 + 784, sizeof l);
        assert_int_equal(l, tiny_label(seed_split, (int)i));
    }
    free(v);
}

/* The one cache in `dir` whose name starts with `prefix` ("" when there is none; fails on two);
 * temporary files are not counted. */
static void find_cache(const char *dir, const char *prefix, char *out, size_t len) {
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || strstr(e->d_name, ".tmp.")) continue;
        assert_true(out[0] == '\0');
        snprintf(out, len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
}

/* Files in `dir` with ".tmp." in their name (left-over temporary caches). */
static int count_tmp(const char *dir) {
    int c = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) c++;
    closedir(d);
    return c;
}

static struct stat stat_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st;
}
static bool same_file_version(const struct stat *a, const struct stat *b) {
    return a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_size == b->st_size;
}

/* ---- tests ---- */

static void test_disk_equals_memory(void **state) {
    fx *f = *state;
    const char *variants[] = {
        "",
        ", binarize: true",
        ", train_limit: 10, test_limit: 5",
        ", binarize: true, train_limit: 10",
        ", train_limit: 1000, test_limit: 1000", /* limits above the counts: all */
    };
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        char more[256];
        snprintf(more, sizeof more, ", cache_dir: '%s'%s", f->cache, variants[v]);
        void *mem = open_ok(f, "memory", variants[v]), *disk = open_ok(f, "disk", more);
        assert_int_equal(f->vt->size(disk, MVAE_SPLIT_TRAIN), f->vt->size(mem, MVAE_SPLIT_TRAIN));
        assert_int_equal(f->vt->size(disk, MVAE_SPLIT_TEST), f->vt->size(mem, MVAE_SPLIT_TEST));
        assert_same_data(f, mem, disk);
        if (v == 0) {
            assert_tiny_pixels(f, disk, MVAE_SPLIT_TRAIN, 0);
            assert_tiny_pixels(f, disk, MVAE_SPLIT_TEST, 1);
        }
        f->vt->close(mem);
        f->vt->close(disk);
    }
    /* the limits cut the splits */
    void *ds = open_ok(f, "disk", ", train_limit: 10, test_limit: 5");
    assert_int_equal(f->vt->size(ds, MVAE_SPLIT_TRAIN), 10);
    assert_int_equal(f->vt->size(ds, MVAE_SPLIT_TEST), 5);
    f->vt->close(ds);
    /* one cache per split, nothing left over */
    char path[512];
    find_cache(f->cache, "train-images-", path, sizeof path);
    assert_true(path[0]);
    find_cache(f->cache, "t10k-images-", path, sizeof path);
    assert_true(path[0]);
    assert_int_equal(count_tmp(f->cache), 0);
}

static void test_default_place(void **state) {
    fx *f = *state;
    /* disk is the default; the cache goes to $MVAE_CACHE_DIR/fashion_mnist */
    char yaml[512], dir[300], path[512];
    snprintf(yaml, sizeof yaml, "{plugin: fashion_mnist, path: '%s'}", f->data);
    mvae_error err;
    void *ds;
    assert_int_equal(open_yaml(f, yaml, false, &ds, &err), MVAE_OK);
    snprintf(dir, sizeof dir, "%s/env/fashion_mnist", f->tmp);
    find_cache(dir, "train-images-", path, sizeof path);
    assert_true(path[0]);
    assert_int_equal(stat_of(path).st_size, 128 + N_TRAIN * 784);
    find_cache(dir, "t10k-images-", path, sizeof path);
    assert_true(path[0]);
    assert_int_equal(stat_of(path).st_size, 128 + N_TEST * 784);
    assert_tiny_pixels(f, ds, MVAE_SPLIT_TEST, 1);
    f->vt->close(ds);
    /* the schema declares both options, with their defaults and choices */
    const mvae_option *o = f->desc->options, *st = NULL, *cd = NULL;
    for (; o->key; o++) {
        if (strcmp(o->key, "storage") == 0) st = o;
        if (strcmp(o->key, "cache_dir") == 0) cd = o;
    }
    assert_non_null(st);
    assert_non_null(cd);
    assert_string_equal(st->default_value, "disk");
    assert_non_null(st->choices);
    assert_string_equal(st->choices[0], "disk");
    assert_string_equal(st->choices[1], "memory");
    assert_null(st->choices[2]);
    assert_string_equal(cd->default_value, "");
    assert_non_null(strstr(st->help, "memory"));
}

/* Open in disk mode once (which writes the cache in f->cache), close, and find the training
 * images' cache file: its path in path, the options string used in more. */
static void build_cache(fx *f, char *more, size_t more_len, char *path, size_t path_len) {
    snprintf(more, more_len, ", cache_dir: '%s'", f->cache);
    f->vt->close(open_ok(f, "disk", more));
    find_cache(f->cache, "train-images-", path, path_len);
    assert_true(path[0]);
}

static void test_cache_reused_and_rebuilt(void **state) {
    fx *f = *state;
    char more[300], path[512];
    build_cache(f, more, sizeof more, path, sizeof path);
    void *ds;
    struct stat first = stat_of(path);

    /* a second open reads the same file: not rewritten */
    ds = open_ok(f, "disk", more);
    struct stat again = stat_of(path);
    assert_true(same_file_version(&first, &again));
    assert_tiny_pixels(f, ds, MVAE_SPLIT_TRAIN, 0);
    f->vt->close(ds);

    /* fewer images than it holds: reused; more than it holds: rebuilt */
    char limited[400];
    snprintf(limited, sizeof limited, "%s, train_limit: 5", more);
    ds = open_ok(f, "disk", limited);
    f->vt->close(ds);
    again = stat_of(path);
    assert_true(same_file_version(&first, &again));
    char other[300];
    snprintf(other, sizeof other, "%s/other", f->tmp);
    snprintf(limited, sizeof limited, ", cache_dir: '%s', train_limit: 5", other);
    ds = open_ok(f, "disk", limited);
    f->vt->close(ds);
    char opath[512];
    find_cache(other, "train-images-", opath, sizeof opath);
    assert_int_equal(stat_of(opath).st_size, 128 + 5 * 784);
    snprintf(limited, sizeof limited, ", cache_dir: '%s'", other);
    ds = open_ok(f, "disk", limited);
    assert_int_equal(stat_of(opath).st_size, 128 + N_TRAIN * 784);
    assert_tiny_pixels(f, ds, MVAE_SPLIT_TRAIN, 0);
    f->vt->close(ds);

    /* the source changes (other images, same count): rebuilt, and the new images come back */
    assert_int_equal(tiny_write_split(f->data, "train", 5, N_TRAIN, -1), 0);
    ds = open_ok(f, "disk", more);
    struct stat rebuilt = stat_of(path);
    assert_false(same_file_version(&first, &rebuilt));
    assert_tiny_pixels(f, ds, MVAE_SPLIT_TRAIN, 5);
    void *mem = open_ok(f, "memory", "");
    assert_same_data(f, mem, ds);
    f->vt->close(mem);
    f->vt->close(ds);

    /* the source is touched (same bytes, a new mtime): rebuilt too */
    struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 0},
                             {.tv_sec = 1000000000, .tv_nsec = 0}};
    char src[400];
    snprintf(src, sizeof src, "%s/train-images-idx3-ubyte.gz", f->data);
    assert_int_equal(utimensat(AT_FDCWD, src, ts, 0), 0);
    ds = open_ok(f, "disk", more);
    struct stat touched = stat_of(path);
    assert_false(same_file_version(&rebuilt, &touched));
    f->vt->close(ds);
    assert_int_equal(count_tmp(f->cache), 0);
}

static void test_damaged_cache_rebuilt(void **state) {
    fx *f = *state;
    char more[300], path[512];
    build_cache(f, more, sizeof more, path, sizeof path);
    void *ds;
    const off_t full = 128 + N_TRAIN * 784;
    void *mem = open_ok(f, "memory", "");

    /* truncated in the middle of an image, after a whole image, to the header, to nothing */
    const off_t cuts[] = {128 + 3 * 784 + 100, 128 + 20 * 784, 128, 60, 0};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        assert_int_equal(truncate(path, cuts[c]), 0);
        ds = open_ok(f, "disk", more);
        assert_int_equal(stat_of(path).st_size, full);
        assert_same_data(f, mem, ds);
        f->vt->close(ds);
    }
    /* a foreign file of the right size: a changed magic, a changed version, a changed count */
    const long offsets[] = {0, 8, 24};
    for (size_t c = 0; c < sizeof offsets / sizeof *offsets; c++) {
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        fseek(fp, offsets[c], SEEK_SET);
        fputc(0x7f, fp);
        fclose(fp);
        struct stat before = stat_of(path);
        ds = open_ok(f, "disk", more);
        struct stat after = stat_of(path);
        assert_false(same_file_version(&before, &after));
        assert_int_equal(after.st_size, full);
        assert_same_data(f, mem, ds);
        f->vt->close(ds);
    }
    /* a longer file than its header says (junk appended) */
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    fputs("junk", fp);
    fclose(fp);
    ds = open_ok(f, "disk", more);
    assert_int_equal(stat_of(path).st_size, full);
    f->vt->close(ds);
    f->vt->close(mem);
}

static void test_read_error(void **state) {
    fx *f = *state;
    char more[300], path[512];
    snprintf(more, sizeof more, ", cache_dir: '%s'", f->cache);
    void *ds = open_ok(f, "disk", more);
    find_cache(f->cache, "t10k-images-", path, sizeof path);
    assert_true(path[0]);
    /* the open file shrinks under the dataset: sample 4 ends early, sample 2 is still whole */
    assert_int_equal(truncate(path, 128 + 4 * 784 + 10), 0);
    float img[784], lab[1];
    uint8_t present[2];
    float *out[2] = {img, lab};
    mvae_error err = {0};
    int64_t ok_idx[] = {2}, bad_idx[] = {4}, gone_idx[] = {20};
    assert_int_equal(f->vt->get_batch(ds, MVAE_SPLIT_TEST, ok_idx, 1, out, present, &err), MVAE_OK);
    assert_int_equal(f->vt->get_batch(ds, MVAE_SPLIT_TEST, bad_idx, 1, out, present, &err),
                     MVAE_ERR_IO);
    assert_has(err.msg, path);
    assert_has(err.msg, "sample 4 of the test split");
    assert_has(err.msg, "delete the file");
    mvae_error_clear(&err);
    assert_int_equal(f->vt->get_batch(ds, MVAE_SPLIT_TEST, gone_idx, 1, out, present, &err),
                     MVAE_ERR_IO);
    assert_has(err.msg, path);
    f->vt->close(ds);
    /* the next open rebuilds it */
    ds = open_ok(f, "disk", more);
    assert_int_equal(stat_of(path).st_size, 128 + N_TEST * 784);
    assert_tiny_pixels(f, ds, MVAE_SPLIT_TEST, 1);
    f->vt->close(ds);
}

static void test_unwritable_falls_back(void **state) {
    fx *f = *state;
    char file[300], yaml[700];
    snprintf(file, sizeof file, "%s/a_file", f->tmp);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    void *mem = open_ok(f, "memory", "");
    /* a directory under a regular file (mkdir fails, even for root), and a regular file as the
     * directory (the temporary file cannot be created) */
    const char *dirs[2] = {"/sub/dir", ""};
    for (int c = 0; c < 2; c++) {
        snprintf(yaml, sizeof yaml, ", cache_dir: '%s%s'", file, dirs[c]);
        capture_start();
        void *ds = open_ok(f, "disk", yaml);
        capture_stop();
        assert_int_equal(g_warnings, 1); /* one line for both splits */
        assert_has(g_log, "cannot keep the image cache on disk");
        assert_has(g_log, file);
        assert_has(g_log, "in memory");
        assert_has(g_log, "MVAE_CACHE_DIR");
        assert_ptr_equal(strchr(g_log, '\n'), g_log + strlen(g_log) - 1); /* one line */
        assert_same_data(f, mem, ds);
        f->vt->close(ds);
    }
    assert_int_equal(stat_of(file).st_size, 0);
    /* neither MVAE_CACHE_DIR nor HOME: memory too */
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    unsetenv("MVAE_CACHE_DIR");
    unsetenv("HOME");
    capture_start();
    void *ds = open_ok(f, "disk", "");
    capture_stop();
    if (home) setenv("HOME", home, 1);
    free(home);
    assert_int_equal(g_warnings, 1);
    assert_has(g_log, "neither MVAE_CACHE_DIR nor HOME is set");
    assert_same_data(f, mem, ds);
    f->vt->close(ds);
    /* storage: memory writes nothing and says nothing */
    capture_start();
    snprintf(yaml, sizeof yaml, ", cache_dir: '%s'", f->cache);
    ds = open_ok(f, "memory", yaml);
    capture_stop();
    assert_int_equal(g_warnings, 0);
    assert_int_equal(access(f->cache, F_OK), -1);
    f->vt->close(ds);
    f->vt->close(mem);
}

static void test_concurrent_builders(void **state) {
    fx *f = *state;
    /* a bigger train split, so that builds overlap */
    assert_int_equal(tiny_write_split(f->data, "train", 0, 2000, -1), 0);
    char more[300];
    snprintf(more, sizeof more, ", cache_dir: '%s'", f->cache);
    enum { KIDS = 3, ROUNDS = 6 };
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            int bad = 0;
            for (int r = 0; r < ROUNDS; r++) {
                char path[512];
                find_cache(f->cache, "train-images-", path, sizeof path);
                if (path[0] && r % 2 == k % 2) unlink(path); /* make the others build too */
                capture_start();
                char yaml[600];
                snprintf(yaml, sizeof yaml, "{plugin: fashion_mnist, path: '%s', cache_dir: '%s'}",
                         f->data, f->cache);
                mvae_cfg *cfg = NULL;
                mvae_error err = {0};
                void *ds = NULL;
                if (mvae_cfg_load_string(yaml, "exp.yaml", &cfg, &err) ||
                    f->vt->open(mvae_cfg_root(cfg), &ds, &err)) {
                    fprintf(stderr, "child %d: %s\n", k, err.msg);
                    bad = 1;
                }
                mvae_cfg_free(cfg);
                capture_stop();
                if (g_warnings) fprintf(stderr, "child %d: %s", k, g_log), bad = 1;
                for (int64_t i = 0; ds && i < 2000 && !bad; i += 97) {
                    float img[784], lab[1];
                    uint8_t present[2];
                    float *out[2] = {img, lab};
                    if (f->vt->get_batch(ds, MVAE_SPLIT_TRAIN, &i, 1, out, present, &err)) bad = 1;
                    for (int p = 0; p < 784 && !bad; p++)
                        if (img[p] != tiny_pixel(0, (int)i, p) * (1.0f / 255.0f)) bad = 1;
                }
                if (ds) f->vt->close(ds);
            }
            _exit(bad);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int status = 0;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(count_tmp(f->cache), 0);
    char path[512];
    find_cache(f->cache, "train-images-", path, sizeof path);
    if (path[0]) assert_int_equal(stat_of(path).st_size, 128 + 2000 * 784);
}

static void test_bad_storage(void **state) {
    fx *f = *state;
    char yaml[512];
    mvae_error err;
    void *ds;
    /* the plugin's own check (a section that was not validated) */
    snprintf(yaml, sizeof yaml, "{plugin: fashion_mnist, path: '%s', storage: tape}", f->data);
    assert_int_equal(open_yaml(f, yaml, false, &ds, &err), MVAE_ERR_INVALID);
    assert_null(ds);
    assert_has(err.msg, "exp.yaml:1:");
    assert_has(err.msg, "'tape'");
    assert_has(err.msg, "dataset.storage");
    assert_has(err.msg, "one of disk, memory");
    /* a quoted or differently cased value is not one either */
    snprintf(yaml, sizeof yaml, "{plugin: fashion_mnist, path: '%s', storage: Disk}", f->data);
    assert_int_equal(open_yaml(f, yaml, false, &ds, &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "'Disk'");
    /* and the schema refuses it before the plugin sees it */
    snprintf(yaml, sizeof yaml, "{plugin: fashion_mnist, path: '%s', storage: tape}", f->data);
    assert_int_equal(open_yaml(f, yaml, true, &ds, &err), MVAE_ERR_INVALID);
    assert_null(ds);
    assert_has(err.msg, "storage");
    assert_has(err.msg, "memory");
    /* cache_dir must be a string */
    snprintf(yaml, sizeof yaml, "{plugin: fashion_mnist, path: '%s', cache_dir: [a, b]}", f->data);
    assert_int_equal(open_yaml(f, yaml, false, &ds, &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "dataset.cache_dir");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disk_equals_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_reused_and_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_cache_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_builders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_storage, setup, teardown),
    };
    return mvae_test_run("fashion_mnist", tests, argc, argv);
}
