/* report_html.c — the self-contained HTML report of a run or a sweep (mvae/report.h): XHTML-style
 * markup (every element closed, so an XML parser reads it too), inline CSS, SVG plots from
 * plot_svg.c, PNG pictures as base64 data URIs. The sweep page reads what mvae_sweep_report
 * wrote (report.csv) and runs.jsonl, so it depends on no internal of sweep.c. */
#define _GNU_SOURCE
#include "mvae/report.h"
#include "mvae/config.h"
#include "mvae/json.h"
#include "mvae/plot.h"
#include "mvae/sweep.h"
#include "report_internal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CURVES 64
/* pictures larger than this are left out of the page (named, with their size) */
#define MAX_PICTURE_BYTES (16u << 20)

/* ------------------------------------------------------------------------------- files */
/* the whole file, NUL-terminated; NULL when it cannot be read */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    mvae_sbuf b = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) mvae_sb_put(&b, buf, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad) return mvae_sb_free(&b), NULL;
    if (len) *len = b.n;
    return mvae_sb_take(&b);
}

static char *join(const char *dir, const char *name) {
    char *p = NULL;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static bool exists(const char *dir, const char *name) {
    char *p = join(dir, name);
    bool ok = p && access(p, F_OK) == 0;
    free(p);
    return ok;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* the run's picture grids: *.png except the bitmap plots the page redraws as SVG */
static int list_pictures(const char *dir, char ***out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        if (l < 5 || strcmp(nm + l - 4, ".png") || nm[0] == '.') continue;
        if (!strcmp(nm, "terms.png") || !strcmp(nm, "conflict.png") || !strncmp(nm, "lines_", 6) ||
            !strncmp(nm, "bars_", 5))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **g = realloc(*out, (size_t)cap * sizeof *g);
            if (!g) break;
            *out = g;
        }
        if (!((*out)[n] = strdup(nm))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(*out, (size_t)n, sizeof **out, cmp_str);
    return n;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ------------------------------------------------------------------------------ page parts */
static const char *CSS =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1400px;"
    "padding:0 16px;color:#222;line-height:1.4}"
    "h1{font-size:24px;border-bottom:2px solid #1f77b4;padding-bottom:4px}h2{font-size:19px;margin-top:32px}"
    "h3{font-size:15px}table{border-collapse:collapse;margin:8px 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.best{font-weight:bold;background:#e8f5e9}.scroll{overflow-x:auto}"
    "figure{display:inline-block;margin:6px 10px 12px 0;vertical-align:top}"
    "figure img{min-width:160px;image-rendering:pixelated;border:1px solid #ddd}"
    "figcaption{font-size:12px;color:#555;max-width:420px;word-break:break-all}"
    ".row{display:flex;flex-wrap:nowrap;overflow-x:auto;align-items:flex-start}"
    "details{margin:6px 0;border:1px solid #ddd;border-radius:4px;padding:4px 10px}"
    "summary{cursor:pointer;font-weight:bold}pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}"
    "svg.mvae-plot{max-width:100%;height:auto;margin:4px 12px 12px 0}.note{color:#666;font-size:13px}";

/* the only script: count the pictures that decoded; an error in the console for any that did
 * not (the browser test checks both) */
/* the only script: count the pictures that decoded; an error in the console for any that did
 * not (the browser test checks both). Written without '<' and '&' so that the page stays
 * well-formed XML. */
static const char *SCRIPT =
    "window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;im.length>i;i++){if(im[i].complete){if(im[i].naturalWidth>0){ok++;continue;}}"
    "console.error('mvae report: picture '+im[i].alt+' did not decode');}"
    "document.body.setAttribute('data-images-ok',ok+'/'+im.length);});";

static void page_open(mvae_sbuf *b, const char *title) {
    mvae_sb_printf(b, "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
                      "<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                      "<meta name=\"generator\" content=\"mvae %s\"/>\n<title>",
                   MVAE_VERSION_STRING);
    mvae_sb_esc(b, title);
    mvae_sb_printf(b, "</title>\n<style>%s</style>\n<script>%s</script>\n</head>\n<body>\n<h1>", CSS, SCRIPT);
    mvae_sb_esc(b, title);
    mvae_sb_printf(b, "</h1>\n");
}

static void page_close(mvae_sbuf *b) { mvae_sb_printf(b, "</body>\n</html>\n"); }

static void tag_text(mvae_sbuf *b, const char *tag, const char *attrs, const char *text) {
    mvae_sb_printf(b, "<%s%s%s>", tag, attrs ? " " : "", attrs ? attrs : "");
    mvae_sb_esc(b, text);
    mvae_sb_printf(b, "</%s>", tag);
}

/* v with decimals suited to `like` (as report.md formats it) */
static const char *fmt_num(double v, double like, char *buf, size_t n) {
    int dec = fabs(like) >= 100 ? 1 : fabs(like) >= 1 ? 3 : 4;
    if (!isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.*f", dec, v);
    return buf;
}

static bool higher_is_better(const char *metric) {
    static const char *const pre[] = {"test.elbo", "test.log_p.", "test.accuracy", "test.coherence", "test.probe",
                                      "test.classifier_accuracy", "test.bleu", NULL};
    for (int i = 0; pre[i]; i++)
        if (!strncmp(metric, pre[i], strlen(pre[i]))) return true;
    return false;
}

/* a metric's value: counts (test_points, epochs) as integers, the rest as fmt_num */
static const char *fmt_metric(const char *key, double v, char *buf, size_t n) {
    if (!higher_is_better(key) && isfinite(v) && v == floor(v) && fabs(v) < 1e15) snprintf(buf, n, "%.0f", v);
    else fmt_num(v, v, buf, n);
    return buf;
}

/* a PNG as <figure><img src="data:..."/><figcaption/></figure>; a file that is not a PNG, or
 * too large, becomes a note */
static void picture(mvae_sbuf *b, const char *dir, const char *name, const char *caption) {
    char *path = join(dir, name);
    size_t len = 0;
    char *data = path ? slurp(path, &len) : NULL;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!data || len < 24 || memcmp(data, sig, 8) || len > MAX_PICTURE_BYTES) {
        mvae_sb_printf(b, "<p class=\"note\">");
        mvae_sb_esc(b, name);
        mvae_sb_printf(b, ": %s</p>\n", !data ? "cannot be read" : len > MAX_PICTURE_BYTES ? "too large to embed (over 16 MiB)" : "not a PNG file");
        free(data);
        free(path);
        return;
    }
    const uint8_t *u = (const uint8_t *)data;
    uint32_t w = (uint32_t)u[16] << 24 | (uint32_t)u[17] << 16 | (uint32_t)u[18] << 8 | u[19];
    uint32_t h = (uint32_t)u[20] << 24 | (uint32_t)u[21] << 16 | (uint32_t)u[22] << 8 | u[23];
    /* small grids (8x8 digits) are shown at an integer scale of at least ~320 px */
    uint32_t scale = w > 0 && w < 320 ? (320 + w - 1) / w : 1;
    if (scale > 8) scale = 8;
    mvae_sb_printf(b, "<figure><img alt=\"");
    mvae_sb_esc(b, name);
    mvae_sb_printf(b, "\" width=\"%u\" height=\"%u\" src=\"data:image/png;base64,", w * scale, h * scale);
    mvae_sb_base64(b, u, len);
    mvae_sb_printf(b, "\"/><figcaption>");
    mvae_sb_esc(b, caption ? caption : name);
    mvae_sb_printf(b, " (%ux%u)</figcaption></figure>\n", w, h);
    free(data);
    free(path);
}

typedef struct leaves {
    int n, cap;
    char **path;
    double *v;
} leaves;

static void on_leaf(const char *path, double v, void *user) {
    leaves *l = user;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 32;
        char **p = realloc(l->path, (size_t)cap * sizeof *p);
        if (!p) return;
        l->path = p;
        double *nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv) return;
        l->v = nv;
        l->cap = cap;
    }
    if ((l->path[l->n] = strdup(path))) l->v[l->n++] = v;
}

static void leaves_free(leaves *l) {
    free_list(l->path, l->n);
    free(l->v);
}

/* metrics.json as a two-column table (every number, by dotted path) */
static void metrics_table(mvae_sbuf *b, const char *dir) {
    char *p = join(dir, "metrics.json");
    mvae_json *j = NULL;
    mvae_error e = {0};
    if (!p || mvae_json_parse_file(p, &j, &e)) {
        mvae_sb_printf(b, "<p class=\"note\">no metrics.json (the run has not finished its evaluation)</p>\n");
        free(p);
        return;
    }
    free(p);
    leaves l = {0};
    mvae_json_leaves(j, on_leaf, &l);
    mvae_json_free(j);
    mvae_sb_printf(b, "<table class=\"metrics\">\n<tr><th>metric</th><th>value</th></tr>\n");
    char buf[64];
    for (int i = 0; i < l.n; i++) {
        mvae_sb_printf(b, "<tr><td>");
        mvae_sb_esc(b, l.path[i]);
        mvae_sb_printf(b, "</td><td class=\"num\">%s</td></tr>\n", fmt_metric(l.path[i], l.v[i], buf, sizeof buf));
    }
    mvae_sb_printf(b, "</table>\n");
    leaves_free(&l);
}

/* a text file in a collapsible <pre> */
static void text_details(mvae_sbuf *b, const char *dir, const char *name, const char *summary, bool open) {
    char *p = join(dir, name);
    char *t = p ? slurp(p, NULL) : NULL;
    free(p);
    if (!t) return;
    mvae_sb_printf(b, "<details%s><summary>", open ? " open=\"open\"" : "");
    mvae_sb_esc(b, summary);
    mvae_sb_printf(b, "</summary><pre>");
    mvae_sb_esc(b, t);
    mvae_sb_printf(b, "</pre></details>\n");
    free(t);
}

/* ------------------------------------------------------------------------ training curves */
typedef struct curves {
    int n;
    char *name[MAX_CURVES];
    double *y[MAX_CURVES]; /* [n_epochs], NaN where an epoch lacks it */
    int n_epochs, cap;
    double *x;
} curves;

static int curve_at(curves *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) return i;
    if (c->n == MAX_CURVES || !c->cap) return -1;
    if (!(c->name[c->n] = strdup(name))) return -1;
    if (!(c->y[c->n] = malloc((size_t)c->cap * sizeof(double)))) return free(c->name[c->n]), -1;
    for (int e = 0; e < c->cap; e++) c->y[c->n][e] = NAN;
    return c->n++;
}

