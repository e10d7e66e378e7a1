/* eval_subsets.c — eval.subsets: the table of what each combination of given modalities tells
 * about every modality. For every non-empty subset S of the modalities with an encoder (a row)
 * and every modality k the model is fitted to (a column, decoder-only ones included; weight 0 =
 * probed only, left out):
 *   nll[S][k] = mean over test samples that have all of S and k of -log p(x_k | z = mean q(z | x_S))
 *   acc[S][k] = for a categorical k, the fraction of those samples whose arg-max class is right
 * (docs/metrics.md, "Given-subset table"). The mean of q makes the table deterministic. */
#define _GNU_SOURCE
#include "eval_internal.h"
#include "mvae/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mvae_evaluate_subsets(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err) {
    r->n_sub = 0;
    bool on = false;
    int64_t bs = 100;
    mvae_cfg_node *ev = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval");
    if (mvae_cfg_bool_or(ev, "subsets", false, &on, err) || mvae_cfg_int_or(ev, "batch_size", 100, &bs, err))
        return err->status;
    if (!on) return MVAE_OK;
    const uint32_t enc = m->encodable;
    if (__builtin_popcount(enc) > 6)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "eval.subsets: %d modalities with an encoder make %d given subsets; at most 63 (6 modalities)",
                              __builtin_popcount(enc), (1 << __builtin_popcount(enc)) - 1);
    /* rows: subsets in order of size, then of their bits (so singletons come first) */
    uint32_t rows[MVAE_MAX_SUBSET_ROWS];
    int nr = 0;
    for (int size = 1; size <= __builtin_popcount(enc); size++)
        for (uint32_t s = 1; s <= enc; s++)
            if ((s & ~enc) == 0 && __builtin_popcount(s) == size && nr < MVAE_MAX_SUBSET_ROWS) rows[nr++] = s;
    /* columns: the modalities the model is fitted to (weight 0 = probed only), the first 8 */
    int col[MVAE_SUBSET_TABLE_MODS], nc = 0;
    for (int k = 0; k < m->n_mod && nc < MVAE_SUBSET_TABLE_MODS; k++)
        if (m->mod[k].weight != 0.0f) col[nc++] = k;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    const int64_t N = dv->size(m->ds, split);
    double sum[MVAE_MAX_SUBSET_ROWS][MVAE_SUBSET_TABLE_MODS] = {{0}}, cnt[MVAE_MAX_SUBSET_ROWS][MVAE_SUBSET_TABLE_MODS] = {{0}};
    double hit[MVAE_MAX_SUBSET_ROWS][MVAE_SUBSET_TABLE_MODS] = {{0}};
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t *idx = malloc((size_t)bs * sizeof *idx);
    int32_t *pred = malloc((size_t)bs * sizeof *pred);
    int rc = (!ctx || !idx || !pred) ? mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory") : mvae_batch_init(&b, m, (int)bs, err);
    if (rc) goto done;
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    const uint32_t all = (1u << m->n_mod) - 1;
    for (int64_t s0 = 0; s0 < N; s0 += bs) {
        int n = (int)((N - s0) < bs ? (N - s0) : bs);
        for (int i = 0; i < n; i++) idx[i] = s0 + i;
        if ((rc = mvae_batch_fill(&b, m, split, idx, n, NULL, err))) goto done;
        mvae_ctx_reset(ctx);
        mvae_experts e;
        if ((rc = mvae_model_encode(m, ctx, &b, all, &e))) goto ctxfail;
        for (int ri = 0; ri < nr; ri++) {
            /* the samples that have every modality of the row */
            int n_ok = 0;
            for (int i = 0; i < n; i++) {
                bool ok = true;
                for (int k = 0; k < m->n_mod && ok; k++)
                    if (rows[ri] & (1u << k)) ok = b.present[i * m->n_mod + k] != 0;
                n_ok += ok;
            }
            if (!n_ok) continue;
            mvae_posterior q;
            mvae_tensor *valid;
            int any;
            if ((rc = mvae_model_posterior(m, ctx, &e, rows[ri], &q, &valid, &any))) goto ctxfail;
            if (!any) continue;
            mvae_tensor *z = fv->mean(m->fusion, ctx, &q);
            for (int ci = 0; ci < nc; ci++) {
                const int k = col[ci];
                if (!e.has[k]) continue;
                const mvae_modality *md = &m->mod[k];
                mvae_tensor *x = mvae_batch_tensor(ctx, m, &b, k);
                bool cat = md->info.type == MVAE_MOD_CATEGORICAL;
                /* rng NULL: a flow dequantises at the bin midpoint (a point metric, not a bound) */
                mvae_tensor *lp = mvae_model_logp(m, ctx, k, z, x, NULL);
                mvae_tensor *params = cat ? mvae_model_decode(m, ctx, k, z) : NULL;
                if (!lp || (cat && !params)) goto ctxfail;
                if (cat) mvae_argmax_rows(params->data, n, params->shape[1], pred);
                const int32_t *lab = cat ? (const int32_t *)(const void *)b.x[k] : NULL;
                for (int i = 0; i < n; i++) {
                    bool ok = b.present[i * m->n_mod + k] != 0;
                    for (int j = 0; j < m->n_mod && ok; j++)
                        if (rows[ri] & (1u << j)) ok = b.present[i * m->n_mod + j] != 0;
                    if (!ok) continue;
                    sum[ri][ci] -= lp->data[i];
                    cnt[ri][ci] += 1;
                    if (cat) hit[ri][ci] += pred[i] == lab[i];
                }
            }
        }
        if (!quiet && isatty(2)) {
            fprintf(stderr, "\rsubset table %lld/%lld", (long long)(s0 + n), (long long)N);
            fflush(stderr);
        }
    }
    if (!quiet && isatty(2)) fputc('\n', stderr);
    r->n_sub = nr;
    r->n_sub_mod = nc;
    for (int ci = 0; ci < nc; ci++) snprintf(r->sub_mod_name[ci], sizeof r->sub_mod_name[ci], "%s", m->mod[col[ci]].info.name);
    for (int ri = 0; ri < nr; ri++) {
        r->sub_given[ri] = rows[ri];
        mvae_model_subset_name(m, rows[ri], r->sub_name[ri], sizeof r->sub_name[ri]);
        for (int ci = 0; ci < nc; ci++) {
            bool cat = m->mod[col[ci]].info.type == MVAE_MOD_CATEGORICAL;
            r->sub_nll[ri][ci] = cnt[ri][ci] > 0 ? sum[ri][ci] / cnt[ri][ci] : NAN;
            r->sub_acc[ri][ci] = (cnt[ri][ci] > 0 && cat) ? hit[ri][ci] / cnt[ri][ci] : NAN;
        }
    }
    if (!quiet) { /* the table, as it would be read */
        char nm[256];
        fprintf(stderr, "given-subset table (-log p(x_k | mean q(z | given)); accuracy of categorical k):\n  %-28s", "given");
        for (int ci = 0; ci < nc; ci++) fprintf(stderr, " %12.12s", r->sub_mod_name[ci]);
        fputc('\n', stderr);
        for (int ri = 0; ri < nr; ri++) {
            fprintf(stderr, "  %-28.28s", mvae_model_subset_name(m, rows[ri], nm, sizeof nm));
            for (int k = 0; k < nc; k++) { /* k: the column */
                if (isfinite(r->sub_acc[ri][k])) fprintf(stderr, "  %5.3f acc   ", r->sub_acc[ri][k]);
                else if (isfinite(r->sub_nll[ri][k])) fprintf(stderr, " %12.3f", r->sub_nll[ri][k]);
                else fprintf(stderr, " %12s", "-");
            }
            fputc('\n', stderr);
        }
    }
    rc = MVAE_OK;
    goto done;
ctxfail:
    rc = mvae_error_set(err, rc ? rc : MVAE_ERR_INVALID, "eval.subsets: %s", mvae_ctx_error(ctx));
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(idx);
    free(pred);
    return rc;
}
