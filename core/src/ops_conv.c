/* ops_conv.c — conv2d and conv_transpose2d (im2col + GEMM), batchnorm, dropout.
 *
 * Convolutions run a chunk of samples at a time: the chunk's columns sit side by side in one
 * [C*kh*kw, nb*Ho*Wo] matrix, so each GEMM has nb*Ho*Wo (about CONV_CHUNK_COLS) columns instead
 * of the 49..196 of one sample. That keeps the GEMM kernel near its peak, lets mvae's GEMM threads
 * share the work, and bounds the scratch to a few MiB of arena whatever the batch size.
 * Backward recomputes the columns instead of saving them, so a conv layer keeps no scratch alive
 * between forward and backward. The bias is added while the GEMM's output is scattered back to
 * [B,O,Ho,Wo]. The naive nested-loop references these kernels are tested against live in
 * tests/test_ops_conv.c.
 */
#include "ops_internal.h"

#include "gemm_internal.h"
#include <math.h>
#include <string.h>

/* ---- im2col / col2im ------------------------------------------------------------------------- */

/* Columns per GEMM: a chunk of nb samples gives nb*P columns. 1024 keeps the micro-kernel fed
 * (the MVAE CNN step ran as fast as with 2048 within the machine's noise) and the column scratch
 * at K*1024 floats (4 MiB for K = 1024; 2048 cost 6.6 MiB more peak RSS in training). */
#define CONV_CHUNK_COLS 1024

static int64_t conv_chunk(int64_t B, int64_t P) {
    int64_t nb = CONV_CHUNK_COLS / P;
    return nb < 1 ? 1 : (nb > B ? B : nb);
}

/* The output columns ox whose input column ix = ox*s - p + j lies in [0, W): [lo, hi). */
static inline void valid_range(int W, int s, int p, int j, int ow, int *lo, int *hi) {
    int l = p - j > 0 ? (p - j + s - 1) / s : 0;  /* first ox with ix >= 0 */
    int h = (W - 1 + p - j) >= 0 ? (W - 1 + p - j) / s + 1 : 0; /* one past the last with ix < W */
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* img [C,H,W] -> col [C*kh*kw, oh*ow] with row stride ld (>= oh*ow):
 * col[(c*kh + i)*kw + j, oy*ow + ox] = img[c, oy*s - p + i, ox*s - p + j] (0 outside).
 * The in-range output columns of each (j) are computed once, so the copy loop has no branch. */
static void im2col(const float *img, int C, int H, int W, int kh, int kw, int s, int p, int oh,
                   int ow, float *col, int64_t ld) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *row = col + ((int64_t)(c * kh + i) * kw + j) * ld;
                int lo, hi;
                valid_range(W, s, p, j, ow, &lo, &hi);
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + i;
                    float *dst = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= H) {
                        memset(dst, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *src = img + ((size_t)c * H + iy) * W;
                    const int off = j - p; /* ix = ox * s + off */
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (s == 1)
                        memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox * s + off];
                    for (int ox = hi; ox < ow; ox++) dst[ox] = 0.0f;
                }
            }
}