static bool curves_grow(curves *c) {
    if (c->n_epochs < c->cap) return true;
    int cap = c->cap ? c->cap * 2 : 64;
    double *x = realloc(c->x, (size_t)cap * sizeof *x);
    if (!x) return false;
    c->x = x;
    for (int i = 0; i < c->n; i++) {
        double *y = realloc(c->y[i], (size_t)cap * sizeof *y);
        if (!y) return false;
        for (int e = c->cap; e < cap; e++) y[e] = NAN;
        c->y[i] = y;
    }
    c->cap = cap;
    return true;
}

static void curves_free(curves *c) {
    for (int i = 0; i < c->n; i++) free(c->name[i]), free(c->y[i]);
    free(c->x);
    memset(c, 0, sizeof *c);
}

/* metrics.jsonl -> loss (and valid_loss), each objective term, each impartiality cosine */
static void read_curves(const char *dir, curves *loss, curves *terms, curves *cos) {
    char *p = join(dir, "metrics.jsonl");
    FILE *f = p ? fopen(p, "r") : NULL;
    free(p);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    curves *all[3] = {loss, terms, cos};
    while ((len = getline(&line, &cap, f)) > 0) {
        mvae_json *j = NULL;
        mvae_error e = {0};
        if (mvae_json_parse(line, (size_t)len, "metrics.jsonl", &j, &e)) continue; /* a torn line */
        const mvae_json *ep = mvae_json_get(j, "epoch");
        bool ok = ep && ep->type == MVAE_JSON_NUMBER;
        for (int w = 0; ok && w < 3; w++) {
            ok = curves_grow(all[w]);
            if (ok) all[w]->x[all[w]->n_epochs] = ep->number;
        }
        if (!ok) {
            mvae_json_free(j);
            continue;
        }
        for (int i = 0; i < j->n_items; i++) {
            const mvae_json *v = j->items[i];
            int k;
            if (v->type == MVAE_JSON_NUMBER && (!strcmp(v->key, "loss") || !strcmp(v->key, "valid_loss"))) {
                if ((k = curve_at(loss, v->key)) >= 0) loss->y[k][loss->n_epochs] = v->number;
            } else if (v->type == MVAE_JSON_OBJECT && !strcmp(v->key, "terms")) {
                for (int t = 0; t < v->n_items; t++)
                    if (v->items[t]->type == MVAE_JSON_NUMBER && (k = curve_at(terms, v->items[t]->key)) >= 0)
                        terms->y[k][terms->n_epochs] = v->items[t]->number;
            } else if (v->type == MVAE_JSON_NUMBER && !strncmp(v->key, "impartial.", 10) && strstr(v->key, ".cos.")) {
                const char *c = strstr(v->key, ".cos.");
                char name[256];
                snprintf(name, sizeof name, "%.*s: %s", (int)(c - (v->key + 10)), v->key + 10, c + 5);
                if ((k = curve_at(cos, name)) >= 0) cos->y[k][cos->n_epochs] = v->number;
            }
        }
        for (int w = 0; w < 3; w++) all[w]->n_epochs++;
        mvae_json_free(j);
    }
    free(line);
    fclose(f);
}

static int curves_svg(mvae_sbuf *b, const curves *c, const char *title, const char *ylabel, mvae_error *err) {
    if (!c->n || c->n_epochs < 1) return MVAE_OK;
    mvae_plot_series s[MAX_CURVES];
    for (int i = 0; i < c->n; i++)
        s[i] = (mvae_plot_series){.label = c->name[i], .n = c->n_epochs, .x = c->x, .y = c->y[i]};
    mvae_plot_opts o = {.title = title, .xlabel = "epoch", .ylabel = ylabel};
    char *svg = NULL;
    int rc = mvae_plot_lines_svg(&svg, &o, s, c->n, err);
    if (!rc) mvae_sb_put(b, svg, strlen(svg)), mvae_sb_put(b, "\n", 1);
    free(svg);
    return rc;
}

