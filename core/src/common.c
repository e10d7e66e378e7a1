/* common.c — errors, assertions, logging, small helpers. */
#define _POSIX_C_SOURCE 200809L
#include "mvae/common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

int mvae_error_set(mvae_error *err, int status, const char *fmt, ...) {
    if (err && err->msg[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void mvae_error_prefix(mvae_error *err, const char *fmt, ...) {
    if (!err) return;
    char old[MVAE_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof err->msg - 2) return;
    size_t left = sizeof err->msg - (size_t)k;
    err->msg[k] = ':';
    err->msg[k + 1] = ' ';
    memcpy(err->msg + k + 2, old, left - 2);
    err->msg[sizeof err->msg - 1] = '\0';
}

void mvae_error_clear(mvae_error *err) {
    if (err) {
        err->status = MVAE_OK;
        err->msg[0] = '\0';
    }
}

const char *mvae_status_name(int status) {
    switch (status) {
    case MVAE_OK: return "ok";
    case MVAE_ERR_INVALID: return "invalid";
    case MVAE_ERR_IO: return "io";
    case MVAE_ERR_FORMAT: return "format";
    case MVAE_ERR_PLUGIN: return "plugin";
    case MVAE_ERR_NUMERIC: return "numeric";
    case MVAE_ERR_NOMEM: return "nomem";
    case MVAE_ERR_INTERRUPTED: return "interrupted";
    default: return "unknown";
    }
}

void mvae_assert_fail(const char *expr, const char *file, int line, const char *msg) {
    fprintf(stderr, "mvae: internal error at %s:%d: assertion '%s' failed%s%s\n", file, line, expr,
            msg ? ": " : "", msg ? msg : "");
    abort();
}

static mvae_log_level g_level = MVAE_LOG_INFO;
static mvae_log_sink g_sink = NULL;
static void *g_sink_user = NULL;

void mvae_log_set_level(mvae_log_level level) { g_level = level; }
mvae_log_level mvae_log_get_level(void) { return g_level; }
void mvae_log_set_sink(mvae_log_sink sink, void *user) {
    g_sink = sink;
    g_sink_user = user;
}

void mvae_log_msg(mvae_log_level level, const char *fmt, ...) {
    if (level < g_level) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (g_sink) {
        g_sink(level, buf, g_sink_user);
        return;
    }
    static const char *names[] = {"debug", "info", "warning", "error"};
    if (level == MVAE_LOG_INFO)
        fprintf(stderr, "%s\n", buf);
    else
        fprintf(stderr, "mvae: %s: %s\n", names[level], buf);
}

void *mvae_alloc_aligned(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0) return NULL;
    return p;
}
void mvae_free_aligned(void *p) { free(p); }

double mvae_time_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int mvae_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return (int)(la > lb ? la : lb);
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            /* transposition */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

const char *mvae_nearest(const char *word, const char *const *candidates, int n) {
    const char *best = NULL;
    int bestd = 1 << 30;
    int len = (int)strlen(word);
    int limit = len / 3 > 2 ? len / 3 : 2;
    for (int i = 0; i < n; i++) {
        if (!candidates[i]) continue;
        int d = mvae_edit_distance(word, candidates[i]);
        if (d < bestd) {
            bestd = d;
            best = candidates[i];
        }
    }
    return bestd <= limit ? best : NULL;
}

bool mvae_cache_dir(const char *opt, const char *sub, char *out, size_t len, const char **why) {
    const char *env;
    int w;
    if (opt && opt[0])
        w = snprintf(out, len, "%s", opt);
    else if ((env = getenv("MVAE_CACHE_DIR")) && env[0])
        w = snprintf(out, len, "%s/%s", env, sub);
    else if ((env = getenv("HOME")) && env[0])
        w = snprintf(out, len, "%s/.cache/mvae/%s", env, sub);
    else {
        *why = "neither MVAE_CACHE_DIR nor HOME is set";
        return false;
    }
    if (w < 0 || (size_t)w >= len) {
        *why = "the cache directory's name is too long";
        return false;
    }
    return true;
}

int mvae_mkdir_p(const char *dir, mvae_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return mvae_error_set(err, MVAE_ERR_IO, "directory name too long: '%s'", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                return mvae_error_set(err, MVAE_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return mvae_error_set(err, MVAE_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
    return MVAE_OK;
}
