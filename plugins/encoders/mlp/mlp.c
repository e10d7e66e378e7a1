/* encoders/mlp — an MLP expert: x -> hidden layers -> (mu, logvar).
 *
 * Input by modality type:
 *   image / binary / real / audio : flattened to [B, numel]
 *   categorical                   : embedding [n_classes, embed] -> activation, then the hidden
 *                                   layers (the original MVAE label encoder: Embedding(10,512) -
 *                                   swish - Linear(512,512) - swish - heads)
 * Heads: two linear layers, hidden -> latent_dim for mu and for logvar.
 */
#include "mvae/interfaces.h"
#include "mvae/nn.h"

#include <stdlib.h>
#include <string.h>

#define MLP_MAX_LAYERS 8

typedef struct mlp_enc {
    const mvae_modality_info *mod;
    bool embed;
    mvae_embedding_layer emb;
    int n_layers;
    mvae_linear_layer fc[MLP_MAX_LAYERS];
    mvae_linear_layer head_mu, head_lv;
    int act;
    int64_t in_dim;
} mlp_enc;

static void mlp_enc_destroy(void *self) { free(self); }

static int mlp_enc_create(const mvae_module_args *a, void **self, mvae_error *err) {
    mlp_enc *e = calloc(1, sizeof *e);
    if (!e) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    e->mod = a->modality;
    int64_t *hidden = NULL;
    int nh = 0;
    int64_t embed = 512;
    const char *act = "swish";
    int rc = MVAE_OK;
    mvae_cfg_node *hn = mvae_cfg_get(a->opts, "hidden");
    if (hn) rc = mvae_cfg_get_int_list(hn, &hidden, &nh, err);
    if (!rc) rc = mvae_cfg_int_or(a->opts, "embed", 512, &embed, err);
    if (!rc) rc = mvae_cfg_string_or(a->opts, "activation", "swish", &act, err);
    if (!rc) rc = mvae_activation_parse(act, &e->act, err);
    if (!rc && nh > MLP_MAX_LAYERS)
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "mlp encoder: at most %d hidden layers", MLP_MAX_LAYERS);
    int64_t in = mvae_modality_numel(a->modality);
    if (!rc && a->modality->type == MVAE_MOD_TOKENS)
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "mlp encoder cannot encode token sequences (modality '%s'): use gru_text",
                            a->modality->name);
    if (!rc && a->modality->type == MVAE_MOD_CATEGORICAL) {
        e->embed = true;
        rc = mvae_embedding_layer_init(&e->emb, a->params, a->prefix, "embed", a->modality->n_classes,
                                       embed, err);
        in = embed;
    }
    e->in_dim = mvae_modality_numel(a->modality);
    char name[24];
    for (int i = 0; !rc && i < nh; i++) {
        snprintf(name, sizeof name, "fc%d", i + 1);
        rc = mvae_linear_layer_init(&e->fc[i], a->params, a->prefix, name, in, hidden[i], true, err);
        in = hidden[i];
    }
    e->n_layers = nh;
    if (!rc) rc = mvae_linear_layer_init(&e->head_mu, a->params, a->prefix, "mu", in, a->latent_dim, true, err);
    if (!rc) rc = mvae_linear_layer_init(&e->head_lv, a->params, a->prefix, "logvar", in, a->latent_dim, true, err);
    free(hidden);
    if (rc) {
        free(e);
        return rc;
    }
    *self = e;
    return MVAE_OK;
}

static int mlp_enc_forward(void *self, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **mu,
                           mvae_tensor **logvar) {
    mlp_enc *e = self;
    int64_t B = x->shape[0];
    mvae_tensor *h;
    int act = MVAE_ACT_NONE; /* the activation h still needs: fused into the next layer */
    if (e->embed) {
        mvae_tensor *idx = mvae_tensor_wrap(ctx, 1, (int64_t[]){B}, x->data);
        idx->dtype = MVAE_I32;
        h = mvae_embedding_layer_fwd(ctx, &e->emb, idx);
        act = e->act;
    } else {
        h = mvae_reshape(ctx, x, 2, (int64_t[]){B, e->in_dim});
    }
    for (int i = 0; i < e->n_layers; i++) {
        h = mvae_linear_layer_fwd_act(ctx, &e->fc[i], h, act);
        act = e->act;
    }
    h = mvae_activate(ctx, h, act); /* read by both heads: computed once */
    *mu = mvae_linear_layer_fwd(ctx, &e->head_mu, h);
    *logvar = mvae_linear_layer_fwd(ctx, &e->head_lv, h);
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static const mvae_encoder_vtable vt = {
    .create = mlp_enc_create, .destroy = mlp_enc_destroy, .forward = mlp_enc_forward};
static const mvae_option opts[] = {
    {"hidden", MVAE_OPT_INT_LIST, "[512, 512]", "hidden layer sizes", NULL, false, NULL, "[1, 65536]"},
    {"embed", MVAE_OPT_INT, "512", "embedding size for categorical inputs", NULL, false, NULL, "[1, 65536]"},
    {"activation", MVAE_OPT_STRING, "swish", "activation after each hidden layer", NULL, false,
     mvae_activation_names, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc =
    MVAE_PLUGIN_DESC(MVAE_PLUGIN_ENCODER, "mlp", "1.0.0",
                     "MLP expert for vectors, flattened images and (embedded) categories", &vt, opts);
MVAE_PLUGIN_DEFINE(encoder_mlp, desc)
