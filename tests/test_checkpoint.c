/* test_checkpoint.c — round trip, corruption and mismatch detection, atomic save. */
#include "mvae_test.h"

#include "mvae/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

typedef struct tmpdir {
    char dir[64];
} tmpdir;

static tmpdir tmpdir_new(void) {
    tmpdir t;
    snprintf(t.dir, sizeof t.dir, "/tmp/mvae_ckpt_XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    return t;
}

static int tmpdir_count(const tmpdir *t) {
    DIR *d = opendir(t->dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void tmpdir_remove(tmpdir *t) {
    DIR *d = opendir(t->dir);
    assert_non_null(d);
    char p[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    assert_int_equal(rmdir(t->dir), 0);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* CRC-32 (zlib's polynomial), to forge files whose checksum is right but content is not */
static uint32_t crc32_ref(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void fix_crc(unsigned char *buf, size_t len) {
    uint32_t c = crc32_ref(buf, len - 4);
    for (int i = 0; i < 4; i++) buf[len - 4 + i] = (unsigned char)(c >> (8 * i));
}

/* A small model: w [5,7], b [5], running stats buffer [5]. w_cols lets a test declare a
 * different architecture. */
typedef struct model {
    mvae_params *ps;
    mvae_optim opt;
    mvae_rng rng;
} model;

static model model_new(uint64_t seed, int64_t w_cols, bool with_buffer) {
    model m;
    mvae_error err = {0};
    m.ps = mvae_params_new();
    assert_non_null(mvae_params_add(m.ps, "image.enc.fc1.w", 2, (int64_t[]){5, w_cols},
                                    MVAE_INIT_KAIMING_UNIFORM, w_cols, &err));
    assert_non_null(mvae_params_add(m.ps, "image.enc.fc1.b", 1, (int64_t[]){5}, MVAE_INIT_BIAS_UNIFORM,
                                    w_cols, &err));
    if (with_buffer)
        assert_non_null(mvae_params_add_buffer(m.ps, "image.enc.bn.running_var", 1, (int64_t[]){5}, 1.0f, &err));
    mvae_rng_seed(&m.rng, seed);
    assert_int_equal(mvae_params_finalize(m.ps, &m.rng, &err), MVAE_OK);
    m.opt = mvae_optim_adam(1e-2f);
    return m;
}

/* A few Adam steps with random gradients: moments and step become nontrivial. */
static void train(model *m, int steps) {
    mvae_error err = {0};
    for (int s = 0; s < steps; s++) {
        mvae_params_zero_grad(m->ps);
        for (int e = 0; e < m->ps->count; e++)
            if (!m->ps->entries[e].buffer)
                mvae_rng_uniform_fill(&m->rng, m->ps->entries[e].t->grad, (size_t)m->ps->entries[e].t->n, -1, 1);
        assert_int_equal(mvae_optim_step(&m->opt, m->ps, &err), MVAE_OK);
    }
    mvae_tensor *rv = mvae_params_find(m->ps, "image.enc.bn.running_var");
    if (rv)
        for (int i = 0; i < 5; i++) rv->data[i] = 0.5f + (float)i;
}

/* Snapshot of everything a load may modify. */
typedef struct snapshot {
    float *data, *m, *v;
    size_t n;
    int64_t step;
    mvae_rng rng;
} snapshot;

static snapshot snap(const model *m) {
    snapshot s = {0};
    s.n = m->ps->n_floats;
    s.data = malloc(s.n * sizeof(float));
    memcpy(s.data, m->ps->data, s.n * sizeof(float));
    if (m->ps->m) {
        s.m = malloc(s.n * sizeof(float));
        s.v = malloc(s.n * sizeof(float));
        memcpy(s.m, m->ps->m, s.n * sizeof(float));
        memcpy(s.v, m->ps->v, s.n * sizeof(float));
    }
    s.step = m->opt.step;
    s.rng = m->rng;
    return s;
}

static void assert_unchanged(const snapshot *s, const model *m) {
    assert_memory_equal(s->data, m->ps->data, s->n * sizeof(float));
    if (s->m) {
        assert_memory_equal(s->m, m->ps->m, s->n * sizeof(float));
        assert_memory_equal(s->v, m->ps->v, s->n * sizeof(float));
    } else {
        assert_null(m->ps->m);
    }
    assert_int_equal(s->step, m->opt.step);
    assert_memory_equal(&s->rng, &m->rng, sizeof s->rng);
}

static void snap_free(snapshot *s) {
    free(s->data);
    free(s->m);
    free(s->v);
}

/* Save a trained model to <dir>/a.ckpt; returns the path in buf. */
static model saved_model(const tmpdir *t, char *path, size_t len) {
    model a = model_new(1, 7, true);
    train(&a, 3);
    snprintf(path, len, "%s/a.ckpt", t->dir);
    mvae_error err = {0};
    assert_int_equal(mvae_checkpoint_save(path, a.ps, &a.opt, &a.rng, "{\"epoch\": 3}", &err), MVAE_OK);
    return a;
}

/* ---- tests ---- */

static void test_round_trip(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256];
    model a = saved_model(&t, path, sizeof path);
    /* atomic save: only the final file is left */
    assert_int_equal(tmpdir_count(&t), 1);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);

    model b = model_new(99, 7, true);
    b.opt = mvae_optim_adam(1e-2f);
    assert_null(b.ps->m);
    mvae_error err = {0};
    char *extra = NULL;
    assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, &extra, &err), MVAE_OK);
    assert_memory_equal(a.ps->data, b.ps->data, a.ps->n_floats * sizeof(float));
    assert_non_null(b.ps->m);
    assert_memory_equal(a.ps->m, b.ps->m, a.ps->n_floats * sizeof(float));
    assert_memory_equal(a.ps->v, b.ps->v, a.ps->n_floats * sizeof(float));
    assert_int_equal(b.opt.step, 3);
    assert_memory_equal(&a.rng, &b.rng, sizeof a.rng);
    assert_non_null(extra);
    assert_string_equal(extra, "{\"epoch\": 3}");
    free(extra);
    mvae_tensor *rv = mvae_params_find(b.ps, "image.enc.bn.running_var");
    assert_float_equal(rv->data[4], 4.5f, 0);

    /* resuming continues identically: one more step on both gives the same parameters */
    train(&a, 1);
    train(&b, 1);
    assert_memory_equal(a.ps->data, b.ps->data, a.ps->n_floats * sizeof(float));

    /* opt, rng, extra may be NULL on both sides */
    model c = model_new(5, 7, true);
    assert_int_equal(mvae_checkpoint_save(path, c.ps, NULL, NULL, NULL, &err), MVAE_OK);
    snapshot before = snap(&b);
    assert_int_equal(mvae_checkpoint_load(path, b.ps, NULL, NULL, NULL, &err), MVAE_OK);
    assert_memory_equal(c.ps->data, b.ps->data, c.ps->n_floats * sizeof(float));
    assert_int_equal(b.opt.step, before.step);
    assert_memory_equal(before.m, b.ps->m, before.n * sizeof(float)); /* opt NULL: moments kept */
    /* a file saved without rng leaves the rng alone; extra is "" */
    assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, &extra, &err), MVAE_OK);
    assert_memory_equal(&before.rng, &b.rng, sizeof b.rng);
    assert_string_equal(extra, "");
    free(extra);
    assert_int_equal(b.opt.step, 0);
    for (size_t i = 0; i < b.ps->n_floats; i++) assert_float_equal(b.ps->m[i], 0, 0);
    snap_free(&before);
    assert_int_equal(tmpdir_count(&t), 1);

    mvae_params_free(a.ps);
    mvae_params_free(b.ps);
    mvae_params_free(c.ps);
    tmpdir_remove(&t);
}

static void test_truncated(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256], bad[256];
    model a = saved_model(&t, path, sizeof path);
    snprintf(bad, sizeof bad, "%s/bad.ckpt", t.dir);
    size_t len;
    unsigned char *buf = slurp(path, &len);
    model b = model_new(2, 7, true);
    train(&b, 1);
    snapshot s = snap(&b);
    const size_t cuts[] = {0, 3, 8, 12, 40, 72, 73, 100, len / 2, len - 5, len - 4, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        spit(bad, buf, cuts[k]);
        mvae_error err = {0};
        char *extra = NULL;
        int rc = mvae_checkpoint_load(bad, b.ps, &b.opt, &b.rng, &extra, &err);
        assert_int_not_equal(rc, MVAE_OK);
        assert_null(extra);
        assert_non_null(strstr(err.msg, bad));
        if (cuts[k] >= 80)
            assert_non_null(strstr(err.msg, "checksum mismatch: the file is corrupted or truncated"));
        assert_unchanged(&s, &b);
    }
    /* trailing garbage */
    unsigned char *longer = malloc(len + 3);
    memcpy(longer, buf, len);
    memset(longer + len, 0, 3);
    spit(bad, longer, len + 3);
    mvae_error err = {0};
    assert_int_not_equal(mvae_checkpoint_load(bad, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_OK);
    assert_unchanged(&s, &b);
    free(longer);
    snap_free(&s);
    free(buf);
    mvae_params_free(a.ps);
    mvae_params_free(b.ps);
    tmpdir_remove(&t);
}

static void test_flipped_byte(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256];
    model a = saved_model(&t, path, sizeof path);
    size_t len;
    unsigned char *buf = slurp(path, &len);
    model b = model_new(2, 7, true);
    snapshot s = snap(&b);
    const size_t where[] = {20, 60, len / 2, len - 10, len - 2};
    for (size_t k = 0; k < sizeof where / sizeof where[0]; k++) {
        buf[where[k]] ^= 0x10;
        spit(path, buf, len);
        buf[where[k]] ^= 0x10;
        mvae_error err = {0};
        assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "checksum mismatch: the file is corrupted or truncated"));
        assert_non_null(strstr(err.msg, path));
        assert_unchanged(&s, &b);
    }
    snap_free(&s);
    free(buf);
    mvae_params_free(a.ps);
    mvae_params_free(b.ps);
    tmpdir_remove(&t);
}