/* The adjoint of im2col: img [C,H,W] += scatter of col [C*kh*kw, oh*ow] (row stride ld). */
static void col2im_add(const float *col, int C, int H, int W, int kh, int kw, int s, int p, int oh,
                       int ow, float *img, int64_t ld) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *row = col + ((int64_t)(c * kh + i) * kw + j) * ld;
                int lo, hi;
                valid_range(W, s, p, j, ow, &lo, &hi);
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + i;
                    if (iy < 0 || iy >= H) continue;
                    const float *src = row + (size_t)oy * ow;
                    float *dst = img + ((size_t)c * H + iy) * W;
                    const int off = j - p;
                    if (s == 1)
                        for (int ox = lo; ox < hi; ox++) dst[ox + off] += src[ox];
                    else
                        for (int ox = lo; ox < hi; ox++) dst[ox * s + off] += src[ox];
                }
            }
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* Narrow images (W <= 32, ow <= 16: every layer of the MVAE's 28x28 networks) take a vector path:
 * an input row is two zmm registers, and each kernel column j's output row is one permute of
 * them (im2col) or each output row adds into them through the inverse permute (col2im). Same
 * values as the scalar loops, in the same order of additions. */
#define NARROW_MAX_KW 16
static bool narrow_ok(int W, int ow, int kw) { return W <= 32 && ow <= 16 && kw <= NARROW_MAX_KW; }

static __mmask16 mask_first(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

static void im2col_narrow(const float *img, int C, int H, int W, int kh, int kw, int s, int p, int oh,
                          int ow, float *col, int64_t ld) {
    __m512i idx[NARROW_MAX_KW];
    __mmask16 val[NARROW_MAX_KW];
    for (int j = 0; j < kw; j++) {
        int lo, hi, t[16];
        valid_range(W, s, p, j, ow, &lo, &hi);
        for (int ox = 0; ox < 16; ox++) {
            int ix = ox * s + j - p;
            t[ox] = ix < 0 ? 0 : ix > 31 ? 31 : ix;
        }
        idx[j] = _mm512_loadu_si512(t);
        val[j] = mask_first(hi) & (__mmask16)~mask_first(lo);
    }
    const __mmask16 mlo = mask_first(W), mhi = mask_first(W - 16), mo = mask_first(ow);
    const __m512 zero = _mm512_setzero_ps();
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int oy = 0; oy < oh; oy++) {
                int iy = oy * s - p + i;
                float *dst = col + (int64_t)(c * kh + i) * kw * ld + (int64_t)oy * ow;
                if (iy < 0 || iy >= H) {
                    for (int j = 0; j < kw; j++) _mm512_mask_storeu_ps(dst + j * ld, mo, zero);
                    continue;
                }
                const float *src = img + ((size_t)c * H + iy) * W;
                __m512 a = _mm512_maskz_loadu_ps(mlo, src), b = _mm512_maskz_loadu_ps(mhi, src + 16);
                for (int j = 0; j < kw; j++)
                    _mm512_mask_storeu_ps(dst + j * ld, mo, _mm512_maskz_permutex2var_ps(val[j], a, idx[j], b));
            }
}

static void col2im_narrow(const float *col, int C, int H, int W, int kh, int kw, int s, int p, int oh,
                          int ow, float *img, int64_t ld) {
    __m512i inv[2][NARROW_MAX_KW]; /* image column q (0..15, 16..31) <- output column ox */
    __mmask16 hit[2][NARROW_MAX_KW];
    for (int j = 0; j < kw; j++) {
        int lo, hi;
        valid_range(W, s, p, j, ow, &lo, &hi);
        for (int h = 0; h < 2; h++) {
            int t[16];
            unsigned m = 0;
            for (int q = 0; q < 16; q++) {
                int d = 16 * h + q - (j - p); /* = ox * s */
                t[q] = 0;
                if (16 * h + q < W && d >= 0 && d % s == 0 && d / s >= lo && d / s < hi) {
                    t[q] = d / s;
                    m |= 1u << q;
                }
            }
            inv[h][j] = _mm512_loadu_si512(t);
            hit[h][j] = (__mmask16)m;
        }
    }
    const __mmask16 mlo = mask_first(W), mhi = mask_first(W - 16), mo = mask_first(ow);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int oy = 0; oy < oh; oy++) {
                int iy = oy * s - p + i;
                if (iy < 0 || iy >= H) continue;
                float *dst = img + ((size_t)c * H + iy) * W;
                const float *src = col + (int64_t)(c * kh + i) * kw * ld + (int64_t)oy * ow;
                __m512 a = _mm512_maskz_loadu_ps(mlo, dst), b = _mm512_maskz_loadu_ps(mhi, dst + 16);
                for (int j = 0; j < kw; j++) {
                    __m512 v = _mm512_maskz_loadu_ps(mo, src + j * ld);
                    a = _mm512_mask_add_ps(a, hit[0][j], a, _mm512_permutexvar_ps(inv[0][j], v));
                    b = _mm512_mask_add_ps(b, hit[1][j], b, _mm512_permutexvar_ps(inv[1][j], v));
                }
                _mm512_mask_storeu_ps(dst, mlo, a);
                _mm512_mask_storeu_ps(dst + 16, mhi, b);
            }
}
#endif

/* im2col / col2im_add of the samples of a chunk, split between the GEMM threads (each sample
 * writes its own columns / its own image). Image j is img + (n0 + j) * img_stride, its columns
 * start at column j * P of a matrix with row stride ld. */
typedef struct col_job {
    const float *src; /* im2col: images; col2im: columns */
    float *dst;       /* im2col: columns; col2im: images */
    int C, H, W, kh, kw, s, p, oh, ow;
    int64_t n0, img_stride, P, ld;
} col_job;

