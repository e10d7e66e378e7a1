/* test_translation.c — text as a modality (issue 7): the .mo reader (good catalogs, wrong magic,
 * offsets out of range, invalid UTF-8: skipped with counts), message filters, deterministic
 * splits, vocabularies, the empty-corpus error, the tokeniser, BLEU on hand-computed examples,
 * the GRU text expert/decoder (shapes, padding, gradients), and a tiny end-to-end run with
 * translation — all on .mo catalogs generated into a temporary directory. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/model.h"
#include "mvae/text.h"
#include "mvae/train.h"
#include "mvae/translate.h"
#include "tiny_data.h"

#include <math.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ .mo writer */
typedef struct mo_entry {
    const char *o;
    size_t ol; /* 0 = strlen */
    const char *t;
    size_t tl;
} mo_entry;

static void put32(FILE *f, uint32_t v, int be) {
    uint8_t b[4];
    if (be) b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
    else b[3] = (uint8_t)(v >> 24), b[2] = (uint8_t)(v >> 16), b[1] = (uint8_t)(v >> 8), b[0] = (uint8_t)v;
    fwrite(b, 1, 4, f);
}

/* bad: 0 good, 1 wrong magic, 2 translation offsets out of range, 3 truncated header */
static void write_mo(const char *path, const mo_entry *e, int n, int be, int bad) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (bad == 3) {
        fwrite("\xde\x12\x04\x95", 1, 4, f);
        fclose(f);
        return;
    }
    uint32_t O = 28, T = 28 + 8 * (uint32_t)n, S = 28 + 16 * (uint32_t)n;
    put32(f, bad == 1 ? 0x12345678u : 0x950412deu, be);
    put32(f, 0, be);
    put32(f, (uint32_t)n, be);
    put32(f, O, be);
    put32(f, T, be);
    put32(f, 0, be);
    put32(f, S, be);
    uint32_t off = S;
    for (int i = 0; i < n; i++) {
        size_t l = e[i].ol ? e[i].ol : strlen(e[i].o);
        put32(f, (uint32_t)l, be);
        put32(f, off, be);
        off += (uint32_t)l + 1;
    }
    for (int i = 0; i < n; i++) {
        size_t l = e[i].tl ? e[i].tl : strlen(e[i].t);
        put32(f, (uint32_t)l, be);
        put32(f, bad == 2 ? 0x7fffff00u : off, be);
        off += (uint32_t)l + 1;
    }
    for (int i = 0; i < n; i++) fwrite(e[i].o, 1, (e[i].ol ? e[i].ol : strlen(e[i].o)) + 1, f);
    for (int i = 0; i < n; i++) fwrite(e[i].t, 1, (e[i].tl ? e[i].tl : strlen(e[i].t)) + 1, f);
    fclose(f);
}

/* the synthetic parallel corpus: 8 verbs x 6 objects = 48 pairs */
static const char *const verbs_en[] = {"open", "close", "delete", "copy", "show", "print", "save", "check"};
static const char *const verbs_vi[] = {"mở", "đóng", "xoá", "chép", "hiện", "in", "lưu", "kiểm"};
static const char *const objs_en[] = {"file", "folder", "disk", "link", "archive", "list"};
static const char *const objs_vi[] = {"tệp", "thư mục", "đĩa", "liên kết", "kho", "danh sách"};

typedef struct env {
    char dir[128];
    char loc[256]; /* <dir>/locale: the catalogs live in vi/LC_MESSAGES below it */
    mvae_registry *reg;
    char log[8192];
} env;

static void log_sink(mvae_log_level level, const char *msg, void *user) {
    (void)level;
    env *e = user;
    size_t n = strlen(e->log);
    snprintf(e->log + n, sizeof e->log - n, "%s\n", msg);
}

static void mkdirs(const char *root, const char *sub) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, sub);
    for (char *s = p + strlen(root) + 1; *s; s++)
        if (*s == '/') *s = '\0', mkdir(p, 0777), *s = '/';
    mkdir(p, 0777);
}

static void write_corpus(const char *loc, const char *name, int be) {
    mo_entry ent[49];
    static char en[48][64], vi[48][80];
    int n = 0;
    ent[n++] = (mo_entry){"", 0, "Content-Type: text/plain; charset=UTF-8\n", 0}; /* header */
    for (int v = 0; v < 8; v++)
        for (int o = 0; o < 6; o++) {
            snprintf(en[n - 1], sizeof en[0], "Please %s the %s now.", verbs_en[v], objs_en[o]);
            snprintf(vi[n - 1], sizeof vi[0], "Hãy %s %s ngay.", verbs_vi[v], objs_vi[o]);
            ent[n] = (mo_entry){en[n - 1], 0, vi[n - 1], 0};
            n++;
        }
    char p[512];
    snprintf(p, sizeof p, "%s/vi/LC_MESSAGES/%s", loc, name);
    write_mo(p, ent, n, be, 0);
}

