/* test_torch_compare.c — mvae against PyTorch: forward outputs, losses and every gradient of small
 * networks, and the whole MVAE training step (model built through the real plugins, the real
 * objective, one Adam step), compared with reference fixtures that PyTorch computed in float64.
 *
 * The fixtures (tests/fixtures/<case>.<k>.bin, format documented in gen_torch_fixtures.py) are
 * committed; regenerate them with  /usr/bin/python3 tests/fixtures/gen_torch_fixtures.py .
 * This test needs no Python.
 *
 * Tolerances: a tensor passes when max|mvae - torch| <= rtol * max|torch| + atol (float32 math
 * against an exact reference: rtol 1e-4 everywhere, about 100x the differences observed; the
 * parameters after Adam: atol 1e-6, i.e. 1e-3 of the step). Every comparison prints its max abs
 * difference; a 0.1% change of the PoE prior precision already fails the MVAE cases.
 *
 * The MVAE cases (mvae_mlp, mvae_cnn, mvae_cnnbn) build the model from a YAML string with the
 * registry of the build tree's plugins and a tiny gzipped IDX dataset (written to a temporary
 * directory) holding exactly the fixture's images and labels, then load the fixture's parameters
 * by mvae name. The reparameterisation noise: gen_torch_fixtures.py replicates mvae's rng
 * (xoshiro256** + Box-Muller) and draws eps from the seed EPS_SEED in the order mvae's objective
 * does (joint, image, label terms). So the test
 *   1. checks that mvae's rng indeed yields the fixture's eps (else: regenerate the fixtures),
 *   2. computes the objective by hand from the model pieces (encode, posterior, gaussian_sample
 *      with the fixture's eps INJECTED, decode, likelihood, kl_normal) and compares the experts,
 *      the joint posterior, the loss and the gradients: this part does not depend on the rng,
 *   3. runs the real mvae_objective_loss with an rng seeded EPS_SEED and compares the loss, the
 *      three terms, every parameter gradient and (batchnorm) the running statistics,
 *   4. (mvae_mlp) applies one mvae_optim_step (Adam, lr 1e-3) and compares every parameter with
 *      torch.optim.Adam's.
 */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/config.h"
#include "mvae/model.h"
#include "mvae/optim.h"
#include "mvae/plugin.h"
#include "mvae/prob.h"
#include "mvae/train.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BUILD_PLUGINS MVAE_BINARY_DIR "/plugins"

/* ------------------------------------------------------------------------- fixture reader */
typedef struct fx_arr {
    char name[128];
    int dtype; /* 0 f32, 1 i32 */
    int ndim;
    int64_t shape[4];
    int64_t n;
    float *f;   /* dtype 0 */
    int32_t *i; /* dtype 1 */
} fx_arr;

typedef struct fx {
    int n, cap;
    fx_arr *a;
    int n_used;
} fx;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Loads <case>.0.bin, <case>.1.bin, ... into one table. */
static fx *fx_load(const char *case_name) {
    fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    for (int part = 0;; part++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.%d.bin", MVAE_TEST_FIXTURES, case_name, part);
        size_t len;
        uint8_t *buf = read_whole(path, &len);
        if (!buf) {
            if (part == 0) fprintf(stderr, "cannot read fixture %s\n", path);
            assert_true(part > 0);
            break;
        }
        assert_true(len >= 12);
        assert_memory_equal(buf, "MVFX", 4);
        assert_int_equal(le32(buf + 4), 1);
        uint32_t count = le32(buf + 8);
        size_t off = 12;
        for (uint32_t e = 0; e < count; e++) {
            if (x->n == x->cap) {
                x->cap = x->cap ? 2 * x->cap : 64;
                x->a = realloc(x->a, (size_t)x->cap * sizeof *x->a);
                assert_non_null(x->a);
            }
            fx_arr *a = &x->a[x->n++];
            memset(a, 0, sizeof *a);
            assert_true(off + 4 <= len);
            uint32_t nl = le32(buf + off);
            off += 4;
            assert_true(nl < sizeof a->name && off + nl + 8 <= len);
            memcpy(a->name, buf + off, nl);
            off += nl;
            a->dtype = (int)le32(buf + off);
            a->ndim = (int)le32(buf + off + 4);
            off += 8;
            assert_true(a->ndim >= 1 && a->ndim <= 4 && (a->dtype == 0 || a->dtype == 1));
            a->n = 1;
            for (int d = 0; d < a->ndim; d++, off += 4) {
                a->shape[d] = le32(buf + off);
                a->n *= a->shape[d];
            }
            assert_true(off + (size_t)a->n * 4 <= len);
            void *dst = malloc((size_t)a->n * 4);
            assert_non_null(dst);
            for (int64_t k = 0; k < a->n; k++) {
                uint32_t v = le32(buf + off + 4 * k);
                memcpy((char *)dst + 4 * k, &v, 4);
            }
            off += (size_t)a->n * 4;
            if (a->dtype == 0)
                a->f = dst;
            else
                a->i = dst;
        }
        assert_int_equal(off, len);
        free(buf);
    }
    return x;
}