static void im2col_task(void *arg, int begin, int end) {
    const col_job *c = arg;
#if defined(__AVX512F__)
    if (narrow_ok(c->W, c->ow, c->kw)) {
        for (int j = begin; j < end; j++)
            im2col_narrow(c->src + (c->n0 + j) * c->img_stride, c->C, c->H, c->W, c->kh, c->kw, c->s, c->p, c->oh,
                          c->ow, c->dst + j * c->P, c->ld);
        return;
    }
#endif
    for (int j = begin; j < end; j++)
        im2col(c->src + (c->n0 + j) * c->img_stride, c->C, c->H, c->W, c->kh, c->kw, c->s, c->p, c->oh, c->ow,
               c->dst + j * c->P, c->ld);
}

static void col2im_task(void *arg, int begin, int end) {
    const col_job *c = arg;
#if defined(__AVX512F__)
    if (narrow_ok(c->W, c->ow, c->kw)) {
        for (int j = begin; j < end; j++)
            col2im_narrow(c->src + j * c->P, c->C, c->H, c->W, c->kh, c->kw, c->s, c->p, c->oh, c->ow,
                          c->dst + (c->n0 + j) * c->img_stride, c->ld);
        return;
    }
#endif
    for (int j = begin; j < end; j++)
        col2im_add(c->src + j * c->P, c->C, c->H, c->W, c->kh, c->kw, c->s, c->p, c->oh, c->ow,
                   c->dst + (c->n0 + j) * c->img_stride, c->ld);
}

/* chunk [R, m*P] <- samples n0..n0+m-1 of t [B,R,P] (sample j's block at column j*P) */
static void gather_chunk(float *chunk, const float *t, int64_t n0, int64_t m, int64_t R, int64_t P) {
    int64_t L = m * P;
    for (int64_t j = 0; j < m; j++)
        for (int64_t r = 0; r < R; r++)
            memcpy(chunk + r * L + j * P, t + ((n0 + j) * R + r) * P, (size_t)P * sizeof(float));
}

/* t [B,R,P] (samples n0..n0+m-1) = chunk [R, m*P] + bias[r] (accumulate: += instead of =) */
static void scatter_chunk(float *t, const float *chunk, const float *bias, bool accumulate, int64_t n0,
                          int64_t m, int64_t R, int64_t P) {
    int64_t L = m * P;
    for (int64_t j = 0; j < m; j++)
        for (int64_t r = 0; r < R; r++) {
            const float *src = chunk + r * L + j * P;
            float *dst = t + ((n0 + j) * R + r) * P;
            float b = bias ? bias[r] : 0.0f;
            if (accumulate)
                for (int64_t k = 0; k < P; k++) dst[k] += src[k];
            else
                for (int64_t k = 0; k < P; k++) dst[k] = src[k] + b;
        }
}

/* out [B,O,P] += b[o] for every (b, p) */
static void fill_bias(float *out, const float *bias, int64_t B, int64_t O, int64_t P) {
    for (int64_t n = 0; n < B; n++)
        for (int64_t o = 0; o < O; o++) {
            float *dst = out + (n * O + o) * P;
            float v = bias ? bias[o] : 0.0f;
            for (int64_t k = 0; k < P; k++) dst[k] = v;
        }
}

/* gb[o] += sum over (b, p) of G [B,O,P] */
static void bias_grad(float *gb, const float *G, int64_t B, int64_t O, int64_t P) {
    for (int64_t n = 0; n < B; n++)
        for (int64_t o = 0; o < O; o++) {
            const float *g = G + (n * O + o) * P;
            double s = 0;
            for (int64_t k = 0; k < P; k++) s += g[k];
            gb[o] += (float)s;
        }
}

/* Shared argument checks of the two convolutions. w_in is the weight dim that must equal x's
 * channels (0 for conv_transpose2d's [C,O,kh,kw], 1 for conv2d's [O,C,kh,kw]). */
