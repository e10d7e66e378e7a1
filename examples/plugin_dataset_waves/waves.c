/* datasets/waves — an example DATASET plugin built outside the mvae source tree, against an
 * installed mvae (docs/writing-a-plugin.md, section 6, walks through it).
 *
 * Two modalities per sample i:
 *   wave   real [length]: sin(2 pi (c + 1) t / length + phase_i) + noise * N(0, 1), t = 0..length-1
 *   label  categorical [1]: its class c = i % classes ("1 cycle", "2 cycles", ...)
 * A share `missing_fraction` of the samples has no wave (natively missing data: present = 0).
 * Samples are computed from (seed, i) when asked for, so the data set needs no file and get_batch
 * keeps no state. The train/test split is mvae_data_split_make's (seeded, the same everywhere).
 *
 * Options: n: 2000, length: 64, classes: 4, noise: 0.1, missing_fraction: 0.0,
 *          test_fraction: 0.2, seed: 1
 */
#include <mvae/interfaces.h> /* mvae_dataset_vtable, mvae_modality_info, MVAE_SPLIT_* */
#include <mvae/rng.h>        /* mvae_rng: seeded draws */
#include <mvae/split.h>      /* mvae_data_split_make: the train/test split */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAVES_MAX_CLASSES 16
#define WAVES_PI 3.14159265358979323846

typedef struct waves {
    int64_t n, length;
    int classes;
    double noise, missing_fraction;
    uint64_t seed;
    mvae_data_split split;              /* sample indices of each split */
    mvae_modality_info mod[2];          /* wave, label: valid until close */
    char names[WAVES_MAX_CLASSES][24];  /* class names, "1 cycle", "2 cycles", ... */
    const char *class_names[WAVES_MAX_CLASSES];
} waves;

static void waves_close(void *self) {
    waves *d = self;
    if (!d) return;
    mvae_data_split_free(&d->split);
    free(d);
}

/* open: read the (validated, defaults filled) options, check what the option table cannot, and
 * build the split. An error names the option, its place in the experiment and the fix; the
 * core puts "exp.yaml:LINE:COL: dataset 'waves': " in front of it. */
static int waves_open(const mvae_cfg_node *opts, void **self, mvae_error *err) {
    int64_t n = 0, length = 0, classes = 0, seed = 0;
    double test_fraction = 0;
    waves *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int rc = mvae_cfg_int_or(opts, "n", 2000, &n, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "length", 64, &length, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "classes", 4, &classes, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "noise", 0.1, &d->noise, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "missing_fraction", 0.0, &d->missing_fraction, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "test_fraction", 0.2, &test_fraction, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "seed", 1, &seed, err);
    /* a check across two options: the highest frequency must stay below the Nyquist limit */
    if (!rc && length < 2 * (classes + 1)) {
        char where[256];
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "length %lld is too short for %lld classes (the fastest wave has %lld cycles): set "
                            "length >= %lld (at %s)",
                            (long long)length, (long long)classes, (long long)classes, (long long)(2 * (classes + 1)),
                            mvae_cfg_where(mvae_cfg_get(opts, "length"), where, sizeof where));
    }
    if (!rc) rc = mvae_data_split_make(n, test_fraction, 0.0, (uint64_t)seed, &d->split, err);
    if (rc) {
        waves_close(d);
        return rc;
    }
    d->n = n, d->length = length, d->classes = (int)classes, d->seed = (uint64_t)seed;
    snprintf(d->mod[0].name, sizeof d->mod[0].name, "wave");
    d->mod[0].type = MVAE_MOD_REAL;
    d->mod[0].ndim = 1;
    d->mod[0].shape[0] = length;
    snprintf(d->mod[1].name, sizeof d->mod[1].name, "label");
    d->mod[1].type = MVAE_MOD_CATEGORICAL;
    d->mod[1].ndim = 1;
    d->mod[1].shape[0] = 1;
    d->mod[1].n_classes = d->classes;
    for (int c = 0; c < d->classes; c++) {
        snprintf(d->names[c], sizeof d->names[c], "%d cycle%s", c + 1, c ? "s" : "");
        d->class_names[c] = d->names[c];
    }
    d->mod[1].class_names = d->class_names;
    /* plugins log through the core's logger (never printf): the user sets its level and sink */
    MVAE_INFO("waves: %lld samples of length %lld, %d classes (%lld train, %lld test), %.0f%% without a wave",
              (long long)n, (long long)length, d->classes, (long long)d->split.n[MVAE_SPLIT_TRAIN],
              (long long)d->split.n[MVAE_SPLIT_TEST], 100 * d->missing_fraction);
    *self = d;
    return MVAE_OK;
}

