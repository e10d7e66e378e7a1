/* config.c — YAML experiment files (libyaml event API) into a tree of nodes with positions,
 * typed getters, --set overrides, schema validation with defaults, and writing back out.
 *
 * Memory: every node is one malloc (plus its key, value and items array); mvae_cfg_free walks
 * the tree. Node `file` pointers point either at the cfg's own copy of the file name or at the
 * static strings "<--set>" / "<default>", so they stay valid for the cfg's lifetime. */
#define _POSIX_C_SOURCE 200809L
#include "mvae/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define CFG_MAX_DEPTH 200

static const char SET_FILE[] = "<--set>";
static const char DEFAULT_FILE[] = "<default>";

struct mvae_cfg {
    char *name;          /* file name used in messages */
    mvae_cfg_node *root; /* always a map */
};

/* ------------------------------------------------------------------------------------------ */
/* nodes                                                                                      */

static mvae_cfg_node *node_new(int kind, const char *file, int line, int col) {
    mvae_cfg_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->file = file;
    n->line = line;
    n->col = col;
    return n;
}

static void node_free(mvae_cfg_node *n) {
    if (!n) return;
    for (int i = 0; i < n->n_items; i++) node_free(n->items[i]);
    free(n->items);
    free(n->key);
    free(n->value);
    free(n);
}

static int node_append(mvae_cfg_node *parent, mvae_cfg_node *child) {
    if (parent->n_items == parent->cap_items) {
        int cap = parent->cap_items ? parent->cap_items * 2 : 4;
        mvae_cfg_node **it = realloc(parent->items, (size_t)cap * sizeof *it);
        if (!it) return MVAE_ERR_NOMEM;
        parent->items = it;
        parent->cap_items = cap;
    }
    parent->items[parent->n_items++] = child;
    return MVAE_OK;
}

static int map_index(const mvae_cfg_node *map, const char *key) {
    if (!map || map->kind != MVAE_CFG_MAP || !key) return -1;
    for (int i = 0; i < map->n_items; i++)
        if (map->items[i]->key && strcmp(map->items[i]->key, key) == 0) return i;
    return -1;
}

/* Put `child` (whose key is set) into map, replacing (and freeing) an entry with the same key in
 * place, or appending. */
static int map_put(mvae_cfg_node *map, mvae_cfg_node *child) {
    int i = map_index(map, child->key);
    if (i >= 0) {
        node_free(map->items[i]);
        map->items[i] = child;
        return MVAE_OK;
    }
    return node_append(map, child);
}

/* A plain empty scalar is YAML's null ("key:" with nothing after it); sections given that way
 * are treated as empty maps. */
static bool is_null_scalar(const mvae_cfg_node *n) {
    return n->kind == MVAE_CFG_SCALAR && !n->quoted && n->value && n->value[0] == '\0';
}

static void null_to_map(mvae_cfg_node *n) {
    free(n->value);
    n->value = NULL;
    n->kind = MVAE_CFG_MAP;
    n->line = n->key ? n->key_line : n->line;
    n->col = n->key ? n->key_col : n->col;
}

static const char *kind_name(int kind) {
    switch (kind) {
    case MVAE_CFG_SCALAR:
        return "a scalar";
    case MVAE_CFG_MAP:
        return "a map";
    case MVAE_CFG_SEQ:
        return "a list";
    default:
        return "an unknown node";
    }
}

const char *mvae_cfg_where(const mvae_cfg_node *n, char *buf, size_t len) {
    if (!buf || len == 0) return "";
    if (!n)
        snprintf(buf, len, "<unknown>");
    else if (n->line <= 0)
        snprintf(buf, len, "%s", n->file ? n->file : "<unknown>");
    else
        snprintf(buf, len, "%s:%d:%d", n->file ? n->file : "<unknown>", n->line, n->col);
    return buf;
}

static const char *key_where(const mvae_cfg_node *n, char *buf, size_t len) {
    if (n && n->key && n->key_line > 0) {
        snprintf(buf, len, "%s:%d:%d", n->file ? n->file : "<unknown>", n->key_line, n->key_col);
        return buf;
    }
    return mvae_cfg_where(n, buf, len);
}

/* ------------------------------------------------------------------------------------------ */
/* parsing                                                                                    */

typedef struct {
    yaml_parser_t p;
    const char *file;
    int shift;   /* added to columns on the first line (for --set / default values) */
    int eol_col; /* >0 for one-line text: marks past its end (libyaml's end of stream) map here */
    int depth;
    mvae_error *err;
} parse_state;

static int mark_line(const parse_state *ps, const yaml_mark_t *m) {
    if (ps->eol_col > 0 && m->line > 0) return 1;
    return (int)m->line + 1;
}
static int mark_col(const parse_state *ps, const yaml_mark_t *m) {
    if (ps->eol_col > 0 && m->line > 0) return ps->eol_col;
    return (int)m->column + 1 + (m->line == 0 ? ps->shift : 0);
}

static int syntax_error(parse_state *ps) {
    yaml_parser_t *p = &ps->p;
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return mvae_error_set(ps->err, MVAE_ERR_NOMEM, "%s: out of memory while parsing YAML",
                              ps->file);
    case YAML_READER_ERROR:
        return mvae_error_set(ps->err, MVAE_ERR_FORMAT, "%s: YAML read error: %s (at byte %zu)",
                              ps->file, problem, p->problem_offset);
    default:
        if (p->context)
            return mvae_error_set(
                ps->err, MVAE_ERR_FORMAT, "%s:%d:%d: YAML syntax error: %s (%s at %d:%d)", ps->file,
                mark_line(ps, &p->problem_mark), mark_col(ps, &p->problem_mark), problem,
                p->context, mark_line(ps, &p->context_mark), mark_col(ps, &p->context_mark));
        return mvae_error_set(ps->err, MVAE_ERR_FORMAT, "%s:%d:%d: YAML syntax error: %s", ps->file,
                              mark_line(ps, &p->problem_mark), mark_col(ps, &p->problem_mark),
                              problem);
    }
}

