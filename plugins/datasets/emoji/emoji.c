/* emoji.c — dataset plugin: every fully-qualified emoji of emoji-test.txt rendered from Noto Color
 * Emoji, with attributes from the Unicode data.
 *
 *   dataset:
 *     plugin: emoji
 *     font: /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf   # fonts-noto-color-emoji
 *     emoji_test: /usr/share/unicode/emoji/emoji-test.txt      # unicode-data
 *     size: 64             # images are size x size
 *     test_fraction: 0.1   # share of the emoji in the test split (chosen by seed)
 *     seed: 1              # the split's seed
 *     cache_dir: ""        # "" = $MVAE_CACHE_DIR/emoji or ~/.cache/mvae/emoji; "none" = no cache
 *     attributes: vector   # vector: one binary modality; separate: one categorical per block;
 *                          # each: every selected attribute a binary modality of its own
 *     select: []           # attributes: each: [gender_woman, skin_tone_dark, ...] ([] = 18 defaults)
 *     limit: 0             # only the first N emoji (0 = all 3,655): for tests
 *     split: random        # random: test_fraction, seeded; combinations: the compositionality probe's
 *     holdout: 0.2         #   split (held-out (role, gender, skin tone) combinations; emoji_factors.c)
 *
 * Rendering: FreeType selects the font's colour bitmap strike (FT_Select_Size(face, 0)), HarfBuzz
 * shapes each code-point sequence (skin tones and ZWJ sequences become one glyph),
 * FT_LOAD_COLOR gives premultiplied BGRA. The glyph is centred on a transparent square canvas
 * (side = max(glyph, font advance)), composited on white, and area-averaged down to size x size.
 * A sequence that does not shape to one glyph, or fails to load, is skipped and counted.
 *
 * Modalities: image [3,S,S] RGB in [0,1] (on white); alpha [1,S,S] coverage in [0,1] (the
 * segmentation transform's source); attributes [K] binary (layout in emoji.h) or, with
 * attributes: separate, attr_group, attr_subgroup, attr_skin_tone, attr_gender, attr_hair
 * (categorical), or, with attributes: each, one [1] binary modality per selected column, named
 * like the column (group_people_body, skin_tone_dark, gender_woman, ...: emoji.h). The captions
 * (names) stay in the dataset: mvae_emoji_caption. With split: combinations the dataset holds only
 * the emoji of the factor model (emoji_factors: a role seen with two or more skin tones) and its
 * modalities are image, alpha, caption ([V] binary: the name's lower-case words, a bag of words),
 * role, gender (none, man, woman), tone (none + 5) (categorical); test_fraction and attributes are
 * not used; the test split is exactly the held-out combinations.
 *
 * Cache: <cache_dir>/emoji_s<S>[_n<limit>].bin holds the renderings (8-bit RGBA planes) keyed by
 * size, the font's and the list's size and mtime; a stale or damaged cache is rebuilt.
 */
#define _POSIX_C_SOURCE 200809L
#include "emoji.h"
#include "mvae/interfaces.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb-ft.h>
#include <hb.h>

#define EMOJI_DEFAULT_FONT "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
#define EMOJI_DEFAULT_TEST "/usr/share/unicode/emoji/emoji-test.txt"
#define EMOJI_CACHE_MAGIC "MVAEEMJ1"

typedef struct emoji_ds {
    emoji_list list;
    int S;
    int64_t n_ok, skipped;
    int32_t *entry;   /* [n_ok] index into list.e of each rendered emoji */
    uint8_t *pix;     /* [n_ok, 4, S, S] R, G, B (on white), alpha */
    int64_t *split[2];/* sample -> rendered index, per split */
    int64_t n_split[2];
    enum { ATTR_VECTOR, ATTR_SEPARATE, ATTR_EACH } mode;
    int K, start[EMOJI_N_BLOCKS + 1];
    int n_sel, sel[EMOJI_MAX_SELECT]; /* attributes: each: the column of each attribute modality */
    int n_mods;
    mvae_modality_info mods[MVAE_MAX_MODALITIES];
    /* split: combinations */
    bool combos;
    int *fac;         /* [n_ok, 3] role, gender, tone of each rendering (-1: outside the factor model) */
    char **roles, **vocab;
    int n_roles, n_vocab;
    uint8_t *bow;     /* [n_ok, n_vocab] the caption's words */
} emoji_ds;

/* ------------------------------------------------------------------------------- rendering */
/* Area-average weights: output o of n_out covers [o * n_in / n_out, (o + 1) * n_in / n_out). */
static void box_weights(int n_in, int n_out, float *w /* [n_out, n_in] */) {
    double r = (double)n_in / n_out;
    for (int o = 0; o < n_out; o++) {
        double a = o * r, b = (o + 1) * r;
        for (int j = 0; j < n_in; j++) {
            double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1;
            w[(size_t)o * n_in + j] = hi > lo ? (float)((hi - lo) / r) : 0.0f;
        }
    }
}

