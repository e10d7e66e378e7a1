/* decoders/deconv_image — a transposed-convolution image decoder.
 *
 * z -> linear(hidden) -> act -> linear(channels[0] * h0 * w0) -> act -> reshape [B, c0, h0, w0]
 *   -> convT(k, stride, pad) [-> batchnorm] -> act for each next entry of `channels`
 *   -> convT to the image's channels (no activation: Bernoulli logits or Gaussian means)
 * h0 = H / stride^len(channels) (must divide). With the defaults (channels [128, 64], kernel 4,
 * stride 2, pad 1, no bias, hidden 512, swish) this is the original MVAE Fashion-MNIST decoder.
 */
#include "mvae/interfaces.h"
#include "mvae/nn.h"
#include "../../conv_opts.h"

#include <stdlib.h>

#define DECONV_MAX 6

typedef struct deconv_dec {
    int n_conv;
    mvae_conv_layer conv[DECONV_MAX];
    mvae_batchnorm_layer bn[DECONV_MAX];
    bool use_bn;
    mvae_linear_layer fc1, fc2;
    int act;
    int64_t c0, h0, w0;
} deconv_dec;

static void deconv_dec_destroy(void *self) { free(self); }

static int deconv_dec_create(const mvae_module_args *a, void **self, mvae_error *err) {
    const mvae_modality_info *m = a->modality;
    if (m->type != MVAE_MOD_IMAGE && m->type != MVAE_MOD_AUDIO)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "deconv_image decoder needs an image modality, but '%s' is %s", m->name,
                              mvae_modality_type_name(m->type));
    deconv_dec *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    conv_opts co;
    int rc = conv_opts_read(a->opts, 128, 64, &co, err);
    int64_t *ch = co.ch, k = co.kernel, s = co.stride, p = co.padding, hidden = co.hidden;
    int nch = co.nch;
    bool bias = co.bias;
    d->use_bn = co.batchnorm;
    d->act = co.act;
    if (!rc && (nch < 1 || nch >= DECONV_MAX))
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "deconv_image: channels needs 1 to %d entries", DECONV_MAX - 1);
    int64_t H = m->shape[1], W = m->shape[2], f = 1;
    for (int i = 0; i < nch; i++) f *= s;
    if (!rc && (H % f || W % f))
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "deconv_image: image %lldx%lld is not divisible by stride^%d = %lld; change "
                            "channels or stride", (long long)H, (long long)W, nch, (long long)f);
    if (rc) {
        free(ch);
        free(d);
        return rc;
    }
    d->c0 = ch[0];
    d->h0 = H / f;
    d->w0 = W / f;
    rc = mvae_linear_layer_init(&d->fc1, a->params, a->prefix, "fc1", a->latent_dim, hidden, true, err);
    if (!rc) rc = mvae_linear_layer_init(&d->fc2, a->params, a->prefix, "fc2", hidden, d->c0 * d->h0 * d->w0, true, err);
    /* (H_in - 1) s - 2p + k = H_in * s requires k = s + 2p; otherwise use output padding */
    int op = (int)(s - (k - 2 * p));
    if (!rc && (op < 0 || op >= s))
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "deconv_image: kernel %lld, stride %lld, padding %lld do not double the size "
                            "exactly (need kernel = stride + 2*padding, or up to stride-1 smaller)",
                            (long long)k, (long long)s, (long long)p);
    char name[24];
    for (int i = 0; !rc && i < nch; i++) {
        int64_t out_c = i + 1 < nch ? ch[i + 1] : m->shape[0];
        snprintf(name, sizeof name, "deconv%d", i + 1);
        rc = mvae_conv_layer_init(&d->conv[i], a->params, a->prefix, name, ch[i], out_c, (int)k,
                                  (int)s, (int)p, op, true, bias, err);
        if (!rc && d->use_bn && i + 1 < nch) {
            snprintf(name, sizeof name, "bn%d", i + 1);
            rc = mvae_batchnorm_layer_init(&d->bn[i], a->params, a->prefix, name, out_c, err);
        }
    }
    d->n_conv = nch;
    free(ch);
    if (rc) {
        free(d);
        return rc;
    }
    *self = d;
    return MVAE_OK;
}

static mvae_tensor *deconv_dec_forward(void *self, mvae_ctx *ctx, mvae_tensor *z) {
    deconv_dec *d = self;
    int64_t B = z->shape[0];
    /* each activation is fused into the next layer's input (nn.h): only pre-activations are kept */
    mvae_tensor *h = mvae_linear_layer_fwd(ctx, &d->fc1, z);
    h = mvae_linear_layer_fwd_act(ctx, &d->fc2, h, d->act);
    h = mvae_reshape(ctx, h, 4, (int64_t[]){B, d->c0, d->h0, d->w0});
    int act = d->act;
    for (int i = 0; i < d->n_conv; i++) {
        h = mvae_conv_layer_fwd_act(ctx, &d->conv[i], h, act);
        act = MVAE_ACT_NONE;
        if (i + 1 < d->n_conv) {
            if (d->use_bn) h = mvae_batchnorm_layer_fwd(ctx, &d->bn[i], h);
            act = d->act;
        }
    }
    return h;
}

static const mvae_decoder_vtable vt = {
    .create = deconv_dec_create, .destroy = deconv_dec_destroy, .forward = deconv_dec_forward};
static const mvae_option opts[] = {
    {"channels", MVAE_OPT_INT_LIST, "[128, 64]", "input channels of each transposed convolution", NULL, false, NULL, "[1, 4096]"},
    {"kernel", MVAE_OPT_INT, "4", "kernel size", NULL, false, NULL, "[1, 64]"},
    {"stride", MVAE_OPT_INT, "2", "stride", NULL, false, NULL, "[1, 64]"},
    {"padding", MVAE_OPT_INT, "1", "padding", NULL, false, NULL, "[0, 64]"},
    {"hidden", MVAE_OPT_INT, "512", "fully connected layer after z", NULL, false, NULL, "[1, 65536]"},
    {"batchnorm", MVAE_OPT_BOOL, "false", "batchnorm after every transposed convolution but the last", NULL, false, NULL, NULL},
    {"bias", MVAE_OPT_BOOL, "false", "bias in the transposed convolutions", NULL, false, NULL, NULL},
    {"activation", MVAE_OPT_STRING, "swish", "activation", NULL, false, mvae_activation_names, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DECODER, "deconv_image", "1.0.0", "transposed-convolution image decoder", &vt, opts);
MVAE_PLUGIN_DEFINE(decoder_deconv_image, desc)