static int next_event(parse_state *ps, yaml_event_t *ev) {
    if (!yaml_parser_parse(&ps->p, ev)) return syntax_error(ps);
    return MVAE_OK;
}

static int check_props(parse_state *ps, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag) {
    if (anchor)
        return mvae_error_set(ps->err, MVAE_ERR_INVALID,
                              "%s:%d:%d: YAML anchors (&%s) are not supported; write the value out",
                              ps->file, mark_line(ps, &ev->start_mark),
                              mark_col(ps, &ev->start_mark), (const char *)anchor);
    if (tag)
        return mvae_error_set(ps->err, MVAE_ERR_INVALID,
                              "%s:%d:%d: YAML tags (%s) are not supported; write the plain value",
                              ps->file, mark_line(ps, &ev->start_mark),
                              mark_col(ps, &ev->start_mark), (const char *)tag);
    return MVAE_OK;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int parse_node(parse_state *ps, yaml_event_t *ev, mvae_cfg_node **out);

static int parse_map_entries(parse_state *ps, mvae_cfg_node *map) {
    for (;;) {
        yaml_event_t kev;
        int rc = next_event(ps, &kev);
        if (rc) return rc;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return MVAE_OK;
        }
        int kl = mark_line(ps, &kev.start_mark), kc = mark_col(ps, &kev.start_mark);
        if (kev.type == YAML_ALIAS_EVENT) {
            rc = mvae_error_set(
                ps->err, MVAE_ERR_INVALID,
                "%s:%d:%d: YAML aliases (*%s) are not supported; write the value out", ps->file, kl,
                kc, (const char *)kev.data.alias.anchor);
            yaml_event_delete(&kev);
            return rc;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&kev);
            return mvae_error_set(ps->err, MVAE_ERR_INVALID,
                                  "%s:%d:%d: map keys must be plain text, not %s", ps->file, kl, kc,
                                  "a list or a map");
        }
        rc = check_props(ps, &kev, kev.data.scalar.anchor, kev.data.scalar.tag);
        if (rc) {
            yaml_event_delete(&kev);
            return rc;
        }
        char *key = dup_n((const char *)kev.data.scalar.value, kev.data.scalar.length);
        yaml_event_delete(&kev);
        if (!key) return mvae_error_set(ps->err, MVAE_ERR_NOMEM, "%s: out of memory", ps->file);
        int prev = map_index(map, key);
        if (prev >= 0) {
            const mvae_cfg_node *first = map->items[prev];
            rc = mvae_error_set(ps->err, MVAE_ERR_INVALID,
                                "%s:%d:%d: key '%s' given twice (first at %d:%d)", ps->file, kl, kc,
                                key, first->key_line, first->key_col);
            free(key);
            return rc;
        }
        yaml_event_t vev;
        rc = next_event(ps, &vev);
        if (rc) {
            free(key);
            return rc;
        }
        mvae_cfg_node *child = NULL;
        rc = parse_node(ps, &vev, &child);
        if (rc) {
            free(key);
            return rc;
        }
        child->key = key;
        child->key_line = kl;
        child->key_col = kc;
        if (child->kind == MVAE_CFG_MAP) {
            child->line = kl;
            child->col = kc;
        }
        if (node_append(map, child)) {
            node_free(child);
            return mvae_error_set(ps->err, MVAE_ERR_NOMEM, "%s: out of memory", ps->file);
        }
    }
}

static int parse_seq_items(parse_state *ps, mvae_cfg_node *seq) {
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(ps, &ev);
        if (rc) return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return MVAE_OK;
        }
        mvae_cfg_node *child = NULL;
        rc = parse_node(ps, &ev, &child);
        if (rc) return rc;
        if (node_append(seq, child)) {
            node_free(child);
            return mvae_error_set(ps->err, MVAE_ERR_NOMEM, "%s: out of memory", ps->file);
        }
    }
}

