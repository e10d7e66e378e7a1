/* objective_impartial.c — `train.impartial`: impartiality blocks (mvae/impartial.h) on the latent
 * sample of every objective term (Javaloy, Meghdadi & Valera 2022). The term's z fans out into
 * one branch per modality the term decodes; each modality's decoder and likelihood read their own
 * branch, the KL reads z itself, and the block combines the modality gradients at z with the
 * chosen method in the one backward pass. For a mixture (fusion moe, mopoe) each component's
 * draws get their own block, as in the reference.
 *
 * decoder_params: for a mixture term, modality k's generative parameters (its decoder, likelihood
 * or flow: every parameter "<k>." but not "<k>.enc.", one range of the store) fan out into one
 * branch per component; the term's draws of component c are decoded on their own with branch c
 * standing in for the parameters (mvae_ctx_substitute), and the block combines the components'
 * parameter gradients (the reference's MOOModule).
 *
 * Blocks are made when the model is built, for every non-empty subset of the modalities with an
 * encoder (so random subsets find theirs too). A block's state (GradNorm's weights, GradVac's
 * targets, NSGD's first norms) lives in a buffer of the parameter store,
 * "impartial.<subset>.state" / "impartial.<subset>.dec.<k>.state", so checkpoints carry it and
 * resume continues it. The methods that draw (pcgrad, gradvac, graddrop) use the set's own rng,
 * reseeded at every step from the trainer's rng state (without advancing it), so a resumed run
 * draws the same and a block changes none of the ELBO's draws. */
#include "mvae/impartial.h"
#include "mvae/modeltype.h"
#include "mvae/nn.h"
#include "mvae/train.h"

#include <stdlib.h>
#include <string.h>

#define IMP_MAX_COMP 64 /* mixture components of one term (mopoe: 2^6 - 1) */

/* The blocks of one tensor of one term, their states end to end in one buffer of the parameter
 * store: on z, one block per mixture component (one in all for a fusion with one component per
 * term), K = the modalities decoded; on a modality's parameters, one block, K = the components. */
typedef struct imp_group {
    int C;                /* blocks; 0 = none */
    mvae_impartial **blk; /* [C] */
    mvae_tensor *state;   /* C * state_size floats in the parameter store, or NULL */
} imp_group;

struct mvae_impartial_set {
    int n;
    uint32_t subset[MVAE_MAX_SUBSET_ROWS]; /* the term's modalities (given to q) */
    uint32_t dec[MVAE_MAX_SUBSET_ROWS];    /* the modalities it decodes: the branches, in index order */
    imp_group z[MVAE_MAX_SUBSET_ROWS];     /* blocks on the term's latent sample, per component */
    /* decoder_params: modality k's generative parameters, shared by the term's C components:
     * one block with C branches (the components) per term with C > 1 and decoded modality */
    imp_group par[MVAE_MAX_SUBSET_ROWS][MVAE_MAX_MODALITIES];
    char comp[MVAE_MAX_SUBSET_ROWS][IMP_MAX_COMP][64]; /* component names for the diagnostics */
    int p_first[MVAE_MAX_MODALITIES], p_count[MVAE_MAX_MODALITIES]; /* entries of modality k's parameters */
    int64_t p_off[MVAE_MAX_MODALITIES], p_n[MVAE_MAX_MODALITIES];   /* their range in the store, floats */
    mvae_rng rng;
};

/* The modalities a term of subset s decodes (as the mvae objective decodes them). */
static uint32_t term_decodes(const mvae_model *m, uint32_t s, bool cross_reconstruct) {
    uint32_t all = (1u << m->n_mod) - 1;
    return (cross_reconstruct && __builtin_popcount(s) == 1 ? all : s) | m->decoder_only;
}

/* The branches of a term's block on z: the modalities it decodes, less those of weight 0 (a
 * probed, never-trained decoder-only modality gives z no gradient; as a branch it would only make
 * the equalising methods degenerate). Those read z itself. */
static uint32_t block_branches(const mvae_model *m, uint32_t dec) {
    for (int k = 0; k < m->n_mod; k++)
        if (m->mod[k].weight == 0) dec &= ~(1u << k);
    return dec;
}

/* The mixture components of a term of subset s, by the fusion's rule (fusion/moe: one per
 * modality of s; fusion/mopoe: one per non-empty subset of s, in binary order), named into
 * names; 1 (the whole posterior) for any other fusion. */
