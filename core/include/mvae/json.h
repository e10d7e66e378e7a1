/* mvae/json.h — a small JSON reader (for metrics.json, runs.jsonl and the report).
 *
 *   mvae_json *j;
 *   if (mvae_json_parse_file("run/metrics.json", &j, &err)) { puts(err.msg); ... }
 *   const mvae_json *e = mvae_json_get(mvae_json_get(j, "test"), "elbo");
 *   if (e && e->type == MVAE_JSON_NUMBER) printf("%g\n", e->number);
 *   mvae_json_free(j);
 *
 * Full JSON (RFC 8259): objects (keys kept in file order; a repeated key keeps both entries and
 * mvae_json_get returns the first), arrays, numbers, strings with every escape (\uXXXX and
 * surrogate pairs become UTF-8), true, false, null. One extension: the bare words nan, inf,
 * -inf, NaN, Infinity, -Infinity are read as numbers, because printf("%f") writes them for
 * non-finite values. Errors read "NAME:LINE:COL: expected ',' or '}' in an object". Nesting is
 * limited to 200 levels.
 */
#ifndef MVAE_JSON_H
#define MVAE_JSON_H
#include "mvae/common.h"
#include <stdbool.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MVAE_JSON_NULL = 0,
    MVAE_JSON_BOOL,
    MVAE_JSON_NUMBER,
    MVAE_JSON_STRING,
    MVAE_JSON_ARRAY,
    MVAE_JSON_OBJECT,
} mvae_json_type;

typedef struct mvae_json mvae_json;
struct mvae_json {
    int type;          /* mvae_json_type */
    bool boolean;      /* BOOL */
    double number;     /* NUMBER */
    char *string;      /* STRING: NUL-terminated UTF-8 (an escaped \u0000 ends it early) */
    size_t length;     /* STRING: bytes, including any \u0000 */
    char *key;         /* key in the parent object, NULL otherwise */
    mvae_json **items; /* ARRAY items / OBJECT members in order */
    int n_items;
};

/* Parse one JSON value from text[0..len) (whitespace around it is allowed, anything else after
 * it is an error). `name` prefixes error messages (NULL: "<json>"). */
int mvae_json_parse(const char *text, size_t len, const char *name, mvae_json **out, mvae_error *err);
int mvae_json_parse_file(const char *path, mvae_json **out, mvae_error *err);
void mvae_json_free(mvae_json *j); /* NULL is a no-op */

/* Member of an object by key (NULL if j is not an object or has no such key). */
const mvae_json *mvae_json_get(const mvae_json *j, const char *key);
/* Number of a member, or `def` when it is missing, null or not a number. */
double mvae_json_number_or(const mvae_json *j, const char *key, double def);
/* String of a member, or `def`. */
const char *mvae_json_string_or(const mvae_json *j, const char *key, const char *def);

/* Visit every number (and null, reported as NaN) under j with its dotted path from j
 * ("test.log_p.image"); array items are named by index ("a.0"). */
typedef void (*mvae_json_leaf_fn)(const char *path, double value, void *user);
void mvae_json_leaves(const mvae_json *j, mvae_json_leaf_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
