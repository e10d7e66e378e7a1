/* coherence.c — evaluation classifiers (trained once, cached), coherence of conditional generation
 * and the linear probe (multinomial logistic regression on the mean of q). Definitions:
 * docs/metrics.md. */
#define _GNU_SOURCE
#include "mvae/coherence.h"
#include "eval_internal.h"
#include "mvae/checkpoint.h"
#include "mvae/dist.h"
#include "mvae/frechet.h"
#include "mvae/optim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------- cache key */
static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The YAML text of a config map (block style), or "" (malloc'd; caller frees). */
static char *node_text(const mvae_cfg_node *n) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    if (n) mvae_cfg_write(n, f);
    fclose(f);
    return buf;
}

/* Drop lines that start (after indentation) with `key:` from text, in place. */
static void drop_key_lines(char *text, const char *key) {
    size_t kl = strlen(key);
    char *out = text, *p = text;
    while (*p) {
        char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) + 1 : strlen(p);
        const char *q = p;
        while (*q == ' ') q++;
        bool drop = strncmp(q, key, kl) == 0 && q[kl] == ':';
        if (!drop) {
            memmove(out, p, ll);
            out += ll;
        }
        p += ll;
    }
    *out = '\0';
}

const char *mvae_classifier_cache_dir(const mvae_model *m, const char *fallback, char *buf, size_t len) {
    const char *cd = "";
    mvae_error e = {0};
    mvae_cfg_string_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.coherence"), "cache_dir", "", &cd, &e);
    const char *env;
    if (cd && cd[0])
        snprintf(buf, len, "%s", cd);
    else if ((env = getenv("MVAE_CACHE_DIR")) && env[0])
        snprintf(buf, len, "%s/classifiers", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && env[0])
        snprintf(buf, len, "%s/mvae/classifiers", env);
    else if ((env = getenv("HOME")) && env[0])
        snprintf(buf, len, "%s/.cache/mvae/classifiers", env);
    else
        snprintf(buf, len, "%s/classifiers", fallback && fallback[0] ? fallback : ".");
    return buf;
}

/* ------------------------------------------------------------------------------ classifier */
typedef struct clf_settings {
    const mvae_cfg_node *sec; /* eval.coherence.classifier */
    const char *plugin;
    int64_t epochs, batch_size, max_train, seed;
    double lr;
} clf_settings;

static int read_settings(const mvae_model *m, clf_settings *s, mvae_error *err) {
    memset(s, 0, sizeof *s);
    s->sec = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.coherence.classifier");
    int rc;
    if ((rc = mvae_cfg_string_or(s->sec, "plugin", "conv_classifier", &s->plugin, err)) ||
        (rc = mvae_cfg_int_or(s->sec, "epochs", 2, &s->epochs, err)) ||
        (rc = mvae_cfg_int_or(s->sec, "batch_size", 128, &s->batch_size, err)) ||
        (rc = mvae_cfg_int_or(s->sec, "max_train", 0, &s->max_train, err)) ||
        (rc = mvae_cfg_int_or(s->sec, "seed", 1, &s->seed, err)) ||
        (rc = mvae_cfg_float_or(s->sec, "lr", 1e-3, &s->lr, err)))
        return rc;
    if (s->epochs < 1 || s->batch_size < 1 || s->max_train < 0 || !(s->lr > 0))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "eval.coherence.classifier: epochs and batch_size must be >= 1, max_train >= 0, lr > 0");
    return MVAE_OK;
}

void mvae_classifier_free(mvae_classifier *c) {
    if (!c) return;
    if (c->self) ((const mvae_classifier_vtable *)c->desc->vtable)->destroy(c->self);
    mvae_params_free(c->params);
    free(c);
}

int mvae_classifier_predict(const mvae_classifier *c, mvae_ctx *ctx, mvae_tensor *x, int32_t *pred,
                            mvae_error *err) {
    bool g = mvae_ctx_set_grad(ctx, false), tr = mvae_ctx_set_training(ctx, false);
    mvae_tensor *lg = ((const mvae_classifier_vtable *)c->desc->vtable)->forward(c->self, ctx, x);
    mvae_ctx_set_grad(ctx, g);
    mvae_ctx_set_training(ctx, tr);
    if (!lg || lg->ndim != 2 || lg->shape[0] != x->shape[0] || lg->shape[1] != c->n_classes)
        return mvae_error_set(err, MVAE_ERR_INVALID, "classifier '%s': %s", c->desc->name,
                              mvae_ctx_failed(ctx) ? mvae_ctx_error(ctx) : "forward did not return logits [B, n_classes]");
    mvae_argmax_rows(lg->data, lg->shape[0], lg->shape[1], pred);
    return MVAE_OK;
}

/* the labels of a filled batch as an I32 [n] tensor */
static mvae_tensor *batch_labels(mvae_ctx *ctx, const mvae_batch *b, int label) {
    mvae_tensor *y = mvae_tensor_new_i32(ctx, 1, (int64_t[]){b->n});
    if (y) memcpy(y->data, b->x[label], (size_t)b->n * sizeof(int32_t));
    return y;
}

static int clf_accuracy(const mvae_model *m, mvae_classifier *c, int split, double *acc, mvae_error *err) {
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N = dv->size(m->ds, split);
    const int bs = 500;
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t idx[500];
    int32_t pred[500];
    int rc = ctx ? mvae_batch_init(&b, m, bs, err) : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int64_t right = 0, total = 0;
    for (int64_t s = 0; !rc && s < N; s += bs) {
        int n = (int)(N - s < bs ? N - s : bs);
        for (int i = 0; i < n; i++) idx[i] = s + i;
        if ((rc = mvae_batch_fill(&b, m, split, idx, n, NULL, err))) break;
        mvae_ctx_reset(ctx);
        if ((rc = mvae_classifier_predict(c, ctx, mvae_batch_tensor(ctx, m, &b, c->image), pred, err))) break;
        const int32_t *lab = (const int32_t *)(const void *)b.x[c->label];
        for (int i = 0; i < n; i++) {
            if (!b.present[i * m->n_mod + c->image] || !b.present[i * m->n_mod + c->label]) continue;
            right += pred[i] == lab[i];
            total++;
        }
    }
    *acc = total ? (double)right / (double)total : NAN;
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    return rc;
}

