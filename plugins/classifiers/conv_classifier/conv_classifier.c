/* classifiers/conv_classifier — the evaluation classifier for coherence (docs/metrics.md).
 *
 * architecture: cnn (default), for any image [C,H,W]:
 *   { conv(channels[i], k4 s2 p1) -> relu } for each entry of channels
 *   -> flatten -> linear(hidden) -> relu -> linear(n_classes)
 * With first_full: true the first convolution is k3 s1 p1 instead (keeps the resolution).
 * The default (channels [32, 64], hidden 128) takes a 28x28 image 28 -> 14 -> 7: about 2.1M
 * multiply-adds per image, so that training it for 2 epochs on Fashion-MNIST stays within about a
 * minute on 2 cores. {channels: [32, 64, 64], first_full: true} is the larger 28 -> 28 -> 14 -> 7
 * network (about 10M multiply-adds per image). A convolution that would shrink the image below
 * 1x1 is an error naming the image size.
 * architecture: mlp: flatten -> { linear(h) -> relu } for h in mlp_hidden -> linear(n_classes).
 * The core trains it (Adam) on the training split and caches its parameters; see coherence.h.
 */
#include "mvae/interfaces.h"
#include "mvae/nn.h"

#include <stdlib.h>
#include <string.h>

#define CLF_MAX 6

typedef struct conv_clf {
    bool mlp;
    int n_conv, n_fc;
    mvae_conv_layer conv[CLF_MAX];
    mvae_linear_layer fc[CLF_MAX + 1]; /* hidden layers then the output layer */
    int64_t flat;
} conv_clf;

static void clf_destroy(void *self) { free(self); }

static int clf_create(const mvae_cfg_node *opts, const mvae_modality_info *m, int n_classes,
                      mvae_params *ps, const char *prefix, void **self, mvae_error *err) {
    if (m->type != MVAE_MOD_IMAGE && m->type != MVAE_MOD_AUDIO)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "conv_classifier needs an image modality, but '%s' is %s", m->name,
                              mvae_modality_type_name(m->type));
    if (n_classes < 2)
        return mvae_error_set(err, MVAE_ERR_INVALID, "conv_classifier: needs at least 2 classes, got %d", n_classes);
    int64_t c = m->shape[0], h = m->ndim >= 2 ? m->shape[1] : 1, w = m->ndim >= 3 ? m->shape[2] : 1;
    if (m->ndim != 3) c = mvae_modality_numel(m), h = w = 1;
    conv_clf *e = calloc(1, sizeof *e);
    if (!e) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    const char *arch = "cnn";
    int64_t *ch = NULL, *mh = NULL, hidden = 128;
    int nch = 0, nmh = 0;
    bool first_full = false;
    int rc = mvae_cfg_string_or(opts, "architecture", "cnn", &arch, err);
    if (!rc) rc = mvae_cfg_bool_or(opts, "first_full", false, &first_full, err);
    if (!rc) rc = mvae_cfg_int_or(opts, "hidden", 128, &hidden, err);
    mvae_cfg_node *cn = mvae_cfg_get(opts, "channels");
    if (!rc && cn) rc = mvae_cfg_get_int_list(cn, &ch, &nch, err);
    else if (!rc) {
        ch = malloc(2 * sizeof *ch);
        if (ch) ch[0] = 32, ch[1] = 64, nch = 2;
    }
    mvae_cfg_node *mn = mvae_cfg_get(opts, "mlp_hidden");
    if (!rc && mn) rc = mvae_cfg_get_int_list(mn, &mh, &nmh, err);
    else if (!rc) {
        mh = malloc(2 * sizeof *mh);
        if (mh) mh[0] = 512, mh[1] = 256, nmh = 2;
    }
    if (!rc && (!ch || !mh)) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    e->mlp = !rc && strcmp(arch, "mlp") == 0;
    if (!rc && !e->mlp && strcmp(arch, "cnn") != 0)
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "conv_classifier: architecture is cnn or mlp, got '%s'", arch);
    char name[24];
    int64_t in;
    if (!rc && e->mlp) {
        if (nmh < 0 || nmh > CLF_MAX)
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "conv_classifier: mlp_hidden takes 0 to %d sizes", CLF_MAX);
        in = c * h * w;
        for (int i = 0; !rc && i < nmh; i++) {
            snprintf(name, sizeof name, "fc%d", i + 1);
            rc = mvae_linear_layer_init(&e->fc[i], ps, prefix, name, in, mh[i], true, err);
            in = mh[i];
        }
        e->n_fc = nmh;
        e->flat = c * h * w;
    } else if (!rc) {
        if (m->ndim != 3) rc = mvae_error_set(err, MVAE_ERR_INVALID, "conv_classifier: the cnn needs a [C,H,W] image; use architecture: mlp");
        if (!rc && (nch < 1 || nch > CLF_MAX))
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "conv_classifier: channels takes 1 to %d sizes", CLF_MAX);
        for (int i = 0; !rc && i < nch; i++) {
            int k = i == 0 && first_full ? 3 : 4, s = i == 0 && first_full ? 1 : 2;
            snprintf(name, sizeof name, "conv%d", i + 1);
            rc = mvae_conv_layer_init(&e->conv[i], ps, prefix, name, c, ch[i], k, s, 1, 0, false, true, err);
            bool fits = h + 2 >= k && w + 2 >= k; /* padded input at least one kernel wide */
            c = ch[i];
            h = mvae_conv_out_size(h, k, s, 1, 0, false);
            w = mvae_conv_out_size(w, k, s, 1, 0, false);
            if (!rc && (!fits || h < 1 || w < 1))
                rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                    "conv_classifier: the image '%s' (%lldx%lld) is too small for %d convolutions; "
                                    "use fewer channels entries", m->name, (long long)m->shape[1],
                                    (long long)m->shape[2], nch);
        }
        e->n_conv = nch;
        e->flat = c * h * w;
        if (!rc) rc = mvae_linear_layer_init(&e->fc[0], ps, prefix, "fc1", e->flat, hidden, true, err);
        e->n_fc = 1;
        in = hidden;
    }
    if (!rc) rc = mvae_linear_layer_init(&e->fc[e->n_fc], ps, prefix, "out", in, n_classes, true, err);
    free(ch);
    free(mh);
    if (rc) {
        free(e);
        return rc;
    }
    *self = e;
    return MVAE_OK;
}

