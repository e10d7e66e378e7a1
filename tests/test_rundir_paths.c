/* test_rundir_paths.c — where a run directory comes from (core/src/rundir.c, mvae/train.h),
 * shared by `mvae train|eval` and mvae/api.h: the default name, the checks before a new training
 * (length, an existing trained run) and a resume, and the overrides an existing run accepts,
 * each message exactly as the command and the C API word it. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/train.h"
#include "tiny_data.h"

#include <ctype.h>
#include <sys/stat.h>

static mvae_cfg *cfg_of(const char *yaml) {
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    if (mvae_cfg_load_string(yaml, "t.yaml", &cfg, &err)) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(cfg);
    return cfg;
}

/* "runs/<name>-" then 8 digits, '-', 6 digits */
static void assert_default_name(const char *dir, const char *name) {
    char want[128];
    snprintf(want, sizeof want, "runs/%s-", name);
    assert_int_equal(strncmp(dir, want, strlen(want)), 0);
    const char *p = dir + strlen(want);
    assert_int_equal(strlen(p), 15);
    for (int i = 0; i < 15; i++) assert_true(i == 8 ? p[i] == '-' : isdigit((unsigned char)p[i]) != 0);
}

static void test_default_name(void **state) {
    (void)state;
    mvae_error err = {0};
    char *dir = NULL;
    mvae_cfg *cfg = cfg_of("name: tiny\nlatent_dim: 8\n");
    assert_int_equal(mvae_run_dir_default(cfg, &dir, &err), MVAE_OK);
    assert_default_name(dir, "tiny");
    free(dir);
    mvae_cfg_free(cfg);
    cfg = cfg_of("latent_dim: 8\n"); /* no name */
    assert_int_equal(mvae_run_dir_default(cfg, &dir, &err), MVAE_OK);
    assert_default_name(dir, "experiment");
    free(dir);
    /* a new run without --out takes the default */
    assert_int_equal(mvae_run_dir_new(cfg, NULL, MVAE_RUN_DIR_CLI, &dir, &err), MVAE_OK);
    assert_default_name(dir, "experiment");
    free(dir);
    mvae_cfg_free(cfg);
}

static void test_new_run_checks(void **state) {
    (void)state;
    char root[] = "/tmp/mvae_test_rundir_paths_XXXXXX";
    assert_non_null(mkdtemp(root));
    mvae_cfg *cfg = cfg_of("name: tiny\n");
    char out[256], ckpt[300];
    snprintf(out, sizeof out, "%s/run", root);
    /* a fresh directory, existing or not yet made: accepted, copied */
    for (int voice = 0; voice < 2; voice++) {
        mvae_error err = {0};
        char *dir = NULL;
        assert_int_equal(mvae_run_dir_new(cfg, out, (mvae_run_dir_voice)voice, &dir, &err), MVAE_OK);
        assert_string_equal(dir, out);
        assert_true(dir != out);
        free(dir);
    }
    /* a trained run there (its last.ckpt) is refused, the directory still returned */
    mkdir(out, 0777);
    snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", out);
    FILE *f = fopen(ckpt, "w");
    assert_non_null(f);
    fclose(f);
    const char *want[2] = {"'%s' already holds a trained run: continue it with `mvae train --resume %s`, or choose another --out",
                           "'%s' already holds a trained run: continue it with resume (`mvae train --resume %s`), or "
                           "choose another run directory"};
    for (int voice = 0; voice < 2; voice++) {
        mvae_error err = {0};
        char *dir = NULL, msg[1024];
        assert_int_equal(mvae_run_dir_new(cfg, out, (mvae_run_dir_voice)voice, &dir, &err), MVAE_ERR_INVALID);
        assert_string_equal(dir, out);
        snprintf(msg, sizeof msg, want[voice], out, out);
        assert_string_equal(err.msg, msg);
        free(dir);
    }
    /* a path longer than MVAE_RUN_DIR_MAX */
    char *lng = malloc(MVAE_RUN_DIR_MAX + 2);
    memset(lng, 'a', MVAE_RUN_DIR_MAX + 1);
    lng[MVAE_RUN_DIR_MAX + 1] = '\0';
    const char *wl[2] = {"--out: the path has 3901 characters; at most 3900 (choose a shorter one)",
                         "run directory: the path has 3901 characters; at most 3900 (choose a shorter one)"};
    for (int voice = 0; voice < 2; voice++) {
        mvae_error err = {0};
        char *dir = NULL;
        assert_int_equal(mvae_run_dir_new(cfg, lng, (mvae_run_dir_voice)voice, &dir, &err), MVAE_ERR_INVALID);
        assert_string_equal(err.msg, wl[voice]);
        free(dir);
    }
    free(lng);
    mvae_cfg_free(cfg);
    tiny_rm_rf(root);
}

