/* encoders/gru_text — a text expert: token ids [B, T] (-1 = padding) -> embedding -> bidirectional
 * GRU -> [last forward state, last backward state] -> linear heads -> (mu, logvar).
 *
 * Steps run up to the longest sentence of the batch; a shorter sentence keeps its state over its
 * padding (h = h + m * (GRU(x, h) - h), m = 1 on real tokens), so the forward direction ends at its
 * last token and the backward direction starts there. Each step is one batched GRU cell (two
 * sgemm calls over the batch).
 */
#include "mvae/interfaces.h"
#include "mvae/nn.h"

#include <stdlib.h>
#include <string.h>

typedef struct gru_enc {
    int64_t V, E, H, T;
    mvae_embedding_layer emb;
    mvae_gru_layer fwd, bwd;
    mvae_linear_layer head_mu, head_lv;
} gru_enc;

static void gru_enc_destroy(void *self) { free(self); }

static int gru_enc_create(const mvae_module_args *a, void **self, mvae_error *err) {
    if (a->modality->type != MVAE_MOD_TOKENS || a->modality->n_classes < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "gru_text encoder encodes token sequences; modality '%s' is %s",
                              a->modality->name, mvae_modality_type_name(a->modality->type));
    gru_enc *e = calloc(1, sizeof *e);
    if (!e) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int rc = MVAE_OK;
    if ((rc = mvae_cfg_int_or(a->opts, "embed", 128, &e->E, err)) ||
        (rc = mvae_cfg_int_or(a->opts, "hidden", 256, &e->H, err))) goto fail;
    if (e->E < 1 || e->H < 1) { rc = mvae_error_set(err, MVAE_ERR_INVALID, "gru_text: embed and hidden must be >= 1"); goto fail; }
    e->V = a->modality->n_classes;
    e->T = a->modality->shape[0];
    if ((rc = mvae_embedding_layer_init(&e->emb, a->params, a->prefix, "embed", e->V, e->E, err)) ||
        (rc = mvae_gru_layer_init(&e->fwd, a->params, a->prefix, "gru_fwd", e->E, e->H, err)) ||
        (rc = mvae_gru_layer_init(&e->bwd, a->params, a->prefix, "gru_bwd", e->E, e->H, err)) ||
        (rc = mvae_linear_layer_init(&e->head_mu, a->params, a->prefix, "mu", 2 * e->H, a->latent_dim, true, err)) ||
        (rc = mvae_linear_layer_init(&e->head_lv, a->params, a->prefix, "logvar", 2 * e->H, a->latent_dim, true, err)))
        goto fail;
    *self = e;
    return MVAE_OK;
fail:
    free(e);
    return rc;
}

static int gru_enc_forward(void *self, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **mu,
                           mvae_tensor **logvar) {
    gru_enc *e = self;
    if (x->dtype != MVAE_I32 || x->ndim != 2 || x->shape[1] != e->T) {
        mvae_ctx_fail(ctx, "gru_text encoder: expected int32 tokens [B,%lld]", (long long)e->T);
        return MVAE_ERR_INVALID;
    }
    int64_t B = x->shape[0], T = e->T;
    const int32_t *ids = mvae_i32(x);
    int *len = mvae_ctx_alloc(ctx, (size_t)B * sizeof(int));
    mvae_tensor *idx = mvae_tensor_new_i32(ctx, 2, (int64_t[]){B, T});
    if (!len || !idx) return MVAE_ERR_NOMEM;
    int Tmax = 0;
    for (int64_t i = 0; i < B; i++) {
        int L = 0;
        while (L < T && ids[i * T + L] >= 0) L++;
        len[i] = L;
        Tmax = L > Tmax ? L : Tmax;
        for (int64_t t = 0; t < T; t++) {
            int32_t v = ids[i * T + t];
            mvae_i32(idx)[i * T + t] = (v >= 0 && v < e->V) ? v : 0;
        }
    }
    if (Tmax == 0) Tmax = 1; /* empty sentences: one step over the pad embedding, masked out */
    mvae_tensor *emb = mvae_embedding_layer_fwd(ctx, &e->emb, idx); /* [B, T, E] */
    mvae_tensor *hf = mvae_tensor_zeros(ctx, 2, (int64_t[]){B, e->H});
    mvae_tensor *hb = hf;
    for (int s = 0; s < Tmax; s++) {
        for (int dir = 0; dir < 2; dir++) {
            int t = dir == 0 ? s : Tmax - 1 - s;
            mvae_tensor *xt = mvae_reshape(ctx, mvae_slice(ctx, emb, 1, t, t + 1), 2, (int64_t[]){B, e->E});
            mvae_tensor *m = mvae_tensor_new(ctx, 2, (int64_t[]){B, 1});
            if (!m) return MVAE_ERR_NOMEM;
            int all = 1;
            for (int64_t i = 0; i < B; i++) all &= (m->data[i] = t < len[i] ? 1.0f : 0.0f) > 0;
            if (dir == 0) hf = mvae_gru_layer_step(ctx, &e->fwd, xt, hf, all ? NULL : m);
            else hb = mvae_gru_layer_step(ctx, &e->bwd, xt, hb, all ? NULL : m);
        }
    }
    mvae_tensor *h = mvae_concat(ctx, 2, (mvae_tensor *[]){hf, hb}, 1);
    *mu = mvae_linear_layer_fwd(ctx, &e->head_mu, h);
    *logvar = mvae_linear_layer_fwd(ctx, &e->head_lv, h);
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static const mvae_encoder_vtable vt = {
    .create = gru_enc_create, .destroy = gru_enc_destroy, .forward = gru_enc_forward};
static const mvae_option opts[] = {
    {"embed", MVAE_OPT_INT, "128", "token embedding size", NULL, false, NULL, "[1, 65536]"},
    {"hidden", MVAE_OPT_INT, "256", "GRU state size per direction", NULL, false, NULL, "[1, 65536]"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_ENCODER, "gru_text", "1.0.0",
    "text expert: embedding + bidirectional GRU over token ids -> (mu, logvar)", &vt, opts);
MVAE_PLUGIN_DEFINE(encoder_gru_text, desc)
