/* mvae/params.h — the parameter store: every parameter, its gradient and the optimizer moments
 * each live in ONE allocation, carved into named views (llm.c style).
 *
 *   mvae_params *ps = mvae_params_new();
 *   mvae_tensor *W = mvae_params_add(ps, "image.enc.fc1.w", 2, (int64_t[]){512, 784},
 *                                    MVAE_INIT_KAIMING_UNIFORM, 784);
 *   mvae_tensor *b = mvae_params_add(ps, "image.enc.fc1.b", 1, (int64_t[]){512},
 *                                    MVAE_INIT_BIAS_UNIFORM, 784);
 *   mvae_params_finalize(ps, &rng, &err);   // allocates the blocks, points W/b into them, inits
 *   ... mvae_linear(ctx, x, W, b) ...
 *   mvae_params_zero_grad(ps);
 *
 * Tensors returned by mvae_params_add are owned by the store (valid until mvae_params_free);
 * their data/grad pointers are valid after mvae_params_finalize. Names must be unique.
 * Buffers (e.g. batchnorm running statistics) are stored too but get no gradient and are not
 * updated by the optimizer; they are saved in checkpoints.
 */
#ifndef MVAE_PARAMS_H
#define MVAE_PARAMS_H
#include "mvae/tensor.h"
#include "mvae/rng.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum mvae_init {
    MVAE_INIT_ZEROS = 0,
    MVAE_INIT_ONES,
    /* PyTorch's nn.Linear / nn.Conv default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
     * (kaiming_uniform with a=sqrt(5)) and biases alike */
    MVAE_INIT_KAIMING_UNIFORM,
    MVAE_INIT_BIAS_UNIFORM,
    MVAE_INIT_NORMAL, /* N(0,1): PyTorch's nn.Embedding default */
    MVAE_INIT_XAVIER_UNIFORM,
} mvae_init;

typedef struct mvae_param_entry {
    char name[96];
    mvae_tensor *t;   /* owned by the store */
    size_t offset;    /* in floats, into the data block */
    int init;         /* mvae_init */
    int64_t fan_in;
    int64_t fan_out;
    bool buffer;      /* no gradient, not optimised */
} mvae_param_entry;

typedef struct mvae_params {
    mvae_param_entry *entries;
    int count, cap;
    size_t n_floats;     /* total elements (params + buffers) */
    float *data;         /* [n_floats] */
    float *grad;         /* [n_floats] (buffers' part stays zero) */
    float *m, *v;        /* optimizer moments, [n_floats], allocated by the optimizer on demand */
    bool finalized;
} mvae_params;

mvae_params *mvae_params_new(void);
void mvae_params_free(mvae_params *ps); /* NULL is a no-op */
/* Declare a parameter. Returns NULL (with err filled) on a duplicate name or after finalize. */
mvae_tensor *mvae_params_add(mvae_params *ps, const char *name, int ndim, const int64_t *shape,
                             mvae_init init, int64_t fan_in, mvae_error *err);
/* Declare a buffer (saved, not optimised), initialised to `value`. */
mvae_tensor *mvae_params_add_buffer(mvae_params *ps, const char *name, int ndim,
                                    const int64_t *shape, float value, mvae_error *err);
/* Allocate the blocks and initialise every entry from rng, in declaration order. */
int mvae_params_finalize(mvae_params *ps, mvae_rng *rng, mvae_error *err);
void mvae_params_zero_grad(mvae_params *ps);
mvae_tensor *mvae_params_find(const mvae_params *ps, const char *name);
size_t mvae_params_count_trainable(const mvae_params *ps); /* elements that get gradients */
#ifdef __cplusplus
}
#endif
#endif
