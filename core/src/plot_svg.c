/* plot_svg.c — the charts of mvae/plot.h as SVG text (vector shapes, real fonts chosen by the
 * viewer), for the HTML report: line plots with markers and error bars, grouped bar charts with
 * error bars. Layout estimates text widths (0.6 em per character); every value is also in a
 * <title> so that a browser shows it on hover. Also the text buffer and escapes shared with
 * report_html.c (report_internal.h). */
#include "mvae/plot.h"
#include "plot_axis.h"
#include "report_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- buffer */
static bool sb_reserve(mvae_sbuf *b, size_t extra) {
    if (b->oom) return false;
    if (b->n + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + extra + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void mvae_sb_put(mvae_sbuf *b, const char *s, size_t n) {
    if (!n || !sb_reserve(b, n)) return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void mvae_sb_printf(mvae_sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (w < 0 || !sb_reserve(b, (size_t)w)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)w + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)w;
}

void mvae_sb_esc(mvae_sbuf *b, const char *s) {
    for (const char *p = s; p && *p; p++) {
        switch (*p) {
        case '&': mvae_sb_put(b, "&amp;", 5); break;
        case '<': mvae_sb_put(b, "&lt;", 4); break;
        case '>': mvae_sb_put(b, "&gt;", 4); break;
        case '"': mvae_sb_put(b, "&quot;", 6); break;
        case '\'': mvae_sb_put(b, "&#39;", 5); break;
        default:
            /* control characters other than tab and newline are not allowed in XML 1.0 */
            if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') mvae_sb_put(b, "?", 1);
            else mvae_sb_put(b, p, 1);
        }
    }
}

void mvae_sb_base64(mvae_sbuf *b, const uint8_t *d, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!sb_reserve(b, (n + 2) / 3 * 4)) return;
    char *o = b->s + b->n;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63], *o++ = tab[v >> 6 & 63], *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    b->n = (size_t)(o - b->s);
    b->s[b->n] = '\0';
}

