/* eval_figures.c — the pictures that go with eval.subsets: every subset of given modalities ->
 * every image and spectrogram modality (subsets.png), and latent traversals
 * (traverse_<modality>.png). Definitions and how to read them: docs/metrics.md, "Subset
 * pictures and latent traversals". */
#include "eval_internal.h"
#include "mvae/image.h"
#include "mvae/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIG_TUPLES 4  /* test tuples in subsets.png */
#define FIG_DIMS 8    /* latent dimensions traversed */
#define FIG_STEPS 9   /* values per traversed dimension, -3 .. +3 */
#define FIG_ACTIVE 200 /* test samples over which the active dimensions are ranked */

/* the modalities drawn: image or spectrogram [1, H, W] with an encoder */
static int shown_modalities(const mvae_model *m, int *shown, int *side) {
    int n = 0;
    *side = 0;
    for (int k = 0; k < m->n_mod; k++) {
        const mvae_modality_info *mi = &m->mod[k].info;
        if ((mi->type != MVAE_MOD_IMAGE && mi->type != MVAE_MOD_AUDIO) || mi->ndim != 3 || mi->shape[0] != 1 ||
            !(m->encodable & (1u << k)))
            continue;
        shown[n++] = k;
        if (mi->shape[1] > *side) *side = (int)mi->shape[1];
        if (mi->shape[2] > *side) *side = (int)mi->shape[2];
    }
    return n;
}

/* One H x W picture x (a spectrogram drawn with low frequencies at the bottom) centred in a tile
 * of (side + 2)^2 pixels on black; `mark` > 0 draws a 4 x 4 square of that grey in the top-left
 * corner (1 = a given modality, 0.5 = the true data). */
static void put_tile(float *tile, int side, const float *x, int H, int W, bool audio, float mark) {
    int T = side + 2;
    for (int i = 0; i < T * T; i++) tile[i] = 0;
    int oy = 1 + (side - H) / 2, ox = 1 + (side - W) / 2;
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) tile[(oy + r) * T + ox + c] = x[(audio ? H - 1 - r : r) * W + c];
    if (mark > 0)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) tile[r * T + c] = mark;
}

