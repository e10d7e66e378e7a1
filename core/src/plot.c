/* plot.c — a tiny rasteriser for charts (see mvae/plot.h): RGB canvas, 2-px lines, markers,
 * error bars, bars, axes with numeric ticks (ranges and ticks: plot_axis.c, shared with
 * plot_svg.c), and text in a built-in 5x7 font (+ descenders), written with mvae_png_write. */
#include "mvae/plot.h"
#include "mvae/image.h"
#include "plot_axis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 5x7 font with descenders (8 rows), printable ASCII 32..126: 5 columns per glyph, bit 0 = top
 * row, bit 7 = the descender row (g, j, p, q, y). */
static const uint8_t font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */ {0x00, 0x00, 0x5F, 0x00, 0x00}, /* ! */
    {0x00, 0x07, 0x00, 0x07, 0x00}, /* " */ {0x14, 0x7F, 0x14, 0x7F, 0x14}, /* # */
    {0x24, 0x2A, 0x7F, 0x2A, 0x12}, /* $ */ {0x23, 0x13, 0x08, 0x64, 0x62}, /* % */
    {0x36, 0x49, 0x55, 0x22, 0x50}, /* & */ {0x00, 0x05, 0x03, 0x00, 0x00}, /* ' */
    {0x00, 0x1C, 0x22, 0x41, 0x00}, /* ( */ {0x00, 0x41, 0x22, 0x1C, 0x00}, /* ) */
    {0x14, 0x08, 0x3E, 0x08, 0x14}, /* * */ {0x08, 0x08, 0x3E, 0x08, 0x08}, /* + */
    {0x00, 0x50, 0x30, 0x00, 0x00}, /* , */ {0x08, 0x08, 0x08, 0x08, 0x08}, /* - */
    {0x00, 0x60, 0x60, 0x00, 0x00}, /* . */ {0x20, 0x10, 0x08, 0x04, 0x02}, /* / */
    {0x3E, 0x51, 0x49, 0x45, 0x3E}, /* 0 */ {0x00, 0x42, 0x7F, 0x40, 0x00}, /* 1 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, /* 2 */ {0x21, 0x41, 0x45, 0x4B, 0x31}, /* 3 */
    {0x18, 0x14, 0x12, 0x7F, 0x10}, /* 4 */ {0x27, 0x45, 0x45, 0x45, 0x39}, /* 5 */
    {0x3C, 0x4A, 0x49, 0x49, 0x30}, /* 6 */ {0x01, 0x71, 0x09, 0x05, 0x03}, /* 7 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, /* 8 */ {0x06, 0x49, 0x49, 0x29, 0x1E}, /* 9 */
    {0x00, 0x36, 0x36, 0x00, 0x00}, /* : */ {0x00, 0x56, 0x36, 0x00, 0x00}, /* ; */
    {0x08, 0x14, 0x22, 0x41, 0x00}, /* < */ {0x14, 0x14, 0x14, 0x14, 0x14}, /* = */
    {0x00, 0x41, 0x22, 0x14, 0x08}, /* > */ {0x02, 0x01, 0x51, 0x09, 0x06}, /* ? */
    {0x32, 0x49, 0x79, 0x41, 0x3E}, /* @ */ {0x7E, 0x11, 0x11, 0x11, 0x7E}, /* A */
    {0x7F, 0x49, 0x49, 0x49, 0x36}, /* B */ {0x3E, 0x41, 0x41, 0x41, 0x22}, /* C */
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, /* D */ {0x7F, 0x49, 0x49, 0x49, 0x41}, /* E */
    {0x7F, 0x09, 0x09, 0x09, 0x01}, /* F */ {0x3E, 0x41, 0x49, 0x49, 0x7A}, /* G */
    {0x7F, 0x08, 0x08, 0x08, 0x7F}, /* H */ {0x00, 0x41, 0x7F, 0x41, 0x00}, /* I */
    {0x20, 0x40, 0x41, 0x3F, 0x01}, /* J */ {0x7F, 0x08, 0x14, 0x22, 0x41}, /* K */
    {0x7F, 0x40, 0x40, 0x40, 0x40}, /* L */ {0x7F, 0x02, 0x0C, 0x02, 0x7F}, /* M */
    {0x7F, 0x04, 0x08, 0x10, 0x7F}, /* N */ {0x3E, 0x41, 0x41, 0x41, 0x3E}, /* O */
    {0x7F, 0x09, 0x09, 0x09, 0x06}, /* P */ {0x3E, 0x41, 0x51, 0x21, 0x5E}, /* Q */
    {0x7F, 0x09, 0x19, 0x29, 0x46}, /* R */ {0x46, 0x49, 0x49, 0x49, 0x31}, /* S */
    {0x01, 0x01, 0x7F, 0x01, 0x01}, /* T */ {0x3F, 0x40, 0x40, 0x40, 0x3F}, /* U */
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, /* V */ {0x3F, 0x40, 0x38, 0x40, 0x3F}, /* W */
    {0x63, 0x14, 0x08, 0x14, 0x63}, /* X */ {0x07, 0x08, 0x70, 0x08, 0x07}, /* Y */
    {0x61, 0x51, 0x49, 0x45, 0x43}, /* Z */ {0x00, 0x7F, 0x41, 0x41, 0x00}, /* [ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, /* \ */ {0x00, 0x41, 0x41, 0x7F, 0x00}, /* ] */
    {0x04, 0x02, 0x01, 0x02, 0x04}, /* ^ */ {0x40, 0x40, 0x40, 0x40, 0x40}, /* _ */
    {0x00, 0x01, 0x02, 0x04, 0x00}, /* ` */ {0x20, 0x54, 0x54, 0x54, 0x78}, /* a */
    {0x7F, 0x48, 0x44, 0x44, 0x38}, /* b */ {0x38, 0x44, 0x44, 0x44, 0x20}, /* c */
    {0x38, 0x44, 0x44, 0x48, 0x7F}, /* d */ {0x38, 0x54, 0x54, 0x54, 0x18}, /* e */
    {0x08, 0x7E, 0x09, 0x01, 0x02}, /* f */ {0x18, 0xA4, 0xA4, 0xA4, 0x78}, /* g */
    {0x7F, 0x08, 0x04, 0x04, 0x78}, /* h */ {0x00, 0x44, 0x7D, 0x40, 0x00}, /* i */
    {0x40, 0x80, 0x80, 0x7D, 0x00}, /* j */ {0x7F, 0x10, 0x28, 0x44, 0x00}, /* k */
    {0x00, 0x41, 0x7F, 0x40, 0x00}, /* l */ {0x7C, 0x04, 0x18, 0x04, 0x78}, /* m */
    {0x7C, 0x08, 0x04, 0x04, 0x78}, /* n */ {0x38, 0x44, 0x44, 0x44, 0x38}, /* o */
    {0xFC, 0x24, 0x24, 0x24, 0x18}, /* p */ {0x18, 0x24, 0x24, 0x24, 0xFC}, /* q */
    {0x7C, 0x08, 0x04, 0x04, 0x08}, /* r */ {0x48, 0x54, 0x54, 0x54, 0x20}, /* s */
    {0x04, 0x3F, 0x44, 0x40, 0x20}, /* t */ {0x3C, 0x40, 0x40, 0x20, 0x7C}, /* u */
    {0x1C, 0x20, 0x40, 0x20, 0x1C}, /* v */ {0x3C, 0x40, 0x30, 0x40, 0x3C}, /* w */
    {0x44, 0x28, 0x10, 0x28, 0x44}, /* x */ {0x1C, 0xA0, 0xA0, 0xA0, 0x7C}, /* y */
    {0x44, 0x64, 0x54, 0x4C, 0x44}, /* z */ {0x00, 0x08, 0x36, 0x41, 0x00}, /* { */
    {0x00, 0x00, 0xFF, 0x00, 0x00}, /* | */ {0x00, 0x41, 0x36, 0x08, 0x00}, /* } */
    {0x08, 0x04, 0x08, 0x10, 0x08}, /* ~ */
};