char *mvae_sb_take(mvae_sbuf *b) {
    char *s = b->oom ? NULL : b->s ? b->s : strdup("");
    if (b->oom) free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

void mvae_sb_free(mvae_sbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------------------------- layout */
#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
enum { FS_TICK = 12, FS_LABEL = 13, FS_TITLE = 15 };

static double text_w(const char *s, double size) {
    /* count UTF-8 code points, not bytes */
    size_t n = 0;
    for (const char *p = s; p && *p; p++) n += ((unsigned char)*p & 0xC0) != 0x80;
    return 0.6 * size * (double)n;
}

/* a value for tooltips: 4 significant digits */
static void val_text(double v, char *buf, size_t n) {
    if (!isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.4g", v);
}

typedef struct svg_frame {
    int w, h;
    double x0, y0, x1, y1; /* plot area, y0 at the top */
    mvae_plot_axis xa, ya;
    double legend_w;
} svg_frame;

static const char *color_hex(int i, char buf[8]) {
    uint8_t c[3];
    mvae_plot_color(i, c);
    snprintf(buf, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
    return buf;
}

static double legend_width(const mvae_plot_series *s, int n) {
    double w = 0;
    for (int i = 0; i < n; i++)
        if (s[i].label && text_w(s[i].label, FS_LABEL) > w) w = text_w(s[i].label, FS_LABEL);
    return w > 0 ? w + 34 : 0;
}

static int frame_init(svg_frame *f, const mvae_plot_opts *o, mvae_error *err) {
    f->w = o->width > 0 ? o->width : 720;
    f->h = o->height > 0 ? o->height : 420;
    if (f->w < 160 || f->h < 120 || f->w > 8192 || f->h > 8192)
        return mvae_error_set(err, MVAE_ERR_INVALID, "plot size %dx%d: must be within 160x120 .. 8192x8192", f->w, f->h);
    return MVAE_OK;
}

/* place the plot area; x_label_h: room under the axis for the x tick labels */
static void frame_layout(svg_frame *f, const mvae_plot_opts *o, double x_label_h) {
    double ytw = 0;
    char buf[64];
    for (int i = 0; i < f->ya.n_ticks; i++) {
        mvae_plot_axis_tick_label(&f->ya, i, buf, sizeof buf);
        if (text_w(buf, FS_TICK) > ytw) ytw = text_w(buf, FS_TICK);
    }
    /* a legend wider than a third of the plot goes under it: keep it at the right, but cap */
    if (f->legend_w > f->w / 3.0) f->legend_w = f->w / 3.0;
    f->x0 = 10 + (o->ylabel ? FS_LABEL + 10 : 0) + ytw + 8;
    f->x1 = f->w - 16 - (f->legend_w > 0 ? f->legend_w + 12 : 0);
    f->y0 = 10 + (o->title ? FS_TITLE + 12 : 0);
    f->y1 = f->h - (8 + x_label_h + (o->xlabel ? FS_LABEL + 12 : 0));
    if (f->x1 - f->x0 < 40) f->x1 = f->x0 + 40;
    if (f->y1 - f->y0 < 40) f->y1 = f->y0 + 40;
    f->ya.p0 = f->y1, f->ya.p1 = f->y0;
    f->xa.p0 = f->x0, f->xa.p1 = f->x1;
}

static void svg_open(mvae_sbuf *b, const svg_frame *f, const mvae_plot_opts *o) {
    mvae_sb_printf(b,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"mvae-plot\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" font-family=\"%s\" role=\"img\"",
                   f->w, f->h, f->w, f->h, FONT);
    if (o->title) mvae_sb_printf(b, " aria-label=\""), mvae_sb_esc(b, o->title), mvae_sb_printf(b, "\"");
    mvae_sb_printf(b, ">\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", f->w, f->h);
}

static void svg_text(mvae_sbuf *b, double x, double y, const char *anchor, int size, const char *extra,
                     const char *s) {
    mvae_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s%s>", x, y, anchor, size,
                   extra ? " " : "", extra ? extra : "");
    mvae_sb_esc(b, s);
    mvae_sb_printf(b, "</text>\n");
}

/* grid, frame, y ticks, titles; x ticks when x_ticks (bar charts draw their own) */
static void frame_draw(mvae_sbuf *b, const svg_frame *f, const mvae_plot_opts *o, bool x_ticks) {
    char buf[64];
    mvae_sb_printf(b, "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for (int i = 0; i < f->ya.n_ticks; i++) {
        double y = mvae_plot_axis_px(&f->ya, mvae_plot_axis_tick_value(&f->ya, i));
        mvae_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f->x0, y, f->x1, y);
    }
    for (int i = 0; x_ticks && i < f->xa.n_ticks; i++) {
        double x = mvae_plot_axis_px(&f->xa, mvae_plot_axis_tick_value(&f->xa, i));
        mvae_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, f->y0, x, f->y1);
    }
    mvae_sb_printf(b, "</g>\n<g class=\"ticks\" fill=\"#333333\">\n");
    for (int i = 0; i < f->ya.n_ticks; i++) {
        double y = mvae_plot_axis_px(&f->ya, mvae_plot_axis_tick_value(&f->ya, i));
        mvae_plot_axis_tick_label(&f->ya, i, buf, sizeof buf);
        mvae_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", f->x0 - 5, y,
                       f->x0, y);
        svg_text(b, f->x0 - 8, y + FS_TICK * 0.35, "end", FS_TICK, NULL, buf);
    }
    for (int i = 0; x_ticks && i < f->xa.n_ticks; i++) {
        double x = mvae_plot_axis_px(&f->xa, mvae_plot_axis_tick_value(&f->xa, i));
        mvae_plot_axis_tick_label(&f->xa, i, buf, sizeof buf);
        mvae_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", x, f->y1, x,
                       f->y1 + 5);
        svg_text(b, x, f->y1 + 8 + FS_TICK, "middle", FS_TICK, NULL, buf);
    }
    mvae_sb_printf(b, "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#000000\"/>\n",
                   f->x0, f->y0, f->x1 - f->x0, f->y1 - f->y0);
    if (o->title) svg_text(b, f->w / 2.0, 10 + FS_TITLE, "middle", FS_TITLE, "font-weight=\"bold\"", o->title);
    if (o->xlabel) svg_text(b, (f->x0 + f->x1) / 2, f->h - 10, "middle", FS_LABEL, NULL, o->xlabel);
    if (o->ylabel) {
        char tr[96];
        double cx = 10 + FS_LABEL, cy = (f->y0 + f->y1) / 2;
        snprintf(tr, sizeof tr, "transform=\"rotate(-90 %.1f %.1f)\"", cx, cy);
        svg_text(b, cx, cy, "middle", FS_LABEL, tr, o->ylabel);
    }
}

