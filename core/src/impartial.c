/* impartial.c — the methods table of the impartiality block and the combination engine: the Gram
 * matrix of the K branch gradients, each method's weights (or element-wise result), the norm
 * restoration of the reference code, diagnostics, settings parsing and state for checkpoints.
 *
 * Every method except GradDrop is written on the K x K Gram matrix G_ij = g_i . g_j (double):
 * it returns weights w and the result is sum_k w_k g_k, so the methods' work is O(K^3) whatever
 * the tensor's size, and the sequential vector algorithms of the papers (PCGrad's and GradVac's
 * projections) become updates of a K x K coefficient matrix with the same arithmetic. */
#include "impartial_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXK MVAE_IMPARTIAL_MAX_K

/* doubles of scratch a method's combine may use */
#define WORK_METHOD(K) (8 * (K) * (K) + 8 * (K))

struct mvae_impartial {
    const mvae_impartial_method *m[MVAE_IMPARTIAL_MAX_CHAIN]; /* applied in order */
    int n_m, K;
    char name[256];                           /* "gradnorm+pcgrad" */
    double opt[MVAE_IMPARTIAL_MAX_CHAIN][16]; /* each method's settings, options-table order */
    size_t state_off[MVAE_IMPARTIAL_MAX_CHAIN];
    bool norm_restore, diagnostics;
    mvae_rng *rng; /* caller-owned */
    float *state;  /* the methods' states end to end */
    size_t n_state;
    bool state_bound; /* state is caller memory (mvae_impartial_bind_state), not ours to free */
    double
        *work; /* WORK_METHOD(K), then G, the current Gram, W_m, W_total, a temporary (K^2 each) */
    float *fbuf; /* direct methods: out[N] + (K+2) * cols, grown on demand */
    size_t fbuf_cap;
    double last_w[MAXK], last_scale;
    mvae_impartial_stats st;
    double cos_sum[MAXK * MAXK], norm_sum[MAXK], conflict_sum, scale_sum;
};

/* ================================================================================================
 * small dense linear algebra on K x K doubles
 * ============================================================================================== */

void mvae_impartial_eig_sym(int n, double *a, double *lambda, double *V) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) V[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            diag += a[i * n + i] * a[i * n + i];
            for (int j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* a <- J^T a J */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = V[k * n + p], vkq = V[k * n + q];
                    V[k * n + p] = c * vkp - s * vkq;
                    V[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) lambda[i] = a[i * n + i];
}

/* Pseudo-inverse of a general n x n matrix M: (M^T M)^+ M^T, singular values below 1e-7 of the
 * largest treated as zero (float gradients carry ~7 digits). work: 3n^2 + n doubles. */
static void pinv(int n, const double *M, double *P, double *work) {
    double *A = work, *V = A + n * n, *B = V + n * n, *lam = B + n * n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += M[k * n + i] * M[k * n + j];
            A[i * n + j] = s;
        }
    mvae_impartial_eig_sym(n, A, lam, V);
    double lmax = 0;
    for (int i = 0; i < n; i++) lmax = fmax(lmax, lam[i]);
    /* B = V diag(1/lam) V^T over the kept eigenvalues */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                if (lam[k] > lmax * 1e-14 && lam[k] > 0) s += V[i * n + k] * V[j * n + k] / lam[k];
            B[i * n + j] = s;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += B[i * n + k] * M[j * n + k];
            P[i * n + j] = s;
        }
}

/* Solve A x = b (n x n, partial pivoting); A and b destroyed. false if singular. */
static bool solve(int n, double *A, double *b) {
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[p * n + c])) p = r;
        if (!(fabs(A[p * n + c]) > 1e-300)) return false;
        if (p != c) {
            for (int k = 0; k < n; k++) {
                double t = A[c * n + k];
                A[c * n + k] = A[p * n + k];
                A[p * n + k] = t;
            }
            double t = b[c];
            b[c] = b[p];
            b[p] = t;
        }
        for (int r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (int k = c; k < n; k++) A[r * n + k] -= f * A[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; c--) {
        double s = b[c];
        for (int k = c + 1; k < n; k++) s -= A[c * n + k] * b[k];
        b[c] = s / A[c * n + c];
    }
    return true;
}

/* Euclidean projection onto the probability simplex (Duchi et al. 2008). */
static void project_simplex(int n, const double *y, double *x) {
    double u[MAXK];
    memcpy(u, y, (size_t)n * sizeof *u);
    for (int i = 1; i < n; i++) { /* sort descending */
        double v = u[i];
        int j = i - 1;
        for (; j >= 0 && u[j] < v; j--) u[j + 1] = u[j];
        u[j + 1] = v;
    }
    double cs = 0, tau = 0;
    for (int i = 0; i < n; i++) {
        cs += u[i];
        double t = (cs - 1) / (i + 1);
        if (u[i] - t > 0) tau = t;
    }
    for (int i = 0; i < n; i++) x[i] = fmax(y[i] - tau, 0);
}

static double quad(int K, const double *G, const double *x) { /* x^T G x */
    double s = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) s += x[i] * G[i * K + j] * x[j];
    return s;
}

static void matvec(int K, const double *G, const double *x, double *y) {
    for (int i = 0; i < K; i++) {
        double s = 0;
        for (int j = 0; j < K; j++) s += G[i * K + j] * x[j];
        y[i] = s;
    }
}

static void ones(int K, double *w) {
    for (int k = 0; k < K; k++) w[k] = 1;
}

/* A method that weights each task: task k's output is w_k g_k, W = diag(w). */
static int diag_result(int K, const double *w, double *W) {
    memset(W, 0, (size_t)K * K * sizeof *W);
    for (int k = 0; k < K; k++) W[k * K + k] = w[k];
    return MVAE_IMPARTIAL_WEIGHTS;
}

