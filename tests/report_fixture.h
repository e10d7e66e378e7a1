/* report_fixture.h — tiny run and sweep directories for the report tests (test_report.c,
 * test_report_browser.c), and a checker that a page is well-formed XML (the report writes
 * XHTML-style markup: every element closed, text escaped). */
#ifndef MVAE_REPORT_FIXTURE_H
#define MVAE_REPORT_FIXTURE_H
#include "mvae/image.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static __attribute__((unused)) int fx_write(const char *dir, const char *name, const char *text) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* a 4x4 grid of 8x8 "digits" in one colour (RGB in [0,1]): a 38x38 PNG */
static __attribute__((unused)) int fx_picture(const char *dir, const char *name, float r, float g, float b) {
    enum { N = 16, H = 8, W = 8 };
    static float img[N * 3 * H * W];
    for (int n = 0; n < N; n++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < H * W; i++) {
                bool on = (i / W + i % W + n) % 3 != 0; /* a pattern, so tiles are not flat */
                img[((size_t)n * 3 + c) * H * W + i] = on ? (c == 0 ? r : c == 1 ? g : b) : 1.0f;
            }
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    mvae_error err = {0};
    return mvae_png_write_grid(p, img, N, 3, H, W, 4, 2, &err);
}

/* a run directory: config.yaml (with characters that need escaping), metrics.json, three epochs
 * of metrics.jsonl, reconstructions.png (red) and terms.png (a bitmap plot the page replaces) */
static __attribute__((unused)) int fx_run(const char *dir, double elbo, double acc, double scale) {
    mkdir(dir, 0777);
    char m[1024], l[2048];
    snprintf(m, sizeof m,
             "{\n  \"test\": {\"elbo\": %.6f, \"log_p\": {\"image\": %.6f}, \"accuracy\": {\"image->label\": %.6f},"
             " \"test_points\": 100},\n  \"train\": {\"samples_per_sec\": 1000.0, \"epochs\": 3}\n}\n",
             elbo, elbo + 1, acc);
    snprintf(l, sizeof l,
             "{\"epoch\": 1, \"loss\": %.3f, \"beta\": 1.0, \"terms\": {\"image,label\": %.3f, \"image\": %.3f}}\n"
             "{\"epoch\": 2, \"loss\": %.3f, \"beta\": 1.0, \"terms\": {\"image,label\": %.3f, \"image\": %.3f}}\n"
             "{\"epoch\": 3, \"loss\": %.3f, \"beta\": 1.0, \"terms\": {\"image,label\": %.3f, \"image\": %.3f}}\n",
             300 * scale, 150 * scale, 150 * scale, 250 * scale, 120 * scale, 130 * scale, 230 * scale, 110 * scale,
             120 * scale);
    if (fx_write(dir, "config.yaml", "name: tiny <fixture> & co\nlatent_dim: 4\ntrain:\n  epochs: 3\n") ||
        fx_write(dir, "metrics.json", m) || fx_write(dir, "metrics.jsonl", l))
        return -1;
    if (fx_picture(dir, "reconstructions.png", 0.9f, 0.1f, 0.1f)) return -1;
    return fx_picture(dir, "terms.png", 0.1f, 0.1f, 0.1f);
}

/* a sweep directory as `mvae sweep` leaves it: axes fusion.plugin (poe, moe) x seed (1, 2),
 * runs.jsonl, each run directory */
static __attribute__((unused)) int fx_sweep(const char *dir) {
    mkdir(dir, 0777);
    static const char *const fus[2] = {"poe", "moe"};
    char runs[4096] = "";
    for (int f = 0; f < 2; f++)
        for (int s = 1; s <= 2; s++) {
            char rd[64], path[2048];
            snprintf(rd, sizeof rd, "fusion.plugin=%s,seed=%d", fus[f], s);
            snprintf(path, sizeof path, "%s/%s", dir, rd);
            /* poe: elbo -100 +- 1 and accuracy 0.8 / 0.9; moe: elbo -120 +- 1, accuracy 0.5 / 0.6 */
            if (fx_run(path, (f ? -120 : -100) + (s == 1 ? -1 : 1), (f ? 0.5 : 0.8) + (s - 1) * 0.1, 1 + f)) return -1;
            snprintf(runs + strlen(runs), sizeof runs - strlen(runs),
                     "{\"run\": \"%s\", \"label\": \"%s\", \"variant\": null, \"axes\": {\"fusion.plugin\": \"%s\", "
                     "\"seed\": \"%d\"}, \"metrics\": \"%s/metrics.json\"}\n",
                     rd, rd, fus[f], s, rd);
        }
    return fx_write(dir, "runs.jsonl", runs) || fx_write(dir, "command.txt", "mvae sweep fixture.yaml\n") ||
           fx_write(dir, "sweep.yaml", "name: fixture\nbase: x.yaml\naxes: {fusion.plugin: [poe, moe], seed: [1, 2]}\n");
}

/* a sweep with a numeric axis: fusion.plugin (poe, moe) x dataset.paired_fraction (0.01, 1.0) x
 * seed (1, 2); accuracy rises with the fraction */
