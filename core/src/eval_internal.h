/* eval_internal.h — helpers shared by eval.c and coherence.c (not installed). */
#ifndef MVAE_EVAL_INTERNAL_H
#define MVAE_EVAL_INTERNAL_H
#include "mvae/train.h"
/* One z per sample from q: the only draw, or for several weighted draws one chosen per sample
 * with probability its weight (a draw from the mixture). z: fusion->sample's output. */
mvae_tensor *mvae_eval_one_draw(mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z, int64_t B,
                                mvae_rng *rng);
/* Check eval.cross against the model's modalities (crossgen.c), without evaluating anything. */
int mvae_eval_check_cross(const mvae_model *m, mvae_error *err);
/* eval.subsets: the given-subset table into r (eval_subsets.c); nothing when off. */
int mvae_evaluate_subsets(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err);
#endif
