/* cli_fixture.h — the fixture of the tests that run the built `mvae` command through the shell
 * (test_cli.c, test_isa.c): a temporary directory with the tiny data set (tiny_data.h) and the
 * tiny experiment as a file, and a runner that keeps the command's stdout and stderr. Include
 * after mvae_test.h and tiny_data.h.
 *
 *   typedef tiny_cmd_env env;
 *   static int env_setup(void **state) { return tiny_cmd_env_open(state, "cli", 300, 100); }
 *   static int env_teardown(void **state) { return tiny_cmd_env_close(state); }
 *   ...
 *   int rc = tiny_cmd_run(e, "", "train 'tiny.yaml' --quiet");   // then e->so, e->se */
#ifndef MVAE_CLI_FIXTURE_H
#define MVAE_CLI_FIXTURE_H
#include <sys/stat.h>
#include <sys/wait.h>

#define MVAE_BIN MVAE_BINARY_DIR "/mvae"

typedef struct tiny_cmd_env {
    char dir[128];        /* the temporary directory; commands run in it */
    char exp[256];        /* the tiny experiment file, dir/tiny.yaml (data in dir/data) */
    char out[256], err[256];
    char *so, *se;        /* the last command's stdout / stderr */
} tiny_cmd_env;

static inline int tiny_cmd_env_open(void **state, const char *name, int n_train, int n_test) {
    tiny_cmd_env *e = calloc(1, sizeof *e);
    if (!e) return -1;
    char data[256];
    if (tiny_root_make(e->dir, sizeof e->dir, data, sizeof data, name, n_train, n_test)) return -1;
    snprintf(e->exp, sizeof e->exp, "%s/tiny.yaml", e->dir);
    if (tiny_write_yaml(e->exp, data)) return -1;
    snprintf(e->out, sizeof e->out, "%s/stdout.txt", e->dir);
    snprintf(e->err, sizeof e->err, "%s/stderr.txt", e->dir);
    *state = e;
    return 0;
}

static inline int tiny_cmd_env_close(void **state) {
    tiny_cmd_env *e = *state;
    free(e->so);
    free(e->se);
    tiny_rm_rf(e->dir);
    free(e);
    return 0;
}

/* Run `cd DIR && PREFIX'<build>/mvae' ARGS` (PREFIX: "" or e.g. "env -u X A=b ", ending in a
 * space); returns the exit status (128 + signal when killed), keeps stdout/stderr in so/se. */
static inline int tiny_cmd_run(tiny_cmd_env *e, const char *prefix, const char *args) {
    size_t n = strlen(e->dir) + strlen(prefix) + strlen(MVAE_BIN) + strlen(args) + strlen(e->out) + strlen(e->err) + 32;
    char *cmd = malloc(n);
    assert_non_null(cmd);
    snprintf(cmd, n, "cd '%s' && %s'%s' %s >'%s' 2>'%s'", e->dir, prefix, MVAE_BIN, args, e->out, e->err);
    int st = system(cmd);
    free(cmd);
    free(e->so);
    free(e->se);
    e->so = tiny_slurp(e->out, NULL);
    e->se = tiny_slurp(e->err, NULL);
    assert_non_null(e->so);
    assert_non_null(e->se);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
#endif