/* A random order of {0..K-1} \ {skip} into perm (K-1 entries). */
static void others_in_random_order(mvae_rng *rng, int K, int skip, int *perm) {
    int n = 0;
    for (int j = 0; j < K; j++)
        if (j != skip) perm[n++] = j;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)mvae_rng_below(rng, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* ================================================================================================
 * the methods
 * ============================================================================================== */

/* ---- none: the plain sum (the engine sums in a fixed order, bit for bit) ---- */
static int combine_none(const mvae_impartial_job *j, double *W, float *out) {
    double w[MAXK];
    ones(j->K, w);
    return diag_result(j->K, w, W);
}

/* ---- PCGrad (Yu et al. 2020): g_i' = g_i projected off every g_j it conflicts with, j in a
 * random order, onto the ORIGINAL g_j; result sum_i g_i'. Row i of W holds g_i' = sum_l W_il g_l.
 */
static int combine_pcgrad(const mvae_impartial_job *j, double *W, float *out) {
    int K = j->K;
    const double *G = j->gram;
    int perm[MAXK];
    for (int i = 0; i < K; i++) {
        for (int l = 0; l < K; l++) W[i * K + l] = l == i;
        others_in_random_order(j->rng, K, i, perm);
        for (int t = 0; t < K - 1; t++) {
            int q = perm[t];
            double ip = 0;
            for (int l = 0; l < K; l++) ip += W[i * K + l] * G[l * K + q];
            if (ip < 0) W[i * K + q] -= ip / fmax(G[q * K + q], 1e-15);
        }
    }
    return MVAE_IMPARTIAL_WEIGHTS;
}

/* ---- GradVac (Wang et al. 2021): per pair an EMA target phi_ij of the cosine; when
 * cos(g_i', g_j) < phi_ij, g_i' += ||g_i'|| (phi sqrt(1-c^2) - c sqrt(1-phi^2)) /
 * (||g_j|| sqrt(1-phi^2)) g_j, which sets the cosine to phi; then phi_ij <- (1-beta) phi_ij + beta
 * c. opt: beta, reset (the reference's zeros-every-call EMA, = PCGrad's projection). state:
 * phi[K*K]. */
static int gradvac_state(int K) {
    return K * K;
}
static void gradvac_init(float *s, int K, const double *opt) {
    memset(s, 0, (size_t)K * K * sizeof *s);
}
static int combine_gradvac(const mvae_impartial_job *j, double *W, float *out) {
    int K = j->K;
    const double *G = j->gram;
    double beta = j->opt[0];
    bool reset = j->opt[1] != 0;
    double *u = j->work;
    int perm[MAXK];
    for (int i = 0; i < K; i++) {
        for (int l = 0; l < K; l++) W[i * K + l] = l == i;
        others_in_random_order(j->rng, K, i, perm);
        for (int t = 0; t < K - 1; t++) {
            int q = perm[t];
            matvec(K, G, &W[i * K], u); /* u = G W_i: (g_i' . g_l) */
            double ni2 = 0;
            for (int l = 0; l < K; l++) ni2 += W[i * K + l] * u[l];
            double ni = sqrt(fmax(ni2, 0)), nq = sqrt(fmax(G[q * K + q], 0));
            double c = ni > 0 && nq > 0 ? u[q] / (ni * nq) : 0;
            c = fmin(fmax(c, -1), 1);
            double phi = reset ? 0 : j->state[i * K + q];
            if (c < phi) {
                double num =
                    ni * (phi * sqrt(fmax(1 - c * c, 0)) - c * sqrt(fmax(1 - phi * phi, 0)));
                double den = nq * sqrt(fmax(1 - phi * phi, 0));
                W[i * K + q] += num / fmax(den, 1e-15);
            }
            if (!reset) j->state[i * K + q] = (float)((1 - beta) * phi + beta * c);
        }
    }
    return MVAE_IMPARTIAL_WEIGHTS;
}

/* ---- MGDA-UB (Sener & Koltun 2018): the min-norm point of the convex hull of the g_k,
 * min_{a in simplex} a^T G a. K = 2 in closed form; K >= 3 Frank-Wolfe (their Alg. 2) with away
 * steps (Lacoste-Julien & Jaggi 2015: linear convergence when the point lies on a face), stopped
 * when the duality gap is below tol * max_k ||g_k||^2. opt: max_iter, tol, ref_cap (the
 * reference's weights = min(w, 1e-3)). */
static int combine_mgda(const mvae_impartial_job *j, double *W, float *out) {
    double w[MAXK];
    int K = j->K;
    const double *G = j->gram;
    int max_iter = (int)j->opt[0];
    double tol = j->opt[1];
    bool cap = j->opt[2] != 0;
    double scale = 0;
    for (int k = 0; k < K; k++) scale = fmax(scale, G[k * K + k]);
    bool ok = true;
    if (scale <= 0) {
        for (int k = 0; k < K; k++) w[k] = 1.0 / K;
    } else if (K == 2) {
        double den = G[0] + G[3] - 2 * G[1];
        double gam = den > 0 ? (G[3] - G[1]) / den : 0.5;
        gam = fmin(fmax(gam, 0), 1);
        w[0] = gam;
        w[1] = 1 - gam;
    } else {
        double *Ga = j->work;
        for (int k = 0; k < K; k++) w[k] = 1.0 / K;
        ok = false;
        for (int it = 0; it < max_iter; it++) {
            matvec(K, G, w, Ga);
            double aGa = 0;
            for (int k = 0; k < K; k++) aGa += w[k] * Ga[k];
            int s = 0, a = -1;
            for (int k = 1; k < K; k++)
                if (Ga[k] < Ga[s]) s = k;
            for (int k = 0; k < K; k++)
                if (w[k] > 0 && (a < 0 || Ga[k] > Ga[a])) a = k;
            double gap_fw = aGa - Ga[s], gap_a = a >= 0 ? Ga[a] - aGa : 0;
            if (gap_fw <= tol * scale) {
                ok = true;
                break;
            }
            double dGa, dGd, gmax;
            bool away = gap_a > gap_fw && a >= 0 && w[a] < 1;
            if (!away) { /* d = e_s - w */
                dGa = Ga[s] - aGa;
                dGd = G[s * K + s] - 2 * Ga[s] + aGa;
                gmax = 1;
            } else { /* d = w - e_a */
                dGa = aGa - Ga[a];
                dGd = aGa - 2 * Ga[a] + G[a * K + a];
                gmax = w[a] / (1 - w[a]);
            }
            double gam = dGd > 0 ? -dGa / dGd : gmax;
            gam = fmin(fmax(gam, 0), gmax);
            for (int k = 0; k < K; k++) {
                if (!away)
                    w[k] = (1 - gam) * w[k] + (k == s ? gam : 0);
                else
                    w[k] = (1 + gam) * w[k] - (k == a ? gam : 0);
                if (w[k] < 0) w[k] = 0;
            }
            if (away && gam == gmax) w[a] = 0; /* drop step */
        }
    }
    if (!ok) {
        (*j->fallbacks)++;
        ones(K, w);
        return diag_result(j->K, w, W);
    }
    if (cap)
        for (int k = 0; k < K; k++) w[k] = fmin(w[k], 1e-3);
    return diag_result(j->K, w, W);
}

/* ---- IMTL-G (Liu et al. 2021): weights a with sum a = 1 such that the result has equal
 * projections on every unit task gradient u_k: with D_k = g_1 - g_k, U_k = u_1 - u_k (k >= 2),
 * a_{2..K} = (g_1 U^T) pinv(D U^T), a_1 = 1 - sum. In Gram form. */
static int combine_imtl_g(const mvae_impartial_job *j, double *W, float *out) {
    double w[MAXK];
    int K = j->K, n = K - 1;
    const double *G = j->gram;
    double inv[MAXK];
    for (int k = 0; k < K; k++) inv[k] = G[k * K + k] > 0 ? 1 / sqrt(G[k * K + k]) : 0;
    double *M = j->work, *P = M + n * n, *ws = P + n * n, gu[MAXK];
    for (int a = 1; a < K; a++) {
        gu[a - 1] = G[0] * inv[0] - G[a] * inv[a]; /* g_1 . (u_1 - u_a) */
        for (int b = 1; b < K; b++)                /* (g_1 - g_a) . (u_1 - u_b) */
            M[(a - 1) * n + (b - 1)] =
                G[0] * inv[0] - G[b] * inv[b] - G[a * K] * inv[0] + G[a * K + b] * inv[b];
    }
    pinv(n, M, P, ws);
    double sum = 0;
    for (int c = 0; c < n; c++) {
        double s = 0;
        for (int b = 0; b < n; b++) s += gu[b] * P[b * n + c];
        w[c + 1] = s;
        sum += s;
    }
    w[0] = 1 - sum;
    return diag_result(j->K, w, W);
}

/* ---- CAGrad (Liu et al. 2021): x* = argmin_{x in simplex} x^T G b + c' sqrt(x^T G x), b = 1/K,
 * c' = c ||g_0|| (g_0 the mean gradient); result g_0 + (c' / ||g_x*||) g_x*, divided by 1 + c^2
 * (rescale 1) or 1 + c (rescale 2). Projected gradient descent with backtracking. opt: c, rescale,
 * max_iter. */
static double cagrad_f(int K, const double *G, const double *x, double cp, double *grad,
                       double *tmp) {
    matvec(K, G, x, tmp);
    double xGx = 0, xGb = 0;
    for (int k = 0; k < K; k++) {
        xGx += x[k] * tmp[k];
        xGb += tmp[k] / K;
    }
    double r = sqrt(fmax(xGx, 0) + 1e-8);
    if (grad) {
        for (int k = 0; k < K; k++) {
            double Gb = 0;
            for (int l = 0; l < K; l++) Gb += G[k * K + l] / K;
            grad[k] = Gb + cp * tmp[k] / r;
        }
    }
    return xGb + cp * r;
}

static int combine_cagrad(const mvae_impartial_job *j, double *W, float *out) {
    int K = j->K;
    const double *G = j->gram;
    double c = j->opt[0];
    int rescale = (int)j->opt[1], max_iter = (int)j->opt[2];
    double meanG = 0;
    for (int k = 0; k < K * K; k++) meanG += G[k];
    meanG /= (double)K * K;
    double cp = c * sqrt(fmax(meanG, 0) + 1e-8) + 1e-8;
    double *x = j->work, *gr = x + K, *tmp = gr + K, *y = tmp + K, *xn = y + K;
    for (int k = 0; k < K; k++) x[k] = 1.0 / K;
    double L = 0; /* step from the Gram's scale */
    for (int k = 0; k < K; k++) L = fmax(L, G[k * K + k]);
    double step = L > 0 ? 1 / L : 1;
    double f = cagrad_f(K, G, x, cp, gr, tmp);
    for (int it = 0; it < max_iter && L > 0; it++) {
        double fn = f;
        bool moved = false;
        for (int bt = 0; bt < 50; bt++) {
            for (int k = 0; k < K; k++) y[k] = x[k] - step * gr[k];
            project_simplex(K, y, xn);
            fn = cagrad_f(K, G, xn, cp, NULL, tmp);
            double lin = 0, dist = 0;
            for (int k = 0; k < K; k++) {
                lin += gr[k] * (xn[k] - x[k]);
                dist += (xn[k] - x[k]) * (xn[k] - x[k]);
            }
            if (fn <= f + lin + dist / (2 * step) + 1e-15 * fabs(f)) {
                moved = dist > 0;
                break;
            }
            step *= 0.5;
        }
        double change = 0;
        for (int k = 0; k < K; k++) change += fabs(xn[k] - x[k]);
        if (!moved) break;
        memcpy(x, xn, (size_t)K * sizeof *x);
        f = cagrad_f(K, G, x, cp, gr, tmp);
        step *= 2;
        if (change < 1e-10) break;
    }
    double gw = sqrt(fmax(quad(K, G, x), 0));
    double lam = cp / (gw + 1e-8);
    double div = rescale == 1 ? 1 + c * c : rescale == 2 ? 1 + c : 1;
    /* task k's output (g_k + lam g_x*) / K / div, as the reference's per-task gradients */
    for (int k = 0; k < K; k++)
        for (int l = 0; l < K; l++) W[k * K + l] = ((k == l) + lam * x[l]) / K / div;
    return MVAE_IMPARTIAL_WEIGHTS;
}

/* ---- NSGD (the reference's torchmoo): n_k = ||g_k||, n0 = ones until call number update_at,
 * then the norms of that call; r = n / n0, a = r / sum r, S = sum a_k n_k; g_k <- g_k S / n_k:
 * every task gradient gets the same norm S. opt: update_at. state: n0[K], counter. */
static int nsgd_state(int K) {
    return K + 1;
}
static void nsgd_init(float *s, int K, const double *opt) {
    for (int k = 0; k < K; k++) s[k] = 1;
    s[K] = 0;
}
static int combine_nsgd(const mvae_impartial_job *j, double *W, float *out) {
    double w[MAXK];
    int K = j->K;
    double n[MAXK], r[MAXK], rs = 0;
    for (int k = 0; k < K; k++) n[k] = sqrt(fmax(j->gram[k * K + k], 0));
    double upd = j->opt[0];
    if (j->state[K] == (float)upd)
        for (int k = 0; k < K; k++) j->state[k] = (float)n[k];
    if (j->state[K] <= (float)upd) j->state[K] += 1; /* saturates past update_at */
    for (int k = 0; k < K; k++) {
        r[k] = n[k] / fmax(j->state[k], 1e-15);
        rs += r[k];
    }
    double S = 0, as = 0, a[MAXK];
    for (int k = 0; k < K; k++) {
        a[k] = r[k] / fmax(rs, 1e-15);
        as += a[k];
    }
    for (int k = 0; k < K; k++) S += (as > 0 ? a[k] / as : 0) * n[k];
    for (int k = 0; k < K; k++) w[k] = S / fmax(n[k], 1e-15);
    return diag_result(j->K, w, W);
}

/* ---- GradNorm (Chen et al. 2018), the reference's gradient-norm variant: learned task weights
 * w = K softmax(theta) (exp clamped at 1e-5), balancing loss L = sum_i |w_i n_i - m r_i^alpha| with
 * m = mean(w n) constant and r_i the relative inverse training rate from the norms' ratio to their
 * values at call update_at; the result uses the current w, then theta takes one Adam (AMSGrad) step
 * on dL/dtheta. opt: alpha, lr, update_at, amsgrad. state: theta, m, v, vmax, v0 (K each), counter,
 * adam step. */
enum { GN_THETA = 0, GN_M = 1, GN_V = 2, GN_VMAX = 3, GN_V0 = 4 };
static int gradnorm_state(int K) {
    return 5 * K + 2;
}
static void gradnorm_init(float *s, int K, const double *opt) {
    memset(s, 0, (size_t)(5 * K + 2) * sizeof *s);
    for (int k = 0; k < K; k++) {
        s[GN_THETA * K + k] = 1;
        s[GN_V0 * K + k] = 1;
    }
}

static void gradnorm_weights(int K, const float *theta, double *w, double *dws) {
    double ws[MAXK], S = 0;
    for (int k = 0; k < K; k++) {
        double e = exp((double)theta[k]);
        ws[k] = fmax(e, 1e-5);
        if (dws) dws[k] = e > 1e-5 ? 1 : 0; /* d ws / d theta divided by ws */
        S += ws[k];
    }
    for (int k = 0; k < K; k++) w[k] = K * ws[k] / S;
}

double mvae_impartial_gradnorm_loss(int K, const float *theta, const double *norms, const float *v0,
                                    double alpha, double m, double *dtheta) {
    double w[MAXK], d[MAXK], vt[MAXK], avg = 0, L = 0, sgn[MAXK];
    gradnorm_weights(K, theta, w, d);
    bool own_m = m < 0;
    if (own_m) m = 0;
    for (int k = 0; k < K; k++) {
        if (own_m) m += w[k] * norms[k] / K;
        vt[k] = norms[k] / fmax(v0[k], 1e-5);
        avg += vt[k] / K;
    }
    for (int k = 0; k < K; k++) {
        double rk = vt[k] / fmax(avg, 1e-5);
        double e = w[k] * norms[k] - m * pow(rk, alpha);
        L += fabs(e);
        sgn[k] = e > 0 ? 1 : e < 0 ? -1 : 0;
    }
    if (dtheta) /* dw_i/dtheta_j = (delta_ij w_i - w_i w_j / K) d_j */
        for (int jj = 0; jj < K; jj++) {
            double s = 0;
            for (int i = 0; i < K; i++)
                s += sgn[i] * norms[i] * ((i == jj) * w[i] - w[i] * w[jj] / K);
            dtheta[jj] = s * d[jj];
        }
    return L;
}

static int combine_gradnorm(const mvae_impartial_job *j, double *W, float *out) {
    double w[MAXK];
    int K = j->K;
    float *s = j->state;
    double alpha = j->opt[0], lr = j->opt[1], upd = j->opt[2];
    bool ams = j->opt[3] != 0;
    double n[MAXK], dth[MAXK];
    for (int k = 0; k < K; k++) n[k] = sqrt(fmax(j->gram[k * K + k], 0));
    float *cnt = &s[5 * K], *t = &s[5 * K + 1];
    if (*cnt == (float)upd)
        for (int k = 0; k < K; k++) s[GN_V0 * K + k] = (float)n[k];
    if (*cnt <= (float)upd) *cnt += 1;
    gradnorm_weights(K, &s[GN_THETA * K], w, NULL);
    mvae_impartial_gradnorm_loss(K, &s[GN_THETA * K], n, &s[GN_V0 * K], alpha, -1, dth);
    /* Adam / AMSGrad as torch.optim.Adam (betas 0.9, 0.999, eps 1e-8, no weight decay) */
    if (*t < 1e7f) *t += 1;
    double b1 = 0.9, b2 = 0.999, bc1 = 1 - pow(b1, *t), bc2 = 1 - pow(b2, *t);
    for (int k = 0; k < K; k++) {
        if (!isfinite(dth[k])) continue;
        float *m = &s[GN_M * K + k], *v = &s[GN_V * K + k], *vm = &s[GN_VMAX * K + k];
        *m = (float)(b1 * *m + (1 - b1) * dth[k]);
        *v = (float)(b2 * *v + (1 - b2) * dth[k] * dth[k]);
        if (*v > *vm) *vm = *v;
        double den = sqrt((double)(ams ? *vm : *v)) / sqrt(bc2) + 1e-8;
        s[GN_THETA * K + k] -= (float)(lr / bc1 * *m / den);
    }
    return diag_result(j->K, w, W);
}

/* ---- GradDrop (Chen et al. 2020): per element of the non-batch shape, sign purity
 * P = (1 + sum_k s_k / sum_k |s_k|) / 2 with s_k = sum over the batch (dim 0) of sign(input) g_k
 * (input_sign; the reference drops the input's sign); U ~ U(0,1); task k keeps its gradient where
 * (P > U and s_k > 0) or (P < U and s_k < 0), else drops it (times leak). opt: leak, input_sign. */
static int combine_graddrop(const mvae_impartial_job *j, double *W, float *out) {
    int K = j->K;
    int64_t rows = j->rows, cols = j->N / rows;
    float leak = (float)j->opt[0];
    bool use_sign = j->opt[1] != 0 && j->input;
    float *sk = j->fwork, *P = sk + (size_t)K * cols, *U = P + cols;
    for (int k = 0; k < K; k++) {
        float *s = sk + (size_t)k * cols;
        memset(s, 0, (size_t)cols * sizeof *s);
        const float *g = j->g[k];
        if (!g) continue;
        for (int64_t r = 0; r < rows; r++) {
            const float *gr = g + r * cols, *xr = j->input + r * cols;
            if (use_sign)
                for (int64_t c = 0; c < cols; c++)
                    s[c] += (xr[c] > 0 ? gr[c] : xr[c] < 0 ? -gr[c] : 0.0f);
            else
                for (int64_t c = 0; c < cols; c++) s[c] += gr[c];
        }
    }
    for (int64_t c = 0; c < cols; c++) {
        double num = 0, den = 0;
        for (int k = 0; k < K; k++) {
            num += sk[(size_t)k * cols + c];
            den += fabsf(sk[(size_t)k * cols + c]);
        }
        P[c] = (float)(0.5 * (1 + num / (den + 1e-15)));
    }
    mvae_rng_uniform_fill(j->rng, U, (size_t)cols, 0, 1);
    for (int k = 0; k < K; k++) { /* the mask, in place of s_k */
        float *s = sk + (size_t)k * cols;
        for (int64_t c = 0; c < cols; c++) {
            float keep = (float)((P[c] > U[c] && s[c] > 0) || (P[c] < U[c] && s[c] < 0));
            s[c] = leak + (1 - leak) * keep;
        }
    }
    memset(out, 0, (size_t)j->N * sizeof *out);
    for (int k = 0; k < K; k++) {
        const float *g = j->g[k], *mk = sk + (size_t)k * cols;
        if (!g) continue;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) out[r * cols + c] += mk[c] * g[r * cols + c];
    }
    return MVAE_IMPARTIAL_DIRECT;
}