/* Tableau-10: distinct on screen and in print */
static const uint8_t palette[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

void mvae_plot_color(int i, uint8_t rgb[3]) {
    memcpy(rgb, palette[((i % 10) + 10) % 10], 3);
}

typedef struct canvas {
    int w, h;
    uint8_t *px;
} canvas;

static const uint8_t BLACK[3] = {0, 0, 0}, GRID[3] = {225, 225, 225}, DARK[3] = {60, 60, 60};

static void put(canvas *c, int x, int y, const uint8_t rgb[3]) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    memcpy(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, rgb, 3);
}

static void fill_rect(canvas *c, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
    if (x0 > x1) { int t = x0; x0 = x1; x1 = t; }
    if (y0 > y1) { int t = y0; y0 = y1; y1 = t; }
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) put(c, x, y, rgb);
}

/* a line `thick` pixels wide (a square brush stepped along the segment) */
static void line(canvas *c, double x0, double y0, double x1, double y1, int thick, const uint8_t rgb[3]) {
    double dx = x1 - x0, dy = y1 - y0;
    int n = (int)ceil(fmax(fabs(dx), fabs(dy)));
    if (n < 1) n = 1;
    int lo = -(thick - 1) / 2, hi = thick / 2;
    for (int i = 0; i <= n; i++) {
        int x = (int)lround(x0 + dx * i / n), y = (int)lround(y0 + dy * i / n);
        fill_rect(c, x + lo, y + lo, x + hi, y + hi, rgb);
    }
}

