/* train.c — the sub-sampled ELBO and the training loop (run directory, checkpoints, progress). */
#define _GNU_SOURCE
#include "mvae/train.h"
#include "mvae/checkpoint.h"
#include "mvae/dist.h"
#include "mvae/json.h"
#include "mvae/optim.h"
#include "gemm_internal.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads);

/* ------------------------------------------------------------------------------ helpers */
/* Which training samples keep which modalities (weak supervision): a seeded paired_fraction of
 * the training split keeps every modality; each other sample keeps one modality, chosen
 * uniformly at random. NULL when paired_fraction is 1. */
uint8_t *mvae_make_pairing(const mvae_model *m, int64_t N) {
    if (m->paired_fraction >= 1.0 || m->n_mod < 2 || N < 1) return NULL;
    uint8_t *keep = calloc((size_t)N * (size_t)m->n_mod, 1);
    int64_t *perm = malloc((size_t)N * sizeof *perm);
    if (!keep || !perm) {
        free(keep);
        free(perm);
        return NULL;
    }
    for (int64_t i = 0; i < N; i++) perm[i] = i;
    mvae_rng r;
    mvae_rng_seed(&r, m->seed * 0x9E3779B97F4A7C15ull + 77);
    mvae_rng_shuffle(&r, perm, N);
    int64_t n_paired = (int64_t)llround(m->paired_fraction * (double)N);
    for (int64_t j = 0; j < N; j++) {
        int64_t i = perm[j];
        if (j < n_paired)
            memset(keep + i * m->n_mod, 1, (size_t)m->n_mod);
        else
            keep[i * m->n_mod + (int)mvae_rng_below(&r, (uint64_t)m->n_mod)] = 1;
    }
    free(perm);
    return keep;
}

int mvae_train_indices(const mvae_model *m, int64_t valid_size, int64_t **idx, int64_t *n, mvae_error *err) {
    *idx = NULL;
    *n = 0;
    bool only = false;
    int64_t repeat = 1;
    const mvae_cfg_node *dsn = mvae_cfg_get(mvae_cfg_root(m->cfg), "dataset");
    if (mvae_cfg_bool_or(dsn, "paired_only", false, &only, err) ||
        mvae_cfg_int_or(dsn, "paired_repeat", 1, &repeat, err))
        return err->status;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N_all = dv->size(m->ds, MVAE_SPLIT_TRAIN), N = N_all - valid_size;
    if (N < 0) N = 0;
    /* with paired_repeat R, each paired sample is listed R times (weak supervision only: with
     * paired_fraction 1 there is no pairing and the list is the N samples once) */
    uint8_t *pairing = (only || repeat > 1) ? mvae_make_pairing(m, N_all) : NULL;
    int64_t n_paired = 0;
    for (int64_t i = 0; pairing && i < N; i++) {
        bool all = true;
        for (int j = 0; j < m->n_mod; j++) all = all && pairing[i * m->n_mod + j];
        n_paired += all;
    }
    int64_t cap = only ? N : N + (pairing ? (repeat - 1) * n_paired : 0);
    int64_t *out = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *out);
    if (!out) {
        free(pairing);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    int64_t k = 0;
    for (int64_t i = 0; i < N; i++) {
        bool all = true;
        for (int j = 0; pairing && j < m->n_mod; j++) all = all && pairing[i * m->n_mod + j];
        if (only) {
            if (all) out[k++] = i;
        } else {
            for (int64_t r = 0; r < (pairing && all ? repeat : 1); r++) out[k++] = i;
        }
    }
    free(pairing);
    *idx = out;
    *n = k;
    return MVAE_OK;
}