static bool conv_check(mvae_ctx *ctx, const char *op, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                       int w_in, int stride, int pad) {
    char sx[MVAE_SHAPE_STR_LEN], sw[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
    if (x->dtype != MVAE_F32 || w->dtype != MVAE_F32 || (b && b->dtype != MVAE_F32)) {
        mvae_ctx_fail(ctx, "%s: x, w and b must be float32", op);
        return false;
    }
    if (x->ndim != 4 || w->ndim != 4) {
        mvae_ctx_fail(ctx, "%s: x %s and w %s must both be 4-D (x [B,C,H,W], w %s)", op,
                      MVAE_SHP(x, sx), MVAE_SHP(w, sw), w_in ? "[O,C,kh,kw]" : "[C,O,kh,kw]");
        return false;
    }
    if (x->shape[1] != w->shape[w_in]) {
        mvae_ctx_fail(ctx, "%s: x %s and w %s: channels differ (%lld vs %lld)", op, MVAE_SHP(x, sx),
                      MVAE_SHP(w, sw), (long long)x->shape[1], (long long)w->shape[w_in]);
        return false;
    }
    int64_t O = w->shape[1 - w_in];
    if (b && (b->ndim != 1 || b->shape[0] != O)) {
        mvae_ctx_fail(ctx, "%s: bias %s does not match w %s (expected [%lld])", op, MVAE_SHP(b, sb),
                      MVAE_SHP(w, sw), (long long)O);
        return false;
    }
    if (stride < 1 || pad < 0) {
        mvae_ctx_fail(ctx, "%s: x %s, w %s: stride %d must be >= 1 and pad %d >= 0", op,
                      MVAE_SHP(x, sx), MVAE_SHP(w, sw), stride, pad);
        return false;
    }
    return true;
}

/* ---- conv2d ---------------------------------------------------------------------------------- */

/* act(x) [B,C,H,W], w [O,C,kh,kw], b [O] -> [B,O,Ho,Wo]; ip = {stride, pad, -, act}. With an
 * activation, each chunk's act(x) is computed into scratch just before its im2col. */
mvae_tensor *mvae_conv2d_act(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b, int stride,
                             int pad, int act) {
    MVAE_CHECK_INPUT(ctx, "conv2d", x);
    MVAE_CHECK_INPUT(ctx, "conv2d", w);
    if (!conv_check(ctx, "conv2d", x, w, b, 1, stride, pad)) return NULL;
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    char sx[MVAE_SHAPE_STR_LEN], sw[MVAE_SHAPE_STR_LEN];
    if (H + 2 * pad < kh || W + 2 * pad < kw)
        return mvae_ctx_fail(ctx, "conv2d: x %s and w %s: kernel larger than the padded input (pad %d)",
                             MVAE_SHP(x, sx), MVAE_SHP(w, sw), pad);
    if (!mvae_act_valid(act))
        return mvae_ctx_fail(ctx, "conv2d: x %s: unknown input activation %d", MVAE_SHP(x, sx), act);
    int64_t Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_CONV2D, 4, (int64_t[]){B, O, Ho, Wo}, x, w, b, NULL);
    if (!out) return NULL;
    out->ip[0] = stride;
    out->ip[1] = pad;
    out->ip[3] = act;
    int64_t K = C * kh * kw, P = Ho * Wo, nb = conv_chunk(B, P), CHW = C * H * W;
    size_t xa_n = act != MVAE_ACT_NONE ? (size_t)(nb * CHW) : 0;
    float *col = mvae_ctx_scratch(ctx, ((size_t)((K + O) * nb * P) + xa_n) * sizeof(float)), *res = col + K * nb * P;
    float *xa = res + O * nb * P;
    for (int64_t n0 = 0; n0 < B; n0 += nb) {
        int64_t m = B - n0 < nb ? B - n0 : nb, L = m * P;
        col_job cj = {x->data, col, (int)C, (int)H, (int)W, (int)kh, (int)kw, stride, pad, (int)Ho, (int)Wo,
                      n0, CHW, P, L};
        if (act != MVAE_ACT_NONE) {
            mvae_act_apply(act, x->data + n0 * CHW, xa, m * CHW);
            cj.src = xa;
            cj.n0 = 0;
        }
        mvae_parallel_for((int)m, 1, im2col_task, &cj);
        /* res [O, m*P] = w [O,K] col [K, m*P] */
        mvae_sgemm(0, 0, (int)O, (int)L, (int)K, 1.0f, w->data, (int)K, col, (int)L, 0.0f, res, (int)L);
        scatter_chunk(out->data, res, b ? b->data : NULL, false, n0, m, O, P);
    }
    return out;
}

mvae_tensor *mvae_conv2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b, int stride, int pad) {
    return mvae_conv2d_act(ctx, x, w, b, stride, pad, MVAE_ACT_NONE);
}