static void marker(canvas *c, int cx, int cy, int shape, const uint8_t rgb[3]) {
    const int r = 5;
    for (int y = -r; y <= r; y++)
        for (int x = -r; x <= r; x++) {
            bool in;
            switch (shape % 4) {
            case 0: in = x * x + y * y <= r * r + 1; break;                 /* circle */
            case 1: in = abs(x) <= r - 1 && abs(y) <= r - 1; break;          /* square */
            case 2: in = y >= -r && y <= r - 1 && 2 * abs(x) <= y + r; break; /* triangle */
            default: in = abs(x) + abs(y) <= r; break;                       /* diamond */
            }
            if (in) put(c, cx + x, cy + y, rgb);
        }
}

int mvae_plot_text_width(const char *text, int scale) {
    return text ? (int)strlen(text) * 6 * scale : 0;
}

/* text with its top-left corner at (x, y); vertical: rotated 90 degrees counter-clockwise
 * (reads bottom to top), (x, y) is then the bottom-left corner */
static void text(canvas *c, int x, int y, const char *s, int scale, bool vertical, const uint8_t rgb[3]) {
    for (int i = 0; s && s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        const uint8_t *g = font5x7[(ch >= 32 && ch <= 126) ? ch - 32 : '?' - 32];
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 8; row++) {
                if (!(g[col] >> row & 1)) continue;
                int gx = (i * 6 + col) * scale, gy = row * scale;
                if (!vertical)
                    fill_rect(c, x + gx, y + gy, x + gx + scale - 1, y + gy + scale - 1, rgb);
                else
                    fill_rect(c, x + gy, y - gx - scale + 1, x + gy + scale - 1, y - gx, rgb);
            }
    }
}

static void text_center(canvas *c, int cx, int y, const char *s, int scale, const uint8_t rgb[3]) {
    text(c, cx - mvae_plot_text_width(s, scale) / 2, y, s, scale, false, rgb);
}

typedef struct frame {
    canvas c;
    int x0, y0, x1, y1; /* plot area (pixels, y0 top) */
    int scale;          /* text scale */
    int lscale;         /* legend text scale (1 when the legend would take over a third) */
    mvae_plot_axis xa, ya;
} frame;

static int frame_init(frame *f, const mvae_plot_opts *o, mvae_error *err) {
    f->c.w = o->width > 0 ? o->width : 800;
    f->c.h = o->height > 0 ? o->height : 560;
    if (f->c.w < 160 || f->c.h < 120 || f->c.w > 8192 || f->c.h > 8192)
        return mvae_error_set(err, MVAE_ERR_INVALID, "plot size %dx%d: must be within 160x120 .. 8192x8192", f->c.w, f->c.h);
    f->c.px = malloc((size_t)f->c.w * (size_t)f->c.h * 3);
    if (!f->c.px) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    memset(f->c.px, 255, (size_t)f->c.w * (size_t)f->c.h * 3);
    f->scale = f->lscale = f->c.w >= 560 ? 2 : 1;
    return MVAE_OK;
}

