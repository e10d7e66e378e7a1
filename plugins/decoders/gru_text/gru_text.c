/* decoders/gru_text — a text decoder: z -> tanh(linear) = h0 -> GRU over token embeddings ->
 * linear -> logits [B, T, V] for the categorical likelihood (per token, summed over the sentence,
 * padding (-1) skipped).
 *
 * Training (forward_teacher, teacher forcing): the input at step t is <bos> for t = 0 and the
 * target token t-1 after that, so position t predicts target token t (the dataset ends each
 * sentence with <eos>, which is predicted too). Steps run up to the longest target of the batch;
 * the remaining positions get zero logits (their targets are padding).
 * forward(z) without targets decodes greedily (free running) and returns the logits it saw.
 * generate: greedy (beam <= 1) or beam search with length-normalised log-probabilities.
 */
#include "mvae/interfaces.h"
#include "mvae/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gru_dec {
    int64_t V, E, H, T;
    int bos, eos;
    mvae_linear_layer init, out;
    mvae_embedding_layer emb;
    mvae_gru_layer gru;
} gru_dec;

static void gru_dec_destroy(void *self) { free(self); }

static int gru_dec_create(const mvae_module_args *a, void **self, mvae_error *err) {
    if (a->modality->type != MVAE_MOD_TOKENS || a->modality->n_classes < 3)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "gru_text decoder decodes token sequences (vocabulary >= 3); modality '%s' is %s",
                              a->modality->name, mvae_modality_type_name(a->modality->type));
    gru_dec *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int64_t bos, eos;
    int rc = MVAE_OK;
    if ((rc = mvae_cfg_int_or(a->opts, "embed", 128, &d->E, err)) ||
        (rc = mvae_cfg_int_or(a->opts, "hidden", 256, &d->H, err)) ||
        (rc = mvae_cfg_int_or(a->opts, "bos_id", 1, &bos, err)) ||
        (rc = mvae_cfg_int_or(a->opts, "eos_id", 2, &eos, err)))
        goto fail;
    d->V = a->modality->n_classes;
    d->T = a->modality->shape[0];
    if (d->E < 1 || d->H < 1 || bos < 0 || bos >= d->V || eos < 0 || eos >= d->V) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "gru_text decoder: embed, hidden >= 1 and bos_id, eos_id in [0, %lld)", (long long)d->V);
        goto fail;
    }
    d->bos = (int)bos, d->eos = (int)eos;
    if ((rc = mvae_linear_layer_init(&d->init, a->params, a->prefix, "init", a->latent_dim, d->H, true, err)) ||
        (rc = mvae_embedding_layer_init(&d->emb, a->params, a->prefix, "embed", d->V, d->E, err)) ||
        (rc = mvae_gru_layer_init(&d->gru, a->params, a->prefix, "gru", d->E, d->H, err)) ||
        (rc = mvae_linear_layer_init(&d->out, a->params, a->prefix, "out", d->H, d->V, true, err)))
        goto fail;
    *self = d;
    return MVAE_OK;
fail:
    free(d);
    return rc;
}

static mvae_tensor *h0(gru_dec *d, mvae_ctx *ctx, mvae_tensor *z) {
    return mvae_tanh(ctx, mvae_linear_layer_fwd(ctx, &d->init, z));
}

/* one step: previous tokens prev [R] -> new state */
static mvae_tensor *step(gru_dec *d, mvae_ctx *ctx, mvae_tensor *h, const int32_t *prev, int64_t R) {
    mvae_tensor *idx = mvae_tensor_new_i32(ctx, 1, (int64_t[]){R});
    if (!idx) return NULL;
    for (int64_t i = 0; i < R; i++) mvae_i32(idx)[i] = (prev[i] >= 0 && prev[i] < d->V) ? prev[i] : 0;
    return mvae_gru_layer_step(ctx, &d->gru, mvae_embedding_layer_fwd(ctx, &d->emb, idx), h, NULL);
}

