/* model.c — experiment schema, model construction from YAML, batches, encode/fuse/decode. */
#include "mvae/model.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- schema */
static const mvae_option modality_schema[] = {
    {"encoder", MVAE_OPT_ANY, NULL, "expert: {plugin: NAME, ...plugin options}", NULL, true, NULL},
    {"decoder", MVAE_OPT_ANY, NULL, "decoder: {plugin: NAME, ...plugin options}", NULL, true, NULL},
    {"likelihood", MVAE_OPT_STRING, NULL,
     "bernoulli | gaussian | laplace | categorical (default by modality type)", NULL, false,
     mvae_likelihood_names},
    {"likelihood_scale", MVAE_OPT_FLOAT, "1.0", "standard deviation (gaussian) or scale (laplace)", NULL, false, NULL},
    {"weight", MVAE_OPT_FLOAT, "1.0", "lambda_m: weight of this modality's log-likelihood", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option adam_schema[] = {
    {"lr", MVAE_OPT_FLOAT, "1.0e-3", "learning rate", NULL, false, NULL},
    {"beta1", MVAE_OPT_FLOAT, "0.9", "first-moment decay", NULL, false, NULL},
    {"beta2", MVAE_OPT_FLOAT, "0.999", "second-moment decay", NULL, false, NULL},
    {"eps", MVAE_OPT_FLOAT, "1.0e-8", "denominator epsilon", NULL, false, NULL},
    {"weight_decay", MVAE_OPT_FLOAT, "0.0", "L2 weight decay", NULL, false, NULL},
    {"decoupled", MVAE_OPT_BOOL, "false", "AdamW-style decoupled weight decay", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option sgd_schema[] = {
    {"lr", MVAE_OPT_FLOAT, "0.01", "learning rate", NULL, false, NULL},
    {"momentum", MVAE_OPT_FLOAT, "0.9", "momentum", NULL, false, NULL},
    {"weight_decay", MVAE_OPT_FLOAT, "0.0", "L2 weight decay", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option optimizer_schema[] = {
    {"adam", MVAE_OPT_MAP, NULL, "Adam (Kingma & Ba 2015)", adam_schema, false, NULL},
    {"sgd", MVAE_OPT_MAP, NULL, "SGD with momentum", sgd_schema, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option objective_schema[] = {
    {"joint", MVAE_OPT_BOOL, "true", "ELBO of all modalities together", NULL, false, NULL},
    {"unimodal", MVAE_OPT_BOOL, "true", "ELBO of each modality alone", NULL, false, NULL},
    {"random_subsets", MVAE_OPT_INT, "0", "k random subsets per batch (Wu & Goodman 2018)", NULL, false, NULL},
    {"cross_reconstruct", MVAE_OPT_BOOL, "false",
     "unimodal terms also reconstruct the other present modalities", NULL, false, NULL},
    {"stack_decoders", MVAE_OPT_BOOL, "true",
     "decode all terms' z as one batch per modality (same result, larger GEMMs)", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const char *const progress_choices[] = {"auto", "bar", "lines", "none", NULL};
static const mvae_option train_schema[] = {
    {"epochs", MVAE_OPT_INT, "10", "passes over the training split", NULL, false, NULL},
    {"batch_size", MVAE_OPT_INT, "100", "samples per step", NULL, false, NULL},
    {"optimizer", MVAE_OPT_MAP, NULL, "{adam: {...}} or {sgd: {...}}", optimizer_schema, false, NULL},
    {"kl_anneal_epochs", MVAE_OPT_FLOAT, "0", "beta rises linearly per batch from 0 to `beta` over this many epochs (0 = off)", NULL, false, NULL},
    {"beta", MVAE_OPT_FLOAT, "1.0", "final KL weight", NULL, false, NULL},
    {"objective", MVAE_OPT_MAP, NULL, "terms of the sub-sampled ELBO", objective_schema, false, NULL},
    {"clip_grad_norm", MVAE_OPT_FLOAT, "0", "clip the global gradient norm (0 = off)", NULL, false, NULL},
    {"max_batches", MVAE_OPT_INT, "0", "limit batches per epoch (0 = the whole split)", NULL, false, NULL},
    {"threads", MVAE_OPT_INT, "0", "OpenBLAS threads (0 = OPENBLAS_NUM_THREADS or all cores)", NULL, false, NULL},
    {"valid_size", MVAE_OPT_INT, "0", "hold out this many training samples to pick the best checkpoint", NULL, false, NULL},
    {"progress", MVAE_OPT_STRING, "auto", "auto | bar | lines | none", NULL, false, progress_choices},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option loglik_schema[] = {
    {"samples", MVAE_OPT_INT, "1000", "importance samples K per test point", NULL, false, NULL},
    {"max_test", MVAE_OPT_INT, "0", "use the first N test samples (0 = the whole split)", NULL, false, NULL},
    {"terms", MVAE_OPT_STRING_LIST, "[]", "e.g. [image, \"image,label\", \"image|label\"] (empty = all modalities jointly)", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option accuracy_schema[] = {
    {"from", MVAE_OPT_STRING, "", "modality (or a,b) to infer z from (empty = every non-categorical)", NULL, false, NULL},
    {"predict", MVAE_OPT_STRING, "", "categorical modality to predict (empty = the first categorical)", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option bleu_schema[] = {
    {"max_test", MVAE_OPT_INT, "500", "translate the first N test samples per direction (0 = all)", NULL, false, NULL},
    {"beam", MVAE_OPT_INT, "1", "beam width (1 = greedy)", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
static const mvae_option eval_schema[] = {
    {"bleu", MVAE_OPT_MAP, NULL, "corpus BLEU-4 between every two text modalities (when there are two or more)", bleu_schema, false, NULL},
    {"batch_size", MVAE_OPT_INT, "100", "test samples per batch", NULL, false, NULL},
    {"log_likelihood", MVAE_OPT_MAP, NULL, "importance-sampled log-likelihoods", loglik_schema, false, NULL},
    {"accuracy", MVAE_OPT_MAP, NULL, "cross-modal prediction accuracy", accuracy_schema, false, NULL},
    {"pictures", MVAE_OPT_BOOL, "true", "write PNG grids into the run directory", NULL, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};
const mvae_option mvae_experiment_schema[] = {
    {"name", MVAE_OPT_STRING, "experiment", "experiment name (run directory name)", NULL, false, NULL},
    {"seed", MVAE_OPT_INT, "1", "seeds initialisation, shuffling, noise and pairing", NULL, false, NULL},
    {"dataset", MVAE_OPT_ANY, NULL, "{plugin: NAME, paired_fraction: F, ...plugin options}", NULL, true, NULL},
    {"latent_dim", MVAE_OPT_INT, "64", "size of z", NULL, false, NULL},
    {"modalities", MVAE_OPT_MAP_OF, NULL, "one entry per modality used", modality_schema, true, NULL},
    {"fusion", MVAE_OPT_ANY, "{plugin: poe}", "{plugin: NAME, ...}", NULL, false, NULL},
    {"train", MVAE_OPT_MAP, NULL, "training settings", train_schema, false, NULL},
    {"eval", MVAE_OPT_MAP, NULL, "evaluation settings", eval_schema, false, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL},
};

/* ------------------------------------------------------------------------- plugin sections */
/* Validate a `{plugin: NAME, ...}` section against that plugin's option table. */
static const mvae_plugin_desc *plugin_section(mvae_cfg *cfg, const mvae_registry *reg,
                                              mvae_cfg_node *sec, int kind, const char *context,
                                              const char *const *extra_ok, mvae_error *err) {
    char where[256];
    if (!sec || sec->kind != MVAE_CFG_MAP) {
        mvae_error_set(err, MVAE_ERR_INVALID,
                       "%s: '%s' must be a map like {plugin: NAME, ...}", sec ? mvae_cfg_where(sec, where, sizeof where) : mvae_cfg_filename(cfg), context);
        return NULL;
    }
    mvae_cfg_node *pn = mvae_cfg_get(sec, "plugin");
    const char *name = NULL;
    if (!pn) {
        mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s: missing key 'plugin' (which %s plugin? `mvae plugins` lists them)",
                       mvae_cfg_where(sec, where, sizeof where), context, mvae_plugin_kind_name(kind));
        return NULL;
    }
    if (mvae_cfg_get_string(pn, &name, err)) return NULL;
    const mvae_plugin_desc *d = mvae_registry_require(reg, kind, name, err);
    if (!d) {
        mvae_error_prefix(err, "%s: %s.plugin", mvae_cfg_where(pn, where, sizeof where), context);
        return NULL;
    }
    const char *extra[8] = {"plugin", NULL};
    for (int i = 0; extra_ok && extra_ok[i] && i < 6; i++) extra[i + 1] = extra_ok[i], extra[i + 2] = NULL;
    static const mvae_option none[] = {{NULL, 0, NULL, NULL, NULL, false, NULL}};
    if (mvae_cfg_validate(cfg, sec, d->options ? d->options : none, context, extra, err)) return NULL;
    return d;
}

static int validate_all(mvae_cfg *cfg, const mvae_registry *reg, const mvae_plugin_desc **ds,
                        const mvae_plugin_desc **fusion, mvae_error *err) {
    mvae_cfg_node *root = mvae_cfg_root(cfg);
    /* make the optional sections exist so their defaults are filled in and shown */
    mvae_cfg_node *train = mvae_cfg_get(root, "train");
    if (!train || train->kind == MVAE_CFG_MAP) {
        train = mvae_cfg_ensure_map(cfg, root, "train");
        mvae_cfg_ensure_map(cfg, train, "objective");
        mvae_cfg_node *opt = mvae_cfg_ensure_map(cfg, train, "optimizer");
        if (opt->kind == MVAE_CFG_MAP && !mvae_cfg_get(opt, "adam") && !mvae_cfg_get(opt, "sgd"))
            mvae_cfg_ensure_map(cfg, opt, "adam");
    }
    mvae_cfg_node *ev = mvae_cfg_get(root, "eval");
    if (!ev || ev->kind == MVAE_CFG_MAP) {
        ev = mvae_cfg_ensure_map(cfg, root, "eval");
        mvae_cfg_ensure_map(cfg, ev, "log_likelihood");
        mvae_cfg_ensure_map(cfg, ev, "accuracy");
    }
    if (mvae_cfg_validate(cfg, root, mvae_experiment_schema, "experiment", NULL, err)) return err->status;
    char where[256];
    mvae_cfg_node *opt = mvae_cfg_path(root, "train.optimizer");
    if (opt && mvae_cfg_get(opt, "adam") && mvae_cfg_get(opt, "sgd"))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.optimizer: give either adam or sgd, not both",
                              mvae_cfg_where(opt, where, sizeof where));
    static const char *const ds_extra[] = {"paired_fraction", "paired_only", NULL};
    *ds = plugin_section(cfg, reg, mvae_cfg_get(root, "dataset"), MVAE_PLUGIN_DATASET, "dataset", ds_extra, err);
    if (!*ds) return err->status ? err->status : MVAE_ERR_INVALID;
    double pf = 1.0;
    mvae_cfg_node *dsn = mvae_cfg_get(root, "dataset");
    if (mvae_cfg_float_or(dsn, "paired_fraction", 1.0, &pf, err)) return err->status;
    if (!(pf >= 0.0 && pf <= 1.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: dataset.paired_fraction must be in [0, 1], got %g",
                              mvae_cfg_where(mvae_cfg_get(dsn, "paired_fraction"), where, sizeof where), pf);
    bool po;
    if (mvae_cfg_bool_or(dsn, "paired_only", false, &po, err)) return err->status;
    mvae_cfg_node *mods = mvae_cfg_get(root, "modalities");
    if (mods->n_items < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: modalities: at least one modality is needed",
                              mvae_cfg_where(mods, where, sizeof where));
    if (mods->n_items > MVAE_MAX_MODALITIES)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: at most %d modalities", mvae_cfg_where(mods, where, sizeof where), MVAE_MAX_MODALITIES);
    for (int i = 0; i < mods->n_items; i++) {
        mvae_cfg_node *mn = mods->items[i];
        char ctxname[160];
        snprintf(ctxname, sizeof ctxname, "modalities.%s.encoder", mn->key);
        if (!plugin_section(cfg, reg, mvae_cfg_get(mn, "encoder"), MVAE_PLUGIN_ENCODER, ctxname, NULL, err))
            return err->status ? err->status : MVAE_ERR_INVALID;
        snprintf(ctxname, sizeof ctxname, "modalities.%s.decoder", mn->key);
        if (!plugin_section(cfg, reg, mvae_cfg_get(mn, "decoder"), MVAE_PLUGIN_DECODER, ctxname, NULL, err))
            return err->status ? err->status : MVAE_ERR_INVALID;
    }
    *fusion = plugin_section(cfg, reg, mvae_cfg_get(root, "fusion"), MVAE_PLUGIN_FUSION, "fusion", NULL, err);
    if (!*fusion) return err->status ? err->status : MVAE_ERR_INVALID;
    int64_t v;
    if (mvae_cfg_int_or(root, "latent_dim", 64, &v, err)) return err->status;
    if (v < 1 || v > 65536)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: latent_dim must be in 1..65536",
                              mvae_cfg_where(mvae_cfg_get(root, "latent_dim"), where, sizeof where));
    mvae_cfg_node *bs = mvae_cfg_path(root, "train.batch_size");
    if (bs && (mvae_cfg_get_int(bs, &v, err) || v < 1))
        return err->status ? err->status
                           : mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.batch_size must be >= 1",
                                            mvae_cfg_where(bs, where, sizeof where));
    return MVAE_OK;
}

int mvae_experiment_validate(mvae_cfg *cfg, const mvae_registry *reg, mvae_error *err) {
    const mvae_plugin_desc *ds, *fu;
    return validate_all(cfg, reg, &ds, &fu, err);
}

/* -------------------------------------------------------------------------------- building */
static int default_likelihood(int type) {
    switch (type) {
    case MVAE_MOD_CATEGORICAL:
    case MVAE_MOD_TOKENS: return MVAE_LIK_CATEGORICAL;
    case MVAE_MOD_REAL:
    case MVAE_MOD_AUDIO: return MVAE_LIK_GAUSSIAN;
    default: return MVAE_LIK_BERNOULLI;
    }
}

int mvae_model_build(mvae_cfg *cfg, const mvae_registry *reg, mvae_model **out, mvae_error *err) {
    *out = NULL;
    const mvae_plugin_desc *ds_desc, *fu_desc;
    int rc = validate_all(cfg, reg, &ds_desc, &fu_desc, err);
    if (rc) return rc;
    mvae_model *m = calloc(1, sizeof *m);
    if (!m) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    m->cfg = cfg;
    m->reg = reg;
    mvae_cfg_node *root = mvae_cfg_root(cfg);
    int64_t v;
    mvae_cfg_int_or(root, "latent_dim", 64, &v, err);
    m->latent_dim = (int)v;
    mvae_cfg_int_or(root, "seed", 1, &v, err);
    m->seed = (uint64_t)v;
    mvae_cfg_node *dsn = mvae_cfg_get(root, "dataset");
    mvae_cfg_float_or(dsn, "paired_fraction", 1.0, &m->paired_fraction, err);
    m->params = mvae_params_new();
    char where[256];

    /* dataset */
    const mvae_dataset_vtable *dv = ds_desc->vtable;
    m->ds_desc = ds_desc;
    if ((rc = dv->open(dsn, &m->ds, err))) {
        mvae_error_prefix(err, "dataset '%s'", ds_desc->name);
        goto fail;
    }
    m->n_ds_modalities = dv->n_modalities(m->ds);
    if (m->n_ds_modalities < 1 || m->n_ds_modalities > MVAE_MAX_MODALITIES) {
        rc = mvae_error_set(err, MVAE_ERR_PLUGIN, "dataset '%s' reports %d modalities", ds_desc->name, m->n_ds_modalities);
        goto fail;
    }

    /* modalities */
    mvae_cfg_node *mods = mvae_cfg_get(root, "modalities");
    for (int i = 0; i < mods->n_items; i++) {
        mvae_cfg_node *mn = mods->items[i];
        mvae_modality *md = &m->mod[i];
        md->ds_index = -1;
        const char *names[MVAE_MAX_MODALITIES + 1] = {0};
        for (int k = 0; k < m->n_ds_modalities; k++) {
            names[k] = dv->modality(m->ds, k)->name;
            if (strcmp(names[k], mn->key) == 0) md->ds_index = k;
        }
        if (md->ds_index < 0) {
            const char *near = mvae_nearest(mn->key, names, m->n_ds_modalities);
            char avail[512] = "";
            for (int k = 0; k < m->n_ds_modalities; k++)
                snprintf(avail + strlen(avail), sizeof avail - strlen(avail), "%s%s", k ? ", " : "", names[k]);
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "%s: modality '%s' is not provided by dataset '%s'%s%s%s; it provides: %s",
                                mvae_cfg_where(mn, where, sizeof where), mn->key, ds_desc->name,
                                near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", avail);
            goto fail;
        }
        md->info = *dv->modality(m->ds, md->ds_index);
        const char *lik = NULL;
        mvae_cfg_node *ln = mvae_cfg_get(mn, "likelihood");
        md->likelihood = default_likelihood(md->info.type);
        if (ln) {
            mvae_cfg_get_string(ln, &lik, err);
            if ((rc = mvae_likelihood_parse(lik, &md->likelihood, err))) goto fail;
        }
        if (md->likelihood == MVAE_LIK_CATEGORICAL && !mvae_modality_is_index(&md->info)) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: modality '%s' is %s data: the categorical likelihood needs class indices",
                                mvae_cfg_where(ln, where, sizeof where), mn->key, mvae_modality_type_name(md->info.type));
            goto fail;
        }
        if (md->likelihood != MVAE_LIK_CATEGORICAL && mvae_modality_is_index(&md->info)) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: modality '%s' holds class indices: use likelihood: categorical",
                                mvae_cfg_where(ln ? ln : mn, where, sizeof where), mn->key);
            goto fail;
        }
        double d;
        mvae_cfg_float_or(mn, "weight", 1.0, &d, err);
        md->weight = (float)d;
        mvae_cfg_float_or(mn, "likelihood_scale", 1.0, &d, err);
        md->lik_scale = (float)d;
        mvae_cfg_node *en = mvae_cfg_get(mn, "encoder"), *dn = mvae_cfg_get(mn, "decoder");
        const char *pn;
        mvae_cfg_get_string(mvae_cfg_get(en, "plugin"), &pn, err);
        md->enc_desc = mvae_registry_find(reg, MVAE_PLUGIN_ENCODER, pn);
        mvae_cfg_get_string(mvae_cfg_get(dn, "plugin"), &pn, err);
        md->dec_desc = mvae_registry_find(reg, MVAE_PLUGIN_DECODER, pn);
        char prefix[96];
        snprintf(prefix, sizeof prefix, "%s.enc", mn->key);
        mvae_module_args a = {en, &md->info, m->latent_dim, prefix, m->params};
        if ((rc = ((const mvae_encoder_vtable *)md->enc_desc->vtable)->create(&a, &md->enc, err))) {
            mvae_error_prefix(err, "%s: modalities.%s.encoder (%s)", mvae_cfg_where(en, where, sizeof where), mn->key, md->enc_desc->name);
            goto fail;
        }
        snprintf(prefix, sizeof prefix, "%s.dec", mn->key);
        a.opts = dn;
        a.prefix = prefix;
        int before = m->params->count;
        if ((rc = ((const mvae_decoder_vtable *)md->dec_desc->vtable)->create(&a, &md->dec, err))) {
            mvae_error_prefix(err, "%s: modalities.%s.decoder (%s)", mvae_cfg_where(dn, where, sizeof where), mn->key, md->dec_desc->name);
            goto fail;
        }
        for (int p = before; p < m->params->count; p++)
            if (m->params->entries[p].buffer) md->dec_has_batch_stats = true;
        m->n_mod = i + 1;
    }

    /* fusion */
    m->fusion_desc = fu_desc;
    if ((rc = ((const mvae_fusion_vtable *)fu_desc->vtable)->create(mvae_cfg_get(root, "fusion"), m->latent_dim, m->n_mod, &m->fusion, err))) {
        mvae_error_prefix(err, "fusion '%s'", fu_desc->name);
        goto fail;
    }
    mvae_rng init_rng;
    mvae_rng_seed(&init_rng, m->seed);
    if ((rc = mvae_params_finalize(m->params, &init_rng, err))) goto fail;
    *out = m;
    return MVAE_OK;
fail:
    mvae_model_free(m);
    return rc ? rc : MVAE_ERR_INVALID;
}

void mvae_model_free(mvae_model *m) {
    if (!m) return;
    for (int i = 0; i < MVAE_MAX_MODALITIES; i++) {
        mvae_modality *md = &m->mod[i];
        if (md->enc) ((const mvae_encoder_vtable *)md->enc_desc->vtable)->destroy(md->enc);
        if (md->dec) ((const mvae_decoder_vtable *)md->dec_desc->vtable)->destroy(md->dec);
    }
    if (m->fusion) ((const mvae_fusion_vtable *)m->fusion_desc->vtable)->destroy(m->fusion);
    if (m->ds) ((const mvae_dataset_vtable *)m->ds_desc->vtable)->close(m->ds);
    mvae_params_free(m->params);
    free(m);
}

int mvae_model_find(const mvae_model *m, const char *name) {
    for (int i = 0; i < m->n_mod; i++)
        if (strcmp(m->mod[i].info.name, name) == 0) return i;
    return -1;
}

int mvae_model_parse_subset(const mvae_model *m, const char *list, uint32_t *subset, mvae_error *err) {
    *subset = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    const char *names[MVAE_MAX_MODALITIES];
    for (int i = 0; i < m->n_mod; i++) names[i] = m->mod[i].info.name;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int k = mvae_model_find(m, tok);
        if (k < 0) {
            const char *near = mvae_nearest(tok, names, m->n_mod);
            return mvae_error_set(err, MVAE_ERR_INVALID, "unknown modality '%s' in '%s'%s%s%s", tok, list,
                                  near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        }
        *subset |= 1u << k;
    }
    if (!*subset) return mvae_error_set(err, MVAE_ERR_INVALID, "empty modality list '%s'", list);
    return MVAE_OK;
}

const char *mvae_model_subset_name(const mvae_model *m, uint32_t subset, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->n_mod && k < len; i++)
        if (subset & (1u << i)) k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? "," : "", m->mod[i].info.name);
    return buf;
}

/* ---------------------------------------------------------------------------------- batches */
int mvae_batch_init(mvae_batch *b, const mvae_model *m, int cap, mvae_error *err) {
    memset(b, 0, sizeof *b);
    b->cap = cap;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    for (int k = 0; k < m->n_ds_modalities; k++) {
        int64_t n = mvae_modality_numel(dv->modality(m->ds, k)) * cap;
        b->ds_bufs[k] = mvae_alloc_aligned((size_t)n * sizeof(float));
        if (!b->ds_bufs[k]) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory for a batch");
    }
    for (int k = 0; k < m->n_mod; k++) b->x[k] = b->ds_bufs[m->mod[k].ds_index];
    b->present = calloc((size_t)cap * (size_t)m->n_mod, 1);
    b->ds_present = calloc((size_t)cap * (size_t)m->n_ds_modalities, 1);
    if (!b->present || !b->ds_present) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory for a batch");
    return MVAE_OK;
}

void mvae_batch_free(mvae_batch *b) {
    for (int k = 0; k < MVAE_MAX_MODALITIES; k++) mvae_free_aligned(b->ds_bufs[k]);
    free(b->present);
    free(b->ds_present);
    memset(b, 0, sizeof *b);
}

int mvae_batch_fill(mvae_batch *b, const mvae_model *m, int split, const int64_t *idx, int n,
                    const uint8_t *paired, mvae_error *err) {
    MVAE_ASSERT(n <= b->cap);
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    memset(b->ds_present, 1, (size_t)n * (size_t)m->n_ds_modalities);
    int rc = dv->get_batch(m->ds, split, idx, n, b->ds_bufs, b->ds_present, err);
    if (rc) return rc;
    b->n = n;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->n_mod; k++) {
            uint8_t p = b->ds_present[i * m->n_ds_modalities + m->mod[k].ds_index];
            if (paired) p = p && paired[idx[i] * m->n_mod + k];
            b->present[i * m->n_mod + k] = p;
            if (!p) { /* absent data must not leak NaNs/garbage through masked arithmetic */
                int64_t e = mvae_modality_numel(&m->mod[k].info);
                memset(b->x[k] + i * e, 0, (size_t)e * sizeof(float));
            }
        }
    return MVAE_OK;
}

mvae_tensor *mvae_batch_tensor(mvae_ctx *ctx, const mvae_model *m, const mvae_batch *b, int k) {
    const mvae_modality_info *mi = &m->mod[k].info;
    int64_t shape[4] = {b->n, 1, 1, 1};
    for (int d = 0; d < mi->ndim; d++) shape[d + 1] = mi->shape[d];
    mvae_tensor *t = mvae_tensor_wrap(ctx, mi->ndim + 1, shape, b->x[k]);
    if (t && mvae_modality_is_index(mi)) t->dtype = MVAE_I32;
    return t;
}

/* ---------------------------------------------------------------------------------- inference */
int mvae_model_encode(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, uint32_t subset,
                      mvae_experts *out) {
    memset(out, 0, sizeof *out);
    out->B = b->n;
    for (int k = 0; k < m->n_mod; k++) {
        if (!(subset & (1u << k))) continue;
        int count = 0;
        for (int i = 0; i < b->n; i++) count += b->present[i * m->n_mod + k];
        if (!count) continue;
        const mvae_modality *md = &m->mod[k];
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k);
        int rc = ((const mvae_encoder_vtable *)md->enc_desc->vtable)->forward(md->enc, ctx, x, &out->mu[k], &out->logvar[k]);
        if (rc || !out->mu[k] || !out->logvar[k]) {
            if (!mvae_ctx_failed(ctx)) mvae_ctx_fail(ctx, "encoder '%s' of modality '%s' returned no output", md->enc_desc->name, md->info.name);
            return MVAE_ERR_INVALID;
        }
        if (count < b->n) {
            out->mask[k] = mvae_tensor_new(ctx, 2, (int64_t[]){b->n, 1});
            for (int i = 0; i < b->n; i++) out->mask[k]->data[i] = b->present[i * m->n_mod + k];
        }
    }
    return MVAE_OK;
}

int mvae_model_posterior(const mvae_model *m, mvae_ctx *ctx, const mvae_experts *e, uint32_t subset,
                         mvae_posterior *q, mvae_tensor **valid_out, int *any_valid) {
    mvae_tensor *mu[MVAE_MAX_MODALITIES] = {0}, *lv[MVAE_MAX_MODALITIES] = {0}, *mask[MVAE_MAX_MODALITIES] = {0};
    int64_t B = e->B;
    mvae_tensor *valid = mvae_tensor_zeros(ctx, 1, (int64_t[]){B});
    int n_valid = 0, n_exp = 0;
    for (int k = 0; k < m->n_mod; k++) {
        if (!(subset & (1u << k)) || !e->mu[k]) continue;
        mu[k] = e->mu[k];
        lv[k] = e->logvar[k];
        mask[k] = e->mask[k];
        n_exp++;
        for (int64_t i = 0; i < B; i++) valid->data[i] = (e->mask[k] ? e->mask[k]->data[i] : 1.0f) > 0 ? 1.0f : valid->data[i];
    }
    for (int64_t i = 0; i < B; i++) n_valid += valid->data[i] > 0;
    *any_valid = n_valid > 0;
    if (valid_out) *valid_out = valid;
    if (!n_exp || !n_valid) return MVAE_OK;
    int rc = ((const mvae_fusion_vtable *)m->fusion_desc->vtable)->fuse(m->fusion, ctx, m->n_mod, mu, lv, mask, q);
    if (!rc) q->valid = valid;
    return rc;
}

mvae_tensor *mvae_model_decode(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z) {
    const mvae_modality *md = &m->mod[k];
    return ((const mvae_decoder_vtable *)md->dec_desc->vtable)->forward(md->dec, ctx, z);
}

mvae_tensor *mvae_model_decode_target(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z,
                                      mvae_tensor *target) {
    const mvae_modality *md = &m->mod[k];
    mvae_tensor *(*ft)(void *, mvae_ctx *, mvae_tensor *, mvae_tensor *) =
        mvae_decoder_hook(md->dec_desc, forward_teacher);
    if (!target || !ft) return mvae_model_decode(m, ctx, k, z);
    return ft(md->dec, ctx, z, target);
}

mvae_tensor *mvae_tile_rows(mvae_ctx *ctx, const mvae_tensor *t, int k) {
    if (!t) return NULL;
    int64_t shape[4];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
    shape[0] *= k;
    mvae_tensor *o = t->dtype == MVAE_I32 ? mvae_tensor_new_i32(ctx, t->ndim, shape) : mvae_tensor_new(ctx, t->ndim, shape);
    if (!o) return NULL;
    for (int r = 0; r < k; r++) memcpy(o->data + (size_t)r * (size_t)t->n, t->data, (size_t)t->n * 4);
    return o;
}

void mvae_experts_tile(mvae_ctx *ctx, const mvae_model *m, const mvae_experts *e, int k, mvae_experts *out) {
    memset(out, 0, sizeof *out);
    out->B = e->B * k;
    for (int j = 0; j < m->n_mod; j++) {
        out->mu[j] = mvae_tile_rows(ctx, e->mu[j], k);
        out->logvar[j] = mvae_tile_rows(ctx, e->logvar[j], k);
        out->mask[j] = mvae_tile_rows(ctx, e->mask[j], k);
    }
}

mvae_tensor *mvae_posterior_draw_weights(mvae_ctx *ctx, const mvae_posterior *q, int64_t B) {
    int S = q->n_draws > 1 ? q->n_draws : 1;
    mvae_tensor *w = mvae_tile_rows(ctx, q->valid, S);
    if (!w) return NULL;
    if (q->draw_weight) {
        for (int64_t i = 0; i < w->n; i++) w->data[i] *= q->draw_weight->data[i];
    } else if (S > 1) {
        for (int64_t i = 0; i < w->n; i++) w->data[i] /= (float)S;
    }
    (void)B;
    return w;
}