/* place the plot area given the y tick labels' width and the legend's width */
static void frame_layout(frame *f, const mvae_plot_opts *o, int legend_w, int xlabel_rows) {
    int s = f->scale, lh = 8 * s; /* text height */
    int ytw = 0;
    char buf[64];
    for (int i = 0; i < f->ya.n_ticks; i++) {
        mvae_plot_axis_tick_label(&f->ya, i, buf, sizeof buf);
        int w = mvae_plot_text_width(buf, s);
        if (w > ytw) ytw = w;
    }
    f->x0 = 10 + (o->ylabel ? lh + 12 : 0) + ytw + 10;
    f->x1 = f->c.w - 20 - (legend_w ? legend_w + 16 : 0);
    f->y0 = 12 + (o->title ? lh + 14 : 0);
    f->y1 = f->c.h - (10 + xlabel_rows * (lh + 4) + 10 + (o->xlabel ? lh + 12 : 0));
    if (f->x1 - f->x0 < 40) f->x1 = f->x0 + 40;
    if (f->y1 - f->y0 < 40) f->y1 = f->y0 + 40;
    f->ya.p0 = f->y1;
    f->ya.p1 = f->y0;
    f->xa.p0 = f->x0;
    f->xa.p1 = f->x1;
}

/* grid, frame, y ticks, titles (x ticks are drawn by the caller) */
static void frame_draw(frame *f, const mvae_plot_opts *o, bool x_ticks) {
    canvas *c = &f->c;
    int s = f->scale, lh = 8 * s;
    char buf[64];
    for (int i = 0; i < f->ya.n_ticks; i++) {
        int y = (int)lround(mvae_plot_axis_px(&f->ya, mvae_plot_axis_tick_value(&f->ya, i)));
        line(c, f->x0, y, f->x1, y, 1, GRID);
        line(c, f->x0 - 6, y, f->x0, y, 1, BLACK);
        mvae_plot_axis_tick_label(&f->ya, i, buf, sizeof buf);
        text(c, f->x0 - 9 - mvae_plot_text_width(buf, s) + s, y - lh / 2, buf, s, false, DARK);
    }
    if (x_ticks)
        for (int i = 0; i < f->xa.n_ticks; i++) {
            int x = (int)lround(mvae_plot_axis_px(&f->xa, mvae_plot_axis_tick_value(&f->xa, i)));
            line(c, x, f->y0, x, f->y1, 1, GRID);
            line(c, x, f->y1, x, f->y1 + 6, 1, BLACK);
            mvae_plot_axis_tick_label(&f->xa, i, buf, sizeof buf);
            text_center(c, x, f->y1 + 10, buf, s, DARK);
        }
    /* frame */
    line(c, f->x0, f->y0, f->x1, f->y0, 1, BLACK);
    line(c, f->x0, f->y1, f->x1, f->y1, 1, BLACK);
    line(c, f->x0, f->y0, f->x0, f->y1, 1, BLACK);
    line(c, f->x1, f->y0, f->x1, f->y1, 1, BLACK);
    if (o->title) {
        int ts = mvae_plot_text_width(o->title, s) <= c->w - 20 ? s : 1;
        text_center(c, c->w / 2, 12, o->title, ts, BLACK);
    }
    if (o->xlabel) text_center(c, (f->x0 + f->x1) / 2, c->h - 10 - lh, o->xlabel, s, BLACK);
    if (o->ylabel) {
        int w = mvae_plot_text_width(o->ylabel, s);
        text(c, 10, (f->y0 + f->y1) / 2 + w / 2, o->ylabel, s, true, BLACK);
    }
}

static int legend_width(const mvae_plot_series *series, int n, int scale) {
    int w = 0;
    for (int i = 0; i < n; i++) {
        int t = mvae_plot_text_width(series[i].label, scale);
        if (t > w) w = t;
    }
    return w ? w + 34 : 0;
}

