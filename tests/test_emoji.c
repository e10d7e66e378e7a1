/* test_emoji.c — the emoji dataset: parsing a small generated emoji-test.txt (attributes, limit,
 * errors naming the Debian package), and — when fonts-noto-color-emoji and unicode-data are
 * installed — the rendered dataset (limit 50, 16x16): counts, shapes, value ranges, one-hot
 * attribute blocks, the seeded split, the cache, separate attribute modalities, a glyph that cannot
 * be rendered (skipped and counted). Linked with the plugin's static twin. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/interfaces.h"
#include "tiny_data.h"

#include <sys/stat.h>
#include <unistd.h>

#ifndef MVAE_NO_EMOJI
#include "emoji.h"
const mvae_plugin_desc *mvae_plugin_emoji(void);

#define FONT "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
#define LIST "/usr/share/unicode/emoji/emoji-test.txt"

static char g_dir[128];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mvae_test_emoji_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    tiny_rm_rf(g_dir);
    return 0;
}

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle)) fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

static const char *tiny_list =
    "# emoji-test.txt (a tiny look-alike)\n"
    "\n"
    "# group: Smileys & Emotion\n"
    "\n"
    "# subgroup: face-smiling\n"
    "1F600                                                  ; fully-qualified     # \xF0\x9F\x98\x80 E1.0 grinning face\n"
    "263A FE0F                                              ; fully-qualified     # x E0.6 smiling face\n"
    "263A                                                   ; unqualified         # x E0.6 smiling face\n"
    "\n"
    "# group: People & Body\n"
    "# subgroup: person\n"
    "1F468 1F3FD                                            ; fully-qualified     # x E1.0 man: medium skin tone\n"
    "1F469 200D 1F9B0                                       ; fully-qualified     # x E11.0 woman: red hair\n"
    "1F9D1 1F3FF 200D 1F9B2                                 ; fully-qualified     # x E12.1 person: dark skin tone, bald\n"
    "1F471 1F3FB                                            ; fully-qualified     # x E1.0 person: light skin tone, blond hair\n"
    "# subgroup: family\n"
    "1F46B                                                  ; fully-qualified     # x E0.6 woman and man holding hands\n"
    "\n"
    "# group: Component\n"
    "# subgroup: skin-tone\n"
    "1F3FB                                                  ; component           # x E1.0 light skin tone\n"
    "# group: Symbols\n"
    "# subgroup: other-symbol\n"
    "0041 200D 0042                                         ; fully-qualified     # x E0.0 not an emoji at all\n"
    "#EOF\n";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_parse_tiny(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/emoji-test.txt", g_dir);
    write_file(path, tiny_list);
    emoji_list l;
    mvae_error err = {0};
    assert_int_equal(emoji_parse_file(path, 0, &l, &err), MVAE_OK);
    assert_int_equal(l.n, 8); /* the unqualified and component lines are left out */
    assert_int_equal(l.n_groups, 3); /* Component has no fully-qualified line */
    assert_string_equal(l.groups[0], "Smileys & Emotion");
    assert_string_equal(l.groups[2], "Symbols");
    assert_int_equal(l.n_subgroups, 4);
    assert_string_equal(l.subgroups[2], "family");
    assert_string_equal(l.e[0].name, "grinning face");
    assert_int_equal(l.e[0].n_cp, 1);
    assert_int_equal(l.e[0].cp[0], 0x1F600);
    assert_int_equal(l.e[1].n_cp, 2);
    const emoji_entry *man = &l.e[2], *red = &l.e[3], *bald = &l.e[4], *blond = &l.e[5], *hands = &l.e[6];
    assert_string_equal(man->name, "man: medium skin tone");
    assert_int_equal(man->group, 1);
    assert_int_equal(man->subgroup, 1);
    assert_int_equal(man->skin, 3);
    assert_int_equal(man->gender, 1);
    assert_int_equal(man->hair, 0);
    assert_int_equal(red->skin, 0);
    assert_int_equal(red->gender, 2);
    assert_int_equal(red->hair, 1);
    assert_int_equal(bald->skin, 5);
    assert_int_equal(bald->gender, 0);
    assert_int_equal(bald->hair, 4);
    assert_int_equal(blond->skin, 1);
    assert_int_equal(blond->hair, 5);
    assert_int_equal(hands->gender, 3);
    assert_int_equal(l.e[0].gender, 0);
    /* the attribute vector: five one-hot blocks */
    int s[EMOJI_N_BLOCKS + 1];
    int K = emoji_attr_layout(&l, s);
    assert_int_equal(K, 3 + 4 + EMOJI_N_SKIN + EMOJI_N_GENDER + EMOJI_N_HAIR);
    float v[64];
    emoji_attr_vector(&l, man, v);
    for (int b = 0; b < EMOJI_N_BLOCKS; b++) {
        float sum = 0;
        for (int k = s[b]; k < s[b + 1]; k++) sum += v[k];
        assert_float_equal(sum, 1.0f, 0);
    }
    assert_float_equal(v[s[0] + 1], 1, 0);
    assert_float_equal(v[s[2] + 3], 1, 0);
    assert_float_equal(v[s[3] + 1], 1, 0);
    emoji_list_free(&l);
    /* limit */
    assert_int_equal(emoji_parse_file(path, 3, &l, &err), MVAE_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.n_groups, 2);
    emoji_list_free(&l);
    /* a missing file names the package; a file that is not the list says so */
    assert_int_not_equal(emoji_parse_file("/nonexistent/emoji-test.txt", 0, &l, &err), MVAE_OK);
    assert_has(err.msg, "unicode-data");
    memset(&err, 0, sizeof err);
    write_file(path, "hello\nworld\n");
    assert_int_not_equal(emoji_parse_file(path, 0, &l, &err), MVAE_OK);
    assert_has(err.msg, "no fully-qualified");
    memset(&err, 0, sizeof err);
    write_file(path, "ZZZZ ; fully-qualified # x E1.0 bad\n");
    assert_int_not_equal(emoji_parse_file(path, 0, &l, &err), MVAE_OK);
    assert_has(err.msg, ":1: cannot read the code points");
}

