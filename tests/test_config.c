/* test_config.c — YAML experiment files: parse with positions, errors with file:line:col,
 * schemas (unknown keys, types, choices, required, defaults, nested sections), --set overrides,
 * typed getters, writing and re-reading. */
#define _POSIX_C_SOURCE 200809L
#include "mvae_test.h"

#include <math.h>

#include <unistd.h>

#include "mvae/config.h"

/* The experiment from DESIGN.md ("An experiment"), line for line (line numbers on the right). */
// clang-format off
static const char EXAMPLE[] =
    "name: fashion-mnist-poe\n"                                                              /* 1 */
    "seed: 1\n"                                                                              /* 2 */
    "dataset: { plugin: fashion_mnist, paired_fraction: 1.0 }\n"                             /* 3 */
    "latent_dim: 64\n"                                                                       /* 4 */
    "modalities:\n"                                                                          /* 5 */
    "  image:\n"                                                                             /* 6 */
    "    encoder: { plugin: conv_image, channels: [64, 128], hidden: 512 }\n"                /* 7 */
    "    decoder: { plugin: deconv_image, channels: [128, 64], hidden: 512 }\n"              /* 8 */
    "    likelihood: bernoulli\n"                                                            /* 9 */
    "    weight: 1.0\n"                                                                      /* 10 */
    "  label:\n"                                                                             /* 11 */
    "    encoder: { plugin: mlp, embed: 512, hidden: [512] }\n"                              /* 12 */
    "    decoder: { plugin: mlp, hidden: [512, 512, 512] }\n"                                /* 13 */
    "    likelihood: categorical\n"                                                          /* 14 */
    "    weight: 50.0\n"                                                                     /* 15 */
    "fusion: { plugin: poe, prior_expert: true }\n"                                          /* 16 */
    "train:\n"                                                                               /* 17 */
    "  epochs: 20\n"                                                                         /* 18 */
    "  batch_size: 100\n"                                                                    /* 19 */
    "  optimizer: { adam: { lr: 1.0e-3 } }\n"                                                /* 20 */
    "  kl_anneal_epochs: 10\n"                                                               /* 21 */
    "  objective: { joint: true, unimodal: true, random_subsets: 0 }\n"                      /* 22 */
    "eval:\n"                                                                                /* 23 */
    "  log_likelihood: { samples: 1000, terms: [\"image\", \"image,label\", \"image|label\"] }\n" /* 24 */
    "  accuracy: { from: image, predict: label }\n";  /* 25 */
// clang-format on

/* ---- a schema for the example ---- */
static const mvae_option DATASET_OPTS[] = {
    {.key = "plugin", .type = MVAE_OPT_STRING, .required = true, .help = "data set plugin"},
    {.key = "paired_fraction", .type = MVAE_OPT_FLOAT, .default_value = "1.0"},
    {.key = "root", .type = MVAE_OPT_STRING, .default_value = "/usr/share/datasets"},
    {0},
};
static const char *const LIKELIHOODS[] = {"bernoulli", "categorical", "gaussian", NULL};
static const mvae_option MODALITY_OPTS[] = {
    {.key = "encoder", .type = MVAE_OPT_ANY, .required = true},
    {.key = "decoder", .type = MVAE_OPT_ANY, .required = true},
    {.key = "likelihood", .type = MVAE_OPT_STRING, .choices = LIKELIHOODS, .required = true},
    {.key = "weight", .type = MVAE_OPT_FLOAT, .default_value = "1.0"},
    {0},
};
static const mvae_option OBJECTIVE_OPTS[] = {
    {.key = "joint", .type = MVAE_OPT_BOOL, .default_value = "true"},
    {.key = "unimodal", .type = MVAE_OPT_BOOL, .default_value = "true"},
    {.key = "random_subsets", .type = MVAE_OPT_INT, .default_value = "0"},
    {0},
};
static const mvae_option TRAIN_OPTS[] = {
    {.key = "epochs", .type = MVAE_OPT_INT, .required = true},
    {.key = "batch_size", .type = MVAE_OPT_INT, .default_value = "64"},
    {.key = "optimizer", .type = MVAE_OPT_ANY},
    {.key = "kl_anneal_epochs", .type = MVAE_OPT_INT, .default_value = "0"},
    {.key = "objective", .type = MVAE_OPT_MAP, .children = OBJECTIVE_OPTS, .default_value = "{}"},
    {.key = "grad_clip", .type = MVAE_OPT_FLOAT, .default_value = "0.5"},
    {.key = "hidden", .type = MVAE_OPT_INT_LIST, .default_value = "[512, 512]"},
    {.key = "betas", .type = MVAE_OPT_FLOAT_LIST, .default_value = "[0.9, 0.999]"},
    {.key = "tags", .type = MVAE_OPT_STRING_LIST},
    {.key = "deterministic", .type = MVAE_OPT_BOOL, .default_value = "false"},
    {0},
};
static const mvae_option TOP_OPTS[] = {
    {.key = "name", .type = MVAE_OPT_STRING, .required = true},
    {.key = "seed", .type = MVAE_OPT_INT, .default_value = "0"},
    {.key = "dataset", .type = MVAE_OPT_MAP, .children = DATASET_OPTS, .required = true},
    {.key = "latent_dim", .type = MVAE_OPT_INT, .required = true},
    {.key = "modalities", .type = MVAE_OPT_MAP_OF, .children = MODALITY_OPTS, .required = true},
    {.key = "fusion", .type = MVAE_OPT_MAP},
    {.key = "train", .type = MVAE_OPT_MAP, .children = TRAIN_OPTS, .required = true},
    {.key = "eval", .type = MVAE_OPT_ANY},
    {0},
};