static int waves_n_modalities(void *self) {
    (void)self;
    return 2;
}

static const mvae_modality_info *waves_modality(void *self, int m) {
    waves *d = self;
    return m >= 0 && m < 2 ? &d->mod[m] : NULL;
}

static int64_t waves_size(void *self, int split) {
    waves *d = self;
    return split >= 0 && split < 3 ? d->split.n[split] : 0;
}

/* Copy samples idx[0..n) of `split`: out[0] gets n * length floats, out[1] n int32 labels.
 * Everything is computed from (seed, sample), so the same index gives the same sample in every
 * call, whatever the order. */
static int waves_get_batch(void *self, int split, const int64_t *idx, int n, float **out, uint8_t *present,
                           mvae_error *err) {
    waves *d = self;
    int64_t size = waves_size(d, split);
    float *wave = out[0];
    int32_t *label = (int32_t *)out[1];
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= size)
            return mvae_error_set(err, MVAE_ERR_INVALID, "sample %lld of split %d is out of range (the split has %lld)",
                                  (long long)idx[i], split, (long long)size);
        int64_t s = d->split.idx[split][idx[i]]; /* the sample's index in the whole data set */
        int c = (int)(s % d->classes);
        mvae_rng r;
        mvae_rng_seed(&r, d->seed * 0x9E3779B97F4A7C15ull + (uint64_t)s);
        double phase = 2 * WAVES_PI * mvae_rng_uniform(&r);
        label[i] = c;
        present[i * 2 + 1] = 1;
        /* natively missing: the wave's slot MAY stay unwritten when present is 0 */
        present[i * 2 + 0] = mvae_rng_uniform(&r) >= d->missing_fraction;
        if (!present[i * 2 + 0]) continue;
        for (int64_t t = 0; t < d->length; t++)
            wave[i * d->length + t] =
                (float)(sin(2 * WAVES_PI * (c + 1) * (double)t / (double)d->length + phase) + d->noise * mvae_rng_normal(&r));
    }
    return MVAE_OK;
}

static const mvae_dataset_vtable vt = {
    .open = waves_open,
    .close = waves_close,
    .n_modalities = waves_n_modalities,
    .modality = waves_modality,
    .size = waves_size,
    .get_batch = waves_get_batch,
};
/* The keys of the `dataset:` section besides `plugin` (and the core's paired_fraction). The core
 * checks types and ranges, and fills in defaults, before open() runs. */
static const mvae_option opts[] = {
    {"n", MVAE_OPT_INT, "2000", "samples in the data set", NULL, false, NULL, "[10, 10000000]"},
    {"length", MVAE_OPT_INT, "64", "points per wave", NULL, false, NULL, "[4, 65536]"},
    {"classes", MVAE_OPT_INT, "4", "frequencies (1..classes cycles per wave)", NULL, false, NULL, "[2, 16]"},
    {"noise", MVAE_OPT_FLOAT, "0.1", "standard deviation of the Gaussian noise", NULL, false, NULL, "[0, 10]"},
    {"missing_fraction", MVAE_OPT_FLOAT, "0.0", "share of samples without a wave", NULL, false, NULL, "[0, 1)"},
    {"test_fraction", MVAE_OPT_FLOAT, "0.2", "share of samples in the test split", NULL, false, NULL, "(0, 1)"},
    {"seed", MVAE_OPT_INT, "1", "the split's and the samples' seed", NULL, false, NULL, "[0, 1000000000]"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(MVAE_PLUGIN_DATASET, "waves", "1.0.0",
                                                      "noisy sine waves and their frequency (out-of-tree example)", &vt, opts);
MVAE_PLUGIN_DEFINE(dataset_waves, desc)
