/* api.c — the stable C API of mvae/api.h: opaque runs and arrays over the model, trainer and
 * evaluator. Nothing here computes a model: it fills batches, calls the model's encode / fuse /
 * decode, the trainer and the evaluator, and copies results into the caller's arrays.
 *
 * Caller arrays reach the model as a dataset: an mvae_arrays is served through a dataset vtable
 * (the "arrays" dataset below) whose test split is the caller's samples and whose other splits
 * are the run's own dataset. For a call, the model's dataset is swapped for it (swap_in/out), so
 * that batches are filled by mvae_batch_fill (transforms, presence, int32 indices) and the
 * evaluation is mvae_evaluate itself, unchanged. */
#define _GNU_SOURCE
#include "mvae/api.h"
#include "eval_internal.h"
#include "mvae/checkpoint.h"
#include "mvae/model.h"
#include "mvae/train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mvae_run {
    mvae_registry *reg;
    mvae_cfg *cfg;
    mvae_model *m;
    char *dir, *ckpt;
    int64_t epoch;
    const mvae_plugin_desc *ds_desc; /* the run's own dataset */
    void *ds;
    mvae_plugin_desc arrays_desc;    /* the arrays dataset, named as the run's (coherence caches by name) */
};

struct mvae_arrays {
    const mvae_run *run;
    int64_t n;
    float *data[MVAE_MAX_MODALITIES]; /* per dataset input: n * numel values, NULL = absent */
    uint8_t *present[MVAE_MAX_MODALITIES]; /* per input: [n] 1/0, NULL = every sample has it */
};