/* open the dataset through the plugin's vtable with options from YAML */
static int open_ds(const char *yaml, void **self, mvae_cfg **cfg, mvae_error *err) {
    memset(err, 0, sizeof *err);
    const mvae_plugin_desc *d = mvae_plugin_emoji();
    assert_int_equal(mvae_cfg_load_string(yaml, "emoji.yaml", cfg, err), MVAE_OK);
    static const char *const extra[] = {"plugin", NULL};
    int rc = mvae_cfg_validate(*cfg, mvae_cfg_root(*cfg), d->options, "dataset", extra, err);
    if (!rc) rc = ((const mvae_dataset_vtable *)d->vtable)->open(mvae_cfg_root(*cfg), self, err);
    return rc;
}

static void test_missing_files(void **state) {
    (void)state;
    void *self;
    mvae_cfg *cfg;
    mvae_error err;
    assert_int_not_equal(open_ds("{plugin: emoji, font: /nonexistent/Noto.ttf}", &self, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "apt-get install fonts-noto-color-emoji");
    mvae_cfg_free(cfg);
    assert_int_not_equal(open_ds("{plugin: emoji, font: /dev/null, emoji_test: /nonexistent/e.txt}", &self, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "apt-get install unicode-data");
    mvae_cfg_free(cfg);
}

static bool installed(void) {
    struct stat st;
    return stat(FONT, &st) == 0 && stat(LIST, &st) == 0;
}

static void check_dataset(void *self, bool separate, int S) {
    const mvae_dataset_vtable *vt = mvae_plugin_emoji()->vtable;
    int M = vt->n_modalities(self);
    assert_int_equal(M, separate ? 7 : 3);
    const mvae_modality_info *im = vt->modality(self, 0), *al = vt->modality(self, 1);
    assert_string_equal(im->name, "image");
    assert_int_equal(im->shape[0], 3);
    assert_int_equal(im->shape[1], S);
    assert_int_equal(im->shape[2], S);
    assert_string_equal(al->name, "alpha");
    assert_int_equal(al->shape[0], 1);
    int64_t ntr = vt->size(self, MVAE_SPLIT_TRAIN), nte = vt->size(self, MVAE_SPLIT_TEST);
    assert_int_equal(ntr + nte + mvae_emoji_skipped(self), 50);
    assert_int_equal(nte, 5);
    assert_int_equal(vt->size(self, MVAE_SPLIT_VALID), 0);
    float *out[8];
    int64_t idx[64];
    for (int i = 0; i < ntr; i++) idx[i] = i;
    for (int m = 0; m < M; m++) out[m] = malloc((size_t)(ntr * mvae_modality_numel(vt->modality(self, m))) * sizeof(float));
    uint8_t *present = calloc((size_t)(ntr * M), 1);
    mvae_error err = {0};
    assert_int_equal(vt->get_batch(self, MVAE_SPLIT_TRAIN, idx, (int)ntr, out, present, &err), MVAE_OK);
    for (int64_t i = 0; i < ntr * M; i++) assert_int_equal(present[i], 1);
    double white = 0, fg = 0;
    for (int64_t i = 0; i < ntr * 3 * S * S; i++) {
        assert_true(out[0][i] >= 0 && out[0][i] <= 1);
        white += out[0][i] == 1.0f;
    }
    for (int64_t i = 0; i < ntr * S * S; i++) {
        assert_true(out[1][i] >= 0 && out[1][i] <= 1);
        fg += out[1][i] > 0.5f;
    }
    assert_true(white > 0.1 * ntr * 3 * S * S); /* composited on white */
    assert_true(fg > 0.2 * ntr * S * S);        /* and an emoji in the middle */
    if (!separate) {
        const mvae_modality_info *at = vt->modality(self, 2);
        assert_string_equal(at->name, "attributes");
        assert_int_equal(at->type, MVAE_MOD_BINARY);
        /* blocks: every sample has exactly one 1 in each of the 5 blocks, so the row sums to 5 and
         * the skin/gender/hair tail (16 entries) holds exactly 3 ones */
        int64_t K = at->shape[0];
        for (int64_t i = 0; i < ntr; i++) {
            float sum = 0, tail = 0;
            for (int64_t k = 0; k < K; k++) {
                float v = out[2][i * K + k];
                assert_true(v == 0.0f || v == 1.0f);
                sum += v;
                if (k >= K - (EMOJI_N_SKIN + EMOJI_N_GENDER + EMOJI_N_HAIR)) tail += v;
            }
            assert_float_equal(sum, 5.0f, 0);
            assert_float_equal(tail, 3.0f, 0);
        }
    } else {
        for (int m = 2; m < M; m++) {
            const mvae_modality_info *mi = vt->modality(self, m);
            assert_int_equal(mi->type, MVAE_MOD_CATEGORICAL);
            assert_non_null(mi->class_names);
            const int32_t *lab = (const int32_t *)(const void *)out[m];
            for (int64_t i = 0; i < ntr; i++) assert_true(lab[i] >= 0 && lab[i] < mi->n_classes);
        }
        assert_string_equal(vt->modality(self, 2)->name, "attr_group");
        assert_string_equal(vt->modality(self, 4)->name, "attr_skin_tone");
        assert_int_equal(vt->modality(self, 4)->n_classes, EMOJI_N_SKIN);
    }
    assert_non_null(mvae_emoji_caption(self, MVAE_SPLIT_TRAIN, 0));
    assert_null(mvae_emoji_caption(self, MVAE_SPLIT_TRAIN, ntr));
    /* out of range */
    idx[0] = ntr;
    assert_int_not_equal(vt->get_batch(self, MVAE_SPLIT_TRAIN, idx, 1, out, present, &err), MVAE_OK);
    for (int m = 0; m < M; m++) free(out[m]);
    free(present);
}

static void test_dataset(void **state) {
    (void)state;
    if (!installed()) {
        fprintf(stderr, "emoji: fonts-noto-color-emoji or unicode-data not installed: skipped\n");
        skip();
    }
    const mvae_dataset_vtable *vt = mvae_plugin_emoji()->vtable;
    char yaml[512], cache[300];
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    snprintf(yaml, sizeof yaml, "{plugin: emoji, size: 16, limit: 50, cache_dir: '%s'}", cache);
    void *self, *again;
    mvae_cfg *cfg, *cfg2;
    mvae_error err;
    int rc = open_ds(yaml, &self, &cfg, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    check_dataset(self, false, 16);
    /* the cache file exists; a second open reads it and gives the same samples */
    char cpath[400];
    snprintf(cpath, sizeof cpath, "%s/emoji_s16_n50.bin", cache);
    struct stat st;
    assert_int_equal(stat(cpath, &st), 0);
    assert_int_equal(open_ds(yaml, &again, &cfg2, &err), MVAE_OK);
    int64_t idx[5] = {0, 1, 2, 3, 4};
    float *a[3], *b[3];
    uint8_t pa[15], pb[15];
    for (int m = 0; m < 3; m++) {
        int64_t e = mvae_modality_numel(vt->modality(self, m)) * 5;
        a[m] = malloc((size_t)e * sizeof(float));
        b[m] = malloc((size_t)e * sizeof(float));
    }
    assert_int_equal(vt->get_batch(self, MVAE_SPLIT_TEST, idx, 5, a, pa, &err), MVAE_OK);
    assert_int_equal(vt->get_batch(again, MVAE_SPLIT_TEST, idx, 5, b, pb, &err), MVAE_OK);
    for (int m = 0; m < 3; m++)
        assert_memory_equal(a[m], b[m], (size_t)mvae_modality_numel(vt->modality(self, m)) * 5 * sizeof(float));
    for (int i = 0; i < 5; i++) assert_string_equal(mvae_emoji_caption(self, MVAE_SPLIT_TEST, i), mvae_emoji_caption(again, MVAE_SPLIT_TEST, i));
    vt->close(again);
    mvae_cfg_free(cfg2);
    /* a damaged cache is rebuilt, not trusted */
    FILE *f = fopen(cpath, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    fputc(0, f); /* one byte too many */
    fclose(f);
    assert_int_equal(open_ds(yaml, &again, &cfg2, &err), MVAE_OK);
    assert_int_equal(vt->get_batch(again, MVAE_SPLIT_TEST, idx, 5, b, pb, &err), MVAE_OK);
    assert_memory_equal(a[0], b[0], (size_t)mvae_modality_numel(vt->modality(self, 0)) * 5 * sizeof(float));
    vt->close(again);
    mvae_cfg_free(cfg2);
    /* another split seed gives another test split */
    char yaml2[600];
    snprintf(yaml2, sizeof yaml2, "{plugin: emoji, size: 16, limit: 50, cache_dir: '%s', seed: 7}", cache);
    assert_int_equal(open_ds(yaml2, &again, &cfg2, &err), MVAE_OK);
    int same = 0;
    for (int i = 0; i < 5; i++) same += strcmp(mvae_emoji_caption(self, MVAE_SPLIT_TEST, i), mvae_emoji_caption(again, MVAE_SPLIT_TEST, i)) == 0;
    assert_true(same < 5);
    vt->close(again);
    mvae_cfg_free(cfg2);
    for (int m = 0; m < 3; m++) {
        free(a[m]);
        free(b[m]);
    }
    vt->close(self);
    mvae_cfg_free(cfg);
    /* separate attribute modalities, no cache */
    assert_int_equal(open_ds("{plugin: emoji, size: 16, limit: 50, cache_dir: none, attributes: separate}", &self, &cfg, &err), MVAE_OK);
    check_dataset(self, true, 16);
    vt->close(self);
    mvae_cfg_free(cfg);
    /* bad options */
    assert_int_not_equal(open_ds("{plugin: emoji, size: 2}", &self, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "size");
    mvae_cfg_free(cfg);
    assert_int_not_equal(open_ds("{plugin: emoji, attributes: both}", &self, &cfg, &err), MVAE_OK);
    mvae_cfg_free(cfg);
}

/* The tiny list with the real font: 'A ZWJ B' is not in the font: skipped and counted. */
static void test_unrenderable(void **state) {
    (void)state;
    if (!installed()) skip();
    char path[256], yaml[600];
    snprintf(path, sizeof path, "%s/emoji-test.txt", g_dir);
    write_file(path, tiny_list);
    snprintf(yaml, sizeof yaml, "{plugin: emoji, size: 8, emoji_test: '%s', cache_dir: none, test_fraction: 0.25}", path);
    void *self;
    mvae_cfg *cfg;
    mvae_error err;
    int rc = open_ds(yaml, &self, &cfg, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    const mvae_dataset_vtable *vt = mvae_plugin_emoji()->vtable;
    assert_int_equal(mvae_emoji_skipped(self), 1);
    assert_int_equal(vt->size(self, MVAE_SPLIT_TRAIN) + vt->size(self, MVAE_SPLIT_TEST), 7);
    assert_int_equal(vt->size(self, MVAE_SPLIT_TEST), 2);
    vt->close(self);
    mvae_cfg_free(cfg);
    /* a file that is not a font */
    snprintf(yaml, sizeof yaml, "{plugin: emoji, font: '%s', emoji_test: '%s', cache_dir: none}", path, path);
    assert_int_not_equal(open_ds(yaml, &self, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "fonts-noto-color-emoji");
    mvae_cfg_free(cfg);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_tiny),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_unrenderable),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("emoji", tests, setup, teardown);
}
#else
static void test_not_built(void **state) {
    (void)state;
    fprintf(stderr, "emoji: the plugin was not built (libfreetype-dev / libharfbuzz-dev missing): skipped\n");
    skip();
}
int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_built)};
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("emoji", tests, NULL, NULL);
}
#endif
