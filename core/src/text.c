/* text.c — UTF-8 checks, the shared tokeniser, detokeniser and corpus BLEU. */
#include "mvae/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool mvae_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        if (i + (size_t)len > n) return false;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += (size_t)len;
    }
    return true;
}

/* decode one code point (input assumed valid; invalid bytes come back as U+FFFD, 1 byte) */
static uint32_t next_cp(const unsigned char *s, size_t *i) {
    unsigned c = s[*i];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!len) { (*i)++; return 0xFFFD; }
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) { (*i)++; return 0xFFFD; }
        cp = (cp << 6) | (s[*i + k] & 0x3F);
    }
    *i += (size_t)len;
    return cp;
}

static uint32_t lower_cp(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x137 && !(c & 1)) return c + 1;
    if (c >= 0x139 && c <= 0x148 && (c & 1)) return c + 1;
    if (c >= 0x14A && c <= 0x177 && !(c & 1)) return c + 1;
    if (c == 0x178) return 0xFF;
    if (c >= 0x179 && c <= 0x17E && (c & 1)) return c + 1;
    if (c == 0x1A0 || c == 0x1AF) return c + 1; /* Ơ Ư */
    if (c >= 0x1E00 && c <= 0x1EFF && !(c & 1)) return c + 1; /* Vietnamese, Latin Ext. Add. */
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32; /* Greek */
    if (c >= 0x410 && c <= 0x42F) return c + 32;                /* Cyrillic */
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

static bool is_word_cp(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c >= 0x2000 && c <= 0x206F) return false; /* general punctuation: quotes, dashes, ... */
    if (c == 0xA0 || c == 0xAB || c == 0xBB || c == 0xB7 || c == 0xBF || c == 0xA1) return false;
    return true;
}

static bool is_space_cp(uint32_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0xA0 ||
           (c >= 0x2000 && c <= 0x200B) || c == 0x3000;
}

static size_t put_cp(char *o, uint32_t c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F)); o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

int mvae_text_tokenize(const char *text, char *buf, size_t cap, const char **tok, int max_tok) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, o = 0, n = strlen(text);
    int nt = 0;
    bool in_word = false;
    while (i < n) {
        uint32_t c = next_cp(s, &i);
        if (is_space_cp(c)) {
            if (in_word) { if (o + 1 > cap) return -1; buf[o++] = '\0'; in_word = false; }
            continue;
        }
        bool w = is_word_cp(c);
        if (in_word && !w) { if (o + 1 > cap) return -1; buf[o++] = '\0'; in_word = false; }
        if (!in_word) {
            if (nt < max_tok) tok[nt] = buf + o;
            nt++;
        }
        if (o + 5 > cap) return -1;
        o += put_cp(buf + o, lower_cp(c));
        if (w) in_word = true;
        else buf[o++] = '\0';
    }
    if (in_word) { if (o + 1 > cap) return -1; buf[o++] = '\0'; }
    return nt < max_tok ? nt : max_tok;
}

void mvae_text_detokenize(const char *const *tok, int n, char *out, size_t cap) {
    size_t o = 0;
    if (!cap) return;
    out[0] = '\0';
    bool glue_next = true; /* no space before the first token */
    for (int i = 0; i < n; i++) {
        const char *t = tok[i];
        bool closing = strlen(t) == 1 && strchr(".,:;!?)]'", t[0]);
        if (!glue_next && !closing && o + 1 < cap) out[o++] = ' ';
        size_t l = strlen(t);
        if (o + l >= cap) break;
        memcpy(out + o, t, l);
        o += l;
        glue_next = strlen(t) == 1 && strchr("([/'", t[0]);
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* ---- BLEU ---- */
void mvae_bleu_init(mvae_bleu *b, int max_n) {
    memset(b, 0, sizeof *b);
    b->max_n = max_n < 1 ? 1 : max_n > 8 ? 8 : max_n;
}

static bool ngram_eq(const int32_t *a, const int32_t *b, int n) {
    for (int k = 0; k < n; k++)
        if (a[k] != b[k]) return false;
    return true;
}

void mvae_bleu_add(mvae_bleu *b, const int32_t *cand, int nc, const int32_t *ref, int nr) {
    b->cand_len += nc;
    b->ref_len += nr;
    /* clipped counts: each candidate n-gram matches at most as many times as it occurs in the
     * reference. Sentences are short (<= a few dozen tokens): quadratic counting is fine. */
    for (int n = 1; n <= b->max_n; n++) {
        if (nc < n) continue;
        b->total[n - 1] += nc - n + 1;
        for (int i = 0; i + n <= nc; i++) {
            bool seen = false; /* count each distinct n-gram once, at its first occurrence */
            for (int j = 0; j < i && !seen; j++) seen = ngram_eq(cand + i, cand + j, n);
            if (seen) continue;
            int cc = 0, rc = 0;
            for (int j = i; j + n <= nc; j++) cc += ngram_eq(cand + i, cand + j, n);
            for (int j = 0; j + n <= nr; j++) rc += ngram_eq(cand + i, ref + j, n);
            b->match[n - 1] += cc < rc ? cc : rc;
        }
    }
}

double mvae_bleu_score(const mvae_bleu *b) {
    if (b->cand_len <= 0) return 0.0;
    double logp = 0;
    for (int n = 0; n < b->max_n; n++) {
        if (b->total[n] <= 0 || b->match[n] <= 0) return 0.0;
        logp += log(b->match[n] / b->total[n]);
    }
    logp /= b->max_n;
    double bp = b->cand_len < b->ref_len ? 1.0 - b->ref_len / b->cand_len : 0.0;
    return exp(logp + bp);
}
