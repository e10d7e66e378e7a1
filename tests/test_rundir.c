/* test_rundir.c — crash-consistent run directories (docs/reliability.md, "Run directories"):
 * kill tests at every write point, the lock, the experiment fingerprint, range-checked
 * checkpoint metadata, best/last ordering, metrics.jsonl trimming, sizes a configuration decides
 * and I/O error messages. Trainings that may die run in forked children (MVAE_TEST_CRASH_AT,
 * see mvae_test_crash_point in mvae/checkpoint.h); all on the tiny generated data set. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/checkpoint.h"
#include "mvae/json.h"
#include "mvae/model.h"
#include "mvae/train.h"
#include "tiny_data.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "rundir", 300, 100); }
static int env_teardown(void **state) { return tiny_env_close(state); }

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle)) fprintf(stderr, "message: %s\nexpected to contain: %s\n", msg, needle);
    assert_non_null(strstr(msg, needle));
}

static mvae_cfg *load_cfg(const char *data, const char *const *sets) {
    mvae_error err = {0};
    mvae_cfg *cfg = tiny_cfg(data, sets, &err);
    if (!cfg) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(cfg);
    return cfg;
}

static mvae_model *build_in(env *e, const char *data, const char *const *sets, mvae_cfg **cfg_out) {
    mvae_error err = {0};
    mvae_model *m = tiny_model(e->reg, data, sets, cfg_out, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    return m;
}

static mvae_model *build(env *e, const char *const *sets, mvae_cfg **cfg_out) {
    return build_in(e, e->data, sets, cfg_out);
}

static void destroy(mvae_model *m, mvae_cfg *cfg) {
    mvae_model_free(m);
    mvae_cfg_free(cfg);
}

static void run_dir(env *e, char *buf, size_t n) { snprintf(buf, n, "%s/run%d", e->dir, ++e->n_runs); }

static void path_in(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static bool exists_in(const char *dir, const char *name) {
    char p[600];
    path_in(p, sizeof p, dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static int train_in(env *e, const char *const *sets, const char *dir, bool resume, bool force, mvae_error *err) {
    mvae_cfg *cfg;
    mvae_model *m = build(e, sets, &cfg);
    mvae_train_opts o = {.run_dir = dir, .resume = resume, .quiet = true, .force = force};
    mvae_train_result r;
    int rc = mvae_train(m, &o, &r, err);
    destroy(m, cfg);
    return rc;
}

static void train_ok(env *e, const char *const *sets, const char *dir, bool resume) {
    mvae_error err = {0};
    int rc = train_in(e, sets, dir, resume, false, &err);
    if (rc) fprintf(stderr, "train %s: %s\n", dir, err.msg);
    assert_int_equal(rc, MVAE_OK);
}

static char *slurp_in(const char *dir, const char *name, size_t *len) {
    char p[600];
    path_in(p, sizeof p, dir, name);
    char *s = tiny_slurp(p, len);
    if (!s) fprintf(stderr, "cannot read %s\n", p);
    assert_non_null(s);
    return s;
}

static void spit_in(const char *dir, const char *name, const void *buf, size_t len) {
    char p[600];
    path_in(p, sizeof p, dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void copy_in(const char *from_dir, const char *to_dir, const char *name) {
    size_t len;
    char *s = slurp_in(from_dir, name, &len);
    spit_in(to_dir, name, s, len);
    free(s);
}

/* The metadata of a checkpoint in dir. */
static mvae_run_meta meta_of(const char *dir, const char *name) {
    char p[600];
    path_in(p, sizeof p, dir, name);
    char *ex = NULL;
    mvae_error err = {0};
    int rc = mvae_checkpoint_read_extra(p, &ex, &err);
    mvae_run_meta meta;
    if (!rc) rc = mvae_run_meta_parse(p, ex, -1, &meta, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    free(ex);
    return meta;
}

/* ---------------------------------------------------------------- children that may die */

/* Train in a forked child: resume when dir holds last.ckpt (as `mvae sweep` does), crash as
 * MVAE_TEST_CRASH_AT=crash says (NULL: no crash). Returns the exit code, or -signal. */
static int child_train(env *e, const char *const *sets, const char *dir, const char *crash) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (crash)
            setenv("MVAE_TEST_CRASH_AT", crash, 1);
        else
            unsetenv("MVAE_TEST_CRASH_AT");
        mvae_cfg *cfg = load_cfg(e->data, sets);
        mvae_model *m = NULL;
        mvae_error err = {0};
        int rc = mvae_model_build(cfg, e->reg, &m, &err);
        if (!rc) {
            mvae_train_opts o = {.run_dir = dir, .resume = exists_in(dir, "last.ckpt"), .quiet = true};
            mvae_train_result r;
            rc = mvae_train(m, &o, &r, &err);
        }
        if (rc) fprintf(stderr, "child (crash %s) in %s: %s\n", crash ? crash : "none", dir, err.msg);
        fflush(NULL);
        _exit(rc ? 1 : 0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

/* metrics.jsonl with the timing fields ("seconds", "samples_per_sec") cut out; checks that the
 * lines are epochs 1..n, each once, and returns n. */
static int jsonl_norm(const char *dir, char *out, size_t n) {
    char *s = slurp_in(dir, "metrics.jsonl", NULL);
    int lines = 0;
    out[0] = '\0';
    size_t len = strlen(s);
    assert_true(len == 0 || s[len - 1] == '\n'); /* no torn last line */
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int ep = -1;
        assert_int_equal(sscanf(l, "{\"epoch\": %d,", &ep), 1);
        assert_int_equal(ep, lines + 1);
        char *a = strstr(l, ", \"seconds\""), *b = strstr(l, "\"samples_per_sec\"");
        assert_non_null(a);
        assert_non_null(b);
        b = strchr(b, ',');
        assert_non_null(b);
        snprintf(out + strlen(out), n - strlen(out), "%.*s%s\n", (int)(a - l), l, b);
        lines++;
    }
    free(s);
    return lines;
}

typedef struct leaves {
    char path[64][128];
    double v[64];
    int n;
} leaves;

static void leaf(const char *path, double value, void *user) {
    leaves *l = user;
    if (strstr(path, "seconds") || strstr(path, "per_sec")) return; /* timing */
    assert_true(l->n < 64);
    snprintf(l->path[l->n], sizeof l->path[0], "%s", path);
    l->v[l->n++] = value;
}

static void metrics_json_equal(const char *a, const char *b) {
    leaves la = {0}, lb = {0};
    mvae_json *ja = NULL, *jb = NULL;
    mvae_error err = {0};
    char pa[600], pb[600];
    path_in(pa, sizeof pa, a, "metrics.json");
    path_in(pb, sizeof pb, b, "metrics.json");
    assert_int_equal(mvae_json_parse_file(pa, &ja, &err), MVAE_OK);
    assert_int_equal(mvae_json_parse_file(pb, &jb, &err), MVAE_OK);
    mvae_json_leaves(ja, leaf, &la);
    mvae_json_leaves(jb, leaf, &lb);
    assert_int_equal(la.n, lb.n);
    assert_true(la.n >= 5);
    for (int i = 0; i < la.n; i++) {
        assert_string_equal(la.path[i], lb.path[i]);
        if (memcmp(&la.v[i], &lb.v[i], sizeof(double)) != 0)
            fprintf(stderr, "metrics.json %s: %.17g vs %.17g\n", la.path[i], la.v[i], lb.v[i]);
        assert_memory_equal(&la.v[i], &lb.v[i], sizeof(double));
    }
    mvae_json_free(ja);
    mvae_json_free(jb);
}

static void file_equal(const char *a, const char *b, const char *name) {
    size_t la, lb;
    char *ca = slurp_in(a, name, &la), *cb = slurp_in(b, name, &lb);
    if (la != lb || memcmp(ca, cb, la) != 0) fprintf(stderr, "%s/%s differs from %s/%s\n", b, name, a, name);
    assert_int_equal(la, lb);
    assert_memory_equal(ca, cb, la);
    free(ca);
    free(cb);
}

/* A finished run directory is the uninterrupted reference's, up to timings: the same files (no
 * temporary left over), bit-identical checkpoints, metrics.jsonl lines and metrics.json, and
 * best.ckpt holds what last.ckpt records as the best. */
static void run_dir_equal(const char *ref, const char *dir, int epochs) {
    char na[8192], nb[8192];
    assert_int_equal(jsonl_norm(ref, na, sizeof na), epochs);
    assert_int_equal(jsonl_norm(dir, nb, sizeof nb), epochs);
    assert_string_equal(na, nb);
    file_equal(ref, dir, "last.ckpt");
    file_equal(ref, dir, "best.ckpt");
    metrics_json_equal(ref, dir);
    mvae_run_meta last = meta_of(dir, "last.ckpt"), best = meta_of(dir, "best.ckpt");
    assert_true(last.has_best && best.has_best);
    assert_memory_equal(&last.best, &best.best, sizeof(double));
    assert_int_equal(last.best_epoch, best.epoch);
    assert_int_equal(last.epoch, epochs);
    /* the same file names as the reference */
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *en; (en = readdir(d));) {
        if (en->d_name[0] == '.') continue;
        if (!exists_in(ref, en->d_name)) fprintf(stderr, "%s/%s: not in the reference run\n", dir, en->d_name);
        assert_true(exists_in(ref, en->d_name));
    }
    closedir(d);
    d = opendir(ref);
    for (struct dirent *en; (en = readdir(d));) {
        if (en->d_name[0] == '.') continue;
        if (!exists_in(dir, en->d_name)) fprintf(stderr, "%s/%s: missing\n", dir, en->d_name);
        assert_true(exists_in(dir, en->d_name));
    }
    closedir(d);
}

