/* test_sweep_shard.c — one sweep directory shared by several processes (docs/scaling.md): shards,
 * run claims (a crashed claim is taken over, a live one is left alone), the Slurm job-array
 * script, and `mvae report` while runs are still going. The processes are the built command. */
#define _GNU_SOURCE
#include "mvae_test.h"
#include "tiny_data.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "mvae/sweep.h"

#define MVAE_CMD MVAE_BINARY_DIR "/mvae"

static int setup(void **state) { return tiny_env_open(state, "shard", 200, 60); }
static int teardown(void **state) { return tiny_env_close(state); }

/* <dir>/<name>.yaml: 4 runs (seeds 1..4) of one epoch of the tiny experiment */
static void write_sweep(const tiny_env *e, const char *name, char *path, size_t n) {
    char exp[300];
    snprintf(exp, sizeof exp, "%s/exp.yaml", e->dir);
    char *y = tiny_yaml(e->data);
    FILE *f = fopen(exp, "w");
    assert_non_null(f);
    fputs(y, f);
    fclose(f);
    free(y);
    snprintf(path, n, "%s/%s.yaml", e->dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "name: %s\nbase: exp.yaml\nset:\n  train.epochs: 1\n  eval.pictures: false\n"
               "  eval.log_likelihood: {samples: 2, max_test: 10}\naxes:\n  seed: [1, 2, 3, 4]\n", name);
    fclose(f);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* every run: metrics.json and exactly one epoch line (trained once, not twice) */
static void assert_all_done_once(const char *out) {
    for (int seed = 1; seed <= 4; seed++) {
        char p[600];
        snprintf(p, sizeof p, "%s/seed=%d/metrics.json", out, seed);
        assert_int_equal(access(p, F_OK), 0);
        snprintf(p, sizeof p, "%s/seed=%d/metrics.jsonl", out, seed);
        char *t = tiny_slurp(p, NULL);
        assert_non_null(t);
        assert_int_equal(count(t, "\"epoch\""), 1);
        free(t);
    }
    char p[600];
    snprintf(p, sizeof p, "%s/runs.jsonl", out);
    char *t = tiny_slurp(p, NULL);
    assert_non_null(t);
    assert_int_equal(count(t, "\"run\""), 4); /* no shard's rewrite dropped another's run */
    free(t);
}

/* Two processes at once, over one directory: as shards 0/2 and 1/2, then both unsharded (every
 * run claimed before it trains). Each run is trained exactly once, none fails. */
static void test_two_processes_exactly_once(void **state) {
    tiny_env *e = *state;
    char sw[300];
    write_sweep(e, "pair", sw, sizeof sw);
    const char *modes[2][2] = {{"--shard 0/2", "--shard 1/2"}, {"", ""}};
    for (int m = 0; m < 2; m++) {
        char out[300];
        snprintf(out, sizeof out, "%s/out%d", e->dir, m);
        assert_int_equal(sh("(%s sweep %s --out %s %s --quiet > %s/a.log 2>&1 & %s sweep %s --out %s %s --quiet > "
                            "%s/b.log 2>&1; wait)", MVAE_CMD, sw, out, modes[m][0], e->dir, MVAE_CMD, sw, out,
                            modes[m][1], e->dir), 0);
        char pa[400], pb[400];
        snprintf(pa, sizeof pa, "%s/a.log", e->dir);
        snprintf(pb, sizeof pb, "%s/b.log", e->dir);
        char *a = tiny_slurp(pa, NULL), *b = tiny_slurp(pb, NULL);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(count(a, "FAILED") + count(b, "FAILED"), 0);
        for (int seed = 1; seed <= 4; seed++) {
            char done[64];
            snprintf(done, sizeof done, "run %d/4: done in", seed);
            assert_int_equal(count(a, done) + count(b, done), 1);
            if (m == 0) /* a shard runs its own share only */
                assert_int_equal(count((seed - 1) % 2 == 0 ? a : b, done), 1);
        }
        if (m == 0) assert_non_null(strstr(a, "2 left to the other 1 shard(s)"));
        assert_all_done_once(out);
        free(a);
        free(b);
    }
}

/* A claim whose holder died is taken over; a live one is left alone and listed by the report. */
static void test_claims(void **state) {
    tiny_env *e = *state;
    char sw[300], out[300], p[600];
    write_sweep(e, "claims", sw, sizeof sw);
    snprintf(out, sizeof out, "%s/claims", e->dir);
    /* seed=1: the claim text of a process that died without releasing it (a reaped child) */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char host[128];
    gethostname(host, sizeof host);
    snprintf(p, sizeof p, "%s/seed=1", out);
    assert_int_equal(mvae_mkdir_p(p, NULL), 0);
    snprintf(p, sizeof p, "%s/seed=1/claim", out);
    FILE *f = fopen(p, "w");
    fprintf(f, "pid %ld host %s started 2026-01-01T00:00:00+0000\n", (long)dead, host);
    fclose(f);
    /* seed=2: claimed by a live process (a child holding the flock) */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    char rd2[400];
    snprintf(rd2, sizeof rd2, "%s/seed=2", out);
    pid_t holder = fork();
    if (holder == 0) {
        mvae_run_claim c;
        bool got = false;
        char prev[320];
        mvae_error err = {0};
        if (mvae_run_claim_try(rd2, &c, &got, prev, sizeof prev, &err) || !got) _exit(1);
        if (write(pipefd[1], "x", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char x;
    assert_int_equal(read(pipefd[0], &x, 1), 1);
    assert_int_equal(sh("%s sweep %s --out %s --quiet > %s/c.log 2>&1", MVAE_CMD, sw, out, e->dir), 0);
    snprintf(p, sizeof p, "%s/c.log", e->dir);
    char *log = tiny_slurp(p, NULL);
    char want[200];
    snprintf(want, sizeof want, "run 1/4: seed=1: taking over the claim of PID %ld on host %s", (long)dead, host);
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof want, "run 2/4: seed=2: being trained by PID %ld on host %s", (long)holder, host);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "3 trained"));
    assert_non_null(strstr(log, "1 being trained by other processes"));
    free(log);
    snprintf(p, sizeof p, "%s/seed=1/metrics.json", out);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/seed=2/metrics.json", out);
    assert_int_not_equal(access(p, F_OK), 0);
    /* the report works meanwhile: the finished runs, and seed=2 as running */
    assert_int_equal(sh("%s report %s > %s/r.log 2>&1", MVAE_CMD, out, e->dir), 0);
    snprintf(p, sizeof p, "%s/report.md", out);
    char *md = tiny_slurp(p, NULL);
    assert_non_null(strstr(md, "runs reported: 3"));
    assert_non_null(strstr(md, "## Runs not finished (1)"));
    snprintf(want, sizeof want, "| seed=2 | running (PID %ld on %s", (long)holder, host);
    assert_non_null(strstr(md, want));
    free(md);
    /* the holder dies (kill -9): its claim is taken over by the next sweep */
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    assert_int_equal(sh("%s sweep %s --out %s --quiet > %s/c.log 2>&1", MVAE_CMD, sw, out, e->dir), 0);
    snprintf(p, sizeof p, "%s/c.log", e->dir);
    log = tiny_slurp(p, NULL);
    snprintf(want, sizeof want, "run 2/4: seed=2: taking over the claim of PID %ld", (long)holder);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "3 finished before, 1 trained"));
    free(log);
    assert_all_done_once(out);
    close(pipefd[0]);
    close(pipefd[1]);
}