static int clf_train(const mvae_model *m, mvae_classifier *c, const clf_settings *s, mvae_error *err) {
    const mvae_classifier_vtable *vt = c->desc->vtable;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N = dv->size(m->ds, MVAE_SPLIT_TRAIN);
    if (s->max_train > 0 && s->max_train < N) N = s->max_train;
    if (N < 1) return mvae_error_set(err, MVAE_ERR_INVALID, "classifier: the dataset has no training samples");
    int bs = (int)(s->batch_size < N ? s->batch_size : N);
    int64_t nb = (N + bs - 1) / bs;
    c->n_train = N;
    c->epochs = (int)s->epochs;
    mvae_optim opt = mvae_optim_adam((float)s->lr);
    mvae_rng rng;
    mvae_rng_seed(&rng, (uint64_t)s->seed ^ 0xC1A55ull);
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t *perm = malloc((size_t)N * sizeof *perm);
    int rc = (ctx && perm) ? mvae_batch_init(&b, m, bs, err) : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (!rc) {
        mvae_ctx_set_grad(ctx, true);
        mvae_ctx_set_training(ctx, true);
    }
    for (int ep = 1; !rc && ep <= s->epochs; ep++) {
        double t0 = mvae_time_sec(), sum = 0;
        for (int64_t i = 0; i < N; i++) perm[i] = i;
        mvae_rng_shuffle(&rng, perm, N);
        for (int64_t bi = 0; bi < nb && !rc; bi++) {
            int n = (int)(N - bi * bs < bs ? N - bi * bs : bs);
            if ((rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, perm + bi * bs, n, NULL, err))) break;
            mvae_ctx_reset(ctx);
            mvae_params_zero_grad(c->params);
            mvae_tensor *x = mvae_batch_tensor(ctx, m, &b, c->image);
            mvae_tensor *lg = vt->forward(c->self, ctx, x);
            mvae_tensor *loss = mvae_scale(ctx, mvae_mean_all(ctx, mvae_categorical_logp(ctx, lg, batch_labels(ctx, &b, c->label))), -1.0f);
            if (!loss || mvae_backward(ctx, loss)) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "classifier '%s': %s", c->desc->name, mvae_ctx_error(ctx));
                break;
            }
            if (!isfinite(loss->data[0])) {
                rc = mvae_error_set(err, MVAE_ERR_NUMERIC, "classifier '%s': the training loss is not finite at epoch %d batch %lld; "
                                    "try a lower eval.coherence.classifier.lr", c->desc->name, ep, (long long)bi + 1);
                break;
            }
            sum += loss->data[0];
            rc = mvae_optim_step(&opt, c->params, err);
        }
        if (!rc)
            MVAE_INFO("classifier %s for %s/%s: epoch %d/%lld loss %.4f (%.1f s)", c->desc->name, m->mod[c->image].info.name,
                      m->mod[c->label].info.name, ep, (long long)s->epochs, sum / (double)nb, mvae_time_sec() - t0);
    }
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(perm);
    /* Adam's moments are not needed any more (and must not go into the cached file) */
    free(c->params->m);
    free(c->params->v);
    c->params->m = c->params->v = NULL;
    return rc;
}