/* Consumes (deletes) *ev, which starts a node. */
static int parse_node(parse_state *ps, yaml_event_t *ev, mvae_cfg_node **out) {
    *out = NULL;
    int rc = MVAE_OK;
    int line = mark_line(ps, &ev->start_mark), col = mark_col(ps, &ev->start_mark);
    mvae_cfg_node *n = NULL;
    if (++ps->depth > CFG_MAX_DEPTH) {
        rc = mvae_error_set(ps->err, MVAE_ERR_INVALID, "%s:%d:%d: nesting deeper than %d levels",
                            ps->file, line, col, CFG_MAX_DEPTH);
        goto done;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        rc = mvae_error_set(ps->err, MVAE_ERR_INVALID,
                            "%s:%d:%d: YAML aliases (*%s) are not supported; write the value out",
                            ps->file, line, col, (const char *)ev->data.alias.anchor);
        break;
    case YAML_SCALAR_EVENT:
        rc = check_props(ps, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
        if (rc) break;
        n = node_new(MVAE_CFG_SCALAR, ps->file, line, col);
        if (n) n->value = dup_n((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n || !n->value) {
            rc = mvae_error_set(ps->err, MVAE_ERR_NOMEM, "%s: out of memory", ps->file);
            break;
        }
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        break;
    case YAML_SEQUENCE_START_EVENT:
        rc = check_props(ps, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
        if (rc) break;
        n = node_new(MVAE_CFG_SEQ, ps->file, line, col);
        if (!n) {
            rc = mvae_error_set(ps->err, MVAE_ERR_NOMEM, "%s: out of memory", ps->file);
            break;
        }
        rc = parse_seq_items(ps, n);
        break;
    case YAML_MAPPING_START_EVENT:
        rc = check_props(ps, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
        if (rc) break;
        n = node_new(MVAE_CFG_MAP, ps->file, line, col);
        if (!n) {
            rc = mvae_error_set(ps->err, MVAE_ERR_NOMEM, "%s: out of memory", ps->file);
            break;
        }
        rc = parse_map_entries(ps, n);
        break;
    default:
        rc = mvae_error_set(ps->err, MVAE_ERR_FORMAT, "%s:%d:%d: unexpected YAML event", ps->file,
                            line, col);
        break;
    }
done:
    ps->depth--;
    yaml_event_delete(ev);
    if (rc) {
        node_free(n);
        return rc;
    }
    *out = n;
    return MVAE_OK;
}

/* Parse one YAML document into *root (any kind; an empty stream gives an empty map). */
static int parse_text(const char *text, size_t len, const char *file, int shift, bool value_text,
                      mvae_cfg_node **root, mvae_error *err) {
    *root = NULL;
    parse_state ps;
    memset(&ps, 0, sizeof ps);
    ps.file = file;
    ps.shift = shift;
    if (value_text && !memchr(text, '\n', len)) ps.eol_col = (int)len + 1 + shift;
    ps.err = err;
    if (!yaml_parser_initialize(&ps.p))
        return mvae_error_set(err, MVAE_ERR_NOMEM, "%s: cannot initialise the YAML parser", file);
    yaml_parser_set_input_string(&ps.p, (const unsigned char *)text, len);
    yaml_event_t ev;
    mvae_cfg_node *n = NULL;
    int rc = next_event(&ps, &ev); /* stream start */
    if (rc) goto out;
    yaml_event_delete(&ev);
    rc = next_event(&ps, &ev);
    if (rc) goto out;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        n = node_new(MVAE_CFG_MAP, file, 1, 1 + shift);
        if (!n) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "%s: out of memory", file);
        goto out;
    }
    yaml_event_delete(&ev); /* document start */
    rc = next_event(&ps, &ev);
    if (rc) goto out;
    rc = parse_node(&ps, &ev, &n);
    if (rc) goto out;
    rc = next_event(&ps, &ev); /* document end */
    if (rc) goto out;
    yaml_event_delete(&ev);
    rc = next_event(&ps, &ev);
    if (rc) goto out;
    if (ev.type != YAML_STREAM_END_EVENT)
        rc =
            mvae_error_set(err, MVAE_ERR_INVALID,
                           "%s:%d:%d: only one YAML document is allowed (a second one starts here)",
                           file, mark_line(&ps, &ev.start_mark), mark_col(&ps, &ev.start_mark));
    yaml_event_delete(&ev);
out:
    yaml_parser_delete(&ps.p);
    if (rc) {
        node_free(n);
        return rc;
    }
    *root = n;
    return MVAE_OK;
}

/* Parse `value` (as written after "key: ") into one node; columns count from `col0`. */
static int parse_value_text(const char *value, const char *file, int col0, mvae_cfg_node **out,
                            mvae_error *err) {
    *out = NULL;
    size_t vl = strlen(value);
    char *buf = malloc(vl + 4);
    if (!buf) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    memcpy(buf, "v: ", 3);
    memcpy(buf + 3, value, vl + 1);
    mvae_cfg_node *root = NULL;
    int rc = parse_text(buf, vl + 3, file, col0 - 4, true, &root, err);
    free(buf);
    if (rc) return rc;
    if (root->kind != MVAE_CFG_MAP || root->n_items != 1 || strcmp(root->items[0]->key, "v") != 0) {
        node_free(root);
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s:1:%d: '%s' is not a single YAML value",
                              file, col0, value);
    }
    mvae_cfg_node *v = root->items[0];
    root->n_items = 0;
    node_free(root);
    free(v->key);
    v->key = NULL;
    v->key_line = v->key_col = 0;
    if (v->kind == MVAE_CFG_MAP) { /* a map's position is its key's: use the value start */
        v->line = 1;
        v->col = col0;
    }
    *out = v;
    return MVAE_OK;
}

static int load_text(const char *text, size_t len, const char *name, mvae_cfg **out,
                     mvae_error *err) {
    *out = NULL;
    mvae_cfg *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    cfg->name = strdup(name ? name : "<string>");
    if (!cfg->name) {
        free(cfg);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    int rc = parse_text(text, len, cfg->name, 0, false, &cfg->root, err);
    if (rc) {
        mvae_cfg_free(cfg);
        return rc;
    }
    mvae_cfg_node *r = cfg->root;
    if (is_null_scalar(r)) {
        null_to_map(r);
    } else if (r->kind != MVAE_CFG_MAP) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "%s:%d:%d: the top level must be a map of 'key: value' lines, not %s",
                            cfg->name, r->line, r->col, kind_name(r->kind));
        mvae_cfg_free(cfg);
        return rc;
    }
    *out = cfg;
    return MVAE_OK;
}

int mvae_cfg_load_string(const char *text, const char *name, mvae_cfg **out, mvae_error *err) {
    if (!out) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_cfg_load_string: out is NULL");
    *out = NULL;
    if (!text) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_cfg_load_string: text is NULL");
    return load_text(text, strlen(text), name, out, err);
}

int mvae_cfg_load_file(const char *path, mvae_cfg **out, mvae_error *err) {
    if (!out) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_cfg_load_file: out is NULL");
    *out = NULL;
    if (!path) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_cfg_load_file: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return mvae_error_set(err, MVAE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = MVAE_OK;
    while (buf) {
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0) break;
    }
    if (!buf)
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "cannot read '%s': out of memory", path);
    else if (ferror(f))
        rc = mvae_error_set(err, MVAE_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    if (rc == MVAE_OK) rc = load_text(buf, len, path, out, err);
    free(buf);
    return rc;
}

void mvae_cfg_free(mvae_cfg *cfg) {
    if (!cfg) return;
    node_free(cfg->root);
    free(cfg->name);
    free(cfg);
}