static void test_magic_and_version(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256];
    model a = saved_model(&t, path, sizeof path);
    size_t len;
    unsigned char *buf = slurp(path, &len);
    assert_memory_equal(buf, "MVAECKPT", 8);
    assert_int_equal(buf[8], 1); /* version 1, little-endian */
    assert_int_equal(buf[9] | buf[10] | buf[11], 0);
    model b = model_new(2, 7, true);
    snapshot s = snap(&b);
    mvae_error err = {0};

    buf[0] = 'X';
    spit(path, buf, len);
    assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not an mvae checkpoint"));
    assert_unchanged(&s, &b);
    buf[0] = 'M';

    buf[8] = 7;
    spit(path, buf, len);
    mvae_error_clear(&err);
    assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_FORMAT);
    char expect[512];
    snprintf(expect, sizeof expect, "file %s: checkpoint version 7 is newer than this mvae (1): upgrade mvae", path);
    assert_string_equal(err.msg, expect);
    assert_unchanged(&s, &b);

    /* a text file */
    const char *text = "hello world, this is not a checkpoint at all, just some text long enough";
    spit(path, (const unsigned char *)text, strlen(text));
    mvae_error_clear(&err);
    assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not an mvae checkpoint"));
    assert_unchanged(&s, &b);
    snap_free(&s);
    free(buf);
    mvae_params_free(a.ps);
    mvae_params_free(b.ps);
    tmpdir_remove(&t);
}