/* ------------------------------------------------------------------------------------ helpers */
static int put_msg(char *msg, size_t len, int status, const char *text) {
    if (msg && len) snprintf(msg, len, "%s", text && *text ? text : mvae_status_name(status));
    return status;
}
static int put_err(char *msg, size_t len, const mvae_error *err, int rc) {
    int status = rc ? rc : (err->status ? err->status : MVAE_ERR_INVALID);
    return put_msg(msg, len, status, err->msg);
}
static int put_fmt(char *msg, size_t len, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int put_fmt(char *msg, size_t len, int status, const char *fmt, ...) {
    if (msg && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return status;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 16384;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* --set on an existing run: eval.* only (the model and its training are the checkpoint's) */
static int only_eval_sets(const char *const *sets, int n, char *msg, size_t len) {
    mvae_error err = {0};
    int rc = mvae_run_dir_check_sets(sets, n, MVAE_RUN_DIR_API, &err);
    return rc ? put_err(msg, len, &err, rc) : MVAE_OK;
}

static int load_config(const char *path, const char *const *sets, int n, mvae_cfg **cfg, mvae_error *err) {
    if (mvae_cfg_load_file(path, cfg, err)) return err->status;
    for (int i = 0; i < n; i++)
        if (mvae_cfg_set(*cfg, sets[i], err)) return err->status;
    return MVAE_OK;
}

static int load_registry(mvae_registry **reg, mvae_error *err) {
    *reg = mvae_registry_new();
    if (!*reg) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    return mvae_registry_load_default(*reg, err);
}

/* ---------------------------------------------------------------------------- small functions */
int mvae_api_version(void) { return MVAE_API_VERSION; }
const char *mvae_api_library_version(void) { return MVAE_VERSION_STRING; }
void mvae_api_free(void *p) { free(p); }
const char *mvae_api_status_name(int status) { return mvae_status_name(status); }
int mvae_api_set_log_level(int level) {
    int prev = (int)mvae_log_get_level();
    if (level < MVAE_LOG_DEBUG) level = MVAE_LOG_DEBUG;
    if (level > MVAE_LOG_ERROR) level = MVAE_LOG_ERROR;
    mvae_log_set_level((mvae_log_level)level);
    return prev;
}
static mvae_api_log_fn g_api_sink;
static void api_sink(mvae_log_level level, const char *msg, void *user) { g_api_sink((int)level, msg, user); }
void mvae_api_set_log_sink(mvae_api_log_fn sink, void *user) {
    g_api_sink = sink;
    mvae_log_set_sink(sink ? api_sink : NULL, user);
}

/* ---------------------------------------------------------------------------------- training */
typedef struct {
    mvae_api_batch_fn on_batch;
    mvae_api_epoch_fn on_epoch;
    void *user;
} hooks;
static int hook_batch(void *u, int epoch, int64_t batch, int64_t nb, double loss) {
    const hooks *h = u;
    return h->on_batch ? h->on_batch(h->user, epoch, batch, nb, loss) : 0;
}
static int hook_epoch(void *u, const char *line) {
    const hooks *h = u;
    return h->on_epoch ? h->on_epoch(h->user, line) : 0;
}

int mvae_api_train(const char *experiment, const char *const *sets, int n_sets, const char *run_dir, int flags,
                   mvae_api_batch_fn on_batch, mvae_api_epoch_fn on_epoch, void *user, char **run_dir_out,
                   char **metrics_out, char *msg, size_t msg_len) {
    if (run_dir_out) *run_dir_out = NULL;
    if (metrics_out) *metrics_out = NULL;
    const bool resume = flags & MVAE_API_RESUME;
    if (n_sets < 0 || (n_sets > 0 && !sets)) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "train: bad list of overrides");
    for (int i = 0; i < n_sets; i++)
        if (!sets[i]) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "train: an override is NULL");
    if (resume && (experiment || !run_dir))
        return put_msg(msg, msg_len, MVAE_ERR_INVALID,
                       experiment ? "train: resuming takes the run's own config.yaml; give the run directory, not an experiment file"
                                  : "train: resuming needs the run directory");
    if (!resume && !experiment) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "train: no experiment file given");
    if (resume && only_eval_sets(sets, n_sets, msg, msg_len)) return MVAE_ERR_INVALID;
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    char *dir = NULL, *path = NULL;
    int rc;
    if ((rc = load_registry(&reg, &err))) goto out;
    if (resume) {
        if ((rc = mvae_run_dir_resume(run_dir, MVAE_RUN_DIR_API, &dir, &path, &err))) goto out;
        if ((rc = load_config(path, sets, n_sets, &cfg, &err)) || (rc = mvae_model_build(cfg, reg, &m, &err))) goto out;
        /* repaired eval settings stay with the run, as `mvae train --resume --set eval.K=V` */
        if (n_sets && (rc = mvae_cfg_write_file(cfg, path, &err))) goto out;
    } else {
        if ((rc = load_config(experiment, sets, n_sets, &cfg, &err)) || (rc = mvae_model_build(cfg, reg, &m, &err))) goto out;
        /* refused directories still come back in *run_dir_out */
        if ((rc = mvae_run_dir_new(cfg, run_dir, MVAE_RUN_DIR_API, &dir, &err))) goto out;
    }
    hooks h = {on_batch, on_epoch, user};
    mvae_train_opts o = {.run_dir = dir,
                         .resume = resume,
                         .quiet = (flags & MVAE_API_QUIET) != 0,
                         .force = (flags & MVAE_API_FORCE) != 0,
                         .on_batch = on_batch ? hook_batch : NULL,
                         .on_epoch = on_epoch ? hook_epoch : NULL,
                         .hook_user = &h};
    mvae_train_result *res = malloc(sizeof *res);
    if (!res) {
        rc = mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = mvae_train(m, &o, res, &err);
    free(res);
    if (!rc && metrics_out) {
        free(path);
        if (asprintf(&path, "%s/metrics.json", dir) < 0) {
            path = NULL;
            rc = mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (!(*metrics_out = slurp(path))) rc = mvae_error_set(&err, MVAE_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    }
out:
    if (run_dir_out && dir) *run_dir_out = strdup(dir);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    free(dir);
    free(path);
    return rc ? put_err(msg, msg_len, &err, rc) : MVAE_OK;
}

/* --------------------------------------------------------------------------------------- runs */
static int64_t arrays_size64(void *self, int split);
static int arrays_get_batch(void *self, int split, const int64_t *idx, int n, float **out, uint8_t *present,
                            mvae_error *err);
static int arrays_n_modalities(void *self);
static const mvae_modality_info *arrays_modality(void *self, int k);
static void arrays_close(void *self) { (void)self; /* the arrays are the caller's */ }
static int arrays_open(const mvae_cfg_node *opts, void **self, mvae_error *err) {
    (void)opts;
    *self = NULL;
    return mvae_error_set(err, MVAE_ERR_PLUGIN, "the arrays dataset is made by mvae/api.h, not from an experiment file");
}
static const mvae_dataset_vtable arrays_vtable = {
    .open = arrays_open,
    .close = arrays_close,
    .n_modalities = arrays_n_modalities,
    .modality = arrays_modality,
    .size = arrays_size64,
    .get_batch = arrays_get_batch,
};

int mvae_run_open(const char *run_dir, const char *checkpoint, const char *const *sets, int n_sets, int force,
                  mvae_run **out, char *msg, size_t msg_len) {
    *out = NULL;
    if (!run_dir) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "open: no run directory given");
    if (!checkpoint) checkpoint = "last";
    if (strcmp(checkpoint, "last") && strcmp(checkpoint, "best"))
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "open: checkpoint '%s': it is 'last' or 'best'", checkpoint);
    if (n_sets < 0 || (n_sets > 0 && !sets)) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "open: bad list of overrides");
    if (only_eval_sets(sets, n_sets, msg, msg_len)) return MVAE_ERR_INVALID;
    mvae_error err = {0};
    int rc = mvae_run_dir_check_existing(run_dir, &err);
    if (rc) return put_err(msg, msg_len, &err, rc);
    mvae_run *r = calloc(1, sizeof *r);
    if (!r) return put_msg(msg, msg_len, MVAE_ERR_NOMEM, "out of memory");
    char *path = NULL;
    if (!(r->dir = strdup(run_dir)) || asprintf(&path, "%s/config.yaml", run_dir) < 0) {
        path = NULL;
        rc = mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = load_registry(&r->reg, &err)) || (rc = load_config(path, sets, n_sets, &r->cfg, &err)) ||
        (rc = mvae_model_build(r->cfg, r->reg, &r->m, &err)))
        goto fail;
    if (asprintf(&r->ckpt, "%s/%s.ckpt", run_dir, checkpoint) < 0) {
        r->ckpt = NULL;
        rc = mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    mvae_run_meta meta;
    memset(&meta, 0, sizeof meta);
    if ((rc = mvae_run_checkpoint_load(r->m, r->ckpt, NULL, NULL, force != 0, &meta, &err))) goto fail;
    r->epoch = meta.epoch;
    r->ds_desc = r->m->ds_desc;
    r->ds = r->m->ds;
    r->arrays_desc = *r->ds_desc;
    r->arrays_desc.vtable = &arrays_vtable;
    r->arrays_desc.vtable_size = (uint32_t)sizeof arrays_vtable;
    free(path);
    *out = r;
    return MVAE_OK;
fail:
    free(path);
    mvae_run_close(r);
    return put_err(msg, msg_len, &err, rc);
}

void mvae_run_close(mvae_run *r) {
    if (!r) return;
    mvae_model_free(r->m);
    mvae_cfg_free(r->cfg);
    mvae_registry_free(r->reg);
    free(r->dir);
    free(r->ckpt);
    free(r);
}

const char *mvae_run_dir(const mvae_run *r) { return r->dir; }
const char *mvae_run_checkpoint(const mvae_run *r) { return r->ckpt; }
int64_t mvae_run_epoch(const mvae_run *r) { return r->epoch; }
int mvae_run_latent_dim(const mvae_run *r) { return r->m->latent_dim; }

char *mvae_run_config(const mvae_run *r) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    int rc = mvae_cfg_write(mvae_cfg_root(r->cfg), f);
    if (fclose(f) != 0 || rc) {
        free(text);
        return NULL;
    }
    return text;
}