mvae_cfg_node *mvae_cfg_root(mvae_cfg *cfg) {
    return cfg ? cfg->root : NULL;
}
const char *mvae_cfg_filename(const mvae_cfg *cfg) {
    return cfg ? cfg->name : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* lookup and editing                                                                         */

mvae_cfg_node *mvae_cfg_get(const mvae_cfg_node *map, const char *key) {
    int i = map_index(map, key);
    return i >= 0 ? map->items[i] : NULL;
}

mvae_cfg_node *mvae_cfg_path(const mvae_cfg_node *root, const char *dotted) {
    if (!root || !dotted) return NULL;
    const mvae_cfg_node *cur = root;
    const char *p = dotted;
    char part[256];
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof part) return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        cur = mvae_cfg_get(cur, part);
        if (!cur) return NULL;
        if (!dot) return (mvae_cfg_node *)cur;
        p = dot + 1;
    }
}

mvae_cfg_node *mvae_cfg_set_scalar(mvae_cfg *cfg, mvae_cfg_node *map, const char *key,
                                   const char *value) {
    (void)cfg;
    if (!map || map->kind != MVAE_CFG_MAP || !key || !value) return NULL;
    mvae_cfg_node *n = node_new(MVAE_CFG_SCALAR, DEFAULT_FILE, 0, 0);
    if (!n) return NULL;
    n->key = strdup(key);
    n->value = strdup(value);
    if (!n->key || !n->value || map_put(map, n)) {
        node_free(n);
        return NULL;
    }
    return n;
}

mvae_cfg_node *mvae_cfg_ensure_map(mvae_cfg *cfg, mvae_cfg_node *map, const char *key) {
    (void)cfg;
    if (!map || map->kind != MVAE_CFG_MAP || !key) return NULL;
    mvae_cfg_node *c = mvae_cfg_get(map, key);
    if (c) {
        if (is_null_scalar(c)) null_to_map(c);
        return c->kind == MVAE_CFG_MAP ? c : NULL;
    }
    c = node_new(MVAE_CFG_MAP, DEFAULT_FILE, 0, 0);
    if (!c) return NULL;
    c->key = strdup(key);
    if (!c->key || node_append(map, c)) {
        node_free(c);
        return NULL;
    }
    return c;
}

void mvae_cfg_remove(mvae_cfg_node *map, const char *key) {
    int i = map_index(map, key);
    if (i < 0) return;
    node_free(map->items[i]);
    memmove(map->items + i, map->items + i + 1,
            (size_t)(map->n_items - i - 1) * sizeof *map->items);
    map->n_items--;
}

int mvae_cfg_set(mvae_cfg *cfg, const char *assignment, mvae_error *err) {
    if (!cfg || !cfg->root) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_cfg_set: no config");
    if (!assignment)
        return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_cfg_set: assignment is NULL");
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "--set %s: expected key=value (e.g. train.epochs=3)", assignment);
    /* key span, trimmed */
    const char *ks = assignment, *ke = eq;
    while (ks < ke && isspace((unsigned char)*ks)) ks++;
    while (ke > ks && isspace((unsigned char)ke[-1])) ke--;
    if (ks == ke)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "--set %s: empty key before '=' (e.g. train.epochs=3)", assignment);
    const char *value = eq + 1;
    int value_col = (int)(value - assignment) + 1;
    mvae_cfg_node *cur = cfg->root;
    const char *p = ks;
    int rc = MVAE_OK;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(ke - p));
        const char *pe = dot ? dot : ke;
        if (pe == p)
            return mvae_error_set(err, MVAE_ERR_INVALID, "--set %s: empty part in key '%.*s'",
                                  assignment, (int)(ke - ks), ks);
        char *part = dup_n(p, (size_t)(pe - p));
        if (!part) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        int pcol = (int)(p - assignment) + 1;
        if (!dot) { /* last part: parse and put the value */
            mvae_error perr = {0};
            mvae_cfg_node *v = NULL;
            rc = parse_value_text(value, SET_FILE, value_col, &v, &perr);
            if (rc) {
                free(part);
                return mvae_error_set(err, rc, "--set %s: %s", assignment, perr.msg);
            }
            v->key = part;
            v->key_line = 1;
            v->key_col = pcol;
            if (map_put(cur, v)) {
                node_free(v);
                return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            }
            return MVAE_OK;
        }
        mvae_cfg_node *c = mvae_cfg_get(cur, part);
        if (!c) {
            c = node_new(MVAE_CFG_MAP, SET_FILE, 1, pcol);
            if (!c || node_append(cur, c)) {
                node_free(c);
                free(part);
                return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            }
            c->key = part;
            c->key_line = 1;
            c->key_col = pcol;
        } else {
            free(part);
            if (is_null_scalar(c)) null_to_map(c);
            if (c->kind != MVAE_CFG_MAP)
                return mvae_error_set(err, MVAE_ERR_INVALID, "--set %s: '%.*s' is %s, not a map",
                                      assignment, (int)(pe - ks), ks, kind_name(c->kind));
        }
        cur = c;
        p = dot + 1;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* typed getters                                                                              */

/* "file:l:c: label: " prefix into buf */
static const char *prefix(const mvae_cfg_node *n, const char *label, char *buf, size_t len) {
    char w[256];
    mvae_cfg_where(n, w, sizeof w);
    if (!label) label = n ? n->key : NULL;
    if (label)
        snprintf(buf, len, "%s: %s: ", w, label);
    else
        snprintf(buf, len, "%s: ", w);
    return buf;
}

static int need_scalar(const mvae_cfg_node *n, const char *label, const char *what,
                       mvae_error *err) {
    char pre[1024];
    if (!n)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: missing value (expected %s)",
                              label ? label : "config", what);
    if (n->kind != MVAE_CFG_SCALAR)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%sexpected %s, got %s",
                              prefix(n, label, pre, sizeof pre), what, kind_name(n->kind));
    return MVAE_OK;
}

static int get_int_l(const mvae_cfg_node *n, const char *label, int64_t *out, mvae_error *err) {
    int rc = need_scalar(n, label, "an integer", err);
    if (rc) return rc;
    char pre[1024];
    const char *s = n->value;
    if (n->quoted)
        return mvae_error_set(
            err, MVAE_ERR_INVALID,
            "%s'%s' is quoted, so it is a string, not an integer (remove the quotes)",
            prefix(n, label, pre, sizeof pre), s);
    const char *q = s;
    if (*q == '+' || *q == '-') q++;
    bool ok = *q != '\0';
    for (; *q; q++)
        if (!isdigit((unsigned char)*q)) ok = false;
    if (!ok)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s'%s' is not an integer",
                              prefix(n, label, pre, sizeof pre), s);
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s'%s' is out of range for a 64-bit integer",
                              prefix(n, label, pre, sizeof pre), s);
    if (out) *out = (int64_t)v;
    return MVAE_OK;
}

