/* checkpoint.c — the versioned, checksummed checkpoint file (format in mvae/checkpoint.h).
 *
 * Layout details the header leaves open:
 *  - each entry's data is its t->n floats (the padding between views is not stored);
 *  - with moments, all entries' m follow the data, then all entries' v (buffers included, so the
 *    three blocks have the same layout);
 *  - a file whose rng state is all zero was saved without an rng: loading leaves *rng alone.
 *
 * Loading reads the whole file, checks everything (size, magic, version, checksum, every field
 * against the declared store) and only then copies into ps/opt/rng, so a failed load changes
 * nothing. Every read is bounds-checked: garbage or truncated input gives an error, not a crash. */
#include "mvae/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char MAGIC[8] = {'M', 'V', 'A', 'E', 'C', 'K', 'P', 'T'};
/* smallest file: header without extra or entries, then the crc */
#define HEADER_BYTES (8 + 4 + 4 + 8 + 4 + 1 + 32 + 4)
#define MIN_FILE_BYTES (HEADER_BYTES + 4)
/* smallest entry record: u16 name_len, 1-byte name, u8 ndim, one i64 dim, u8 buffer */
#define MIN_ENTRY_BYTES (2 + 1 + 1 + 8 + 1)

static uint32_t crc_update(uint32_t crc, const void *buf, size_t len) {
    const unsigned char *p = buf;
    while (len > 0) {
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return crc;
}

/* ---- the kill tests' crash points ----------------------------------------------------------- */

void mvae_test_crash_point(const char *point) {
    /* MVAE_TEST_CRASH_AT=<point>:<n>: SIGKILL at the n-th hit of <point> in this process. The
     * hit count restarts whenever the variable's value changes. */
    static char spec[128];
    static long hits;
    const char *env = getenv("MVAE_TEST_CRASH_AT");
    if (!env || !*env) return;
    if (strncmp(spec, env, sizeof spec) != 0) {
        snprintf(spec, sizeof spec, "%s", env);
        hits = 0;
    }
    const char *colon = strrchr(spec, ':');
    size_t plen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (strlen(point) != plen || strncmp(point, spec, plen) != 0) return;
    long n = colon ? strtol(colon + 1, NULL, 10) : 1;
    if (++hits == (n > 0 ? n : 1)) {
        raise(SIGKILL);
        _exit(99); /* not reached */
    }
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct writer {
    FILE *f;
    uint32_t crc;
    bool ok;
} writer;

static void w_bytes(writer *w, const void *buf, size_t len) {
    if (!w->ok || len == 0) return;
    if (fwrite(buf, 1, len, w->f) != len) w->ok = false;
    w->crc = crc_update(w->crc, buf, len);
}

static void w_le(writer *w, uint64_t v, int nbytes) {
    unsigned char b[8];
    for (int i = 0; i < nbytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, (size_t)nbytes);
}

static void w_floats(writer *w, const float *x, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w_bytes(w, x, (size_t)n * sizeof(float));
#else
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        w_le(w, u, 4);
    }
#endif
}

static void fsync_dir_of(const char *path) {
    /* make the rename durable: fsync the directory holding path (best effort) */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else {
        size_t len = (size_t)(slash - path);
        if (len == 0) len = 1; /* "/file" */
        if (len >= sizeof dir) return;
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int mvae_checkpoint_save(const char *path, const mvae_params *ps, const mvae_optim *opt,
                         const mvae_rng *rng, const char *extra, mvae_error *err) {
    if (!path || !ps)
        return mvae_error_set(err, MVAE_ERR_INVALID, "checkpoint save: path or parameter store is NULL");
    if (!ps->finalized || !ps->data)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "file %s: cannot save a parameter store that is not finalized", path);
    size_t extra_len = extra ? strlen(extra) : 0;
    if (extra_len > UINT32_MAX)
        return mvae_error_set(err, MVAE_ERR_INVALID, "file %s: extra string too long (%zu bytes)", path,
                              extra_len);
    size_t tlen = strlen(path) + 5;
    char *tmp = malloc(tlen);
    if (!tmp) return mvae_error_set(err, MVAE_ERR_NOMEM, "file %s: out of memory", path);
    snprintf(tmp, tlen, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = mvae_error_set(err, MVAE_ERR_IO, "file %s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    writer w = {f, 0, true};
    const bool has_moments = ps->m && ps->v;
    w_bytes(&w, MAGIC, sizeof MAGIC);
    w_le(&w, MVAE_CHECKPOINT_VERSION, 4);
    w_le(&w, (uint32_t)ps->count, 4);
    w_le(&w, (uint64_t)(opt ? opt->step : 0), 8);
    w_le(&w, (uint32_t)(opt ? opt->kind : 0), 4);
    w_le(&w, has_moments ? 1 : 0, 1);
    for (int i = 0; i < 4; i++) w_le(&w, rng ? rng->s[i] : 0, 8);
    w_le(&w, (uint32_t)extra_len, 4);
    w_bytes(&w, extra, extra_len);
    for (int e = 0; e < ps->count; e++) {
        const mvae_param_entry *pe = &ps->entries[e];
        size_t nl = strlen(pe->name);
        w_le(&w, (uint16_t)nl, 2);
        w_bytes(&w, pe->name, nl);
        w_le(&w, (uint8_t)pe->t->ndim, 1);
        for (int d = 0; d < pe->t->ndim; d++) w_le(&w, (uint64_t)pe->t->shape[d], 8);
        w_le(&w, pe->buffer ? 1 : 0, 1);
    }
    for (int e = 0; e < ps->count; e++) w_floats(&w, ps->data + ps->entries[e].offset, ps->entries[e].t->n);
    if (has_moments) {
        for (int e = 0; e < ps->count; e++) w_floats(&w, ps->m + ps->entries[e].offset, ps->entries[e].t->n);
        for (int e = 0; e < ps->count; e++) w_floats(&w, ps->v + ps->entries[e].offset, ps->entries[e].t->n);
    }
    uint32_t crc = w.crc;
    w_le(&w, crc, 4);
    int saved_errno = 0;
    if (!w.ok || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        saved_errno = errno;
        w.ok = false;
    }
    if (fclose(f) != 0 && w.ok) {
        saved_errno = errno;
        w.ok = false;
    }
    if (!w.ok) {
        remove(tmp);
        int rc = mvae_error_set(err, MVAE_ERR_IO, "file %s: write failed: %s", tmp,
                                saved_errno ? strerror(saved_errno) : "short write");
        free(tmp);
        return rc;
    }
    mvae_test_crash_point("ckpt_tmp"); /* the temporary file is complete, not yet renamed */
    if (rename(tmp, path) != 0) {
        saved_errno = errno;
        remove(tmp);
        int rc = mvae_error_set(err, MVAE_ERR_IO, "file %s: cannot rename %s over it: %s", path, tmp,
                                strerror(saved_errno));
        free(tmp);
        return rc;
    }
    free(tmp);
    mvae_test_crash_point("ckpt_renamed"); /* renamed, the directory not yet synced */
    fsync_dir_of(path);
    return MVAE_OK;
}

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
    bool ok; /* false once a read ran past len */
} reader;

static const void *r_bytes(reader *r, size_t n) {
    if (!r->ok || n > r->len - r->pos) {
        r->ok = false;
        return NULL;
    }
    const void *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static uint64_t r_le(reader *r, int nbytes) {
    const unsigned char *b = r_bytes(r, (size_t)nbytes);
    if (!b) return 0;
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void read_floats(float *dst, const unsigned char *src, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, (size_t)n * sizeof(float));
#else
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *b = src + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&dst[i], &u, 4);
    }
#endif
}

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

static int read_file(const char *path, unsigned char **out, size_t *out_len, mvae_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return mvae_error_set(err, MVAE_ERR_IO, "file %s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mvae_error_set(err, MVAE_ERR_IO, "file %s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(f);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "file %s: out of memory reading %zu bytes", path, len);
    }
    size_t got = fread(buf, 1, len, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != len || rerr) {
        free(buf);
        return mvae_error_set(err, MVAE_ERR_IO, "file %s: read error (got %zu of %zu bytes)", path, got, len);
    }
    *out = buf;
    *out_len = len;
    return MVAE_OK;
}

/* One entry record of the file, matched to a store entry. */
typedef struct file_entry {
    int model; /* index into ps->entries */
} file_entry;

#define CORRUPT(...) mvae_error_set(err, MVAE_ERR_FORMAT, __VA_ARGS__)

/* The header up to and including the extra string, checked (magic, version, checksum, field
 * ranges). On success r is positioned after the extra string. */
typedef struct header {
    uint32_t n_entries, kind, extra_len;
    int64_t step;
    uint8_t has_moments;
    mvae_rng rng;
    const char *extra;
} header;

static int parse_header(const char *path, const unsigned char *buf, size_t len, reader *r, header *h,
                        mvae_error *err) {
    size_t cmp = len < sizeof MAGIC ? len : sizeof MAGIC;
    if (len == 0 || memcmp(buf, MAGIC, cmp) != 0)
        return CORRUPT("file %s: not an mvae checkpoint (%s)", path, len ? "bad magic" : "empty file");
    if (len < MIN_FILE_BYTES)
        return CORRUPT("file %s: only %zu bytes, shorter than a checkpoint header (%d): the file is "
                       "corrupted or truncated", path, len, MIN_FILE_BYTES);
    *r = (reader){buf, len - 4, sizeof MAGIC, true};
    uint32_t version = (uint32_t)r_le(r, 4);
    if (version > MVAE_CHECKPOINT_VERSION)
        return CORRUPT("file %s: checkpoint version %u is newer than this mvae (%u): upgrade mvae", path,
                       version, MVAE_CHECKPOINT_VERSION);
    if (version == 0) return CORRUPT("file %s: invalid checkpoint version 0", path);
    uint32_t stored_crc = (uint32_t)buf[len - 4] | (uint32_t)buf[len - 3] << 8 |
                          (uint32_t)buf[len - 2] << 16 | (uint32_t)buf[len - 1] << 24;
    if (crc_update(0, buf, len - 4) != stored_crc)
        return CORRUPT("file %s: checksum mismatch: the file is corrupted or truncated", path);

    /* The checksum matches, but the content is still validated field by field. */
    h->n_entries = (uint32_t)r_le(r, 4);
    h->step = (int64_t)r_le(r, 8);
    h->kind = (uint32_t)r_le(r, 4);
    h->has_moments = (uint8_t)r_le(r, 1);
    for (int i = 0; i < 4; i++) h->rng.s[i] = r_le(r, 8);
    h->extra_len = (uint32_t)r_le(r, 4);
    h->extra = r_bytes(r, h->extra_len);
    if (!r->ok) return CORRUPT("file %s: header runs past the end of the file: the file is corrupted", path);
    if (h->step < 0 || h->kind > MVAE_OPTIM_SGD || h->has_moments > 1)
        return CORRUPT("file %s: invalid header (step %lld, optimizer kind %u, has_moments %u): the "
                       "file is corrupted", path, (long long)h->step, h->kind, h->has_moments);
    if (h->extra_len && memchr(h->extra, '\0', h->extra_len))
        return CORRUPT("file %s: the metadata string holds a NUL byte: the file is corrupted", path);
    if (h->n_entries > (r->len - r->pos) / MIN_ENTRY_BYTES)
        return CORRUPT("file %s: %u entries cannot fit in the file: the file is corrupted", path, h->n_entries);
    return MVAE_OK;
}

static char *copy_extra(const header *h) {
    char *s = malloc((size_t)h->extra_len + 1);
    if (!s) return NULL;
    if (h->extra_len) memcpy(s, h->extra, h->extra_len);
    s[h->extra_len] = '\0';
    return s;
}

static int parse_and_load(const char *path, const unsigned char *buf, size_t len, mvae_params *ps,
                          mvae_optim *opt, mvae_rng *rng, mvae_checkpoint_check_fn check, void *user,
                          char **extra_out, mvae_error *err) {
    reader r;
    header h;
    int rc = parse_header(path, buf, len, &r, &h, err);
    if (rc) return rc;
    const uint32_t n_entries = h.n_entries, kind = h.kind;
    const int64_t step = h.step;
    const uint8_t has_moments = h.has_moments;
    const mvae_rng file_rng = h.rng;

    file_entry *fe = calloc(n_entries ? n_entries : 1, sizeof *fe);
    bool *seen = calloc(ps->count ? (size_t)ps->count : 1, sizeof *seen);
    char *extra_copy = NULL;
    if (!fe || !seen) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "file %s: out of memory", path);
        goto done;
    }
    uint64_t total = 0; /* floats per data block */
    for (uint32_t i = 0; i < n_entries; i++) {
        uint16_t nl = (uint16_t)r_le(&r, 2);
        const char *name = r_bytes(&r, nl);
        uint8_t ndim = (uint8_t)r_le(&r, 1);
        int64_t shape[MVAE_MAX_DIMS] = {0};
        if (r.ok && (ndim < 1 || ndim > MVAE_MAX_DIMS)) {
            rc = CORRUPT("file %s: entry %u has %u dims: the file is corrupted", path, i, ndim);
            goto done;
        }
        for (int d = 0; d < ndim; d++) shape[d] = (int64_t)r_le(&r, 8);
        uint8_t is_buffer = (uint8_t)r_le(&r, 1);
        if (!r.ok) {
            rc = CORRUPT("file %s: entry table runs past the end of the file: the file is corrupted", path);
            goto done;
        }
        char nm[sizeof ps->entries[0].name];
        if (nl == 0 || nl >= sizeof nm || memchr(name, '\0', nl)) {
            rc = CORRUPT("file %s: entry %u has an invalid name: the file is corrupted", path, i);
            goto done;
        }
        memcpy(nm, name, nl);
        nm[nl] = '\0';
        int mi = -1;
        for (int k = 0; k < ps->count; k++)
            if (strcmp(ps->entries[k].name, nm) == 0) {
                mi = k;
                break;
            }
        if (mi < 0) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "file %s: parameter '%s' is in the file but not in the model: the "
                                "experiment's architecture differs from the checkpoint's", path, nm);
            goto done;
        }
        if (seen[mi]) {
            rc = CORRUPT("file %s: parameter '%s' appears twice: the file is corrupted", path, nm);
            goto done;
        }
        seen[mi] = true;
        const mvae_param_entry *pe = &ps->entries[mi];
        bool same = ndim == pe->t->ndim;
        for (int d = 0; same && d < ndim; d++) same = shape[d] == pe->t->shape[d];
        if (!same) {
            char sf[160], sm[160];
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "file %s: parameter '%s' has shape %s in the file but %s in the model: "
                                "the experiment's architecture differs from the checkpoint's",
                                path, nm, shape_str(ndim, shape, sf, sizeof sf),
                                shape_str(pe->t->ndim, pe->t->shape, sm, sizeof sm));
            goto done;
        }
        if ((is_buffer != 0) != pe->buffer) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "file %s: '%s' is a %s in the file but a %s in the model: the "
                                "experiment's architecture differs from the checkpoint's", path, nm,
                                is_buffer ? "buffer" : "parameter", pe->buffer ? "buffer" : "parameter");
            goto done;
        }
        fe[i].model = mi;
        total += (uint64_t)pe->t->n;
    }
    for (int k = 0; k < ps->count; k++)
        if (!seen[k]) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "file %s: parameter '%s' of the model is not in the file: the "
                                "experiment's architecture differs from the checkpoint's", path,
                                ps->entries[k].name);
            goto done;
        }
    uint64_t blocks = has_moments ? 3 : 1;
    uint64_t remaining = r.len - r.pos;
    if (total > remaining / 4 / blocks || total * 4 * blocks != remaining) {
        rc = CORRUPT("file %s: data size %llu bytes does not match the entries (%llu floats x %llu): "
                     "the file is corrupted", path, (unsigned long long)remaining,
                     (unsigned long long)total, (unsigned long long)blocks);
        goto done;
    }
    if (extra_out || check) {
        extra_copy = copy_extra(&h);
        if (!extra_copy) {
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "file %s: out of memory", path);
            goto done;
        }
    }
    if (check && (rc = check(path, extra_copy, user, err)) != MVAE_OK) goto done;
    bool load_moments = opt && has_moments;
    if (opt && has_moments && (int)kind != opt->kind) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "file %s: the checkpoint's optimizer state is for %s but the experiment "
                            "uses %s: resume with the same optimizer (or load without optimizer state)",
                            path, kind == MVAE_OPTIM_ADAM ? "adam" : "sgd",
                            opt->kind == MVAE_OPTIM_ADAM ? "adam" : "sgd");
        goto done;
    }
    if (load_moments && (!ps->m || !ps->v)) {
        size_t n = (ps->n_floats ? ps->n_floats : 16) * sizeof(float);
        float *m = ps->m ? ps->m : mvae_alloc_aligned(n);
        float *v = ps->v ? ps->v : mvae_alloc_aligned(n);
        if (!m || !v) {
            if (m != ps->m) mvae_free_aligned(m);
            if (v != ps->v) mvae_free_aligned(v);
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "file %s: out of memory for optimizer moments", path);
            goto done;
        }
        if (m != ps->m) memset(m, 0, n);
        if (v != ps->v) memset(v, 0, n);
        ps->m = m;
        ps->v = v;
    }

    /* Everything is verified: commit. */
    const unsigned char *data = r.p + r.pos;
    for (uint32_t i = 0; i < n_entries; i++) {
        const mvae_param_entry *pe = &ps->entries[fe[i].model];
        read_floats(ps->data + pe->offset, data, pe->t->n);
        if (load_moments) {
            read_floats(ps->m + pe->offset, data + total * 4, pe->t->n);
            read_floats(ps->v + pe->offset, data + total * 8, pe->t->n);
        }
        data += (size_t)pe->t->n * 4;
    }
    if (opt) {
        opt->step = step;
        /* a checkpoint without moments restarts them from zero */
        if (!has_moments && ps->m && ps->v) {
            memset(ps->m, 0, ps->n_floats * sizeof(float));
            memset(ps->v, 0, ps->n_floats * sizeof(float));
        }
    }
    if (rng && (file_rng.s[0] | file_rng.s[1] | file_rng.s[2] | file_rng.s[3])) *rng = file_rng;
    if (extra_out) {
        *extra_out = extra_copy;
        extra_copy = NULL;
    }
