/* test_kfs_digits.c — the audio helpers (mvae/audio.h) and the kfs_digits dataset.
 *
 * Audio: a sine's log-mel peaks in the band whose centre is nearest its frequency; log-mel ->
 * Griffin-Lim audio -> log-mel stays close; WAV write/read round trip. Dataset (the built
 * plugin, tiny sizes, a temporary cache): deterministic for a seed (and different for another),
 * the cache is used and a damaged cache is rebuilt, the Persian shape check on real fonts,
 * test_split: unseen shares no font family or voice with train, batch shapes and ranges.
 * The dataset needs the packages of scripts/deps.sh (fonts, espeak-ng-data): without them these
 * tests FAIL with the message naming the package, they are not skipped.
 */
#define _DEFAULT_SOURCE
#include "mvae_test.h"

#include "mvae/audio.h"
#include "mvae/coherence.h"
#include "mvae/config.h"
#include "mvae/image.h"
#include "mvae/interfaces.h"
#include "mvae/train.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#define KFS_SO MVAE_BINARY_DIR "/plugins/mvae_dataset_kfs_digits.so"

static char g_dir[64];

static void fail_with(const char *what, const char *msg) {
    print_error("%s: %s\n", what, msg);
    fail();
}

/* ------------------------------------------------------------------------------- audio */
static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

static void test_sine_band(void **state) {
    (void)state;
    mvae_logmel_cfg c;
    mvae_logmel_default(&c);
    float wav[8000], mel[32 * 32];
    const double freqs[] = {250.0, 1000.0, 2500.0};
    for (int q = 0; q < 3; q++) {
        for (int i = 0; i < 8000; i++) wav[i] = 0.5f * (float)sin(2.0 * M_PI * freqs[q] * i / 8000.0);
        mvae_error err = {0};
        assert_int_equal(mvae_logmel_frames(&c, 8000), 32);
        assert_int_equal(mvae_logmel(&c, wav, 8000, mel, &err), MVAE_OK);
        int best = 0, expect = 0;
        double bv = -1e30, bd = 1e30;
        for (int m = 0; m < 32; m++) {
            double v = mel[m * 32 + 16]; /* a frame in the middle */
            if (v > bv) bv = v, best = m;
            double centre = mel_to_hz(hz_to_mel(4000.0) * (m + 1) / 33.0);
            if (fabs(centre - freqs[q]) < bd) bd = fabs(centre - freqs[q]), expect = m;
        }
        if (best != expect) print_error("sine %.0f Hz: band %d, expected %d\n", freqs[q], best, expect);
        assert_int_equal(best, expect);
        /* and far from it the energy is at least 40 dB lower (the window's side lobes) */
        assert_true((bv - mel[((best + 10) % 32) * 32 + 16]) * 4.343 > 40.0);
    }
}

/* A speech-like test signal: a 150 -> 250 Hz glide with 12 harmonics under a formant-like
 * envelope, faded in and out. */
static void voice_like(float *wav, int n) {
    double ph = 0.0;
    for (int i = 0; i < n; i++) {
        double t = (double)i / 8000.0, f0 = 150.0 + 100.0 * t;
        ph += 2.0 * M_PI * f0 / 8000.0;
        double s = 0.0;
        for (int h = 1; h <= 12; h++) {
            double f = h * f0, env = exp(-pow((f - 700.0) / 300.0, 2)) + 0.5 * exp(-pow((f - 1800.0) / 400.0, 2)) + 0.02;
            s += env * sin(h * ph);
        }
        double fade = sin(M_PI * (double)i / n);
        wav[i] = (float)(0.2 * s * fade);
    }
}