static int run_curves(mvae_sbuf *b, const char *dir, mvae_error *err) {
    curves loss = {0}, terms = {0}, cos = {0};
    read_curves(dir, &loss, &terms, &cos);
    int rc = MVAE_OK;
    if (!loss.n && !terms.n) mvae_sb_printf(b, "<p class=\"note\">no epoch in metrics.jsonl yet</p>\n");
    if (!rc) rc = curves_svg(b, &loss, "training loss per epoch (negative ELBO, per sample)", "loss", err);
    if (!rc) rc = curves_svg(b, &terms, "each objective term's loss per epoch", "loss", err);
    if (!rc) rc = curves_svg(b, &cos, "cosine between the modalities' gradients at z", "cosine", err);
    curves_free(&loss), curves_free(&terms), curves_free(&cos);
    return rc;
}

static int write_page(const char *dir, mvae_sbuf *b, bool quiet, mvae_error *err) {
    char *html = mvae_sb_take(b);
    if (!html) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory writing the HTML report of '%s'", dir);
    char *path = join(dir, "report.html"), *tmp = NULL;
    int rc = MVAE_OK;
    if (!path || asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
        tmp = NULL;
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    } else {
        FILE *f = fopen(tmp, "w");
        size_t n = strlen(html);
        if (!f) {
            rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        } else {
            bool bad = fwrite(html, 1, n, f) != n;
            bad = (fclose(f) != 0) || bad;
            if (bad || rename(tmp, path)) {
                rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
                unlink(tmp);
            }
        }
    }
    if (!rc && !quiet) printf("wrote %s\n", path);
    free(tmp);
    free(path);
    free(html);
    return rc;
}

/* ------------------------------------------------------------------------------ run page */
static void run_name(const char *dir, char *out, size_t n) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0'; /* trailing slashes */
    const char *s = strrchr(tmp, '/');
    snprintf(out, n, "%s", s && s[1] ? s + 1 : tmp);
}

int mvae_report_run_html(const char *dir, bool quiet, mvae_error *err) {
    if (!dir) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_report_run_html: no directory");
    if (!exists(dir, "config.yaml") && !exists(dir, "metrics.json") && !exists(dir, "metrics.jsonl"))
        return mvae_error_set(err, MVAE_ERR_IO,
                              "'%s' is neither a run directory (no config.yaml, metrics.json or metrics.jsonl: "
                              "made by `mvae train`) nor a sweep directory (no runs.jsonl: made by `mvae sweep`)",
                              dir);
    char name[512], title[600];
    run_name(dir, name, sizeof name);
    snprintf(title, sizeof title, "Run report: %s", name);
    mvae_sbuf b = {0};
    page_open(&b, title);
    mvae_sb_printf(&b, "<ul><li>run directory: <code>");
    mvae_sb_esc(&b, dir);
    mvae_sb_printf(&b, "</code></li><li>this page: <code>mvae report ");
    mvae_sb_esc(&b, dir);
    mvae_sb_printf(&b, "</code></li><li>metric definitions: docs/metrics.md</li></ul>\n<h2>Test metrics</h2>\n");
    metrics_table(&b, dir);
    mvae_sb_printf(&b, "<h2>Training curves</h2>\n");
    int rc = run_curves(&b, dir, err);
    char **pics = NULL;
    int np = list_pictures(dir, &pics);
    mvae_sb_printf(&b, "<h2>Pictures</h2>\n");
    if (!np) mvae_sb_printf(&b, "<p class=\"note\">no picture grids (eval.pictures: false, or not evaluated yet)</p>\n");
    for (int i = 0; i < np; i++) picture(&b, dir, pics[i], NULL);
    free_list(pics, np);
    mvae_sb_printf(&b, "<h2>Configuration and raw metrics</h2>\n");
    text_details(&b, dir, "config.yaml", "config.yaml (the resolved experiment)", false);
    text_details(&b, dir, "metrics.json", "metrics.json", false);
    page_close(&b);
    if (rc) return mvae_sb_free(&b), rc;
    return write_page(dir, &b, quiet, err);
}

/* ---------------------------------------------------------------------------- sweep page */
typedef struct csv {
    int n_rows, n_cols; /* row 0: the header */
    char ***cell;
} csv;

static void csv_free(csv *c) {
    for (int r = 0; r < c->n_rows; r++) free_list(c->cell[r], c->n_cols);
    free(c->cell);
}

/* RFC 4180 as report.csv writes it: cells quoted when they hold , " or a newline */
static int csv_read(const char *path, csv *c, mvae_error *err) {
    memset(c, 0, sizeof *c);
    char *t = slurp(path, NULL);
    if (!t) return mvae_error_set(err, MVAE_ERR_IO, "cannot read '%s': %s (run `mvae report` on the sweep directory)", path, strerror(errno));
    int rc = MVAE_OK, cap_rows = 0, line = 1;
    const char *p = t;
    while (*p && !rc) {
        char **row = NULL;
        int nc = 0, cap = 0;
        for (;;) { /* one cell */
            mvae_sbuf cell = {0};
            if (*p == '"') {
                for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                    if (*p == '"') p++; /* "" */
                    if (*p == '\n') line++;
                    mvae_sb_put(&cell, p, 1);
                }
                if (*p != '"') {
                    rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s:%d: unterminated quoted cell", path, line);
                    mvae_sb_free(&cell);
                    break;
                }
                p++;
            } else {
                const char *q = p;
                while (*p && *p != ',' && *p != '\n' && *p != '\r') p++;
                mvae_sb_put(&cell, q, (size_t)(p - q));
            }
            if (nc == cap) {
                cap = cap ? cap * 2 : 16;
                char **g = realloc(row, (size_t)cap * sizeof *g);
                if (!g) {
                    mvae_sb_free(&cell);
                    rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                    break;
                }
                row = g;
            }
            row[nc] = mvae_sb_take(&cell);
            if (!row[nc]) {
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                break;
            }
            nc++;
            if (*p == ',') {
                p++;
                continue;
            }
            break;
        }
        if (*p == '\r') p++;
        if (*p == '\n') p++, line++;
        if (!rc && c->n_rows && nc != c->n_cols)
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s:%d: %d cells, the header has %d", path, line - 1, nc, c->n_cols);
        if (rc) {
            free_list(row, nc);
            break;
        }
        if (c->n_rows == cap_rows) {
            cap_rows = cap_rows ? cap_rows * 2 : 16;
            char ***g = realloc(c->cell, (size_t)cap_rows * sizeof *g);
            if (!g) {
                free_list(row, nc);
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                break;
            }
            c->cell = g;
        }
        if (!c->n_rows) c->n_cols = nc;
        c->cell[c->n_rows++] = row;
    }
    free(t);
    if (!rc && c->n_rows < 2) rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s: no result row", path);
    if (rc) csv_free(c);
    return rc;
}

typedef struct srun {
    char *dir, *label, *variant; /* variant NULL: the base grid */
    mvae_json *axes;             /* {"key": "value", ...} */
    int group;                   /* row of report.csv (1-based), 0: none */
} srun;

typedef struct sweep_page {
    const char *dir;
    csv t;
    int n_keys;        /* key columns: 0..n_keys-1 (axes but seed, then variant) */
    int seeds_col;     /* the "seeds" column */
    int n_metrics;     /* metric k: mean in column seeds_col + 1 + 2k, std in the next */
    bool *varies;      /* per key column: differs between rows */
    int n_runs;
    srun *runs;
    int *first;        /* per row: index of its first run, -1: none */
    char **glabel;     /* per row: the values of the varying keys */
} sweep_page;