int mvae_write_subset_pictures(mvae_model *m, const char *dir, bool quiet, mvae_error *err) {
    bool on = false;
    if (mvae_cfg_bool_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "eval"), "subsets", false, &on, err)) return err->status;
    int shown[MVAE_MAX_MODALITIES], side, ns = shown_modalities(m, shown, &side);
    const uint32_t enc = m->encodable;
    if (!on || ns < 2 || __builtin_popcount(enc) > 6) return MVAE_OK;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    const int64_t N = dv->size(m->ds, MVAE_SPLIT_TEST);
    if (N < 1) return MVAE_OK;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    const int T = side + 2, D = m->latent_dim;
    const int nt = N < FIG_TUPLES ? (int)N : FIG_TUPLES;
    const int na = N < FIG_ACTIVE ? (int)N : FIG_ACTIVE;
    uint32_t rows[63];
    int nr = 0;
    for (int size = 1; size <= __builtin_popcount(enc); size++)
        for (uint32_t s = 1; s <= enc; s++)
            if ((s & ~enc) == 0 && __builtin_popcount(s) == size) rows[nr++] = s;
    int64_t E_max = (int64_t)side * side;
    const int ncells = (1 + nr) * nt * ns, ntrav = FIG_DIMS * FIG_STEPS;
    float *tiles = malloc((size_t)(ncells > ntrav ? ncells : ntrav) * (size_t)T * (size_t)T * sizeof(float));
    float *gen = malloc((size_t)(na > ntrav ? na : ntrav) * (size_t)E_max * sizeof(float));
    int64_t *idx = malloc((size_t)na * sizeof *idx);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_rng rng;
    mvae_rng_seed(&rng, m->seed + 4242);
    char path[4200], nm[MVAE_SUBSET_NAME_MAX];
    int rc = (!tiles || !gen || !idx || !ctx) ? mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory")
                                              : mvae_batch_init(&b, m, na, err);
    if (rc) goto done;
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    for (int i = 0; i < na; i++) idx[i] = i;
    if ((rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, na, NULL, err))) goto done;
    /* 1. subsets.png: row 0 the test tuples; row r the mean of p(x_k | z), z = mean of q(z | S_r);
     * columns: tuple-major, then the shown modalities; given cells marked */
    for (int t = 0; t < nt; t++)
        for (int a = 0; a < ns; a++) {
            const mvae_modality_info *mi = &m->mod[shown[a]].info;
            int64_t E = mvae_modality_numel(mi);
            put_tile(tiles + (size_t)(t * ns + a) * T * T, side, b.x[shown[a]] + (size_t)t * E, (int)mi->shape[1],
                     (int)mi->shape[2], mi->type == MVAE_MOD_AUDIO, 0.5f);
        }
    for (int r = 0; r < nr; r++) {
        mvae_ctx_reset(ctx);
        mvae_experts e;
        mvae_posterior q;
        mvae_tensor *valid;
        int any;
        if (mvae_model_encode(m, ctx, &b, rows[r], &e) || mvae_model_posterior(m, ctx, &e, rows[r], &q, &valid, &any)) goto ctxfail;
        if (!any) continue;
        mvae_tensor *z = fv->mean(m->fusion, ctx, &q);
        for (int a = 0; a < ns; a++) {
            const mvae_modality_info *mi = &m->mod[shown[a]].info;
            int64_t E = mvae_modality_numel(mi);
            if (mvae_model_generate(m, ctx, shown[a], z, &rng, gen)) goto ctxfail;
            for (int t = 0; t < nt; t++)
                put_tile(tiles + (size_t)(((r + 1) * nt + t) * ns + a) * T * T, side, gen + (size_t)t * E, (int)mi->shape[1],
                         (int)mi->shape[2], mi->type == MVAE_MOD_AUDIO, (rows[r] & (1u << shown[a])) ? 1.0f : 0.0f);
        }
    }
    snprintf(path, sizeof path, "%s/subsets.png", dir);
    if ((rc = mvae_png_write_grid_scaled(path, tiles, ncells, 1, T, T, nt * ns, 2, 0, err))) goto done;
    if (!quiet) {
        MVAE_INFO("wrote %s (row 1: %d test tuples; each next row: every modality generated from one given subset, "
                  "given ones marked by a white corner square; spectrograms with low frequencies at the bottom)", path, nt);
        for (int r = 0; r < nr; r++) MVAE_INFO("  row %d: given %s", r + 2, mvae_model_subset_name(m, rows[r], nm, sizeof nm));
    }
    /* 2. traversals: the FIG_DIMS dimensions whose posterior mean (all modalities given) varies most
     * over the test samples (the "active units" of Burda et al. 2016), each set to its mean over
     * those samples -3 .. +3 of its standard deviation (the spread the encoder uses, which need
     * not be the prior's 1) in z = mean of q(z | test tuple 0), the rest kept */
    mvae_ctx_reset(ctx);
    mvae_experts e;
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    if (mvae_model_encode(m, ctx, &b, enc, &e) || mvae_model_posterior(m, ctx, &e, enc, &q, &valid, &any)) goto ctxfail;
    if (!any) goto done;
    mvae_tensor *mu = fv->mean(m->fusion, ctx, &q);
    if (!mu) goto ctxfail;
    double var[4096], avg[4096];
    int order[4096];
    int Dv = D > 4096 ? 4096 : D;
    for (int j = 0; j < Dv; j++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < na; i++) s += mu->data[(size_t)i * D + j];
        s /= na;
        for (int i = 0; i < na; i++) s2 += (mu->data[(size_t)i * D + j] - s) * (mu->data[(size_t)i * D + j] - s);
        var[j] = s2 / na;
        avg[j] = s;
        order[j] = j;
    }
    for (int i = 1; i < Dv; i++) /* by variance, largest first (insertion sort: D is small) */
        for (int j = i; j > 0 && var[order[j]] > var[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    const int nd = Dv < FIG_DIMS ? Dv : FIG_DIMS;
    mvae_tensor *zt = mvae_tensor_new(ctx, 2, (int64_t[]){nd * FIG_STEPS, D});
    if (!zt) goto ctxfail;
    for (int r = 0; r < nd; r++)
        for (int c = 0; c < FIG_STEPS; c++) {
            float *zr = zt->data + (size_t)(r * FIG_STEPS + c) * D;
            memcpy(zr, mu->data, (size_t)D * sizeof(float));
            zr[order[r]] = (float)(avg[order[r]] + sqrt(var[order[r]]) * (-3.0 + 6.0 * c / (FIG_STEPS - 1)));
        }
    for (int a = 0; a < ns; a++) {
        const mvae_modality_info *mi = &m->mod[shown[a]].info;
        int64_t E = mvae_modality_numel(mi);
        if (mvae_model_generate(m, ctx, shown[a], zt, &rng, gen)) goto ctxfail;
        for (int i = 0; i < nd * FIG_STEPS; i++)
            put_tile(tiles + (size_t)i * T * T, side, gen + (size_t)i * E, (int)mi->shape[1], (int)mi->shape[2],
                     mi->type == MVAE_MOD_AUDIO, 0.0f);
        snprintf(path, sizeof path, "%s/traverse_%s.png", dir, mi->name);
        if ((rc = mvae_png_write_grid_scaled(path, tiles, nd * FIG_STEPS, 1, T, T, FIG_STEPS, 2, 0, err))) goto done;
        if (!quiet) {
            char dims[160] = "";
            for (int r = 0, o = 0; r < nd && o < (int)sizeof dims - 12; r++)
                o += snprintf(dims + o, sizeof dims - (size_t)o, "%s%d", r ? ", " : "", order[r]);
            MVAE_INFO("wrote %s (rows: latent dimensions %s, by the variance of the posterior mean over %d test samples; "
                      "columns: that dimension from its mean -3 to +3 standard deviations (%.2f for the first) in z = mean "
                      "of q(z | test tuple 0))", path, dims, na, sqrt(var[order[0]]));
        }
    }
    rc = MVAE_OK;
    goto done;
ctxfail:
    rc = mvae_error_set(err, MVAE_ERR_INVALID, "subset pictures: %s", mvae_ctx_error(ctx));
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(tiles);
    free(gen);
    free(idx);
    return rc;
}