/* Kill the trainer at every write point (every hit of each), resume until it finishes, and
 * compare with an uninterrupted run. */
static void test_kill_at_each_write_point(void **state) {
    env *e = *state;
    const char *const sets[] = {"train.epochs=3", "train.max_batches=3", "train.valid_size=50",
                                "eval.log_likelihood.samples=4", NULL};
    char ref[256];
    run_dir(e, ref, sizeof ref);
    assert_int_equal(child_train(e, sets, ref, NULL), 0);
    const char *points[] = {"metrics_trim", "metrics_torn", "metrics_line", "best_saved", "ckpt_tmp",
                            "ckpt_renamed", "metrics_json", "pictures"};
    int kills = 0;
    double t0 = mvae_time_sec();
    for (size_t p = 0; p < sizeof points / sizeof *points; p++) {
        for (int n = 1; n <= 16; n++) {
            char dir[256], crash[64];
            run_dir(e, dir, sizeof dir);
            snprintf(crash, sizeof crash, "%s:%d", points[p], n);
            int st = child_train(e, sets, dir, crash);
            if (st == 0) break; /* fewer than n hits: it ran to the end */
            if (st != -SIGKILL) fprintf(stderr, "%s: exit %d\n", crash, st);
            assert_int_equal(st, -SIGKILL);
            kills++;
            /* a second kill at the same point while resuming, then resume to the end */
            int st2 = child_train(e, sets, dir, n == 1 ? crash : NULL);
            if (st2 == -SIGKILL) st2 = child_train(e, sets, dir, NULL), kills++;
            if (st2 != 0) fprintf(stderr, "resume after %s: exit %d\n", crash, st2);
            assert_int_equal(st2, 0);
            run_dir_equal(ref, dir, 3);
        }
    }
    fprintf(stderr, "kill test: %d kills, %.1f s\n", kills, mvae_time_sec() - t0);
    assert_true(kills >= 20);
}

