/* encoders/conv_image — a convolutional image expert.
 *
 * [B,C,H,W] -> conv(k, stride, pad) [-> batchnorm] -> act, once per entry of `channels`
 *           -> flatten -> linear(hidden) -> act -> linear(2 * latent_dim) -> (mu, logvar)
 * With the defaults (channels [64, 128], kernel 4, stride 2, pad 1, no bias, no batchnorm,
 * hidden 512, swish) this is the original MVAE Fashion-MNIST image encoder.
 * Batchnorm is never applied after the first convolution (DCGAN convention).
 */
#include "mvae/interfaces.h"
#include "mvae/nn.h"
#include "../../conv_opts.h"

#include <stdlib.h>

#define CONV_MAX 6

typedef struct conv_enc {
    int n_conv;
    mvae_conv_layer conv[CONV_MAX];
    mvae_batchnorm_layer bn[CONV_MAX];
    bool use_bn;
    mvae_linear_layer fc, head;
    int act;
    int64_t flat;
    int latent;
} conv_enc;

static void conv_enc_destroy(void *self) { free(self); }

static int conv_enc_create(const mvae_module_args *a, void **self, mvae_error *err) {
    const mvae_modality_info *m = a->modality;
    if (m->type != MVAE_MOD_IMAGE && m->type != MVAE_MOD_AUDIO)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "conv_image encoder needs an image modality, but '%s' is %s", m->name,
                              mvae_modality_type_name(m->type));
    conv_enc *e = calloc(1, sizeof *e);
    if (!e) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    conv_opts co;
    int rc = conv_opts_read(a->opts, 64, 128, &co, err);
    int64_t *ch = co.ch, k = co.kernel, s = co.stride, p = co.padding, hidden = co.hidden;
    int nch = co.nch;
    bool bias = co.bias;
    e->use_bn = co.batchnorm;
    e->act = co.act;
    if (!rc && (nch < 1 || nch > CONV_MAX))
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "conv_image: channels needs 1 to %d entries", CONV_MAX);
    int64_t c = m->shape[0], h = m->shape[1], w = m->shape[2];
    char name[24];
    for (int i = 0; !rc && i < nch; i++) {
        snprintf(name, sizeof name, "conv%d", i + 1);
        rc = mvae_conv_layer_init(&e->conv[i], a->params, a->prefix, name, c, ch[i], (int)k, (int)s,
                                  (int)p, 0, false, bias, err);
        if (!rc && e->use_bn && i > 0) {
            snprintf(name, sizeof name, "bn%d", i + 1);
            rc = mvae_batchnorm_layer_init(&e->bn[i], a->params, a->prefix, name, ch[i], err);
        }
        c = ch[i];
        h = mvae_conv_out_size(h, (int)k, (int)s, (int)p, 0, false);
        w = mvae_conv_out_size(w, (int)k, (int)s, (int)p, 0, false);
        if (!rc && (h < 1 || w < 1))
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "conv_image: the image (%lldx%lld) is too small for %d convolutions of "
                                "kernel %lld stride %lld", (long long)m->shape[1], (long long)m->shape[2],
                                nch, (long long)k, (long long)s);
    }
    e->n_conv = nch;
    e->flat = c * h * w;
    e->latent = a->latent_dim;
    if (!rc) rc = mvae_linear_layer_init(&e->fc, a->params, a->prefix, "fc", e->flat, hidden, true, err);
    if (!rc) rc = mvae_linear_layer_init(&e->head, a->params, a->prefix, "head", hidden, 2 * a->latent_dim, true, err);
    free(ch);
    if (rc) {
        free(e);
        return rc;
    }
    *self = e;
    return MVAE_OK;
}

static int conv_enc_forward(void *self, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **mu,
                            mvae_tensor **logvar) {
    conv_enc *e = self;
    int64_t B = x->shape[0];
    mvae_tensor *h = x;
    int act = MVAE_ACT_NONE; /* each activation is fused into the next layer's input (nn.h) */
    for (int i = 0; i < e->n_conv; i++) {
        h = mvae_conv_layer_fwd_act(ctx, &e->conv[i], h, act);
        if (e->use_bn && i > 0) h = mvae_batchnorm_layer_fwd(ctx, &e->bn[i], h);
        act = e->act;
    }
    h = mvae_reshape(ctx, h, 2, (int64_t[]){B, e->flat});
    h = mvae_linear_layer_fwd_act(ctx, &e->fc, h, act);
    h = mvae_linear_layer_fwd_act(ctx, &e->head, h, e->act);
    *mu = mvae_slice(ctx, h, 1, 0, e->latent);
    *logvar = mvae_slice(ctx, h, 1, e->latent, 2 * e->latent);
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static const mvae_encoder_vtable vt = {
    .create = conv_enc_create, .destroy = conv_enc_destroy, .forward = conv_enc_forward};
static const mvae_option opts[] = {
    {"channels", MVAE_OPT_INT_LIST, "[64, 128]", "output channels of each convolution", NULL, false, NULL, "[1, 4096]"},
    {"kernel", MVAE_OPT_INT, "4", "kernel size", NULL, false, NULL, "[1, 64]"},
    {"stride", MVAE_OPT_INT, "2", "stride", NULL, false, NULL, "[1, 64]"},
    {"padding", MVAE_OPT_INT, "1", "zero padding", NULL, false, NULL, "[0, 64]"},
    {"hidden", MVAE_OPT_INT, "512", "fully connected layer after the convolutions", NULL, false, NULL, "[1, 65536]"},
    {"batchnorm", MVAE_OPT_BOOL, "false", "batchnorm after every convolution but the first", NULL, false, NULL, NULL},
    {"bias", MVAE_OPT_BOOL, "false", "bias in the convolutions", NULL, false, NULL, NULL},
    {"activation", MVAE_OPT_STRING, "swish", "activation", NULL, false, mvae_activation_names, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_ENCODER, "conv_image", "1.0.0", "convolutional image expert", &vt, opts);
MVAE_PLUGIN_DEFINE(encoder_conv_image, desc)
