/* test_emoji.c — the emoji dataset: parsing a small generated emoji-test.txt (attributes, limit,
 * errors naming the Debian package), the attribute columns' names and the selection of
 * attributes: each (order, defaults, unknown names with hints, duplicates, the limit), and — when
 * fonts-noto-color-emoji and unicode-data are installed — the rendered dataset (limit 50, 16x16):
 * counts, shapes, value ranges, one-hot attribute blocks, the seeded split, the cache, separate
 * attribute modalities, one modality per attribute (equal to the vector's columns), a glyph that
 * cannot be rendered (skipped and counted), and a short training of image + 18 attributes (19
 * modalities) with random subsets. Linked with the plugin's static twin. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/interfaces.h"
#include "mvae/model.h"
#include "mvae/train.h"
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

/* ------------------------------------------------------------------ attributes: each */
/* The selection of `yaml`'s select on the tiny list (no font needed). */
static int select_tiny(const emoji_list *l, const char *yaml, int *cols, int *n, mvae_error *err) {
    mvae_cfg *cfg;
    memset(err, 0, sizeof *err);
    assert_int_equal(mvae_cfg_load_string(yaml, "emoji.yaml", &cfg, err), MVAE_OK);
    int rc = emoji_attr_select(l, mvae_cfg_get(mvae_cfg_root(cfg), "select"), cols, n, err);
    mvae_cfg_free(cfg);
    return rc;
}

