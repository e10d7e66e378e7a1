/* trivial references for attributes: each on the emoji test split: for each of the 18 default
 * attributes its share of all rendered emoji, of the training split and of the test split, and on
 * the test split the accuracy of the training split's majority answer and the F1 of always
 * answering 1 (the best F1 a constant answer can have). Also the mean image's PSNR. */
#include "mvae/interfaces.h"
#include "mvae/train.h"
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    if (mvae_registry_load_default(reg, &err)) { puts(err.msg); return 1; }
    const mvae_plugin_desc *d = mvae_registry_find(reg, MVAE_PLUGIN_DATASET, "emoji");
    const mvae_dataset_vtable *vt = d->vtable;
    mvae_cfg *cfg;
    mvae_cfg_load_string("{size: 64, test_fraction: 0.1, seed: 1, attributes: each}", "x", &cfg, &err);
    void *ds;
    if (vt->open(mvae_cfg_root(cfg), &ds, &err)) { puts(err.msg); return 1; }
    const int M = vt->n_modalities(ds), N_A = M - 2, E = 3 * 64 * 64;
    float *out[MVAE_MAX_MODALITIES], *mean = calloc(E, sizeof(float));
    uint8_t pres[MVAE_MAX_MODALITIES];
    for (int m = 0; m < M; m++) out[m] = malloc((size_t)mvae_modality_numel(vt->modality(ds, m)) * sizeof(float));
    int64_t n[2] = {vt->size(ds, 0), vt->size(ds, 1)}, pos[2][MVAE_MAX_MODALITIES] = {{0}};
    double psnr = 0;
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < n[s]; i++) {
            vt->get_batch(ds, s, &i, 1, out, pres, &err);
            for (int a = 0; a < N_A; a++) pos[s][a] += out[2 + a][0] > 0.5f;
            if (s == 0) for (int p = 0; p < E; p++) mean[p] += out[0][p] / n[0];
            else psnr += mvae_psnr(mean, out[0], E);
        }
    printf("%-26s %7s %7s %7s %10s %9s\n", "attribute", "all %", "train %", "test n", "majority", "F1 all-1");
    for (int a = 0; a < N_A; a++) {
        double tr = (double)pos[0][a] / n[0], te = (double)pos[1][a] / n[1];
        double maj = tr >= 0.5 ? te : 1.0 - te, f1 = 2.0 * te / (1.0 + te);
        printf("%-26s %7.1f %7.1f %7lld %10.3f %9.3f\n", vt->modality(ds, 2 + a)->name,
               100.0 * (pos[0][a] + pos[1][a]) / (n[0] + n[1]), 100.0 * tr, (long long)pos[1][a], maj, f1);
    }
    printf("test %lld, train %lld: train-mean image psnr %.2f\n", (long long)n[1], (long long)n[0], psnr / n[1]);
    return 0;
}
