/* transforms/edges — edges of an image's luminance: [C,H,W] (C = 1 or 3) -> [1,H,W].
 *
 *   transforms:
 *     edges: {plugin: edges, from: image, method: sobel, scale: 0.25, threshold: 0}
 *     canny: {plugin: edges, from: image, method: canny, sigma: 1.0, low: 0.1, high: 0.3}
 *
 * sobel: luminance Y (BT.601 for RGB), the 3x3 Sobel gradients gx, gy with the border
 * replicated, e = min(1, scale * sqrt(gx^2 + gy^2)). A unit step gives |g| = 4, so the default
 * scale 0.25 maps the strongest step to 1. threshold 0 keeps the soft magnitude e in [0,1];
 * threshold > 0 gives a binary edge map (e > threshold).
 * canny (Canny 1986): Y blurred by a Gaussian of `sigma` (0 = none), the same scaled Sobel
 * magnitude, non-maximum suppression across the gradient direction (4 directions), then
 * hysteresis: pixels >= high are edges, pixels >= low are edges when 8-connected to one. Binary.
 */
#include "mvae/interfaces.h"
#include "../one_channel.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct edges_tf {
    int64_t c, h, w;
    float scale, threshold;
    bool canny;
    float low, high;
    int radius;
    float kern[64];   /* Gaussian taps, 2 * radius + 1 */
    float *lum, *tmp; /* [h*w] scratch */
    float *mag, *dir; /* [h*w] canny: magnitude, quantised direction */
    int64_t *stack;   /* [h*w] hysteresis */
} edges_tf;

static int edges_create(const mvae_cfg_node *opts, const mvae_modality_info *src, mvae_modality_info *out,
                        void **self, mvae_error *err) {
    if (src->type != MVAE_MOD_IMAGE || src->ndim != 3 || (src->shape[0] != 1 && src->shape[0] != 3))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "edges needs an image modality with 1 or 3 channels, but '%s' is %s with %lld channel(s)",
                              src->name, mvae_modality_type_name(src->type), (long long)src->shape[0]);
    double scale = 0.25, th = 0.0, sigma = 1.0, low = 0.1, high = 0.3;
    const char *method = "sobel";
    int rc = mvae_cfg_float_or(opts, "scale", 0.25, &scale, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "threshold", 0.0, &th, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "method", "sobel", &method, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "sigma", 1.0, &sigma, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "low", 0.1, &low, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "high", 0.3, &high, err);
    if (rc) return rc;
    bool canny = strcmp(method, "canny") == 0;
    if (!canny && strcmp(method, "sobel") != 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "edges: method is sobel or canny, got '%s'", method);
    if (!(sigma >= 0.0 && sigma <= 10.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "edges: sigma must be in [0, 10], got %g", sigma);
    if (canny && !(low >= 0.0 && low <= high && high <= 1.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "edges: canny needs 0 <= low <= high <= 1, got low %g high %g", low, high);
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
    e->canny = canny;
    e->low = (float)low;
    e->high = (float)high;
    e->radius = sigma > 0 ? (int)ceil(3.0 * sigma) : 0;
    double ksum = 0;
    for (int k = -e->radius; k <= e->radius; k++) ksum += exp(-0.5 * k * k / (sigma * sigma + 1e-12));
    for (int k = -e->radius; k <= e->radius; k++)
        e->kern[k + e->radius] = (float)(exp(-0.5 * k * k / (sigma * sigma + 1e-12)) / ksum);
    size_t hw = (size_t)(e->h * e->w);
    e->lum = malloc(hw * sizeof(float));
    e->tmp = malloc(hw * sizeof(float));
    e->mag = malloc(hw * sizeof(float));
    e->dir = malloc(hw * sizeof(float));
    e->stack = malloc(hw * sizeof(int64_t));
    if (!e->lum || !e->tmp || !e->mag || !e->dir || !e->stack) {
        free(e->lum), free(e->tmp), free(e->mag), free(e->dir), free(e->stack);
        free(e);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    transform_one_channel_like(src, out);
    *self = e;
    return MVAE_OK;
}

static void edges_destroy(void *self) {
    edges_tf *e = self;
    if (!e) return;
    free(e->lum);
    free(e->tmp);
    free(e->mag);
    free(e->dir);
    free(e->stack);
    free(e);
}

static inline int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

/* separable Gaussian blur of e->lum in place (border replicated) */
static void blur(edges_tf *e) {
    const int64_t H = e->h, W = e->w;
    const int R = e->radius;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float s = 0;
            for (int k = -R; k <= R; k++) s += e->kern[k + R] * e->lum[y * W + clampi(x + k, W - 1)];
            e->tmp[y * W + x] = s;
        }
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float s = 0;
            for (int k = -R; k <= R; k++) s += e->kern[k + R] * e->tmp[clampi(y + k, H - 1) * W + x];
            e->lum[y * W + x] = s;
        }
}

