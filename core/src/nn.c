/* nn.c — parameterised layers over the ops. */
#include "mvae/nn.h"

#include <string.h>

const char *const mvae_activation_names[] = {"none", "relu", "leaky_relu", "elu", "swish", "sigmoid",
                                             "tanh", "softplus", "silu", NULL};

int mvae_activation_parse(const char *name, int *act, mvae_error *err) {
    static const struct { const char *n; int a; } map[] = {
        {"none", MVAE_ACT_NONE}, {"relu", MVAE_ACT_RELU}, {"leaky_relu", MVAE_ACT_LEAKY_RELU},
        {"elu", MVAE_ACT_ELU}, {"swish", MVAE_ACT_SWISH}, {"silu", MVAE_ACT_SWISH},
        {"sigmoid", MVAE_ACT_SIGMOID}, {"tanh", MVAE_ACT_TANH}, {"softplus", MVAE_ACT_SOFTPLUS}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(name, map[i].n) == 0) {
            *act = map[i].a;
            return MVAE_OK;
        }
    const char *near = mvae_nearest(name, mvae_activation_names, 9);
    return mvae_error_set(err, MVAE_ERR_INVALID, "unknown activation '%s'%s%s%s", name,
                          near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
}

mvae_tensor *mvae_activate(mvae_ctx *ctx, mvae_tensor *x, int act) {
    switch (act) {
    case MVAE_ACT_NONE: return x;
    case MVAE_ACT_RELU: return mvae_relu(ctx, x);
    case MVAE_ACT_LEAKY_RELU: return mvae_leaky_relu(ctx, x, 0.2f);
    case MVAE_ACT_ELU: return mvae_elu(ctx, x, 1.0f);
    case MVAE_ACT_SWISH: return mvae_swish(ctx, x);
    case MVAE_ACT_SIGMOID: return mvae_sigmoid(ctx, x);
    case MVAE_ACT_TANH: return mvae_tanh(ctx, x);
    case MVAE_ACT_SOFTPLUS: return mvae_softplus(ctx, x);
    default: return mvae_ctx_fail(ctx, "activate: unknown activation %d", act);
    }
}

static void pname(char *buf, size_t n, const char *prefix, const char *name, const char *what) {
    snprintf(buf, n, "%s%s%s.%s", prefix ? prefix : "", prefix && prefix[0] ? "." : "", name, what);
}

int mvae_linear_layer_init(mvae_linear_layer *l, mvae_params *ps, const char *prefix,
                           const char *name, int64_t in, int64_t out, bool bias, mvae_error *err) {
    char n[128];
    pname(n, sizeof n, prefix, name, "w");
    l->w = mvae_params_add(ps, n, 2, (int64_t[]){out, in}, MVAE_INIT_KAIMING_UNIFORM, in, err);
    l->b = NULL;
    if (bias) {
        pname(n, sizeof n, prefix, name, "b");
        l->b = mvae_params_add(ps, n, 1, (int64_t[]){out}, MVAE_INIT_BIAS_UNIFORM, in, err);
    }
    return (l->w && (!bias || l->b)) ? MVAE_OK : MVAE_ERR_INVALID;
}

mvae_tensor *mvae_linear_layer_fwd(mvae_ctx *ctx, const mvae_linear_layer *l, mvae_tensor *x) {
    return mvae_linear(ctx, x, l->w, l->b);
}

mvae_tensor *mvae_linear_layer_fwd_act(mvae_ctx *ctx, const mvae_linear_layer *l, mvae_tensor *x, int in_act) {
    return mvae_linear_act(ctx, x, l->w, l->b, in_act);
}

int64_t mvae_conv_out_size(int64_t in, int k, int stride, int pad, int out_pad, bool transposed) {
    if (transposed) return (in - 1) * stride - 2 * pad + k + out_pad;
    return (in + 2 * pad - k) / stride + 1;
}

int mvae_conv_layer_init(mvae_conv_layer *l, mvae_params *ps, const char *prefix, const char *name,
                         int64_t in_ch, int64_t out_ch, int k, int stride, int pad, int out_pad,
                         bool transposed, bool bias, mvae_error *err) {
    char n[128];
    /* PyTorch: fan_in = weight.size(1) * k * k, i.e. in_ch*k*k for conv and out_ch*k*k for
     * ConvTranspose (its weight is [in, out, k, k]). */
    int64_t fan_in = (transposed ? out_ch : in_ch) * k * k;
    pname(n, sizeof n, prefix, name, "w");
    int64_t shape[4] = {transposed ? in_ch : out_ch, transposed ? out_ch : in_ch, k, k};
    l->w = mvae_params_add(ps, n, 4, shape, MVAE_INIT_KAIMING_UNIFORM, fan_in, err);
    l->b = NULL;
    if (bias) {
        pname(n, sizeof n, prefix, name, "b");
        l->b = mvae_params_add(ps, n, 1, (int64_t[]){out_ch}, MVAE_INIT_BIAS_UNIFORM, fan_in, err);
    }
    l->stride = stride;
    l->pad = pad;
    l->out_pad = out_pad;
    l->transposed = transposed;
    return (l->w && (!bias || l->b)) ? MVAE_OK : MVAE_ERR_INVALID;
}

mvae_tensor *mvae_conv_layer_fwd_act(mvae_ctx *ctx, const mvae_conv_layer *l, mvae_tensor *x, int in_act) {
    if (l->transposed)
        return mvae_conv_transpose2d_act(ctx, x, l->w, l->b, l->stride, l->pad, l->out_pad, in_act);
    return mvae_conv2d_act(ctx, x, l->w, l->b, l->stride, l->pad, in_act);
}

mvae_tensor *mvae_conv_layer_fwd(mvae_ctx *ctx, const mvae_conv_layer *l, mvae_tensor *x) {
    return mvae_conv_layer_fwd_act(ctx, l, x, MVAE_ACT_NONE);
}

int mvae_batchnorm_layer_init(mvae_batchnorm_layer *l, mvae_params *ps, const char *prefix,
                              const char *name, int64_t channels, mvae_error *err) {
    char n[128];
    int64_t shape[1] = {channels};
    pname(n, sizeof n, prefix, name, "gamma");
    l->gamma = mvae_params_add(ps, n, 1, shape, MVAE_INIT_ONES, channels, err);
    pname(n, sizeof n, prefix, name, "beta");
    l->beta = mvae_params_add(ps, n, 1, shape, MVAE_INIT_ZEROS, channels, err);
    pname(n, sizeof n, prefix, name, "running_mean");
    l->run_mean = mvae_params_add_buffer(ps, n, 1, shape, 0.0f, err);
    pname(n, sizeof n, prefix, name, "running_var");
    l->run_var = mvae_params_add_buffer(ps, n, 1, shape, 1.0f, err);
    l->momentum = 0.1f;
    l->eps = 1e-5f;
    return (l->gamma && l->beta && l->run_mean && l->run_var) ? MVAE_OK : MVAE_ERR_INVALID;
}

mvae_tensor *mvae_batchnorm_layer_fwd(mvae_ctx *ctx, const mvae_batchnorm_layer *l, mvae_tensor *x) {
    return mvae_batchnorm(ctx, x, l->gamma, l->beta, l->run_mean->data, l->run_var->data,
                          l->momentum, l->eps);
}

int mvae_embedding_layer_init(mvae_embedding_layer *l, mvae_params *ps, const char *prefix,
                              const char *name, int64_t vocab, int64_t dim, mvae_error *err) {
    char n[128];
    pname(n, sizeof n, prefix, name, "table");
    l->table = mvae_params_add(ps, n, 2, (int64_t[]){vocab, dim}, MVAE_INIT_NORMAL, dim, err);
    return l->table ? MVAE_OK : MVAE_ERR_INVALID;
}

mvae_tensor *mvae_embedding_layer_fwd(mvae_ctx *ctx, const mvae_embedding_layer *l, mvae_tensor *idx) {
    return mvae_gather(ctx, l->table, idx);
}

int mvae_gru_layer_init(mvae_gru_layer *l, mvae_params *ps, const char *prefix, const char *name,
                        int64_t in, int64_t hidden, mvae_error *err) {
    char n[128];
    l->in = in;
    l->hidden = hidden;
    pname(n, sizeof n, prefix, name, "w_ih");
    l->w_ih = mvae_params_add(ps, n, 2, (int64_t[]){3 * hidden, in}, MVAE_INIT_BIAS_UNIFORM, hidden, err);
    pname(n, sizeof n, prefix, name, "w_hh");
    l->w_hh = mvae_params_add(ps, n, 2, (int64_t[]){3 * hidden, hidden}, MVAE_INIT_BIAS_UNIFORM, hidden, err);
    pname(n, sizeof n, prefix, name, "b_ih");
    l->b_ih = mvae_params_add(ps, n, 1, (int64_t[]){3 * hidden}, MVAE_INIT_BIAS_UNIFORM, hidden, err);
    pname(n, sizeof n, prefix, name, "b_hh");
    l->b_hh = mvae_params_add(ps, n, 1, (int64_t[]){3 * hidden}, MVAE_INIT_BIAS_UNIFORM, hidden, err);
    return (l->w_ih && l->w_hh && l->b_ih && l->b_hh) ? MVAE_OK : MVAE_ERR_INVALID;
}

mvae_tensor *mvae_gru_layer_step(mvae_ctx *ctx, const mvae_gru_layer *l, mvae_tensor *x,
                                 mvae_tensor *h, mvae_tensor *mask) {
    mvae_tensor *hn = mvae_gru_cell(ctx, x, h, l->w_ih, l->w_hh, l->b_ih, l->b_hh);
    if (!mask) return hn;
    return mvae_add(ctx, h, mvae_mul(ctx, mask, mvae_sub(ctx, hn, h)));
}

mvae_tensor *mvae_concat_list(mvae_ctx *ctx, int n, mvae_tensor **ts, int axis) {
    if (n <= 0) return mvae_ctx_fail(ctx, "concat_list: no tensors");
    if (n == 1) return ts[0];
    if (n <= 4) return mvae_concat(ctx, n, ts, axis);
    int m = (n + 3) / 4;
    mvae_tensor **part = mvae_ctx_alloc(ctx, (size_t)m * sizeof *part);
    if (!part) return mvae_ctx_fail(ctx, "concat_list: out of memory");
    for (int i = 0; i < m; i++) {
        int c = n - 4 * i < 4 ? n - 4 * i : 4;
        part[i] = c == 1 ? ts[4 * i] : mvae_concat(ctx, c, ts + 4 * i, axis);
    }
    return mvae_concat_list(ctx, m, part, axis);
}