/* marker shape i % 4: circle, square, triangle, diamond */
static void marker(mvae_sbuf *b, double x, double y, int shape, const char *col) {
    const double r = 4;
    switch (shape % 4) {
    case 0: mvae_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"", x, y, r, col); break;
    case 1:
        mvae_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"", x - r, y - r, 2 * r,
                       2 * r, col);
        break;
    case 2:
        mvae_sb_printf(b, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"", x, y - r - 1, x + r + 1, y + r,
                       x - r - 1, y + r, col);
        break;
    default:
        mvae_sb_printf(b, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"", x, y - r - 1, x + r + 1,
                       y, x, y + r + 1, x - r - 1, y, col);
    }
}

static void error_bar(mvae_sbuf *b, double x, double ya, double yb, double cap, const char *col) {
    mvae_sb_printf(b,
                   "<path class=\"errbar\" d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"%s\" "
                   "stroke-width=\"1.5\" fill=\"none\"/>\n",
                   x, ya, yb, x - cap, ya, x + cap, x - cap, yb, x + cap, col);
}

static void legend(mvae_sbuf *b, const svg_frame *f, const mvae_plot_series *s, int n, bool bars) {
    if (f->legend_w <= 0) return;
    double x = f->x1 + 14, y = f->y0 + 4;
    char col[8];
    mvae_sb_printf(b, "<g class=\"legend\">\n");
    for (int i = 0; i < n; i++) {
        if (!s[i].label) continue;
        double cy = y + FS_LABEL / 2.0;
        color_hex(i, col);
        if (bars) {
            mvae_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"20\" height=\"11\" fill=\"%s\"/>\n", x, cy - 5.5, col);
        } else {
            mvae_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", x,
                           cy, x + 20, cy, col);
            marker(b, x + 10, cy, i, col);
            mvae_sb_printf(b, "/>\n");
        }
        /* a label longer than the legend's room is cut, with the whole text on hover */
        double room = f->w - (x + 26) - 4;
        size_t keep = (size_t)(room / (0.6 * FS_LABEL));
        char shown[256];
        if (strlen(s[i].label) > keep && keep > 3) snprintf(shown, sizeof shown, "%.*s...", (int)keep - 3, s[i].label);
        else snprintf(shown, sizeof shown, "%s", s[i].label);
        mvae_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\"><title>", x + 26, cy + FS_LABEL * 0.35, FS_LABEL);
        mvae_sb_esc(b, s[i].label);
        mvae_sb_printf(b, "</title>");
        mvae_sb_esc(b, shown);
        mvae_sb_printf(b, "</text>\n");
        y += FS_LABEL + 8;
    }
    mvae_sb_printf(b, "</g>\n");
}

static int finish(mvae_sbuf *b, char **svg, mvae_error *err) {
    mvae_sb_printf(b, "</svg>\n");
    *svg = mvae_sb_take(b);
    return *svg ? MVAE_OK : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory for an SVG plot");
}