static void page_free(sweep_page *s) {
    for (int i = 0; i < s->n_runs; i++) {
        free(s->runs[i].dir), free(s->runs[i].label), free(s->runs[i].variant);
        mvae_json_free(s->runs[i].axes);
    }
    free(s->runs);
    if (s->glabel) free_list(s->glabel, s->t.n_rows);
    free(s->first);
    free(s->varies);
    csv_free(&s->t);
}

static double cell_num(const sweep_page *s, int row, int col) {
    const char *c = s->t.cell[row][col];
    char *e;
    double v = strtod(c, &e);
    return (e == c || *e) ? NAN : v;
}

static const char *metric_name(const sweep_page *s, int k, char *buf, size_t n) {
    const char *h = s->t.cell[0][s->seeds_col + 1 + 2 * k];
    size_t l = strlen(h);
    snprintf(buf, n, "%.*s", (int)(l > 5 && !strcmp(h + l - 5, ".mean") ? l - 5 : l), h);
    return buf;
}

static int read_runs(sweep_page *s, mvae_error *err) {
    char *p = join(s->dir, "runs.jsonl");
    FILE *f = p ? fopen(p, "r") : NULL;
    if (!f) {
        int rc = mvae_error_set(err, MVAE_ERR_IO, "cannot read '%s': not a sweep directory (made by `mvae sweep`)", p ? p : s->dir);
        free(p);
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = MVAE_OK, lineno = 0;
    while (!rc && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (len <= 1) continue;
        char nm[1300];
        snprintf(nm, sizeof nm, "%s:%d", p, lineno);
        mvae_json *j = NULL;
        if ((rc = mvae_json_parse(line, (size_t)len, nm, &j, err))) break;
        const char *rd = mvae_json_string_or(j, "run", NULL), *lb = mvae_json_string_or(j, "label", NULL);
        const char *var = mvae_json_string_or(j, "variant", NULL);
        const mvae_json *ax = mvae_json_get(j, "axes");
        if (!rd || !ax || ax->type != MVAE_JSON_OBJECT) {
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s: expected {\"run\": \"...\", \"axes\": {...}, ...}", nm);
            mvae_json_free(j);
            break;
        }
        srun *nr = realloc(s->runs, (size_t)(s->n_runs + 1) * sizeof *nr);
        if (!nr) {
            mvae_json_free(j);
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            break;
        }
        s->runs = nr;
        srun *r = &s->runs[s->n_runs++];
        memset(r, 0, sizeof *r);
        r->dir = strdup(rd);
        r->label = strdup(lb ? lb : rd);
        r->variant = var ? strdup(var) : NULL;
        /* keep the axes: detach them from the line's tree */
        for (int i = 0; i < j->n_items; i++)
            if (j->items[i] == ax) {
                r->axes = j->items[i];
                memmove(j->items + i, j->items + i + 1, (size_t)(j->n_items - i - 1) * sizeof *j->items);
                j->n_items--;
                break;
            }
        mvae_json_free(j);
        if (!r->dir || !r->label || (var && !r->variant)) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    free(line);
    fclose(f);
    free(p);
    return rc;
}

/* which row of report.csv each run belongs to: its values of every key column */
static void match_runs(sweep_page *s) {
    for (int i = 0; i < s->n_runs; i++) {
        srun *r = &s->runs[i];
        for (int row = 1; row < s->t.n_rows && !r->group; row++) {
            bool all = true;
            for (int c = 0; c < s->n_keys && all; c++) {
                const char *key = s->t.cell[0][c], *want = s->t.cell[row][c];
                const mvae_json *v = mvae_json_get(r->axes, key);
                if (v && v->type == MVAE_JSON_STRING) all = !strcmp(v->string, want);
                else if (!strcmp(key, "variant")) all = !strcmp(r->variant ? r->variant : "", want);
                else all = false;
            }
            if (all) r->group = row;
        }
        if (r->group && s->first[r->group] < 0) s->first[r->group] = i;
    }
}

static int sweep_layout(sweep_page *s, mvae_error *err) {
    const csv *t = &s->t;
    s->seeds_col = -1;
    for (int c = 0; c < t->n_cols && s->seeds_col < 0; c++)
        if (!strcmp(t->cell[0][c], "seeds")) s->seeds_col = c;
    if (s->seeds_col < 0 || (t->n_cols - s->seeds_col - 1) % 2)
        return mvae_error_set(err, MVAE_ERR_FORMAT,
                              "%s/report.csv: expected the key columns, 'seeds', then METRIC.mean,METRIC.std pairs "
                              "(rerun `mvae report %s`)",
                              s->dir, s->dir);
    s->n_keys = s->seeds_col;
    s->n_metrics = (t->n_cols - s->seeds_col - 1) / 2;
    s->varies = calloc((size_t)s->n_keys + 1, sizeof *s->varies);
    s->first = malloc((size_t)t->n_rows * sizeof *s->first);
    s->glabel = calloc((size_t)t->n_rows, sizeof *s->glabel);
    if (!s->varies || !s->first || !s->glabel) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int n_vary = 0;
    for (int c = 0; c < s->n_keys; c++) {
        for (int r = 2; r < t->n_rows; r++) s->varies[c] = s->varies[c] || strcmp(t->cell[r][c], t->cell[1][c]);
        n_vary += s->varies[c];
    }
    for (int r = 0; r < t->n_rows; r++) {
        s->first[r] = -1;
        if (!r) continue;
        mvae_sbuf b = {0};
        int shown = 0;
        for (int c = 0; c < s->n_keys; c++)
            if (s->varies[c] || !n_vary) mvae_sb_printf(&b, "%s%s", shown++ ? " " : "", t->cell[r][c][0] ? t->cell[r][c] : "-");
        if (!shown) mvae_sb_printf(&b, "all");
        if (!(s->glabel[r] = mvae_sb_take(&b))) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    if (!n_vary)
        for (int c = 0; c < s->n_keys; c++) s->varies[c] = true; /* one point: show every key */
    match_runs(s);
    return MVAE_OK;
}

static void results_table(mvae_sbuf *b, const sweep_page *s) {
    const csv *t = &s->t;
    char name[300], m[64], sd[64];
    mvae_sb_printf(b, "<div class=\"scroll\"><table class=\"results\">\n<tr>");
    for (int c = 0; c <= s->seeds_col; c++) tag_text(b, "th", NULL, t->cell[0][c]);
    for (int k = 0; k < s->n_metrics; k++) tag_text(b, "th", NULL, metric_name(s, k, name, sizeof name));
    mvae_sb_printf(b, "</tr>\n");
    for (int r = 1; r < t->n_rows; r++) {
        mvae_sb_printf(b, "<tr>");
        for (int c = 0; c < s->seeds_col; c++) tag_text(b, "td", NULL, t->cell[r][c]);
        tag_text(b, "td", "class=\"num\"", t->cell[r][s->seeds_col]);
        int seeds = atoi(t->cell[r][s->seeds_col]);
        for (int k = 0; k < s->n_metrics; k++) {
            double mean = cell_num(s, r, s->seeds_col + 1 + 2 * k), std = cell_num(s, r, s->seeds_col + 2 + 2 * k);
            fmt_num(mean, mean, m, sizeof m);
            if (seeds > 1 && isfinite(std)) mvae_sb_printf(b, "<td class=\"num\">%s ± %s</td>", m, fmt_num(std, mean, sd, sizeof sd));
            else mvae_sb_printf(b, "<td class=\"num\">%s</td>", m);
        }
        mvae_sb_printf(b, "</tr>\n");
    }
    mvae_sb_printf(b, "</table></div>\n");
}

/* one column per row of report.csv, headed by the values of the keys that vary; one row per
 * metric, its highest mean in bold (every reported metric is higher-is-better; ties all bold,
 * nothing bold when every mean is the same) */
static void side_by_side(mvae_sbuf *b, const sweep_page *s) {
    const csv *t = &s->t;
    char name[300], m[64], sd[64];
    mvae_sb_printf(b, "<div class=\"scroll\"><table class=\"compare\">\n");
    for (int c = 0; c < s->n_keys; c++) {
        if (!s->varies[c]) continue;
        mvae_sb_printf(b, "<tr>");
        tag_text(b, "th", NULL, t->cell[0][c]);
        for (int r = 1; r < t->n_rows; r++) tag_text(b, "th", NULL, t->cell[r][c][0] ? t->cell[r][c] : "-");
        mvae_sb_printf(b, "</tr>\n");
    }
    mvae_sb_printf(b, "<tr><td>seeds</td>");
    for (int r = 1; r < t->n_rows; r++) tag_text(b, "td", "class=\"num\"", t->cell[r][s->seeds_col]);
    mvae_sb_printf(b, "</tr>\n");
    for (int k = 0; k < s->n_metrics; k++) {
        int col = s->seeds_col + 1 + 2 * k;
        double hi = -INFINITY, lo = INFINITY; /* every mean equal to the highest is bold, unless all are equal */
        for (int r = 1; r < t->n_rows; r++)
            if (isfinite(cell_num(s, r, col))) hi = fmax(hi, cell_num(s, r, col)), lo = fmin(lo, cell_num(s, r, col));
        mvae_sb_printf(b, "<tr>");
        tag_text(b, "td", NULL, metric_name(s, k, name, sizeof name));
        for (int r = 1; r < t->n_rows; r++) {
            double mean = cell_num(s, r, col), std = cell_num(s, r, col + 1);
            fmt_num(mean, mean, m, sizeof m);
            mvae_sb_printf(b, "<td class=\"num%s\">%s", mean == hi && hi > lo ? " best" : "", m);
            if (atoi(t->cell[r][s->seeds_col]) > 1 && isfinite(std)) mvae_sb_printf(b, " ± %s", fmt_num(std, mean, sd, sizeof sd));
            mvae_sb_printf(b, "</td>");
        }
        mvae_sb_printf(b, "</tr>\n");
    }
    mvae_sb_printf(b, "</table></div>\n");
}

/* a bar chart per metric: one bar per row of report.csv, error bars = std over seeds */
static int metric_bars(mvae_sbuf *b, const sweep_page *s, mvae_error *err) {
    int ng = s->t.n_rows - 1, rc = MVAE_OK;
    double *y = malloc((size_t)ng * sizeof *y), *e = malloc((size_t)ng * sizeof *e);
    if (!y || !e) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    char name[300];
    for (int k = 0; !rc && k < s->n_metrics; k++) {
        int col = s->seeds_col + 1 + 2 * k;
        for (int r = 1; r <= ng; r++) y[r - 1] = cell_num(s, r, col), e[r - 1] = cell_num(s, r, col + 1);
        mvae_plot_series ser = {.label = NULL, .n = ng, .y = y, .err = e};
        metric_name(s, k, name, sizeof name);
        bool frac = !strncmp(name, "test.accuracy", 13) || !strncmp(name, "test.coherence", 14) || !strncmp(name, "test.probe", 10);
        mvae_plot_opts o = {.title = name, .ylabel = name, .y_from_zero = frac || !strcmp(name, "train.samples_per_sec")};
        char *svg = NULL;
        rc = mvae_plot_bars_svg(&svg, &o, (const char *const *)s->glabel + 1, ng, &ser, 1, err);
        if (!rc) mvae_sb_put(b, svg, strlen(svg)), mvae_sb_put(b, "\n", 1);
        free(svg);
    }
    free(y);
    free(e);
    return rc;
}

static bool is_num(const char *c, double *v) {
    char *e;
    double d = strtod(c, &e);
    if (e == c || *e || !isfinite(d)) return false;
    if (v) *v = d;
    return true;
}

/* line plots against a numeric axis that varies (dataset.paired_fraction first, else the first
 * such key), one line per value of the other varying keys, error bars = std over seeds: the
 * HTML twin of lines_<metric>.png, for every metric */
static int metric_lines(mvae_sbuf *b, const sweep_page *s, mvae_error *err) {
    const csv *t = &s->t;
    int xc = -1;
    for (int pass = 0; pass < 2 && xc < 0; pass++)
        for (int c = 0; c < s->n_keys && xc < 0; c++) {
            if (!s->varies[c] || !strcmp(t->cell[0][c], "variant")) continue;
            if (pass == 0 && strcmp(t->cell[0][c], "dataset.paired_fraction")) continue;
            bool num = true;
            for (int r = 1; r < t->n_rows && num; r++) num = is_num(t->cell[r][c], NULL);
            if (num) xc = c;
        }
    if (xc < 0) return MVAE_OK;
    int nr = t->n_rows - 1, ns = 0, nx = 0, rc = MVAE_OK;
    double *xs = calloc((size_t)nr, sizeof *xs), *Y = malloc((size_t)nr * (size_t)nr * sizeof *Y),
           *E = malloc((size_t)nr * (size_t)nr * sizeof *E);
    char **slabel = calloc((size_t)nr, sizeof *slabel);
    int *row_s = calloc((size_t)nr, sizeof *row_s), *row_x = calloc((size_t)nr, sizeof *row_x);
    mvae_plot_series *ser = calloc((size_t)nr, sizeof *ser);
    if (!xs || !Y || !E || !slabel || !row_s || !row_x || !ser) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    bool all_pos = true;
    for (int r = 1; !rc && r <= nr; r++) {
        double x = 0;
        is_num(t->cell[r][xc], &x);
        all_pos = all_pos && x > 0;
        int k = 0;
        while (k < nx && xs[k] != x) k++;
        if (k == nx) xs[nx++] = x;
        mvae_sbuf lb = {0};
        int shown = 0;
        for (int c = 0; c < s->n_keys; c++)
            if (c != xc && s->varies[c]) mvae_sb_printf(&lb, "%s%s", shown++ ? " " : "", t->cell[r][c][0] ? t->cell[r][c] : "-");
        if (!shown) mvae_sb_printf(&lb, "all");
        char *l = mvae_sb_take(&lb);
        if (!l) {
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            break;
        }
        int si = 0;
        while (si < ns && strcmp(slabel[si], l)) si++;
        if (si == ns) slabel[ns++] = l;
        else free(l);
        row_s[r - 1] = si;
    }
    for (int i = 1; !rc && i < nx; i++) /* x ascending */
        for (int j = i; j > 0 && xs[j - 1] > xs[j]; j--) {
            double tmp = xs[j];
            xs[j] = xs[j - 1], xs[j - 1] = tmp;
        }
    for (int r = 1; !rc && r <= nr; r++) {
        double x = 0;
        is_num(t->cell[r][xc], &x);
        while (row_x[r - 1] < nx && xs[row_x[r - 1]] != x) row_x[r - 1]++;
    }
    char name[300], title[400];
    for (int k = 0; !rc && k < s->n_metrics; k++) {
        int col = s->seeds_col + 1 + 2 * k;
        for (int i = 0; i < ns * nx; i++) Y[i] = E[i] = NAN;
        for (int r = 1; r <= nr; r++)
            Y[row_s[r - 1] * nx + row_x[r - 1]] = cell_num(s, r, col), E[row_s[r - 1] * nx + row_x[r - 1]] = cell_num(s, r, col + 1);
        for (int si = 0; si < ns; si++)
            ser[si] = (mvae_plot_series){.label = slabel[si], .n = nx, .x = xs, .y = Y + si * nx, .err = E + si * nx};
        metric_name(s, k, name, sizeof name);
        snprintf(title, sizeof title, "%s vs %s", name, t->cell[0][xc]);
        mvae_plot_opts o = {.title = title, .xlabel = t->cell[0][xc], .ylabel = name,
                            .log_x = nx > 1 && all_pos && xs[nx - 1] / xs[0] > 10};
        char *svg = NULL;
        rc = mvae_plot_lines_svg(&svg, &o, ser, ns, err);
        if (!rc) mvae_sb_put(b, svg, strlen(svg)), mvae_sb_put(b, "\n", 1);
        free(svg);
    }
    if (slabel) free_list(slabel, ns);
    free(xs), free(Y), free(E), free(row_s), free(row_x), free(ser);
    return rc;
}

/* the training loss of each row's first run in one plot */
static int loss_overlay(mvae_sbuf *b, const sweep_page *s, mvae_error *err) {
    int ng = s->t.n_rows - 1, rc = MVAE_OK, n = 0;
    curves *c = calloc((size_t)ng, sizeof *c);
    mvae_plot_series *ser = calloc((size_t)ng, sizeof *ser);
    if (!c || !ser) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    for (int r = 1; !rc && r <= ng; r++) {
        if (s->first[r] < 0) continue;
        char *rd = join(s->dir, s->runs[s->first[r]].dir);
        curves terms = {0}, cos = {0};
        if (rd) read_curves(rd, &c[r - 1], &terms, &cos);
        curves_free(&terms), curves_free(&cos);
        free(rd);
        int k = -1;
        for (int i = 0; i < c[r - 1].n; i++)
            if (!strcmp(c[r - 1].name[i], "loss")) k = i;
        if (k < 0 || c[r - 1].n_epochs < 1) continue;
        ser[n++] = (mvae_plot_series){.label = s->glabel[r], .n = c[r - 1].n_epochs, .x = c[r - 1].x, .y = c[r - 1].y[k]};
    }
    if (!rc && n) {
        mvae_plot_opts o = {.title = "training loss per epoch (first seed of each point)", .xlabel = "epoch", .ylabel = "loss",
                            .height = 460};
        char *svg = NULL;
        rc = mvae_plot_lines_svg(&svg, &o, ser, n, err);
        if (!rc) mvae_sb_put(b, svg, strlen(svg)), mvae_sb_put(b, "\n", 1);
        free(svg);
    } else if (!rc) {
        mvae_sb_printf(b, "<p class=\"note\">no run has a metrics.jsonl</p>\n");
    }
    for (int r = 0; c && r < ng; r++) curves_free(&c[r]);
    free(c);
    free(ser);
    return rc;
}

/* each picture grid of the first run of every row, side by side */
static void pictures_side_by_side(mvae_sbuf *b, const sweep_page *s) {
    int ng = s->t.n_rows - 1, n_names = 0;
    char **names = NULL;
    for (int r = 1; r <= ng; r++) { /* the union of the file names, sorted */
        if (s->first[r] < 0) continue;
        char *rd = join(s->dir, s->runs[s->first[r]].dir), **pics = NULL;
        int np = rd ? list_pictures(rd, &pics) : 0;
        free(rd);
        for (int i = 0; i < np; i++) {
            bool seen = false;
            for (int j = 0; j < n_names && !seen; j++) seen = !strcmp(names[j], pics[i]);
            char **g = seen ? NULL : realloc(names, (size_t)(n_names + 1) * sizeof *g);
            if (g) names = g, names[n_names++] = pics[i], pics[i] = NULL;
        }
        free_list(pics, np);
    }
    if (n_names) qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    if (!n_names) mvae_sb_printf(b, "<p class=\"note\">no picture grids in the runs</p>\n");
    for (int i = 0; i < n_names; i++) {
        tag_text(b, "h3", NULL, names[i]);
        mvae_sb_printf(b, "<div class=\"row\">\n");
        for (int r = 1; r <= ng; r++) {
            if (s->first[r] < 0) continue;
            char *rd = join(s->dir, s->runs[s->first[r]].dir);
            if (rd && exists(rd, names[i])) picture(b, rd, names[i], s->glabel[r]);
            free(rd);
        }
        mvae_sb_printf(b, "</div>\n");
    }
    free_list(names, n_names);
}

/* runs of the grid that failed (error.txt in their directory, written by mvae_sweep_execute) and
 * have not finished since: their messages, so that a page never hides a hole in the grid */
static void failed_runs(mvae_sbuf *b, const sweep_page *s) {
    DIR *d = opendir(s->dir);
    if (!d) return;
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *rd = join(s->dir, e->d_name);
        bool failed = rd && exists(rd, "error.txt") && !exists(rd, "metrics.json");
        free(rd);
        char **g = failed ? realloc(names, (size_t)(n + 1) * sizeof *g) : NULL;
        if (g && (g[n] = strdup(e->d_name))) names = g, n++;
        else if (g) names = g;
    }
    closedir(d);
    if (!n) return;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    mvae_sb_printf(b, "<h2>Failed runs</h2>\n<p class=\"note\">%d run%s of the grid failed and %s not in the tables: "
                      "fix the cause and run the same <code>mvae sweep</code> again (finished runs are skipped).</p>\n",
                   n, n > 1 ? "s" : "", n > 1 ? "are" : "is");
    for (int i = 0; i < n; i++) {
        char *rd = join(s->dir, names[i]);
        if (rd) text_details(b, rd, "error.txt", names[i], true);
        free(rd);
    }
    free_list(names, n);
}

int mvae_report_sweep_html(const char *dir, bool quiet, mvae_error *err) {
    if (!dir) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_report_sweep_html: no directory");
    sweep_page s = {.dir = dir};
    char *p = join(dir, "report.csv");
    int rc = p ? csv_read(p, &s.t, err) : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    free(p);
    if (!rc) rc = read_runs(&s, err);
    if (!rc) rc = sweep_layout(&s, err);
    if (rc) {
        page_free(&s);
        return rc;
    }
    char name[512], title[600], command[2048] = "";
    run_name(dir, name, sizeof name);
    p = join(dir, "sweep.yaml");
    mvae_cfg *sc = NULL;
    mvae_error e2 = {0};
    if (p && !mvae_cfg_load_file(p, &sc, &e2)) {
        mvae_cfg_node *n = mvae_cfg_get(mvae_cfg_root(sc), "name");
        if (n && n->value) snprintf(name, sizeof name, "%s", n->value);
    }
    mvae_cfg_free(sc);
    free(p);
    p = join(dir, "command.txt");
    FILE *f = p ? fopen(p, "r") : NULL;
    if (f) {
        if (!fgets(command, sizeof command, f)) command[0] = '\0';
        command[strcspn(command, "\n")] = '\0';
        fclose(f);
    }
    free(p);
    snprintf(title, sizeof title, "Sweep report: %s", name);
    mvae_sbuf b = {0};
    page_open(&b, title);
    mvae_sb_printf(&b, "<ul><li>sweep: <code>");
    mvae_sb_esc(&b, command[0] ? command : "(command not recorded)");
    mvae_sb_printf(&b, "</code></li><li>this page: <code>mvae report ");
    mvae_sb_esc(&b, dir);
    mvae_sb_printf(&b, "</code> (also report.md, report.csv)</li><li>%d runs, %d points of the grid; cells are mean ± "
                       "sample standard deviation over seeds</li><li>metric definitions: docs/metrics.md</li></ul>\n",
                   s.n_runs, s.t.n_rows - 1);
    failed_runs(&b, &s);
    mvae_sb_printf(&b, "<h2>Side by side</h2>\n<p class=\"note\">One column per point of the grid, headed by the "
                       "values of the axes that vary; the best mean of each metric in bold (every metric here is "
                       "higher-is-better).</p>\n");
    side_by_side(&b, &s);
    mvae_sb_printf(&b, "<h2>Results</h2>\n");
    results_table(&b, &s);
    mvae_sb_printf(&b, "<h2>Plots</h2>\n");
    rc = metric_lines(&b, &s, err);
    if (!rc) rc = metric_bars(&b, &s, err);
    if (!rc) {
        mvae_sb_printf(&b, "<h2>Training curves</h2>\n");
        rc = loss_overlay(&b, &s, err);
    }
    if (!rc) {
        mvae_sb_printf(&b, "<h2>Pictures side by side</h2>\n<p class=\"note\">The first seed of each point of the grid.</p>\n");
        pictures_side_by_side(&b, &s);
        mvae_sb_printf(&b, "<h2>Runs</h2>\n");
        for (int i = 0; i < s.n_runs && !rc; i++) {
            char *rd = join(dir, s.runs[i].dir);
            if (!rd) {
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                break;
            }
            mvae_sb_printf(&b, "<details class=\"run\"><summary>");
            mvae_sb_esc(&b, s.runs[i].label);
            mvae_sb_printf(&b, "</summary>\n<p>directory: <code>");
            mvae_sb_esc(&b, s.runs[i].dir);
            mvae_sb_printf(&b, "</code></p>\n");
            metrics_table(&b, rd);
            rc = run_curves(&b, rd, err);
            text_details(&b, rd, "config.yaml", "config.yaml", false);
            mvae_sb_printf(&b, "</details>\n");
            free(rd);
        }
    }
    page_close(&b);
    page_free(&s);
    if (rc) return mvae_sb_free(&b), rc;
    return write_page(dir, &b, quiet, err);
}

int mvae_report_dir(const char *dir, bool quiet, mvae_error *err) {
    if (!dir) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_report_dir: no directory");
    if (exists(dir, "runs.jsonl")) return mvae_sweep_report(dir, quiet, err); /* writes the page too */
    return mvae_report_run_html(dir, quiet, err);
}

/* --------------------------------------------------------------------- comparing runs */
typedef struct kv {
    int n, cap;
    char **key, **val;
} kv;

static void kv_add(kv *t, const char *k, const char *v) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 64;
        char **a = realloc(t->key, (size_t)cap * sizeof *a);
        if (!a) return;
        t->key = a;
        char **b = realloc(t->val, (size_t)cap * sizeof *b);
        if (!b) return;
        t->val = b;
        t->cap = cap;
    }
    t->key[t->n] = strdup(k);
    t->val[t->n] = strdup(v);
    if (t->key[t->n] && t->val[t->n]) t->n++;
    else free(t->key[t->n]), free(t->val[t->n]);
}

