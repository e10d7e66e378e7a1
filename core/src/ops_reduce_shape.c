/* ops_reduce_shape.c — reductions (sum, mean, logsumexp, sum_all, mean_all) and shape ops
 * (reshape, permute/transpose, concat, slice, gather).
 *
 * Axis reductions view the input as [outer, K, inner] (K = the reduced axis) and the output as
 * [outer, inner]; loops run over the contiguous inner dimension so they vectorise for any axis.
 */
#include "ops_internal.h"

#include <math.h>
#include <string.h>

/* Normalise a possibly negative axis; -1 if out of range. */
static int norm_axis(int axis, int ndim) {
    int ax = axis < 0 ? axis + ndim : axis;
    return (ax < 0 || ax >= ndim) ? -1 : ax;
}

static void axis_split(const mvae_tensor *t, int axis, int64_t *outer, int64_t *K, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++) *inner *= t->shape[d];
    *K = t->shape[axis];
}

/* ---------------------------------------------------------------------------------------------
 * Axis reductions
 * ------------------------------------------------------------------------------------------- */
/* Validate and make the output of an axis reduction; ip[0] = axis, ip[1] = keepdim. */
static mvae_tensor *reduce_out(mvae_ctx *ctx, const char *name, int op, mvae_tensor *a, int axis,
                               bool keepdim) {
    MVAE_CHECK_INPUT(ctx, name, a);
    MVAE_CHECK_F32(ctx, name, a);
    int ax = norm_axis(axis, a->ndim);
    if (ax < 0) {
        char sa[MVAE_SHAPE_STR_LEN];
        return mvae_ctx_fail(ctx, "%s: a %s: axis %d out of range for %d dims", name, MVAE_SHP(a, sa),
                             axis, a->ndim);
    }
    int64_t shape[MVAE_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (d == ax) {
            if (keepdim) shape[nd++] = 1;
        } else
            shape[nd++] = a->shape[d];
    }
    if (nd == 0) shape[nd++] = 1; /* reducing a 1-D tensor without keepdim gives [1] */
    mvae_tensor *out = mvae_op_output(ctx, op, nd, shape, a, NULL, NULL, NULL);
    if (!out) return NULL;
    out->ip[0] = ax;
    out->ip[1] = keepdim;
    return out;
}

/* out [outer, inner] = scale * sum_k a [outer, K, inner] */
static void reduce_sum_fwd(const mvae_tensor *a, int ax, float scale, float *out) {
    int64_t outer, K, inner;
    axis_split(a, ax, &outer, &K, &inner);
    for (int64_t o = 0; o < outer; o++) {
        const float *x = a->data + o * K * inner;
        float *y = out + o * inner;
        if (inner == 1) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += x[k];
            y[0] = s * scale;
            continue;
        }
        memcpy(y, x, (size_t)inner * sizeof(float));
        for (int64_t k = 1; k < K; k++)
            for (int64_t j = 0; j < inner; j++) y[j] += x[k * inner + j];
        if (scale != 1.0f)
            for (int64_t j = 0; j < inner; j++) y[j] *= scale;
    }
}

/* ga [outer, K, inner] += scale * g [outer, inner] */
static void reduce_sum_bwd(mvae_ctx *ctx, mvae_tensor *out, float scale) {
    mvae_tensor *a = out->src[0];
    float *ga = mvae_grad(ctx, a);
    if (!ga) return;
    int64_t outer, K, inner;
    axis_split(a, out->ip[0], &outer, &K, &inner);
    for (int64_t o = 0; o < outer; o++) {
        const float *g = out->grad + o * inner;
        float *d = ga + o * K * inner;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < inner; j++) d[k * inner + j] += scale * g[j];
    }
}

mvae_tensor *mvae_sum(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim) {
    mvae_tensor *out = reduce_out(ctx, "sum", MVAE_OP_SUM, a, axis, keepdim);
    if (out) reduce_sum_fwd(a, out->ip[0], 1.0f, out->data);
    return out;
}
void mvae_bw_sum(mvae_ctx *ctx, mvae_tensor *out) { reduce_sum_bwd(ctx, out, 1.0f); }

