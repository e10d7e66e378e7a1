/* test_report.c — the SVG plot writer (plot_svg.c) and the HTML report (report_html.c): the
 * output is well-formed XML, holds the tables, the plots (one polyline per unbroken run of points,
 * one bar per value, error bars), the pictures as base64 data URIs of the exact PNG bytes, the
 * config escaped; a sweep page has the side-by-side view of the varied axis. The browser test is
 * test_report_browser.c. */
#define _GNU_SOURCE
#include "mvae_test.h"
#include "mvae/plot.h"
#include "mvae/report.h"
#include "mvae/sweep.h"
#include "report_fixture.h"
#include "report_internal.h"
#include "tiny_data.h"

static char g_dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mvae_test_report_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tiny_rm_rf(g_dir);
    return 0;
}

static void assert_xml(const char *text) {
    char why[256] = "";
    bool ok = fx_xml_ok(text, why, sizeof why);
    if (!ok) fprintf(stderr, "not well-formed: %s\n", why);
    assert_true(ok);
}

static void assert_has(const char *text, const char *needle) {
    if (!strstr(text, needle)) fprintf(stderr, "expected to find: %s\n", needle);
    assert_non_null(strstr(text, needle));
}

static void test_base64(void **state) {
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"}; /* RFC 4648 */
    for (int i = 0; i < 7; i++) {
        mvae_sbuf b = {0};
        mvae_sb_base64(&b, (const uint8_t *)in[i], strlen(in[i]));
        char *s = mvae_sb_take(&b);
        assert_string_equal(s, out[i]);
        free(s);
    }
    mvae_sbuf b = {0};
    mvae_sb_esc(&b, "a<b & \"c\" 'd' >");
    char *s = mvae_sb_take(&b);
    assert_string_equal(s, "a&lt;b &amp; &quot;c&quot; &#39;d&#39; &gt;");
    free(s);
}

static void test_svg_lines(void **state) {
    (void)state;
    double x[5] = {1, 2, 3, 4, 5}, y1[5] = {1, 2, NAN, 4, 5}, y2[5] = {2, 2.5, 3, 3.5, 4}, e2[5] = {0.1, 0, NAN, 0.2, 0.3};
    mvae_plot_series s[2] = {{.label = "a<b & c", .n = 5, .x = x, .y = y1}, {.label = "second", .n = 5, .x = x, .y = y2, .err = e2}};
    mvae_plot_opts o = {.title = "loss \"per\" epoch", .xlabel = "epoch", .ylabel = "loss"};
    char *svg = NULL;
    mvae_error err = {0};
    assert_int_equal(mvae_plot_lines_svg(&svg, &o, s, 2, &err), MVAE_OK);
    assert_xml(svg);
    assert_true(!strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 38));
    /* the NaN breaks series 0 into two polylines; series 1 is one */
    assert_int_equal(fx_count(svg, "<polyline"), 3);
    /* markers carry their values: 4 + 5 points */
    assert_int_equal(fx_count(svg, "<title>a&lt;b &amp; c: ("), 4);
    assert_int_equal(fx_count(svg, "<title>second: ("), 5);
    /* error bars where err > 0 and finite: 0.1, 0.2, 0.3 */
    assert_int_equal(fx_count(svg, "class=\"errbar\""), 3);
    assert_has(svg, "(4, 3.5 ± 0.2)");
    assert_has(svg, ">loss &quot;per&quot; epoch</text>");
    assert_has(svg, ">epoch</text>");
    /* integer x: ticks at whole epochs only */
    assert_null(strstr(svg, ">1.5</text>"));
    free(svg);
    /* log axis with x <= 0 is refused */
    o.log_x = true;
    x[0] = 0;
    assert_int_equal(mvae_plot_lines_svg(&svg, &o, s, 2, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "log axis"));
    mvae_error e2b = {0};
    o.log_x = false;
    o.width = 50;
    assert_int_equal(mvae_plot_lines_svg(&svg, &o, s, 2, &e2b), MVAE_ERR_INVALID);
    assert_non_null(strstr(e2b.msg, "160x120"));
}

