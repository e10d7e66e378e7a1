/* kfs_digits.c — dataset plugin: "KFS digits" (Kannada, Farsi, Speech), generated from a seed.
 *
 *   dataset:
 *     plugin: kfs_digits
 *     profile: small        # small: 5,000 train / 1,000 test tuples; full: 60,000 / 10,000
 *     train_size: 0         # 0 = the profile's
 *     test_size: 0          # 0 = the profile's
 *     test_split: seen      # seen: test = train fonts and voices, fresh draws;
 *                           # unseen: test = held-out font families and voice variants
 *     seed: 1
 *     cache_dir: ""         # "" = $MVAE_CACHE_DIR/kfs_digits or ~/.cache/mvae/kfs_digits; none = off
 *
 * A tuple is (Kannada digit image, Persian digit image, spoken digit, label), the three drawn
 * independently within the class (as MMVAE pairs MNIST and SVHN). Sample i of a split has label
 * i mod 10 and is generated from its own stream forked from (seed, split, i), so any sample can
 * be regenerated alone and the data do not depend on the order of generation.
 *
 * Images: glyphs U+0CE6..0CEF (Kannada) and U+06F0..06F9 (Persian, never the Arabic-Indic
 * U+0660..0669) rendered with FreeType at 4x (112 x 112) from the Debian font packages below,
 * one scale per face (the face's digit 2 is 20 px tall), with MNIST-calibrated augmentation
 * (docs/kfs_digits.md, /work/shared/refs/data-kfs-digits.md): shear N(0.13, 0.2), rotation
 * N(0, 8 deg), scale and aspect exp(N(0, 0.1)), stroke width drawn in U[2.0, 3.2] px (FreeType
 * embolden/thin, -4..+8 px at 4x; only faces heavier than 2.6 px are thinned), shrunk to fit a
 * 20 x 20 box if larger, placed by centre of mass, Simard elastic (alpha 34, sigma 4 at 28 px),
 * area-averaged to 28 x 28. Persian faces that draw Urdu/Sindhi/Arabic-Indic shapes behind the
 * Persian code points are rejected (mvae_kfs_persian_font_check), and counted.
 *
 * Audio: kfs_speech.c. Modalities: kannada, persian [1,28,28] image in [0,1]; audio [1,32,32]
 * (mel x frame, mel 0 = lowest band) in [0,1]; label (10); metadata: meta_kannada_font,
 * meta_persian_font (family, categorical over all families of the script), meta_voice (espeak
 * variant), meta_accent (8), meta_speed [1] = (wpm - 120) / 100, meta_pitch [1] = pitch / 100.
 *
 * Cache: <cache_dir>/kfs_<split>_<key>.bin per generated split (uint8 pixels and log-mel,
 * int32 metadata, an FNV-1a checksum); the key hashes the generator version, seed, size, the
 * font files (path, size, mtime) and espeak-ng's version. A damaged cache is rebuilt.
 */
#define _POSIX_C_SOURCE 200809L
#include "kfs_digits.h"
#include "mvae/interfaces.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_OUTLINE_H

#define KFS_VERSION 1
#define KFS_MAGIC "MVAEKFS1"
#define KFS_C4 112 /* canvas side at 4x */
#define KFS_PIX (KFS_SIDE * KFS_SIDE)
#define KFS_AU (KFS_MELS * KFS_FRAMES)
#define KFS_MAX_FACES 256
#define KFS_MAX_FAMILIES 96

enum { SCRIPT_KN = 0, SCRIPT_FA = 1 };
enum { ROLE_TRAIN = 0, ROLE_UNSEEN = 1 };
static const uint32_t script_base[2] = {0x0CE6, 0x06F0};
static const char *const script_name[2] = {"Kannada", "Persian"};

/* Where the fonts come from: a directory per Debian package (prefixes: only these files). */
typedef struct font_dir {
    const char *package, *dir;
    const char *prefix[8];
} font_dir;
static const font_dir font_dirs[] = {
    {"fonts-knda (fonts-gubbi)", "/usr/share/fonts/truetype/Gubbi", {NULL}},
    {"fonts-knda (fonts-navilu)", "/usr/share/fonts/truetype/Navilu", {NULL}},
    {"fonts-knda (fonts-lohit-knda)", "/usr/share/fonts/truetype/lohit-kannada", {NULL}},
    {"fonts-noto-core", "/usr/share/fonts/truetype/noto",
     {"NotoSansKannada-", "NotoSerifKannada-", "NotoSansArabic-", "NotoKufiArabic-", "NotoNaskhArabic-",
      "NotoNastaliqUrdu-", "NotoSansIndicSiyaqNumbers-", NULL}},
    {"fonts-farsiweb", "/usr/share/fonts/truetype/farsiweb", {NULL}},
    {"fonts-freefarsi", "/usr/share/fonts/truetype/freefarsi", {NULL}},
    {"fonts-sil-lateef", "/usr/share/fonts/opentype/lateef", {NULL}},
    {"fonts-sil-scheherazade", "/usr/share/fonts/truetype/scheherazade", {NULL}},
    {"fonts-sil-harmattan", "/usr/share/fonts/truetype/harmattan", {NULL}},
    {"fonts-hosny-amiri", "/usr/share/fonts/opentype/fonts-hosny-amiri", {NULL}},
    {"fonts-hosny-thabit", "/usr/share/fonts/opentype/fonts-hosny-thabit", {NULL}},
    {"fonts-lemonada", "/usr/share/fonts/opentype/lemonada", {NULL}},
    {"fonts-kacst-one", "/usr/share/fonts/truetype/kacst-one", {NULL}},
    {"fonts-paktype", "/usr/share/fonts/truetype/paktype", {NULL}},
    {"fonts-ukij-uyghur", "/usr/share/fonts/truetype/fonts-ukij-uyghur", {NULL}},
    {"fonts-freefont-ttf", "/usr/share/fonts/truetype/freefont", {NULL}},
    {"fonts-dejavu-core", "/usr/share/fonts/truetype/dejavu", {NULL}},
};
#define N_FONT_DIRS (int)(sizeof font_dirs / sizeof font_dirs[0])
/* Not digits, empty, ornamental or duplicates (the ref's exclusion list). */
static const char *const excluded_families[] = {"UKIJ Tughra", "UKIJ Esliye Neqish", "UKIJ Tiken",
                                                "Amiri Quran Colored", "KacstQurn", NULL};