static int env_setup(void **state) {
    env *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/mvae_test_translation_XXXXXX");
    if (!mkdtemp(e->dir)) return -1;
    snprintf(e->loc, sizeof e->loc, "%s/locale", e->dir);
    mkdirs(e->dir, "locale/vi/LC_MESSAGES");
    mkdirs(e->dir, "locale/fr/LC_MESSAGES");
    write_corpus(e->loc, "corpus.mo", 0);
    mvae_error err = {0};
    e->reg = mvae_registry_new();
    if (mvae_registry_load_dir(e->reg, MVAE_BINARY_DIR "/plugins", &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    mvae_log_set_sink(log_sink, e);
    *state = e;
    return 0;
}

static int env_teardown(void **state) {
    env *e = *state;
    mvae_log_set_sink(NULL, NULL);
    mvae_registry_free(e->reg);
    tiny_rm_rf(e->dir);
    free(e);
    return 0;
}

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle)) fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

/* open the translation dataset with extra YAML options */
typedef struct ds {
    const mvae_dataset_vtable *vt;
    void *self;
    mvae_cfg *cfg;
} ds;
static int ds_open(env *e, const char *dir, const char *extra, ds *d, mvae_error *err) {
    char y[2048];
    snprintf(y, sizeof y, "{plugin: translation, mo_dirs: [%s]%s%s%s}", dir,
             extra && strstr(extra, "min_count") ? "" : ", min_count: 1", extra ? ", " : "", extra ? extra : "");
    memset(d, 0, sizeof *d);
    assert_int_equal(mvae_cfg_load_string(y, "ds.yaml", &d->cfg, err), MVAE_OK);
    const mvae_plugin_desc *pd = mvae_registry_find(e->reg, MVAE_PLUGIN_DATASET, "translation");
    assert_non_null(pd);
    d->vt = pd->vtable;
    e->log[0] = '\0';
    int rc = d->vt->open(mvae_cfg_root(d->cfg), &d->self, err);
    return rc;
}
static void ds_close(ds *d) {
    if (d->self) d->vt->close(d->self);
    mvae_cfg_free(d->cfg);
}
static int64_t ds_total(ds *d) {
    return d->vt->size(d->self, 0) + d->vt->size(d->self, 1) + d->vt->size(d->self, 2);
}