/* ---- Nash-MTL (Navon et al. 2022): the bargaining solution alpha > 0 with
 * alpha_i (G alpha)_i = 1 for every i; result sum alpha_k g_k. Damped Newton on the K equations
 * (G scaled by its largest diagonal entry, alpha rescaled back), from alpha_i = 1/||g_i||.
 * opt: max_iter, tol. */
static int combine_nash(const mvae_impartial_job *j, double *W, float *out) {
    double w[MAXK];
    int K = j->K;
    int max_iter = (int)j->opt[0];
    double tol = j->opt[1];
    double sc = 0;
    for (int k = 0; k < K; k++) sc = fmax(sc, j->gram[k * K + k]);
    double *Gh = j->work, *Jm = Gh + K * K, *a = Jm + K * K, *F = a + K, *Ga = F + K, *an = Ga + K,
           *d = an + K;
    bool ok = sc > 0;
    for (int k = 0; k < K * K && ok; k++) Gh[k] = j->gram[k] / sc;
    for (int k = 0; k < K && ok; k++) {
        if (!(Gh[k * K + k] > 1e-12))
            ok = false; /* a zero task gradient: no solution */
        else
            a[k] = 1 / sqrt(Gh[k * K + k]);
    }
    double res = INFINITY;
    if (ok) {
        ok = false;
        for (int it = 0; it <= max_iter; it++) {
            matvec(K, Gh, a, Ga);
            res = 0;
            for (int k = 0; k < K; k++) {
                F[k] = a[k] * Ga[k] - 1;
                res = fmax(res, fabs(F[k]));
            }
            if (!isfinite(res)) break;
            if (res <= tol) {
                ok = true;
                break;
            }
            if (it == max_iter) break;
            for (int r = 0; r < K; r++) {
                for (int c = 0; c < K; c++) Jm[r * K + c] = (r == c) * Ga[r] + a[r] * Gh[r * K + c];
                d[r] = -F[r];
            }
            if (!solve(K, Jm, d)) break;
            double t = 1;
            bool stepped = false;
            for (int bt = 0; bt < 40; bt++, t *= 0.5) {
                bool pos = true;
                for (int k = 0; k < K; k++) {
                    an[k] = a[k] + t * d[k];
                    pos &= an[k] > 0;
                }
                if (!pos) continue;
                matvec(K, Gh, an, Ga);
                double rn = 0;
                for (int k = 0; k < K; k++) rn = fmax(rn, fabs(an[k] * Ga[k] - 1));
                if (rn < res || bt == 39) {
                    stepped = rn < res;
                    break;
                }
            }
            if (!stepped) break;
            memcpy(a, an, (size_t)K * sizeof *a);
        }
    }
    if (!ok) {
        (*j->fallbacks)++;
        ones(K, w);
        return diag_result(j->K, w, W);
    }
    for (int k = 0; k < K; k++) w[k] = a[k] / sqrt(sc);
    return diag_result(j->K, w, W);
}