static __attribute__((unused)) int fx_sweep_fractions(const char *dir) {
    mkdir(dir, 0777);
    static const char *const fus[2] = {"poe", "moe"}, *const fr[2] = {"0.01", "1.0"};
    char runs[8192] = "";
    for (int f = 0; f < 2; f++)
        for (int p = 0; p < 2; p++)
            for (int s = 1; s <= 2; s++) {
                char rd[128], path[2048];
                snprintf(rd, sizeof rd, "fusion.plugin=%s,dataset.paired_fraction=%s,seed=%d", fus[f], fr[p], s);
                snprintf(path, sizeof path, "%s/%s", dir, rd);
                if (fx_run(path, -100 - 10 * f, 0.3 + 0.5 * p - 0.1 * f + 0.02 * s, 1)) return -1;
                snprintf(runs + strlen(runs), sizeof runs - strlen(runs),
                         "{\"run\": \"%s\", \"label\": \"%s\", \"variant\": null, \"axes\": {\"fusion.plugin\": \"%s\", "
                         "\"dataset.paired_fraction\": \"%s\", \"seed\": \"%d\"}, \"metrics\": \"%s/metrics.json\"}\n",
                         rd, rd, fus[f], fr[p], s, rd);
            }
    return fx_write(dir, "runs.jsonl", runs);
}

static __attribute__((unused)) char *fx_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) free(s), s = NULL;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static __attribute__((unused)) int fx_count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Is `t` well-formed XML (after an optional <!DOCTYPE ...>)? Elements nest and close (or end in
 * "/>"), attributes are quoted, '&' starts an entity, no '<' in text or attribute values. On
 * failure `why` says where. */
static __attribute__((unused)) bool fx_xml_ok(const char *t, char *why, size_t n) {
    const char *stack[256];
    size_t len[256];
    int depth = 0, roots = 0;
    const char *p = t;
    while (*p == ' ' || *p == '\n') p++;
    if (!strncmp(p, "<!DOCTYPE", 9)) {
        p = strchr(p, '>');
        if (!p) return snprintf(why, n, "unterminated DOCTYPE"), false;
        p++;
    }
    while (*p) {
        if (*p == '&') {
            const char *e = strchr(p, ';');
            bool ok = e && e - p <= 8 &&
                      (!strncmp(p, "&amp;", 5) || !strncmp(p, "&lt;", 4) || !strncmp(p, "&gt;", 4) ||
                       !strncmp(p, "&quot;", 6) || !strncmp(p, "&#", 2));
            if (!ok) return snprintf(why, n, "bad entity at offset %ld", (long)(p - t)), false;
            p = e + 1;
            continue;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        if (!strncmp(p, "<!--", 4)) {
            const char *e = strstr(p, "-->");
            if (!e) return snprintf(why, n, "unterminated comment"), false;
            p = e + 3;
            continue;
        }
        bool close = p[1] == '/';
        const char *nm = p + 1 + close;
        size_t nl = strspn(nm, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:");
        if (!nl) return snprintf(why, n, "bad tag at offset %ld", (long)(p - t)), false;
        const char *q = nm + nl;
        bool self = false;
        while (*q && *q != '>') { /* attributes */
            if (*q == '"' || *q == '\'') {
                const char *e = strchr(q + 1, *q);
                if (!e) return snprintf(why, n, "unterminated attribute at offset %ld", (long)(q - t)), false;
                if (memchr(q + 1, '<', (size_t)(e - q - 1)))
                    return snprintf(why, n, "'<' in an attribute at offset %ld", (long)(q - t)), false;
                q = e + 1;
                continue;
            }
            if (*q == '=' && q[1] != '"' && q[1] != '\'')
                return snprintf(why, n, "unquoted attribute at offset %ld", (long)(q - t)), false;
            if (*q == '<') return snprintf(why, n, "'<' inside a tag at offset %ld", (long)(q - t)), false;
            self = *q == '/' && q[1] == '>';
            q++;
        }
        if (!*q) return snprintf(why, n, "unterminated tag at offset %ld", (long)(p - t)), false;
        if (close) {
            if (!depth || len[depth - 1] != nl || strncmp(stack[depth - 1], nm, nl))
                return snprintf(why, n, "</%.*s> at offset %ld closes %s%.*s", (int)nl, nm, (long)(p - t),
                                depth ? "<" : "nothing", depth ? (int)len[depth - 1] : 0, depth ? stack[depth - 1] : ""),
                       false;
            depth--;
        } else if (!self) {
            if (depth == 256) return snprintf(why, n, "nesting too deep"), false;
            if (!depth) roots++;
            stack[depth] = nm, len[depth++] = nl;
        } else if (!depth) {
            roots++;
        }
        p = q + 1;
    }
    if (depth) return snprintf(why, n, "<%.*s> is never closed", (int)len[depth - 1], stack[depth - 1]), false;
    if (roots != 1) return snprintf(why, n, "%d root elements", roots), false;
    return true;
}

#endif