/* --------------------------------------------------------------------------------- charts */
int mvae_plot_lines_svg(char **svg, const mvae_plot_opts *o, const mvae_plot_series *series, int n_series,
                        mvae_error *err) {
    mvae_plot_opts def = {0};
    if (!o) o = &def;
    if (!svg || n_series < 0 || (n_series && !series))
        return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_plot_lines_svg: bad arguments");
    *svg = NULL;
    double xlo, xhi, ylo, yhi, bad_x;
    if (!mvae_plot_lines_range(o, series, n_series, &xlo, &xhi, &ylo, &yhi, &bad_x))
        return mvae_error_set(err, MVAE_ERR_INVALID, "plot '%s': x = %g on a log axis", o->title ? o->title : "", bad_x);
    svg_frame f = {0};
    int rc = frame_init(&f, o, err);
    if (rc) return rc;
    bool integer_x = !o->log_x;
    for (int i = 0; i < n_series && integer_x; i++)
        for (int k = 0; k < series[i].n && integer_x; k++)
            integer_x = !isfinite(series[i].x[k]) || series[i].x[k] == floor(series[i].x[k]);
    mvae_plot_axis_fit(&f.xa, xlo, xhi, o->log_x, 7, 0.05, integer_x);
    mvae_plot_axis_fit(&f.ya, ylo, yhi, false, 6, 0.05, false);
    f.legend_w = legend_width(series, n_series);
    frame_layout(&f, o, FS_TICK + 10);
    mvae_sbuf b = {0};
    svg_open(&b, &f, o);
    frame_draw(&b, &f, o, true);
    char col[8], vx[32], vy[32], ve[32];
    for (int i = 0; i < n_series; i++) {
        const mvae_plot_series *s = &series[i];
        color_hex(i, col);
        mvae_sb_printf(&b, "<g class=\"series\" data-series=\"%d\">\n", i);
        /* polylines between NaN breaks, then error bars, then markers on top */
        bool open = false;
        for (int k = 0; k < s->n; k++) {
            double x = s->x[k], y = s->y[k];
            if (!isfinite(x) || !isfinite(y)) {
                if (open) mvae_sb_printf(&b, "\"/>\n"), open = false;
                continue;
            }
            if (!open)
                mvae_sb_printf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"",
                               col),
                    open = true;
            mvae_sb_printf(&b, "%.1f,%.1f ", mvae_plot_axis_px(&f.xa, x), mvae_plot_axis_px(&f.ya, y));
        }
        if (open) mvae_sb_printf(&b, "\"/>\n");
        for (int k = 0; k < s->n; k++) {
            double x = s->x[k], y = s->y[k], e = s->err ? s->err[k] : 0;
            if (!isfinite(x) || !isfinite(y)) continue;
            double px = mvae_plot_axis_px(&f.xa, x), py = mvae_plot_axis_px(&f.ya, y);
            bool has_e = isfinite(e) && e > 0;
            if (has_e) error_bar(&b, px, mvae_plot_axis_px(&f.ya, y - e), mvae_plot_axis_px(&f.ya, y + e), 4, col);
            marker(&b, px, py, i, col);
            val_text(x, vx, sizeof vx), val_text(y, vy, sizeof vy), val_text(e, ve, sizeof ve);
            mvae_sb_printf(&b, "><title>");
            if (s->label) mvae_sb_esc(&b, s->label), mvae_sb_printf(&b, ": ");
            mvae_sb_printf(&b, "(%s, %s%s%s)</title></%s>\n", vx, vy, has_e ? " ± " : "", has_e ? ve : "",
                           i % 4 == 0 ? "circle" : i % 4 == 1 ? "rect" : "path");
        }
        mvae_sb_printf(&b, "</g>\n");
    }
    legend(&b, &f, series, n_series, false);
    return finish(&b, svg, err);
}

