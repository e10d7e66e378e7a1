/* transforms/gray — luminance of a colour image: [3,H,W] RGB in [0,1] -> [1,H,W]
 *   Y = 0.299 R + 0.587 G + 0.114 B   (ITU-R BT.601 luma weights)
 * A one-channel source is copied unchanged.
 *
 *   transforms:
 *     gray: {plugin: gray, from: image}
 */
#include "mvae/interfaces.h"
#include "../one_channel.h"

#include <stdlib.h>
#include <string.h>

typedef struct gray_tf {
    int64_t c, hw;
} gray_tf;

static int gray_create(const mvae_cfg_node *opts, const mvae_modality_info *src, mvae_modality_info *out,
                       void **self, mvae_error *err) {
    (void)opts;
    if (src->type != MVAE_MOD_IMAGE || src->ndim != 3 || (src->shape[0] != 1 && src->shape[0] != 3))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "gray needs an image modality with 1 or 3 channels, but '%s' is %s with %lld channel(s)",
                              src->name, mvae_modality_type_name(src->type), (long long)src->shape[0]);
    gray_tf *g = calloc(1, sizeof *g);
    if (!g) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    g->c = src->shape[0];
    g->hw = src->shape[1] * src->shape[2];
    transform_one_channel_like(src, out);
    *self = g;
    return MVAE_OK;
}

static void gray_destroy(void *self) { free(self); }

static int gray_apply(void *self, const float *src, float *dst, int n, mvae_error *err) {
    (void)err;
    const gray_tf *g = self;
    const int64_t hw = g->hw;
    for (int i = 0; i < n; i++) {
        const float *s = src + (size_t)i * (size_t)(g->c * hw);
        float *d = dst + (size_t)i * (size_t)hw;
        if (g->c == 1) {
            memcpy(d, s, (size_t)hw * sizeof(float));
            continue;
        }
        for (int64_t p = 0; p < hw; p++) d[p] = 0.299f * s[p] + 0.587f * s[hw + p] + 0.114f * s[2 * hw + p];
    }
    return MVAE_OK;
}

static const mvae_transform_vtable gray_vt = {.create = gray_create, .destroy = gray_destroy, .apply = gray_apply};
static const mvae_option gray_opts[] = {{NULL, 0, NULL, NULL, NULL, false, NULL, NULL}};
static const mvae_plugin_desc gray_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_TRANSFORM, "gray", "1.0.0", "luminance (BT.601) of an RGB image: [3,H,W] -> [1,H,W]", &gray_vt, gray_opts);
MVAE_PLUGIN_DEFINE(gray_transform, gray_desc)