static void test_svg_bars(void **state) {
    (void)state;
    const char *groups[3] = {"poe", "moe <mix>", "mopoe"};
    double y[3] = {-100, NAN, -90}, e[3] = {1.5, 0, 0};
    mvae_plot_series s = {.n = 3, .y = y, .err = e};
    mvae_plot_opts o = {.title = "test.elbo"};
    char *svg = NULL;
    mvae_error err = {0};
    assert_int_equal(mvae_plot_bars_svg(&svg, &o, groups, 3, &s, 1, &err), MVAE_OK);
    assert_xml(svg);
    assert_int_equal(fx_count(svg, "class=\"bar\""), 2); /* NaN: no bar */
    assert_int_equal(fx_count(svg, "class=\"errbar\""), 1);
    assert_has(svg, "<title>poe: -100 ± 1.5</title>");
    assert_has(svg, ">moe &lt;mix&gt;</text>");
    /* all values negative: the bars rise from the bottom of the axis, so both have height > 0 */
    for (const char *p = strstr(svg, "class=\"bar\""); p; p = strstr(p + 1, "class=\"bar\"")) {
        double h = 0;
        const char *hp = strstr(p, "height=\"");
        assert_non_null(hp);
        assert_int_equal(sscanf(hp, "height=\"%lf\"", &h), 1);
        assert_true(h > 1);
    }
    free(svg);
    assert_int_equal(mvae_plot_bars_svg(&svg, &o, groups, 0, &s, 1, &err), MVAE_ERR_INVALID);
}

/* the data URI of a PNG file must be its exact bytes */
static void assert_embedded(const char *html, const char *png_path) {
    FILE *f = fopen(png_path, "rb");
    assert_non_null(f);
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    mvae_sbuf b = {0};
    mvae_sb_printf(&b, "src=\"data:image/png;base64,");
    mvae_sb_base64(&b, buf, n);
    mvae_sb_printf(&b, "\"");
    char *want = mvae_sb_take(&b);
    assert_non_null(strstr(html, want));
    free(want);
}

