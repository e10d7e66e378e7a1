/* impartial_internal.h — pieces of impartial.c that tests check on their own (not installed). */
#ifndef MVAE_IMPARTIAL_INTERNAL_H
#define MVAE_IMPARTIAL_INTERNAL_H
#include "mvae/impartial.h"

/* GradNorm's balancing loss L = sum_i |w_i n_i - m r_i^alpha| (w = K softmax(theta) with the
 * reference's clamp, r_i = (n_i / v0_i) / mean(n / v0)) and its gradient dtheta[K] (may be NULL)
 * with m = mean(w n) held constant (detached, as the reference): m < 0 computes it at theta. */
double mvae_impartial_gradnorm_loss(int K, const float *theta, const double *norms, const float *v0,
                                    double alpha, double m, double *dtheta);

/* Eigen-decomposition of a symmetric n x n matrix (cyclic Jacobi): a is destroyed, lambda[n]
 * eigenvalues, V[n*n] eigenvectors in columns (V[i*n+j] = component i of vector j). */
void mvae_impartial_eig_sym(int n, double *a, double *lambda, double *V);
#endif