/* the value of "key": "..." or "key": number in a flat JSON object */
static const char *json_field(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

int mvae_classifier_get(const mvae_model *m, int image, int label, const char *cache_dir,
                        mvae_classifier **out, mvae_error *err) {
    *out = NULL;
    if (image < 0 || image >= m->n_mod || label < 0 || label >= m->n_mod ||
        m->mod[label].info.type != MVAE_MOD_CATEGORICAL)
        return mvae_error_set(err, MVAE_ERR_INVALID, "classifier: needs an image modality and a categorical modality of the model");
    double t0 = mvae_time_sec();
    clf_settings s;
    int rc = read_settings(m, &s, err);
    if (rc) return rc;
    const mvae_plugin_desc *d = mvae_registry_require(m->reg, MVAE_PLUGIN_CLASSIFIER, s.plugin, err);
    if (!d) {
        mvae_error_prefix(err, "eval.coherence.classifier.plugin");
        return err->status;
    }
    mvae_classifier *c = calloc(1, sizeof *c);
    if (!c) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    c->desc = d;
    c->image = image;
    c->label = label;
    c->n_classes = m->mod[label].info.n_classes;
    c->params = mvae_params_new();
    const mvae_modality_info *im = &m->mod[image].info;
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s.clf", im->name);
    const mvae_classifier_vtable *vt = d->vtable;
    if (!c->params) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (!rc && (rc = vt->create(s.sec, im, c->n_classes, c->params, prefix, &c->self, err)))
        mvae_error_prefix(err, "eval.coherence.classifier (%s)", d->name);
    mvae_rng init;
    mvae_rng_seed(&init, (uint64_t)s.seed);
    if (!rc) rc = mvae_params_finalize(c->params, &init, err);
    if (rc) {
        mvae_classifier_free(c);
        return rc;
    }
    /* the cache key: what determines the trained parameters */
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    char *ds_text = node_text(mvae_cfg_get(mvae_cfg_root(m->cfg), "dataset"));
    char *clf_text = node_text(s.sec);
    if (ds_text) { /* pairing and its schedule do not change the data */
        drop_key_lines(ds_text, "paired_fraction");
        drop_key_lines(ds_text, "paired_only");
        drop_key_lines(ds_text, "paired_repeat");
    }
    char *key_text = NULL;
    if (ds_text && clf_text &&
        asprintf(&key_text, "mvae classifier cache v1\ndataset %s %s\n%s\nimage %s [%lld,%lld,%lld] label %s %d\n"
                 "train %lld test %lld\nclassifier %s %s\n%s\n",
                 m->ds_desc->name, m->ds_desc->version, ds_text, im->name, (long long)im->shape[0],
                 (long long)im->shape[1], (long long)im->shape[2], m->mod[label].info.name, c->n_classes,
                 (long long)dv->size(m->ds, MVAE_SPLIT_TRAIN), (long long)dv->size(m->ds, MVAE_SPLIT_TEST),
                 d->name, d->version, clf_text) < 0)
        key_text = NULL;
    free(ds_text);
    free(clf_text);
    if (!key_text) {
        mvae_classifier_free(c);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    snprintf(c->key, sizeof c->key, "%016llx", (unsigned long long)fnv1a(key_text, strlen(key_text)));
    free(key_text);
    bool use_cache = cache_dir && cache_dir[0];
    if (use_cache)
        snprintf(c->path, sizeof c->path, "%s/%s-%s-%s-%s-%s.ckpt", cache_dir, m->ds_desc->name, im->name,
                 m->mod[label].info.name, d->name, c->key);
    /* 1. the cache */
    if (use_cache && access(c->path, F_OK) == 0) {
        mvae_error le = {0};
        char *extra = NULL;
        if (mvae_checkpoint_load(c->path, c->params, NULL, NULL, &extra, &le) == MVAE_OK) {
            const char *k = json_field(extra, "key"), *a = json_field(extra, "test_accuracy");
            const char *ep = json_field(extra, "epochs"), *nt = json_field(extra, "n_train");
            if (k && *k == '"' && strncmp(k + 1, c->key, 16) == 0 && k[17] == '"' && a) {
                c->test_accuracy = strtod(a, NULL);
                c->epochs = ep ? atoi(ep) : 0;
                c->n_train = nt ? strtoll(nt, NULL, 10) : 0;
                c->trained = false;
                c->seconds = mvae_time_sec() - t0;
                free(extra);
                MVAE_INFO("classifier %s for %s/%s: loaded %s (test accuracy %.4f)", d->name, im->name,
                          m->mod[label].info.name, c->path, c->test_accuracy);
                *out = c;
                return MVAE_OK;
            }
            snprintf(le.msg, sizeof le.msg, "its recorded key does not match %s", c->key);
            /* parameters were overwritten by the load: start again from the initialisation */
            mvae_rng_seed(&init, (uint64_t)s.seed);
            mvae_params *fresh = mvae_params_new();
            void *fself = NULL;
            int frc = fresh ? vt->create(s.sec, im, c->n_classes, fresh, prefix, &fself, err) : MVAE_ERR_NOMEM;
            if (!frc) frc = mvae_params_finalize(fresh, &init, err);
            if (frc) {
                if (fself) vt->destroy(fself);
                mvae_params_free(fresh);
                free(extra);
                mvae_classifier_free(c);
                return frc;
            }
            vt->destroy(c->self);
            mvae_params_free(c->params);
            c->self = fself;
            c->params = fresh;
        }
        free(extra);
        MVAE_WARN("cached classifier %s is unusable (%s); training it again", c->path, le.msg);
    }
    /* 2. train, test, save */
    MVAE_INFO("training classifier %s for %s/%s on the training split (%lld epochs)%s%s", d->name, im->name,
              m->mod[label].info.name, (long long)s.epochs, use_cache ? "; it will be cached as " : "",
              use_cache ? c->path : "");
    if ((rc = clf_train(m, c, &s, err)) || (rc = clf_accuracy(m, c, MVAE_SPLIT_TEST, &c->test_accuracy, err))) {
        mvae_classifier_free(c);
        return rc;
    }
    c->trained = true;
    c->seconds = mvae_time_sec() - t0;
    MVAE_INFO("classifier %s for %s/%s: test accuracy %.4f, trained in %.1f s", d->name, im->name,
              m->mod[label].info.name, c->test_accuracy, c->seconds);
    if (use_cache) {
        char extra[256];
        snprintf(extra, sizeof extra,
                 "{\"key\": \"%s\", \"test_accuracy\": %.9g, \"epochs\": %d, \"n_train\": %lld, \"train_seconds\": %.3f}",
                 c->key, c->test_accuracy, c->epochs, (long long)c->n_train, c->seconds);
        mvae_error se = {0};
        if (mvae_mkdir_p(cache_dir, NULL) != MVAE_OK)
            MVAE_WARN("cannot create the classifier cache directory %s: %s; the classifier is not cached", cache_dir,
                      strerror(errno));
        else if (mvae_checkpoint_save(c->path, c->params, NULL, NULL, extra, &se) != MVAE_OK)
            MVAE_WARN("cannot cache the classifier: %s", se.msg);
    }
    *out = c;
    return MVAE_OK;
}

/* ------------------------------------------------------------------------------- coherence */
/* Fréchet distance (docs/metrics.md): add the classifier's penultimate features of x [n, ...] to
 * *st (made on first use with the features' width), the rows whose keep[i] is nonzero (keep NULL:
 * all). */
static int frechet_add(const mvae_classifier *c, mvae_ctx *ctx, mvae_tensor *x, const float *keep,
                       const uint8_t *keep8, int stride8, mvae_feature_stats *st, mvae_error *err) {
    mvae_tensor *(*feat)(void *, mvae_ctx *, mvae_tensor *) = mvae_classifier_hook(c->desc, features);
    mvae_tensor *f = feat ? feat(c->self, ctx, x) : NULL;
    if (!f || f->ndim != 2 || f->shape[0] != x->shape[0])
        return mvae_error_set(err, MVAE_ERR_INVALID, "Fréchet distance: classifier '%s': %s", c->desc->name,
                              mvae_ctx_failed(ctx) ? mvae_ctx_error(ctx) : "features did not return [B, F]");
    int d = (int)f->shape[1];
    if (!st->sum && mvae_feature_stats_init(st, d)) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < f->shape[0]; i++)
        if ((!keep || keep[i] != 0) && (!keep8 || keep8[i * stride8])) mvae_feature_stats_add(st, f->data + i * d, 1, d);
    return MVAE_OK;
}

/* The Fréchet statistics are sums: add every rank's up. A slot a rank never filled is created
 * with the feature size another rank found (the first pass agrees on the sizes). */
static int frechet_allreduce(mvae_feature_stats *fd, int n, mvae_error *err) {
    double *dn = calloc(3 * (size_t)n, sizeof *dn); /* per slot: sum of d, ranks with it, rows */
    if (!dn) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        dn[i] = fd[i].sum ? fd[i].d : 0, dn[n + i] = fd[i].sum != NULL, dn[2 * n + i] = (double)fd[i].n;
    int rc = mvae_dist_allreduce_sum_f64(dn, 3 * (size_t)n, err);
    for (int i = 0; i < n && !rc; i++) {
        int d = dn[n + i] > 0 ? (int)(dn[i] / dn[n + i] + 0.5) : 0;
        if (!d) continue;
        if (!fd[i].sum && mvae_feature_stats_init(&fd[i], d)) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        if (!rc) fd[i].n = (int64_t)dn[2 * n + i];
        if (!rc) rc = mvae_dist_allreduce_sum_f64(fd[i].sum, (size_t)d, err);
        if (!rc) rc = mvae_dist_allreduce_sum_f64(fd[i].outer, (size_t)d * (size_t)d, err);
    }
    free(dn);
    return rc;
}

int mvae_eval_coherence(mvae_model *m, int split, const char *run_dir, mvae_eval_result *r, bool quiet,
                        mvae_error *err) {
    mvae_cfg_node *sec = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.coherence");
    bool enabled = false, frechet = true;
    int64_t max_test = 0, bs = 100;
    const char *given = "others", *label = "";
    int rc;
    if ((rc = mvae_cfg_bool_or(sec, "enabled", false, &enabled, err)) ||
        (rc = mvae_cfg_bool_or(sec, "frechet", true, &frechet, err)) ||
        (rc = mvae_cfg_int_or(sec, "max_test", 0, &max_test, err)) ||
        (rc = mvae_cfg_string_or(sec, "given", "others", &given, err)) ||
        (rc = mvae_cfg_string_or(sec, "label", "", &label, err)) ||
        (rc = mvae_cfg_int_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "eval"), "batch_size", 100, &bs, err)))
        return rc;
    if (!enabled) return MVAE_OK;
    if (bs < 1) bs = 100;
    const bool subsets = strcmp(given, "subsets") == 0;
    if (!subsets && strcmp(given, "others") != 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "eval.coherence.given: '%s' is neither others nor subsets", given);
    int only = -1; /* eval.coherence.label: the one categorical modality to classify */
    if (label[0] && ((only = mvae_model_find(m, label)) < 0 || m->mod[only].info.type != MVAE_MOD_CATEGORICAL))
        return mvae_error_set(err, MVAE_ERR_INVALID, "eval.coherence.label: '%s' is not a categorical modality of this experiment",
                              label);
    if (subsets && __builtin_popcount(m->encodable) > 6)
        return mvae_error_set(err, MVAE_ERR_INVALID, "eval.coherence.given: subsets takes at most 6 modalities with an encoder "
                              "(63 subsets); this model has %d: use given: others", __builtin_popcount(m->encodable));
    /* the generated modalities (images; with given: subsets also spectrograms) and the categorical
     * ones; the conditioning sets: each non-image modality alone and all of them together, or
     * (subsets) every non-empty subset of the encodable modalities, by size */
    int imgs[MVAE_MAX_MODALITIES], cats[MVAE_MAX_MODALITIES], ni = 0, nc = 0;
    uint32_t sets[64], non_image = 0;
    int nsets = 0;
    for (int k = 0; k < m->n_mod; k++) {
        const mvae_modality_info *mi = &m->mod[k].info;
        if (mi->ndim == 3 && (mi->type == MVAE_MOD_IMAGE || (subsets && mi->type == MVAE_MOD_AUDIO))) imgs[ni++] = k;
        else if (m->encodable & (1u << k)) { /* a decoder-only modality cannot be given */
            non_image |= 1u << k;
            sets[nsets++] = 1u << k;
        }
        if (mi->type == MVAE_MOD_CATEGORICAL && (only < 0 || k == only)) cats[nc++] = k;
    }
    if (nsets >= 2) sets[nsets++] = non_image;
    if (subsets) {
        nsets = 0;
        for (int size = 1; size <= __builtin_popcount(m->encodable); size++)
            for (uint32_t s = 1; s <= m->encodable; s++)
                if ((s & ~m->encodable) == 0 && __builtin_popcount(s) == size) sets[nsets++] = s;
    }
    if (!ni || !nc) {
        if (!quiet) MVAE_WARN("eval.coherence: the model needs an image and a categorical modality; no coherence computed");
        return MVAE_OK;
    }
    char cache[4200];
    mvae_classifier_cache_dir(m, run_dir, cache, sizeof cache);
    mvae_classifier *clf[MVAE_MAX_MODALITIES][4] = {{0}};
    if (nc > 4) nc = 4;
    /* under mpirun (mvae/dist.h) the test batches are split over the ranks: rank 0 gets (trains
     * and caches) the classifiers first, then the others get them (from the cache) and take rank
     * 0's parameters, so every rank scores with the same classifiers */
    const int d_rank = mvae_dist_rank(), d_size = mvae_dist_size();
    if (d_rank > 0 && (rc = mvae_dist_barrier_idle(err))) return rc;
    for (int a = 0; a < ni; a++)
        for (int c = 0; c < nc; c++) {
            if ((rc = mvae_classifier_get(m, imgs[a], cats[c], cache, &clf[a][c], err))) goto done;
            if (r->n_clf < 8) {
                int j = r->n_clf++;
                if (nc == 1)
                    snprintf(r->clf_name[j], sizeof r->clf_name[j], "%s", m->mod[imgs[a]].info.name);
                else
                    snprintf(r->clf_name[j], sizeof r->clf_name[j], "%s:%s", m->mod[imgs[a]].info.name, m->mod[cats[c]].info.name);
                r->clf_acc[j] = clf[a][c]->test_accuracy;
            }
        }
    if (d_size > 1 && d_rank == 0 && (rc = mvae_dist_barrier_idle(err))) goto done;
    for (int a = 0; d_size > 1 && a < ni; a++)
        for (int c = 0; c < nc; c++)
            if ((rc = mvae_dist_bcast(clf[a][c]->params->data, clf[a][c]->params->n_floats * sizeof(float), err)))
                goto done;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    int64_t N = dv->size(m->ds, split);
    if (max_test > 0 && max_test < N) N = max_test;
    /* counters per (set, image, categorical) */
    int n_out = nsets * ni * nc;
    /* + the joint coherence: z ~ N(0, I), the generated image's class against the generated label's */
    double *right = calloc((size_t)(n_out + ni * nc), sizeof *right), *total = calloc((size_t)(n_out + ni * nc), sizeof *total);
    int64_t E_max = 1;
    for (int a = 0; a < ni; a++) {
        int64_t e = mvae_modality_numel(&m->mod[imgs[a]].info);
        if (e > E_max) E_max = e;
    }
    float *gen = malloc((size_t)bs * (size_t)E_max * sizeof *gen);
    /* Fréchet distances per image modality: slot si * ni + a for conditioning set si, then the
     * prior's (si = nsets) and the real test images' (si = nsets + 1) */
    bool fd_on[MVAE_MAX_MODALITIES] = {0}, any_fd = false;
    for (int a = 0; a < ni; a++) any_fd |= fd_on[a] = frechet && mvae_classifier_hook(clf[a][0]->desc, features) != NULL;
    mvae_feature_stats *fd = any_fd ? calloc((size_t)(nsets + 2) * (size_t)ni, sizeof *fd) : NULL;
    float *zp = any_fd ? malloc((size_t)bs * (size_t)m->latent_dim * sizeof *zp) : NULL;
    mvae_rng frng, frng_base; /* the prior draws and the flows' noise of the Fréchet samples: not coherence's stream */
    mvae_rng_seed(&frng_base, m->seed + 778);
    if (any_fd && (!fd || !zp)) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int32_t *pred = malloc((size_t)bs * sizeof *pred);
    int64_t *idx = malloc((size_t)bs * sizeof *idx);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_batch b;
    memset(&b, 0, sizeof b);
    if (!right || !total || !gen || !pred || !idx || !ctx) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (!rc) rc = mvae_batch_init(&b, m, (int)bs, err);
    /* each batch draws from its own stream, so the split over ranks does not change the draws */
    mvae_rng rng, rng_base;
    mvae_rng_seed(&rng_base, m->seed + 777);
    mvae_rng prior_rng, prior_base; /* joint coherence's prior draws: a stream apart, forked per batch */
    mvae_rng_seed(&prior_base, m->seed + 779);
    if (ctx) {
        mvae_ctx_set_grad(ctx, false);
        mvae_ctx_set_training(ctx, false);
    }
    for (int64_t s0 = 0; !rc && s0 < N; s0 += bs) {
        if ((s0 / bs) % d_size != d_rank) continue; /* another rank's batch */
        rng = mvae_rng_fork(&rng_base, (uint64_t)(s0 / bs));
        frng = mvae_rng_fork(&frng_base, (uint64_t)(s0 / bs));
        prior_rng = mvae_rng_fork(&prior_base, (uint64_t)(s0 / bs));
        int n = (int)(N - s0 < bs ? N - s0 : bs);
        for (int i = 0; i < n; i++) idx[i] = s0 + i;
        if ((rc = mvae_batch_fill(&b, m, split, idx, n, NULL, err))) break;
        for (int a = 0; a < ni && !rc; a++) { /* Fréchet: the real images, and samples from the prior */
            if (!fd_on[a]) continue;
            const mvae_modality *md = &m->mod[imgs[a]];
            int64_t shp[4] = {n, md->info.shape[0], md->info.shape[1], md->info.shape[2]};
            mvae_ctx_reset(ctx);
            if ((rc = frechet_add(clf[a][0], ctx, mvae_tensor_wrap(ctx, 4, shp, b.x[imgs[a]]), NULL,
                                  b.present + imgs[a], m->n_mod, &fd[(nsets + 1) * ni + a], err)))
                break;
            mvae_rng_normal_fill(&frng, zp, (size_t)n * (size_t)m->latent_dim);
            mvae_tensor *z = mvae_tensor_wrap(ctx, 2, (int64_t[]){n, m->latent_dim}, zp);
            if (mvae_model_generate(m, ctx, imgs[a], z, &frng, gen)) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "Fréchet distance: %s", mvae_ctx_error(ctx));
                break;
            }
            rc = frechet_add(clf[a][0], ctx, mvae_tensor_wrap(ctx, 4, shp, gen), NULL, NULL, 0, &fd[nsets * ni + a], err);
        }
        for (int si = 0; si < nsets && !rc; si++) {
            mvae_ctx_reset(ctx);
            mvae_experts e;
            mvae_posterior q;
            mvae_tensor *valid = NULL;
            int any = 0;
            if (mvae_model_encode(m, ctx, &b, sets[si], &e) || mvae_model_posterior(m, ctx, &e, sets[si], &q, &valid, &any)) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "coherence: %s", mvae_ctx_error(ctx));
                break;
            }
            if (!any) continue;
            mvae_tensor *z = mvae_eval_one_draw(ctx, &q, fv->sample(m->fusion, ctx, &q, &rng), n, &rng);
            for (int a = 0; a < ni && !rc; a++) {
                if (sets[si] & (1u << imgs[a])) continue; /* given, not generated */
                const mvae_modality *md = &m->mod[imgs[a]];
                /* a VAE's mean image, a flow's sample at its temperature */
                if (mvae_model_generate(m, ctx, imgs[a], z, &rng, gen)) {
                    rc = mvae_error_set(err, MVAE_ERR_INVALID, "coherence: %s", mvae_ctx_error(ctx));
                    break;
                }
                int64_t shp[4] = {n, md->info.shape[0], md->info.shape[1], md->info.shape[2]};
                mvae_tensor *x = mvae_tensor_wrap(ctx, 4, shp, gen);
                if (fd_on[a] && (rc = frechet_add(clf[a][0], ctx, x, valid ? valid->data : NULL, NULL, 0,
                                                  &fd[si * ni + a], err)))
                    break;
                for (int c = 0; c < nc && !rc; c++) {
                    if ((rc = mvae_classifier_predict(clf[a][c], ctx, x, pred, err))) break;
                    const int32_t *lab = (const int32_t *)(const void *)b.x[cats[c]];
                    int o = (si * ni + a) * nc + c;
                    for (int i = 0; i < n; i++) {
                        if ((valid && valid->data[i] == 0) || !b.present[i * m->n_mod + cats[c]]) continue;
                        right[o] += pred[i] == lab[i];
                        total[o] += 1;
                    }
                }
            }
        }
        /* joint coherence (Shi et al. 2019): one z from the prior decoded into every modality */
        if (rc) break;
        mvae_ctx_reset(ctx);
        mvae_tensor *zp = mvae_tensor_new(ctx, 2, (int64_t[]){n, m->latent_dim});
        if (!zp) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        else mvae_rng_normal_fill(&prior_rng, zp->data, (size_t)zp->n);
        for (int a = 0; a < ni && !rc; a++) {
            const mvae_modality *md = &m->mod[imgs[a]];
            if (mvae_model_generate(m, ctx, imgs[a], zp, &prior_rng, gen)) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "coherence: %s", mvae_ctx_error(ctx));
                break;
            }
            int64_t shp[4] = {n, md->info.shape[0], md->info.shape[1], md->info.shape[2]};
            mvae_tensor *x = mvae_tensor_wrap(ctx, 4, shp, gen);
            for (int c = 0; c < nc && !rc; c++) {
                if (!m->mod[cats[c]].dec) continue;
                mvae_tensor *lg = mvae_model_decode(m, ctx, cats[c], zp); /* [n, classes] logits */
                if (!lg || lg->ndim != 2 || lg->shape[0] != n) continue;
                if ((rc = mvae_classifier_predict(clf[a][c], ctx, x, pred, err))) break;
                int o = n_out + a * nc + c;
                for (int i = 0; i < n; i++) {
                    int64_t K = lg->shape[1], best = 0;
                    for (int64_t j = 1; j < K; j++)
                        if (lg->data[i * K + j] > lg->data[i * K + best]) best = j;
                    right[o] += pred[i] == best;
                    total[o] += 1;
                }
            }
        }
    }
    const int n_all = n_out + ni * nc; /* the conditional directions, then joint coherence's */
    if (!rc && d_size > 1) { /* every rank's counts, added up */
        double *both = malloc(2 * (size_t)n_all * sizeof *both);
        if (!both) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        else {
            memcpy(both, right, (size_t)n_all * sizeof *both);
            memcpy(both + n_all, total, (size_t)n_all * sizeof *both);
            if (!(rc = mvae_dist_allreduce_sum_f64(both, 2 * (size_t)n_all, err))) {
                memcpy(right, both, (size_t)n_all * sizeof *both);
                memcpy(total, both + n_all, (size_t)n_all * sizeof *both);
            }
            free(both);
        }
    }
    if (!rc && d_size > 1 && fd) rc = frechet_allreduce(fd, (nsets + 2) * ni, err);
    if (!rc) {
        char nm[MVAE_SUBSET_NAME_MAX];
        int dropped = 0;
        for (int si = 0; si < nsets; si++)
            for (int a = 0; a < ni; a++)
                for (int c = 0; c < nc; c++) {
                    int o = (si * ni + a) * nc + c;
                    if (total[o] == 0) continue;
                    if (r->n_coh >= 16) {
                        dropped++;
                        continue;
                    }
                    int j = r->n_coh++;
                    const char *from = mvae_model_subset_name(m, sets[si], nm, sizeof nm);
                    if (nc == 1)
                        snprintf(r->coh_name[j], sizeof r->coh_name[j], "%s->%s", from, m->mod[imgs[a]].info.name);
                    else
                        snprintf(r->coh_name[j], sizeof r->coh_name[j], "%s->%s:%s", from, m->mod[imgs[a]].info.name,
                                 m->mod[cats[c]].info.name);
                    r->coh[j] = right[o] / total[o];
                }
        for (int a = 0; a < ni; a++)
            for (int c = 0; c < nc; c++) {
                int o = n_out + a * nc + c;
                if (r->n_coh >= 16 || total[o] == 0) continue;
                int j = r->n_coh++;
                if (nc == 1)
                    snprintf(r->coh_name[j], sizeof r->coh_name[j], "prior->%s", m->mod[imgs[a]].info.name);
                else
                    snprintf(r->coh_name[j], sizeof r->coh_name[j], "prior->%s:%s", m->mod[imgs[a]].info.name,
                             m->mod[cats[c]].info.name);
                r->coh[j] = right[o] / total[o];
            }
        for (int a = 0; a < ni && !rc; a++)
            for (int si = 0; fd_on[a] && si <= nsets && !rc; si++) {
                const mvae_feature_stats *g = &fd[si * ni + a], *real = &fd[(nsets + 1) * ni + a];
                if (r->n_fd >= 16 || g->n < 2 || real->n < 2) continue;
                double v;
                if ((rc = mvae_feature_stats_frechet(real, g, &v, err))) break;
                int j = r->n_fd++;
                snprintf(r->fd_name[j], sizeof r->fd_name[j], "%s->%s",
                         si == nsets ? "prior" : mvae_model_subset_name(m, sets[si], nm, sizeof nm), m->mod[imgs[a]].info.name);
                r->fd[j] = v;
            }

        if (dropped && !quiet) MVAE_WARN("eval.coherence: %d directions beyond the first 16 are left out of the result", dropped);
    }
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(right);
    free(total);
    free(gen);
    for (int i = 0; fd && i < (nsets + 2) * ni; i++) mvae_feature_stats_free(&fd[i]);
    free(fd);
    free(zp);
    free(pred);
    free(idx);