/* ---- Aligned-MTL (Senushkin et al. 2023): G = V L V^T; on the eigenvalues above
 * l_max K eps_float, B = sigma V L^(-1/2) V^T aligns the task gradients' principal components to
 * equal magnitudes sigma (min: sqrt(l_min), median, rmse); weights B (1/K). opt: scale. */
static int combine_aligned(const mvae_impartial_job *j, double *W, float *out) {
    double w[MAXK];
    int K = j->K;
    double *A = j->work, *V = A + K * K, lam[MAXK];
    memcpy(A, j->gram, (size_t)K * K * sizeof *A);
    mvae_impartial_eig_sym(K, A, lam, V);
    double lmax = 0;
    for (int k = 0; k < K; k++) lmax = fmax(lmax, lam[k]);
    double tol = lmax * K * FLT_EPSILON, kept[MAXK];
    int r = 0;
    for (int k = 0; k < K; k++)
        if (lam[k] > tol) kept[r++] = lam[k];
    if (r == 0) {
        for (int k = 0; k < K; k++) w[k] = 0;
        return diag_result(j->K, w, W);
    }
    for (int i = 1; i < r; i++) { /* sort ascending */
        double v = kept[i];
        int q = i - 1;
        for (; q >= 0 && kept[q] > v; q--) kept[q + 1] = kept[q];
        kept[q + 1] = v;
    }
    int mode = (int)j->opt[0];
    double sigma2 = kept[0];
    if (mode == 1) sigma2 = r % 2 ? kept[r / 2] : 0.5 * (kept[r / 2 - 1] + kept[r / 2]);
    if (mode == 2) {
        sigma2 = 0;
        for (int k = 0; k < r; k++) sigma2 += kept[k] / r;
    }
    double sig = sqrt(sigma2);
    for (int i = 0; i < K; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) {
            if (!(lam[k] > tol)) continue;
            double vb = 0; /* v_k . (1/K) */
            for (int l = 0; l < K; l++) vb += V[l * K + k] / K;
            s += V[i * K + k] * vb / sqrt(lam[k]);
        }
        w[i] = sig * s;
    }
    return diag_result(j->K, w, W);
}

/* ================================================================================================
 * the table
 * ============================================================================================== */

static const mvae_option opt_gradvac[] = {
    {"beta", MVAE_OPT_FLOAT, "0.01", "EMA rate of the target cosines", NULL, false, NULL, "[0, 1]"},
    {"reset", MVAE_OPT_BOOL, "false",
     "targets zero at every call, as the reference code (= PCGrad's projection)", NULL, false, NULL,
     NULL},
    {0}};
static const mvae_option opt_mgda[] = {
    {"max_iter", MVAE_OPT_INT, "250", "Frank-Wolfe iterations before falling back to the plain sum",
     NULL, false, NULL, "[1, 1000000]"},
    {"tol", MVAE_OPT_FLOAT, "1e-5", "duality gap, relative to the largest squared task norm", NULL,
     false, NULL, "(0, 1)"},
    {"ref_cap", MVAE_OPT_BOOL, "false", "reproduce the reference's weights = min(w, 1e-3)", NULL,
     false, NULL, NULL},
    {0}};
static const mvae_option opt_cagrad[] = {
    {"c", MVAE_OPT_FLOAT, "0.5", "radius of the ball around the mean gradient, in its norms", NULL,
     false, NULL, "[0, inf)"},
    {"rescale", MVAE_OPT_INT, "0",
     "divide the result by 1 (0, the reference), 1 + c^2 (1) or 1 + c (2)", NULL, false, NULL,
     "[0, 2]"},
    {"max_iter", MVAE_OPT_INT, "500", "projected-gradient iterations of the inner problem", NULL,
     false, NULL, "[1, 1000000]"},
    {0}};
static const mvae_option opt_nsgd[] = {{"update_at", MVAE_OPT_INT, "20",
                                        "call whose norms become the reference norms", NULL, false,
                                        NULL, "[0, 1000000]"},
                                       {0}};
static const mvae_option opt_gradnorm[] = {
    {"alpha", MVAE_OPT_FLOAT, "1.5", "asymmetry: 0 targets equal weighted norms", NULL, false, NULL,
     "[0, inf)"},
    {"lr", MVAE_OPT_FLOAT, "1e-3", "Adam learning rate of the task weights", NULL, false, NULL,
     "(0, inf)"},
    {"update_at", MVAE_OPT_INT, "20", "call whose norms become the reference norms", NULL, false,
     NULL, "[0, 1000000]"},
    {"amsgrad", MVAE_OPT_BOOL, "true", "AMSGrad, as the reference's optimizer", NULL, false, NULL,
     NULL},
    {0}};
