/* fashion_mnist.c — dataset plugin: Fashion-MNIST (image + label) from the gzipped IDX files.
 *
 *   dataset:
 *     plugin: fashion_mnist
 *     path: /usr/share/datasets/fashion-mnist   # train-*.gz and t10k-*.gz live here
 *     binarize: false                           # true: pixel > 0.5 -> 1, else 0
 *     train_limit: 0                            # first N training samples (0 = all 60000)
 *     test_limit: 0                             # first N test samples (0 = all 10000)
 *     storage: disk                             # disk: images read from a cache file per batch;
 *                                               # memory: decoded images kept in memory (~55 MB)
 *     cache_dir: ""                             # "" = $MVAE_CACHE_DIR/fashion_mnist or
 *                                               #      ~/.cache/mvae/fashion_mnist
 *
 * Modalities: "image" (MVAE_MOD_IMAGE, [1,28,28], byte / 255) and "label" (MVAE_MOD_CATEGORICAL,
 * [1], 10 classes, int32). Splits: train and test (no validation split). Labels stay in memory;
 * get_batch converts the image bytes to float (the same code for both storages, so the values
 * are bit-identical).
 *
 * storage: disk decodes each split's images once into <cache_dir>/<train|t10k>-images-<hash>.cache
 * (hash: of the .gz file's absolute path) and keeps one descriptor per split open; get_batch
 * reads each sample with pread(), so the images live in the page cache, not in the process's
 * resident memory. The file starts with a header (magic, version, item count, and the source's
 * IDX count, size, mtime and gzip CRC-32/length trailer); a cache whose header does not match the
 * source, or whose size does not match its header (truncated), is rebuilt. It is written to
 * <name>.tmp.<pid>.<n> and renamed into place, so concurrent builders never see half a file.
 * A cache directory that cannot be written falls back to storage: memory with one warning.
 */
#define _XOPEN_SOURCE 700 /* pread, realpath, st_mtim */
#include "mvae/interfaces.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FM_DEFAULT_PATH "/usr/share/datasets/fashion-mnist"
#define FM_SIDE 28
#define FM_PIXELS (FM_SIDE * FM_SIDE)
#define FM_CLASSES 10
#define FM_MAGIC_IMAGES 0x00000803u
#define FM_MAGIC_LABELS 0x00000801u
#define FM_CACHE_MAGIC "MVAEFMI\x01"
#define FM_CACHE_VERSION 1u
#define FM_CACHE_HDR 128 /* bytes before the first image */