typedef struct renderer {
    FT_Library lib;
    FT_Face face;
    hb_font_t *font;
    hb_buffer_t *buf;
    int canvas;      /* canvas side */
    float *plane;    /* [4, canvas, canvas] R G B A (premultiplied colour) */
    float *tmp;      /* [4, S, canvas] */
    float *w;        /* [S, canvas] */
} renderer;

static void renderer_free(renderer *r) {
    if (r->buf) hb_buffer_destroy(r->buf);
    if (r->font) hb_font_destroy(r->font);
    if (r->face) FT_Done_Face(r->face);
    if (r->lib) FT_Done_FreeType(r->lib);
    free(r->plane);
    free(r->tmp);
    free(r->w);
    memset(r, 0, sizeof *r);
}

static int renderer_init(renderer *r, const char *font, int S, mvae_error *err) {
    memset(r, 0, sizeof *r);
    if (FT_Init_FreeType(&r->lib)) return mvae_error_set(err, MVAE_ERR_PLUGIN, "emoji: FreeType failed to start");
    if (FT_New_Face(r->lib, font, 0, &r->face)) {
        renderer_free(r);
        return mvae_error_set(err, MVAE_ERR_FORMAT, "emoji: FreeType cannot read the font '%s': is it NotoColorEmoji.ttf "
                              "(package fonts-noto-color-emoji)?", font);
    }
    if (r->face->num_fixed_sizes < 1 || FT_Select_Size(r->face, 0)) {
        renderer_free(r);
        return mvae_error_set(err, MVAE_ERR_FORMAT, "emoji: the font '%s' has no colour bitmap strike: use NotoColorEmoji.ttf "
                              "(package fonts-noto-color-emoji)", font);
    }
    r->font = hb_ft_font_create_referenced(r->face);
    r->buf = hb_buffer_create();
    int adv = (int)(r->face->size->metrics.max_advance >> 6);
    r->canvas = adv > 16 ? adv : 136;
    if (r->canvas > 512) r->canvas = 512;
    r->plane = malloc((size_t)4 * r->canvas * r->canvas * sizeof(float));
    r->tmp = malloc((size_t)4 * S * r->canvas * sizeof(float));
    r->w = malloc((size_t)S * r->canvas * sizeof(float));
    if (!r->font || !r->buf || !r->plane || !r->tmp || !r->w) {
        renderer_free(r);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    box_weights(r->canvas, S, r->w);
    return MVAE_OK;
}

/* Render one sequence into out [4, S, S] (8-bit). Returns 0, or -1 when it cannot be rendered. */
static int render_one(renderer *r, const emoji_entry *e, int S, uint8_t *out) {
    hb_buffer_clear_contents(r->buf);
    hb_buffer_add_utf32(r->buf, e->cp, e->n_cp, 0, e->n_cp);
    hb_buffer_guess_segment_properties(r->buf);
    hb_shape(r->font, r->buf, NULL, 0);
    unsigned n = 0;
    hb_glyph_info_t *gi = hb_buffer_get_glyph_infos(r->buf, &n);
    hb_glyph_position_t *gp = hb_buffer_get_glyph_positions(r->buf, &n);
    int gid = -1;
    for (unsigned i = 0; i < n; i++) {
        if (gi[i].codepoint == 0) return -1;       /* .notdef: the font lacks a part */
        if (gp[i].x_advance == 0) continue;        /* zero-width marks (e.g. a leftover VS16) */
        if (gid >= 0) return -1;                   /* not one glyph */
        gid = (int)gi[i].codepoint;
    }
    if (gid < 0) return -1;
    if (FT_Load_Glyph(r->face, (FT_UInt)gid, FT_LOAD_COLOR)) return -1;
    FT_GlyphSlot g = r->face->glyph;
    if (g->format != FT_GLYPH_FORMAT_BITMAP && FT_Render_Glyph(g, FT_RENDER_MODE_NORMAL)) return -1;
    const FT_Bitmap *bm = &g->bitmap;
    if (bm->pixel_mode != FT_PIXEL_MODE_BGRA || bm->width == 0 || bm->rows == 0) return -1;
    int C = r->canvas, w = (int)bm->width, h = (int)bm->rows;
    int ox = (C - w) / 2, oy = (C - h) / 2;
    size_t cc = (size_t)C * C;
    memset(r->plane, 0, 4 * cc * sizeof(float));
    for (int y = 0; y < h; y++) {
        int cy = y + oy;
        if (cy < 0 || cy >= C) continue;
        const uint8_t *row = bm->buffer + (ptrdiff_t)y * bm->pitch;
        for (int x = 0; x < w; x++) {
            int cx = x + ox;
            if (cx < 0 || cx >= C) continue;
            size_t p = (size_t)cy * C + (size_t)cx;
            r->plane[p] = row[4 * x + 2] / 255.0f;          /* R (premultiplied) */
            r->plane[cc + p] = row[4 * x + 1] / 255.0f;     /* G */
            r->plane[2 * cc + p] = row[4 * x + 0] / 255.0f; /* B */
            r->plane[3 * cc + p] = row[4 * x + 3] / 255.0f; /* A */
        }
    }
    /* area-average rows then columns (premultiplied colour averages correctly), then on white */
    for (int c = 0; c < 4; c++) {
        const float *P = r->plane + c * cc;
        float *T = r->tmp + (size_t)c * S * C;
        for (int oy2 = 0; oy2 < S; oy2++) {
            float *t = T + (size_t)oy2 * C;
            memset(t, 0, (size_t)C * sizeof(float));
            const float *wy = r->w + (size_t)oy2 * C;
            for (int y = 0; y < C; y++)
                if (wy[y] > 0)
                    for (int x = 0; x < C; x++) t[x] += wy[y] * P[(size_t)y * C + x];
        }
    }
    size_t ss = (size_t)S * S;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            const float *wx = r->w + (size_t)x * C;
            float v[4] = {0, 0, 0, 0};
            for (int c = 0; c < 4; c++) {
                const float *t = r->tmp + (size_t)c * S * C + (size_t)y * C;
                float s = 0;
                for (int j = 0; j < C; j++) s += wx[j] * t[j];
                v[c] = s;
            }
            float a = v[3] < 0 ? 0 : (v[3] > 1 ? 1 : v[3]);
            for (int c = 0; c < 3; c++) {
                float o = v[c] + (1.0f - a); /* premultiplied colour over white */
                o = o < 0 ? 0 : (o > 1 ? 1 : o);
                out[c * ss + (size_t)y * S + x] = (uint8_t)lrintf(o * 255.0f);
            }
            out[3 * ss + (size_t)y * S + x] = (uint8_t)lrintf(a * 255.0f);
        }
    return 0;
}

