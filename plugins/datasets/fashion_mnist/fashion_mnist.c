/* fashion_mnist.c — dataset plugin: Fashion-MNIST (image + label) from the gzipped IDX files.
 *
 *   dataset:
 *     plugin: fashion_mnist
 *     path: /usr/share/datasets/fashion-mnist   # train-*.gz and t10k-*.gz live here
 *     binarize: false                           # true: pixel > 0.5 -> 1, else 0
 *     train_limit: 0                            # first N training samples (0 = all 60000)
 *     test_limit: 0                             # first N test samples (0 = all 10000)
 *
 * Modalities: "image" (MVAE_MOD_IMAGE, [1,28,28], byte / 255) and "label" (MVAE_MOD_CATEGORICAL,
 * [1], 10 classes, int32). Splits: train and test (no validation split). The decoded bytes stay
 * in memory (~55 MB for the full set); get_batch converts to float.
 */
#define _POSIX_C_SOURCE 200809L
#include "mvae/interfaces.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#define FM_DEFAULT_PATH "/usr/share/datasets/fashion-mnist"
#define FM_SIDE 28
#define FM_PIXELS (FM_SIDE * FM_SIDE)
#define FM_CLASSES 10
#define FM_MAGIC_IMAGES 0x00000803u
#define FM_MAGIC_LABELS 0x00000801u

static const char *const fm_class_names[FM_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

typedef struct fm_split {
    int64_t n;
    uint8_t *images; /* [n, 784] */
    uint8_t *labels; /* [n] */
} fm_split;

typedef struct fm_dataset {
    mvae_modality_info mods[2];
    fm_split split[2]; /* MVAE_SPLIT_TRAIN, MVAE_SPLIT_TEST */
    bool binarize;
} fm_dataset;

/* ---- options: read straight from the node tree (no dependency on the YAML reader) ---- */

static const mvae_cfg_node *opt_get(const mvae_cfg_node *map, const char *key) {
    if (!map || map->kind != MVAE_CFG_MAP) return NULL;
    for (int i = 0; i < map->n_items; i++)
        if (map->items[i]->key && strcmp(map->items[i]->key, key) == 0) return map->items[i];
    return NULL;
}

static int opt_bad(const mvae_cfg_node *n, const char *key, const char *what, mvae_error *err) {
    return mvae_error_set(err, MVAE_ERR_INVALID, "%s:%d:%d: '%s' is not %s (key 'dataset.%s')",
                          n->file ? n->file : "<config>", n->line, n->col,
                          n->value ? n->value : "(not a scalar)", what, key);
}

static int opt_string(const mvae_cfg_node *map, const char *key, const char *def, const char **out,
                      mvae_error *err) {
    const mvae_cfg_node *n = opt_get(map, key);
    *out = def;
    if (!n) return MVAE_OK;
    if (n->kind != MVAE_CFG_SCALAR || !n->value) return opt_bad(n, key, "a string", err);
    *out = n->value;
    return MVAE_OK;
}

static int opt_bool(const mvae_cfg_node *map, const char *key, bool def, bool *out,
                    mvae_error *err) {
    const mvae_cfg_node *n = opt_get(map, key);
    *out = def;
    if (!n) return MVAE_OK;
    if (n->kind == MVAE_CFG_SCALAR && n->value && !n->quoted) {
        static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
                                                                               "off"};
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(n->value, yes[i]) == 0) return (*out = true), MVAE_OK;
            if (strcasecmp(n->value, no[i]) == 0) return (*out = false), MVAE_OK;
        }
    }
    return opt_bad(n, key, "a boolean (true/false)", err);
}

static int opt_count(const mvae_cfg_node *map, const char *key, int64_t *out, mvae_error *err) {
    const mvae_cfg_node *n = opt_get(map, key);
    *out = 0;
    if (!n) return MVAE_OK;
    if (n->kind == MVAE_CFG_SCALAR && n->value && n->value[0] && !n->quoted) {
        char *end;
        errno = 0;
        long long v = strtoll(n->value, &end, 10);
        if (*end == '\0' && errno == 0 && v >= 0) return (*out = v), MVAE_OK;
    }
    return opt_bad(n, key, "a non-negative integer", err);
}