static void legend(frame *f, const mvae_plot_series *series, int n, bool bars) {
    int s = f->lscale, lh = 8 * s, x = f->x1 + 16, y = f->y0 + 4;
    for (int i = 0; i < n; i++) {
        if (!series[i].label) continue;
        uint8_t col[3];
        mvae_plot_color(i, col);
        int cy = y + lh / 2;
        if (bars) {
            fill_rect(&f->c, x, cy - 6, x + 22, cy + 6, col);
        } else {
            line(&f->c, x, cy, x + 22, cy, 2, col);
            marker(&f->c, x + 11, cy, i, col);
        }
        text(&f->c, x + 30, y, series[i].label, s, false, BLACK);
        y += lh + 10;
    }
}

static int finish(frame *f, const char *path, mvae_error *err) {
    int rc = mvae_png_write(path, f->c.px, f->c.w, f->c.h, 3, err);
    free(f->c.px);
    return rc;
}

int mvae_plot_lines(const char *png_path, const mvae_plot_opts *o, const mvae_plot_series *series,
                    int n_series, mvae_error *err) {
    mvae_plot_opts def = {0};
    if (!o) o = &def;
    if (!png_path || n_series < 0 || (n_series && !series))
        return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_plot_lines: bad arguments");
    double xlo, xhi, ylo, yhi, bad_x;
    if (!mvae_plot_lines_range(o, series, n_series, &xlo, &xhi, &ylo, &yhi, &bad_x))
        return mvae_error_set(err, MVAE_ERR_INVALID, "plot '%s': x = %g on a log axis", png_path, bad_x);
    frame f;
    int rc = frame_init(&f, o, err);
    if (rc) return rc;
    mvae_plot_axis_fit(&f.xa, xlo, xhi, o->log_x, 6, 0.06, false);
    mvae_plot_axis_fit(&f.ya, ylo, yhi, false, 6, 0.06, false);
    int lw = legend_width(series, n_series, f.lscale);
    if (lw * 5 > f.c.w * 2) f.lscale = 1, lw = legend_width(series, n_series, 1);
    frame_layout(&f, o, lw, 1);
    frame_draw(&f, o, true);
    for (int i = 0; i < n_series; i++) {
        const mvae_plot_series *s = &series[i];
        uint8_t col[3];
        mvae_plot_color(i, col);
        double px = NAN, py = NAN;
        for (int k = 0; k < s->n; k++) { /* lines first, markers on top */
            double x = s->x[k], y = s->y[k];
            if (!isfinite(x) || !isfinite(y)) { px = NAN; continue; }
            double qx = mvae_plot_axis_px(&f.xa, x), qy = mvae_plot_axis_px(&f.ya, y);
            if (isfinite(px)) line(&f.c, px, py, qx, qy, 2, col);
            px = qx, py = qy;
        }
        for (int k = 0; k < s->n; k++) {
            double x = s->x[k], y = s->y[k], e = s->err ? s->err[k] : 0;
            if (!isfinite(x) || !isfinite(y)) continue;
            int qx = (int)lround(mvae_plot_axis_px(&f.xa, x)), qy = (int)lround(mvae_plot_axis_px(&f.ya, y));
            if (isfinite(e) && e > 0) {
                int a = (int)lround(mvae_plot_axis_px(&f.ya, y - e)), b = (int)lround(mvae_plot_axis_px(&f.ya, y + e));
                line(&f.c, qx, a, qx, b, 2, col);
                line(&f.c, qx - 5, a, qx + 5, a, 2, col);
                line(&f.c, qx - 5, b, qx + 5, b, 2, col);
            }
            marker(&f.c, qx, qy, i, col);
        }
    }
    legend(&f, series, n_series, false);
    return finish(&f, png_path, err);
}

