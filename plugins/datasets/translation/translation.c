/* datasets/translation — English–X sentence pairs from GNU gettext catalogs (.mo files).
 *
 * Sources: every .mo file in a <lang>/LC_MESSAGES folder below the directories of `mo_dirs` (searched
 * recursively), plus, for each name in `packages`, the .deb fetched with `apt-get download` into
 * cache_dir and unpacked with `dpkg-deb -x` into cache_dir/unpacked (only when the .deb is not
 * cached yet; failures are reported per package and skipped).
 *
 * Pipeline: read catalogs (malformed files and strings with invalid UTF-8 are skipped and
 * counted) -> keep singular, context-free, single-line messages with min_words..max_words English
 * words and no format directives, markup or accelerators on either side -> deduplicate on the
 * English side (first catalog in path order wins) -> split by a seeded hash of the English text
 * -> tokenise (mvae/text.h) -> word vocabularies per language from the training split.
 *
 * Modalities: "en" and the target language code, MVAE_MOD_TOKENS [max_len]: token ids ending
 * with <eos>, then -1 padding. Ids: 0 <unk>, 1 <bos>, 2 <eos>, words from 3 (most frequent
 * first). class_names = the vocabulary (id -> word).
 */
#include "mvae/interfaces.h"
#include "mvae/text.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TR_UNK 0
#define TR_BOS 1
#define TR_EOS 2
#define TR_MAX_TOK 256

typedef struct strvec {
    char **v;
    int n, cap;
} strvec;
static int sv_push(strvec *s, char *str) {
    if (s->n == s->cap) {
        int c = s->cap ? 2 * s->cap : 64;
        char **nv = realloc(s->v, (size_t)c * sizeof *nv);
        if (!nv) return -1;
        s->v = nv, s->cap = c;
    }
    s->v[s->n++] = str;
    return 0;
}
static void sv_free(strvec *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct tr_stats {
    int files, bad_files, bad_utf8, entries, kept, dup, too_long;
    int f_plural, f_context, f_words, f_format, f_markup, f_accel, f_multiline, f_empty;
} tr_stats;

typedef struct vocab {
    char **words; /* [n] */
    int n;
    /* open-addressing hash word -> id */
    int *slots;
    int nslots;
} vocab;

typedef struct tr_ds {
    char lang[16];
    int max_len;
    mvae_modality_info mod[2];
    vocab voc[2];
    int64_t n_split[3];
    int32_t *tok[3][2]; /* [split][side] -> [n_split * max_len] */
    tr_stats st;
} tr_ds;

/* ------------------------------------------------------------------ .mo catalogs */
static uint32_t rd32(const unsigned char *p, int be) {
    return be ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
              : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
}

typedef void (*mo_cb)(const char *orig, size_t olen, const char *tr, size_t tlen, void *user);

/* Read one .mo file; calls cb for every entry whose strings are in range. Returns 0, or -1 for a
 * malformed file (reason in why). Invalid UTF-8 is left to the callback. */
static int mo_read(const char *path, mo_cb cb, void *user, const char **why) {
    FILE *f = fopen(path, "rb");
    if (!f) { *why = "unreadable"; return -1; }
    unsigned char *d = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > ((size_t)1 << 30)) { free(d); fclose(f); *why = "too large"; return -1; }
            unsigned char *nd = realloc(d, cap);
            if (!nd) { free(d); fclose(f); *why = "out of memory"; return -1; }
            d = nd;
        }
        size_t r = fread(d + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    int rc = -1;
    if (n < 28) { *why = "truncated header"; goto done; }
    int be;
    if (rd32(d, 0) == 0x950412deu) be = 0;
    else if (rd32(d, 1) == 0x950412deu) be = 1;
    else { *why = "wrong magic"; goto done; }
    uint32_t N = rd32(d + 8, be), O = rd32(d + 12, be), T = rd32(d + 16, be);
    if ((uint64_t)O + 8ull * N > n || (uint64_t)T + 8ull * N > n) { *why = "string tables out of range"; goto done; }
    for (uint32_t i = 0; i < N; i++) {
        uint32_t ol = rd32(d + O + 8 * i, be), oo = rd32(d + O + 8 * i + 4, be);
        uint32_t tl = rd32(d + T + 8 * i, be), to = rd32(d + T + 8 * i + 4, be);
        if ((uint64_t)oo + ol >= n || (uint64_t)to + tl >= n) { *why = "string offsets out of range"; goto done; }
    }
    for (uint32_t i = 0; i < N; i++) {
        uint32_t ol = rd32(d + O + 8 * i, be), oo = rd32(d + O + 8 * i + 4, be);
        uint32_t tl = rd32(d + T + 8 * i, be), to = rd32(d + T + 8 * i + 4, be);
        cb((const char *)d + oo, ol, (const char *)d + to, tl, user);
    }
    rc = 0;
done:
    free(d);
    return rc;
}