/* ---- IDX reading ---- */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read up to `want` bytes; *got = bytes read. Returns MVAE_OK or an I/O error (corrupt gzip). */
static int gz_read_all(gzFile gz, const char *path, uint8_t *buf, size_t want, size_t *got,
                       mvae_error *err) {
    *got = 0;
    while (*got < want) {
        size_t chunk = want - *got;
        if (chunk > (1u << 30)) chunk = 1u << 30;
        int r = gzread(gz, buf + *got, (unsigned)chunk);
        if (r < 0) {
            int code;
            const char *msg = gzerror(gz, &code);
            return mvae_error_set(err, MVAE_ERR_FORMAT,
                                  "'%s' is not a valid gzip file (%s): re-download or reinstall "
                                  "the data set",
                                  path, msg ? msg : "read error");
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    return MVAE_OK;
}

static int not_found(const char *what, mvae_error *err) {
    return mvae_error_set(err, MVAE_ERR_IO,
                          "Fashion-MNIST not found at %s: install it with `sudo apt-get install "
                          "dataset-fashion-mnist` or set dataset.path",
                          what);
}

/* Open `dir/name`; read the big-endian header of `hdr_words` 32-bit words after checking the
 * magic. Returns the open gzFile in *out. */
static int idx_open(const char *path, uint32_t magic, int hdr_words, uint32_t *hdr, gzFile *out,
                    mvae_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return not_found(path, err);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return mvae_error_set(err, MVAE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    uint8_t raw[16];
    size_t want = (size_t)hdr_words * 4, got;
    int rc = gz_read_all(gz, path, raw, want, &got, err);
    if (rc == MVAE_OK && got < want)
        rc = mvae_error_set(err, MVAE_ERR_IO,
                            "'%s' is truncated: expected a %zu-byte IDX header, got %zu", path,
                            want, got);
    if (rc == MVAE_OK && be32(raw) != magic)
        rc = mvae_error_set(err, MVAE_ERR_FORMAT,
                            "'%s' has magic 0x%08x but an IDX %s file has 0x%08x: is it the right "
                            "file, or corrupted? (re-download or reinstall the data set)",
                            path, be32(raw), magic == FM_MAGIC_IMAGES ? "image" : "label", magic);
    if (rc) {
        gzclose(gz);
        return rc;
    }
    for (int i = 0; i < hdr_words; i++) hdr[i] = be32(raw + 4 * i);
    *out = gz;
    return MVAE_OK;
}

/* Read `n_keep` of the file's items of `item_bytes` each into a new buffer. */
static int idx_body(gzFile gz, const char *path, int64_t n_file, int64_t n_keep, size_t item_bytes,
                    const char *what, uint8_t **out, mvae_error *err) {
    size_t want = (size_t)n_keep * item_bytes, got;
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory reading '%s'", path);
    int rc = gz_read_all(gz, path, buf, want, &got, err);
    if (rc == MVAE_OK && got < want)
        rc = mvae_error_set(err, MVAE_ERR_IO,
                            "'%s' is truncated: expected %zu bytes of %s, got %zu (the header says "
                            "%lld items): re-download or reinstall the data set",
                            path, (size_t)n_file * item_bytes, what, got, (long long)n_file);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return MVAE_OK;
}

static int load_split(const char *dir, const char *prefix, int64_t limit, fm_split *s,
                      mvae_error *err) {
    char ipath[4096], lpath[4096];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    uint32_t ih[4] = {0}, lh[2] = {0};
    gzFile ig = NULL, lg = NULL;
    int rc = idx_open(ipath, FM_MAGIC_IMAGES, 4, ih, &ig, err);
    if (rc == MVAE_OK) rc = idx_open(lpath, FM_MAGIC_LABELS, 2, lh, &lg, err);
    if (rc == MVAE_OK && (ih[2] != FM_SIDE || ih[3] != FM_SIDE))
        rc = mvae_error_set(err, MVAE_ERR_FORMAT,
                            "'%s' has %ux%u images but Fashion-MNIST images are %dx%d: is it the "
                            "right file?",
                            ipath, ih[2], ih[3], FM_SIDE, FM_SIDE);
    if (rc == MVAE_OK && ih[1] != lh[1])
        rc = mvae_error_set(err, MVAE_ERR_FORMAT,
                            "'%s' has %u images but '%s' has %u labels: the files do not belong "
                            "together (re-download or reinstall the data set)",
                            ipath, ih[1], lpath, lh[1]);
    int64_t n_file = rc == MVAE_OK ? (int64_t)ih[1] : 0;
    int64_t n = (limit > 0 && limit < n_file) ? limit : n_file;
    if (rc == MVAE_OK) rc = idx_body(ig, ipath, n_file, n, FM_PIXELS, "pixels", &s->images, err);
    if (rc == MVAE_OK) rc = idx_body(lg, lpath, n_file, n, 1, "labels", &s->labels, err);
    for (int64_t i = 0; rc == MVAE_OK && i < n; i++)
        if (s->labels[i] >= FM_CLASSES)
            rc = mvae_error_set(err, MVAE_ERR_FORMAT,
                                "'%s': label %u of sample %lld is outside 0..%d: the file is "
                                "corrupted (re-download or reinstall the data set)",
                                lpath, s->labels[i], (long long)i, FM_CLASSES - 1);
    if (ig) gzclose(ig);
    if (lg) gzclose(lg);
    if (rc == MVAE_OK) s->n = n;
    return rc;
}

/* ---- vtable ---- */

static void fm_close(void *self) {
    fm_dataset *d = self;
    if (!d) return;
    for (int s = 0; s < 2; s++) {
        free(d->split[s].images);
        free(d->split[s].labels);
    }
    free(d);
}

static int fm_open(const mvae_cfg_node *opts, void **self, mvae_error *err) {
    *self = NULL;
    const char *path;
    bool binarize;
    int64_t train_limit, test_limit;
    int rc = opt_string(opts, "path", FM_DEFAULT_PATH, &path, err);
    if (rc == MVAE_OK) rc = opt_bool(opts, "binarize", false, &binarize, err);
    if (rc == MVAE_OK) rc = opt_count(opts, "train_limit", &train_limit, err);
    if (rc == MVAE_OK) rc = opt_count(opts, "test_limit", &test_limit, err);
    if (rc) return rc;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return not_found(path, err);

    fm_dataset *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    d->binarize = binarize;
    mvae_modality_info *im = &d->mods[0], *lb = &d->mods[1];
    snprintf(im->name, sizeof im->name, "image");
    im->type = MVAE_MOD_IMAGE;
    im->ndim = 3;
    im->shape[0] = 1;
    im->shape[1] = FM_SIDE;
    im->shape[2] = FM_SIDE;
    snprintf(lb->name, sizeof lb->name, "label");
    lb->type = MVAE_MOD_CATEGORICAL;
    lb->ndim = 1;
    lb->shape[0] = 1;
    lb->n_classes = FM_CLASSES;
    lb->class_names = fm_class_names;

    rc = load_split(path, "train", train_limit, &d->split[MVAE_SPLIT_TRAIN], err);
    if (rc == MVAE_OK) rc = load_split(path, "t10k", test_limit, &d->split[MVAE_SPLIT_TEST], err);
    if (rc) {
        fm_close(d);
        return rc;
    }
    *self = d;
    return MVAE_OK;
}

static int fm_n_modalities(void *self) {
    return 2;
}

static const mvae_modality_info *fm_modality(void *self, int m) {
    fm_dataset *d = self;
    return (m >= 0 && m < 2) ? &d->mods[m] : NULL;
}

static int64_t fm_size(void *self, int split) {
    fm_dataset *d = self;
    return (split == MVAE_SPLIT_TRAIN || split == MVAE_SPLIT_TEST) ? d->split[split].n : 0;
}

static int fm_get_batch(void *self, int split, const int64_t *idx, int n, float **out,
                        uint8_t *present, mvae_error *err) {
    fm_dataset *d = self;
    if (split != MVAE_SPLIT_TRAIN && split != MVAE_SPLIT_TEST)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "fashion_mnist has only the train and test splits (asked for split "
                              "%d)",
                              split);
    const fm_split *s = &d->split[split];
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= s->n)
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "fashion_mnist: sample index %lld is outside the %s split "
                                  "(0..%lld)",
                                  (long long)idx[i], split == MVAE_SPLIT_TRAIN ? "train" : "test",
                                  (long long)s->n - 1);
    const float scale = 1.0f / 255.0f;
    for (int i = 0; i < n; i++) {
        const uint8_t *px = s->images + idx[i] * FM_PIXELS;
        float *dst = out[0] + (size_t)i * FM_PIXELS;
        if (d->binarize)
            for (int k = 0; k < FM_PIXELS; k++) dst[k] = px[k] * scale > 0.5f ? 1.0f : 0.0f;
        else
            for (int k = 0; k < FM_PIXELS; k++) dst[k] = px[k] * scale;
        int32_t label = s->labels[idx[i]];
        memcpy(out[1] + i, &label, sizeof label); /* index modality: int32 in the float buffer */
        present[i * 2 + 0] = 1;
        present[i * 2 + 1] = 1;
    }
    return MVAE_OK;
}