static void fx_free(fx *x) {
    for (int k = 0; k < x->n; k++) {
        free(x->a[k].f);
        free(x->a[k].i);
    }
    free(x->a);
    free(x);
}

static const fx_arr *fx_find(const fx *x, const char *name) {
    for (int k = 0; k < x->n; k++)
        if (strcmp(x->a[k].name, name) == 0) return &x->a[k];
    return NULL;
}

static const fx_arr *fx_get(const fx *x, const char *name) {
    const fx_arr *a = fx_find(x, name);
    if (!a) fprintf(stderr, "fixture array '%s' missing\n", name);
    assert_non_null(a);
    return a;
}

/* A leaf tensor in ctx holding the fixture array (F32 or I32). */
static mvae_tensor *fx_tensor(mvae_ctx *ctx, const fx *x, const char *name, bool requires_grad) {
    const fx_arr *a = fx_get(x, name);
    mvae_tensor *t = a->dtype == 0 ? mvae_tensor_new(ctx, a->ndim, a->shape)
                                   : mvae_tensor_new_i32(ctx, a->ndim, a->shape);
    assert_non_null(t);
    memcpy(t->data, a->dtype == 0 ? (const void *)a->f : (const void *)a->i, (size_t)a->n * 4);
    if (requires_grad) mvae_tensor_requires_grad(t);
    t->name = a->name;
    return t;
}

/* ------------------------------------------------------------------------- comparison */
static double g_worst_rel; /* largest max|diff| / max|ref| seen, for the summary */

/* Returns true when max|got - ref| <= rtol * max|ref| + atol; prints the numbers either way. */
static bool close_to(const char *what, const float *got, const fx_arr *ref, double rtol, double atol) {
    assert_int_equal(ref->dtype, 0);
    if (!got) {
        fprintf(stderr, "  %-34s no value computed (NULL gradient?)\n", what);
        return false;
    }
    double scale = 0;
    double md = mvae_test_maxdiff(got, ref->f, ref->n, &scale);
    bool ok = md <= rtol * scale + atol; /* NaN fails */
    double rel = scale > 0 ? md / scale : md;
    if (rel > g_worst_rel) g_worst_rel = rel;
    printf("  %-34s max|diff| %.3e  max|ref| %.3e  rel %.2e%s\n", what, md, scale, rel,
           ok ? "" : "   <-- FAIL");
    return ok;
}

static int g_fail;
static void expect_close(const char *what, const float *got, const fx_arr *ref, double rtol) {
    if (!close_to(what, got, ref, rtol, 1e-6)) g_fail++;
}
static void expect_t(const char *what, const mvae_tensor *t, const fx *x, const char *name, double rtol) {
    const fx_arr *ref = fx_get(x, name);
    assert_non_null(t);
    assert_int_equal(t->n, ref->n);
    expect_close(what, t->data, ref, rtol);
}
static void expect_grad(const mvae_tensor *t, const fx *x, const char *pname, double rtol) {
    char name[256];
    snprintf(name, sizeof name, "grad/%s", pname);
    const fx_arr *ref = fx_get(x, name);
    assert_int_equal(t->n, ref->n);
    expect_close(name, t->grad, ref, rtol);
}
static void expect_scalar(const char *what, double got, const fx *x, const char *name, double rtol) {
    const fx_arr *ref = fx_get(x, name);
    float g = (float)got;
    expect_close(what, &g, ref, rtol);
}

#define RT 1e-4 /* default relative tolerance */

static void begin(const char *title) {
    printf("[%s]\n", title);
    g_fail = 0;
}
static void end(void) { assert_int_equal(g_fail, 0); }

