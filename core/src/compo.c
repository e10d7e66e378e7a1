/* compo.c — the compositionality probe's measures (mvae/compo.h). */
#include "mvae/compo.h"
#include "mvae/coherence.h"
#include "mvae/tre.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mvae_compo_probe(const float *Xs, const int32_t *fs, int64_t ns, const float *Xu, const int32_t *fu, int64_t nu, int d,
                     int n_factors, const int *n_values, mvae_compo_result *out, mvae_error *err) {
    memset(out, 0, sizeof *out);
    if (!Xs || !fs || !Xu || !fu || !n_values || ns < 1 || nu < 1 || d < 1 || n_factors < 1 ||
        n_factors > MVAE_COMPO_MAX_FACTORS || ns > 1000000000 || nu > 1000000000)
        return mvae_error_set(err, MVAE_ERR_INVALID, "compo: need seen and unseen items (got %lld, %lld), d >= 1 (got %d) "
                              "and 1..%d factors (got %d)", (long long)ns, (long long)nu, d, MVAE_COMPO_MAX_FACTORS, n_factors);
    int n_prims = 0, off[MVAE_COMPO_MAX_FACTORS];
    for (int a = 0; a < n_factors; a++) {
        if (n_values[a] < 1) return mvae_error_set(err, MVAE_ERR_INVALID, "compo: factor %d has %d values", a, n_values[a]);
        off[a] = n_prims;
        n_prims += n_values[a];
    }
    for (int pass = 0; pass < 2; pass++) {
        const int32_t *f = pass ? fu : fs;
        int64_t n = pass ? nu : ns;
        for (int64_t i = 0; i < n; i++)
            for (int a = 0; a < n_factors; a++)
                if (f[i * n_factors + a] < 0 || f[i * n_factors + a] >= n_values[a])
                    return mvae_error_set(err, MVAE_ERR_INVALID, "compo: %s item %lld: factor %d value %d is outside [0, %d)",
                                          pass ? "unseen" : "seen", (long long)i, a, f[i * n_factors + a], n_values[a]);
    }
    out->n_factors = n_factors;
    int rc = MVAE_OK;
    int32_t *ys = malloc((size_t)ns * sizeof *ys), *yu = malloc((size_t)nu * sizeof *yu);
    int *ps = malloc((size_t)ns * n_factors * sizeof *ps), *pu = malloc((size_t)nu * n_factors * sizeof *pu);
    float *Zs = malloc((size_t)ns * d * sizeof *Zs), *Zu = malloc((size_t)nu * d * sizeof *Zu);
    int64_t *count = NULL;
    int maxv = 0;
    for (int a = 0; a < n_factors; a++) maxv = n_values[a] > maxv ? n_values[a] : maxv;
    count = calloc((size_t)maxv, sizeof *count);
    if (!ys || !yu || !ps || !pu || !Zs || !Zu || !count) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "compo: out of memory");
        goto done;
    }
    /* linear probes and the majority baseline */
    for (int a = 0; a < n_factors && !rc; a++) {
        memset(count, 0, (size_t)maxv * sizeof *count);
        for (int64_t i = 0; i < ns; i++) count[ys[i] = fs[i * n_factors + a]]++;
        for (int64_t i = 0; i < nu; i++) yu[i] = fu[i * n_factors + a];
        int best = 0;
        for (int v = 1; v < n_values[a]; v++)
            if (count[v] > count[best]) best = v;
        int64_t hit = 0;
        for (int64_t i = 0; i < nu; i++) hit += yu[i] == best;
        out->majority[a] = (double)hit / (double)nu;
        mvae_logreg lr;
        if ((rc = mvae_logreg_fit(Xs, ys, ns, d, n_values[a], 1e-4f, 500, &lr, err))) break;
        out->probe[a] = mvae_logreg_accuracy(&lr, Xu, yu, nu);
        mvae_logreg_free(&lr);
    }
    if (rc) goto done;
    /* TRE on standardised representations */
    for (int j = 0; j < d; j++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < ns; i++) m += Xs[i * d + j];
        m /= (double)ns;
        for (int64_t i = 0; i < ns; i++) v += (Xs[i * d + j] - m) * (Xs[i * d + j] - m);
        double sd = sqrt(v / (double)ns);
        double inv = sd > 1e-8 ? 1.0 / sd : 0.0; /* a constant dimension carries nothing: 0 */
        for (int64_t i = 0; i < ns; i++) Zs[i * d + j] = (float)((Xs[i * d + j] - m) * inv);
        for (int64_t i = 0; i < nu; i++) Zu[i * d + j] = (float)((Xu[i * d + j] - m) * inv);
    }
    for (int64_t i = 0; i < ns; i++)
        for (int a = 0; a < n_factors; a++) ps[i * n_factors + a] = off[a] + fs[i * n_factors + a];
    for (int64_t i = 0; i < nu; i++)
        for (int a = 0; a < n_factors; a++) pu[i * n_factors + a] = off[a] + fu[i * n_factors + a];
    double fit = 0, ev = 0, base = 0, cfit = 0, cev = 0;
    if ((rc = mvae_tre_heldout(Zs, ps, (int)ns, Zu, pu, (int)nu, d, n_factors, n_prims, MVAE_TRE_L1, NULL, NULL, &fit, &ev, err)) ||
        (rc = mvae_tre_heldout(Zs, ps, (int)ns, Zu, pu, (int)nu, d, n_factors, n_prims, MVAE_TRE_COS, NULL, NULL, &cfit, &cev, err)))
        goto done;
    for (int64_t i = 0; i < nu; i++)
        for (int j = 0; j < d; j++) base += fabs(Zu[i * d + j]);
    base /= (double)nu;
    out->tre_l1 = ev / d;
    out->tre_fit = fit / d;
    out->tre_base = base / d;
    out->tre_rel = base > 0 ? ev / base : 0.0;
    out->tre_cos = cev;
done:
    free(ys), free(yu), free(ps), free(pu), free(Zs), free(Zu), free(count);
    return rc;
}
