/* test_report_browser.c — the HTML report in a real browser: headless Chromium renders the run
 * and sweep pages of the fixtures; the screenshot is not blank (non-white pixels, the blue of the
 * SVG bars, the red of the embedded picture), the page's own check counts every picture decoded
 * (data-images-ok in the DOM after load) and nothing is logged to the console. A control page
 * with a corrupt picture must fail both checks, so the checks can fail.
 *
 * Skipped (exit 77, CTest SKIP_RETURN_CODE) with a message when no Chromium is installed:
 * `apt-get install chromium` (scripts/deps.sh installs it), or point MVAE_CHROMIUM at a binary. */
#define _GNU_SOURCE
#include "mvae_test.h"
#include "mvae/image.h"
#include "mvae/report.h"
#include "report_fixture.h"
#include "tiny_data.h"

#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];
static char g_chromium[512];

static bool find_chromium(void) {
    const char *env = getenv("MVAE_CHROMIUM");
    if (env && *env) {
        snprintf(g_chromium, sizeof g_chromium, "%s", env);
        return access(env, X_OK) == 0;
    }
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome", NULL};
    const char *path = getenv("PATH");
    for (int i = 0; names[i]; i++) {
        char *p = strdup(path ? path : "/usr/bin:/bin");
        for (char *d = strtok(p, ":"); d; d = strtok(NULL, ":")) {
            snprintf(g_chromium, sizeof g_chromium, "%s/%s", d, names[i]);
            if (access(g_chromium, X_OK) == 0) return free(p), true;
        }
        free(p);
    }
    return false;
}

/* Run headless Chromium on a page: mode "--screenshot=FILE" or "--dump-dom" (stdout to out_path).
 * Its log (with the page's console messages) goes to log_path. */
static int chromium(const char *page, const char *mode, const char *out_path, const char *log_path) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "timeout 120 '%s' --headless --no-sandbox --disable-gpu --no-first-run --disable-dev-shm-usage "
             "--hide-scrollbars --user-data-dir='%s/profile' --enable-logging=stderr --v=0 --window-size=1280,4000 "
             "--virtual-time-budget=5000 %s 'file://%s' >'%s' 2>'%s'",
             g_chromium, g_dir, mode, page, out_path, log_path);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* the console lines of Chromium's log, or NULL when there are none (the caller frees) */
static char *console_lines(const char *log_path) {
    char *log = fx_slurp(log_path);
    if (!log) return NULL;
    size_t n = 0;
    char *out = calloc(strlen(log) + 1, 1);
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, ":CONSOLE") || strstr(line, "Uncaught")) n += (size_t)sprintf(out + n, "%s\n", line);
    free(log);
    if (!n) return free(out), NULL;
    return out;
}

typedef struct render {
    long pixels, ink, blue, red; /* all, non-white, bar blue, picture red */
    char *dom;                   /* the DOM after load */
    char *console;               /* console lines, NULL when none */
} render;