static const mvae_dataset_vtable fm_vtable = {
    .open = fm_open,
    .close = fm_close,
    .n_modalities = fm_n_modalities,
    .modality = fm_modality,
    .size = fm_size,
    .get_batch = fm_get_batch,
};

static const mvae_option fm_options[] = {
    {.key = "path",
     .type = MVAE_OPT_STRING,
     .default_value = FM_DEFAULT_PATH,
     .help = "directory holding train-*-ubyte.gz and t10k-*-ubyte.gz"},
    {.key = "binarize",
     .type = MVAE_OPT_BOOL,
     .default_value = "false",
     .help = "threshold pixels at 0.5 (default: grey levels in [0,1])"},
    {.key = "train_limit",
     .type = MVAE_OPT_INT,
     .default_value = "0",
     .help = "use only the first N training samples (0 = all 60000)"},
    {.key = "test_limit",
     .type = MVAE_OPT_INT,
     .default_value = "0",
     .help = "use only the first N test samples (0 = all 10000)"},
    {.key = NULL},
};

static const mvae_plugin_desc fm_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DATASET, "fashion_mnist", "1.0.0",
    "Fashion-MNIST: 28x28 grey images + 10-class labels (60000 train / 10000 test)", &fm_vtable,
    fm_options);
MVAE_PLUGIN_DEFINE(fashion_mnist, fm_desc)
