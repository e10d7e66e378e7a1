/* mvae/config.h — YAML experiment files: a tree of nodes with file:line:col, strict schemas,
 * "did you mean" hints, --set overrides, and writing the resolved config back out.
 *
 *   mvae_cfg *cfg;
 *   if (mvae_cfg_load_file("exp.yaml", &cfg, &err)) { puts(err.msg); ... }
 *   mvae_cfg_set(cfg, "train.epochs=3", &err);                 // command-line override
 *   if (mvae_cfg_validate(cfg, mvae_cfg_root(cfg), schema, "", &err)) ...
 *       // err.msg = "exp.yaml:12:5: unknown key 'laten_dim' (did you mean 'latent_dim'?)"
 *   int64_t d; mvae_cfg_get_int(mvae_cfg_path(mvae_cfg_root(cfg), "latent_dim"), &d, &err);
 *   mvae_cfg_write_file(cfg, "run/config.yaml", &err);
 *
 * Nodes are owned by the mvae_cfg; pointers stay valid until mvae_cfg_free. Scalars keep their
 * text; typed getters convert and report "file:line:col: 'abc' is not an integer (key 'epochs')".
 */
#ifndef MVAE_CONFIG_H
#define MVAE_CONFIG_H
#include "mvae/common.h"
#include <stdbool.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MVAE_CFG_SCALAR = 1, MVAE_CFG_MAP = 2, MVAE_CFG_SEQ = 3 } mvae_cfg_kind;

typedef struct mvae_cfg_node mvae_cfg_node;
struct mvae_cfg_node {
    int kind;             /* mvae_cfg_kind */
    char *key;            /* key in the parent map (NULL for sequence items and the root) */
    char *value;          /* scalar text (NULL for maps/sequences) */
    bool quoted;          /* scalar was quoted in the source (then it is always a string) */
    const char *file;     /* source name for messages ("<--set>" for overrides, "<default>") */
    int line, col;        /* 1-based position of the value (or of the key for maps) */
    int key_line, key_col;/* 1-based position of the key in its parent map */
    mvae_cfg_node **items;/* children: map entries in file order, or sequence items */
    int n_items, cap_items;
};

typedef struct mvae_cfg mvae_cfg;

/* Parse a YAML document (one mapping at the top). Syntax errors carry file:line:col. Duplicate
 * keys in one mapping are errors. Anchors/aliases and tags are rejected (explicit message). */
int mvae_cfg_load_file(const char *path, mvae_cfg **out, mvae_error *err);
int mvae_cfg_load_string(const char *text, const char *name, mvae_cfg **out, mvae_error *err);
void mvae_cfg_free(mvae_cfg *cfg); /* NULL is a no-op */
mvae_cfg_node *mvae_cfg_root(mvae_cfg *cfg);
const char *mvae_cfg_filename(const mvae_cfg *cfg);

/* Child of a map by key, or NULL. */
mvae_cfg_node *mvae_cfg_get(const mvae_cfg_node *map, const char *key);
/* Dotted path from a map ("train.optimizer.adam.lr"), or NULL if any part is missing. */
mvae_cfg_node *mvae_cfg_path(const mvae_cfg_node *root, const char *dotted);

/* Apply "a.b.c=value": value is parsed as a YAML flow node ("3", "[64,128]", "{adam: {lr: 1e-3}}",
 * "'text'"); intermediate maps are created; an existing node is replaced. */
int mvae_cfg_set(mvae_cfg *cfg, const char *assignment, mvae_error *err);

/* Create (or replace) a scalar child of a map; used to fill defaults. Returns the node. */
mvae_cfg_node *mvae_cfg_set_scalar(mvae_cfg *cfg, mvae_cfg_node *map, const char *key,
                                   const char *value);
/* Create (or return the existing) child map. */
mvae_cfg_node *mvae_cfg_ensure_map(mvae_cfg *cfg, mvae_cfg_node *map, const char *key);
/* Remove a key from a map (no-op if absent). */
void mvae_cfg_remove(mvae_cfg_node *map, const char *key);

