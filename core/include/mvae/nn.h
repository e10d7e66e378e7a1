/* mvae/nn.h — layers as parameters + a forward function, for plugins to compose.
 *
 *   mvae_linear_layer fc;
 *   mvae_linear_layer_init(&fc, ps, "image.enc", "fc1", 784, 512, true, &err);  // declares
 *   ...                                                   // image.enc.fc1.w [512,784], .b [512]
 *   mvae_tensor *h = mvae_activate(ctx, mvae_linear_layer_fwd(ctx, &fc, x), MVAE_ACT_SWISH);
 *
 * Initialisation follows PyTorch's defaults (U(+-1/sqrt(fan_in)) for linear and conv weights and
 * biases, N(0,1) for embeddings, ones/zeros for batchnorm), so a model here starts from the same
 * distribution as its PyTorch twin.
 */
#ifndef MVAE_NN_H
#define MVAE_NN_H
#include "mvae/ops.h"
#include "mvae/params.h"
#ifdef __cplusplus
extern "C" {
#endif

/* mvae_activation (MVAE_ACT_*) is declared in mvae/ops.h: the fused ops take one. */
/* "swish" (or "silu"), "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "none". */
int mvae_activation_parse(const char *name, int *act, mvae_error *err);
mvae_tensor *mvae_activate(mvae_ctx *ctx, mvae_tensor *x, int act);
/* The accepted names, NULL-terminated (for YAML `choices`). */
extern const char *const mvae_activation_names[];

typedef struct mvae_linear_layer {
    mvae_tensor *w, *b; /* [out,in], [out] or NULL */
} mvae_linear_layer;
int mvae_linear_layer_init(mvae_linear_layer *l, mvae_params *ps, const char *prefix,
                           const char *name, int64_t in, int64_t out, bool bias, mvae_error *err);
mvae_tensor *mvae_linear_layer_fwd(mvae_ctx *ctx, const mvae_linear_layer *l, mvae_tensor *x);
/* The layer applied to in_act(x), fused (mvae_linear_act): a stack of layers written as
 *   h = fwd_act(l2, fwd_act(l1, x, MVAE_ACT_NONE), MVAE_ACT_SWISH)
 * keeps only pre-activations for backward, half the activation memory of activate(fwd(...)). */
mvae_tensor *mvae_linear_layer_fwd_act(mvae_ctx *ctx, const mvae_linear_layer *l, mvae_tensor *x, int in_act);

typedef struct mvae_conv_layer {
    mvae_tensor *w, *b;  /* conv: [O,C,k,k]; transposed: [C,O,k,k]; b [O] or NULL */
    int stride, pad, out_pad;
    bool transposed;
} mvae_conv_layer;
int mvae_conv_layer_init(mvae_conv_layer *l, mvae_params *ps, const char *prefix, const char *name,
                         int64_t in_ch, int64_t out_ch, int k, int stride, int pad, int out_pad,
                         bool transposed, bool bias, mvae_error *err);
mvae_tensor *mvae_conv_layer_fwd(mvae_ctx *ctx, const mvae_conv_layer *l, mvae_tensor *x);
/* The layer applied to in_act(x), fused (mvae_conv2d_act / mvae_conv_transpose2d_act). */
mvae_tensor *mvae_conv_layer_fwd_act(mvae_ctx *ctx, const mvae_conv_layer *l, mvae_tensor *x, int in_act);
/* Output size of a conv (transposed=false) or transposed conv along one spatial dim. */
int64_t mvae_conv_out_size(int64_t in, int k, int stride, int pad, int out_pad, bool transposed);

typedef struct mvae_batchnorm_layer {
    mvae_tensor *gamma, *beta;       /* [C] parameters */
    mvae_tensor *run_mean, *run_var; /* [C] buffers (saved in checkpoints) */
    float momentum, eps;
} mvae_batchnorm_layer;
int mvae_batchnorm_layer_init(mvae_batchnorm_layer *l, mvae_params *ps, const char *prefix,
                              const char *name, int64_t channels, mvae_error *err);
mvae_tensor *mvae_batchnorm_layer_fwd(mvae_ctx *ctx, const mvae_batchnorm_layer *l, mvae_tensor *x);

typedef struct mvae_embedding_layer {
    mvae_tensor *table; /* [V, D] */
} mvae_embedding_layer;
int mvae_embedding_layer_init(mvae_embedding_layer *l, mvae_params *ps, const char *prefix,
                              const char *name, int64_t vocab, int64_t dim, mvae_error *err);
mvae_tensor *mvae_embedding_layer_fwd(mvae_ctx *ctx, const mvae_embedding_layer *l, mvae_tensor *idx);

/* One GRU layer (PyTorch's nn.GRU parameters and init: every weight and bias U(+-1/sqrt(hidden))):
 * w_ih [3H, in], w_hh [3H, H], b_ih, b_hh [3H], gates in r, z, n order. */
typedef struct mvae_gru_layer {
    mvae_tensor *w_ih, *w_hh, *b_ih, *b_hh;
    int64_t in, hidden;
} mvae_gru_layer;
int mvae_gru_layer_init(mvae_gru_layer *l, mvae_params *ps, const char *prefix, const char *name,
                        int64_t in, int64_t hidden, mvae_error *err);
/* h' = GRU(x [B,in], h [B,H]); with mask [B,1] (1 = real step, 0 = padding; NULL = all real),
 * h' = h + mask * (GRU(x, h) - h): padded positions keep the previous state. */
mvae_tensor *mvae_gru_layer_step(mvae_ctx *ctx, const mvae_gru_layer *l, mvae_tensor *x,
                                 mvae_tensor *h, mvae_tensor *mask);
/* Concatenate any number of tensors along axis (a tree of mvae_concat calls, 4 at a time). */
mvae_tensor *mvae_concat_list(mvae_ctx *ctx, int n, mvae_tensor **ts, int axis);

#ifdef __cplusplus
}
#endif
#endif
