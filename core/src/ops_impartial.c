/* ops_impartial.c — the impartiality block as an op: a fan-out of x into K branch tensors that
 * share x's values and have their own gradients, and the backward that combines the K branch
 * gradients (impartial.c) into x's gradient.
 *
 * Tape layout: the K branches are K tape nodes of this op, recorded one after the other when the
 * block is built, each a view of x (op MVAE_OP_IMPARTIAL, src[0] = x, ip[0] = k). Every consumer of
 * any branch comes later on the tape, so the reverse sweep reaches the branch nodes only after all
 * of them have run: the first branch node it reaches (the last one with a gradient) holds, through
 * the shared record in aux, every branch's complete gradient. It combines them into x's gradient
 * once; the other branch nodes, reached right after, only count themselves off (so a second
 * backward over the same tape, without recycling, combines again). The sweep then recycles each
 * branch's gradient block as for any op output, and since the branches are views, their values are
 * x's and are never released on their own. */
#include "ops_internal.h"
#include "mvae/impartial.h"

#include <string.h>

typedef struct impartial_rec {
    mvae_impartial *blk;
    mvae_tensor **br; /* K branch tensors */
    int K;
    bool combined; /* in this backward pass */
    int remaining; /* branch nodes of this pass still to be visited */
} impartial_rec;

mvae_tensor **mvae_impartial_fanout(mvae_ctx *ctx, mvae_impartial *blk, mvae_tensor *x) {
    MVAE_CHECK_INPUT(ctx, "impartial", x);
    if (x->dtype != MVAE_F32) {
        mvae_ctx_fail(ctx, "impartial: input 'x' must be float32, got int32");
        return NULL;
    }
    if (!blk) {
        mvae_ctx_fail(ctx, "impartial: no block (create one with mvae_impartial_new)");
        return NULL;
    }
    int K = mvae_impartial_k(blk);
    impartial_rec *rec = mvae_ctx_alloc(ctx, sizeof *rec);
    mvae_tensor **br = mvae_ctx_alloc(ctx, (size_t)K * sizeof *br);
    rec->blk = blk;
    rec->br = br;
    rec->K = K;
    rec->combined = false;
    rec->remaining = 0;
    for (int k = 0; k < K; k++) {
        br[k] = mvae_op_output_view(ctx, MVAE_OP_IMPARTIAL, x->ndim, x->shape, x);
        if (!br[k]) return NULL;
        br[k]->ip[0] = k;
        br[k]->ip[1] = K;
        br[k]->aux = rec;
    }
    return br;
}

void mvae_bw_impartial(mvae_ctx *ctx, mvae_tensor *out) {
    impartial_rec *rec = out->aux;
    mvae_tensor *x = out->src[0];
    if (!rec->combined) {
        const float *g[MVAE_IMPARTIAL_MAX_K];
        int live = 0;
        for (int k = 0; k < rec->K; k++) {
            g[k] = rec->br[k]->grad;
            live += g[k] != NULL;
        }
        bool fresh = false;
        float *gx = mvae_grad_fresh(ctx, x, &fresh);
        if (gx) {
            mvae_error err = {0};
            if (mvae_impartial_combine(rec->blk, rec->K, x->n, g, x->data, x->shape[0], gx, !fresh,
                                       &err)) {
                mvae_ctx_fail(ctx, "%s", err.msg);
                if (fresh) memset(gx, 0, (size_t)x->n * sizeof *gx);
            }
        }
        rec->combined = true;
        rec->remaining = live;
    }
    if (--rec->remaining <= 0) rec->combined = false;
}
