/* tre.c — Tree Reconstruction Error with additive composition (mvae/tre.h). Gradients by hand:
 * the model is linear in the embeddings, so no tape is needed. */
#include "mvae/tre.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* distance between p and r, and (when g) its gradient with respect to p into g */
static double dist_grad(int kind, const double *p, const float *r, int dim, double *g) {
    if (kind == MVAE_TRE_L1) {
        double s = 0;
        for (int d = 0; d < dim; d++) {
            double x = p[d] - r[d];
            s += fabs(x);
            if (g) g[d] = x > 0 ? 1 : (x < 0 ? -1 : 0);
        }
        return s;
    }
    double pr = 0, pp = 0, rr = 0;
    for (int d = 0; d < dim; d++) pr += p[d] * r[d], pp += p[d] * p[d], rr += (double)r[d] * r[d];
    double np = sqrt(pp), nr = sqrt(rr);
    if (np < 1e-12 || nr < 1e-12) { /* cos undefined at 0: distance 1, gradient towards r */
        if (g)
            for (int d = 0; d < dim; d++) g[d] = nr > 0 ? -r[d] / nr : 0;
        return 1.0;
    }
    double c = pr / (np * nr);
    if (g) /* d(1 - cos)/dp = -(r / (|p||r|) - cos p / |p|^2) */
        for (int d = 0; d < dim; d++) g[d] = -(r[d] / (np * nr) - c * p[d] / pp);
    return 1.0 - c;
}

/* an item's prediction: the sum of its primitives' embeddings */
static void predict(const double *E, const int *prims_i, int n_slots, int dim, double *pred) {
    memset(pred, 0, (size_t)dim * sizeof *pred);
    for (int s = 0; s < n_slots; s++) {
        int p = prims_i[s];
        if (p >= 0)
            for (int d = 0; d < dim; d++) pred[d] += E[(size_t)p * dim + d];
    }
}

static int check_items(const char *what, const int *prims, int n, int n_slots, int n_prims, mvae_error *err) {
    for (int i = 0; i < n; i++)
        for (int s = 0; s < n_slots; s++) {
            int p = prims[i * n_slots + s];
            if (p < -1 || p >= n_prims)
                return mvae_error_set(err, MVAE_ERR_INVALID, "tre: %sitem %d slot %d: primitive %d is outside [0, %d) "
                                      "(-1 = empty slot)", what, i, s, p, n_prims);
        }
    return MVAE_OK;
}

int mvae_tre_heldout(const float *fit_reps, const int *fit_prims, int n_fit, const float *eval_reps,
                     const int *eval_prims, int n_eval, int dim, int n_slots, int n_prims, int dist,
                     const mvae_tre_opts *opts, double *eval_err, double *fit_mean, double *eval_mean,
                     mvae_error *err) {
    if (!eval_reps || !eval_prims || !eval_mean || n_eval < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID, "tre: held-out: need n_eval >= 1 (got %d) and non-NULL eval_reps, "
                              "eval_prims, eval_mean", n_eval);
    int rc = check_items("held-out ", eval_prims, n_eval, n_slots, n_prims, err);
    if (rc) return rc;
    double *E = NULL, fm = 0;
    if ((rc = mvae_tre_fit(fit_reps, n_fit, dim, fit_prims, n_slots, n_prims, dist, opts, &E, &fm, err))) return rc;
    double *pred = malloc((size_t)dim * sizeof *pred);
    if (!pred) {
        free(E);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "tre: out of memory");
    }
    double total = 0;
    for (int i = 0; i < n_eval; i++) {
        predict(E, eval_prims + (size_t)i * n_slots, n_slots, dim, pred);
        double e = dist_grad(dist, pred, eval_reps + (size_t)i * dim, dim, NULL);
        if (eval_err) eval_err[i] = e;
        total += e;
    }
    if (fit_mean) *fit_mean = fm;
    *eval_mean = total / n_eval;
    free(pred);
    free(E);
    return MVAE_OK;
}

int mvae_tre(const float *reps, int n, int dim, const int *prims, int n_slots, int n_prims, int dist,
             const mvae_tre_opts *opts, double *item_err, double *mean, mvae_error *err) {
    double *E = NULL;
    int rc = mvae_tre_fit(reps, n, dim, prims, n_slots, n_prims, dist, opts, &E, mean, err);
    if (rc) return rc;
    if (item_err) {
        double *pred = malloc((size_t)dim * sizeof *pred);
        if (!pred) {
            free(E);
            return mvae_error_set(err, MVAE_ERR_NOMEM, "tre: out of memory");
        }
        for (int i = 0; i < n; i++) {
            predict(E, prims + (size_t)i * n_slots, n_slots, dim, pred);
            item_err[i] = dist_grad(dist, pred, reps + (size_t)i * dim, dim, NULL);
        }
        free(pred);
    }
    free(E);
    return MVAE_OK;
}

int mvae_tre_fit(const float *reps, int n, int dim, const int *prims, int n_slots, int n_prims, int dist,
                 const mvae_tre_opts *opts, double **emb, double *mean, mvae_error *err) {
    if (emb) *emb = NULL;
    if (!reps || !prims || !mean || n < 1 || dim < 1 || n_slots < 1 || n_prims < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID, "tre: need n >= 1 items, dim >= 1, n_slots >= 1, n_prims >= 1 "
                              "(got %d, %d, %d, %d) and non-NULL reps, prims, mean", n, dim, n_slots, n_prims);
    if (dist != MVAE_TRE_L1 && dist != MVAE_TRE_COS)
        return mvae_error_set(err, MVAE_ERR_INVALID, "tre: unknown distance %d (MVAE_TRE_L1 or MVAE_TRE_COS)", dist);
    int rc = check_items("", prims, n, n_slots, n_prims, err);
    if (rc) return rc;
    int steps = opts && opts->steps > 0 ? opts->steps : 400;
    double lr = opts && opts->lr > 0 ? opts->lr : 0.01;
    size_t ne = (size_t)n_prims * dim;
    double *E = calloc(ne, sizeof *E), *G = calloc(ne, sizeof *G), *V = calloc(ne, sizeof *V);
    double *pred = malloc((size_t)dim * sizeof *pred), *g = malloc((size_t)dim * sizeof *g);
    if (!E || !G || !V || !pred || !g) {
        free(E), free(G), free(V), free(pred), free(g);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "tre: out of memory");
    }
    /* steps of full-batch RMSprop, then one pass for the final errors */
    for (int it = 0; it <= steps; it++) {
        memset(G, 0, ne * sizeof *G);
        double total = 0;
        for (int i = 0; i < n; i++) {
            predict(E, prims + (size_t)i * n_slots, n_slots, dim, pred);
            double e = dist_grad(dist, pred, reps + (size_t)i * dim, dim, it < steps ? g : NULL);
            total += e;
            if (it == steps) continue;
            for (int s = 0; s < n_slots; s++) {
                int p = prims[i * n_slots + s];
                if (p >= 0)
                    for (int d = 0; d < dim; d++) G[(size_t)p * dim + d] += g[d];
            }
        }
        if (it == steps) {
            *mean = total / n;
            break;
        }
        for (size_t j = 0; j < ne; j++) { /* PyTorch's RMSprop: alpha 0.99, eps 1e-8 */
            V[j] = 0.99 * V[j] + 0.01 * G[j] * G[j];
            E[j] -= lr * G[j] / (sqrt(V[j]) + 1e-8);
        }
    }
    free(G), free(V), free(pred), free(g);
    if (emb) *emb = E;
    else free(E);
    return MVAE_OK;
}
