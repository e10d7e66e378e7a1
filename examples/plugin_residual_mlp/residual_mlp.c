/* encoders/residual_mlp — an example expert built OUTSIDE the mvae source tree, against an
 * installed mvae (docs/writing-a-plugin.md walks through it).
 *
 *   x [B, shape...] -> flatten [B, in] -> linear(in, width) -> act            = h0
 *   h_k = h_{k-1} + linear(width, width)(act(linear(width, width)(h_{k-1})))   k = 1..blocks
 *   mu = linear(width, D)(act(h)),  logvar = linear(width, D)(act(h))
 *
 * For float modalities (image, binary, real, audio). Options (YAML keys next to `plugin:`):
 *   width: 256, blocks: 2, activation: swish
 */
#include <mvae/interfaces.h> /* the vtables, mvae_module_args, mvae_modality_info */
#include <mvae/nn.h>         /* linear layers and activations built on the differentiable ops */

#include <stdio.h>
#include <stdlib.h>

#define RES_MAX_BLOCKS 16

typedef struct residual_mlp {
    int64_t in_dim;
    int act;
    int blocks;
    mvae_linear_layer input;
    mvae_linear_layer fc1[RES_MAX_BLOCKS], fc2[RES_MAX_BLOCKS];
    mvae_linear_layer head_mu, head_logvar;
} residual_mlp;

static void residual_mlp_destroy(void *self) { free(self); }

/* Read the (already validated, defaults filled) options and declare the parameters. */
static int residual_mlp_create(const mvae_module_args *a, void **self, mvae_error *err) {
    if (mvae_modality_is_index(a->modality))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "residual_mlp encoder: modality '%s' is %s (integer ids): use the "
                              "mlp encoder, which embeds them",
                              a->modality->name, mvae_modality_type_name(a->modality->type));
    int64_t width = 0, blocks = 0;
    const char *act = NULL;
    residual_mlp *e = calloc(1, sizeof *e);
    if (!e) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int rc = mvae_cfg_int_or(a->opts, "width", 256, &width, err);
    if (!rc) rc = mvae_cfg_int_or(a->opts, "blocks", 2, &blocks, err);
    if (!rc) rc = mvae_cfg_string_or(a->opts, "activation", "swish", &act, err);
    if (!rc) rc = mvae_activation_parse(act, &e->act, err);
    if (!rc && (width < 1 || blocks < 0 || blocks > RES_MAX_BLOCKS))
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "residual_mlp encoder: width must be >= 1 and blocks in [0, %d] "
                            "(got width %lld, blocks %lld)",
                            RES_MAX_BLOCKS, (long long)width, (long long)blocks);
    e->in_dim = mvae_modality_numel(a->modality);
    e->blocks = (int)blocks;
    /* parameter names: <prefix>.input.w, <prefix>.block1.fc1.b, ... (prefix e.g. "image.enc") */
    if (!rc) rc = mvae_linear_layer_init(&e->input, a->params, a->prefix, "input", e->in_dim, width, true, err);
    char name[32];
    for (int k = 0; !rc && k < e->blocks; k++) {
        snprintf(name, sizeof name, "block%d.fc1", k + 1);
        rc = mvae_linear_layer_init(&e->fc1[k], a->params, a->prefix, name, width, width, true, err);
        snprintf(name, sizeof name, "block%d.fc2", k + 1);
        if (!rc) rc = mvae_linear_layer_init(&e->fc2[k], a->params, a->prefix, name, width, width, true, err);
    }
    if (!rc) rc = mvae_linear_layer_init(&e->head_mu, a->params, a->prefix, "mu", width, a->latent_dim, true, err);
    if (!rc) rc = mvae_linear_layer_init(&e->head_logvar, a->params, a->prefix, "logvar", width, a->latent_dim, true, err);
    if (rc) {
        free(e);
        return rc;
    }
    *self = e;
    return MVAE_OK;
}

/* Only the forward pass: every op records itself on ctx's tape, so mvae_backward (called by the
 * trainer) differentiates it. An op that fails returns NULL and records the message in ctx; the
 * following ops pass NULL through, so one check at the end is enough. */
static int residual_mlp_forward(void *self, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **mu,
                                mvae_tensor **logvar) {
    residual_mlp *e = self;
    int64_t B = x->shape[0];
    mvae_tensor *h = mvae_reshape(ctx, x, 2, (int64_t[]){B, e->in_dim}); /* [B, in] */
    h = mvae_activate(ctx, mvae_linear_layer_fwd(ctx, &e->input, h), e->act); /* [B, width] */
    for (int k = 0; k < e->blocks; k++) {
        mvae_tensor *r = mvae_activate(ctx, mvae_linear_layer_fwd(ctx, &e->fc1[k], h), e->act);
        h = mvae_add(ctx, h, mvae_linear_layer_fwd(ctx, &e->fc2[k], r)); /* [B, width] */
    }
    h = mvae_activate(ctx, h, e->act);
    *mu = mvae_linear_layer_fwd(ctx, &e->head_mu, h);         /* [B, D] */
    *logvar = mvae_linear_layer_fwd(ctx, &e->head_logvar, h); /* [B, D] */
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static const mvae_encoder_vtable vt = {
    .create = residual_mlp_create,
    .destroy = residual_mlp_destroy,
    .forward = residual_mlp_forward,
};
/* The YAML keys this plugin accepts besides `plugin`. The core validates the user's section
 * against this table (unknown key, wrong type, value outside `choices` or `range` ->
 * file:line:col error)
 * and fills in the defaults before create() sees a->opts. */
static const mvae_option opts[] = {
    {"width", MVAE_OPT_INT, "256", "width of the residual stream", NULL, false, NULL, "[1, 65536]"},
    {"blocks", MVAE_OPT_INT, "2", "residual blocks", NULL, false, NULL, "[0, 16]"},
    {"activation", MVAE_OPT_STRING, "swish", "activation", NULL, false, mvae_activation_names, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc =
    MVAE_PLUGIN_DESC(MVAE_PLUGIN_ENCODER, "residual_mlp", "1.0.0",
                     "residual MLP expert for float modalities (out-of-tree example)", &vt, opts);
MVAE_PLUGIN_DEFINE(encoder_residual_mlp, desc)