static const mvae_option opt_graddrop[] = {
    {"leak", MVAE_OPT_FLOAT, "0", "fraction of a dropped gradient that passes anyway", NULL, false,
     NULL, "[0, 1]"},
    {"input_sign", MVAE_OPT_BOOL, "true",
     "purity from sign(input) * gradient, as the paper (false: the reference)", NULL, false, NULL,
     NULL},
    {0}};
static const mvae_option opt_nash[] = {
    {"max_iter", MVAE_OPT_INT, "100", "Newton iterations before falling back to the plain sum",
     NULL, false, NULL, "[1, 100000]"},
    {"tol", MVAE_OPT_FLOAT, "1e-6", "max |alpha_i (G alpha)_i - 1| on the normalised Gram", NULL,
     false, NULL, "(0, 1)"},
    {0}};
static const char *const aligned_scales[] = {"min", "median", "rmse", NULL};
static const mvae_option opt_aligned[] = {{"scale", MVAE_OPT_STRING, "min",
                                           "magnitude of the aligned components", NULL, false,
                                           aligned_scales, NULL},
                                          {0}};

const mvae_impartial_method mvae_impartial_methods[] = {
    {"none", "plain sum", NULL, NULL, NULL, false, combine_none},
    {"pcgrad", "Yu et al. 2020, Gradient Surgery for Multi-Task Learning (NeurIPS)", NULL, NULL,
     NULL, true, combine_pcgrad},
    {"mgda", "Sener & Koltun 2018, Multi-Task Learning as Multi-Objective Optimization (NeurIPS)",
     opt_mgda, NULL, NULL, false, combine_mgda},
    {"imtl_g", "Liu et al. 2021, Towards Impartial Multi-task Learning (ICLR)", NULL, NULL, NULL,
     false, combine_imtl_g},
    {"cagrad",
     "Liu et al. 2021, Conflict-Averse Gradient Descent for Multi-task Learning (NeurIPS)",
     opt_cagrad, NULL, NULL, false, combine_cagrad},
    {"gradvac", "Wang et al. 2021, Gradient Vaccine (ICLR)", opt_gradvac, gradvac_state,
     gradvac_init, true, combine_gradvac},
    {"nsgd", "Javaloy et al. 2022, impartial-vaes torchmoo NSGD (ICML)", opt_nsgd, nsgd_state,
     nsgd_init, false, combine_nsgd},
    {"gradnorm", "Chen et al. 2018, GradNorm (ICML); gradient-norm variant of Javaloy et al. 2022",
     opt_gradnorm, gradnorm_state, gradnorm_init, false, combine_gradnorm},
    {"graddrop", "Chen et al. 2020, Just Pick a Sign: Gradient Sign Dropout (NeurIPS)",
     opt_graddrop, NULL, NULL, true, combine_graddrop},
    {"nash_mtl", "Navon et al. 2022, Multi-Task Learning as a Bargaining Game (ICML)", opt_nash,
     NULL, NULL, false, combine_nash},
    {"aligned_mtl", "Senushkin et al. 2023, Independent Component Alignment for MTL (CVPR)",
     opt_aligned, NULL, NULL, false, combine_aligned},
};
const int mvae_impartial_method_count =
    (int)(sizeof mvae_impartial_methods / sizeof mvae_impartial_methods[0]);

static const char *const method_names[] = {"none",     "pcgrad",   "mgda",        "imtl_g",
                                           "cagrad",   "gradvac",  "nsgd",        "gradnorm",
                                           "graddrop", "nash_mtl", "aligned_mtl", NULL};
_Static_assert(sizeof method_names / sizeof method_names[0] - 1 ==
                   sizeof mvae_impartial_methods / sizeof mvae_impartial_methods[0],
               "method_names out of sync with the methods table");

const mvae_option mvae_impartial_schema[] = {
    {"method", MVAE_OPT_STRING, "none",
     "how the branch gradients are combined: none, pcgrad, mgda, imtl_g, cagrad, gradvac, nsgd, "
     "gradnorm, "
     "graddrop, nash_mtl, aligned_mtl, or a chain such as gradnorm+pcgrad (checked by "
     "mvae_impartial_check_cfg)",
     NULL, false, NULL, NULL},
    {"norm_restore", MVAE_OPT_BOOL, "true",
     "scale the combined gradient to the L2 norm of the plain sum (the reference)", NULL, false,
     NULL, NULL},
    {"diagnostics", MVAE_OPT_BOOL, "true", "record cosines and norms of the branch gradients", NULL,
     false, NULL, NULL},
    {"decoder_params", MVAE_OPT_BOOL, "false",
     "trainer: also a block on each decoder's parameters, shared by a mixture term's components "
     "(fusion moe, mopoe)",
     NULL, false, NULL, NULL},
    {"mgda", MVAE_OPT_MAP, NULL, "MGDA-UB settings", opt_mgda, false, NULL, NULL},
    {"cagrad", MVAE_OPT_MAP, NULL, "CAGrad settings", opt_cagrad, false, NULL, NULL},
    {"gradvac", MVAE_OPT_MAP, NULL, "GradVac settings", opt_gradvac, false, NULL, NULL},
    {"nsgd", MVAE_OPT_MAP, NULL, "NSGD settings", opt_nsgd, false, NULL, NULL},
    {"gradnorm", MVAE_OPT_MAP, NULL, "GradNorm settings", opt_gradnorm, false, NULL, NULL},
    {"graddrop", MVAE_OPT_MAP, NULL, "GradDrop settings", opt_graddrop, false, NULL, NULL},
    {"nash_mtl", MVAE_OPT_MAP, NULL, "Nash-MTL settings", opt_nash, false, NULL, NULL},
    {"aligned_mtl", MVAE_OPT_MAP, NULL, "Aligned-MTL settings", opt_aligned, false, NULL, NULL},
    {0}};

static const mvae_option opt_common[] = {
    {"norm_restore", MVAE_OPT_BOOL, "true", NULL, NULL, false, NULL, NULL},
    {"diagnostics", MVAE_OPT_BOOL, "true", NULL, NULL, false, NULL, NULL},
    {0}};

const mvae_impartial_method *mvae_impartial_find_method(const char *name) {
    for (int i = 0; name && i < mvae_impartial_method_count; i++)
        if (strcmp(mvae_impartial_methods[i].name, name) == 0) return &mvae_impartial_methods[i];
    return NULL;
}

/* ================================================================================================
 * settings
 * ============================================================================================== */

static int n_options(const mvae_option *o) {
    int n = 0;
    for (; o && o[n].key; n++) {
    }
    return n;
}

/* Parse `text` as option o's value into *v. */
static int parse_value(const mvae_option *o, const char *where, const char *text, double *v,
                       mvae_error *err) {
    if (o->type == MVAE_OPT_BOOL) {
        static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no",
                                                                                 "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcmp(text, t[i]) == 0) return *v = 1, MVAE_OK;
            if (strcmp(text, f[i]) == 0) return *v = 0, MVAE_OK;
        }
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: '%s' is not true or false", where, text);
    }
    if (o->type == MVAE_OPT_STRING) {
        int k = 0;
        for (; o->choices && o->choices[k]; k++)
            if (strcmp(o->choices[k], text) == 0) return *v = k, MVAE_OK;
        const char *near = mvae_nearest(text, o->choices, k);
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: '%s' is not one of the choices%s%s%s",
                              where, text, near ? " (did you mean '" : "", near ? near : "",
                              near ? "'?)" : "");
    }
    char *end = NULL;
    double x = strtod(text, &end);
    while (end && (*end == ' ' || *end == '\t')) end++;
    if (!end || end == text || *end)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: '%s' is not a number", where, text);
    if (o->type == MVAE_OPT_INT && x != floor(x))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: '%s' is not an integer", where, text);
    bool inside = true;
    if (mvae_cfg_check_range(x, o->range, where, &inside, err)) return MVAE_ERR_INVALID;
    if (!inside)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s is outside %s", where, text, o->range);
    *v = x;
    return MVAE_OK;
}