static mvae_cfg *load(const char *text) {
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    int rc = mvae_cfg_load_string(text, "exp.yaml", &cfg, &err);
    if (rc) fprintf(stderr, "unexpected load error: %s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_non_null(cfg);
    return cfg;
}

/* Load must fail; returns the message (static buffer). */
static const char *load_fails(const char *text) {
    static mvae_error err;
    memset(&err, 0, sizeof err);
    mvae_cfg *cfg = (mvae_cfg *)0x1;
    int rc = mvae_cfg_load_string(text, "exp.yaml", &cfg, &err);
    assert_int_not_equal(rc, MVAE_OK);
    assert_null(cfg);
    assert_int_equal(err.status, rc);
    return err.msg;
}

/* Validate against TOP_OPTS must fail; returns the message (static buffer). */
static const char *validate_fails(const char *text) {
    static mvae_error err;
    memset(&err, 0, sizeof err);
    mvae_cfg *cfg = load(text);
    int rc = mvae_cfg_validate(cfg, mvae_cfg_root(cfg), TOP_OPTS, "", NULL, &err);
    mvae_cfg_free(cfg);
    assert_int_equal(rc, MVAE_ERR_INVALID);
    return err.msg;
}

#define assert_has(msg, sub)                                                                       \
    do {                                                                                           \
        if (!strstr((msg), (sub))) fprintf(stderr, "message '%s' lacks '%s'\n", (msg), (sub));     \
        assert_non_null(strstr((msg), (sub)));                                                     \
    } while (0)

static void test_parse_example(void **state) {
    (void)state;
    mvae_cfg *cfg = load(EXAMPLE);
    mvae_error err = {0};
    mvae_cfg_node *root = mvae_cfg_root(cfg);
    assert_string_equal(mvae_cfg_filename(cfg), "exp.yaml");
    assert_int_equal(root->kind, MVAE_CFG_MAP);
    assert_int_equal(root->n_items, 8);
    assert_string_equal(root->items[0]->key, "name");
    assert_string_equal(root->items[7]->key, "eval");

    const char *s = NULL;
    assert_int_equal(mvae_cfg_get_string(mvae_cfg_get(root, "name"), &s, &err), MVAE_OK);
    assert_string_equal(s, "fashion-mnist-poe");

    mvae_cfg_node *seed = mvae_cfg_get(root, "seed");
    assert_int_equal(seed->line, 2);
    assert_int_equal(seed->col, 7);
    assert_int_equal(seed->key_line, 2);
    assert_int_equal(seed->key_col, 1);
    assert_string_equal(seed->file, "exp.yaml");

    int64_t v = 0;
    mvae_cfg_node *epochs = mvae_cfg_path(root, "train.epochs");
    assert_non_null(epochs);
    assert_int_equal(mvae_cfg_get_int(epochs, &v, &err), MVAE_OK);
    assert_int_equal(v, 20);
    assert_int_equal(epochs->line, 18);
    assert_int_equal(epochs->col, 11);
    assert_int_equal(epochs->key_col, 3);
    char where[64];
    assert_string_equal(mvae_cfg_where(epochs, where, sizeof where), "exp.yaml:18:11");

    /* maps are positioned at their key */
    mvae_cfg_node *train = mvae_cfg_get(root, "train");
    assert_int_equal(train->kind, MVAE_CFG_MAP);
    assert_int_equal(train->line, 17);
    assert_int_equal(train->col, 1);

    double lr = 0;
    assert_int_equal(mvae_cfg_get_float(mvae_cfg_path(root, "train.optimizer.adam.lr"), &lr, &err),
                     MVAE_OK);
    assert_float_equal(lr, 1e-3, 1e-15);
    assert_int_equal(mvae_cfg_get_float(mvae_cfg_path(root, "modalities.label.weight"), &lr, &err),
                     MVAE_OK);
    assert_float_equal(lr, 50.0, 0);
    /* an integer is a valid float */
    assert_int_equal(mvae_cfg_get_float(mvae_cfg_get(root, "latent_dim"), &lr, &err), MVAE_OK);
    assert_float_equal(lr, 64.0, 0);

    bool b = false;
    assert_int_equal(mvae_cfg_get_bool(mvae_cfg_path(root, "fusion.prior_expert"), &b, &err),
                     MVAE_OK);
    assert_true(b);

    int64_t *ch = NULL;
    int n = 0;
    mvae_cfg_node *chn = mvae_cfg_path(root, "modalities.image.encoder.channels");
    assert_int_equal(chn->kind, MVAE_CFG_SEQ);
    assert_int_equal(chn->line, 7);
    assert_int_equal(chn->col, 46);
    assert_int_equal(mvae_cfg_get_int_list(chn, &ch, &n, &err), MVAE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ch[0], 64);
    assert_int_equal(ch[1], 128);
    free(ch);
    /* a single scalar is a one-element list */
    assert_int_equal(mvae_cfg_get_int_list(mvae_cfg_path(root, "modalities.image.encoder.hidden"),
                                           &ch, &n, &err),
                     MVAE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ch[0], 512);
    free(ch);

    mvae_cfg_node *terms = mvae_cfg_path(root, "eval.log_likelihood.terms");
    assert_int_equal(terms->n_items, 3);
    assert_string_equal(terms->items[1]->value, "image,label");
    assert_true(terms->items[1]->quoted);
    assert_null(terms->items[1]->key);
    assert_false(mvae_cfg_get(root, "seed")->quoted);

    assert_null(mvae_cfg_path(root, "train.nope"));
    assert_null(mvae_cfg_path(root, "train.epochs.x"));
    assert_null(mvae_cfg_path(root, "train..epochs"));
    assert_string_equal(err.msg, "");
    mvae_cfg_free(cfg);
}

static void test_syntax_errors(void **state) {
    (void)state;
    const char *m = load_fails("a: 1\nb: [1, 2\nc: 3\n");
    assert_has(m, "exp.yaml:3:");
    assert_has(m, "YAML syntax error: did not find expected ',' or ']'");
    assert_has(m, "while parsing a flow sequence at 2:4");

    m = load_fails("a: 1\n  b: 2\n");
    assert_has(m, "exp.yaml:2:4: YAML syntax error: mapping values are not allowed");

    m = load_fails("a: \"open\n");
    assert_has(m, "exp.yaml:");
    assert_has(m, "YAML syntax error: found unexpected end of stream");

    m = load_fails("- 1\n- 2\n");
    assert_has(m, "exp.yaml:1:1: the top level must be a map");
    m = load_fails("just text\n");
    assert_has(m, "top level must be a map");
    m = load_fails("a: 1\n---\nb: 2\n");
    assert_has(m, "exp.yaml:2:1: only one YAML document");

    m = load_fails("a: \xff\xfe\n");
    assert_has(m, "exp.yaml: YAML read error: invalid");

    /* an empty file is an empty map */
    mvae_cfg *cfg = load("# nothing here\n");
    assert_int_equal(mvae_cfg_root(cfg)->kind, MVAE_CFG_MAP);
    assert_int_equal(mvae_cfg_root(cfg)->n_items, 0);
    mvae_cfg_free(cfg);
}

static void test_duplicate_key(void **state) {
    (void)state;
    const char *m =
        load_fails("seed: 1\nname: x\ntrain:\n  epochs: 2\n  batch_size: 3\n  epochs: 4\n");
    assert_string_equal(m, "exp.yaml:6:3: key 'epochs' given twice (first at 4:3)");
    m = load_fails("a: {x: 1, x: 2}\n");
    assert_string_equal(m, "exp.yaml:1:11: key 'x' given twice (first at 1:5)");
}

static void test_anchors_aliases_tags_rejected(void **state) {
    (void)state;
    const char *m = load_fails("base: &b { lr: 1 }\nother: *b\n");
    assert_has(m, "exp.yaml:1:7: YAML anchors (&b) are not supported");
    m = load_fails("a: !!str 5\n");
    assert_has(m, "exp.yaml:1:4: YAML tags (tag:yaml.org,2002:str) are not supported");
    m = load_fails("a: *nothing\n");
    assert_has(m, "YAML aliases (*nothing) are not supported");
    m = load_fails("? [a, b]\n: 1\n");
    assert_has(m, "exp.yaml:1:3: map keys must be plain text");
}

static void test_missing_file(void **state) {
    (void)state;
    mvae_error err = {0};
    mvae_cfg *cfg = (mvae_cfg *)0x1;
    int rc = mvae_cfg_load_file("/nonexistent/dir/x.yaml", &cfg, &err);
    assert_int_equal(rc, MVAE_ERR_IO);
    assert_null(cfg);
    assert_string_equal(err.msg,
                        "cannot open '/nonexistent/dir/x.yaml': No such file or directory");
}

static void test_validate_example_fills_defaults(void **state) {
    (void)state;
    mvae_cfg *cfg = load(EXAMPLE);
    mvae_error err = {0};
    mvae_cfg_node *root = mvae_cfg_root(cfg);
    int rc = mvae_cfg_validate(cfg, root, TOP_OPTS, "", NULL, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);

    /* given values untouched */
    int64_t v = 0;
    assert_int_equal(mvae_cfg_get_int(mvae_cfg_path(root, "train.batch_size"), &v, &err), MVAE_OK);
    assert_int_equal(v, 100);
    /* scalar defaults */
    mvae_cfg_node *gc = mvae_cfg_path(root, "train.grad_clip");
    assert_non_null(gc);
    assert_string_equal(gc->file, "<default>");
    double d = 0;
    assert_int_equal(mvae_cfg_get_float(gc, &d, &err), MVAE_OK);
    assert_float_equal(d, 0.5, 0);
    bool b = true;
    assert_int_equal(mvae_cfg_get_bool(mvae_cfg_path(root, "train.deterministic"), &b, &err),
                     MVAE_OK);
    assert_false(b);
    const char *s = NULL;
    assert_int_equal(mvae_cfg_get_string(mvae_cfg_path(root, "dataset.root"), &s, &err), MVAE_OK);
    assert_string_equal(s, "/usr/share/datasets");
    /* list default is a real sequence */
    mvae_cfg_node *hidden = mvae_cfg_path(root, "train.hidden");
    assert_int_equal(hidden->kind, MVAE_CFG_SEQ);
    assert_int_equal(hidden->n_items, 2);
    int64_t *h = NULL;
    int n = 0;
    assert_int_equal(mvae_cfg_get_int_list(hidden, &h, &n, &err), MVAE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(h[0], 512);
    assert_int_equal(h[1], 512);
    free(h);
    double *betas = NULL;
    assert_int_equal(mvae_cfg_get_float_list(mvae_cfg_path(root, "train.betas"), &betas, &n, &err),
                     MVAE_OK);
    assert_int_equal(n, 2);
    assert_float_equal(betas[1], 0.999, 1e-12);
    free(betas);
    /* MAP_OF: every modality gets its defaults; absent optional keys without default stay absent */
    assert_non_null(mvae_cfg_path(root, "modalities.image.weight"));
    assert_null(mvae_cfg_path(root, "train.tags"));
    assert_string_equal(err.msg, "");

    /* a section missing entirely, with default "{}", is created and filled */
    mvae_cfg_remove(mvae_cfg_get(root, "train"), "objective");
    assert_null(mvae_cfg_path(root, "train.objective"));
    assert_int_equal(mvae_cfg_validate(cfg, root, TOP_OPTS, "", NULL, &err), MVAE_OK);
    mvae_cfg_node *rs = mvae_cfg_path(root, "train.objective.random_subsets");
    assert_non_null(rs);
    assert_string_equal(rs->value, "0");
    assert_int_equal(mvae_cfg_path(root, "train.objective")->kind, MVAE_CFG_MAP);
    mvae_cfg_free(cfg);
}

static void test_unknown_key_hints(void **state) {
    (void)state;
    const char *m = validate_fails("name: x\nlaten_dim: 3\n");
    assert_string_equal(m, "exp.yaml:2:1: unknown key 'laten_dim' (did you mean 'latent_dim'?)");

    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities: {}\n"
                       "train:\n  epochs: 2\n  bach_size: 4\n");
    assert_string_equal(
        m, "exp.yaml:7:3: unknown key 'bach_size' in train (did you mean 'batch_size'?)");

    m = validate_fails("name: x\ndataset: {plugin: p, zzzzzzzz: 1}\n");
    assert_string_equal(m, "exp.yaml:2:22: unknown key 'zzzzzzzz' in dataset "
                           "(valid keys: plugin, paired_fraction, root)");

    /* extra_ok keys are accepted without checks */
    mvae_cfg *cfg = load("plugin: mlp\nhidden: [1, 2]\nanything: {x: 1}\n");
    mvae_error err = {0};
    static const mvae_option opts[] = {{.key = "hidden", .type = MVAE_OPT_INT_LIST}, {0}};
    static const char *const extra[] = {"plugin", "anything", NULL};
    assert_int_equal(
        mvae_cfg_validate(cfg, mvae_cfg_root(cfg), opts, "modalities.image.encoder", extra, &err),
        MVAE_OK);
    /* hints include extra_ok keys */
    mvae_cfg_set(cfg, "plugn=x", &err);
    assert_string_equal(err.msg, "");
    assert_int_equal(
        mvae_cfg_validate(cfg, mvae_cfg_root(cfg), opts, "modalities.image.encoder", extra, &err),
        MVAE_ERR_INVALID);
    assert_string_equal(err.msg, "<--set>:1:1: unknown key 'plugn' in modalities.image.encoder "
                                 "(did you mean 'plugin'?)");
    mvae_cfg_free(cfg);
}

static void test_wrong_types(void **state) {
    (void)state;
    const char *m = validate_fails("name: x\nfusion: poe\n");
    assert_string_equal(m, "exp.yaml:2:9: fusion: expected a map, got a scalar ('poe')");

    m = validate_fails("name: [a, b]\n");
    assert_string_equal(m, "exp.yaml:1:7: name: expected a string, got a list");

    m = validate_fails("name: x\nseed: 1.5\n");
    assert_string_equal(m, "exp.yaml:2:7: seed: '1.5' is not an integer");

    m = validate_fails("name: x\nseed: \"7\"\n");
    assert_has(m, "exp.yaml:2:7: seed: '7' is quoted, so it is a string, not an integer");

    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities: {}\n"
                       "train: {epochs: 1, hidden: [64, x]}\n");
    assert_string_equal(m, "exp.yaml:5:33: train.hidden[1]: 'x' is not an integer");

    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities: {}\n"
                       "train: {epochs: 1, hidden: {a: 1}}\n");
    assert_string_equal(m, "exp.yaml:5:20: train.hidden: expected a list of integers, got a map");

    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities: {}\n"
                       "train:\n  epochs: 1\n  objective: {joint: maybe}\n");
    assert_string_equal(
        m, "exp.yaml:7:22: train.objective.joint: 'maybe' is not a boolean (use true or false)");

    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities: {}\n"
                       "train: {epochs: 1, betas: [0.9, nan]}\n");
    assert_string_equal(m, "exp.yaml:5:33: train.betas[1]: 'nan' is not a finite number");

    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities: {}\n"
                       "train: {epochs: 1, tags: [a, {b: 1}]}\n");
    assert_string_equal(m, "exp.yaml:5:30: train.tags[1]: expected a string, got a map");

    /* MAP_OF values must be maps */
    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities:\n  image: 3\n");
    assert_string_equal(m, "exp.yaml:5:10: modalities.image: expected a map, got a scalar ('3')");
}