static void fmt_hms(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* The evaluation's work in "sample forward passes" (encode + decode of one sample): every test
 * point once for the ELBO and the accuracies, and K importance samples per log-likelihood term
 * (a conditional term "a|b" is two) on the first max_test points. For the whole run's ETA. */
static double eval_work(const mvae_model *m) {
    const mvae_cfg_node *ll = m->cfg ? mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.log_likelihood") : NULL;
    int64_t K = 1000, max_test = 0, N = ((const mvae_dataset_vtable *)m->ds_desc->vtable)->size(m->ds, MVAE_SPLIT_TEST);
    mvae_error e = {0};
    mvae_cfg_int_or(ll, "samples", 1000, &K, &e);
    mvae_cfg_int_or(ll, "max_test", 0, &max_test, &e);
    const mvae_cfg_node *terms = mvae_cfg_get(ll, "terms");
    double n_terms = 1;
    if (terms && terms->kind == MVAE_CFG_SEQ) {
        n_terms = 0;
        for (int i = 0; i < terms->n_items; i++) n_terms += terms->items[i]->value && strchr(terms->items[i]->value, '|') ? 2 : 1;
    }
    double N_ll = (double)(max_test > 0 && max_test < N ? max_test : N);
    return 2.0 * (double)N + N_ll * (double)K * n_terms;
}

/* One progress report of a training step: mode 2 redraws a bar on the terminal, mode 1 prints a
 * line five times an epoch. ETAs: the epoch's, and the whole run's — the epochs left at this
 * run's mean batch time, and the evaluation after them, estimated from eval_work at the speed of
 * a forward pass (a step is ~3 forward passes, forward and backward, per objective term). */
static void train_progress(int mode, int epoch, int64_t epochs, int64_t bi, int64_t nb, double loss, double sps,
                           double ep_elapsed, double run_elapsed, int64_t run_done, int64_t batch_size, int n_terms,
                           double eval_fwd) {
    bool bar_now = mode == 2 && (bi % 5 == 0 || bi + 1 == nb);
    bool line_now = mode == 1 && nb >= 10 && (bi + 1) % (nb / 5) == 0 && bi + 1 < nb;
    if (!bar_now && !line_now) return;
    double per_batch = run_elapsed / (double)run_done;
    double left_train = per_batch * ((double)(epochs - epoch) * (double)nb + (double)(nb - bi - 1));
    double left_eval = eval_fwd * per_batch / ((double)batch_size * 3.0 * (n_terms > 0 ? n_terms : 1));
    char eta[32], run[32], ev[32];
    fmt_hms(ep_elapsed / (double)(bi + 1) * (double)(nb - bi - 1), eta, sizeof eta);
    fmt_hms(left_train + left_eval, run, sizeof run);
    fmt_hms(left_eval, ev, sizeof ev);
    if (bar_now) {
        int w = 24, f = (int)((double)w * (double)(bi + 1) / (double)nb);
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < f ? '=' : (i == f ? '>' : ' ');
        bar[w] = '\0';
        fprintf(stderr, "\repoch %d/%lld [%s] %lld/%lld loss %.3f  %.0f samples/s  ETA %s, run ~%s (eval ~%s)   ", epoch,
                (long long)epochs, bar, (long long)bi + 1, (long long)nb, loss, sps, eta, run, ev);
        fflush(stderr);
    } else {
        fprintf(stderr, "epoch %d batch %lld/%lld loss %.3f %.0f samples/s ETA %s, run ~%s (eval ~%s)\n", epoch,
                (long long)bi + 1, (long long)nb, loss, sps, eta, run, ev);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct train_cfg {
    int64_t epochs, batch_size, max_batches, threads, valid_size;
    double kl_anneal_epochs, beta, clip;
    const char *progress;
    bool noise_global; /* train.dist_noise: global (docs/scaling.md) */
    double bucket_mb;  /* train.dist_bucket_mb: 0 = one all-reduce after backward */
    mvae_optim opt;
} train_cfg;

static int read_train_cfg(const mvae_model *m, train_cfg *c, mvae_error *err) {
    mvae_cfg_node *t = mvae_cfg_path(mvae_cfg_root(m->cfg), "train");
    if (mvae_cfg_int_or(t, "epochs", 10, &c->epochs, err) ||
        mvae_cfg_int_or(t, "batch_size", 100, &c->batch_size, err) ||
        mvae_cfg_int_or(t, "max_batches", 0, &c->max_batches, err) ||
        mvae_cfg_int_or(t, "threads", 0, &c->threads, err) ||
        mvae_cfg_int_or(t, "valid_size", 0, &c->valid_size, err) ||
        mvae_cfg_float_or(t, "kl_anneal_epochs", 0, &c->kl_anneal_epochs, err) ||
        mvae_cfg_float_or(t, "beta", 1.0, &c->beta, err) ||
        mvae_cfg_float_or(t, "clip_grad_norm", 0, &c->clip, err) ||
        mvae_cfg_string_or(t, "progress", "auto", &c->progress, err))
        return err->status;
    const char *dn = "rank";
    if (mvae_cfg_string_or(t, "dist_noise", "rank", &dn, err)) return err->status;
    c->noise_global = !strcmp(dn, "global");
    if (mvae_cfg_float_or(t, "dist_bucket_mb", 2.0, &c->bucket_mb, err)) return err->status;
    mvae_cfg_node *o = mvae_cfg_path(t, "optimizer");
    mvae_cfg_node *adam = mvae_cfg_get(o, "adam"), *sgd = mvae_cfg_get(o, "sgd");
    double lr, a, b, eps, wd;
    bool dec = false;
    if (sgd) {
        if (mvae_cfg_float_or(sgd, "lr", 0.01, &lr, err) || mvae_cfg_float_or(sgd, "momentum", 0.9, &a, err) ||
            mvae_cfg_float_or(sgd, "weight_decay", 0, &wd, err))
            return err->status;
        c->opt = mvae_optim_sgd((float)lr, (float)a);
    } else {
        if (mvae_cfg_float_or(adam, "lr", 1e-3, &lr, err) || mvae_cfg_float_or(adam, "beta1", 0.9, &a, err) ||
            mvae_cfg_float_or(adam, "beta2", 0.999, &b, err) || mvae_cfg_float_or(adam, "eps", 1e-8, &eps, err) ||
            mvae_cfg_float_or(adam, "weight_decay", 0, &wd, err) || mvae_cfg_bool_or(adam, "decoupled", false, &dec, err))
            return err->status;
        c->opt = mvae_optim_adam((float)lr);
        c->opt.beta1 = (float)a;
        c->opt.beta2 = (float)b;
        c->opt.eps = (float)eps;
        c->opt.decoupled = dec;
    }
    c->opt.weight_decay = (float)wd;
    if (c->epochs < 0 || c->batch_size < 1 || c->valid_size < 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "train: epochs, batch_size and valid_size must be positive");
    /* sizes the trainer allocates or counts with: refuse what would overflow them */
    if (c->epochs > MVAE_MAX_EPOCHS)
        return mvae_error_set(err, MVAE_ERR_INVALID, "train.epochs is %lld, more than the %d this mvae can count: "
                              "set a smaller train.epochs", (long long)c->epochs, MVAE_MAX_EPOCHS);
    if (c->batch_size > INT32_MAX / 2)
        return mvae_error_set(err, MVAE_ERR_INVALID, "train.batch_size is %lld, more than %d: set a smaller "
                              "train.batch_size", (long long)c->batch_size, INT32_MAX / 2);
    return MVAE_OK;
}

/* Mean objective loss over held-out training samples [first, first+n) (no gradient) into *out.
 * idx: a workspace of b->cap indices (allocated once by the caller, sized by the batch). */
static int valid_loss(mvae_model *m, mvae_ctx *ctx, mvae_batch *b, const mvae_objective *obj, float beta,
                      int64_t first, int64_t n, mvae_rng *rng, int64_t *idx, double *out, mvae_error *err) {
    double tot = 0;
    int64_t cnt = 0;
    int rc = MVAE_OK;
    bool old = mvae_ctx_set_grad(ctx, false);
    bool oldt = mvae_ctx_set_training(ctx, false);
    for (int64_t s = 0; s < n; s += b->cap) {
        int bn = (int)((n - s) < b->cap ? (n - s) : b->cap);
        for (int i = 0; i < bn; i++) idx[i] = first + s + i;
        if ((rc = mvae_batch_fill(b, m, MVAE_SPLIT_TRAIN, idx, bn, NULL, err))) break;
        mvae_ctx_reset(ctx);
        mvae_tensor *loss;
        mvae_step_stats st;
        if ((rc = mvae_objective_loss(m, ctx, b, obj, beta, rng, &loss, &st))) {
            mvae_error_set(err, rc, "validation loss (train.valid_size): %s", mvae_ctx_error(ctx));
            break;
        }
        tot += st.loss * bn;
        cnt += bn;
    }
    mvae_ctx_set_grad(ctx, old);
    mvae_ctx_set_training(ctx, oldt);
    *out = cnt ? tot / (double)cnt : NAN;
    return rc;
}

/* ------------------------------------------------------------------- run directories */

int mvae_run_lock_acquire(const char *run_dir, mvae_run_lock *lk, mvae_error *err) {
    lk->fd = -1;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/lock", run_dir) >= (int)sizeof path)
        return mvae_error_set(err, MVAE_ERR_IO, "run directory name too long: '%s'", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return mvae_error_set(err, MVAE_ERR_IO, "cannot create the lock file %s: %s (is the run directory "
                              "writable?)", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char who[256] = "", host[128] = "?", started[64] = "?";
        long pid = 0;
        ssize_t got = e == EWOULDBLOCK ? pread(fd, who, sizeof who - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK)
            return mvae_error_set(err, MVAE_ERR_IO, "cannot lock %s: %s", path, strerror(e));
        if (got > 0) who[got] = '\0';
        if (got > 0 && sscanf(who, "pid %ld host %127s started %63s", &pid, host, started) >= 1 && pid > 0)
            return mvae_error_set(err, MVAE_ERR_IO, "%s is in use by PID %ld on host %s (started %s); wait for it "
                                  "or pick another --out", run_dir, pid, host, started);
        return mvae_error_set(err, MVAE_ERR_IO, "%s is in use by another process (it holds %s); wait for it or "
                              "pick another --out", run_dir, path);
    }
    char host[128] = "unknown", stamp[64] = "?", line[256];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm)) strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S%z", &tm);
    int n = snprintf(line, sizeof line, "pid %ld host %s started %s\n", (long)getpid(), host, stamp);
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return mvae_error_set(err, MVAE_ERR_IO, "cannot write the lock file %s: %s", path, strerror(e));
    }
    lk->fd = fd;
    return MVAE_OK;
}

void mvae_run_lock_release(mvae_run_lock *lk) {
    if (!lk || lk->fd < 0) return;
    close(lk->fd); /* drops the flock; the file stays (unlinking it would race with a new holder) */
    lk->fd = -1;
}

/* 64-bit FNV-1a over a canonical form of config nodes: a tag, lengths, map keys sorted. */
static void fnv_bytes(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

static void fnv_str(uint64_t *h, const char *s) {
    uint64_t n = s ? strlen(s) : 0;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
    fnv_bytes(h, le, 8);
    if (n) fnv_bytes(h, s, (size_t)n);
}

static int cmp_node_key(const void *a, const void *b) {
    const mvae_cfg_node *x = *(mvae_cfg_node *const *)a, *y = *(mvae_cfg_node *const *)b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static void fnv_node(uint64_t *h, const mvae_cfg_node *n) {
    if (!n) {
        fnv_str(h, "N");
        return;
    }
    if (n->kind == MVAE_CFG_SCALAR) {
        fnv_str(h, "S");
        fnv_str(h, n->value);
        return;
    }
    char count[32];
    snprintf(count, sizeof count, "%s%d", n->kind == MVAE_CFG_MAP ? "M" : "Q", n->n_items);
    fnv_str(h, count);
    if (n->kind != MVAE_CFG_MAP) {
        for (int i = 0; i < n->n_items; i++) fnv_node(h, n->items[i]);
        return;
    }
    mvae_cfg_node **sorted = malloc((size_t)(n->n_items ? n->n_items : 1) * sizeof *sorted);
    if (!sorted) { /* out of memory: file order (a spurious mismatch is refused, never a crash) */
        for (int i = 0; i < n->n_items; i++) fnv_str(h, n->items[i]->key), fnv_node(h, n->items[i]);
        return;
    }
    memcpy(sorted, n->items, (size_t)n->n_items * sizeof *sorted);
    qsort(sorted, (size_t)n->n_items, sizeof *sorted, cmp_node_key);
    for (int i = 0; i < n->n_items; i++) {
        fnv_str(h, sorted[i]->key);
        fnv_node(h, sorted[i]);
    }
    free(sorted);
}

void mvae_experiment_fingerprint(const mvae_model *m, char out[MVAE_FINGERPRINT_HEX + 1]) {
    static const char *const sections[] = {"dataset", "modalities", "transforms", "fusion", "latent_dim", "seed"};
    uint64_t h = 0xcbf29ce484222325ull;
    const mvae_cfg_node *root = m->cfg ? mvae_cfg_root(m->cfg) : NULL;
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++) {
        fnv_str(&h, sections[i]);
        fnv_node(&h, root ? mvae_cfg_get(root, sections[i]) : NULL);
    }
    snprintf(out, MVAE_FINGERPRINT_HEX + 1, "%016llx", (unsigned long long)h);
}

/* An integer-valued JSON number member in [lo, hi] into *out; missing: *present = false. */
static int meta_int(const char *path, const mvae_json *j, const char *key, int64_t lo, int64_t hi,
                    const char *why, int64_t *out, bool *present, mvae_error *err) {
    const mvae_json *v = mvae_json_get(j, key);
    *present = v && v->type != MVAE_JSON_NULL;
    if (!*present) return MVAE_OK;
    if (v->type != MVAE_JSON_NUMBER || !isfinite(v->number) || v->number != floor(v->number) ||
        v->number < (double)lo || v->number > (double)hi) {
        char val[64];
        if (v->type == MVAE_JSON_NUMBER)
            snprintf(val, sizeof val, "%.17g", v->number);
        else
            snprintf(val, sizeof val, "not a number");
        return mvae_error_set(err, MVAE_ERR_FORMAT, "file %s: metadata field '%s' is %s, not an integer in "
                              "%lld..%lld%s: the checkpoint is corrupted or was not written for this run",
                              path, key, val, (long long)lo, (long long)hi, why);
    }
    *out = (int64_t)v->number;
    return MVAE_OK;
}

int mvae_run_meta_parse(const char *path, const char *extra, int64_t max_epochs, mvae_run_meta *meta,
                        mvae_error *err) {
    memset(meta, 0, sizeof *meta);
    if (max_epochs < 0 || max_epochs > MVAE_MAX_EPOCHS) max_epochs = MVAE_MAX_EPOCHS;
    mvae_json *j = NULL;
    mvae_error je = {0};
    if (!extra || mvae_json_parse(extra, strlen(extra), "metadata", &j, &je) || j->type != MVAE_JSON_OBJECT) {
        mvae_json_free(j);
        return mvae_error_set(err, MVAE_ERR_FORMAT, "file %s: the checkpoint's metadata is not a JSON object "
                              "(%s): it was not written by `mvae train`", path, je.msg[0] ? je.msg : "empty");
    }
    int rc = MVAE_OK;
    bool present;
    char why[96];
    snprintf(why, sizeof why, " (0..train.epochs %lld)", (long long)max_epochs);
    if ((rc = meta_int(path, j, "epoch", 0, max_epochs, why, &meta->epoch, &present, err))) goto done;
    if (!present) {
        rc = mvae_error_set(err, MVAE_ERR_FORMAT, "file %s: metadata field 'epoch' is missing: the checkpoint "
                            "was not written by `mvae train`", path);
        goto done;
    }
    const mvae_json *b = mvae_json_get(j, "best");
    if (b && b->type == MVAE_JSON_NUMBER && isfinite(b->number)) {
        meta->has_best = true;
        meta->best = b->number;
    } else if (b && !(b->type == MVAE_JSON_NULL || (b->type == MVAE_JSON_NUMBER && b->number == INFINITY))) {
        rc = mvae_error_set(err, MVAE_ERR_FORMAT, "file %s: metadata field 'best' is %s, neither a finite "
                            "number nor null (no best yet): the checkpoint is corrupted", path,
                            b->type == MVAE_JSON_NUMBER ? (isnan(b->number) ? "NaN" : "-inf") : "not a number");
        goto done;
    }
    if ((rc = meta_int(path, j, "best_epoch", meta->has_best ? 1 : 0, meta->has_best ? meta->epoch : 0,
                       meta->has_best ? " (1..epoch)" : " (0: there is no best)", &meta->best_epoch, &present, err)))
        goto done;
    const mvae_json *l = mvae_json_get(j, "loss");
    if (l && l->type != MVAE_JSON_NULL) {
        if (l->type != MVAE_JSON_NUMBER || !isfinite(l->number)) {
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "file %s: metadata field 'loss' is not a finite number: "
                                "the checkpoint is corrupted", path);
            goto done;
        }
        meta->has_loss = true;
        meta->loss = l->number;
    }
    const mvae_json *f = mvae_json_get(j, "fingerprint");
    if (f && f->type != MVAE_JSON_NULL) {
        bool ok = f->type == MVAE_JSON_STRING && f->length == MVAE_FINGERPRINT_HEX;
        for (size_t i = 0; ok && i < MVAE_FINGERPRINT_HEX; i++)
            ok = (f->string[i] >= '0' && f->string[i] <= '9') || (f->string[i] >= 'a' && f->string[i] <= 'f');
        if (!ok) {
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "file %s: metadata field 'fingerprint' is not %d hex "
                                "digits: the checkpoint is corrupted", path, MVAE_FINGERPRINT_HEX);
            goto done;
        }
        meta->has_fingerprint = true;
        memcpy(meta->fingerprint, f->string, MVAE_FINGERPRINT_HEX + 1);
    }
done:
    mvae_json_free(j);
    return rc;
}

