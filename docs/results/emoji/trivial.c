/* trivial references on the emoji test split: gray replicated as RGB vs the image (colourisation
 * without colour), the training-mean image vs each test image, and the training-mean mask (>0.5) */
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
    mvae_cfg_load_string("{size: 64, test_fraction: 0.1, seed: 1}", "x", &cfg, &err);
    void *ds;
    if (vt->open(mvae_cfg_root(cfg), &ds, &err)) { puts(err.msg); return 1; }
    const int S = 64, E = 3 * S * S, A = S * S;
    int64_t ntr = vt->size(ds, 0), nte = vt->size(ds, 1);
    float *mean = calloc(E, sizeof(float)), *amean = calloc(A, sizeof(float));
    float *out[3]; uint8_t pres[3];
    out[0] = malloc(E * sizeof(float)); out[1] = malloc(A * sizeof(float)); out[2] = malloc(200 * sizeof(float));
    for (int64_t i = 0; i < ntr; i++) {
        vt->get_batch(ds, 0, &i, 1, out, pres, &err);
        for (int p = 0; p < E; p++) mean[p] += out[0][p] / ntr;
        for (int p = 0; p < A; p++) amean[p] += out[1][p] / ntr;
    }
    double ps_gray = 0, ps_mean = 0, iou_mean = 0, ps_white = 0;
    float *g = malloc(E * sizeof(float)), *white = malloc(E * sizeof(float)), *m = malloc(A * sizeof(float));
    for (int p = 0; p < E; p++) white[p] = 1;
    for (int64_t i = 0; i < nte; i++) {
        vt->get_batch(ds, 1, &i, 1, out, pres, &err);
        for (int p = 0; p < A; p++) {
            float y = 0.299f * out[0][p] + 0.587f * out[0][A + p] + 0.114f * out[0][2 * A + p];
            g[p] = g[A + p] = g[2 * A + p] = y;
            m[p] = out[1][p] > 0.5f;
        }
        ps_gray += mvae_psnr(g, out[0], E);
        ps_mean += mvae_psnr(mean, out[0], E);
        ps_white += mvae_psnr(white, out[0], E);
        iou_mean += mvae_iou(amean, m, A, 0.5f);
    }
    printf("test %lld: gray-as-RGB psnr %.2f  train-mean image psnr %.2f  white psnr %.2f  train-mean alpha>0.5 IoU %.3f\n",
           (long long)nte, ps_gray / nte, ps_mean / nte, ps_white / nte, iou_mean / nte);
    return 0;
}