mvae_tensor *mvae_mean(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim) {
    mvae_tensor *out = reduce_out(ctx, "mean", MVAE_OP_MEAN, a, axis, keepdim);
    if (out) reduce_sum_fwd(a, out->ip[0], 1.0f / (float)a->shape[out->ip[0]], out->data);
    return out;
}
void mvae_bw_mean(mvae_ctx *ctx, mvae_tensor *out) {
    reduce_sum_bwd(ctx, out, 1.0f / (float)out->src[0]->shape[out->ip[0]]);
}

/* log sum_k exp(a) = m + log sum_k exp(a - m), m = max_k a */
mvae_tensor *mvae_logsumexp(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim) {
    mvae_tensor *out = reduce_out(ctx, "logsumexp", MVAE_OP_LOGSUMEXP, a, axis, keepdim);
    if (!out) return NULL;
    int64_t outer, K, inner;
    axis_split(a, out->ip[0], &outer, &K, &inner);
    float *s = mvae_ctx_alloc(ctx, (size_t)inner * sizeof(float));
    for (int64_t o = 0; o < outer; o++) {
        const float *x = a->data + o * K * inner;
        float *m = out->data + o * inner;
        memcpy(m, x, (size_t)inner * sizeof(float));
        for (int64_t k = 1; k < K; k++)
            for (int64_t j = 0; j < inner; j++) m[j] = x[k * inner + j] > m[j] ? x[k * inner + j] : m[j];
        memset(s, 0, (size_t)inner * sizeof(float));
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < inner; j++) s[j] += mvae_expf(x[k * inner + j] - m[j]);
        for (int64_t j = 0; j < inner; j++)
            m[j] = isinf(m[j]) ? m[j] : m[j] + mvae_logf(s[j]); /* all -inf (or +inf): keep it */
    }
    return out;
}
/* d/dx = exp(x - out) (the softmax along the axis) */
void mvae_bw_logsumexp(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *a = out->src[0];
    float *ga = mvae_grad(ctx, a);
    if (!ga) return;
    int64_t outer, K, inner;
    axis_split(a, out->ip[0], &outer, &K, &inner);
    for (int64_t o = 0; o < outer; o++) {
        const float *x = a->data + o * K * inner, *y = out->data + o * inner, *g = out->grad + o * inner;
        float *d = ga + o * K * inner;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < inner; j++) d[k * inner + j] += g[j] * mvae_expf(x[k * inner + j] - y[j]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Full reductions (accumulated in double: they feed losses)
 * ------------------------------------------------------------------------------------------- */
static mvae_tensor *reduce_all(mvae_ctx *ctx, const char *name, int op, mvae_tensor *a, bool mean) {
    MVAE_CHECK_INPUT(ctx, name, a);
    MVAE_CHECK_F32(ctx, name, a);
    mvae_tensor *out = mvae_op_output(ctx, op, 1, (int64_t[]){1}, a, NULL, NULL, NULL);
    if (!out) return NULL;
    double s = 0.0;
    for (int64_t i = 0; i < a->n; i++) s += a->data[i];
    out->data[0] = (float)(mean ? s / (double)a->n : s);
    return out;
}
static void reduce_all_bwd(mvae_ctx *ctx, mvae_tensor *out, bool mean) {
    mvae_tensor *a = out->src[0];
    float *ga = mvae_grad(ctx, a);
    if (!ga) return;
    float g = out->grad[0] * (mean ? 1.0f / (float)a->n : 1.0f);
    for (int64_t i = 0; i < a->n; i++) ga[i] += g;
}

mvae_tensor *mvae_sum_all(mvae_ctx *ctx, mvae_tensor *a) {
    return reduce_all(ctx, "sum_all", MVAE_OP_SUM_ALL, a, false);
}
void mvae_bw_sum_all(mvae_ctx *ctx, mvae_tensor *out) { reduce_all_bwd(ctx, out, false); }
mvae_tensor *mvae_mean_all(mvae_ctx *ctx, mvae_tensor *a) {
    return reduce_all(ctx, "mean_all", MVAE_OP_MEAN_ALL, a, true);
}
void mvae_bw_mean_all(mvae_ctx *ctx, mvae_tensor *out) { reduce_all_bwd(ctx, out, true); }

/* ---------------------------------------------------------------------------------------------
 * reshape: same elements, new shape (one entry may be -1). The data is copied (a memcpy) so the
 * output owns its buffer like every other op output.
 * ------------------------------------------------------------------------------------------- */
mvae_tensor *mvae_reshape(mvae_ctx *ctx, mvae_tensor *a, int ndim, const int64_t *shape) {
    MVAE_CHECK_INPUT(ctx, "reshape", a);
    MVAE_CHECK_F32(ctx, "reshape", a);
    char sa[MVAE_SHAPE_STR_LEN];
    if (ndim < 1 || ndim > MVAE_MAX_DIMS || !shape)
        return mvae_ctx_fail(ctx, "reshape: a %s: new ndim %d out of range 1..%d", MVAE_SHP(a, sa),
                             ndim, MVAE_MAX_DIMS);
    int64_t s[MVAE_MAX_DIMS], known = 1;
    int infer = -1;
    for (int d = 0; d < ndim; d++) {
        s[d] = shape[d];
        if (s[d] == -1 && infer < 0)
            infer = d;
        else if (s[d] < 1)
            return mvae_ctx_fail(ctx, "reshape: a %s: bad size %lld at dim %d of the new shape "
                                      "(sizes must be >= 1, one may be -1)",
                                 MVAE_SHP(a, sa), (long long)s[d], d);
        else
            known *= s[d];
    }
    if (infer >= 0) {
        if (a->n % known != 0)
            return mvae_ctx_fail(ctx, "reshape: a %s (%lld elements) cannot be split into blocks of %lld",
                                 MVAE_SHP(a, sa), (long long)a->n, (long long)known);
        s[infer] = a->n / known;
        known *= s[infer];
    }
    if (known != a->n) {
        char ns[MVAE_SHAPE_STR_LEN];
        mvae_tensor tmp = {.ndim = ndim};
        for (int d = 0; d < ndim; d++) tmp.shape[d] = s[d];
        return mvae_ctx_fail(ctx, "reshape: a %s (%lld elements) and new shape %s (%lld elements) differ",
                             MVAE_SHP(a, sa), (long long)a->n, MVAE_SHP(&tmp, ns), (long long)known);
    }
    return mvae_op_output_view(ctx, MVAE_OP_RESHAPE, ndim, s, a); /* shares a's data */
}
void mvae_bw_reshape(mvae_ctx *ctx, mvae_tensor *out) {
    if (out->flags & MVAE_T_GRAD_ALIAS) return; /* its writers wrote the source's gradient */
    float *ga = mvae_grad(ctx, out->src[0]);
    if (!ga) return;
    const float *g = out->grad;
    for (int64_t i = 0; i < out->n; i++) ga[i] += g[i];
}

/* ---------------------------------------------------------------------------------------------
 * permute: out.shape[i] = a.shape[perm[i]]; perm in ip[0..ndim-1].
 * ------------------------------------------------------------------------------------------- */
/* For each output dim, the element stride in a (4 dims, unused dims size 1 / stride 0). */
static void permute_plan(const mvae_tensor *a, const int32_t *perm, int64_t os[MVAE_MAX_DIMS],
                         int64_t st[MVAE_MAX_DIMS]) {
    int64_t as[MVAE_MAX_DIMS], s = 1;
    for (int d = a->ndim - 1; d >= 0; d--) {
        as[d] = s;
        s *= a->shape[d];
    }
    int off = MVAE_MAX_DIMS - a->ndim;
    for (int d = 0; d < MVAE_MAX_DIMS; d++) {
        if (d < off) {
            os[d] = 1;
            st[d] = 0;
        } else {
            os[d] = a->shape[perm[d - off]];
            st[d] = as[perm[d - off]];
        }
    }
}

mvae_tensor *mvae_permute(mvae_ctx *ctx, mvae_tensor *a, const int *perm) {
    MVAE_CHECK_INPUT(ctx, "permute", a);
    MVAE_CHECK_F32(ctx, "permute", a);
    char sa[MVAE_SHAPE_STR_LEN];
    if (!perm) return mvae_ctx_fail(ctx, "permute: a %s: perm is NULL", MVAE_SHP(a, sa));
    int seen[MVAE_MAX_DIMS] = {0};
    int64_t shape[MVAE_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        if (perm[d] < 0 || perm[d] >= a->ndim || seen[perm[d]])
            return mvae_ctx_fail(ctx, "permute: a %s: perm[%d] = %d is not a permutation of 0..%d",
                                 MVAE_SHP(a, sa), d, perm[d], a->ndim - 1);
        seen[perm[d]] = 1;
        shape[d] = a->shape[perm[d]];
    }
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_PERMUTE, a->ndim, shape, a, NULL, NULL, NULL);
    if (!out) return NULL;
    for (int d = 0; d < a->ndim; d++) out->ip[d] = perm[d];
    int64_t os[MVAE_MAX_DIMS], st[MVAE_MAX_DIMS], o = 0;
    permute_plan(a, out->ip, os, st);
    const float *x = a->data;
    float *y = out->data;
    for (int64_t i0 = 0; i0 < os[0]; i0++)
        for (int64_t i1 = 0; i1 < os[1]; i1++)
            for (int64_t i2 = 0; i2 < os[2]; i2++) {
                const float *xs = x + i0 * st[0] + i1 * st[1] + i2 * st[2];
                for (int64_t i3 = 0; i3 < os[3]; i3++) y[o++] = xs[i3 * st[3]];
            }
    return out;
}
void mvae_bw_permute(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *a = out->src[0];
    float *ga = mvae_grad(ctx, a);
    if (!ga) return;
    int64_t os[MVAE_MAX_DIMS], st[MVAE_MAX_DIMS], o = 0;
    permute_plan(a, out->ip, os, st);
    const float *g = out->grad;
    for (int64_t i0 = 0; i0 < os[0]; i0++)
        for (int64_t i1 = 0; i1 < os[1]; i1++)
            for (int64_t i2 = 0; i2 < os[2]; i2++) {
                float *d = ga + i0 * st[0] + i1 * st[1] + i2 * st[2];
                for (int64_t i3 = 0; i3 < os[3]; i3++) d[i3 * st[3]] += g[o++];
            }
}

mvae_tensor *mvae_transpose(mvae_ctx *ctx, mvae_tensor *a, int d0, int d1) {
    MVAE_CHECK_INPUT(ctx, "transpose", a);
    int x0 = norm_axis(d0, a->ndim), x1 = norm_axis(d1, a->ndim);
    if (x0 < 0 || x1 < 0) {
        char sa[MVAE_SHAPE_STR_LEN];
        return mvae_ctx_fail(ctx, "transpose: a %s: dims %d and %d out of range for %d dims",
                             MVAE_SHP(a, sa), d0, d1, a->ndim);
    }
    int perm[MVAE_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) perm[d] = d;
    perm[x0] = x1;
    perm[x1] = x0;
    return mvae_permute(ctx, a, perm);
}

/* ---------------------------------------------------------------------------------------------
 * concat: n <= 4 inputs in src[0..n-1], ip[0] = n, ip[1] = axis. View every input as
 * [outer, K_t, inner]; the output row o is the inputs' rows o laid end to end.
 * ------------------------------------------------------------------------------------------- */
mvae_tensor *mvae_concat(mvae_ctx *ctx, int n, mvae_tensor **ts, int axis) {
    if (n < 1 || n > 4 || !ts)
        return mvae_ctx_fail(ctx, "concat: n = %d tensors, expected 1..4 per call", n);
    for (int t = 0; t < n; t++) {
        if (!ts[t]) {
            if (!mvae_ctx_failed(ctx)) mvae_ctx_fail(ctx, "concat: input %d is NULL", t);
            return NULL;
        }
        if (ts[t]->dtype != MVAE_F32)
            return mvae_ctx_fail(ctx, "concat: input %d must be float32, got int32", t);
    }
    mvae_tensor *a = ts[0];
    char sa[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
    int ax = norm_axis(axis, a->ndim);
    if (ax < 0)
        return mvae_ctx_fail(ctx, "concat: input 0 %s: axis %d out of range for %d dims",
                             MVAE_SHP(a, sa), axis, a->ndim);
    int64_t shape[MVAE_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) shape[d] = a->shape[d];
    for (int t = 1; t < n; t++) {
        mvae_tensor *b = ts[t];
        bool ok = b->ndim == a->ndim;
        for (int d = 0; ok && d < a->ndim; d++)
            if (d != ax && b->shape[d] != a->shape[d]) ok = false;
        if (!ok)
            return mvae_ctx_fail(ctx, "concat: input 0 %s and input %d %s: shapes must match except "
                                      "along axis %d",
                                 MVAE_SHP(a, sa), t, MVAE_SHP(b, sb), ax);
        shape[ax] += b->shape[ax];
    }
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_CONCAT, a->ndim, shape, ts[0], n > 1 ? ts[1] : NULL,
                                      n > 2 ? ts[2] : NULL, n > 3 ? ts[3] : NULL);
    if (!out) return NULL;
    out->ip[0] = n;
    out->ip[1] = ax;
    int64_t outer, Ktot, inner;
    axis_split(out, ax, &outer, &Ktot, &inner);
    for (int64_t o = 0; o < outer; o++) {
        float *y = out->data + o * Ktot * inner;
        for (int t = 0; t < n; t++) {
            int64_t blk = ts[t]->shape[ax] * inner;
            memcpy(y, ts[t]->data + o * blk, (size_t)blk * sizeof(float));
            y += blk;
        }
    }
    return out;
}
void mvae_bw_concat(mvae_ctx *ctx, mvae_tensor *out) {
    int n = out->ip[0], ax = out->ip[1];
    int64_t outer, Ktot, inner;
    axis_split(out, ax, &outer, &Ktot, &inner);
    int64_t off = 0; /* offset of input t's block inside an output row */
    for (int t = 0; t < n; t++) {
        mvae_tensor *src = out->src[t];
        int64_t blk = src->shape[ax] * inner;
        float *gs = mvae_grad(ctx, src);
        if (gs)
            for (int64_t o = 0; o < outer; o++) {
                const float *g = out->grad + o * Ktot * inner + off;
                float *d = gs + o * blk;
                for (int64_t j = 0; j < blk; j++) d[j] += g[j];
            }
        off += blk;
    }
}

/* ---------------------------------------------------------------------------------------------
 * slice: a[..., start:end, ...] along axis; ip[0] = axis, ip[1] = start. Negative start/end count
 * from the end (Python style); the range must be non-empty.
 * ------------------------------------------------------------------------------------------- */
mvae_tensor *mvae_slice(mvae_ctx *ctx, mvae_tensor *a, int axis, int64_t start, int64_t end) {
    MVAE_CHECK_INPUT(ctx, "slice", a);
    MVAE_CHECK_F32(ctx, "slice", a);
    char sa[MVAE_SHAPE_STR_LEN];
    int ax = norm_axis(axis, a->ndim);
    if (ax < 0)
        return mvae_ctx_fail(ctx, "slice: a %s: axis %d out of range for %d dims", MVAE_SHP(a, sa),
                             axis, a->ndim);
    int64_t K = a->shape[ax];
    int64_t s = start < 0 ? start + K : start, e = end < 0 ? end + K : end;
    if (s < 0 || e > K || s >= e)
        return mvae_ctx_fail(ctx, "slice: a %s: range %lld:%lld along axis %d (size %lld) is empty or "
                                  "out of bounds",
                             MVAE_SHP(a, sa), (long long)start, (long long)end, ax, (long long)K);
    int64_t shape[MVAE_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) shape[d] = a->shape[d];
    shape[ax] = e - s;
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_SLICE, a->ndim, shape, a, NULL, NULL, NULL);
    if (!out) return NULL;
    out->ip[0] = ax;
    out->ip[1] = (int32_t)s;
    int64_t outer, Kd, inner;
    axis_split(a, ax, &outer, &Kd, &inner);
    int64_t blk = (e - s) * inner;
    for (int64_t o = 0; o < outer; o++)
        memcpy(out->data + o * blk, a->data + (o * K + s) * inner, (size_t)blk * sizeof(float));
    return out;
}
void mvae_bw_slice(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *a = out->src[0];
    float *ga = mvae_grad(ctx, a);
    if (!ga) return;
    int ax = out->ip[0];
    int64_t s = out->ip[1];
    int64_t outer, K, inner;
    axis_split(a, ax, &outer, &K, &inner);
    int64_t blk = out->shape[ax] * inner;
    for (int64_t o = 0; o < outer; o++) {
        const float *g = out->grad + o * blk;
        float *d = ga + (o * K + s) * inner;
        for (int64_t j = 0; j < blk; j++) d[j] += g[j];
    }
}

