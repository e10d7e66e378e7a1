/* compo_probe.c — `mvae-compo-probe RUN_DIR [--out FILE.json]`: the emoji compositionality probe
 * (docs/results/compositionality.md) of a run trained on `dataset: {plugin: emoji, split:
 * combinations}`. From the run's image-only encoder (the mean of q(z | image)) of the seen
 * (training split) and unseen (held-out combinations, test split) emoji: per-factor linear-probe
 * accuracy and held-out TRE (mvae/compo.h). When the run has an encodable `caption`: images
 * generated from the caption alone (decoder mean at the mean of q(z | caption)) of the unseen and
 * the seen emoji, scored per factor by linear classifiers fitted on the real images of the seen
 * emoji (16x16 average-pooled RGB); their accuracy on the real unseen images is the reference.
 * Prints one JSON object (and writes it to --out). Uses the public API (mvae/api.h) for the model
 * and opens the run's dataset through the plugin registry for the factors. */
#define _GNU_SOURCE
#include "mvae/api.h"
#include "mvae/coherence.h"
#include "mvae/compo.h"
#include "mvae/config.h"
#include "mvae/interfaces.h"
#include "mvae/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL 16
static const char *const factor_mods[3] = {"role", "gender", "tone"};

typedef struct split_data {
    int64_t n;
    float *image;   /* [n, 3, S, S] */
    float *caption; /* [n, V] */
    int32_t *f;     /* [n, 3] */
} split_data;

static int die(const char *what, const char *msg) {
    fprintf(stderr, "mvae-compo-probe: %s: %s\n", what, msg);
    return 1;
}

/* average-pool [n, 3, S, S] to [n, 3, POOL, POOL] */
static float *pool(const float *img, int64_t n, int S) {
    int k = S / POOL;
    float *out = calloc((size_t)n * 3 * POOL * POOL, sizeof *out);
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < POOL * k; y++)
                for (int x = 0; x < POOL * k; x++)
                    out[((i * 3 + c) * POOL + y / k) * POOL + x / k] +=
                        img[((i * 3 + c) * S + y) * (int64_t)S + x] / (float)(k * k);
    return out;
}

