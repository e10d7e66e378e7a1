/* objective_internal.h — pieces the rows of the objectives table share (not installed). */
#ifndef MVAE_OBJECTIVE_INTERNAL_H
#define MVAE_OBJECTIVE_INTERNAL_H
#include "mvae/train.h"

/* One importance-weighted term (IWAE, Burda et al. 2016; DReG gradients with dreg) for subset S
 * with K samples per data point, decoding the modalities in dec (objective_mvae.c): returns
 * (1/B) sum_i -valid(i) IWAE_K(i), a scalar tensor (a surrogate with the DReG gradients when
 * dreg; *value always holds the bound's value). *skipped = 1 (and NULL) when no sample has any
 * modality of S. */
mvae_tensor *mvae_objective_iw_term(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_experts *e,
                                    uint32_t S, uint32_t dec, int K, bool dreg, float beta, mvae_rng *rng,
                                    int *skipped, double *value);

/* -sum_{k in dec, present} w_k log p(x_k | z) per row of z ([n_draws * B] rows, draw-major),
 * each modality's rows masked by its presence; log p by mvae_model_logp (any model type; rng: a
 * flow's dequantisation noise). NULL with the error in ctx. */
mvae_tensor *mvae_objective_recon_nll(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_experts *e,
                                      uint32_t dec, mvae_tensor *z, int n_draws, mvae_rng *rng);

/* KL(qa || qb) per draw of z ~ qa ([n_draws(qa) * B] rows): analytic (kl_gaussians) when both
 * are Gaussian (mu/logvar set) and qa has one draw, else the single-draw estimate
 * log qa(z) - log qb(z). */
mvae_tensor *mvae_objective_kl_between(const mvae_model *m, mvae_ctx *ctx, const mvae_posterior *qa,
                                       const mvae_posterior *qb, mvae_tensor *z);

/* A [rows] tensor of 1/0 per sample i (repeated n_draws times, draw-major): the sample has every
 * modality of `need` (from b's presence matrix); *count = the number of such samples. */
mvae_tensor *mvae_objective_has_all(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, uint32_t need,
                                    int n_draws, int64_t *count);

/* Record term t's value in stats (name: "" = the subset's) and fail on NaN/Inf with the term named. */
int mvae_objective_stat(const mvae_model *m, mvae_ctx *ctx, mvae_step_stats *st, uint32_t subset, const char *name,
                        double v);

/* sec's iw_samples and estimator keys (objective_jmvae.c); refuses train.impartial, whose blocks
 * are wired into the mvae objective's terms only. kind names the key in messages. */
int mvae_objective_read_estimator(const mvae_model *m, const mvae_cfg_node *sec, const char *kind, int *K, bool *dreg,
                                  mvae_error *err);

/* "log p(a,b)" for the modalities in s into buf (appended with " + " when buf is not empty). */
void mvae_bound_append_logp(const mvae_model *m, uint32_t s, const char *prefix, char *buf, size_t len);
#endif