/* ------------------------------------------------------------------------------- lock */

static void test_lock(void **state) {
    env *e = *state;
    char dir[256];
    run_dir(e, dir, sizeof dir);
    assert_int_equal(mvae_mkdir_p(dir, NULL), MVAE_OK);
    const char *const sets[] = {"train.epochs=1", "eval.pictures=false", NULL};
    /* held by this process: a trainer on the same directory fails at once, naming the holder */
    mvae_run_lock lk;
    mvae_error err = {0};
    assert_int_equal(mvae_run_lock_acquire(dir, &lk, &err), MVAE_OK);
    assert_int_not_equal(train_in(e, sets, dir, false, false, &err), MVAE_OK);
    char pid[64];
    snprintf(pid, sizeof pid, "in use by PID %ld on host ", (long)getpid());
    assert_has(err.msg, dir);
    assert_has(err.msg, pid);
    assert_has(err.msg, "(started ");
    assert_has(err.msg, "wait for it or pick another --out");
    assert_false(exists_in(dir, "config.yaml")); /* refused before writing anything */
    mvae_run_lock_release(&lk);
    mvae_run_lock_release(&lk); /* twice: no-op */
    /* held by another process */
    int to_child[2], from_child[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(from_child), 0);
    fflush(NULL);
    pid_t c = fork();
    if (c == 0) {
        mvae_run_lock l2;
        char b = mvae_run_lock_acquire(dir, &l2, NULL) == MVAE_OK ? 'y' : 'n';
        if (write(from_child[1], &b, 1) != 1) _exit(2);
        if (read(to_child[0], &b, 1) != 1) _exit(2);
        _exit(0);
    }
    char b = 0;
    assert_int_equal(read(from_child[0], &b, 1), 1);
    assert_int_equal(b, 'y');
    mvae_error_clear(&err);
    assert_int_not_equal(train_in(e, sets, dir, false, false, &err), MVAE_OK);
    snprintf(pid, sizeof pid, "in use by PID %ld on host ", (long)c);
    assert_has(err.msg, pid);
    /* and --resume is refused the same way */
    mvae_error_clear(&err);
    assert_int_not_equal(train_in(e, sets, dir, true, false, &err), MVAE_OK);
    assert_has(err.msg, pid);
    assert_int_equal(write(to_child[1], "x", 1), 1);
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    close(to_child[0]), close(to_child[1]), close(from_child[0]), close(from_child[1]);
    /* a lock file left by a process that was killed does not block */
    fflush(NULL);
    c = fork();
    if (c == 0) {
        mvae_run_lock l3;
        if (mvae_run_lock_acquire(dir, &l3, NULL) == MVAE_OK) raise(SIGKILL);
        _exit(2);
    }
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    size_t len;
    char *content = slurp_in(dir, "lock", &len);
    snprintf(pid, sizeof pid, "pid %ld host ", (long)c);
    assert_has(content, pid);
    free(content);
    train_ok(e, sets, dir, false);
    /* the lock is released when training ends (and after an error) */
    assert_int_equal(mvae_run_lock_acquire(dir, &lk, &err), MVAE_OK);
    mvae_run_lock_release(&lk);
}