/* Held out for test_split: unseen (the ref's proposal, section 4). */
static const char *const unseen_families[] = {
    "Gubbi", "Noto Serif Kannada",
    "Homa", "Titr", "Thabit", "Lemonada", "Harmattan", "PakType Tehreer", "UKIJ Qolyazma Tez",
    "UKIJ Diwani Tom", "UKIJ Kesme", "UKIJ Esliye Chiwer", "UKIJ Title", "DejaVu Sans Mono", NULL};
/* Persian shape references for the Urdu check (both packages are installed with the rest). */
#define REF_PERSIAN "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf"
#define REF_URDU "/usr/share/fonts/truetype/paktype/PakType Naskh Basic Urdu.ttf"

static bool in_list(const char *s, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0) return true;
    return false;
}

/* ------------------------------------------------------------------ the Persian shape check */
#define TG 16 /* template grid */
typedef struct shape_refs {
    float P[10][TG * TG], U[10][TG * TG], A[10][TG * TG];
} shape_refs;

/* Render cp at 64 px, fit its box (aspect kept) into TG x TG, zero mean, unit norm. */
static int glyph_desc(FT_Face f, uint32_t cp, float *o) {
    if (!FT_Get_Char_Index(f, cp)) return -1;
    if (FT_Load_Char(f, cp, FT_LOAD_RENDER | FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP)) return -1;
    const FT_Bitmap *b = &f->glyph->bitmap;
    int w = (int)b->width, h = (int)b->rows;
    if (w < 1 || h < 1) return -1;
    int s = w > h ? w : h, ox = (s - w) / 2, oy = (s - h) / 2;
    memset(o, 0, sizeof(float) * TG * TG);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) o[((y + oy) * TG / s) * TG + (x + ox) * TG / s] += b->buffer[y * b->pitch + x] / 255.0f;
    double m = 0, n = 0;
    for (int i = 0; i < TG * TG; i++) m += o[i];
    m /= TG * TG;
    for (int i = 0; i < TG * TG; i++) {
        o[i] -= (float)m;
        n += (double)o[i] * o[i];
    }
    if (n <= 0) return -1;
    for (int i = 0; i < TG * TG; i++) o[i] /= (float)sqrt(n);
    return 0;
}
static float dotp(const float *a, const float *b) {
    float s = 0;
    for (int i = 0; i < TG * TG; i++) s += a[i] * b[i];
    return s;
}

/* Identical renderings of two code points (the same outline behind both). */
static bool same_render(FT_Face f, uint32_t a, uint32_t b) {
    if (!FT_Get_Char_Index(f, a) || !FT_Get_Char_Index(f, b)) return false;
    if (FT_Load_Char(f, a, FT_LOAD_RENDER | FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP)) return false;
    const FT_Bitmap *x = &f->glyph->bitmap;
    int w = (int)x->width, h = (int)x->rows;
    unsigned char *cp = malloc((size_t)(w * h > 0 ? w * h : 1));
    if (!cp) return false;
    for (int y = 0; y < h; y++) memcpy(cp + (size_t)y * w, x->buffer + y * x->pitch, (size_t)w);
    bool same = false;
    if (!FT_Load_Char(f, b, FT_LOAD_RENDER | FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP)) {
        const FT_Bitmap *z = &f->glyph->bitmap;
        same = (int)z->width == w && (int)z->rows == h;
        for (int y = 0; same && y < h; y++) same = memcmp(cp + (size_t)y * w, z->buffer + y * z->pitch, (size_t)w) == 0;
    }
    free(cp);
    return same;
}

static int refs_init(FT_Library lib, shape_refs *r, char *why, size_t len) {
    FT_Face fp = NULL, fu = NULL;
    if (FT_New_Face(lib, REF_PERSIAN, 0, &fp) || FT_New_Face(lib, REF_URDU, 0, &fu)) {
        if (fp) FT_Done_Face(fp);
        snprintf(why, len, "the reference fonts %s (package fonts-noto-core) and %s (package fonts-paktype) are "
                 "needed for the Persian shape check: install them with `sudo apt-get install fonts-noto-core fonts-paktype`",
                 REF_PERSIAN, REF_URDU);
        return -1;
    }
    FT_Set_Pixel_Sizes(fp, 0, 64);
    FT_Set_Pixel_Sizes(fu, 0, 64);
    int bad = 0;
    for (int d = 4; d <= 7; d++) {
        bad |= glyph_desc(fp, 0x06F0 + d, r->P[d]);
        bad |= glyph_desc(fu, 0x06F0 + d, r->U[d]);
        bad |= glyph_desc(fp, 0x0660 + d, r->A[d]);
    }
    FT_Done_Face(fp);
    FT_Done_Face(fu);
    if (bad) snprintf(why, len, "the reference fonts %s and %s lack a digit", REF_PERSIAN, REF_URDU);
    return bad ? -1 : 0;
}

/* 1 = Persian shapes, 0 = rejected (why says why), -1 = cannot check. Two rules:
 *  - U+06F6 renders identical to U+0666 while U+06F4 and U+06F5 do not both render identical to
 *    U+0664/0665 (a font that maps the Arabic-Indic code points to its Persian glyphs, like Nazli,
 *    is fine): the Urdu/Sindhi six behind the Persian code point (PakType Naskh Basic Urdu and
 *    Sindhi, Noto Sans Indic Siyaq Numbers);
 *  - shape votes on 4, 6 and 7: the glyph correlates (16 x 16, box-fitted) with the Urdu form or
 *    the Arabic-Indic form at least 0.15 better than with the Persian form (for 7 only Urdu: the
 *    Arabic-Indic seven is the Persian one); two votes reject (Noto Nastaliq Urdu).
 * The margin was set on the 100 faces of section 1 of the ref (docs/kfs_digits.md). */