done:
    for (int a = 0; a < ni; a++)
        for (int c = 0; c < nc; c++) mvae_classifier_free(clf[a][c]);
    return rc;
}

/* ---------------------------------------------------------------------------- linear probe */
void mvae_logreg_free(mvae_logreg *lr) {
    if (!lr) return;
    free(lr->mean);
    free(lr->inv_std);
    free(lr->W);
    free(lr->b);
    memset(lr, 0, sizeof *lr);
}

/* Per feature of X [n, d]: the mean and 1 / the standard deviation (1 for a constant feature), the
 * standardisation the linear probes fit on training features. */
static void standardise_fit(const float *X, int64_t n, int d, float *mean, float *inv_std) {
    for (int j = 0; j < d; j++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) s += X[i * d + j];
        double mu = s / (double)n;
        for (int64_t i = 0; i < n; i++) s2 += (X[i * d + j] - mu) * (X[i * d + j] - mu);
        double sd = sqrt(s2 / (double)n);
        mean[j] = (float)mu;
        inv_std[j] = (float)(sd > 1e-8 ? 1.0 / sd : 1.0);
    }
}

int mvae_logreg_fit(const float *X, const int32_t *y, int64_t n, int d, int k, float l2, int iters,
                    mvae_logreg *out, mvae_error *err) {
    memset(out, 0, sizeof *out);
    if (n < 1 || d < 1 || k < 2 || iters < 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "logistic regression: needs n >= 1, d >= 1, k >= 2 (got %lld, %d, %d)",
                              (long long)n, d, k);
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= k)
            return mvae_error_set(err, MVAE_ERR_INVALID, "logistic regression: label %d of row %lld is outside [0, %d)", y[i], (long long)i, k);
    out->d = d;
    out->k = k;
    out->mean = calloc((size_t)d, sizeof(float));
    out->inv_std = calloc((size_t)d, sizeof(float));
    out->W = calloc((size_t)k * (size_t)d, sizeof(float));
    out->b = calloc((size_t)k, sizeof(float));
    float *Xs = malloc((size_t)n * (size_t)d * sizeof(float));
    mvae_params *ps = mvae_params_new();
    mvae_ctx *ctx = mvae_ctx_new(0);
    int rc = MVAE_OK;
    if (!out->mean || !out->inv_std || !out->W || !out->b || !Xs || !ps || !ctx) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* standardise: x' = (x - mean) / std (std 1 for constant features) */
    standardise_fit(X, n, d, out->mean, out->inv_std);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) Xs[i * d + j] = (X[i * d + j] - out->mean[j]) * out->inv_std[j];
    mvae_tensor *W = mvae_params_add(ps, "W", 2, (int64_t[]){k, d}, MVAE_INIT_ZEROS, d, err);
    mvae_tensor *b = mvae_params_add(ps, "b", 1, (int64_t[]){k}, MVAE_INIT_ZEROS, d, err);
    mvae_rng rng;
    mvae_rng_seed(&rng, 1);
    if (!W || !b || (rc = mvae_params_finalize(ps, &rng, err))) {
        rc = rc ? rc : err->status;
        goto done;
    }
    /* L-BFGS (memory LB_M, Armijo backtracking) on the flat parameter block; loss and gradient
     * from the core ops' autodiff */
    enum { LB_M = 10 };
    size_t P = ps->n_floats;
    double *x = calloc(P, sizeof *x), *g = calloc(P, sizeof *g), *dir = calloc(P, sizeof *dir),
           *xn = calloc(P, sizeof *xn), *gn = calloc(P, sizeof *gn), *S = calloc(LB_M * P, sizeof *S),
           *Y = calloc(LB_M * P, sizeof *Y), rho[LB_M], alpha[LB_M];
    mvae_tensor *xt = NULL, *yt = NULL;
    double loss_v = NAN;
    if (!x || !g || !dir || !xn || !gn || !S || !Y) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto lbfgs_done;
    }
    mvae_ctx_set_grad(ctx, true);
    double f = 0, fn = 0;