/* ------------------------------------------------------------------------ fingerprint */

static void test_fingerprint(void **state) {
    env *e = *state;
    char a[256];
    run_dir(e, a, sizeof a);
    train_ok(e, (const char *const[]){"train.epochs=1", "eval.pictures=false", NULL}, a, false);
    /* what does and does not change it */
    mvae_cfg *c1, *c2, *c3, *c4;
    mvae_model *m1 = build(e, NULL, &c1);
    mvae_model *m2 = build(e, (const char *const[]){"train.epochs=7", "eval.log_likelihood.samples=3", NULL}, &c2);
    mvae_model *m3 = build(e, (const char *const[]){"seed=4", NULL}, &c3);
    mvae_model *m4 = build(e, (const char *const[]){"modalities.label.weight=10", NULL}, &c4);
    char f1[MVAE_FINGERPRINT_HEX + 1], f2[MVAE_FINGERPRINT_HEX + 1], f3[MVAE_FINGERPRINT_HEX + 1],
        f4[MVAE_FINGERPRINT_HEX + 1];
    mvae_experiment_fingerprint(m1, f1);
    mvae_experiment_fingerprint(m2, f2);
    mvae_experiment_fingerprint(m3, f3);
    mvae_experiment_fingerprint(m4, f4);
    assert_int_equal(strlen(f1), MVAE_FINGERPRINT_HEX);
    assert_string_equal(f1, f2);
    assert_string_not_equal(f1, f3);
    assert_string_not_equal(f1, f4);
    /* the run's own config.yaml (as `mvae train --resume` loads it) gives the same fingerprint */
    mvae_cfg *cr;
    mvae_error err = {0};
    char p[600];
    path_in(p, sizeof p, a, "config.yaml");
    assert_int_equal(mvae_cfg_load_file(p, &cr, &err), MVAE_OK);
    mvae_model *mr = NULL;
    assert_int_equal(mvae_model_build(cr, e->reg, &mr, &err), MVAE_OK);
    char fr[MVAE_FINGERPRINT_HEX + 1];
    mvae_experiment_fingerprint(mr, fr);
    assert_string_equal(f1, fr);
    assert_string_equal(meta_of(a, "last.ckpt").fingerprint, f1);
    /* eval's load: a foreign checkpoint (same shapes, another seed) is refused unless forced */
    path_in(p, sizeof p, a, "best.ckpt");
    assert_int_equal(mvae_run_checkpoint_load(mr, p, NULL, NULL, false, NULL, &err), MVAE_OK);
    float before = m3->params->data[0];
    assert_int_equal(mvae_run_checkpoint_load(m3, p, NULL, NULL, false, NULL, &err), MVAE_ERR_INVALID);
    assert_has(err.msg, p);
    assert_has(err.msg, "another experiment");
    assert_has(err.msg, "--force");
    assert_true(m3->params->data[0] == before); /* refused: nothing loaded */
    mvae_error_clear(&err);
    mvae_run_meta meta;
    mvae_log_level lvl = mvae_log_get_level();
    mvae_log_set_level(MVAE_LOG_ERROR);
    assert_int_equal(mvae_run_checkpoint_load(m3, p, NULL, NULL, true, &meta, &err), MVAE_OK);
    assert_int_equal(meta.epoch, 1);
    /* resume: refused, then forced */
    assert_int_not_equal(train_in(e, (const char *const[]){"seed=4", "train.epochs=2", "eval.pictures=false", NULL},
                                  a, true, false, &err), MVAE_OK);
    assert_has(err.msg, "last.ckpt");
    assert_has(err.msg, "another experiment");
    assert_int_equal(meta_of(a, "last.ckpt").epoch, 1); /* nothing written */
    mvae_error_clear(&err);
    int rc = train_in(e, (const char *const[]){"seed=4", "train.epochs=2", "eval.pictures=false", NULL}, a, true,
                      true, &err);
    mvae_log_set_level(lvl);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    assert_int_equal(meta_of(a, "last.ckpt").epoch, 2);
    destroy(m1, c1);
    destroy(m2, c2);
    destroy(m3, c3);
    destroy(m4, c4);
    destroy(mr, cr);
}

