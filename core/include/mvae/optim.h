/* mvae/optim.h — optimisers over a whole mvae_params block, gradient clipping.
 *
 *   mvae_optim opt = {.kind = MVAE_OPTIM_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
 *                     .eps = 1e-8f};
 *   mvae_params_zero_grad(ps); ... mvae_backward(ctx, loss); ...
 *   float norm = mvae_clip_grad_norm(ps, 5.0f);     // optional; returns the norm before clipping
 *   mvae_optim_step(&opt, ps);
 *
 * Adam is bias-corrected (Kingma & Ba 2015) with PyTorch's formulation:
 *   m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2
 *   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * weight_decay > 0 with decoupled = false adds wd*p to g (torch.optim.Adam); decoupled = true
 * multiplies p by (1 - lr*wd) first (AdamW). SGD: v = momentum v + g ; p -= lr v (PyTorch).
 * Buffers (mvae_params_add_buffer) are never touched.
 */
#ifndef MVAE_OPTIM_H
#define MVAE_OPTIM_H
#include "mvae/params.h"
#ifdef __cplusplus
extern "C" {
#endif
typedef enum { MVAE_OPTIM_ADAM = 0, MVAE_OPTIM_SGD = 1 } mvae_optim_kind;
typedef struct mvae_optim {
    int kind;
    float lr;
    float beta1, beta2, eps;  /* adam */
    float momentum;           /* sgd */
    float weight_decay;
    bool decoupled;           /* AdamW-style decay */
    int64_t step;             /* number of steps taken (saved in checkpoints) */
    bool zero_grad;           /* leave the gradients zero after the update: the update's own pass
                               * replaces mvae_params_zero_grad's before the next backward */
} mvae_optim;
/* Sensible defaults: adam lr 1e-3, betas (0.9, 0.999), eps 1e-8. */
mvae_optim mvae_optim_adam(float lr);
mvae_optim mvae_optim_sgd(float lr, float momentum);
/* One update of every trainable element. Allocates ps->m / ps->v on the first call. With
 * opt->zero_grad the gradients are zero afterwards (the training loop then skips zero_grad). */
int mvae_optim_step(mvae_optim *opt, mvae_params *ps, mvae_error *err);
/* Global L2 norm of all gradients. */
float mvae_grad_norm(const mvae_params *ps);
/* Scale gradients so their global L2 norm is at most max_norm (if max_norm > 0).
 * Returns the norm before clipping (NaN if any gradient is NaN). */
float mvae_clip_grad_norm(mvae_params *ps, float max_norm);
#ifdef __cplusplus
}
#endif
#endif
