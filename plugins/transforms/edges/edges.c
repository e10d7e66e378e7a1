/* transforms/edges — Sobel edge magnitude of an image's luminance: [C,H,W] (C = 1 or 3) -> [1,H,W].
 *
 *   transforms:
 *     edges: {plugin: edges, from: image, scale: 0.25, threshold: 0}
 *
 * Luminance Y (BT.601 for RGB), then the 3x3 Sobel gradients gx, gy with the border replicated,
 * e = min(1, scale * sqrt(gx^2 + gy^2)). A unit step gives |g| = 4, so the default scale 0.25 maps
 * the strongest step to 1. threshold 0 keeps the soft magnitude e in [0,1]; threshold > 0 gives a
 * binary edge map (e > threshold).
 */
#include "mvae/interfaces.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct edges_tf {
    int64_t c, h, w;
    float scale, threshold;
    float *lum; /* [h*w] scratch */
} edges_tf;

static int edges_create(const mvae_cfg_node *opts, const mvae_modality_info *src, mvae_modality_info *out,
                        void **self, mvae_error *err) {
    if (src->type != MVAE_MOD_IMAGE || src->ndim != 3 || (src->shape[0] != 1 && src->shape[0] != 3))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "edges needs an image modality with 1 or 3 channels, but '%s' is %s with %lld channel(s)",
                              src->name, mvae_modality_type_name(src->type), (long long)src->shape[0]);
    double scale = 0.25, th = 0.0;
    int rc = mvae_cfg_float_or(opts, "scale", 0.25, &scale, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "threshold", 0.0, &th, err);
    if (rc) return rc;
    if (!(scale > 0.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "edges: scale must be > 0, got %g", scale);
    if (!(th >= 0.0 && th < 1.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "edges: threshold must be in [0, 1) (0 = soft magnitude), got %g", th);
    edges_tf *e = calloc(1, sizeof *e);
    if (!e) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    e->c = src->shape[0];
    e->h = src->shape[1];
    e->w = src->shape[2];
    e->scale = (float)scale;
    e->threshold = (float)th;
    e->lum = malloc((size_t)(e->h * e->w) * sizeof(float));
    if (!e->lum) {
        free(e);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    memset(out, 0, sizeof *out);
    out->type = MVAE_MOD_IMAGE;
    out->ndim = 3;
    out->shape[0] = 1;
    out->shape[1] = e->h;
    out->shape[2] = e->w;
    *self = e;
    return MVAE_OK;
}

static void edges_destroy(void *self) {
    edges_tf *e = self;
    if (!e) return;
    free(e->lum);
    free(e);
}

static inline int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

static int edges_apply(void *self, const float *src, float *dst, int n, mvae_error *err) {
    (void)err;
    edges_tf *e = self;
    const int64_t H = e->h, W = e->w, hw = H * W;
    for (int i = 0; i < n; i++) {
        const float *s = src + (size_t)i * (size_t)(e->c * hw);
        float *d = dst + (size_t)i * (size_t)hw;
        if (e->c == 1)
            memcpy(e->lum, s, (size_t)hw * sizeof(float));
        else
            for (int64_t p = 0; p < hw; p++) e->lum[p] = 0.299f * s[p] + 0.587f * s[hw + p] + 0.114f * s[2 * hw + p];
        const float *L = e->lum;
        for (int64_t y = 0; y < H; y++) {
            const float *r0 = L + clampi(y - 1, H - 1) * W, *r1 = L + y * W, *r2 = L + clampi(y + 1, H - 1) * W;
            for (int64_t x = 0; x < W; x++) {
                int64_t xl = clampi(x - 1, W - 1), xr = clampi(x + 1, W - 1);
                float gx = (r0[xr] + 2.0f * r1[xr] + r2[xr]) - (r0[xl] + 2.0f * r1[xl] + r2[xl]);
                float gy = (r2[xl] + 2.0f * r2[x] + r2[xr]) - (r0[xl] + 2.0f * r0[x] + r0[xr]);
                float m = e->scale * sqrtf(gx * gx + gy * gy);
                if (m > 1.0f) m = 1.0f;
                d[y * W + x] = e->threshold > 0.0f ? (m > e->threshold ? 1.0f : 0.0f) : m;
            }
        }
    }
    return MVAE_OK;
}

static const mvae_transform_vtable edges_vt = {.create = edges_create, .destroy = edges_destroy, .apply = edges_apply};
static const mvae_option edges_opts[] = {
    {"scale", MVAE_OPT_FLOAT, "0.25", "edge value = min(1, scale * Sobel magnitude); a unit step has magnitude 4", NULL, false, NULL},
    {"threshold", MVAE_OPT_FLOAT, "0", "0 = soft magnitude in [0,1]; > 0 = binary edges (value > threshold)", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_plugin_desc edges_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_TRANSFORM, "edges", "1.0.0", "Sobel edge magnitude of an image's luminance: [C,H,W] -> [1,H,W]",
    &edges_vt, edges_opts);
MVAE_PLUGIN_DEFINE(edges_transform, edges_desc)
