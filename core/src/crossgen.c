/* crossgen.c — cross-modal generation: the eval.cross metrics (PSNR, IoU, F1, accuracy, MSE of a
 * modality generated from another one alone) and the cross_<from>.png grids. Definitions:
 * docs/metrics.md. */
#include "eval_internal.h"
#include "mvae/image.h"
#include "mvae/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- metrics */
double mvae_psnr(const float *pred, const float *target, int64_t n) {
    double se = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        se += d * d;
    }
    double mse = n > 0 ? se / (double)n : 0;
    if (mse <= 1e-10) return 100.0;
    double p = -10.0 * log10(mse);
    return p > 100.0 ? 100.0 : p;
}

double mvae_iou(const float *pred, const float *target, int64_t n, float t) {
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; i++) {
        int a = pred[i] > t, b = target[i] > 0.5f;
        inter += a && b;
        uni += a || b;
    }
    return uni ? (double)inter / (double)uni : 1.0;
}

void mvae_binary_counts(const float *pred, const float *target, int64_t n, int64_t K, int64_t *tp,
                        int64_t *fp, int64_t *fn, int64_t *tn) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < K; k++) {
            int p = pred[i * K + k] > 0.5f, t = target[i * K + k] > 0.5f;
            tp[k] += p && t;
            fp[k] += p && !t;
            fn[k] += !p && t;
            tn[k] += !p && !t;
        }
}

double mvae_f1(int64_t tp, int64_t fp, int64_t fn) {
    int64_t d = 2 * tp + fp + fn;
    return d ? 2.0 * (double)tp / (double)d : NAN;
}

/* ----------------------------------------------------------------------------------- pairs */
typedef struct cross_pair {
    uint32_t from;
    int to;
    int metric; /* index in metric_names */
    double sum;  /* psnr / iou / mse / accuracy: sum over samples (accuracy: over elements) */
    double count;
    int64_t *tp, *fp, *fn, *tn; /* f1 */
} cross_pair;

static const char *const metric_names[] = {"psnr", "iou", "f1", "accuracy", "mse", NULL};
enum { M_PSNR, M_IOU, M_F1, M_ACC, M_MSE };

static int parse_pairs(const mvae_model *m, cross_pair *pairs, int *n, mvae_error *err) {
    *n = 0;
    mvae_cfg_node *cn = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.cross");
    if (!cn || cn->kind != MVAE_CFG_SEQ) return MVAE_OK;
    char where[256];
    for (int i = 0; i < cn->n_items; i++) {
        mvae_cfg_node *it = cn->items[i];
        if (*n >= MVAE_MAX_CROSS)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: eval.cross: at most %d entries", mvae_cfg_where(it, where, sizeof where),
                                  MVAE_MAX_CROSS);
        const char *from = "", *to = "", *metric = "";
        if (mvae_cfg_string_or(it, "from", "", &from, err) || mvae_cfg_string_or(it, "to", "", &to, err) ||
            mvae_cfg_string_or(it, "metric", "", &metric, err))
            return err->status;
        cross_pair *p = &pairs[*n];
        memset(p, 0, sizeof *p);
        if (mvae_model_parse_subset(m, from, &p->from, err) || mvae_model_check_given(m, p->from, "from", err)) {
            mvae_error_prefix(err, "%s: eval.cross.from", mvae_cfg_where(it, where, sizeof where));
            return err->status;
        }
        p->to = mvae_model_find(m, to);
        if (p->to < 0)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: eval.cross.to: '%s' is not a modality of this experiment",
                                  mvae_cfg_where(it, where, sizeof where), to);
        p->metric = -1;
        for (int k = 0; metric_names[k]; k++)
            if (strcmp(metric, metric_names[k]) == 0) p->metric = k;
        const mvae_modality_info *ti = &m->mod[p->to].info;
        bool index = mvae_modality_is_index(ti);
        if (p->metric < 0 || (index && p->metric != M_ACC))
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: eval.cross: metric '%s' does not fit modality '%s' (%s)%s",
                                  mvae_cfg_where(it, where, sizeof where), metric, to, mvae_modality_type_name(ti->type),
                                  index ? ": use accuracy" : ": use psnr, iou, f1, accuracy or mse");
        if (p->metric == M_F1) {
            int64_t K = mvae_modality_numel(ti);
            p->tp = calloc((size_t)K * 4, sizeof(int64_t));
            if (!p->tp) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            p->fp = p->tp + K;
            p->fn = p->tp + 2 * K;
            p->tn = p->tp + 3 * K;
        }
        (*n)++;
    }
    return MVAE_OK;
}

