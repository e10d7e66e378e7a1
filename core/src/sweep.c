/* sweep.c — parameter sweeps (see mvae/sweep.h and docs/sweeps.md): parse and expand the grid,
 * run it in-process and resumably, and report mean +- std over seeds as Markdown, CSV and PNG. */
#define _GNU_SOURCE
#include "mvae/sweep.h"
#include "mvae/json.h"
#include "mvae/model.h"
#include "mvae/plot.h"
#include "mvae/report.h"
#include "mvae/train.h"
#include "sweep_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------ small helpers */
typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;

static void sb_add(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    if (b->n + (size_t)w + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256);
        while (cap < b->n + (size_t)w + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) return;
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)w + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)w;
}

/* the buffer's text (never NULL); the caller frees it */
static char *sb_take(strbuf *b) {
    if (!b->s) return strdup("");
    char *s = b->s;
    b->s = NULL;
    b->n = b->cap = 0;
    return s;
}

static bool file_exists(const char *dir, const char *name) {
    char p[1600];
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) return false;
    struct stat st;
    return stat(p, &st) == 0;
}

/* characters kept in directory and file names */
static void sanitise(char *s) {
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._=,+-", *s)))
            *s = '_';
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* ---------------------------------------------------------------------- YAML nodes as text */
/* a node as YAML flow text that mvae_cfg_set reads back as the same node */
static void render_yaml(strbuf *b, const mvae_cfg_node *n) {
    if (n->kind == MVAE_CFG_SCALAR) {
        if (!n->quoted) {
            sb_add(b, "%s", n->value ? n->value : "");
            return;
        }
        sb_add(b, "'");
        for (const char *p = n->value; *p; p++) sb_add(b, *p == '\'' ? "''" : "%c", *p);
        sb_add(b, "'");
        return;
    }
    bool map = n->kind == MVAE_CFG_MAP;
    sb_add(b, map ? "{" : "[");
    for (int i = 0; i < n->n_items; i++) {
        if (i) sb_add(b, ", ");
        if (map) sb_add(b, "%s: ", n->items[i]->key);
        render_yaml(b, n->items[i]);
    }
    sb_add(b, map ? "}" : "]");
}

/* for labels: scalars as written (no quotes), others as flow YAML */
static char *display_text(const mvae_cfg_node *n) {
    if (n->kind == MVAE_CFG_SCALAR) return strdup(n->value ? n->value : "");
    strbuf b = {0};
    render_yaml(&b, n);
    return sb_take(&b);
}

static char *yaml_text(const mvae_cfg_node *n) {
    strbuf b = {0};
    render_yaml(&b, n);
    return sb_take(&b);
}

/* ------------------------------------------------------------------------------- the model */
typedef struct axis {
    char *key;
    int n;
    char **yaml, **shown; /* per value: text for --set, text for labels */
} axis;

typedef struct variant {
    char *name;
    int n_set;
    char **set; /* "key=value" */
    int n_axes;
    axis *axes; /* value lists replacing sweep axes of the same key */
} variant;

typedef struct run {
    mvae_sweep_run pub;
    char *label, *dir;
    int var;     /* -1: base grid */
    int *choice; /* per sweep axis: index of the value */
    const char **values;
} run;

struct mvae_sweep {
    char *path, *name, *base;
    int n_set;
    char **set;
    int n_axes;
    axis *axes;
    int n_var;
    variant *vars;
    int n_runs;
    run *runs;
};

static void axis_free(axis *a) {
    for (int i = 0; i < a->n; i++) free(a->yaml[i]), free(a->shown[i]);
    free(a->yaml);
    free(a->shown);
    free(a->key);
}

void mvae_sweep_free(mvae_sweep *s) {
    if (!s) return;
    free(s->path);
    free(s->name);
    free(s->base);
    for (int i = 0; i < s->n_set; i++) free(s->set[i]);
    free(s->set);
    for (int i = 0; i < s->n_axes; i++) axis_free(&s->axes[i]);
    free(s->axes);
    for (int v = 0; v < s->n_var; v++) {
        free(s->vars[v].name);
        for (int i = 0; i < s->vars[v].n_set; i++) free(s->vars[v].set[i]);
        free(s->vars[v].set);
        for (int i = 0; i < s->vars[v].n_axes; i++) axis_free(&s->vars[v].axes[i]);
        free(s->vars[v].axes);
    }
    free(s->vars);
    for (int r = 0; r < s->n_runs; r++) {
        free(s->runs[r].label);
        free(s->runs[r].dir);
        free(s->runs[r].choice);
        free(s->runs[r].values);
    }
    free(s->runs);
    free(s);
}

const char *mvae_sweep_name(const mvae_sweep *s) { return s->name; }
int mvae_sweep_n_axes(const mvae_sweep *s) { return s->n_axes; }
const char *mvae_sweep_axis(const mvae_sweep *s, int i) { return i >= 0 && i < s->n_axes ? s->axes[i].key : NULL; }
int mvae_sweep_n_runs(const mvae_sweep *s) { return s->n_runs; }
const mvae_sweep_run *mvae_sweep_run_at(const mvae_sweep *s, int i) {
    return i >= 0 && i < s->n_runs ? &s->runs[i].pub : NULL;
}

static const mvae_option variant_schema[] = {
    {"set", MVAE_OPT_ANY, NULL, "overrides for this variant's runs: {KEY: VALUE, ...} (after the axes)", NULL, false, NULL, NULL},
    {"axes", MVAE_OPT_ANY, NULL, "replacement value lists for some sweep axes: {AXIS: [v, ...]}", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};

static const mvae_option sweep_schema[] = {
    {"name", MVAE_OPT_STRING, NULL, "names the sweep directory runs/<name> (default: the file name)", NULL, false, NULL, NULL},
    {"base", MVAE_OPT_STRING, NULL, "the base experiment, relative to the sweep file", NULL, true, NULL, NULL},
    {"set", MVAE_OPT_ANY, NULL, "overrides for every run: {KEY: VALUE, ...} like --set KEY=VALUE", NULL, false, NULL, NULL},
    {"axes", MVAE_OPT_ANY, NULL, "{KEY: [v1, v2, ...], ...}: the grid (cartesian product, in file order)", NULL, true, NULL, NULL},
    {"variants", MVAE_OPT_MAP_OF, NULL, "extra runs per grid point: {NAME: {set: {...}, axes: {...}}}", variant_schema, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};

static int where_err(mvae_error *err, const mvae_cfg_node *n, const char *fmt, const char *a) {
    char w[256];
    mvae_cfg_where(n, w, sizeof w);
    return mvae_error_set(err, MVAE_ERR_INVALID, "%s: %s%s", w, fmt, a ? a : "");
}

/* {KEY: VALUE, ...} -> "KEY=VALUE" strings */
static int read_set(const mvae_cfg_node *n, const char *what, char ***out, int *count, mvae_error *err) {
    *out = NULL;
    *count = 0;
    if (!n) return MVAE_OK;
    if (n->kind != MVAE_CFG_MAP) return where_err(err, n, what, ": expected a map {KEY: VALUE, ...}");
    *out = calloc((size_t)(n->n_items ? n->n_items : 1), sizeof **out);
    if (!*out) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n->n_items; i++) {
        char *v = yaml_text(n->items[i]);
        if (!v || asprintf(&(*out)[i], "%s=%s", n->items[i]->key, v) < 0) {
            free(v);
            return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        }
        free(v);
        (*count)++;
    }
    return MVAE_OK;
}

static int read_axes(const mvae_cfg_node *n, const char *what, axis **out, int *count, mvae_error *err) {
    *out = NULL;
    *count = 0;
    if (!n) return MVAE_OK;
    if (n->kind != MVAE_CFG_MAP || n->n_items < 1)
        return where_err(err, n, what, ": expected a map of at least one KEY: [values]");
    *out = calloc((size_t)n->n_items, sizeof **out);
    if (!*out) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n->n_items; i++) {
        const mvae_cfg_node *a = n->items[i];
        axis *ax = &(*out)[i];
        (*count)++;
        ax->key = strdup(a->key);
        /* a single scalar is a one-value axis */
        int nv = a->kind == MVAE_CFG_SEQ ? a->n_items : 1;
        if (nv < 1) return where_err(err, a, "no values for axis ", a->key);
        ax->yaml = calloc((size_t)nv, sizeof *ax->yaml);
        ax->shown = calloc((size_t)nv, sizeof *ax->shown);
        if (!ax->key || !ax->yaml || !ax->shown) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        for (int k = 0; k < nv; k++) {
            const mvae_cfg_node *v = a->kind == MVAE_CFG_SEQ ? a->items[k] : a;
            ax->yaml[k] = yaml_text(v);
            ax->shown[k] = display_text(v);
            ax->n++;
            for (int j = 0; j < k; j++)
                if (!strcmp(ax->yaml[j], ax->yaml[k]))
                    return where_err(err, v, "repeated value in axis ", a->key);
        }
        for (int j = 0; j < i; j++)
            if (!strcmp((*out)[j].key, a->key)) return where_err(err, a, "repeated axis ", a->key);
    }
    return MVAE_OK;
}

static int add_runs(mvae_sweep *s, int var, mvae_error *err) {
    const variant *vr = var >= 0 ? &s->vars[var] : NULL;
    /* the value lists for this block: the sweep's axes, some replaced by the variant */
    const axis *ax[64];
    int total = 1;
    for (int a = 0; a < s->n_axes; a++) {
        ax[a] = &s->axes[a];
        for (int j = 0; vr && j < vr->n_axes; j++)
            if (!strcmp(vr->axes[j].key, s->axes[a].key)) ax[a] = &vr->axes[j];
        total *= ax[a]->n;
        if (total > 100000) return mvae_error_set(err, MVAE_ERR_INVALID, "%s: the grid has more than 100000 runs", s->path);
    }
    run *nr = realloc(s->runs, (size_t)(s->n_runs + total) * sizeof *nr);
    if (!nr) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    s->runs = nr;
    for (int r = 0; r < total; r++) {
        run *ru = &s->runs[s->n_runs];
        memset(ru, 0, sizeof *ru);
        ru->var = var;
        ru->choice = calloc((size_t)s->n_axes, sizeof *ru->choice);
        ru->values = calloc((size_t)s->n_axes, sizeof *ru->values);
        if (!ru->choice || !ru->values) {
            free(ru->choice);
            free(ru->values);
            return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        }
        s->n_runs++;
        /* mixed radix, the first axis the slowest */
        int rem = r;
        for (int a = s->n_axes - 1; a >= 0; a--) {
            ru->choice[a] = rem % ax[a]->n;
            rem /= ax[a]->n;
        }
        strbuf b = {0};
        for (int a = 0; a < s->n_axes; a++) {
            ru->values[a] = ax[a]->shown[ru->choice[a]];
            sb_add(&b, "%s%s=%s", a ? "," : "", s->axes[a].key, ru->values[a]);
        }
        if (vr) sb_add(&b, ",variant=%s", vr->name);
        ru->label = sb_take(&b);
        ru->dir = strdup(ru->label);
        if (!ru->label || !ru->dir) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        sanitise(ru->dir);
        if (strlen(ru->dir) > 200) { /* keep names short: a prefix and a hash of the label */
            uint64_t h = 1469598103934665603ull;
            for (const char *p = ru->label; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
            snprintf(ru->dir + 180, 21, "-%016llx", (unsigned long long)h);
        }
        ru->pub.label = ru->label;
        ru->pub.dir = ru->dir;
        ru->pub.variant = vr ? vr->name : NULL;
        ru->pub.values = ru->values;
    }
    return MVAE_OK;
}

static int sweep_parse(mvae_sweep *s, mvae_cfg *cfg, mvae_error *err) {
    mvae_cfg_node *root = mvae_cfg_root(cfg);
    if (mvae_cfg_validate(cfg, root, sweep_schema, "sweep", NULL, err)) return err->status;
    const char *name = NULL, *base = NULL;
    if (mvae_cfg_string_or(root, "name", NULL, &name, err) || mvae_cfg_string_or(root, "base", NULL, &base, err))
        return err->status;
    if (!name) { /* the file name without directory and extension */
        const char *b = strrchr(s->path, '/');
        b = b ? b + 1 : s->path;
        s->name = strdup(b);
        if (s->name && strrchr(s->name, '.') && strrchr(s->name, '.') != s->name) *strrchr(s->name, '.') = '\0';
    } else {
        s->name = strdup(name);
    }
    if (!s->name) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (!s->name[0] || strchr(s->name, '/'))
        return where_err(err, mvae_cfg_get(root, "name"), "name: one path component is needed (it names runs/<name>)", NULL);
    /* base: relative to the sweep file's directory */
    const char *slash = strrchr(s->path, '/');
    if (base[0] == '/' || !slash) {
        s->base = strdup(base);
    } else if (asprintf(&s->base, "%.*s/%s", (int)(slash - s->path), s->path, base) < 0) {
        s->base = NULL;
    }
    if (!s->base) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (read_set(mvae_cfg_get(root, "set"), "set", &s->set, &s->n_set, err)) return err->status;
    if (read_axes(mvae_cfg_get(root, "axes"), "axes", &s->axes, &s->n_axes, err)) return err->status;
    if (s->n_axes > 64) return where_err(err, mvae_cfg_get(root, "axes"), "axes: at most 64 axes", NULL);
    mvae_cfg_node *vars = mvae_cfg_get(root, "variants");
    if (vars && vars->kind == MVAE_CFG_MAP && vars->n_items) {
        s->vars = calloc((size_t)vars->n_items, sizeof *s->vars);
        if (!s->vars) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        for (int v = 0; v < vars->n_items; v++) {
            mvae_cfg_node *vn = vars->items[v];
            variant *vr = &s->vars[v];
            s->n_var++;
            vr->name = strdup(vn->key);
            if (!vr->name) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", vn->key);
            sanitise(tmp);
            if (strcmp(tmp, vn->key) || !vn->key[0])
                return where_err(err, vn, "variant names use letters, digits and ._+-: ", vn->key);
            if (read_set(mvae_cfg_get(vn, "set"), "set", &vr->set, &vr->n_set, err) ||
                read_axes(mvae_cfg_get(vn, "axes"), "axes", &vr->axes, &vr->n_axes, err))
                return err->status;
            for (int j = 0; j < vr->n_axes; j++) {
                bool known = false;
                for (int a = 0; a < s->n_axes; a++) known = known || !strcmp(s->axes[a].key, vr->axes[j].key);
                if (!known) {
                    const char *keys[64];
                    for (int a = 0; a < s->n_axes; a++) keys[a] = s->axes[a].key;
                    const char *near = mvae_nearest(vr->axes[j].key, keys, s->n_axes);
                    mvae_cfg_node *an = mvae_cfg_get(mvae_cfg_get(vn, "axes"), vr->axes[j].key);
                    char w[256];
                    return mvae_error_set(err, MVAE_ERR_INVALID,
                                          "%s: variants.%s.axes: '%s' is not an axis of the sweep%s%s%s",
                                          mvae_cfg_where(an, w, sizeof w), vr->name, vr->axes[j].key,
                                          near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
                }
            }
        }
    }
    if (add_runs(s, -1, err)) return err->status;
    for (int v = 0; v < s->n_var; v++)
        if (add_runs(s, v, err)) return err->status;
    for (int i = 0; i < s->n_runs; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(s->runs[i].dir, s->runs[j].dir))
                return mvae_error_set(err, MVAE_ERR_INVALID,
                                      "%s: runs '%s' and '%s' would share the directory '%s'", s->path,
                                      s->runs[j].label, s->runs[i].label, s->runs[i].dir);
    return MVAE_OK;
}

int mvae_sweep_load(const char *path, mvae_sweep **out, mvae_error *err) {
    *out = NULL;
    mvae_cfg *cfg;
    if (mvae_cfg_load_file(path, &cfg, err)) return err->status;
    mvae_sweep *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        mvae_cfg_free(cfg);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    int rc = sweep_parse(s, cfg, err);
    mvae_cfg_free(cfg);
    if (rc) {
        mvae_sweep_free(s);
        return rc;
    }
    *out = s;
    return MVAE_OK;
}

int mvae_sweep_run_config(const mvae_sweep *s, int i, mvae_cfg **cfg, mvae_error *err) {
    *cfg = NULL;
    if (i < 0 || i >= s->n_runs) return mvae_error_set(err, MVAE_ERR_INVALID, "run %d: no such run", i);
    const run *ru = &s->runs[i];
    if (mvae_cfg_load_file(s->base, cfg, err)) {
        mvae_error_prefix(err, "%s: base experiment", s->path);
        return err->status;
    }
    int rc = MVAE_OK;
    for (int k = 0; k < s->n_set && !rc; k++) rc = mvae_cfg_set(*cfg, s->set[k], err);
    for (int a = 0; a < s->n_axes && !rc; a++) {
        const axis *ax = &s->axes[a];
        if (ru->var >= 0)
            for (int j = 0; j < s->vars[ru->var].n_axes; j++)
                if (!strcmp(s->vars[ru->var].axes[j].key, ax->key)) ax = &s->vars[ru->var].axes[j];
        char *as = NULL;
        if (asprintf(&as, "%s=%s", ax->key, ax->yaml[ru->choice[a]]) < 0) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        rc = mvae_cfg_set(*cfg, as, err);
        free(as);
    }
    if (ru->var >= 0)
        for (int k = 0; k < s->vars[ru->var].n_set && !rc; k++) rc = mvae_cfg_set(*cfg, s->vars[ru->var].set[k], err);
    if (rc) {
        mvae_error_prefix(err, "%s: run %s", s->path, ru->label);
        mvae_cfg_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------------------------- executing */
static int copy_file(const char *from, const char *to, mvae_error *err) {
    FILE *a = fopen(from, "rb");
    if (!a) return mvae_error_set(err, MVAE_ERR_IO, "cannot read '%s': %s", from, strerror(errno));
    char tmp[1400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", to, (long)getpid()); /* shards share the directory */
    FILE *b = fopen(tmp, "wb");
    if (!b) {
        fclose(a);
        return mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    if (fclose(b) || rename(tmp, to)) return mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s'", to);
    return MVAE_OK;
}

static int write_runs_jsonl_locked(const mvae_sweep *s, const char *dir, mvae_error *err);
/* Several processes (shards) may finish runs at once: each rewrites runs.jsonl from what is on
 * disk while holding runs.jsonl.lock, so a later rewrite never drops a run an earlier one listed. */
static int write_runs_jsonl(const mvae_sweep *s, const char *dir, mvae_error *err) {
    char lp[1300];
    snprintf(lp, sizeof lp, "%s/runs.jsonl.lock", dir);
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return mvae_error_set(err, MVAE_ERR_IO, "cannot create '%s': %s", lp, strerror(errno));
    while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    int rc = write_runs_jsonl_locked(s, dir, err);
    close(fd);
    return rc;
}

static int write_runs_jsonl_locked(const mvae_sweep *s, const char *dir, mvae_error *err) {
    char path[1200], tmp[1300];
    snprintf(path, sizeof path, "%s/runs.jsonl", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    for (int i = 0; i < s->n_runs; i++) {
        const run *ru = &s->runs[i];
        char rd[1400];
        snprintf(rd, sizeof rd, "%s/%s", dir, ru->dir);
        if (!file_exists(rd, "metrics.json")) continue;
        fprintf(f, "{\"run\": ");
        json_str(f, ru->dir);
        fprintf(f, ", \"label\": ");
        json_str(f, ru->label);
        fprintf(f, ", \"variant\": ");
        if (ru->var >= 0) json_str(f, s->vars[ru->var].name);
        else fprintf(f, "null");
        fprintf(f, ", \"axes\": {");
        for (int a = 0; a < s->n_axes; a++) {
            fprintf(f, "%s", a ? ", " : "");
            json_str(f, s->axes[a].key);
            fprintf(f, ": ");
            json_str(f, ru->values[a]);
        }
        fprintf(f, "}, \"metrics\": ");
        char mp[1300];
        snprintf(mp, sizeof mp, "%s/metrics.json", ru->dir);
        json_str(f, mp);
        fprintf(f, "}\n");
    }
    if (fclose(f) || rename(tmp, path)) return mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s'", path);
    return MVAE_OK;
}

/* train (or resume) one run; the error is the run's */
static int run_one(const mvae_sweep *s, int i, const char *run_dir, bool resume, const mvae_registry *reg,
                   bool quiet, mvae_error *err) {
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc;
    if (resume) {
        char p[1600];
        if (snprintf(p, sizeof p, "%s/config.yaml", run_dir) >= (int)sizeof p)
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "path too long: %s", run_dir);
        else
            rc = mvae_cfg_load_file(p, &cfg, err);
    } else {
        rc = mvae_sweep_run_config(s, i, &cfg, err);
    }
    if (!rc) rc = mvae_model_build(cfg, reg, &m, err);
    if (!rc) {
        mvae_train_opts o = {.run_dir = run_dir, .resume = resume, .quiet = quiet};
        mvae_train_result r;
        rc = mvae_train(m, &o, &r, err);
    }
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    return rc;
}

int mvae_sweep_execute(const mvae_sweep *s, const mvae_registry *reg, const mvae_sweep_opts *o,
                       mvae_sweep_summary *sum, mvae_error *err) {
    mvae_sweep_opts def = {0};
    if (!o) o = &def;
    memset(sum, 0, sizeof *sum);
    sum->total = s->n_runs;
    char dir[1024];
    if (o->out_dir) snprintf(dir, sizeof dir, "%s", o->out_dir);
    else snprintf(dir, sizeof dir, "runs/%s", s->name);
    if (o->dry_run) {
        printf("sweep %s: %d runs in %s (base %s)\n", s->name, s->n_runs, dir, s->base);
        for (int i = 0; i < s->n_runs; i++) {
            if (o->n_shards > 0 && i % o->n_shards != o->shard) continue;
            char rd[1400];
            snprintf(rd, sizeof rd, "%s/%s", dir, s->runs[i].dir);
            bool done = file_exists(rd, "metrics.json"), part = !done && file_exists(rd, "last.ckpt");
            mvae_cfg *cfg = NULL;
            mvae_error e = {0};
            int rc = mvae_sweep_run_config(s, i, &cfg, &e);
            if (!rc) rc = mvae_experiment_validate(cfg, reg, &e);
            mvae_cfg_free(cfg);
            printf("run %d/%d: %s  [%s]\n", i + 1, s->n_runs, s->runs[i].label,
                   done ? "done" : part ? "resume" : "new");
            if (rc) {
                printf("  invalid: %s\n", e.msg);
                sum->failed++;
            } else if (done) {
                sum->skipped++;
            }
        }
        return MVAE_OK;
    }
    int rc;
    if ((rc = mvae_mkdir_p(dir, err))) return rc;
    char p[1200];
    snprintf(p, sizeof p, "%s/sweep.yaml", dir);
    struct stat a, b;
    if (!(stat(s->path, &a) == 0 && stat(p, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) &&
        (rc = copy_file(s->path, p, err)))
        return rc;
    if (o->command) {
        snprintf(p, sizeof p, "%s/command.txt", dir);
        FILE *f = fopen(p, "w");
        if (f) fprintf(f, "%s\n", o->command), fclose(f);
    }
    if ((rc = write_runs_jsonl(s, dir, err))) return rc;
    char **failed_msg = calloc((size_t)s->n_runs, sizeof *failed_msg);
    if (!failed_msg) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n_runs; i++) {
        const run *ru = &s->runs[i];
        char rd[1400];
        snprintf(rd, sizeof rd, "%s/%s", dir, ru->dir);
        if (o->n_shards > 0 && i % o->n_shards != o->shard) {
            sum->other_shards++;
            continue;
        }
        if (file_exists(rd, "metrics.json")) {
            printf("run %d/%d: %s: finished before, skipped\n", i + 1, s->n_runs, ru->label);
            sum->skipped++;
            continue;
        }
        /* claim it: another process (shard, host) sharing the directory may be training it */
        mvae_run_claim claim;
        bool got = false;
        char who[320];
        if ((rc = mvae_run_claim_try(rd, &claim, &got, who, sizeof who, err))) break;
        if (!got) {
            printf("run %d/%d: %s: being trained by %s, skipped\n", i + 1, s->n_runs, ru->label, who);
            sum->claimed++;
            continue;
        }
        if (who[0]) printf("run %d/%d: %s: taking over the claim of %s, which is no longer running\n", i + 1,
                           s->n_runs, ru->label, who);
        if (file_exists(rd, "metrics.json")) { /* finished by another process since the check above */
            mvae_run_claim_release(&claim);
            printf("run %d/%d: %s: finished by another process, skipped\n", i + 1, s->n_runs, ru->label);
            sum->skipped++;
            continue;
        }
        bool resume = file_exists(rd, "last.ckpt") && file_exists(rd, "config.yaml");
        printf("run %d/%d: %s%s\n", i + 1, s->n_runs, ru->label, resume ? " (resuming from last.ckpt)" : "");
        fflush(stdout);
        mvae_error e = {0};
        double t0 = mvae_time_sec();
        int r = run_one(s, i, rd, resume, reg, o->quiet, &e);
        char ep[1500];
        snprintf(ep, sizeof ep, "%s/error.txt", rd);
        if (r) {
            sum->failed++;
            failed_msg[i] = strdup(e.msg);
            fprintf(stderr, "run %d/%d: %s FAILED: %s\n", i + 1, s->n_runs, ru->label, e.msg);
            if (!mvae_mkdir_p(rd, NULL)) {
                FILE *f = fopen(ep, "w");
                if (f) fprintf(f, "%s\n", e.msg), fclose(f);
            }
        } else {
            unlink(ep);
            if (resume) sum->resumed++;
            else sum->trained++;
            printf("run %d/%d: done in %.1f s -> %s/metrics.json\n", i + 1, s->n_runs, mvae_time_sec() - t0, rd);
            if ((rc = write_runs_jsonl(s, dir, err))) {
                mvae_run_claim_release(&claim);
                break;
            }
        }
        mvae_run_claim_release(&claim);
        fflush(stdout);
    }
    printf("sweep %s: %d runs: %d finished before, %d trained, %d resumed, %d failed", s->name, sum->total,
           sum->skipped, sum->trained, sum->resumed, sum->failed);
    if (o->n_shards > 0) printf(", %d left to the other %d shard(s)", sum->other_shards, o->n_shards - 1);
    if (sum->claimed) printf(", %d being trained by other processes", sum->claimed);
    printf(" (%s/runs.jsonl)\n", dir);
    if (sum->failed) {
        fprintf(stderr, "failed runs (rerun the same command to retry them; the others are skipped):\n");
        for (int i = 0; i < s->n_runs; i++)
            if (failed_msg[i]) fprintf(stderr, "  %s: %s\n", s->runs[i].label, failed_msg[i]);
    }
    for (int i = 0; i < s->n_runs; i++) free(failed_msg[i]);
    free(failed_msg);
    return rc;
}

/* ---------------------------------------------------------------------------------- report */
#define MAX_METRICS 128

typedef struct rep_run {
    char **values; /* per axis */
    char *variant; /* NULL: base grid */
    double m[MAX_METRICS];
    int group;
} rep_run;

typedef struct rep {
    int n_axes;
    char **axes;
    int seed_axis, x_axis; /* -1: none */
    int n_metrics;
    char *metric[MAX_METRICS];
    int n_runs;
    rep_run *runs;
    int n_groups;
    int *group_first; /* a run of each group */
    char **group_label; /* values of the non-seed, non-x axes + variant: the series name */
    char **group_key;   /* all non-seed axes + variant */
} rep;

static const char *const report_prefixes[] = {"test.elbo", "test.log_p.", "test.bits_per_dim.", "test.accuracy.", "test.accuracy_mean_z.",
                                              "test.coherence.", "test.frechet.", "test.probe.", "train.samples_per_sec", NULL};

static bool wanted_metric(const char *path) {
    for (int i = 0; report_prefixes[i]; i++) {
        size_t n = strlen(report_prefixes[i]);
        if (!strncmp(path, report_prefixes[i], n) && (report_prefixes[i][n - 1] == '.' || path[n] == '\0')) return true;
    }
    return false;
}

typedef struct leaf_ctx {
    rep *r;
    rep_run *run;
} leaf_ctx;

static void on_leaf(const char *path, double v, void *user) {
    leaf_ctx *c = user;
    if (!wanted_metric(path)) return;
    int k = 0;
    while (k < c->r->n_metrics && strcmp(c->r->metric[k], path)) k++;
    if (k == c->r->n_metrics) {
        if (k == MAX_METRICS) return;
        c->r->metric[k] = strdup(path);
        if (!c->r->metric[k]) return;
        for (int i = 0; i < c->r->n_runs; i++) c->r->runs[i].m[k] = NAN; /* earlier runs lack it */
        c->r->n_metrics++;
    }
    c->run->m[k] = v;
}

static void rep_free(rep *r) {
    for (int i = 0; i < r->n_axes; i++) free(r->axes[i]);
    free(r->axes);
    for (int k = 0; k < r->n_metrics; k++) free(r->metric[k]);
    for (int i = 0; i < r->n_runs; i++) {
        for (int a = 0; a < r->n_axes; a++) free(r->runs[i].values[a]);
        free(r->runs[i].values);
        free(r->runs[i].variant);
    }
    free(r->runs);
    for (int g = 0; g < r->n_groups; g++) free(r->group_label[g]), free(r->group_key[g]);
    free(r->group_label);
    free(r->group_key);
    free(r->group_first);
}

static bool is_number(const char *s, double *v) {
    char *e;
    double d = strtod(s, &e);
    if (e == s || *e) return false;
    if (v) *v = d;
    return isfinite(d);
}

/* runs.jsonl + each metrics.json */
static int rep_read(rep *r, const char *dir, int *n_lines, mvae_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/runs.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return mvae_error_set(err, MVAE_ERR_IO, "'%s' has no runs.jsonl: not a sweep directory (made by `mvae sweep`), or no run has finished yet", dir);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = MVAE_OK;
    *n_lines = 0;
    while (!rc && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (len <= 1) continue;
        (*n_lines)++;
        char name[1300];
        snprintf(name, sizeof name, "%s:%d", path, lineno);
        mvae_json *j = NULL, *mj = NULL;
        if ((rc = mvae_json_parse(line, (size_t)len, name, &j, err))) break;
        const mvae_json *axes = mvae_json_get(j, "axes");
        const char *metrics = mvae_json_string_or(j, "metrics", NULL);
        if (!axes || axes->type != MVAE_JSON_OBJECT || !metrics) {
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s: expected {\"axes\": {...}, \"metrics\": \"...\"}", name);
        } else if (r->n_runs == 0 && r->n_axes == 0) {
            r->axes = calloc((size_t)axes->n_items + 1, sizeof *r->axes);
            for (int a = 0; r->axes && a < axes->n_items; a++) r->axes[r->n_axes++] = strdup(axes->items[a]->key);
        }
        if (!rc && axes->n_items != r->n_axes)
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s: %d axes, the first line has %d", name, axes->n_items, r->n_axes);
        char mp[2400];
        snprintf(mp, sizeof mp, "%s/%s", dir, metrics ? metrics : "");
        if (!rc && mvae_json_parse_file(mp, &mj, err)) {
            /* a run listed but unreadable: report and go on */
            fprintf(stderr, "mvae report: skipping a run: %s\n", err->msg);
            mvae_error_clear(err);
            mvae_json_free(j);
            continue;
        }
        if (!rc) {
            rep_run *nr = realloc(r->runs, (size_t)(r->n_runs + 1) * sizeof *nr);
            if (!nr) {
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            } else {
                r->runs = nr;
                rep_run *ru = &r->runs[r->n_runs++];
                memset(ru, 0, sizeof *ru);
                for (int k = 0; k < MAX_METRICS; k++) ru->m[k] = NAN;
                ru->values = calloc((size_t)r->n_axes + 1, sizeof *ru->values);
                for (int a = 0; ru->values && a < r->n_axes; a++) {
                    const mvae_json *v = mvae_json_get(axes, r->axes[a]);
                    ru->values[a] = strdup(v && v->type == MVAE_JSON_STRING ? v->string : "?");
                }
                const char *var = mvae_json_string_or(j, "variant", NULL);
                ru->variant = var ? strdup(var) : NULL;
                leaf_ctx c = {r, ru};
                mvae_json_leaves(mj, on_leaf, &c);
            }
        }
        mvae_json_free(mj);
        mvae_json_free(j);
    }
    free(line);
    fclose(f);
    return rc;
}

static bool axis_varies(const rep *r, int a) {
    for (int i = 1; i < r->n_runs; i++)
        if (strcmp(r->runs[i].values[a], r->runs[0].values[a])) return true;
    return false;
}

/* series label of a run: the values of the non-seed, non-x axes that vary in the sweep (all of
 * them when none varies) and the variant; with_x: the group key (x value included) */
static char *run_label(const rep *r, const rep_run *ru, bool with_x) {
    strbuf b = {0};
    int shown = 0, varying = 0;
    for (int a = 0; a < r->n_axes; a++)
        if (a != r->seed_axis && a != r->x_axis && axis_varies(r, a)) varying++;
    for (int a = 0; a < r->n_axes; a++) {
        if (a == r->seed_axis || (!with_x && a == r->x_axis)) continue;
        if (!with_x && varying && !axis_varies(r, a)) continue;
        sb_add(&b, "%s%s", shown++ ? " " : "", ru->values[a]);
    }
    if (ru->variant) sb_add(&b, "%s%s", shown++ ? " " : "", ru->variant);
    if (!shown) sb_add(&b, "all");
    return sb_take(&b);
}

static void rep_group(rep *r) {
    r->seed_axis = r->x_axis = -1;
    for (int a = 0; a < r->n_axes; a++)
        if (!strcmp(r->axes[a], "seed")) r->seed_axis = a;
    /* x axis: dataset.paired_fraction, else the first numeric non-seed axis with 2+ values */
    for (int pass = 0; pass < 2 && r->x_axis < 0; pass++)
        for (int a = 0; a < r->n_axes && r->x_axis < 0; a++) {
            if (a == r->seed_axis || (pass == 0 && strcmp(r->axes[a], "dataset.paired_fraction"))) continue;
            bool num = true, two = false;
            for (int i = 0; i < r->n_runs; i++) {
                num = num && is_number(r->runs[i].values[a], NULL);
                two = two || strcmp(r->runs[i].values[a], r->runs[0].values[a]);
            }
            if (num && two) r->x_axis = a;
        }
    r->group_first = calloc((size_t)r->n_runs + 1, sizeof *r->group_first);
    r->group_label = calloc((size_t)r->n_runs + 1, sizeof *r->group_label);
    r->group_key = calloc((size_t)r->n_runs + 1, sizeof *r->group_key);
    if (!r->group_first || !r->group_label || !r->group_key) return;
    for (int i = 0; i < r->n_runs; i++) {
        char *key = run_label(r, &r->runs[i], true);
        int g = 0;
        while (g < r->n_groups && strcmp(r->group_key[g], key)) g++;
        if (g == r->n_groups) {
            r->group_key[g] = key;
            r->group_label[g] = run_label(r, &r->runs[i], false);
            r->group_first[g] = i;
            r->n_groups++;
        } else {
            free(key);
        }
        r->runs[i].group = g;
    }
}

/* mean and sample standard deviation over a group's runs (NaN values skipped) */
static int group_stats(const rep *r, int g, int k, double *mean, double *sd) {
    double s = 0, s2 = 0;
    int n = 0;
    for (int i = 0; i < r->n_runs; i++)
        if (r->runs[i].group == g && isfinite(r->runs[i].m[k])) s += r->runs[i].m[k], n++;
    *mean = n ? s / n : NAN;
    for (int i = 0; i < r->n_runs; i++)
        if (r->runs[i].group == g && isfinite(r->runs[i].m[k])) s2 += (r->runs[i].m[k] - *mean) * (r->runs[i].m[k] - *mean);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : (n ? 0 : NAN);
    return n;
}

static int group_seeds(const rep *r, int g) {
    int n = 0;
    for (int i = 0; i < r->n_runs; i++) n += r->runs[i].group == g;
    return n;
}

/* v with the decimals suited to `like` (the mean, so that mean and std line up) */
static const char *fmt_num(double v, double like, char *buf, size_t n) {
    int dec = fabs(like) >= 100 ? 1 : fabs(like) >= 1 ? 3 : 4;
    if (!isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.*f", dec, v);
    return buf;
}

static void md_cell(FILE *f, const char *s) {
    fputs("| ", f);
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else fputc(*s, f);
    }
    fputc(' ', f);
}

static void csv_cell(FILE *f, const char *s, bool first) {
    if (!first) fputc(',', f);
    if (strpbrk(s, ",\"\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

static bool metric_is(const char *m, const char *prefix) { return !strncmp(m, prefix, strlen(prefix)); }

/* "train.epochs" etc. of each run's config.yaml, distinct values joined */
static void budget(const char *dir, char *out, size_t n) {
    char ep[256] = "", mb[256] = "";
    char path[1400];
    snprintf(path, sizeof path, "%s/runs.jsonl", dir);
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        mvae_json *j;
        mvae_error e = {0};
        if (mvae_json_parse(line, strlen(line), "runs.jsonl", &j, &e)) continue;
        const char *rd = mvae_json_string_or(j, "run", NULL);
        char cp[2400];
        snprintf(cp, sizeof cp, "%s/%s/config.yaml", dir, rd ? rd : "");
        mvae_cfg *cfg;
        if (rd && !mvae_cfg_load_file(cp, &cfg, &e)) {
            mvae_cfg_node *t = mvae_cfg_get(mvae_cfg_root(cfg), "train");
            mvae_cfg_node *e1 = mvae_cfg_get(t, "epochs"), *e2 = mvae_cfg_get(t, "max_batches");
            char tok[80];
            snprintf(tok, sizeof tok, "%s", e1 && e1->value ? e1->value : "10");
            char pad[84];
            snprintf(pad, sizeof pad, " %s,", tok);
            char hay[260];
            snprintf(hay, sizeof hay, " %s", ep);
            if (!strstr(hay, pad) && strlen(ep) + strlen(tok) + 3 < sizeof ep) strcat(ep, tok), strcat(ep, ",");
            snprintf(tok, sizeof tok, "%s", e2 && e2->value ? e2->value : "0");
            snprintf(pad, sizeof pad, " %s,", tok);
            snprintf(hay, sizeof hay, " %s", mb);
            if (!strstr(hay, pad) && strlen(mb) + strlen(tok) + 3 < sizeof mb) strcat(mb, tok), strcat(mb, ",");
            mvae_cfg_free(cfg);
        }
        mvae_json_free(j);
    }
    free(line);
    if (f) fclose(f);
    if (ep[0]) ep[strlen(ep) - 1] = '\0';
    if (mb[0]) mb[strlen(mb) - 1] = '\0';
    if (!ep[0]) snprintf(out, n, "unknown (no config.yaml found)");
    else if (!mb[0] || !strcmp(mb, "0")) snprintf(out, n, "%s epoch(s) over the whole training set", ep);
    else snprintf(out, n, "%s epoch(s), at most %s batch(es) per epoch (train.max_batches)", ep, mb);
}

static int write_plots(const rep *r, const char *dir, bool quiet, FILE *md, mvae_error *err) {
    int n_series = 0;
    int *series_of_group = calloc((size_t)r->n_groups + 1, sizeof *series_of_group);
    char **series_label = calloc((size_t)r->n_groups + 1, sizeof *series_label);
    double *xs = calloc((size_t)r->n_groups + 1, sizeof *xs);
    int rc = MVAE_OK;
    if (!series_of_group || !series_label || !xs) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* series = groups with the same label (they differ only in x) */
    for (int g = 0; g < r->n_groups; g++) {
        int s = 0;
        while (s < n_series && strcmp(series_label[s], r->group_label[g])) s++;
        if (s == n_series) series_label[n_series++] = r->group_label[g];
        series_of_group[g] = s;
    }
    /* distinct x values, sorted */
    int n_x = 0;
    bool all_pos = true;
    if (r->x_axis >= 0)
        for (int g = 0; g < r->n_groups; g++) {
            double x = NAN;
            is_number(r->runs[r->group_first[g]].values[r->x_axis], &x);
            all_pos = all_pos && x > 0;
            int k = 0;
            while (k < n_x && xs[k] != x) k++;
            if (k == n_x) xs[n_x++] = x;
        }
    for (int i = 1; i < n_x; i++)
        for (int j = i; j > 0 && xs[j - 1] > xs[j]; j--) {
            double t = xs[j];
            xs[j] = xs[j - 1];
            xs[j - 1] = t;
        }
    bool log_x = n_x > 1 && all_pos && xs[n_x - 1] / xs[0] > 10;
    const char *xname = r->x_axis >= 0 ? r->axes[r->x_axis] : NULL;
    size_t cells = (size_t)(n_series > 0 ? n_series : 1) * (size_t)(n_x > 0 ? n_x : 1);
    double *Y = malloc(cells * sizeof *Y), *E = malloc(cells * sizeof *E);
    mvae_plot_series *ps = calloc((size_t)(n_series > n_x ? n_series : n_x) + 1, sizeof *ps);
    char **xl = calloc((size_t)n_x + 1, sizeof *xl);
    if (!Y || !E || !ps || !xl) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto out2;
    }
    bool header = false;
    for (int k = 0; k < r->n_metrics && !rc; k++) {
        const char *m = r->metric[k];
        bool line_metric = metric_is(m, "test.accuracy.") || metric_is(m, "test.accuracy_mean_z.") || metric_is(m, "test.coherence.");
        bool bar_metric = metric_is(m, "test.log_p.");
        if (!(line_metric && xname) && !bar_metric) continue;
        for (size_t c = 0; c < cells; c++) Y[c] = E[c] = NAN;
        int nx = n_x ? n_x : 1;
        for (int g = 0; g < r->n_groups; g++) {
            int xi = 0;
            if (xname) {
                double x = NAN;
                is_number(r->runs[r->group_first[g]].values[r->x_axis], &x);
                while (xi < n_x && xs[xi] != x) xi++;
            }
            group_stats(r, g, k, &Y[series_of_group[g] * nx + xi], &E[series_of_group[g] * nx + xi]);
        }
        char file[600], title[600], png[1800];
        snprintf(file, sizeof file, "%s_%s.png", line_metric ? "lines" : "bars", m);
        sanitise(file);
        snprintf(png, sizeof png, "%s/%s", dir, file);
        if (line_metric) {
            for (int s = 0; s < n_series; s++)
                ps[s] = (mvae_plot_series){.label = series_label[s], .n = n_x, .x = xs, .y = Y + s * nx, .err = E + s * nx};
            snprintf(title, sizeof title, "%s vs %s", m, xname);
            mvae_plot_opts o = {.title = title, .xlabel = xname, .ylabel = m + 5, .log_x = log_x};
            rc = mvae_plot_lines(png, &o, ps, n_series, err);
        } else {
            /* bars: one group per series, one bar colour per x value */
            double *Yt = malloc(cells * sizeof *Yt), *Et = malloc(cells * sizeof *Et);
            if (!Yt || !Et) {
                free(Yt);
                free(Et);
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                break;
            }
            for (int s = 0; s < n_series; s++)
                for (int xi = 0; xi < nx; xi++) Yt[xi * n_series + s] = Y[s * nx + xi], Et[xi * n_series + s] = E[s * nx + xi];
            for (int xi = 0; xi < nx; xi++) {
                free(xl[xi]);
                xl[xi] = NULL;
                if (xname && asprintf(&xl[xi], "%s %g", strrchr(xname, '.') ? strrchr(xname, '.') + 1 : xname, xs[xi]) < 0) xl[xi] = NULL;
                ps[xi] = (mvae_plot_series){.label = xname ? xl[xi] : NULL, .n = n_series, .y = Yt + xi * n_series, .err = Et + xi * n_series};
            }
            snprintf(title, sizeof title, "%s (nats; higher is better)", m);
            mvae_plot_opts o = {.title = title, .ylabel = "log-likelihood (nats)"};
            rc = mvae_plot_bars(png, &o, (const char *const *)series_label, n_series, ps, nx, err);
            free(Yt);
            free(Et);
        }
        if (rc) break;
        if (!header) fprintf(md, "\n## Plots\n\n"), header = true;
        fprintf(md, "![%s](%s)\n\n", m, file);
        if (!quiet) printf("wrote %s\n", png);
    }
    for (int xi = 0; xi < n_x; xi++) free(xl[xi]);
out2:
    free(Y);
    free(E);
    free(ps);
    free(xl);
out:
    free(series_of_group);
    free(series_label);
    free(xs);
    return rc;
}

int mvae_sweep_report(const char *dir, bool quiet, mvae_error *err) {
    rep r = {0};
    int n_lines = 0;
    int rc = rep_read(&r, dir, &n_lines, err);
    if (!rc && r.n_runs == 0) {
        int running = mvae_sweep_list_unfinished(dir, NULL, quiet);
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: no finished run to report on%s", dir,
                            running ? " yet (runs are still training: see above)" : "");
    }
    if (rc) {
        rep_free(&r);
        return rc;
    }
    rep_group(&r);
    /* the sweep's name and command */
    char name[256], command[2048] = "", path[1300], bud[600];
    const char *b = strrchr(dir, '/');
    snprintf(name, sizeof name, "%s", b && b[1] ? b + 1 : dir);
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    mvae_cfg *sc;
    mvae_error e2 = {0};
    if (!mvae_cfg_load_file(path, &sc, &e2)) {
        mvae_cfg_node *n = mvae_cfg_get(mvae_cfg_root(sc), "name");
        if (n && n->value) snprintf(name, sizeof name, "%s", n->value);
        mvae_cfg_free(sc);
    }
    snprintf(path, sizeof path, "%s/command.txt", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(command, sizeof command, f)) command[0] = '\0';
        command[strcspn(command, "\n")] = '\0';
        fclose(f);
    }
    budget(dir, bud, sizeof bud);
    /* seeds */
    int n_seeds = 0;
    char seeds[512] = "";
    if (r.seed_axis >= 0)
        for (int i = 0; i < r.n_runs; i++) {
            bool seen = false;
            for (int j = 0; j < i; j++) seen = seen || !strcmp(r.runs[j].values[r.seed_axis], r.runs[i].values[r.seed_axis]);
            if (!seen && strlen(seeds) + strlen(r.runs[i].values[r.seed_axis]) + 3 < sizeof seeds) {
                snprintf(seeds + strlen(seeds), sizeof seeds - strlen(seeds), "%s%s", n_seeds ? ", " : "", r.runs[i].values[r.seed_axis]);
                n_seeds++;
            }
        }
    /* report.md */
    char mdp[1300], csvp[1300];
    snprintf(mdp, sizeof mdp, "%s/report.md", dir);
    snprintf(csvp, sizeof csvp, "%s/report.csv", dir);
    FILE *md = fopen(mdp, "w"), *csv = fopen(csvp, "w");
    if (!md || !csv) {
        if (md) fclose(md);
        if (csv) fclose(csv);
        rep_free(&r);
        return mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s' / '%s': %s", mdp, csvp, strerror(errno));
    }
    fprintf(md, "# Sweep report: %s\n\n", name);
    fprintf(md, "- sweep: `%s`\n", command[0] ? command : "(command not recorded)");
    fprintf(md, "- report: `mvae report %s`\n", dir);
    fprintf(md, "- runs reported: %d (of %d finished in runs.jsonl)\n", r.n_runs, n_lines);
    if (r.seed_axis >= 0) fprintf(md, "- seeds: %d (%s); cells are mean ± sample standard deviation over seeds\n", n_seeds, seeds);
    else fprintf(md, "- seeds: 1 (no `seed` axis); cells are single values\n");
    fprintf(md, "- training budget: %s\n", bud);
    fprintf(md, "- metric definitions: docs/metrics.md\n\n");
    /* table: one row per group */
    bool any_var = false, fc = true;
    for (int i = 0; i < r.n_runs; i++) any_var = any_var || r.runs[i].variant;
    for (int a = 0; a < r.n_axes; a++)
        if (a != r.seed_axis) md_cell(md, r.axes[a]), csv_cell(csv, r.axes[a], fc), fc = false;
    if (any_var) md_cell(md, "variant"), csv_cell(csv, "variant", fc), fc = false;
    md_cell(md, "seeds");
    csv_cell(csv, "seeds", fc);
    for (int k = 0; k < r.n_metrics; k++) {
        md_cell(md, r.metric[k]);
        char h[300];
        snprintf(h, sizeof h, "%s.mean", r.metric[k]);
        csv_cell(csv, h, false);
        snprintf(h, sizeof h, "%s.std", r.metric[k]);
        csv_cell(csv, h, false);
    }
    fprintf(md, "|\n");
    fputc('\n', csv);
    int cols = r.n_axes - (r.seed_axis >= 0) + any_var + 1 + r.n_metrics;
    for (int c = 0; c < cols; c++) fprintf(md, "|---");
    fprintf(md, "|\n");
    for (int g = 0; g < r.n_groups; g++) {
        const rep_run *ru = &r.runs[r.group_first[g]];
        bool fc = true;
        for (int a = 0; a < r.n_axes; a++)
            if (a != r.seed_axis) md_cell(md, ru->values[a]), csv_cell(csv, ru->values[a], fc), fc = false;
        if (any_var) md_cell(md, ru->variant ? ru->variant : "-"), csv_cell(csv, ru->variant ? ru->variant : "", fc), fc = false;
        char buf[64], b2[64], cell[160];
        snprintf(buf, sizeof buf, "%d", group_seeds(&r, g));
        md_cell(md, buf);
        csv_cell(csv, buf, fc);
        for (int k = 0; k < r.n_metrics; k++) {
            double mean, sd;
            int n = group_stats(&r, g, k, &mean, &sd);
            if (!n) snprintf(cell, sizeof cell, "-");
            else if (r.seed_axis >= 0) snprintf(cell, sizeof cell, "%s ± %s", fmt_num(mean, mean, buf, sizeof buf), fmt_num(sd, mean, b2, sizeof b2));
            else snprintf(cell, sizeof cell, "%s", fmt_num(mean, mean, buf, sizeof buf));
            md_cell(md, cell);
            snprintf(buf, sizeof buf, n ? "%.9g" : "", mean);
            csv_cell(csv, buf, false);
            snprintf(buf, sizeof buf, n ? "%.9g" : "", sd);
            csv_cell(csv, buf, false);
        }
        fprintf(md, "|\n");
        fputc('\n', csv);
    }
    rc = write_plots(&r, dir, quiet, md, err);
    mvae_sweep_list_unfinished(dir, md, quiet); /* a sweep still running: its other runs */
    bool bad = fclose(md) != 0;
    bad = (fclose(csv) != 0) || bad;
    if (!rc && bad) rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s'", mdp);
    if (!rc && !quiet) printf("wrote %s\nwrote %s\n", mdp, csvp);
    rep_free(&r);
    if (!rc) rc = mvae_report_sweep_html(dir, quiet, err); /* report.html, from report.csv */
    return rc;
}
