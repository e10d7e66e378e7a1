/* fuzz_png — the PNG reader (mvae_png_read, libpng's simplified API behind it): the input is
 * written to a file and read; a decoded image is checked for its stated size. Input: the PNG's
 * bytes. */
#include "fuzz_util.h"
#include "mvae/image.h"

static char path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet();
    snprintf(path, sizeof path, "%s/fuzz.png", fuzz_scratch("png"));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file(path, data, size);
    uint8_t *px = NULL;
    int w = 0, h = 0, c = 0;
    mvae_error err = {0};
    if (mvae_png_read(path, &px, &w, &h, &c, &err) == MVAE_OK) {
        if (w < 1 || h < 1 || c < 1 || c > 4) abort();
        volatile uint8_t last = px[(size_t)w * (size_t)h * (size_t)c - 1]; /* the whole block is there */
        (void)last;
        free(px);
    }
    return 0;
}