static int get_float_l(const mvae_cfg_node *n, const char *label, double *out, mvae_error *err) {
    int rc = need_scalar(n, label, "a number", err);
    if (rc) return rc;
    char pre[1024];
    const char *s = n->value;
    if (n->quoted)
        return mvae_error_set(
            err, MVAE_ERR_INVALID,
            "%s'%s' is quoted, so it is a string, not a number (remove the quotes)",
            prefix(n, label, pre, sizeof pre), s);
    char *end = NULL;
    errno = 0;
    double v = (*s && !isspace((unsigned char)*s)) ? strtod(s, &end) : 0.0;
    if (!end || end == s || *end != '\0')
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s'%s' is not a number",
                              prefix(n, label, pre, sizeof pre), s);
    if (!isfinite(v))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s'%s' is not a finite number",
                              prefix(n, label, pre, sizeof pre), s);
    if (out) *out = v;
    return MVAE_OK;
}

static int get_bool_l(const mvae_cfg_node *n, const char *label, bool *out, mvae_error *err) {
    int rc = need_scalar(n, label, "true or false", err);
    if (rc) return rc;
    char pre[1024];
    const char *s = n->value;
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    if (!n->quoted)
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(s, yes[i]) == 0) {
                if (out) *out = true;
                return MVAE_OK;
            }
            if (strcasecmp(s, no[i]) == 0) {
                if (out) *out = false;
                return MVAE_OK;
            }
        }
    return mvae_error_set(err, MVAE_ERR_INVALID, "%s'%s' is not a boolean (use true or false)",
                          prefix(n, label, pre, sizeof pre), s);
}

static int get_string_l(const mvae_cfg_node *n, const char *label, const char **out,
                        mvae_error *err) {
    int rc = need_scalar(n, label, "a string", err);
    if (rc) return rc;
    if (out) *out = n->value;
    return MVAE_OK;
}

int mvae_cfg_get_int(const mvae_cfg_node *n, int64_t *out, mvae_error *err) {
    return get_int_l(n, NULL, out, err);
}
int mvae_cfg_get_float(const mvae_cfg_node *n, double *out, mvae_error *err) {
    return get_float_l(n, NULL, out, err);
}
int mvae_cfg_get_bool(const mvae_cfg_node *n, bool *out, mvae_error *err) {
    return get_bool_l(n, NULL, out, err);
}
int mvae_cfg_get_string(const mvae_cfg_node *n, const char **out, mvae_error *err) {
    return get_string_l(n, NULL, out, err);
}

/* Items of a list value (a single scalar counts as one item). */
static int list_items(const mvae_cfg_node *n, const char *label, const char *what,
                      const mvae_cfg_node **slot, const mvae_cfg_node *const **items, int *count,
                      mvae_error *err) {
    char pre[1024];
    if (!n)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: missing value (expected %s)",
                              label ? label : "config", what);
    if (n->kind == MVAE_CFG_SCALAR) {
        *slot = n;
        *items = slot;
        *count = 1;
        return MVAE_OK;
    }
    if (n->kind != MVAE_CFG_SEQ)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%sexpected %s, got %s",
                              prefix(n, label, pre, sizeof pre), what, kind_name(n->kind));
    *items = (const mvae_cfg_node *const *)n->items;
    *count = n->n_items;
    return MVAE_OK;
}

static void item_label(const mvae_cfg_node *n, const char *label, int i, char *buf, size_t len) {
    if (!label) label = n->key;
    if (n->kind == MVAE_CFG_SEQ)
        snprintf(buf, len, "%s[%d]", label ? label : "", i);
    else
        snprintf(buf, len, "%s", label ? label : "");
}

/* A list of scalars read one by one with `item` into a malloc'd array of elem-byte values
 * (a single scalar counts as a one-element list). */
typedef int (*item_reader)(const mvae_cfg_node *n, const char *label, void *out, mvae_error *err);
static int read_int_item(const mvae_cfg_node *n, const char *label, void *out, mvae_error *err) {
    return get_int_l(n, label, out, err);
}
static int read_float_item(const mvae_cfg_node *n, const char *label, void *out, mvae_error *err) {
    return get_float_l(n, label, out, err);
}

static int get_list_l(const mvae_cfg_node *n, const char *label, const char *what, size_t elem,
                      item_reader item, void **out, int *count, mvae_error *err) {
    if (out) *out = NULL;
    if (count) *count = 0;
    const mvae_cfg_node *slot = NULL, *const *items = NULL;
    int k = 0;
    int rc = list_items(n, label, what, &slot, &items, &k, err);
    if (rc) return rc;
    char *v = k > 0 ? malloc((size_t)k * elem) : NULL;
    if (k > 0 && !v) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < k; i++) {
        char lab[300];
        item_label(n, label, i, lab, sizeof lab);
        rc = item(items[i], lab[0] ? lab : NULL, v + (size_t)i * elem, err);
        if (rc) {
            free(v);
            return rc;
        }
    }
    if (out)
        *out = v;
    else
        free(v);
    if (count) *count = k;
    return MVAE_OK;
}

static int get_int_list_l(const mvae_cfg_node *n, const char *label, int64_t **out, int *count,
                          mvae_error *err) {
    return get_list_l(n, label, "a list of integers", sizeof **out, read_int_item, (void **)out, count, err);
}

static int get_float_list_l(const mvae_cfg_node *n, const char *label, double **out, int *count,
                            mvae_error *err) {
    return get_list_l(n, label, "a list of numbers", sizeof **out, read_float_item, (void **)out, count, err);
}

