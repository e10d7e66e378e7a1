/* tensor.c — the per-step context: arena, tape, sticky error; tensor constructors; backward. */
#include "mvae/ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    char *mem;
} arena_chunk;

struct mvae_ctx {
    arena_chunk *head;    /* current chunk (chunks form a list, newest first) */
    size_t total_cap;     /* sum of chunk capacities */
    size_t used_total;    /* bytes handed out since reset (incl. chunk waste) */
    size_t peak;
    uint64_t mallocs;
    void *scratch; /* mvae_ctx_scratch's block: grows to the largest request, never shrinks */
    size_t scratch_cap;
    /* gradient blocks of op outputs whose backward has run: reused by later gradients of the
     * same backward pass (the live gradients are a frontier, not the whole graph) */
    struct grad_block { float *p; size_t bytes; } *free_grads;
    size_t n_free, free_cap;
    mvae_tensor **tape;
    size_t tape_len, tape_cap;
    bool grad_enabled;
    bool training;
    bool recycle_values; /* backward hands dead op outputs' values to the gradients' free list */
    bool recycled;       /* a backward since the last reset has recycled values */
    bool failed;
    char err[MVAE_ERROR_MSG_MAX];
    int64_t win_row0, win_n, win_global; /* mvae_ctx_set_batch_window; win_global 0: none */
    mvae_backward_hook bw_hook;          /* mvae_ctx_set_backward_hook; NULL: none */
    void *bw_user;
    mvae_tensor *const *sub_from, *const *sub_to; /* mvae_ctx_substitute */
    int n_sub;
};

static arena_chunk *chunk_new(mvae_ctx *ctx, size_t cap) {
    arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = mvae_alloc_aligned(cap);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->cap = cap;
    c->used = 0;
    c->next = NULL;
    ctx->mallocs++;
    ctx->total_cap += cap;
    return c;
}

mvae_ctx *mvae_ctx_new(size_t arena_hint) {
    mvae_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->head = chunk_new(ctx, arena_hint ? arena_hint : (size_t)16 << 20);
    ctx->tape_cap = 1024;
    ctx->tape = malloc(ctx->tape_cap * sizeof *ctx->tape);
    if (!ctx->head || !ctx->tape) {
        mvae_ctx_free(ctx);
        return NULL;
    }
    ctx->grad_enabled = true;
    ctx->training = true;
    return ctx;
}

void mvae_ctx_free(mvae_ctx *ctx) {
    if (!ctx) return;
    for (arena_chunk *c = ctx->head; c;) {
        arena_chunk *n = c->next;
        mvae_free_aligned(c->mem);
        free(c);
        c = n;
    }
    mvae_free_aligned(ctx->scratch);
    free(ctx->free_grads);
    free(ctx->tape);
    free(ctx);
}

void mvae_ctx_reset(mvae_ctx *ctx) {
    if (ctx->head && ctx->head->next) {
        /* Several chunks were needed: replace them by one block of what this step used (plus a
         * quarter), so that from now on a step of the same size fits in a single chunk and
         * allocates nothing. (Not the sum of the chunks: they doubled past the need.) */
        size_t need = ctx->used_total + ctx->used_total / 4;
        if (need < ctx->head->cap) need = ctx->head->cap;
        for (arena_chunk *c = ctx->head; c;) {
            arena_chunk *n = c->next;
            mvae_free_aligned(c->mem);
            free(c);
            c = n;
        }
        ctx->head = NULL;
        ctx->total_cap = 0;
        ctx->head = chunk_new(ctx, need);
        MVAE_ASSERT_MSG(ctx->head, "out of memory growing the step arena");
    }
    ctx->head->used = 0;
    ctx->used_total = 0;
    ctx->tape_len = 0;
    ctx->n_sub = 0;
    ctx->n_free = 0;
    ctx->recycled = false;
    ctx->failed = false;
    ctx->err[0] = '\0';
}