static void test_roundtrip(void **state) {
    (void)state;
    mvae_logmel_cfg c;
    mvae_logmel_default(&c);
    float wav[8000], back[8000], a[1024], b[1024];
    mvae_error err = {0};
    voice_like(wav, 8000);
    assert_int_equal(mvae_logmel(&c, wav, 8000, a, &err), MVAE_OK);
    assert_int_equal(mvae_logmel_to_audio(&c, a, 32, 64, 7, back, 8000, &err), MVAE_OK);
    assert_int_equal(mvae_logmel(&c, back, 8000, b, &err), MVAE_OK);
    /* compare normalised (dB re the peak, floor 80 dB): the inverse does not keep the level */
    mvae_logmel_normalize(a, 1024, 80.0f);
    mvae_logmel_normalize(b, 1024, 80.0f);
    double mad = 0.0;
    int cnt = 0;
    for (int i = 0; i < 1024; i++)
        if (a[i] > 0.25f) { /* bins within 60 dB of the peak */
            mad += fabs(a[i] - b[i]) * 80.0;
            cnt++;
        }
    mad /= cnt;
    print_message("log-mel round trip (64 Griffin-Lim iterations): mean |error| %.2f dB over %d bins within 60 dB of the peak\n", mad, cnt);
    assert_true(cnt > 200);
    assert_true(mad < 3.5); /* measured 2.81 dB (deterministic: seeded phase) */
    /* normalise/denormalise: a [0,1] spectrogram survives the trip through log power */
    float x[4] = {0.0f, 0.25f, 0.5f, 1.0f}, y[4];
    memcpy(y, x, sizeof x);
    mvae_logmel_denormalize(y, 4, 80.0f);
    mvae_logmel_normalize(y, 4, 80.0f);
    for (int i = 0; i < 4; i++) assert_true(fabsf(x[i] - y[i]) < 1e-5f);
    /* the WAV file of the inverse reads back as written (16-bit) */
    char path[128];
    snprintf(path, sizeof path, "%s/roundtrip.wav", g_dir);
    assert_int_equal(mvae_wav_write(path, back, 8000, 8000, &err), MVAE_OK);
    float *r = NULL;
    int64_t n = 0;
    int rate = 0;
    assert_int_equal(mvae_wav_read(path, &r, &n, &rate, &err), MVAE_OK);
    assert_int_equal(n, 8000);
    assert_int_equal(rate, 8000);
    for (int i = 0; i < 8000; i++) assert_true(fabsf(r[i] - back[i]) < 2.0f / 32768.0f); /* 16-bit rounding */
    free(r);
    /* resampling keeps a tone below the cutoff and removes one above it */
    float hi[22050], lo[8000];
    for (int i = 0; i < 22050; i++) hi[i] = (float)(sin(2.0 * M_PI * 440.0 * i / 22050.0) + sin(2.0 * M_PI * 6000.0 * i / 22050.0));
    assert_int_equal(mvae_resample(hi, 22050, 22050, lo, 8000, 8000, &err), MVAE_OK);
    double e = 0.0;
    for (int i = 1000; i < 7000; i++) {
        double d = lo[i] - sin(2.0 * M_PI * 440.0 * i / 8000.0);
        e += d * d;
    }
    assert_true(sqrt(e / 6000.0) < 0.01); /* 6 kHz (aliasing to 2 kHz) is gone, 440 Hz kept */
    memset(&err, 0, sizeof err);
    mvae_logmel_cfg bad = c;
    bad.n_fft = 500;
    assert_int_equal(mvae_logmel(&bad, wav, 8000, a, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "power of two"));
}

/* ----------------------------------------------------------------------------- dataset */
typedef struct ds_handle {
    mvae_registry *reg;
    mvae_cfg *cfg;
    const mvae_dataset_vtable *vt;
    void *self;
} ds_handle;

static int ds_open(ds_handle *h, const char *yaml, mvae_error *err) {
    memset(h, 0, sizeof *h);
    memset(err, 0, sizeof *err);
    h->reg = mvae_registry_new();
    int rc = mvae_registry_load_file(h->reg, KFS_SO, err);
    if (rc) return rc;
    const mvae_plugin_desc *d = mvae_registry_require(h->reg, MVAE_PLUGIN_DATASET, "kfs_digits", err);
    if (!d) return MVAE_ERR_PLUGIN;
    h->vt = d->vtable;
    static const char *const extra[] = {"plugin", NULL};
    rc = mvae_cfg_load_string(yaml, "kfs.yaml", &h->cfg, err);
    if (!rc) rc = mvae_cfg_validate(h->cfg, mvae_cfg_root(h->cfg), d->options, "dataset", extra, err);
    if (!rc) rc = h->vt->open(mvae_cfg_root(h->cfg), &h->self, err);
    return rc;
}

static void ds_close(ds_handle *h) {
    if (h->self) h->vt->close(h->self);
    mvae_cfg_free(h->cfg);
    mvae_registry_free(h->reg);
    memset(h, 0, sizeof *h);
}

static void must_open(ds_handle *h, const char *yaml) {
    mvae_error err;
    if (ds_open(h, yaml, &err) != MVAE_OK) fail_with("kfs_digits (install the packages of scripts/deps.sh)", err.msg);
}

