/* fuzz_idx — the fashion_mnist dataset plugin's IDX reader: the four files (train and t10k,
 * images and labels) are written from the input into a directory and opened through the
 * plugin's vtable (its static twin, mvae_dataset_fashion_mnist_static), as `dataset: {plugin:
 * fashion_mnist, path: DIR}` would; when it opens, a few samples of each split are read with
 * get_batch. Input: one flag byte (bit 0: storage memory, else disk with the cache in the
 * scratch directory; bit 1: binarize; bit 2: gzip the files, else they are written raw, which
 * zlib's gzread reads as they are), then the files' contents separated by "--8<--" in the order
 * train-images, train-labels, t10k-images, t10k-labels (missing parts: missing files). At most
 * 64 samples per split are read (train_limit, test_limit), so a header claiming 2^32 images
 * costs 64 images of memory. */
#include "fuzz_util.h"
#include "mvae/config.h"
#include "mvae/interfaces.h"
#include "mvae/plugin.h"

#include <zlib.h>

const mvae_plugin_desc *mvae_plugin_fashion_mnist(void);

#define SEP "--8<--"
#define LIMIT 64

static const char *const names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
static char dir[600], cache[600];

static void clear_dir(const char *d) {
    DIR *h = opendir(d);
    if (!h) return;
    struct dirent *e;
    char p[1200];
    while ((e = readdir(h)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", d, e->d_name);
            unlink(p);
        }
    closedir(h);
}

static void write_part(const char *path, const uint8_t *p, size_t n, int gzip) {
    if (!gzip) return fuzz_write_file(path, p, n);
    gzFile gz = gzopen(path, "wb1");
    if (!gz || (n && gzwrite(gz, p, (unsigned)n) != (int)n) || gzclose(gz) != Z_OK) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet();
    snprintf(dir, sizeof dir, "%s/data", fuzz_scratch("idx"));
    snprintf(cache, sizeof cache, "%s/cache", fuzz_scratch("idx"));
    mvae_error err = {0};
    if (mvae_mkdir_p(dir, &err) || mvae_mkdir_p(cache, &err)) {
        fprintf(stderr, "fuzz_idx: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int flags = data[0];
    clear_dir(dir);
    clear_dir(cache);
    const uint8_t *p = data + 1, *end = data + size;
    for (int k = 0; k < 4 && p <= end; k++) {
        const uint8_t *q = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
        size_t n = q ? (size_t)(q - p) : (size_t)(end - p);
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        write_part(path, p, n, flags & 4);
        if (!q) break;
        p = q + strlen(SEP);
    }
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "path: '%s'\nstorage: %s\nbinarize: %s\ntrain_limit: %d\ntest_limit: %d\ncache_dir: '%s'\n", dir,
             flags & 1 ? "memory" : "disk", flags & 2 ? "true" : "false", LIMIT, LIMIT, cache);
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    if (mvae_cfg_load_string(yaml, "fuzz", &cfg, &err)) abort();
    const mvae_dataset_vtable *vt = mvae_plugin_fashion_mnist()->vtable;
    void *ds = NULL;
    if (vt->open(mvae_cfg_root(cfg), &ds, &err) == MVAE_OK) {
        int M = vt->n_modalities(ds);
        if (M != 2) abort();
        static float img[LIMIT * 784];
        static int32_t lab[LIMIT];
        uint8_t present[LIMIT * 2];
        float *out[2] = {img, (float *)lab};
        for (int split = 0; split < 2; split++) {
            int64_t n = vt->size(ds, split);
            if (n < 0 || n > LIMIT) abort();
            int64_t idx[LIMIT];
            for (int64_t i = 0; i < n; i++) idx[i] = n - 1 - i;
            if (n) vt->get_batch(ds, split, idx, (int)n, out, present, &err);
        }
        vt->close(ds);
    }
    mvae_cfg_free(cfg);
    return 0;
}
