/* translate.c — text <-> ids with a modality's vocabulary, translation through the shared
 * latent space, and BLEU on a split. */
#include "mvae/translate.h"
#include "mvae/text.h"

#include <stdlib.h>
#include <string.h>

static int find_word(const mvae_modality_info *mi, const char *w) {
    for (int i = 0; i < mi->n_classes; i++)
        if (mi->class_names[i] && strcmp(mi->class_names[i], w) == 0) return i;
    return -1;
}

int mvae_text_to_ids(const mvae_modality_info *mi, const char *text, int32_t *ids) {
    if (!mi->class_names || mi->type != MVAE_MOD_TOKENS) return -1;
    int T = (int)mi->shape[0];
    size_t cap = strlen(text) * 2 + 16;
    char *buf = malloc(cap);
    const char **tok = malloc((size_t)T * sizeof *tok);
    if (!buf || !tok) { free(buf); free(tok); return -1; }
    int nt = mvae_text_tokenize(text, buf, cap, tok, T - 1);
    if (nt < 0) nt = 0;
    int unk = find_word(mi, "<unk>"), eos = find_word(mi, "<eos>");
    for (int t = 0; t < nt; t++) {
        int id = find_word(mi, tok[t]);
        ids[t] = id >= 0 ? id : (unk >= 0 ? unk : 0);
    }
    int n = nt;
    if (eos >= 0) ids[n++] = eos;
    for (int t = n; t < T; t++) ids[t] = -1;
    free(buf);
    free(tok);
    return n;
}

void mvae_ids_to_text(const mvae_modality_info *mi, const int32_t *ids, int T, char *out, size_t cap) {
    const char **tok = malloc((size_t)(T > 0 ? T : 1) * sizeof *tok);
    if (!tok) { if (cap) out[0] = '\0'; return; }
    int n = 0;
    for (int t = 0; t < T; t++) {
        if (ids[t] < 0 || ids[t] >= mi->n_classes) break;
        const char *w = mi->class_names ? mi->class_names[ids[t]] : "?";
        if (!strcmp(w, "<eos>")) break;
        if (!strcmp(w, "<bos>")) continue;
        tok[n++] = w;
    }
    mvae_text_detokenize(tok, n, out, cap);
    free(tok);
}

int mvae_translate_ids(const mvae_model *m, mvae_ctx *ctx, int from, int to, const int32_t *src, int n,
                       int beam, int32_t *out, mvae_error *err) {
    const mvae_modality *mf = &m->mod[from], *mt = &m->mod[to];
    int (*gen)(void *, mvae_ctx *, mvae_tensor *, int, int32_t *, int) = mvae_decoder_hook(mt->dec_desc, generate);
    if (!gen)
        return mvae_error_set(err, MVAE_ERR_INVALID, "modality '%s': decoder '%s' cannot generate sequences (no generate hook)",
                              mt->info.name, mt->dec_desc->name);
    if (mf->info.type != MVAE_MOD_TOKENS)
        return mvae_error_set(err, MVAE_ERR_INVALID, "modality '%s' is not text", mf->info.name);
    if (mvae_model_check_given(m, 1u << from, "translate --from", err)) return err->status;
    bool g = mvae_ctx_set_grad(ctx, false), tr = mvae_ctx_set_training(ctx, false);
    int Tf = (int)mf->info.shape[0], Tt = (int)mt->info.shape[0];
    mvae_tensor *x = mvae_tensor_new_i32(ctx, 2, (int64_t[]){n, Tf});
    mvae_experts e;
    memset(&e, 0, sizeof e);
    e.B = n;
    int rc = MVAE_ERR_INVALID;
    if (!x) goto out;
    memcpy(x->data, src, (size_t)n * (size_t)Tf * sizeof(int32_t));
    if (((const mvae_encoder_vtable *)mf->enc_desc->vtable)->forward(mf->enc, ctx, x, &e.mu[from], &e.logvar[from]))
        goto out;
    mvae_posterior q;
    memset(&q, 0, sizeof q);
    int any;
    if (mvae_model_posterior(m, ctx, &e, 1u << from, &q, NULL, &any) || !any) goto out;
    mvae_tensor *z = ((const mvae_fusion_vtable *)m->fusion_desc->vtable)->mean(m->fusion, ctx, &q);
    if (!z) goto out;
    rc = gen(mt->dec, ctx, z, beam, out, Tt);
out:
    mvae_ctx_set_grad(ctx, g);
    mvae_ctx_set_training(ctx, tr);
    if (rc) return mvae_error_set(err, rc, "translate %s->%s: %s", mf->info.name, mt->info.name,
                                  mvae_ctx_failed(ctx) ? mvae_ctx_error(ctx) : "failed");
    return MVAE_OK;
}

