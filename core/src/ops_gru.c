/* ops_gru.c — STUB: to be implemented (each constructor records "not implemented"). */
#include "ops_internal.h"

mvae_tensor *mvae_gru_cell(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *h, mvae_tensor *w_ih, mvae_tensor *w_hh, mvae_tensor *b_ih, mvae_tensor *b_hh) {
    (void)x;
    (void)h;
    (void)w_ih;
    (void)w_hh;
    (void)b_ih;
    (void)b_hh;
    return mvae_ctx_fail(ctx, "gru_cell: not implemented");
}
void mvae_bw_gru_cell(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }
