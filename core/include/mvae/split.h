/* mvae/split.h — deterministic, seeded train/test(/validation) splits for dataset plugins: which
 * of a data set's n samples go to which split, the same on every machine and every run for the
 * same (n, fractions, seed), so that a run's test set never leaks into another run's training set.
 *
 *   // in a dataset's open(): 10% test, the rest train, from the `seed` option
 *   mvae_data_split sp;
 *   if (mvae_data_split_make(n, 0.1, 0.0, seed, &sp, err)) return err->status;
 *   ... sample i of split s is sample sp.idx[s][i] of the data set, i < sp.n[s] ...
 *   mvae_data_split_free(&sp);  // in close()
 *
 * The draw: a Fisher-Yates permutation of 0..n-1 by mvae_rng seeded with `seed` (xoshiro256**,
 * mvae/rng.h); its first round(test_fraction * n) samples are the test split, the next
 * round(valid_fraction * n) the validation split, the rest the training split; a fraction > 0
 * gets at least one sample. Each split's indices are sorted ascending (files are then read in
 * order). Changing the seed reshuffles; growing n changes the split (keep n fixed for a data set).
 */
#ifndef MVAE_SPLIT_H
#define MVAE_SPLIT_H
#include "mvae/common.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct mvae_data_split {
    int64_t n[3];    /* samples per split, indexed by MVAE_SPLIT_TRAIN, _TEST, _VALID (mvae/interfaces.h) */
    int64_t *idx[3]; /* their sample indices in 0..n-1, ascending; malloc'd (NULL when n[s] = 0) */
} mvae_data_split;

/* Split n >= 1 samples. test_fraction and valid_fraction in [0, 1) with a sum below 1 and at least
 * one training sample left; otherwise MVAE_ERR_INVALID with a message naming the values and the
 * fix. *out is zeroed first and owns its arrays on success. */
int mvae_data_split_make(int64_t n, double test_fraction, double valid_fraction, uint64_t seed,
                         mvae_data_split *out, mvae_error *err);
void mvae_data_split_free(mvae_data_split *s); /* NULL is a no-op; leaves *s zeroed */

#ifdef __cplusplus
}
#endif
#endif