static int persian_check(FT_Library lib, const shape_refs *r, FT_Face f, char *why, size_t len) {
    for (int d = 0; d < 10; d++)
        if (!FT_Get_Char_Index(f, 0x06F0 + d)) {
            snprintf(why, len, "no glyph for U+%04X", 0x06F0 + d);
            return 0;
        }
    (void)lib;
    FT_Set_Pixel_Sizes(f, 0, 64);
    if (same_render(f, 0x06F6, 0x0666) && !(same_render(f, 0x06F4, 0x0664) && same_render(f, 0x06F5, 0x0665))) {
        snprintf(why, len, "U+06F6 is drawn like U+0666 (the Urdu/Arabic-Indic six)");
        return 0;
    }
    int votes = 0;
    char detail[160] = "";
    for (int d = 4; d <= 7; d++) {
        if (d == 5) continue; /* Urdu and Persian five look alike */
        float o[TG * TG];
        if (glyph_desc(f, 0x06F0 + d, o)) {
            snprintf(why, len, "U+%04X renders empty", 0x06F0 + d);
            return 0;
        }
        float p = dotp(o, r->P[d]), u = dotp(o, r->U[d]), a = d == 7 ? -1.0f : dotp(o, r->A[d]);
        float bad = u > a ? u : a;
        if (bad - p > 0.15f) {
            votes++;
            size_t k = strlen(detail);
            snprintf(detail + k, sizeof detail - k, "%s%d: %.2f vs Persian %.2f", k ? ", " : "", d, bad, p);
        }
    }
    if (votes >= 2) {
        snprintf(why, len, "digits look Urdu/Arabic-Indic (%s)", detail);
        return 0;
    }
    return 1;
}

__attribute__((visibility("default"))) int mvae_kfs_persian_font_check(const char *path, char *why, size_t len);
int mvae_kfs_persian_font_check(const char *path, char *why, size_t len) {
    FT_Library lib;
    if (FT_Init_FreeType(&lib)) {
        snprintf(why, len, "FreeType failed to start");
        return -1;
    }
    shape_refs *r = malloc(sizeof *r);
    int rc = -1;
    FT_Face f = NULL;
    if (!r) snprintf(why, len, "out of memory");
    else if (refs_init(lib, r, why, len) == 0) {
        if (FT_New_Face(lib, path, 0, &f)) snprintf(why, len, "FreeType cannot read '%s'", path);
        else rc = persian_check(lib, r, f, why, len);
    }
    if (f) FT_Done_Face(f);
    free(r);
    FT_Done_FreeType(lib);
    return rc;
}

/* -------------------------------------------------------------------------------- the fonts */
typedef struct kfs_face {
    char *path;
    int script, family, role;
    FT_Face face;
    double ppem;   /* pixel size at 4x: the face's digit 2 is 80 px tall */
    double stroke; /* stroke width of its digits at 28 px (2 area / perimeter) */
    int64_t fsize, fmtime;
} kfs_face;

typedef struct kfs_fonts {
    FT_Library lib;
    kfs_face f[KFS_MAX_FACES];
    int n;
    char *family[2][KFS_MAX_FAMILIES]; /* family names per script, sorted */
    int n_family[2];
    int family_role[2][KFS_MAX_FAMILIES];
    int rejected[2];                   /* faces skipped by the checks */
} kfs_fonts;

static void fonts_free(kfs_fonts *F) {
    for (int i = 0; i < F->n; i++) {
        if (F->f[i].face) FT_Done_Face(F->f[i].face);
        free(F->f[i].path);
    }
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < F->n_family[s]; k++) free(F->family[s][k]);
    if (F->lib) FT_Done_FreeType(F->lib);
    memset(F, 0, sizeof *F);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool has_digits(FT_Face f, int script) {
    for (int d = 0; d < 10; d++)
        if (!FT_Get_Char_Index(f, script_base[script] + (uint32_t)d)) return false;
    return true;
}

/* Load digit d's outline (no hinting) at the face's 4x size; NULL if it has none. */
static FT_Outline *load_outline(kfs_face *k, int d) {
    if (FT_Load_Char(k->face, script_base[k->script] + (uint32_t)d, FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP)) return NULL;
    if (k->face->glyph->format != FT_GLYPH_FORMAT_OUTLINE || k->face->glyph->outline.n_points < 3) return NULL;
    return &k->face->glyph->outline;
}

/* Scale (digit 2 -> 80 px at 4x) and stroke width; false if a digit is missing or empty. */
static bool face_measure(kfs_face *k) {
    FT_Set_Char_Size(k->face, 0, 100 * 64, 72, 72);
    FT_Outline *o = load_outline(k, 2);
    if (!o) return false;
    FT_BBox bb;
    FT_Outline_Get_CBox(o, &bb);
    double h = (bb.yMax - bb.yMin) / 64.0;
    if (h < 1.0) return false;
    k->ppem = 100.0 * 80.0 / h;
    FT_Set_Char_Size(k->face, 0, (FT_F26Dot6)lround(k->ppem * 64), 72, 72);
    double area = 0, perim = 0;
    for (int d = 0; d < 10; d++) {
        if (!load_outline(k, d) || FT_Render_Glyph(k->face->glyph, FT_RENDER_MODE_NORMAL)) return false;
        const FT_Bitmap *b = &k->face->glyph->bitmap;
        int w = (int)b->width, hh = (int)b->rows;
        if (w < 1 || hh < 1) return false;
        for (int y = 0; y < hh; y++)
            for (int x = 0; x < w; x++) {
                bool in = b->buffer[y * b->pitch + x] >= 128;
                area += in;
                bool r = x + 1 < w && b->buffer[y * b->pitch + x + 1] >= 128;
                bool dn = y + 1 < hh && b->buffer[(y + 1) * b->pitch + x] >= 128;
                perim += (in != r) + (in != dn) + (x == 0 && in) + (y == 0 && in);
            }
    }
    k->stroke = perim > 0 ? 2.0 * area / perim / 4.0 : 0;
    return k->stroke > 0;
}