int mvae_run_n_modalities(const mvae_run *r) { return r->m->n_mod; }
const char *mvae_run_modality_name(const mvae_run *r, int k) {
    return k >= 0 && k < r->m->n_mod ? r->m->mod[k].info.name : NULL;
}
int mvae_run_n_inputs(const mvae_run *r) { return r->m->n_ds_modalities; }
static const mvae_modality_info *input_info(const mvae_run *r, int i) {
    return ((const mvae_dataset_vtable *)r->ds_desc->vtable)->modality(r->ds, i);
}
const char *mvae_run_input_name(const mvae_run *r, int i) {
    return i >= 0 && i < r->m->n_ds_modalities ? input_info(r, i)->name : NULL;
}
static int find_input(const mvae_run *r, const char *name) {
    for (int i = 0; name && i < r->m->n_ds_modalities; i++)
        if (!strcmp(input_info(r, i)->name, name)) return i;
    return -1;
}
/* a modality of the model, else an input of the dataset */
static const mvae_modality_info *find_info(const mvae_run *r, const char *name) {
    int k = name ? mvae_model_find(r->m, name) : -1;
    if (k >= 0) return &r->m->mod[k].info;
    int i = find_input(r, name);
    return i >= 0 ? input_info(r, i) : NULL;
}
const char *mvae_run_type(const mvae_run *r, const char *name) {
    const mvae_modality_info *mi = find_info(r, name);
    return mi ? mvae_modality_type_name(mi->type) : NULL;
}
int mvae_run_shape(const mvae_run *r, const char *name, int64_t shape[3]) {
    const mvae_modality_info *mi = find_info(r, name);
    if (!mi) return -1;
    for (int d = 0; d < 3; d++) shape[d] = d < mi->ndim ? mi->shape[d] : 1;
    return mi->ndim;
}
int mvae_run_classes(const mvae_run *r, const char *name) {
    const mvae_modality_info *mi = find_info(r, name);
    return mi && (mi->type == MVAE_MOD_CATEGORICAL || mi->type == MVAE_MOD_TOKENS) ? mi->n_classes : 0;
}
const char *mvae_run_class_name(const mvae_run *r, const char *name, int c) {
    const mvae_modality_info *mi = find_info(r, name);
    if (!mi || !mi->class_names || c < 0 || c >= mi->n_classes) return NULL;
    return mi->class_names[c];
}
int mvae_run_encodable(const mvae_run *r, const char *name) {
    int k = name ? mvae_model_find(r->m, name) : -1;
    return k < 0 ? -1 : (int)((r->m->encodable >> k) & 1u);
}
const char *mvae_run_likelihood(const mvae_run *r, const char *name) {
    int k = name ? mvae_model_find(r->m, name) : -1;
    return k < 0 ? NULL : mvae_likelihood_name(r->m->mod[k].likelihood);
}