static void test_choices(void **state) {
    (void)state;
    char *text = malloc(strlen(EXAMPLE) + 1);
    strcpy(text, EXAMPLE);
    char *p = strstr(text, "likelihood: categorical");
    memcpy(p, "likelihood: categorica ", 23); /* same length, still valid YAML */
    const char *m = validate_fails(text);
    assert_string_equal(m,
                        "exp.yaml:14:17: modalities.label.likelihood: 'categorica' is not one of: "
                        "bernoulli, categorical, gaussian (did you mean 'categorical'?)");
    free(text);
}

static void test_required_keys(void **state) {
    (void)state;
    const char *m = validate_fails("seed: 3\n");
    assert_string_equal(m, "exp.yaml:1:1: missing required key 'name'");
    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\nmodalities: {}\n"
                       "train:\n  batch_size: 2\n");
    assert_string_equal(m, "exp.yaml:5:1: missing required key 'epochs' in train");
    /* a required nested key inside MAP_OF: context names the modality */
    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\n"
                       "modalities:\n  image: {encoder: {}, decoder: {}, likelihood: gaussian}\n"
                       "  text:\n    encoder: {}\n    likelihood: categorical\n");
    assert_string_equal(m, "exp.yaml:6:3: missing required key 'decoder' in modalities.text");
    /* nested unknown key in MAP_OF */
    m = validate_fails("name: x\ndataset: {plugin: p}\nlatent_dim: 3\n"
                       "modalities:\n  image: {encodr: {}, decoder: {}, likelihood: gaussian}\n");
    assert_string_equal(
        m, "exp.yaml:5:11: unknown key 'encodr' in modalities.image (did you mean 'encoder'?)");
}