static int unknown_key(const mvae_impartial_method *m, const char *key, mvae_error *err) {
    if (!m) return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: unknown setting '%s'", key);
    const char *cand[32];
    int n = 0;
    for (const mvae_option *o = m->options; o && o->key && n < 30; o++) cand[n++] = o->key;
    cand[n++] = "norm_restore";
    cand[n++] = "diagnostics";
    const char *near = mvae_nearest(key, cand, n);
    char list[400] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, cand[i], sizeof list - strlen(list) - 1);
    }
    return mvae_error_set(
        err, MVAE_ERR_INVALID, "impartial: unknown setting '%s' for method %s%s%s%s (settings: %s)",
        key, m->name, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", list);
}

/* Which method of the chain a key belongs to: "name.key" names it; a bare key goes to the first
 * method that has it. Returns the option index, or -1 (and *c = -1) when no method has it. */
static int find_key(const mvae_impartial *b, const char *key, int *c) {
    const char *dot = strchr(key, '.');
    for (int i = 0; i < b->n_m; i++) {
        const char *k = key;
        if (dot) {
            size_t ln = (size_t)(dot - key);
            if (strlen(b->m[i]->name) != ln || strncmp(b->m[i]->name, key, ln) != 0) continue;
            k = dot + 1;
        }
        int o = 0;
        for (const mvae_option *op = b->m[i]->options; op && op->key; op++, o++)
            if (strcmp(op->key, k) == 0) return *c = i, o;
    }
    return *c = -1, -1;
}

/* Set one setting by key ("key" or "method.key"); `prefer` >= 0: a bare key of that method. */
static int set_key(mvae_impartial *b, int prefer, const char *key, const char *text,
                   mvae_error *err) {
    char where[200];
    int c = -1, o = -1;
    if (prefer >= 0 && !strchr(key, '.')) {
        int i = 0;
        for (const mvae_option *op = b->m[prefer]->options; op && op->key; op++, i++)
            if (strcmp(op->key, key) == 0) c = prefer, o = i;
    }
    if (c < 0) o = find_key(b, key, &c);
    if (c >= 0) {
        snprintf(where, sizeof where, "impartial: %s.%s", b->m[c]->name, b->m[c]->options[o].key);
        return parse_value(&b->m[c]->options[o], where, text, &b->opt[c][o], err);
    }
    for (int k = 0; k < 2; k++)
        if (strcmp(opt_common[k].key, key) == 0) {
            double v;
            snprintf(where, sizeof where, "impartial: %s", key);
            if (parse_value(&opt_common[k], where, text, &v, err)) return MVAE_ERR_INVALID;
            if (k == 0)
                b->norm_restore = v != 0;
            else
                b->diagnostics = v != 0;
            return MVAE_OK;
        }
    return unknown_key(b->m[prefer >= 0 ? prefer : 0], key, err);
}

static int method_error(const char *name, mvae_error *err) {
    const char *near = mvae_nearest(name, method_names, mvae_impartial_method_count);
    char list[300] = "";
    for (int i = 0; method_names[i]; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, method_names[i], sizeof list - strlen(list) - 1);
    }
    return mvae_error_set(
        err, MVAE_ERR_INVALID,
        "impartial: unknown method '%s'%s%s%s (methods: %s; chain them with '+', e.g. "
        "gradnorm+pcgrad)",
        name, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", list);
}

/* A block for the chain "a+b+..." (names only, settings at their defaults). */
static int block_alloc(const char *chain, int K, mvae_rng *rng, mvae_impartial **out,
                       mvae_error *err) {
    *out = NULL;
    char buf[256];
    if (strlen(chain) >= sizeof buf)
        return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: method too long");
    strcpy(buf, chain);
    const mvae_impartial_method *ms[MVAE_IMPARTIAL_MAX_CHAIN];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
        while (*t == ' ') t++;
        for (char *e = t + strlen(t); e > t && e[-1] == ' ';) *--e = '\0';
        const mvae_impartial_method *m = mvae_impartial_find_method(t);
        if (!m) return method_error(t, err);
        if (n == MVAE_IMPARTIAL_MAX_CHAIN)
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "impartial: '%s' chains more than %d methods", chain,
                                  MVAE_IMPARTIAL_MAX_CHAIN);
        ms[n++] = m;
    }
    if (n == 0) return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: no method given");
    for (int i = 0; i < n && n > 1; i++)
        if (ms[i]->combine == combine_graddrop)
            return mvae_error_set(
                err, MVAE_ERR_INVALID,
                "impartial: graddrop masks the gradients element by element and cannot be "
                "chained with other methods ('%s'); use it alone",
                chain);
    if (K < 2 || K > MAXK)
        return mvae_error_set(
            err, MVAE_ERR_INVALID,
            "impartial: K = %d branches: a block needs 2 to %d (with one branch use the "
            "tensor itself; more than %d: raise MVAE_IMPARTIAL_MAX_K)",
            K, MAXK, MAXK);
    for (int i = 0; i < n; i++)
        if (ms[i]->needs_rng && !rng)
            return mvae_error_set(
                err, MVAE_ERR_INVALID,
                "impartial: method %s draws random numbers: pass an mvae_rng (the trainer's, "
                "so that a checkpoint resumes it)",
                ms[i]->name);
    mvae_impartial *b = calloc(1, sizeof *b);
    if (!b) return mvae_error_set(err, MVAE_ERR_NOMEM, "impartial: out of memory");
    b->n_m = n;
    b->K = K;
    b->rng = rng;
    b->norm_restore = true;
    b->diagnostics = true;
    size_t off = 0;
    for (int c = 0; c < n; c++) {
        const mvae_impartial_method *m = b->m[c] = ms[c];
        int no = n_options(m->options);
        MVAE_ASSERT(no <= 16);
        for (int i = 0; i < no; i++) {
            char where[200];
            snprintf(where, sizeof where, "impartial: default of %s.%s", m->name,
                     m->options[i].key);
            int rc =
                parse_value(&m->options[i], where, m->options[i].default_value, &b->opt[c][i], err);
            MVAE_ASSERT_MSG(rc == MVAE_OK, "bad default in an impartial options table");
        }
        b->state_off[c] = off;
        off += m->state_floats ? (size_t)m->state_floats(K) : 0;
    }
    b->n_state = off;
    snprintf(b->name, sizeof b->name, "%s", chain);
    b->work = malloc((size_t)(WORK_METHOD(K) + 5 * K * K) * sizeof *b->work);
    b->state = b->n_state ? malloc(b->n_state * sizeof *b->state) : NULL;
    if (!b->work || (b->n_state && !b->state)) {
        mvae_impartial_free(b);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "impartial: out of memory");
    }
    b->last_scale = 1;
    b->st.K = K;
    *out = b;
    return MVAE_OK;
}

static void block_ready(mvae_impartial *b) {
    for (int c = 0; c < b->n_m; c++)
        if (b->m[c]->state_init) b->m[c]->state_init(b->state + b->state_off[c], b->K, b->opt[c]);
}

/* Apply "key=value,key=value" (destroyed) to method `prefer` of the chain (or any, with -1). */
static int apply_settings(mvae_impartial *b, int prefer, char *kv, const char *spec,
                          mvae_error *err) {
    while (kv && *kv) {
        char *next = strchr(kv, ',');
        if (next) *next++ = '\0';
        while (*kv == ' ') kv++;
        char *eq = strchr(kv, '=');
        if (!eq)
            return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: '%s' in '%s' is not key=value",
                                  kv, spec);
        *eq = '\0';
        for (char *ke = eq; ke > kv && ke[-1] == ' ';) *--ke = '\0';
        char *val = eq + 1;
        while (*val == ' ') val++;
        if (set_key(b, prefer, kv, val, err)) return MVAE_ERR_INVALID;
        kv = next;
    }
    return MVAE_OK;
}

/* The next '+' that starts a method name (not the sign of an exponent: "c=1e+3"). */
static char *method_plus(char *p) {
    for (char *q = strchr(p, '+'); q; q = strchr(q + 1, '+'))
        if (!(q[1] >= '0' && q[1] <= '9') && q[1] != '.') return q;
    return NULL;
}