static void test_run_html(void **state) {
    (void)state;
    char run[512], path[600];
    snprintf(run, sizeof run, "%s/run", g_dir);
    assert_int_equal(fx_run(run, -100.5, 0.75, 1), 0);
    mvae_error err = {0};
    assert_int_equal(mvae_report_dir(run, true, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/report.html", run);
    char *html = fx_slurp(path);
    assert_non_null(html);
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    assert_xml(html);
    assert_has(html, "<title>Run report: run</title>");
    /* the metrics table */
    assert_has(html, "<table class=\"metrics\">");
    assert_has(html, "<td>test.accuracy.image-&gt;label</td><td class=\"num\">0.7500</td>");
    assert_has(html, "<td>test.elbo</td><td class=\"num\">-100.5</td>");
    assert_has(html, "<td>test.test_points</td><td class=\"num\">100</td>");
    /* two SVG plots: the loss, the terms (no impartiality cosines in this run) */
    assert_int_equal(fx_count(html, "<svg xmlns"), 2);
    assert_has(html, "each objective term");
    /* pictures: reconstructions.png embedded byte for byte, shown scaled up (38 px -> 9x, capped 8x);
     * terms.png (a bitmap plot, redrawn as SVG) left out */
    snprintf(path, sizeof path, "%s/reconstructions.png", run);
    assert_embedded(html, path);
    assert_has(html, "width=\"304\" height=\"304\"");
    assert_int_equal(fx_count(html, "data:image/png;base64,"), 1);
    assert_null(strstr(html, "alt=\"terms.png\""));
    /* the config, escaped, collapsible */
    assert_has(html, "<summary>config.yaml (the resolved experiment)</summary><pre>name: tiny &lt;fixture&gt; &amp; co");
    free(html);

    /* neither a run nor a sweep: a message naming both */
    char empty[512];
    snprintf(empty, sizeof empty, "%s/empty", g_dir);
    mkdir(empty, 0777);
    mvae_error e2 = {0};
    assert_int_equal(mvae_report_dir(empty, true, &e2), MVAE_ERR_IO);
    assert_non_null(strstr(e2.msg, "neither a run directory"));
    assert_non_null(strstr(e2.msg, empty));
}

static void test_sweep_html(void **state) {
    (void)state;
    char sw[512], path[600];
    snprintf(sw, sizeof sw, "%s/sweep", g_dir);
    assert_int_equal(fx_sweep(sw), 0);
    /* a run that failed: its message is on the page */
    char failed[700];
    snprintf(failed, sizeof failed, "%s/fusion.plugin=mopoe,seed=1", sw);
    mkdir(failed, 0777);
    assert_int_equal(fx_write(failed, "error.txt", "exp.yaml:3:5: unknown key 'k' in fusion\n"), 0);
    mvae_error err = {0};
    assert_int_equal(mvae_report_dir(sw, true, &err), MVAE_OK); /* report.md, .csv, .png and .html */
    snprintf(path, sizeof path, "%s/report.html", sw);
    char *html = fx_slurp(path);
    assert_non_null(html);
    assert_xml(html);
    assert_has(html, "<title>Sweep report: fixture</title>");
    assert_has(html, "<code>mvae sweep fixture.yaml</code>");
    assert_has(html, "<h2>Failed runs</h2>");
    assert_has(html, "<summary>fusion.plugin=mopoe,seed=1</summary><pre>exp.yaml:3:5: unknown key &#39;k&#39; in fusion");
    /* side by side: the varied axis is the header row, one column per fusion; the best mean bold */
    const char *cmp = strstr(html, "<table class=\"compare\">");
    assert_non_null(cmp);
    assert_has(cmp, "<tr><th>fusion.plugin</th><th>poe</th><th>moe</th></tr>");
    assert_has(cmp, "<tr><td>test.elbo</td><td class=\"num best\">-100.0 ± 1.4</td><td class=\"num\">-120.0 ± 1.4</td></tr>");
    assert_has(cmp, "<td class=\"num best\">0.8500 ± 0.0707</td>");
    /* the results table of report.csv */
    assert_has(html, "<table class=\"results\">");
    assert_has(html, "<th>test.accuracy.image-&gt;label</th>");
    /* a bar chart per metric (5: elbo, log_p, accuracy, samples/s, ... as report.csv has them) with
     * error bars over the two seeds, and the training loss of both points in one plot */
    const char *rt = strstr(html, "<table class=\"results\">");
    char *results = strndup(rt, (size_t)(strstr(rt, "</table>") - rt));
    int n_metrics = fx_count(results, "<th>") - 2; /* fusion.plugin, seeds, then the metrics */
    free(results);
    assert_int_equal(n_metrics, 4); /* test.elbo, test.log_p.image, test.accuracy.image->label, train.samples_per_sec */
    assert_int_equal(fx_count(html, "class=\"bar\""), 2 * n_metrics);
    assert_true(fx_count(html, "class=\"errbar\"") >= 2 * 3);
    assert_has(html, "<title>poe: -100 ± 1.414</title>");
    assert_has(html, "training loss per epoch (first seed of each point)");
    /* pictures side by side: reconstructions.png of each point's first seed, captioned */
    char rd[700];
    snprintf(rd, sizeof rd, "%s/fusion.plugin=moe,seed=1/reconstructions.png", sw);
    assert_embedded(html, rd);
    assert_int_equal(fx_count(html, "data:image/png;base64,"), 2);
    assert_has(html, "<figcaption>moe (38x38)</figcaption>");
    /* every run collapsible with its metrics and config */
    assert_int_equal(fx_count(html, "<details class=\"run\">"), 4);
    assert_has(html, "<summary>fusion.plugin=moe,seed=2</summary>");
    free(html);

    /* a damaged report.csv: the error names the file and the fix */
    snprintf(path, sizeof path, "%s/report.csv", sw);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("fusion.plugin,test.elbo.mean\npoe,1\n", f);
    fclose(f);
    mvae_error e2 = {0};
    assert_int_equal(mvae_report_sweep_html(sw, true, &e2), MVAE_ERR_FORMAT);
    assert_non_null(strstr(e2.msg, "report.csv"));
    assert_non_null(strstr(e2.msg, "mvae report"));
}

/* a numeric axis: a line plot per metric against it, one line per fusion, log-scaled x */
static void test_sweep_html_lines(void **state) {
    (void)state;
    char sw[512], path[600];
    snprintf(sw, sizeof sw, "%s/fractions", g_dir);
    assert_int_equal(fx_sweep_fractions(sw), 0);
    mvae_error err = {0};
    assert_int_equal(mvae_report_dir(sw, true, &err), MVAE_OK);
    snprintf(path, sizeof path, "%s/report.html", sw);
    char *html = fx_slurp(path);
    assert_non_null(html);
    assert_xml(html);
    assert_has(html, "aria-label=\"test.accuracy.image-&gt;label vs dataset.paired_fraction\"");
    /* 4 metrics x 2 fusions: 8 polylines in the line plots (the training-loss overlay comes later) */
    const char *lines = strstr(html, "vs dataset.paired_fraction");
    const char *bars = strstr(html, "class=\"bar\"");
    assert_non_null(lines);
    assert_non_null(bars);
    char *part = strndup(lines, (size_t)(bars - lines));
    assert_int_equal(fx_count(part, "<polyline"), 8);
    /* the accuracy of poe at 1.0: mean of 0.82 and 0.84 with its error bar */
    assert_has(part, "<title>poe: (1, 0.83 ± 0.01414)</title>");
    assert_has(part, ">0.01</text>"); /* a log axis: decade ticks */
    free(part);
    /* side by side: both varying axes head the columns */
    assert_has(html, "<tr><th>fusion.plugin</th><th>poe</th><th>poe</th><th>moe</th><th>moe</th></tr>");
    assert_has(html, "<tr><th>dataset.paired_fraction</th><th>0.01</th><th>1.0</th><th>0.01</th><th>1.0</th></tr>");
    /* ties: both poe columns bold on test.elbo; all equal (samples/s): none */
    assert_has(html, "<tr><td>test.elbo</td><td class=\"num best\">-100.0 ± 0.0</td><td class=\"num best\">-100.0 ± 0.0</td>");
    assert_has(html, "<tr><td>train.samples_per_sec</td><td class=\"num\">1000.0 ± 0.0</td><td class=\"num\">1000.0 ± 0.0</td>");
    free(html);
}

/* runs side by side: what differs in their configs, their metrics, losses and pictures */
static void test_compare_html(void **state) {
    (void)state;
    char a[512], b[512], out[600];
    snprintf(a, sizeof a, "%s/run_a", g_dir);
    snprintf(b, sizeof b, "%s/run_b", g_dir);
    assert_int_equal(fx_run(a, -100, 0.7, 1), 0);
    assert_int_equal(fx_run(b, -90, 0.6, 2), 0);
    assert_int_equal(fx_write(b, "config.yaml", "name: tiny <fixture> & co\nlatent_dim: 16\ntrain:\n  epochs: 3\n  lr: [1, 2]\n"), 0);
    snprintf(out, sizeof out, "%s/compare.html", g_dir);
    const char *dirs[2] = {a, b};
    mvae_error err = {0};
    assert_int_equal(mvae_report_compare_html(dirs, 2, out, true, &err), MVAE_OK);
    char *html = fx_slurp(out);
    assert_non_null(html);
    assert_xml(html);
    assert_has(html, "<title>Comparison of 2 runs</title>");
    /* the settings that differ (train.epochs and the name do not count), a dash where one lacks it */
    const char *dt = strstr(html, "<table class=\"differs\">");
    assert_non_null(dt);
    char *differs = strndup(dt, (size_t)(strstr(dt, "</table>") - dt));
    assert_has(differs, "<tr><td>latent_dim</td><td>4</td><td>16</td></tr>");
    assert_has(differs, "<tr><td>train.lr</td><td>-</td><td>[1, 2]</td></tr>");
    assert_null(strstr(differs, "train.epochs"));
    assert_null(strstr(differs, "<td>name</td>"));
    free(differs);
    /* metrics side by side: the higher ELBO and accuracy bold; counts as integers, never bold */
    assert_has(html, "<tr><td>test.elbo</td><td class=\"num\">-100.0</td><td class=\"num best\">-90.000</td></tr>");
    assert_has(html, "<tr><td>test.accuracy.image-&gt;label</td><td class=\"num best\">0.7000</td><td class=\"num\">0.6000</td></tr>");
    assert_has(html, "<tr><td>test.test_points</td><td class=\"num\">100</td><td class=\"num\">100</td></tr>");
    /* both losses in one plot, both pictures side by side */
    assert_has(html, "<title>run_b: (3, 460)</title>");
    assert_int_equal(fx_count(html, "data:image/png;base64,"), 2);
    assert_has(html, "<figcaption>run_a (38x38)</figcaption>");
    free(html);
    /* one run, or a directory that is no run: errors that say so */
    mvae_error e1 = {0}, e2 = {0};
    assert_int_equal(mvae_report_compare_html(dirs, 1, out, true, &e1), MVAE_ERR_INVALID);
    assert_non_null(strstr(e1.msg, "2 to 64 run directories"));
    const char *bad[2] = {a, g_dir};
    assert_int_equal(mvae_report_compare_html(bad, 2, out, true, &e2), MVAE_ERR_IO);
    assert_non_null(strstr(e2.msg, "is not a run directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_svg_lines),
        cmocka_unit_test(test_svg_bars),
        cmocka_unit_test_setup_teardown(test_run_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_html_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compare_html, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
