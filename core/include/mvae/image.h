/* mvae/image.h — PNG output for samples and reconstructions (libpng), and reading back for tests.
 *
 *   // 16 decoded images [16, 1, 28, 28] in [0,1] -> a 4x4 grid, 2 white pixels between tiles
 *   if (mvae_png_write_grid("run/samples.png", x->data, 16, 1, 28, 28, 4, 2, &err)) puts(err.msg);
 *
 *   uint8_t *px; int w, h, c;
 *   if (mvae_png_read("run/samples.png", &px, &w, &h, &c, &err) == MVAE_OK) { ...; free(px); }
 *
 * Writes are atomic: the PNG goes to "<path>.tmp.<pid>" and is renamed over `path` only when
 * complete, so a reader never sees a half-written file. Failures return MVAE_ERR_IO (cannot
 * create/write/rename), MVAE_ERR_INVALID (bad arguments) or MVAE_ERR_FORMAT (not a PNG).
 */
#ifndef MVAE_IMAGE_H
#define MVAE_IMAGE_H
#include "mvae/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Write an 8-bit PNG. pixels: [height, width, channels] row-major, interleaved; channels 1 (grey),
 * 3 (RGB) or 4 (RGBA). The caller keeps ownership of pixels. */
int mvae_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                   mvae_error *err);

/* Tile n images into one PNG. images: [n, C, H, W] planar floats, C = 1 (grey PNG) or 3 (RGB
 * PNG); values are clamped to [0,1] (NaN -> 0) and scaled to 0..255. cols: tiles per row
 * (<= 0: ceil(sqrt(n))); rows = ceil(n / cols). pad: white pixels BETWEEN tiles (none at the
 * border), so the PNG is (cols*W + (cols-1)*pad) x (rows*H + (rows-1)*pad); unused cells of the
 * last row are white. */
int mvae_png_write_grid(const char *path, const float *images, int n, int C, int H, int W, int cols,
                        int pad, mvae_error *err);

/* The same with each image pixel drawn as a scale x scale square (nearest neighbour; pad stays in
 * output pixels): tiles of (scale*H) x (scale*W). scale 0 is automatic: the smallest scale that
 * makes a tile's longer side at least MVAE_PNG_GRID_MIN_TILE pixels (8x8 digits: 4, so a grid of
 * them is readable; 28x28 Fashion-MNIST: 1), at most MVAE_PNG_GRID_MAX_SCALE. The run's pictures
 * and `mvae sample` use it (0 unless --scale N). */
#define MVAE_PNG_GRID_MIN_TILE 28
#define MVAE_PNG_GRID_MAX_SCALE 16
int mvae_png_write_grid_scaled(const char *path, const float *images, int n, int C, int H, int W, int cols,
                               int pad, int scale, mvae_error *err);
/* The automatic scale for H x W tiles (>= 1). */
int mvae_png_grid_auto_scale(int H, int W);

/* Read a PNG as 8-bit interleaved pixels. *channels: 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA),
 * following the file (palette images become RGB/RGBA, 16-bit is reduced to 8). *pixels is
 * malloc'd: the caller frees it. */
int mvae_png_read(const char *path, uint8_t **pixels, int *width, int *height, int *channels,
                  mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