/* the last hidden layer's activations [B, hidden] (the input itself when there is none) */
static mvae_tensor *clf_features(void *self, mvae_ctx *ctx, mvae_tensor *x) {
    conv_clf *e = self;
    if (!x) return NULL;
    int64_t B = x->shape[0];
    mvae_tensor *h = x;
    for (int i = 0; i < e->n_conv; i++) h = mvae_relu(ctx, mvae_conv_layer_fwd(ctx, &e->conv[i], h));
    h = mvae_reshape(ctx, h, 2, (int64_t[]){B, e->flat});
    for (int i = 0; i < e->n_fc; i++) h = mvae_relu(ctx, mvae_linear_layer_fwd(ctx, &e->fc[i], h));
    return h;
}

static mvae_tensor *clf_forward(void *self, mvae_ctx *ctx, mvae_tensor *x) {
    conv_clf *e = self;
    return mvae_linear_layer_fwd(ctx, &e->fc[e->n_fc], clf_features(self, ctx, x));
}

static const mvae_classifier_vtable vt = {
    .create = clf_create, .destroy = clf_destroy, .forward = clf_forward, .features = clf_features};
static const char *const arch_choices[] = {"cnn", "mlp", NULL};
static const mvae_option opts[] = {
    {"architecture", MVAE_OPT_STRING, "cnn", "cnn | mlp", NULL, false, arch_choices, NULL},
    {"channels", MVAE_OPT_INT_LIST, "[32, 64]", "cnn: output channels of each convolution (k4 s2 p1)", NULL, false, NULL, "[1, 4096]"},
    {"first_full", MVAE_OPT_BOOL, "false", "cnn: the first convolution is k3 s1 p1 (full resolution)", NULL, false, NULL, NULL},
    {"hidden", MVAE_OPT_INT, "128", "cnn: fully connected layer after the convolutions", NULL, false, NULL, "[1, 65536]"},
    {"mlp_hidden", MVAE_OPT_INT_LIST, "[512, 256]", "mlp: hidden layer sizes", NULL, false, NULL, "[1, 65536]"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_CLASSIFIER, "conv_classifier", "1.0.0",
    "image classifier for coherence (small CNN or MLP), trained and cached by mvae", &vt, opts);
MVAE_PLUGIN_DEFINE(classifier_conv_classifier, desc)