static int term_components(const mvae_model *m, uint32_t s, char names[][64]) {
    const char *fu = m->fusion_desc ? m->fusion_desc->name : "";
    int idx[MVAE_MAX_MODALITIES], M = 0;
    for (int k = 0; k < m->n_mod; k++)
        if (s & (1u << k)) idx[M++] = k;
    if (strcmp(fu, "moe") == 0) {
        for (int c = 0; c < M; c++) snprintf(names[c], 64, "%s", m->mod[idx[c]].info.name);
        return M;
    }
    if (strcmp(fu, "mopoe") == 0 && M <= 6) {
        int C = (1 << M) - 1;
        for (int c = 0; c < C; c++) {
            size_t o = 0;
            names[c][0] = '\0';
            for (int j = 0; j < M; j++)
                if ((c + 1) & (1 << j))
                    o += (size_t)snprintf(names[c] + o, o < 64 ? 64 - o : 0, "%s%s", o ? "+" : "",
                                          m->mod[idx[j]].info.name);
        }
        return C;
    }
    return 1;
}

static int group_new(mvae_model *m, const mvae_cfg_node *sec, struct mvae_impartial_set *set, imp_group *g, int C,
                     int K, const char *state_name, mvae_error *err) {
    char where[256];
    g->blk = calloc((size_t)C, sizeof *g->blk);
    if (!g->blk) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    g->C = C;
    for (int c = 0; c < C; c++) {
        int rc = mvae_impartial_new_cfg(sec, K, &set->rng, &g->blk[c], err);
        if (rc) {
            mvae_error_prefix(err, "%s: train.impartial", mvae_cfg_where(sec, where, sizeof where));
            return rc;
        }
    }
    size_t ns = mvae_impartial_state_size(g->blk[0]);
    if (ns) {
        g->state = mvae_params_add_buffer(m->params, state_name, 1, (int64_t[]){(int64_t)(ns * (size_t)C)}, 0.0f, err);
        if (!g->state) return err->status ? err->status : MVAE_ERR_INVALID;
    }
    return MVAE_OK;
}

/* Modality k's generative parameters (every parameter named "<k>." but not "<k>.enc."): the
 * entries [first, first + count) of the store, one range of floats. */
static int find_params(const mvae_model *m, int k, struct mvae_impartial_set *set, mvae_error *err) {
    const mvae_params *ps = m->params;
    char pre[80], enc[84];
    snprintf(pre, sizeof pre, "%s.", m->mod[k].info.name);
    snprintf(enc, sizeof enc, "%s.enc.", m->mod[k].info.name);
    size_t lp = strlen(pre), le = strlen(enc);
    int first = -1, last = -1;
    for (int e = 0; e < ps->count; e++) {
        const mvae_param_entry *pe = &ps->entries[e];
        bool mine = strncmp(pe->name, pre, lp) == 0 && strncmp(pe->name, enc, le) != 0;
        if (!mine) continue;
        if (first >= 0 && last != e - 1 && !ps->entries[e - 1].buffer)
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "train.impartial.decoder_params: modality '%s''s parameters are not declared one after "
                                  "the other (entry '%s'); a decoder-parameter block needs them in one range",
                                  m->mod[k].info.name, pe->name);
        if (first < 0) first = e;
        last = e;
    }
    set->p_first[k] = first;
    set->p_count[k] = first < 0 ? 0 : last - first + 1;
    if (first >= 0) {
        set->p_off[k] = (int64_t)ps->entries[first].offset;
        set->p_n[k] = (int64_t)ps->entries[last].offset + ps->entries[last].t->n - set->p_off[k];
    }
    return MVAE_OK;
}