done:
    free(extra_copy);
    free(seen);
    free(fe);
    return rc;
}

int mvae_checkpoint_load_checked(const char *path, mvae_params *ps, mvae_optim *opt, mvae_rng *rng,
                                 mvae_checkpoint_check_fn check, void *user, char **extra_out,
                                 mvae_error *err) {
    if (!path || !ps)
        return mvae_error_set(err, MVAE_ERR_INVALID, "checkpoint load: path or parameter store is NULL");
    if (!ps->finalized || !ps->data)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "file %s: load into a parameter store that is not finalized (call "
                              "mvae_params_finalize first)", path);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err);
    if (rc != MVAE_OK) return rc;
    rc = parse_and_load(path, buf, len, ps, opt, rng, check, user, extra_out, err);
    free(buf);
    return rc;
}

int mvae_checkpoint_load(const char *path, mvae_params *ps, mvae_optim *opt, mvae_rng *rng,
                         char **extra_out, mvae_error *err) {
    return mvae_checkpoint_load_checked(path, ps, opt, rng, NULL, NULL, extra_out, err);
}

int mvae_checkpoint_read_extra(const char *path, char **extra_out, mvae_error *err) {
    if (!path || !extra_out)
        return mvae_error_set(err, MVAE_ERR_INVALID, "checkpoint read: path or output is NULL");
    *extra_out = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err);
    if (rc != MVAE_OK) return rc;
    reader r;
    header h;
    rc = parse_header(path, buf, len, &r, &h, err);
    if (!rc && !(*extra_out = copy_extra(&h)))
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "file %s: out of memory", path);
    free(buf);
    return rc;
}