/* ----------------------------------------------------------------------------------- cache */
typedef struct cache_key {
    char magic[8];
    uint32_t size, n_entries;
    int64_t font_size, font_mtime, list_size, list_mtime;
} cache_key;

static int cache_path(const char *dir_opt, int S, int64_t limit, char *out, size_t len, char *dir, size_t dlen) {
    if (dir_opt[0] && strcmp(dir_opt, "none") == 0) return -1;
    const char *why;
    if (!mvae_cache_dir(dir_opt, "emoji", dir, dlen, &why)) return -1;
    if (limit > 0) snprintf(out, len, "%s/emoji_s%d_n%lld.bin", dir, S, (long long)limit);
    else snprintf(out, len, "%s/emoji_s%d.bin", dir, S);
    return 0;
}

/* Returns true when the cache matched and d->entry / d->pix / d->n_ok / d->skipped are filled. */
static bool cache_load(emoji_ds *d, const char *path, const cache_key *key) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    cache_key k;
    int64_t n_ok = 0, skipped = 0;
    bool ok = fread(&k, sizeof k, 1, f) == 1 && memcmp(&k, key, sizeof k) == 0 &&
              fread(&n_ok, sizeof n_ok, 1, f) == 1 && fread(&skipped, sizeof skipped, 1, f) == 1 &&
              n_ok >= 0 && n_ok <= (int64_t)key->n_entries && skipped >= 0;
    size_t plane = (size_t)4 * d->S * d->S;
    if (ok) {
        d->entry = malloc((size_t)(n_ok ? n_ok : 1) * sizeof *d->entry);
        d->pix = malloc((size_t)(n_ok ? n_ok : 1) * plane);
        ok = d->entry && d->pix && fread(d->entry, sizeof *d->entry, (size_t)n_ok, f) == (size_t)n_ok &&
             fread(d->pix, plane, (size_t)n_ok, f) == (size_t)n_ok && fgetc(f) == EOF;
        for (int64_t i = 0; ok && i < n_ok; i++) ok = d->entry[i] >= 0 && d->entry[i] < (int32_t)key->n_entries;
    }
    fclose(f);
    if (!ok) {
        free(d->entry);
        free(d->pix);
        d->entry = NULL;
        d->pix = NULL;
        return false;
    }
    d->n_ok = n_ok;
    d->skipped = skipped;
    return true;
}

static void cache_save(const emoji_ds *d, const char *dir, const char *path, const cache_key *key) {
    (void)mvae_mkdir_p(dir, NULL); /* a directory that cannot be made: the cache write below fails */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        MVAE_WARN("emoji: cannot write the cache '%s' (%s): the next run renders again", tmp, strerror(errno));
        return;
    }
    size_t plane = (size_t)4 * d->S * d->S;
    bool ok = fwrite(key, sizeof *key, 1, f) == 1 && fwrite(&d->n_ok, sizeof d->n_ok, 1, f) == 1 &&
              fwrite(&d->skipped, sizeof d->skipped, 1, f) == 1 &&
              fwrite(d->entry, sizeof *d->entry, (size_t)d->n_ok, f) == (size_t)d->n_ok &&
              fwrite(d->pix, plane, (size_t)d->n_ok, f) == (size_t)d->n_ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        MVAE_WARN("emoji: cannot write the cache '%s': the next run renders again", path);
    }
}

