/* objective_impartial.c — `train.impartial`: an impartiality block (mvae/impartial.h) on the latent
 * sample of every objective term (Javaloy, Meghdadi & Valera 2022). The term's z fans out into
 * one branch per modality the term decodes; each modality's decoder and likelihood read their own
 * branch, the KL reads z itself, and the block combines the modality gradients at z with the
 * chosen method in the one backward pass.
 *
 * One block per term subset, made when the model is built, for every non-empty subset of the
 * modalities with an encoder that decodes two or more modalities (so random subsets find theirs
 * too). A block's state (GradNorm's weights, GradVac's targets, NSGD's first norms) lives in a
 * buffer of the parameter store, "impartial.<subset>.state", so checkpoints carry it and resume
 * continues it. The methods that draw (pcgrad, gradvac, graddrop) use the set's own rng, reseeded
 * at every step from the trainer's rng state (without advancing it), so a resumed run draws the
 * same and a block changes none of the ELBO's draws. */
#include "mvae/impartial.h"
#include "mvae/train.h"

#include <stdlib.h>
#include <string.h>

struct mvae_impartial_set {
    int n;
    uint32_t subset[MVAE_MAX_SUBSET_ROWS]; /* the term's modalities (given to q) */
    uint32_t dec[MVAE_MAX_SUBSET_ROWS];    /* the modalities it decodes: the branches, in index order */
    mvae_impartial *blk[MVAE_MAX_SUBSET_ROWS];
    mvae_tensor *state[MVAE_MAX_SUBSET_ROWS]; /* its state buffer in the parameter store, or NULL */
    mvae_rng rng;
};

/* The modalities a term of subset s decodes (as the mvae objective decodes them). */
static uint32_t term_decodes(const mvae_model *m, uint32_t s, bool cross_reconstruct) {
    uint32_t all = (1u << m->n_mod) - 1;
    return (cross_reconstruct && __builtin_popcount(s) == 1 ? all : s) | m->decoder_only;
}

int mvae_impartial_set_declare(mvae_model *m, mvae_error *err) {
    m->impartial = NULL;
    mvae_cfg_node *root = mvae_cfg_root(m->cfg), *sec = mvae_cfg_path(root, "train.impartial");
    const char *method = "none";
    if (!sec || mvae_cfg_string_or(sec, "method", "none", &method, err)) return sec ? err->status : MVAE_OK;
    if (strcmp(method, "none") == 0) return MVAE_OK; /* the plain sum: no block at all */
    char where[256];
    if (mvae_cfg_path(root, "train.objective.supervised"))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "%s: train.impartial: the supervised objective has one term and no shared latent "
                              "sample to balance; remove train.impartial or train.objective.supervised",
                              mvae_cfg_where(sec, where, sizeof where));
    bool cross = false;
    if (mvae_cfg_bool_or(mvae_cfg_path(root, "train.objective"), "cross_reconstruct", false, &cross, err))
        return err->status;
    const uint32_t enc = m->encodable;
    if (__builtin_popcount(enc) > 6)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "%s: train.impartial: %d modalities with an encoder; blocks are made for every subset, "
                              "at most 6 modalities (63 subsets)",
                              mvae_cfg_where(sec, where, sizeof where), __builtin_popcount(enc));
    struct mvae_impartial_set *set = calloc(1, sizeof *set);
    if (!set) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    m->impartial = set;
    for (uint32_t s = 1; s <= enc; s++) {
        if (s & ~enc) continue;
        uint32_t dec = term_decodes(m, s, cross);
        int K = __builtin_popcount(dec);
        if (K < 2) continue; /* one branch: nothing to balance */
        int i = set->n;
        int rc = mvae_impartial_new_cfg(sec, K, &set->rng, &set->blk[i], err);
        if (rc) {
            mvae_error_prefix(err, "%s: train.impartial", mvae_cfg_where(sec, where, sizeof where));
            return rc;
        }
        set->subset[i] = s;
        set->dec[i] = dec;
        set->n++;
        size_t ns = mvae_impartial_state_size(set->blk[i]);
        if (ns) {
            char name[96], sub[256];
            mvae_model_subset_name(m, s, sub, sizeof sub);
            for (char *c = sub; *c; c++)
                if (*c == ',') *c = '+';
            snprintf(name, sizeof name, "impartial.%.60s.state", sub);
            set->state[i] = mvae_params_add_buffer(m->params, name, 1, (int64_t[]){(int64_t)ns}, 0.0f, err);
            if (!set->state[i]) return err->status ? err->status : MVAE_ERR_INVALID;
        }
    }
    return MVAE_OK;
}