static int fonts_load(kfs_fonts *F, mvae_error *err) {
    memset(F, 0, sizeof *F);
    if (FT_Init_FreeType(&F->lib)) return mvae_error_set(err, MVAE_ERR_PLUGIN, "kfs_digits: FreeType failed to start");
    char why[256];
    shape_refs *refs = malloc(sizeof *refs);
    if (!refs) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    if (refs_init(F->lib, refs, why, sizeof why)) {
        free(refs);
        return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: %s", why);
    }
    int rc = MVAE_OK;
    for (int di = 0; di < N_FONT_DIRS && !rc; di++) {
        const font_dir *fd = &font_dirs[di];
        DIR *dir = opendir(fd->dir);
        if (!dir) {
            rc = mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: font directory %s not found: install it with `sudo apt-get "
                                "install %s` (scripts/deps.sh installs every font package the data set needs)",
                                fd->dir, strchr(fd->package, '(') ? "fonts-knda" : fd->package);
            break;
        }
        char *names[512];
        int nn = 0;
        struct dirent *e;
        while ((e = readdir(dir)) && nn < 512) {
            size_t L = strlen(e->d_name);
            if (L < 5 || (strcmp(e->d_name + L - 4, ".ttf") && strcmp(e->d_name + L - 4, ".otf"))) continue;
            bool ok = fd->prefix[0] == NULL;
            for (int p = 0; fd->prefix[p]; p++) ok |= strncmp(e->d_name, fd->prefix[p], strlen(fd->prefix[p])) == 0;
            if (ok && (names[nn] = strdup(e->d_name))) nn++;
        }
        closedir(dir);
        qsort(names, (size_t)nn, sizeof *names, cmp_str);
        for (int j = 0; j < nn; j++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", fd->dir, names[j]);
            free(names[j]);
            FT_Face face;
            struct stat st;
            if (rc || stat(path, &st) || FT_New_Face(F->lib, path, 0, &face)) continue;
            int script = has_digits(face, SCRIPT_KN) ? SCRIPT_KN : has_digits(face, SCRIPT_FA) ? SCRIPT_FA : -1;
            const char *fam = face->family_name ? face->family_name : "?";
            if (script < 0 || in_list(fam, excluded_families) || strstr(fam, " UI")) {
                FT_Done_Face(face);
                continue;
            }
            int ok = script == SCRIPT_FA ? persian_check(F->lib, refs, face, why, sizeof why) : 1;
            if (ok != 1) {
                MVAE_DEBUG("kfs_digits: Persian font %s (%s) rejected: %s", path, fam, why);
                F->rejected[script]++;
                FT_Done_Face(face);
                continue;
            }
            if (F->n >= KFS_MAX_FACES) {
                FT_Done_Face(face);
                continue;
            }
            kfs_face *k = &F->f[F->n];
            k->face = face;
            k->script = script;
            if (!face_measure(k)) {
                MVAE_DEBUG("kfs_digits: %s font %s (%s) rejected: a digit has no outline", script_name[script], path, fam);
                F->rejected[script]++;
                FT_Done_Face(face);
                k->face = NULL;
                continue;
            }
            k->path = strdup(path);
            k->fsize = (int64_t)st.st_size;
            k->fmtime = (int64_t)st.st_mtime;
            k->role = in_list(fam, unseen_families) ? ROLE_UNSEEN : ROLE_TRAIN;
            int fi = -1;
            for (int q = 0; q < F->n_family[script]; q++)
                if (strcmp(F->family[script][q], fam) == 0) fi = q;
            if (fi < 0 && F->n_family[script] < KFS_MAX_FAMILIES) {
                fi = F->n_family[script]++;
                F->family[script][fi] = strdup(fam);
                F->family_role[script][fi] = k->role;
            }
            if (fi < 0 || !k->path || !F->family[script][fi]) {
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "kfs_digits: out of memory (or more than %d families)", KFS_MAX_FAMILIES);
                break;
            }
            k->family = fi;
            F->n++;
        }
    }
    free(refs);
    if (rc) return rc;
    /* family indices in name order, so they do not depend on the directory order */
    for (int s = 0; s < 2; s++) {
        int n = F->n_family[s], map[KFS_MAX_FAMILIES];
        char *old[KFS_MAX_FAMILIES];
        int oldrole[KFS_MAX_FAMILIES];
        memcpy(old, F->family[s], sizeof(char *) * (size_t)n);
        memcpy(oldrole, F->family_role[s], sizeof(int) * (size_t)n);
        qsort(F->family[s], (size_t)n, sizeof(char *), cmp_str);
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                if (F->family[s][b] == old[a]) {
                    map[a] = b;
                    F->family_role[s][b] = oldrole[a];
                }
        for (int i = 0; i < F->n; i++)
            if (F->f[i].script == s) F->f[i].family = map[F->f[i].family];
    }
    for (int s = 0; s < 2; s++)
        for (int role = 0; role < 2; role++) {
            int c = 0;
            for (int q = 0; q < F->n_family[s]; q++) c += F->family_role[s][q] == role;
            if (c == 0)
                return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: no %s font family for the %s split: install the "
                                      "font packages of scripts/deps.sh (fonts-knda fonts-noto-core fonts-farsiweb ...)",
                                      script_name[s], role ? "unseen" : "train/test");
        }
    return MVAE_OK;
}

/* ------------------------------------------------------------------------------- rendering */
/* Pick a family of the script with this role uniformly, then a face of it uniformly. */
static int pick_face(const kfs_fonts *F, int script, int role, mvae_rng *r) {
    int fams[KFS_MAX_FAMILIES], nf = 0;
    for (int q = 0; q < F->n_family[script]; q++)
        if (F->family_role[script][q] == role) fams[nf++] = q;
    int fam = fams[mvae_rng_below(r, (uint64_t)nf)];
    int faces[KFS_MAX_FACES], n = 0;
    for (int i = 0; i < F->n; i++)
        if (F->f[i].script == script && F->f[i].family == fam) faces[n++] = i;
    return faces[mvae_rng_below(r, (uint64_t)n)];
}

static void gauss_blur28(float *x, float *tmp, float sigma) {
    float k[25];
    int R = 12;
    double s = 0;
    for (int i = -R; i <= R; i++) s += k[i + R] = (float)exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * R; i++) k[i] /= (float)s;
    for (int y = 0; y < KFS_SIDE; y++)
        for (int x0 = 0; x0 < KFS_SIDE; x0++) {
            float a = 0;
            for (int i = -R; i <= R; i++) {
                int xx = x0 + i;
                if (xx >= 0 && xx < KFS_SIDE) a += k[i + R] * x[y * KFS_SIDE + xx];
            }
            tmp[y * KFS_SIDE + x0] = a;
        }
    for (int y = 0; y < KFS_SIDE; y++)
        for (int x0 = 0; x0 < KFS_SIDE; x0++) {
            float a = 0;
            for (int i = -R; i <= R; i++) {
                int yy = y + i;
                if (yy >= 0 && yy < KFS_SIDE) a += k[i + R] * tmp[yy * KFS_SIDE + x0];
            }
            x[y * KFS_SIDE + x0] = a;
        }
}