/* ------------------------------------------------------------------------------------ vtable */
static void emoji_close(void *self) {
    emoji_ds *d = self;
    if (!d) return;
    emoji_list_free(&d->list);
    free(d->entry);
    free(d->pix);
    free(d->split[0]);
    free(d->split[1]);
    free(d->fac);
    free(d->bow);
    for (int i = 0; i < d->n_roles; i++) free(d->roles[i]);
    for (int i = 0; i < d->n_vocab; i++) free(d->vocab[i]);
    free(d->roles);
    free(d->vocab);
    free(d);
}

/* ------------------------------------------------------------------ split: combinations */
static int find_or_add(char ***tab, int *n, const char *s) {
    for (int i = 0; i < *n; i++)
        if (strcmp((*tab)[i], s) == 0) return i;
    char **t = realloc(*tab, (size_t)(*n + 1) * sizeof *t);
    if (!t) return -1;
    *tab = t;
    if (!(t[*n] = strdup(s))) return -1;
    return (*n)++;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* the lower-case words (runs of letters and digits) of a name, each passed to fn */
static int for_words(const char *name, int (*fn)(emoji_ds *, int64_t, const char *), emoji_ds *d, int64_t r) {
    char w[64];
    for (const char *p = name; *p;) {
        while (*p && !isalnum((unsigned char)*p)) p++;
        size_t k = 0;
        while (*p && isalnum((unsigned char)*p)) {
            if (k + 1 < sizeof w) w[k++] = (char)tolower((unsigned char)*p);
            p++;
        }
        w[k] = '\0';
        if (k && fn(d, r, w) < 0) return -1;
    }
    return 0;
}
static int add_word(emoji_ds *d, int64_t r, const char *w) {
    (void)r;
    return find_or_add(&d->vocab, &d->n_vocab, w);
}
static int set_word(emoji_ds *d, int64_t r, const char *w) {
    const char *key = w;
    char **hit = bsearch(&key, d->vocab, (size_t)d->n_vocab, sizeof *d->vocab, cmp_str);
    if (hit) d->bow[(size_t)r * d->n_vocab + (size_t)(hit - d->vocab)] = 1;
    return 0;
}

/* The factor model's emoji (emoji_factors, and a role seen with at least two skin tones), their
 * captions' vocabulary, and the split: the held-out combinations are the test split. */
static int combo_split(emoji_ds *d, double holdout, uint64_t seed, mvae_error *err) {
    int64_t n = d->n_ok;
    int *role = malloc((size_t)n * sizeof *role), *f = malloc((size_t)n * 3 * sizeof *f);
    int64_t *members = malloc((size_t)n * sizeof *members);
    uint8_t *held = malloc((size_t)n);
    char **cand = NULL;
    int n_cand = 0, rc = MVAE_OK;
    unsigned *tones = NULL;
    d->fac = malloc((size_t)n * 3 * sizeof *d->fac);
    if (!role || !f || !members || !held || !d->fac) goto nomem;
    for (int64_t r = 0; r < n; r++) {
        char name[256];
        int g, t;
        role[r] = -1;
        if (emoji_factors(&d->list.e[d->entry[r]], name, sizeof name, &g, &t)) {
            if ((role[r] = find_or_add(&cand, &n_cand, name)) < 0) goto nomem;
            d->fac[r * 3 + 1] = g;
            d->fac[r * 3 + 2] = t;
        }
    }
    if (!(tones = calloc((size_t)n_cand + 1, sizeof *tones))) goto nomem;
    for (int64_t r = 0; r < n; r++)
        if (role[r] >= 0) tones[role[r]] |= 1u << d->fac[r * 3 + 2];
    int *remap = (int *)calloc((size_t)n_cand + 1, sizeof(int));
    if (!remap) goto nomem;
    for (int c = 0; c < n_cand; c++) {
        remap[c] = -1;
        if (__builtin_popcount(tones[c]) >= 2) {
            if ((remap[c] = find_or_add(&d->roles, &d->n_roles, cand[c])) < 0) {
                free(remap);
                goto nomem;
            }
        }
    }
    int64_t m = 0;
    for (int64_t r = 0; r < n; r++) {
        int rr = role[r] >= 0 ? remap[role[r]] : -1;
        d->fac[r * 3] = rr;
        if (rr < 0) {
            d->fac[r * 3 + 1] = d->fac[r * 3 + 2] = -1;
            continue;
        }
        memcpy(f + m * 3, d->fac + r * 3, 3 * sizeof *f);
        members[m++] = r;
    }
    free(remap);
    if (m < 4 || d->n_roles < 2) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "emoji: split: combinations needs emoji with a role, gender and "
                            "skin tone (People & Body with skin-tone variants): only %lld of the %lld found (is "
                            "`limit` too small?)", (long long)m, (long long)n);
        goto done;
    }
    const int nv[3] = {d->n_roles, EMOJI_N_FGENDER, EMOJI_N_SKIN};
    int got = emoji_holdout_combinations(f, (int)m, nv, holdout, seed, held);
    if (got < 0) goto nomem;
    /* the captions: the words of every name of the factor model, sorted */
    for (int64_t k = 0; k < m; k++)
        if (for_words(d->list.e[d->entry[members[k]]].name, add_word, d, members[k]) < 0) goto nomem;
    qsort(d->vocab, (size_t)d->n_vocab, sizeof *d->vocab, cmp_str);
    if (!(d->bow = calloc((size_t)n * (size_t)d->n_vocab, 1))) goto nomem;
    for (int64_t k = 0; k < m; k++) for_words(d->list.e[d->entry[members[k]]].name, set_word, d, members[k]);
    int64_t nt = 0;
    for (int64_t k = 0; k < m; k++) nt += held[k];
    d->split[MVAE_SPLIT_TRAIN] = malloc((size_t)(m - nt + 1) * sizeof(int64_t));
    d->split[MVAE_SPLIT_TEST] = malloc((size_t)(nt + 1) * sizeof(int64_t));
    if (!d->split[0] || !d->split[1]) goto nomem;
    d->n_split[0] = d->n_split[1] = 0;
    for (int64_t k = 0; k < m; k++) {
        int s = held[k] ? MVAE_SPLIT_TEST : MVAE_SPLIT_TRAIN;
        d->split[s][d->n_split[s]++] = members[k];
    }
    MVAE_INFO("emoji: split: combinations: %lld emoji with (role, gender, skin tone) of %d roles; %d combinations "
              "held out (%lld test emoji, %lld train); caption vocabulary %d words", (long long)m, d->n_roles, got,
              (long long)nt, (long long)(m - nt), d->n_vocab);
    goto done;