void mvae_impartial_set_bind(mvae_model *m) {
    struct mvae_impartial_set *set = m->impartial;
    for (int i = 0; set && i < set->n; i++)
        if (set->state[i]) mvae_impartial_bind_state(set->blk[i], set->state[i]->data);
}

void mvae_impartial_set_free(struct mvae_impartial_set *set) {
    if (!set) return;
    for (int i = 0; i < set->n; i++) mvae_impartial_free(set->blk[i]);
    free(set);
}

void mvae_impartial_set_reseed(const mvae_model *m, mvae_rng *rng) {
    if (!m->impartial) return;
    /* from a copy: the trainer's stream is not advanced, so a block changes no draw of the ELBO */
    mvae_rng peek = *rng;
    uint64_t x = mvae_rng_u64(&peek) ^ 0x6a09e667f3bcc909ull; /* a stream apart from the next draw */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;                 /* splitmix64's finaliser */
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    mvae_rng_seed(&m->impartial->rng, x ^ (x >> 31));
}

int mvae_impartial_set_branches(const mvae_model *m, mvae_ctx *ctx, uint32_t subset, uint32_t dec, mvae_tensor *z,
                                mvae_tensor **branch) {
    for (int k = 0; k < m->n_mod; k++) branch[k] = z;
    struct mvae_impartial_set *set = m->impartial;
    if (!set || !z) return MVAE_OK;
    for (int i = 0; i < set->n; i++) {
        if (set->subset[i] != subset) continue;
        if (set->dec[i] != dec) {
            mvae_ctx_fail(ctx, "train.impartial: the term %#x decodes %#x, its block was made for %#x", subset, dec,
                          set->dec[i]);
            return MVAE_ERR_INVALID;
        }
        mvae_tensor **zk = mvae_impartial_fanout(ctx, set->blk[i], z);
        if (!zk) return MVAE_ERR_INVALID;
        int b = 0;
        for (int k = 0; k < m->n_mod; k++)
            if (dec & (1u << k)) branch[k] = zk[b++];
        return MVAE_OK;
    }
    return MVAE_OK; /* a term with one branch */
}

int mvae_impartial_set_stats_json(const mvae_model *m, char *buf, size_t len) {
    struct mvae_impartial_set *set = m->impartial;
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; set && i < set->n && off + 1 < len; i++) {
        mvae_impartial_stats st;
        mvae_impartial_stats_get(set->blk[i], &st);
        if (!st.calls) continue;
        const char *names[MVAE_IMPARTIAL_MAX_K];
        int b = 0;
        for (int k = 0; k < m->n_mod; k++)
            if (set->dec[i] & (1u << k)) names[b++] = m->mod[k].info.name;
        char sub[256], prefix[300];
        mvae_model_subset_name(m, set->subset[i], sub, sizeof sub);
        snprintf(prefix, sizeof prefix, "impartial.%s.", sub);
        if (off) off += (size_t)snprintf(buf + off, len - off, ", ");
        if (off + 1 < len) off += (size_t)mvae_impartial_stats_json(&st, prefix, names, buf + off, len - off);
        mvae_impartial_stats_reset(set->blk[i]);
    }
    if (off >= len) off = len - 1;
    return (int)off;
}