/* ------------------------------------------------------------- checkpoint metadata */

/* Replace a checkpoint's extra string, with a valid checksum (format in mvae/checkpoint.h). */
static void forge_extra(const char *dir, const char *name, const char *extra) {
    size_t len;
    unsigned char *b = (unsigned char *)slurp_in(dir, name, &len);
    const size_t at = 8 + 4 + 4 + 8 + 4 + 1 + 32;
    uint32_t old = (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 | (uint32_t)b[at + 3] << 24;
    size_t nl = strlen(extra), rest = len - 4 - (at + 4 + old);
    size_t n = at + 4 + nl + rest + 4;
    unsigned char *o = malloc(n);
    memcpy(o, b, at);
    for (int i = 0; i < 4; i++) o[at + i] = (unsigned char)(nl >> (8 * i));
    memcpy(o + at + 4, extra, nl);
    memcpy(o + at + 4 + nl, b + at + 4 + old, rest);
    uint32_t crc = (uint32_t)crc32(0, o, (uInt)(n - 4));
    for (int i = 0; i < 4; i++) o[n - 4 + i] = (unsigned char)(crc >> (8 * i));
    spit_in(dir, name, o, n);
    free(o);
    free(b);
}

static void test_checkpoint_metadata(void **state) {
    env *e = *state;
    char a[256];
    run_dir(e, a, sizeof a);
    const char *const one[] = {"train.epochs=1", "eval.pictures=false", NULL};
    const char *const three[] = {"train.epochs=3", "eval.pictures=false", NULL};
    train_ok(e, one, a, false);
    size_t good_len;
    char *good = slurp_in(a, "last.ckpt", &good_len);
    mvae_run_meta gm = meta_of(a, "last.ckpt");
    char fp[64];
    snprintf(fp, sizeof fp, "\"fingerprint\": \"%s\"", gm.fingerprint);
    struct {
        const char *extra, *field;
    } bad[] = {
        {"{\"epoch\": -20, \"best\": 1.5, \"loss\": 1.5}", "'epoch' is -20"}, /* the reproducer */
        {"{\"epoch\": 4, \"best\": 1.5, \"loss\": 1.5}", "'epoch' is 4"},     /* > train.epochs */
        {"{\"epoch\": 1.5, \"best\": 1.5, \"loss\": 1.5}", "'epoch'"},
        {"{\"epoch\": 2305843009213693952}", "'epoch'"},
        {"{\"epoch\": \"1\"}", "'epoch' is not a number"},
        {"{\"best\": 1.5}", "'epoch' is missing"},
        {"{\"epoch\": 1, \"best\": nan}", "'best' is NaN"},
        {"{\"epoch\": 1, \"best\": -inf}", "'best' is -inf"},
        {"{\"epoch\": 1, \"best\": 1.5, \"best_epoch\": 2}", "'best_epoch' is 2"},
        {"{\"epoch\": 1, \"best\": 1.5, \"best_epoch\": 0}", "'best_epoch' is 0"},
        {"{\"epoch\": 1, \"best\": null, \"best_epoch\": 1}", "'best_epoch' is 1"},
        {"{\"epoch\": 1, \"loss\": inf}", "'loss'"},
        {"{\"epoch\": 1, \"fingerprint\": \"xyz\"}", "'fingerprint'"},
        {"{\"epoch\": 1, \"fingerprint\": 12}", "'fingerprint'"},
        {"\"epoch\": 1", "not a JSON object"},
        {"", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        forge_extra(a, "last.ckpt", bad[i].extra);
        mvae_error err = {0};
        int rc = train_in(e, three, a, true, false, &err);
        if (rc == MVAE_OK || !strstr(err.msg, bad[i].field))
            fprintf(stderr, "forged %s: rc %d: %s\n", bad[i].extra, rc, err.msg);
        assert_int_equal(rc, MVAE_ERR_FORMAT);
        assert_has(err.msg, "last.ckpt");
        assert_has(err.msg, bad[i].field);
    }
    /* best.ckpt's metadata is checked too */
    spit_in(a, "last.ckpt", good, good_len);
    forge_extra(a, "best.ckpt", "{\"epoch\": -20, \"best\": 1.5}");
    mvae_error err = {0};
    assert_int_equal(train_in(e, three, a, true, false, &err), MVAE_ERR_FORMAT);
    assert_has(err.msg, "best.ckpt");
    assert_has(err.msg, "'epoch' is -20");
    /* an older mvae's metadata (no fingerprint, no best_epoch, %.9g) still resumes */
    char legacy[128];
    snprintf(legacy, sizeof legacy, "{\"epoch\": 1, \"best\": %.9g, \"loss\": %.9g}", gm.best, gm.loss);
    forge_extra(a, "last.ckpt", legacy);
    forge_extra(a, "best.ckpt", legacy);
    mvae_log_level lvl = mvae_log_get_level();
    mvae_log_set_level(MVAE_LOG_ERROR);
    train_ok(e, three, a, true);
    mvae_log_set_level(lvl);
    mvae_run_meta m3 = meta_of(a, "last.ckpt");
    assert_int_equal(m3.epoch, 3);
    assert_true(m3.has_fingerprint);
    free(good);
}

/* --------------------------------------------------------- best before last; metrics.jsonl */

/* The state a kill between last.ckpt and best.ckpt left with the old order: last.ckpt (epoch 2)
 * records itself as the best, best.ckpt still holds epoch 1. Resume repairs best.ckpt. */
static void test_stale_best_repaired(void **state) {
    env *e = *state;
    char a1[256], a2[256], b[256];
    run_dir(e, a1, sizeof a1);
    run_dir(e, a2, sizeof a2);
    run_dir(e, b, sizeof b);
    const char *const s1[] = {"train.epochs=1", "eval.pictures=false", NULL};
    const char *const s2[] = {"train.epochs=2", "eval.pictures=false", NULL};
    train_ok(e, s1, a1, false);
    train_ok(e, s2, a2, false);
    assert_int_equal(meta_of(a2, "best.ckpt").epoch, 2); /* the loss fell: epoch 2 is the best */
    assert_int_equal(mvae_mkdir_p(b, NULL), MVAE_OK);
    copy_in(a2, b, "config.yaml");
    copy_in(a2, b, "metrics.jsonl");
    copy_in(a2, b, "last.ckpt");
    copy_in(a1, b, "best.ckpt");
    mvae_log_level lvl = mvae_log_get_level();
    mvae_log_set_level(MVAE_LOG_ERROR);
    train_ok(e, s2, b, true);
    mvae_log_set_level(lvl);
    file_equal(a2, b, "best.ckpt");
    file_equal(a2, b, "last.ckpt");
    /* best.ckpt missing altogether: the same repair */
    char p[600];
    path_in(p, sizeof p, b, "best.ckpt");
    assert_int_equal(unlink(p), 0);
    mvae_log_set_level(MVAE_LOG_ERROR);
    train_ok(e, s2, b, true);
    mvae_log_set_level(lvl);
    file_equal(a2, b, "best.ckpt");
}

/* metrics.jsonl after a kill between its line and the checkpoint (old code: "1 2 3 3 4 5"), with
 * a torn last line, with the old code's repeated epoch: resume leaves one line per epoch. */
static void test_metrics_trimmed(void **state) {
    env *e = *state;
    char ref[256], b[256];
    run_dir(e, ref, sizeof ref);
    run_dir(e, b, sizeof b);
    const char *const s2[] = {"train.epochs=2", "eval.pictures=false", NULL};
    const char *const s3[] = {"train.epochs=3", "eval.pictures=false", NULL};
    train_ok(e, s3, ref, false);
    char nref[4096], nb[4096];
    assert_int_equal(jsonl_norm(ref, nref, sizeof nref), 3);
    const char *tails[] = {
        "{\"epoch\": 3, \"loss\": 1.0, \"seconds\": 1, \"samples_per_sec\": 1, \"terms\": {}}\n", /* line, no ckpt */
        "{\"epoch\": 3, \"loss\": 1.0, \"seco",                                                 /* torn */
        "{\"epoch\": 3, \"loss\": 1.0, \"seconds\": 1, \"samples_per_sec\": 1, \"terms\": {}}\n{\"epo",
        "\n",  /* an empty line */
        "\xff\xfe garbage\n",
    };
    for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
        tiny_rm_rf(b);
        train_ok(e, s2, b, false);
        char p[600];
        path_in(p, sizeof p, b, "metrics.jsonl");
        FILE *f = fopen(p, "a");
        assert_non_null(f);
        fputs(tails[i], f);
        fclose(f);
        train_ok(e, s3, b, true);
        assert_int_equal(jsonl_norm(b, nb, sizeof nb), 3);
        assert_string_equal(nref, nb);
    }
    /* a file damaged by the old code: epoch 2 repeated (the later line is the one kept) */
    tiny_rm_rf(b);
    train_ok(e, s2, b, false);
    size_t len;
    char *s = slurp_in(b, "metrics.jsonl", &len);
    char *second = strchr(s, '\n') + 1;
    char *dup = malloc(2 * len + 1);
    snprintf(dup, 2 * len + 1, "%.*s{\"epoch\": 2, \"loss\": 9}\n%s%s", (int)(second - s), s, second,
             "{\"epoch\": 3, \"loss\": 9}\n");
    spit_in(b, "metrics.jsonl", dup, strlen(dup));
    train_ok(e, s3, b, true);
    assert_int_equal(jsonl_norm(b, nb, sizeof nb), 3);
    assert_string_equal(nref, nb);
    free(dup);
    free(s);
    assert_false(exists_in(b, "metrics.jsonl.tmp"));
}

/* --------------------------------------------------------- sizes a configuration decides */

/* train.batch_size > 4096 with valid_size > 4096: the validation batch's indices came from a
 * fixed int64_t idx[4096] on the stack. */
static void test_valid_batch_above_4096(void **state) {
    env *e = *state;
    char data[300], dir[256];
    snprintf(data, sizeof data, "%s/data_big", e->dir);
    assert_int_equal(mkdir(data, 0777), 0);
    assert_int_equal(tiny_write_dataset(data, 4200 + 4200, 20), 0);
    run_dir(e, dir, sizeof dir);
    mvae_cfg *cfg;
    mvae_model *m = build_in(e, data,
                             (const char *const[]){"train.epochs=1", "train.batch_size=4200", "train.valid_size=4200",
                                                   "eval.pictures=false", "eval.batch_size=20", NULL},
                             &cfg);
    mvae_train_opts o = {.run_dir = dir, .quiet = true};
    mvae_train_result r;
    mvae_error err = {0};
    int rc = mvae_train(m, &o, &r, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    char line[4096];
    assert_int_equal(jsonl_norm(dir, line, sizeof line), 1);
    assert_non_null(strstr(line, "\"valid_loss\""));
    destroy(m, cfg);
}

/* train.epochs: 2305843009213693952 made the (epochs + 1) * 8 allocation wrap. The trainer
 * refuses it itself (set after the build: whatever the schema checks). */
static void test_huge_epochs(void **state) {
    env *e = *state;
    char dir[256];
    run_dir(e, dir, sizeof dir);
    const char *values[] = {"train.epochs=2305843009213693952", "train.epochs=1000000001",
                            "train.batch_size=4611686018427387904"};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        mvae_cfg *cfg;
        mvae_model *m = build(e, (const char *const[]){"eval.pictures=false", NULL}, &cfg);
        mvae_error err = {0};
        assert_int_equal(mvae_cfg_set(cfg, values[i], &err), MVAE_OK);
        mvae_train_opts o = {.run_dir = dir, .quiet = true};
        mvae_train_result r;
        assert_int_equal(mvae_train(m, &o, &r, &err), MVAE_ERR_INVALID);
        assert_has(err.msg, i < 2 ? "train.epochs" : "train.batch_size");
        destroy(m, cfg);
    }
}

/* ------------------------------------------------------------------------ I/O errors */

static void test_write_errors_name_path_and_reason(void **state) {
    env *e = *state;
    const char *const sets[] = {"train.epochs=1", "eval.pictures=false", NULL};
    const char *reason = strerror(EISDIR);
    char dir[256], p[600];
    mvae_error err = {0};
    /* the lock file cannot be created */
    run_dir(e, dir, sizeof dir);
    path_in(p, sizeof p, dir, "lock");
    assert_int_equal(mvae_mkdir_p(p, NULL), MVAE_OK);
    assert_int_equal(train_in(e, sets, dir, false, false, &err), MVAE_ERR_IO);
    assert_has(err.msg, p);
    assert_has(err.msg, reason);
    /* metrics.jsonl cannot be written */
    mvae_error_clear(&err);
    run_dir(e, dir, sizeof dir);
    path_in(p, sizeof p, dir, "metrics.jsonl");
    assert_int_equal(mvae_mkdir_p(p, NULL), MVAE_OK);
    assert_int_equal(train_in(e, sets, dir, false, false, &err), MVAE_ERR_IO);
    assert_has(err.msg, "metrics.jsonl");
    assert_has(err.msg, reason);
    /* a checkpoint cannot be written */
    mvae_error_clear(&err);
    run_dir(e, dir, sizeof dir);
    path_in(p, sizeof p, dir, "best.ckpt.tmp");
    assert_int_equal(mvae_mkdir_p(p, NULL), MVAE_OK);
    assert_int_equal(train_in(e, sets, dir, false, false, &err), MVAE_ERR_IO);
    assert_has(err.msg, p);
    assert_has(err.msg, reason);
    /* a read-only run directory (permissions do not bind root) */
    if (geteuid() != 0) {
        mvae_error_clear(&err);
        run_dir(e, dir, sizeof dir);
        assert_int_equal(mvae_mkdir_p(dir, NULL), MVAE_OK);
        assert_int_equal(chmod(dir, 0555), 0);
        assert_int_equal(train_in(e, sets, dir, false, false, &err), MVAE_ERR_IO);
        assert_has(err.msg, dir);
        assert_has(err.msg, strerror(EACCES));
        chmod(dir, 0755);
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_at_each_write_point),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_checkpoint_metadata),
        cmocka_unit_test(test_stale_best_repaired),
        cmocka_unit_test(test_metrics_trimmed),
        cmocka_unit_test(test_valid_batch_above_4096),
        cmocka_unit_test(test_huge_epochs),
        cmocka_unit_test(test_write_errors_name_path_and_reason),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("rundir", tests, env_setup, env_teardown);
}