nomem:
    rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
done:
    for (int c = 0; c < n_cand; c++) free(cand[c]);
    free(cand), free(tones), free(role), free(f), free(members), free(held);
    return rc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void set_mod(mvae_modality_info *m, const char *name, int type, int ndim, int64_t s0, int64_t s1, int64_t s2) {
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->type = type;
    m->ndim = ndim;
    m->shape[0] = s0;
    m->shape[1] = s1;
    m->shape[2] = s2;
}

static int emoji_open(const mvae_cfg_node *opts, void **self, mvae_error *err) {
    *self = NULL;
    const char *font, *test, *cache_dir, *attrs, *split_kind;
    int64_t size, seed, limit;
    double test_fraction, holdout;
    int rc = mvae_cfg_string_or(opts, "font", EMOJI_DEFAULT_FONT, &font, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "emoji_test", EMOJI_DEFAULT_TEST, &test, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "cache_dir", "", &cache_dir, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "attributes", "vector", &attrs, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "size", 64, &size, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "seed", 1, &seed, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "limit", 0, &limit, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "test_fraction", 0.1, &test_fraction, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "split", "random", &split_kind, err);
    if (!rc) rc = mvae_cfg_float_or(opts, "holdout", 0.2, &holdout, err);
    if (rc) return rc;
    if (strcmp(split_kind, "random") != 0 && strcmp(split_kind, "combinations") != 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "emoji: split must be random or combinations, got '%s'", split_kind);
    if (!(holdout > 0.0 && holdout < 1.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "emoji: holdout must be in (0, 1), got %g", holdout);
    if (size < 4 || size > 512) return mvae_error_set(err, MVAE_ERR_INVALID, "emoji: size must be in 4..512, got %lld", (long long)size);
    if (limit < 0) return mvae_error_set(err, MVAE_ERR_INVALID, "emoji: limit must be >= 0 (0 = all)");
    if (!(test_fraction >= 0.0 && test_fraction < 1.0))
        return mvae_error_set(err, MVAE_ERR_INVALID, "emoji: test_fraction must be in [0, 1), got %g", test_fraction);
    struct stat fst, lst;
    if (stat(font, &fst) != 0)
        return mvae_error_set(err, MVAE_ERR_IO, "emoji font not found at %s: install it with `sudo apt-get install "
                              "fonts-noto-color-emoji` or set dataset.font", font);
    if (stat(test, &lst) != 0)
        return mvae_error_set(err, MVAE_ERR_IO, "emoji list not found at %s: install it with `sudo apt-get install "
                              "unicode-data` or set dataset.emoji_test", test);
    emoji_ds *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    d->S = (int)size;
    d->combos = strcmp(split_kind, "combinations") == 0;
    d->mode = strcmp(attrs, "separate") == 0 ? ATTR_SEPARATE : strcmp(attrs, "each") == 0 ? ATTR_EACH : ATTR_VECTOR;
    const mvae_cfg_node *select = mvae_cfg_get(opts, "select");
    bool given = select && (select->kind == MVAE_CFG_SEQ ? select->n_items > 0
                                                         : !(select->kind == MVAE_CFG_SCALAR && (!select->value || !select->value[0])));
    if (d->mode != ATTR_EACH && given) {
        char w[256];
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: dataset.select picks attribute modalities for attributes: each "
                            "(here attributes: %s): set attributes: each or remove select",
                            mvae_cfg_where(select, w, sizeof w), attrs);
        goto fail;
    }
    if ((rc = emoji_parse_file(test, limit, &d->list, err))) goto fail;
    d->K = emoji_attr_layout(&d->list, d->start);
    /* the selection is checked before the (slower) rendering */
    if (d->mode == ATTR_EACH && (rc = emoji_attr_select(&d->list, select, d->sel, &d->n_sel, err))) goto fail;

    cache_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.magic, EMOJI_CACHE_MAGIC, 8);
    key.size = (uint32_t)size;
    key.n_entries = (uint32_t)d->list.n;
    key.font_size = (int64_t)fst.st_size;
    key.font_mtime = (int64_t)fst.st_mtime;
    key.list_size = (int64_t)lst.st_size;
    key.list_mtime = (int64_t)lst.st_mtime;
    char cpath[4200], cdir[4096];
    bool use_cache = cache_path(cache_dir, d->S, limit, cpath, sizeof cpath, cdir, sizeof cdir) == 0;
    double t0 = mvae_time_sec();
    if (use_cache && cache_load(d, cpath, &key)) {
        MVAE_INFO("emoji: %lld renderings at %dx%d from the cache %s (%lld skipped when rendered)", (long long)d->n_ok,
                  d->S, d->S, cpath, (long long)d->skipped);
    } else {
        renderer r;
        if ((rc = renderer_init(&r, font, d->S, err))) goto fail;
        size_t plane = (size_t)4 * d->S * d->S;
        d->entry = malloc((size_t)d->list.n * sizeof *d->entry);
        d->pix = malloc((size_t)d->list.n * plane);
        if (!d->entry || !d->pix) {
            renderer_free(&r);
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory for %d renderings", d->list.n);
            goto fail;
        }
        for (int i = 0; i < d->list.n; i++) {
            if (render_one(&r, &d->list.e[i], d->S, d->pix + (size_t)d->n_ok * plane) == 0)
                d->entry[d->n_ok++] = i;
            else {
                d->skipped++;
                MVAE_DEBUG("emoji: cannot render '%s' (skipped)", d->list.e[i].name);
            }
        }
        renderer_free(&r);
        MVAE_INFO("emoji: rendered %lld of %d emoji at %dx%d in %.2f s (%lld skipped: no single glyph in the font)",
                  (long long)d->n_ok, d->list.n, d->S, d->S, mvae_time_sec() - t0, (long long)d->skipped);
        if (use_cache) cache_save(d, cdir, cpath, &key);
    }
    if (d->n_ok < 2) {
        rc = mvae_error_set(err, MVAE_ERR_FORMAT, "emoji: only %lld emoji could be rendered from '%s': is it "
                            "NotoColorEmoji.ttf (package fonts-noto-color-emoji)?", (long long)d->n_ok, font);
        goto fail;
    }
    if (d->combos) {
        if ((rc = combo_split(d, holdout, (uint64_t)seed, err))) goto fail;
        set_mod(&d->mods[0], "image", MVAE_MOD_IMAGE, 3, 3, size, size);
        set_mod(&d->mods[1], "alpha", MVAE_MOD_IMAGE, 3, 1, size, size);
        set_mod(&d->mods[2], "caption", MVAE_MOD_BINARY, 1, d->n_vocab, 0, 0);
        static const char *const fnames[3] = {"role", "gender", "tone"};
        const char *const *fcls[3] = {(const char *const *)d->roles, emoji_gender_names, emoji_skin_names};
        const int fn[3] = {d->n_roles, EMOJI_N_FGENDER, EMOJI_N_SKIN};
        for (int a = 0; a < 3; a++) {
            set_mod(&d->mods[3 + a], fnames[a], MVAE_MOD_CATEGORICAL, 1, 1, 0, 0);
            d->mods[3 + a].n_classes = fn[a];
            d->mods[3 + a].class_names = fcls[a];
        }
        d->n_mods = 6;
        *self = d;
        return MVAE_OK;
    }
    /* the split: a seeded permutation, the first round(f * n) are the test split; each sorted */
    int64_t n = d->n_ok, n_test = llround(test_fraction * (double)n);
    if (test_fraction > 0 && n_test < 1) n_test = 1;
    if (n_test >= n) n_test = n - 1;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    d->split[MVAE_SPLIT_TRAIN] = malloc((size_t)(n - n_test) * sizeof(int64_t));
    d->split[MVAE_SPLIT_TEST] = malloc((size_t)(n_test ? n_test : 1) * sizeof(int64_t));
    if (!perm || !d->split[0] || !d->split[1]) {
        free(perm);
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    mvae_rng rng;
    mvae_rng_seed(&rng, (uint64_t)seed);
    mvae_rng_shuffle(&rng, perm, n);
    memcpy(d->split[MVAE_SPLIT_TEST], perm, (size_t)n_test * sizeof *perm);
    memcpy(d->split[MVAE_SPLIT_TRAIN], perm + n_test, (size_t)(n - n_test) * sizeof *perm);
    free(perm);
    d->n_split[MVAE_SPLIT_TEST] = n_test;
    d->n_split[MVAE_SPLIT_TRAIN] = n - n_test;
    qsort(d->split[0], (size_t)d->n_split[0], sizeof(int64_t), cmp_i64);
    qsort(d->split[1], (size_t)d->n_split[1], sizeof(int64_t), cmp_i64);

    set_mod(&d->mods[0], "image", MVAE_MOD_IMAGE, 3, 3, size, size);
    set_mod(&d->mods[1], "alpha", MVAE_MOD_IMAGE, 3, 1, size, size);
    if (d->mode == ATTR_VECTOR) {
        set_mod(&d->mods[2], "attributes", MVAE_MOD_BINARY, 1, d->K, 0, 0);
        d->n_mods = 3;
    } else if (d->mode == ATTR_EACH) {
        char rates[2048] = "";
        for (int j = 0; j < d->n_sel; j++) {
            char name[MVAE_NAME_MAX];
            emoji_attr_name(&d->list, d->sel[j], name, sizeof name);
            set_mod(&d->mods[2 + j], name, MVAE_MOD_BINARY, 1, 1, 0, 0);
            int64_t pos = 0;
            for (int64_t r = 0; r < d->n_ok; r++) pos += emoji_attr_value(&d->list, &d->list.e[d->entry[r]], d->sel[j]) > 0;
            size_t u = strlen(rates);
            snprintf(rates + u, sizeof rates - u, "%s%s %.1f %%", j ? ", " : "", name, 100.0 * (double)pos / (double)d->n_ok);
        }
        d->n_mods = 2 + d->n_sel;
        MVAE_INFO("emoji: %d attribute modalities (share of the %lld emoji that have each): %s", d->n_sel,
                  (long long)d->n_ok, rates);
    } else {
        static const char *const names[EMOJI_N_BLOCKS] = {"attr_group", "attr_subgroup", "attr_skin_tone", "attr_gender", "attr_hair"};
        const char *const *cls[EMOJI_N_BLOCKS] = {(const char *const *)d->list.groups, (const char *const *)d->list.subgroups,
                                                  emoji_skin_names, emoji_gender_names, emoji_hair_names};
        for (int b = 0; b < EMOJI_N_BLOCKS; b++) {
            set_mod(&d->mods[2 + b], names[b], MVAE_MOD_CATEGORICAL, 1, 1, 0, 0);
            d->mods[2 + b].n_classes = d->start[b + 1] - d->start[b];
            d->mods[2 + b].class_names = cls[b];
        }
        d->n_mods = 2 + EMOJI_N_BLOCKS;
    }
    *self = d;
    return MVAE_OK;
fail:
    emoji_close(d);
    return rc;
}