static float bilinear(const float *img, int W, float x, float y) {
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float fx = x - x0, fy = y - y0, v = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int xx = x0 + dx, yy = y0 + dy;
            if (xx < 0 || yy < 0 || xx >= W || yy >= W) continue;
            v += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * img[yy * W + xx];
        }
    return v;
}

/* The augmentation parameters of one image (all from the ref's MNIST calibration). */
#define AUG_SHEAR_MEAN 0.13
#define AUG_SHEAR_STD 0.2
#define AUG_ROT_STD_DEG 8.0
#define AUG_SCALE_STD 0.1
#define AUG_ASPECT_STD 0.1
#define AUG_STROKE_LO 2.0
#define AUG_STROKE_HI 3.2
#define AUG_ELASTIC_ALPHA 34.0f
#define AUG_ELASTIC_SIGMA 4.0f

/* Render digit d of face k with a fresh augmentation from r into out [28 * 28] (8-bit). */
static int render_digit(kfs_face *k, int d, mvae_rng *r, uint8_t *out) {
    static float canvas[KFS_C4 * KFS_C4], warped[KFS_C4 * KFS_C4];
    float fx[KFS_PIX], fy[KFS_PIX], tmp[KFS_PIX];
    double shear = AUG_SHEAR_MEAN + AUG_SHEAR_STD * mvae_rng_normal(r);
    double rot = AUG_ROT_STD_DEG * mvae_rng_normal(r) * 3.14159265358979 / 180.0;
    double scale = exp(AUG_SCALE_STD * mvae_rng_normal(r)), aspect = exp(AUG_ASPECT_STD * mvae_rng_normal(r));
    double target = AUG_STROKE_LO + (AUG_STROKE_HI - AUG_STROKE_LO) * mvae_rng_uniform(r);
    for (int i = 0; i < KFS_PIX; i++) {
        fx[i] = 2.0f * mvae_rng_uniform(r) - 1.0f;
        fy[i] = 2.0f * mvae_rng_uniform(r) - 1.0f;
    }
    FT_Outline *o = load_outline(k, d);
    if (!o) return -1;
    double strength = 4.0 * (target - k->stroke); /* px at 4x added to the stroke width */
    double lo = k->stroke > 2.6 ? -4.0 : 0.0;
    strength = strength < lo ? lo : (strength > 8.0 ? 8.0 : strength);
    if (fabs(strength) > 0.05) FT_Outline_Embolden(o, (FT_Pos)lround(strength * 64));
    /* x' = R Sh S x (FreeType's y points up: a positive shear leans the top to the right) */
    double sx = scale * aspect, sy = scale, c = cos(rot), s = sin(rot);
    double m00 = c * sx, m01 = c * shear * sy - s * sy, m10 = s * sx, m11 = s * shear * sy + c * sy;
    FT_Matrix M = {(FT_Fixed)lround(m00 * 65536), (FT_Fixed)lround(m01 * 65536), (FT_Fixed)lround(m10 * 65536),
                   (FT_Fixed)lround(m11 * 65536)};
    FT_Outline_Transform(o, &M);
    FT_BBox bb;
    FT_Outline_Get_CBox(o, &bb);
    double w = (bb.xMax - bb.xMin) / 64.0, h = (bb.yMax - bb.yMin) / 64.0, big = w > h ? w : h;
    if (big > 80.0) { /* larger than the 20 px box: shrink to fit */
        FT_Fixed f = (FT_Fixed)lround(80.0 / big * 65536);
        FT_Matrix S = {f, 0, 0, f};
        FT_Outline_Transform(o, &S);
    }
    if (FT_Render_Glyph(k->face->glyph, FT_RENDER_MODE_NORMAL)) return -1;
    const FT_Bitmap *b = &k->face->glyph->bitmap;
    int bw = (int)b->width, bh = (int)b->rows;
    double mass = 0, cx = 0, cy = 0;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) {
            double v = b->buffer[y * b->pitch + x];
            mass += v;
            cx += v * (x + 0.5);
            cy += v * (y + 0.5);
        }
    if (mass <= 0) return -1;
    int ox = (int)lround(KFS_C4 / 2.0 - cx / mass), oy = (int)lround(KFS_C4 / 2.0 - cy / mass);
    memset(canvas, 0, sizeof canvas);
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) {
            int X = x + ox, Y = y + oy;
            if (X >= 0 && Y >= 0 && X < KFS_C4 && Y < KFS_C4) canvas[Y * KFS_C4 + X] = b->buffer[y * b->pitch + x] / 255.0f;
        }
    /* elastic (Simard et al. 2003): smoothed uniform fields at 28 px, upsampled to 4x */
    gauss_blur28(fx, tmp, AUG_ELASTIC_SIGMA);
    gauss_blur28(fy, tmp, AUG_ELASTIC_SIGMA);
    for (int Y = 0; Y < KFS_C4; Y++)
        for (int X = 0; X < KFS_C4; X++) {
            float gx = (X + 0.5f) / 4.0f - 0.5f, gy = (Y + 0.5f) / 4.0f - 0.5f;
            gx = gx < 0 ? 0 : (gx > KFS_SIDE - 1 ? KFS_SIDE - 1 : gx);
            gy = gy < 0 ? 0 : (gy > KFS_SIDE - 1 ? KFS_SIDE - 1 : gy);
            float dx = 4.0f * AUG_ELASTIC_ALPHA * bilinear(fx, KFS_SIDE, gx, gy);
            float dy = 4.0f * AUG_ELASTIC_ALPHA * bilinear(fy, KFS_SIDE, gx, gy);
            warped[Y * KFS_C4 + X] = bilinear(canvas, KFS_C4, X + dx, Y + dy);
        }
    for (int y = 0; y < KFS_SIDE; y++)
        for (int x = 0; x < KFS_SIDE; x++) {
            float a = 0;
            for (int j = 0; j < 4; j++)
                for (int i = 0; i < 4; i++) a += warped[(4 * y + j) * KFS_C4 + 4 * x + i];
            a /= 16.0f;
            out[y * KFS_SIDE + x] = (uint8_t)lrintf((a < 0 ? 0 : (a > 1 ? 1 : a)) * 255.0f);
        }
    return 0;
}