static void test_first_error_wins(void **state) {
    (void)state;
    mvae_cfg *cfg = load("name: x\nseed: a\nlatent_dim: b\n");
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_validate(cfg, mvae_cfg_root(cfg), TOP_OPTS, "", NULL, &err),
                     MVAE_ERR_INVALID);
    assert_string_equal(err.msg, "exp.yaml:2:7: seed: 'a' is not an integer");
    /* a later failure does not overwrite it */
    int64_t v;
    assert_int_equal(mvae_cfg_get_int(mvae_cfg_get(mvae_cfg_root(cfg), "latent_dim"), &v, &err),
                     MVAE_ERR_INVALID);
    assert_string_equal(err.msg, "exp.yaml:2:7: seed: 'a' is not an integer");
    mvae_cfg_free(cfg);
}

static void test_set_overrides(void **state) {
    (void)state;
    mvae_cfg *cfg = load(EXAMPLE);
    mvae_cfg_node *root = mvae_cfg_root(cfg);
    mvae_error err = {0};
    int64_t v = 0;

    /* scalar replace: position points into the assignment */
    assert_int_equal(mvae_cfg_set(cfg, "train.epochs=3", &err), MVAE_OK);
    mvae_cfg_node *e = mvae_cfg_path(root, "train.epochs");
    assert_int_equal(mvae_cfg_get_int(e, &v, &err), MVAE_OK);
    assert_int_equal(v, 3);
    assert_string_equal(e->file, "<--set>");
    assert_int_equal(e->line, 1);
    assert_int_equal(e->col, 14);
    assert_int_equal(e->key_col, 7);
    /* replaced in place: key order kept */
    assert_string_equal(mvae_cfg_get(root, "train")->items[0]->key, "epochs");
    assert_int_equal(mvae_cfg_get(root, "train")->n_items, 5);

    /* list */
    assert_int_equal(mvae_cfg_set(cfg, "modalities.image.encoder.channels=[32,64, 96]", &err),
                     MVAE_OK);
    int64_t *ch = NULL;
    int n = 0;
    assert_int_equal(mvae_cfg_get_int_list(mvae_cfg_path(root, "modalities.image.encoder.channels"),
                                           &ch, &n, &err),
                     MVAE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ch[2], 96);
    free(ch);

    /* map value replaces a map */
    assert_int_equal(mvae_cfg_set(cfg, "train.optimizer={sgd: {lr: 0.1, momentum: 0.9}}", &err),
                     MVAE_OK);
    assert_null(mvae_cfg_path(root, "train.optimizer.adam"));
    double d = 0;
    assert_int_equal(
        mvae_cfg_get_float(mvae_cfg_path(root, "train.optimizer.sgd.momentum"), &d, &err), MVAE_OK);
    assert_float_equal(d, 0.9, 0);

    /* intermediate maps created */
    assert_int_equal(mvae_cfg_set(cfg, "logging.tensorboard.every=50", &err), MVAE_OK);
    mvae_cfg_node *lg = mvae_cfg_get(root, "logging");
    assert_non_null(lg);
    assert_int_equal(lg->kind, MVAE_CFG_MAP);
    assert_string_equal(lg->file, "<--set>");
    assert_int_equal(mvae_cfg_get_int(mvae_cfg_path(root, "logging.tensorboard.every"), &v, &err),
                     MVAE_OK);
    assert_int_equal(v, 50);
    assert_int_equal(mvae_cfg_path(root, "logging.tensorboard")->key_col, 9);

    /* quoted string stays a string */
    assert_int_equal(mvae_cfg_set(cfg, "name='123'", &err), MVAE_OK);
    assert_true(mvae_cfg_get(root, "name")->quoted);
    assert_string_equal(mvae_cfg_get(root, "name")->value, "123");
    assert_string_equal(err.msg, "");

    /* errors */
    assert_int_equal(mvae_cfg_set(cfg, "train.epochs", &err), MVAE_ERR_INVALID);
    assert_string_equal(err.msg, "--set train.epochs: expected key=value (e.g. train.epochs=3)");
    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_set(cfg, " =3", &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "--set  =3: empty key");
    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_set(cfg, "train..epochs=3", &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "empty part in key 'train..epochs'");
    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_set(cfg, "train.epochs.x=1", &err), MVAE_ERR_INVALID);
    assert_string_equal(err.msg, "--set train.epochs.x=1: 'train.epochs' is a scalar, not a map");
    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_set(cfg, "train.hidden.x=1", &err),
                     MVAE_OK); /* hidden absent: created */
    assert_int_equal(mvae_cfg_set(cfg, "modalities.image.encoder.channels.a=1", &err),
                     MVAE_ERR_INVALID);
    assert_string_equal(
        err.msg, "--set modalities.image.encoder.channels.a=1: 'modalities.image.encoder.channels' "
                 "is a list, not a map");
    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_set(cfg, "train.epochs=[1, 2", &err), MVAE_ERR_FORMAT);
    assert_has(err.msg, "--set train.epochs=[1, 2: <--set>:1:19: YAML syntax error");
    assert_has(err.msg, "YAML syntax error");
    assert_has(err.msg, "flow sequence at 1:14");
    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_set(cfg, "train.epochs=&a 3", &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "<--set>:1:14: YAML anchors");
    /* failed sets leave the value alone */
    assert_int_equal(mvae_cfg_get_int(mvae_cfg_path(root, "train.epochs"), &v, NULL), MVAE_OK);
    assert_int_equal(v, 3);
    mvae_cfg_free(cfg);
}