static void free_pairs(cross_pair *pairs, int n) {
    for (int i = 0; i < n; i++) free(pairs[i].tp);
}

int mvae_eval_check_cross(const mvae_model *m, mvae_error *err) {
    cross_pair pairs[MVAE_MAX_CROSS];
    int n = 0;
    int rc = parse_pairs(m, pairs, &n, err);
    free_pairs(pairs, n);
    return rc;
}

int mvae_evaluate_cross(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err) {
    r->n_cross = 0;
    cross_pair pairs[MVAE_MAX_CROSS];
    int np = 0, rc;
    if ((rc = parse_pairs(m, pairs, &np, err)) || np == 0) {
        for (int i = 0; i < np; i++) free(pairs[i].tp);
        return rc;
    }
    int64_t bs = 100;
    mvae_cfg_int_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "eval"), "batch_size", 100, &bs, err);
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    int64_t N = dv->size(m->ds, split);
    int64_t maxe = 1;
    for (int k = 0; k < m->n_mod; k++) {
        int64_t e = mvae_modality_numel(&m->mod[k].info) * (m->mod[k].info.type == MVAE_MOD_CATEGORICAL ? m->mod[k].info.n_classes : 1);
        if (e > maxe) maxe = e;
    }
    uint32_t enc = 0;
    for (int i = 0; i < np; i++) enc |= pairs[i].from;
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t *idx = malloc((size_t)bs * sizeof *idx);
    float *mean = malloc((size_t)(bs * maxe) * sizeof(float));
    int32_t *am = malloc((size_t)bs * sizeof *am);
    if (!ctx || !idx || !mean || !am || (rc = mvae_batch_init(&b, m, (int)bs, err))) {
        rc = rc ? rc : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    for (int64_t s = 0; s < N; s += bs) {
        int n = (int)((N - s) < bs ? (N - s) : bs);
        for (int i = 0; i < n; i++) idx[i] = s + i;
        if ((rc = mvae_batch_fill(&b, m, split, idx, n, NULL, err))) goto done;
        mvae_ctx_reset(ctx);
        mvae_experts e;
        if ((rc = mvae_model_encode(m, ctx, &b, enc, &e))) goto ctxfail;
        for (int a = 0; a < np; a++) {
            cross_pair *p = &pairs[a];
            mvae_posterior q;
            mvae_tensor *valid;
            int any;
            if ((rc = mvae_model_posterior(m, ctx, &e, p->from, &q, &valid, &any))) goto ctxfail;
            if (!any) continue;
            mvae_tensor *zm = fv->mean(m->fusion, ctx, &q);
            const mvae_modality *md = &m->mod[p->to];
            int64_t E = mvae_modality_numel(&md->info);
            if (!zm) goto ctxfail;
            if (md->likelihood == MVAE_LIK_CATEGORICAL && md->dec) {
                mvae_tensor *par = mvae_model_decode(m, ctx, p->to, zm);
                if (!par) goto ctxfail;
                mvae_argmax_rows(par->data, n, par->n / n, am);
                const int32_t *lab = (const int32_t *)(const void *)b.x[p->to];
                for (int i = 0; i < n; i++)
                    if (valid->data[i] > 0 && b.present[i * m->n_mod + p->to]) {
                        p->sum += am[i] == lab[i];
                        p->count += 1;
                    }
                continue;
            }
            /* the decoder's mean, or a flow's image of the base's mode (deterministic) */
            if (mvae_model_generate(m, ctx, p->to, zm, NULL, mean)) goto ctxfail;
            for (int i = 0; i < n; i++) {
                if (!(valid->data[i] > 0) || !b.present[i * m->n_mod + p->to]) continue;
                const float *pr = mean + (size_t)i * (size_t)E, *tg = b.x[p->to] + (size_t)i * (size_t)E;
                switch (p->metric) {
                case M_PSNR: p->sum += mvae_psnr(pr, tg, E); p->count += 1; break;
                case M_IOU: p->sum += mvae_iou(pr, tg, E, 0.5f); p->count += 1; break;
                case M_MSE: {
                    double se = 0;
                    for (int64_t k = 0; k < E; k++) se += ((double)pr[k] - tg[k]) * ((double)pr[k] - tg[k]);
                    p->sum += se / (double)E;
                    p->count += 1;
                    break;
                }
                case M_ACC:
                    for (int64_t k = 0; k < E; k++) p->sum += (pr[k] > 0.5f) == (tg[k] > 0.5f);
                    p->count += (double)E;
                    break;
                case M_F1: mvae_binary_counts(pr, tg, 1, E, p->tp, p->fp, p->fn, p->tn); break;
                }
            }
        }
    }
    char nm[MVAE_SUBSET_NAME_MAX];
    for (int a = 0; a < np; a++) {
        cross_pair *p = &pairs[a];
        snprintf(r->cross_name[a], sizeof r->cross_name[a], "%s->%s", mvae_model_subset_name(m, p->from, nm, sizeof nm),
                 m->mod[p->to].info.name);
        snprintf(r->cross_metric[a], sizeof r->cross_metric[a], "%s", metric_names[p->metric]);
        r->cross[a][0] = r->cross[a][1] = r->cross[a][2] = NAN;
        if (p->metric != M_F1) {
            r->cross[a][0] = p->count > 0 ? p->sum / p->count : NAN;
        } else {
            int64_t K = mvae_modality_numel(&m->mod[p->to].info), TP = 0, FP = 0, FN = 0, TN = 0;
            double macro = 0, acc = 0;
            int nm_ = 0;
            for (int64_t k = 0; k < K; k++) {
                double f = mvae_f1(p->tp[k], p->fp[k], p->fn[k]);
                if (!isnan(f)) macro += f, nm_++;
                int64_t tot = p->tp[k] + p->fp[k] + p->fn[k] + p->tn[k];
                if (tot) acc += (double)(p->tp[k] + p->tn[k]) / (double)tot;
                TP += p->tp[k], FP += p->fp[k], FN += p->fn[k], TN += p->tn[k];
            }
            r->cross[a][0] = nm_ ? macro / nm_ : NAN;
            r->cross[a][1] = mvae_f1(TP, FP, FN);
            r->cross[a][2] = K ? acc / (double)K : NAN;
        }
        if (!quiet) {
            if (p->metric == M_F1)
                fprintf(stderr, "cross %s: f1 macro %.4f  f1 micro %.4f  accuracy %.4f\n", r->cross_name[a], r->cross[a][0],
                        r->cross[a][1], r->cross[a][2]);
            else
                fprintf(stderr, "cross %s: %s %.4f\n", r->cross_name[a], r->cross_metric[a], r->cross[a][0]);
        }
    }
    r->n_cross = np;
    rc = MVAE_OK;
    goto done;
ctxfail:
    rc = mvae_error_set(err, rc ? rc : MVAE_ERR_INVALID, "eval.cross: %s", mvae_ctx_error(ctx));
done:
    for (int i = 0; i < np; i++) free(pairs[i].tp);
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(idx);
    free(mean);
    free(am);
    return rc;
}

