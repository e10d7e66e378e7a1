/* one_channel.h — the output modality every image transform here produces: one channel at the
 * source image's height and width (shared by transforms/gray, edges and segmentation). */
#ifndef MVAE_PLUGINS_TRANSFORMS_ONE_CHANNEL_H
#define MVAE_PLUGINS_TRANSFORMS_ONE_CHANNEL_H
#include "mvae/interfaces.h"
#include <string.h>

/* *out = a [1, H, W] image modality for the [C, H, W] image modality src */
static inline void transform_one_channel_like(const mvae_modality_info *src, mvae_modality_info *out) {
    memset(out, 0, sizeof *out);
    out->type = MVAE_MOD_IMAGE;
    out->ndim = 3;
    out->shape[0] = 1;
    out->shape[1] = src->shape[1];
    out->shape[2] = src->shape[2];
}
#endif