/* ------------------------------------------------------------------------------ the splits */
enum { META_LABEL, META_KN_FONT, META_FA_FONT, META_VOICE, META_ACCENT, META_SPEED, META_PITCH, META_RANGE,
       META_KN_FACE, META_FA_FACE, META_N };
enum { PART_TRAIN = 0, PART_TEST = 1, PART_UNSEEN = 2 };
static const char *const part_name[3] = {"train", "test", "test-unseen"};

typedef struct kfs_part {
    int64_t n;
    uint8_t *kn, *fa, *au; /* [n, 784], [n, 784], [n, 1024] */
    int32_t *meta;         /* [n, META_N] */
} kfs_part;

typedef struct kfs_ds {
    kfs_fonts fonts;
    kfs_part part[3];
    int test_part;  /* PART_TEST or PART_UNSEEN: what MVAE_SPLIT_TEST returns */
    int n_mods;
    mvae_modality_info mods[10];
    const char *kn_names[KFS_MAX_FAMILIES], *fa_names[KFS_MAX_FAMILIES];
    double gen_seconds[3];
    bool from_cache[3];
} kfs_ds;

static void part_free(kfs_part *p) {
    free(p->kn);
    free(p->fa);
    free(p->au);
    free(p->meta);
    memset(p, 0, sizeof *p);
}

static int part_alloc(kfs_part *p, int64_t n) {
    p->n = n;
    p->kn = malloc((size_t)n * KFS_PIX);
    p->fa = malloc((size_t)n * KFS_PIX);
    p->au = malloc((size_t)n * KFS_AU);
    p->meta = malloc((size_t)n * META_N * sizeof(int32_t));
    return p->kn && p->fa && p->au && p->meta ? 0 : -1;
}

static uint64_t fnv(uint64_t h, const void *data, size_t len) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV0 14695981039346656037ULL

static int generate_part(kfs_ds *d, int part, int64_t n, uint64_t seed, mvae_error *err) {
    kfs_part *p = &d->part[part];
    if (part_alloc(p, n)) return mvae_error_set(err, MVAE_ERR_NOMEM, "kfs_digits: out of memory for %lld samples", (long long)n);
    int role = part == PART_UNSEEN ? ROLE_UNSEEN : ROLE_TRAIN;
    int nv = kfs_n_variants(), vars[64], n_vars = 0;
    for (int v = 0; v < nv; v++)
        if (kfs_variant_unseen[v] == role) vars[n_vars++] = v;
    mvae_rng base;
    mvae_rng_seed(&base, seed);
    kfs_voice_params *vps = malloc((size_t)n * sizeof *vps);
    int *digits = malloc((size_t)n * sizeof *digits);
    if (!vps || !digits) {
        free(vps);
        free(digits);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "kfs_digits: out of memory for %lld samples", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        mvae_rng r = mvae_rng_fork(&base, ((uint64_t)(part + 1) << 40) + (uint64_t)i);
        mvae_rng rk = mvae_rng_fork(&r, 1), rf = mvae_rng_fork(&r, 2), ra = mvae_rng_fork(&r, 3);
        int label = (int)(i % 10);
        int32_t *m = p->meta + i * META_N;
        m[META_LABEL] = label;
        int fk = pick_face(&d->fonts, SCRIPT_KN, role, &rk), ff = pick_face(&d->fonts, SCRIPT_FA, role, &rf);
        if (render_digit(&d->fonts.f[fk], label, &rk, p->kn + i * KFS_PIX) ||
            render_digit(&d->fonts.f[ff], label, &rf, p->fa + i * KFS_PIX)) {
            free(vps);
            free(digits);
            return mvae_error_set(err, MVAE_ERR_FORMAT, "kfs_digits: cannot render digit %d from %s or %s", label,
                                  d->fonts.f[fk].path, d->fonts.f[ff].path);
        }
        m[META_KN_FONT] = d->fonts.f[fk].family;
        m[META_FA_FONT] = d->fonts.f[ff].family;
        m[META_KN_FACE] = fk;
        m[META_FA_FACE] = ff;
        kfs_voice_params *vp = &vps[i];
        digits[i] = label;
        vp->accent = (int)mvae_rng_below(&ra, KFS_N_ACCENTS);
        vp->variant = vars[mvae_rng_below(&ra, (uint64_t)n_vars)];
        vp->speed = 120 + (int)mvae_rng_below(&ra, 101); /* U{120..220} wpm */
        vp->pitch = 20 + (int)mvae_rng_below(&ra, 61);   /* U{20..80} */
        vp->range = 30 + (int)mvae_rng_below(&ra, 61);   /* U{30..90} */
        vp->shift = (int)mvae_rng_below(&ra, 1601) - 800; /* +/- 100 ms */
        m[META_VOICE] = vp->variant;
        m[META_ACCENT] = vp->accent;
        m[META_SPEED] = vp->speed;
        m[META_PITCH] = vp->pitch;
        m[META_RANGE] = vp->range;
    }
    int rc = kfs_speak_batch(digits, vps, n, p->au, err);
    free(vps);
    free(digits);
    return rc;
}

/* The cache key: everything the generated data depend on. */
static uint64_t cache_key(const kfs_ds *d, int part, int64_t n, uint64_t seed) {
    uint64_t h = FNV0;
    int v = KFS_VERSION;
    h = fnv(h, &v, sizeof v);
    h = fnv(h, &part, sizeof part);
    h = fnv(h, &n, sizeof n);
    h = fnv(h, &seed, sizeof seed);
    for (int i = 0; i < d->fonts.n; i++) {
        const kfs_face *k = &d->fonts.f[i];
        h = fnv(h, k->path, strlen(k->path) + 1);
        h = fnv(h, &k->fsize, sizeof k->fsize);
        h = fnv(h, &k->fmtime, sizeof k->fmtime);
        h = fnv(h, &k->role, sizeof k->role);
    }
    const char *ver = kfs_speech_version();
    h = fnv(h, ver, strlen(ver) + 1);
    for (int i = 0; kfs_variants[i]; i++) h = fnv(h, kfs_variants[i], strlen(kfs_variants[i]) + 1);
    return h;
}

