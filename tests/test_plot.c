/* test_plot.c — the chart rasteriser: a line plot and a bar chart written as PNGs, read back:
 * size, background, and the series colours present. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/image.h"
#include "mvae/plot.h"

#include <unistd.h>

/* pixels of exactly colour rgb */
static int count_color(const uint8_t *px, int w, int h, const uint8_t rgb[3]) {
    int n = 0;
    for (int i = 0; i < w * h; i++)
        if (px[3 * i] == rgb[0] && px[3 * i + 1] == rgb[1] && px[3 * i + 2] == rgb[2]) n++;
    return n;
}

static void read_back(const char *path, int w, int h, uint8_t **px) {
    int rw, rh, ch;
    mvae_error err = {0};
    assert_int_equal(mvae_png_read(path, px, &rw, &rh, &ch, &err), MVAE_OK);
    assert_int_equal(rw, w);
    assert_int_equal(rh, h);
    assert_int_equal(ch, 3);
    /* the corners are background */
    assert_int_equal((*px)[0], 255);
    assert_int_equal((*px)[(size_t)(w * h - 1) * 3], 255);
}

static void test_line_plot(void **state) {
    (void)state;
    const char *path = getenv("MVAE_PLOT_KEEP") ? "/tmp/mvae_test_lines.png" : "/tmp/mvae_test_lines_tmp.png";
    double x[] = {0.001, 0.01, 0.1, 1.0};
    double y1[] = {0.42, 0.61, 0.78, 0.86}, e1[] = {0.03, 0.02, 0.01, 0.005};
    double y2[] = {0.35, 0.55, NAN, 0.84}, e2[] = {0.05, 0.03, 0, 0.01};
    double y3[] = {0.10, 0.20, 0.70, 0.80};
    mvae_plot_series s[] = {{.label = "poe", .n = 4, .x = x, .y = y1, .err = e1},
                            {.label = "moe", .n = 4, .x = x, .y = y2, .err = e2},
                            {.label = "poe paired_only", .n = 4, .x = x, .y = y3}};
    mvae_plot_opts o = {.width = 640, .height = 480, .title = "test.accuracy.image vs paired fraction",
                        .xlabel = "dataset.paired_fraction", .ylabel = "accuracy (image -> label)", .log_x = true};
    mvae_error err = {0};
    assert_int_equal(mvae_plot_lines(path, &o, s, 3, &err), MVAE_OK);
    uint8_t *px;
    read_back(path, 640, 480, &px);
    for (int i = 0; i < 3; i++) {
        uint8_t c[3];
        mvae_plot_color(i, c);
        assert_true(count_color(px, 640, 480, c) > 100); /* lines + markers + legend */
    }
    uint8_t c3[3];
    mvae_plot_color(3, c3);
    assert_int_equal(count_color(px, 640, 480, c3), 0); /* no fourth series */
    uint8_t black[3] = {0, 0, 0};
    assert_true(count_color(px, 640, 480, black) > 500); /* frame and text */
    free(px);
    if (!getenv("MVAE_PLOT_KEEP")) unlink(path);
    /* x <= 0 on a log axis is an error */
    double bad[] = {0, 1, 2, 3};
    mvae_plot_series sb = {.label = "bad", .n = 4, .x = bad, .y = y1};
    assert_int_equal(mvae_plot_lines(path, &o, &sb, 1, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "log axis"));
}

static void test_bar_chart(void **state) {
    (void)state;
    const char *path = getenv("MVAE_PLOT_KEEP") ? "/tmp/mvae_test_bars.png" : "/tmp/mvae_test_bars_tmp.png";
    const char *groups[] = {"poe", "moe", "mopoe", "poe paired_only"};
    double a[] = {-245.1, -250.3, -247.9, -262.0}, ea[] = {1.2, 0.8, 2.0, 3.1};
    double b[] = {-240.2, -244.0, NAN, -255.5}, eb[] = {0.5, 0.4, 0, 1.0};
    mvae_plot_series s[] = {{.label = "paired 0.1", .n = 4, .y = a, .err = ea},
                            {.label = "paired 1", .n = 4, .y = b, .err = eb}};
    mvae_plot_opts o = {.title = "test.log_p.image (nats, higher is better)", .ylabel = "log p(x)"};
    mvae_error err = {0};
    assert_int_equal(mvae_plot_bars(path, &o, groups, 4, s, 2, &err), MVAE_OK);
    uint8_t *px;
    read_back(path, 800, 560, &px);
    uint8_t c0[3], c1[3];
    mvae_plot_color(0, c0);
    mvae_plot_color(1, c1);
    assert_true(count_color(px, 800, 560, c0) > 2000); /* four filled bars */
    assert_true(count_color(px, 800, 560, c1) > 1000);
    free(px);
    if (!getenv("MVAE_PLOT_KEEP")) unlink(path);
    assert_int_equal(mvae_plot_bars(path, &o, groups, 0, s, 2, &err), MVAE_ERR_INVALID);
}

static void test_palette_and_text(void **state) {
    (void)state;
    uint8_t c[10][3];
    for (int i = 0; i < 10; i++) mvae_plot_color(i, c[i]);
    for (int i = 0; i < 10; i++)
        for (int j = i + 1; j < 10; j++) assert_true(memcmp(c[i], c[j], 3) != 0);
    uint8_t w[3];
    mvae_plot_color(10, w);
    assert_memory_equal(w, c[0], 3);
    assert_int_equal(mvae_plot_text_width("abc", 2), 36);
    assert_int_equal(mvae_plot_text_width(NULL, 2), 0);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_plot),
        cmocka_unit_test(test_bar_chart),
        cmocka_unit_test(test_palette_and_text),
    };
    return mvae_test_run("plot", tests, argc, argv);
}
