/* test_image.c — PNG writing (plain and grid) and reading back. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/image.h"

#include <unistd.h>
#include <zlib.h>

static void tmp_png(char *buf, size_t len, const char *tag) {
    snprintf(buf, len, "/tmp/mvae_test_image_%ld_%s.png", (long)getpid(), tag);
}

static void test_png_roundtrip_rgba(void **state) {
    (void)state;
    char path[256];
    tmp_png(path, sizeof path, "rgba");
    uint8_t px[3 * 2 * 4];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 11);
    mvae_error err = {0};
    assert_int_equal(mvae_png_write(path, px, 3, 2, 4, &err), MVAE_OK);
    uint8_t *back;
    int w, h, c;
    assert_int_equal(mvae_png_read(path, &back, &w, &h, &c, &err), MVAE_OK);
    assert_int_equal(w, 3);
    assert_int_equal(h, 2);
    assert_int_equal(c, 4);
    assert_memory_equal(back, px, sizeof px);
    free(back);
    /* no temporary file left behind */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    unlink(path);
}

static void test_png_errors(void **state) {
    (void)state;
    uint8_t px[4] = {0};
    mvae_error err = {0};
    assert_int_equal(mvae_png_write("/nonexistent/dir/x.png", px, 2, 2, 1, &err), MVAE_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.png"));
    mvae_error_clear(&err);
    assert_int_equal(mvae_png_write("/tmp/x.png", px, 2, 2, 2, &err), MVAE_ERR_INVALID);
    mvae_error_clear(&err);
    uint8_t *back;
    int w, h, c;
    assert_int_not_equal(mvae_png_read("/nonexistent/x.png", &back, &w, &h, &c, &err), MVAE_OK);
    assert_null(back);
    assert_non_null(strstr(err.msg, "/nonexistent/x.png"));
}

static void put_chunk(FILE *f, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t be[4] = {n >> 24, n >> 16 & 255, n >> 8 & 255, n & 255};
    fwrite(be, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (n) fwrite(data, 1, n, f);
    uint32_t crc = (uint32_t)crc32(crc32(0L, (const Bytef *)type, 4), data, n);
    uint8_t cb[4] = {crc >> 24, crc >> 16 & 255, crc >> 8 & 255, crc & 255};
    fwrite(cb, 1, 4, f);
}

/* Seen while writing fuzz/fuzz_png, which reports it as libFuzzer's out-of-memory: a 69-byte PNG
 * whose header says 30000x30000 RGBA made the reader ask for 3.6 GB before decoding a row; sizes
 * over what the writer makes are refused up front. */
static void test_png_read_refuses_huge_header(void **state) {
    (void)state;
    char path[256];
    tmp_png(path, sizeof path, "huge");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    /* width and height 30000 (0x7530), 8-bit RGBA; one row of zeros compressed */
    static const uint8_t ihdr[13] = {0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30, 8, 6, 0, 0, 0};
    uint8_t row[64] = {0}, idat[128];
    uLongf n = sizeof idat;
    assert_int_equal(compress(idat, &n, row, sizeof row), Z_OK);
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    put_chunk(f, "IHDR", ihdr, sizeof ihdr);
    put_chunk(f, "IDAT", idat, (uint32_t)n);
    put_chunk(f, "IEND", NULL, 0);
    fclose(f);
    uint8_t *back;
    int w, h, c;
    mvae_error err = {0};
    assert_int_equal(mvae_png_read(path, &back, &w, &h, &c, &err), MVAE_ERR_FORMAT);
    assert_null(back);
    if (!strstr(err.msg, "30000x30000: too large")) fail_msg("%s", err.msg);
    unlink(path);
}

static void test_grid_gray(void **state) {
    (void)state;
    /* 3 images [3, 1, 2, 2], 2 columns, pad 1 -> 5x5 grey PNG, last cell white */
    enum { N = 3, H = 2, W = 2 };
    float imgs[N * H * W];
    for (int i = 0; i < N * H * W; i++) imgs[i] = (float)i / 20.0f;
    imgs[0] = -0.5f; /* clamped to 0 */
    imgs[5] = 7.0f;  /* clamped to 1 */
    char path[256];
    tmp_png(path, sizeof path, "grid");
    mvae_error err = {0};
    assert_int_equal(mvae_png_write_grid(path, imgs, N, 1, H, W, 2, 1, &err), MVAE_OK);
    uint8_t *px;
    int w, h, c;
    assert_int_equal(mvae_png_read(path, &px, &w, &h, &c, &err), MVAE_OK);
    assert_int_equal(w, 5);
    assert_int_equal(h, 5);
    assert_int_equal(c, 1);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++) {
            int tile_r = y / 3, tile_c = x / 3, iy = y % 3, ix = x % 3;
            int i = tile_r * 2 + tile_c;
            uint8_t expect;
            if (iy == 2 || ix == 2 || i >= N) {
                expect = 255; /* padding or unused cell */
            } else {
                float v = imgs[(i * H + iy) * W + ix];
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                expect = (uint8_t)lrintf(v * 255.0f);
            }
            assert_int_equal(px[y * w + x], expect);
        }
    assert_int_equal(px[0], 0);
    assert_int_equal(px[0 * 5 + 4], 255); /* image 1, pixel (0,1) = 7.0 clamped */
    free(px);
    unlink(path);
}

static void test_grid_rgb(void **state) {
    (void)state;
    /* 2 images [2, 3, 1, 1]: red and blue; cols <= 0 -> ceil(sqrt(2)) = 2, pad 0 -> 2x1 RGB */
    float imgs[] = {1, 0, 0, 0, 0, 1};
    char path[256];
    tmp_png(path, sizeof path, "rgb");
    mvae_error err = {0};
    assert_int_equal(mvae_png_write_grid(path, imgs, 2, 3, 1, 1, 0, 0, &err), MVAE_OK);
    uint8_t *px;
    int w, h, c;
    assert_int_equal(mvae_png_read(path, &px, &w, &h, &c, &err), MVAE_OK);
    assert_int_equal(w, 2);
    assert_int_equal(h, 1);
    assert_int_equal(c, 3);
    const uint8_t expect[] = {255, 0, 0, 0, 0, 255};
    assert_memory_equal(px, expect, sizeof expect);
    free(px);
    unlink(path);
    assert_int_equal(mvae_png_write_grid(path, imgs, 2, 2, 1, 1, 0, 0, &err), MVAE_ERR_INVALID);
}

/* scaled grids: each pixel an s x s square, pad unscaled; scale 0 = automatic minimum tile */
static void test_grid_scaled(void **state) {
    (void)state;
    enum { N = 4, H = 8, W = 8 };
    float imgs[N * H * W];
    for (int i = 0; i < N * H * W; i++) imgs[i] = (float)(i % 7) / 6.0f;
    char path[256];
    tmp_png(path, sizeof path, "scaled");
    mvae_error err = {0};
    uint8_t *px;
    int w, h, c;
    /* the 8x8 digits of the issue: a 2x2 grid was 18x18; automatic scale 4 -> 32-pixel tiles */
    assert_int_equal(mvae_png_grid_auto_scale(H, W), 4);
    assert_int_equal(mvae_png_grid_auto_scale(28, 28), 1);
    assert_int_equal(mvae_png_grid_auto_scale(1, 1), MVAE_PNG_GRID_MAX_SCALE);
    assert_int_equal(mvae_png_write_grid_scaled(path, imgs, N, 1, H, W, 2, 2, 0, &err), MVAE_OK);
    assert_int_equal(mvae_png_read(path, &px, &w, &h, &c, &err), MVAE_OK);
    assert_int_equal(w, 2 * 32 + 2);
    assert_int_equal(h, 2 * 32 + 2);
    free(px);
    /* explicit scale 3: pixel (y, x) of image i is the source pixel (y / 3, x / 3) */
    assert_int_equal(mvae_png_write_grid_scaled(path, imgs, N, 1, H, W, 2, 1, 3, &err), MVAE_OK);
    assert_int_equal(mvae_png_read(path, &px, &w, &h, &c, &err), MVAE_OK);
    assert_int_equal(w, 2 * 24 + 1);
    for (int i = 0; i < N; i++)
        for (int y = 0; y < 24; y++)
            for (int x = 0; x < 24; x++) {
                int gx = (i % 2) * 25 + x, gy = (i / 2) * 25 + y;
                uint8_t expect = (uint8_t)lrintf(imgs[(i * H + y / 3) * W + x / 3] * 255.0f);
                assert_int_equal(px[gy * w + gx], expect);
            }
    assert_int_equal(px[24], 255); /* the pad column stays one pixel wide and white */
    free(px);
    unlink(path);
    mvae_error e2 = {0};
    assert_int_equal(mvae_png_write_grid_scaled(path, imgs, N, 1, H, W, 2, 1, 17, &e2), MVAE_ERR_INVALID);
    assert_non_null(strstr(e2.msg, "0..16"));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_roundtrip_rgba),
        cmocka_unit_test(test_png_errors),
        cmocka_unit_test(test_png_read_refuses_huge_header),
        cmocka_unit_test(test_grid_gray),
        cmocka_unit_test(test_grid_rgb),
        cmocka_unit_test(test_grid_scaled),
    };
    return mvae_test_run("image", tests, argc, argv);
}
