/* objective.c — the table of training objectives and the two calls the trainer makes
 * (mvae_objective_from_config, mvae_objective_loss). Each row lives in objective_<name>.c. */
#include "mvae/train.h"

#include <string.h>

extern const mvae_objective_kind mvae_objective_mvae, mvae_objective_supervised, mvae_objective_jmvae,
    mvae_objective_vaevae;

const mvae_objective_kind *const mvae_objective_kinds[] = {
    &mvae_objective_mvae,       /* default: the MVAE's sub-sampled sum of ELBO / IWAE / DReG terms */
    &mvae_objective_supervised, /* train.objective.supervised: the NN baseline */
    &mvae_objective_jmvae,      /* train.objective.jmvae: JMVAE-kl (Suzuki et al. 2016) */
    &mvae_objective_vaevae,     /* train.objective.vaevae: VAEVAE (Wu & Goodman 2019, as implemented by others) */
    NULL,
};

/* The kind train.objective selects (at most one kind's key present) and its section. */
static int select_kind(const mvae_model *m, const mvae_objective_kind **out, const mvae_cfg_node **sec_out,
                       mvae_error *err) {
    mvae_cfg_node *o = mvae_cfg_path(mvae_cfg_root(m->cfg), "train.objective");
    const mvae_objective_kind *kind = NULL;
    const mvae_cfg_node *sec = o;
    char where[256];
    for (int i = 0; mvae_objective_kinds[i]; i++) {
        const mvae_objective_kind *k = mvae_objective_kinds[i];
        if (!k->key) {
            if (!kind) kind = k;
            continue;
        }
        mvae_cfg_node *n = o ? mvae_cfg_get(o, k->key) : NULL;
        if (!n) continue;
        if (kind && kind->key)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective: give one of '%s' and '%s', not both",
                                  mvae_cfg_where(n, where, sizeof where), kind->key, k->key);
        kind = k;
        sec = n;
    }
    MVAE_ASSERT(kind); /* the table has a default row */
    *out = kind;
    *sec_out = sec;
    return MVAE_OK;
}

int mvae_objective_from_config(const mvae_model *m, mvae_objective *obj, mvae_error *err) {
    memset(obj, 0, sizeof *obj);
    const mvae_objective_kind *kind;
    const mvae_cfg_node *sec;
    int rc = select_kind(m, &kind, &sec, err);
    if (rc) return rc;
    obj->kind = kind;
    return kind->configure(m, sec, obj, err);
}

int mvae_objective_declare(mvae_model *m, mvae_error *err) {
    const mvae_objective_kind *kind;
    const mvae_cfg_node *sec;
    int rc = select_kind(m, &kind, &sec, err);
    if (rc) return rc;
    return kind->declare ? kind->declare(m, sec, err) : MVAE_OK;
}

int mvae_objective_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective *obj,
                        float beta, mvae_rng *rng, mvae_tensor **loss, mvae_step_stats *stats) {
    MVAE_ASSERT(obj->kind);
    return obj->kind->loss(m, ctx, b, obj, beta, rng, loss, stats);
}