/* ------------------------------------------------------------------------------------- arrays */
int mvae_arrays_new(const mvae_run *r, int64_t n, mvae_arrays **out, char *msg, size_t msg_len) {
    *out = NULL;
    if (n < 1 || n > INT32_MAX)
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "arrays: %lld samples; give at least 1 (and at most %d)", (long long)n,
                       INT32_MAX);
    mvae_arrays *x = calloc(1, sizeof *x);
    if (!x) return put_msg(msg, msg_len, MVAE_ERR_NOMEM, "out of memory");
    x->run = r;
    x->n = n;
    *out = x;
    return MVAE_OK;
}

void mvae_arrays_free(mvae_arrays *x) {
    if (!x) return;
    for (int i = 0; i < MVAE_MAX_MODALITIES; i++) {
        free(x->data[i]);
        free(x->present[i]);
    }
    free(x);
}

int64_t mvae_arrays_size(const mvae_arrays *x) { return x->n; }

int mvae_arrays_set(mvae_arrays *x, const char *name, const void *data, int64_t count, char *msg, size_t msg_len) {
    const mvae_run *r = x->run;
    int i = find_input(r, name);
    if (i < 0) {
        const char *names[MVAE_MAX_MODALITIES];
        char list[MVAE_SUBSET_NAME_MAX] = "";
        for (int j = 0; j < r->m->n_ds_modalities; j++) {
            names[j] = input_info(r, j)->name;
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
        }
        const char *near = name ? mvae_nearest(name, names, r->m->n_ds_modalities) : NULL;
        bool derived = name && mvae_model_find(r->m, name) >= 0;
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "arrays: '%s' is not an input of dataset '%s'%s%s%s%s; inputs: %s",
                       name ? name : "(null)", r->ds_desc->name, near ? " (did you mean '" : "", near ? near : "",
                       near ? "'?)" : "", derived ? " (it is derived by a transform: give its source)" : "", list);
    }
    const mvae_modality_info *mi = input_info(r, i);
    int64_t E = mvae_modality_numel(mi);
    if (!data || count != x->n * E) {
        char shape[64] = "";
        for (int d = 0; d < mi->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), ",%lld", (long long)mi->shape[d]);
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID,
                       "arrays: '%s' has %lld values; %lld samples of shape [%s] (%lld each) make %lld", name,
                       (long long)count, (long long)x->n, shape + 1, (long long)E, (long long)(x->n * E));
    }
    float *copy = malloc((size_t)count * sizeof(float));
    if (!copy) return put_msg(msg, msg_len, MVAE_ERR_NOMEM, "out of memory");
    memcpy(copy, data, (size_t)count * sizeof(float));
    /* the checks the dataset plugins' data already satisfies */
    for (int64_t j = 0; j < count; j++) {
        int64_t s = j / E;
        if (mvae_modality_is_index(mi)) {
            int32_t v = ((const int32_t *)(const void *)copy)[j];
            int32_t lo = mi->type == MVAE_MOD_TOKENS ? -1 : 0;
            if (v < lo || v >= mi->n_classes) {
                free(copy);
                return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "arrays: '%s' sample %lld holds %d; %s are in %d..%d", name,
                               (long long)s, v, mi->type == MVAE_MOD_TOKENS ? "token ids (-1 = padding)" : "classes", lo,
                               mi->n_classes - 1);
            }
            continue;
        }
        float v = copy[j];
        if (!isfinite(v)) {
            free(copy);
            return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "arrays: '%s' sample %lld holds %s", name, (long long)s,
                           isnan(v) ? "NaN" : "an infinite value");
        }
        if ((mi->type == MVAE_MOD_IMAGE || mi->type == MVAE_MOD_BINARY) && (v < 0.0f || v > 1.0f)) {
            free(copy);
            return put_fmt(msg, msg_len, MVAE_ERR_INVALID,
                           "arrays: '%s' sample %lld holds %g; %s values are in [0, 1] (8-bit pixels: divide by 255)", name,
                           (long long)s, (double)v, mvae_modality_type_name(mi->type));
        }
    }
    free(x->data[i]);
    x->data[i] = copy;
    return MVAE_OK;
}