/* The metadata the trainer writes: best as %.17g, so that a resumed run compares against the
 * same double as an uninterrupted one. */
static void meta_format(char *buf, size_t n, int64_t epoch, double best, int64_t best_epoch, double loss,
                        const char *fingerprint) {
    char b[40];
    if (isfinite(best))
        snprintf(b, sizeof b, "%.17g", best);
    else
        snprintf(b, sizeof b, "null");
    snprintf(buf, n, "{\"epoch\": %lld, \"best\": %s, \"best_epoch\": %lld, \"loss\": %.17g, "
             "\"fingerprint\": \"%s\"}", (long long)epoch, b, isfinite(best) ? (long long)best_epoch : 0LL,
             loss, fingerprint);
}

static int64_t config_epochs(const mvae_model *m) {
    int64_t e = MVAE_MAX_EPOCHS;
    mvae_error ignore = {0};
    if (mvae_cfg_int_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "train"), "epochs", 10, &e, &ignore)) return MVAE_MAX_EPOCHS;
    return e;
}

typedef struct meta_check {
    const mvae_model *m;
    int64_t max_epochs;
    bool force;
    mvae_run_meta *meta;
} meta_check;

static int check_meta(const char *path, const char *extra, void *user, mvae_error *err) {
    meta_check *c = user;
    int rc = mvae_run_meta_parse(path, extra, c->max_epochs, c->meta, err);
    if (rc) return rc;
    if (!c->meta->has_fingerprint) return MVAE_OK; /* older mvae: nothing to compare */
    char fp[MVAE_FINGERPRINT_HEX + 1];
    mvae_experiment_fingerprint(c->m, fp);
    if (strcmp(fp, c->meta->fingerprint) == 0) return MVAE_OK;
    if (c->force) {
        MVAE_WARN("%s: experiment fingerprint %s differs from this experiment's %s; loading it anyway (forced)",
                  path, c->meta->fingerprint, fp);
        return MVAE_OK;
    }
    return mvae_error_set(err, MVAE_ERR_INVALID, "file %s: the checkpoint belongs to another experiment "
                          "(fingerprint %s, this experiment's is %s: its dataset, modalities, transforms, "
                          "fusion, latent_dim or seed differ); use the run's own config.yaml, or --force to "
                          "load it anyway", path, c->meta->fingerprint, fp);
}