static void test_architecture_mismatch(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256], expect[512];
    model a = saved_model(&t, path, sizeof path);
    mvae_error err = {0};

    model b = model_new(2, 6, true); /* w [5,6] instead of [5,7] */
    snapshot s = snap(&b);
    assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_INVALID);
    snprintf(expect, sizeof expect,
             "file %s: parameter 'image.enc.fc1.w' has shape [5,7] in the file but [5,6] in the model: "
             "the experiment's architecture differs from the checkpoint's", path);
    assert_string_equal(err.msg, expect);
    assert_unchanged(&s, &b);
    snap_free(&s);

    /* the model lacks the buffer: the file has an entry the model does not declare */
    model c = model_new(2, 7, false);
    s = snap(&c);
    mvae_error_clear(&err);
    assert_int_equal(mvae_checkpoint_load(path, c.ps, &c.opt, &c.rng, NULL, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'image.enc.bn.running_var' is in the file but not in the model"));
    assert_unchanged(&s, &c);
    snap_free(&s);

    /* the model has a parameter the file lacks */
    assert_int_equal(mvae_checkpoint_save(path, c.ps, &c.opt, NULL, NULL, &err), MVAE_OK);
    model d = model_new(3, 7, true);
    s = snap(&d);
    mvae_error_clear(&err);
    assert_int_equal(mvae_checkpoint_load(path, d.ps, &d.opt, &d.rng, NULL, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'image.enc.bn.running_var' of the model is not in the file"));
    assert_unchanged(&s, &d);
    snap_free(&s);

    /* moments from another optimizer */
    model e = model_new(4, 7, true);
    e.opt = mvae_optim_sgd(0.1f, 0.9f);
    s = snap(&e);
    assert_int_equal(mvae_checkpoint_save(path, a.ps, &a.opt, &a.rng, NULL, &err), MVAE_OK);
    mvae_error_clear(&err);
    assert_int_equal(mvae_checkpoint_load(path, e.ps, &e.opt, &e.rng, NULL, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "adam"));
    assert_unchanged(&s, &e);
    snap_free(&s);

    mvae_params_free(a.ps);
    mvae_params_free(b.ps);
    mvae_params_free(c.ps);
    mvae_params_free(d.ps);
    mvae_params_free(e.ps);
    tmpdir_remove(&t);
}

static void test_missing_file_and_bad_paths(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256];
    snprintf(path, sizeof path, "%s/nope.ckpt", t.dir);
    model b = model_new(2, 7, true);
    snapshot s = snap(&b);
    mvae_error err = {0};
    assert_int_equal(mvae_checkpoint_load(path, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_unchanged(&s, &b);
    /* a directory is not a checkpoint */
    mvae_error_clear(&err);
    assert_int_equal(mvae_checkpoint_load(t.dir, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_IO);
    /* saving into a missing directory fails cleanly */
    snprintf(path, sizeof path, "%s/no/such/dir.ckpt", t.dir);
    mvae_error_clear(&err);
    assert_int_equal(mvae_checkpoint_save(path, b.ps, &b.opt, &b.rng, NULL, &err), MVAE_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot create"));
    assert_int_equal(tmpdir_count(&t), 0);
    snap_free(&s);
    mvae_params_free(b.ps);
    tmpdir_remove(&t);
}

/* Forged files: every byte of the header and entry table changed, checksum fixed up. Loading must
 * never crash (the sanitizer build checks the reads) and on failure must change nothing. */
static void test_forged_headers(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256], bad[256];
    model a = saved_model(&t, path, sizeof path);
    snprintf(bad, sizeof bad, "%s/forged.ckpt", t.dir);
    size_t len;
    unsigned char *buf = slurp(path, &len);
    size_t data_bytes = a.ps->entries[0].t->n + 5 + 5;
    data_bytes *= 3 * sizeof(float);
    size_t table_end = len - 4 - data_bytes;
    model b = model_new(2, 7, true);
    train(&b, 1);
    snapshot s = snap(&b);
    const unsigned char vals[] = {0x00, 0xFF, 0x01, 0x80, 0x7F};
    int failures = 0;
    for (size_t i = 8; i < table_end; i++) {
        for (size_t k = 0; k < sizeof vals; k++) {
            unsigned char old = buf[i];
            if (vals[k] == old) continue;
            buf[i] = vals[k];
            fix_crc(buf, len);
            spit(bad, buf, len);
            buf[i] = old;
            mvae_error err = {0};
            char *extra = NULL;
            model *m = &b;
            int rc = mvae_checkpoint_load(bad, m->ps, &m->opt, &m->rng, &extra, &err);
            if (rc != MVAE_OK) {
                failures++;
                assert_true(err.msg[0] != '\0');
                assert_null(extra);
                assert_unchanged(&s, &b);
            } else {
                /* e.g. a changed step, rng or extra character: accepted; restore the snapshot */
                free(extra);
                memcpy(b.ps->data, s.data, s.n * sizeof(float));
                memcpy(b.ps->m, s.m, s.n * sizeof(float));
                memcpy(b.ps->v, s.v, s.n * sizeof(float));
                b.opt.step = s.step;
                b.rng = s.rng;
            }
        }
    }
    assert_true(failures > 0);
    fix_crc(buf, len);
    snap_free(&s);
    free(buf);
    mvae_params_free(a.ps);
    mvae_params_free(b.ps);
    tmpdir_remove(&t);
}

/* The check hook sees the verified extra string before anything is copied; a refusal changes
 * nothing. mvae_checkpoint_read_extra reads only the metadata. */
static int refuse_epoch_3(const char *path, const char *extra, void *user, mvae_error *err) {
    *(int *)user += 1;
    if (strstr(extra, "\"epoch\": 3")) return mvae_error_set(err, MVAE_ERR_INVALID, "file %s: refused", path);
    return MVAE_OK;
}

static void test_checked_load_and_read_extra(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    char path[256];
    model a = saved_model(&t, path, sizeof path);
    model b = model_new(99, 7, true);
    b.opt = mvae_optim_adam(1e-2f);
    snapshot before = snap(&b);
    mvae_error err = {0};
    int calls = 0;
    assert_int_equal(mvae_checkpoint_load_checked(path, b.ps, &b.opt, &b.rng, refuse_epoch_3, &calls, NULL, &err),
                     MVAE_ERR_INVALID);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(err.msg, "refused"));
    assert_unchanged(&before, &b);
    char *extra = NULL;
    assert_int_equal(mvae_checkpoint_read_extra(path, &extra, &err), MVAE_OK);
    assert_string_equal(extra, "{\"epoch\": 3}");
    free(extra);
    /* a corrupted file: read_extra checks the checksum too */
    size_t len;
    unsigned char *buf = slurp(path, &len);
    buf[len - 10] ^= 1;
    spit(path, buf, len);
    mvae_error_clear(&err);
    extra = NULL;
    assert_int_equal(mvae_checkpoint_read_extra(path, &extra, &err), MVAE_ERR_FORMAT);
    assert_null(extra);
    assert_non_null(strstr(err.msg, "checksum"));
    /* the hook is not reached for a corrupted file */
    calls = 0;
    assert_int_not_equal(mvae_checkpoint_load_checked(path, b.ps, &b.opt, &b.rng, refuse_epoch_3, &calls, NULL, &err),
                         MVAE_OK);
    assert_int_equal(calls, 0);
    free(buf);
    snap_free(&before);
    mvae_params_free(a.ps);
    mvae_params_free(b.ps);
    tmpdir_remove(&t);
}

/* A save into a directory that cannot take the file names the file and the reason. */
static void test_save_error_names_reason(void **state) {
    (void)state;
    tmpdir t = tmpdir_new();
    model a = model_new(1, 7, false);
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s/x.ckpt", t.dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(tmp, 0777), 0); /* the temporary name is taken by a directory */
    mvae_error err = {0};
    assert_int_equal(mvae_checkpoint_save(path, a.ps, NULL, NULL, NULL, &err), MVAE_ERR_IO);
    assert_non_null(strstr(err.msg, tmp));
    assert_non_null(strstr(err.msg, strerror(EISDIR)));
    assert_int_equal(rmdir(tmp), 0);
    mvae_params_free(a.ps);
    tmpdir_remove(&t);
}

static void test_not_finalized(void **state) {
    (void)state;
    mvae_params *ps = mvae_params_new();
    mvae_error err = {0};
    mvae_params_add(ps, "w", 1, (int64_t[]){2}, MVAE_INIT_ZEROS, 1, &err);
    assert_int_equal(mvae_checkpoint_save("/tmp/never-written.ckpt", ps, NULL, NULL, NULL, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "finalized"));
    assert_int_not_equal(access("/tmp/never-written.ckpt", F_OK), 0);
    mvae_params_free(ps);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_magic_and_version),
        cmocka_unit_test(test_architecture_mismatch),
        cmocka_unit_test(test_missing_file_and_bad_paths),
        cmocka_unit_test(test_forged_headers),
        cmocka_unit_test(test_not_finalized),
        cmocka_unit_test(test_checked_load_and_read_extra),
        cmocka_unit_test(test_save_error_names_reason),
    };
    return mvae_test_run("checkpoint", tests, argc, argv);
}
