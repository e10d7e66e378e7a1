/* fuzz_json — the JSON reader (metrics.json, runs.jsonl, a checkpoint's extra): mvae_json_parse
 * on the raw bytes (no NUL needed: the reader takes a length), then every accessor the report
 * uses on the tree it returns. Input: the JSON text. */
#include "fuzz_util.h"
#include "mvae/json.h"

#include <math.h>

static void count_leaf(const char *path, double value, void *user) {
    (void)value;
    *(size_t *)user += strlen(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mvae_json *j = NULL;
    mvae_error err = {0};
    if (mvae_json_parse((const char *)data, size, "fuzz.json", &j, &err) == MVAE_OK) {
        size_t total = 0;
        mvae_json_leaves(j, count_leaf, &total);
        (void)mvae_json_number_or(j, "elbo", NAN);
        (void)mvae_json_string_or(j, "name", NULL);
        const mvae_json *t = mvae_json_get(j, "test");
        (void)mvae_json_number_or(t, "elbo", 0.0);
        if (j->type == MVAE_JSON_OBJECT || j->type == MVAE_JSON_ARRAY)
            for (int i = 0; i < j->n_items; i++)
                if (j->items[i]->key) (void)mvae_json_get(j, j->items[i]->key);
    }
    mvae_json_free(j);
    return 0;
}
