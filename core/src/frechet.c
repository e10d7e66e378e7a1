/* frechet.c — the Fréchet distance of two Gaussians (mvae/frechet.h), its symmetric
 * eigendecomposition and PSD square root, and the running feature statistics. */
#include "mvae/frechet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mvae_eigh(const double *A, int n, double *w, double *V) {
    size_t nn = (size_t)n * (size_t)n;
    double *a = malloc(nn * sizeof *a);
    if (!a) return MVAE_ERR_NOMEM;
    memcpy(a, A, nn * sizeof *a);
    for (size_t i = 0; i < nn; i++)
        if (!isfinite(a[i])) {
            free(a);
            return MVAE_ERR_NUMERIC;
        }
    memset(V, 0, nn * sizeof *V);
    for (int i = 0; i < n; i++) V[(size_t)i * n + i] = 1.0;
    double scale = 0;
    for (size_t i = 0; i < nn; i++) scale += a[i] * a[i];
    int rc = MVAE_ERR_NUMERIC;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += a[(size_t)p * n + q] * a[(size_t)p * n + q];
        if (off <= 1e-30 * scale || off == 0) {
            rc = MVAE_OK;
            break;
        }
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[(size_t)p * n + q];
                if (apq == 0) continue;
                double app = a[(size_t)p * n + p], aqq = a[(size_t)q * n + q];
                /* the rotation that zeroes a_pq (Golub & Van Loan, sym.schur2) */
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q: A <- A J */
                    double akp = a[(size_t)k * n + p], akq = a[(size_t)k * n + q];
                    a[(size_t)k * n + p] = c * akp - s * akq;
                    a[(size_t)k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q: A <- J^T A */
                    double apk = a[(size_t)p * n + k], aqk = a[(size_t)q * n + k];
                    a[(size_t)p * n + k] = c * apk - s * aqk;
                    a[(size_t)q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) { /* V <- V J */
                    double vkp = V[(size_t)k * n + p], vkq = V[(size_t)k * n + q];
                    V[(size_t)k * n + p] = c * vkp - s * vkq;
                    V[(size_t)k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) w[i] = a[(size_t)i * n + i];
    free(a);
    return rc;
}

int mvae_sqrtm_psd(const double *A, int n, double *S) {
    double *w = malloc((size_t)n * sizeof *w), *V = malloc((size_t)n * n * sizeof *V);
    int rc = w && V ? mvae_eigh(A, n, w, V) : MVAE_ERR_NOMEM;
    if (!rc) {
        for (int i = 0; i < n; i++) w[i] = w[i] > 0 ? sqrt(w[i]) : 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += V[(size_t)i * n + k] * w[k] * V[(size_t)j * n + k];
                S[(size_t)i * n + j] = acc;
            }
    }
    free(w);
    free(V);
    return rc;
}

/* C = A B (n x n, row-major) */
static void matmul(const double *A, const double *B, double *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) C[(size_t)i * n + j] = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double aik = A[(size_t)i * n + k];
            for (int j = 0; j < n; j++) C[(size_t)i * n + j] += aik * B[(size_t)k * n + j];
        }
}

int mvae_frechet_gaussians(const double *mu1, const double *S1, const double *mu2, const double *S2, int n,
                           double *out) {
    size_t nn = (size_t)n * n;
    double *R = malloc(nn * sizeof *R), *T = malloc(nn * sizeof *T), *C = malloc(nn * sizeof *C);
    double *w = malloc((size_t)n * sizeof *w), *V = malloc(nn * sizeof *V);
    int rc = R && T && C && w && V ? mvae_sqrtm_psd(S1, n, R) : MVAE_ERR_NOMEM;
    if (!rc) {
        matmul(R, S2, T, n);
        matmul(T, R, C, n);
        for (int i = 0; i < n; i++) /* symmetrise the round-off */
            for (int j = i + 1; j < n; j++) {
                double v = 0.5 * (C[(size_t)i * n + j] + C[(size_t)j * n + i]);
                C[(size_t)i * n + j] = C[(size_t)j * n + i] = v;
            }
        rc = mvae_eigh(C, n, w, V);
    }
    if (!rc) {
        double d = 0, tr = 0;
        for (int i = 0; i < n; i++) {
            d += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
            tr += S1[(size_t)i * n + i] + S2[(size_t)i * n + i] - 2 * (w[i] > 0 ? sqrt(w[i]) : 0);
        }
        *out = d + tr;
    }
    free(R);
    free(T);
    free(C);
    free(w);
    free(V);
    return rc;
}

int mvae_feature_stats_init(mvae_feature_stats *s, int d) {
    memset(s, 0, sizeof *s);
    s->d = d;
    s->sum = calloc((size_t)d, sizeof *s->sum);
    s->outer = calloc((size_t)d * d, sizeof *s->outer);
    if (!s->sum || !s->outer) {
        mvae_feature_stats_free(s);
        return MVAE_ERR_NOMEM;
    }
    return MVAE_OK;
}

void mvae_feature_stats_free(mvae_feature_stats *s) {
    free(s->sum);
    free(s->outer);
    s->sum = s->outer = NULL;
}

void mvae_feature_stats_add(mvae_feature_stats *s, const float *x, int64_t n, int d) {
    MVAE_ASSERT(d == s->d);
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + r * d;
        for (int i = 0; i < d; i++) {
            double xi = row[i];
            s->sum[i] += xi;
            if (xi == 0) continue; /* ReLU features are sparse */
            double *o = s->outer + (size_t)i * d;
            for (int j = 0; j < d; j++) o[j] += xi * row[j];
        }
    }
    s->n += n;
}

int mvae_feature_stats_moments(const mvae_feature_stats *s, double *mean, double *cov, mvae_error *err) {
    if (s->n < 2)
        return mvae_error_set(err, MVAE_ERR_INVALID, "a covariance needs at least 2 feature rows, got %lld",
                              (long long)s->n);
    int d = s->d;
    double n = (double)s->n;
    for (int i = 0; i < d; i++) mean[i] = s->sum[i] / n;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            cov[(size_t)i * d + j] = (s->outer[(size_t)i * d + j] - n * mean[i] * mean[j]) / (n - 1);
    return MVAE_OK;
}

int mvae_feature_stats_frechet(const mvae_feature_stats *a, const mvae_feature_stats *b, double *out,
                               mvae_error *err) {
    if (a->d != b->d)
        return mvae_error_set(err, MVAE_ERR_INVALID, "Fréchet distance: %d against %d features", a->d, b->d);
    int d = a->d, rc;
    double *m1 = malloc((size_t)d * sizeof *m1), *m2 = malloc((size_t)d * sizeof *m2);
    double *c1 = malloc((size_t)d * d * sizeof *c1), *c2 = malloc((size_t)d * d * sizeof *c2);
    if (!m1 || !m2 || !c1 || !c2) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    else if (!(rc = mvae_feature_stats_moments(a, m1, c1, err)) && !(rc = mvae_feature_stats_moments(b, m2, c2, err)) &&
             (rc = mvae_frechet_gaussians(m1, c1, m2, c2, d, out)))
        mvae_error_set(err, rc, "Fréchet distance: the eigendecomposition of a %dx%d covariance %s", d, d,
                       rc == MVAE_ERR_NOMEM ? "ran out of memory" : "did not converge (non-finite features?)");
    free(m1);
    free(m2);
    free(c1);
    free(c2);
    return rc;
}