int mvae_run_checkpoint_load(mvae_model *m, const char *path, mvae_optim *opt, mvae_rng *rng, bool force,
                             mvae_run_meta *meta, mvae_error *err) {
    mvae_run_meta local;
    meta_check c = {m, config_epochs(m), force, meta ? meta : &local};
    return mvae_checkpoint_load_checked(path, m->params, opt, rng, check_meta, &c, NULL, err);
}

/* Remove the temporary files a killed run may leave (only names mvae writes itself). */
static void remove_temporaries(const char *run_dir) {
    DIR *d = opendir(run_dir);
    if (!d) return;
    static const char *const tmps[] = {"last.ckpt.tmp", "best.ckpt.tmp", "metrics.json.tmp", "metrics.jsonl.tmp"};
    char p[4400];
    for (struct dirent *e; (e = readdir(d));) {
        bool ours = strncmp(e->d_name, "config.yaml.tmp.", 16) == 0;
        for (size_t i = 0; !ours && i < sizeof tmps / sizeof *tmps; i++) ours = strcmp(e->d_name, tmps[i]) == 0;
        if (ours && snprintf(p, sizeof p, "%s/%s", run_dir, e->d_name) < (int)sizeof p) unlink(p);
    }
    closedir(d);
}

/* Write a whole buffer to fd (retrying short writes). */
static int write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Replace path by buf[0..n) atomically: path.tmp, fsync, rename. */
static int replace_file(const char *path, const char *buf, size_t n, mvae_error *err) {
    char tmp[4400];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return mvae_error_set(err, MVAE_ERR_IO, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mvae_error_set(err, MVAE_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    if (write_all(fd, buf, n) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return mvae_error_set(err, MVAE_ERR_IO, "cannot write %s: %s", tmp, strerror(e));
    }
    close(fd);
    mvae_test_crash_point("metrics_trim"); /* the trimmed copy is written, not yet renamed */
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return mvae_error_set(err, MVAE_ERR_IO, "cannot rename %s over %s: %s", tmp, path, strerror(e));
    }
    return MVAE_OK;
}

/* Make metrics.jsonl hold exactly one line for each of epochs 1..epoch (those a checkpoint
 * holds): a line for a later epoch (written before a checkpoint that a kill prevented), a torn
 * last line and, for files damaged by older versions, a repeated epoch (the later line wins: it
 * is the one the run continued from) are dropped. Rewritten atomically when anything changes. */
static int trim_metrics(const char *path, int64_t epoch, bool quiet, mvae_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT) return mvae_error_set(err, MVAE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        if (!quiet && epoch > 0) MVAE_WARN("%s is missing: it will hold only the epochs trained from now on", path);
        return replace_file(path, "", 0, err);
    }
    char *buf = NULL;
    size_t len = 0;
    {
        struct stat st;
        if (fstat(fileno(f), &st) != 0 || !(buf = malloc((size_t)st.st_size + 1))) {
            fclose(f);
            return mvae_error_set(err, MVAE_ERR_IO, "cannot read %s: %s", path, strerror(errno ? errno : ENOMEM));
        }
        len = fread(buf, 1, (size_t)st.st_size, f);
        if (ferror(f)) {
            fclose(f);
            free(buf);
            return mvae_error_set(err, MVAE_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        }
        fclose(f);
        buf[len] = '\0';
    }
    /* the kept lines, a stack in increasing epoch order: offset, length with newline, epoch */
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    size_t *off = malloc(n_lines * sizeof *off), *ln = malloc(n_lines * sizeof *ln);
    int64_t *ep = malloc(n_lines * sizeof *ep);
    char *out = malloc(len + 1);
    int rc = MVAE_OK;
    if (!off || !ln || !ep || !out) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory trimming %s", path);
        goto done;
    }
    int64_t kept = 0, dropped = 0;
    for (size_t pos = 0; pos < len;) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) + 1 : len;
        mvae_json *j = NULL;
        mvae_error je = {0};
        int64_t e = -1;
        if (nl && mvae_json_parse(buf + pos, end - pos, path, &j, &je) == MVAE_OK) {
            const mvae_json *v = mvae_json_get(j, "epoch");
            if (v && v->type == MVAE_JSON_NUMBER && v->number == floor(v->number) && v->number >= 1 &&
                v->number <= (double)epoch)
                e = (int64_t)v->number;
        }
        mvae_json_free(j);
        if (e >= 1) { /* a repeated epoch supersedes the lines from e on: the run went on from it */
            while (kept > 0 && ep[kept - 1] >= e) kept--, dropped++;
            off[kept] = pos;
            ln[kept] = end - pos;
            ep[kept++] = e;
        } else {
            dropped++;
        }
        pos = end;
    }
    size_t n_out = 0;
    for (int64_t k = 0; k < kept; k++) {
        memcpy(out + n_out, buf + off[k], ln[k]);
        n_out += ln[k];
    }
    if (kept < epoch && !quiet)
        MVAE_WARN("%s holds %lld lines for the %lld epochs in last.ckpt: some were lost", path, (long long)kept,
                  (long long)epoch);
    if (n_out != len || memcmp(out, buf, len) != 0) {
        if (!quiet)
            MVAE_INFO("%s: dropped %lld line%s written after last.ckpt's epoch %lld (or torn)", path,
                      (long long)dropped, dropped == 1 ? "" : "s", (long long)epoch);
        rc = replace_file(path, out, n_out, err);
    }
done:
    free(off);
    free(ln);
    free(ep);
    free(out);
    free(buf);
    return rc;
}

/* Append one metrics line and fsync it (before the epoch's checkpoints: resume trims it). */
static int append_metrics(const char *path, const char *line, size_t n, mvae_error *err) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return mvae_error_set(err, MVAE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t half = n / 2;
    int bad = write_all(fd, line, half);
    if (!bad) mvae_test_crash_point("metrics_torn"); /* half a line on disk */
    if (!bad) bad = write_all(fd, line + half, n - half) || fsync(fd);
    int e = errno;
    if (close(fd) != 0 && !bad) bad = 1, e = errno;
    if (bad) return mvae_error_set(err, MVAE_ERR_IO, "cannot write %s: %s", path, strerror(e));
    return MVAE_OK;
}