int mvae_translate_text(const mvae_model *m, int from, int to, const char *text, int beam, char *out,
                        size_t cap, mvae_error *err) {
    const mvae_modality_info *mf = &m->mod[from].info, *mt = &m->mod[to].info;
    int Tf = (int)mf->shape[0], Tt = (int)mt->shape[0];
    int32_t *src = malloc((size_t)Tf * sizeof *src), *dst = malloc((size_t)Tt * sizeof *dst);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int rc = MVAE_OK;
    if (!src || !dst || !ctx) { rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory"); goto done; }
    if (mvae_text_to_ids(mf, text, src) < 0) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "modality '%s' has no vocabulary (class_names)", mf->name);
        goto done;
    }
    if ((rc = mvae_translate_ids(m, ctx, from, to, src, 1, beam, dst, err))) goto done;
    mvae_ids_to_text(mt, dst, Tt, out, cap);
done:
    free(src);
    free(dst);
    mvae_ctx_free(ctx);
    return rc;
}

/* ids -> BLEU tokens: strip after <eos>, <bos> dropped, <unk> made unmatchable */
static int bleu_tokens(const mvae_modality_info *mi, const int32_t *ids, int T, int32_t *out, int32_t unk_code) {
    int n = 0;
    for (int t = 0; t < T; t++) {
        int32_t v = ids[t];
        if (v < 0 || v >= mi->n_classes) break;
        const char *w = mi->class_names ? mi->class_names[v] : "";
        if (!strcmp(w, "<eos>")) break;
        if (!strcmp(w, "<bos>")) continue;
        out[n++] = strcmp(w, "<unk>") ? v : unk_code;
    }
    return n;
}

int mvae_translate_bleu(const mvae_model *m, int split, int from, int to, int64_t max_n, int beam,
                        double *bleu, mvae_error *err) {
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N = dv->size(m->ds, split);
    if (max_n > 0 && max_n < N) N = max_n;
    if (N < 1) return mvae_error_set(err, MVAE_ERR_INVALID, "BLEU: the split is empty");
    const mvae_modality_info *mt = &m->mod[to].info;
    int Tt = (int)mt->shape[0], bs = 64;
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t *idx = malloc((size_t)bs * sizeof *idx);
    int32_t *out = malloc((size_t)bs * (size_t)Tt * sizeof *out), *c = malloc((size_t)Tt * sizeof *c),
            *r = malloc((size_t)Tt * sizeof *r);
    int rc = MVAE_OK;
    if (!ctx || !idx || !out || !c || !r) { rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory"); goto done; }
    if ((rc = mvae_batch_init(&b, m, bs, err))) goto done;
    mvae_bleu acc;
    mvae_bleu_init(&acc, 4);
    for (int64_t s = 0; s < N; s += bs) {
        int n = (int)(N - s < bs ? N - s : bs);
        for (int i = 0; i < n; i++) idx[i] = s + i;
        if ((rc = mvae_batch_fill(&b, m, split, idx, n, NULL, err))) goto done;
        mvae_ctx_reset(ctx);
        if ((rc = mvae_translate_ids(m, ctx, from, to, (const int32_t *)(const void *)b.x[from], n, beam, out, err))) goto done;
        const int32_t *ref = (const int32_t *)(const void *)b.x[to];
        for (int i = 0; i < n; i++) {
            int nc = bleu_tokens(mt, out + (size_t)i * Tt, Tt, c, -100);
            int nr = bleu_tokens(mt, ref + (size_t)i * Tt, Tt, r, -200);
            mvae_bleu_add(&acc, c, nc, r, nr);
        }
    }
    *bleu = mvae_bleu_score(&acc);
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(idx), free(out), free(c), free(r);
    return rc;
}
