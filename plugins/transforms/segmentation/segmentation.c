/* transforms/segmentation — a binary foreground mask from a one-channel image (e.g. a dataset's
 * alpha channel): mask = 1 where value > threshold, else 0. [1,H,W] -> [1,H,W] in {0,1}.
 *
 *   transforms:
 *     mask: {plugin: segmentation, from: alpha, threshold: 0.5}
 */
#include "mvae/interfaces.h"
#include "../one_channel.h"

#include <stdlib.h>
#include <string.h>

typedef struct seg_tf {
    int64_t hw;
    float threshold;
} seg_tf;

static int seg_create(const mvae_cfg_node *opts, const mvae_modality_info *src, mvae_modality_info *out,
                      void **self, mvae_error *err) {
    if (src->type != MVAE_MOD_IMAGE || src->ndim != 3 || src->shape[0] != 1)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "segmentation needs a one-channel image (an alpha channel), but '%s' is %s with %lld channel(s)",
                              src->name, mvae_modality_type_name(src->type), (long long)src->shape[0]);
    double th = 0.5;
    int rc = mvae_cfg_float_or(opts, "threshold", 0.5, &th, err);
    if (rc) return rc;
    if (!(th >= 0.0 && th < 1.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "segmentation: threshold must be in [0, 1), got %g", th);
    seg_tf *s = calloc(1, sizeof *s);
    if (!s) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    s->hw = src->shape[1] * src->shape[2];
    s->threshold = (float)th;
    transform_one_channel_like(src, out);
    *self = s;
    return MVAE_OK;
}

static void seg_destroy(void *self) { free(self); }

static int seg_apply(void *self, const float *src, float *dst, int n, mvae_error *err) {
    (void)err;
    const seg_tf *s = self;
    size_t total = (size_t)n * (size_t)s->hw;
    for (size_t p = 0; p < total; p++) dst[p] = src[p] > s->threshold ? 1.0f : 0.0f;
    return MVAE_OK;
}

static const mvae_transform_vtable seg_vt = {.create = seg_create, .destroy = seg_destroy, .apply = seg_apply};
static const mvae_option seg_opts[] = {
    {"threshold", MVAE_OPT_FLOAT, "0.5", "foreground where the source value is above this", NULL, false, NULL, "[0, 1]"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc seg_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_TRANSFORM, "segmentation", "1.0.0", "foreground mask (value > threshold) of a one-channel image, e.g. alpha",
    &seg_vt, seg_opts);
MVAE_PLUGIN_DEFINE(segmentation_transform, seg_desc)