static void test_set_then_validate_reports_set_position(void **state) {
    (void)state;
    mvae_cfg *cfg = load(EXAMPLE);
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_set(cfg, "train.epochs=ten", &err), MVAE_OK);
    assert_int_equal(mvae_cfg_validate(cfg, mvae_cfg_root(cfg), TOP_OPTS, "", NULL, &err),
                     MVAE_ERR_INVALID);
    assert_string_equal(err.msg, "<--set>:1:14: train.epochs: 'ten' is not an integer");
    mvae_cfg_free(cfg);
}

static void test_typed_getter_errors(void **state) {
    (void)state;
    mvae_cfg *cfg =
        load("train:\n  epochs: ten\n  big: 99999999999999999999\n  under: 1_000\n"
             "  hex: 0x10\n  neg: -42\n  exp: 1e3\n  inf: inf\n  flag: Yes\n  off: OFF\n"
             "  word: maybe\n  list: [1, two, 3]\n  fl: [1.5, 2]\n  sub: {a: 1}\n  empty:\n");
    mvae_cfg_node *t = mvae_cfg_get(mvae_cfg_root(cfg), "train");
    mvae_error err = {0};
    int64_t v = 0;
    double d = 0;
    bool b = false;
    const char *s = NULL;

#define EXPECT_FAIL(call, text)                                                                    \
    do {                                                                                           \
        mvae_error_clear(&err);                                                                    \
        assert_int_equal((call), MVAE_ERR_INVALID);                                                \
        assert_string_equal(err.msg, (text));                                                      \
    } while (0)

    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "epochs"), &v, &err),
                "exp.yaml:2:11: epochs: 'ten' is not an integer");
    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "big"), &v, &err),
                "exp.yaml:3:8: big: '99999999999999999999' is out of range for a 64-bit integer");
    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "under"), &v, &err),
                "exp.yaml:4:10: under: '1_000' is not an integer");
    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "hex"), &v, &err),
                "exp.yaml:5:8: hex: '0x10' is not an integer");
    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "exp"), &v, &err),
                "exp.yaml:7:8: exp: '1e3' is not an integer");
    EXPECT_FAIL(mvae_cfg_get_float(mvae_cfg_get(t, "inf"), &d, &err),
                "exp.yaml:8:8: inf: 'inf' is not a finite number");
    EXPECT_FAIL(mvae_cfg_get_float(mvae_cfg_get(t, "word"), &d, &err),
                "exp.yaml:11:9: word: 'maybe' is not a number");
    EXPECT_FAIL(mvae_cfg_get_bool(mvae_cfg_get(t, "word"), &b, &err),
                "exp.yaml:11:9: word: 'maybe' is not a boolean (use true or false)");
    EXPECT_FAIL(mvae_cfg_get_string(mvae_cfg_get(t, "sub"), &s, &err),
                "exp.yaml:14:3: sub: expected a string, got a map");
    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "list"), &v, &err),
                "exp.yaml:12:9: list: expected an integer, got a list");
    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "missing"), &v, &err),
                "config: missing value (expected an integer)");
    EXPECT_FAIL(mvae_cfg_get_int(mvae_cfg_get(t, "empty"), &v, &err),
                "exp.yaml:15:9: empty: '' is not an integer");

    int64_t *il = (int64_t *)0x1;
    int n = 7;
    EXPECT_FAIL(mvae_cfg_get_int_list(mvae_cfg_get(t, "list"), &il, &n, &err),
                "exp.yaml:12:13: list[1]: 'two' is not an integer");
    assert_null(il);
    assert_int_equal(n, 0);
    EXPECT_FAIL(mvae_cfg_get_int_list(mvae_cfg_get(t, "sub"), &il, &n, &err),
                "exp.yaml:14:3: sub: expected a list of integers, got a map");

    mvae_error_clear(&err);
    assert_int_equal(mvae_cfg_get_int(mvae_cfg_get(t, "neg"), &v, &err), MVAE_OK);
    assert_int_equal(v, -42);
    assert_int_equal(mvae_cfg_get_float(mvae_cfg_get(t, "exp"), &d, &err), MVAE_OK);
    assert_float_equal(d, 1000.0, 0);
    assert_int_equal(mvae_cfg_get_bool(mvae_cfg_get(t, "flag"), &b, &err), MVAE_OK);
    assert_true(b);
    assert_int_equal(mvae_cfg_get_bool(mvae_cfg_get(t, "off"), &b, &err), MVAE_OK);
    assert_false(b);
    double *fl = NULL;
    assert_int_equal(mvae_cfg_get_float_list(mvae_cfg_get(t, "fl"), &fl, &n, &err), MVAE_OK);
    assert_int_equal(n, 2);
    assert_float_equal(fl[0], 1.5, 0);
    assert_float_equal(fl[1], 2.0, 0);
    free(fl);
    assert_int_equal(mvae_cfg_get_string(mvae_cfg_get(t, "epochs"), &s, &err), MVAE_OK);
    assert_string_equal(s, "ten");

    /* *_or helpers */
    assert_int_equal(mvae_cfg_int_or(t, "absent", 17, &v, &err), MVAE_OK);
    assert_int_equal(v, 17);
    assert_int_equal(mvae_cfg_int_or(t, "neg", 17, &v, &err), MVAE_OK);
    assert_int_equal(v, -42);
    assert_int_equal(mvae_cfg_float_or(t, "absent", 0.25, &d, &err), MVAE_OK);
    assert_float_equal(d, 0.25, 0);
    assert_int_equal(mvae_cfg_bool_or(t, "absent", true, &b, &err), MVAE_OK);
    assert_true(b);
    assert_int_equal(mvae_cfg_string_or(t, "absent", "dflt", &s, &err), MVAE_OK);
    assert_string_equal(s, "dflt");
    assert_string_equal(err.msg, "");
    EXPECT_FAIL(mvae_cfg_int_or(t, "epochs", 1, &v, &err),
                "exp.yaml:2:11: epochs: 'ten' is not an integer");
