/* plot_training.c — the training curves of a run, drawn from its metrics.jsonl:
 *   terms.png     each objective term's loss per epoch (the negative ELBO of each subset)
 *   conflict.png  with train.impartial: the mean cosine between the modalities' gradients at
 *                 each block's z per epoch (below 0: the modalities pull z apart), so that a
 *                 user sees a modality being drowned out as it happens. */
#define _GNU_SOURCE
#include "mvae/json.h"
#include "mvae/plot.h"
#include "mvae/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CURVES 64

typedef struct curves {
    int n;                 /* curves */
    char *name[MAX_CURVES];
    double *y[MAX_CURVES]; /* [n_epochs], NaN where an epoch lacks it */
    int n_epochs, cap;
    double *x;             /* epoch numbers */
} curves;

static int curve_index(curves *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->name[i], name) == 0) return i;
    if (c->n == MAX_CURVES) return -1;
    c->name[c->n] = strdup(name);
    c->y[c->n] = malloc((size_t)c->cap * sizeof(double));
    if (!c->name[c->n] || !c->y[c->n]) return -1;
    for (int e = 0; e < c->cap; e++) c->y[c->n][e] = NAN;
    return c->n++;
}

static int grow(curves *c) {
    int cap = c->cap ? c->cap * 2 : 64;
    double *x = realloc(c->x, (size_t)cap * sizeof *x);
    if (!x) return -1;
    c->x = x;
    for (int i = 0; i < c->n; i++) {
        double *y = realloc(c->y[i], (size_t)cap * sizeof *y);
        if (!y) return -1;
        for (int e = c->cap; e < cap; e++) y[e] = NAN;
        c->y[i] = y;
    }
    c->cap = cap;
    return 0;
}

static void curves_free(curves *c) {
    for (int i = 0; i < c->n; i++) free(c->name[i]), free(c->y[i]);
    free(c->x);
}

static int draw(const curves *c, const char *path, const char *title, const char *ylabel, mvae_error *err) {
    if (!c->n || c->n_epochs < 1) return MVAE_OK;
    mvae_plot_series s[MAX_CURVES];
    for (int i = 0; i < c->n; i++) s[i] = (mvae_plot_series){.label = c->name[i], .n = c->n_epochs, .x = c->x, .y = c->y[i]};
    mvae_plot_opts o = {.title = title, .xlabel = "epoch", .ylabel = ylabel};
    return mvae_plot_lines(path, &o, s, c->n, err);
}

int mvae_plot_training(const char *run_dir, bool quiet, mvae_error *err) {
    char *path = NULL;
    if (asprintf(&path, "%s/metrics.jsonl", run_dir) < 0) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) return MVAE_OK; /* no epochs: nothing to draw */
    curves terms = {0}, cos = {0};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int rc = MVAE_OK;
    while (rc == MVAE_OK && (len = getline(&line, &lcap, f)) > 0) {
        mvae_json *j = NULL;
        mvae_error perr = {0};
        if (mvae_json_parse(line, (size_t)len, "metrics.jsonl", &j, &perr)) continue; /* a torn line */
        const mvae_json *ep = mvae_json_get(j, "epoch"), *tj = mvae_json_get(j, "terms");
        if (!ep || ep->type != MVAE_JSON_NUMBER) {
            mvae_json_free(j);
            continue;
        }
        curves *cs[2] = {&terms, &cos};
        for (int w = 0; w < 2; w++) {
            curves *c = cs[w];
            if (c->n_epochs == c->cap && grow(c)) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            if (rc) break;
            c->x[c->n_epochs] = ep->number;
        }
        for (int i = 0; !rc && tj && tj->type == MVAE_JSON_OBJECT && i < tj->n_items; i++) {
            const mvae_json *v = tj->items[i];
            int k = v->type == MVAE_JSON_NUMBER ? curve_index(&terms, v->key) : -2;
            if (k >= 0) terms.y[k][terms.n_epochs] = v->number;
        }
        for (int i = 0; !rc && j->type == MVAE_JSON_OBJECT && i < j->n_items; i++) {
            const mvae_json *v = j->items[i];
            const char *c = v->key ? strstr(v->key, ".cos.") : NULL;
            if (!c || strncmp(v->key, "impartial.", 10) != 0 || v->type != MVAE_JSON_NUMBER) continue;
            /* "impartial.<term>.cos.<a>-<b>" -> "<term>: <a>-<b>" */
            char name[256];
            snprintf(name, sizeof name, "%.*s: %s", (int)(c - (v->key + 10)), v->key + 10, c + 5);
            int k = curve_index(&cos, name);
            if (k >= 0) cos.y[k][cos.n_epochs] = v->number;
        }
        if (!rc) terms.n_epochs++, cos.n_epochs++;
        mvae_json_free(j);
    }
    free(line);
    fclose(f);
    char *out = NULL;
    if (!rc && terms.n && asprintf(&out, "%s/terms.png", run_dir) >= 0) {
        rc = draw(&terms, out, "each objective term's loss (negative ELBO) per epoch", "loss", err);
        if (!rc && !quiet) MVAE_INFO("wrote %s (%d terms over %d epochs)", out, terms.n, terms.n_epochs);
        free(out);
    }
    out = NULL;
    if (!rc && cos.n && asprintf(&out, "%s/conflict.png", run_dir) >= 0) {
        rc = draw(&cos, out, "cosine between the modalities' gradients at z (impartiality blocks)", "cosine", err);
        if (!rc && !quiet) MVAE_INFO("wrote %s (%d pairs over %d epochs)", out, cos.n, cos.n_epochs);
        free(out);
    }
    curves_free(&terms);
    curves_free(&cos);
    return rc;
}