/* ------------------------------------------------------------------------- a: MLP */
static void test_mlp(void **state) {
    (void)state;
    begin("mlp: Linear(20,16)-swish-Linear(16,12)-swish-Linear(12,8), loss sum(out*R)");
    fx *x = fx_load("mlp");
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *in = fx_tensor(ctx, x, "x", true), *R = fx_tensor(ctx, x, "R", false);
    const char *pn[] = {"fc1.w", "fc1.b", "fc2.w", "fc2.b", "fc3.w", "fc3.b"};
    mvae_tensor *p[6];
    char name[64];
    for (int k = 0; k < 6; k++) {
        snprintf(name, sizeof name, "param/%s", pn[k]);
        p[k] = fx_tensor(ctx, x, name, true);
    }
    mvae_tensor *h = mvae_swish(ctx, mvae_linear(ctx, in, p[0], p[1]));
    h = mvae_swish(ctx, mvae_linear(ctx, h, p[2], p[3]));
    mvae_tensor *out = mvae_linear(ctx, h, p[4], p[5]);
    mvae_tensor *loss = mvae_sum_all(ctx, mvae_mul(ctx, out, R));
    assert_false(mvae_ctx_failed(ctx));
    expect_t("out", out, x, "out", RT);
    expect_t("loss", loss, x, "loss", RT);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    for (int k = 0; k < 6; k++) expect_grad(p[k], x, pn[k], RT);
    expect_grad(in, x, "x", RT);
    mvae_ctx_free(ctx);
    fx_free(x);
    end();
}

/* ------------------------------------------------------------------------- b: conv / deconv */
static void test_convnet(void **state) {
    (void)state;
    begin("convnet: conv-swish-conv-swish-fc-swish-fc-swish-deconv-swish-deconv, BCE-with-logits");
    fx *x = fx_load("convnet");
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *in = fx_tensor(ctx, x, "x", true), *target = fx_tensor(ctx, x, "target", false);
    const char *pn[] = {"conv1.w", "conv2.w", "fc1.w", "fc1.b", "fc2.w", "fc2.b", "deconv1.w",
                        "deconv2.w", "deconv2.b"};
    enum { NP = 9 };
    mvae_tensor *p[NP];
    char name[64];
    for (int k = 0; k < NP; k++) {
        snprintf(name, sizeof name, "param/%s", pn[k]);
        p[k] = fx_tensor(ctx, x, name, true);
    }
    mvae_tensor *h = mvae_swish(ctx, mvae_conv2d(ctx, in, p[0], NULL, 2, 1));
    h = mvae_swish(ctx, mvae_conv2d(ctx, h, p[1], NULL, 2, 1));
    h = mvae_reshape(ctx, h, 2, (int64_t[]){3, 72});
    h = mvae_swish(ctx, mvae_linear(ctx, h, p[2], p[3]));
    h = mvae_swish(ctx, mvae_linear(ctx, h, p[4], p[5]));
    h = mvae_reshape(ctx, h, 4, (int64_t[]){3, 8, 3, 3});
    h = mvae_swish(ctx, mvae_conv_transpose2d(ctx, h, p[6], NULL, 2, 1, 0));
    mvae_tensor *out = mvae_conv_transpose2d(ctx, h, p[7], p[8], 2, 1, 0);
    mvae_tensor *loss = mvae_scale(ctx, mvae_sum_all(ctx, mvae_bernoulli_logp(ctx, out, target)), -1.0f);
    if (mvae_ctx_failed(ctx)) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_false(mvae_ctx_failed(ctx));
    expect_t("out (logits)", out, x, "out", RT);
    expect_t("loss", loss, x, "loss", RT);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    for (int k = 0; k < NP; k++) expect_grad(p[k], x, pn[k], RT);
    expect_grad(in, x, "x", RT);
    mvae_ctx_free(ctx);
    fx_free(x);
    end();
}

