/* json.c — a small recursive-descent JSON reader (see mvae/json.h). */
#define _GNU_SOURCE
#include "mvae/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 200

typedef struct jp {
    const char *s, *end, *p;
    const char *name;
    mvae_error *err;
    int depth;
} jp;

static int jp_fail(jp *j, const char *what) {
    int line = 1, col = 1;
    for (const char *q = j->s; q < j->p && q < j->end; q++) {
        if (*q == '\n') line++, col = 1;
        else col++;
    }
    return mvae_error_set(j->err, MVAE_ERR_FORMAT, "%s:%d:%d: %s", j->name, line, col, what);
}

static void skip_ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static bool match_word(jp *j, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return false;
    /* the word must end here (no "nullx") */
    if (j->p + n < j->end) {
        char c = j->p[n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') return false;
    }
    j->p += n;
    return true;
}

static mvae_json *node_new(int type) {
    mvae_json *n = calloc(1, sizeof *n);
    if (n) n->type = type;
    return n;
}

void mvae_json_free(mvae_json *j) {
    if (!j) return;
    for (int i = 0; i < j->n_items; i++) mvae_json_free(j->items[i]);
    free(j->items);
    free(j->string);
    free(j->key);
    free(j);
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* at the opening quote; *out malloc'd */
static int parse_string(jp *j, char **out, size_t *len) {
    j->p++; /* '"' */
    /* the decoded string is never longer than the source */
    const char *q = j->p;
    while (q < j->end && *q != '"') q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    if (q >= j->end) return jp_fail(j, "unterminated string");
    char *buf = malloc((size_t)(q - j->p) + 1), *o = buf;
    if (!buf) return mvae_error_set(j->err, MVAE_ERR_NOMEM, "out of memory");
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) { free(buf); return jp_fail(j, "control character in a string (escape it)"); }
        if (c != '\\') { *o++ = (char)c; j->p++; continue; }
        j->p++;
        char e = *j->p;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (j->end - j->p < 5 || hex4(j->p + 1, &cp)) { free(buf); return jp_fail(j, "bad \\u escape (need 4 hex digits)"); }
            j->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* high surrogate: a low one must follow */
                unsigned lo;
                if (j->end - j->p < 7 || j->p[1] != '\\' || j->p[2] != 'u' || hex4(j->p + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf);
                    return jp_fail(j, "unpaired surrogate in a \\u escape");
                }
                j->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(buf);
                return jp_fail(j, "unpaired surrogate in a \\u escape");
            }
            o += put_utf8(o, cp); /* <= 6 source bytes -> <= 4 bytes; a pair: 12 -> 4 */
            break;
        }
        default: free(buf); return jp_fail(j, "unknown escape in a string");
        }
        j->p++;
    }
    j->p++; /* closing quote */
    *o = '\0';
    *len = (size_t)(o - buf);
    *out = buf;
    return MVAE_OK;
}

static int parse_number(jp *j, double *out) {
    const char *st = j->p, *q = j->p;
    if (q < j->end && *q == '-') q++;
    if (q < j->end && (*q == 'n' || *q == 'N' || *q == 'i' || *q == 'I')) { /* nan / inf extension */
        j->p = q;
        bool neg = q > st;
        if (!neg && (match_word(j, "nan") || match_word(j, "NaN"))) { *out = NAN; return MVAE_OK; }
        if (match_word(j, "inf") || match_word(j, "Infinity")) { *out = neg ? -INFINITY : INFINITY; return MVAE_OK; }
        j->p = st;
        return jp_fail(j, "expected a value");
    }
    if (q >= j->end || !(*q >= '0' && *q <= '9')) return jp_fail(j, "expected a value");
    if (*q == '0') q++;
    else while (q < j->end && *q >= '0' && *q <= '9') q++;
    if (q < j->end && *q == '.') {
        q++;
        if (q >= j->end || !(*q >= '0' && *q <= '9')) { j->p = q; return jp_fail(j, "expected a digit after '.'"); }
        while (q < j->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < j->end && (*q == '+' || *q == '-')) q++;
        if (q >= j->end || !(*q >= '0' && *q <= '9')) { j->p = q; return jp_fail(j, "expected a digit in the exponent"); }
        while (q < j->end && *q >= '0' && *q <= '9') q++;
    }
    char tmp[64];
    size_t n = (size_t)(q - st);
    char *buf = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!buf) return mvae_error_set(j->err, MVAE_ERR_NOMEM, "out of memory");
    memcpy(buf, st, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL); /* overflow gives +-HUGE_VAL, as JSON readers usually do */
    if (buf != tmp) free(buf);
    j->p = q;
    return MVAE_OK;
}

static int add_item(mvae_json *parent, mvae_json *child, mvae_error *err) {
    if ((parent->n_items & (parent->n_items - 1)) == 0) { /* grow at powers of two */
        int cap = parent->n_items ? parent->n_items * 2 : 4;
        mvae_json **it = realloc(parent->items, (size_t)cap * sizeof *it);
        if (!it) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        parent->items = it;
    }
    parent->items[parent->n_items++] = child;
    return MVAE_OK;
}

