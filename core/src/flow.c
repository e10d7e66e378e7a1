/* flow.c — the conditional normalising flow behind the `flow` model type (mvae/modeltype.h):
 * p(x | z) = N(f(x; z); 0, I) |det df/dx|, f a stack of actnorm + affine coupling layers
 * (RealNVP, Dinh et al. 2017; actnorm from Glow, Kingma & Dhariwal 2018) whose scale and shift
 * networks read the passed-through half of x and h(z), a learned embedding of the shared latent.
 * Derivation and the choice of the tie to z: docs/model_types.md. */
#include "flow_internal.h"
#include "mvae/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const flow_mask_choices[] = {"auto", "checkerboard", "half", NULL};
static const char *const flow_pre_choices[] = {"auto", "dequantize_logit", "dequantize", "logit", "none", NULL};
const mvae_option mvae_flow_schema[] = {
    {"layers", MVAE_OPT_INT, "6", "coupling layers (each: actnorm, then an affine coupling)", NULL, false, NULL, "[1, 64]"},
    {"hidden", MVAE_OPT_INT_LIST, "[256]", "hidden widths of each coupling's s, t network (at most 4 layers)", NULL, false, NULL, "[1, 65536]"},
    {"activation", MVAE_OPT_STRING, "relu", "activation of the s, t and conditioning networks", NULL, false, mvae_activation_names, NULL},
    {"cond_dim", MVAE_OPT_INT, "64", "width of h(z), the embedding of z every coupling reads", NULL, false, NULL, "[1, 65536]"},
    {"mask", MVAE_OPT_STRING, "auto", "auto (checkerboard for images, half for vectors) | checkerboard | half", NULL, false, flow_mask_choices, NULL},
    {"scale_bound", MVAE_OPT_FLOAT, "2.0", "log-scales s = bound * tanh(s_raw / bound)", NULL, false, NULL, "(0, 20]"},
    {"preprocess", MVAE_OPT_STRING, "auto", "auto (dequantize_logit for images and binary, none for real and audio) | dequantize_logit | dequantize | logit | none", NULL, false, flow_pre_choices, NULL},
    {"levels", MVAE_OPT_INT, "256", "dequantisation: the data are on levels 0, 1/(L-1), ..., 1", NULL, false, NULL, "[2, 65536]"},
    {"logit_alpha", MVAE_OPT_FLOAT, "0.05", "logit pre-processing: logit(alpha + (1 - 2 alpha) y)", NULL, false, NULL, "(0, 0.5)"},
    {"temperature", MVAE_OPT_FLOAT, "0.7", "sampling: u ~ N(0, T^2 I) (1 = the model's own samples)", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};

void mvae_flow_free(mvae_flow *f) {
    if (!f) return;
    free(f->masks);
    free(f);
}

/* A linear layer whose weight and bias start at zero (the last layer of a coupling network). */
static int zero_linear(mvae_linear_layer *l, mvae_params *ps, const char *prefix, const char *name, int64_t in,
                       int64_t out, mvae_error *err) {
    char nm[160];
    snprintf(nm, sizeof nm, "%s.%s.w", prefix, name);
    l->w = mvae_params_add(ps, nm, 2, (int64_t[]){out, in}, MVAE_INIT_ZEROS, in, err);
    snprintf(nm, sizeof nm, "%s.%s.b", prefix, name);
    l->b = l->w ? mvae_params_add(ps, nm, 1, (int64_t[]){out}, MVAE_INIT_ZEROS, in, err) : NULL;
    return l->b ? MVAE_OK : err->status ? err->status : MVAE_ERR_INVALID;
}

int mvae_flow_create(const mvae_cfg_node *opts, const mvae_modality_info *mi, int latent_dim,
                     mvae_params *ps, const char *prefix, mvae_flow **out, mvae_error *err) {
    *out = NULL;
    if (mvae_modality_is_index(mi))
        return mvae_error_set(err, MVAE_ERR_INVALID, "flow: modality '%s' is %s (integer ids): a flow needs float data",
                              mi->name, mvae_modality_type_name(mi->type));
    mvae_flow *f = calloc(1, sizeof *f);
    if (!f) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    f->D = mvae_modality_numel(mi);
    f->type = mi->type;
    int64_t layers = 6, cond = 64, levels = 256, *hidden = NULL;
    int nh = 0;
    double bound = 2.0, alpha = 0.05, temp = 0.7;
    const char *act = "relu", *mask = "auto", *pre = "auto";
    int rc = mvae_cfg_int_or(opts, "layers", 6, &layers, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "cond_dim", 64, &cond, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "levels", 256, &levels, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "scale_bound", 2.0, &bound, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "logit_alpha", 0.05, &alpha, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "temperature", 0.7, &temp, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "activation", "relu", &act, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "mask", "auto", &mask, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "preprocess", "auto", &pre, err);
    if (!rc) rc = mvae_activation_parse(act, &f->act, err);
    mvae_cfg_node *hn = opts ? mvae_cfg_get(opts, "hidden") : NULL;
    if (!rc && hn) rc = mvae_cfg_get_int_list(hn, &hidden, &nh, err);
    if (!rc && !hn) {
        hidden = malloc(sizeof *hidden);
        hidden[0] = 256, nh = 1;
    }
    if (!rc && (nh > MVAE_FLOW_MAX_HIDDEN || layers < 1 || layers > MVAE_FLOW_MAX_LAYERS))
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "flow: layers must be in [1, %d] and hidden list at most %d widths "
                            "(got %lld layers, %d widths)", MVAE_FLOW_MAX_LAYERS, MVAE_FLOW_MAX_HIDDEN, (long long)layers, nh);
    if (rc) {
        free(hidden);
        free(f);
        return rc;
    }
    f->n_layers = (int)layers;
    f->n_hidden = nh;
    for (int i = 0; i < nh; i++) f->hidden[i] = hidden[i];
    free(hidden);
    f->cond_dim = cond;
    f->scale_bound = (float)bound;
    f->temperature = (float)temp;
    bool grey = mi->type == MVAE_MOD_IMAGE || mi->type == MVAE_MOD_BINARY;
    bool deq = strcmp(pre, "dequantize_logit") == 0 || strcmp(pre, "dequantize") == 0 || (strcmp(pre, "auto") == 0 && grey);
    bool lgt = strcmp(pre, "dequantize_logit") == 0 || strcmp(pre, "logit") == 0 || (strcmp(pre, "auto") == 0 && grey);
    if (!grey && (deq || lgt)) {
        int st = mvae_error_set(err, MVAE_ERR_INVALID, "preprocess: %s assumes values in [0, 1] (on `levels` grey levels), but "
                                "modality '%s' is %s data: use preprocess: none (the default for it)", pre, mi->name,
                                mvae_modality_type_name(mi->type));
        mvae_flow_free(f);
        return st;
    }
    f->levels = deq ? (int)levels : 0;
    f->alpha = lgt ? (float)alpha : 0.0f;
    bool spatial = mi->ndim == 3;
    f->mask_kind = strcmp(mask, "half") == 0 || (strcmp(mask, "auto") == 0 && !spatial) ? MVAE_FLOW_MASK_HALF
                                                                                            : MVAE_FLOW_MASK_CHECKERBOARD;
    f->masks = malloc((size_t)(f->n_layers * f->D) * sizeof(float));
    if (!f->masks) {
        mvae_flow_free(f);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    /* layer l: checkerboard parity (i + j + l) mod 2 over each H x W plane (a vector: j + l), or
     * the first / second half alternately; every feature is transformed by every second layer */
    int64_t H = spatial ? mi->shape[1] : 1, W = spatial ? mi->shape[2] : f->D;
    for (int l = 0; l < f->n_layers; l++)
        for (int64_t j = 0; j < f->D; j++) {
            int64_t p = j % (H * W), r = p / W, c = p % W;
            int on = f->mask_kind == MVAE_FLOW_MASK_HALF ? (j < f->D / 2) : (int)((r + c) % 2 == 0);
            f->masks[(int64_t)l * f->D + j] = (float)(on ^ (l & 1));
        }
    rc = mvae_linear_layer_init(&f->cond, ps, prefix, "cond", latent_dim, cond, true, err);
    char name[48];
    for (int l = 0; !rc && l < f->n_layers; l++) {
        mvae_flow_layer *L = &f->layer[l];
        char nm[160];
        snprintf(nm, sizeof nm, "%s.l%d.actnorm.bias", prefix, l + 1);
        L->an_bias = mvae_params_add(ps, nm, 1, (int64_t[]){f->D}, MVAE_INIT_ZEROS, 1, err);
        snprintf(nm, sizeof nm, "%s.l%d.actnorm.logscale", prefix, l + 1);
        L->an_logscale = L->an_bias ? mvae_params_add(ps, nm, 1, (int64_t[]){f->D}, MVAE_INIT_ZEROS, 1, err) : NULL;
        if (!L->an_logscale) rc = err->status ? err->status : MVAE_ERR_INVALID;
        int64_t in = f->D + cond;
        for (int h = 0; !rc && h < nh; h++) {
            snprintf(name, sizeof name, "l%d.fc%d", l + 1, h + 1);
            rc = mvae_linear_layer_init(&L->fc[h], ps, prefix, name, in, f->hidden[h], true, err);
            in = f->hidden[h];
        }
        snprintf(name, sizeof name, "l%d.out", l + 1);
        if (!rc) rc = zero_linear(&L->out, ps, prefix, name, in, 2 * f->D, err);
    }
    if (rc) {
        mvae_flow_free(f);
        return rc;
    }
    *out = f;
    return MVAE_OK;
}

static mvae_tensor *mask_tensor(const mvae_flow *f, mvae_ctx *ctx, int l) {
    return mvae_tensor_wrap(ctx, 1, (int64_t[]){f->D}, f->masks + (int64_t)l * f->D);
}

/* s, t of layer l from the passed-through half of v and h(z) */
static void coupling_st(const mvae_flow *f, mvae_ctx *ctx, int l, mvae_tensor *v, mvae_tensor *mask,
                        mvae_tensor *h, mvae_tensor **s, mvae_tensor **t) {
    const mvae_flow_layer *L = &f->layer[l];
    mvae_tensor *in[2] = {mvae_mul(ctx, v, mask), h};
    mvae_tensor *a = mvae_concat(ctx, 2, in, 1); /* [R, D + cond] */
    int act = MVAE_ACT_NONE;
    for (int k = 0; k < f->n_hidden; k++) {
        a = mvae_linear_layer_fwd_act(ctx, &L->fc[k], a, act);
        act = f->act;
    }
    mvae_tensor *o = mvae_linear_layer_fwd_act(ctx, &L->out, a, act); /* [R, 2D] */
    *s = mvae_soft_clamp(ctx, mvae_slice(ctx, o, 1, 0, f->D), f->scale_bound);
    *t = mvae_slice(ctx, o, 1, f->D, 2 * f->D);
}

static mvae_tensor *cond_embed(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *z) {
    return mvae_activate(ctx, mvae_linear_layer_fwd(ctx, &f->cond, z), f->act);
}

mvae_tensor *mvae_flow_forward(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *v, mvae_tensor *z,
                               mvae_tensor **logdet) {
    *logdet = NULL;
    if (!v || !z) return NULL;
    if (v->ndim != 2 || v->shape[1] != f->D || z->shape[0] != v->shape[0])
        return mvae_ctx_fail(ctx, "flow: v [%lld, %lld] and z [%lld, ...]: expected v [R, %lld] and z with R rows",
                             (long long)v->shape[0], (long long)(v->n / v->shape[0]), (long long)z->shape[0], (long long)f->D);
    mvae_tensor *h = cond_embed(f, ctx, z);
    mvae_tensor *ld = mvae_tensor_zeros(ctx, 1, (int64_t[]){v->shape[0]});
    for (int l = 0; l < f->n_layers; l++) {
        const mvae_flow_layer *L = &f->layer[l];
        v = mvae_actnorm(ctx, v, L->an_bias, L->an_logscale);
        ld = mvae_add(ctx, ld, mvae_sum_all(ctx, L->an_logscale)); /* [R] + [1]: the same for every row */
        mvae_tensor *mask = mask_tensor(f, ctx, l), *s, *t;
        coupling_st(f, ctx, l, v, mask, h, &s, &t);
        v = mvae_affine_coupling(ctx, v, s, t, mask);
        ld = mvae_add(ctx, ld, mvae_coupling_logdet(ctx, s, mask));
    }
    *logdet = ld;
    return v;
}

mvae_tensor *mvae_flow_inverse(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *u, mvae_tensor *z) {
    if (!u || !z) return NULL;
    if (u->ndim != 2 || u->shape[1] != f->D || z->shape[0] != u->shape[0])
        return mvae_ctx_fail(ctx, "flow inverse: u and z must be [R, %lld] and [R, latent]", (long long)f->D);
    bool old = mvae_ctx_set_grad(ctx, false);
    mvae_tensor *h = cond_embed(f, ctx, z), *v = u;
    for (int l = f->n_layers - 1; l >= 0; l--) {
        const mvae_flow_layer *L = &f->layer[l];
        mvae_tensor *mask = mask_tensor(f, ctx, l), *s, *t;
        coupling_st(f, ctx, l, v, mask, h, &s, &t); /* the masked half is the forward's */
        v = mvae_affine_coupling_inverse(ctx, v, s, t, mask);
        v = mvae_actnorm_inverse(ctx, v, L->an_bias, L->an_logscale);
    }
    mvae_ctx_set_grad(ctx, old);
    return v;
}

mvae_tensor *mvae_flow_preprocess(const mvae_flow *f, mvae_ctx *ctx, const mvae_tensor *x, mvae_rng *rng,
                                  mvae_tensor **ld) {
    const int64_t R = x->shape[0], D = f->D;
    mvae_tensor *v = mvae_tensor_new(ctx, 2, (int64_t[]){R, D});
    *ld = mvae_tensor_new(ctx, 1, (int64_t[]){R});
    if (!v || !*ld) return NULL;
    const double L = f->levels, a = f->alpha;
    for (int64_t r = 0; r < R; r++) {
        double acc = f->levels ? -(double)D * log(L) : 0.0;
        for (int64_t j = 0; j < D; j++) {
            double y = x->data[r * D + j];
            if (f->levels) { /* level k of L, plus uniform noise: y in [k/L, (k+1)/L) */
                double k = floor(y * (L - 1) + 0.5);
                k = k < 0 ? 0 : k > L - 1 ? L - 1 : k;
                double u = rng ? mvae_rng_uniform(rng) : 0.5;
                y = (k + u) / L;
            }
            if (f->alpha > 0) { /* v = logit(p), p = a + (1 - 2a) y; dv/dy = (1 - 2a) / (p (1 - p)) */
                double p = a + (1 - 2 * a) * y;
                y = log(p) - log1p(-p);
                acc += log1p(-2 * a) - log(p) - log1p(-p);
            }
            v->data[r * D + j] = (float)y;
        }
        (*ld)->data[r] = (float)acc;
    }
    return v;
}

void mvae_flow_postprocess(const mvae_flow *f, const float *v, float *out, int64_t n) {
    const double L = f->levels, a = f->alpha;
    bool unit = f->type == MVAE_MOD_IMAGE || f->type == MVAE_MOD_BINARY || f->levels || f->alpha > 0;
    for (int64_t i = 0; i < n; i++) {
        double y = v[i];
        if (f->alpha > 0) y = (1.0 / (1.0 + exp(-y)) - a) / (1 - 2 * a);
        if (unit) y = y < 0 ? 0 : y > 1 ? 1 : y;
        if (f->levels) { /* the level whose bin holds y */
            double k = floor(y * L);
            y = (k > L - 1 ? L - 1 : k) / (L - 1);
        }
        out[i] = (float)y;
    }
}

mvae_tensor *mvae_flow_logp(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *z, mvae_tensor *x, mvae_rng *rng) {
    if (!z || !x) return NULL;
    if (x->dtype != MVAE_F32 || x->n / x->shape[0] != f->D)
        return mvae_ctx_fail(ctx, "flow: the data have %lld values per sample, the flow %lld", (long long)(x->n / x->shape[0]),
                             (long long)f->D);
    const int64_t R = z->shape[0], B = x->shape[0];
    if (R % B) return mvae_ctx_fail(ctx, "flow: %lld rows of z for %lld data rows", (long long)R, (long long)B);
    mvae_tensor *xr = mvae_tile_rows(ctx, mvae_reshape(ctx, x, 2, (int64_t[]){B, f->D}), (int)(R / B));
    if (!xr) return NULL;
    mvae_tensor *ld_pre, *v = mvae_flow_preprocess(f, ctx, xr, rng, &ld_pre), *ld;
    mvae_tensor *u = mvae_flow_forward(f, ctx, v, z, &ld);
    if (!u) return NULL;
    mvae_tensor *base = mvae_gaussian_logp(ctx, u, mvae_tensor_zeros(ctx, 2, u->shape), NULL);
    return mvae_add(ctx, mvae_add(ctx, base, ld), ld_pre);
}

int mvae_flow_generate(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *z, mvae_rng *rng, float *out) {
    if (!z) return MVAE_ERR_INVALID;
    const int64_t R = z->shape[0];
    mvae_tensor *u = mvae_tensor_zeros(ctx, 2, (int64_t[]){R, f->D});
    if (!u) return MVAE_ERR_NOMEM;
    if (rng) {
        mvae_rng_normal_fill(rng, u->data, (size_t)u->n);
        for (int64_t i = 0; i < u->n; i++) u->data[i] *= f->temperature;
    }
    mvae_tensor *v = mvae_flow_inverse(f, ctx, u, z);
    if (!v) return MVAE_ERR_INVALID;
    mvae_flow_postprocess(f, v->data, out, v->n);
    return MVAE_OK;
}