int mvae_plot_bars(const char *png_path, const mvae_plot_opts *o, const char *const *groups,
                   int n_groups, const mvae_plot_series *series, int n_series, mvae_error *err) {
    mvae_plot_opts def = {0};
    if (!o) o = &def;
    if (!png_path || n_groups < 1 || n_series < 1 || !series)
        return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_plot_bars: needs at least one group and one series");
    double ylo, yhi;
    mvae_plot_bars_range(o, n_groups, series, n_series, &ylo, &yhi);
    frame f;
    int rc = frame_init(&f, o, err);
    if (rc) return rc;
    mvae_plot_axis_fit(&f.ya, ylo, yhi, false, 6, 0.06, false);
    int lw = n_series > 1 || series[0].label ? legend_width(series, n_series, f.lscale) : 0;
    if (lw * 5 > f.c.w * 2) f.lscale = 1, lw = legend_width(series, n_series, 1);
    /* group names: one line, or two (split at a space), at the largest scale that fits */
    int rows = 1, gs = f.scale;
    frame_layout(&f, o, lw, 1);
    double gw = (double)(f.x1 - f.x0) / n_groups;
    char names[n_groups][2][128];
    for (int g = 0; g < n_groups; g++) {
        const char *nm = groups && groups[g] ? groups[g] : "";
        snprintf(names[g][0], sizeof names[g][0], "%s", nm);
        names[g][1][0] = '\0';
        if (mvae_plot_text_width(nm, gs) <= gw - 4) continue;
        const char *sp = NULL; /* the space nearest the middle */
        for (const char *q = strchr(nm, ' '); q; q = strchr(q + 1, ' '))
            if (!sp || labs((long)(q - nm) * 2 - (long)strlen(nm)) < labs((long)(sp - nm) * 2 - (long)strlen(nm))) sp = q;
        if (sp) {
            snprintf(names[g][0], sizeof names[g][0], "%.*s", (int)(sp - nm), nm);
            snprintf(names[g][1], sizeof names[g][1], "%s", sp + 1);
            rows = 2;
        }
    }
    for (int g = 0; g < n_groups; g++)
        for (int r = 0; r < 2; r++)
            if (mvae_plot_text_width(names[g][r], gs) > gw - 4) gs = 1;
    if (rows == 2) frame_layout(&f, o, lw, 2);
    frame_draw(&f, o, false);
    double base = (f.ya.lo <= 0 && f.ya.hi >= 0) ? 0 : f.ya.lo;
    int by = (int)lround(mvae_plot_axis_px(&f.ya, base));
    double bw = gw * 0.8 / n_series;
    for (int g = 0; g < n_groups; g++) {
        double gx = f.x0 + gw * g + gw * 0.1;
        for (int i = 0; i < n_series; i++) {
            if (g >= series[i].n) continue;
            double y = series[i].y[g], e = series[i].err ? series[i].err[g] : 0;
            if (!isfinite(y)) continue;
            uint8_t col[3];
            mvae_plot_color(i, col);
            int xa = (int)lround(gx + bw * i + 1), xb = (int)lround(gx + bw * (i + 1) - 1);
            if (xb < xa) xb = xa;
            fill_rect(&f.c, xa, by, xb, (int)lround(mvae_plot_axis_px(&f.ya, y)), col);
            if (isfinite(e) && e > 0) {
                int cx = (xa + xb) / 2;
                int a = (int)lround(mvae_plot_axis_px(&f.ya, y - e)), b = (int)lround(mvae_plot_axis_px(&f.ya, y + e));
                line(&f.c, cx, a, cx, b, 2, BLACK);
                line(&f.c, cx - 4, a, cx + 4, a, 2, BLACK);
                line(&f.c, cx - 4, b, cx + 4, b, 2, BLACK);
            }
        }
        if (groups && groups[g]) {
            int cx = (int)lround(f.x0 + gw * (g + 0.5));
            line(&f.c, cx, f.y1, cx, f.y1 + 6, 1, BLACK);
            text_center(&f.c, cx, f.y1 + 10, names[g][0], gs, DARK);
            if (names[g][1][0]) text_center(&f.c, cx, f.y1 + 10 + 8 * gs + 4, names[g][1], gs, DARK);
        }
    }
    line(&f.c, f.x0, by, f.x1, by, 1, BLACK);
    if (lw) legend(&f, series, n_series, true);
    return finish(&f, png_path, err);
}