int mvae_cfg_get_int_list(const mvae_cfg_node *n, int64_t **out, int *count, mvae_error *err) {
    return get_int_list_l(n, NULL, out, count, err);
}
int mvae_cfg_get_float_list(const mvae_cfg_node *n, double **out, int *count, mvae_error *err) {
    return get_float_list_l(n, NULL, out, count, err);
}

int mvae_cfg_int_or(const mvae_cfg_node *map, const char *key, int64_t def, int64_t *out,
                    mvae_error *err) {
    const mvae_cfg_node *n = mvae_cfg_get(map, key);
    if (!n) {
        if (out) *out = def;
        return MVAE_OK;
    }
    return mvae_cfg_get_int(n, out, err);
}
int mvae_cfg_float_or(const mvae_cfg_node *map, const char *key, double def, double *out,
                      mvae_error *err) {
    const mvae_cfg_node *n = mvae_cfg_get(map, key);
    if (!n) {
        if (out) *out = def;
        return MVAE_OK;
    }
    return mvae_cfg_get_float(n, out, err);
}
int mvae_cfg_bool_or(const mvae_cfg_node *map, const char *key, bool def, bool *out,
                     mvae_error *err) {
    const mvae_cfg_node *n = mvae_cfg_get(map, key);
    if (!n) {
        if (out) *out = def;
        return MVAE_OK;
    }
    return mvae_cfg_get_bool(n, out, err);
}
int mvae_cfg_string_or(const mvae_cfg_node *map, const char *key, const char *def, const char **out,
                       mvae_error *err) {
    const mvae_cfg_node *n = mvae_cfg_get(map, key);
    if (!n) {
        if (out) *out = def;
        return MVAE_OK;
    }
    return mvae_cfg_get_string(n, out, err);
}

/* ------------------------------------------------------------------------------------------ */
/* schemas                                                                                    */

static const mvae_option *find_option(const mvae_option *schema, const char *key) {
    for (const mvae_option *o = schema; o && o->key; o++)
        if (strcmp(o->key, key) == 0) return o;
    return NULL;
}

static bool in_list(const char *const *list, const char *s) {
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0) return true;
    return false;
}

static void join_path(char *buf, size_t len, const char *context, const char *key) {
    if (context && context[0])
        snprintf(buf, len, "%s.%s", context, key);
    else
        snprintf(buf, len, "%s", key);
}

/* Append s to buf (bounded). */
static void cat(char *buf, size_t len, const char *s) {
    size_t k = strlen(buf);
    if (k + 1 < len) snprintf(buf + k, len - k, "%s", s);
}

static int wrong_type(const mvae_cfg_node *n, const char *path, const char *expected,
                      mvae_error *err) {
    char w[512];
    mvae_cfg_where(n, w, sizeof w);
    if (n->kind == MVAE_CFG_SCALAR)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s: expected %s, got a scalar ('%s')", w,
                              path, expected, n->value);
    return mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s: expected %s, got %s", w, path, expected,
                          kind_name(n->kind));
}

/* Parse one bound of a range: a number, "inf", "-inf" or empty (unbounded). */
static bool range_bound(const char *s, const char *e, double *out) {
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    if (s == e) return true; /* keeps the caller's infinite default */
    char buf[64];
    if ((size_t)(e - s) >= sizeof buf) return false;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    if (strcmp(buf, "inf") == 0 || strcmp(buf, "+inf") == 0) return *out = INFINITY, true;
    if (strcmp(buf, "-inf") == 0) return *out = -INFINITY, true;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (!end || *end || isnan(v)) return false;
    *out = v;
    return true;
}

int mvae_cfg_check_range(double v, const char *range, const char *path, bool *inside,
                         mvae_error *err) {
    *inside = isfinite(v);
    if (!range) return MVAE_OK;
    size_t len = strlen(range);
    const char *comma = strchr(range, ',');
    double lo = -INFINITY, hi = INFINITY;
    if (len < 3 || (range[0] != '[' && range[0] != '(') ||
        (range[len - 1] != ']' && range[len - 1] != ')') || !comma ||
        !range_bound(range + 1, comma, &lo) || !range_bound(comma + 1, range + len - 1, &hi) ||
        lo > hi)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "schema of '%s': malformed range \"%s\" (expected e.g. \"[1, 4096]\" or \"(0, inf)\")",
                              path ? path : "?", range);
    bool lo_open = range[0] == '(', hi_open = range[len - 1] == ')';
    *inside = isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    return MVAE_OK;
}

static int range_check(const mvae_cfg_node *n, const char *path, double v, bool is_int,
                       const char *range, mvae_error *err) {
    bool inside;
    int rc = mvae_cfg_check_range(v, range, path, &inside, err);
    if (rc || inside) return rc;
    char w[512];
    return mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s: %s is out of range; allowed: %s%s",
                          mvae_cfg_where(n, w, sizeof w), path, n->value, range,
                          is_int ? " (an integer)" : "");
}

