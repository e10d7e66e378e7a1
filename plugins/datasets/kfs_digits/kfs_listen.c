/* kfs_listen — look at and listen to kfs_digits samples (an example of the audio API).
 *
 *   build/plugins/datasets/kfs_digits/kfs_listen OUT_DIR [N] [DATASET_OPTIONS_YAML]
 *   build/plugins/datasets/kfs_digits/kfs_listen /tmp/kfs 10 "{train_size: 100, test_size: 10}"
 *
 * Writes, for the first N training tuples: OUT_DIR/kannada.png, persian.png (one row),
 * audio.png (the 32 x 32 log-mels, low frequencies at the bottom) and audio_<i>_<label>.wav
 * (8 kHz, the spectrogram turned back into sound: mvae_logmel_denormalize +
 * mvae_logmel_to_audio, 64 Griffin-Lim iterations). A model's generated spectrogram goes through
 * the same two calls. */
#include "mvae/audio.h"
#include "mvae/config.h"
#include "mvae/image.h"
#include "mvae/interfaces.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT_DIR [N] [DATASET_OPTIONS_YAML]\n", argv[0]);
        return 2;
    }
    const char *out = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 10;
    if (n < 1 || n > 1000) n = 10;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s", argc > 3 ? argv[3] : "{}");
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    mvae_cfg *cfg = NULL;
    void *ds = NULL;
    int rc = mvae_registry_load_default(reg, &err);
    const mvae_plugin_desc *d = rc ? NULL : mvae_registry_require(reg, MVAE_PLUGIN_DATASET, "kfs_digits", &err);
    const mvae_dataset_vtable *vt = d ? d->vtable : NULL;
    static const char *const extra[] = {"plugin", NULL};
    if (!d || mvae_cfg_load_string(yaml, "options", &cfg, &err) ||
        mvae_cfg_validate(cfg, mvae_cfg_root(cfg), d->options, "dataset", extra, &err) ||
        vt->open(mvae_cfg_root(cfg), &ds, &err) || mvae_mkdir_p(out, &err)) {
        fprintf(stderr, "kfs_listen: %s\n", err.msg);
        mvae_cfg_free(cfg);
        mvae_registry_free(reg);
        return 1;
    }
    if (n > vt->size(ds, MVAE_SPLIT_TRAIN)) n = (int)vt->size(ds, MVAE_SPLIT_TRAIN);
    int M = vt->n_modalities(ds);
    float *bufs[MVAE_MAX_MODALITIES];
    for (int m = 0; m < M; m++) bufs[m] = malloc((size_t)n * mvae_modality_numel(vt->modality(ds, m)) * sizeof(float));
    uint8_t *present = malloc((size_t)n * M);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int i = 0; i < n; i++) idx[i] = i;
    rc = vt->get_batch(ds, MVAE_SPLIT_TRAIN, idx, n, bufs, present, &err);
    char path[4200];
    float *flip = malloc((size_t)n * 32 * 32 * sizeof *flip), wav[8000], mel[32 * 32];
    for (int i = 0; !rc && i < n; i++)
        for (int y = 0; y < 32; y++) memcpy(flip + (size_t)i * 1024 + y * 32, bufs[2] + (size_t)i * 1024 + (31 - y) * 32, 32 * sizeof(float));
    if (!rc) snprintf(path, sizeof path, "%s/kannada.png", out), rc = mvae_png_write_grid(path, bufs[0], n, 1, 28, 28, n, 2, &err);
    if (!rc) snprintf(path, sizeof path, "%s/persian.png", out), rc = mvae_png_write_grid(path, bufs[1], n, 1, 28, 28, n, 2, &err);
    if (!rc) snprintf(path, sizeof path, "%s/audio.png", out), rc = mvae_png_write_grid(path, flip, n, 1, 32, 32, n, 2, &err);
    mvae_logmel_cfg c;
    mvae_logmel_default(&c);
    for (int i = 0; !rc && i < n; i++) {
        memcpy(mel, bufs[2] + (size_t)i * 1024, sizeof mel);
        mvae_logmel_denormalize(mel, 1024, 80.0f);
        rc = mvae_logmel_to_audio(&c, mel, 32, 64, (uint64_t)i + 1, wav, 8000, &err);
        snprintf(path, sizeof path, "%s/audio_%02d_%d.wav", out, i, ((int32_t *)bufs[3])[i]);
        if (!rc) rc = mvae_wav_write(path, wav, 8000, 8000, &err);
    }
    if (rc) fprintf(stderr, "kfs_listen: %s\n", err.msg);
    else printf("kfs_listen: wrote %s/{kannada,persian,audio}.png and %d WAV files\n", out, n);
    for (int m = 0; m < M; m++) free(bufs[m]);
    free(present);
    free(idx);
    free(flip);
    vt->close(ds);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc ? 1 : 0;
}