static const char *kv_get(const kv *t, const char *k) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->key[i], k)) return t->val[i];
    return NULL;
}

static void kv_free(kv *t) {
    free_list(t->key, t->n);
    free_list(t->val, t->n);
    memset(t, 0, sizeof *t);
}

/* a node as one line of flow YAML */
static void flow(mvae_sbuf *b, const mvae_cfg_node *n) {
    if (n->kind == MVAE_CFG_SCALAR) {
        mvae_sb_printf(b, "%s", n->value ? n->value : "");
        return;
    }
    bool map = n->kind == MVAE_CFG_MAP;
    mvae_sb_printf(b, map ? "{" : "[");
    for (int i = 0; i < n->n_items; i++) {
        if (i) mvae_sb_printf(b, ", ");
        if (map) mvae_sb_printf(b, "%s: ", n->items[i]->key);
        flow(b, n->items[i]);
    }
    mvae_sb_printf(b, map ? "}" : "]");
}

/* every leaf of a config as "a.b.c" -> "value" (sequences as flow text) */
static void flatten(const mvae_cfg_node *n, const char *prefix, kv *out) {
    if (n->kind != MVAE_CFG_MAP) {
        mvae_sbuf b = {0};
        flow(&b, n);
        char *v = mvae_sb_take(&b);
        if (v) kv_add(out, prefix, v);
        free(v);
        return;
    }
    for (int i = 0; i < n->n_items; i++) {
        char *k = NULL;
        if (asprintf(&k, "%s%s%s", prefix, prefix[0] ? "." : "", n->items[i]->key) < 0) continue;
        flatten(n->items[i], k, out);
        free(k);
    }
}


