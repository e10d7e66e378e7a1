/* fuzz_checkpoint — the checkpoint reader (mvae_checkpoint_load) against a small declared store:
 * two parameters and a buffer, as tests/test_checkpoint.c declares them, with an Adam optimiser,
 * an rng and the extra string requested. Input: the file's bytes; the harness rewrites the last
 * four bytes with the CRC-32 of the rest (when there are at least 16), so the fuzzer gets past
 * the checksum to the field-by-field validation behind it (the checksum test itself is in
 * tests/test_checkpoint.c). */
#include "fuzz_util.h"
#include "mvae/checkpoint.h"

#include <zlib.h>

static mvae_params *ps;
static char path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet();
    snprintf(path, sizeof path, "%s/fuzz.ckpt", fuzz_scratch("checkpoint"));
    mvae_error err = {0};
    mvae_rng rng;
    mvae_rng_seed(&rng, 1);
    ps = mvae_params_new();
    if (!ps || !mvae_params_add(ps, "image.enc.fc1.w", 2, (int64_t[]){5, 3}, MVAE_INIT_KAIMING_UNIFORM, 3, &err) ||
        !mvae_params_add(ps, "image.enc.fc1.b", 1, (int64_t[]){5}, MVAE_INIT_BIAS_UNIFORM, 3, &err) ||
        !mvae_params_add_buffer(ps, "image.enc.bn.running_var", 1, (int64_t[]){5}, 1.0f, &err) ||
        mvae_params_finalize(ps, &rng, &err)) {
        fprintf(stderr, "fuzz_checkpoint: cannot declare the store: %s\n", err.msg);
        abort();
    }
    /* MVAE_FUZZ_WRITE_SEED=path: write this store's checkpoint (the committed seed) and stop */
    const char *seed = getenv("MVAE_FUZZ_WRITE_SEED");
    if (seed) {
        mvae_optim opt = mvae_optim_adam(1e-3f);
        opt.step = 7;
        int rc = mvae_checkpoint_save(seed, ps, &opt, &rng, "{\"epoch\": 3, \"best\": -231.5}", &err);
        if (rc) fprintf(stderr, "fuzz_checkpoint: %s\n", err.msg);
        exit(rc ? 1 : 0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (size >= 16) {
        uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(size - 4));
        for (int i = 0; i < 4; i++) buf[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
    fuzz_write_file(path, buf, size);
    free(buf);
    mvae_optim opt = mvae_optim_adam(1e-3f);
    mvae_rng rng;
    mvae_rng_seed(&rng, 2);
    char *extra = NULL;
    mvae_error err = {0};
    if (mvae_checkpoint_load(path, ps, &opt, &rng, &extra, &err) == MVAE_OK) free(extra);
    return 0;
}
