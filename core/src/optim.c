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

/* The Adam update of every trainable entry as one range of "virtual" indices (the entries'
 * elements end to end), split between the GEMM threads in one parallel region: memory-bound, so
 * two cores stream more than one, and one wake-up per step instead of one per large entry. */
#define ADAM_MAX_SPANS 4096
typedef struct adam_job {
    float *p, *g, *m, *v;           /* the store's blocks */
    const size_t *offset;           /* span k: the store's elements offset[k] .. + len(k) */
    const int64_t *start;           /* span k's first virtual index; start[n_spans] = total */
    int n_spans;
    float b1, b2, step_size, bc2_sqrt, eps, wd, decay;
    bool plain, zero;
} adam_job;

static void adam_span(const adam_job *j, size_t o, int64_t n) {
    if (j->plain)
        adam_plain(j->p + o, j->g + o, j->m + o, j->v + o, n, j->b1, j->b2, j->step_size, j->bc2_sqrt, j->eps,
                   j->zero);
    else
        adam_decay(j->p + o, j->g + o, j->m + o, j->v + o, n, j->b1, j->b2, j->step_size, j->bc2_sqrt, j->eps,
                   j->wd, j->decay, j->zero);
}

/* virtual indices [begin, end) */
static void adam_range(const adam_job *j, int64_t begin, int64_t end) {
    int lo = 0, hi = j->n_spans - 1; /* the span holding begin: start[k] <= begin < start[k+1] */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (j->start[mid] <= begin) lo = mid;
        else hi = mid - 1;
    }
    for (int k = lo; k < j->n_spans && j->start[k] < end; k++) {
        int64_t a = begin > j->start[k] ? begin : j->start[k];
        int64_t b = end < j->start[k + 1] ? end : j->start[k + 1];
        if (b > a) adam_span(j, j->offset[k] + (size_t)(a - j->start[k]), b - a);
    }
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
        size_t offset[ADAM_MAX_SPANS];
        int64_t start[ADAM_MAX_SPANS + 1];
        adam_job job = {ps->data, ps->grad, ps->m, ps->v, offset, start, 0, b1, b2, step_size, bc2_sqrt, eps,
                        coupled ? wd : 0.0f, decoupled ? decay : 1.0f, !coupled && !decoupled, opt->zero_grad};
        int64_t total = 0;
        for (int e = 0; e < ps->count; e++) {
            const mvae_param_entry *pe = &ps->entries[e];
            if (pe->buffer) continue;
            if (opt->zero_grad) pe->t->flags |= MVAE_T_GRAD_ZERO;
            if (job.n_spans == ADAM_MAX_SPANS) { /* a store of very many entries: flush the spans */
                start[job.n_spans] = total;
                adam_range(&job, 0, total);
                job.n_spans = 0;
                total = 0;
            }
            offset[job.n_spans] = pe->offset;
            start[job.n_spans++] = total;
            total += pe->t->n;
        }
        start[job.n_spans] = total;
        if (total >= 2 * ADAM_GRAIN && total <= INT32_MAX)
            mvae_parallel_for((int)total, ADAM_GRAIN, adam_task, &job);
        else
            adam_range(&job, 0, total);
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

/* The squared norm over chunks of GRAD_NORM_CHUNK elements of the trainable entries laid end to
 * end (64 float lanes per chunk, chunks summed in double, in order): the same value whatever the
 * number of threads that share the chunks. */
#define GRAD_NORM_CHUNK 32768
#define GRAD_NORM_MAX_CHUNKS 1024
typedef struct norm_job {
    const mvae_params *ps;
    int64_t total, chunk;
    double part[GRAD_NORM_MAX_CHUNKS];
} norm_job;

/* 64 float lanes (four independent vector accumulators: one would wait on the FMA latency and
 * read memory at a quarter of the speed it can), summed in double at the end */
static double sumsq(const float *g, int64_t n) {
    float acc[64] = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 64; k++) acc[k] += g[i + k] * g[i + k];
    double s = 0;
    for (; i < n; i++) s += (double)g[i] * g[i];
    for (int k = 0; k < 64; k++) s += acc[k];
    return s;
}

static void norm_task(void *arg, int begin, int end) {
    norm_job *j = arg;
    const mvae_params *ps = j->ps;
    for (int c = begin; c < end; c++) {
        int64_t lo = (int64_t)c * j->chunk, hi = lo + j->chunk < j->total ? lo + j->chunk : j->total, pos = 0;
        double s = 0;
        for (int e = 0; e < ps->count && pos < hi; e++) {
            const mvae_param_entry *pe = &ps->entries[e];
            if (pe->buffer) continue;
            int64_t a = lo > pos ? lo : pos, b = hi < pos + pe->t->n ? hi : pos + pe->t->n;
            if (b > a) s += sumsq(ps->grad + pe->offset + (a - pos), b - a);
            pos += pe->t->n;
        }
        j->part[c] = s;
    }
}

float mvae_grad_norm(const mvae_params *ps) {
    if (!ps || !ps->grad) return 0.0f;
    norm_job j = {.ps = ps, .total = 0};
    for (int e = 0; e < ps->count; e++)
        if (!ps->entries[e].buffer) j.total += ps->entries[e].t->n;
    if (j.total == 0) return 0.0f;
    j.chunk = GRAD_NORM_CHUNK;
    if ((j.total + j.chunk - 1) / j.chunk > GRAD_NORM_MAX_CHUNKS) j.chunk = (j.total + GRAD_NORM_MAX_CHUNKS - 1) / GRAD_NORM_MAX_CHUNKS;
    int n_chunks = (int)((j.total + j.chunk - 1) / j.chunk);
    mvae_parallel_for(n_chunks, 2, norm_task, &j);
    double s = 0;
    for (int c = 0; c < n_chunks; c++) s += j.part[c];
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