void mvae_bw_conv2d(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *w = out->src[1], *b = out->src[2];
    int stride = out->ip[0], pad = out->ip[1], act = out->ip[3];
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    int64_t Ho = out->shape[2], Wo = out->shape[3], K = C * kh * kw, P = Ho * Wo, CHW = C * H * W;
    const float *G = out->grad, *xv = x->data; /* [B,O,P]; x's values */
    bool fused = act != MVAE_ACT_NONE;
    bool wfresh, xfresh = false; /* a zeroed weight gradient: the first chunk's GEMM overwrites it */
    /* fused: each chunk of x is read (act, act') before the chunk's dx is stored, so dx may take
     * x's block (mvae_grad_in_place); plain (or x == w, whose two gradients share a block): col2im
     * adds onto a zeroed dx */
    float *gx = fused && x != w ? mvae_grad_in_place(ctx, x, &xfresh) : mvae_grad(ctx, x);
    float *gw = mvae_grad_fresh(ctx, w, &wfresh), *gb = b ? mvae_grad(ctx, b) : NULL;
    if (gb) bias_grad(gb, G, B, O, P);
    if (!gx && !gw) return;
    if (gw && wfresh && B == 0) memset(gw, 0, (size_t)w->n * sizeof(float)); /* no chunk writes it */
    int64_t nb = conv_chunk(B, P);
    /* with an activation: xa = act(x) of the chunk (im2col's source), then d(act x); d = act'(x) */
    size_t xa_n = fused ? (size_t)(nb * CHW) * (gx ? 2 : 1) : 0;
    float *col = mvae_ctx_scratch(ctx, ((size_t)((K + O) * nb * P) + xa_n) * sizeof(float)), *g = col + K * nb * P;
    float *xa = g + O * nb * P, *d = fused && gx ? xa + nb * CHW : NULL;
    for (int64_t n0 = 0; n0 < B; n0 += nb) {
        int64_t m = B - n0 < nb ? B - n0 : nb, L = m * P;
        gather_chunk(g, G, n0, m, O, P); /* g [O, m*P] */
        col_job cj = {xv, col, (int)C, (int)H, (int)W, (int)kh, (int)kw, stride, pad, (int)Ho, (int)Wo,
                      n0, CHW, P, L};
        if (fused) {
            mvae_act_apply_deriv(act, xv + n0 * CHW, xa, d, m * CHW);
            cj.src = xa;
            cj.n0 = 0;
        }
        if (gw) { /* dW [O,K] += g [O, m*P] col^T [m*P, K] */
            mvae_parallel_for((int)m, 1, im2col_task, &cj);
            mvae_sgemm(0, 1, (int)O, (int)K, (int)L, 1.0f, g, (int)L, col, (int)L, wfresh && n0 == 0 ? 0.0f : 1.0f,
                       gw, (int)K);
        }
        if (gx) { /* dcol [K, m*P] = w^T [K,O] g [O, m*P], scattered back onto each dx_b */
            mvae_sgemm(1, 0, (int)K, (int)L, (int)O, 1.0f, w->data, (int)K, g, (int)L, 0.0f, col, (int)L);
            cj.src = col;
            cj.dst = gx;
            if (fused) { /* onto d(act x) of the chunk, then dx += d(act x) act'(x) */
                memset(xa, 0, (size_t)(m * CHW) * sizeof(float));
                cj.dst = xa;
            }
            mvae_parallel_for((int)m, 1, col2im_task, &cj);
            if (fused) mvae_act_mul_deriv(xa, d, gx + n0 * CHW, m * CHW, !xfresh);
        }
    }
}

/* ---- conv_transpose2d ------------------------------------------------------------------------ */

/* The adjoint of conv2d: x [B,C,H,W], w [C,O,kh,kw], b [O] -> [B,O,Ho,Wo] with
 * Ho = (H-1)s - 2p + kh + output_pad, of act(x) (applied to each gathered chunk). ip = {stride,
 * pad, output_pad, act} */