static void test_resume_and_existing(void **state) {
    (void)state;
    char root[] = "/tmp/mvae_test_rundir_paths_XXXXXX";
    assert_non_null(mkdtemp(root));
    char missing[256], file[256], cfgp[300];
    snprintf(missing, sizeof missing, "%s/nowhere", root);
    snprintf(file, sizeof file, "%s/a_file", root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    const char *fmt[2] = {"--resume %s: no run there (no %s/config.yaml; a run directory is made by `mvae train`)",
                          "resume %s: no run there (no %s/config.yaml; a run directory is made by training)"};
    for (int voice = 0; voice < 2; voice++)
        for (int k = 0; k < 2; k++) { /* missing, or a file */
            const char *p = k ? file : missing;
            mvae_error err = {0};
            char *dir = (char *)1, *cp = (char *)1, want[1024];
            assert_int_equal(mvae_run_dir_resume(p, (mvae_run_dir_voice)voice, &dir, &cp, &err), MVAE_ERR_IO);
            assert_null(dir);
            assert_null(cp);
            snprintf(want, sizeof want, fmt[voice], p, p);
            assert_string_equal(err.msg, want);
            mvae_error e2 = {0};
            assert_int_equal(mvae_run_dir_check_existing(p, &e2), MVAE_ERR_IO);
            snprintf(want, sizeof want, "'%s' is not a run directory (made by `mvae train`)", p);
            assert_string_equal(e2.msg, want);
        }
    mvae_error err = {0};
    char *dir = NULL, *cp = NULL;
    assert_int_equal(mvae_run_dir_resume(root, MVAE_RUN_DIR_CLI, &dir, &cp, &err), MVAE_OK);
    snprintf(cfgp, sizeof cfgp, "%s/config.yaml", root);
    assert_string_equal(dir, root);
    assert_string_equal(cp, cfgp);
    free(dir);
    free(cp);
    assert_int_equal(mvae_run_dir_check_existing(root, &err), MVAE_OK);
    assert_string_equal(err.msg, "");
    tiny_rm_rf(root);
}

static void test_only_eval_sets(void **state) {
    (void)state;
    mvae_error err = {0};
    const char *ok[] = {"eval.batch_size=10", "eval.log_likelihood.samples=5"};
    assert_int_equal(mvae_run_dir_check_sets(ok, 2, MVAE_RUN_DIR_CLI, &err), MVAE_OK);
    assert_int_equal(mvae_run_dir_check_sets(NULL, 0, MVAE_RUN_DIR_API, &err), MVAE_OK);
    assert_string_equal(err.msg, "");
    const char *bad[] = {"eval.batch_size=10", "train.epochs=3", "latent_dim=2"};
    assert_int_equal(mvae_run_dir_check_sets(bad, 3, MVAE_RUN_DIR_CLI, &err), MVAE_ERR_INVALID);
    assert_string_equal(err.msg, "--set train.epochs=3: an existing run keeps its config.yaml; only eval.* settings "
                                 "can be changed here (start a new run to change the rest)");
    mvae_error e2 = {0};
    assert_int_equal(mvae_run_dir_check_sets(bad, 3, MVAE_RUN_DIR_API, &e2), MVAE_ERR_INVALID);
    assert_string_equal(e2.msg, "set train.epochs=3: an existing run keeps its config.yaml; only eval.* settings "
                                "can be changed here (start a new run to change the rest)");
    mvae_error e3 = {0};
    const char *nul[] = {NULL};
    assert_int_equal(mvae_run_dir_check_sets(nul, 1, MVAE_RUN_DIR_API, &e3), MVAE_ERR_INVALID);
    assert_non_null(strstr(e3.msg, "set (null): an existing run"));
    /* "eval" without the dot is another section's key, not the eval section */
    mvae_error e4 = {0};
    const char *evalx[] = {"evaluation=1"};
    assert_int_equal(mvae_run_dir_check_sets(evalx, 1, MVAE_RUN_DIR_CLI, &e4), MVAE_ERR_INVALID);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_name),
        cmocka_unit_test(test_new_run_checks),
        cmocka_unit_test(test_resume_and_existing),
        cmocka_unit_test(test_only_eval_sets),
    };
    return mvae_test_run("rundir_paths", tests, argc, argv);
}