void *mvae_ctx_alloc(mvae_ctx *ctx, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    arena_chunk *c = ctx->head;
    if (c->used + bytes > c->cap) {
        size_t cap = c->cap * 2;
        if (cap < bytes) cap = bytes;
        arena_chunk *n = chunk_new(ctx, cap);
        MVAE_ASSERT_MSG(n, "out of memory growing the step arena");
        n->next = c;
        ctx->head = n;
        ctx->used_total += c->cap - c->used; /* the tail of the old chunk is lost until reset */
        c = n;
    }
    void *p = c->mem + c->used;
    c->used += bytes;
    ctx->used_total += bytes;
    if (ctx->used_total > ctx->peak) ctx->peak = ctx->used_total;
    return p;
}

void *mvae_ctx_scratch(mvae_ctx *ctx, size_t bytes) {
    if (bytes > ctx->scratch_cap) {
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        mvae_free_aligned(ctx->scratch);
        ctx->scratch = mvae_alloc_aligned(cap);
        MVAE_ASSERT_MSG(ctx->scratch, "out of memory growing the op scratch");
        ctx->scratch_cap = cap;
        ctx->mallocs++;
    }
    return ctx->scratch;
}

void *mvae_ctx_calloc(mvae_ctx *ctx, size_t bytes) {
    void *p = mvae_ctx_alloc(ctx, bytes);
    memset(p, 0, bytes);
    return p;
}

bool mvae_ctx_set_grad(mvae_ctx *ctx, bool enabled) {
    bool old = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return old;
}
bool mvae_ctx_grad_enabled(const mvae_ctx *ctx) { return ctx->grad_enabled; }
bool mvae_ctx_set_recycle_values(mvae_ctx *ctx, bool on) {
    bool old = ctx->recycle_values;
    ctx->recycle_values = on;
    return old;
}
void mvae_ctx_set_batch_window(mvae_ctx *ctx, int64_t row0, int64_t n, int64_t global) {
    bool ok = global > 0 && n > 0 && row0 >= 0 && row0 + n <= global;
    ctx->win_row0 = ok ? row0 : 0;
    ctx->win_n = ok ? n : 0;
    ctx->win_global = ok ? global : 0;
}

bool mvae_ctx_batch_window(const mvae_ctx *ctx, int64_t *row0, int64_t *n, int64_t *global) {
    *row0 = ctx->win_row0;
    *n = ctx->win_n;
    *global = ctx->win_global;
    return ctx->win_global > 0;
}

bool mvae_ctx_set_training(mvae_ctx *ctx, bool training) {
    bool old = ctx->training;
    ctx->training = training;
    return old;
}
bool mvae_ctx_training(const mvae_ctx *ctx) { return ctx->training; }
bool mvae_ctx_failed(const mvae_ctx *ctx) { return ctx->failed; }
const char *mvae_ctx_error(const mvae_ctx *ctx) { return ctx->failed ? ctx->err : ""; }

mvae_tensor *mvae_ctx_fail(mvae_ctx *ctx, const char *fmt, ...) {
    if (!ctx->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
        ctx->failed = true;
    }
    return NULL;
}

size_t mvae_ctx_arena_used(const mvae_ctx *ctx) { return ctx->used_total; }
size_t mvae_ctx_arena_peak(const mvae_ctx *ctx) { return ctx->peak; }
size_t mvae_ctx_arena_capacity(const mvae_ctx *ctx) { return ctx->total_cap; }
size_t mvae_ctx_scratch_capacity(const mvae_ctx *ctx) { return ctx->scratch_cap; }
uint64_t mvae_ctx_arena_mallocs(const mvae_ctx *ctx) { return ctx->mallocs; }
size_t mvae_ctx_tape_len(const mvae_ctx *ctx) { return ctx->tape_len; }
mvae_tensor *mvae_ctx_tape_at(const mvae_ctx *ctx, size_t i) { return i < ctx->tape_len ? ctx->tape[i] : NULL; }
void mvae_ctx_set_backward_hook(mvae_ctx *ctx, mvae_backward_hook fn, void *user) {
    ctx->bw_hook = fn;
    ctx->bw_user = user;
}

