/* fuzz_util.h — what every harness shares: a private scratch directory, writing the input to a
 * file there, a NUL-terminated copy of the input, a silent logger and, for harnesses that load
 * the registry, holding every build-tree plugin open for the process's life.
 *
 * Each harness is one libFuzzer target: LLVMFuzzerTestOneInput(data, size) MUST return 0 and
 * MUST NOT leak or keep state between inputs beyond what the helpers here set up once.
 */
#ifndef MVAE_FUZZ_UTIL_H
#define MVAE_FUZZ_UTIL_H
#define _GNU_SOURCE
#include "mvae/common.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The process's scratch directory ($TMPDIR/mvae-fuzz-<name>.XXXXXX), made on first use and
 * removed at exit by the shell script's cleanup (a crash leaves it for inspection). */
static inline const char *fuzz_scratch(const char *name) {
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/mvae-fuzz-%s.XXXXXX", t && t[0] ? t : "/tmp", name);
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

/* Write data[0..size) to path (truncating); aborts on an I/O error (the harness's own fault). */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* malloc'd copy of the input with a terminating NUL (the caller frees). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static inline void fuzz_log_drop(mvae_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
}

/* The library's log messages cost time and say nothing here. */
static inline void fuzz_quiet(void) { mvae_log_set_sink(fuzz_log_drop, NULL); }

/* dlopen every plugin of the build tree once and never close it: a registry that loads and frees
 * the plugins per input then only moves reference counts, so their coverage counters are
 * registered with libFuzzer once and never unmapped. */
static inline void fuzz_pin_plugins(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".so")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!dlopen(path, RTLD_NOW | RTLD_LOCAL)) fprintf(stderr, "fuzz: %s\n", dlerror());
    }
    closedir(d);
}
#endif