int mvae_impartial_new(const char *spec, int K, mvae_rng *rng, mvae_impartial **out,
                       mvae_error *err) {
    *out = NULL;
    if (!spec) return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: no method given");
    char buf[512], chain[256] = "";
    if (strlen(spec) >= sizeof buf)
        return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: spec too long");
    /* the chain of names: each '+'-part up to its ':' */
    strcpy(buf, spec);
    char *parts[MVAE_IMPARTIAL_MAX_CHAIN + 1];
    int np = 0;
    for (char *p = buf; p && np <= MVAE_IMPARTIAL_MAX_CHAIN;) {
        parts[np++] = p;
        char *plus = method_plus(p);
        if (plus) *plus++ = '\0';
        p = plus;
    }
    for (int i = 0; i < np; i++) {
        char *colon = strchr(parts[i], ':');
        size_t ln = colon ? (size_t)(colon - parts[i]) : strlen(parts[i]);
        if (strlen(chain) + ln + 2 >= sizeof chain)
            return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: spec too long");
        if (i) strcat(chain, "+");
        strncat(chain, parts[i], ln);
    }
    mvae_impartial *b;
    if (block_alloc(chain, K, rng, &b, err)) return MVAE_ERR_INVALID;
    for (int i = 0; i < np; i++) {
        char *colon = strchr(parts[i], ':');
        if (colon && apply_settings(b, i, colon + 1, spec, err)) {
            mvae_impartial_free(b);
            return MVAE_ERR_INVALID;
        }
    }
    block_ready(b);
    *out = b;
    return MVAE_OK;
}

int mvae_impartial_new_cfg(const mvae_cfg_node *section, int K, mvae_rng *rng, mvae_impartial **out,
                           mvae_error *err) {
    *out = NULL;
    const char *method = "none";
    if (mvae_cfg_string_or(section, "method", "none", &method, err)) return MVAE_ERR_INVALID;
    mvae_impartial *b;
    if (block_alloc(method, K, rng, &b, err)) {
        const mvae_cfg_node *mn = mvae_cfg_get(section, "method");
        char w[300];
        if (mn) mvae_error_prefix(err, "%s", mvae_cfg_where(mn, w, sizeof w));
        return MVAE_ERR_INVALID;
    }
    bool v;
    if (mvae_cfg_bool_or(section, "norm_restore", true, &v, err)) goto fail;
    b->norm_restore = v;
    if (mvae_cfg_bool_or(section, "diagnostics", true, &v, err)) goto fail;
    b->diagnostics = v;
    for (int c = 0; c < b->n_m; c++) {
        const mvae_cfg_node *ms = section ? mvae_cfg_get(section, b->m[c]->name) : NULL;
        for (int i = 0; ms && ms->kind == MVAE_CFG_MAP && i < ms->n_items; i++) {
            const mvae_cfg_node *n = ms->items[i];
            char w[300];
            if (n->kind != MVAE_CFG_SCALAR) {
                mvae_error_set(err, MVAE_ERR_INVALID, "%s: impartial.%s.%s must be a single value",
                               mvae_cfg_where(n, w, sizeof w), b->m[c]->name, n->key);
                goto fail;
            }
            if (strchr(n->key, '.') || set_key(b, c, n->key, n->value, err)) {
                if (strchr(n->key, '.')) unknown_key(b->m[c], n->key, err);
                mvae_error_prefix(err, "%s", mvae_cfg_where(n, w, sizeof w));
                goto fail;
            }
        }
    }
    block_ready(b);
    *out = b;
    return MVAE_OK;
fail:
    mvae_impartial_free(b);
    return MVAE_ERR_INVALID;
}

int mvae_impartial_check_cfg(const mvae_cfg_node *section, mvae_error *err) {
    mvae_rng r;
    mvae_rng_seed(&r, 0);
    mvae_impartial *b;
    int rc = mvae_impartial_new_cfg(section, 2, &r, &b, err);
    mvae_impartial_free(b);
    return rc;
}

void mvae_impartial_free(mvae_impartial *b) {
    if (!b) return;
    free(b->work);
    if (!b->state_bound) free(b->state);
    free(b->fbuf);
    free(b);
}

int mvae_impartial_k(const mvae_impartial *b) {
    return b->K;
}
const mvae_impartial_method *mvae_impartial_method_of(const mvae_impartial *b) {
    return b->m[0];
}
const char *mvae_impartial_name(const mvae_impartial *b) {
    return b->name;
}

double mvae_impartial_setting(const mvae_impartial *b, const char *key) {
    int c, o = find_key(b, key, &c);
    if (c >= 0) return b->opt[c][o];
    if (strcmp(key, "norm_restore") == 0) return b->norm_restore;
    if (strcmp(key, "diagnostics") == 0) return b->diagnostics;
    return NAN;
}

void mvae_impartial_bind_state(mvae_impartial *b, float *mem) {
    if (!b->n_state || !mem || mem == b->state) return;
    memcpy(mem, b->state, b->n_state * sizeof *mem);
    if (!b->state_bound) free(b->state);
    b->state = mem;
    b->state_bound = true;
}

size_t mvae_impartial_state_size(const mvae_impartial *b) {
    return b->n_state;
}
float *mvae_impartial_state(mvae_impartial *b) {
    return b->state;
}
int mvae_impartial_set_state(mvae_impartial *b, const float *s, size_t n, mvae_error *err) {
    if (n != b->n_state)
        return mvae_error_set(
            err, MVAE_ERR_FORMAT,
            "impartial: state of %zu floats for method %s with K = %d, which keeps %zu "
            "(a checkpoint of another method or number of branches?)",
            n, b->name, b->K, b->n_state);
    if (n) memcpy(b->state, s, n * sizeof *s);
    return MVAE_OK;
}

void mvae_impartial_last_weights(const mvae_impartial *b, double *w, double *scale) {
    if (w) memcpy(w, b->last_w, (size_t)b->K * sizeof *w);
    if (scale) *scale = b->last_scale;
}

/* ================================================================================================
 * the engine
 * ============================================================================================== */

/* Sum of x[i]*y[i]: blocks of 256 products summed in 16 float lanes (vectorised; 16 terms per lane,
 * so a block's sum is within ~1e-6 of exact), the blocks' sums added in double. */
static double dot(const float *x, const float *y, int64_t n) {
    double s = 0;
    int64_t i = 0;
    for (; i + 256 <= n; i += 256) {
        float acc[16] = {0};
        for (int b = 0; b < 256; b += 16)
            for (int l = 0; l < 16; l++) acc[l] += x[i + b + l] * y[i + b + l];
        double bs = 0;
        for (int l = 0; l < 16; l++) bs += acc[l];
        s += bs;
    }
    for (; i < n; i++) s += (double)x[i] * y[i];
    return s;
}

static void record_stats(mvae_impartial *b, const double *G, double scale) {
    int K = b->K;
    int pairs = 0, conf = 0;
    for (int i = 0; i < K; i++) {
        double ni = sqrt(fmax(G[i * K + i], 0));
        b->norm_sum[i] += ni;
        for (int j = i + 1; j < K; j++) {
            double nj = sqrt(fmax(G[j * K + j], 0));
            double c = ni > 0 && nj > 0 ? G[i * K + j] / (ni * nj) : 0;
            b->cos_sum[i * K + j] += c;
            pairs++;
            conf += c < 0;
        }
    }
    b->conflict_sum += pairs ? (double)conf / pairs : 0;
    b->scale_sum += scale;
    b->st.calls++;
}

static int combine_impl(mvae_impartial *b, int K, int64_t N, const float *const *g, const float *input,
                        int64_t rows, float *out, bool accumulate, mvae_error *err);

int mvae_impartial_combine(mvae_impartial *b, int K, int64_t N, const float *const *g,
                           const float *input, int64_t rows, float *out, bool accumulate,
                           mvae_error *err) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = combine_impl(b, K, N, g, input, rows, out, accumulate, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (b) b->st.seconds += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return rc;
}