static int validate_value(mvae_cfg *cfg, mvae_cfg_node *n, const mvae_option *opt, const char *path,
                          mvae_error *err) {
    switch (opt->type) {
    case MVAE_OPT_INT: {
        int64_t v;
        int rc = get_int_l(n, path, &v, err);
        return rc ? rc : range_check(n, path, (double)v, true, opt->range, err);
    }
    case MVAE_OPT_FLOAT: {
        double v;
        int rc = get_float_l(n, path, &v, err);
        return rc ? rc : range_check(n, path, v, false, opt->range, err);
    }
    case MVAE_OPT_BOOL:
        return get_bool_l(n, path, NULL, err);
    case MVAE_OPT_STRING: {
        if (n->kind != MVAE_CFG_SCALAR) return wrong_type(n, path, "a string", err);
        if (opt->choices && !in_list(opt->choices, n->value)) {
            char allowed[512] = "";
            int k = 0;
            for (const char *const *c = opt->choices; *c; c++, k++) {
                if (k) cat(allowed, sizeof allowed, ", ");
                cat(allowed, sizeof allowed, *c);
            }
            const char *near = mvae_nearest(n->value, opt->choices, k);
            char hint[300] = "";
            if (near) snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
            char w[512];
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s: '%s' is not one of: %s%s",
                                  mvae_cfg_where(n, w, sizeof w), path, n->value, allowed, hint);
        }
        return MVAE_OK;
    }
    case MVAE_OPT_INT_LIST:
    case MVAE_OPT_FLOAT_LIST: {
        bool is_int = opt->type == MVAE_OPT_INT_LIST;
        if (n->kind == MVAE_CFG_MAP)
            return wrong_type(n, path, is_int ? "a list of integers" : "a list of numbers", err);
        int rc = is_int ? get_int_list_l(n, path, NULL, NULL, err)
                        : get_float_list_l(n, path, NULL, NULL, err);
        if (rc || !opt->range) return rc;
        /* each item against the range, named by its own position */
        const mvae_cfg_node *slot = NULL, *const *items = NULL;
        int k = 0;
        rc = list_items(n, path, "a list", &slot, &items, &k, err);
        for (int i = 0; rc == MVAE_OK && i < k; i++) {
            char lab[600];
            item_label(n, path, i, lab, sizeof lab);
            if (is_int) {
                int64_t v;
                rc = get_int_l(items[i], lab, &v, err);
                if (!rc) rc = range_check(items[i], lab, (double)v, true, opt->range, err);
            } else {
                double v;
                rc = get_float_l(items[i], lab, &v, err);
                if (!rc) rc = range_check(items[i], lab, v, false, opt->range, err);
            }
        }
        return rc;
    }
    case MVAE_OPT_STRING_LIST: {
        if (n->kind == MVAE_CFG_MAP) return wrong_type(n, path, "a list of strings", err);
        const mvae_cfg_node *slot = NULL, *const *items = NULL;
        int k = 0;
        int rc = list_items(n, path, "a list of strings", &slot, &items, &k, err);
        for (int i = 0; rc == MVAE_OK && i < k; i++) {
            char lab[600];
            item_label(n, path, i, lab, sizeof lab);
            rc = get_string_l(items[i], lab, NULL, err);
        }
        return rc;
    }
    case MVAE_OPT_MAP:
        if (is_null_scalar(n)) null_to_map(n);
        if (n->kind != MVAE_CFG_MAP) return wrong_type(n, path, "a map", err);
        return opt->children ? mvae_cfg_validate(cfg, n, opt->children, path, NULL, err) : MVAE_OK;
    case MVAE_OPT_MAP_OF:
        if (is_null_scalar(n)) null_to_map(n);
        if (n->kind != MVAE_CFG_MAP) return wrong_type(n, path, "a map", err);
        for (int i = 0; i < n->n_items; i++) {
            mvae_cfg_node *c = n->items[i];
            char sub[600];
            join_path(sub, sizeof sub, path, c->key);
            if (is_null_scalar(c)) null_to_map(c);
            if (c->kind != MVAE_CFG_MAP) return wrong_type(c, sub, "a map", err);
            if (opt->children) {
                int rc = mvae_cfg_validate(cfg, c, opt->children, sub, NULL, err);
                if (rc) return rc;
            }
        }
        return MVAE_OK;
    case MVAE_OPT_ANY:
        return MVAE_OK;
    default:
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "schema for '%s' has an unknown option type %d", path, opt->type);
    }
}

int mvae_cfg_validate(mvae_cfg *cfg, mvae_cfg_node *map, const mvae_option *schema,
                      const char *context, const char *const *extra_ok, mvae_error *err) {
    const char *ctx = context ? context : "";
    char w[512];
    if (!map)
        return mvae_error_set(err, MVAE_ERR_INVALID, "missing section '%s'",
                              ctx[0] ? ctx : "<top level>");
    if (is_null_scalar(map)) null_to_map(map);
    if (map->kind != MVAE_CFG_MAP)
        return wrong_type(map, ctx[0] ? ctx : "<top level>", "a map", err);
    for (int i = 0; i < map->n_items; i++) {
        mvae_cfg_node *c = map->items[i];
        const mvae_option *opt = find_option(schema, c->key);
        if (!opt) {
            if (in_list(extra_ok, c->key)) continue;
            int n = 0;
            for (const mvae_option *o = schema; o && o->key; o++) n++;
            for (const char *const *e = extra_ok; e && *e; e++) n++;
            const char **cand = malloc((size_t)(n + 1) * sizeof *cand);
            if (!cand) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            int k = 0;
            for (const mvae_option *o = schema; o && o->key; o++) cand[k++] = o->key;
            for (const char *const *e = extra_ok; e && *e; e++) cand[k++] = *e;
            const char *near = mvae_nearest(c->key, cand, k);
            char hint[700];
            if (near) {
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
            } else if (k == 0) {
                snprintf(hint, sizeof hint, " (this section takes no keys)");
            } else {
                snprintf(hint, sizeof hint, " (valid keys: ");
                for (int j = 0; j < k; j++) {
                    if (j) cat(hint, sizeof hint, ", ");
                    cat(hint, sizeof hint, cand[j]);
                }
                cat(hint, sizeof hint, ")");
            }
            free(cand);
            key_where(c, w, sizeof w);
            if (ctx[0])
                return mvae_error_set(err, MVAE_ERR_INVALID, "%s: unknown key '%s' in %s%s", w,
                                      c->key, ctx, hint);
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: unknown key '%s'%s", w, c->key, hint);
        }
        char path[600];
        join_path(path, sizeof path, ctx, c->key);
        int rc = validate_value(cfg, c, opt, path, err);
        if (rc) return rc;
    }
    for (const mvae_option *o = schema; o && o->key; o++) {
        if (map_index(map, o->key) >= 0) continue;
        char path[600];
        join_path(path, sizeof path, ctx, o->key);
        if (o->default_value) {
            mvae_error perr = {0};
            mvae_cfg_node *v = NULL;
            int rc = parse_value_text(o->default_value, DEFAULT_FILE, 1, &v, &perr);
            if (rc) return mvae_error_set(err, rc, "schema default of '%s': %s", path, perr.msg);
            v->key = strdup(o->key);
            if (!v->key || node_append(map, v)) {
                node_free(v);
                return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            }
            rc = validate_value(cfg, v, o, path, err);
            if (rc) return rc;
        } else if (o->required) {
            mvae_cfg_where(map, w, sizeof w);
            if (ctx[0])
                return mvae_error_set(err, MVAE_ERR_INVALID, "%s: missing required key '%s' in %s",
                                      w, o->key, ctx);
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: missing required key '%s'", w,
                                  o->key);
        }
    }
    return MVAE_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* writing                                                                                    */