static void test_conv_misc(void **state) {
    (void)state;
    begin("conv_misc: Conv2d(3,5,3,1,1,bias) on 7x9 -> ConvT(5,2,3,2,1,output_padding=1,bias)");
    fx *x = fx_load("conv_misc");
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *in = fx_tensor(ctx, x, "x", true), *R = fx_tensor(ctx, x, "R", false);
    const char *pn[] = {"conv.w", "conv.b", "deconv.w", "deconv.b"};
    mvae_tensor *p[4];
    char name[64];
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "param/%s", pn[k]);
        p[k] = fx_tensor(ctx, x, name, true);
    }
    mvae_tensor *h = mvae_conv2d(ctx, in, p[0], p[1], 1, 1);
    mvae_tensor *out = mvae_conv_transpose2d(ctx, h, p[2], p[3], 2, 1, 1);
    mvae_tensor *loss = mvae_sum_all(ctx, mvae_mul(ctx, out, R));
    if (mvae_ctx_failed(ctx)) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_false(mvae_ctx_failed(ctx));
    expect_t("conv out", h, x, "conv_out", RT);
    expect_t("out", out, x, "out", RT);
    expect_t("loss", loss, x, "loss", RT);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    for (int k = 0; k < 4; k++) expect_grad(p[k], x, pn[k], RT);
    expect_grad(in, x, "x", RT);
    mvae_ctx_free(ctx);
    fx_free(x);
    end();
}

/* ------------------------------------------------------------------------- c: batchnorm, GRU, CE */
static void test_batchnorm(void **state) {
    (void)state;
    begin("batchnorm: BatchNorm2d(3) on [4,3,5,5] and BatchNorm1d(4) on [6,4], train mode");
    fx *x = fx_load("batchnorm");
    const char *tags[] = {"bn2d", "bn1d"};
    char name[128], what[128];
    for (int t = 0; t < 2; t++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_training(ctx, true);
#define BN(s) (snprintf(name, sizeof name, "%s/%s", tags[t], s), name)
        mvae_tensor *in = fx_tensor(ctx, x, BN("x"), true);
        mvae_tensor *R = fx_tensor(ctx, x, BN("R"), false);
        mvae_tensor *gamma = fx_tensor(ctx, x, BN("param/gamma"), true);
        mvae_tensor *beta = fx_tensor(ctx, x, BN("param/beta"), true);
        float rm[8], rv[8];
        int64_t C = gamma->n;
        assert_true(C <= 8);
        memcpy(rm, fx_get(x, BN("running_mean0"))->f, (size_t)C * sizeof(float));
        memcpy(rv, fx_get(x, BN("running_var0"))->f, (size_t)C * sizeof(float));
        mvae_tensor *out = mvae_batchnorm(ctx, in, gamma, beta, rm, rv, 0.1f, 1e-5f);
        mvae_tensor *loss = mvae_sum_all(ctx, mvae_mul(ctx, out, R));
        assert_false(mvae_ctx_failed(ctx));
#define W(s) (snprintf(what, sizeof what, "%s %s", tags[t], s), what)
        expect_t(W("out"), out, x, BN("out"), RT);
        expect_t(W("loss"), loss, x, BN("loss"), RT);
        expect_close(W("running_mean"), rm, fx_get(x, BN("running_mean")), RT);
        expect_close(W("running_var"), rv, fx_get(x, BN("running_var")), RT);
        assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
        expect_close(W("grad gamma"), gamma->grad, fx_get(x, BN("grad/gamma")), RT);
        expect_close(W("grad beta"), beta->grad, fx_get(x, BN("grad/beta")), RT);
        expect_close(W("grad x"), in->grad, fx_get(x, BN("grad/x")), RT);
#undef BN
#undef W
        mvae_ctx_free(ctx);
    }
    fx_free(x);
    end();
}

static void test_gru(void **state) {
    (void)state;
    begin("gru: GRUCell(6,5), batch 3, loss sum(h'*R)");
    fx *x = fx_load("gru");
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *in = fx_tensor(ctx, x, "x", true), *h = fx_tensor(ctx, x, "h", true);
    mvae_tensor *R = fx_tensor(ctx, x, "R", false);
    const char *pn[] = {"w_ih", "w_hh", "b_ih", "b_hh"};
    mvae_tensor *p[4];
    char name[64];
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "param/%s", pn[k]);
        p[k] = fx_tensor(ctx, x, name, true);
    }
    mvae_tensor *out = mvae_gru_cell(ctx, in, h, p[0], p[1], p[2], p[3]);
    mvae_tensor *loss = mvae_sum_all(ctx, mvae_mul(ctx, out, R));
    assert_false(mvae_ctx_failed(ctx));
    expect_t("h'", out, x, "out", RT);
    expect_t("loss", loss, x, "loss", RT);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    for (int k = 0; k < 4; k++) expect_grad(p[k], x, pn[k], RT);
    expect_grad(in, x, "x", RT);
    expect_grad(h, x, "h", RT);
    mvae_ctx_free(ctx);
    fx_free(x);
    end();
}

