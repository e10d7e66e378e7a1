/* mvae/common.h — status codes, the caller-owned error, assertions, logging.
 *
 *   mvae_error err = {0};
 *   if (mvae_something(..., &err) != MVAE_OK)
 *       fprintf(stderr, "%s\n", err.msg);   // "exp.yaml:12:5: unknown key ..."
 *
 * Two kinds of failure:
 *  - programmer errors (a broken invariant inside mvae): MVAE_ASSERT prints file:line and aborts;
 *  - user and runtime errors (bad YAML, missing file, ABI mismatch, NaN loss, shape mismatch):
 *    the function returns a status != MVAE_OK and fills a caller-owned mvae_error with a message
 *    that names the place and the fix. The library and plugins never call exit().
 */
#ifndef MVAE_COMMON_H
#define MVAE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MVAE_VERSION_STRING "0.1.0"

typedef enum mvae_status {
    MVAE_OK = 0,
    MVAE_ERR_INVALID = 1, /* bad argument, shape mismatch, bad config value */
    MVAE_ERR_IO = 2,      /* file missing, unreadable, truncated */
    MVAE_ERR_FORMAT = 3,  /* corrupted or foreign file, wrong magic/version/checksum */
    MVAE_ERR_PLUGIN = 4,  /* plugin missing, ABI mismatch, missing hook, duplicate */
    MVAE_ERR_NUMERIC = 5, /* NaN / Inf */
    MVAE_ERR_NOMEM = 6,
    MVAE_ERR_INTERRUPTED = 7, /* stopped on request (a training hook asked to stop, Ctrl-C in Python) */
} mvae_status;

#define MVAE_ERROR_MSG_MAX 1024

/* Caller-owned error. Functions that fail write a message into it (if non-NULL).
 * The first error wins: mvae_error_set does nothing if msg is already filled. */
typedef struct mvae_error {
    int status;
    char msg[MVAE_ERROR_MSG_MAX];
} mvae_error;

/* Fill err (if non-NULL and still empty) and return status. printf-style. */
int mvae_error_set(mvae_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix an existing message: "ctx: old message". */
void mvae_error_prefix(mvae_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mvae_error_clear(mvae_error *err);
const char *mvae_status_name(int status);

/* ---- programmer errors ---- */
void mvae_assert_fail(const char *expr, const char *file, int line, const char *msg)
    __attribute__((noreturn));
#define MVAE_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) mvae_assert_fail(#cond, __FILE__, __LINE__, NULL);                            \
    } while (0)
#define MVAE_ASSERT_MSG(cond, msg)                                                                 \
    do {                                                                                           \
        if (!(cond)) mvae_assert_fail(#cond, __FILE__, __LINE__, (msg));                           \
    } while (0)

/* ---- logging: one logger, levels, settable sink ---- */
typedef enum { MVAE_LOG_DEBUG = 0, MVAE_LOG_INFO = 1, MVAE_LOG_WARN = 2, MVAE_LOG_ERROR = 3 } mvae_log_level;
typedef void (*mvae_log_sink)(mvae_log_level level, const char *msg, void *user);
void mvae_log_set_level(mvae_log_level level);
mvae_log_level mvae_log_get_level(void);
/* sink NULL restores the default (stderr, "[mvae] level: msg"). */
void mvae_log_set_sink(mvae_log_sink sink, void *user);
void mvae_log_msg(mvae_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define MVAE_DEBUG(...) mvae_log_msg(MVAE_LOG_DEBUG, __VA_ARGS__)
#define MVAE_INFO(...) mvae_log_msg(MVAE_LOG_INFO, __VA_ARGS__)
#define MVAE_WARN(...) mvae_log_msg(MVAE_LOG_WARN, __VA_ARGS__)

/* ---- small helpers ---- */
/* Aligned (64-byte) allocation; mvae_free_aligned(NULL) is a no-op. Returns NULL on failure. */
void *mvae_alloc_aligned(size_t bytes);
void mvae_free_aligned(void *p);
/* mkdir -p: create dir and its missing parents (mode 0777 & umask). err may be NULL. */
int mvae_mkdir_p(const char *dir, mvae_error *err);
/* The directory a component caches into: opt when non-empty (a `cache_dir` option), else
 * $MVAE_CACHE_DIR/sub, else $HOME/.cache/mvae/sub. false, with *why set, when neither variable is
 * set or the name does not fit in len. */
bool mvae_cache_dir(const char *opt, const char *sub, char *out, size_t len, const char **why);
/* Monotonic wall clock in seconds. */
double mvae_time_sec(void);
/* Levenshtein distance (for "did you mean" hints). */
int mvae_edit_distance(const char *a, const char *b);
/* Return the candidate closest to `word` (distance <= max(2, len/3)), or NULL. */
const char *mvae_nearest(const char *word, const char *const *candidates, int n);

#ifdef __cplusplus
}
#endif
#endif