/* Canny on e->lum (already luminance) into d [H*W] */
static void canny(edges_tf *e, float *d) {
    const int64_t H = e->h, W = e->w, hw = H * W;
    if (e->radius > 0) blur(e);
    const float *L = e->lum;
    for (int64_t y = 0; y < H; y++) {
        const float *r0 = L + clampi(y - 1, H - 1) * W, *r1 = L + y * W, *r2 = L + clampi(y + 1, H - 1) * W;
        for (int64_t x = 0; x < W; x++) {
            int64_t xl = clampi(x - 1, W - 1), xr = clampi(x + 1, W - 1);
            float gx = (r0[xr] + 2.0f * r1[xr] + r2[xr]) - (r0[xl] + 2.0f * r1[xl] + r2[xl]);
            float gy = (r2[xl] + 2.0f * r2[x] + r2[xr]) - (r0[xl] + 2.0f * r0[x] + r0[xr]);
            e->mag[y * W + x] = e->scale * sqrtf(gx * gx + gy * gy);
            /* direction of the gradient quantised to 0 (horizontal), 1 (45), 2 (vertical), 3 (135) */
            float a = atan2f(gy, gx);
            if (a < 0) a += 3.14159265f;
            int q = (int)floorf(a / (3.14159265f / 4.0f) + 0.5f) & 3;
            e->dir[y * W + x] = (float)q;
        }
    }
    /* non-maximum suppression: keep a pixel that is > its neighbour on one side and >= on the
     * other along the gradient (ties on a plateau keep one pixel); borders are not edges */
    static const int dx[4] = {1, 1, 0, -1}, dy[4] = {0, 1, 1, 1};
    int64_t top = 0;
    for (int64_t p = 0; p < hw; p++) d[p] = 0.0f;
    for (int64_t y = 1; y + 1 < H; y++)
        for (int64_t x = 1; x + 1 < W; x++) {
            int q = (int)e->dir[y * W + x];
            float m = e->mag[y * W + x];
            float a = e->mag[(y + dy[q]) * W + x + dx[q]], b = e->mag[(y - dy[q]) * W + x - dx[q]];
            if (m < e->low || !(m > a && m >= b)) continue;
            if (m >= e->high) {
                d[y * W + x] = 1.0f;
                e->stack[top++] = y * W + x;
            } else {
                d[y * W + x] = 0.5f; /* weak: kept only when connected to a strong one */
            }
        }
    /* hysteresis: grow from the strong pixels through 8-connected weak ones */
    while (top > 0) {
        int64_t p = e->stack[--top], y = p / W, x = p % W;
        for (int64_t yy = y - 1; yy <= y + 1; yy++)
            for (int64_t xx = x - 1; xx <= x + 1; xx++) {
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                if (d[yy * W + xx] == 0.5f) {
                    d[yy * W + xx] = 1.0f;
                    e->stack[top++] = yy * W + xx;
                }
            }
    }
    for (int64_t p = 0; p < hw; p++)
        if (d[p] != 1.0f) d[p] = 0.0f;
}

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
        if (e->canny) {
            canny(e, d);
            continue;
        }
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
static const char *const method_choices[] = {"sobel", "canny", NULL};
static const mvae_option edges_opts[] = {
    {"method", MVAE_OPT_STRING, "sobel", "sobel: (soft or thresholded) Sobel magnitude; canny: Canny edges (binary)", NULL, false, method_choices, NULL},
    {"sigma", MVAE_OPT_FLOAT, "1.0", "canny: Gaussian blur before the gradients (0 = none)", NULL, false, NULL, "[0, 20]"},
    {"low", MVAE_OPT_FLOAT, "0.1", "canny: lower hysteresis threshold (scaled magnitude)", NULL, false, NULL, "[0, inf)"},
    {"high", MVAE_OPT_FLOAT, "0.3", "canny: upper hysteresis threshold (scaled magnitude)", NULL, false, NULL, "[0, inf)"},
    {"scale", MVAE_OPT_FLOAT, "0.25", "edge value = min(1, scale * Sobel magnitude); a unit step has magnitude 4", NULL, false, NULL, "(0, inf)"},
    {"threshold", MVAE_OPT_FLOAT, "0", "0 = soft magnitude in [0,1]; > 0 = binary edges (value > threshold)", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc edges_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_TRANSFORM, "edges", "1.0.0", "Sobel magnitude or Canny edges of an image's luminance: [C,H,W] -> [1,H,W]",
    &edges_vt, edges_opts);
MVAE_PLUGIN_DEFINE(edges_transform, edges_desc)