#define LR_EVAL(xv, fv, gv)                                                                          \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < P; i_++) ps->data[i_] = (float)(xv)[i_];                          \
        mvae_ctx_reset(ctx);                                                                       \
        mvae_params_zero_grad(ps);                                                                 \
        xt = mvae_tensor_wrap(ctx, 2, (int64_t[]){n, d}, Xs);                                      \
        yt = mvae_tensor_new_i32(ctx, 1, (int64_t[]){n});                                          \
        if (yt) memcpy(yt->data, y, (size_t)n * sizeof(int32_t));                                  \
        mvae_tensor *nll_ = mvae_scale(ctx, mvae_mean_all(ctx, mvae_categorical_logp(ctx, mvae_linear(ctx, xt, W, b), yt)), -1.0f); \
        mvae_tensor *loss_ = mvae_add(ctx, nll_, mvae_scale(ctx, mvae_sum_all(ctx, mvae_square(ctx, W)), 0.5f * l2)); \
        if (!loss_ || mvae_backward(ctx, loss_)) {                                                 \
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "logistic regression: %s", mvae_ctx_error(ctx)); \
            goto lbfgs_done;                                                                       \
        }                                                                                          \
        (fv) = loss_->data[0];                                                                     \
        for (size_t i_ = 0; i_ < P; i_++) (gv)[i_] = ps->grad[i_];                                 \
    } while (0)
    LR_EVAL(x, f, g);
    int mem = 0, head = 0; /* pairs stored, next slot */
    for (int it = 0; it < iters; it++) {
        double gmax = 0;
        for (size_t i = 0; i < P; i++) gmax = fmax(gmax, fabs(g[i]));
        if (gmax < 1e-7) break;
        /* two-loop recursion: dir = -H g */
        for (size_t i = 0; i < P; i++) dir[i] = -g[i];
        for (int j = 0; j < mem; j++) {
            int s_ = (head - 1 - j + LB_M) % LB_M;
            double a = 0;
            for (size_t i = 0; i < P; i++) a += S[s_ * P + i] * dir[i];
            alpha[s_] = a * rho[s_];
            for (size_t i = 0; i < P; i++) dir[i] -= alpha[s_] * Y[s_ * P + i];
        }
        if (mem) {
            int l = (head - 1 + LB_M) % LB_M;
            double sy = 0, yy = 0;
            for (size_t i = 0; i < P; i++) sy += S[l * P + i] * Y[l * P + i], yy += Y[l * P + i] * Y[l * P + i];
            for (size_t i = 0; i < P; i++) dir[i] *= sy / yy;
        } else {
            double gn2 = 0;
            for (size_t i = 0; i < P; i++) gn2 += g[i] * g[i];
            for (size_t i = 0; i < P; i++) dir[i] /= fmax(1.0, sqrt(gn2));
        }
        for (int j = mem - 1; j >= 0; j--) {
            int s_ = (head - 1 - j + LB_M) % LB_M;
            double bb = 0;
            for (size_t i = 0; i < P; i++) bb += Y[s_ * P + i] * dir[i];
            bb *= rho[s_];
            for (size_t i = 0; i < P; i++) dir[i] += S[s_ * P + i] * (alpha[s_] - bb);
        }
        double gd = 0;
        for (size_t i = 0; i < P; i++) gd += g[i] * dir[i];
        if (gd >= 0) { /* not a descent direction: restart from steepest descent */
            mem = 0;
            for (size_t i = 0; i < P; i++) dir[i] = -g[i];
            gd = 0;
            for (size_t i = 0; i < P; i++) gd += g[i] * dir[i];
        }
        double t = 1;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++, t *= 0.5) {
            for (size_t i = 0; i < P; i++) xn[i] = x[i] + t * dir[i];
            LR_EVAL(xn, fn, gn);
            if (isfinite(fn) && fn <= f + 1e-4 * t * gd) {
                ok = 1;
                break;
            }
        }
        if (!ok) break; /* no decrease possible: converged to float precision */
        double sy = 0;
        for (size_t i = 0; i < P; i++) {
            S[head * P + i] = xn[i] - x[i];
            Y[head * P + i] = gn[i] - g[i];
            sy += S[head * P + i] * Y[head * P + i];
        }
        if (sy > 1e-12) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LB_M;
            if (mem < LB_M) mem++;
        }
        double fprev = f;
        memcpy(x, xn, P * sizeof *x);
        memcpy(g, gn, P * sizeof *g);
        f = fn;
        if (fprev - f < 1e-10 * fmax(1.0, fabs(f))) break;
    }