int mvae_arrays_set_present(mvae_arrays *x, const char *name, const uint8_t *present, int64_t n, char *msg,
                            size_t msg_len) {
    int i = find_input(x->run, name);
    if (i < 0 || !x->data[i])
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "arrays: presence of '%s': the arrays hold no '%s' (set it first)",
                       name ? name : "(null)", name ? name : "(null)");
    if (!present || n != x->n)
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "arrays: presence of '%s': %lld flags for %lld samples", name,
                       (long long)n, (long long)x->n);
    uint8_t *p = malloc((size_t)n);
    if (!p) return put_msg(msg, msg_len, MVAE_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < n; j++) p[j] = present[j] != 0;
    free(x->present[i]);
    x->present[i] = p;
    return MVAE_OK;
}

/* the arrays dataset: test split = x, other splits = the run's dataset */
static int arrays_n_modalities(void *self) {
    const mvae_arrays *x = self;
    return ((const mvae_dataset_vtable *)x->run->ds_desc->vtable)->n_modalities(x->run->ds);
}
static const mvae_modality_info *arrays_modality(void *self, int k) { return input_info(((const mvae_arrays *)self)->run, k); }
static int64_t arrays_size64(void *self, int split) {
    const mvae_arrays *x = self;
    if (split == MVAE_SPLIT_TEST) return x->n;
    return ((const mvae_dataset_vtable *)x->run->ds_desc->vtable)->size(x->run->ds, split);
}
static int arrays_get_batch(void *self, int split, const int64_t *idx, int n, float **out, uint8_t *present,
                            mvae_error *err) {
    const mvae_arrays *x = self;
    const mvae_run *r = x->run;
    if (split != MVAE_SPLIT_TEST)
        return ((const mvae_dataset_vtable *)r->ds_desc->vtable)->get_batch(r->ds, split, idx, n, out, present, err);
    int M = r->m->n_ds_modalities;
    for (int k = 0; k < M; k++) {
        int64_t E = mvae_modality_numel(input_info(r, k));
        for (int i = 0; i < n; i++) {
            if (idx[i] < 0 || idx[i] >= x->n)
                return mvae_error_set(err, MVAE_ERR_INVALID, "arrays: sample %lld of %lld", (long long)idx[i], (long long)x->n);
            present[i * M + k] = x->data[k] != NULL && (!x->present[k] || x->present[k][idx[i]]);
            if (x->data[k]) memcpy(out[k] + i * E, x->data[k] + idx[i] * E, (size_t)E * sizeof(float));
        }
    }
    return MVAE_OK;
}

/* The model reads x for the duration of a call. */
static void swap_in(mvae_run *r, const mvae_arrays *x) {
    r->m->ds_desc = &r->arrays_desc;
    r->m->ds = (void *)(uintptr_t)x;
}
static void swap_out(mvae_run *r) {
    r->m->ds_desc = r->ds_desc;
    r->m->ds = r->ds;
}

