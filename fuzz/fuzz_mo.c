/* fuzz_mo — the translation dataset plugin's gettext .mo reader and what follows it (the
 * filters, deduplication, split, tokeniser and vocabulary): the input is written as
 * <scratch>/locale/vi/LC_MESSAGES/fuzz.mo and the dataset is opened through the plugin's
 * vtable (its static twin) with mo_dirs: [<scratch>/locale], min_count: 1, no packages; when it
 * opens, a few samples of each split are read with get_batch. Input: the .mo file's bytes. */
#include "fuzz_util.h"
#include "mvae/config.h"
#include "mvae/interfaces.h"
#include "mvae/plugin.h"

const mvae_plugin_desc *mvae_plugin_dataset_translation(void);

static char root[600], mo[700], yaml[2048];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet();
    char d[700];
    snprintf(root, sizeof root, "%s/locale", fuzz_scratch("mo"));
    snprintf(d, sizeof d, "%s/vi/LC_MESSAGES", root);
    snprintf(mo, sizeof mo, "%s/fuzz.mo", d);
    mvae_error err = {0};
    if (mvae_mkdir_p(d, &err)) {
        fprintf(stderr, "fuzz_mo: %s\n", err.msg);
        abort();
    }
    snprintf(yaml, sizeof yaml,
             "lang: vi\nmo_dirs: ['%s']\npackages: []\ncache_dir: '%s/cache'\nmin_count: 1\nmax_len: 16\n", root,
             fuzz_scratch("mo"));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file(mo, data, size);
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    if (mvae_cfg_load_string(yaml, "fuzz", &cfg, &err)) abort();
    const mvae_dataset_vtable *vt = mvae_plugin_dataset_translation()->vtable;
    void *ds = NULL;
    if (vt->open(mvae_cfg_root(cfg), &ds, &err) == MVAE_OK) {
        int M = vt->n_modalities(ds);
        if (M != 2) abort();
        static int32_t a[8 * 256], b[8 * 256];
        uint8_t present[8 * 2];
        float *out[2] = {(float *)a, (float *)b};
        for (int split = 0; split < 3; split++) {
            int64_t n = vt->size(ds, split), idx[8];
            int k = n < 8 ? (int)n : 8;
            for (int i = 0; i < k; i++) idx[i] = n - 1 - i;
            if (k > 0) vt->get_batch(ds, split, idx, k, out, present, &err);
        }
        vt->close(ds);
    }
    mvae_cfg_free(cfg);
    return 0;
}
