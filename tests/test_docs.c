/* test_docs.c — the documentation facts that can drift from the code, checked against it:
 *  - the ABI history table of docs/writing-a-plugin.md and the comment above the macros in
 *    <mvae/plugin.h> list the same versions in order, the last being MVAE_ABI_MAJOR.MINOR, and
 *    every "ABI X.Y" written in docs/ (*.md) and the public headers is one of them;
 *  - the Debian packages listed in docs/writing-a-plugin.md are those scripts/deps.sh installs. */
#define _GNU_SOURCE
#include "mvae_test.h"
#include "mvae/plugin.h"

#include <dirent.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fprintf(stderr, "cannot read %s\n", path);
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

#define MAX_V 64
typedef struct versions {
    int n;
    int v[MAX_V]; /* major * 1000 + minor */
} versions;

/* "X.Y" at p (digits, a dot, digits) -> X * 1000 + Y, or -1 */
static int parse_version(const char *p, const char **end) {
    int a, b, used = 0;
    if (sscanf(p, "%d.%d%n", &a, &b, &used) != 2 || p[0] < '0' || p[0] > '9') return -1;
    if (end) *end = p + used;
    return a * 1000 + b;
}

/* the header: lines " *   X.Y  what" after "ABI history" up to the end of that comment */
static void header_versions(const char *h, versions *out) {
    const char *p = strstr(h, "ABI history");
    assert_non_null(p);
    const char *end = strstr(p, "*/");
    assert_non_null(end);
    memset(out, 0, sizeof *out);
    for (const char *line = strchr(p, '\n'); line && line < end; line = strchr(line + 1, '\n')) {
        const char *q = line + 1;
        while (*q == ' ' || *q == '*') q++;
        int v = parse_version(q, NULL);
        if (v >= 0 && out->n < MAX_V) out->v[out->n++] = v;
    }
}

/* the doc: rows "| X.Y | ..." of the table under "### ABI history" */
static void doc_versions(const char *d, versions *out) {
    const char *p = strstr(d, "### ABI history");
    if (!p) fprintf(stderr, "docs/writing-a-plugin.md has no '### ABI history' section\n");
    assert_non_null(p);
    memset(out, 0, sizeof *out);
    bool in_table = false;
    for (const char *line = strchr(p, '\n'); line; line = strchr(line + 1, '\n')) {
        const char *q = line + 1;
        if (*q != '|') {
            if (in_table) break; /* the table ended */
            continue;
        }
        in_table = true;
        q++;
        while (*q == ' ') q++;
        int v = parse_version(q, NULL);
        if (v >= 0 && out->n < MAX_V) out->v[out->n++] = v;
    }
}

static bool has_version(const versions *vs, int v) {
    for (int i = 0; i < vs->n; i++)
        if (vs->v[i] == v) return true;
    return false;
}

/* every "ABI X.Y" in a text must be a version of the table: the number of those that are not */
static int bad_mentions(const char *name, const char *text, const versions *vs) {
    int bad = 0;
    for (const char *p = strstr(text, "ABI "); p; p = strstr(p + 1, "ABI ")) {
        int v = parse_version(p + 4, NULL);
        if (v < 0 || has_version(vs, v)) continue;
        fprintf(stderr, "%s: mentions ABI %d.%d, which the ABI history does not list: '%.60s'\n", name, v / 1000,
                v % 1000, p);
        bad++;
    }
    return bad;
}

static void check_dir(const char *dir, const char *suffix, const versions *vs) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l <= sl || strcmp(e->d_name + l - sl, suffix)) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *t = slurp(path);
        assert_int_equal(bad_mentions(path, t, vs), 0);
        free(t);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
}

static void test_abi_history(void **state) {
    (void)state;
    char *h = slurp(MVAE_SOURCE_DIR "/core/include/mvae/plugin.h");
    char *d = slurp(MVAE_SOURCE_DIR "/docs/writing-a-plugin.md");
    versions hv, dv;
    header_versions(h, &hv);
    doc_versions(d, &dv);
    assert_true(hv.n >= 2);
    if (hv.n != dv.n) fprintf(stderr, "plugin.h lists %d ABI versions, the doc's table %d\n", hv.n, dv.n);
    assert_int_equal(hv.n, dv.n);
    for (int i = 0; i < hv.n; i++) {
        if (hv.v[i] != dv.v[i])
            fprintf(stderr, "ABI history row %d: plugin.h says %d.%d, the doc %d.%d\n", i + 1, hv.v[i] / 1000,
                    hv.v[i] % 1000, dv.v[i] / 1000, dv.v[i] % 1000);
        assert_int_equal(hv.v[i], dv.v[i]);
        if (i) assert_true(hv.v[i] > hv.v[i - 1]); /* in order */
    }
    /* the newest row is the ABI this build compiles plugins for, and what --version prints */
    assert_int_equal(hv.v[hv.n - 1], MVAE_ABI_MAJOR * 1000 + MVAE_ABI_MINOR);
    check_dir(MVAE_SOURCE_DIR "/docs", ".md", &dv);
    check_dir(MVAE_SOURCE_DIR "/core/include/mvae", ".h", &dv);
    check_dir(MVAE_SOURCE_DIR "/core/src", ".c", &dv);
    free(h);
    free(d);
}