/* states hs[0..n) [R,H] -> logits [R,T,V] (zeros after n) */
static mvae_tensor *project(gru_dec *d, mvae_ctx *ctx, mvae_tensor **hs, int n, int64_t R) {
    for (int t = 0; t < n; t++) hs[t] = mvae_reshape(ctx, hs[t], 3, (int64_t[]){R, 1, d->H});
    mvae_tensor *H = mvae_reshape(ctx, mvae_concat_list(ctx, n, hs, 1), 2, (int64_t[]){R * n, d->H});
    mvae_tensor *lg = mvae_reshape(ctx, mvae_linear_layer_fwd(ctx, &d->out, H), 3, (int64_t[]){R, n, d->V});
    if (n < d->T) {
        mvae_tensor *pad = mvae_tensor_zeros(ctx, 3, (int64_t[]){R, d->T - n, d->V});
        lg = mvae_concat(ctx, 2, (mvae_tensor *[]){lg, pad}, 1);
    }
    return lg;
}

static mvae_tensor *gru_dec_teacher(void *self, mvae_ctx *ctx, mvae_tensor *z, mvae_tensor *target) {
    gru_dec *d = self;
    if (!z || !target) return NULL;
    int64_t R = z->shape[0], T = d->T;
    if (target->dtype != MVAE_I32 || target->n != R * T)
        return mvae_ctx_fail(ctx, "gru_text decoder: target must be int32 [%lld,%lld]", (long long)R, (long long)T);
    const int32_t *tg = mvae_i32(target);
    int Tmax = 1;
    for (int64_t i = 0; i < R; i++) {
        int L = 0;
        while (L < T && tg[i * T + L] >= 0) L++;
        Tmax = L > Tmax ? L : Tmax;
    }
    mvae_tensor **hs = mvae_ctx_alloc(ctx, (size_t)Tmax * sizeof *hs);
    int32_t *prev = mvae_ctx_alloc(ctx, (size_t)R * sizeof *prev);
    if (!hs || !prev) return mvae_ctx_fail(ctx, "gru_text decoder: out of memory");
    mvae_tensor *h = h0(d, ctx, z);
    for (int t = 0; t < Tmax; t++) {
        for (int64_t i = 0; i < R; i++) prev[i] = t == 0 ? d->bos : tg[i * T + t - 1];
        hs[t] = h = step(d, ctx, h, prev, R);
    }
    return project(d, ctx, hs, Tmax, R);
}

static int argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t j = 1; j < n; j++)
        if (x[j] > x[b]) b = j;
    return (int)b;
}

static mvae_tensor *gru_dec_forward(void *self, mvae_ctx *ctx, mvae_tensor *z) {
    gru_dec *d = self;
    if (!z) return NULL;
    int64_t R = z->shape[0];
    mvae_tensor **hs = mvae_ctx_alloc(ctx, (size_t)d->T * sizeof *hs);
    int32_t *prev = mvae_ctx_alloc(ctx, (size_t)R * sizeof *prev);
    if (!hs || !prev) return mvae_ctx_fail(ctx, "gru_text decoder: out of memory");
    mvae_tensor *h = h0(d, ctx, z);
    for (int64_t i = 0; i < R; i++) prev[i] = d->bos;
    for (int t = 0; t < d->T; t++) {
        hs[t] = h = step(d, ctx, h, prev, R);
        mvae_tensor *lg = mvae_linear_layer_fwd(ctx, &d->out, h);
        if (!lg) return NULL;
        for (int64_t i = 0; i < R; i++) prev[i] = argmax(lg->data + i * d->V, d->V);
    }
    return project(d, ctx, hs, (int)d->T, R);
}

/* log-softmax of one row into out */
static void log_softmax_row(const float *x, int64_t n, float *out) {
    float m = x[0];
    for (int64_t j = 1; j < n; j++) m = x[j] > m ? x[j] : m;
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += exp((double)(x[j] - m));
    float ls = m + (float)log(s);
    for (int64_t j = 0; j < n; j++) out[j] = x[j] - ls;
}