static uint64_t part_checksum(const kfs_part *p) {
    uint64_t h = FNV0;
    h = fnv(h, p->meta, (size_t)p->n * META_N * sizeof(int32_t));
    h = fnv(h, p->kn, (size_t)p->n * KFS_PIX);
    h = fnv(h, p->fa, (size_t)p->n * KFS_PIX);
    return fnv(h, p->au, (size_t)p->n * KFS_AU);
}

static bool cache_load(kfs_part *p, const char *path, uint64_t key, int64_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[8];
    uint64_t k = 0, sum = 0;
    int64_t nn = 0;
    bool ok = fread(magic, 8, 1, f) == 1 && memcmp(magic, KFS_MAGIC, 8) == 0 && fread(&k, sizeof k, 1, f) == 1 &&
              k == key && fread(&nn, sizeof nn, 1, f) == 1 && nn == n && part_alloc(p, n) == 0;
    ok = ok && fread(p->meta, sizeof(int32_t) * META_N, (size_t)n, f) == (size_t)n &&
         fread(p->kn, KFS_PIX, (size_t)n, f) == (size_t)n && fread(p->fa, KFS_PIX, (size_t)n, f) == (size_t)n &&
         fread(p->au, KFS_AU, (size_t)n, f) == (size_t)n && fread(&sum, sizeof sum, 1, f) == 1 && fgetc(f) == EOF &&
         sum == part_checksum(p);
    fclose(f);
    if (!ok) part_free(p);
    return ok;
}

static void cache_save(const kfs_part *p, const char *dir, const char *path, uint64_t key) {
    (void)mvae_mkdir_p(dir, NULL);
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        MVAE_WARN("kfs_digits: cannot write the cache '%s' (%s): the next run generates again", tmp, strerror(errno));
        return;
    }
    uint64_t sum = part_checksum(p);
    size_t n = (size_t)p->n;
    bool ok = fwrite(KFS_MAGIC, 8, 1, f) == 1 && fwrite(&key, sizeof key, 1, f) == 1 &&
              fwrite(&p->n, sizeof p->n, 1, f) == 1 && fwrite(p->meta, sizeof(int32_t) * META_N, n, f) == n &&
              fwrite(p->kn, KFS_PIX, n, f) == n && fwrite(p->fa, KFS_PIX, n, f) == n &&
              fwrite(p->au, KFS_AU, n, f) == n && fwrite(&sum, sizeof sum, 1, f) == 1;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        MVAE_WARN("kfs_digits: cannot write the cache '%s': the next run generates again", path);
    }
}

static int load_part(kfs_ds *d, int part, int64_t n, uint64_t seed, const char *cache_opt, mvae_error *err) {
    uint64_t key = cache_key(d, part, n, seed);
    char dir[4096], path[4300];
    const char *why = NULL;
    bool use = !(cache_opt[0] && strcmp(cache_opt, "none") == 0) && mvae_cache_dir(cache_opt, "kfs_digits", dir, sizeof dir, &why);
    if (use) snprintf(path, sizeof path, "%s/kfs_%s_%016llx.bin", dir, part_name[part], (unsigned long long)key);
    double t0 = mvae_time_sec();
    if (use && cache_load(&d->part[part], path, key, n)) {
        d->from_cache[part] = true;
        MVAE_INFO("kfs_digits: %s split (%lld tuples) from the cache %s", part_name[part], (long long)n, path);
        return MVAE_OK;
    }
    int rc = generate_part(d, part, n, seed, err);
    if (rc) return rc;
    d->gen_seconds[part] = mvae_time_sec() - t0;
    MVAE_INFO("kfs_digits: generated the %s split (%lld tuples) in %.1f s", part_name[part], (long long)n,
              d->gen_seconds[part]);
    if (use) cache_save(&d->part[part], dir, path, key);
    return MVAE_OK;
}

