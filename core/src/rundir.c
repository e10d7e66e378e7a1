/* rundir.c — where a run directory comes from (mvae/train.h): the default name, the checks
 * before a new training or a resume, and the overrides an existing run accepts. Shared by the
 * `mvae` command (tools/mvae.c) and the C API (api.c); each message in the caller's words. */
#define _GNU_SOURCE
#include "mvae/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mvae_run_dir_default(mvae_cfg *cfg, char **dir, mvae_error *err) {
    const char *name = "experiment";
    /* a name of the wrong type was refused when the config was checked: keep the default */
    mvae_cfg_string_or(mvae_cfg_root(cfg), "name", "experiment", &name, err);
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    if (asprintf(dir, "runs/%s-%s", name, stamp) < 0) {
        *dir = NULL;
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    return MVAE_OK;
}

int mvae_run_dir_new(mvae_cfg *cfg, const char *out, mvae_run_dir_voice voice, char **dir, mvae_error *err) {
    const bool api = voice == MVAE_RUN_DIR_API;
    *dir = NULL;
    if (out) {
        if (!(*dir = strdup(out))) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    } else {
        int rc = mvae_run_dir_default(cfg, dir, err);
        if (rc) return rc;
    }
    if (strlen(*dir) > MVAE_RUN_DIR_MAX)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: the path has %zu characters; at most %d (choose a shorter one)",
                              api ? "run directory" : "--out", strlen(*dir), MVAE_RUN_DIR_MAX);
    char *probe = NULL;
    if (asprintf(&probe, "%s/last.ckpt", *dir) < 0) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    struct stat st;
    bool trained = stat(probe, &st) == 0;
    free(probe);
    if (trained)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "'%s' already holds a trained run: continue it with %s`mvae train --resume %s`%s, or "
                              "choose another %s",
                              *dir, api ? "resume (" : "", *dir, api ? ")" : "", api ? "run directory" : "--out");
    return MVAE_OK;
}

int mvae_run_dir_resume(const char *run_dir, mvae_run_dir_voice voice, char **dir, char **cfg_path,
                        mvae_error *err) {
    const bool api = voice == MVAE_RUN_DIR_API;
    *dir = *cfg_path = NULL;
    if (!is_dir(run_dir))
        return mvae_error_set(err, MVAE_ERR_IO, "%s %s: no run there (no %s/config.yaml; a run directory is made by %s)",
                              api ? "resume" : "--resume", run_dir, run_dir, api ? "training" : "`mvae train`");
    if (!(*dir = strdup(run_dir)) || asprintf(cfg_path, "%s/config.yaml", run_dir) < 0) {
        free(*dir);
        *dir = *cfg_path = NULL;
        return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    }
    return MVAE_OK;
}

int mvae_run_dir_check_existing(const char *run_dir, mvae_error *err) {
    if (!is_dir(run_dir))
        return mvae_error_set(err, MVAE_ERR_IO, "'%s' is not a run directory (made by `mvae train`)", run_dir);
    return MVAE_OK;
}

int mvae_run_dir_check_sets(const char *const *sets, int n, mvae_run_dir_voice voice, mvae_error *err) {
    for (int i = 0; i < n; i++)
        if (!sets[i] || strncmp(sets[i], "eval.", 5) != 0)
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "%s %s: an existing run keeps its config.yaml; only eval.* settings can be changed "
                                  "here (start a new run to change the rest)",
                                  voice == MVAE_RUN_DIR_API ? "set" : "--set", sets[i] ? sets[i] : "(null)");
    return MVAE_OK;
}