mvae_tensor *mvae_conv_transpose2d_act(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                                       int stride, int pad, int output_pad, int act) {
    MVAE_CHECK_INPUT(ctx, "conv_transpose2d", x);
    MVAE_CHECK_INPUT(ctx, "conv_transpose2d", w);
    if (!conv_check(ctx, "conv_transpose2d", x, w, b, 0, stride, pad)) return NULL;
    char sx[MVAE_SHAPE_STR_LEN], sw[MVAE_SHAPE_STR_LEN];
    if (output_pad < 0 || output_pad >= stride)
        return mvae_ctx_fail(ctx, "conv_transpose2d: x %s, w %s: output_pad %d must be in [0, stride %d)",
                             MVAE_SHP(x, sx), MVAE_SHP(w, sw), output_pad, stride);
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    int64_t Ho = (H - 1) * stride - 2 * pad + kh + output_pad;
    int64_t Wo = (W - 1) * stride - 2 * pad + kw + output_pad;
    if (Ho < 1 || Wo < 1)
        return mvae_ctx_fail(ctx, "conv_transpose2d: x %s, w %s, stride %d, pad %d: output size %lldx%lld is empty",
                             MVAE_SHP(x, sx), MVAE_SHP(w, sw), stride, pad, (long long)Ho, (long long)Wo);
    if (!mvae_act_valid(act))
        return mvae_ctx_fail(ctx, "conv_transpose2d: x %s: unknown input activation %d", MVAE_SHP(x, sx), act);
    mvae_tensor *out =
        mvae_op_output(ctx, MVAE_OP_CONV_TRANSPOSE2D, 4, (int64_t[]){B, O, Ho, Wo}, x, w, b, NULL);
    if (!out) return NULL;
    out->ip[0] = stride;
    out->ip[1] = pad;
    out->ip[2] = output_pad;
    out->ip[3] = act;
    int64_t Ko = O * kh * kw, P = H * W, Q = Ho * Wo, nb = conv_chunk(B, P);
    float *col = mvae_ctx_scratch(ctx, (size_t)((Ko + C) * nb * P) * sizeof(float)), *xg = col + Ko * nb * P;
    fill_bias(out->data, b ? b->data : NULL, B, O, Q);
    for (int64_t n0 = 0; n0 < B; n0 += nb) {
        int64_t m = B - n0 < nb ? B - n0 : nb, L = m * P;
        gather_chunk(xg, x->data, n0, m, C, P);
        if (act != MVAE_ACT_NONE) mvae_act_apply(act, xg, xg, C * L);
        /* col [Ko, m*P] = w^T [Ko,C] xg [C, m*P], each sample's block scattered onto out_b */
        mvae_sgemm(1, 0, (int)Ko, (int)L, (int)C, 1.0f, w->data, (int)Ko, xg, (int)L, 0.0f, col, (int)L);
        col_job cj = {col, out->data, (int)O, (int)Ho, (int)Wo, (int)kh, (int)kw, stride, pad, (int)H, (int)W,
                      n0, O * Q, P, L};
        mvae_parallel_for((int)m, 1, col2im_task, &cj);
    }
    return out;
}

mvae_tensor *mvae_conv_transpose2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                                   int stride, int pad, int output_pad) {
    return mvae_conv_transpose2d_act(ctx, x, w, b, stride, pad, output_pad, MVAE_ACT_NONE);
}

void mvae_bw_conv_transpose2d(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *w = out->src[1], *b = out->src[2];
    int stride = out->ip[0], pad = out->ip[1], act = out->ip[3];
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    int64_t Ho = out->shape[2], Wo = out->shape[3], Ko = O * kh * kw, P = H * W, Q = Ho * Wo;
    const float *G = out->grad, *xv = x->data; /* [B,O,Q]; x's values */
    bool wfresh, xfresh = false;
    /* each chunk of x is gathered before the chunk's dx is stored: dx may take x's block */
    float *gx = x != w ? mvae_grad_in_place(ctx, x, &xfresh) : mvae_grad(ctx, x);
    if (x == w) xfresh = false; /* one block for both gradients: zeroed, every writer adds */
    float *gw = mvae_grad_fresh(ctx, w, &wfresh);
    float *gb = b ? mvae_grad(ctx, b) : NULL;
    if (gb) bias_grad(gb, G, B, O, Q);
    if (!gx && !gw) return;
    if (gw && wfresh && B == 0) memset(gw, 0, (size_t)w->n * sizeof(float)); /* no chunk writes it */
    int64_t nb = conv_chunk(B, P);
    /* with an activation, xd holds x's chunk, then act'(x) (xg: act(x), then d(act x)) */
    bool fused = act != MVAE_ACT_NONE;
    float *dcol = mvae_ctx_scratch(ctx, (size_t)((Ko + (fused ? 2 : 1) * C) * nb * P) * sizeof(float));
    float *xg = dcol + Ko * nb * P, *xd = fused ? xg + C * nb * P : NULL;
    for (int64_t n0 = 0; n0 < B; n0 += nb) {
        int64_t m = B - n0 < nb ? B - n0 : nb, L = m * P;
        /* dcol [Ko, m*P] = im2col(G_b) per sample: the gradient is a plain convolution of G with w */
        col_job cj = {G, dcol, (int)O, (int)Ho, (int)Wo, (int)kh, (int)kw, stride, pad, (int)H, (int)W,
                      n0, O * Q, P, L};
        mvae_parallel_for((int)m, 1, im2col_task, &cj);
        if (fused) {
            gather_chunk(xd, xv, n0, m, C, P);
            mvae_act_apply_deriv(act, xd, xg, gx ? xd : NULL, C * L); /* in place: element by element */
        }
        if (gw) { /* dW [C,Ko] += act(x)g [C, m*P] dcol^T [m*P, Ko] */
            if (!fused) gather_chunk(xg, xv, n0, m, C, P);
            mvae_sgemm(0, 1, (int)C, (int)Ko, (int)L, 1.0f, xg, (int)L, dcol, (int)L, wfresh && n0 == 0 ? 0.0f : 1.0f,
                       gw, (int)Ko);
        }
        if (gx) { /* dx [C, m*P] = w [C,Ko] dcol [Ko, m*P] (times act'(x)), added onto each dx_b */
            mvae_sgemm(0, 0, (int)C, (int)L, (int)Ko, 1.0f, w->data, (int)Ko, dcol, (int)L, 0.0f, xg, (int)L);
            if (fused) mvae_act_mul_deriv(xg, xd, xg, C * L, false);
            scatter_chunk(gx, xg, NULL, !xfresh, n0, m, C, P);
        }
    }
}

