/* checkpoint.c — STUB: to be implemented. */
#include "mvae/checkpoint.h"
int mvae_checkpoint_save(const char *path, const mvae_params *ps, const mvae_optim *opt, const mvae_rng *rng, const char *extra, mvae_error *err) { (void)path; (void)ps; (void)opt; (void)rng; (void)extra; return mvae_error_set(err, MVAE_ERR_INVALID, "checkpoint: not implemented"); }
int mvae_checkpoint_load(const char *path, mvae_params *ps, mvae_optim *opt, mvae_rng *rng, char **extra_out, mvae_error *err) { (void)path; (void)ps; (void)opt; (void)rng; (void)extra_out; return mvae_error_set(err, MVAE_ERR_INVALID, "checkpoint: not implemented"); }