/* Whether s must be quoted to be read back as the same plain text, in block or flow context. */
static bool needs_quotes(const char *s) {
    if (!s[0]) return true;
    unsigned char c0 = (unsigned char)s[0];
    if (strchr("?:,[]{}#&*!|>'\"%@`", c0)) return true;
    if (c0 == '-' && (s[1] == '\0' || s[1] == ' ')) return true;
    if (isspace(c0) || isspace((unsigned char)s[strlen(s) - 1])) return true;
    if (strcmp(s, "---") == 0 || strcmp(s, "...") == 0) return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) return true;
        if (strchr(":#,[]{}", *p)) return true;
    }
    return false;
}

static void write_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\x%02x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void write_scalar(FILE *f, const mvae_cfg_node *n) {
    const char *v = n->value ? n->value : "";
    if (n->quoted || needs_quotes(v))
        write_quoted(f, v);
    else
        fputs(v, f);
}

static void write_key(FILE *f, const char *k) {
    if (needs_quotes(k))
        write_quoted(f, k);
    else
        fputs(k, f);
}

static bool all_scalars(const mvae_cfg_node *n) {
    for (int i = 0; i < n->n_items; i++)
        if (n->items[i]->kind != MVAE_CFG_SCALAR) return false;
    return true;
}

static void write_flow_seq(FILE *f, const mvae_cfg_node *n) {
    fputc('[', f);
    for (int i = 0; i < n->n_items; i++) {
        if (i) fputs(", ", f);
        write_scalar(f, n->items[i]);
    }
    fputc(']', f);
}

static void indent_to(FILE *f, int indent) {
    for (int i = 0; i < indent; i++) fputc(' ', f);
}

static void write_block_seq(FILE *f, const mvae_cfg_node *n, int indent);

static void write_block_map(FILE *f, const mvae_cfg_node *n, int indent, bool first_inline);

/* Writes node c after its "key:" or "-" (block style at indent + 2). A non-empty map as a
 * sequence item (seq_item) starts on the dash's line: "- key: value". */
static void write_block_value(FILE *f, const mvae_cfg_node *c, int indent, bool seq_item) {
    switch (c->kind) {
    case MVAE_CFG_SCALAR:
        fputc(' ', f);
        write_scalar(f, c);
        fputc('\n', f);
        break;
    case MVAE_CFG_MAP:
        if (c->n_items == 0) {
            fputs(" {}\n", f);
        } else {
            fputc(seq_item ? ' ' : '\n', f);
            write_block_map(f, c, indent + 2, seq_item);
        }
        break;
    case MVAE_CFG_SEQ:
        if (all_scalars(c)) {
            fputc(' ', f);
            write_flow_seq(f, c);
            fputc('\n', f);
        } else {
            fputc('\n', f);
            write_block_seq(f, c, indent + 2);
        }
        break;
    }
}

/* Writes the map's entries at `indent`; the first entry's indentation is already written when
 * first_inline is true (a map as a sequence item: "- key: value"). */
static void write_block_map(FILE *f, const mvae_cfg_node *n, int indent, bool first_inline) {
    for (int i = 0; i < n->n_items; i++) {
        const mvae_cfg_node *c = n->items[i];
        if (i > 0 || !first_inline) indent_to(f, indent);
        write_key(f, c->key ? c->key : "");
        fputc(':', f);
        write_block_value(f, c, indent, false);
    }
}

static void write_block_seq(FILE *f, const mvae_cfg_node *n, int indent) {
    for (int i = 0; i < n->n_items; i++) {
        indent_to(f, indent);
        fputc('-', f);
        write_block_value(f, n->items[i], indent, true);
    }
}

int mvae_cfg_write(const mvae_cfg_node *root, FILE *f) {
    if (!root || !f) return MVAE_ERR_INVALID;
    switch (root->kind) {
    case MVAE_CFG_MAP:
        if (root->n_items == 0)
            fputs("{}\n", f);
        else
            write_block_map(f, root, 0, false);
        break;
    case MVAE_CFG_SEQ:
        if (all_scalars(root)) {
            write_flow_seq(f, root);
            fputc('\n', f);
        } else {
            write_block_seq(f, root, 0);
        }
        break;
    default:
        write_scalar(f, root);
        fputc('\n', f);
    }
    return ferror(f) ? MVAE_ERR_IO : MVAE_OK;
}

int mvae_cfg_write_file(mvae_cfg *cfg, const char *path, mvae_error *err) {
    if (!cfg || !path)
        return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_cfg_write_file: NULL argument");
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = mvae_cfg_write(cfg->root, f);
    if (fflush(f) != 0) rc = MVAE_ERR_IO;
    if (rc == MVAE_OK && fsync(fileno(f)) != 0) rc = MVAE_ERR_IO;
    int saved = errno;
    if (fclose(f) != 0 && rc == MVAE_OK) {
        rc = MVAE_ERR_IO;
        saved = errno;
    }
    if (rc == MVAE_OK && rename(tmp, path) != 0) {
        rc = MVAE_ERR_IO;
        saved = errno;
    }
    if (rc != MVAE_OK) {
        remove(tmp);
        mvae_error_set(err, rc, "cannot write '%s': %s", path, strerror(saved));
    }
    free(tmp);
    return rc;
}