/* ------------------------------------------------------------------ dataset tests */
static void test_mo_good(void **state) {
    env *e = *state;
    ds d;
    mvae_error err = {0};
    int rc = ds_open(e, e->loc, NULL, &d, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(d.vt->n_modalities(d.self), 2);
    const mvae_modality_info *en = d.vt->modality(d.self, 0), *vi = d.vt->modality(d.self, 1);
    assert_string_equal(en->name, "en");
    assert_string_equal(vi->name, "vi");
    assert_int_equal(en->type, MVAE_MOD_TOKENS);
    assert_int_equal(ds_total(&d), 48);
    assert_string_equal(en->class_names[0], "<unk>");
    assert_string_equal(en->class_names[1], "<bos>");
    assert_string_equal(en->class_names[2], "<eos>");
    /* en: please, the, now, . + 8 verbs + 6 objects (if all appear in train) <= 18 words + 3 */
    assert_true(en->n_classes > 3 && en->n_classes <= 21);
    /* a sample: "please <verb> the <obj> now . <eos>" then padding */
    int32_t buf[2][40];
    float *out[2] = {(float *)(void *)buf[0], (float *)(void *)buf[1]};
    uint8_t pres[2];
    int64_t idx = 0;
    assert_int_equal(d.vt->get_batch(d.self, 0, &idx, 1, out, pres, &err), MVAE_OK);
    assert_string_equal(en->class_names[buf[0][0]], "please");
    assert_string_equal(en->class_names[buf[0][2]], "the");
    assert_string_equal(en->class_names[buf[0][4]], "now");
    assert_string_equal(en->class_names[buf[0][5]], ".");
    assert_int_equal(buf[0][6], 2);
    assert_int_equal(buf[0][7], -1);
    assert_string_equal(vi->class_names[buf[1][0]], "hãy");
    assert_has(e->log, "0 malformed skipped");
    ds_close(&d);
    /* the same corpus big-endian reads the same */
    char be_dir[300];
    snprintf(be_dir, sizeof be_dir, "%s/be", e->dir);
    mkdirs(e->dir, "be/vi/LC_MESSAGES");
    write_corpus(be_dir, "big.mo", 1);
    assert_int_equal(ds_open(e, be_dir, NULL, &d, &err), MVAE_OK);
    assert_int_equal(ds_total(&d), 48);
    ds_close(&d);
}

static void test_mo_malformed(void **state) {
    env *e = *state;
    char dir[300], p[400];
    snprintf(dir, sizeof dir, "%s/bad", e->dir);
    mkdirs(e->dir, "bad/vi/LC_MESSAGES");
    write_corpus(dir, "a_good.mo", 0);
    mo_entry one[] = {{"This is one message", 0, "Đây là một thông điệp", 0}};
    snprintf(p, sizeof p, "%s/vi/LC_MESSAGES/b_magic.mo", dir);
    write_mo(p, one, 1, 0, 1);
    snprintf(p, sizeof p, "%s/vi/LC_MESSAGES/c_offsets.mo", dir);
    write_mo(p, one, 1, 0, 2);
    snprintf(p, sizeof p, "%s/vi/LC_MESSAGES/d_trunc.mo", dir);
    write_mo(p, one, 1, 0, 3);
    mo_entry utf[] = {{"Bad bytes \xff\xfe in here", 0, "Sai byte ở đây", 0},
                      {"Overlong slash \xc0\xaf here", 0, "Dài quá ở đây", 0},
                      {"Fine text right here", 0, "Bad \xe1\xbb translation", 0},
                      {"Another valid message here", 0, "Một thông điệp hợp lệ khác", 0}};
    snprintf(p, sizeof p, "%s/vi/LC_MESSAGES/e_utf8.mo", dir);
    write_mo(p, utf, 4, 0, 0);
    ds d;
    mvae_error err = {0};
    assert_int_equal(ds_open(e, dir, NULL, &d, &err), MVAE_OK);
    assert_int_equal(ds_total(&d), 49); /* 48 + the one valid message of e_utf8.mo */
    assert_has(e->log, "5 catalogs (3 malformed skipped)");
    assert_has(e->log, "3 strings with invalid UTF-8 skipped");
    assert_has(e->log, "wrong magic");
    assert_has(e->log, "out of range");
    assert_has(e->log, "truncated");
    ds_close(&d);
}

static void test_filters(void **state) {
    env *e = *state;
    char dir[300], p[400];
    snprintf(dir, sizeof dir, "%s/filt", e->dir);
    mkdirs(e->dir, "filt/vi/LC_MESSAGES");
    char long_en[400] = "";
    for (int i = 0; i < 31; i++) strcat(long_en, i ? " word" : "word");
    char thirty[400] = "";
    for (int i = 0; i < 30; i++) strcat(thirty, i ? " word" : "word");
    mo_entry ent[] = {
        {"Cannot open %s for reading", 0, "Không thể mở %s để đọc", 0},
        {"Copied %1$s files to disk", 0, "Đã chép %1$s tệp", 0},
        {"Loading {0} of the items", 0, "Đang tải {0} mục", 0},
        {"Press <b>Enter</b> to continue", 0, "Nhấn <b>Enter</b> để tiếp tục", 0},
        {"_Open the selected file", 0, "_Mở tệp đã chọn", 0},
        {"Save &As another name", 0, "Lưu &Thành tên khác", 0},
        {"One file was removed\0%d files were removed", 42, "Đã xoá %d tệp", 0},
        {"menu\x04Open the recent file", 0, "Mở tệp gần đây", 0},
        {"Two words", 0, "Hai từ", 0},
        {long_en, 0, "quá dài", 0},
        {"First line here\nsecond line here", 0, "Dòng một\ndòng hai", 0},
        {"No translation given here", 0, "", 0},
        {"This one is kept fine", 0, "Cái này được giữ", 0},
        {thirty, 0, "ba mươi từ", 0},
        {"This one is kept fine", 0, "Bản trùng lặp", 0}, /* duplicate English: dropped */
    };
    snprintf(p, sizeof p, "%s/vi/LC_MESSAGES/f.mo", dir);
    write_mo(p, ent, (int)(sizeof ent / sizeof ent[0]), 0, 0);
    ds d;
    mvae_error err = {0};
    assert_int_equal(ds_open(e, dir, NULL, &d, &err), MVAE_OK);
    assert_int_equal(ds_total(&d), 2); /* "This one is kept fine" and the 30 words */
    assert_has(e->log, "1 duplicates");
    ds_close(&d);
    /* max_words 29 drops the 30-word message; min_words 2 keeps "Two words" */
    assert_int_equal(ds_open(e, dir, "max_words: 29, min_words: 2", &d, &err), MVAE_OK);
    assert_int_equal(ds_total(&d), 2);
    ds_close(&d);
}

static void test_empty_corpus(void **state) {
    env *e = *state;
    ds d;
    mvae_error err = {0};
    assert_int_not_equal(ds_open(e, e->loc, "min_words: 20, max_words: 25", &d, &err), MVAE_OK);
    assert_has(err.msg, "no English-vi pairs left after filtering");
    assert_has(err.msg, "min_words 20");
    assert_has(err.msg, "max_words 25");
    ds_close(&d);
    /* no catalogs at all for the language */
    memset(&err, 0, sizeof err);
    assert_int_not_equal(ds_open(e, e->loc, "lang: fr", &d, &err), MVAE_OK);
    assert_has(err.msg, "0 catalogs");
    ds_close(&d);
}

static void test_split_determinism(void **state) {
    env *e = *state;
    ds a, b, c;
    mvae_error err = {0};
    assert_int_equal(ds_open(e, e->loc, "train_fraction: 0.5, valid_fraction: 0.25", &a, &err), MVAE_OK);
    assert_int_equal(ds_open(e, e->loc, "train_fraction: 0.5, valid_fraction: 0.25", &b, &err), MVAE_OK);
    assert_int_equal(ds_open(e, e->loc, "train_fraction: 0.5, valid_fraction: 0.25, split_seed: 7", &c, &err), MVAE_OK);
    int differs = 0;
    for (int s = 0; s < 3; s++) {
        int64_t n = a.vt->size(a.self, s);
        assert_int_equal(n, b.vt->size(b.self, s));
        assert_true(n > 0); /* 48 pairs over 0.5/0.25/0.25 */
        int32_t x[2][40], y[2][40];
        float *ox[2] = {(float *)(void *)x[0], (float *)(void *)x[1]}, *oy[2] = {(float *)(void *)y[0], (float *)(void *)y[1]};
        uint8_t p[2];
        for (int64_t i = 0; i < n; i++) {
            assert_int_equal(a.vt->get_batch(a.self, s, &i, 1, ox, p, &err), MVAE_OK);
            assert_int_equal(b.vt->get_batch(b.self, s, &i, 1, oy, p, &err), MVAE_OK);
            assert_memory_equal(x, y, sizeof x);
        }
        differs |= n != c.vt->size(c.self, s);
    }
    /* another seed assigns other pairs (the sizes or the first training pair differ) */
    int32_t x[2][40], y[2][40];
    float *ox[2] = {(float *)(void *)x[0], (float *)(void *)x[1]}, *oy[2] = {(float *)(void *)y[0], (float *)(void *)y[1]};
    uint8_t p[2];
    int64_t i0 = 0;
    a.vt->get_batch(a.self, 0, &i0, 1, ox, p, &err);
    c.vt->get_batch(c.self, 0, &i0, 1, oy, p, &err);
    differs |= memcmp(x, y, sizeof x) != 0;
    assert_true(differs);
    ds_close(&a), ds_close(&b), ds_close(&c);
}

static void test_vocabulary(void **state) {
    env *e = *state;
    ds d;
    mvae_error err = {0};
    /* all pairs in train; every verb/object appears 6/8 times, "please" 48 times */
    assert_int_equal(ds_open(e, e->loc, "train_fraction: 1.0, valid_fraction: 0.0, min_count: 7", &d, &err), MVAE_OK);
    const mvae_modality_info *en = d.vt->modality(d.self, 0);
    /* count >= 7: please the now . (48 each) + 6 objects (8 each); verbs (6 each) -> <unk> */
    assert_int_equal(en->n_classes, 3 + 4 + 6);
    int32_t x[2][40];
    float *o[2] = {(float *)(void *)x[0], (float *)(void *)x[1]};
    uint8_t p[2];
    int64_t i = 0;
    d.vt->get_batch(d.self, 0, &i, 1, o, p, &err);
    assert_int_equal(x[0][1], 0); /* the verb is <unk> */
    ds_close(&d);
    assert_int_equal(ds_open(e, e->loc, "train_fraction: 1.0, valid_fraction: 0.0, max_vocab: 5", &d, &err), MVAE_OK);
    assert_int_equal(d.vt->modality(d.self, 0)->n_classes, 5);
    ds_close(&d);
}

/* ------------------------------------------------------------------ tokeniser and BLEU */
static void test_tokenizer(void **state) {
    (void)state;
    char buf[512];
    const char *tok[64];
    int n = mvae_text_tokenize("Display the compiler's version.", buf, sizeof buf, tok, 64);
    assert_int_equal(n, 7);
    assert_string_equal(tok[0], "display");
    assert_string_equal(tok[2], "compiler");
    assert_string_equal(tok[3], "'");
    assert_string_equal(tok[4], "s");
    n = mvae_text_tokenize("Display the compiler's version.", buf, sizeof buf, tok, 64);
    assert_int_equal(n, 7);
    assert_string_equal(tok[6], ".");
    n = mvae_text_tokenize("Hiển thị PHIÊN BẢN (Đĩa)!", buf, sizeof buf, tok, 64);
    assert_int_equal(n, 8);
    assert_string_equal(tok[0], "hiển");
    assert_string_equal(tok[2], "phiên");
    assert_string_equal(tok[4], "(");
    assert_string_equal(tok[5], "đĩa");
    char out[256];
    mvae_text_detokenize(tok, n, out, sizeof out);
    assert_string_equal(out, "hiển thị phiên bản (đĩa)!");
    n = mvae_text_tokenize("Display the compiler's version.", buf, sizeof buf, tok, 64);
    mvae_text_detokenize(tok, n, out, sizeof out);
    assert_string_equal(out, "display the compiler's version.");
    assert_true(mvae_utf8_valid("đĩa", strlen("đĩa")));
    assert_false(mvae_utf8_valid("\xc0\xaf", 2));
    assert_false(mvae_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(mvae_utf8_valid("\xe1\xbb", 2));     /* truncated */
}

static void test_bleu(void **state) {
    (void)state;
    mvae_bleu b;
    /* identical sentences: 1 */
    int32_t r1[] = {1, 2, 3, 4, 5, 6};
    mvae_bleu_init(&b, 4);
    mvae_bleu_add(&b, r1, 6, r1, 6);
    assert_true(fabs(mvae_bleu_score(&b) - 1.0) < 1e-12);
    /* Papineni's clipping example: candidate "the the the the the the the", reference with two
     * "the": unigram precision 2/7; no bigrams match -> BLEU-4 = 0, BLEU-1 = 2/7 */
    int32_t c2[] = {7, 7, 7, 7, 7, 7, 7}, r2[] = {7, 8, 9, 7, 10, 11, 12};
    mvae_bleu_init(&b, 1);
    mvae_bleu_add(&b, c2, 7, r2, 7);
    assert_true(fabs(mvae_bleu_score(&b) - 2.0 / 7.0) < 1e-12);
    mvae_bleu_init(&b, 4);
    mvae_bleu_add(&b, c2, 7, r2, 7);
    assert_true(mvae_bleu_score(&b) == 0.0);
    /* hand-computed: cand a b c d e (5), ref a b c d f g (6).
     * p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2; BP = exp(1 - 6/5);
     * BLEU = exp(1 - 1.2) * (4/5 * 3/4 * 2/3 * 1/2)^(1/4) = exp(-0.2) * 0.2^0.25 */
    int32_t c3[] = {1, 2, 3, 4, 5}, r3[] = {1, 2, 3, 4, 6, 7};
    mvae_bleu_init(&b, 4);
    mvae_bleu_add(&b, c3, 5, r3, 6);
    assert_true(fabs(mvae_bleu_score(&b) - exp(-0.2) * pow(0.2, 0.25)) < 1e-12);
    /* corpus level: counts are summed before the ratios. Add the identical 6-token pair:
     * p1 = 10/11, p2 = 8/9, p3 = 6/7, p4 = 4/5, c = 11, r = 12 */
    mvae_bleu_add(&b, r1, 6, r1, 6);
    double want = exp(1.0 - 12.0 / 11.0) * pow(10.0 / 11 * 8.0 / 9 * 6.0 / 7 * 4.0 / 5, 0.25);
    assert_true(fabs(mvae_bleu_score(&b) - want) < 1e-12);
    /* longer candidate: no brevity penalty */
    mvae_bleu_init(&b, 2);
    mvae_bleu_add(&b, r3, 6, c3, 5);
    assert_true(fabs(mvae_bleu_score(&b) - sqrt(4.0 / 6 * 3.0 / 5)) < 1e-12);
    /* empty candidate corpus */
    mvae_bleu_init(&b, 4);
    assert_true(mvae_bleu_score(&b) == 0.0);
}

/* ------------------------------------------------------------------ models */
static const char *exp_yaml =
    "name: tiny-text\n"
    "seed: 3\n"
    "dataset: {plugin: translation, mo_dirs: [%s], min_count: 1, train_fraction: 0.8, "
    "valid_fraction: 0.0, max_len: 10}\n"
    "latent_dim: %d\n"
    "modalities:\n"
    "  en: {encoder: {plugin: gru_text, embed: %d, hidden: %d}, decoder: {plugin: gru_text, embed: %d, hidden: %d}}\n"
    "  vi: {encoder: {plugin: gru_text, embed: %d, hidden: %d}, decoder: {plugin: gru_text, embed: %d, hidden: %d}}\n"
    "train: {epochs: %d, batch_size: 16, optimizer: {adam: {lr: 0.01}}, progress: none, beta: 0.01, objective: {cross_reconstruct: true}}\n"
    "eval: {log_likelihood: {samples: 4, terms: [en, vi]}, pictures: false, bleu: {max_test: 20, beam: %d}}\n";

static mvae_model *build(env *e, mvae_cfg **cfg, int D, int E, int H, int epochs, int beam) {
    char y[2048];
    snprintf(y, sizeof y, exp_yaml, e->loc, D, E, H, E, H, E, H, E, H, epochs, beam);
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_load_string(y, "tiny-text.yaml", cfg, &err), MVAE_OK);
    mvae_model *m = NULL;
    int rc = mvae_model_build(*cfg, e->reg, &m, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    return m;
}

static void fill_batch(mvae_model *m, mvae_batch *b, int n) {
    mvae_error err = {0};
    assert_int_equal(mvae_batch_init(b, m, n, &err), MVAE_OK);
    int64_t idx[16];
    for (int i = 0; i < n; i++) idx[i] = i;
    assert_int_equal(mvae_batch_fill(b, m, MVAE_SPLIT_TRAIN, idx, n, NULL, &err), MVAE_OK);
}

static void test_gru_text_shapes(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(e, &cfg, 4, 5, 6, 1, 1);
    mvae_batch b;
    fill_batch(m, &b, 3);
    mvae_ctx *ctx = mvae_ctx_new(0);
    int en = mvae_model_find(m, "en"), vi = mvae_model_find(m, "vi");
    mvae_tensor *x = mvae_batch_tensor(ctx, m, &b, en);
    mvae_tensor *mu, *lv;
    const mvae_encoder_vtable *ev = m->mod[en].enc_desc->vtable;
    assert_int_equal(ev->forward(m->mod[en].enc, ctx, x, &mu, &lv), MVAE_OK);
    assert_int_equal(mu->ndim, 2);
    assert_int_equal(mu->shape[0], 3);
    assert_int_equal(mu->shape[1], 4);
    assert_int_equal(lv->shape[1], 4);
    /* padding: one sentence alone, or beside a longer one with garbage after its padding marker,
     * encodes the same */
    int32_t *ids = mvae_i32(x);
    int T = (int)x->shape[1];
    mvae_tensor *x1 = mvae_tensor_new_i32(ctx, 2, (int64_t[]){2, T});
    memcpy(mvae_i32(x1), ids, (size_t)T * 4);
    for (int t = 0; t < T; t++) mvae_i32(x1)[T + t] = 3 + t % 4; /* a full-length sentence */
    mvae_tensor *mu1, *lv1;
    assert_int_equal(ev->forward(m->mod[en].enc, ctx, x1, &mu1, &lv1), MVAE_OK);
    for (int j = 0; j < 4; j++) assert_true(fabsf(mu1->data[j] - mu->data[j]) < 1e-5f);
    /* decoder: teacher forcing [B, T, V]; free-running forward the same shape */
    mvae_tensor *z = mvae_tensor_zeros(ctx, 2, (int64_t[]){3, 4});
    mvae_tensor *tv = mvae_batch_tensor(ctx, m, &b, vi);
    mvae_tensor *lg = mvae_model_decode_target(m, ctx, vi, z, tv);
    assert_non_null(lg);
    assert_int_equal(lg->ndim, 3);
    assert_int_equal(lg->shape[0], 3);
    assert_int_equal(lg->shape[1], T);
    assert_int_equal(lg->shape[2], m->mod[vi].info.n_classes);
    mvae_tensor *lp = mvae_likelihood_logp(ctx, m->mod[vi].likelihood, lg, tv, 1.0f);
    assert_non_null(lp);
    assert_int_equal(lp->n, 3);
    for (int i = 0; i < 3; i++) assert_true(isfinite(lp->data[i]) && lp->data[i] < 0);
    mvae_tensor *lf = mvae_model_decode(m, ctx, vi, z);
    assert_non_null(lf);
    assert_int_equal(lf->shape[1], T);
    /* generate: greedy and beam give ids in range, <eos> then -1 */
    int32_t out[3 * 10];
    int (*gen)(void *, mvae_ctx *, mvae_tensor *, int, int32_t *, int) = mvae_decoder_hook(m->mod[vi].dec_desc, generate);
    assert_non_null(gen);
    for (int beam = 1; beam <= 3; beam += 2) {
        assert_int_equal(gen(m->mod[vi].dec, ctx, z, beam, out, 10), MVAE_OK);
        for (int i = 0; i < 3; i++) {
            int ended = 0;
            for (int t = 0; t < 10; t++) {
                int32_t v = out[i * 10 + t];
                if (ended) assert_int_equal(v, -1);
                else assert_true(v >= 0 && v < m->mod[vi].info.n_classes);
                if (v == 2) ended = 1;
            }
        }
    }
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* d/dz of the teacher-forced log-likelihood, through the decoder's GRU steps and projection */
typedef struct gc_user {
    mvae_model *m;
    int k;
    mvae_batch *b;
} gc_user;
static mvae_tensor *gc_decoder(mvae_ctx *ctx, mvae_tensor **in, void *user) {
    gc_user *u = user;
    mvae_tensor *t = mvae_batch_tensor(ctx, u->m, u->b, u->k);
    mvae_tensor *lg = mvae_model_decode_target(u->m, ctx, u->k, in[0], t);
    return mvae_likelihood_logp(ctx, MVAE_LIK_CATEGORICAL, lg, t, 1.0f);
}

/* loss(params) = sum_i log p(vi_i | z = mu_en(en_i)) + 0.1 sum logvar_en: every encoder and
 * decoder parameter (embedding, both GRU directions, heads, init, output) gets a gradient */
static double param_loss(mvae_model *m, mvae_ctx *ctx, mvae_batch *b, bool backward) {
    mvae_ctx_reset(ctx);
    int en = mvae_model_find(m, "en"), vi = mvae_model_find(m, "vi");
    mvae_tensor *x = mvae_batch_tensor(ctx, m, b, en), *t = mvae_batch_tensor(ctx, m, b, vi);
    mvae_tensor *mu, *lv;
    ((const mvae_encoder_vtable *)m->mod[en].enc_desc->vtable)->forward(m->mod[en].enc, ctx, x, &mu, &lv);
    mvae_tensor *lp = mvae_likelihood_logp(ctx, MVAE_LIK_CATEGORICAL, mvae_model_decode_target(m, ctx, vi, mu, t), t, 1.0f);
    mvae_tensor *loss = mvae_add(ctx, mvae_sum_all(ctx, lp), mvae_scale(ctx, mvae_sum_all(ctx, lv), 0.1f));
    assert_non_null(loss);
    if (backward) assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    return loss->data[0];
}

static void test_gru_text_gradients(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(e, &cfg, 3, 4, 3, 1, 1);
    mvae_batch b;
    fill_batch(m, &b, 3);
    /* 1. w.r.t. z, with mvae_gradcheck */
    mvae_ctx *ctx = mvae_ctx_new(0);
    gc_user u = {m, mvae_model_find(m, "vi"), &b};
    mvae_tensor *z = mvae_tensor_new(ctx, 2, (int64_t[]){3, 3});
    for (int i = 0; i < 9; i++) z->data[i] = 0.3f * (float)(i % 5) - 0.6f;
    mvae_tensor_requires_grad(z);
    assert_int_equal(mvae_gradcheck("gru_text decoder dz", gc_decoder, 1, &z, &u, (mvae_gc_opts){0}), 0);
    /* 2. w.r.t. every parameter: analytic (backward into the store) vs central differences */
    mvae_params *ps = m->params;
    mvae_params_zero_grad(ps);
    param_loss(m, ctx, &b, true);
    float *ga = malloc(ps->n_floats * sizeof(float));
    memcpy(ga, ps->grad, ps->n_floats * sizeof(float));
    int bad = 0, checked = 0;
    for (int p = 0; p < ps->count; p++) {
        mvae_tensor *t = ps->entries[p].t;
        size_t off = ps->entries[p].offset;
        /* a few elements of each parameter, spread over it */
        for (int64_t i = 0; i < t->n; i += t->n / 5 + 1) {
            float x0 = t->data[i];
            const float h = 1e-2f;
            t->data[i] = x0 + h;
            double lp = param_loss(m, ctx, &b, false);
            t->data[i] = x0 - h;
            double lm = param_loss(m, ctx, &b, false);
            t->data[i] = x0;
            double num = (lp - lm) / (2.0 * h), an = ga[off + (size_t)i];
            checked++;
            if (fabs(num - an) > 2e-2 + 3e-2 * fmax(fabs(num), fabs(an))) {
                if (bad < 8) fprintf(stderr, "param %s[%lld]: analytic %g numeric %g\n", ps->entries[p].name, (long long)i, an, num);
                bad++;
            }
        }
    }
    /* the decoder's en-side and the vi encoder take no part: their gradients stay zero */
    assert_true(checked > 50);
    assert_int_equal(bad, 0);
    free(ga);
    mvae_ctx_free(ctx);
    mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

/* ------------------------------------------------------------------ end to end */
static void test_end_to_end(void **state) {
    env *e = *state;
    mvae_cfg *cfg;
    mvae_model *m = build(e, &cfg, 8, 16, 32, 300, 2);
    char run[256];
    snprintf(run, sizeof run, "%s/run", e->dir);
    mvae_train_opts o = {.run_dir = run, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    int rc = mvae_train(m, &o, &r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(r.eval.n_bleu, 2);
    assert_string_equal(r.eval.bleu_name[0], "en->vi");
    assert_string_equal(r.eval.bleu_name[1], "vi->en");
    for (int i = 0; i < 2; i++) assert_true(r.eval.bleu[i] >= 0 && r.eval.bleu[i] <= 1);
    assert_int_equal(r.eval.n_ll, 2);
    assert_true(isfinite(r.eval.ll[0]) && isfinite(r.eval.ll[1]));
    char p[300];
    snprintf(p, sizeof p, "%s/metrics.json", run);
    char *js = tiny_slurp(p, NULL);
    assert_non_null(js);
    assert_has(js, "\"bleu\": {\"en->vi\": ");
    free(js);
    /* the corpus is learnable: with a small KL weight (beta 0.01: a text VAE with beta 1 on 38
     * sentences collapses its posterior) and cross-reconstruction, translation works */
    char out[512];
    int en = mvae_model_find(m, "en"), vi = mvae_model_find(m, "vi");
    double bl_train;
    assert_int_equal(mvae_translate_bleu(m, MVAE_SPLIT_TRAIN, en, vi, 0, 1, &bl_train, &err), MVAE_OK);
    fprintf(stderr, "BLEU en->vi on the training split: %.3f\n", bl_train);
    assert_true(bl_train > 0.8); /* the training pairs are learnt (1.0 here) */
    assert_true(r.eval.bleu[0] > 0.3); /* unseen verb-object combinations (1.0 here) */
    assert_int_equal(mvae_translate_text(m, en, vi, "Please open the file now.", 1, out, sizeof out, &err), MVAE_OK);
    fprintf(stderr, "en->vi: 'Please open the file now.' -> '%s'  (BLEU en->vi %.3f vi->en %.3f)\n", out,
            r.eval.bleu[0], r.eval.bleu[1]);
    assert_string_equal(out, "hãy mở tệp ngay.");
    assert_int_equal(mvae_translate_text(m, vi, en, "Hãy mở tệp ngay.", 3, out, sizeof out, &err), MVAE_OK);
    fprintf(stderr, "vi->en (beam 3): 'Hãy mở tệp ngay.' -> '%s'\n", out);
    assert_true(strlen(out) > 0);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    /* the CLI on the run directory: arguments and stdin */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s/mvae translate %s --from en --to vi 'Please copy the disk now.' > %s/cli.txt 2>&1 && "
             "echo 'Please show the list now.' | %s/mvae translate %s --from en --to vi >> %s/cli.txt 2>&1",
             e->dir, MVAE_BINARY_DIR, run, e->dir, MVAE_BINARY_DIR, run, e->dir);
    int st = system(cmd);
    snprintf(p, sizeof p, "%s/cli.txt", e->dir);
    js = tiny_slurp(p, NULL);
    if (st) fprintf(stderr, "%s\n", js ? js : "");
    assert_int_equal(st, 0);
    int lines = 0;
    for (char *c = js; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 2);
    free(js);
}

int main(int argc, char **argv) {

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_bleu),
        cmocka_unit_test(test_mo_good),
        cmocka_unit_test(test_mo_malformed),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_empty_corpus),
        cmocka_unit_test(test_split_determinism),
        cmocka_unit_test(test_vocabulary),
        cmocka_unit_test(test_gru_text_shapes),
        cmocka_unit_test(test_gru_text_gradients),
        cmocka_unit_test(test_end_to_end),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("translation", tests, env_setup, env_teardown);
}