static void test_embed_ce(void **state) {
    (void)state;
    begin("embed_ce: Embedding(7,4)-Linear(4,6), cross-entropy; token logits with -1 padding");
    fx *x = fx_load("embed_ce");
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *idx = fx_tensor(ctx, x, "idx", false), *target = fx_tensor(ctx, x, "target", false);
    mvae_tensor *table = fx_tensor(ctx, x, "param/embed.table", true);
    mvae_tensor *W = fx_tensor(ctx, x, "param/fc.w", true), *b = fx_tensor(ctx, x, "param/fc.b", true);
    mvae_tensor *tok = fx_tensor(ctx, x, "tok_logits", true);
    mvae_tensor *tok_target = fx_tensor(ctx, x, "tok_target", false);
    mvae_tensor *logits = mvae_linear(ctx, mvae_gather(ctx, table, idx), W, b);
    mvae_tensor *loss = mvae_scale(ctx, mvae_sum_all(ctx, mvae_categorical_logp(ctx, logits, target)), -1.0f);
    mvae_tensor *tok_loss = mvae_scale(ctx, mvae_sum_all(ctx, mvae_categorical_logp(ctx, tok, tok_target)), -1.0f);
    mvae_tensor *total = mvae_add(ctx, loss, tok_loss);
    if (mvae_ctx_failed(ctx)) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_false(mvae_ctx_failed(ctx));
    expect_t("logits", logits, x, "logits", RT);
    expect_t("loss", loss, x, "loss", RT);
    expect_t("token loss", tok_loss, x, "tok_loss", RT);
    assert_int_equal(mvae_backward(ctx, total), MVAE_OK);
    expect_grad(table, x, "embed.table", RT);
    expect_grad(W, x, "fc.w", RT);
    expect_grad(b, x, "fc.b", RT);
    expect_grad(tok, x, "tok_logits", RT);
    mvae_ctx_free(ctx);
    fx_free(x);
    end();
}

/* ------------------------------------------------------------------------- d: the MVAE path */
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Gzipped IDX files as the fashion_mnist plugin reads them (the helper of test_plugin.c, fed
 * with given bytes). */
static void write_idx(const char *dir, const char *file, const uint8_t *hdr, int hlen, const uint8_t *body,
                      int blen) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, hdr, (unsigned)hlen), hlen);
    assert_int_equal(gzwrite(g, body, (unsigned)blen), blen);
    gzclose(g);
}