static void render_page(const char *page, render *r) {
    memset(r, 0, sizeof *r);
    char shot[600], dom[600], log1[600], log2[600], shot_mode[700];
    snprintf(shot, sizeof shot, "%s/shot.png", g_dir);
    snprintf(dom, sizeof dom, "%s/dom.html", g_dir);
    snprintf(log1, sizeof log1, "%s/shot.log", g_dir);
    snprintf(log2, sizeof log2, "%s/dom.log", g_dir);
    snprintf(shot_mode, sizeof shot_mode, "--screenshot='%s'", shot);
    unlink(shot);
    int rc = chromium(page, shot_mode, "/dev/null", log1);
    if (rc) {
        char *log = fx_slurp(log1);
        fprintf(stderr, "chromium --screenshot exited %d:\n%s\n", rc, log ? log : "");
        free(log);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(chromium(page, "--dump-dom", dom, log2), 0);
    uint8_t *px = NULL;
    int w, h, c;
    mvae_error err = {0};
    assert_int_equal(mvae_png_read(shot, &px, &w, &h, &c, &err), MVAE_OK);
    assert_true(c >= 3);
    r->pixels = (long)w * h;
    for (long i = 0; i < r->pixels; i++) {
        const uint8_t *p = px + i * c;
        r->ink += p[0] < 250 || p[1] < 250 || p[2] < 250;
        r->blue += abs(p[0] - 31) < 12 && abs(p[1] - 119) < 12 && abs(p[2] - 180) < 12; /* Tableau blue */
        r->red += p[0] > 190 && p[1] < 70 && p[2] < 70;
    }
    free(px);
    r->dom = fx_slurp(dom);
    assert_non_null(r->dom);
    char *c1 = console_lines(log1), *c2 = console_lines(log2);
    if (c1 || c2) {
        size_t n = (c1 ? strlen(c1) : 0) + (c2 ? strlen(c2) : 0) + 1;
        r->console = calloc(n, 1);
        snprintf(r->console, n, "%s%s", c1 ? c1 : "", c2 ? c2 : "");
    }
    free(c1);
    free(c2);
    fprintf(stderr, "  %s: %dx%d, %.1f%% ink, %ld blue, %ld red px; console: %s\n", page, w, h,
            100.0 * (double)r->ink / (double)r->pixels, r->blue, r->red, r->console ? r->console : "(nothing)");
}

static void render_free(render *r) {
    free(r->dom);
    free(r->console);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mvae_test_report_browser_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tiny_rm_rf(g_dir);
    return 0;
}

static void test_browser_run_page(void **state) {
    (void)state;
    char run[512], page[600];
    snprintf(run, sizeof run, "%s/run", g_dir);
    assert_int_equal(fx_run(run, -100.5, 0.75, 1), 0);
    mvae_error err = {0};
    assert_int_equal(mvae_report_run_html(run, true, &err), MVAE_OK);
    snprintf(page, sizeof page, "%s/report.html", run);
    render r;
    render_page(page, &r);
    assert_null(r.console);
    assert_non_null(strstr(r.dom, "data-images-ok=\"1/1\""));
    assert_non_null(strstr(r.dom, "<table class=\"metrics\">"));
    assert_true(r.ink > r.pixels / 100); /* text, tables, plots, the picture: not blank */
    assert_true(r.red > 10000);          /* the 304x304 picture, two thirds of it red */
    assert_true(r.blue > 200);           /* the first line of each plot */
    render_free(&r);
}

static void test_browser_sweep_page(void **state) {
    (void)state;
    char sw[512], page[600];
    snprintf(sw, sizeof sw, "%s/sweep", g_dir);
    assert_int_equal(fx_sweep(sw), 0);
    mvae_error err = {0};
    assert_int_equal(mvae_report_dir(sw, true, &err), MVAE_OK);
    snprintf(page, sizeof page, "%s/report.html", sw);
    render r;
    render_page(page, &r);
    assert_null(r.console);
    assert_non_null(strstr(r.dom, "data-images-ok=\"2/2\""));
    assert_non_null(strstr(r.dom, "<table class=\"compare\">"));
    assert_true(r.ink > r.pixels / 20);
    assert_true(r.blue > 20000); /* the bars of the metric charts */
    assert_true(r.red > 10000);  /* the pictures side by side */
    render_free(&r);
}

/* the control: a picture that is not a decodable PNG (right signature and header, then garbage)
 * must show in both checks */
static void test_browser_detects_broken_page(void **state) {
    (void)state;
    char run[512], page[600], png[600];
    snprintf(run, sizeof run, "%s/broken", g_dir);
    assert_int_equal(fx_run(run, -100.5, 0.75, 1), 0);
    snprintf(png, sizeof png, "%s/reconstructions.png", run);
    FILE *f = fopen(png, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 33, SEEK_SET), 0); /* after IHDR: the image data */
    for (int i = 0; i < 64; i++) fputc(0x5a, f);
    fclose(f);
    mvae_error err = {0};
    assert_int_equal(mvae_report_run_html(run, true, &err), MVAE_OK);
    snprintf(page, sizeof page, "%s/report.html", run);
    render r;
    render_page(page, &r);
    assert_non_null(r.console);
    assert_non_null(strstr(r.console, "did not decode"));
    assert_non_null(strstr(r.dom, "data-images-ok=\"0/1\""));
    assert_true(r.red < 100);
    render_free(&r);
}

int main(void) {
    if (!find_chromium()) {
        printf("SKIPPED: no Chromium found (looked for chromium, chromium-browser, google-chrome in PATH, "
               "and $MVAE_CHROMIUM): install it with `apt-get install chromium` (scripts/deps.sh does) to run "
               "the browser test of the HTML report\n");
        return 77;
    }
    printf("browser: %s\n", g_chromium);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_browser_run_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_browser_sweep_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_browser_detects_broken_page, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
