/* test_isa.c — the instruction set as a user meets it, through the `mvae` command: MVAE_ISA's
 * errors, `mvae --version` and metrics.json naming the ISA, and the same tiny training with
 * MVAE_ISA=generic and with every other ISA this CPU runs giving the same losses within float
 * tolerance (the kernels sum in different orders, with and without fused multiply-adds). */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/isa.h"
#include "tiny_data.h"
#include "cli_fixture.h"

#include <sys/stat.h>
#include <sys/wait.h>

typedef tiny_cmd_env env;

static int env_setup(void **state) { return tiny_cmd_env_open(state, "isa", 300, 100); }
static int env_teardown(void **state) { return tiny_cmd_env_close(state); }

/* Run `ENV mvae ARGS` (ENV: "MVAE_ISA=x" or ""); returns the exit status, keeps stdout/stderr. */
__attribute__((format(printf, 3, 4))) static int mvae(env *e, const char *envs, const char *fmt, ...) {
    char args[4096], prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(prefix, sizeof prefix, "env -u MVAE_ISA -u MVAE_GEMM %s ", envs);
    int rc = tiny_cmd_run(e, prefix, args);
    if (rc != 0 && rc != 2) fprintf(stderr, "mvae %s: exit %d\nstdout:\n%s\nstderr:\n%s\n", args, rc, e->so, e->se);
    return rc;
}

static void test_isa_errors_and_version(void **state) {
    env *e = *state;
    assert_int_equal(mvae(e, "MVAE_ISA=avx3000", "--version"), 2);
    mvae_assert_has(e->se, "MVAE_ISA=avx3000");
    assert_int_equal(mvae(e, "MVAE_ISA=avx3000", "train '%s'", e->exp), 2); /* before any work */
    mvae_assert_has(e->se, "MVAE_ISA=avx3000");
    for (int isa = 0; isa < MVAE_ISA_COUNT; isa++) {
        char envs[64], want[64];
        snprintf(envs, sizeof envs, "MVAE_ISA=%s", mvae_isa_name((mvae_isa_kind)isa));
        int rc = mvae(e, envs, "--version");
        if (mvae_isa_supported((mvae_isa_kind)isa)) {
            assert_int_equal(rc, 0);
            snprintf(want, sizeof want, "isa %s forced by MVAE_ISA", mvae_isa_name((mvae_isa_kind)isa));
            mvae_assert_has(e->so, want);
        } else {
            assert_int_equal(rc, 2);
            mvae_assert_has(e->se, envs);
            mvae_assert_has(e->se, "cannot run");
        }
    }
    /* the detected ISA and the default GEMM: own kernels on AVX-512 only (bench/README.md) */
    const char *isa = mvae_isa_name(mvae_isa_detected());
    char want[96];
    assert_int_equal(mvae(e, "", "--version"), 0);
    snprintf(want, sizeof want, "isa %s", isa);
    mvae_assert_has(e->so, want);
    snprintf(want, sizeof want, "detected %s", isa);
    mvae_assert_has(e->so, want);
    mvae_assert_has(e->so, mvae_isa_detected() == MVAE_ISA_AVX512 ? "gemm mvae-avx512" : "gemm openblas");
    assert_null(strstr(e->so, "forced"));
    assert_int_equal(mvae(e, "MVAE_GEMM=mvae", "--version"), 0); /* the own kernels of the detected ISA */
    snprintf(want, sizeof want, "gemm mvae-%s", isa);
    mvae_assert_has(e->so, want);
    assert_int_equal(mvae(e, "MVAE_ISA=generic MVAE_GEMM=blas", "--version"), 0); /* blas wins */
    mvae_assert_has(e->so, "isa generic forced by MVAE_ISA");
    mvae_assert_has(e->so, "gemm openblas");
}

/* the "loss": values of metrics.jsonl, one per epoch */
static int read_losses(const char *run, double *loss, int max) {
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    char *s = tiny_slurp(p, NULL);
    assert_non_null(s);
    int n = 0;
    for (char *q = s; n < max && (q = strstr(q, "\"loss\":")); q += 7) loss[n++] = strtod(q + 7, NULL);
    free(s);
    return n;
}

static void test_isa_training_agrees(void **state) {
    env *e = *state;
    double ref[8], got[8];
    int n_ref = 0, compared = 0;
    for (int isa = 0; isa < MVAE_ISA_COUNT; isa++) {
        if (!mvae_isa_supported((mvae_isa_kind)isa)) continue;
        const char *name = mvae_isa_name((mvae_isa_kind)isa);
        char run[300], envs[64];
        snprintf(run, sizeof run, "%s/run_%s", e->dir, name);
        snprintf(envs, sizeof envs, "MVAE_ISA=%s", name);
        assert_int_equal(mvae(e, envs, "train '%s' --set train.epochs=3 --set eval.pictures=false --out '%s' --quiet",
                              e->exp, run),
                         0);
        char p[600], want[128];
        snprintf(p, sizeof p, "%s/metrics.json", run);
        char *mj = tiny_slurp(p, NULL);
        assert_non_null(mj);
        snprintf(want, sizeof want, "\"environment\": {\"isa\": \"%s\", \"gemm\": \"mvae-%s\"}", name, name);
        mvae_assert_has(mj, want);
        free(mj);
        if (isa == MVAE_ISA_GENERIC) {
            n_ref = read_losses(run, ref, 8);
            assert_int_equal(n_ref, 3);
            continue;
        }
        assert_int_equal(read_losses(run, got, 8), n_ref);
        double worst = 0;
        for (int i = 0; i < n_ref; i++) worst = fmax(worst, fabs(got[i] - ref[i]) / fmax(1.0, fabs(ref[i])));
        fprintf(stderr, "%s vs generic: losses %.6f %.6f %.6f vs %.6f %.6f %.6f, max relative difference %.2g\n", name,
                got[0], got[1], got[2], ref[0], ref[1], ref[2], worst);
        for (int i = 0; i < n_ref; i++) {
            double rel = fabs(got[i] - ref[i]) / fmax(1.0, fabs(ref[i]));
            if (rel > 1e-5)
                fprintf(stderr, "epoch %d: %s loss %.6f, generic %.6f (relative difference %.2g)\n", i + 1, name,
                        got[i], ref[i], rel);
            assert_true(rel <= 1e-5);
            assert_true(isfinite(got[i]));
        }
        compared++;
    }
    if (!compared) {
        fprintf(stderr, "[ SKIPPED  ] only the generic kernels run on this CPU: nothing to compare\n");
        skip();
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_errors_and_version),
        cmocka_unit_test(test_isa_training_agrees),
    };
    (void)argc;
    (void)argv;
    return cmocka_run_group_tests_name("isa", tests, env_setup, env_teardown);
}
