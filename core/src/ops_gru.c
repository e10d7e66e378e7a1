/* ops_gru.c — one GRU step (PyTorch's GRUCell equations) on two batched sgemms.
 *
 * The op has six inputs but a tensor records four sources: src = {x, h, w_ih, w_hh} and the two
 * biases travel in the aux record. Either bias may be NULL (PyTorch's bias=False).
 */
#include "ops_internal.h"

#include "gemm_internal.h"
#include <math.h>
#include <string.h>

typedef struct gru_aux {
    mvae_tensor *b_ih, *b_hh; /* the bias inputs (src has room for four tensors only) */
    float *r, *z, *n;         /* gates [B,H] */
    float *hn;                /* h W_hn^T + b_hn [B,H], multiplied by r inside n */
} gru_aux;

static mvae_tensor *first_needing_grad(mvae_tensor *const *ts, int k) {
    for (int i = 0; i < k; i++)
        if (mvae_needs_grad(ts[i])) return ts[i];
    return NULL;
}

/* x [B,In], h [B,H], w_ih [3H,In], w_hh [3H,H], b_ih, b_hh [3H] or NULL -> h' [B,H] */
mvae_tensor *mvae_gru_cell(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *h, mvae_tensor *w_ih,
                           mvae_tensor *w_hh, mvae_tensor *b_ih, mvae_tensor *b_hh) {
    MVAE_CHECK_INPUT(ctx, "gru_cell", x);
    MVAE_CHECK_INPUT(ctx, "gru_cell", h);
    MVAE_CHECK_INPUT(ctx, "gru_cell", w_ih);
    MVAE_CHECK_INPUT(ctx, "gru_cell", w_hh);
    MVAE_CHECK_F32(ctx, "gru_cell", x);
    MVAE_CHECK_F32(ctx, "gru_cell", h);
    MVAE_CHECK_F32(ctx, "gru_cell", w_ih);
    MVAE_CHECK_F32(ctx, "gru_cell", w_hh);
    if (b_ih) MVAE_CHECK_F32(ctx, "gru_cell", b_ih);
    if (b_hh) MVAE_CHECK_F32(ctx, "gru_cell", b_hh);
    char sx[MVAE_SHAPE_STR_LEN], sh[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN], s2[MVAE_SHAPE_STR_LEN];
    if (x->ndim != 2 || h->ndim != 2 || x->shape[0] != h->shape[0])
        return mvae_ctx_fail(ctx, "gru_cell: x %s and h %s: expected x [B,I] and h [B,H]",
                             MVAE_SHP(x, sx), MVAE_SHP(h, sh));
    int64_t B = x->shape[0], In = x->shape[1], Hd = h->shape[1], G3 = 3 * Hd;
    if (w_ih->ndim != 2 || w_ih->shape[0] != G3 || w_ih->shape[1] != In)
        return mvae_ctx_fail(ctx, "gru_cell: x %s, h %s and w_ih %s: expected w_ih [%lld,%lld]",
                             MVAE_SHP(x, sx), MVAE_SHP(h, sh), MVAE_SHP(w_ih, s1), (long long)G3,
                             (long long)In);
    if (w_hh->ndim != 2 || w_hh->shape[0] != G3 || w_hh->shape[1] != Hd)
        return mvae_ctx_fail(ctx, "gru_cell: h %s and w_hh %s: expected w_hh [%lld,%lld]",
                             MVAE_SHP(h, sh), MVAE_SHP(w_hh, s1), (long long)G3, (long long)Hd);
    if ((b_ih && (b_ih->ndim != 1 || b_ih->shape[0] != G3)) ||
        (b_hh && (b_hh->ndim != 1 || b_hh->shape[0] != G3)))
        return mvae_ctx_fail(ctx, "gru_cell: h %s, b_ih %s and b_hh %s: expected biases [%lld]",
                             MVAE_SHP(h, sh), MVAE_SHP(b_ih, s1), MVAE_SHP(b_hh, s2), (long long)G3);

    /* mvae_op_output looks at its sources only to decide whether to record: hand it one input that
     * needs a gradient (any of the six), then store the real sources. */
    mvae_tensor *all[6] = {x, h, w_ih, w_hh, b_ih, b_hh};
    mvae_tensor *proxy = first_needing_grad(all, 6);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_GRU_CELL, 2, (int64_t[]){B, Hd}, proxy, NULL, NULL, NULL);
    if (!out) return NULL;
    /* the tape counted the proxy as the one reader: count the real ones (the biases are read
     * through aux) */
    if (mvae_needs_grad(out) && !(proxy->flags & MVAE_T_PARAM)) proxy->uses--;
    mvae_op_attach_source(out, 0, x);
    mvae_op_attach_source(out, 1, h);
    mvae_op_attach_source(out, 2, w_ih);
    mvae_op_attach_source(out, 3, w_hh);
    if (mvae_needs_grad(out)) {
        if (b_ih && !(b_ih->flags & MVAE_T_PARAM)) b_ih->uses++;
        if (b_hh && !(b_hh->flags & MVAE_T_PARAM)) b_hh->uses++;
    }

    size_t bh = (size_t)(B * Hd);
    float *gi = mvae_ctx_scratch(ctx, 2 * (size_t)(B * G3) * sizeof(float)), *gh = gi + B * G3;
    /* gi [B,3H] = x w_ih^T + b_ih, gh [B,3H] = h w_hh^T + b_hh */
    for (int64_t b = 0; b < B; b++) {
        if (b_ih) memcpy(gi + b * G3, b_ih->data, (size_t)G3 * sizeof(float));
        else memset(gi + b * G3, 0, (size_t)G3 * sizeof(float));
        if (b_hh) memcpy(gh + b * G3, b_hh->data, (size_t)G3 * sizeof(float));
        else memset(gh + b * G3, 0, (size_t)G3 * sizeof(float));
    }
    mvae_sgemm(0, 1, (int)B, (int)G3, (int)In, 1.0f, x->data, (int)In, w_ih->data, (int)In, 1.0f, gi, (int)G3);
    mvae_sgemm(0, 1, (int)B, (int)G3, (int)Hd, 1.0f, h->data, (int)Hd, w_hh->data, (int)Hd, 1.0f, gh, (int)G3);

    bool keep = mvae_needs_grad(out);
    gru_aux *a = NULL;
    float *r, *z, *nn, *hn;
    if (keep) {
        a = mvae_ctx_alloc(ctx, sizeof *a);
        a->b_ih = b_ih;
        a->b_hh = b_hh;
        a->r = r = mvae_ctx_alloc(ctx, 4 * bh * sizeof(float));
        a->z = z = r + bh;
        a->n = nn = z + bh;
        a->hn = hn = nn + bh;
        out->aux = a;
    } else {
        r = z = nn = hn = NULL;
    }
    for (int64_t b = 0; b < B; b++) {
        const float *gib = gi + b * G3, *ghb = gh + b * G3, *hb = h->data + b * Hd;
        float *ob = out->data + b * Hd;
        for (int64_t j = 0; j < Hd; j++) {
            float rv = mvae_sigmoidf(gib[j] + ghb[j]);
            float zv = mvae_sigmoidf(gib[Hd + j] + ghb[Hd + j]);
            float hnv = ghb[2 * Hd + j];
            float nv = tanhf(gib[2 * Hd + j] + rv * hnv);
            ob[j] = (1.0f - zv) * nv + zv * hb[j];
            if (keep) {
                size_t k = (size_t)(b * Hd + j);
                r[k] = rv;
                z[k] = zv;
                nn[k] = nv;
                hn[k] = hnv;
            }
        }
    }
    return out;
}

