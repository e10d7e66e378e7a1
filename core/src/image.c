/* image.c — PNG writing (atomic) and reading through libpng's simplified API. */
#define _POSIX_C_SOURCE 200809L
#include "mvae/image.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mvae_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                   mvae_error *err) {
    if (!path || !pixels || width <= 0 || height <= 0 ||
        (channels != 1 && channels != 3 && channels != 4))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "mvae_png_write(%s): need pixels, width/height > 0 and channels 1, 3 "
                              "or 4 (got %dx%d, %d channels)",
                              path ? path : "(null)", width, height, channels);
    char tmp[4096];
    int k = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (k < 0 || (size_t)k >= sizeof tmp)
        return mvae_error_set(err, MVAE_ERR_INVALID, "PNG path too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return mvae_error_set(err, MVAE_ERR_IO,
                              "cannot create '%s': %s (does the directory exist "
                              "and is it writable?)",
                              tmp, strerror(errno));
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    int ok = png_image_write_to_stdio(&img, f, 0, pixels, (png_int_32)(width * channels), NULL);
    int rc = MVAE_OK;
    if (!ok) rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write PNG '%s': %s", path, img.message);
    png_image_free(&img);
    if (fclose(f) != 0 && rc == MVAE_OK)
        rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write PNG '%s': %s", path, strerror(errno));
    if (rc == MVAE_OK && rename(tmp, path) != 0)
        rc = mvae_error_set(err, MVAE_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path,
                            strerror(errno));
    if (rc != MVAE_OK) remove(tmp);
    return rc;
}

static uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

int mvae_png_grid_auto_scale(int H, int W) {
    int side = H > W ? H : W;
    if (side <= 0 || side >= MVAE_PNG_GRID_MIN_TILE) return 1;
    int s = (MVAE_PNG_GRID_MIN_TILE + side - 1) / side;
    return s > MVAE_PNG_GRID_MAX_SCALE ? MVAE_PNG_GRID_MAX_SCALE : s;
}

int mvae_png_write_grid(const char *path, const float *images, int n, int C, int H, int W, int cols,
                        int pad, mvae_error *err) {
    return mvae_png_write_grid_scaled(path, images, n, C, H, W, cols, pad, 1, err);
}

int mvae_png_write_grid_scaled(const char *path, const float *images, int n, int C, int H, int W, int cols,
                               int pad, int scale, mvae_error *err) {
    if (scale < 0 || scale > MVAE_PNG_GRID_MAX_SCALE)
        return mvae_error_set(err, MVAE_ERR_INVALID, "picture grid %s: scale %d must be in 0..%d (0: automatic)",
                              path ? path : "(null)", scale, MVAE_PNG_GRID_MAX_SCALE);
    if (scale == 0) scale = mvae_png_grid_auto_scale(H, W);
    if (!images || n <= 0 || (C != 1 && C != 3) || H <= 0 || W <= 0 || pad < 0)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "mvae_png_write_grid(%s): need n > 0 images of C = 1 or 3 channels, "
                              "H, W > 0 and pad >= 0 (got n=%d C=%d H=%d W=%d pad=%d)",
                              path ? path : "(null)", n, C, H, W, pad);
    if (cols <= 0) {
        cols = (int)ceil(sqrt((double)n));
        if (cols < 1) cols = 1;
    }
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int64_t sW = (int64_t)W * scale, sH = (int64_t)H * scale; /* a tile in output pixels */
    int64_t gw = (int64_t)cols * sW + (int64_t)(cols - 1) * pad;
    int64_t gh = (int64_t)rows * sH + (int64_t)(rows - 1) * pad;
    if (gw > (1 << 20) || gh > (1 << 20) || gw * gh * C > ((int64_t)1 << 31))
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "mvae_png_write_grid(%s): grid %lldx%lld is too "
                              "large",
                              path ? path : "(null)", (long long)gw, (long long)gh);
    uint8_t *px = malloc((size_t)(gw * gh * C));
    if (!px)
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory for a %lldx%lld PNG grid",
                              (long long)gw, (long long)gh);
    memset(px, 255, (size_t)(gw * gh * C));
    for (int i = 0; i < n; i++) {
        int64_t x0 = (int64_t)(i % cols) * (sW + pad), y0 = (int64_t)(i / cols) * (sH + pad);
        const float *img = images + (size_t)i * C * H * W; /* [C, H, W] planar */
        for (int64_t y = 0; y < sH; y++) /* nearest neighbour: each pixel a scale x scale square */
            for (int64_t x = 0; x < sW; x++)
                for (int c = 0; c < C; c++)
                    px[((y0 + y) * gw + x0 + x) * C + c] =
                        to_byte(img[((size_t)c * H + (size_t)(y / scale)) * W + (size_t)(x / scale)]);
    }
    int rc = mvae_png_write(path, px, (int)gw, (int)gh, C, err);
    free(px);
    return rc;
}

int mvae_png_read(const char *path, uint8_t **pixels, int *width, int *height, int *channels,
                  mvae_error *err) {
    *pixels = NULL;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        int rc =
            mvae_error_set(err, MVAE_ERR_FORMAT, "cannot read PNG '%s': %s", path, img.message);
        png_image_free(&img);
        return rc;
    }
    img.format &= PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA; /* 8-bit, no colormap */
    int c = (int)PNG_IMAGE_SAMPLE_CHANNELS(img.format);
    size_t bytes = (size_t)img.width * img.height * (size_t)c;
    if (bytes > ((size_t)1 << 31)) { /* more than mvae_png_write_grid writes: a lying header */
        png_image_free(&img);
        return mvae_error_set(err, MVAE_ERR_FORMAT, "PNG '%s' is %ux%u: too large (over 2 GiB "
                              "decoded)", path, img.width, img.height);
    }
    uint8_t *buf = malloc(bytes ? bytes : 1);
    if (!buf) {
        png_image_free(&img);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory reading PNG '%s'", path);
    }
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        int rc =
            mvae_error_set(err, MVAE_ERR_FORMAT, "cannot decode PNG '%s': %s", path, img.message);
        png_image_free(&img);
        free(buf);
        return rc;
    }
    *pixels = buf;
    *width = (int)img.width;
    *height = (int)img.height;
    *channels = c;
    return MVAE_OK;
}