#undef LR_EVAL
    for (size_t i = 0; i < P; i++) ps->data[i] = (float)x[i];
    loss_v = f;
lbfgs_done:
    free(x);
    free(g);
    free(dir);
    free(xn);
    free(gn);
    free(S);
    free(Y);
    if (rc) goto done;
    if (!isfinite(loss_v)) {
        rc = mvae_error_set(err, MVAE_ERR_NUMERIC, "logistic regression: the loss is not finite");
        goto done;
    }
    out->final_loss = loss_v;
    memcpy(out->W, W->data, (size_t)k * (size_t)d * sizeof(float));
    memcpy(out->b, b->data, (size_t)k * sizeof(float));
done:
    free(Xs);
    mvae_params_free(ps);
    mvae_ctx_free(ctx);
    if (rc) mvae_logreg_free(out);
    return rc;
}

double mvae_logreg_accuracy(const mvae_logreg *lr, const float *X, const int32_t *y, int64_t n) {
    if (n < 1) return NAN;
    int64_t right = 0;
    float *xs = malloc((size_t)lr->d * sizeof *xs);
    if (!xs) return NAN;
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < lr->d; j++) xs[j] = (X[i * lr->d + j] - lr->mean[j]) * lr->inv_std[j];
        int best = 0;
        double bv = -INFINITY;
        for (int c = 0; c < lr->k; c++) {
            double v = lr->b[c];
            for (int j = 0; j < lr->d; j++) v += (double)lr->W[(size_t)c * (size_t)lr->d + (size_t)j] * xs[j];
            if (v > bv) bv = v, best = c;
        }
        right += best == y[i];
    }
    free(xs);
    return (double)right / (double)n;
}