/* ---------------------------------------------------------------------------------------------- */

static mvae_tensor *tensor_header(mvae_ctx *ctx, int ndim, const int64_t *shape, int dtype) {
    if (ndim < 1 || ndim > MVAE_MAX_DIMS)
        return mvae_ctx_fail(ctx, "tensor: ndim %d out of range 1..%d", ndim, MVAE_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) return mvae_ctx_fail(ctx, "tensor: dim %d has size %lld", i, (long long)shape[i]);
        n *= shape[i];
    }
    mvae_tensor *t = mvae_ctx_alloc(ctx, sizeof *t);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    for (int i = ndim; i < MVAE_MAX_DIMS; i++) t->shape[i] = 1;
    t->n = n;
    t->dtype = dtype;
    return t;
}

mvae_tensor *mvae_tensor_new(mvae_ctx *ctx, int ndim, const int64_t *shape) {
    mvae_tensor *t = tensor_header(ctx, ndim, shape, MVAE_F32);
    if (t) t->data = mvae_ctx_alloc(ctx, (size_t)t->n * sizeof(float));
    return t;
}

mvae_tensor *mvae_tensor_new_i32(mvae_ctx *ctx, int ndim, const int64_t *shape) {
    mvae_tensor *t = tensor_header(ctx, ndim, shape, MVAE_I32);
    if (t) t->data = mvae_ctx_alloc(ctx, (size_t)t->n * sizeof(int32_t));
    return t;
}

mvae_tensor *mvae_tensor_zeros(mvae_ctx *ctx, int ndim, const int64_t *shape) {
    mvae_tensor *t = mvae_tensor_new(ctx, ndim, shape);
    if (t) memset(t->data, 0, (size_t)t->n * sizeof(float));
    return t;
}

mvae_tensor *mvae_tensor_fill(mvae_ctx *ctx, int ndim, const int64_t *shape, float value) {
    mvae_tensor *t = mvae_tensor_new(ctx, ndim, shape);
    if (t)
        for (int64_t i = 0; i < t->n; i++) t->data[i] = value;
    return t;
}

mvae_tensor *mvae_tensor_wrap(mvae_ctx *ctx, int ndim, const int64_t *shape, float *data) {
    mvae_tensor *t = tensor_header(ctx, ndim, shape, MVAE_F32);
    if (t) t->data = data;
    return t;
}

mvae_tensor *mvae_scalar(mvae_ctx *ctx, float v) {
    return mvae_tensor_fill(ctx, 1, (int64_t[]){1}, v);
}