/* --------------------------------------------------------------------------------- pictures */
static bool drawable(const mvae_modality_info *mi, int64_t H, int64_t W) {
    return mi->type == MVAE_MOD_IMAGE && (mi->shape[0] == 1 || mi->shape[0] == 3) && mi->shape[1] == H && mi->shape[2] == W;
}

/* n images of modality info mi (planar [n, C, H, W]) as RGB into out [n, 3, H, W] */
static void to_rgb(const mvae_modality_info *mi, const float *src, int n, float *out) {
    size_t hw = (size_t)(mi->shape[1] * mi->shape[2]);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            memcpy(out + ((size_t)i * 3 + (size_t)c) * hw, src + ((size_t)i * (size_t)mi->shape[0] + (mi->shape[0] == 3 ? (size_t)c : 0)) * hw,
                   hw * sizeof(float));
}

int mvae_write_cross_pictures(mvae_model *m, const char *dir, bool quiet, mvae_error *err) {
    int first = -1;
    for (int k = 0; k < m->n_mod && first < 0; k++)
        if (m->mod[k].info.type == MVAE_MOD_IMAGE && (m->mod[k].info.shape[0] == 1 || m->mod[k].info.shape[0] == 3)) first = k;
    if (first < 0 || m->n_mod < 2) return MVAE_OK;
    int64_t H = m->mod[first].info.shape[1], W = m->mod[first].info.shape[2];
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    int64_t N = dv->size(m->ds, MVAE_SPLIT_TEST);
    if (N < 1) return MVAE_OK;
    const int ncol = N < 8 ? (int)N : 8;
    size_t tile = (size_t)(3 * H * W);
    int rows_max = 1 + 2 * m->n_mod;
    float *grid = malloc(tile * (size_t)ncol * (size_t)rows_max * sizeof(float));
    float *mean = malloc((size_t)(3 * H * W) * (size_t)ncol * sizeof(float));
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_batch b;
    memset(&b, 0, sizeof b);
    int rc = mvae_batch_init(&b, m, ncol, err);
    if (rc || !grid || !mean || !ctx) {
        rc = rc ? rc : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    int64_t idx[8];
    for (int i = 0; i < ncol; i++) idx[i] = (int64_t)i * N / ncol; /* spread over the test split */
    if ((rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, ncol, NULL, err))) goto done;
    uint32_t all = (1u << m->n_mod) - 1;
    for (int f = 0; f < m->n_mod; f++) {
        if (!(m->encodable & (1u << f))) continue; /* nothing is generated from a decoder-only modality */
        mvae_ctx_reset(ctx);
        mvae_experts e;
        mvae_posterior q;
        mvae_tensor *valid;
        int any, row = 0;
        if (mvae_model_encode(m, ctx, &b, all, &e) || mvae_model_posterior(m, ctx, &e, 1u << f, &q, &valid, &any)) goto ctxfail;
        if (!any) continue;
        mvae_tensor *zm = fv->mean(m->fusion, ctx, &q);
        if (!zm) goto ctxfail;
        if (drawable(&m->mod[f].info, H, W)) to_rgb(&m->mod[f].info, b.x[f], ncol, grid + tile * (size_t)(ncol * row++));
        for (int t = 0; t < m->n_mod; t++) {
            if (t == f || !drawable(&m->mod[t].info, H, W)) continue;
            if (mvae_model_generate(m, ctx, t, zm, NULL, mean)) goto ctxfail;
            to_rgb(&m->mod[t].info, b.x[t], ncol, grid + tile * (size_t)(ncol * row++));
            to_rgb(&m->mod[t].info, mean, ncol, grid + tile * (size_t)(ncol * row++));
        }
        if (row < 2) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/cross_%s.png", dir, m->mod[f].info.name);
        if ((rc = mvae_png_write_grid_scaled(path, grid, row * ncol, 3, (int)H, (int)W, ncol, 2, 0, err))) goto done;
        if (!quiet) {
            char rows[512];
            size_t k = (size_t)snprintf(rows, sizeof rows, "%s", drawable(&m->mod[f].info, H, W) ? m->mod[f].info.name : "");
            for (int t = 0; t < m->n_mod && k < sizeof rows; t++)
                if (t != f && drawable(&m->mod[t].info, H, W))
                    k += (size_t)snprintf(rows + k, sizeof rows - k, "%strue %s, %s from %s", k ? "; " : "", m->mod[t].info.name,
                                          m->mod[t].info.name, m->mod[f].info.name);
            MVAE_INFO("wrote %s (rows: %s)", path, rows);
        }
    }
    rc = MVAE_OK;
    goto done;
ctxfail:
    rc = mvae_error_set(err, MVAE_ERR_INVALID, "cross pictures: %s", mvae_ctx_error(ctx));
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(grid);
    free(mean);
    return rc;
}