/* Fill n samples of a split into freshly allocated buffers (free with free_batch). */
static float **get_batch(ds_handle *h, int split, int64_t first, int n) {
    int M = h->vt->n_modalities(h->self);
    float **b = calloc((size_t)M, sizeof *b);
    for (int m = 0; m < M; m++) b[m] = malloc((size_t)n * mvae_modality_numel(h->vt->modality(h->self, m)) * sizeof(float));
    uint8_t *present = malloc((size_t)n * M);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int i = 0; i < n; i++) idx[i] = first + i;
    mvae_error err = {0};
    if (h->vt->get_batch(h->self, split, idx, n, b, present, &err)) fail_with("get_batch", err.msg);
    for (int i = 0; i < n * M; i++) assert_int_equal(present[i], 1);
    free(present);
    free(idx);
    return b;
}
static void free_batch(ds_handle *h, float **b) {
    for (int m = 0; m < h->vt->n_modalities(h->self); m++) free(b[m]);
    free(b);
}

static uint64_t batch_hash(ds_handle *h, int split, int n) {
    float **b = get_batch(h, split, 0, n);
    uint64_t x = 14695981039346656037ULL;
    for (int m = 0; m < h->vt->n_modalities(h->self); m++) {
        const uint8_t *p = (const uint8_t *)b[m];
        size_t len = (size_t)n * mvae_modality_numel(h->vt->modality(h->self, m)) * sizeof(float);
        for (size_t i = 0; i < len; i++) x = (x ^ p[i]) * 1099511628211ULL;
    }
    free_batch(h, b);
    return x;
}

static void test_deterministic_and_cache(void **state) {
    (void)state;
    char y1[512], y2[512], ynone[256];
    snprintf(y1, sizeof y1, "{train_size: 30, test_size: 10, seed: 1, cache_dir: %s/cache}", g_dir);
    snprintf(y2, sizeof y2, "{train_size: 30, test_size: 10, seed: 2, cache_dir: %s/cache}", g_dir);
    snprintf(ynone, sizeof ynone, "{train_size: 30, test_size: 10, seed: 1, cache_dir: none}");
    ds_handle h;
    must_open(&h, y1); /* generates and writes the cache */
    uint64_t a = batch_hash(&h, MVAE_SPLIT_TRAIN, 30), at = batch_hash(&h, MVAE_SPLIT_TEST, 10);
    ds_close(&h);
    must_open(&h, ynone); /* generated again, no cache */
    assert_true(batch_hash(&h, MVAE_SPLIT_TRAIN, 30) == a);
    assert_true(batch_hash(&h, MVAE_SPLIT_TEST, 10) == at);
    ds_close(&h);
    must_open(&h, y2);
    assert_true(batch_hash(&h, MVAE_SPLIT_TRAIN, 30) != a);
    ds_close(&h);
    /* damage every cache file of seed 1: the next open regenerates the same data */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/cache/kfs_train_*.bin | wc -l", g_dir);
    FILE *p = popen(cmd, "r");
    int files = 0;
    assert_int_equal(fscanf(p, "%d", &files), 1);
    pclose(p);
    assert_int_equal(files, 2); /* seeds 1 and 2 */
    must_open(&h, y1);
    assert_true(batch_hash(&h, MVAE_SPLIT_TRAIN, 30) == a);
    ds_close(&h);
    snprintf(cmd, sizeof cmd, "for f in %s/cache/kfs_*.bin; do printf 'XXXX' | dd of=$f bs=1 seek=100 conv=notrunc 2>/dev/null; done", g_dir);
    assert_int_equal(system(cmd), 0);
    must_open(&h, y1);
    assert_true(batch_hash(&h, MVAE_SPLIT_TRAIN, 30) == a);
    assert_true(batch_hash(&h, MVAE_SPLIT_TEST, 10) == at);
    ds_close(&h);
}

typedef int (*check_fn)(const char *path, char *why, size_t len);