/* the input modality k of the model reads (its own, or its transform's root) */
static int root_input(const mvae_model *m, int k) {
    int src = m->mod[k].ds_index;
    return src < m->n_ds_modalities ? src : m->tf[src - m->n_ds_modalities].root;
}

/* Parse `given` for q(z | .): modalities with an encoder whose inputs x holds. */
static int parse_given(const mvae_run *r, const mvae_arrays *x, const char *given, const char *what, uint32_t *subset,
                       char *msg, size_t len) {
    mvae_error err = {0};
    if (!given || !*given) return put_fmt(msg, len, MVAE_ERR_INVALID, "%s: no modality given (e.g. \"image\")", what);
    if (mvae_model_parse_subset(r->m, given, subset, &err) || mvae_model_check_given(r->m, *subset, what, &err)) {
        mvae_error_prefix(&err, "%s", what);
        return put_err(msg, len, &err, 0);
    }
    for (int k = 0; k < r->m->n_mod; k++)
        if ((*subset >> k) & 1u) {
            int in = root_input(r->m, k);
            if (!x->data[in])
                return put_fmt(msg, len, MVAE_ERR_INVALID, "%s: '%s' is given but the arrays hold no '%s'", what,
                               r->m->mod[k].info.name, input_info(r, in)->name);
        }
    return MVAE_OK;
}

static int64_t eval_batch_size(const mvae_run *r) {
    int64_t bs = 100;
    mvae_error err = {0};
    mvae_cfg_int_or(mvae_cfg_path(mvae_cfg_root(r->cfg), "eval"), "batch_size", 100, &bs, &err);
    return bs < 1 ? 100 : bs;
}

int mvae_run_encode(mvae_run *r, const mvae_arrays *x, const char *given, uint64_t seed, float *mean, float *logvar,
                    float *z, char *msg, size_t msg_len) {
    uint32_t subset;
    int rc;
    if (x->run != r) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "encode: the arrays were made for another run");
    if ((rc = parse_given(r, x, given, "encode", &subset, msg, msg_len))) return rc;
    const mvae_model *m = r->m;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    const int64_t D = m->latent_dim, N = x->n;
    int64_t bs = eval_batch_size(r);
    if (bs > N) bs = N;
    mvae_error err = {0};
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t *idx = malloc((size_t)bs * sizeof *idx);
    if (!ctx || !idx || (rc = mvae_batch_init(&b, m, (int)bs, &err))) {
        rc = rc ? rc : mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    swap_in(r, x);
    for (int64_t s = 0; s < N; s += bs) {
        int n = (int)(N - s < bs ? N - s : bs);
        for (int i = 0; i < n; i++) idx[i] = s + i;
        if ((rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, n, NULL, &err))) break;
        mvae_ctx_reset(ctx);
        mvae_experts e;
        mvae_posterior q;
        memset(&q, 0, sizeof q);
        mvae_tensor *valid;
        int any;
        if ((rc = mvae_model_encode(m, ctx, &b, subset, &e)) || (rc = mvae_model_posterior(m, ctx, &e, subset, &q, &valid, &any)))
            goto ctxfail;
        if (!any) { /* presence masks: no sample of this batch has any given modality */
            rc = mvae_error_set(&err, MVAE_ERR_INVALID, "encode: samples %lld..%lld have none of the given modalities (%s)",
                                (long long)s, (long long)(s + n - 1), given);
            break;
        }
        if (mean) {
            mvae_tensor *mu = fv->mean(m->fusion, ctx, &q);
            if (!mu) goto ctxfail;
            memcpy(mean + s * D, mu->data, (size_t)n * (size_t)D * sizeof(float));
        }
        if (logvar) {
            /* a mixture of one component (moe given one modality) is that Gaussian */
            mvae_tensor *lv = q.logvar ? q.logvar : q.n_comp == 1 ? q.comp_logvar[0] : NULL;
            if (!lv) {
                rc = mvae_error_set(&err, MVAE_ERR_INVALID,
                                    "encode: fusion '%s' makes q(z | %s) a mixture, which has no single log-variance; ask for "
                                    "the mean and draws (z) only",
                                    m->fusion_desc->name, given);
                break;
            }
            memcpy(logvar + s * D, lv->data, (size_t)n * (size_t)D * sizeof(float));
        }
        if (z) {
            mvae_tensor *zz = mvae_eval_one_draw(ctx, &q, fv->sample(m->fusion, ctx, &q, &rng), n, &rng);
            if (!zz) goto ctxfail;
            memcpy(z + s * D, zz->data, (size_t)n * (size_t)D * sizeof(float));
        }
        continue;
    ctxfail:
        rc = mvae_error_set(&err, rc ? rc : MVAE_ERR_INVALID, "encode: %s", mvae_ctx_error(ctx));
        break;
    }
    swap_out(r);
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(idx);
    return rc ? put_err(msg, msg_len, &err, rc) : MVAE_OK;
}

