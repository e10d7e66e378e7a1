/* conv_opts.h — the options the convolutional image expert (encoders/conv_image) and decoder
 * (decoders/deconv_image) share, read once. Header-only: each plugin is its own shared object. */
#ifndef MVAE_PLUGIN_CONV_OPTS_H
#define MVAE_PLUGIN_CONV_OPTS_H
#include "mvae/config.h"
#include "mvae/nn.h"

#include <stdlib.h>

typedef struct conv_opts {
    int64_t *ch; /* malloc'd, nch entries: the caller frees */
    int nch;
    int64_t kernel, stride, padding, hidden;
    bool batchnorm, bias;
    int act;     /* mvae_activation */
} conv_opts;

/* Defaults (when a key is absent: the core fills them from the option table anyway):
 * channels [ch0, ch1], kernel 4, stride 2, padding 1, hidden 512, no batchnorm, no bias, swish. */
static inline int conv_opts_read(const mvae_cfg_node *o, int64_t ch0, int64_t ch1, conv_opts *c,
                                 mvae_error *err) {
    *c = (conv_opts){NULL, 0, 4, 2, 1, 512, false, false, MVAE_ACT_SWISH};
    const char *act = "swish";
    int rc = MVAE_OK;
    mvae_cfg_node *cn = mvae_cfg_get(o, "channels");
    if (cn) {
        rc = mvae_cfg_get_int_list(cn, &c->ch, &c->nch, err);
    } else {
        c->ch = malloc(2 * sizeof *c->ch);
        if (!c->ch) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        c->ch[0] = ch0;
        c->ch[1] = ch1;
        c->nch = 2;
    }
    if (!rc) rc = mvae_cfg_int_or(o, "kernel", 4, &c->kernel, err);
    if (!rc) rc = mvae_cfg_int_or(o, "stride", 2, &c->stride, err);
    if (!rc) rc = mvae_cfg_int_or(o, "padding", 1, &c->padding, err);
    if (!rc) rc = mvae_cfg_int_or(o, "hidden", 512, &c->hidden, err);
    if (!rc) rc = mvae_cfg_bool_or(o, "batchnorm", false, &c->batchnorm, err);
    if (!rc) rc = mvae_cfg_bool_or(o, "bias", false, &c->bias, err);
    if (!rc) rc = mvae_cfg_string_or(o, "activation", "swish", &act, err);
    if (!rc) rc = mvae_activation_parse(act, &c->act, err);
    return rc;
}
#endif