static void test_persian_check(void **state) {
    (void)state;
    void *so = dlopen(KFS_SO, RTLD_NOW | RTLD_LOCAL);
    if (!so) fail_with("dlopen " KFS_SO, dlerror());
    check_fn check = (check_fn)dlsym(so, "mvae_kfs_persian_font_check");
    assert_non_null(check);
    struct {
        const char *path, *package;
        int want;
    } cases[] = {
        {"/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf", "fonts-noto-core", 1},
        {"/usr/share/fonts/truetype/freefarsi/FreeFarsi.ttf", "fonts-freefarsi", 1},
        {"/usr/share/fonts/truetype/farsiweb/nazli.ttf", "fonts-farsiweb", 1},   /* maps U+0664..0666 to its Persian glyphs */
        {"/usr/share/fonts/truetype/farsiweb/homa.ttf", "fonts-farsiweb", 1},    /* an unusual but Persian four */
        {"/usr/share/fonts/truetype/paktype/PakType Naskh Basic Urdu.ttf", "fonts-paktype", 0},
        {"/usr/share/fonts/truetype/paktype/PakType Naskh Basic Sindhi.ttf", "fonts-paktype", 0},
        {"/usr/share/fonts/truetype/noto/NotoNastaliqUrdu-Regular.ttf", "fonts-noto-core", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct stat st;
        if (stat(cases[i].path, &st)) {
            print_error("%s is missing: install it with `sudo apt-get install %s`\n", cases[i].path, cases[i].package);
            fail();
        }
        char why[256] = "";
        int got = check(cases[i].path, why, sizeof why);
        if (got != cases[i].want) print_error("%s: got %d (%s), expected %d\n", cases[i].path, got, why, cases[i].want);
        assert_int_equal(got, cases[i].want);
    }
    char why[256] = "";
    assert_int_equal(check("/nonexistent/font.ttf", why, sizeof why), -1);
    assert_non_null(strstr(why, "cannot read"));
    dlclose(so);
}

static void test_unseen_disjoint(void **state) {
    (void)state;
    char ys[256], yu[256];
    snprintf(ys, sizeof ys, "{train_size: 60, test_size: 40, cache_dir: none}");
    snprintf(yu, sizeof yu, "{train_size: 60, test_size: 40, test_split: unseen, cache_dir: none}");
    ds_handle h;
    must_open(&h, yu);
    int kn_n = h.vt->modality(h.self, 4)->n_classes, fa_n = h.vt->modality(h.self, 5)->n_classes;
    int vo_n = h.vt->modality(h.self, 6)->n_classes;
    assert_string_equal(h.vt->modality(h.self, 4)->name, "meta_kannada_font");
    assert_string_equal(h.vt->modality(h.self, 6)->name, "meta_voice");
    int used[3][128];
    memset(used, 0, sizeof used);
    float **tr = get_batch(&h, MVAE_SPLIT_TRAIN, 0, 60);
    for (int i = 0; i < 60; i++)
        for (int c = 0; c < 3; c++) used[c][((int32_t *)tr[4 + c])[i]] |= 1;
    free_batch(&h, tr);
    float **te = get_batch(&h, MVAE_SPLIT_TEST, 0, 40);
    for (int i = 0; i < 40; i++)
        for (int c = 0; c < 3; c++) used[c][((int32_t *)te[4 + c])[i]] |= 2;
    free_batch(&h, te);
    const int nc[3] = {kn_n, fa_n, vo_n};
    int in_test[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < nc[c]; k++) {
            if (used[c][k] == 3) {
                print_error("meta %d class %d (%s) is in both train and test-unseen\n", c, k,
                            h.vt->modality(h.self, 4 + c)->class_names[k]);
                fail();
            }
            in_test[c] += (used[c][k] & 2) != 0;
        }
    for (int c = 0; c < 3; c++) assert_true(in_test[c] >= 1);
    ds_close(&h);
    /* the seen test split uses only training fonts and voices: it overlaps train */
    must_open(&h, ys);
    memset(used, 0, sizeof used);
    tr = get_batch(&h, MVAE_SPLIT_TRAIN, 0, 60);
    te = get_batch(&h, MVAE_SPLIT_TEST, 0, 40);
    int shared = 0;
    for (int i = 0; i < 60; i++) used[1][((int32_t *)tr[5])[i]] = 1;
    for (int i = 0; i < 40; i++) shared += used[1][((int32_t *)te[5])[i]];
    assert_true(shared > 0);
    free_batch(&h, tr);
    free_batch(&h, te);
    ds_close(&h);
}

static void test_shapes_ranges(void **state) {
    (void)state;
    ds_handle h;
    must_open(&h, "{train_size: 20, test_size: 10, cache_dir: none}");
    const void *self = h.self;
    assert_int_equal(h.vt->n_modalities(h.self), 10);
    const char *names[10] = {"kannada", "persian", "audio", "label", "meta_kannada_font", "meta_persian_font",
                             "meta_voice", "meta_accent", "meta_speed", "meta_pitch"};
    const int types[10] = {MVAE_MOD_IMAGE, MVAE_MOD_IMAGE, MVAE_MOD_AUDIO, MVAE_MOD_CATEGORICAL, MVAE_MOD_CATEGORICAL,
                           MVAE_MOD_CATEGORICAL, MVAE_MOD_CATEGORICAL, MVAE_MOD_CATEGORICAL, MVAE_MOD_REAL, MVAE_MOD_REAL};
    const int64_t numel[10] = {784, 784, 1024, 1, 1, 1, 1, 1, 1, 1};
    for (int m = 0; m < 10; m++) {
        const mvae_modality_info *mi = h.vt->modality(h.self, m);
        assert_string_equal(mi->name, names[m]);
        assert_int_equal(mi->type, types[m]);
        assert_int_equal(mvae_modality_numel(mi), numel[m]);
    }
    assert_int_equal(h.vt->modality(h.self, 2)->shape[1], 32);
    assert_int_equal(h.vt->modality(h.self, 3)->n_classes, 10);
    assert_int_equal(h.vt->modality(h.self, 7)->n_classes, 8);
    assert_int_equal(h.vt->size(h.self, MVAE_SPLIT_TRAIN), 20);
    assert_int_equal(h.vt->size(h.self, MVAE_SPLIT_TEST), 10);
    assert_int_equal(h.vt->size(h.self, MVAE_SPLIT_VALID), 0);
    float **b = get_batch(&h, MVAE_SPLIT_TRAIN, 0, 20);
    for (int m = 0; m < 3; m++) {
        float lo = 1, hi = 0;
        double mean = 0;
        for (int64_t j = 0; j < 20 * numel[m]; j++) {
            lo = b[m][j] < lo ? b[m][j] : lo;
            hi = b[m][j] > hi ? b[m][j] : hi;
            mean += b[m][j];
        }
        mean /= 20.0 * numel[m];
        assert_true(lo >= 0.0f && hi <= 1.0f);
        assert_true(hi > 0.9f);             /* ink / the loudest band */
        assert_true(mean > 0.02 && mean < 0.6);
    }
    for (int i = 0; i < 20; i++) {
        assert_int_equal(((int32_t *)b[3])[i], i % 10);
        for (int c = 4; c < 8; c++) {
            int32_t v = ((int32_t *)b[c])[i];
            assert_true(v >= 0 && v < h.vt->modality(h.self, c)->n_classes);
        }
        assert_true(b[8][i] >= 0.0f && b[8][i] <= 1.0f);
        assert_true(b[9][i] >= 0.2f && b[9][i] <= 0.8f);
    }
    free_batch(&h, b);
    mvae_error err = {0};
    int64_t bad = 20;
    uint8_t pr[10];
    float *o[10] = {0};
    assert_int_not_equal(h.vt->get_batch((void *)self, MVAE_SPLIT_TRAIN, &bad, 1, o, pr, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "outside the split"));
    ds_close(&h);
    /* a bad option is refused by the schema (range / choices) */
    assert_int_not_equal(ds_open(&h, "{test_split: elsewhere}", &err), MVAE_OK);
    ds_close(&h);
    assert_int_not_equal(ds_open(&h, "{train_size: -5}", &err), MVAE_OK);
    ds_close(&h);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mvae_test_kfs_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* mvae sample's audio path on a model of this data set (untrained: the plumbing, not the
 * quality): spectrograms drawn from a test sample's Kannada image, turned back into sound as
 * WAV files; conditioning on the decoder-only label and --wav on an image are refused. */
static void test_sample_audio(void **state) {
    (void)state;
    char yaml[1200], png[200], wavdir[200];
    snprintf(yaml, sizeof yaml,
             "name: kfs-sample\n"
             "dataset: {plugin: kfs_digits, train_size: 30, test_size: 10, cache_dir: %s/cache}\n"
             "latent_dim: 8\n"
             "modalities:\n"
             "  kannada: {encoder: {plugin: mlp, hidden: [16]}, decoder: {plugin: mlp, hidden: [16]}}\n"
             "  audio: {encoder: {plugin: mlp, hidden: [16]}, decoder: {plugin: mlp, hidden: [16]}, likelihood: laplace, likelihood_scale: 0.1}\n"
             "  label: {encoder: none, decoder: {plugin: mlp, hidden: []}, likelihood: categorical}\n"
             "  meta_voice: {encoder: none, decoder: {plugin: mlp, hidden: []}, likelihood: categorical, weight: 0}\n"
             "eval: {log_likelihood: {terms: [kannada], samples: 4}, accuracy: {predict: label},\n"
             "       probe: {targets: [meta_voice], iterations: 20}, pictures: false}\n",
             g_dir);
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    if (mvae_registry_load_dir(reg, MVAE_BINARY_DIR "/plugins", &err) || mvae_cfg_load_string(yaml, "kfs.yaml", &cfg, &err) ||
        mvae_model_build(cfg, reg, &m, &err))
        fail_with("kfs model", err.msg);
    snprintf(png, sizeof png, "%s/spec.png", g_dir);
    snprintf(wavdir, sizeof wavdir, "%s/wavs", g_dir);
    if (mvae_sample(m, "kannada=test:2", "audio", 3, 7, png, wavdir, &err)) fail_with("sample", err.msg);
    struct stat st;
    assert_int_equal(stat(png, &st), 0);
    for (int i = 0; i < 3; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/audio_%03d.wav", wavdir, i);
        float *wav = NULL;
        int64_t n = 0;
        int sr = 0;
        if (mvae_wav_read(p, &wav, &n, &sr, &err)) fail_with("wav", err.msg);
        assert_int_equal(sr, 8000);
        assert_true(n >= 7000 && n <= 8000); /* about 1 s */
        double peak = 0;
        for (int64_t j = 0; j < n; j++) peak = fmax(peak, fabs(wav[j]));
        assert_true(peak > 0.5 && peak <= 1.0); /* scaled to a peak of 0.9, quantised to 16 bits */
        free(wav);
    }
    memset(&err, 0, sizeof err);
    assert_int_not_equal(mvae_sample(m, "label=3", "audio", 2, 1, png, NULL, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "decoder-only"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(mvae_sample(m, NULL, "kannada", 2, 1, png, wavdir, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "--wav needs a spectrogram"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(mvae_sample(m, "kannada=test:10", "audio", 2, 1, png, NULL, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "test:N needs N in 0..9"));
    /* eval.probe.targets: the style metadata probed from the same modalities as the label */
    mvae_eval_result ev;
    memset(&err, 0, sizeof err);
    if (mvae_evaluate(m, MVAE_SPLIT_TEST, &ev, true, &err)) fail_with("evaluate", err.msg);
    int found = 0;
    for (int i = 0; i < ev.n_probe; i++) {
        found += strcmp(ev.probe_name[i], "kannada->meta_voice") == 0 || strcmp(ev.probe_name[i], "audio->meta_voice") == 0;
        assert_true(ev.probe[i] >= 0 && ev.probe[i] <= 1);
    }
    assert_int_equal(found, 2);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    /* a target that is not a categorical modality: refused when the model is built */
    mvae_cfg *c2 = NULL;
    mvae_model *m2 = NULL;
    memset(&err, 0, sizeof err);
    char *y2 = strdup(yaml);
    char *at = strstr(y2, "targets: [meta_voice]");
    memcpy(at, "targets: [kannada]   ", strlen("targets: [meta_voice]"));
    assert_int_equal(mvae_cfg_load_string(y2, "kfs.yaml", &c2, &err), MVAE_OK);
    assert_int_not_equal(mvae_model_build(c2, reg, &m2, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "eval.probe.targets: 'kannada' is not a categorical or real modality"));
    free(y2);
    mvae_cfg_free(c2);
    mvae_registry_free(reg);
}

/* eval.coherence with given: subsets on the three modalities: every direction S -> k with k not
 * in S (9 for three), one classifier per generated modality (audio included), and the first
 * set's two directions recomputed here from the cached classifiers (same z draw: one batch,
 * the evaluation's seed); the R^2 probe of a real-valued style factor; subsets.png and the
 * traversals; mvae sample given two modalities of a test tuple. Untrained model: the plumbing. */
static void test_coherence_subsets(void **state) {
    (void)state;
    char yaml[2000], dir[200];
    snprintf(yaml, sizeof yaml,
             "name: kfs-coh\n"
             "dataset: {plugin: kfs_digits, train_size: 30, test_size: 10, cache_dir: %s/cache}\n"
             "latent_dim: 6\n"
             "modalities:\n"
             "  kannada: {encoder: {plugin: mlp, hidden: [16]}, decoder: {plugin: mlp, hidden: [16]}}\n"
             "  persian: {encoder: {plugin: mlp, hidden: [16]}, decoder: {plugin: mlp, hidden: [16]}}\n"
             "  audio: {encoder: {plugin: mlp, hidden: [16]}, decoder: {plugin: mlp, hidden: [16]}, likelihood: laplace, likelihood_scale: 0.1}\n"
             "  label: {encoder: none, decoder: {plugin: mlp, hidden: []}, likelihood: categorical}\n"
             "  meta_voice: {encoder: none, decoder: {plugin: mlp, hidden: []}, likelihood: categorical, weight: 0}\n"
             "  meta_speed: {encoder: none, decoder: {plugin: mlp, hidden: []}, likelihood: gaussian, weight: 0}\n"
             "eval: {log_likelihood: {terms: [kannada], samples: 2}, accuracy: {predict: label}, subsets: true,\n"
             "       probe: {targets: [meta_speed], iterations: 20}, pictures: false,\n"
             "       coherence: {enabled: true, given: subsets, label: label, cache_dir: %s/clf,\n"
             "                   classifier: {plugin: conv_classifier, epochs: 1, architecture: mlp, mlp_hidden: [16]}}}\n",
             g_dir, g_dir);
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    if (mvae_registry_load_dir(reg, MVAE_BINARY_DIR "/plugins", &err) || mvae_cfg_load_string(yaml, "kfs.yaml", &cfg, &err) ||
        mvae_model_build(cfg, reg, &m, &err))
        fail_with("kfs model", err.msg);
    mvae_eval_result ev;
    if (mvae_evaluate(m, MVAE_SPLIT_TEST, &ev, true, &err)) fail_with("evaluate", err.msg);
    /* the 9 directions, then joint coherence (a prior draw into each generated modality and the label) */
    static const char *const want[12] = {"kannada->persian", "kannada->audio", "persian->kannada", "persian->audio",
                                         "audio->kannada", "audio->persian", "kannada,persian->audio",
                                         "kannada,audio->persian", "persian,audio->kannada",
                                         "prior->kannada", "prior->persian", "prior->audio"};
    assert_int_equal(ev.n_coh, 12);
    for (int i = 0; i < 12; i++) {
        assert_string_equal(ev.coh_name[i], want[i]);
        assert_true(ev.coh[i] >= 0 && ev.coh[i] <= 1);
    }
    assert_int_equal(ev.n_clf, 3); /* only for label (eval.coherence.label), not meta_voice */
    assert_string_equal(ev.clf_name[2], "audio");
    /* the reference: z ~ q(z | kannada) for the 10 test tuples with the evaluation's rng, persian and
     * audio generated, classified by the cached classifiers */
    const int K = mvae_model_find(m, "kannada"), P = mvae_model_find(m, "persian"), A = mvae_model_find(m, "audio"),
              L = mvae_model_find(m, "label");
    mvae_classifier *cp = NULL, *ca = NULL;
    char cache[300];
    snprintf(cache, sizeof cache, "%s/clf", g_dir);
    if (mvae_classifier_get(m, P, L, cache, &cp, &err) || mvae_classifier_get(m, A, L, cache, &ca, &err))
        fail_with("classifier", err.msg);
    assert_false(cp->trained); /* loaded from the cache the evaluation wrote */
    mvae_batch b;
    memset(&b, 0, sizeof b);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    int64_t idx[10];
    for (int i = 0; i < 10; i++) idx[i] = i;
    if (mvae_batch_init(&b, m, 100, &err) || mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, 10, NULL, &err)) fail_with("batch", err.msg);
    mvae_rng rng;
    mvae_rng_seed(&rng, m->seed + 777);
    mvae_experts e;
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    assert_int_equal(mvae_model_encode(m, ctx, &b, 1u << K, &e), MVAE_OK);
    assert_int_equal(mvae_model_posterior(m, ctx, &e, 1u << K, &q, &valid, &any), MVAE_OK);
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    mvae_tensor *z = fv->sample(m->fusion, ctx, &q, &rng);
    static float gen[10 * 1024];
    int32_t pred[10];
    const int32_t *lab = (const int32_t *)(const void *)b.x[L];
    mvae_classifier *cl[2] = {cp, ca};
    const int tgt[2] = {P, A};
    for (int d = 0; d < 2; d++) {
        const mvae_modality_info *mi = &m->mod[tgt[d]].info;
        assert_int_equal(mvae_model_generate(m, ctx, tgt[d], z, &rng, gen), MVAE_OK);
        mvae_tensor *x = mvae_tensor_wrap(ctx, 4, (int64_t[]){10, mi->shape[0], mi->shape[1], mi->shape[2]}, gen);
        assert_int_equal(mvae_classifier_predict(cl[d], ctx, x, pred, &err), MVAE_OK);
        int right = 0;
        for (int i = 0; i < 10; i++) right += pred[i] == lab[i];
        fprintf(stderr, "coherence %s: %.2f (evaluation %.2f)\n", want[d], right / 10.0, ev.coh[d]);
        assert_true(fabs(ev.coh[d] - right / 10.0) < 1e-12);
    }
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    mvae_classifier_free(cp);
    mvae_classifier_free(ca);
    /* the real-valued probe: R^2 (at most 1; an untrained z may predict worse than the mean) */
    int found = 0;
    for (int i = 0; i < ev.n_probe; i++)
        if (strcmp(ev.probe_name[i], "audio->meta_speed:r2") == 0) {
            found++;
            assert_true(isfinite(ev.probe[i]) && ev.probe[i] <= 1.0);
        }
    assert_int_equal(found, 1);
    /* pictures: subsets.png is 12 tiles (4 tuples x 3 modalities) of 34 px by 8 rows (the tuples +
     * 7 subsets), padding 2; the traversals 9 x 6 (latent_dim 6 < 8 dimensions) */
    snprintf(dir, sizeof dir, "%s/figs", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    if (mvae_write_subset_pictures(m, dir, true, &err)) fail_with("subset pictures", err.msg);
    const char *files[4] = {"subsets.png", "traverse_kannada.png", "traverse_persian.png", "traverse_audio.png"};
    const int wants[4][2] = {{12 * 34 + 11 * 2, 8 * 34 + 7 * 2}, {9 * 34 + 8 * 2, 6 * 34 + 5 * 2},
                             {9 * 34 + 8 * 2, 6 * 34 + 5 * 2}, {9 * 34 + 8 * 2, 6 * 34 + 5 * 2}};
    for (int i = 0; i < 4; i++) {
        char p[300];
        uint8_t *px = NULL;
        int w = 0, h = 0, c = 0;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (mvae_png_read(p, &px, &w, &h, &c, &err)) fail_with(files[i], err.msg);
        assert_int_equal(w, wants[i][0]);
        assert_int_equal(h, wants[i][1]);
        free(px);
    }
    /* mvae sample given two modalities of one test tuple; a list needs test:N */
    char png[300];
    snprintf(png, sizeof png, "%s/two.png", g_dir);
    if (mvae_sample(m, "kannada,persian=test:3", "audio", 2, 1, png, NULL, &err)) fail_with("sample", err.msg);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(mvae_sample(m, "kannada,persian=3", "audio", 2, 1, png, NULL, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "several modalities only with test:N"));
    memset(&err, 0, sizeof err);
    assert_int_not_equal(mvae_sample(m, "kannada,nope=test:3", "audio", 2, 1, png, NULL, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "'nope' is not a modality"));
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    /* MoPoE counts only the experts: 3 encoders among 8 modalities (decoder-only ones included) */
    char y3[2600];
    const char *ev3 = strstr(yaml, "eval: {");
    snprintf(y3, sizeof y3, "%.*s%s%s", (int)(ev3 - yaml), yaml,
             "  meta_pitch: {encoder: none, decoder: {plugin: mlp, hidden: []}, likelihood: gaussian, weight: 0}\n"
             "  meta_accent: {encoder: none, decoder: {plugin: mlp, hidden: []}, likelihood: categorical, weight: 0}\n"
             "fusion: {plugin: mopoe}\n",
             ev3);
    mvae_cfg *c3 = NULL;
    mvae_model *m3 = NULL;
    memset(&err, 0, sizeof err);
    if (mvae_cfg_load_string(y3, "kfs.yaml", &c3, &err) || mvae_model_build(c3, reg, &m3, &err)) fail_with("mopoe model", err.msg);
    assert_int_equal(m3->n_mod, 8);
    mvae_model_free(m3);
    mvae_cfg_free(c3);
    /* eval.coherence.label must name a categorical modality */
    char *y2 = strdup(yaml);
    char *at = strstr(y2, "label: label,");
    memcpy(at, "label: audio,", strlen("label: label,"));
    mvae_cfg *c2 = NULL;
    mvae_model *m2 = NULL;
    memset(&err, 0, sizeof err);
    if (mvae_cfg_load_string(y2, "kfs.yaml", &c2, &err) || mvae_model_build(c2, reg, &m2, &err)) fail_with("model 2", err.msg);
    assert_int_not_equal(mvae_evaluate(m2, MVAE_SPLIT_TEST, &ev, true, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "eval.coherence.label: 'audio' is not a categorical modality"));
    mvae_model_free(m2);
    mvae_cfg_free(c2);
    free(y2);
    mvae_registry_free(reg);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sine_band),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_persian_check),
        cmocka_unit_test(test_deterministic_and_cache),
        cmocka_unit_test(test_unseen_disjoint),
        cmocka_unit_test(test_shapes_ranges),
        cmocka_unit_test(test_sample_audio),
        cmocka_unit_test(test_coherence_subsets),
    };
    return cmocka_run_group_tests_name("kfs_digits", tests, setup, teardown);
}