int mvae_shape_eq(const mvae_tensor *a, const mvae_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *mvae_shape_str(const mvae_tensor *t, char *buf, size_t len) {
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

mvae_tensor *mvae_tile_rows(mvae_ctx *ctx, const mvae_tensor *t, int k) {
    if (!t) return NULL;
    int64_t shape[4];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
    shape[0] *= k;
    mvae_tensor *o = t->dtype == MVAE_I32 ? mvae_tensor_new_i32(ctx, t->ndim, shape) : mvae_tensor_new(ctx, t->ndim, shape);
    if (!o) return NULL;
    for (int r = 0; r < k; r++) memcpy(o->data + (size_t)r * (size_t)t->n, t->data, (size_t)t->n * 4);
    return o;
}

void mvae_tensor_requires_grad(mvae_tensor *t) { t->flags |= MVAE_T_NEEDS_GRAD; }

static mvae_tensor *op_record(mvae_ctx *ctx, mvae_tensor *t, int op, mvae_tensor *s0, mvae_tensor *s1,
                              mvae_tensor *s2, mvae_tensor *s3);

mvae_tensor *mvae_op_output(mvae_ctx *ctx, int op, int ndim, const int64_t *shape, mvae_tensor *s0,
                            mvae_tensor *s1, mvae_tensor *s2, mvae_tensor *s3) {
    mvae_tensor *t = mvae_tensor_new(ctx, ndim, shape);
    if (!t) return NULL;
    return op_record(ctx, t, op, s0, s1, s2, s3);
}

mvae_tensor *mvae_op_output_view(mvae_ctx *ctx, int op, int ndim, const int64_t *shape, mvae_tensor *s0) {
    mvae_tensor *t = tensor_header(ctx, ndim, shape, s0->dtype);
    if (!t) return NULL;
    t->data = s0->data;
    t->flags |= MVAE_T_VIEW;
    return op_record(ctx, t, op, s0, NULL, NULL, NULL);
}

void mvae_op_attach_source(mvae_tensor *out, int k, mvae_tensor *t) {
    out->src[k] = t;
    if (t && mvae_needs_grad(out) && !(t->flags & MVAE_T_PARAM)) t->uses++;
}

void mvae_ctx_substitute(mvae_ctx *ctx, int n, mvae_tensor *const *from, mvae_tensor *const *to) {
    ctx->n_sub = n > 0 && from && to ? n : 0;
    ctx->sub_from = from;
    ctx->sub_to = to;
}

static mvae_tensor *substituted(const mvae_ctx *ctx, mvae_tensor *s) {
    for (int i = 0; s && i < ctx->n_sub; i++)
        if (ctx->sub_from[i] == s) return ctx->sub_to[i];
    return s;
}

static mvae_tensor *op_record(mvae_ctx *ctx, mvae_tensor *t, int op, mvae_tensor *s0, mvae_tensor *s1,
                              mvae_tensor *s2, mvae_tensor *s3) {
    if (ctx->n_sub) {
        s0 = substituted(ctx, s0), s1 = substituted(ctx, s1);
        s2 = substituted(ctx, s2), s3 = substituted(ctx, s3);
    }
    t->op = op;
    t->src[0] = s0;
    t->src[1] = s1;
    t->src[2] = s2;
    t->src[3] = s3;
    if (ctx->grad_enabled &&
        (mvae_needs_grad(s0) || mvae_needs_grad(s1) || mvae_needs_grad(s2) || mvae_needs_grad(s3))) {
        t->flags |= MVAE_T_NEEDS_GRAD;
        mvae_tensor *srcs[4] = {s0, s1, s2, s3};
        for (int k = 0; k < 4; k++) /* every slot: a tensor read twice by one op counts twice */
            if (srcs[k] && !(srcs[k]->flags & MVAE_T_PARAM)) srcs[k]->uses++;
        if (ctx->tape_len == ctx->tape_cap) {
            /* grows only during the first steps; the capacity is kept across resets */
            size_t cap = ctx->tape_cap * 2;
            mvae_tensor **nt = realloc(ctx->tape, cap * sizeof *nt);
            MVAE_ASSERT_MSG(nt, "out of memory growing the tape");
            ctx->tape = nt;
            ctx->tape_cap = cap;
        }
        ctx->tape[ctx->tape_len++] = t;
    }
    return t;
}

/* A gradient buffer of n floats: the smallest released block that fits without wasting more than
 * half of it, else new arena memory. Uninitialised. */
static float *grad_alloc(mvae_ctx *ctx, int64_t n) {
    size_t bytes = (size_t)n * sizeof(float), best = SIZE_MAX;
    for (size_t i = 0; i < ctx->n_free; i++) {
        size_t b = ctx->free_grads[i].bytes;
        if (b >= bytes && b / 2 <= bytes && (best == SIZE_MAX || b < ctx->free_grads[best].bytes)) best = i;
    }
    if (best == SIZE_MAX) return mvae_ctx_alloc(ctx, bytes);
    float *p = ctx->free_grads[best].p;
    ctx->free_grads[best] = ctx->free_grads[--ctx->n_free];
    return p;
}

/* A dead block (a gradient, or with recycle_values an op output's values) joins the free list of
 * later gradients. Returns false when the list cannot grow (the block is then simply not reused). */
static bool block_release(mvae_ctx *ctx, float *p, size_t bytes) {
    if (ctx->n_free == ctx->free_cap) {
        size_t cap = ctx->free_cap ? 2 * ctx->free_cap : 256;
        void *q = realloc(ctx->free_grads, cap * sizeof *ctx->free_grads);
        if (!q) return false;
        ctx->free_grads = q;
        ctx->free_cap = cap;
    }
    ctx->free_grads[ctx->n_free++] = (struct grad_block){p, bytes};
    return true;
}

/* t's gradient is dead (its backward has run): keep the block for later gradients. */
static void grad_release(mvae_ctx *ctx, mvae_tensor *t) {
    if (block_release(ctx, t->grad, (size_t)t->n * sizeof(float))) t->grad = NULL;
}

/* A reshape view's gradient is its source's gradient block (same elements, same order): its
 * writers write (or accumulate into) the source's gradient directly, which saves the block and
 * reshape's copy. Not for a view whose gradient is retained (the source's block may be recycled). */
static bool grad_aliases(const mvae_tensor *t) {
    return (t->flags & MVAE_T_VIEW) && t->op == MVAE_OP_RESHAPE && !(t->flags & MVAE_T_KEEP_GRAD) &&
           mvae_needs_grad(t->src[0]) && (!t->grad || (t->flags & MVAE_T_GRAD_ALIAS));
}

float *mvae_grad(mvae_ctx *ctx, mvae_tensor *t) {
    if (!mvae_needs_grad(t)) return NULL;
    if (grad_aliases(t)) {
        t->grad = mvae_grad(ctx, t->src[0]);
        t->flags |= MVAE_T_GRAD_ALIAS;
        return t->grad;
    }
    if (!t->grad) {
        t->grad = grad_alloc(ctx, t->n);
        memset(t->grad, 0, (size_t)t->n * sizeof(float));
    }
    t->flags &= ~(uint32_t)MVAE_T_GRAD_ZERO; /* the caller accumulates: no longer known to be zero */
    return t->grad;
}

float *mvae_grad_fresh(mvae_ctx *ctx, mvae_tensor *t, bool *fresh) {
    *fresh = false;
    if (!mvae_needs_grad(t)) return NULL;
    if (grad_aliases(t)) {
        t->grad = mvae_grad_fresh(ctx, t->src[0], fresh);
        t->flags |= MVAE_T_GRAD_ALIAS;
        return t->grad;
    }
    if (!t->grad) {
        t->grad = grad_alloc(ctx, t->n);
        *fresh = true;
    } else if (t->flags & MVAE_T_GRAD_ZERO) {
        t->flags &= ~(uint32_t)MVAE_T_GRAD_ZERO;
        *fresh = true;
    }
    return t->grad;
}

float *mvae_grad_in_place(mvae_ctx *ctx, mvae_tensor *x, bool *fresh) {
    /* x's values are read by its single consumer (the caller) only: its producer is an op whose
     * backward reads its inputs and out->grad, never out->data */
    bool dead_after = ctx->recycle_values && !x->grad && x->uses == 1 && x->data &&
                      !(x->flags & (MVAE_T_VIEW | MVAE_T_PARAM | MVAE_T_KEEP_GRAD)) &&
                      (x->op == MVAE_OP_LINEAR || x->op == MVAE_OP_CONV2D || x->op == MVAE_OP_CONV_TRANSPOSE2D ||
                       x->op == MVAE_OP_MATMUL);
    if (!mvae_needs_grad(x) || !dead_after) return mvae_grad_fresh(ctx, x, fresh);
    x->grad = x->data;
    x->data = NULL;
    *fresh = true;
    return x->grad;
}

int mvae_backward_seeded(mvae_ctx *ctx, mvae_tensor *out, const float *seed) {
    if (ctx->failed) return MVAE_ERR_INVALID;
    if (!out) {
        mvae_ctx_fail(ctx, "backward: output is NULL");
        return MVAE_ERR_INVALID;
    }
    if (!mvae_needs_grad(out)) {
        mvae_ctx_fail(ctx, "backward: the output does not depend on any tensor that needs a gradient");
        return MVAE_ERR_INVALID;
    }
    if (ctx->recycled) {
        mvae_ctx_fail(ctx, "backward: a backward pass since the last reset recycled the values this one would read "
                           "(mvae_ctx_set_recycle_values): reset the context and run the forward pass again, or "
                           "turn recycling off for repeated backward passes");
        return MVAE_ERR_INVALID;
    }
    ctx->recycled = ctx->recycle_values;
    /* the output keeps its gradient and its values, and so does every tensor whose data it views */
    for (mvae_tensor *v = out; v; v = (v->flags & MVAE_T_VIEW) ? v->src[0] : NULL) v->flags |= MVAE_T_KEEP_GRAD;
    float *g = mvae_grad(ctx, out);
    for (int64_t i = 0; i < out->n; i++) g[i] += seed ? seed[i] : 1.0f;
    /* find out on the tape: ops after it cannot contribute */
    size_t end = ctx->tape_len;
    while (end > 0 && ctx->tape[end - 1] != out) end--;
    if (end == 0 && !(out->flags & MVAE_T_PARAM)) {
        mvae_ctx_fail(ctx, "backward: output is not on the tape (made before the last reset?)");
        return MVAE_ERR_INVALID;
    }
    if (ctx->bw_hook) ctx->bw_hook(ctx, ctx->bw_user, end, end); /* the tape [0, end) is complete */
    for (size_t i = end; i-- > 0;) {
        mvae_tensor *t = ctx->tape[i];
        if (!t->grad) { /* no gradient reached this node */
            if (ctx->bw_hook) ctx->bw_hook(ctx, ctx->bw_user, i, end);
            continue;
        }
        mvae_backward_fn fn = mvae_op_table[t->op].backward;
        MVAE_ASSERT_MSG(fn, mvae_op_table[t->op].name);
        fn(ctx, t);
        /* an intermediate's gradient is read by its own backward only: recycle it (leaves,
         * parameters and the seeded output keep theirs) */
        if (t->flags & MVAE_T_GRAD_ALIAS) {
            t->grad = NULL; /* the block is its source's */
            t->flags &= ~(uint32_t)MVAE_T_GRAD_ALIAS;
        } else if (t != out && !(t->flags & MVAE_T_PARAM) && !(t->flags & MVAE_T_KEEP_GRAD)) {
            grad_release(ctx, t);
            /* its values too: every reader (t's consumers, later on the tape) has run its backward;
             * a view's values are its source's, released with the source */
            if (ctx->recycle_values && !(t->flags & MVAE_T_VIEW) && t->data &&
                block_release(ctx, t->data, (size_t)t->n * sizeof(float)))
                t->data = NULL;
        }
        if (ctx->bw_hook) ctx->bw_hook(ctx, ctx->bw_user, i, end);
    }
    return ctx->failed ? MVAE_ERR_INVALID : MVAE_OK;
}

int mvae_backward(mvae_ctx *ctx, mvae_tensor *loss) {
    if (loss && loss->n != 1) {
        char s[MVAE_SHAPE_STR_LEN];
        mvae_ctx_fail(ctx, "backward: loss must have one element, got shape %s",
                      mvae_shape_str(loss, s, sizeof s));
        return MVAE_ERR_INVALID;
    }
    return mvae_backward_seeded(ctx, loss, NULL);
}

const char *mvae_op_name(int op) {
    if (op < 0 || op >= MVAE_OP_COUNT) return "?";
    return mvae_op_table[op].name;
}