/* ---------------------------------------------------------------------------------------------
 * gather: table [V, D], idx I32 shape S (ndim <= 3) -> [S..., D]; src[0] = table, src[1] = idx.
 * ------------------------------------------------------------------------------------------- */
mvae_tensor *mvae_gather(mvae_ctx *ctx, mvae_tensor *table, mvae_tensor *idx) {
    MVAE_CHECK_INPUT(ctx, "gather", table);
    MVAE_CHECK_INPUT(ctx, "gather", idx);
    char st[MVAE_SHAPE_STR_LEN], si[MVAE_SHAPE_STR_LEN];
    if (table->dtype != MVAE_F32)
        return mvae_ctx_fail(ctx, "gather: table %s must be float32, got int32", MVAE_SHP(table, st));
    if (idx->dtype != MVAE_I32)
        return mvae_ctx_fail(ctx, "gather: idx %s must be int32 (MVAE_I32), got float32",
                             MVAE_SHP(idx, si));
    if (table->ndim != 2)
        return mvae_ctx_fail(ctx, "gather: table %s and idx %s: table must be 2-D [V,D]",
                             MVAE_SHP(table, st), MVAE_SHP(idx, si));
    if (idx->ndim > MVAE_MAX_DIMS - 1)
        return mvae_ctx_fail(ctx, "gather: table %s and idx %s: idx may have at most %d dims",
                             MVAE_SHP(table, st), MVAE_SHP(idx, si), MVAE_MAX_DIMS - 1);
    int64_t V = table->shape[0], D = table->shape[1];
    const int32_t *ix = mvae_i32(idx);
    for (int64_t i = 0; i < idx->n; i++)
        if (ix[i] < 0 || ix[i] >= V)
            return mvae_ctx_fail(ctx, "gather: table %s and idx %s: index %d at position %lld is out "
                                      "of range [0,%lld) (V = %lld)",
                                 MVAE_SHP(table, st), MVAE_SHP(idx, si), (int)ix[i], (long long)i,
                                 (long long)V, (long long)V);
    int64_t shape[MVAE_MAX_DIMS];
    for (int d = 0; d < idx->ndim; d++) shape[d] = idx->shape[d];
    shape[idx->ndim] = D;
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_GATHER, idx->ndim + 1, shape, table, idx, NULL, NULL);
    if (!out) return NULL;
    for (int64_t i = 0; i < idx->n; i++)
        memcpy(out->data + i * D, table->data + (int64_t)ix[i] * D, (size_t)D * sizeof(float));
    return out;
}
void mvae_bw_gather(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *table = out->src[0], *idx = out->src[1];
    float *gt = mvae_grad(ctx, table);
    if (!gt) return;
    int64_t D = table->shape[1];
    const int32_t *ix = mvae_i32(idx);
    for (int64_t i = 0; i < idx->n; i++) {
        const float *g = out->grad + i * D;
        float *d = gt + (int64_t)ix[i] * D;
        for (int64_t j = 0; j < D; j++) d[j] += g[j];
    }
}