#undef EXPECT_FAIL
    mvae_cfg_free(cfg);
}

static void test_edit_helpers(void **state) {
    (void)state;
    mvae_cfg *cfg = load("a: 1\nb: {c: 2}\nd:\n");
    mvae_cfg_node *root = mvae_cfg_root(cfg);
    mvae_cfg_node *n = mvae_cfg_set_scalar(cfg, root, "a", "5");
    assert_non_null(n);
    assert_string_equal(mvae_cfg_get(root, "a")->value, "5");
    assert_int_equal(root->n_items, 3);
    assert_non_null(mvae_cfg_set_scalar(cfg, root, "e", "x"));
    assert_int_equal(root->n_items, 4);
    mvae_cfg_node *b = mvae_cfg_ensure_map(cfg, root, "b");
    assert_ptr_equal(b, mvae_cfg_get(root, "b"));
    assert_int_equal(b->n_items, 1);
    mvae_cfg_node *f = mvae_cfg_ensure_map(cfg, root, "f");
    assert_non_null(f);
    assert_int_equal(f->kind, MVAE_CFG_MAP);
    assert_null(mvae_cfg_ensure_map(cfg, root, "a")); /* a scalar is not turned into a map */
    mvae_cfg_node *dmap = mvae_cfg_ensure_map(cfg, root, "d"); /* null becomes an empty map */
    assert_non_null(dmap);
    assert_int_equal(dmap->kind, MVAE_CFG_MAP);
    mvae_cfg_remove(root, "b");
    mvae_cfg_remove(root, "nope");
    assert_null(mvae_cfg_get(root, "b"));
    assert_int_equal(root->n_items, 4);
    assert_string_equal(root->items[1]->key, "d");
    mvae_cfg_free(cfg);
    mvae_cfg_free(NULL);
}