/* ---- batchnorm ------------------------------------------------------------------------------- */

/* aux: float[2C] = {mean[C], invstd[C]}: the statistics the output was normalised with (batch
 * statistics in training, a copy of the running ones in eval). ip[0] = 1 in training. */
mvae_tensor *mvae_batchnorm(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *gamma, mvae_tensor *beta,
                            float *running_mean, float *running_var, float momentum, float eps) {
    MVAE_CHECK_INPUT(ctx, "batchnorm", x);
    MVAE_CHECK_INPUT(ctx, "batchnorm", gamma);
    MVAE_CHECK_INPUT(ctx, "batchnorm", beta);
    MVAE_CHECK_F32(ctx, "batchnorm", x);
    MVAE_CHECK_F32(ctx, "batchnorm", gamma);
    MVAE_CHECK_F32(ctx, "batchnorm", beta);
    char sx[MVAE_SHAPE_STR_LEN], sg[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
    if (x->ndim != 2 && x->ndim != 4)
        return mvae_ctx_fail(ctx, "batchnorm: x %s must be [B,C] or [B,C,H,W]", MVAE_SHP(x, sx));
    int64_t B = x->shape[0], C = x->shape[1], S = x->ndim == 4 ? x->shape[2] * x->shape[3] : 1;
    if (gamma->ndim != 1 || gamma->shape[0] != C || beta->ndim != 1 || beta->shape[0] != C)
        return mvae_ctx_fail(ctx, "batchnorm: x %s, gamma %s and beta %s: expected gamma and beta [%lld]",
                             MVAE_SHP(x, sx), MVAE_SHP(gamma, sg), MVAE_SHP(beta, sb), (long long)C);
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
        return mvae_ctx_fail(ctx, "batchnorm: x %s: eps %g must be > 0 and momentum %g in [0,1]",
                             MVAE_SHP(x, sx), (double)eps, (double)momentum);
    bool training = mvae_ctx_training(ctx);
    int64_t N = B * S; /* values per channel */
    if (training && N < 2)
        return mvae_ctx_fail(ctx, "batchnorm: x %s: training needs more than 1 value per channel",
                             MVAE_SHP(x, sx));
    if (!training && (!running_mean || !running_var))
        return mvae_ctx_fail(ctx, "batchnorm: x %s: eval mode needs running_mean and running_var",
                             MVAE_SHP(x, sx));
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_BATCHNORM, x->ndim, x->shape, x, gamma, beta, NULL);
    if (!out) return NULL;
    float *stats = mvae_ctx_alloc(ctx, (size_t)(2 * C) * sizeof(float));
    float *mean = stats, *invstd = stats + C;
    out->aux = stats;
    out->ip[0] = training;
    out->fp[0] = eps;
    for (int64_t c = 0; c < C; c++) {
        if (training) {
            double s = 0, ss = 0;
            for (int64_t n = 0; n < B; n++) {
                const float *xp = x->data + (n * C + c) * S;
                for (int64_t k = 0; k < S; k++) s += xp[k];
            }
            double m = s / (double)N;
            for (int64_t n = 0; n < B; n++) { /* two passes: no cancellation in the variance */
                const float *xp = x->data + (n * C + c) * S;
                for (int64_t k = 0; k < S; k++) ss += (xp[k] - m) * (xp[k] - m);
            }
            double var = ss / (double)N;
            mean[c] = (float)m;
            invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
            if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)m;
            if (running_var)
                running_var[c] = (1.0f - momentum) * running_var[c] +
                                 momentum * (float)(ss / (double)(N - 1));
        } else {
            mean[c] = running_mean[c];
            invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
        }
    }
    for (int64_t n = 0; n < B; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *xp = x->data + (n * C + c) * S;
            float *yp = out->data + (n * C + c) * S;
            float a = gamma->data[c] * invstd[c], m = mean[c], bt = beta->data[c];
            for (int64_t k = 0; k < S; k++) yp[k] = a * (xp[k] - m) + bt;
        }
    return out;
}