/* the check itself must fail on a doc that disagrees */
static void test_abi_mention_detector(void **state) {
    (void)state;
    versions vs = {.n = 2, .v = {1000, 2000}};
    assert_int_equal(bad_mentions("ok", "built for ABI 1.0; since ABI 2.0", &vs), 0);
    assert_int_equal(bad_mentions("bad (expected)", "hooks (ABI 1.3), kinds (ABI 1.0)", &vs), 1);
    versions hv;
    header_versions("/* ABI history\n *   1.0  a\n *   1.1  b\n */\n#define X 1\n", &hv);
    assert_int_equal(hv.n, 2);
    assert_int_equal(hv.v[1], 1001);
}

/* packages: MVAE_PKGS=( ... ) and MVAE_TEST_PKGS=( ... ) of deps.sh; the words of the apt-get
 * install lines in the doc's first ```sh block of section 1 */
typedef struct words {
    int n;
    char *w[128];
} words;

static void add_word(words *ws, const char *s, size_t n) {
    for (int i = 0; i < ws->n; i++)
        if (strlen(ws->w[i]) == n && !strncmp(ws->w[i], s, n)) return;
    assert_true(ws->n < 128);
    ws->w[ws->n++] = strndup(s, n);
}

static bool has_word(const words *ws, const char *s) {
    for (int i = 0; i < ws->n; i++)
        if (!strcmp(ws->w[i], s)) return true;
    return false;
}

static void free_words(words *ws) {
    for (int i = 0; i < ws->n; i++) free(ws->w[i]);
}

static void deps_packages(const char *sh, words *ws) {
    static const char *const arrays[] = {"MVAE_PKGS=(", "MVAE_TEST_PKGS=("};
    for (int a = 0; a < 2; a++) {
        const char *p = strstr(sh, arrays[a]);
        if (!p) fprintf(stderr, "scripts/deps.sh has no %s...)\n", arrays[a]);
        assert_non_null(p);
        p += strlen(arrays[a]);
        const char *end = strchr(p, ')');
        assert_non_null(end);
        while (p < end) {
            p += strspn(p, " \n\t\\");
            size_t n = strcspn(p, " \n\t\\)");
            if (p + n > end) n = (size_t)(end - p);
            if (n) add_word(ws, p, n);
            p += n;
        }
    }
}

static void doc_packages(const char *d, words *ws) {
    const char *p = strstr(d, "## 1. Install mvae");
    assert_non_null(p);
    p = strstr(p, "```sh\n");
    assert_non_null(p);
    const char *end = strstr(p + 6, "```");
    assert_non_null(end);
    for (const char *line = strchr(p, '\n') + 1; line < end; line = strchr(line, '\n') + 1) {
        const char *eol = strchr(line, '\n');
        const char *q = strstr(line, "apt-get install");
        if (q && q < eol) {
            q += strlen("apt-get install");
            while (q < eol) {
                q += strspn(q, " \t\\");
                size_t n = strcspn(q, " \t\\\n");
                if (q + n > eol) n = (size_t)(eol - q);
                if (n && q[0] != '-') add_word(ws, q, n);
                q += n;
            }
        }
    }
}

static void test_debian_packages(void **state) {
    (void)state;
    char *sh = slurp(MVAE_SOURCE_DIR "/scripts/deps.sh");
    char *d = slurp(MVAE_SOURCE_DIR "/docs/writing-a-plugin.md");
    words in_sh = {0}, in_doc = {0};
    deps_packages(sh, &in_sh);
    doc_packages(d, &in_doc);
    assert_true(in_sh.n >= 8);
    for (int i = 0; i < in_sh.n; i++) {
        if (!has_word(&in_doc, in_sh.w[i]))
            fprintf(stderr, "scripts/deps.sh installs '%s', docs/writing-a-plugin.md section 1 does not list it\n", in_sh.w[i]);
        assert_true(has_word(&in_doc, in_sh.w[i]));
    }
    for (int i = 0; i < in_doc.n; i++) {
        if (!has_word(&in_sh, in_doc.w[i]))
            fprintf(stderr, "docs/writing-a-plugin.md lists '%s', scripts/deps.sh does not install it\n", in_doc.w[i]);
        assert_true(has_word(&in_sh, in_doc.w[i]));
    }
    assert_true(has_word(&in_sh, "libopenblas-dev"));
    free_words(&in_sh);
    free_words(&in_doc);
    free(sh);
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_history),
        cmocka_unit_test(test_abi_mention_detector),
        cmocka_unit_test(test_debian_packages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