/* ---- writing ---- */
static void assert_same_tree(const mvae_cfg_node *a, const mvae_cfg_node *b) {
    assert_int_equal(a->kind, b->kind);
    if (a->key || b->key) {
        assert_non_null(a->key);
        assert_non_null(b->key);
        assert_string_equal(a->key, b->key);
    }
    if (a->kind == MVAE_CFG_SCALAR) {
        assert_string_equal(a->value, b->value);
        /* a string that needed quotes may gain them; a quoted string never loses them */
        if (a->quoted) assert_true(b->quoted);
        return;
    }
    assert_int_equal(a->n_items, b->n_items);
    for (int i = 0; i < a->n_items; i++) assert_same_tree(a->items[i], b->items[i]);
}

static char *write_string(const mvae_cfg_node *root) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(mvae_cfg_write(root, f), MVAE_OK);
    fclose(f);
    return buf;
}

static void roundtrip(const char *text) {
    mvae_cfg *a = load(text);
    char *out = write_string(mvae_cfg_root(a));
    mvae_cfg *b = NULL;
    mvae_error err = {0};
    int rc = mvae_cfg_load_string(out, "written.yaml", &b, &err);
    if (rc) fprintf(stderr, "re-read failed: %s\n--- written:\n%s", err.msg, out);
    assert_int_equal(rc, MVAE_OK);
    assert_same_tree(mvae_cfg_root(a), mvae_cfg_root(b));
    /* writing is a fixed point */
    char *out2 = write_string(mvae_cfg_root(b));
    assert_string_equal(out, out2);
    free(out);
    free(out2);
    mvae_cfg_free(a);
    mvae_cfg_free(b);
}

static void test_write_format(void **state) {
    (void)state;
    mvae_cfg *cfg = load(EXAMPLE);
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_validate(cfg, mvae_cfg_root(cfg), TOP_OPTS, "", NULL, &err), MVAE_OK);
    char *out = write_string(mvae_cfg_root(cfg));
    assert_has(out, "name: fashion-mnist-poe\nseed: 1\ndataset:\n  plugin: fashion_mnist\n");
    assert_has(out, "modalities:\n  image:\n    encoder:\n      plugin: conv_image\n      "
                    "channels: [64, 128]\n");
    assert_has(out, "  optimizer:\n    adam:\n      lr: 1.0e-3\n");
    assert_has(out, "  hidden: [512, 512]\n");
    assert_has(out, "terms: [\"image\", \"image,label\", \"image|label\"]\n");
    free(out);
    mvae_cfg_free(cfg);

    cfg = load("runs:\n  - {name: a, lr: 0.1}\n  - name: b\n    sizes: [1, 2]\n    opt: {x: "
               "1}\nempty_map: {}\n"
               "empty_list: []\nnested: [[1, 2], [3]]\n");
    out = write_string(mvae_cfg_root(cfg));
    assert_string_equal(out, "runs:\n"
                             "  - name: a\n"
                             "    lr: 0.1\n"
                             "  - name: b\n"
                             "    sizes: [1, 2]\n"
                             "    opt:\n"
                             "      x: 1\n"
                             "empty_map: {}\n"
                             "empty_list: []\n"
                             "nested:\n"
                             "  - [1, 2]\n"
                             "  - [3]\n");
    free(out);
    mvae_cfg_free(cfg);
}

static void test_write_roundtrip(void **state) {
    (void)state;
    roundtrip(EXAMPLE);
    roundtrip(
        "a: 'has: colon'\nb: '# not a comment'\nc: '  leading'\nd: ''\ne: 'yes'\nf: \"1e-3\"\n"
        "g: \"two\\nlines\\ttab \\\"q\\\" back\\\\slash\"\nh: '[not, a, list]'\ni: '-'\nj: '{x}'\n"
        "k: \"it's\"\nl: 'trailing '\nm: '*star'\nn: '&amp'\no: '!bang'\np: '%pct'\nq: '@at'\n"
        "r: '-1'\ns: ~\nt:\nu: ünïcödé\n\"key: odd\": 1\n'#k': 2\n'': 3\n"
        "list: ['a,b', 'c]', ' x', '']\n"
        "seqs:\n  - [1, 2]\n  - - a: 1\n    - []\n  - {}\n");
    /* after --set and defaults, the resolved config still round-trips */
    mvae_cfg *cfg = load(EXAMPLE);
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_set(cfg, "train.note='a: b # c'", &err), MVAE_OK);
    assert_int_equal(mvae_cfg_set(cfg, "x.y=[{a: 1}, {b: [2, 3]}]", &err), MVAE_OK);
    char *out = write_string(mvae_cfg_root(cfg));
    assert_has(out, "  note: \"a: b # c\"\n");
    assert_has(out, "x:\n  y:\n    - a: 1\n    - b: [2, 3]\n");
    mvae_cfg *b = load(out);
    assert_same_tree(mvae_cfg_root(cfg), mvae_cfg_root(b));
    free(out);
    mvae_cfg_free(b);
    mvae_cfg_free(cfg);
}