static const char *const idx_files[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

static void write_dataset(const char *dir, const fx *x) {
    const fx_arr *img = fx_get(x, "image_bytes"), *lab = fx_get(x, "label");
    int n = (int)lab->n;
    assert_int_equal(img->n, (int64_t)n * 784);
    uint8_t *px = malloc((size_t)img->n), *lb = malloc((size_t)n);
    for (int64_t k = 0; k < img->n; k++) px[k] = (uint8_t)img->i[k];
    for (int k = 0; k < n; k++) lb[k] = (uint8_t)lab->i[k];
    uint8_t hi[16], hl[8];
    put_be32(hi, 0x803);
    put_be32(hi + 4, (uint32_t)n);
    put_be32(hi + 8, 28);
    put_be32(hi + 12, 28);
    put_be32(hl, 0x801);
    put_be32(hl + 4, (uint32_t)n);
    for (int s = 0; s < 2; s++) {
        write_idx(dir, idx_files[2 * s], hi, 16, px, (int)img->n);
        write_idx(dir, idx_files[2 * s + 1], hl, 8, lb, n);
    }
    free(px);
    free(lb);
}

static void remove_dataset(const char *dir) {
    char path[512];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, idx_files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static const char *yaml_mlp =
    "name: torch-compare-mlp\n"
    "seed: 1\n"
    "dataset: { plugin: fashion_mnist, path: '%s' }\n"
    "latent_dim: 8\n"
    "modalities:\n"
    "  image:\n"
    "    encoder: { plugin: mlp, hidden: [32, 32] }\n"
    "    decoder: { plugin: mlp, hidden: [32, 32, 32] }\n"
    "    likelihood: bernoulli\n"
    "    weight: 1.0\n"
    "  label:\n"
    "    encoder: { plugin: mlp, embed: 32, hidden: [32] }\n"
    "    decoder: { plugin: mlp, hidden: [32, 32, 32] }\n"
    "    likelihood: categorical\n"
    "    weight: %g\n"
    "fusion: { plugin: poe, prior_expert: true }\n"
    "train:\n"
    "  objective: { joint: true, unimodal: true, random_subsets: 0 }\n";

static const char *yaml_cnn =
    "name: torch-compare-cnn\n"
    "seed: 1\n"
    "dataset: { plugin: fashion_mnist, path: '%s' }\n"
    "latent_dim: 8\n"
    "modalities:\n"
    "  image:\n"
    "    encoder: { plugin: conv_image, channels: [4, 8], hidden: 16, batchnorm: %s }\n"
    "    decoder: { plugin: deconv_image, channels: [8, 4], hidden: 16, batchnorm: %s }\n"
    "    likelihood: bernoulli\n"
    "    weight: 1.0\n"
    "  label:\n"
    "    encoder: { plugin: mlp, embed: 16, hidden: [16] }\n"
    "    decoder: { plugin: mlp, hidden: [16, 16, 16] }\n"
    "    likelihood: categorical\n"
    "    weight: %g\n"
    "fusion: { plugin: poe, prior_expert: true }\n"
    "train:\n"
    "  objective: { joint: true, unimodal: true, random_subsets: 0 }\n";

typedef struct mvae_case {
    const char *name;
    bool cnn, bn, adam;
} mvae_case;

/* The objective of train.c for terms joint, image, label, written out with injected noise. */
static mvae_tensor *objective_by_hand(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b,
                                      const fx *x, float beta, double terms[3]) {
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    int ki = mvae_model_find(m, "image"), kl = mvae_model_find(m, "label");
    uint32_t subsets[3] = {(1u << ki) | (1u << kl), 1u << ki, 1u << kl};
    const char *eps_names[3] = {"eps_joint", "eps_image", "eps_label"};
    mvae_experts e;
    assert_int_equal(mvae_model_encode(m, ctx, b, subsets[0], &e), MVAE_OK);
    expect_t("image expert mu", e.mu[ki], x, "image_mu", RT);
    expect_t("image expert logvar", e.logvar[ki], x, "image_logvar", RT);
    expect_t("label expert mu", e.mu[kl], x, "label_mu", RT);
    expect_t("label expert logvar", e.logvar[kl], x, "label_logvar", RT);
    mvae_tensor *total = NULL;
    for (int t = 0; t < 3; t++) {
        mvae_posterior q;
        mvae_tensor *valid;
        int any;
        assert_int_equal(mvae_model_posterior(m, ctx, &e, subsets[t], &q, &valid, &any), MVAE_OK);
        assert_true(any);
        if (t == 0) {
            expect_t("joint posterior mu", q.mu, x, "joint_mu", RT);
            expect_t("joint posterior logvar", q.logvar, x, "joint_logvar", RT);
        }
        mvae_tensor *eps = fx_tensor(ctx, x, eps_names[t], false);
        mvae_tensor *z = mvae_gaussian_sample(ctx, q.mu, q.logvar, eps);
        mvae_tensor *per = mvae_scale(ctx, fv->kl(m->fusion, ctx, &q, z), beta);
        for (int k = 0; k < m->n_mod; k++) {
            if (!(subsets[t] & (1u << k))) continue;
            const mvae_modality *md = &m->mod[k];
            mvae_tensor *lp = mvae_likelihood_logp(ctx, md->likelihood, mvae_model_decode(m, ctx, k, z),
                                                   mvae_batch_tensor(ctx, m, b, k), md->lik_scale);
            per = mvae_add(ctx, per, mvae_scale(ctx, lp, -md->weight));
        }
        mvae_tensor *term = mvae_scale(ctx, mvae_sum_all(ctx, per), 1.0f / (float)b->n);
        assert_non_null(term);
        terms[t] = term->data[0];
        total = total ? mvae_add(ctx, total, term) : term;
    }
    if (mvae_ctx_failed(ctx)) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_false(mvae_ctx_failed(ctx));
    return total;
}

static void compare_grads(const mvae_params *ps, const fx *x, double rtol) {
    char name[160];
    for (int k = 0; k < ps->count; k++) {
        const mvae_param_entry *pe = &ps->entries[k];
        if (pe->buffer) continue;
        snprintf(name, sizeof name, "grad/%s", pe->name);
        expect_close(name, pe->t->grad, fx_get(x, name), rtol);
    }
}

static void run_mvae_case(const mvae_case *c) {
    fx *x = fx_load(c->name);
    float beta = fx_get(x, "anneal")->f[0], lw = fx_get(x, "label_weight")->f[0];
    uint64_t eps_seed = (uint64_t)fx_get(x, "eps_seed")->i[0];
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/mvae_test_torch_XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_dataset(dir, x);

    /* the model, through the real config / plugin path */
    char yaml[4096];
    if (c->cnn)
        snprintf(yaml, sizeof yaml, yaml_cnn, dir, c->bn ? "true" : "false", c->bn ? "true" : "false", lw);
    else
        snprintf(yaml, sizeof yaml, yaml_mlp, dir, lw);
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    if (mvae_registry_load_dir(reg, BUILD_PLUGINS, &err)) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(err.status, MVAE_OK);
    mvae_cfg *cfg = NULL;
    if (mvae_cfg_load_string(yaml, "torch_compare.yaml", &cfg, &err)) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(cfg);
    mvae_model *m = NULL;
    if (mvae_model_build(cfg, reg, &m, &err)) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    assert_int_equal(m->n_mod, 2);

    /* parameters by name; every fixture parameter must be used */
    mvae_params *ps = m->params;
    int n_params = 0, n_fx_params = 0;
    char name[160];
    for (int k = 0; k < ps->count; k++) {
        mvae_param_entry *pe = &ps->entries[k];
        if (pe->buffer) continue;
        snprintf(name, sizeof name, "param/%s", pe->name);
        const fx_arr *a = fx_find(x, name);
        if (!a) fprintf(stderr, "no fixture parameter for mvae parameter '%s'\n", pe->name);
        assert_non_null(a);
        assert_int_equal(a->n, pe->t->n);
        for (int d = 0; d < a->ndim; d++) assert_int_equal(a->shape[d], pe->t->shape[d]);
        memcpy(pe->t->data, a->f, (size_t)a->n * sizeof(float));
        n_params++;
    }
    for (int k = 0; k < x->n; k++) n_fx_params += strncmp(x->a[k].name, "param/", 6) == 0;
    assert_int_equal(n_params, n_fx_params);
    /* buffers (batchnorm running statistics) start at PyTorch's defaults too; keep a copy */
    float *data0 = malloc(ps->n_floats * sizeof(float));
    memcpy(data0, ps->data, ps->n_floats * sizeof(float));

    /* the batch: the dataset's 4 samples */
    const fx_arr *lab = fx_get(x, "label"), *img = fx_get(x, "image_bytes");
    int B = (int)lab->n;
    mvae_batch b;
    assert_int_equal(mvae_batch_init(&b, m, B, &err), MVAE_OK);
    int64_t idx[16];
    for (int i = 0; i < B; i++) idx[i] = i;
    assert_int_equal(mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, B, NULL, &err), MVAE_OK);
    int ki = mvae_model_find(m, "image"), kl = mvae_model_find(m, "label");
    for (int i = 0; i < B; i++) {
        assert_int_equal(((int32_t *)b.x[kl])[i], lab->i[i]);
        for (int p = 0; p < 784; p++)
            assert_float_equal(b.x[ki][i * 784 + p], (float)img->i[i * 784 + p] / 255.0f, 1e-7);
    }

    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_ctx_set_training(ctx, true);

    /* 1. the fixture's noise is what mvae's rng draws */
    mvae_rng r;
    mvae_rng_seed(&r, eps_seed);
    const char *eps_names[3] = {"eps_joint", "eps_image", "eps_label"};
    for (int t = 0; t < 3; t++) {
        const fx_arr *e = fx_get(x, eps_names[t]);
        float *buf = malloc((size_t)e->n * sizeof(float));
        mvae_rng_normal_fill(&r, buf, (size_t)e->n);
        double scale;
        double md = mvae_test_maxdiff(buf, e->f, e->n, &scale);
        if (md > 1e-6)
            fprintf(stderr, "%s: mvae's rng no longer draws the fixture's noise (max diff %g): "
                            "regenerate the fixtures with tests/fixtures/gen_torch_fixtures.py\n",
                    eps_names[t], md);
        assert_true(md <= 1e-6);
        free(buf);
    }

    /* 2. the objective by hand, noise injected */
    printf(" (by hand, injected noise)\n");
    double terms[3];
    mvae_params_zero_grad(ps);
    mvae_tensor *loss = objective_by_hand(m, ctx, &b, x, beta, terms);
    expect_t("loss", loss, x, "loss", RT);
    expect_scalar("term joint", terms[0], x, "term_joint", RT);
    expect_scalar("term image", terms[1], x, "term_image", RT);
    expect_scalar("term label", terms[2], x, "term_label", RT);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    compare_grads(ps, x, RT);

    /* 3. the real objective, rng seeded as the fixture's noise, and backward as the trainer runs
     * it: dead values recycled, gradients in place (step 2 ran without) */
    printf(" (mvae_objective_loss, values recycled in backward)\n");
    mvae_ctx_set_recycle_values(ctx, true);
    memcpy(ps->data, data0, ps->n_floats * sizeof(float)); /* undo the running-stat updates */
    mvae_params_zero_grad(ps);
    mvae_ctx_reset(ctx);
    mvae_objective obj;
    assert_int_equal(mvae_objective_from_config(m, &obj, &err), MVAE_OK);
    mvae_rng_seed(&r, eps_seed);
    mvae_step_stats st;
    loss = NULL;
    int rc = mvae_objective_loss(m, ctx, &b, &obj, beta, &r, &loss, &st);
    if (rc) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(st.n_terms, 3);
    assert_int_equal(st.subset[0], (1u << ki) | (1u << kl));
    assert_int_equal(st.subset[1], 1u << ki);
    assert_int_equal(st.subset[2], 1u << kl);
    expect_t("loss", loss, x, "loss", RT);
    expect_scalar("term joint", st.term_loss[0], x, "term_joint", RT);
    expect_scalar("term image", st.term_loss[1], x, "term_image", RT);
    expect_scalar("term label", st.term_loss[2], x, "term_label", RT);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    compare_grads(ps, x, RT);
    for (int k = 0; k < ps->count; k++) {
        const mvae_param_entry *pe = &ps->entries[k];
        if (!pe->buffer) continue;
        snprintf(name, sizeof name, "buffer/%s", pe->name);
        expect_close(name, pe->t->data, fx_get(x, name), RT);
    }

    /* 4. one Adam step */
    if (c->adam) {
        printf(" (one Adam step, lr 1e-3)\n");
        mvae_optim opt = mvae_optim_adam(1e-3f);
        assert_int_equal(mvae_optim_step(&opt, ps, &err), MVAE_OK);
        for (int k = 0; k < ps->count; k++) {
            const mvae_param_entry *pe = &ps->entries[k];
            if (pe->buffer) continue;
            snprintf(name, sizeof name, "adam/%s", pe->name);
            /* the step is ~lr per element: compare with an absolute tolerance of 1e-3 lr */
            if (!close_to(name, pe->t->data, fx_get(x, name), 0, 1e-6)) g_fail++;
        }
    }

    free(data0);
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    remove_dataset(dir);
    fx_free(x);
}

static void test_mvae_mlp(void **state) {
    (void)state;
    begin("mvae_mlp: MVAE (MLP nets, H=32, L=8), PoE, ELBO(x,y)+ELBO(x)+ELBO(y), Adam");
    run_mvae_case(&(mvae_case){"mvae_mlp", false, false, true});
    end();
}

static void test_mvae_cnn(void **state) {
    (void)state;
    begin("mvae_cnn: MVAE (conv_image / deconv_image, channels 4/8, hidden 16)");
    run_mvae_case(&(mvae_case){"mvae_cnn", true, false, false});
    end();
}

static void test_mvae_cnnbn(void **state) {
    (void)state;
    begin("mvae_cnnbn: MVAE (conv_image / deconv_image with batchnorm)");
    run_mvae_case(&(mvae_case){"mvae_cnnbn", true, true, false});
    end();
}

static int summary(void **state) {
    (void)state;
    printf("largest relative difference over all comparisons: %.2e\n", g_worst_rel);
    return 0;
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp),       cmocka_unit_test(test_convnet),
        cmocka_unit_test(test_conv_misc), cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_gru),       cmocka_unit_test(test_embed_ce),
        cmocka_unit_test(test_mvae_mlp),  cmocka_unit_test(test_mvae_cnn),
        cmocka_unit_test(test_mvae_cnnbn),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("torch_compare", tests, NULL, summary);
}