int main(int argc, char **argv) {
    const char *run_dir = NULL, *out_path = NULL;
    bool pixels = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--pixels")) pixels = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: mvae-compo-probe RUN_DIR [--pixels] [--out FILE.json]\n");
            return 2;
        } else run_dir = argv[i];
    }
    if (!run_dir) {
        fprintf(stderr, "usage: mvae-compo-probe RUN_DIR [--out FILE.json]\n");
        return 2;
    }
    mvae_api_set_log_level(2);
    char msg[MVAE_API_MSG_MAX];
    mvae_run *run;
    if (mvae_run_open(run_dir, "last", NULL, 0, 0, &run, msg, sizeof msg)) return die(run_dir, msg);
    /* the run's dataset, opened again for the factors */
    char *text = mvae_run_config(run);
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    if (!text || !reg || mvae_cfg_load_string(text, "config.yaml", &cfg, &err) || mvae_registry_load_default(reg, &err))
        return die(run_dir, err.msg[0] ? err.msg : "out of memory");
    free(text);
    const mvae_cfg_node *ds_opts = mvae_cfg_get(mvae_cfg_root(cfg), "dataset");
    const char *plugin = NULL, *split = "random";
    mvae_cfg_string_or(ds_opts, "plugin", "", &plugin, &err);
    mvae_cfg_string_or(ds_opts, "split", "random", &split, &err);
    if (strcmp(plugin, "emoji") || strcmp(split, "combinations"))
        return die(run_dir, "the probe needs a run on dataset: {plugin: emoji, split: combinations}");
    const mvae_plugin_desc *desc = mvae_registry_require(reg, MVAE_PLUGIN_DATASET, plugin, &err);
    if (!desc) return die(run_dir, err.msg);
    const mvae_dataset_vtable *vt = desc->vtable;
    void *ds = NULL;
    mvae_api_set_log_level(3);
    if (vt->open(ds_opts, &ds, &err)) return die(run_dir, err.msg);
    mvae_api_set_log_level(2);
    int M = vt->n_modalities(ds), idx_img = -1, idx_cap = -1, idx_f[3] = {-1, -1, -1}, nv[3] = {0, 0, 0};
    int64_t numel[MVAE_MAX_MODALITIES];
    for (int m = 0; m < M; m++) {
        const mvae_modality_info *mi = vt->modality(ds, m);
        numel[m] = 1;
        for (int k = 0; k < mi->ndim; k++) numel[m] *= mi->shape[k];
        if (!strcmp(mi->name, "image")) idx_img = m;
        if (!strcmp(mi->name, "caption")) idx_cap = m;
        for (int a = 0; a < 3; a++)
            if (!strcmp(mi->name, factor_mods[a])) idx_f[a] = m, nv[a] = mi->n_classes;
    }
    if (idx_img < 0 || idx_cap < 0 || idx_f[0] < 0 || idx_f[1] < 0 || idx_f[2] < 0)
        return die(run_dir, "the dataset lacks image, caption, role, gender or tone");
    int S = (int)vt->modality(ds, idx_img)->shape[1], V = (int)numel[idx_cap];
    if (S % POOL) return die(run_dir, "the image side must be a multiple of 16");
    split_data sd[2];
    for (int s = 0; s < 2; s++) {
        int64_t n = vt->size(ds, s);
        sd[s].n = n;
        sd[s].image = malloc((size_t)n * numel[idx_img] * sizeof(float));
        sd[s].caption = malloc((size_t)n * V * sizeof(float));
        sd[s].f = malloc((size_t)n * 3 * sizeof(int32_t));
        float *bufs[MVAE_MAX_MODALITIES];
        uint8_t *present = malloc((size_t)M);
        int64_t *ix = malloc(sizeof *ix);
        for (int m = 0; m < M; m++) bufs[m] = malloc((size_t)numel[m] * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            ix[0] = i;
            if (vt->get_batch(ds, s, ix, 1, bufs, present, &err)) return die(run_dir, err.msg);
            memcpy(sd[s].image + i * numel[idx_img], bufs[idx_img], (size_t)numel[idx_img] * sizeof(float));
            memcpy(sd[s].caption + i * V, bufs[idx_cap], (size_t)V * sizeof(float));
            for (int a = 0; a < 3; a++) memcpy(&sd[s].f[i * 3 + a], bufs[idx_f[a]], sizeof(int32_t));
        }
        for (int m = 0; m < M; m++) free(bufs[m]);
        free(present), free(ix);
    }
    /* the image-only encoder (--pixels: the 16x16 pooled images themselves, a reference) */
    int D = pixels ? 3 * POOL * POOL : mvae_run_latent_dim(run);
    float *mu[2];
    for (int s = 0; s < 2 && pixels; s++) mu[s] = pool(sd[s].image, sd[s].n, S);
    for (int s = 0; s < 2 && !pixels; s++) {
        mvae_arrays *x;
        mu[s] = malloc((size_t)sd[s].n * D * sizeof(float));
        if (mvae_arrays_new(run, sd[s].n, &x, msg, sizeof msg) ||
            mvae_arrays_set(x, "image", sd[s].image, sd[s].n * numel[idx_img], msg, sizeof msg) ||
            mvae_run_encode(run, x, "image", 0, mu[s], NULL, NULL, msg, sizeof msg))
            return die("encode image", msg);
        mvae_arrays_free(x);
    }
    mvae_compo_result r;
    if (mvae_compo_probe(mu[0], sd[0].f, sd[0].n, mu[1], sd[1].f, sd[1].n, D, 3, nv, &r, &err))
        return die("probe", err.msg);
    char *json = NULL;
    size_t jlen = 0;
    FILE *j = open_memstream(&json, &jlen);
    fprintf(j, "{\"run\": \"%s\", \"representation\": \"%s\", \"seen\": %lld, \"unseen\": %lld, \"latent_dim\": %d, \"factors\": {", run_dir,
            pixels ? "pixels16" : "mean of q(z|image)", (long long)sd[0].n, (long long)sd[1].n, D);
    for (int a = 0; a < 3; a++) fprintf(j, "%s\"%s\": %d", a ? ", " : "", factor_mods[a], nv[a]);
    fprintf(j, "},\n \"image_encoder\": {\"probe\": {");
    for (int a = 0; a < 3; a++) fprintf(j, "%s\"%s\": %.4f", a ? ", " : "", factor_mods[a], r.probe[a]);
    fprintf(j, "}, \"majority\": {");
    for (int a = 0; a < 3; a++) fprintf(j, "%s\"%s\": %.4f", a ? ", " : "", factor_mods[a], r.majority[a]);
    fprintf(j, "},\n   \"tre_l1\": %.4f, \"tre_base\": %.4f, \"tre_rel\": %.4f, \"tre_fit\": %.4f, \"tre_cos\": %.4f}",
            r.tre_l1, r.tre_base, r.tre_rel, r.tre_fit, r.tre_cos);
    /* caption -> image (and, as a reference, image -> image of the unseen emoji), scored by
     * classifiers fitted on the seen real images */
    bool cap = mvae_run_encodable(run, "caption") == 1;
    if (!pixels) {
        float *real[2] = {pool(sd[0].image, sd[0].n, S), pool(sd[1].image, sd[1].n, S)};
        float *gen[2] = {NULL, NULL}, *rec = NULL;
        for (int s = 0; s < 3; s++) {
            int sp = s == 2 ? 1 : s;
            if (s < 2 && !cap) continue;
            mvae_arrays *x;
            float *zc = malloc((size_t)sd[sp].n * D * sizeof(float));
            float *img = malloc((size_t)sd[sp].n * numel[idx_img] * sizeof(float));
            if (s < 2 && (mvae_arrays_new(run, sd[s].n, &x, msg, sizeof msg) ||
                          mvae_arrays_set(x, "caption", sd[s].caption, sd[s].n * V, msg, sizeof msg) ||
                          mvae_run_encode(run, x, "caption", 0, zc, NULL, NULL, msg, sizeof msg)))
                return die("caption->image", msg);
            if (s < 2) mvae_arrays_free(x);
            if (mvae_run_decode(run, s < 2 ? zc : mu[1], sd[sp].n, "image", 0, img, msg, sizeof msg))
                return die("decode", msg);
            if (s < 2) gen[s] = pool(img, sd[s].n, S);
            else rec = pool(img, sd[sp].n, S);
            free(zc), free(img);
        }
        int F = 3 * POOL * POOL;
        int32_t *y = malloc((size_t)(sd[0].n > sd[1].n ? sd[0].n : sd[1].n) * sizeof *y);
        double acc[3][4] = {{0}}; /* real unseen, caption unseen, caption seen, reconstruction unseen */
        int64_t *all_ok = calloc((size_t)sd[1].n, sizeof *all_ok);
        for (int a = 0; a < 3; a++) {
            mvae_logreg lr;
            for (int64_t i = 0; i < sd[0].n; i++) y[i] = sd[0].f[i * 3 + a];
            if (mvae_logreg_fit(real[0], y, sd[0].n, F, nv[a], 1e-4f, 500, &lr, &err)) return die("classifier", err.msg);
            if (cap) acc[a][2] = mvae_logreg_accuracy(&lr, gen[0], y, sd[0].n);
            for (int64_t i = 0; i < sd[1].n; i++) y[i] = sd[1].f[i * 3 + a];
            acc[a][0] = mvae_logreg_accuracy(&lr, real[1], y, sd[1].n);
            acc[a][3] = mvae_logreg_accuracy(&lr, rec, y, sd[1].n);
            if (cap) {
                acc[a][1] = mvae_logreg_accuracy(&lr, gen[1], y, sd[1].n);
                for (int64_t i = 0; i < sd[1].n; i++) all_ok[i] += mvae_logreg_accuracy(&lr, gen[1] + i * F, y + i, 1) > 0.5;
            }
            mvae_logreg_free(&lr);
        }
        int64_t all3 = 0;
        for (int64_t i = 0; i < sd[1].n; i++) all3 += all_ok[i] == 3;
        static const char *const keys[4] = {"real_unseen", "caption_unseen", "caption_seen", "recon_unseen"};
        fprintf(j, ",\n \"image_scores\": {");
        for (int k = 0; k < 4; k += 3) {
            fprintf(j, "%s\"%s\": {", k ? ", " : "", keys[k]);
            for (int a = 0; a < 3; a++) fprintf(j, "%s\"%s\": %.4f", a ? ", " : "", factor_mods[a], acc[a][k]);
            fprintf(j, "}");
        }
        fprintf(j, "}");
        if (cap) {
            fprintf(j, ",\n \"caption_to_image\": {");
            for (int k = 0; k < 3; k++) {
                fprintf(j, "%s\"%s\": {", k ? ", " : "", keys[k]);
                for (int a = 0; a < 3; a++) fprintf(j, "%s\"%s\": %.4f", a ? ", " : "", factor_mods[a], acc[a][k]);
                fprintf(j, "}");
            }
            fprintf(j, ", \"caption_unseen_all3\": %.4f}", (double)all3 / (double)sd[1].n);
        }
        free(y), free(all_ok), free(real[0]), free(real[1]), free(gen[0]), free(gen[1]), free(rec);
    }
    fprintf(j, "}\n");
    fclose(j);
    fputs(json, stdout);
    if (out_path) {
        FILE *o = fopen(out_path, "w");
        if (!o || fputs(json, o) < 0 || fclose(o)) return die(out_path, "cannot write");
    }
    free(json);
    for (int s = 0; s < 2; s++) free(sd[s].image), free(sd[s].caption), free(sd[s].f), free(mu[s]);
    vt->close(ds);
    mvae_registry_free(reg);
    mvae_cfg_free(cfg);
    mvae_run_close(run);
    return 0;
}