#define BEAM_MAX 32
static int beam_one(gru_dec *d, mvae_ctx *ctx, mvae_tensor *hz, int K, int32_t *out, int max_len) {
    /* hz: [1,H] initial state. Hypotheses: tokens, score, finished. */
    int32_t *tok = calloc((size_t)K * (size_t)max_len, sizeof *tok), *ntok = calloc((size_t)K * (size_t)max_len, sizeof *ntok);
    float *lp = malloc((size_t)K * (size_t)d->V * sizeof *lp);
    double score[BEAM_MAX], nscore[BEAM_MAX];
    int len[BEAM_MAX], nlen[BEAM_MAX], fin[BEAM_MAX], nfin[BEAM_MAX], from[BEAM_MAX];
    int32_t prev[BEAM_MAX];
    if (!tok || !ntok || !lp) { free(tok), free(ntok), free(lp); return MVAE_ERR_NOMEM; }
    int nh = 1;
    score[0] = 0, len[0] = 0, fin[0] = 0, prev[0] = d->bos;
    mvae_tensor *h = hz;
    for (int t = 0; t < max_len; t++) {
        int all_fin = 1;
        for (int k = 0; k < nh; k++) all_fin &= fin[k];
        if (all_fin) break;
        mvae_tensor *hn = step(d, ctx, h, prev, nh);
        mvae_tensor *lg = mvae_linear_layer_fwd(ctx, &d->out, hn);
        if (!lg) { free(tok), free(ntok), free(lp); return MVAE_ERR_INVALID; }
        for (int k = 0; k < nh; k++) log_softmax_row(lg->data + (int64_t)k * d->V, d->V, lp + (int64_t)k * d->V);
        /* candidates: finished hypotheses carry over; others extend by every token */
        int nn = 0;
        for (int k = 0; k < nh; k++) {
            if (fin[k]) { /* insert as is */
                double s = score[k];
                int pos = nn < K ? nn++ : K;
                while (pos > 0 && nscore[pos - 1] / (nlen[pos - 1] ? nlen[pos - 1] : 1) < s / (len[k] ? len[k] : 1)) {
                    if (pos < K) nscore[pos] = nscore[pos - 1], nlen[pos] = nlen[pos - 1], nfin[pos] = nfin[pos - 1], from[pos] = from[pos - 1], prev[pos] = prev[pos - 1];
                    pos--;
                }
                if (pos < K) nscore[pos] = s, nlen[pos] = len[k], nfin[pos] = 1, from[pos] = k, prev[pos] = -2;
                continue;
            }
            for (int64_t v = 0; v < d->V; v++) {
                double s = score[k] + lp[(int64_t)k * d->V + v];
                int l = len[k] + 1;
                double key = s / l;
                if (nn == K && key <= nscore[K - 1] / nlen[K - 1]) continue;
                int pos = nn < K ? nn++ : K;
                while (pos > 0 && nscore[pos - 1] / nlen[pos - 1] < key) {
                    if (pos < K) nscore[pos] = nscore[pos - 1], nlen[pos] = nlen[pos - 1], nfin[pos] = nfin[pos - 1], from[pos] = from[pos - 1], prev[pos] = prev[pos - 1];
                    pos--;
                }
                if (pos < K) nscore[pos] = s, nlen[pos] = l, nfin[pos] = (int)v == d->eos, from[pos] = k, prev[pos] = (int32_t)v;
            }
        }
        /* gather the surviving states and token histories */
        mvae_tensor *hsel = mvae_tensor_new(ctx, 2, (int64_t[]){nn, d->H});
        if (!hsel) { free(tok), free(ntok), free(lp); return MVAE_ERR_NOMEM; }
        for (int j = 0; j < nn; j++) {
            memcpy(hsel->data + (int64_t)j * d->H, hn->data + (int64_t)from[j] * d->H, (size_t)d->H * sizeof(float));
            memcpy(ntok + (size_t)j * max_len, tok + (size_t)from[j] * max_len, (size_t)max_len * sizeof *tok);
            if (prev[j] != -2) ntok[(size_t)j * max_len + t] = prev[j];
            else prev[j] = d->eos; /* finished: feed anything, ignored */
            score[j] = nscore[j], len[j] = nlen[j], fin[j] = nfin[j];
        }
        int32_t *sw = tok; tok = ntok; ntok = sw;
        nh = nn;
        h = hsel;
    }
    /* best hypothesis: index 0 (sorted by normalised score) */
    for (int t = 0; t < max_len; t++) out[t] = t < len[0] ? tok[t] : -1;
    free(tok), free(ntok), free(lp);
    return MVAE_OK;
}