static int emoji_n_modalities(void *self) { return ((emoji_ds *)self)->n_mods; }

static const mvae_modality_info *emoji_modality(void *self, int m) {
    emoji_ds *d = self;
    return (m >= 0 && m < d->n_mods) ? &d->mods[m] : NULL;
}

static int64_t emoji_size(void *self, int split) {
    emoji_ds *d = self;
    return (split == MVAE_SPLIT_TRAIN || split == MVAE_SPLIT_TEST) ? d->n_split[split] : 0;
}

static int emoji_get_batch(void *self, int split, const int64_t *idx, int n, float **out, uint8_t *present,
                           mvae_error *err) {
    emoji_ds *d = self;
    if (split != MVAE_SPLIT_TRAIN && split != MVAE_SPLIT_TEST)
        return mvae_error_set(err, MVAE_ERR_INVALID, "emoji has only the train and test splits (asked for split %d)", split);
    const size_t ss = (size_t)d->S * d->S;
    const float sc = 1.0f / 255.0f;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= d->n_split[split])
            return mvae_error_set(err, MVAE_ERR_INVALID, "emoji: sample index %lld is outside the %s split (0..%lld)",
                                  (long long)idx[i], split ? "test" : "train", (long long)d->n_split[split] - 1);
        int64_t r = d->split[split][idx[i]];
        const uint8_t *px = d->pix + (size_t)r * 4 * ss;
        float *img = out[0] + (size_t)i * 3 * ss, *al = out[1] + (size_t)i * ss;
        for (size_t p = 0; p < 3 * ss; p++) img[p] = px[p] * sc;
        for (size_t p = 0; p < ss; p++) al[p] = px[3 * ss + p] * sc;
        const emoji_entry *e = &d->list.e[d->entry[r]];
        if (d->combos) {
            for (int v = 0; v < d->n_vocab; v++) out[2][(size_t)i * d->n_vocab + v] = d->bow[(size_t)r * d->n_vocab + v];
            for (int a = 0; a < 3; a++) memcpy(out[3 + a] + i, &d->fac[r * 3 + a], sizeof(int32_t));
        } else if (d->mode == ATTR_VECTOR) {
            emoji_attr_vector(&d->list, e, out[2] + (size_t)i * d->K);
        } else if (d->mode == ATTR_EACH) {
            for (int j = 0; j < d->n_sel; j++) out[2 + j][i] = emoji_attr_value(&d->list, e, d->sel[j]);
        } else {
            int32_t v[EMOJI_N_BLOCKS] = {e->group, e->subgroup, e->skin, e->gender, e->hair};
            for (int b = 0; b < EMOJI_N_BLOCKS; b++) memcpy(out[2 + b] + i, &v[b], sizeof v[b]);
        }
        for (int m = 0; m < d->n_mods; m++) present[i * d->n_mods + m] = 1;
    }
    return MVAE_OK;
}

