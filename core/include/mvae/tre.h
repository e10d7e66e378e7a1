/* mvae/tre.h — Tree Reconstruction Error (Andreas 2019, "Measuring compositionality in
 * representation learning", ICLR), with additive composition.
 *
 *   // 3 items, 2 slots each (e.g. role, skin tone), primitives numbered 0..4
 *   int prims[] = {0, 3,  1, 3,  0, 4};
 *   double err[3], tre;
 *   mvae_tre(reps, 3, dim, prims, 2, 5, MVAE_TRE_L1, NULL, err, &tre, &e);
 *
 * One embedding per primitive (dim floats), zero-initialised; an item's prediction is the sum of
 * its primitives' embeddings; the summed distance between predictions and representations is
 * minimised by full-batch RMSprop (lr 0.01, alpha 0.99, eps 1e-8; 400 steps), as jacobandreas/tre
 * `evals2.py`. TRE = the per-item distance after training; lower = more compositional (0 for a
 * representation that is exactly additive in the primitives).
 */
#ifndef MVAE_TRE_H
#define MVAE_TRE_H
#include "mvae/common.h"
#ifdef __cplusplus
extern "C" {
#endif
typedef enum mvae_tre_dist {
    MVAE_TRE_L1 = 0,  /* sum_d |pred_d - r_d| */
    MVAE_TRE_COS = 1, /* 1 - cos(pred, r) */
} mvae_tre_dist;
typedef struct mvae_tre_opts {
    int steps;  /* 0 = 400 */
    double lr;  /* 0 = 0.01 */
} mvae_tre_opts;
/* reps [n, dim] (row-major); prims [n, n_slots]: each item's primitive ids in [0, n_prims), or -1
 * for an empty slot. item_err (may be NULL) [n]: each item's final distance; *mean: their mean.
 * opts NULL = the defaults. Bad sizes or ids: MVAE_ERR_INVALID naming the item and slot. */
int mvae_tre(const float *reps, int n, int dim, const int *prims, int n_slots, int n_prims, int dist,
             const mvae_tre_opts *opts, double *item_err, double *mean, mvae_error *err);
/* The fit alone: the embeddings *emb [n_prims, dim] (malloc'd, the caller frees; emb may be NULL)
 * and the fitted items' mean distance *mean. */
int mvae_tre_fit(const float *reps, int n, int dim, const int *prims, int n_slots, int n_prims, int dist,
                 const mvae_tre_opts *opts, double **emb, double *mean, mvae_error *err);
/* Held-out TRE: the embeddings are fitted on the n_fit items (fit_reps, fit_prims), then the
 * n_eval other items are predicted from them with no refit: eval_err (may be NULL) [n_eval] and
 * *eval_mean their distances, *fit_mean (may be NULL) the fitted items' mean. A primitive of a
 * held-out item that no fitted item has keeps its zero embedding. Used by the compositionality
 * probe (docs/results/compositionality.md) with the factor embeddings learned on the seen
 * combinations and evaluated on the unseen ones. */
int mvae_tre_heldout(const float *fit_reps, const int *fit_prims, int n_fit, const float *eval_reps,
                     const int *eval_prims, int n_eval, int dim, int n_slots, int n_prims, int dist,
                     const mvae_tre_opts *opts, double *eval_err, double *fit_mean, double *eval_mean,
                     mvae_error *err);
#ifdef __cplusplus
}
#endif
#endif