void mvae_bw_gru_cell(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *h = out->src[1], *w_ih = out->src[2], *w_hh = out->src[3];
    const gru_aux *a = out->aux;
    int B = (int)x->shape[0], In = (int)x->shape[1], Hd = (int)h->shape[1], G3 = 3 * Hd;
    const float *G = out->grad; /* dh' [B,H] */
    float *gx = mvae_grad(ctx, x), *gh = mvae_grad(ctx, h);
    float *gwi = mvae_grad(ctx, w_ih), *gwh = mvae_grad(ctx, w_hh);
    float *gbi = a->b_ih ? mvae_grad(ctx, a->b_ih) : NULL, *gbh = a->b_hh ? mvae_grad(ctx, a->b_hh) : NULL;
    /* pre-activation grads: dgi = [dr, dz, dn] and dgh = [dr, dz, dn * r], each [B,3H] */
    float *dgi = mvae_ctx_scratch(ctx, 2 * (size_t)B * G3 * sizeof(float)), *dgh = dgi + (size_t)B * G3;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < Hd; j++) {
            size_t k = (size_t)b * Hd + j;
            float g = G[k], r = a->r[k], z = a->z[k], n = a->n[k], hn = a->hn[k];
            float hv = h->data[k];
            float dn = g * (1.0f - z) * (1.0f - n * n);
            float dz = g * (hv - n) * z * (1.0f - z);
            float dr = dn * hn * r * (1.0f - r);
            float *di = dgi + (size_t)b * G3, *dh = dgh + (size_t)b * G3;
            di[j] = dh[j] = dr;
            di[Hd + j] = dh[Hd + j] = dz;
            di[2 * Hd + j] = dn;
            dh[2 * Hd + j] = dn * r;
            if (gh) gh[k] += g * z;
        }
    if (gx) /* dx [B,In] += dgi [B,3H] w_ih [3H,In] */
        mvae_sgemm(0, 0, B, In, G3, 1.0f, dgi, G3, w_ih->data, In, 1.0f, gx, In);
    if (gh) /* dh [B,H] += dgh [B,3H] w_hh [3H,H] */
        mvae_sgemm(0, 0, B, Hd, G3, 1.0f, dgh, G3, w_hh->data, Hd, 1.0f, gh, Hd);
    if (gwi) /* dW_ih [3H,In] += dgi^T x */
        mvae_sgemm(1, 0, G3, In, B, 1.0f, dgi, G3, x->data, In, 1.0f, gwi, In);
    if (gwh) /* dW_hh [3H,H] += dgh^T h */
        mvae_sgemm(1, 0, G3, Hd, B, 1.0f, dgh, G3, h->data, Hd, 1.0f, gwh, Hd);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < G3; j++) {
            if (gbi) gbi[j] += dgi[(size_t)b * G3 + j];
            if (gbh) gbh[j] += dgh[(size_t)b * G3 + j];
        }
}
