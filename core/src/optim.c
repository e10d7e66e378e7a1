/* optim.c — Adam / AdamW and SGD with momentum over the parameter store, gradient clipping.
 *
 * The store is one block with 16-float aligned views: updates walk the entries and touch only
 * each trainable entry's t->n elements, so buffers and the padding between views stay as they are. */
#include "mvae/optim.h"

#include "gemm_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define ADAM_GRAIN 65536 /* elements per thread at least */

mvae_optim mvae_optim_adam(float lr) {
    mvae_optim o = {0};
    o.kind = MVAE_OPTIM_ADAM;
    o.lr = lr;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-8f;
    return o;
}

mvae_optim mvae_optim_sgd(float lr, float momentum) {
    mvae_optim o = {0};
    o.kind = MVAE_OPTIM_SGD;
    o.lr = lr;
    o.momentum = momentum;
    return o;
}

static int check_opt(const mvae_optim *o, mvae_error *err) {
    if (o->kind != MVAE_OPTIM_ADAM && o->kind != MVAE_OPTIM_SGD)
        return mvae_error_set(err, MVAE_ERR_INVALID, "optim: unknown optimizer kind %d", o->kind);
    if (!(o->lr >= 0.0f) || !isfinite(o->lr))
        return mvae_error_set(err, MVAE_ERR_INVALID, "optim: learning rate %g must be finite and >= 0",
                              (double)o->lr);
    if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
        return mvae_error_set(err, MVAE_ERR_INVALID, "optim: weight_decay %g must be finite and >= 0",
                              (double)o->weight_decay);
    if (o->kind == MVAE_OPTIM_ADAM) {
        if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f))
            return mvae_error_set(err, MVAE_ERR_INVALID, "optim: adam betas (%g, %g) must be in [0, 1)",
                                  (double)o->beta1, (double)o->beta2);
        if (!(o->eps > 0.0f))
            return mvae_error_set(err, MVAE_ERR_INVALID, "optim: adam eps %g must be > 0", (double)o->eps);
    } else if (!(o->momentum >= 0.0f && o->momentum < 1.0f)) {
        return mvae_error_set(err, MVAE_ERR_INVALID, "optim: sgd momentum %g must be in [0, 1)",
                              (double)o->momentum);
    }
    return MVAE_OK;
}

/* Moments for the whole block (buffers and padding included, kept zero), allocated once. */
static int ensure_moments(mvae_params *ps, mvae_error *err) {
    if (ps->m && ps->v) return MVAE_OK;
    size_t n = (ps->n_floats ? ps->n_floats : 16) * sizeof(float);
    float *m = ps->m ? ps->m : mvae_alloc_aligned(n);
    float *v = ps->v ? ps->v : mvae_alloc_aligned(n);
    if (!m || !v) {
        if (m != ps->m) mvae_free_aligned(m);
        if (v != ps->v) mvae_free_aligned(v);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "optim: out of memory allocating moments for %zu floats",
                              ps->n_floats);
    }
    if (m != ps->m) memset(m, 0, n);
    if (v != ps->v) memset(v, 0, n);
    ps->m = m;
    ps->v = v;
    return MVAE_OK;
}

/* Adam without weight decay, the common case: one vectorised pass over p, g, m, v (restrict:
 * the four never overlap), which also zeroes g when asked. Same arithmetic as PyTorch's. */
static void adam_plain(float *restrict p, float *restrict g, float *restrict m, float *restrict v, int64_t n,
                       float b1, float b2, float step_size, float bc2_sqrt, float eps, bool zero) {
    /* step_size m / (sqrt(v) / bc2_sqrt + eps) with one division instead of two (the slowest
     * instruction of this memory-bound loop): multiply through by bc2_sqrt */
    const float num = step_size * bc2_sqrt, eps_s = eps * bc2_sqrt;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi, vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= num * mi / (sqrtf(vi) + eps_s);
        if (zero) g[i] = 0.0f;
    }
}

/* Adam with L2 (coupled: wd != 0) or decoupled (decay != 1) weight decay. */
static void adam_decay(float *restrict p, float *restrict g, float *restrict m, float *restrict v, int64_t n,
                       float b1, float b2, float step_size, float bc2_sqrt, float eps, float wd, float decay,
                       bool zero) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        p[i] *= decay;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
        if (zero) g[i] = 0.0f;
    }
}

/* One entry's Adam update, split between the GEMM threads when it is large (memory-bound: two
 * cores stream more than one). */
typedef struct adam_job {
    float *p, *g, *m, *v;
    float b1, b2, step_size, bc2_sqrt, eps, wd, decay;
    bool plain, zero;
} adam_job;