static int parse_value(jp *j, mvae_json **out) {
    *out = NULL;
    skip_ws(j);
    if (j->p >= j->end) return jp_fail(j, "unexpected end of input (expected a value)");
    char c = *j->p;
    mvae_json *n = NULL;
    int rc = MVAE_OK;
    if (c == '{' || c == '[') {
        if (++j->depth > JSON_MAX_DEPTH) return jp_fail(j, "nesting deeper than 200 levels");
        bool obj = c == '{';
        char close = obj ? '}' : ']';
        n = node_new(obj ? MVAE_JSON_OBJECT : MVAE_JSON_ARRAY);
        if (!n) return mvae_error_set(j->err, MVAE_ERR_NOMEM, "out of memory");
        j->p++;
        skip_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
        } else {
            for (;;) {
                char *key = NULL;
                size_t klen;
                skip_ws(j);
                if (obj) {
                    if (j->p >= j->end || *j->p != '"') { rc = jp_fail(j, "expected a string key in an object"); break; }
                    if ((rc = parse_string(j, &key, &klen))) break;
                    skip_ws(j);
                    if (j->p >= j->end || *j->p != ':') { free(key); rc = jp_fail(j, "expected ':' after a key"); break; }
                    j->p++;
                }
                mvae_json *child;
                if ((rc = parse_value(j, &child))) { free(key); break; }
                child->key = key;
                if ((rc = add_item(n, child, j->err))) { mvae_json_free(child); break; }
                skip_ws(j);
                if (j->p < j->end && *j->p == ',') { j->p++; continue; }
                if (j->p < j->end && *j->p == close) { j->p++; break; }
                rc = jp_fail(j, obj ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
                break;
            }
        }
        j->depth--;
    } else if (c == '"') {
        n = node_new(MVAE_JSON_STRING);
        if (!n) return mvae_error_set(j->err, MVAE_ERR_NOMEM, "out of memory");
        rc = parse_string(j, &n->string, &n->length);
    } else if (match_word(j, "true") || match_word(j, "false")) {
        n = node_new(MVAE_JSON_BOOL);
        if (!n) return mvae_error_set(j->err, MVAE_ERR_NOMEM, "out of memory");
        n->boolean = j->p[-1] == 'e' && j->p[-2] == 'u';
    } else if (match_word(j, "null")) {
        n = node_new(MVAE_JSON_NULL);
        if (!n) return mvae_error_set(j->err, MVAE_ERR_NOMEM, "out of memory");
    } else {
        n = node_new(MVAE_JSON_NUMBER);
        if (!n) return mvae_error_set(j->err, MVAE_ERR_NOMEM, "out of memory");
        rc = parse_number(j, &n->number);
    }
    if (rc) {
        mvae_json_free(n);
        return rc;
    }
    *out = n;
    return MVAE_OK;
}

int mvae_json_parse(const char *text, size_t len, const char *name, mvae_json **out, mvae_error *err) {
    *out = NULL;
    if (!text) return mvae_error_set(err, MVAE_ERR_INVALID, "mvae_json_parse: text is NULL");
    jp j = {.s = text, .end = text + len, .p = text, .name = name ? name : "<json>", .err = err};
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) j.p += 3; /* UTF-8 byte-order mark */
    mvae_json *v;
    int rc = parse_value(&j, &v);
    if (rc) return rc;
    skip_ws(&j);
    if (j.p < j.end) {
        mvae_json_free(v);
        return jp_fail(&j, "unexpected text after the JSON value");
    }
    *out = v;
    return MVAE_OK;
}

int mvae_json_parse_file(const char *path, mvae_json **out, mvae_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return mvae_error_set(err, MVAE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *b2 = realloc(buf, cap * 2);
            if (!b2) { free(buf); buf = NULL; break; }
            buf = b2;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory reading '%s'", path);
    if (bad) { free(buf); return mvae_error_set(err, MVAE_ERR_IO, "cannot read '%s'", path); }
    int rc = mvae_json_parse(buf, n, path, out, err);
    free(buf);
    return rc;
}

const mvae_json *mvae_json_get(const mvae_json *j, const char *key) {
    if (!j || j->type != MVAE_JSON_OBJECT || !key) return NULL;
    for (int i = 0; i < j->n_items; i++)
        if (!strcmp(j->items[i]->key, key)) return j->items[i];
    return NULL;
}

double mvae_json_number_or(const mvae_json *j, const char *key, double def) {
    const mvae_json *v = mvae_json_get(j, key);
    return v && v->type == MVAE_JSON_NUMBER ? v->number : def;
}

const char *mvae_json_string_or(const mvae_json *j, const char *key, const char *def) {
    const mvae_json *v = mvae_json_get(j, key);
    return v && v->type == MVAE_JSON_STRING ? v->string : def;
}

static void leaves(const mvae_json *j, char *path, size_t len, size_t cap, mvae_json_leaf_fn fn, void *user) {
    if (j->type == MVAE_JSON_NUMBER || j->type == MVAE_JSON_NULL) {
        fn(path, j->type == MVAE_JSON_NUMBER ? j->number : NAN, user);
        return;
    }
    if (j->type != MVAE_JSON_OBJECT && j->type != MVAE_JSON_ARRAY) return;
    for (int i = 0; i < j->n_items; i++) {
        char idx[24];
        const char *part = j->type == MVAE_JSON_OBJECT ? j->items[i]->key : (snprintf(idx, sizeof idx, "%d", i), idx);
        int w = snprintf(path + len, cap - len, "%s%s", len ? "." : "", part);
        if (w < 0 || (size_t)w >= cap - len) continue; /* path too long: skip */
        leaves(j->items[i], path, len + (size_t)w, cap, fn, user);
        path[len] = '\0';
    }
}

void mvae_json_leaves(const mvae_json *j, mvae_json_leaf_fn fn, void *user) {
    if (!j || !fn) return;
    char path[1024] = "";
    leaves(j, path, 0, sizeof path, fn, user);
}