const char *mvae_emoji_caption(void *self, int split, int64_t i) {
    emoji_ds *d = self;
    if (!d || (split != MVAE_SPLIT_TRAIN && split != MVAE_SPLIT_TEST) || i < 0 || i >= d->n_split[split]) return NULL;
    return d->list.e[d->entry[d->split[split][i]]].name;
}

int64_t mvae_emoji_skipped(void *self) { return self ? ((emoji_ds *)self)->skipped : 0; }

static const mvae_dataset_vtable emoji_vt = {
    .open = emoji_open,
    .close = emoji_close,
    .n_modalities = emoji_n_modalities,
    .modality = emoji_modality,
    .size = emoji_size,
    .get_batch = emoji_get_batch,
};

static const char *const attr_choices[] = {"vector", "separate", "each", NULL};
static const char *const split_choices[] = {"random", "combinations", NULL};
static const mvae_option emoji_opts[] = {
    {"font", MVAE_OPT_STRING, EMOJI_DEFAULT_FONT, "colour emoji font (package fonts-noto-color-emoji)", NULL, false, NULL, NULL},
    {"emoji_test", MVAE_OPT_STRING, EMOJI_DEFAULT_TEST, "emoji-test.txt (package unicode-data)", NULL, false, NULL, NULL},
    {"size", MVAE_OPT_INT, "64", "image side in pixels", NULL, false, NULL, "[8, 512]"},
    {"test_fraction", MVAE_OPT_FLOAT, "0.1", "share of the emoji in the test split", NULL, false, NULL, "[0, 1)"},
    {"seed", MVAE_OPT_INT, "1", "seed of the train/test split", NULL, false, NULL, NULL},
    {"cache_dir", MVAE_OPT_STRING, "", "renderings cache (\"\" = $MVAE_CACHE_DIR/emoji or ~/.cache/mvae/emoji; none = off)", NULL, false, NULL, NULL},
    {"attributes", MVAE_OPT_STRING, "vector", "vector: one binary modality 'attributes'; separate: attr_group, attr_subgroup, attr_skin_tone, attr_gender, attr_hair (categorical); each: every attribute of `select` a binary modality of its own", NULL, false, attr_choices, NULL},
    {"select", MVAE_OPT_STRING_LIST, "[]", "attributes: each: the attribute modalities, e.g. [gender_woman, skin_tone_dark, group_flags] (names: group_<group>, subgroup_<subgroup>, skin_tone_<tone>, gender_<g>, hair_<h>); [] = 18 defaults", NULL, false, NULL, NULL},
    {"split", MVAE_OPT_STRING, "random", "random: test_fraction of the emoji, seeded; combinations: only the emoji with a (role, gender, skin tone), the seeded holdout share of those combinations in the test split (never in train), modalities image, alpha, caption (bag of words), role, gender, tone", NULL, false, split_choices, NULL},
    {"holdout", MVAE_OPT_FLOAT, "0.2", "split: combinations: share of the (role, gender, skin tone) combinations held out", NULL, false, NULL, "(0, 1)"},
    {"limit", MVAE_OPT_INT, "0", "only the first N emoji of the list (0 = all)", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc emoji_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DATASET, "emoji", "1.1.0",
    "Noto Color Emoji renderings (RGB + alpha) with Unicode attributes (group, subgroup, skin tone, gender, hair)",
    &emoji_vt, emoji_opts);
MVAE_PLUGIN_DEFINE(emoji, emoji_desc)