int mvae_report_compare_html(const char *const *dirs, int n, const char *out_path, bool quiet, mvae_error *err) {
    if (!dirs || n < 2 || n > 64 || !out_path)
        return mvae_error_set(err, MVAE_ERR_INVALID, "compare: give 2 to 64 run directories (got %d)", n);
    for (int i = 0; i < n; i++)
        if (!exists(dirs[i], "config.yaml") && !exists(dirs[i], "metrics.json"))
            return mvae_error_set(err, MVAE_ERR_IO,
                                  "'%s' is not a run directory (no config.yaml or metrics.json; made by `mvae train`)",
                                  dirs[i]);
    kv cfg[64], met[64];
    char name[64][256];
    memset(cfg, 0, sizeof cfg), memset(met, 0, sizeof met);
    for (int i = 0; i < n; i++) {
        run_name(dirs[i], name[i], sizeof name[i]);
        char *p = join(dirs[i], "config.yaml");
        mvae_cfg *c = NULL;
        mvae_error e = {0};
        if (p && !mvae_cfg_load_file(p, &c, &e)) flatten(mvae_cfg_root(c), "", &cfg[i]);
        mvae_cfg_free(c);
        free(p);
        p = join(dirs[i], "metrics.json");
        mvae_json *j = NULL;
        if (p && !mvae_json_parse_file(p, &j, &e)) {
            leaves l = {0};
            mvae_json_leaves(j, on_leaf, &l);
            char buf[64];
            for (int k = 0; k < l.n; k++) {
                snprintf(buf, sizeof buf, "%.17g", l.v[k]);
                kv_add(&met[i], l.path[k], buf);
            }
            leaves_free(&l);
        }
        mvae_json_free(j);
        free(p);
    }
    mvae_sbuf b = {0};
    char title[128];
    snprintf(title, sizeof title, "Comparison of %d runs", n);
    page_open(&b, title);
    mvae_sb_printf(&b, "<ul>");
    for (int i = 0; i < n; i++) {
        mvae_sb_printf(&b, "<li><b>");
        mvae_sb_esc(&b, name[i]);
        mvae_sb_printf(&b, "</b>: <code>");
        mvae_sb_esc(&b, dirs[i]);
        mvae_sb_printf(&b, "</code></li>");
    }
    mvae_sb_printf(&b, "</ul>\n<h2>What differs</h2>\n<p class=\"note\">The settings of the resolved configs "
                       "(config.yaml) that are not the same in every run; a dash: the run has no such setting.</p>\n"
                       "<div class=\"scroll\"><table class=\"differs\">\n<tr><th>setting</th>");
    for (int i = 0; i < n; i++) tag_text(&b, "th", NULL, name[i]);
    mvae_sb_printf(&b, "</tr>\n");
    kv seen = {0};
    int n_diff = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < cfg[i].n; k++) {
            const char *key = cfg[i].key[k];
            if (kv_get(&seen, key) || !strcmp(key, "name")) continue;
            kv_add(&seen, key, "");
            bool same = true;
            for (int r = 0; r < n && same; r++) {
                const char *v = kv_get(&cfg[r], key);
                same = v && !strcmp(v, cfg[i].val[k]);
            }
            if (same) continue;
            n_diff++;
            mvae_sb_printf(&b, "<tr>");
            tag_text(&b, "td", NULL, key);
            for (int r = 0; r < n; r++) {
                const char *v = kv_get(&cfg[r], key);
                tag_text(&b, "td", NULL, v ? v : "-");
            }
            mvae_sb_printf(&b, "</tr>\n");
        }
    kv_free(&seen);
    mvae_sb_printf(&b, "</table></div>\n");
    if (!n_diff) mvae_sb_printf(&b, "<p class=\"note\">the configs are the same (but for the name)</p>\n");
    mvae_sb_printf(&b, "<h2>Metrics side by side</h2>\n<p class=\"note\">The best value of each quality metric "
                       "(ELBO, log-likelihoods, accuracies, coherence, probes) in bold.</p>\n"
                       "<div class=\"scroll\"><table class=\"compare\">\n<tr><th>metric</th>");
    for (int i = 0; i < n; i++) tag_text(&b, "th", NULL, name[i]);
    mvae_sb_printf(&b, "</tr>\n");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < met[i].n; k++) {
            const char *key = met[i].key[k];
            if (kv_get(&seen, key)) continue;
            kv_add(&seen, key, "");
            double hi = -INFINITY, lo = INFINITY, v[64];
            for (int r = 0; r < n; r++) {
                const char *t = kv_get(&met[r], key);
                v[r] = t ? strtod(t, NULL) : NAN;
                if (isfinite(v[r])) hi = fmax(hi, v[r]), lo = fmin(lo, v[r]);
            }
            mvae_sb_printf(&b, "<tr>");
            tag_text(&b, "td", NULL, key);
            char buf[64];
            for (int r = 0; r < n; r++) {
                fmt_metric(key, v[r], buf, sizeof buf);
                mvae_sb_printf(&b, "<td class=\"num%s\">%s</td>", higher_is_better(key) && v[r] == hi && hi > lo ? " best" : "", buf);
            }
            mvae_sb_printf(&b, "</tr>\n");
        }
    kv_free(&seen);
    mvae_sb_printf(&b, "</table></div>\n<h2>Training loss</h2>\n");
    /* the loss curves of every run in one plot */
    curves loss[64], terms = {0}, cos = {0};
    mvae_plot_series ser[64];
    int ns = 0, rc = MVAE_OK;
    memset(loss, 0, sizeof loss);
    for (int i = 0; i < n; i++) {
        read_curves(dirs[i], &loss[i], &terms, &cos);
        curves_free(&terms), curves_free(&cos);
        for (int k = 0; k < loss[i].n; k++)
            if (!strcmp(loss[i].name[k], "loss") && loss[i].n_epochs > 0)
                ser[ns++] = (mvae_plot_series){.label = name[i], .n = loss[i].n_epochs, .x = loss[i].x, .y = loss[i].y[k]};
    }
    if (ns) {
        mvae_plot_opts o = {.title = "training loss per epoch", .xlabel = "epoch", .ylabel = "loss", .height = 460};
        char *svg = NULL;
        rc = mvae_plot_lines_svg(&svg, &o, ser, ns, err);
        if (!rc) mvae_sb_put(&b, svg, strlen(svg)), mvae_sb_put(&b, "\n", 1);
        free(svg);
    } else {
        mvae_sb_printf(&b, "<p class=\"note\">no run has a metrics.jsonl</p>\n");
    }
    for (int i = 0; i < n; i++) curves_free(&loss[i]);
    /* pictures side by side: the union of the names */
    mvae_sb_printf(&b, "<h2>Pictures side by side</h2>\n");
    char **names = NULL;
    int n_names = 0;
    for (int i = 0; i < n; i++) {
        char **pics = NULL;
        int np = list_pictures(dirs[i], &pics);
        for (int k = 0; k < np; k++) {
            bool dup = false;
            for (int j = 0; j < n_names && !dup; j++) dup = !strcmp(names[j], pics[k]);
            char **g = dup ? NULL : realloc(names, (size_t)(n_names + 1) * sizeof *g);
            if (g) names = g, names[n_names++] = pics[k], pics[k] = NULL;
        }
        free_list(pics, np);
    }
    if (n_names) qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    for (int k = 0; k < n_names; k++) {
        tag_text(&b, "h3", NULL, names[k]);
        mvae_sb_printf(&b, "<div class=\"row\">\n");
        for (int i = 0; i < n; i++)
            if (exists(dirs[i], names[k])) picture(&b, dirs[i], names[k], name[i]);
        mvae_sb_printf(&b, "</div>\n");
    }
    if (!n_names) mvae_sb_printf(&b, "<p class=\"note\">no picture grids in the runs</p>\n");
    free_list(names, n_names);
    mvae_sb_printf(&b, "<h2>Runs</h2>\n");
    for (int i = 0; i < n; i++) {
        mvae_sb_printf(&b, "<details class=\"run\"><summary>");
        mvae_sb_esc(&b, name[i]);
        mvae_sb_printf(&b, "</summary>\n");
        text_details(&b, dirs[i], "config.yaml", "config.yaml", false);
        text_details(&b, dirs[i], "metrics.json", "metrics.json", false);
        mvae_sb_printf(&b, "</details>\n");
    }
    page_close(&b);
    for (int i = 0; i < n; i++) kv_free(&cfg[i]), kv_free(&met[i]);
    if (rc) return mvae_sb_free(&b), rc;
    /* write to out_path (atomically) */
    char *html = mvae_sb_take(&b), *tmp = NULL;
    if (!html) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (asprintf(&tmp, "%s.tmp.%d", out_path, (int)getpid()) < 0) {
        free(html);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    FILE *f = fopen(tmp, "w");
    size_t len = strlen(html);
    if (!f) {
        rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    } else {
        bool bad = fwrite(html, 1, len, f) != len;
        bad = (fclose(f) != 0) || bad;
        if (bad || rename(tmp, out_path)) {
            rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", out_path, strerror(errno));
            unlink(tmp);
        }
    }
    if (!rc && !quiet) printf("wrote %s\n", out_path);
    free(tmp);
    free(html);
    return rc;
}
