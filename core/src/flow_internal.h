/* flow_internal.h — the conditional normalising flow of the `flow` model type (flow.c), exposed
 * for the model type table and the tests (not installed). docs/model_types.md derives it.
 *
 *   data x [R, D] --preprocess (dequantise, logit; constant log-det)--> v
 *   v --L x [actnorm, affine coupling(s, t = NN([v*m, h(z)]))]--> u,   log p(x | z) =
 *       log N(u; 0, I) + sum of the layers' log-dets + the preprocessing's log-det - D log(levels)
 *   generate: u = T eps --inverse layers in reverse--> v --sigmoid, undo the scaling--> x
 */
#ifndef MVAE_FLOW_INTERNAL_H
#define MVAE_FLOW_INTERNAL_H
#include "mvae/interfaces.h"
#include "mvae/nn.h"

#define MVAE_FLOW_MAX_LAYERS 64
#define MVAE_FLOW_MAX_HIDDEN 4

enum { MVAE_FLOW_MASK_CHECKERBOARD = 0, MVAE_FLOW_MASK_HALF = 1 };

typedef struct mvae_flow_layer {
    mvae_tensor *an_bias, *an_logscale; /* actnorm, [D] each (identity at initialisation) */
    mvae_linear_layer fc[MVAE_FLOW_MAX_HIDDEN];
    mvae_linear_layer out;              /* -> [2D] = (s_raw, t), zero-initialised: the coupling
                                         * starts as the identity */
} mvae_flow_layer;

typedef struct mvae_flow {
    int64_t D;          /* features per sample (numel of the modality) */
    int type;           /* the modality's type (image, binary, real, audio) */
    int n_layers, n_hidden, act, mask_kind;
    int64_t hidden[MVAE_FLOW_MAX_HIDDEN];
    int64_t cond_dim;   /* width of h(z) */
    mvae_linear_layer cond; /* h(z) = act(W z + b) */
    float scale_bound;  /* s = bound * tanh(s_raw / bound) */
    int levels;         /* dequantisation levels (0 = none) */
    float alpha;        /* logit pre-processing: logit(alpha + (1 - 2 alpha) y); 0 = none */
    float temperature;  /* sampling: u ~ N(0, T^2 I) */
    float *masks;       /* [n_layers, D], 1 = passes through (conditions s, t) */
    mvae_flow_layer layer[MVAE_FLOW_MAX_LAYERS];
} mvae_flow;

/* Read the validated `flow:` options (NULL = every default) for modality mi, declare the
 * parameters under `prefix` (e.g. "image.flow"). */
int mvae_flow_create(const mvae_cfg_node *opts, const mvae_modality_info *mi, int latent_dim,
                     mvae_params *ps, const char *prefix, mvae_flow **out, mvae_error *err);
void mvae_flow_free(mvae_flow *f); /* NULL is a no-op */
/* v [R, D] (pre-processed), z [R, latent] -> u [R, D] and *logdet [R] (sum of the layers'). */
mvae_tensor *mvae_flow_forward(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *v, mvae_tensor *z,
                               mvae_tensor **logdet);
/* The exact inverse of mvae_flow_forward (no gradient): u [R, D], z [R, latent] -> v. */
mvae_tensor *mvae_flow_inverse(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *u, mvae_tensor *z);
/* Data x [R, D] -> v (a constant: no gradient) and ld[r] = the preprocessing's log-det minus
 * D log(levels) (so that log N(u) + logdet + ld bounds log P of the discrete data). rng NULL:
 * the dequantisation noise is the bin midpoint 0.5. */
mvae_tensor *mvae_flow_preprocess(const mvae_flow *f, mvae_ctx *ctx, const mvae_tensor *x, mvae_rng *rng,
                                  mvae_tensor **ld);
/* v -> data values (the inverse of the preprocessing: sigmoid, undo the scaling, snap to the
 * levels; images clamped to [0, 1]); n values. */
void mvae_flow_postprocess(const mvae_flow *f, const float *v, float *out, int64_t n);
/* log p(x | z) [R] for x [B, ...] (R a multiple of B). */
mvae_tensor *mvae_flow_logp(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *z, mvae_tensor *x, mvae_rng *rng);
/* x from z [R, latent] into out [R * D]; rng NULL: u = 0. */
int mvae_flow_generate(const mvae_flow *f, mvae_ctx *ctx, mvae_tensor *z, mvae_rng *rng, float *out);
#endif