static void test_write_file_atomic(void **state) {
    (void)state;
    char dir[] = "/tmp/mvae_cfg_testXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    mvae_cfg *cfg = load(EXAMPLE);
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_set(cfg, "seed=42", &err), MVAE_OK);
    assert_int_equal(mvae_cfg_write_file(cfg, path, &err), MVAE_OK);
    /* overwrite works too */
    assert_int_equal(mvae_cfg_write_file(cfg, path, &err), MVAE_OK);
    mvae_cfg *b = NULL;
    assert_int_equal(mvae_cfg_load_file(path, &b, &err), MVAE_OK);
    assert_string_equal(mvae_cfg_filename(b), path);
    assert_same_tree(mvae_cfg_root(cfg), mvae_cfg_root(b));
    int64_t v = 0;
    assert_int_equal(mvae_cfg_get_int(mvae_cfg_get(mvae_cfg_root(b), "seed"), &v, &err), MVAE_OK);
    assert_int_equal(v, 42);
    mvae_cfg_node *seed = mvae_cfg_get(mvae_cfg_root(b), "seed");
    assert_string_equal(seed->file, path);
    assert_int_equal(seed->line, 2);
    /* only the final file is left (no temporary) */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    /* unwritable destination: clear message */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/c.yaml", dir);
    assert_int_equal(mvae_cfg_write_file(cfg, bad, &err), MVAE_ERR_IO);
    assert_has(err.msg, "cannot write '");
    assert_has(err.msg, "No such file or directory");
    unlink(path);
    rmdir(dir);
    mvae_cfg_free(b);
    mvae_cfg_free(cfg);
}

/* Ranges: the interval notation, open and closed ends, infinite bounds, list items, defaults,
 * and a malformed range reported as a schema bug. */
static void test_ranges(void **state) {
    (void)state;
    mvae_error err = {0};
    bool in;
    static const struct {
        double v;
        const char *r;
        bool want;
    } cases[] = {
        {1, "[1, 4096]", true},       {0, "[1, 4096]", false},     {4096, "[1, 4096]", true},
        {4097, "[1, 4096]", false},   {0, "(0, inf)", false},      {1e-30, "(0, inf)", true},
        {1, "[0, 1)", false},         {0.999, "[0, 1)", true},     {-5, "[, 3]", true},
        {1e300, "[0, inf)", true},    {-1, "[-inf, -1]", true},    {NAN, "[0, 1]", false},
        {INFINITY, "[0, inf]", false}, {2, NULL, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(mvae_cfg_check_range(cases[i].v, cases[i].r, "k", &in, &err), MVAE_OK);
        if (in != cases[i].want) fprintf(stderr, "%g in %s: got %d\n", cases[i].v, cases[i].r, in);
        assert_true(in == cases[i].want);
    }
    const char *malformed[] = {"1, 2", "[1 2]", "[2, 1]", "[a, 1]", "[1, 2", "[]"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_not_equal(mvae_cfg_check_range(0, malformed[i], "train.k", &in, &err), MVAE_OK);
        assert_has(err.msg, "schema of 'train.k': malformed range");
    }
    static const mvae_option opts[] = {
        {"n", MVAE_OPT_INT, "2", "", NULL, false, NULL, "[1, 8]"},
        {"x", MVAE_OPT_FLOAT, "0.5", "", NULL, false, NULL, "(0, 1)"},
        {"sizes", MVAE_OPT_INT_LIST, "[4]", "", NULL, false, NULL, "[1, 64]"},
        {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
    };
    const char *texts[] = {"n: 9\n", "x: 1\n", "sizes: [4, 65]\n", "sizes: 0\n", "n: 3\nx: 0.25\nsizes: [1, 64]\n"};
    const char *want[] = {"exp.yaml:1:4: n: 9 is out of range; allowed: [1, 8] (an integer)",
                          "exp.yaml:1:4: x: 1 is out of range; allowed: (0, 1)",
                          "sizes[1]: 65 is out of range; allowed: [1, 64]", "sizes", NULL};
    for (int i = 0; i < 5; i++) {
        memset(&err, 0, sizeof err);
        mvae_cfg *cfg = load(texts[i]);
        int rc = mvae_cfg_validate(cfg, mvae_cfg_root(cfg), opts, "", NULL, &err);
        mvae_cfg_free(cfg);
        if (want[i]) {
            assert_int_equal(rc, MVAE_ERR_INVALID);
            assert_has(err.msg, want[i]);
        } else {
            assert_int_equal(rc, MVAE_OK);
        }
    }
    /* a default outside its own range is a schema bug, caught when the default is filled in */
    static const mvae_option bad_default[] = {
        {"n", MVAE_OPT_INT, "0", "", NULL, false, NULL, "[1, 8]"},
        {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
    };
    memset(&err, 0, sizeof err);
    mvae_cfg *cfg = load("{}\n");
    assert_int_equal(mvae_cfg_validate(cfg, mvae_cfg_root(cfg), bad_default, "", NULL, &err), MVAE_ERR_INVALID);
    assert_has(err.msg, "out of range");
    mvae_cfg_free(cfg);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_example),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_anchors_aliases_tags_rejected),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_validate_example_fills_defaults),
        cmocka_unit_test(test_unknown_key_hints),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_choices),
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_set_overrides),
        cmocka_unit_test(test_set_then_validate_reports_set_position),
        cmocka_unit_test(test_typed_getter_errors),
        cmocka_unit_test(test_edit_helpers),
        cmocka_unit_test(test_write_format),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_write_file_atomic),
        cmocka_unit_test(test_ranges),
    };
    return mvae_test_run("config", tests, argc, argv);
}
