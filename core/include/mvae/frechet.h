/* mvae/frechet.h — the Fréchet distance between two Gaussians fitted to feature vectors
 * (Heusel et al. 2017, the "FID" formula), in double precision. Definition: docs/metrics.md.
 *
 *   mvae_feature_stats a, b;
 *   mvae_feature_stats_init(&a, 128); mvae_feature_stats_init(&b, 128);
 *   mvae_feature_stats_add(&a, feats_real, n, 128);     // rows [n, 128], any number of calls
 *   mvae_feature_stats_add(&b, feats_gen, n, 128);
 *   double fd; mvae_feature_stats_frechet(&a, &b, &fd, &err);
 *   mvae_feature_stats_free(&a); mvae_feature_stats_free(&b);
 *
 *   FD = |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2})
 *
 * (tr (S_1 S_2)^{1/2} equals the trace of the symmetric form used here, whose square root is
 * taken by a Jacobi eigendecomposition with negative round-off eigenvalues clamped to 0.)
 */
#ifndef MVAE_FRECHET_H
#define MVAE_FRECHET_H
#include "mvae/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Eigendecomposition of the symmetric n x n matrix A (row-major, not modified) by cyclic Jacobi
 * rotations: A = V diag(w) V^T, V's columns the eigenvectors. w [n], V [n * n]. Returns MVAE_OK,
 * or MVAE_ERR_NUMERIC when it did not converge in 100 sweeps or A is not finite. */
int mvae_eigh(const double *A, int n, double *w, double *V);
/* The symmetric positive semi-definite square root S = V diag(sqrt(max(w, 0))) V^T of the
 * symmetric A (S [n * n]). Returns MVAE_OK or MVAE_ERR_NUMERIC (see mvae_eigh). */
int mvae_sqrtm_psd(const double *A, int n, double *S);
/* The Fréchet distance between N(mu1, S1) and N(mu2, S2) (n-dimensional; S row-major). */
int mvae_frechet_gaussians(const double *mu1, const double *S1, const double *mu2, const double *S2, int n,
                           double *out);

/* Running sums of feature rows for a mean and a covariance. */
typedef struct mvae_feature_stats {
    int d;
    int64_t n;
    double *sum;   /* [d] */
    double *outer; /* [d * d], sum of x x^T */
} mvae_feature_stats;
int mvae_feature_stats_init(mvae_feature_stats *s, int d);
void mvae_feature_stats_free(mvae_feature_stats *s);
/* Add n rows x [n, d] (float, row-major; d must be s->d). */
void mvae_feature_stats_add(mvae_feature_stats *s, const float *x, int64_t n, int d);
/* mean [d] and the unbiased covariance [d * d] (n - 1 in the denominator); n >= 2. */
int mvae_feature_stats_moments(const mvae_feature_stats *s, double *mean, double *cov, mvae_error *err);
/* The Fréchet distance between the Gaussians fitted to a and b (same d, each n >= 2). */
int mvae_feature_stats_frechet(const mvae_feature_stats *a, const mvae_feature_stats *b, double *out,
                               mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
