/* decoders/mlp — an MLP decoder: z -> hidden layers -> likelihood parameters.
 *
 * Output: [B, shape...] of the modality for image / binary / real / audio (logits or means),
 * [B, n_classes] logits for categorical.
 */
#include "mvae/interfaces.h"
#include "mvae/nn.h"

#include <stdlib.h>

#define MLP_MAX_LAYERS 8

typedef struct mlp_dec {
    const mvae_modality_info *mod;
    int n_layers;
    mvae_linear_layer fc[MLP_MAX_LAYERS];
    mvae_linear_layer out;
    int act;
    int64_t out_dim;
} mlp_dec;

static void mlp_dec_destroy(void *self) { free(self); }

static int mlp_dec_create(const mvae_module_args *a, void **self, mvae_error *err) {
    mlp_dec *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    d->mod = a->modality;
    int64_t *hidden = NULL;
    int nh = 0;
    const char *act = "swish";
    int rc = MVAE_OK;
    mvae_cfg_node *hn = mvae_cfg_get(a->opts, "hidden");
    if (hn) rc = mvae_cfg_get_int_list(hn, &hidden, &nh, err);
    if (!rc) rc = mvae_cfg_string_or(a->opts, "activation", "swish", &act, err);
    if (!rc) rc = mvae_activation_parse(act, &d->act, err);
    if (!rc && nh > MLP_MAX_LAYERS)
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "mlp decoder: at most %d hidden layers", MLP_MAX_LAYERS);
    if (!rc && a->modality->type == MVAE_MOD_TOKENS)
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "mlp decoder cannot decode token sequences (modality '%s'): use gru_text",
                            a->modality->name);
    d->out_dim = a->modality->type == MVAE_MOD_CATEGORICAL ? a->modality->n_classes
                                                           : mvae_modality_numel(a->modality);
    int64_t in = a->latent_dim;
    char name[24];
    for (int i = 0; !rc && i < nh; i++) {
        snprintf(name, sizeof name, "fc%d", i + 1);
        rc = mvae_linear_layer_init(&d->fc[i], a->params, a->prefix, name, in, hidden[i], true, err);
        in = hidden[i];
    }
    d->n_layers = nh;
    if (!rc) rc = mvae_linear_layer_init(&d->out, a->params, a->prefix, "out", in, d->out_dim, true, err);
    free(hidden);
    if (rc) {
        free(d);
        return rc;
    }
    *self = d;
    return MVAE_OK;
}

static mvae_tensor *mlp_dec_forward(void *self, mvae_ctx *ctx, mvae_tensor *z) {
    mlp_dec *d = self;
    mvae_tensor *h = z;
    int act = MVAE_ACT_NONE; /* each layer's activation is fused into the next layer's input */
    for (int i = 0; i < d->n_layers; i++) {
        h = mvae_linear_layer_fwd_act(ctx, &d->fc[i], h, act);
        act = d->act;
    }
    return mvae_linear_layer_fwd_act(ctx, &d->out, h, act);
}

static const mvae_decoder_vtable vt = {
    .create = mlp_dec_create, .destroy = mlp_dec_destroy, .forward = mlp_dec_forward};
static const mvae_option opts[] = {
    {"hidden", MVAE_OPT_INT_LIST, "[512, 512, 512]", "hidden layer sizes", NULL, false, NULL, "[1, 65536]"},
    {"activation", MVAE_OPT_STRING, "swish", "activation after each hidden layer", NULL, false,
     mvae_activation_names, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DECODER, "mlp", "1.0.0", "MLP decoder for vectors, images and categories", &vt, opts);
MVAE_PLUGIN_DEFINE(decoder_mlp, desc)
