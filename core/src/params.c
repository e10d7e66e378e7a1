/* params.c — the parameter store: one block each for values, gradients, optimizer moments. */
#include "mvae/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mvae_params *mvae_params_new(void) { return calloc(1, sizeof(mvae_params)); }

void mvae_params_free(mvae_params *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->count; i++) free(ps->entries[i].t);
    free(ps->entries);
    mvae_free_aligned(ps->data);
    mvae_free_aligned(ps->grad);
    mvae_free_aligned(ps->m);
    mvae_free_aligned(ps->v);
    free(ps);
}

static mvae_tensor *add_entry(mvae_params *ps, const char *name, int ndim, const int64_t *shape,
                              mvae_init init, int64_t fan_in, bool buffer, mvae_error *err) {
    if (ps->finalized) {
        mvae_error_set(err, MVAE_ERR_INVALID, "parameter '%s' declared after the store was finalized", name);
        return NULL;
    }
    if (strlen(name) >= sizeof ps->entries[0].name) {
        mvae_error_set(err, MVAE_ERR_INVALID, "parameter name '%s' is too long", name);
        return NULL;
    }
    if (mvae_params_find(ps, name)) {
        mvae_error_set(err, MVAE_ERR_INVALID, "parameter '%s' declared twice (names must be unique; "
                       "two modalities or layers with the same prefix?)", name);
        return NULL;
    }
    if (ndim < 1 || ndim > MVAE_MAX_DIMS) {
        mvae_error_set(err, MVAE_ERR_INVALID, "parameter '%s': ndim %d out of range", name, ndim);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) {
            mvae_error_set(err, MVAE_ERR_INVALID, "parameter '%s': dim %d has size %lld", name, i,
                           (long long)shape[i]);
            return NULL;
        }
        n *= shape[i];
    }
    if (ps->count == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 64;
        mvae_param_entry *e = realloc(ps->entries, (size_t)cap * sizeof *e);
        if (!e) {
            mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            return NULL;
        }
        ps->entries = e;
        ps->cap = cap;
    }
    mvae_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->ndim = ndim;
    for (int i = 0; i < MVAE_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->n = n;
    t->dtype = MVAE_F32;
    t->flags = buffer ? 0 : (MVAE_T_PARAM | MVAE_T_NEEDS_GRAD);
    mvae_param_entry *e = &ps->entries[ps->count++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    t->name = e->name;
    e->t = t;
    e->offset = ps->n_floats;
    e->init = init;
    e->fan_in = fan_in;
    e->buffer = buffer;
    ps->n_floats += (size_t)((n + 15) & ~(int64_t)15); /* 64-byte aligned views */
    return t;
}

mvae_tensor *mvae_params_add(mvae_params *ps, const char *name, int ndim, const int64_t *shape,
                             mvae_init init, int64_t fan_in, mvae_error *err) {
    return add_entry(ps, name, ndim, shape, init, fan_in, false, err);
}

mvae_tensor *mvae_params_add_buffer(mvae_params *ps, const char *name, int ndim,
                                    const int64_t *shape, float value, mvae_error *err) {
    mvae_tensor *t = add_entry(ps, name, ndim, shape, MVAE_INIT_ZEROS, 0, true, err);
    if (t) t->fp[0] = value; /* remembered until finalize */
    return t;
}

int mvae_params_finalize(mvae_params *ps, mvae_rng *rng, mvae_error *err) {
    if (ps->finalized) return MVAE_OK;
    size_t n = ps->n_floats ? ps->n_floats : 16;
    ps->data = mvae_alloc_aligned(n * sizeof(float));
    ps->grad = mvae_alloc_aligned(n * sizeof(float));
    if (!ps->data || !ps->grad)
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory allocating %zu parameters", n);
    memset(ps->data, 0, n * sizeof(float));
    memset(ps->grad, 0, n * sizeof(float));
    for (int i = 0; i < ps->count; i++) {
        mvae_param_entry *e = &ps->entries[i];
        mvae_tensor *t = e->t;
        t->data = ps->data + e->offset;
        if (!e->buffer) t->grad = ps->grad + e->offset;
        float *d = t->data;
        if (e->buffer) {
            for (int64_t k = 0; k < t->n; k++) d[k] = t->fp[0];
            t->fp[0] = 0.0f;
            continue;
        }
        double fan_in = e->fan_in > 0 ? (double)e->fan_in : 1.0;
        switch (e->init) {
        case MVAE_INIT_ZEROS: break;
        case MVAE_INIT_ONES:
            for (int64_t k = 0; k < t->n; k++) d[k] = 1.0f;
            break;
        case MVAE_INIT_KAIMING_UNIFORM:
        case MVAE_INIT_BIAS_UNIFORM: {
            float bound = (float)(1.0 / sqrt(fan_in));
            mvae_rng_uniform_fill(rng, d, (size_t)t->n, -bound, bound);
            break;
        }
        case MVAE_INIT_NORMAL: mvae_rng_normal_fill(rng, d, (size_t)t->n); break;
        case MVAE_INIT_XAVIER_UNIFORM: {
            double fan_out = (double)t->n / fan_in;
            float bound = (float)sqrt(6.0 / (fan_in + fan_out));
            mvae_rng_uniform_fill(rng, d, (size_t)t->n, -bound, bound);
            break;
        }
        default: return mvae_error_set(err, MVAE_ERR_INVALID, "parameter '%s': unknown init %d", e->name, e->init);
        }
    }
    ps->finalized = true;
    return MVAE_OK;
}

void mvae_params_zero_grad(mvae_params *ps) {
    if (ps->grad) memset(ps->grad, 0, ps->n_floats * sizeof(float));
    for (int i = 0; i < ps->count; i++)
        if (!ps->entries[i].buffer) ps->entries[i].t->flags |= MVAE_T_GRAD_ZERO;
}

mvae_tensor *mvae_params_find(const mvae_params *ps, const char *name) {
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->entries[i].name, name) == 0) return ps->entries[i].t;
    return NULL;
}

size_t mvae_params_count_trainable(const mvae_params *ps) {
    size_t n = 0;
    for (int i = 0; i < ps->count; i++)
        if (!ps->entries[i].buffer) n += (size_t)ps->entries[i].t->n;
    return n;
}