void mvae_bw_batchnorm(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *gamma = out->src[1], *beta = out->src[2];
    const float *stats = out->aux;
    int64_t B = x->shape[0], C = x->shape[1], S = x->ndim == 4 ? x->shape[2] * x->shape[3] : 1;
    int64_t N = B * S;
    bool training = out->ip[0];
    const float *G = out->grad;
    float *gx = mvae_grad(ctx, x), *gg = mvae_grad(ctx, gamma), *gbt = mvae_grad(ctx, beta);
    for (int64_t c = 0; c < C; c++) {
        float m = stats[c], is = stats[C + c];
        double sg = 0, sgx = 0; /* sum g, sum g * xhat */
        for (int64_t n = 0; n < B; n++) {
            const float *gp = G + (n * C + c) * S, *xp = x->data + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++) {
                sg += gp[k];
                sgx += gp[k] * (xp[k] - m) * is;
            }
        }
        if (gbt) gbt[c] += (float)sg;
        if (gg) gg[c] += (float)sgx;
        if (!gx) continue;
        float a = gamma->data[c] * is;
        /* training: dx = gamma*invstd/N * (N g - sum g - xhat sum(g xhat)); eval: affine */
        float mg = training ? (float)(sg / (double)N) : 0.0f;
        float mgx = training ? (float)(sgx / (double)N) : 0.0f;
        for (int64_t n = 0; n < B; n++) {
            const float *gp = G + (n * C + c) * S, *xp = x->data + (n * C + c) * S;
            float *dp = gx + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++) dp[k] += a * (gp[k] - mg - (xp[k] - m) * is * mgx);
        }
    }
}

/* ---- dropout --------------------------------------------------------------------------------- */

/* aux: float mask [n], each 0 or 1/(1-p). Eval mode and p == 0 return x itself. */
mvae_tensor *mvae_dropout(mvae_ctx *ctx, mvae_tensor *x, float p, struct mvae_rng *rng) {
    MVAE_CHECK_INPUT(ctx, "dropout", x);
    MVAE_CHECK_F32(ctx, "dropout", x);
    char sx[MVAE_SHAPE_STR_LEN];
    if (!(p >= 0.0f && p < 1.0f))
        return mvae_ctx_fail(ctx, "dropout: x %s: p = %g must be in [0,1)", MVAE_SHP(x, sx), (double)p);
    if (!mvae_ctx_training(ctx) || p == 0.0f) return x;
    if (!rng) return mvae_ctx_fail(ctx, "dropout: x %s: training mode needs an rng", MVAE_SHP(x, sx));
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_DROPOUT, x->ndim, x->shape, x, NULL, NULL, NULL);
    if (!out) return NULL;
    float *mask = mvae_ctx_alloc(ctx, (size_t)x->n * sizeof(float));
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < x->n; i++) {
        mask[i] = mvae_rng_uniform(rng) < p ? 0.0f : scale;
        out->data[i] = x->data[i] * mask[i];
    }
    out->aux = mask;
    out->fp[0] = p;
    return out;
}

void mvae_bw_dropout(mvae_ctx *ctx, mvae_tensor *out) {
    float *gx = mvae_grad(ctx, out->src[0]);
    if (!gx) return;
    const float *mask = out->aux, *G = out->grad;
    for (int64_t i = 0; i < out->n; i++) gx[i] += G[i] * mask[i];
}