/* ------------------------------------------------------------------ filters */
static int count_words(const char *s) {
    int w = 0, in = 0;
    for (; *s; s++) {
        int sp = *s == ' ' || *s == '\t';
        if (!sp && !in) w++;
        in = !sp;
    }
    return w;
}
static int has_format(const char *s) {
    for (const char *p = s; *p; p++) {
        if (p[0] == '%' && p[1] && (strchr("sdifuxXcpgeEloz0123456789-+ .*#$(l'{<", p[1]))) return 1;
        if (p[0] == '{' && p[1] && (p[1] == '}' || (p[1] >= '0' && p[1] <= '9') ||
                                    (p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') || p[1] == '_'))
            return 1;
        if (p[0] == '$' && p[1] && (p[1] == '{' || (p[1] >= 'A' && p[1] <= 'Z'))) return 1;
    }
    return 0;
}
static int has_markup(const char *s) {
    for (const char *p = s; *p; p++)
        if (p[0] == '<' && p[1] && (p[1] == '/' || p[1] == '!' || (p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z')))
            if (strchr(p, '>')) return 1;
    return 0;
}
static int is_alnum_byte(unsigned char c) { return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }
static int has_accel(const char *s) {
    for (const char *p = s; *p; p++)
        if ((p[0] == '_' || p[0] == '&' || p[0] == '~') && is_alnum_byte((unsigned char)p[1])) return 1;
    return 0;
}

typedef struct collect {
    tr_stats *st;
    int min_words, max_words;
    strvec en, tr; /* raw pairs */
} collect;

static void on_entry(const char *o, size_t ol, const char *t, size_t tl, void *user) {
    collect *c = user;
    c->st->entries++;
    if (ol == 0) return; /* the catalog header */
    if (!mvae_utf8_valid(o, ol) || !mvae_utf8_valid(t, tl)) { c->st->bad_utf8++; return; }
    if (memchr(o, '\0', ol) || memchr(t, '\0', tl)) { c->st->f_plural++; return; }
    if (memchr(o, '\x04', ol)) { c->st->f_context++; return; }
    if (tl == 0) { c->st->f_empty++; return; }
    char *en = strndup(o, ol), *tr = strndup(t, tl);
    if (!en || !tr) goto drop;
    if (strpbrk(en, "\n\r") || strpbrk(tr, "\n\r")) { c->st->f_multiline++; goto drop; }
    int w = count_words(en);
    if (w < c->min_words || w > c->max_words || count_words(tr) < 1) { c->st->f_words++; goto drop; }
    if (has_format(en) || has_format(tr)) { c->st->f_format++; goto drop; }
    if (has_markup(en) || has_markup(tr)) { c->st->f_markup++; goto drop; }
    if (has_accel(en) || has_accel(tr)) { c->st->f_accel++; goto drop; }
    if (sv_push(&c->en, en) || sv_push(&c->tr, tr)) goto drop;
    return;
drop:
    free(en);
    free(tr);
}

/* every <lang>/LC_MESSAGES/x.mo below dir (depth-limited) */
static void find_mo(const char *dir, const char *lang, int depth, strvec *out) {
    if (depth > 12) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    size_t ll = strlen(lang);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t pl = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(pl);
        if (!p) break;
        snprintf(p, pl, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                find_mo(p, lang, depth + 1, out);
            } else if (S_ISREG(sb.st_mode)) {
                size_t nl = strlen(e->d_name), dl = strlen(dir);
                /* dir ends with "/<lang>/LC_MESSAGES" (or is "<lang>/LC_MESSAGES") */
                const char *suf = "/LC_MESSAGES";
                size_t sl = strlen(suf);
                if (nl > 3 && strcmp(e->d_name + nl - 3, ".mo") == 0 && dl >= sl + ll &&
                    strcmp(dir + dl - sl, suf) == 0 && strncmp(dir + dl - sl - ll, lang, ll) == 0 &&
                    (dl == sl + ll || dir[dl - sl - ll - 1] == '/')) {
                    if (sv_push(out, p) == 0) p = NULL;
                }
            }
        }
        free(p);
    }
    closedir(d);
}

static int run_cmd(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        FILE *l = log ? freopen(log, "a", stdout) : NULL;
        if (l) dup2(fileno(stdout), 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int mkdir_p(const char *path) {
    char buf[2048];
    if (strlen(path) >= sizeof buf) return -1;
    memcpy(buf, path, strlen(path) + 1);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return (mkdir(buf, 0755) && errno != EEXIST) ? -1 : 0;
}

/* malloc'd printf */
static char *fmt_dup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_dup(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *b = malloc((size_t)n + 1);
    if (!b) return NULL;
    va_start(ap, fmt);
    vsnprintf(b, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return b;
}

/* fetch + unpack one package into cache; returns NULL or a malloc'd reason */
static char *fetch_package(const char *cache, const char *pkg) {
    char *debdir = fmt_dup("%s/debs", cache), *unp = fmt_dup("%s/unpacked", cache);
    char *logf = fmt_dup("%s/fetch.log", cache), *stamp = fmt_dup("%s/%s.unpacked", debdir ? debdir : "", pkg);
    char *deb = NULL, *why = NULL;
    if (!debdir || !unp || !logf || !stamp) { why = fmt_dup("out of memory"); goto out; }
    if (access(stamp, F_OK) == 0) goto out; /* cached */
    if (mkdir_p(debdir) || mkdir_p(unp)) { why = fmt_dup("cannot create %s", debdir); goto out; }
    char *cwd = getcwd(NULL, 0);
    if (chdir(debdir)) { free(cwd); why = fmt_dup("cannot enter %s", debdir); goto out; }
    char *dl[] = {"apt-get", "download", "-q", (char *)pkg, NULL};
    int rc = run_cmd(dl, logf);
    if (cwd && chdir(cwd)) rc = rc ? rc : -1;
    free(cwd);
    if (rc) { why = fmt_dup("apt-get download failed (exit %d; see %s)", rc, logf); goto out; }
    DIR *d = opendir(debdir); /* the <pkg>_*.deb in debdir */
    size_t pl = strlen(pkg);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (strncmp(e->d_name, pkg, pl) == 0 && e->d_name[pl] == '_' && nl > 4 && strcmp(e->d_name + nl - 4, ".deb") == 0) {
            free(deb);
            deb = fmt_dup("%s/%s", debdir, e->d_name);
        }
    }
    if (d) closedir(d);
    if (!deb) { why = fmt_dup("no .deb after apt-get download"); goto out; }
    char *x[] = {"dpkg-deb", "-x", deb, unp, NULL};
    if ((rc = run_cmd(x, logf))) { why = fmt_dup("dpkg-deb -x failed (exit %d)", rc); goto out; }
    FILE *s = fopen(stamp, "w");
    if (s) fclose(s);
out:
    free(debdir), free(unp), free(logf), free(stamp), free(deb);
    return why;
}

/* ------------------------------------------------------------------ split and vocabulary */
static uint64_t fnv1a(const char *s, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; /* finaliser: spread the bits */
    return h;
}

static uint64_t hash_str(const char *s) { return fnv1a(s, 0); }

static int voc_find(const vocab *v, const char *w) {
    if (!v->nslots) return -1;
    uint64_t h = hash_str(w);
    for (int i = 0; i < v->nslots; i++) {
        int s = v->slots[(h + (uint64_t)i) % (uint64_t)v->nslots];
        if (s < 0) return -1;
        if (strcmp(v->words[s], w) == 0) return s;
    }
    return -1;
}

static int voc_index(vocab *v) {
    v->nslots = 2 * v->n + 1;
    v->slots = malloc((size_t)v->nslots * sizeof(int));
    if (!v->slots) return -1;
    for (int i = 0; i < v->nslots; i++) v->slots[i] = -1;
    for (int i = 0; i < v->n; i++) {
        uint64_t h = hash_str(v->words[i]);
        for (int j = 0;; j++) {
            int *s = &v->slots[(h + (uint64_t)j) % (uint64_t)v->nslots];
            if (*s < 0) { *s = i; break; }
        }
    }
    return 0;
}

static void voc_free(vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

typedef struct wc { char *w; int c; } wc;
static int cmp_wc(const void *a, const void *b) {
    const wc *x = a, *y = b;
    if (x->c != y->c) return y->c - x->c;
    return strcmp(x->w, y->w);
}

/* word vocabulary from the training sentences (strings) */
static int voc_build(vocab *v, char **sent, int n, int min_count, int max_size) {
    /* count with a temporary hash table */
    int cap = 1024, cnt = 0;
    wc *tab = calloc((size_t)cap, sizeof *tab);
    if (!tab) return -1;
    char buf[8192];
    const char *tok[TR_MAX_TOK];
    for (int i = 0; i < n; i++) {
        int nt = mvae_text_tokenize(sent[i], buf, sizeof buf, tok, TR_MAX_TOK);
        for (int t = 0; t < nt; t++) {
            if (2 * (cnt + 1) > cap) {
                int nc = cap * 2;
                wc *nt2 = calloc((size_t)nc, sizeof *nt2);
                if (!nt2) { free(tab); return -1; }
                for (int j = 0; j < cap; j++)
                    if (tab[j].w) {
                        uint64_t h = hash_str(tab[j].w);
                        for (int k = 0;; k++) {
                            wc *s = &nt2[(h + (uint64_t)k) % (uint64_t)nc];
                            if (!s->w) { *s = tab[j]; break; }
                        }
                    }
                free(tab);
                tab = nt2, cap = nc;
            }
            uint64_t h = hash_str(tok[t]);
            for (int k = 0;; k++) {
                wc *s = &tab[(h + (uint64_t)k) % (uint64_t)cap];
                if (!s->w) { s->w = strdup(tok[t]); s->c = 1; cnt++; break; }
                if (strcmp(s->w, tok[t]) == 0) { s->c++; break; }
            }
        }
    }
    int m = 0;
    for (int j = 0; j < cap; j++)
        if (tab[j].w) tab[m++] = tab[j];
    qsort(tab, (size_t)m, sizeof *tab, cmp_wc);
    int keep = 0;
    while (keep < m && tab[keep].c >= min_count && (max_size <= 0 || keep + 3 < max_size)) keep++;
    v->words = calloc((size_t)keep + 3, sizeof *v->words);
    if (!v->words) { for (int j = 0; j < m; j++) free(tab[j].w); free(tab); return -1; }
    v->words[0] = strdup("<unk>");
    v->words[1] = strdup("<bos>");
    v->words[2] = strdup("<eos>");
    for (int j = 0; j < m; j++) {
        if (j < keep) v->words[j + 3] = tab[j].w;
        else free(tab[j].w);
    }
    v->n = keep + 3;
    free(tab);
    return voc_index(v);
}

/* tokens of s -> ids ending with <eos>; returns the length (incl. <eos>) or -1 when longer than
 * max_len */
static int encode(const vocab *v, const char *s, int32_t *out, int max_len) {
    char buf[8192];
    const char *tok[TR_MAX_TOK];
    int nt = mvae_text_tokenize(s, buf, sizeof buf, tok, TR_MAX_TOK);
    if (nt < 0 || nt + 1 > max_len) return -1;
    for (int t = 0; t < nt; t++) {
        int id = voc_find(v, tok[t]);
        out[t] = id < 0 ? TR_UNK : id;
    }
    out[nt] = TR_EOS;
    for (int t = nt + 1; t < max_len; t++) out[t] = -1;
    return nt + 1;
}

/* ------------------------------------------------------------------ the plugin */
static void tr_close(void *self) {
    tr_ds *d = self;
    if (!d) return;
    for (int s = 0; s < 3; s++) free(d->tok[s][0]), free(d->tok[s][1]);
    voc_free(&d->voc[0]);
    voc_free(&d->voc[1]);
    free(d);
}

static int str_list(const mvae_cfg_node *opts, const char *key, strvec *out, mvae_error *err) {
    mvae_cfg_node *n = mvae_cfg_get(opts, key);
    if (!n) return MVAE_OK;
    if (n->kind == MVAE_CFG_SCALAR) return sv_push(out, strdup(n->value)) ? mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory") : MVAE_OK;
    if (n->kind != MVAE_CFG_SEQ) {
        char w[256];
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: '%s' must be a list of strings", mvae_cfg_where(n, w, sizeof w), key);
    }
    for (int i = 0; i < n->n_items; i++)
        if (n->items[i]->value && sv_push(out, strdup(n->items[i]->value))) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    return MVAE_OK;
}

static int tr_open(const mvae_cfg_node *opts, void **self, mvae_error *err) {
    tr_ds *d = calloc(1, sizeof *d);
    if (!d) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    const char *lang = "vi", *cache = "";
    int64_t min_words, max_words, max_len, min_count, max_vocab, split_seed, max_pairs;
    double ftrain, fvalid;
    strvec dirs = {0}, pkgs = {0}, files = {0};
    collect c = {0};
    int rc = MVAE_OK;
    if ((rc = mvae_cfg_string_or(opts, "lang", "vi", &lang, err)) ||
        (rc = mvae_cfg_string_or(opts, "cache_dir", "", &cache, err)) ||
        (rc = mvae_cfg_int_or(opts, "min_words", 3, &min_words, err)) ||
        (rc = mvae_cfg_int_or(opts, "max_words", 30, &max_words, err)) ||
        (rc = mvae_cfg_int_or(opts, "max_len", 40, &max_len, err)) ||
        (rc = mvae_cfg_int_or(opts, "min_count", 2, &min_count, err)) ||
        (rc = mvae_cfg_int_or(opts, "max_vocab", 10000, &max_vocab, err)) ||
        (rc = mvae_cfg_int_or(opts, "split_seed", 1, &split_seed, err)) ||
        (rc = mvae_cfg_int_or(opts, "max_pairs", 0, &max_pairs, err)) ||
        (rc = mvae_cfg_float_or(opts, "train_fraction", 0.9, &ftrain, err)) ||
        (rc = mvae_cfg_float_or(opts, "valid_fraction", 0.05, &fvalid, err)))
        goto fail;
    if (!mvae_cfg_get(opts, "mo_dirs")) sv_push(&dirs, strdup("/usr/share/locale"));
    if ((rc = str_list(opts, "mo_dirs", &dirs, err)) || (rc = str_list(opts, "packages", &pkgs, err))) goto fail;
    if (strlen(lang) >= sizeof d->lang || !lang[0] || strchr(lang, '/')) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "translation: bad lang '%s' (e.g. vi, fr, de)", lang);
        goto fail;
    }
    if (max_len < 2 || max_len > TR_MAX_TOK || min_words < 1 || max_words < min_words || ftrain < 0 ||
        fvalid < 0 || ftrain + fvalid > 1) {
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "translation: need 2 <= max_len <= %d, 1 <= min_words <= max_words, "
                            "train_fraction + valid_fraction <= 1", TR_MAX_TOK);
        goto fail;
    }
    snprintf(d->lang, sizeof d->lang, "%s", lang);
    d->max_len = (int)max_len;
    /* packages */
    if (pkgs.n) {
        char *cdir = cache[0] ? strdup(cache)
                              : fmt_dup("%s/.cache/mvae/translation", getenv("HOME") ? getenv("HOME") : "/tmp");
        int failed = 0;
        for (int i = 0; cdir && i < pkgs.n; i++) {
            char *why = fetch_package(cdir, pkgs.v[i]);
            if (why) {
                MVAE_WARN("translation: package '%s' skipped: %s", pkgs.v[i], why);
                failed++;
                free(why);
            }
        }
        if (failed) MVAE_WARN("translation: %d of %d packages could not be fetched", failed, pkgs.n);
        char *unp = cdir ? fmt_dup("%s/unpacked", cdir) : NULL;
        if (unp && sv_push(&dirs, unp)) free(unp);
        free(cdir);
    }
    for (int i = 0; i < dirs.n; i++) find_mo(dirs.v[i], d->lang, 0, &files);
    /* the same catalog name from two sources (installed + unpacked): read both, dedupe below */
    if (files.n > 1) qsort(files.v, (size_t)files.n, sizeof *files.v, cmp_str);
    c.st = &d->st;
    c.min_words = (int)min_words;
    c.max_words = (int)max_words;
    for (int i = 0; i < files.n; i++) {
        const char *why = "";
        d->st.files++;
        if (mo_read(files.v[i], on_entry, &c, &why)) {
            d->st.bad_files++;
            MVAE_WARN("translation: skipped malformed catalog %s (%s)", files.v[i], why);
        }
    }
    /* dedupe on the English side: sort indices by English text, stable by catalog order */
    int np = c.en.n;
    int *ord = malloc((size_t)(np ? np : 1) * sizeof *ord);
    if (!ord) { rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory"); goto fail; }
    for (int i = 0; i < np; i++) ord[i] = i;
    /* insertion into a hash set of English strings */
    vocab seen = {0};
    seen.words = c.en.v;
    seen.nslots = 2 * np + 1;
    seen.slots = malloc((size_t)seen.nslots * sizeof(int));
    if (!seen.slots) { free(ord); rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory"); goto fail; }
    for (int i = 0; i < seen.nslots; i++) seen.slots[i] = -1;
    int nu = 0;
    for (int i = 0; i < np; i++) {
        uint64_t h = hash_str(c.en.v[i]);
        int dup = 0;
        for (int j = 0;; j++) {
            int *s = &seen.slots[(h + (uint64_t)j) % (uint64_t)seen.nslots];
            if (*s < 0) { *s = i; break; }
            if (strcmp(c.en.v[*s], c.en.v[i]) == 0) { dup = 1; break; }
        }
        if (dup) d->st.dup++;
        else ord[nu++] = i;
    }
    free(seen.slots);
    if (max_pairs > 0 && nu > max_pairs) nu = (int)max_pairs;
    d->st.kept = nu;
    if (nu == 0) {
        free(ord);
        rc = mvae_error_set(err, MVAE_ERR_INVALID,
                            "translation: no English-%s pairs left after filtering: %d catalogs read "
                            "(%d malformed) from mo_dirs%s, %d entries; filters: min_words %d, "
                            "max_words %d, no format directives / markup / accelerators, single "
                            "line, no plural or context entries (dropped: %d words, %d format, %d "
                            "markup, %d accelerators, %d multi-line, %d plural, %d context, %d "
                            "invalid UTF-8)",
                            d->lang, d->st.files, d->st.bad_files, pkgs.n ? " and packages" : "",
                            d->st.entries, (int)min_words, (int)max_words, d->st.f_words,
                            d->st.f_format, d->st.f_markup, d->st.f_accel, d->st.f_multiline,
                            d->st.f_plural, d->st.f_context, d->st.bad_utf8);
        goto fail;
    }
    /* split */
    int8_t *split = malloc((size_t)nu);
    char **trs[2];
    trs[0] = malloc((size_t)nu * sizeof(char *));
    trs[1] = malloc((size_t)nu * sizeof(char *));
    if (!split || !trs[0] || !trs[1]) {
        free(split), free(trs[0]), free(trs[1]), free(ord);
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int ntr = 0;
    for (int i = 0; i < nu; i++) {
        double u = (double)(fnv1a(c.en.v[ord[i]], (uint64_t)split_seed) >> 11) * (1.0 / 9007199254740992.0);
        split[i] = u < ftrain ? MVAE_SPLIT_TRAIN : u < ftrain + fvalid ? MVAE_SPLIT_VALID : MVAE_SPLIT_TEST;
        if (split[i] == MVAE_SPLIT_TRAIN) trs[0][ntr] = c.en.v[ord[i]], trs[1][ntr++] = c.tr.v[ord[i]];
    }
    int vrc = voc_build(&d->voc[0], trs[0], ntr, (int)min_count, (int)max_vocab) ||
              voc_build(&d->voc[1], trs[1], ntr, (int)min_count, (int)max_vocab);
    free(trs[0]), free(trs[1]);
    if (vrc) { free(split), free(ord); rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory"); goto fail; }
    /* encode */
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 2; k++) {
            d->tok[s][k] = malloc((size_t)nu * (size_t)max_len * sizeof(int32_t));
            if (!d->tok[s][k]) { free(split), free(ord); rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory"); goto fail; }
        }
    for (int i = 0; i < nu; i++) {
        int s = split[i];
        int64_t j = d->n_split[s];
        int32_t *a = d->tok[s][0] + j * max_len, *b = d->tok[s][1] + j * max_len;
        if (encode(&d->voc[0], c.en.v[ord[i]], a, (int)max_len) < 0 || encode(&d->voc[1], c.tr.v[ord[i]], b, (int)max_len) < 0) {
            d->st.too_long++;
            continue;
        }
        d->n_split[s]++;
    }
    free(split);
    free(ord);
    MVAE_INFO("translation: en-%s: %d catalogs (%d malformed skipped), %d entries, %d strings with "
              "invalid UTF-8 skipped, %d pairs kept (%d duplicates, %d longer than max_len), "
              "train/valid/test %lld/%lld/%lld, vocab en %d / %s %d",
              d->lang, d->st.files, d->st.bad_files, d->st.entries, d->st.bad_utf8, nu, d->st.dup,
              d->st.too_long, (long long)d->n_split[0], (long long)d->n_split[2],
              (long long)d->n_split[1], d->voc[0].n, d->lang, d->voc[1].n);
    for (int k = 0; k < 2; k++) {
        mvae_modality_info *m = &d->mod[k];
        snprintf(m->name, sizeof m->name, "%s", k == 0 ? "en" : d->lang);
        m->type = MVAE_MOD_TOKENS;
        m->ndim = 1;
        m->shape[0] = max_len;
        m->n_classes = d->voc[k].n;
        m->class_names = (const char *const *)d->voc[k].words;
    }
    sv_free(&dirs), sv_free(&pkgs), sv_free(&files), sv_free(&c.en), sv_free(&c.tr);
    *self = d;
    return MVAE_OK;
fail:
    sv_free(&dirs), sv_free(&pkgs), sv_free(&files), sv_free(&c.en), sv_free(&c.tr);
    tr_close(d);
    return rc ? rc : MVAE_ERR_INVALID;
}

static int tr_n_modalities(void *self) { (void)self; return 2; }
static const mvae_modality_info *tr_modality(void *self, int m) { return &((tr_ds *)self)->mod[m]; }
static int64_t tr_size(void *self, int split) {
    tr_ds *d = self;
    return (split >= 0 && split < 3) ? d->n_split[split] : 0;
}
static int tr_get_batch(void *self, int split, const int64_t *idx, int n, float **out,
                        uint8_t *present, mvae_error *err) {
    tr_ds *d = self;
    if (split < 0 || split > 2) return mvae_error_set(err, MVAE_ERR_INVALID, "translation: bad split %d", split);
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= d->n_split[split])
            return mvae_error_set(err, MVAE_ERR_INVALID, "translation: index %lld out of range", (long long)idx[i]);
        for (int k = 0; k < 2; k++) {
            if (!out[k]) continue;
            memcpy((int32_t *)(void *)out[k] + (size_t)i * (size_t)d->max_len,
                   d->tok[split][k] + idx[i] * d->max_len, (size_t)d->max_len * sizeof(int32_t));
            present[i * 2 + k] = 1;
        }
    }
    return MVAE_OK;
}

static const char *const lang_choices[] = {"vi", "fr", "de", NULL};
static const mvae_dataset_vtable vt = {.open = tr_open, .close = tr_close, .n_modalities = tr_n_modalities,
                                       .modality = tr_modality, .size = tr_size, .get_batch = tr_get_batch};
static const mvae_option opts[] = {
    {"lang", MVAE_OPT_STRING, "vi", "target language: the second modality's name", NULL, false, lang_choices, NULL},
    {"mo_dirs", MVAE_OPT_STRING_LIST, "[/usr/share/locale]", "directories searched recursively for <lang>/LC_MESSAGES/*.mo", NULL, false, NULL, NULL},
    {"packages", MVAE_OPT_STRING_LIST, "[]", "Debian packages fetched with apt-get download into cache_dir (needs the archive)", NULL, false, NULL, NULL},
    {"cache_dir", MVAE_OPT_STRING, "", "download/unpack cache (empty = $HOME/.cache/mvae/translation)", NULL, false, NULL, NULL},
    {"min_words", MVAE_OPT_INT, "3", "fewest English words per message", NULL, false, NULL, "[1, 10000]"},
    {"max_words", MVAE_OPT_INT, "30", "most English words per message", NULL, false, NULL, "[1, 10000]"},
    {"max_len", MVAE_OPT_INT, "40", "tokens per sentence incl. <eos>; longer pairs are dropped", NULL, false, NULL, "[2, 10000]"},
    {"min_count", MVAE_OPT_INT, "2", "vocabulary: fewest training occurrences of a word", NULL, false, NULL, "[1, inf)"},
    {"max_vocab", MVAE_OPT_INT, "10000", "vocabulary: most entries incl. <unk> <bos> <eos> (0 = no limit)", NULL, false, NULL, "[0, 10000000]"},
    {"train_fraction", MVAE_OPT_FLOAT, "0.9", "share of pairs in the training split", NULL, false, NULL, "(0, 1]"},
    {"valid_fraction", MVAE_OPT_FLOAT, "0.05", "share in the validation split (the rest is test)", NULL, false, NULL, "[0, 1)"},
    {"split_seed", MVAE_OPT_INT, "1", "seeds the hash of the English side that assigns splits", NULL, false, NULL, NULL},
    {"max_pairs", MVAE_OPT_INT, "0", "keep at most this many pairs (0 = all)", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_DATASET, "translation", "1.0.0",
    "English-vi/fr/de sentence pairs from gettext .mo catalogs (token modalities)", &vt, opts);
MVAE_PLUGIN_DEFINE(dataset_translation, desc)