/* elements [begin, end) of the entry */
static void adam_range(const adam_job *j, int64_t begin, int64_t end) {
    int64_t n = end - begin;
    if (j->plain)
        adam_plain(j->p + begin, j->g + begin, j->m + begin, j->v + begin, n, j->b1, j->b2, j->step_size,
                   j->bc2_sqrt, j->eps, j->zero);
    else
        adam_decay(j->p + begin, j->g + begin, j->m + begin, j->v + begin, n, j->b1, j->b2, j->step_size,
                   j->bc2_sqrt, j->eps, j->wd, j->decay, j->zero);
}

static void adam_task(void *arg, int begin, int end) { adam_range(arg, begin, end); }

int mvae_optim_step(mvae_optim *opt, mvae_params *ps, mvae_error *err) {
    if (!opt || !ps) return mvae_error_set(err, MVAE_ERR_INVALID, "optim: optimizer or parameter store is NULL");
    if (!ps->finalized || !ps->data || !ps->grad)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "optim: the parameter store is not finalized (call mvae_params_finalize first)");
    int rc = check_opt(opt, err);
    if (rc != MVAE_OK) return rc;
    rc = ensure_moments(ps, err);
    if (rc != MVAE_OK) return rc;
    opt->step++;
    const float lr = opt->lr, wd = opt->weight_decay;
    const bool coupled = wd > 0.0f && !opt->decoupled, decoupled = wd > 0.0f && opt->decoupled;
    const float decay = 1.0f - lr * wd;

    if (opt->kind == MVAE_OPTIM_ADAM) {
        const float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
        /* PyTorch: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps) */
        const double bc1 = 1.0 - pow(b1, (double)opt->step), bc2 = 1.0 - pow(b2, (double)opt->step);
        const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
        for (int e = 0; e < ps->count; e++) {
            const mvae_param_entry *pe = &ps->entries[e];
            if (pe->buffer) continue;
            size_t o = pe->offset;
            if (opt->zero_grad) pe->t->flags |= MVAE_T_GRAD_ZERO;
            adam_job job = {ps->data + o, ps->grad + o, ps->m + o, ps->v + o, b1, b2, step_size, bc2_sqrt, eps,
                            coupled ? wd : 0.0f, decoupled ? decay : 1.0f, !coupled && !decoupled, opt->zero_grad};
            if (pe->t->n >= 2 * ADAM_GRAIN && pe->t->n <= INT32_MAX)
                mvae_parallel_for((int)pe->t->n, ADAM_GRAIN, adam_task, &job);
            else
                adam_range(&job, 0, pe->t->n);
        }
    } else {
        /* PyTorch SGD: g += wd p; buf = momentum buf + g (buf = g at the first step); p -= lr buf */
        const float mom = opt->momentum;
        for (int e = 0; e < ps->count; e++) {
            const mvae_param_entry *pe = &ps->entries[e];
            if (pe->buffer) continue;
            float *p = ps->data + pe->offset, *g = ps->grad + pe->offset, *buf = ps->m + pe->offset;
            for (int64_t i = 0; i < pe->t->n; i++) {
                float gi = g[i];
                if (coupled) gi += wd * p[i];
                if (decoupled) p[i] *= decay;
                if (mom > 0.0f) {
                    buf[i] = mom * buf[i] + gi;
                    gi = buf[i];
                }
                p[i] -= lr * gi;
            }
            if (opt->zero_grad) {
                memset(g, 0, (size_t)pe->t->n * sizeof(float));
                pe->t->flags |= MVAE_T_GRAD_ZERO;
            }
        }
    }
    return MVAE_OK;
}

float mvae_grad_norm(const mvae_params *ps) {
    if (!ps || !ps->grad) return 0.0f;
    double s = 0;
    for (int e = 0; e < ps->count; e++) {
        const mvae_param_entry *pe = &ps->entries[e];
        if (pe->buffer) continue;
        const float *g = ps->grad + pe->offset;
        float acc[16] = {0}; /* 16 float lanes per entry (vectorised), entries summed in double */
        int64_t i = 0;
        for (; i + 16 <= pe->t->n; i += 16)
            for (int k = 0; k < 16; k++) acc[k] += g[i + k] * g[i + k];
        for (; i < pe->t->n; i++) s += (double)g[i] * g[i];
        for (int k = 0; k < 16; k++) s += acc[k];
    }
    return (float)sqrt(s);
}

float mvae_clip_grad_norm(mvae_params *ps, float max_norm) {
    float norm = mvae_grad_norm(ps);
    /* A NaN/Inf norm is returned as is and the gradients are left alone: the caller skips the step. */
    if (!(max_norm > 0.0f) || !isfinite(norm) || norm <= max_norm) return norm;
    /* PyTorch's clip_grad_norm_: scale by max_norm / (norm + 1e-6) */
    const float scale = (float)((double)max_norm / ((double)norm + 1e-6));
    for (int e = 0; e < ps->count; e++) {
        const mvae_param_entry *pe = &ps->entries[e];
        if (pe->buffer) continue;
        float *g = ps->grad + pe->offset;
        for (int64_t i = 0; i < pe->t->n; i++) g[i] *= scale;
    }
    return norm;
}