int64_t mvae_run_decode_size(const mvae_run *r, const char *name) {
    int k = name ? mvae_model_find(r->m, name) : -1;
    if (k < 0) return -1;
    const mvae_modality_info *mi = &r->m->mod[k].info;
    if (mi->type == MVAE_MOD_TOKENS) return -1;
    return mi->type == MVAE_MOD_CATEGORICAL ? mi->n_classes : mvae_modality_numel(mi);
}

int mvae_run_decode(mvae_run *r, const float *z, int64_t N, const char *name, int raw, float *out, char *msg,
                    size_t msg_len) {
    const mvae_model *m = r->m;
    int k = name ? mvae_model_find(m, name) : -1;
    if (k < 0) {
        const char *names[MVAE_MAX_MODALITIES];
        for (int j = 0; j < m->n_mod; j++) names[j] = m->mod[j].info.name;
        const char *near = name ? mvae_nearest(name, names, m->n_mod) : NULL;
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "decode: '%s' is not a modality of this model%s%s%s",
                       name ? name : "(null)", near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    }
    int64_t E = mvae_run_decode_size(r, name);
    if (E < 0)
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID,
                       "decode: '%s' is a token sequence: decoding it needs generation (`mvae translate`), which this "
                       "API does not offer yet", name);
    if (N < 1 || !z || !out) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "decode: no z given");
    const int64_t D = m->latent_dim;
    int64_t bs = eval_batch_size(r);
    if (bs > N) bs = N;
    mvae_ctx *ctx = mvae_ctx_new(0);
    if (!ctx) return put_msg(msg, msg_len, MVAE_ERR_NOMEM, "out of memory");
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    int rc = MVAE_OK;
    for (int64_t s = 0; s < N && !rc; s += bs) {
        int64_t n = N - s < bs ? N - s : bs;
        mvae_ctx_reset(ctx);
        mvae_tensor *zt = mvae_tensor_new(ctx, 2, (int64_t[]){n, D});
        if (!zt) {
            rc = put_msg(msg, msg_len, MVAE_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(zt->data, z + s * D, (size_t)(n * D) * sizeof(float));
        for (int64_t j = 0; j < n * D; j++)
            if (!isfinite(zt->data[j])) {
                rc = put_fmt(msg, msg_len, MVAE_ERR_INVALID, "decode: z row %lld holds a non-finite value", (long long)(s + j / D));
                break;
            }
        if (rc) break;
        mvae_tensor *p = mvae_model_decode(m, ctx, k, zt);
        if (!p || p->n != n * E) {
            rc = p ? put_fmt(msg, msg_len, MVAE_ERR_PLUGIN, "decode: decoder '%s' of '%s' returned %lld values for %lld rows of %lld",
                             m->mod[k].dec_desc->name, name, (long long)p->n, (long long)n, (long long)E)
                   : put_fmt(msg, msg_len, MVAE_ERR_INVALID, "decode: %s", mvae_ctx_error(ctx));
            break;
        }
        if (raw) memcpy(out + s * E, p->data, (size_t)(n * E) * sizeof(float));
        else mvae_likelihood_mean(m->mod[k].likelihood, p, out + s * E, false);
    }
    mvae_ctx_free(ctx);
    return rc;
}

int mvae_run_sample(mvae_run *r, const mvae_arrays *x, const char *given, int64_t N, uint64_t seed, float *z, char *msg,
                    size_t msg_len) {
    const mvae_model *m = r->m;
    const int64_t D = m->latent_dim;
    if (!z) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "sample: no output given");
    if (!x != !given) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "sample: give both the arrays and the modalities they condition on, or neither");
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    if (!x) { /* the prior, as `mvae sample` without --given */
        if (N < 1) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "sample: n must be at least 1");
        mvae_rng_normal_fill(&rng, z, (size_t)(N * D));
        return MVAE_OK;
    }
    if (x->run != r) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "sample: the arrays were made for another run");
    if (N != x->n)
        return put_fmt(msg, msg_len, MVAE_ERR_INVALID, "sample: n is %lld but the given arrays hold %lld samples", (long long)N,
                       (long long)x->n);
    uint32_t subset;
    int rc;
    if ((rc = parse_given(r, x, given, "sample: given", &subset, msg, msg_len))) return rc;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    mvae_error err = {0};
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t *idx = malloc((size_t)N * sizeof *idx);
    if (!ctx || !idx || (rc = mvae_batch_init(&b, m, (int)N, &err))) {
        rc = rc ? rc : mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    for (int64_t i = 0; i < N; i++) idx[i] = i;
    swap_in(r, x);
    rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, (int)N, NULL, &err);
    swap_out(r);
    if (rc) goto done;
    /* one batch, as mvae_sample: the same seed gives the same draws */
    mvae_experts e;
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    if ((rc = mvae_model_encode(m, ctx, &b, subset, &e)) || (rc = mvae_model_posterior(m, ctx, &e, subset, &q, &valid, &any))) {
        rc = mvae_error_set(&err, rc, "sample: %s", mvae_ctx_error(ctx));
        goto done;
    }
    if (!any) {
        rc = mvae_error_set(&err, MVAE_ERR_INVALID, "sample: no sample has any of the given modalities (%s)", given);
        goto done;
    }
    mvae_tensor *zz = mvae_eval_one_draw(ctx, &q, fv->sample(m->fusion, ctx, &q, &rng), N, &rng);
    if (!zz) {
        rc = mvae_error_set(&err, MVAE_ERR_INVALID, "sample: %s", mvae_ctx_error(ctx));
        goto done;
    }
    memcpy(z, zz->data, (size_t)(N * D) * sizeof(float));
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(idx);
    return rc ? put_err(msg, msg_len, &err, rc) : MVAE_OK;
}