int mvae_plot_bars_svg(char **svg, const mvae_plot_opts *o, const char *const *groups, int n_groups,
                       const mvae_plot_series *series, int n_series, mvae_error *err) {
    mvae_plot_opts def = {0};
    if (!o) o = &def;
    if (!svg || n_groups < 1 || n_series < 1 || !series)
        return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_plot_bars_svg: needs at least one group and one series");
    *svg = NULL;
    double ylo, yhi;
    mvae_plot_bars_range(o, n_groups, series, n_series, &ylo, &yhi);
    svg_frame f = {0};
    int rc = frame_init(&f, o, err);
    if (rc) return rc;
    mvae_plot_axis_fit(&f.ya, ylo, yhi, false, 6, 0.05, false);
    f.legend_w = n_series > 1 || series[0].label ? legend_width(series, n_series) : 0;
    /* group names: horizontal when they fit their slot, else slanted (room measured from the
     * longest) */
    double longest = 0;
    for (int g = 0; g < n_groups; g++)
        if (groups && groups[g] && text_w(groups[g], FS_TICK) > longest) longest = text_w(groups[g], FS_TICK);
    frame_layout(&f, o, FS_TICK + 10);
    double gw = (f.x1 - f.x0) / n_groups;
    bool slant = longest > gw - 6;
    if (slant) {
        double room = fmin(longest * 0.5 + FS_TICK, f.h * 0.35);
        frame_layout(&f, o, room + 10);
        gw = (f.x1 - f.x0) / n_groups;
    }
    mvae_sbuf b = {0};
    svg_open(&b, &f, o);
    frame_draw(&b, &f, o, false);
    double base = (f.ya.lo <= 0 && f.ya.hi >= 0) ? 0 : f.ya.lo;
    double by = mvae_plot_axis_px(&f.ya, base), bw = gw * 0.8 / n_series;
    char col[8], vy[32], ve[32];
    for (int g = 0; g < n_groups; g++) {
        double gx = f.x0 + gw * g + gw * 0.1;
        for (int i = 0; i < n_series; i++) {
            if (g >= series[i].n) continue;
            double y = series[i].y[g], e = series[i].err ? series[i].err[g] : 0;
            if (!isfinite(y)) continue;
            color_hex(i, col);
            double xa = gx + bw * i + 0.5, xb = gx + bw * (i + 1) - 0.5, py = mvae_plot_axis_px(&f.ya, y);
            bool has_e = isfinite(e) && e > 0;
            val_text(y, vy, sizeof vy), val_text(e, ve, sizeof ve);
            mvae_sb_printf(&b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                           xa, fmin(py, by), fmax(xb - xa, 1), fabs(by - py), col);
            if (groups && groups[g]) mvae_sb_esc(&b, groups[g]);
            if (series[i].label) mvae_sb_printf(&b, ", "), mvae_sb_esc(&b, series[i].label);
            mvae_sb_printf(&b, ": %s%s%s</title></rect>\n", vy, has_e ? " ± " : "", has_e ? ve : "");
            if (has_e) error_bar(&b, (xa + xb) / 2, mvae_plot_axis_px(&f.ya, y - e), mvae_plot_axis_px(&f.ya, y + e), fmin(4, bw / 3), "#000000");
        }
        if (groups && groups[g]) {
            double cx = f.x0 + gw * (g + 0.5);
            mvae_sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", cx, f.y1, cx,
                           f.y1 + 5);
            if (slant) {
                char tr[96];
                snprintf(tr, sizeof tr, "transform=\"rotate(-30 %.1f %.1f)\" fill=\"#333333\"", cx, f.y1 + 10);
                svg_text(&b, cx, f.y1 + 10 + FS_TICK * 0.7, "end", FS_TICK, tr, groups[g]);
            } else {
                svg_text(&b, cx, f.y1 + 8 + FS_TICK, "middle", FS_TICK, "fill=\"#333333\"", groups[g]);
            }
        }
    }
    mvae_sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", f.x0, by, f.x1, by);
    legend(&b, &f, series, n_series, true);
    return finish(&b, svg, err);
}