/* ------------------------------------------------------------------------ ridge regression */
void mvae_ridge_free(mvae_ridge *rg) {
    if (!rg) return;
    free(rg->mean);
    free(rg->inv_std);
    free(rg->W);
    free(rg->b);
    memset(rg, 0, sizeof *rg);
}

int mvae_ridge_fit(const float *X, const float *Y, int64_t n, int d, int k, float l2, mvae_ridge *out,
                   mvae_error *err) {
    memset(out, 0, sizeof *out);
    if (n < 2 || d < 1 || k < 1 || !(l2 >= 0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "ridge regression: needs n >= 2, d >= 1, k >= 1, l2 >= 0 (got %lld, %d, %d)",
                              (long long)n, d, k);
    out->d = d;
    out->k = k;
    out->mean = calloc((size_t)d, sizeof(float));
    out->inv_std = calloc((size_t)d, sizeof(float));
    out->W = calloc((size_t)k * (size_t)d, sizeof(float));
    out->b = calloc((size_t)k, sizeof(float));
    double *A = calloc((size_t)d * (size_t)d, sizeof *A), *R = calloc((size_t)d * (size_t)k, sizeof *R),
           *xs = calloc((size_t)d, sizeof *xs), *ym = calloc((size_t)k, sizeof *ym);
    int rc = MVAE_OK;
    if (!out->mean || !out->inv_std || !out->W || !out->b || !A || !R || !xs || !ym) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* standardised features (as the logistic probe) and centred targets, so that the intercept is
     * the target mean; then (Xs^T Xs / n + l2 I) W^T = Xs^T Yc / n by Cholesky */
    standardise_fit(X, n, d, out->mean, out->inv_std);
    for (int c = 0; c < k; c++) {
        for (int64_t i = 0; i < n; i++) ym[c] += Y[i * k + c];
        ym[c] /= (double)n;
    }
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) xs[j] = (X[i * d + j] - out->mean[j]) * out->inv_std[j];
        for (int a = 0; a < d; a++) {
            for (int b2 = 0; b2 <= a; b2++) A[a * d + b2] += xs[a] * xs[b2];
            for (int c = 0; c < k; c++) R[a * k + c] += xs[a] * (Y[i * k + c] - ym[c]);
        }
    }
    for (int a = 0; a < d; a++) {
        for (int b2 = 0; b2 <= a; b2++) A[a * d + b2] /= (double)n;
        A[a * d + a] += l2 + 1e-9; /* a constant feature gives a zero row: keep A positive definite */
        for (int c = 0; c < k; c++) R[a * k + c] /= (double)n;
    }
    /* Cholesky A = L L^T in the lower triangle */
    for (int j = 0; j < d; j++) {
        double v = A[j * d + j];
        for (int p = 0; p < j; p++) v -= A[j * d + p] * A[j * d + p];
        if (!(v > 0)) {
            rc = mvae_error_set(err, MVAE_ERR_NUMERIC, "ridge regression: the normal equations are singular; use l2 > 0");
            goto done;
        }
        A[j * d + j] = sqrt(v);
        for (int i = j + 1; i < d; i++) {
            double u = A[i * d + j];
            for (int p = 0; p < j; p++) u -= A[i * d + p] * A[j * d + p];
            A[i * d + j] = u / A[j * d + j];
        }
    }
    for (int c = 0; c < k; c++) { /* L y = r, then L^T w = y */
        for (int i = 0; i < d; i++) {
            double u = R[i * k + c];
            for (int p = 0; p < i; p++) u -= A[i * d + p] * xs[p];
            xs[i] = u / A[i * d + i];
        }
        for (int i = d - 1; i >= 0; i--) {
            double u = xs[i];
            for (int p = i + 1; p < d; p++) u -= A[p * d + i] * out->W[(size_t)c * (size_t)d + (size_t)p];
            out->W[(size_t)c * (size_t)d + (size_t)i] = (float)(u / A[i * d + i]);
        }
        out->b[c] = (float)ym[c];
    }
done:
    free(A);
    free(R);
    free(xs);
    free(ym);
    if (rc) mvae_ridge_free(out);
    return rc;
}

double mvae_ridge_r2(const mvae_ridge *rg, const float *X, const float *Y, int64_t n) {
    if (n < 1) return NAN;
    double r2 = 0;
    for (int c = 0; c < rg->k; c++) {
        double mu = 0, sse = 0, sst = 0;
        for (int64_t i = 0; i < n; i++) mu += Y[i * rg->k + c];
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double p = rg->b[c];
            for (int j = 0; j < rg->d; j++)
                p += (double)rg->W[(size_t)c * (size_t)rg->d + (size_t)j] * (X[i * rg->d + j] - rg->mean[j]) * rg->inv_std[j];
            double y = Y[i * rg->k + c];
            sse += (y - p) * (y - p);
            sst += (y - mu) * (y - mu);
        }
        r2 += sst > 0 ? 1.0 - sse / sst : (sse > 0 ? -INFINITY : 1.0);
    }
    return r2 / rg->k;
}