static void test_attr_names_and_select(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/emoji-test.txt", g_dir);
    write_file(path, tiny_list);
    emoji_list l;
    mvae_error err = {0};
    assert_int_equal(emoji_parse_file(path, 0, &l, &err), MVAE_OK);
    int s[EMOJI_N_BLOCKS + 1];
    int K = emoji_attr_layout(&l, s);
    /* the columns' names: the block, then the value lower-cased with '_' between words */
    char nm[64];
    const struct { int k; const char *name; } want[] = {
        {s[0] + 0, "group_smileys_emotion"}, {s[0] + 1, "group_people_body"}, {s[0] + 2, "group_symbols"},
        {s[1] + 0, "subgroup_face_smiling"}, {s[1] + 3, "subgroup_other_symbol"}, {s[2] + 0, "skin_tone_none"},
        {s[2] + 2, "skin_tone_medium_light"}, {s[2] + 5, "skin_tone_dark"}, {s[3] + 2, "gender_woman"},
        {s[3] + 3, "gender_mixed"}, {s[4] + 1, "hair_red"}, {s[4] + 5, "hair_blond"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(emoji_attr_name(&l, want[i].k, nm, sizeof nm), (int)strlen(want[i].name));
        assert_string_equal(nm, want[i].name);
    }
    /* every name is distinct, and each column's value is the vector's */
    for (int a = 0; a < K; a++) {
        char na[64], nb[64];
        emoji_attr_name(&l, a, na, sizeof na);
        for (int b = a + 1; b < K; b++) assert_string_not_equal(na, (emoji_attr_name(&l, b, nb, sizeof nb), nb));
    }
    for (int i = 0; i < l.n; i++) {
        float v[64];
        emoji_attr_vector(&l, &l.e[i], v);
        for (int k = 0; k < K; k++) assert_float_equal(emoji_attr_value(&l, &l.e[i], k), v[k], 0);
    }
    /* a selection keeps its order; a single name is a one-element list */
    int cols[EMOJI_MAX_SELECT], n = 0;
    assert_int_equal(select_tiny(&l, "select: [gender_woman, skin_tone_medium, group_people_body, hair_red]", cols, &n, &err), MVAE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(cols[0], s[3] + 2);
    assert_int_equal(cols[1], s[2] + 3);
    assert_int_equal(cols[2], s[0] + 1);
    assert_int_equal(cols[3], s[4] + 1);
    assert_int_equal(select_tiny(&l, "select: subgroup_family", cols, &n, &err), MVAE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cols[0], s[1] + 2);
    /* no select (or []): the defaults this list has, in the default order */
    int n_default = 0;
    for (int i = 0; i < EMOJI_N_DEFAULT_SELECT; i++)
        for (int k = 0; k < K; k++)
            n_default += strcmp(emoji_default_select[i], (emoji_attr_name(&l, k, nm, sizeof nm), nm)) == 0;
    assert_int_equal(n_default, 11); /* 3 groups + family + 5 skin tones + man, woman */
    assert_int_equal(select_tiny(&l, "select: []", cols, &n, &err), MVAE_OK);
    assert_int_equal(n, n_default);
    assert_int_equal(cols[0], s[0] + 0); /* group_smileys_emotion, the first default */
    emoji_attr_name(&l, cols[n - 1], nm, sizeof nm);
    assert_string_equal(nm, "gender_woman");
    assert_int_equal(select_tiny(&l, "other: 1", cols, &n, &err), MVAE_OK);
    assert_int_equal(n, n_default);
    /* an unknown name: the place, the nearest name, others close to it, how names are made */
    assert_int_not_equal(select_tiny(&l, "select: [gender_man, gender_women]", cols, &n, &err), MVAE_OK);
    assert_has(err.msg, "emoji.yaml:1:22: dataset.select[1]: no attribute 'gender_women'");
    assert_has(err.msg, "(did you mean 'gender_woman'?)");
    assert_has(err.msg, "also close: gender_none");
    assert_has(err.msg, "skin_tone_{none,light,medium_light,medium,medium_dark,dark}");
    assert_int_not_equal(select_tiny(&l, "select: [woman]", cols, &n, &err), MVAE_OK);
    assert_has(err.msg, "no attribute 'woman'; close: gender_woman");
    assert_int_not_equal(select_tiny(&l, "select: [womn]", cols, &n, &err), MVAE_OK); /* near a value */
    assert_has(err.msg, "no attribute 'womn'; close: gender_woman");
    assert_int_not_equal(select_tiny(&l, "select: [group_flags]", cols, &n, &err), MVAE_OK); /* not in this list */
    assert_has(err.msg, "no attribute 'group_flags'");
    assert_int_not_equal(select_tiny(&l, "select: [hair_red, skin_tone_dark, hair_red]", cols, &n, &err), MVAE_OK);
    assert_has(err.msg, "dataset.select[2]: 'hair_red' is listed twice");
    assert_int_not_equal(select_tiny(&l, "select: {gender_man: 1}", cols, &n, &err), MVAE_OK);
    assert_has(err.msg, "must be a list of attribute names");
    /* more attributes than a dataset may have modalities (image and alpha take two) */
    char many[2048] = "select: [";
    for (int i = 0; i <= EMOJI_MAX_SELECT; i++) {
        emoji_attr_name(&l, i % K, nm, sizeof nm);
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s%s", i ? ", " : "", nm);
    }
    strcat(many, "]");
    assert_int_not_equal(select_tiny(&l, many, cols, &n, &err), MVAE_OK);
    char expect[160];
    snprintf(expect, sizeof expect, "names %d attributes; at most %d", EMOJI_MAX_SELECT + 1, EMOJI_MAX_SELECT);
    assert_has(err.msg, expect);
    assert_int_equal(EMOJI_MAX_SELECT, MVAE_MAX_MODALITIES - 2);
    emoji_list_free(&l);

    /* through the plugin's options: the selection is checked before anything is rendered (so a
     * font that is not one does not matter here), and select needs attributes: each */
    void *self;
    mvae_cfg *cfg;
    char yaml[600];
    snprintf(yaml, sizeof yaml, "{plugin: emoji, font: /dev/null, emoji_test: '%s', attributes: each, select: [gender_wman]}", path);
    assert_int_not_equal(open_ds(yaml, &self, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "dataset.select[0]: no attribute 'gender_wman' (did you mean 'gender_man'?)");
    mvae_cfg_free(cfg);
    snprintf(yaml, sizeof yaml, "{plugin: emoji, font: /dev/null, emoji_test: '%s', select: [gender_man]}", path);
    assert_int_not_equal(open_ds(yaml, &self, &cfg, &err), MVAE_OK);
    assert_has(err.msg, "dataset.select picks attribute modalities for attributes: each (here attributes: vector)");
    mvae_cfg_free(cfg);
}

/* attributes: each with the real font: one [1] binary modality per selected column, named like it,
 * holding exactly the vector mode's column for every sample */
static void test_each_dataset(void **state) {
    (void)state;
    if (!installed()) skip();
    const mvae_dataset_vtable *vt = mvae_plugin_emoji()->vtable;
    char yaml[600], cache[300];
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    static const char *const sel[] = {"subgroup_face_affection", "group_smileys_emotion", "subgroup_face_smiling",
                                      "skin_tone_none", "gender_none", "hair_red", "subgroup_face_tongue"};
    const int n_sel = (int)(sizeof sel / sizeof sel[0]);
    snprintf(yaml, sizeof yaml, "{plugin: emoji, size: 16, limit: 50, cache_dir: '%s', attributes: each, select: [%s, %s, %s, %s, %s, %s, %s]}",
             cache, sel[0], sel[1], sel[2], sel[3], sel[4], sel[5], sel[6]);
    void *each, *vec;
    mvae_cfg *cfg_e, *cfg_v;
    mvae_error err;
    int rc = open_ds(yaml, &each, &cfg_e, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    snprintf(yaml, sizeof yaml, "{plugin: emoji, size: 16, limit: 50, cache_dir: '%s'}", cache);
    assert_int_equal(open_ds(yaml, &vec, &cfg_v, &err), MVAE_OK);
    assert_int_equal(vt->n_modalities(each), 2 + n_sel);
    for (int j = 0; j < n_sel; j++) {
        const mvae_modality_info *mi = vt->modality(each, 2 + j);
        assert_string_equal(mi->name, sel[j]);
        assert_int_equal(mi->type, MVAE_MOD_BINARY);
        assert_int_equal(mi->ndim, 1);
        assert_int_equal(mi->shape[0], 1);
    }
    /* the vector's columns by name, from the same list */
    emoji_list l;
    assert_int_equal(emoji_parse_file(LIST, 50, &l, &err), MVAE_OK);
    int K = emoji_attr_layout(&l, (int[EMOJI_N_BLOCKS + 1]){0});
    assert_int_equal(vt->modality(vec, 2)->shape[0], K);
    int col[8];
    for (int j = 0; j < n_sel; j++) {
        col[j] = -1;
        char nm[64];
        for (int k = 0; k < K; k++)
            if (strcmp((emoji_attr_name(&l, k, nm, sizeof nm), nm), sel[j]) == 0) col[j] = k;
        assert_true(col[j] >= 0);
    }
    emoji_list_free(&l);
    int64_t n = vt->size(each, MVAE_SPLIT_TRAIN), idx[64];
    assert_int_equal(n, vt->size(vec, MVAE_SPLIT_TRAIN));
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    float *oe[2 + 8], *ov[3];
    for (int m = 0; m < 2 + n_sel; m++) oe[m] = malloc((size_t)(n * mvae_modality_numel(vt->modality(each, m))) * sizeof(float));
    for (int m = 0; m < 3; m++) ov[m] = malloc((size_t)(n * mvae_modality_numel(vt->modality(vec, m))) * sizeof(float));
    uint8_t *pe = calloc((size_t)(n * (2 + n_sel)), 1), *pv = calloc((size_t)(n * 3), 1);
    assert_int_equal(vt->get_batch(each, MVAE_SPLIT_TRAIN, idx, (int)n, oe, pe, &err), MVAE_OK);
    assert_int_equal(vt->get_batch(vec, MVAE_SPLIT_TRAIN, idx, (int)n, ov, pv, &err), MVAE_OK);
    assert_memory_equal(oe[0], ov[0], (size_t)(n * 3 * 16 * 16) * sizeof(float)); /* same images */
    int varied = 0;
    for (int j = 0; j < n_sel; j++) {
        int ones = 0;
        for (int64_t i = 0; i < n; i++) {
            assert_float_equal(oe[2 + j][i], ov[2][i * K + col[j]], 0);
            assert_int_equal(pe[i * (2 + n_sel) + 2 + j], 1);
            ones += oe[2 + j][i] == 1.0f;
        }
        varied += ones > 0 && ones < n;
    }
    assert_true(varied >= 3); /* face-smiling / -affection / -tongue vary over the first 50 emoji */
    for (int m = 0; m < 2 + n_sel; m++) free(oe[m]);
    for (int m = 0; m < 3; m++) free(ov[m]);
    free(pe);
    free(pv);
    vt->close(each);
    vt->close(vec);
    mvae_cfg_free(cfg_e);
    mvae_cfg_free(cfg_v);
}

/* image + 18 single attributes (19 modalities), random subsets: the objective has joint + 19 + k
 * terms, training gives a finite, falling loss, metrics.jsonl reports the random subsets as one
 * term, and eval.cross has image -> each attribute and all attributes -> image. */
static void test_each_train(void **state) {
    (void)state;
    if (!installed()) skip();
    /* 18 columns that hold for some but not all of the first 300 emoji, spread over the blocks */
    enum { LIMIT = 300, N_ATTR = 18 };
    emoji_list l;
    mvae_error err = {0};
    assert_int_equal(emoji_parse_file(LIST, LIMIT, &l, &err), MVAE_OK);
    int s[EMOJI_N_BLOCKS + 1], K = emoji_attr_layout(&l, s), cand[256], nc = 0;
    for (int k = 0; k < K && nc < 256; k++) {
        int pos = 0;
        for (int i = 0; i < l.n; i++) pos += emoji_attr_value(&l, &l.e[i], k) > 0;
        if (pos > 0 && pos < l.n) cand[nc++] = k;
    }
    assert_true(nc >= N_ATTR);
    char names[N_ATTR][64], list[1200] = "", mods[8192] = "", cross[8192] = "";
    for (int j = 0; j < N_ATTR; j++) {
        emoji_attr_name(&l, cand[(int64_t)j * nc / N_ATTR], names[j], sizeof names[j]);
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? "," : "", names[j]);
        snprintf(mods + strlen(mods), sizeof mods - strlen(mods),
                 "  %s: {encoder: {plugin: mlp, hidden: [8]}, decoder: {plugin: mlp, hidden: [8]}, weight: 5.0}\n", names[j]);
        snprintf(cross + strlen(cross), sizeof cross - strlen(cross), "    - {from: image, to: %s, metric: f1}\n", names[j]);
    }
    emoji_list_free(&l);
    tiny_env *env = NULL;
    assert_int_equal(tiny_env_open((void **)&env, "emoji_each", 1, 1), 0);
    char *yaml = malloc(32768);
    snprintf(yaml, 32768,
             "name: each\nseed: 2\n"
             "dataset: {plugin: emoji, size: 8, limit: %d, cache_dir: '%s/cache', attributes: each, select: [%s]}\n"
             "latent_dim: 8\nmodalities:\n"
             "  image: {encoder: {plugin: mlp, hidden: [32]}, decoder: {plugin: mlp, hidden: [32]}}\n%s"
             "train: {epochs: 3, batch_size: 30, threads: 1, progress: none, optimizer: {adam: {lr: 3.0e-3}},\n"
             "        objective: {joint: true, unimodal: true, random_subsets: 3}}\n"
             "eval:\n  batch_size: 30\n  pictures: false\n"
             "  log_likelihood: {samples: 4, max_test: 10, terms: [image]}\n"
             "  cross:\n%s    - {from: \"%s\", to: image, metric: psnr}\n",
             LIMIT, g_dir, list, mods, cross, list);
    mvae_cfg *cfg;
    assert_int_equal(mvae_cfg_load_string(yaml, "each.yaml", &cfg, &err), MVAE_OK);
    free(yaml);
    mvae_model *m = NULL;
    int rc = mvae_model_build(cfg, env->reg, &m, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(m->n_mod, 1 + N_ATTR);
    for (int j = 0; j < N_ATTR; j++) assert_string_equal(m->mod[1 + j].info.name, names[j]);
    /* one step's objective: joint, 19 single modalities, 3 random non-empty subsets */
    mvae_batch b;
    int64_t idx[30];
    for (int i = 0; i < 30; i++) idx[i] = i;
    assert_int_equal(mvae_batch_init(&b, m, 30, &err), MVAE_OK);
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, 30, NULL, &err), MVAE_OK);
    mvae_objective obj;
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng rng;
    mvae_rng_seed(&rng, 9);
    mvae_tensor *loss;
    mvae_step_stats st;
    rc = mvae_objective_loss(m, ctx, &b, &obj, 1.0f, &rng, &loss, &st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(st.n_terms, 1 + (1 + N_ATTR) + 3);
    const uint32_t all = (1u << (1 + N_ATTR)) - 1;
    assert_int_equal(st.subset[0], all);
    for (int t = 0; t < st.n_terms; t++) {
        assert_true(isfinite(st.term_loss[t]));
        assert_int_equal(st.random[t], t >= 2 + N_ATTR);
        if (t >= 1 && t < 2 + N_ATTR) assert_int_equal(st.subset[t], 1u << (t - 1));
        if (st.random[t]) assert_true(st.subset[t] != 0 && (st.subset[t] & ~all) == 0);
    }
    assert_true(isfinite(st.loss));
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    /* a short training */
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run", env->dir);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result *r = calloc(1, sizeof *r);
    rc = mvae_train(m, &o, r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_true(isfinite(r->last_loss));
    /* metrics.jsonl: every epoch's loss is finite and the last is below the first; the joint and
     * the 19 single-modality terms each have a key, the random subsets one together */
    char p[400];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    char *jl = tiny_slurp(p, NULL);
    assert_non_null(jl);
    double first = NAN, last = NAN;
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(jl, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
        char *a = strstr(line, "\"loss\": ");
        assert_non_null(a);
        last = strtod(a + 9, NULL);
        if (!lines) first = last;
        assert_true(isfinite(last));
        char *t = strstr(line, "\"terms\": {");
        assert_non_null(t);
        int keys = 0;
        for (char *q = t + 10; (q = strstr(q, "\": ")); q++) keys++;
        assert_int_equal(keys, 1 + (1 + N_ATTR) + 1);
        assert_non_null(strstr(t, "\"random_subsets\": "));
        char key[80];
        snprintf(key, sizeof key, "\"%s\": ", names[N_ATTR - 1]);
        assert_non_null(strstr(t, key));
    }
    free(jl);
    assert_int_equal(lines, 3);
    assert_true(last < first);
    /* eval.cross: 18 image -> attribute F1 entries and the image from all 18 attributes */
    assert_int_equal(r->eval.n_cross, N_ATTR + 1);
    for (int j = 0; j < N_ATTR; j++) {
        char nm[80];
        snprintf(nm, sizeof nm, "image->%.64s", names[j]);
        assert_string_equal(r->eval.cross_name[j], nm);
        assert_true(r->eval.cross[j][2] >= 0.0 && r->eval.cross[j][2] <= 1.0); /* accuracy */
    }
    char full[1300];
    snprintf(full, sizeof full, "%s->image", list);
    assert_string_equal(r->eval.cross_name[N_ATTR], full);
    assert_true(isfinite(r->eval.cross[N_ATTR][0]) && r->eval.cross[N_ATTR][0] > 0);
    /* the default log-likelihood terms cover all 19 modalities alone and all together, with the
     * joint term's whole name (no cap at 15 modalities, no name cut at 64 characters) */
    assert_int_equal(mvae_cfg_set(cfg, "eval.log_likelihood.terms=[]", &err), MVAE_OK);
    assert_int_equal(mvae_cfg_set(cfg, "eval.cross=[]", &err), MVAE_OK);
    mvae_eval_result *er = calloc(1, sizeof *er);
    rc = mvae_evaluate(m, MVAE_SPLIT_TEST, er, true, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(er->n_ll, 1 + N_ATTR + 1);
    assert_string_equal(er->ll_name[N_ATTR], names[N_ATTR - 1]);
    snprintf(full, sizeof full, "image,%s", list);
    assert_string_equal(er->ll_name[N_ATTR + 1], full);
    for (int t = 0; t < er->n_ll; t++) assert_true(isfinite(er->ll[t]));
    free(er);
    free(r);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    tiny_env_close((void **)&env);
}

/* ------------------------------------------------- split: combinations (emoji_factors.c) */
static void test_factors(void **state) {
    (void)state;
    struct { const char *name; int gender, skin; bool in; const char *role; } cases[] = {
        {"woman firefighter: medium-dark skin tone", 2, 4, true, "firefighter"},
        {"man: red hair, light skin tone", 1, 1, true, "red hair"},
        {"person: dark skin tone", 0, 5, true, "person"},
        {"victory hand", 0, 0, true, "victory hand"},
        {"person running facing right: medium skin tone", 0, 3, true, "running facing right"},
        {"Santa Claus: light skin tone", 0, 1, true, "santa claus"},
        {"kiss: woman, man, light skin tone, dark skin tone", 3, 1, false, ""},
        {"kiss: person, person, medium skin tone, dark skin tone", 0, 3, false, ""},
        {"handshake: medium-light skin tone, light skin tone", 0, 2, false, ""},
        {"woman and man holding hands", 3, 0, false, ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        emoji_entry e;
        memset(&e, 0, sizeof e);
        e.name = (char *)cases[k].name;
        e.gender = cases[k].gender;
        e.skin = cases[k].skin;
        char role[128];
        int g = -1, t = -1;
        bool in = emoji_factors(&e, role, sizeof role, &g, &t);
        if (in != cases[k].in) fprintf(stderr, "'%s': expected %s\n", cases[k].name, cases[k].in ? "in" : "out");
        assert_int_equal(in, cases[k].in);
        if (!in) continue;
        assert_string_equal(role, cases[k].role);
        assert_int_equal(g, cases[k].gender);
        assert_int_equal(t, cases[k].skin);
    }
}

enum { HR = 10, HG = 3, HT = 6, HN = HR * HG * HT + 20 };
/* 10 roles x 3 genders x 6 tones, the first 20 combinations twice (two emoji, one combination),
 * and role 9 with a single combination (never held out: the role would vanish from training) */
static int holdout_fixture(int *f) {
    int n = 0;
    for (int r = 0; r < HR; r++)
        for (int g = 0; g < HG; g++)
            for (int t = 0; t < HT; t++) {
                if (r == HR - 1 && (g || t)) continue;
                f[n * 3] = r, f[n * 3 + 1] = g, f[n * 3 + 2] = t;
                n++;
            }
    for (int i = 0; i < 20; i++, n++) memcpy(f + n * 3, f + i * 3, 3 * sizeof(int));
    return n;
}

static void test_holdout_combinations(void **state) {
    (void)state;
    static int f[HN * 3];
    static uint8_t a[HN], b[HN], c[HN];
    int n = holdout_fixture(f);
    const int nv[3] = {HR, HG, HT};
    int combos = (HR - 1) * HG * HT + 1;
    int got = emoji_holdout_combinations(f, n, nv, 0.2, 11, a);
    assert_int_equal(got, (int)(0.2 * combos + 0.5));
    assert_int_equal(emoji_holdout_combinations(f, n, nv, 0.2, 11, b), got);
    assert_memory_equal(a, b, (size_t)n); /* seeded: the same split again */
    assert_int_equal(emoji_holdout_combinations(f, n, nv, 0.2, 12, c), got);
    assert_memory_not_equal(a, c, (size_t)n);
    int seen_val[3][HT > HR ? HT : HR];
    memset(seen_val, 0, sizeof seen_val);
    int n_held = 0;
    for (int i = 0; i < n; i++) {
        if (!a[i])
            for (int k = 0; k < 3; k++) seen_val[k][f[i * 3 + k]] = 1;
        /* a held-out combination never appears in training: every item with it is held out */
        for (int j = 0; j < n; j++)
            if (!memcmp(f + i * 3, f + j * 3, 3 * sizeof(int))) assert_int_equal(a[i], a[j]);
        n_held += a[i];
    }
    assert_true(n_held >= got);
    for (int k = 0; k < 3; k++) /* every value keeps a seen combination */
        for (int v = 0; v < nv[k]; v++) assert_int_equal(seen_val[k][v], 1);
    for (int i = 0; i < n; i++)
        if (f[i * 3] == HR - 1) assert_int_equal(a[i], 0);
}

static void test_combinations_dataset(void **state) {
    (void)state;
    if (!installed()) {
        fprintf(stderr, "emoji: fonts-noto-color-emoji or unicode-data not installed: skipped\n");
        skip();
    }
    const mvae_dataset_vtable *vt = mvae_plugin_emoji()->vtable;
    char yaml[512];
    void *ds[3];
    mvae_cfg *cfg[3];
    mvae_error err;
    for (int k = 0; k < 3; k++) {
        snprintf(yaml, sizeof yaml, "{plugin: emoji, size: 16, limit: 500, split: combinations, holdout: 0.2, seed: %d, "
                 "cache_dir: '%s/cache'}",
                 k == 2 ? 4 : 3, g_dir);
        int rc = open_ds(yaml, &ds[k], &cfg[k], &err);
        if (rc) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, MVAE_OK);
    }
    assert_int_equal(vt->n_modalities(ds[0]), 6);
    static const char *const names[6] = {"image", "alpha", "caption", "role", "gender", "tone"};
    for (int m = 0; m < 6; m++) assert_string_equal(vt->modality(ds[0], m)->name, names[m]);
    int V = (int)vt->modality(ds[0], 2)->shape[0], NRo = vt->modality(ds[0], 3)->n_classes;
    fprintf(stderr, "split: combinations (limit 500): %d roles, %d caption words\n", NRo, V);
    assert_true(V > 20 && NRo > 10);
    assert_int_equal(vt->modality(ds[0], 4)->n_classes, EMOJI_N_FGENDER);
    assert_int_equal(vt->modality(ds[0], 5)->n_classes, EMOJI_N_SKIN);
    int64_t ntr = vt->size(ds[0], MVAE_SPLIT_TRAIN), nte = vt->size(ds[0], MVAE_SPLIT_TEST);
    assert_true(nte > 0.15 * (ntr + nte) && nte < 0.25 * (ntr + nte));
    /* every sample's factors; a test combination is never a training one */
    int32_t *fac[2] = {malloc((size_t)ntr * 3 * sizeof(int32_t)), malloc((size_t)nte * 3 * sizeof(int32_t))};
    float *out[6];
    uint8_t present[6];
    for (int m = 0; m < 6; m++) out[m] = malloc(3 * 16 * 16 * sizeof(float) > (size_t)V * sizeof(float) ? 3 * 16 * 16 * sizeof(float) : (size_t)V * sizeof(float));
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < (s ? nte : ntr); i++) {
            assert_int_equal(vt->get_batch(ds[0], s, &i, 1, out, present, &err), MVAE_OK);
            int words = 0;
            for (int v = 0; v < V; v++) {
                assert_true(out[2][v] == 0.0f || out[2][v] == 1.0f);
                words += out[2][v] > 0;
            }
            assert_true(words >= 1);
            for (int a = 0; a < 3; a++) memcpy(&fac[s][i * 3 + a], out[3 + a], sizeof(int32_t));
            assert_true(fac[s][i * 3] >= 0 && fac[s][i * 3] < NRo);
        }
    for (int64_t i = 0; i < nte; i++)
        for (int64_t j = 0; j < ntr; j++) assert_memory_not_equal(fac[1] + i * 3, fac[0] + j * 3, 3 * sizeof(int32_t));
    /* seeded: the same seed gives the same test split, another seed another */
    assert_int_equal(vt->size(ds[1], MVAE_SPLIT_TEST), nte);
    int same = 0, same2 = 0;
    int64_t nte2 = vt->size(ds[2], MVAE_SPLIT_TEST);
    for (int64_t i = 0; i < nte; i++) {
        assert_string_equal(mvae_emoji_caption(ds[0], MVAE_SPLIT_TEST, i), mvae_emoji_caption(ds[1], MVAE_SPLIT_TEST, i));
        same++;
        if (i < nte2) same2 += !strcmp(mvae_emoji_caption(ds[0], MVAE_SPLIT_TEST, i), mvae_emoji_caption(ds[2], MVAE_SPLIT_TEST, i));
    }
    assert_int_equal(same, nte);
    assert_true(same2 < nte / 2);
    for (int m = 0; m < 6; m++) free(out[m]);
    free(fac[0]), free(fac[1]);
    for (int k = 0; k < 3; k++) {
        vt->close(ds[k]);
        mvae_cfg_free(cfg[k]);
    }
    /* bad options name the fix */
    void *bad;
    mvae_cfg *bcfg;
    assert_int_not_equal(open_ds("{plugin: emoji, split: halves}", &bad, &bcfg, &err), MVAE_OK);
    assert_has(err.msg, "split");
    mvae_cfg_free(bcfg);
}

/* mvae-compo-probe end to end on a 1-epoch image + caption run (the first 500 emoji at 16x16 — the
 * renderings test_combinations_dataset cached —, tiny MLPs): the JSON has
 * the probe, TRE and caption->image parts, accuracies in [0, 1], the split's sizes */
static void test_compo_probe_cli(void **state) {
    (void)state;
    if (!installed()) {
        fprintf(stderr, "emoji: fonts-noto-color-emoji or unicode-data not installed: skipped\n");
        skip();
    }
    char path[300], cmd[2048];
    snprintf(path, sizeof path, "%s/compo.yaml", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "name: compo-tiny\nseed: 1\n"
            "dataset: { plugin: emoji, size: 16, limit: 500, split: combinations, holdout: 0.2, seed: 1, cache_dir: '%s/cache' }\n"
            "latent_dim: 4\nmodalities:\n"
            "  image: { encoder: { plugin: mlp, hidden: [16] }, decoder: { plugin: mlp, hidden: [16] }, likelihood: bernoulli }\n"
            "  caption: { encoder: { plugin: mlp, hidden: [16] }, decoder: { plugin: mlp, hidden: [16] }, likelihood: bernoulli }\n"
            "fusion: { plugin: poe }\n"
            "train: { epochs: 1, batch_size: 64, threads: 1, optimizer: { adam: { lr: 1.0e-3 } } }\n"
            "eval: { log_likelihood: { samples: 2, max_test: 4 } }\n", g_dir);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && %s/mvae train %s --out %s/run > %s/train.log 2>&1 && %s/mvae-compo-probe %s/run "
             "--out %s/probe.json > /dev/null 2> %s/probe.log", g_dir, MVAE_BINARY_DIR, path, g_dir, g_dir,
             MVAE_BINARY_DIR, g_dir, g_dir, g_dir);
    int rc = system(cmd);
    if (rc) {
        snprintf(cmd, sizeof cmd, "tail -5 %s/train.log %s/probe.log >&2", g_dir, g_dir);
        (void)!system(cmd);
    }
    assert_int_equal(rc, 0);
    snprintf(path, sizeof path, "%s/probe.json", g_dir);
    f = fopen(path, "r");
    assert_non_null(f);
    static char js[8192];
    size_t n = fread(js, 1, sizeof js - 1, f);
    js[n] = '\0';
    fclose(f);
    long long seen = 0, unseen = 0;
    const char *p = strstr(js, "\"seen\": ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\"seen\": %lld, \"unseen\": %lld", &seen, &unseen), 2);
    assert_true(unseen > 0.15 * (seen + unseen) && unseen < 0.25 * (seen + unseen));
    static const char *const keys[] = {"\"role\": ", "\"gender\": ", "\"tone\": "};
    const char *probe = strstr(js, "\"probe\": {");
    assert_non_null(probe);
    for (int a = 0; a < 3; a++) {
        double v = -1;
        const char *k = strstr(probe, keys[a]);
        assert_non_null(k);
        assert_int_equal(sscanf(k + strlen(keys[a]), "%lf", &v), 1);
        assert_true(v >= 0 && v <= 1);
    }
    double rel = -1;
    p = strstr(js, "\"tre_rel\": ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\"tre_rel\": %lf", &rel), 1);
    assert_true(rel > 0 && rel < 2);
    assert_non_null(strstr(js, "\"caption_to_image\": {\"real_unseen\": {"));
    assert_non_null(strstr(js, "\"caption_unseen_all3\": "));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_factors),
        cmocka_unit_test(test_holdout_combinations),
        cmocka_unit_test(test_combinations_dataset),
        cmocka_unit_test(test_compo_probe_cli),
        cmocka_unit_test(test_parse_tiny),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_attr_names_and_select),
        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_each_dataset),
        cmocka_unit_test(test_each_train),
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