/* Typed reads; each fails with "file:line:col: ..." naming the key. */
int mvae_cfg_get_int(const mvae_cfg_node *n, int64_t *out, mvae_error *err);
int mvae_cfg_get_float(const mvae_cfg_node *n, double *out, mvae_error *err);
int mvae_cfg_get_bool(const mvae_cfg_node *n, bool *out, mvae_error *err); /* true/false/yes/no/on/off */
int mvae_cfg_get_string(const mvae_cfg_node *n, const char **out, mvae_error *err);
/* Sequence of ints (a single scalar counts as a one-element list). *out is malloc'd. */
int mvae_cfg_get_int_list(const mvae_cfg_node *n, int64_t **out, int *count, mvae_error *err);
int mvae_cfg_get_float_list(const mvae_cfg_node *n, double **out, int *count, mvae_error *err);

/* Convenience: child `key` of map with a fallback when absent (errors still reported). */
int mvae_cfg_int_or(const mvae_cfg_node *map, const char *key, int64_t def, int64_t *out, mvae_error *err);
int mvae_cfg_float_or(const mvae_cfg_node *map, const char *key, double def, double *out, mvae_error *err);
int mvae_cfg_bool_or(const mvae_cfg_node *map, const char *key, bool def, bool *out, mvae_error *err);
int mvae_cfg_string_or(const mvae_cfg_node *map, const char *key, const char *def, const char **out, mvae_error *err);

/* Position prefix for messages about n: "exp.yaml:12:5" into buf. */
const char *mvae_cfg_where(const mvae_cfg_node *n, char *buf, size_t len);

/* ---- schemas ---- */
typedef enum mvae_opt_type {
    MVAE_OPT_INT = 1,
    MVAE_OPT_FLOAT,
    MVAE_OPT_BOOL,
    MVAE_OPT_STRING,
    MVAE_OPT_INT_LIST,
    MVAE_OPT_FLOAT_LIST,
    MVAE_OPT_STRING_LIST,
    MVAE_OPT_MAP,    /* nested map validated against `children` */
    MVAE_OPT_MAP_OF, /* map with free keys, each value validated against `children` (a map) */
    MVAE_OPT_ANY,    /* not checked here (validated by whoever reads it, e.g. a plugin section) */
} mvae_opt_type;

/* One accepted key. A table ends with an entry whose key is NULL. */
typedef struct mvae_option {
    const char *key;
    int type;                  /* mvae_opt_type */
    const char *default_value; /* YAML text filled in when the key is absent; NULL = no default */
    const char *help;          /* one line, shown by `mvae plugins -v` and in docs */
    const struct mvae_option *children; /* for MAP / MAP_OF */
    bool required;             /* absent and no default -> error */
    const char *const *choices;/* for STRING: NULL-terminated list of allowed values, or NULL */
    const char *range;         /* ABI 2.0. For INT, FLOAT and their lists (each item): the allowed
                                * interval in the usual notation, "[1, 4096]", "(0, inf)", "[0, 1)",
                                * "[0, inf)"; NULL = any value of the type. Checked by
                                * mvae_cfg_validate, defaults included, and shown by `mvae plugins -v`. */
} mvae_option;

/* Check a map against a schema: unknown keys (with the nearest valid key as a hint), wrong types,
 * values outside `choices` or `range`, missing required keys; fill defaults (so the resolved config shows
 * every setting). `context` names the section in messages ("train", "modalities.image.encoder").
 * Keys in `extra_ok` (NULL-terminated, may be NULL) are accepted without checks. */
int mvae_cfg_validate(mvae_cfg *cfg, mvae_cfg_node *map, const mvae_option *schema,
                      const char *context, const char *const *extra_ok, mvae_error *err);

/* Whether v lies in the interval `range` ("[lo, hi]" etc., see mvae_option; NULL = any finite v).
 * A malformed range is reported as such in err (a schema bug, named by `path`). */
int mvae_cfg_check_range(double v, const char *range, const char *path, bool *inside, mvae_error *err);

/* Write the tree as block YAML (maps and sequences of scalars in flow style on one line). */
int mvae_cfg_write(const mvae_cfg_node *root, FILE *f);
int mvae_cfg_write_file(mvae_cfg *cfg, const char *path, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