static const char *const fm_class_names[FM_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

typedef enum { FM_DISK, FM_MEMORY } fm_storage;
static const char *const fm_storage_names[] = {"disk", "memory", NULL};

typedef struct fm_split {
    int64_t n;
    uint8_t *images; /* storage: memory: [n, 784]; NULL with storage: disk */
    uint8_t *labels; /* [n] */
    int fd; /* storage: disk: the open cache file (image i at FM_CACHE_HDR + 784 i); else -1 */
    char cache[4200]; /* its path, for messages */
} fm_split;

typedef struct fm_dataset {
    mvae_modality_info mods[2];
    fm_split split[2]; /* MVAE_SPLIT_TRAIN, MVAE_SPLIT_TEST */
    bool binarize;
} fm_dataset;

/* The cache file's header; native byte order (a cache is local: a foreign one fails the version
 * check). Every field must match what the source gives now, else the cache is rebuilt. */
typedef struct fm_cache_hdr {
    char magic[8];       /* FM_CACHE_MAGIC */
    uint32_t version;    /* FM_CACHE_VERSION */
    uint32_t item_bytes; /* FM_PIXELS */
    int64_t n_items;     /* images in the file (the first n_items of the source) */
    int64_t n_source;    /* the image count in the source's IDX header */
    int64_t src_size;    /* the source .gz file: size, mtime */
    int64_t src_mtime_s, src_mtime_ns;
    uint32_t gz_crc, gz_isize; /* the gzip trailer: CRC-32 and length of the decoded data */
    uint64_t path_hash;        /* FNV-1a of the source's absolute path (also in the file name) */
    uint8_t reserved[FM_CACHE_HDR - 72];
} fm_cache_hdr;
_Static_assert(sizeof(fm_cache_hdr) == FM_CACHE_HDR, "the cache header is FM_CACHE_HDR bytes");

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

static int opt_choice(const mvae_cfg_node *map, const char *key, const char *const *names, int def,
                      int *out, mvae_error *err) {
    const mvae_cfg_node *n = opt_get(map, key);
    *out = def;
    if (!n) return MVAE_OK;
    if (n->kind == MVAE_CFG_SCALAR && n->value)
        for (int i = 0; names[i]; i++)
            if (strcmp(n->value, names[i]) == 0) return (*out = i), MVAE_OK;
    char what[128] = "one of";
    for (int i = 0; names[i]; i++)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s %s", i ? "," : "", names[i]);
    return opt_bad(n, key, what, err);
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

static int truncated_body(const char *path, int64_t n_file, size_t item_bytes, const char *what,
                          size_t got, mvae_error *err) {
    return mvae_error_set(err, MVAE_ERR_IO,
                          "'%s' is truncated: expected %zu bytes of %s, got %zu (the header says "
                          "%lld items): re-download or reinstall the data set",
                          path, (size_t)n_file * item_bytes, what, got, (long long)n_file);
}

/* Read `n_keep` of the file's items of `item_bytes` each into a new buffer. */
static int idx_body(gzFile gz, const char *path, int64_t n_file, int64_t n_keep, size_t item_bytes,
                    const char *what, uint8_t **out, mvae_error *err) {
    size_t want = (size_t)n_keep * item_bytes, got;
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory reading '%s'", path);
    int rc = gz_read_all(gz, path, buf, want, &got, err);
    if (rc == MVAE_OK && got < want) rc = truncated_body(path, n_file, item_bytes, what, got, err);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return MVAE_OK;
}

/* ---- the image cache (storage: disk) ---- */

/* The directory of the caches: dataset.cache_dir, else $MVAE_CACHE_DIR/fashion_mnist, else
 * ~/.cache/mvae/fashion_mnist. false (and `why`) when there is none. */
static bool cache_dir_of(const char *opt, char *out, size_t len, char *why, size_t wlen) {
    const char *reason;
    if (mvae_cache_dir(opt, "fashion_mnist", out, len, &reason)) return true;
    snprintf(why, wlen, "%s", reason);
    return false;
}

static void fall_back_to_memory(const char *why) {
    MVAE_WARN(
        "fashion_mnist: cannot keep the image cache on disk (%s): keeping the images in memory "
        "instead; set MVAE_CACHE_DIR (or dataset.cache_dir) to a writable directory, or "
        "dataset.storage: memory to silence this",
        why);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* The header a valid cache of the source `ipath` (`n_source` images) has now (n_items aside). */
static void cache_key(const char *ipath, int64_t n_source, fm_cache_hdr *key) {
    memset(key, 0, sizeof *key);
    memcpy(key->magic, FM_CACHE_MAGIC, sizeof key->magic);
    key->version = FM_CACHE_VERSION;
    key->item_bytes = FM_PIXELS;
    key->n_source = n_source;
    struct stat st;
    int fd = open(ipath, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0) {
        key->src_size = (int64_t)st.st_size;
        key->src_mtime_s = (int64_t)st.st_mtim.tv_sec;
        key->src_mtime_ns = (int64_t)st.st_mtim.tv_nsec;
        uint8_t t[8]; /* a gzip file ends with the CRC-32 and the length of its data */
        if (st.st_size >= 26 && pread(fd, t, 8, st.st_size - 8) == 8) {
            key->gz_crc =
                (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
            key->gz_isize =
                (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
        }
    }
    if (fd >= 0) close(fd);
    char abs[PATH_MAX];
    key->path_hash = fnv1a(realpath(ipath, abs) ? abs : ipath);
}

/* A read-only descriptor on `path` when it is a complete cache matching `key` with at least `n`
 * images; else -1 (missing, stale, foreign or truncated: the caller rebuilds it). */
static int cache_try(const char *path, const fm_cache_hdr *key, int64_t n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    fm_cache_hdr h;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h;
    int64_t n_items = ok ? h.n_items : -1;
    if (ok) {
        h.n_items = key->n_items;
        ok = memcmp(&h, key, sizeof h) == 0 && n_items >= n && n_items <= key->n_source &&
             (int64_t)st.st_size == FM_CACHE_HDR + n_items * FM_PIXELS;
    }
    if (!ok) {
        MVAE_DEBUG("fashion_mnist: the cache '%s' is stale or damaged: rebuilding it", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* 0, or the errno of the failed write (ENOSPC for a write that wrote nothing). */
static int write_all(int fd, const void *p, size_t len) {
    const uint8_t *b = p;
    while (len) {
        ssize_t w = write(fd, b, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : ENOSPC;
        b += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Decode the first `n` images of `gz` (just past its IDX header) into a new cache at `path`,
 * through a temporary file of this process renamed into place. MVAE_OK with *fd_out open on it;
 * MVAE_OK with *fd_out = -1 and `why` when the cache cannot be written (the caller falls back to
 * memory); or the source's error (corrupt, truncated). */
static int cache_build(gzFile gz, const char *ipath, int64_t n_file, const char *dir,
                       const char *path, fm_cache_hdr *key, int64_t n, int *fd_out, char *why,
                       size_t wlen, mvae_error *err) {
    static atomic_uint seq; /* two opens in one process use two names */
    *fd_out = -1;
    mvae_error derr = {0};
    if (mvae_mkdir_p(dir, &derr) != MVAE_OK) {
        snprintf(why, wlen, "%s", derr.msg);
        return MVAE_OK;
    }
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1u));
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(why, wlen, "cannot create '%s': %s", tmp, strerror(errno));
        return MVAE_OK;
    }
    enum { CHUNK = 1 << 18 };
    uint8_t *buf = malloc(CHUNK);
    int rc = buf ? MVAE_OK : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory writing '%s'", tmp);
    key->n_items = n;
    int werr = rc == MVAE_OK ? write_all(fd, key, sizeof *key) : 0;
    size_t want = (size_t)n * FM_PIXELS, done = 0;
    while (rc == MVAE_OK && !werr && done < want) {
        size_t chunk = want - done < CHUNK ? want - done : CHUNK, got;
        rc = gz_read_all(gz, ipath, buf, chunk, &got, err);
        if (rc == MVAE_OK && got < chunk)
            rc = truncated_body(ipath, n_file, FM_PIXELS, "pixels", done + got, err);
        if (rc == MVAE_OK) werr = write_all(fd, buf, chunk);
        done += chunk;
    }
    free(buf);
    bool ok = rc == MVAE_OK && !werr;
    if (rc == MVAE_OK && werr) snprintf(why, wlen, "cannot write '%s': %s", tmp, strerror(werr));
    if (ok && rename(tmp, path) != 0) {
        snprintf(why, wlen, "cannot rename '%s' into place: %s", tmp, strerror(errno));
        ok = false;
    }
    if (!ok) {
        close(fd);
        unlink(tmp);
        return rc;
    }
    *fd_out = fd;
    return MVAE_OK;
}

/* storage: disk for one split: s->fd open on a valid cache of the first n images of `ipath`
 * (reused or built from `gz`). s->fd = -1 and `why` when the cache cannot be written. */
static int images_to_cache(gzFile gz, const char *ipath, const char *prefix, const char *cache_dir,
                           int64_t n_file, int64_t n, fm_split *s, char *why, size_t wlen,
                           mvae_error *err) {
    fm_cache_hdr key;
    cache_key(ipath, n_file, &key);
    int w = snprintf(s->cache, sizeof s->cache, "%s/%s-images-%016llx.cache", cache_dir, prefix,
                     (unsigned long long)key.path_hash);
    if (w < 0 || (size_t)w >= sizeof s->cache) {
        snprintf(why, wlen, "the cache file's name is too long");
        return MVAE_OK;
    }
    s->fd = cache_try(s->cache, &key, n);
    if (s->fd >= 0) return MVAE_OK;
    return cache_build(gz, ipath, n_file, cache_dir, s->cache, &key, n, &s->fd, why, wlen, err);
}

/* *storage: FM_DISK, or FM_MEMORY (also after the cache could not be written: then it stays so
 * for the next split, so the warning is printed once). */
static int load_split(const char *dir, const char *prefix, int64_t limit, fm_storage *storage,
                      const char *cache_dir, fm_split *s, mvae_error *err) {
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
    if (rc == MVAE_OK && *storage == FM_DISK) {
        char why[4600] = "";
        rc = images_to_cache(ig, ipath, prefix, cache_dir, n_file, n, s, why, sizeof why, err);
        if (rc == MVAE_OK && s->fd < 0) {
            fall_back_to_memory(why);
            *storage = FM_MEMORY;
            gzclose(ig); /* the cache may have read part of it: start again */
            ig = NULL;
            rc = idx_open(ipath, FM_MAGIC_IMAGES, 4, ih, &ig, err);
        }
    }
    if (rc == MVAE_OK && s->fd < 0)
        rc = idx_body(ig, ipath, n_file, n, FM_PIXELS, "pixels", &s->images, err);
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
        if (d->split[s].fd >= 0) close(d->split[s].fd);
    }
    free(d);
}

static int fm_open(const mvae_cfg_node *opts, void **self, mvae_error *err) {
    *self = NULL;
    const char *path, *cache_opt;
    bool binarize;
    int64_t train_limit, test_limit;
    int storage_i;
    int rc = opt_string(opts, "path", FM_DEFAULT_PATH, &path, err);
    if (rc == MVAE_OK) rc = opt_bool(opts, "binarize", false, &binarize, err);
    if (rc == MVAE_OK) rc = opt_count(opts, "train_limit", &train_limit, err);
    if (rc == MVAE_OK) rc = opt_count(opts, "test_limit", &test_limit, err);
    if (rc == MVAE_OK) rc = opt_choice(opts, "storage", fm_storage_names, FM_DISK, &storage_i, err);
    if (rc == MVAE_OK) rc = opt_string(opts, "cache_dir", "", &cache_opt, err);
    if (rc) return rc;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return not_found(path, err);
    fm_storage storage = (fm_storage)storage_i;
    char cache_dir[4096] = "", why[256];
    if (storage == FM_DISK &&
        !cache_dir_of(cache_opt, cache_dir, sizeof cache_dir, why, sizeof why)) {
        fall_back_to_memory(why);
        storage = FM_MEMORY;
    }

    fm_dataset *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    d->split[0].fd = d->split[1].fd = -1;
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

    rc = load_split(path, "train", train_limit, &storage, cache_dir, &d->split[MVAE_SPLIT_TRAIN],
                    err);
    if (rc == MVAE_OK)
        rc = load_split(path, "t10k", test_limit, &storage, cache_dir, &d->split[MVAE_SPLIT_TEST],
                        err);
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
    uint8_t buf[FM_PIXELS];
    for (int i = 0; i < n; i++) {
        const uint8_t *px = s->images ? s->images + idx[i] * FM_PIXELS : buf;
        if (!s->images) { /* storage: disk */
            off_t off = FM_CACHE_HDR + (off_t)idx[i] * FM_PIXELS;
            size_t got = 0;
            while (got < FM_PIXELS) {
                ssize_t r = pread(s->fd, buf + got, FM_PIXELS - got, off + (off_t)got);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0)
                    return mvae_error_set(err, MVAE_ERR_IO,
                                          "fashion_mnist: cannot read sample %lld of the %s split "
                                          "from the cache '%s' (%s): delete the file and run "
                                          "again (it is rebuilt)",
                                          (long long)idx[i],
                                          split == MVAE_SPLIT_TRAIN ? "train" : "test", s->cache,
                                          r < 0 ? strerror(errno) : "the file ends early");
                got += (size_t)r;
            }
        }
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
     .range = "[0, inf)",
     .help = "use only the first N training samples (0 = all 60000)"},
    {.key = "test_limit",
     .type = MVAE_OPT_INT,
     .default_value = "0",
     .range = "[0, inf)",
     .help = "use only the first N test samples (0 = all 10000)"},
    {.key = "storage",
     .type = MVAE_OPT_STRING,
     .default_value = "disk",
     .help = "disk: images read per batch from a cache file ($MVAE_CACHE_DIR/fashion_mnist or "
             "~/.cache/mvae/fashion_mnist), not held in memory; memory: decoded into memory "
             "(~55 MB)",
     .choices = fm_storage_names},
    {.key = "cache_dir",
     .type = MVAE_OPT_STRING,
     .default_value = "",
     .help = "directory of the storage: disk cache (\"\" = $MVAE_CACHE_DIR/fashion_mnist or "
             "~/.cache/mvae/fashion_mnist)"},
    {.key = NULL},
};

static const mvae_plugin_desc fm_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DATASET, "fashion_mnist", "1.0.0",
    "Fashion-MNIST: 28x28 grey images + 10-class labels (60000 train / 10000 test)", &fm_vtable,
    fm_options);
MVAE_PLUGIN_DEFINE(fashion_mnist, fm_desc)
