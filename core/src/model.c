/* model.c — experiment schema, model construction from YAML, batches, encode/fuse/decode. */
#include "mvae/model.h"
#include "mvae/impartial.h"
#include "mvae/train.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- schema */
static const mvae_option modality_schema[] = {
    {"encoder", MVAE_OPT_ANY, NULL, "expert: {plugin: NAME, ...plugin options}, or none (decoder-only: decoded from z, never conditioned on)", NULL, true, NULL, NULL},
    {"model", MVAE_OPT_STRING, NULL, "vae (the default) | flow | gan: how p(x | z) is made (docs/model_types.md)", NULL, false, mvae_model_type_names, NULL},
    {"decoder", MVAE_OPT_ANY, NULL, "decoder: {plugin: NAME, ...plugin options} (model: vae; the generator of model: gan)", NULL, false, NULL, NULL},
    {"flow", MVAE_OPT_MAP, NULL, "the conditional flow p(x | z) (model: flow; docs/model_types.md)", mvae_flow_schema, false, NULL, NULL},
    {"gan", MVAE_OPT_MAP, NULL, "the discriminator and the adversarial losses (model: gan; docs/model_types.md)", mvae_gan_schema, false, NULL, NULL},
    {"likelihood", MVAE_OPT_STRING, NULL,
     "bernoulli | gaussian | laplace | categorical | continuous_bernoulli (default by modality type)", NULL, false,
     mvae_likelihood_names, NULL},
    {"likelihood_scale", MVAE_OPT_FLOAT, "1.0", "standard deviation (gaussian) or scale (laplace)", NULL, false, NULL, "(0, inf)"},
    {"weight", MVAE_OPT_FLOAT, "1.0", "lambda_m: weight of this modality's log-likelihood", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option adam_schema[] = {
    {"lr", MVAE_OPT_FLOAT, "1.0e-3", "learning rate", NULL, false, NULL, "(0, inf)"},
    {"beta1", MVAE_OPT_FLOAT, "0.9", "first-moment decay", NULL, false, NULL, "[0, 1)"},
    {"beta2", MVAE_OPT_FLOAT, "0.999", "second-moment decay", NULL, false, NULL, "[0, 1)"},
    {"eps", MVAE_OPT_FLOAT, "1.0e-8", "denominator epsilon", NULL, false, NULL, "(0, inf)"},
    {"weight_decay", MVAE_OPT_FLOAT, "0.0", "L2 weight decay", NULL, false, NULL, "[0, inf)"},
    {"decoupled", MVAE_OPT_BOOL, "false", "AdamW-style decoupled weight decay", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option sgd_schema[] = {
    {"lr", MVAE_OPT_FLOAT, "0.01", "learning rate", NULL, false, NULL, "(0, inf)"},
    {"momentum", MVAE_OPT_FLOAT, "0.9", "momentum", NULL, false, NULL, "[0, 1)"},
    {"weight_decay", MVAE_OPT_FLOAT, "0.0", "L2 weight decay", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option optimizer_schema[] = {
    {"adam", MVAE_OPT_MAP, NULL, "Adam (Kingma & Ba 2015)", adam_schema, false, NULL, NULL},
    {"sgd", MVAE_OPT_MAP, NULL, "SGD with momentum", sgd_schema, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const char *const estimator_choices[] = {"iwae", "dreg", NULL};
static const mvae_option objective_schema[] = {
    {"joint", MVAE_OPT_BOOL, "true", "ELBO of all modalities together", NULL, false, NULL, NULL},
    {"unimodal", MVAE_OPT_BOOL, "true", "ELBO of each modality alone", NULL, false, NULL, NULL},
    {"random_subsets", MVAE_OPT_INT, "0", "k random subsets per batch (Wu & Goodman 2018)", NULL, false, NULL, "[0, 32]"},
    {"all_subsets", MVAE_OPT_BOOL, "false", "a term for every non-empty subset of the modalities with an encoder (2^M - 1 terms)", NULL, false, NULL, NULL},
    {"cross_reconstruct", MVAE_OPT_BOOL, "false",
     "unimodal terms also reconstruct the other present modalities", NULL, false, NULL, NULL},
    {"iw_samples", MVAE_OPT_INT, "1",
     "K > 1: importance-weighted bound (IWAE) with K samples per term instead of the ELBO", NULL, false, NULL, "[1, 1024]"},
    {"estimator", MVAE_OPT_STRING, "iwae",
     "with iw_samples > 1: iwae (Burda et al. 2016) or dreg (Tucker et al. 2019) gradients", NULL, false, estimator_choices, NULL},
    {"stack_decoders", MVAE_OPT_BOOL, "true",
     "decode all terms' z as one batch per modality (same result, larger GEMMs)", NULL, false, NULL, NULL},
    {"supervised", MVAE_OPT_MAP, NULL, "{from: A, to: B}: instead of the ELBO, B's decoder on the mean of q(z | A), supervised (NN baseline)", mvae_objective_supervised_schema, false, NULL, NULL},
    {"jmvae", MVAE_OPT_MAP, NULL, "{alpha: 0.1}: instead of the sub-sampled sum, JMVAE-kl (docs/objectives.md)", mvae_objective_jmvae_schema, false, NULL, NULL},
    {"vaevae", MVAE_OPT_MAP, NULL, "{cond_kl: 1.0}: instead of the sub-sampled sum, VAEVAE (two modalities; docs/objectives.md)", mvae_objective_vaevae_schema, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const char *const progress_choices[] = {"auto", "bar", "lines", "none", NULL};
static const char *const dist_noise_choices[] = {"rank", "global", NULL}; /* docs/scaling.md */
static const char *const coherence_given_choices[] = {"others", "subsets", NULL}; /* docs/metrics.md */
static const mvae_option train_schema[] = {
    {"epochs", MVAE_OPT_INT, "10", "passes over the training split", NULL, false, NULL, "[1, 1000000]"},
    {"batch_size", MVAE_OPT_INT, "100", "samples per step", NULL, false, NULL, "[1, 1000000]"},
    {"optimizer", MVAE_OPT_MAP, NULL, "{adam: {...}} or {sgd: {...}}", optimizer_schema, false, NULL, NULL},
    {"kl_anneal_epochs", MVAE_OPT_FLOAT, "0", "beta rises linearly per batch from 0 to `beta` over this many epochs (0 = off)", NULL, false, NULL, "[0, 1000000]"},
    {"beta", MVAE_OPT_FLOAT, "1.0", "final KL weight", NULL, false, NULL, "[0, inf)"},
    {"objective", MVAE_OPT_MAP, NULL, "terms of the sub-sampled ELBO", objective_schema, false, NULL, NULL},
    {"clip_grad_norm", MVAE_OPT_FLOAT, "0", "clip the global gradient norm (0 = off)", NULL, false, NULL, "[0, inf)"},
    {"max_batches", MVAE_OPT_INT, "0", "limit batches per epoch (0 = the whole split)", NULL, false, NULL, "[0, inf)"},
    {"threads", MVAE_OPT_INT, "0", "threads (0 = automatic: with the OpenBLAS backend 1 unless OPENBLAS_NUM_THREADS is set)", NULL, false, NULL, "[0, 64]"},
    {"valid_size", MVAE_OPT_INT, "0", "hold out this many training samples to pick the best checkpoint", NULL, false, NULL, "[0, inf)"},
    {"progress", MVAE_OPT_STRING, "auto", "auto | bar | lines | none", NULL, false, progress_choices, NULL},
    {"dist_noise", MVAE_OPT_STRING, NULL, "with MPI ranks: rank (default: each rank its own noise stream) | global (every rank draws the global batch's noise and keeps its rows: the trajectory of one process)", NULL, false, dist_noise_choices, NULL},
    {"dist_bucket_mb", MVAE_OPT_FLOAT, "2", "with MPI ranks: all-reduce the gradients in buckets of this many MB, each started during backward once final (0 = one all-reduce after backward); docs/scaling.md", NULL, false, NULL, "[0, 1024]"},
    {"impartial", MVAE_OPT_MAP, NULL, "impartiality blocks on each term's z: {method: pcgrad, ...} (docs/impartial.md)", mvae_impartial_schema, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option loglik_schema[] = {
    {"samples", MVAE_OPT_INT, "1000", "importance samples K per test point", NULL, false, NULL, "[1, 1000000]"},
    {"max_test", MVAE_OPT_INT, "0", "use the first N test samples (0 = the whole split)", NULL, false, NULL, "[0, inf)"},
    {"terms", MVAE_OPT_STRING_LIST, "[]", "e.g. [image, \"image,label\", \"image|label\"] (empty = all modalities jointly)", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option accuracy_schema[] = {
    {"from", MVAE_OPT_STRING, "", "modality (or a,b) to infer z from (empty = every non-categorical)", NULL, false, NULL, NULL},
    {"predict", MVAE_OPT_STRING, "", "categorical modality to predict (empty = the first categorical)", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option coherence_schema[] = {
    {"enabled", MVAE_OPT_BOOL, "false", "coherence of images generated from the other modalities (trains a classifier once)", NULL, false, NULL, NULL},
    {"classifier", MVAE_OPT_ANY, "{plugin: conv_classifier}",
     "{plugin: NAME, epochs: 2, batch_size: 128, lr: 1.0e-3, max_train: 0, seed: 1, ...plugin options}", NULL, false, NULL, NULL},
    {"cache_dir", MVAE_OPT_STRING, "", "where trained classifiers are cached (empty = $MVAE_CACHE_DIR/classifiers or ~/.cache/mvae/classifiers)", NULL, false, NULL, NULL},
    {"max_test", MVAE_OPT_INT, "0", "use the first N test samples (0 = the whole split)", NULL, false, NULL, "[0, inf)"},
    {"frechet", MVAE_OPT_BOOL, "true", "Fréchet distance of generated images in the classifier's penultimate features (docs/metrics.md)", NULL, false, NULL, NULL},

    {"given", MVAE_OPT_STRING, "others", "others: each non-image modality alone and all of them -> each image; subsets: every non-empty subset of the modalities with an encoder -> each image or spectrogram modality outside it", NULL, false, coherence_given_choices, NULL},
    {"label", MVAE_OPT_STRING, "", "the categorical modality the classifiers predict (empty = every categorical modality)", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option probe_schema[] = {
    {"enabled", MVAE_OPT_BOOL, "true", "logistic regression on the mean of q(z | from) for each accuracy pair", NULL, false, NULL, NULL},
    {"max_train", MVAE_OPT_INT, "10000", "fit on the first N training samples (0 = all)", NULL, false, NULL, "[0, inf)"},
    {"iterations", MVAE_OPT_INT, "500", "at most this many L-BFGS iterations (full batch)", NULL, false, NULL, "[1, 1000000]"},
    {"l2", MVAE_OPT_FLOAT, "1.0e-4", "L2 penalty (l2/2) ||W||^2", NULL, false, NULL, "[0, inf)"},
    {"targets", MVAE_OPT_STRING_LIST, "[]", "more categorical (accuracy) or real (R^2 of a ridge regression) modalities to probe for, from the same modalities (e.g. style metadata: [meta_voice, meta_speed])", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option bleu_schema[] = {
    {"max_test", MVAE_OPT_INT, "500", "translate the first N test samples per direction (0 = all)", NULL, false, NULL, "[0, inf)"},
    {"beam", MVAE_OPT_INT, "1", "beam width (1 = greedy)", NULL, false, NULL, "[1, 64]"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_option eval_schema[] = {
    {"bleu", MVAE_OPT_MAP, NULL, "corpus BLEU-4 between every two text modalities (when there are two or more)", bleu_schema, false, NULL, NULL},
    {"batch_size", MVAE_OPT_INT, "100", "test samples per batch", NULL, false, NULL, "[1, 1000000]"},
    {"log_likelihood", MVAE_OPT_MAP, NULL, "importance-sampled log-likelihoods", loglik_schema, false, NULL, NULL},
    {"accuracy", MVAE_OPT_MAP, NULL, "cross-modal prediction accuracy", accuracy_schema, false, NULL, NULL},
    {"pictures", MVAE_OPT_BOOL, "true", "write PNG grids into the run directory", NULL, false, NULL, NULL},
    {"subsets", MVAE_OPT_BOOL, "false", "the given-subset table: -log p(x_k | mean q(z | x_S)) and accuracy for every subset S and modality k", NULL, false, NULL, NULL},
    {"coherence", MVAE_OPT_MAP, NULL, "coherence of conditional generation (docs/metrics.md)", coherence_schema, false, NULL, NULL},
    {"probe", MVAE_OPT_MAP, NULL, "linear probe of the latent space (docs/metrics.md)", probe_schema, false, NULL, NULL},
    {"cross", MVAE_OPT_ANY, "[]", "cross-modal generation metrics: [{from: A, to: B, metric: psnr|iou|f1|accuracy|mse}, ...]", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
const mvae_option mvae_experiment_schema[] = {
    {"name", MVAE_OPT_STRING, "experiment", "experiment name (run directory name)", NULL, false, NULL, NULL},
    {"seed", MVAE_OPT_INT, "1", "seeds initialisation, shuffling, noise and pairing", NULL, false, NULL, NULL},
    {"dataset", MVAE_OPT_ANY, NULL, "{plugin: NAME, paired_fraction: F, ...plugin options}", NULL, true, NULL, NULL},
    {"transforms", MVAE_OPT_ANY, NULL, "derived modalities: {NAME: {plugin: TRANSFORM, from: SOURCE, ...}}", NULL, false, NULL, NULL},
    {"latent_dim", MVAE_OPT_INT, "64", "size of z", NULL, false, NULL, "[1, 65536]"},
    {"modalities", MVAE_OPT_MAP_OF, NULL, "one entry per modality used", modality_schema, true, NULL, NULL},
    {"fusion", MVAE_OPT_ANY, "{plugin: poe}", "{plugin: NAME, ...}", NULL, false, NULL, NULL},
    {"train", MVAE_OPT_MAP, NULL, "training settings", train_schema, false, NULL, NULL},
    {"eval", MVAE_OPT_MAP, NULL, "evaluation settings", eval_schema, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
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
    static const mvae_option none[] = {{NULL, 0, NULL, NULL, NULL, false, NULL, NULL}};
    if (mvae_cfg_validate(cfg, sec, d->options ? d->options : none, context, extra, err)) return NULL;
    return d;
}

/* `encoder: none`: a decoder-only modality */
static bool encoder_is_none(const mvae_cfg_node *n) {
    return n && n->kind == MVAE_CFG_SCALAR && !n->quoted && n->value && strcmp(n->value, "none") == 0;
}

/* `model:` of modality section mn: an available row, and the keys that row uses (a vae needs a
 * decoder; a flow has none, and no likelihood). The data it can take is checked at build. */
static int check_model_type(mvae_cfg *cfg, const mvae_registry *reg, mvae_cfg_node *mn, mvae_error *err) {
    char where[256], ctxname[160];
    const char *name = "vae";
    mvae_cfg_node *tn = mvae_cfg_get(mn, "model");
    if (tn && mvae_cfg_get_string(tn, &name, err)) return err->status;
    const mvae_model_type *t = mvae_model_type_find(name);
    if (!t || t->unavailable)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: modalities.%s.model: '%s' is %s", mvae_cfg_where(tn ? tn : mn, where, sizeof where),
                              mn->key, name, t ? t->unavailable : "unknown; allowed: vae, flow, gan");
    for (const mvae_model_type *o = mvae_model_types; o->name; o++) {
        mvae_cfg_node *sec = o->section && o != t ? mvae_cfg_get(mn, o->section) : NULL;
        if (sec && strcmp(o->section, t->section) != 0 && !(t->uses_decoder && strcmp(o->section, "decoder") == 0))
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: modalities.%s.%s belongs to model: %s, but the modality is model: %s (%s takes %s); "
                                  "remove it or set model: %s", mvae_cfg_where(sec, where, sizeof where), mn->key, o->section,
                                  o->name, t->name, t->name, t->takes, o->name);
    }
    if (t->plugin_key) { /* a plugin inside the row's section (the gan's discriminator) */
        mvae_cfg_node *sec = mvae_cfg_get(mn, t->section);
        snprintf(ctxname, sizeof ctxname, "modalities.%s.%s", mn->key, t->section);
        if (!sec && (!(sec = mvae_cfg_ensure_map(cfg, mn, t->section)) ||
                     mvae_cfg_validate(cfg, sec, t->schema, ctxname, NULL, err)))
            return err->status ? err->status : MVAE_ERR_INVALID;
        snprintf(ctxname, sizeof ctxname, "modalities.%s.%s.%s", mn->key, t->section, t->plugin_key);
        if (!plugin_section(cfg, reg, mvae_cfg_get(sec, t->plugin_key), t->plugin_kind, ctxname, NULL, err))
            return err->status ? err->status : MVAE_ERR_INVALID;
    }
    if (strcmp(t->section, "decoder") == 0 || t->uses_decoder) {
        snprintf(ctxname, sizeof ctxname, "modalities.%s.decoder", mn->key);
        if (!mvae_cfg_get(mn, "decoder"))
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: modalities.%s: missing key 'decoder' (model: %s needs a decoder "
                                  "plugin%s; `mvae plugins` lists them)", mvae_cfg_where(mn, where, sizeof where), mn->key,
                                  t->name, t->uses_decoder ? " as its generator" : "");
        if (!plugin_section(cfg, reg, mvae_cfg_get(mn, "decoder"), MVAE_PLUGIN_DECODER, ctxname, NULL, err))
            return err->status ? err->status : MVAE_ERR_INVALID;
    }
    if (strcmp(t->section, "decoder") != 0) {
        static const char *const vae_only[] = {"likelihood", "likelihood_scale", NULL};
        for (int i = 0; vae_only[i]; i++) {
            mvae_cfg_node *n = mvae_cfg_get(mn, vae_only[i]);
            /* likelihood_scale's default (1.0) is filled in for every modality: only another value is an error */
            if (n && !(strcmp(vae_only[i], "likelihood_scale") == 0 && n->value && strtod(n->value, NULL) == 1.0))
                return mvae_error_set(err, MVAE_ERR_INVALID, "%s: modalities.%s.%s: a model: %s modality has no %s (its "
                                      "log p(x | z) is the %s's own); remove the key", mvae_cfg_where(n, where, sizeof where),
                                      mn->key, vae_only[i], t->name, vae_only[i], t->name);
        }
    }
    return MVAE_OK;
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
        /* NULL when the user wrote a scalar (`optimizer: adam`): validation below names it */
        if (opt && !mvae_cfg_get(opt, "adam") && !mvae_cfg_get(opt, "sgd"))
            mvae_cfg_ensure_map(cfg, opt, "adam");
    }
    mvae_cfg_node *ev = mvae_cfg_get(root, "eval");
    if (!ev || ev->kind == MVAE_CFG_MAP) {
        ev = mvae_cfg_ensure_map(cfg, root, "eval");
        mvae_cfg_ensure_map(cfg, ev, "log_likelihood");
        mvae_cfg_ensure_map(cfg, ev, "accuracy");
        mvae_cfg_ensure_map(cfg, ev, "coherence");
        mvae_cfg_ensure_map(cfg, ev, "probe");
    }
    if (mvae_cfg_validate(cfg, root, mvae_experiment_schema, "experiment", NULL, err)) return err->status;
    char where[256];
    mvae_cfg_node *imp = mvae_cfg_path(root, "train.impartial");
    if (imp && mvae_impartial_check_cfg(imp, err)) return err->status;
    /* the name becomes a directory name under runs/: one plain path component */
    const char *name = "";
    mvae_cfg_node *nn = mvae_cfg_get(root, "name");
    if (mvae_cfg_get_string(nn, &name, err)) return err->status;
    size_t nlen = strlen(name);
    bool name_ok = nlen >= 1 && nlen <= 100 && name[0] != '.' && name[0] != '-';
    for (size_t i = 0; name_ok && i < nlen; i++) {
        unsigned char c = (unsigned char)name[i];
        name_ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == '+' || c == '=' || c == ',';
    }
    if (!name_ok)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "%s: name: '%.60s' cannot name a run directory: use 1 to 100 of the characters "
                              "A-Z a-z 0-9 - _ . + = , not starting with '.' or '-' (choose where the run "
                              "goes with --out)",
                              mvae_cfg_where(nn, where, sizeof where), name);
    mvae_cfg_node *opt = mvae_cfg_path(root, "train.optimizer");
    if (opt && mvae_cfg_get(opt, "adam") && mvae_cfg_get(opt, "sgd"))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.optimizer: give either adam or sgd, not both",
                              mvae_cfg_where(opt, where, sizeof where));
    static const char *const ds_extra[] = {"paired_fraction", "paired_only", "paired_repeat", NULL};
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
    int64_t prep = 1;
    if (mvae_cfg_int_or(dsn, "paired_repeat", 1, &prep, err)) return err->status;
    if (prep < 1 || prep > 10000)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: dataset.paired_repeat must be in [1, 10000], got %lld",
                              mvae_cfg_where(mvae_cfg_get(dsn, "paired_repeat"), where, sizeof where), (long long)prep);
    if (prep > 1 && po)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "%s: dataset.paired_repeat has no effect with paired_only: true (every listed sample is "
                              "paired); remove one of them",
                              mvae_cfg_where(mvae_cfg_get(dsn, "paired_repeat"), where, sizeof where));
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
        if (!encoder_is_none(mvae_cfg_get(mn, "encoder")) &&
            !plugin_section(cfg, reg, mvae_cfg_get(mn, "encoder"), MVAE_PLUGIN_ENCODER, ctxname, NULL, err))
            return err->status ? err->status : MVAE_ERR_INVALID;
        if (check_model_type(cfg, reg, mn, err)) return err->status;
    }
    mvae_cfg_node *tfs = mvae_cfg_get(root, "transforms");
    if (tfs) {
        if (tfs->kind != MVAE_CFG_MAP)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: transforms must be a map {NAME: {plugin: TRANSFORM, from: SOURCE, ...}}",
                                  mvae_cfg_where(tfs, where, sizeof where));
        if (tfs->n_items > MVAE_MAX_TRANSFORMS)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: at most %d transforms", mvae_cfg_where(tfs, where, sizeof where), MVAE_MAX_TRANSFORMS);
        static const char *const tf_extra[] = {"from", NULL};
        for (int i = 0; i < tfs->n_items; i++) {
            mvae_cfg_node *tn = tfs->items[i];
            char ctxname[160];
            snprintf(ctxname, sizeof ctxname, "transforms.%s", tn->key);
            if (!plugin_section(cfg, reg, tn, MVAE_PLUGIN_TRANSFORM, ctxname, tf_extra, err))
                return err->status ? err->status : MVAE_ERR_INVALID;
            mvae_cfg_node *fn = mvae_cfg_get(tn, "from");
            const char *from;
            if (!fn)
                return mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s: missing key 'from' (the modality it is derived from)",
                                      mvae_cfg_where(tn, where, sizeof where), ctxname);
            if (mvae_cfg_get_string(fn, &from, err)) return err->status;
            if (strlen(tn->key) >= MVAE_NAME_MAX)
                return mvae_error_set(err, MVAE_ERR_INVALID, "%s: transform name '%s' is longer than %d characters",
                                      mvae_cfg_where(tn, where, sizeof where), tn->key, MVAE_NAME_MAX - 1);
        }
    }
    mvae_cfg_node *cross = mvae_cfg_path(root, "eval.cross");
    if (cross && !(cross->kind == MVAE_CFG_SEQ || (cross->kind == MVAE_CFG_SCALAR && cross->value && !cross->value[0])))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: eval.cross must be a list like [{from: gray, to: image, metric: psnr}]",
                              mvae_cfg_where(cross, where, sizeof where));
    for (int i = 0; cross && cross->kind == MVAE_CFG_SEQ && i < cross->n_items; i++) {
        static const char *const metrics[] = {"psnr", "iou", "f1", "accuracy", "mse", NULL};
        static const mvae_option cross_schema[] = {
            {"from", MVAE_OPT_STRING, NULL, "modality (or a,b) z is inferred from", NULL, true, NULL, NULL},
            {"to", MVAE_OPT_STRING, NULL, "modality decoded and scored", NULL, true, NULL, NULL},
            {"metric", MVAE_OPT_STRING, NULL, "psnr | iou | f1 | accuracy | mse", NULL, true, metrics, NULL},
            {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
        };
        mvae_cfg_node *it = cross->items[i];
        if (it->kind != MVAE_CFG_MAP)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: eval.cross items are maps {from: A, to: B, metric: M}",
                                  mvae_cfg_where(it, where, sizeof where));
        if (mvae_cfg_validate(cfg, it, cross_schema, "eval.cross", NULL, err)) return err->status;
    }
    *fusion = plugin_section(cfg, reg, mvae_cfg_get(root, "fusion"), MVAE_PLUGIN_FUSION, "fusion", NULL, err);
    if (!*fusion) return err->status ? err->status : MVAE_ERR_INVALID;
    /* the coherence classifier's plugin options, only when coherence is on (the classifier plugin
     * need not be installed otherwise) */
    bool coh = false;
    if (mvae_cfg_bool_or(mvae_cfg_path(root, "eval.coherence"), "enabled", false, &coh, err)) return err->status;
    if (coh) {
        static const char *const clf_extra[] = {"epochs", "batch_size", "lr", "max_train", "seed", NULL};
        if (!plugin_section(cfg, reg, mvae_cfg_path(root, "eval.coherence.classifier"), MVAE_PLUGIN_CLASSIFIER,
                            "eval.coherence.classifier", clf_extra, err))
            return err->status ? err->status : MVAE_ERR_INVALID;
    }
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
        /* "exp.yaml:4:3: dataset 'NAME': <the plugin's message>" like every other config error; a
         * message that already starts with a place in the experiment keeps that (finer) place */
        mvae_cfg_node *at = mvae_cfg_get(dsn, "plugin") ? mvae_cfg_get(dsn, "plugin") : dsn;
        mvae_cfg_where(at, where, sizeof where);
        size_t file_len = strcspn(where, ":");
        if (where[0] && !strncmp(err->msg, where, file_len + 1)) {
            char place[256];
            size_t pl = strcspn(err->msg + file_len + 1, " ") + file_len + 1; /* "exp.yaml:9:5:" */
            snprintf(place, sizeof place, "%.*s", (int)(pl - 1), err->msg);
            memmove(err->msg, err->msg + pl + (err->msg[pl] == ' '), strlen(err->msg + pl + (err->msg[pl] == ' ')) + 1);
            mvae_error_prefix(err, "%s: dataset '%s'", place, ds_desc->name);
        } else {
            mvae_error_prefix(err, "%s: dataset '%s'", where, ds_desc->name);
        }
        goto fail;
    }
    m->n_ds_modalities = dv->n_modalities(m->ds);
    if (m->n_ds_modalities < 1 || m->n_ds_modalities > MVAE_MAX_MODALITIES) {
        rc = mvae_error_set(err, MVAE_ERR_PLUGIN, "dataset '%s' reports %d modalities", ds_desc->name, m->n_ds_modalities);
        goto fail;
    }

    /* transforms: derived modalities, each from a dataset modality or an earlier transform */
    mvae_cfg_node *tfs = mvae_cfg_get(root, "transforms");
    for (int i = 0; tfs && i < tfs->n_items; i++) {
        mvae_cfg_node *tn = tfs->items[i];
        mvae_transform_inst *t = &m->tf[i];
        int n_src = m->n_ds_modalities + m->n_tf;
        if (n_src >= MVAE_MAX_MODALITIES) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: too many modalities: the dataset's and the transforms' together are at most %d",
                                mvae_cfg_where(tn, where, sizeof where), MVAE_MAX_MODALITIES);
            goto fail;
        }
        const char *from = NULL, *pn = NULL;
        mvae_cfg_get_string(mvae_cfg_get(tn, "from"), &from, err);
        mvae_cfg_get_string(mvae_cfg_get(tn, "plugin"), &pn, err);
        const char *names[MVAE_MAX_MODALITIES + 1] = {0};
        t->src = -1;
        for (int k = 0; k < n_src; k++) {
            names[k] = mvae_model_source_info(m, k)->name;
            if (strcmp(names[k], from) == 0) t->src = k;
            if (strcmp(names[k], tn->key) == 0) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: transform '%s': the name is taken (the dataset or an earlier transform provides '%s')",
                                    mvae_cfg_where(tn, where, sizeof where), tn->key, tn->key);
                goto fail;
            }
        }
        if (t->src < 0) {
            const char *near = mvae_nearest(from, names, n_src);
            char avail[512] = "";
            for (int k = 0; k < n_src; k++)
                snprintf(avail + strlen(avail), sizeof avail - strlen(avail), "%s%s", k ? ", " : "", names[k]);
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: transforms.%s.from: no modality '%s'%s%s%s; available: %s",
                                mvae_cfg_where(mvae_cfg_get(tn, "from"), where, sizeof where), tn->key, from,
                                near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", avail);
            goto fail;
        }
        t->root = t->src < m->n_ds_modalities ? t->src : m->tf[t->src - m->n_ds_modalities].root;
        t->desc = mvae_registry_find(reg, MVAE_PLUGIN_TRANSFORM, pn);
        const mvae_modality_info *si = mvae_model_source_info(m, t->src);
        if ((rc = ((const mvae_transform_vtable *)t->desc->vtable)->create(tn, si, &t->info, &t->self, err))) {
            mvae_error_prefix(err, "%s: transforms.%s (%s)", mvae_cfg_where(tn, where, sizeof where), tn->key, t->desc->name);
            goto fail;
        }
        snprintf(t->info.name, sizeof t->info.name, "%s", tn->key);
        m->n_tf = i + 1;
    }

    /* modalities */
    mvae_cfg_node *mods = mvae_cfg_get(root, "modalities");
    int n_src = m->n_ds_modalities + m->n_tf;
    for (int i = 0; i < mods->n_items; i++) {
        mvae_cfg_node *mn = mods->items[i];
        mvae_modality *md = &m->mod[i];
        md->ds_index = -1;
        const char *names[MVAE_MAX_MODALITIES + 1] = {0};
        for (int k = 0; k < n_src; k++) {
            names[k] = mvae_model_source_info(m, k)->name;
            if (strcmp(names[k], mn->key) == 0) md->ds_index = k;
        }
        if (md->ds_index < 0) {
            const char *near = mvae_nearest(mn->key, names, n_src);
            char avail[512] = "";
            for (int k = 0; k < n_src; k++)
                snprintf(avail + strlen(avail), sizeof avail - strlen(avail), "%s%s", k ? ", " : "", names[k]);
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "%s: modality '%s' is not provided by dataset '%s'%s%s%s; it provides: %s",
                                mvae_cfg_where(mn, where, sizeof where), mn->key, ds_desc->name,
                                near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", avail);
            goto fail;
        }
        md->info = *mvae_model_source_info(m, md->ds_index);
        const char *tname = "vae";
        mvae_cfg_node *tn = mvae_cfg_get(mn, "model");
        if (tn) mvae_cfg_get_string(tn, &tname, err);
        md->mtype = mvae_model_type_find(tname); /* an available row: validate_all checked it */
        if (!md->mtype->accepts(&md->info)) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: modalities.%s.model: '%s' cannot model '%s' (%s data); %s takes %s; "
                                "allowed here: vae", mvae_cfg_where(tn, where, sizeof where), mn->key, tname, mn->key,
                                mvae_modality_type_name(md->info.type), tname, md->mtype->takes);
            goto fail;
        }
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
        mvae_cfg_node *en = mvae_cfg_get(mn, "encoder");
        const char *pn;
        char prefix[96];
        mvae_module_args a = {en, &md->info, m->latent_dim, prefix, m->params};
        if (encoder_is_none(en)) {
            m->decoder_only |= 1u << i;
        } else {
            m->encodable |= 1u << i;
            mvae_cfg_get_string(mvae_cfg_get(en, "plugin"), &pn, err);
            md->enc_desc = mvae_registry_find(reg, MVAE_PLUGIN_ENCODER, pn);
            snprintf(prefix, sizeof prefix, "%s.enc", mn->key);
            if ((rc = ((const mvae_encoder_vtable *)md->enc_desc->vtable)->create(&a, &md->enc, err))) {
                mvae_error_prefix(err, "%s: modalities.%s.encoder (%s)", mvae_cfg_where(en, where, sizeof where), mn->key, md->enc_desc->name);
                goto fail;
            }
        }
        m->n_mod = i + 1; /* from here mvae_model_free destroys what the row made */
        if ((rc = md->mtype->create(m, i, mn, err))) goto fail;
    }

    if (!m->encodable) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: every modality has `encoder: none`: at least one needs an encoder, or "
                            "q(z | .) has nothing to infer z from", mvae_cfg_where(mvae_cfg_get(root, "modalities"), where, sizeof where));
        goto fail;
    }
    /* fusion */
    m->fusion_desc = fu_desc;
    /* the experts: decoder-only modalities never enter q (mopoe's 2^M - 1 components count these) */
    if ((rc = ((const mvae_fusion_vtable *)fu_desc->vtable)->create(mvae_cfg_get(root, "fusion"), m->latent_dim,
                                                                      __builtin_popcount(m->encodable), &m->fusion, err))) {
        mvae_error_prefix(err, "fusion '%s'", fu_desc->name);
        goto fail;
    }
    if ((rc = mvae_impartial_set_declare(m, err))) goto fail;
    if ((rc = mvae_objective_declare(m, err))) goto fail; /* an objective's own networks (a joint encoder) */
    mvae_rng init_rng;
    mvae_rng_seed(&init_rng, m->seed);
    if ((rc = mvae_params_finalize(m->params, &init_rng, err))) goto fail;
    mvae_impartial_set_bind(m);
    if ((rc = mvae_model_check_eval(m, err))) goto fail;
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
        if (md->mtype) md->mtype->destroy(md);
    }
    for (int t = 0; t < MVAE_MAX_TRANSFORMS; t++)
        if (m->tf[t].self) ((const mvae_transform_vtable *)m->tf[t].desc->vtable)->destroy(m->tf[t].self);
    if (m->fusion) ((const mvae_fusion_vtable *)m->fusion_desc->vtable)->destroy(m->fusion);
    if (m->ds) ((const mvae_dataset_vtable *)m->ds_desc->vtable)->close(m->ds);
    mvae_impartial_set_free(m->impartial);
    mvae_params_free(m->params);
    free(m);
}

const mvae_modality_info *mvae_model_source_info(const mvae_model *m, int k) {
    if (k < m->n_ds_modalities) return ((const mvae_dataset_vtable *)m->ds_desc->vtable)->modality(m->ds, k);
    return &m->tf[k - m->n_ds_modalities].info;
}

int mvae_model_find(const mvae_model *m, const char *name) {
    for (int i = 0; i < m->n_mod; i++)
        if (strcmp(m->mod[i].info.name, name) == 0) return i;
    return -1;
}

int mvae_model_check_given(const mvae_model *m, uint32_t subset, const char *what, mvae_error *err) {
    uint32_t bad = subset & m->decoder_only;
    if (!bad) return MVAE_OK;
    int k = __builtin_ctz(bad);
    return mvae_error_set(err, MVAE_ERR_INVALID,
                          "%s: modality '%s' is decoder-only (`encoder: none`): z can be decoded into it but "
                          "not inferred from it; give a modality with an encoder",
                          what, m->mod[k].info.name);
}

int mvae_model_parse_subset(const mvae_model *m, const char *list, uint32_t *subset, mvae_error *err) {
    *subset = 0;
    char buf[MVAE_SUBSET_NAME_MAX];
    if (strlen(list) >= sizeof buf)
        return mvae_error_set(err, MVAE_ERR_INVALID, "the modality list '%.40s...' is longer than %d characters", list, (int)sizeof buf - 1);
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
    for (int k = 0; k < m->n_ds_modalities + m->n_tf; k++) {
        int64_t n = mvae_modality_numel(mvae_model_source_info(m, k)) * cap;
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
    if (rc) {
        mvae_error_prefix(err, "dataset '%s'", m->ds_desc->name);
        return rc;
    }
    b->n = n;
    for (int t = 0; t < m->n_tf; t++) {
        const mvae_transform_inst *tf = &m->tf[t];
        int64_t e = mvae_modality_numel(mvae_model_source_info(m, tf->src));
        for (int i = 0; i < n; i++) /* absent sources may hold garbage: derive from zeros */
            if (!b->ds_present[i * m->n_ds_modalities + tf->root])
                memset(b->ds_bufs[tf->src] + i * e, 0, (size_t)e * sizeof(float));
        if ((rc = ((const mvae_transform_vtable *)tf->desc->vtable)->apply(tf->self, b->ds_bufs[tf->src],
                                                                         b->ds_bufs[m->n_ds_modalities + t], n, err))) {
            mvae_error_prefix(err, "transform '%s' (%s)", tf->info.name, tf->desc->name);
            return rc;
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->n_mod; k++) {
            int src = m->mod[k].ds_index;
            int root = src < m->n_ds_modalities ? src : m->tf[src - m->n_ds_modalities].root;
            uint8_t p = b->ds_present[i * m->n_ds_modalities + root];
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
        out->has[k] = true;
        if (count < b->n) {
            out->mask[k] = mvae_tensor_new(ctx, 2, (int64_t[]){b->n, 1});
            if (!out->mask[k]) return MVAE_ERR_NOMEM;
            for (int i = 0; i < b->n; i++) out->mask[k]->data[i] = b->present[i * m->n_mod + k];
        }
        const mvae_modality *md = &m->mod[k];
        if (!md->enc) continue; /* decoder-only: presence only */
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k);
        int rc = ((const mvae_encoder_vtable *)md->enc_desc->vtable)->forward(md->enc, ctx, x, &out->mu[k], &out->logvar[k]);
        if (rc || !out->mu[k] || !out->logvar[k]) {
            if (!mvae_ctx_failed(ctx)) mvae_ctx_fail(ctx, "encoder '%s' of modality '%s' returned no output", md->enc_desc->name, md->info.name);
            return MVAE_ERR_INVALID;
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
    if (!md->dec)
        return mvae_ctx_fail(ctx, "modality '%s' is model: %s: it has no decoder (use mvae_model_logp / mvae_model_generate)",
                             md->info.name, md->mtype ? md->mtype->name : "?");
    return ((const mvae_decoder_vtable *)md->dec_desc->vtable)->forward(md->dec, ctx, z);
}

mvae_tensor *mvae_model_decode_target(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z,
                                      mvae_tensor *target) {
    const mvae_modality *md = &m->mod[k];
    mvae_tensor *(*ft)(void *, mvae_ctx *, mvae_tensor *, mvae_tensor *) =
        mvae_decoder_hook(md->dec_desc, forward_teacher);
    if (!target || !ft) return mvae_model_decode(m, ctx, k, z);
    /* the batch's targets, repeated to z's rows (k draws per sample, draw-major) */
    if (target->shape[0] != z->shape[0]) {
        if (target->shape[0] < 1 || z->shape[0] % target->shape[0])
            return mvae_ctx_fail(ctx, "decode: %lld rows of z for %lld target rows", (long long)z->shape[0],
                                 (long long)target->shape[0]);
        target = mvae_tile_rows(ctx, target, (int)(z->shape[0] / target->shape[0]));
    }
    return ft(md->dec, ctx, z, target);
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
