/* split.c — seeded train/test/validation splits for dataset plugins (mvae/split.h). */
#include "mvae/split.h"
#include "mvae/interfaces.h"
#include "mvae/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* round(f * n), at least 1 when f > 0 */
static int64_t share(double f, int64_t n) {
    int64_t k = llround(f * (double)n);
    return f > 0 && k < 1 ? 1 : k;
}

int mvae_data_split_make(int64_t n, double test_fraction, double valid_fraction, uint64_t seed,
                         mvae_data_split *out, mvae_error *err) {
    if (!out) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_data_split_make: out is NULL");
    memset(out, 0, sizeof *out);
    if (n < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID, "split: the data set has %lld samples; at least 1 is needed",
                              (long long)n);
    if (!(test_fraction >= 0 && test_fraction < 1) || !(valid_fraction >= 0 && valid_fraction < 1))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "split: test_fraction %g and valid_fraction %g must each be in [0, 1)", test_fraction,
                              valid_fraction);
    int64_t n_test = share(test_fraction, n), n_valid = share(valid_fraction, n);
    if (n_test + n_valid >= n)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "split: test_fraction %g and valid_fraction %g of %lld samples leave no training sample "
                              "(%lld test, %lld validation): lower the fractions",
                              test_fraction, valid_fraction, (long long)n, (long long)n_test, (long long)n_valid);
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return mvae_error_set(err, MVAE_ERR_NOMEM, "split: out of memory for %lld indices", (long long)n);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    mvae_rng r;
    mvae_rng_seed(&r, seed);
    mvae_rng_shuffle(&r, perm, n);
    /* the permutation's order: test, validation, train */
    const int order[3] = {MVAE_SPLIT_TEST, MVAE_SPLIT_VALID, MVAE_SPLIT_TRAIN};
    const int64_t count[3] = {n_test, n_valid, n - n_test - n_valid};
    int64_t at = 0;
    for (int k = 0; k < 3; k++) {
        int s = order[k];
        out->n[s] = count[k];
        if (count[k]) {
            out->idx[s] = malloc((size_t)count[k] * sizeof(int64_t));
            if (!out->idx[s]) {
                free(perm);
                mvae_data_split_free(out);
                return mvae_error_set(err, MVAE_ERR_NOMEM, "split: out of memory for %lld indices", (long long)n);
            }
            memcpy(out->idx[s], perm + at, (size_t)count[k] * sizeof(int64_t));
            qsort(out->idx[s], (size_t)count[k], sizeof(int64_t), cmp_i64);
        }
        at += count[k];
    }
    free(perm);
    return MVAE_OK;
}

void mvae_data_split_free(mvae_data_split *s) {
    if (!s) return;
    for (int k = 0; k < 3; k++) free(s->idx[k]);
    memset(s, 0, sizeof *s);
}