int mvae_impartial_set_declare(mvae_model *m, mvae_error *err) {
    m->impartial = NULL;
    mvae_cfg_node *root = mvae_cfg_root(m->cfg), *sec = mvae_cfg_path(root, "train.impartial");
    const char *method = "none";
    if (!sec || mvae_cfg_string_or(sec, "method", "none", &method, err)) return sec ? err->status : MVAE_OK;
    bool dparams = false;
    if (mvae_cfg_bool_or(sec, "decoder_params", false, &dparams, err)) return err->status;
    /* method none: the plain sum, no block at all -- except with decoder_params, where the
     * parameter blocks are made (each component decoded on its own, summed: for checks) */
    const bool zblocks = strcmp(method, "none") != 0;
    if (!zblocks && !dparams) return MVAE_OK;
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
    const mvae_cfg_node *dpn = mvae_cfg_get(sec, "decoder_params");
    if (dparams) {
        const char *est = "iwae";
        mvae_cfg_node *o = mvae_cfg_path(root, "train.objective");
        if (o && mvae_cfg_string_or(o, "estimator", "iwae", &est, err)) return err->status;
        int64_t iw = 1;
        if (o && mvae_cfg_int_or(o, "iw_samples", 1, &iw, err)) return err->status;
        if (strcmp(est, "dreg") == 0 && iw > 1)
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "%s: train.impartial.decoder_params: not with train.objective.estimator: dreg (its "
                                  "decoder gradient takes another path); use the iwae estimator or remove decoder_params",
                                  mvae_cfg_where(dpn, where, sizeof where));
        char nm[IMP_MAX_COMP][64];
        if (term_components(m, enc, nm) < 2)
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "%s: train.impartial.decoder_params: fusion '%s' has one component per term, so no "
                                  "decoder is shared across mixture components; use fusion moe or mopoe, or remove "
                                  "decoder_params",
                                  mvae_cfg_where(dpn, where, sizeof where), m->fusion_desc->name);
    }
    struct mvae_impartial_set *set = calloc(1, sizeof *set);
    if (!set) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    m->impartial = set;
    for (int k = 0; dparams && k < m->n_mod; k++)
        if (find_params(m, k, set, err)) return err->status;
    for (uint32_t s = 1; s <= enc; s++) {
        if (s & ~enc) continue;
        uint32_t dec = term_decodes(m, s, cross);
        int K = __builtin_popcount(block_branches(m, dec));
        int i = set->n;
        int C = term_components(m, s, set->comp[i]);
        if (!(zblocks && K >= 2) && !(dparams && C > 1)) continue; /* nothing to balance */
        set->subset[i] = s;
        set->dec[i] = dec;
        set->n++;
        char name[160], sub[256];
        mvae_model_subset_name(m, s, sub, sizeof sub);
        for (char *c = sub; *c; c++)
            if (*c == ',') *c = '+';
        if (zblocks && K >= 2) {
            snprintf(name, sizeof name, "impartial.%.60s.state", sub);
            int rc = group_new(m, sec, set, &set->z[i], C, K, name, err);
            if (rc) return rc;
        }
        for (int k = 0; dparams && C > 1 && k < m->n_mod; k++) {
            if (!(dec & (1u << k)) || !set->p_count[k]) continue;
            snprintf(name, sizeof name, "impartial.%.60s.dec.%.40s.state", sub, m->mod[k].info.name);
            int rc = group_new(m, sec, set, &set->par[i][k], 1, C, name, err);
            if (rc) return rc;
        }
    }
    return MVAE_OK;
}

static void group_bind(imp_group *g) {
    if (!g->state) return;
    size_t ns = mvae_impartial_state_size(g->blk[0]);
    for (int c = 0; c < g->C; c++) mvae_impartial_bind_state(g->blk[c], g->state->data + (size_t)c * ns);
}

void mvae_impartial_set_bind(mvae_model *m) {
    struct mvae_impartial_set *set = m->impartial;
    for (int i = 0; set && i < set->n; i++) {
        group_bind(&set->z[i]);
        for (int k = 0; k < MVAE_MAX_MODALITIES; k++) group_bind(&set->par[i][k]);
    }
}

static void group_free(imp_group *g) {
    for (int c = 0; c < g->C; c++) mvae_impartial_free(g->blk[c]);
    free(g->blk);
}

