/* optim.c — STUB: to be implemented. */
#include "mvae/optim.h"
mvae_optim mvae_optim_adam(float lr) { mvae_optim o = {0}; o.kind = MVAE_OPTIM_ADAM; o.lr = lr; o.beta1 = 0.9f; o.beta2 = 0.999f; o.eps = 1e-8f; return o; }
mvae_optim mvae_optim_sgd(float lr, float momentum) { mvae_optim o = {0}; o.kind = MVAE_OPTIM_SGD; o.lr = lr; o.momentum = momentum; return o; }
int mvae_optim_step(mvae_optim *opt, mvae_params *ps, mvae_error *err) { (void)opt; (void)ps; return mvae_error_set(err, MVAE_ERR_INVALID, "optim: not implemented"); }
float mvae_grad_norm(const mvae_params *ps) { (void)ps; return 0.0f; }
float mvae_clip_grad_norm(mvae_params *ps, float max_norm) { (void)ps; (void)max_norm; return 0.0f; }