/* means of q(z | x_from) and the target labels of samples [0, N) of split that have a modality of
 * `from` and the target; *n_out rows */
static int probe_features(mvae_model *m, int split, int64_t N, uint32_t from, int target, mvae_batch *b,
                          mvae_ctx *ctx, float *X, void *y, int64_t *n_out, mvae_error *err) {
    /* the target's row: an int32 class, or the floats of a real-valued modality */
    const size_t ysz = m->mod[target].info.type == MVAE_MOD_REAL
                           ? (size_t)mvae_modality_numel(&m->mod[target].info) * sizeof(float) : sizeof(int32_t);
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    int64_t idx[4096];
    int bs = b->cap > 4096 ? 4096 : b->cap;
    int64_t rows = 0;
    int D = m->latent_dim;
    for (int64_t s0 = 0; s0 < N; s0 += bs) {
        int n = (int)(N - s0 < bs ? N - s0 : bs);
        for (int i = 0; i < n; i++) idx[i] = s0 + i;
        int rc = mvae_batch_fill(b, m, split, idx, n, NULL, err);
        if (rc) return rc;
        mvae_ctx_reset(ctx);
        mvae_experts e;
        mvae_posterior q;
        mvae_tensor *valid = NULL;
        int any = 0;
        mvae_tensor *mu = NULL;
        if (!mvae_model_encode(m, ctx, b, from, &e) && !mvae_model_posterior(m, ctx, &e, from, &q, &valid, &any) && any)
            mu = fv->mean(m->fusion, ctx, &q);
        if (mvae_ctx_failed(ctx) || (any && (!mu || mu->shape[0] != n || mu->shape[1] != D)))
            return mvae_error_set(err, MVAE_ERR_INVALID, "probe: %s", mvae_ctx_failed(ctx) ? mvae_ctx_error(ctx) : "bad posterior mean");
        if (!any) continue;
        const char *lab = (const char *)b->x[target];
        for (int i = 0; i < n; i++) {
            if ((valid && valid->data[i] == 0) || !b->present[i * m->n_mod + target]) continue;
            memcpy(X + rows * D, mu->data + (int64_t)i * D, (size_t)D * sizeof(float));
            memcpy((char *)y + (size_t)rows * ysz, lab + (size_t)i * ysz, ysz);
            rows++;
        }
    }
    *n_out = rows;
    return MVAE_OK;
}

int mvae_eval_probe(mvae_model *m, int split, int target, const uint32_t *froms, int nfrom,
                    mvae_eval_result *r, bool quiet, mvae_error *err) {
    mvae_cfg_node *sec = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.probe");
    bool enabled = true;
    int64_t max_train = 10000, iters = 500, bs = 100;
    double l2 = 1e-4;
    int rc;
    if ((rc = mvae_cfg_bool_or(sec, "enabled", true, &enabled, err)) ||
        (rc = mvae_cfg_int_or(sec, "max_train", 10000, &max_train, err)) ||
        (rc = mvae_cfg_int_or(sec, "iterations", 500, &iters, err)) ||
        (rc = mvae_cfg_float_or(sec, "l2", 1e-4, &l2, err)) ||
        (rc = mvae_cfg_int_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "eval"), "batch_size", 100, &bs, err)))
        return rc;
    if (!enabled) return MVAE_OK;
    if (iters < 0 || max_train < 0 || l2 < 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "eval.probe: iterations, max_train and l2 must be >= 0");
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t Ntr = dv->size(m->ds, MVAE_SPLIT_TRAIN), Nte = dv->size(m->ds, split);
    if (max_train > 0 && max_train < Ntr) Ntr = max_train;
    if (Ntr < 1 || Nte < 1) return MVAE_OK;
    int D = m->latent_dim;
    float *Xtr = malloc((size_t)Ntr * (size_t)D * sizeof(float)), *Xte = malloc((size_t)Nte * (size_t)D * sizeof(float));
    const bool real = m->mod[target].info.type == MVAE_MOD_REAL;
    const int K = real ? (int)mvae_modality_numel(&m->mod[target].info) : 1; /* floats per real target */
    void *ytr = malloc((size_t)Ntr * (size_t)K * 4), *yte = malloc((size_t)Nte * (size_t)K * 4); /* int32 or float */
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_batch b;
    memset(&b, 0, sizeof b);
    if (!Xtr || !Xte || !ytr || !yte || !ctx) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (!rc) rc = mvae_batch_init(&b, m, (int)(bs < 1 ? 100 : bs > 4096 ? 4096 : bs), err);
    if (ctx) {
        mvae_ctx_set_grad(ctx, false);
        mvae_ctx_set_training(ctx, false);
    }
    char nm[MVAE_SUBSET_NAME_MAX];
    for (int a = 0; a < nfrom && !rc && r->n_probe < 32; a++) {
        double t0 = mvae_time_sec();
        int64_t ntr = 0, nte = 0;
        if ((rc = probe_features(m, MVAE_SPLIT_TRAIN, Ntr, froms[a], target, &b, ctx, Xtr, ytr, &ntr, err)) ||
            (rc = probe_features(m, split, Nte, froms[a], target, &b, ctx, Xte, yte, &nte, err)))
            break;
        if (ntr < 1 || nte < 1) continue;
        if (real) { /* a real-valued target: ridge regression, R^2 on the test split */
            mvae_ridge rg;
            if ((rc = mvae_ridge_fit(Xtr, ytr, ntr, D, K, (float)l2, &rg, err))) {
                mvae_error_prefix(err, "eval.probe");
                break;
            }
            int j = r->n_probe++;
            r->probe[j] = mvae_ridge_r2(&rg, Xte, yte, nte);
            snprintf(r->probe_name[j], sizeof r->probe_name[j], "%s->%s:r2", mvae_model_subset_name(m, froms[a], nm, sizeof nm),
                     m->mod[target].info.name);
            if (!quiet)
                MVAE_INFO("probe %s: ridge regression on %lld training means, test R^2 %.4f (%.1f s)", r->probe_name[j],
                          (long long)ntr, r->probe[j], mvae_time_sec() - t0);
            mvae_ridge_free(&rg);
            continue;
        }
        mvae_logreg lr;
        if ((rc = mvae_logreg_fit(Xtr, ytr, ntr, D, m->mod[target].info.n_classes, (float)l2, (int)iters, &lr, err))) {
            mvae_error_prefix(err, "eval.probe");
            break;
        }
        int j = r->n_probe++;
        r->probe[j] = mvae_logreg_accuracy(&lr, Xte, yte, nte);
        snprintf(r->probe_name[j], sizeof r->probe_name[j], "%s->%s", mvae_model_subset_name(m, froms[a], nm, sizeof nm),
                 m->mod[target].info.name);
        if (!quiet)
            MVAE_INFO("probe %s: logistic regression on %lld training means, train loss %.4f, test accuracy %.4f (%.1f s)",
                      r->probe_name[j], (long long)ntr, lr.final_loss, r->probe[j], mvae_time_sec() - t0);
        mvae_logreg_free(&lr);
    }
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
    return rc;
}