int mvae_run_evaluate(mvae_run *r, const mvae_arrays *x, int quiet, char **json_out, char *msg, size_t msg_len) {
    *json_out = NULL;
    if (x->run != r) return put_msg(msg, msg_len, MVAE_ERR_INVALID, "evaluate: the arrays were made for another run");
    const mvae_model *m = r->m;
    for (int k = 0; k < m->n_mod; k++) {
        int in = root_input(m, k);
        if (!x->data[in])
            return put_fmt(msg, msg_len, MVAE_ERR_INVALID,
                           "evaluate: the arrays hold no '%s' (the model's modality '%s' reads it); the evaluation needs "
                           "every modality of the model", input_info(r, in)->name, m->mod[k].info.name);
        int64_t missing = 0;
        for (int64_t i = 0; x->present[in] && i < x->n; i++) missing += !x->present[in][i];
        if (missing)
            return put_fmt(msg, msg_len, MVAE_ERR_INVALID,
                           "evaluate: '%s' is missing for %lld of %lld samples; the evaluation takes complete samples, as "
                           "a test split is (drop the incomplete ones)", input_info(r, in)->name, (long long)missing,
                           (long long)x->n);
    }
    mvae_error err = {0};
    mvae_eval_result *e = malloc(sizeof *e);
    char *path = NULL;
    int rc;
    if (!e) return put_msg(msg, msg_len, MVAE_ERR_NOMEM, "out of memory");
    swap_in(r, x);
    rc = mvae_evaluate_in(r->m, MVAE_SPLIT_TEST, r->dir, e, quiet != 0, &err);
    swap_out(r);
    if (rc) goto done;
    /* the metrics as metrics.json has them, written by the evaluator's own writer */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (asprintf(&path, "%s/mvae-eval-XXXXXX", tmp) < 0) {
        path = NULL;
        rc = mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    int fd = mkstemp(path);
    if (fd < 0) {
        rc = mvae_error_set(&err, MVAE_ERR_IO, "evaluate: cannot create a temporary file in %s: %s (set TMPDIR)", tmp,
                            strerror(errno));
        goto done;
    }
    close(fd);
    if (!(rc = mvae_write_metrics_json(path, e, NULL, &err)) && !(*json_out = slurp(path)))
        rc = mvae_error_set(&err, MVAE_ERR_IO, "evaluate: cannot read back %s: %s", path, strerror(errno));
    unlink(path);
done:
    free(path);
    free(e);
    return rc ? put_err(msg, msg_len, &err, rc) : MVAE_OK;
}