static int combine_impl(mvae_impartial *b, int K, int64_t N, const float *const *g, const float *input,
                        int64_t rows, float *out, bool accumulate, mvae_error *err) {
    if (!b) return mvae_error_set(err, MVAE_ERR_INVALID, "impartial: no block");
    if (K != b->K)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "impartial: %d branch gradients given to a block of K = %d", K, b->K);
    if (N < 1 || rows < 1 || N % rows)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "impartial: %lld elements do not split into %lld rows", (long long)N,
                              (long long)rows);
    bool is_none = b->n_m == 1 && b->m[0]->combine == combine_none;
    bool direct = b->n_m == 1 && b->m[0]->combine == combine_graddrop;
    double *G = b->work + WORK_METHOD(K), *Gc = G + K * K, *Wm = Gc + K * K, *Wt = Wm + K * K,
           *T = Wt + K * K;
    bool need_gram = !is_none || b->diagnostics;
    if (need_gram)
        for (int i = 0; i < K; i++)
            for (int jj = i; jj < K; jj++) {
                double d = g[i] && g[jj] ? dot(g[i], g[jj], N) : 0;
                G[i * K + jj] = G[jj * K + i] = d;
            }
    if (is_none) { /* the plain sum in a fixed order: g_{K-1}, then + g_{K-2}, ... (the order in
                    * which the sweep would have accumulated the consumers' gradients) */
        bool first = !accumulate;
        for (int k = K - 1; k >= 0; k--) {
            const float *gk = g[k];
            if (!gk) continue;
            if (first)
                memcpy(out, gk, (size_t)N * sizeof *out);
            else
                for (int64_t n = 0; n < N; n++) out[n] += gk[n];
            first = false;
        }
        if (first) memset(out, 0, (size_t)N * sizeof *out);
        ones(K, b->last_w);
        b->last_scale = 1;
        if (b->diagnostics) record_stats(b, G, 1);
        return MVAE_OK;
    }
    int64_t cols = N / rows;
    if (direct) {
        size_t need = (size_t)N + (size_t)(K + 2) * (size_t)cols;
        if (need > b->fbuf_cap) {
            float *p = realloc(b->fbuf, need * sizeof *p);
            if (!p) return mvae_error_set(err, MVAE_ERR_NOMEM, "impartial: out of memory");
            b->fbuf = p;
            b->fbuf_cap = need;
        }
        if (b->opt[0][1] != 0 && !input)
            return mvae_error_set(
                err, MVAE_ERR_INVALID,
                "impartial: graddrop with input_sign needs the shared tensor's values");
    }
    /* the chain: method c sees the Gram of the previous one's per-task outputs D = W_total g and
     * returns W_m (D'_i = sum_l (W_m)_il D_l); W_total <- W_m W_total */
    double w[MAXK];
    float *res = direct ? b->fbuf : NULL;
    int kind = MVAE_IMPARTIAL_WEIGHTS;
    memcpy(Gc, G, (size_t)K * K * sizeof *G);
    for (int i = 0; i < K * K; i++) Wt[i] = i % (K + 1) == 0;
    for (int c = 0; c < b->n_m; c++) {
        mvae_impartial_job job = {K,
                                  N,
                                  rows,
                                  c == 0 ? g : NULL,
                                  Gc,
                                  b->opt[c],
                                  b->state ? b->state + b->state_off[c] : NULL,
                                  b->rng,
                                  input,
                                  b->work,
                                  direct ? b->fbuf + N : NULL,
                                  &b->st.fallbacks};
        kind = b->m[c]->combine(&job, Wm, res);
        if (kind == MVAE_IMPARTIAL_DIRECT) break;
        bool finite = true;
        for (int i = 0; i < K * K; i++) finite &= isfinite(Wm[i]) != 0;
        if (!finite) { /* a method must not produce NaN: count it, leave the gradients as they are
                        */
            b->st.fallbacks++;
            for (int i = 0; i < K * K; i++) Wm[i] = i % (K + 1) == 0;
        }
        for (int i = 0; i < K; i++) /* T = W_m W_total */
            for (int l = 0; l < K; l++) {
                double s = 0;
                for (int q = 0; q < K; q++) s += Wm[i * K + q] * Wt[q * K + l];
                T[i * K + l] = s;
            }
        memcpy(Wt, T, (size_t)K * K * sizeof *T);
        if (c + 1 < b->n_m) { /* Gc <- W_m Gc W_m^T */
            for (int i = 0; i < K; i++)
                for (int l = 0; l < K; l++) {
                    double s = 0;
                    for (int q = 0; q < K; q++) s += Wm[i * K + q] * Gc[q * K + l];
                    T[i * K + l] = s;
                }
            for (int i = 0; i < K; i++)
                for (int l = 0; l < K; l++) {
                    double s = 0;
                    for (int q = 0; q < K; q++) s += T[i * K + q] * Wm[l * K + q];
                    Gc[i * K + l] = s;
                }
        }
    }
    if (kind == MVAE_IMPARTIAL_DIRECT)
        ones(K, w);
    else
        for (int l = 0; l < K; l++) { /* the sum over tasks of their outputs */
            double s = 0;
            for (int i = 0; i < K; i++) s += Wt[i * K + l];
            w[l] = s;
        }
    double n0 = 0; /* ||sum_k g_k|| from the Gram */
    for (int k = 0; k < K * K; k++) n0 += G[k];
    n0 = sqrt(fmax(n0, 0));
    double scale = 1;
    if (kind == MVAE_IMPARTIAL_DIRECT) {
        if (b->norm_restore) {
            double n1 = sqrt(dot(res, res, N)), mass = 0;
            for (int k = 0; k < K; k++) mass += sqrt(fmax(G[k * K + k], 0));
            if (n1 <= 1e-10 || n1 <= 1e-5 * mass) {
                if (n0 > 0) b->st.degenerate++;
            } else {
                scale = n0 / n1;
            }
        }
        float s = (float)scale;
        if (accumulate)
            for (int64_t n = 0; n < N; n++) out[n] += s * res[n];
        else
            for (int64_t n = 0; n < N; n++) out[n] = s * res[n];
    } else {
        if (b->norm_restore) {
            /* ||sum w_k g_k|| from the Gram; a direction that is zero up to cancellation (relative
             * to the weighted inputs) is not blown up to the sum's norm */
            double n1 = sqrt(fmax(quad(K, G, w), 0)), mass = 0;
            for (int k = 0; k < K; k++) mass += fabs(w[k]) * sqrt(fmax(G[k * K + k], 0));
            if (n1 <= 1e-10 || n1 <= 1e-5 * mass) {
                if (n0 > 0) b->st.degenerate++;
            } else {
                scale = n0 / n1;
            }
        }
        bool first = !accumulate;
        for (int k = 0; k < K; k++) {
            const float *gk = g[k];
            if (!gk) continue;
            float c = (float)(scale * w[k]);
            if (first)
                for (int64_t n = 0; n < N; n++) out[n] = c * gk[n];
            else
                for (int64_t n = 0; n < N; n++) out[n] += c * gk[n];
            first = false;
        }
        if (first) memset(out, 0, (size_t)N * sizeof *out);
    }
    memcpy(b->last_w, w, (size_t)K * sizeof *w);
    b->last_scale = scale;
    if (b->diagnostics) record_stats(b, G, scale);
    return MVAE_OK;
}

/* ================================================================================================
 * diagnostics
 * ============================================================================================== */

void mvae_impartial_stats_get(const mvae_impartial *b, mvae_impartial_stats *s) {
    *s = b->st;
    int K = b->K;
    double c = b->st.calls ? (double)b->st.calls : 1;
    for (int i = 0; i < K; i++) {
        s->norm_mean[i] = b->norm_sum[i] / c;
        for (int j = 0; j < K; j++) {
            int a = i < j ? i : j, bb = i < j ? j : i;
            s->cos_mean[i * K + j] = i == j ? 1 : b->cos_sum[a * K + bb] / c;
        }
    }
    s->conflict_frac = b->conflict_sum / c;
    s->scale_mean = b->st.calls ? b->scale_sum / c : 1;
}

void mvae_impartial_stats_reset(mvae_impartial *b) {
    memset(&b->st, 0, sizeof b->st);
    b->st.K = b->K;
    memset(b->cos_sum, 0, sizeof b->cos_sum);
    memset(b->norm_sum, 0, sizeof b->norm_sum);
    b->conflict_sum = b->scale_sum = 0;
}

int mvae_impartial_stats_json(const mvae_impartial_stats *s, const char *prefix,
                              const char *const *names, char *buf, size_t len) {
    const char *p = prefix ? prefix : "";
    size_t k = 0;
    char a[32], c[32];
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int r_ = snprintf(buf + (k < len ? k : len), k < len ? len - k : 0, __VA_ARGS__);          \
        if (r_ > 0) k += (size_t)r_;                                                               \
    } while (0)
    if (len) buf[0] = '\0';
    PUT("\"%scalls\": %lld, \"%sfallbacks\": %lld, \"%sdegenerate\": %lld, \"%sconflict_frac\": "
        "%.6g, "
        "\"%sscale\": %.6g",
        p, (long long)s->calls, p, (long long)s->fallbacks, p, (long long)s->degenerate, p,
        s->conflict_frac, p, s->scale_mean);
    for (int i = 0; i < s->K; i++) {
        if (!names) snprintf(a, sizeof a, "%d", i);
        PUT(", \"%snorm.%s\": %.6g", p, names ? names[i] : a, s->norm_mean[i]);
    }
    for (int i = 0; i < s->K; i++)
        for (int j = i + 1; j < s->K; j++) {
            if (!names) {
                snprintf(a, sizeof a, "%d", i);
                snprintf(c, sizeof c, "%d", j);
            }
            PUT(", \"%scos.%s-%s\": %.6g", p, names ? names[i] : a, names ? names[j] : c,
                s->cos_mean[i * s->K + j]);
        }
#undef PUT
    return (int)k;
}