/* Copy src over dst atomically (dst.tmp, fsync, rename). */
static int copy_file(const char *src, const char *dst, mvae_error *err) {
    FILE *f = fopen(src, "rb");
    if (!f) return mvae_error_set(err, MVAE_ERR_IO, "cannot open %s: %s", src, strerror(errno));
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[65536];
    size_t n;
    int bad = !mem;
    while (!bad && (n = fread(chunk, 1, sizeof chunk, f)) > 0) bad = fwrite(chunk, 1, n, mem) != n;
    bad = bad || ferror(f);
    int e = errno;
    fclose(f);
    if (mem && fclose(mem) != 0) bad = 1;
    int rc = bad ? mvae_error_set(err, MVAE_ERR_IO, "cannot read %s: %s", src, strerror(e))
                 : replace_file(dst, buf, len, err);
    free(buf);
    return rc;
}

/* On resume: re-verify best.ckpt against last.ckpt's record and take the best so far from
 * best.ckpt's own metadata (what is really on disk):
 *  - consistent (best.ckpt holds last's best_epoch), or one epoch ahead of last.ckpt (the
 *    interrupted epoch wrote best first; redoing that epoch reproduces it): use its value;
 *  - last.ckpt records ITSELF as the best but best.ckpt does not hold that epoch (a kill between
 *    the writes of an older mvae, which wrote last first; or best.ckpt removed): last.ckpt is
 *    the best checkpoint, so it is copied to best.ckpt;
 *  - otherwise (the best epoch's parameters are gone): a warning, and best.ckpt's own value (or
 *    none, when it is missing), so that the next better epoch replaces it. */
static int resume_best(const mvae_model *m, const char *ckpt_last, const char *ckpt_best, const mvae_run_meta *last,
                       int64_t max_epochs, bool force, bool quiet, double *best, int64_t *best_epoch,
                       mvae_error *err) {
    *best = INFINITY;
    *best_epoch = 0;
    mvae_run_meta bm;
    memset(&bm, 0, sizeof bm);
    bool have = access(ckpt_best, F_OK) == 0;
    if (have) {
        char *ex = NULL;
        int rc = mvae_checkpoint_read_extra(ckpt_best, &ex, err);
        meta_check c = {m, max_epochs, force, &bm};
        if (!rc) rc = check_meta(ckpt_best, ex, &c, err);
        free(ex);
        if (rc) {
            mvae_error_prefix(err, "resume (remove %s to resume without it)", ckpt_best);
            return rc;
        }
        if (!bm.best_epoch && bm.has_best) bm.best_epoch = bm.epoch; /* older files: best.ckpt is its own best */
    }
    bool holds = have && bm.has_best && (bm.epoch == last->best_epoch || bm.epoch == last->epoch + 1 ||
                                         (!last->best_epoch && bm.best == last->best));
    if (last->has_best && last->best_epoch == last->epoch && !holds) {
        if (!quiet)
            MVAE_WARN("%s does not hold epoch %lld, which %s records as the best (%.9g): copying %s to it",
                      ckpt_best, (long long)last->epoch, ckpt_last, last->best, ckpt_last);
        int rc = copy_file(ckpt_last, ckpt_best, err);
        if (rc) return rc;
        *best = last->best;
        *best_epoch = last->epoch;
        return MVAE_OK;
    }
    if (last->has_best && !holds && !quiet)
        MVAE_WARN("%s (%s) does not hold the best that %s records (%.9g at epoch %lld), whose parameters are "
                  "lost: keeping best.ckpt's own value until a better epoch replaces it", ckpt_best,
                  have ? "stale" : "missing", ckpt_last, last->best, (long long)last->best_epoch);
    if (have && bm.has_best) {
        *best = bm.best;
        *best_epoch = bm.best_epoch;
    }
    return MVAE_OK;
}

static int train_locked(mvae_model *m, const mvae_train_opts *o, train_cfg *tcp, const mvae_objective *objp,
                        mvae_train_result *res, mvae_error *err);

/* Data parallelism: the epoch's loss sums of every rank (each rank's are means over its slice),
 * weighted by the rank's share w of the global batch and added up, into every rank's. A term is
 * matched by its subset; every rank has the same fixed terms unless its slice had no data for one
 * (then it adds 0). */
typedef struct epoch_sums {
    double loss, random;
    int32_t n_term, pad;
    uint32_t sub[MVAE_MAX_TERMS];
    double term[MVAE_MAX_TERMS];
} epoch_sums;

static int epoch_stats_gather(double w, double *sum_loss, double *random_sum, uint32_t *term_sub, double *term_sum,
                              int *n_term, mvae_error *err) {
    const int n = mvae_dist_size();
    epoch_sums me = {*sum_loss * w, *random_sum * w, *n_term, 0, {0}, {0}};
    memcpy(me.sub, term_sub, sizeof me.sub);
    for (int j = 0; j < MVAE_MAX_TERMS; j++) me.term[j] = term_sum[j] * w;
    epoch_sums *all = malloc((size_t)n * sizeof *all);
    if (!all) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int rc = mvae_dist_allgather(&me, all, sizeof me, err);
    if (!rc) {
        double l = 0, r = 0;
        for (int k = 0; k < n; k++) l += all[k].loss, r += all[k].random;
        *sum_loss = l;
        *random_sum = r;
        for (int j = 0; j < *n_term; j++) term_sum[j] = 0;
        for (int k = 0; k < n; k++)
            for (int t = 0; t < all[k].n_term && t < MVAE_MAX_TERMS; t++) {
                int j = 0;
                while (j < *n_term && term_sub[j] != all[k].sub[t]) j++;
                if (j == *n_term && *n_term < MVAE_MAX_TERMS) term_sub[j] = all[k].sub[t], term_sum[j] = 0, (*n_term)++;
                if (j < MVAE_MAX_TERMS) term_sum[j] += all[k].term[t];
            }
    }
    free(all);
    return rc;
}

int mvae_train(mvae_model *m, const mvae_train_opts *o, mvae_train_result *res, mvae_error *err) {
    memset(res, 0, sizeof *res);
    train_cfg tc;
    mvae_objective obj;
    int rc;
    if ((rc = read_train_cfg(m, &tc, err)) || (rc = mvae_objective_from_config(m, &obj, err))) return rc;
    /* the run directory is ours until we return; with MPI rank 0 alone touches it */
    mvae_run_lock lock = {-1};
    if (mvae_dist_rank() == 0 &&
        ((rc = mvae_mkdir_p(o->run_dir, err)) || (rc = mvae_run_lock_acquire(o->run_dir, &lock, err))))
        return rc;
    rc = train_locked(m, o, &tc, &obj, res, err);
    mvae_run_lock_release(&lock);
    return rc;
}