void mvae_impartial_set_free(struct mvae_impartial_set *set) {
    if (!set) return;
    for (int i = 0; i < set->n; i++) {
        group_free(&set->z[i]);
        for (int k = 0; k < MVAE_MAX_MODALITIES; k++) group_free(&set->par[i][k]);
    }
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

static int find_term(const struct mvae_impartial_set *set, uint32_t subset) {
    for (int i = 0; set && i < set->n; i++)
        if (set->subset[i] == subset) return i;
    return -1;
}

int mvae_impartial_set_branches(const mvae_model *m, mvae_ctx *ctx, uint32_t subset, uint32_t dec, mvae_tensor *z,
                                int n_comp, mvae_tensor **branch) {
    for (int k = 0; k < m->n_mod; k++) branch[k] = z;
    struct mvae_impartial_set *set = m->impartial;
    int i = find_term(set, subset);
    if (i < 0 || !z || !set->z[i].C) return MVAE_OK; /* no block, or a term with one branch */
    if (set->dec[i] != dec) {
        mvae_ctx_fail(ctx, "train.impartial: the term %#x decodes %#x, its block was made for %#x", subset, dec,
                      set->dec[i]);
        return MVAE_ERR_INVALID;
    }
    const imp_group *g = &set->z[i];
    /* one block per mixture component: z's rows are the components' draws, component by component
     * (a batch without some modality has fewer components: then one block over all of z) */
    int C = g->C == n_comp && z->shape[0] % n_comp == 0 ? g->C : 1;
    int64_t rc = z->shape[0] / C;
    mvae_tensor *parts[MVAE_MAX_MODALITIES][IMP_MAX_COMP];
    int K = mvae_impartial_k(g->blk[0]);
    for (int c = 0; c < C; c++) {
        mvae_tensor *zc = C == 1 ? z : mvae_slice(ctx, z, 0, c * rc, (c + 1) * rc);
        mvae_tensor **zk = zc ? mvae_impartial_fanout(ctx, g->blk[c], zc) : NULL;
        if (!zk) return MVAE_ERR_INVALID;
        for (int b = 0; b < K; b++) parts[b][c] = zk[b];
    }
    int b = 0;
    const uint32_t bb = block_branches(m, dec);
    for (int k = 0; k < m->n_mod; k++)
        if (bb & (1u << k)) {
            branch[k] = mvae_concat_list(ctx, C, parts[b++], 0);
            if (!branch[k]) return MVAE_ERR_INVALID;
        }
    return MVAE_OK;
}

/* The block on modality k's parameters for a term of subset s, or NULL. */
static mvae_impartial *param_block(const struct mvae_impartial_set *set, uint32_t subset, int k) {
    int i = find_term(set, subset);
    return i >= 0 && set->par[i][k].C ? set->par[i][k].blk[0] : NULL;
}

bool mvae_impartial_set_has_decoder_block(const mvae_model *m, uint32_t subset, int k) {
    return param_block(m->impartial, subset, k) != NULL;
}

mvae_tensor *mvae_impartial_set_logp(const mvae_model *m, mvae_ctx *ctx, uint32_t subset, int k, mvae_tensor *z,
                                     int n_comp, mvae_tensor *x, mvae_rng *rng) {
    const struct mvae_impartial_set *set = m->impartial;
    mvae_impartial *blk = param_block(set, subset, k);
    int C = blk ? mvae_impartial_k(blk) : 0;
    /* (a batch without some modality has fewer components: then no block) */
    if (C < 2 || C != n_comp || !z || z->shape[0] % C || !mvae_ctx_grad_enabled(ctx))
        return mvae_model_logp(m, ctx, k, z, x, rng);
    /* P: the modality's parameters as one leaf over their range of the store, with the store's
     * gradient; while component c's draws are decoded, branch c of P's block stands in for them */
    mvae_params *ps = m->params;
    int64_t off = set->p_off[k], n = set->p_n[k];
    mvae_tensor *P = mvae_tensor_wrap(ctx, 1, (int64_t[]){n}, ps->data + off);
    int np = set->p_count[k];
    mvae_tensor **from = mvae_ctx_alloc(ctx, (size_t)np * sizeof *from);
    mvae_tensor **to = mvae_ctx_alloc(ctx, (size_t)np * sizeof *to);
    if (!P || !from || !to) return NULL;
    P->grad = ps->grad + off;
    P->flags |= MVAE_T_PARAM | MVAE_T_NEEDS_GRAD;
    for (int j = 0; j < np; j++) {
        from[j] = ps->entries[set->p_first[k] + j].t;
        /* the block adds into the store's gradient: the next writer of these parameters' gradients
         * must add too (mvae_grad clears their "known zero" flag, MVAE_T_GRAD_ZERO) */
        if (mvae_needs_grad(from[j])) mvae_grad(ctx, from[j]);
    }
    mvae_tensor **br = mvae_impartial_fanout(ctx, blk, P);
    if (!br) return NULL;
    int64_t rows = z->shape[0] / C;
    mvae_tensor *lp[IMP_MAX_COMP];
    for (int c = 0; c < C; c++) {
        for (int j = 0; j < np; j++) {
            const mvae_param_entry *pe = &ps->entries[set->p_first[k] + j];
            int64_t o = (int64_t)pe->offset - off;
            to[j] = pe->buffer ? from[j]
                               : mvae_reshape(ctx, mvae_slice(ctx, br[c], 0, o, o + pe->t->n), pe->t->ndim, pe->t->shape);
            if (!to[j]) return NULL;
        }
        mvae_tensor *zc = mvae_slice(ctx, z, 0, c * rows, (c + 1) * rows);
        mvae_ctx_substitute(ctx, np, from, to);
        lp[c] = zc ? mvae_model_logp(m, ctx, k, zc, x, rng) : NULL;
        mvae_ctx_substitute(ctx, 0, NULL, NULL);
        if (!lp[c]) return NULL;
    }
    return mvae_concat_list(ctx, C, lp, 0);
}

/* One block's diagnostics as JSON members after `off` bytes of buf; resets them. */
static size_t block_json(mvae_impartial *blk, const char *prefix, const char *const *names, char *buf, size_t len,
                         size_t off) {
    mvae_impartial_stats st;
    mvae_impartial_stats_get(blk, &st);
    if (!st.calls || off + 1 >= len) return off;
    if (off) off += (size_t)snprintf(buf + off, len - off, ", ");
    if (off + 1 < len) off += (size_t)mvae_impartial_stats_json(&st, prefix, names, buf + off, len - off);
    mvae_impartial_stats_reset(blk);
    return off;
}

int mvae_impartial_set_stats_json(const mvae_model *m, char *buf, size_t len) {
    struct mvae_impartial_set *set = m->impartial;
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; set && i < set->n && off + 1 < len; i++) {
        const char *names[MVAE_IMPARTIAL_MAX_K > IMP_MAX_COMP ? MVAE_IMPARTIAL_MAX_K : IMP_MAX_COMP];
        int b = 0;
        for (int k = 0; k < m->n_mod; k++)
            if (block_branches(m, set->dec[i]) & (1u << k)) names[b++] = m->mod[k].info.name;
        char sub[256], prefix[400];
        mvae_model_subset_name(m, set->subset[i], sub, sizeof sub);
        const imp_group *g = &set->z[i];
        for (int c = 0; c < g->C; c++) { /* "impartial.<term>." or, per component, "impartial.<term>[<component>]." */
            if (g->C == 1) snprintf(prefix, sizeof prefix, "impartial.%s.", sub);
            else snprintf(prefix, sizeof prefix, "impartial.%s[%s].", sub, set->comp[i][c]);
            off = block_json(g->blk[c], prefix, names, buf, len, off);
        }
        const char *cn[IMP_MAX_COMP];
        for (int c = 0; c < IMP_MAX_COMP; c++) cn[c] = set->comp[i][c];
        for (int k = 0; k < m->n_mod; k++) /* "impartial.<term>.dec.<modality>.", branches = components */
            if (set->par[i][k].C) {
                snprintf(prefix, sizeof prefix, "impartial.%s.dec.%s.", sub, m->mod[k].info.name);
                off = block_json(set->par[i][k].blk[0], prefix, cn, buf, len, off);
            }
    }
    if (off >= len) off = len - 1;
    return (int)off;
}

double mvae_impartial_set_seconds(const mvae_model *m, int *blocks, int64_t *calls) {
    const struct mvae_impartial_set *set = m->impartial;
    double sec = 0;
    int nb = 0;
    int64_t nc = 0;
    for (int i = 0; set && i < set->n; i++)
        for (int k = -1; k < m->n_mod; k++) {
            const imp_group *g = k < 0 ? &set->z[i] : &set->par[i][k];
            for (int c = 0; c < g->C; c++) {
                mvae_impartial_stats st;
                mvae_impartial_stats_get(g->blk[c], &st);
                sec += st.seconds, nc += st.calls, nb++;
            }
        }
    if (blocks) *blocks = nb;
    if (calls) *calls = nc;
    return sec;
}