static int gru_dec_generate(void *self, mvae_ctx *ctx, mvae_tensor *z, int beam, int32_t *out, int max_len) {
    gru_dec *d = self;
    if (!z || max_len < 1) return MVAE_ERR_INVALID;
    bool g = mvae_ctx_set_grad(ctx, false);
    int64_t R = z->shape[0];
    int rc = MVAE_OK;
    mvae_tensor *h = h0(d, ctx, z);
    if (!h) { rc = MVAE_ERR_INVALID; goto done; }
    if (beam > 1) {
        if (beam > BEAM_MAX) beam = BEAM_MAX;
        for (int64_t i = 0; i < R && !rc; i++) {
            mvae_tensor *hi = mvae_slice(ctx, h, 0, i, i + 1);
            rc = hi ? beam_one(d, ctx, hi, beam, out + i * max_len, max_len) : MVAE_ERR_INVALID;
        }
        goto done;
    }
    int32_t *prev = mvae_ctx_alloc(ctx, (size_t)R * sizeof *prev);
    uint8_t *fin = mvae_ctx_calloc(ctx, (size_t)R);
    if (!prev || !fin) { rc = MVAE_ERR_NOMEM; goto done; }
    for (int64_t i = 0; i < R; i++) prev[i] = d->bos;
    for (int t = 0; t < max_len; t++) {
        h = step(d, ctx, h, prev, R);
        mvae_tensor *lg = mvae_linear_layer_fwd(ctx, &d->out, h);
        if (!lg) { rc = MVAE_ERR_INVALID; goto done; }
        int live = 0;
        for (int64_t i = 0; i < R; i++) {
            if (fin[i]) { out[i * max_len + t] = -1; continue; }
            prev[i] = argmax(lg->data + i * d->V, d->V);
            out[i * max_len + t] = prev[i];
            if (prev[i] == d->eos) fin[i] = 1;
            else live++;
        }
        if (!live) {
            for (int64_t i = 0; i < R; i++)
                for (int u = t + 1; u < max_len; u++) out[i * max_len + u] = -1;
            break;
        }
    }
done:
    mvae_ctx_set_grad(ctx, g);
    if (rc && !mvae_ctx_failed(ctx)) mvae_ctx_fail(ctx, "gru_text decoder: generate failed");
    return rc;
}

static const mvae_decoder_vtable vt = {.create = gru_dec_create, .destroy = gru_dec_destroy,
                                       .forward = gru_dec_forward, .forward_teacher = gru_dec_teacher,
                                       .generate = gru_dec_generate};
static const mvae_option opts[] = {
    {"embed", MVAE_OPT_INT, "128", "token embedding size", NULL, false, NULL, "[1, 65536]"},
    {"hidden", MVAE_OPT_INT, "256", "GRU state size", NULL, false, NULL, "[1, 65536]"},
    {"bos_id", MVAE_OPT_INT, "1", "id of <bos>, the first input", NULL, false, NULL, "[0, inf)"},
    {"eos_id", MVAE_OPT_INT, "2", "id of <eos>, which ends generation", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DECODER, "gru_text", "1.0.0",
    "text decoder: z -> GRU with teacher forcing -> token logits; greedy and beam search", &vt, opts);
MVAE_PLUGIN_DEFINE(decoder_gru_text, desc)