/* ------------------------------------------------------------------------------------ vtable */
static void kfs_close(void *self) {
    kfs_ds *d = self;
    if (!d) return;
    for (int p = 0; p < 3; p++) part_free(&d->part[p]);
    fonts_free(&d->fonts);
    free(d);
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

static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static int kfs_open(const mvae_cfg_node *opts, void **self, mvae_error *err) {
    *self = NULL;
    const char *profile, *test_split, *cache_dir;
    int64_t train_size, test_size, seed;
    int rc = mvae_cfg_string_or(opts, "profile", "small", &profile, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "test_split", "seen", &test_split, err);
    if (!rc) rc = mvae_cfg_string_or(opts, "cache_dir", "", &cache_dir, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "train_size", 0, &train_size, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "test_size", 0, &test_size, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "seed", 1, &seed, err);
    if (rc) return rc;
    bool full = strcmp(profile, "full") == 0;
    if (train_size == 0) train_size = full ? 60000 : 5000;
    if (test_size == 0) test_size = full ? 10000 : 1000;
    if (train_size < 1 || test_size < 1 || train_size > 10000000 || test_size > 10000000)
        return mvae_error_set(err, MVAE_ERR_INVALID, "kfs_digits: train_size and test_size must be in 1..10000000 (0 = the profile's)");
    kfs_ds *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    d->test_part = strcmp(test_split, "unseen") == 0 ? PART_UNSEEN : PART_TEST;
    if ((rc = fonts_load(&d->fonts, err))) goto fail;
    int n_face[2][2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < d->fonts.n; i++) n_face[d->fonts.f[i].script][d->fonts.f[i].role]++;
    MVAE_INFO("kfs_digits: fonts: Kannada %d faces (%d train, %d unseen) in %d families, Persian %d faces (%d train, "
              "%d unseen) in %d families; rejected by the shape checks: %d Kannada, %d Persian",
              n_face[0][0] + n_face[0][1], n_face[0][0], n_face[0][1], d->fonts.n_family[0], n_face[1][0] + n_face[1][1],
              n_face[1][0], n_face[1][1], d->fonts.n_family[1], d->fonts.rejected[0], d->fonts.rejected[1]);
    if ((rc = load_part(d, PART_TRAIN, train_size, (uint64_t)seed, cache_dir, err)) ||
        (rc = load_part(d, d->test_part, test_size, (uint64_t)seed, cache_dir, err)))
        goto fail;
    for (int q = 0; q < d->fonts.n_family[0]; q++) d->kn_names[q] = d->fonts.family[0][q];
    for (int q = 0; q < d->fonts.n_family[1]; q++) d->fa_names[q] = d->fonts.family[1][q];
    set_mod(&d->mods[0], "kannada", MVAE_MOD_IMAGE, 3, 1, KFS_SIDE, KFS_SIDE);
    set_mod(&d->mods[1], "persian", MVAE_MOD_IMAGE, 3, 1, KFS_SIDE, KFS_SIDE);
    set_mod(&d->mods[2], "audio", MVAE_MOD_AUDIO, 3, 1, KFS_MELS, KFS_FRAMES);
    set_mod(&d->mods[3], "label", MVAE_MOD_CATEGORICAL, 1, 1, 0, 0);
    d->mods[3].n_classes = 10;
    d->mods[3].class_names = digit_names;
    set_mod(&d->mods[4], "meta_kannada_font", MVAE_MOD_CATEGORICAL, 1, 1, 0, 0);
    d->mods[4].n_classes = d->fonts.n_family[0];
    d->mods[4].class_names = d->kn_names;
    set_mod(&d->mods[5], "meta_persian_font", MVAE_MOD_CATEGORICAL, 1, 1, 0, 0);
    d->mods[5].n_classes = d->fonts.n_family[1];
    d->mods[5].class_names = d->fa_names;
    set_mod(&d->mods[6], "meta_voice", MVAE_MOD_CATEGORICAL, 1, 1, 0, 0);
    d->mods[6].n_classes = kfs_n_variants();
    d->mods[6].class_names = kfs_variants;
    set_mod(&d->mods[7], "meta_accent", MVAE_MOD_CATEGORICAL, 1, 1, 0, 0);
    d->mods[7].n_classes = KFS_N_ACCENTS;
    d->mods[7].class_names = kfs_accents;
    set_mod(&d->mods[8], "meta_speed", MVAE_MOD_REAL, 1, 1, 0, 0);
    set_mod(&d->mods[9], "meta_pitch", MVAE_MOD_REAL, 1, 1, 0, 0);
    d->n_mods = 10;
    *self = d;
    return MVAE_OK;
fail:
    kfs_close(d);
    return rc;
}

static int kfs_n_modalities(void *self) { return ((kfs_ds *)self)->n_mods; }

static const mvae_modality_info *kfs_modality(void *self, int m) {
    kfs_ds *d = self;
    return (m >= 0 && m < d->n_mods) ? &d->mods[m] : NULL;
}

static const kfs_part *split_part(const kfs_ds *d, int split) {
    if (split == MVAE_SPLIT_TRAIN) return &d->part[PART_TRAIN];
    if (split == MVAE_SPLIT_TEST) return &d->part[d->test_part];
    return NULL;
}

static int64_t kfs_size(void *self, int split) {
    const kfs_part *p = split_part(self, split);
    return p ? p->n : 0;
}

static int kfs_get_batch(void *self, int split, const int64_t *idx, int n, float **out, uint8_t *present, mvae_error *err) {
    kfs_ds *d = self;
    const kfs_part *p = split_part(d, split);
    if (!p)
        return mvae_error_set(err, MVAE_ERR_INVALID, "kfs_digits has only the train and test splits (asked for split %d; "
                              "the unseen fonts and voices are the test split with test_split: unseen)", split);
    const float sc = 1.0f / 255.0f;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= p->n)
            return mvae_error_set(err, MVAE_ERR_INVALID, "kfs_digits: sample index %lld is outside the split (0..%lld)",
                                  (long long)idx[i], (long long)p->n - 1);
        int64_t s = idx[i];
        for (int j = 0; j < KFS_PIX; j++) {
            out[0][(size_t)i * KFS_PIX + j] = p->kn[s * KFS_PIX + j] * sc;
            out[1][(size_t)i * KFS_PIX + j] = p->fa[s * KFS_PIX + j] * sc;
        }
        for (int j = 0; j < KFS_AU; j++) out[2][(size_t)i * KFS_AU + j] = p->au[s * KFS_AU + j] * sc;
        const int32_t *m = p->meta + s * META_N;
        int32_t cat[5] = {m[META_LABEL], m[META_KN_FONT], m[META_FA_FONT], m[META_VOICE], m[META_ACCENT]};
        for (int c = 0; c < 5; c++) memcpy(out[3 + c] + i, &cat[c], sizeof cat[c]);
        out[8][i] = (float)(m[META_SPEED] - 120) / 100.0f;
        out[9][i] = (float)m[META_PITCH] / 100.0f;
        for (int k = 0; k < d->n_mods; k++) present[i * d->n_mods + k] = 1;
    }
    return MVAE_OK;
}

static const mvae_dataset_vtable kfs_vt = {
    .open = kfs_open,
    .close = kfs_close,
    .n_modalities = kfs_n_modalities,
    .modality = kfs_modality,
    .size = kfs_size,
    .get_batch = kfs_get_batch,
};

static const char *const profile_choices[] = {"small", "full", NULL};
static const char *const test_split_choices[] = {"seen", "unseen", NULL};
static const mvae_option kfs_opts[] = {
    {"profile", MVAE_OPT_STRING, "small", "small: 5,000 train / 1,000 test tuples; full: 60,000 / 10,000", NULL, false, profile_choices, NULL},
    {"train_size", MVAE_OPT_INT, "0", "training tuples (0 = the profile's)", NULL, false, NULL, "[0, 10000000]"},
    {"test_size", MVAE_OPT_INT, "0", "test tuples (0 = the profile's)", NULL, false, NULL, "[0, 10000000]"},
    {"test_split", MVAE_OPT_STRING, "seen", "seen: the test split uses the training fonts and voices (fresh draws); unseen: held-out font families and voice variants", NULL, false, test_split_choices, NULL},
    {"seed", MVAE_OPT_INT, "1", "generation seed", NULL, false, NULL, "[0, inf)"},
    {"cache_dir", MVAE_OPT_STRING, "", "generated splits (\"\" = $MVAE_CACHE_DIR/kfs_digits or ~/.cache/mvae/kfs_digits; none = off)", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc kfs_desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DATASET, "kfs_digits", "1.0.0",
    "Kannada + Persian digit images (FreeType, MNIST-like augmentation) + spoken digits (espeak-ng, 32x32 log-mel), "
    "paired by label; font/voice metadata; a test split of unseen fonts and voices",
    &kfs_vt, kfs_opts);
MVAE_PLUGIN_DEFINE(kfs_digits, kfs_desc)