static int train_locked(mvae_model *m, const mvae_train_opts *o, train_cfg *tcp, const mvae_objective *objp,
                        mvae_train_result *res, mvae_error *err) {
    train_cfg tc = *tcp;
    const mvae_objective obj = *objp;
    int rc, rc2;
    if (tc.threads > 0) mvae_gemm_set_threads((int)tc.threads);
    else mvae_gemm_auto_threads();
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N_all = dv->size(m->ds, MVAE_SPLIT_TRAIN);
    int64_t N = N_all - tc.valid_size;
    /* the samples an epoch iterates over: all N, or with dataset.paired_only the paired ones */
    int64_t *train_idx = NULL, N_train = 0;
    if ((rc = mvae_train_indices(m, tc.valid_size, &train_idx, &N_train, err))) return rc;
    if (N_train > N && !o->quiet) /* dataset.paired_repeat */
        MVAE_INFO("dataset.paired_repeat: the paired samples are listed repeatedly: an epoch has %lld samples, "
                  "%lld more than the split's %lld", (long long)N_train, (long long)(N_train - N), (long long)N);
    if (N_train < N) { /* dataset.paired_only */
        if (!o->quiet)
            MVAE_INFO("dataset.paired_only: training on the %lld paired samples of %lld", (long long)N_train, (long long)N);
        if (N_train >= 1 && N_train < tc.batch_size) {
            if (!o->quiet)
                MVAE_INFO("dataset.paired_only: batch_size %lld -> %lld (the paired subset is smaller than one batch)",
                          (long long)tc.batch_size, (long long)N_train);
            tc.batch_size = N_train;
        }
    }
    if (N_train < 1 || N_train < tc.batch_size) {
        free(train_idx);
        if (N_train < N)
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "dataset.paired_only: no training sample is paired (paired_fraction %g of %lld)",
                                  m->paired_fraction, (long long)N);
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "the training split has %lld samples (after holding out valid_size %lld): "
                              "fewer than one batch of %lld", (long long)N_all, (long long)tc.valid_size,
                              (long long)tc.batch_size);
    }
    int64_t nb = N_train / tc.batch_size;
    /* data parallelism (mvae/dist.h): rank r trains on its rows of every global batch */
    const int rank = mvae_dist_rank(), n_ranks = mvae_dist_size();
    if (tc.batch_size < n_ranks) {
        free(train_idx);
        return mvae_error_set(err, MVAE_ERR_INVALID, "train.batch_size %lld is smaller than the %d MPI ranks: every rank "
                              "needs at least one sample of each global batch; set train.batch_size to %d or more, or "
                              "run fewer ranks", (long long)tc.batch_size, n_ranks, n_ranks);
    }
    /* uneven splits: rank r takes rows [floor(r B / N), floor((r+1) B / N)) and its gradient, the
     * mean over its rows, counts by its share of the global batch (mvae_dist_allreduce_grads_weighted) */
    const int64_t row0 = tc.batch_size * rank / n_ranks, B_local = tc.batch_size * (rank + 1) / n_ranks - row0;
    const int64_t B_max = (tc.batch_size + n_ranks - 1) / n_ranks;
    const float w_rank = (float)((double)B_local / (double)tc.batch_size);
    if (tc.max_batches > 0 && tc.max_batches < nb) nb = tc.max_batches;

    char path[MVAE_RUN_DIR_MAX + 200], ckpt_last[MVAE_RUN_DIR_MAX + 200], ckpt_best[MVAE_RUN_DIR_MAX + 200],
        metrics_path[MVAE_RUN_DIR_MAX + 200], extra[512];
    if (strlen(o->run_dir) > MVAE_RUN_DIR_MAX) {
        free(train_idx);
        return mvae_error_set(err, MVAE_ERR_INVALID, "run directory name too long (%zu bytes): '%.64s...'",
                              strlen(o->run_dir), o->run_dir);
    }
    snprintf(ckpt_last, sizeof ckpt_last, "%s/last.ckpt", o->run_dir);
    snprintf(ckpt_best, sizeof ckpt_best, "%s/best.ckpt", o->run_dir);
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", o->run_dir);
    char fingerprint[MVAE_FINGERPRINT_HEX + 1];
    mvae_experiment_fingerprint(m, fingerprint);
    mvae_rng rng;
    mvae_rng_seed(&rng, m->seed ^ 0x5DEECE66Dull);
    int start_epoch = 1;
    double best = INFINITY;
    int64_t best_epoch = 0;
    if (rank == 0) remove_temporaries(o->run_dir); /* from a killed run: we hold the lock */
    if (rank > 0) {
        /* rank 0 reads and writes the run directory; the others get its state below */
    } else if (o->resume) {
        mvae_run_meta meta;
        memset(&meta, 0, sizeof meta);
        meta_check c = {m, tc.epochs, o->force, &meta};
        if ((rc = mvae_checkpoint_load_checked(ckpt_last, m->params, &tc.opt, &rng, check_meta, &c, NULL, err)) ||
            (rc = resume_best(m, ckpt_last, ckpt_best, &meta, tc.epochs, o->force, o->quiet, &best, &best_epoch, err)) ||
            (rc = trim_metrics(metrics_path, meta.epoch, o->quiet, err))) {
            free(train_idx);
            return rc;
        }
        start_epoch = (int)meta.epoch + 1;
        if (meta.has_loss) res->last_loss = meta.loss; /* a finished run resumed: still reported */
        if (!o->quiet) MVAE_INFO("resuming %s after epoch %lld", o->run_dir, (long long)meta.epoch);
    } else {
        snprintf(path, sizeof path, "%s/config.yaml", o->run_dir);
        if ((rc = mvae_cfg_write_file(m->cfg, path, err)) || (rc = replace_file(metrics_path, "", 0, err))) {
            free(train_idx);
            return rc;
        }
        /* a best.ckpt left by an earlier attempt that died before its first last.ckpt */
        if (unlink(ckpt_best) != 0 && errno != ENOENT) {
            free(train_idx);
            return mvae_error_set(err, MVAE_ERR_IO, "cannot remove the stale %s: %s", ckpt_best, strerror(errno));
        }
    }
    if (n_ranks > 1) { /* every rank continues from rank 0's parameters, optimizer and epoch */
        struct { int64_t start_epoch, best_epoch; double best, last_loss; } st0 = {start_epoch, best_epoch, best,
                                                                                   res->last_loss};
        if ((rc = mvae_dist_bcast(&st0, sizeof st0, err)) || (rc = mvae_dist_sync_params(m->params, &tc.opt, err))) {
            free(train_idx);
            return rc;
        }
        start_epoch = (int)st0.start_epoch, best_epoch = st0.best_epoch, best = st0.best, res->last_loss = st0.last_loss;
    }
    uint8_t *pairing = mvae_make_pairing(m, N_all);
    mvae_batch b, vb; /* vb: rank 0's validation batch of the global size (the one-process chunks) */
    memset(&b, 0, sizeof b); /* freed on every path below, also before mvae_batch_init ran */
    memset(&vb, 0, sizeof vb);
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* the bucketed all-reduce (train.dist_bucket_mb > 0); the impartiality blocks keep the one-shot
     * path (docs/scaling.md) */
    const bool want_buckets = n_ranks > 1 && tc.bucket_mb > 0 && !m->impartial;
    mvae_dist_buckets *buckets =
        want_buckets ? mvae_dist_buckets_new(m->params, (size_t)(tc.bucket_mb * 1048576.0)) : NULL;
    int64_t *perm = malloc((size_t)N_train * sizeof *perm);
    double *times = malloc((size_t)nb * sizeof *times);
    /* the validation batch's indices: one workspace sized by the batch */
    int64_t *valid_idx = tc.valid_size > 0 ? malloc((size_t)tc.batch_size * sizeof *valid_idx) : NULL;
    /* each epoch's throughput, for the median: grown as epochs run (train.epochs may be huge) */
    double *eps_rates = NULL;
    size_t n_rates = 0, cap_rates = 0;
    char *line = NULL; /* one metrics.jsonl line */
    size_t line_len = 0;
    if (!ctx || !perm || !times || (want_buckets && !buckets) || (tc.valid_size > 0 && !valid_idx) ||
        (rc = mvae_batch_init(&b, m, (int)B_max, err)) ||
        (n_ranks > 1 && rank == 0 && tc.valid_size > 0 && (rc = mvae_batch_init(&vb, m, (int)tc.batch_size, err)))) {
        rc = rc ? rc : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* the step reads only the loss and the parameters' gradients after backward: saved values
     * may take the gradients' memory as backward goes */
    mvae_ctx_set_recycle_values(ctx, true);
    bool tty = isatty(2);
    int mode = strcmp(tc.progress, "bar") == 0 ? 2 : strcmp(tc.progress, "lines") == 0 ? 1
             : strcmp(tc.progress, "none") == 0 ? 0 : (tty ? 2 : 1);
    if (o->quiet || rank > 0) mode = 0;
    mvae_rng base;
    mvae_rng_seed(&base, m->seed);
    int64_t nb_per_epoch_full = N_train / tc.batch_size;
    char tname[MVAE_SUBSET_NAME_MAX];
    mvae_objective_bounds(m, &obj, &res->bound); /* what the objective bounds (metrics.json "bound") */
    res->has_bound = true;
    if (mode && start_epoch <= tc.epochs) {
        MVAE_INFO("training %s: %lld epochs x %lld batches of %lld, %zu parameters, run directory %s",
                  m->cfg ? mvae_cfg_filename(m->cfg) : "", (long long)tc.epochs, (long long)nb,
                  (long long)tc.batch_size, mvae_params_count_trainable(m->params), o->run_dir);
        char bs[2048];
        MVAE_INFO("objective %s %s", obj.kind->name, mvae_bound_summary(&res->bound, bs, sizeof bs));
    }
    const double t_run = mvae_time_sec(), eval_fwd = mode ? eval_work(m) : 0; /* the run's ETA */
    tc.opt.zero_grad = true; /* each update leaves the gradients zero for the next step */
    bool grads_zero = false; /* set by such an update */
    for (int epoch = start_epoch; epoch <= tc.epochs; epoch++) {
        if (n_ranks > 1) { /* rank 0's stream (what it saves in last.ckpt); per rank, or the same on all */
            if ((rc = mvae_dist_bcast(&rng, sizeof rng, err))) goto done;
            if (rank > 0 && !tc.noise_global) rng = mvae_rng_fork(&rng, 0xD1570000ull + (uint64_t)rank);
            if (tc.noise_global) mvae_ctx_set_batch_window(ctx, row0, B_local, tc.batch_size);
        }
        memcpy(perm, train_idx, (size_t)N_train * sizeof *perm);
        mvae_rng sh = mvae_rng_fork(&base, 1000 + (uint64_t)epoch);
        mvae_rng_shuffle(&sh, perm, N_train);
        double t_ep = mvae_time_sec(), sum_loss = 0;
        double term_sum[MVAE_MAX_TERMS] = {0}, random_sum = 0; /* random subsets: one sum, not one per subset */
        uint32_t term_sub[MVAE_MAX_TERMS] = {0};
        const char *term_name[MVAE_MAX_TERMS] = {0}; /* "" or the objective's own name for the term */
        char term_names[MVAE_MAX_TERMS][MVAE_TERM_NAME_MAX];
        int n_term = 0, n_random = 0;
        float beta = (float)tc.beta;
        for (int64_t bi = 0; bi < nb; bi++) {
            double t0 = mvae_time_sec();
            if ((rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, perm + bi * tc.batch_size + row0, (int)B_local,
                                      pairing, err)))
                goto done;
            /* linear KL annealing per batch (the original MVAE schedule) */
            beta = (float)tc.beta;
            if (tc.kl_anneal_epochs > 0) {
                double step = (double)(epoch - 1) * (double)nb_per_epoch_full + (double)bi + 1;
                double a = step / (tc.kl_anneal_epochs * (double)nb_per_epoch_full);
                beta = (float)(tc.beta * (a < 1 ? a : 1));
            }
            mvae_ctx_reset(ctx);
            if (!grads_zero) mvae_params_zero_grad(m->params); /* else the last update zeroed them */
            grads_zero = false;
            mvae_tensor *loss;
            mvae_step_stats st;
            rc = mvae_model_types_train_step(m, ctx, &b, &rng); /* e.g. a GAN's discriminator (modeltype.h) */
            if (!rc) rc = mvae_objective_loss(m, ctx, &b, &obj, beta, &rng, &loss, &st);
            if (buckets) mvae_dist_buckets_arm(buckets, ctx, w_rank); /* all-reduce during backward */
            if (!rc) rc = mvae_backward(ctx, loss);
            if (buckets && (rc2 = mvae_dist_buckets_finish(buckets, ctx, err))) {
                rc = rc2;
                goto done;
            }
            if (!rc && n_ranks > 1 && !buckets && (rc = mvae_dist_allreduce_grads_weighted(m->params, w_rank, err)))
                goto done;
            float gnorm = 0;
            if (!rc) {
                gnorm = tc.clip > 0 ? mvae_clip_grad_norm(m->params, (float)tc.clip) : mvae_grad_norm(m->params);
                if (!isfinite(gnorm)) {
                    mvae_ctx_fail(ctx, "the gradient norm is %s", isnan(gnorm) ? "NaN" : "infinite");
                    rc = MVAE_ERR_NUMERIC;
                }
            }
            if (rc) {
                if (mode == 2) fputc('\n', stderr);
                char saved[MVAE_RUN_DIR_MAX + 300];
                if (access(ckpt_last, F_OK) == 0)
                    snprintf(saved, sizeof saved, "the last good checkpoint is %s (epoch %d)", ckpt_last, epoch - 1);
                else
                    snprintf(saved, sizeof saved, "no checkpoint was written yet (this was the first epoch)");
                mvae_error_set(err, rc, "step %lld (epoch %d, batch %lld): %s; training stopped and the "
                               "parameters of this step were not applied; %s. Try a lower learning rate "
                               "or train.clip_grad_norm", (long long)((epoch - 1) * nb + bi + 1), epoch,
                               (long long)bi + 1, mvae_ctx_error(ctx), saved);
                goto done;
            }
            if ((rc = mvae_optim_step(&tc.opt, m->params, err)) ||
                (n_ranks > 1 && (rc = mvae_dist_average_buffers_weighted(m->params, w_rank, err))))
                goto done;
            grads_zero = true;
            sum_loss += st.loss;
            for (int t = 0, nr = 0; t < st.n_terms; t++) {
                if (st.random[t]) {
                    random_sum += st.term_loss[t];
                    if (++nr > n_random) n_random = nr;
                    continue;
                }
                int j = 0;
                while (j < n_term && (term_sub[j] != st.subset[t] || strcmp(term_name[j], st.name[t]) != 0)) j++;
                if (j == n_term && n_term < MVAE_MAX_TERMS) {
                    term_sub[n_term] = st.subset[t];
                    memcpy(term_names[n_term], st.name[t], sizeof term_names[0]);
                    term_name[n_term] = term_names[n_term];
                    n_term++;
                }
                if (j < MVAE_MAX_TERMS) term_sum[j] += st.term_loss[t];
            }
            times[bi] = mvae_time_sec() - t0;
            if (o->on_batch && o->on_batch(o->hook_user, epoch, bi + 1, nb, sum_loss / (double)(bi + 1))) {
                if (mode == 2) fputc('\n', stderr);
                if (epoch > 1)
                    rc = mvae_error_set(err, MVAE_ERR_INTERRUPTED, "training interrupted in epoch %d (batch %lld of %lld); "
                                        "%s holds epoch %d: continue with `mvae train --resume %s`", epoch,
                                        (long long)bi + 1, (long long)nb, ckpt_last, epoch - 1, o->run_dir);
                else
                    rc = mvae_error_set(err, MVAE_ERR_INTERRUPTED, "training interrupted in epoch 1 (batch %lld of %lld), "
                                        "before any checkpoint: nothing to resume; start the run again", (long long)bi + 1,
                                        (long long)nb);
                goto done;
            }
            double el = mvae_time_sec() - t_ep;
            double sps = (double)(bi + 1) * (double)tc.batch_size / el;
            if (mode)
                train_progress(mode, epoch, tc.epochs, bi, nb, sum_loss / (double)(bi + 1), sps, el,
                               mvae_time_sec() - t_run, (int64_t)(epoch - start_epoch) * nb + bi + 1, tc.batch_size,
                               st.n_terms, eval_fwd);
        }
        mvae_ctx_set_batch_window(ctx, 0, 0, 0);
        /* the epoch's losses are the means over every rank's slices (rank 0 adds them up) */
        if (n_ranks > 1 && (rc = epoch_stats_gather(w_rank, &sum_loss, &random_sum, term_sub, term_sum, &n_term, err)))
            goto done;
        double sec = mvae_time_sec() - t_ep;
        /* steady-state throughput: median batch time, first batches excluded */
        int64_t skip = nb > 20 ? 5 : 0;
        qsort(times + skip, (size_t)(nb - skip), sizeof *times, cmp_double);
        double med = times[skip + (nb - skip) / 2];
        double rate = (double)tc.batch_size / med;
        if (n_rates == cap_rates) {
            size_t cap = cap_rates ? 2 * cap_rates : 64;
            double *r = realloc(eps_rates, cap * sizeof *r);
            if (!r) {
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                goto done;
            }
            eps_rates = r;
            cap_rates = cap;
        }
        eps_rates[n_rates++] = rate;
        double ep_loss = sum_loss / (double)nb;
        double vl = NAN;
        if (tc.valid_size > 0 && rank == 0 &&
            (rc = valid_loss(m, ctx, n_ranks > 1 ? &vb : &b, &obj, (float)tc.beta, N, tc.valid_size, &rng, valid_idx,
                             &vl, err)))
            goto done;
        double crit = tc.valid_size > 0 ? vl : ep_loss;
        if (mode == 2) fputc('\n', stderr);
        if (mode) {
            char terms[4096] = "";
            for (int j = 0; j < n_term; j++)
                snprintf(terms + strlen(terms), sizeof terms - strlen(terms), " [%s]=%.2f",
                         term_name[j][0] ? term_name[j] : mvae_model_subset_name(m, term_sub[j], tname, sizeof tname),
                         term_sum[j] / (double)nb);
            if (n_random)
                snprintf(terms + strlen(terms), sizeof terms - strlen(terms), " [%d random subsets]=%.2f",
                         n_random, random_sum / (double)nb);
            fprintf(stderr, "epoch %d/%lld loss %.4f%s beta %.3f  %.1f s  %.0f samples/s%s\n", epoch, (long long)tc.epochs,
                    ep_loss, terms, beta, sec, rate, tc.valid_size > 0 ? "" : "");
            if (tc.valid_size > 0) fprintf(stderr, "  valid loss %.4f\n", vl);
        }
        if (rank > 0) { /* rank 0 writes: wait without spinning on its core, then compare parameters */
            res->last_loss = ep_loss;
            if ((rc = mvae_dist_barrier_idle(err)) || (rc = mvae_dist_check_params(m->params, &tc.opt, err))) goto done;
            continue;
        }
        /* the epoch's line, then best.ckpt, then last.ckpt (docs/reliability.md): a kill between
         * any two leaves a state that resume repairs */
        FILE *f = open_memstream(&line, &line_len);
        if (!f) {
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            goto done;
        }
        fprintf(f, "{\"epoch\": %d, \"loss\": %.6f, \"beta\": %.6f, \"seconds\": %.3f, \"samples_per_sec\": %.1f",
                epoch, ep_loss, beta, sec, rate);
        if (tc.valid_size > 0) fprintf(f, ", \"valid_loss\": %.6f", vl);
        fprintf(f, ", \"terms\": {");
        for (int j = 0; j < n_term; j++)
            fprintf(f, "%s\"%s\": %.6f", j ? ", " : "",
                    term_name[j][0] ? term_name[j] : mvae_model_subset_name(m, term_sub[j], tname, sizeof tname),
                    term_sum[j] / (double)nb);
        if (n_random) fprintf(f, "%s\"random_subsets\": %.6f", n_term ? ", " : "", random_sum / (double)nb);
        fprintf(f, "}");
        if (m->impartial) { /* the impartiality blocks' epoch: cosines and norms of the branch gradients */
            char *js = malloc(1 << 17);
            if (js && mvae_impartial_set_stats_json(m, js, 1 << 17) > 0) fprintf(f, ", %s", js);
            free(js);
        }
        fprintf(f, "}\n");
        if (fclose(f) != 0) {
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((rc = append_metrics(metrics_path, line, line_len, err))) goto done;
        mvae_test_crash_point("metrics_line"); /* the line is on disk, no checkpoint holds the epoch */
        bool improved = crit < best;
        if (improved) {
            best = crit;
            best_epoch = epoch;
        }
        meta_format(extra, sizeof extra, epoch, best, best_epoch, ep_loss, fingerprint);
        if (improved) {
            if ((rc = mvae_checkpoint_save(ckpt_best, m->params, &tc.opt, &rng, extra, err))) goto done;
            mvae_test_crash_point("best_saved"); /* best.ckpt is one epoch ahead of last.ckpt */
        }
        if ((rc = mvae_checkpoint_save(ckpt_last, m->params, &tc.opt, &rng, extra, err))) goto done;
        res->last_loss = ep_loss;
        if (n_ranks > 1 && ((rc = mvae_dist_barrier_idle(err)) || (rc = mvae_dist_check_params(m->params, &tc.opt, err))))
            goto done;
        if (o->on_epoch) { /* the line without its newline: the checkpoints hold this epoch now */
            if (line_len && line[line_len - 1] == '\n') line[--line_len] = '\0';
            if (o->on_epoch(o->hook_user, line) && epoch < tc.epochs) {
                rc = mvae_error_set(err, MVAE_ERR_INTERRUPTED, "training stopped after epoch %d of %lld on request; "
                                    "%s holds it: continue with `mvae train --resume %s`", epoch, (long long)tc.epochs,
                                    ckpt_last, o->run_dir);
                goto done;
            }
        }
        free(line);
        line = NULL;
    }
    res->epochs = (int)tc.epochs;
    if (n_rates) {
        qsort(eps_rates, (size_t)n_rates, sizeof *eps_rates, cmp_double);
        res->samples_per_sec = eps_rates[n_rates / 2];
    } else {
        /* resumed a finished run: keep the recorded throughput */
        res->samples_per_sec = NAN;
    }
    /* every rank evaluates its share of the test split (mvae_evaluate_in); rank 0 gathers the
     * metrics, writes metrics.json and the pictures */
    if ((rc = mvae_evaluate_in(m, MVAE_SPLIT_TEST, o->run_dir, &res->eval, o->quiet, err))) goto done;
    if (rank > 0) goto done;
    snprintf(path, sizeof path, "%s/metrics.json", o->run_dir);
    mvae_test_crash_point("metrics_json"); /* trained, not yet evaluated into metrics.json */
    if ((rc = mvae_write_metrics_json(path, &res->eval, res, err))) goto done;
    bool pics = true;
    mvae_cfg_bool_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "eval"), "pictures", true, &pics, err);
    mvae_test_crash_point("pictures"); /* metrics.json written, the pictures not */
    if (pics && (rc = mvae_write_pictures(m, o->run_dir, o->quiet, err))) goto done;
    if (pics && (rc = mvae_plot_training(o->run_dir, o->quiet, err))) goto done;
done:
    mvae_batch_free(&b);
    mvae_batch_free(&vb);
    mvae_ctx_free(ctx);
    mvae_dist_buckets_free(buckets);
    free(perm);
    free(times);
    free(valid_idx);
    free(line);
    free(eps_rates);
    free(pairing);
    free(train_idx);
    return rc;
}