/* The Slurm script: valid bash, one array task per shard; its tasks, run one after the other as
 * Slurm would run them, finish the sweep. Bad shard arguments are refused with the fix. */
static void test_slurm_script(void **state) {
    tiny_env *e = *state;
    char sw[300], out[300], script[400], p[600];
    write_sweep(e, "slurm", sw, sizeof sw);
    snprintf(out, sizeof out, "%s/slurm_out", e->dir);
    snprintf(script, sizeof script, "%s/job.sh", e->dir);
    assert_int_equal(sh("cd %s && %s sweep slurm.yaml --out %s --slurm-out %s --shards 2 --time 1:00:00 > /dev/null",
                        e->dir, MVAE_CMD, out, script), 0);
    char *t = tiny_slurp(script, NULL);
    assert_non_null(t);
    assert_non_null(strstr(t, "#SBATCH --array=0-1\n"));
    assert_non_null(strstr(t, "#SBATCH --time=1:00:00\n"));
    assert_non_null(strstr(t, "--shard \"${SLURM_ARRAY_TASK_ID}/2\""));
    assert_non_null(strstr(t, "#SBATCH --output="));
    free(t);
    assert_int_equal(sh("bash -n %s", script), 0);
    for (int task = 0; task < 2; task++)
        assert_int_equal(sh("SLURM_ARRAY_TASK_ID=%d bash %s > %s/task%d.log 2>&1", task, script, e->dir, task), 0);
    assert_all_done_once(out);
    /* refused */
    snprintf(p, sizeof p, "%s/err.log", e->dir);
    assert_int_equal(sh("%s sweep %s --shard 2/2 > %s 2>&1", MVAE_CMD, sw, p), 2);
    t = tiny_slurp(p, NULL);
    assert_non_null(strstr(t, "--shard '2/2' must be I/N with 0 <= I < N"));
    free(t);
    assert_int_equal(sh("%s sweep %s --slurm --shards 9 > %s 2>&1", MVAE_CMD, sw, p), 1);
    t = tiny_slurp(p, NULL);
    assert_non_null(strstr(t, "--shards 9: the sweep has only 4 runs"));
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_processes_exactly_once),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_slurm_script),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
