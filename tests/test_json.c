/* test_json.c — the JSON reader: every value kind, escapes, nesting, the nan/inf extension,
 * errors with line:col, files, and the dotted-leaf walk used by `mvae report`. */
#include "mvae_test.h"

#include "mvae/json.h"

static mvae_json *parse_ok(const char *s) {
    mvae_json *j = NULL;
    mvae_error err = {0};
    int rc = mvae_json_parse(s, strlen(s), "t.json", &j, &err);
    if (rc) fprintf(stderr, "unexpected error: %s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_non_null(j);
    return j;
}

static void parse_fails(const char *s, const char *needle) {
    mvae_json *j = NULL;
    mvae_error err = {0};
    assert_int_equal(mvae_json_parse(s, strlen(s), "t.json", &j, &err), MVAE_ERR_FORMAT);
    assert_null(j);
    if (!strstr(err.msg, needle)) fprintf(stderr, "message: %s\nexpected: %s\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
}

static void test_values(void **state) {
    (void)state;
    mvae_json *j = parse_ok(" {\"a\": 1, \"b\": -2.5e3, \"c\": [true, false, null, \"x\"], \"d\": {}, \"e\": [], \"f\": 0.125}\n");
    assert_int_equal(j->type, MVAE_JSON_OBJECT);
    assert_int_equal(j->n_items, 6);
    assert_string_equal(j->items[0]->key, "a"); /* file order */
    assert_string_equal(j->items[5]->key, "f");
    assert_true(mvae_json_number_or(j, "a", 0) == 1.0);
    assert_true(mvae_json_number_or(j, "b", 0) == -2500.0);
    assert_true(mvae_json_number_or(j, "f", 0) == 0.125);
    assert_true(mvae_json_number_or(j, "zz", 7) == 7.0);
    assert_true(mvae_json_number_or(j, "c", 7) == 7.0); /* not a number */
    const mvae_json *c = mvae_json_get(j, "c");
    assert_int_equal(c->type, MVAE_JSON_ARRAY);
    assert_int_equal(c->n_items, 4);
    assert_int_equal(c->items[0]->type, MVAE_JSON_BOOL);
    assert_true(c->items[0]->boolean);
    assert_false(c->items[1]->boolean);
    assert_int_equal(c->items[2]->type, MVAE_JSON_NULL);
    assert_string_equal(c->items[3]->string, "x");
    assert_int_equal(mvae_json_get(j, "d")->n_items, 0);
    assert_int_equal(mvae_json_get(j, "e")->type, MVAE_JSON_ARRAY);
    assert_null(mvae_json_get(c, "x")); /* not an object */
    mvae_json_free(j);
    /* scalars at the top */
    j = parse_ok("42");
    assert_true(j->number == 42);
    mvae_json_free(j);
    j = parse_ok("\"s\"");
    assert_string_equal(j->string, "s");
    mvae_json_free(j);
    mvae_json_free(NULL);
}

static void test_strings(void **state) {
    (void)state;
    mvae_json *j = parse_ok("[\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\", \"caf\xc3\xa9\"]");
    assert_string_equal(j->items[0]->string, "a\"b\\c/d\n\t\r\b\f");
    assert_string_equal(j->items[1]->string, "\xc3\xa9\xe2\x82\xac");
    assert_string_equal(j->items[2]->string, "\xf0\x9f\x98\x80");
    assert_int_equal(j->items[2]->length, 4);
    assert_string_equal(j->items[3]->string, "caf\xc3\xa9");
    mvae_json *k = parse_ok("{\"k\": \"v\"}");
    assert_string_equal(mvae_json_string_or(k, "k", NULL), "v");
    assert_null(mvae_json_string_or(k, "z", NULL));
    mvae_json_free(k);
    mvae_json_free(j);
}

static void test_numbers_and_extension(void **state) {
    (void)state;
    mvae_json *j = parse_ok("[0, -0, 1e2, 1E-2, 3.25, -7, nan, -inf, inf, NaN, Infinity, -Infinity, 1e999]");
    assert_true(j->items[0]->number == 0);
    assert_true(j->items[2]->number == 100);
    assert_true(fabs(j->items[3]->number - 0.01) < 1e-15);
    assert_true(j->items[4]->number == 3.25);
    assert_true(isnan(j->items[6]->number));
    assert_true(isinf(j->items[7]->number) && j->items[7]->number < 0);
    assert_true(isinf(j->items[8]->number) && j->items[8]->number > 0);
    assert_true(isnan(j->items[9]->number));
    assert_true(isinf(j->items[10]->number));
    assert_true(isinf(j->items[11]->number) && j->items[11]->number < 0);
    assert_true(isinf(j->items[12]->number));
    mvae_json_free(j);
}

static void test_errors(void **state) {
    (void)state;
    parse_fails("{\"a\": 1,}", "t.json:1:9: expected a string key");
    parse_fails("{\"a\" 1}", "expected ':'");
    parse_fails("[1 2]", "1:4: expected ',' or ']'");
    parse_fails("{\"a\": 1\n  \"b\": 2}", "t.json:2:3: expected ',' or '}'");
    parse_fails("[01]", "expected ',' or ']'");
    parse_fails("[1.]", "expected a digit after '.'");
    parse_fails("[1e]", "exponent");
    parse_fails("\"abc", "unterminated string");
    parse_fails("\"a\x01\"", "control character");
    parse_fails("\"\\x\"", "unknown escape");
    parse_fails("\"\\u12\"", "4 hex digits");
    parse_fails("\"\\ud800x\"", "unpaired surrogate");
    parse_fails("[tru]", "expected a value");
    parse_fails("nulls", "expected a value");
    parse_fails("{} {}", "unexpected text after");
    parse_fails("", "unexpected end of input");
    parse_fails("[", "unexpected end of input");
    char deep[1000];
    memset(deep, '[', 500);
    deep[500] = '\0';
    parse_fails(deep, "nesting deeper than 200");
}

typedef struct leaves_seen {
    int n;
    char path[16][64];
    double v[16];
} leaves_seen;

static void on_leaf(const char *path, double v, void *user) {
    leaves_seen *s = user;
    if (s->n < 16) {
        snprintf(s->path[s->n], sizeof s->path[0], "%s", path);
        s->v[s->n++] = v;
    }
}

static void test_file_and_leaves(void **state) {
    (void)state;
    const char *path = "/tmp/mvae_test_json.json";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n  \"test\": {\n    \"elbo\": -100.5,\n    \"log_p\": {\"image\": -80.25, \"image|label\": -70},\n"
          "    \"name\": \"x\", \"flag\": true, \"list\": [1, 2]\n  },\n  \"train\": {\"samples_per_sec\": null}\n}\n", f);
    fclose(f);
    mvae_json *j;
    mvae_error err = {0};
    assert_int_equal(mvae_json_parse_file(path, &j, &err), MVAE_OK);
    leaves_seen s = {0};
    mvae_json_leaves(j, on_leaf, &s);
    assert_int_equal(s.n, 6);
    assert_string_equal(s.path[0], "test.elbo");
    assert_true(s.v[0] == -100.5);
    assert_string_equal(s.path[2], "test.log_p.image|label");
    assert_string_equal(s.path[3], "test.list.0");
    assert_string_equal(s.path[5], "train.samples_per_sec");
    assert_true(isnan(s.v[5]));
    mvae_json_free(j);
    remove(path);
    assert_int_equal(mvae_json_parse_file("/tmp/no/such/file.json", &j, &err), MVAE_ERR_IO);
    assert_non_null(strstr(err.msg, "/tmp/no/such/file.json"));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers_and_extension),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_file_and_leaves),
    };
    return mvae_test_run("json", tests, argc, argv);
}
