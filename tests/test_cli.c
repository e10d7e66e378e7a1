/* test_cli.c — the `mvae` command as a user runs it (the built binary, through the shell), on a
 * tiny generated data set: validate, plugins, train (--set, --out, refusing to overwrite,
 * --resume), eval, sample, --help of each command, unknown commands. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/image.h"
#include "mvae/plugin.h"
#include "tiny_data.h"
#include "cli_fixture.h"

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef tiny_cmd_env env;

static int env_setup(void **state) { return tiny_cmd_env_open(state, "cli", 300, 100); }
static int env_teardown(void **state) { return tiny_cmd_env_close(state); }

/* Run `mvae ARGS` in the temporary directory; returns the exit status, keeps stdout/stderr. */
__attribute__((format(printf, 2, 3))) static int mvae(env *e, const char *fmt, ...) {
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return tiny_cmd_run(e, "", args);
}

static void expect_rc(env *e, int got, int want, const char *what) {
    if (got != want) fprintf(stderr, "mvae %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\n", what, got, want, e->so, e->se);
    assert_int_equal(got, want);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int file_exists(const char *dir, const char *name) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---------------------------------------------------------------------------------- tests */
static void test_cli_help(void **state) {
    env *e = *state;
    /* `mvae --help` lists every command (generated from the command table): each listed name
     * answers --help with its own usage, and the list holds all the commands there are */
    expect_rc(e, mvae(e, "--help"), 0, "--help");
    mvae_assert_has(e->so, "commands:");
    char *help = strdup(strstr(e->so, "commands:\n") + strlen("commands:\n"));
    assert_non_null(help);
    static const char *const every[] = {"train", "eval", "sample", "translate", "validate", "sweep", "report", "plugins"};
    int seen[8] = {0}, listed = 0;
    for (char *line = strtok(help, "\n"); line && !strncmp(line, "  ", 2); line = strtok(NULL, "\n")) {
        char name[32];
        assert_int_equal(sscanf(line, " %31s", name), 1);
        listed++;
        for (int i = 0; i < 8; i++) seen[i] += !strcmp(name, every[i]);
        bool known = false;
        for (int i = 0; i < 8; i++) known = known || !strcmp(name, every[i]);
        if (!known) fprintf(stderr, "mvae --help lists '%s', which this test does not know: add it to `every`\n", name);
        assert_true(known);
    }
    free(help);
    assert_true(listed >= 8);
    for (int i = 0; i < 8; i++) {
        if (!seen[i]) fprintf(stderr, "mvae --help does not list '%s'\n", every[i]);
        assert_true(seen[i] > 0);
        expect_rc(e, mvae(e, "%s --help", every[i]), 0, every[i]);
        char want[64];
        snprintf(want, sizeof want, "usage: mvae %s", every[i]);
        mvae_assert_has(e->so, want);
    }
    /* --version names the plugin ABI of the headers this was built with */
    expect_rc(e, mvae(e, "--version"), 0, "--version");
    mvae_assert_has(e->so, "mvae ");
    char abi[64];
    snprintf(abi, sizeof abi, "plugin ABI %d.%d", MVAE_ABI_MAJOR, MVAE_ABI_MINOR);
    mvae_assert_has(e->so, abi);
    /* no command: usage on stderr, exit 2 */
    expect_rc(e, mvae(e, " "), 2, "(nothing)");
    mvae_assert_has(e->se, "usage: mvae");
    /* unknown command: a hint, exit 2 */
    expect_rc(e, mvae(e, "trian x.yaml"), 2, "trian");
    mvae_assert_has(e->se, "unknown command 'trian'");
    mvae_assert_has(e->se, "did you mean 'train'");
    expect_rc(e, mvae(e, "sampel"), 2, "sampel");
    mvae_assert_has(e->se, "did you mean 'sample'");
    /* unknown option */
    expect_rc(e, mvae(e, "train '%s' --bogus", e->exp), 2, "train --bogus");
    mvae_assert_has(e->se, "unknown option '--bogus'");
}

static void test_cli_plugins(void **state) {
    env *e = *state;
    expect_rc(e, mvae(e, "plugins"), 0, "plugins");
    const char *want[] = {"poe", "mlp", "fashion_mnist", "fusion", "encoder", "decoder", "dataset"};
    for (int i = 0; i < 7; i++) mvae_assert_has(e->so, want[i]);
    expect_rc(e, mvae(e, "plugins -v"), 0, "plugins -v");
    mvae_assert_has(e->so, "prior_expert");
    mvae_assert_has(e->so, "hidden");
}

static void test_cli_validate(void **state) {
    env *e = *state;
    expect_rc(e, mvae(e, "validate '%s'", e->exp), 0, "validate");
    mvae_assert_has(e->se, "ok");
    /* the resolved config: defaults filled in */
    mvae_assert_has(e->so, "latent_dim: 8");
    mvae_assert_has(e->so, "clip_grad_norm");
    mvae_assert_has(e->so, "prior_expert");
    expect_rc(e, mvae(e, "validate '%s' --set train.epochs=7", e->exp), 0, "validate --set");
    mvae_assert_has(e->so, "epochs: 7");
    /* a typo: exit 1, file:line:col and a hint on stderr */
    char *y = tiny_slurp(e->exp, NULL);
    y = tiny_replace(y, "latent_dim: 8", "laten_dim: 8");
    char bad[300];
    snprintf(bad, sizeof bad, "%s/typo.yaml", e->dir);
    write_file(bad, y);
    free(y);
    expect_rc(e, mvae(e, "validate '%s'", bad), 1, "validate typo");
    mvae_assert_has(e->se, "typo.yaml:4:1");
    mvae_assert_has(e->se, "did you mean 'latent_dim'");
    assert_true(e->so[0] == '\0');
    /* a bad --set value */
    expect_rc(e, mvae(e, "validate '%s' --set train.epochs=ten", e->exp), 1, "validate --set epochs=ten");
    mvae_assert_has(e->se, "'ten'");
    /* a missing file */
    expect_rc(e, mvae(e, "validate nonexistent.yaml"), 1, "validate missing");
    mvae_assert_has(e->se, "nonexistent.yaml");
    /* the dataset's own error (its open fails) names the experiment's file:line:col of the
     * dataset's `plugin:` (line 3) like every other config error, then the plugin */
    y = tiny_slurp(e->exp, NULL);
    y = tiny_replace(y, "path: \"", "path: \"/nowhere"); /* path: "/nowhere<data dir>" */
    snprintf(bad, sizeof bad, "%s/nodata.yaml", e->dir);
    write_file(bad, y);
    free(y);
    expect_rc(e, mvae(e, "validate '%s' --with-data", bad), 1, "validate --with-data (no data)");
    mvae_assert_has(e->se, "nodata.yaml:3:");
    mvae_assert_has(e->se, ": dataset 'fashion_mnist': Fashion-MNIST not found at /nowhere");
    mvae_assert_has(e->se, "mvae: error: ");
    assert_true(!strncmp(strstr(e->se, "mvae: error: ") + 13, bad, strlen(bad)));
}

static void test_cli_train_eval_sample(void **state) {
    env *e = *state;
    char run[300], run2[300];
    snprintf(run, sizeof run, "%s/run_a", e->dir);
    snprintf(run2, sizeof run2, "%s/run_b", e->dir);
    expect_rc(e, mvae(e, "train '%s' --set train.epochs=2 --set eval.pictures=false --out '%s'", e->exp, run), 0,
              "train");
    mvae_assert_has(e->so, "run directory:");
    const char *files[] = {"config.yaml", "metrics.jsonl", "metrics.json", "last.ckpt", "best.ckpt"};
    for (int i = 0; i < 5; i++) assert_true(file_exists(run, files[i]));
    assert_false(file_exists(run, "prior_samples.png")); /* eval.pictures=false was applied */
    char p[600];
    snprintf(p, sizeof p, "%s/config.yaml", run);
    char *cfg = tiny_slurp(p, NULL);
    mvae_assert_has(cfg, "epochs: 2");
    free(cfg);
    /* progress without a terminal (stderr is a file here): lines with the epoch's and the whole
     * run's ETA, the evaluation's share, and the evaluation's own progress lines */
    char run3[300];
    snprintf(run3, sizeof run3, "%s/run_progress", e->dir);
    expect_rc(e, mvae(e, "train '%s' --set train.epochs=1 --set train.batch_size=20 --set train.progress=lines --set eval.batch_size=20 "
                         "--set eval.pictures=false --out '%s'", e->exp, run3), 0, "train (progress)");
    mvae_assert_has(e->se, "epoch 1 batch 3/15 loss ");
    mvae_assert_has(e->se, ", run ~0:");
    mvae_assert_has(e->se, " (eval ~0:");
    mvae_assert_has(e->se, "evaluating 20/100 test points (log-likelihoods with K=");
    mvae_assert_has(e->se, "evaluating 80/100 test points");

    /* the same --out again: refused, with the way to continue */
    expect_rc(e, mvae(e, "train '%s' --out '%s' --quiet", e->exp, run), 1, "train over a run");
    mvae_assert_has(e->se, "already holds a trained run");
    mvae_assert_has(e->se, "--resume");

    /* --resume: 1 epoch, then the run's config asks for 2 -> same losses as 2 in one go */
    expect_rc(e, mvae(e, "train '%s' --set train.epochs=1 --set eval.pictures=false --out '%s' --quiet", e->exp, run2),
              0, "train 1 epoch");
    snprintf(p, sizeof p, "%s/config.yaml", run2);
    char *c2 = tiny_slurp(p, NULL);
    c2 = tiny_replace(c2, "  epochs: 1\n", "  epochs: 2\n");
    write_file(p, c2);
    free(c2);
    expect_rc(e, mvae(e, "train --resume '%s' --quiet", run2), 0, "train --resume");
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    char *ja = tiny_slurp(p, NULL);
    snprintf(p, sizeof p, "%s/metrics.jsonl", run2);
    char *jb = tiny_slurp(p, NULL);
    /* compare the epoch-2 losses ("loss": X, ...) */
    char *la = strstr(strchr(ja, '\n'), "\"loss\":"), *lb = strstr(strchr(jb, '\n'), "\"loss\":");
    assert_non_null(la);
    assert_non_null(lb);
    assert_true(strtod(la + 7, NULL) == strtod(lb + 7, NULL));
    free(ja);
    free(jb);
    /* --resume takes no experiment file or --set */
    expect_rc(e, mvae(e, "train '%s' --resume '%s'", e->exp, run2), 2, "train exp --resume");
    mvae_assert_has(e->se, "--resume");
    /* resuming a directory without a run */
    expect_rc(e, mvae(e, "train --resume '%s/nothing'", e->dir), 1, "train --resume nothing");
    mvae_assert_has(e->se, "config.yaml");

    /* eval prints metrics JSON on stdout */
    expect_rc(e, mvae(e, "eval '%s' --quiet", run), 0, "eval");
    assert_true(e->so[0] == '{');
    mvae_assert_has(e->so, "\"elbo\"");
    mvae_assert_has(e->so, "\"image|label\"");
    mvae_assert_has(e->so, "\"image->label\"");
    assert_null(strstr(e->so, "nan"));
    assert_true(file_exists(run, "eval_last.json"));
    expect_rc(e, mvae(e, "eval '%s' --checkpoint best --set eval.log_likelihood.samples=4 --quiet", run), 0,
              "eval best");
    mvae_assert_has(e->so, "\"log_p_samples\": 4");
    /* --pictures DIR: the grids training writes (eval.pictures was off for this run) */
    char pics[400];
    snprintf(pics, sizeof pics, "%s/pics", run);
    expect_rc(e, mvae(e, "eval '%s' --set eval.log_likelihood.samples=2 --pictures '%s' --quiet", run, pics), 0,
              "eval --pictures");
    assert_true(file_exists(pics, "prior_samples.png"));
    assert_true(file_exists(pics, "reconstructions.png"));
    expect_rc(e, mvae(e, "eval '%s' --checkpoint middle", run), 2, "eval --checkpoint middle");
    expect_rc(e, mvae(e, "eval '%s/missing'", e->dir), 1, "eval missing");
    mvae_assert_has(e->se, "not a run directory");

    /* sample: a 4x4 grid of 28x28 tiles, 2 pixels apart */
    expect_rc(e, mvae(e, "sample '%s' --given label=3 -n 16 -o x.png", run), 0, "sample");
    snprintf(p, sizeof p, "%s/x.png", e->dir);
    uint8_t *px = NULL;
    int w = 0, h = 0, ch = 0;
    mvae_error err = {0};
    assert_int_equal(mvae_png_read(p, &px, &w, &h, &ch, &err), MVAE_OK);
    assert_int_equal(w, 4 * 28 + 3 * 2);
    assert_int_equal(h, 4 * 28 + 3 * 2);
    assert_int_equal(ch, 1);
    free(px);
    /* a class name, from the prior, bad values */
    expect_rc(e, mvae(e, "sample '%s' --given label=Sneaker -n 4 -o y.png", run), 0, "sample Sneaker");
    expect_rc(e, mvae(e, "sample '%s' -n 9 -o z.png --seed 5", run), 0, "sample prior");
    snprintf(p, sizeof p, "%s/z.png", e->dir);
    assert_int_equal(mvae_png_read(p, &px, &w, &h, &ch, &err), MVAE_OK);
    assert_int_equal(w, 3 * 28 + 2 * 2);
    free(px);
    /* --scale 2: 56-pixel tiles; --scale out of range: the allowed range */
    expect_rc(e, mvae(e, "sample '%s' -n 4 -o s.png --scale 2", run), 0, "sample --scale 2");
    snprintf(p, sizeof p, "%s/s.png", e->dir);
    assert_int_equal(mvae_png_read(p, &px, &w, &h, &ch, &err), MVAE_OK);
    assert_int_equal(w, 2 * 56 + 2);
    free(px);
    expect_rc(e, mvae(e, "sample '%s' -n 4 -o s.png --scale 0", run), 2, "sample --scale 0");
    mvae_assert_has(e->se, "--scale '0' must be a whole number in 1..16");
    expect_rc(e, mvae(e, "sample '%s' --given label=12 -o q.png", run), 1, "sample label=12");
    mvae_assert_has(e->se, "0..9");
    expect_rc(e, mvae(e, "sample '%s' --given lable=3 -o q.png", run), 1, "sample lable=3");
    mvae_assert_has(e->se, "lable");
    /* report: one run -> its report.html; two -> the comparison page */
    expect_rc(e, mvae(e, "report '%s'", run), 0, "report RUN");
    assert_true(file_exists(run, "report.html"));
    expect_rc(e, mvae(e, "report '%s' '%s' -o cmp.html", run, run3), 0, "report RUN RUN");
    assert_true(file_exists(e->dir, "cmp.html"));
    snprintf(p, sizeof p, "%s/cmp.html", e->dir);
    char *cmp = tiny_slurp(p, NULL);
    mvae_assert_has(cmp, "<title>Comparison of 2 runs</title>");
    mvae_assert_has(cmp, "<tr><td>train.batch_size</td><td>50</td><td>20</td></tr>");
    free(cmp);
    expect_rc(e, mvae(e, "report '%s' nowhere", run), 1, "report RUN nowhere");
    mvae_assert_has(e->se, "'nowhere' is not a run directory");
}

/* ------------------------------------------------- bad values (issue 13: each was a crash or a
 * silent change; now refused by validate with the place and the allowed range) */
static void test_cli_out_of_range(void **state) {
    env *e = *state;
    static const struct {
        const char *set, *range;
    } bad[] = {
        {"train.epochs=-1", "[1, 1000000]"},
        {"train.epochs=0", "[1, 1000000]"},
        {"train.epochs=2305843009213693952", "[1, 1000000]"},
        {"train.batch_size=0", "[1, 1000000]"},
        {"train.optimizer.adam.lr=-1", "(0, inf)"},
        {"train.optimizer.adam.beta2=1", "[0, 1)"},
        {"eval.log_likelihood.samples=0", "[1, 1000000]"},
        {"eval.batch_size=0", "[1, 1000000]"},
        {"train.threads=-2", "[0, 64]"},
        {"train.threads=100000", "[0, 64]"},
        {"modalities.image.likelihood_scale=0", "(0, inf)"},
        {"modalities.label.weight=-1", "[0, inf)"},
        {"train.beta=-1", "[0, inf)"},
        {"train.kl_anneal_epochs=-1", "[0, 1000000]"},
        {"train.clip_grad_norm=-1", "[0, inf)"},
        {"train.max_batches=-1", "[0, inf)"},
        {"latent_dim=0", "[1, 65536]"},
        {"train.objective.random_subsets=99", "[0, 32]"},
        {"modalities.image.encoder.hidden=[32,0]", "[1, 65536]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_rc(e, mvae(e, "validate '%s' --set '%s'", e->exp, bad[i].set), 1, bad[i].set);
        mvae_assert_has(e->se, "<--set>:1:");
        mvae_assert_has(e->se, "is out of range; allowed: ");
        mvae_assert_has(e->se, bad[i].range);
    }
    /* the same from a file: file:line:col */
    char *y = tiny_slurp(e->exp, NULL);
    y = tiny_replace(y, "  epochs: 3\n", "  epochs: -1\n");
    char bad_file[300];
    snprintf(bad_file, sizeof bad_file, "%s/neg_epochs.yaml", e->dir);
    write_file(bad_file, y);
    free(y);
    expect_rc(e, mvae(e, "validate '%s'", bad_file), 1, "validate epochs: -1");
    mvae_assert_has(e->se, "neg_epochs.yaml:17:11: experiment.train.epochs: -1 is out of range; allowed: [1, 1000000]");
    /* plugins -v shows the ranges */
    expect_rc(e, mvae(e, "plugins -v"), 0, "plugins -v");
    mvae_assert_has(e->so, "allowed [1, 65536]");
}

static void test_cli_wrong_shapes(void **state) {
    env *e = *state;
    /* a scalar where a map is expected: was SIGSEGV in validate_all */
    char *y = tiny_slurp(e->exp, NULL);
    y = tiny_replace(y, "  optimizer: {adam: {lr: 1.0e-2}}\n", "  optimizer: adam\n");
    char f[300];
    snprintf(f, sizeof f, "%s/opt_scalar.yaml", e->dir);
    write_file(f, y);
    free(y);
    expect_rc(e, mvae(e, "validate '%s'", f), 1, "validate optimizer: adam");
    mvae_assert_has(e->se, "train.optimizer: expected a map, got a scalar ('adam')");
    expect_rc(e, mvae(e, "train '%s' --quiet", f), 1, "train optimizer: adam");
    expect_rc(e, mvae(e, "validate '%s' --set train.optimizer=adam", e->exp), 1, "--set train.optimizer=adam");
    mvae_assert_has(e->se, "expected a map");
    /* a name that would leave runs/ */
    expect_rc(e, mvae(e, "validate '%s' --set name=../../x", e->exp), 1, "name: ../../x");
    mvae_assert_has(e->se, "cannot name a run directory");
    expect_rc(e, mvae(e, "validate '%s' --set name=a/b", e->exp), 1, "name: a/b");
    /* --set=K=V is accepted by every command that takes --set */
    expect_rc(e, mvae(e, "validate '%s' --set=train.epochs=7", e->exp), 0, "validate --set=K=V");
    mvae_assert_has(e->so, "epochs: 7");
    /* no limit on the number of --set: the 70th still applies */
    char args[2048] = "";
    for (int i = 0; i < 69; i++) strcat(args, " --set train.epochs=3");
    strcat(args, " --set train.epochs=9");
    expect_rc(e, mvae(e, "validate '%s' %s", e->exp, args), 0, "70 --set");
    mvae_assert_has(e->so, "epochs: 9");
    /* numbers on the command line are checked */
    expect_rc(e, mvae(e, "sample x -n abc"), 2, "sample -n abc");
    mvae_assert_has(e->se, "-n 'abc' must be a whole number in 1..4096");
    expect_rc(e, mvae(e, "sample x --seed -1"), 2, "sample --seed -1");
    expect_rc(e, mvae(e, "validate '%s' --sett x=1", e->exp), 2, "--sett");
    mvae_assert_has(e->se, "did you mean '--set'");
}

/* Names in eval: are checked against the data before the first epoch, not after training. */
static void test_cli_eval_checked_before_training(void **state) {
    env *e = *state;
    char run[300];
    static const struct {
        const char *set, *msg;
    } bad[] = {
        {"eval.accuracy.predict=lable", "did you mean 'label'"},
        {"eval.accuracy.predict=image", "is not a categorical modality"},
        {"eval.accuracy.from=imgae", "eval.accuracy.from"},
        {"eval.log_likelihood.terms=[imag]", "eval.log_likelihood.terms"},
        {"eval.cross=[{from: image, to: lbl, metric: accuracy}]", "'lbl' is not a modality"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(run, sizeof run, "%s/run_bad_eval_%zu", e->dir, i);
        expect_rc(e, mvae(e, "train '%s' --set '%s' --out '%s' --quiet", e->exp, bad[i].set, run), 1, bad[i].set);
        mvae_assert_has(e->se, bad[i].msg);
        assert_false(file_exists(run, "metrics.jsonl")); /* no epoch ran */
        expect_rc(e, mvae(e, "validate '%s' --with-data --set '%s'", e->exp, bad[i].set), 1, "validate --with-data");
        mvae_assert_has(e->se, bad[i].msg);
    }
    expect_rc(e, mvae(e, "validate '%s' --with-data", e->exp), 0, "validate --with-data");
    mvae_assert_has(e->se, "checked against the data");
    /* an empty test split: refused before training, naming the split */
    char data[300], exp[300];
    snprintf(data, sizeof data, "%s/data_no_test", e->dir);
    mkdir(data, 0777);
    assert_int_equal(tiny_write_dataset(data, 100, 0), 0);
    char *y = tiny_yaml(data);
    snprintf(exp, sizeof exp, "%s/no_test.yaml", e->dir);
    write_file(exp, y);
    free(y);
    snprintf(run, sizeof run, "%s/run_no_test", e->dir);
    int rc = mvae(e, "train '%s' --out '%s' --quiet", exp, run);
    assert_int_equal(rc, 1);
    mvae_assert_has(e->se, "test");
    assert_false(file_exists(run, "metrics.jsonl"));
}

/* --resume and eval take --set for eval.* (to repair an evaluation setting), nothing else. */
static void test_cli_resume_eval_sets(void **state) {
    env *e = *state;
    char run[300];
    snprintf(run, sizeof run, "%s/run_sets", e->dir);
    expect_rc(e, mvae(e, "train '%s' --set train.epochs=1 --set eval.pictures=false --out '%s' --quiet", e->exp, run), 0,
              "train");
    expect_rc(e, mvae(e, "train --resume '%s' --set train.epochs=5 --quiet", run), 2, "resume --set train.*");
    mvae_assert_has(e->se, "only eval.* settings");
    expect_rc(e, mvae(e, "train --resume '%s' --set eval.log_likelihood.samples=4 --quiet", run), 0, "resume --set eval.*");
    char p[400];
    snprintf(p, sizeof p, "%s/config.yaml", run);
    char *c = tiny_slurp(p, NULL);
    mvae_assert_has(c, "samples: 4"); /* kept with the run */
    free(c);
    expect_rc(e, mvae(e, "eval '%s' --set eval.log_likelihood.samples=2 --quiet", run), 0, "eval --set eval.*");
    mvae_assert_has(e->so, "\"log_p_samples\": 2");
    expect_rc(e, mvae(e, "eval '%s' --set latent_dim=4 --quiet", run), 2, "eval --set latent_dim");
    /* a checkpoint of another experiment (another seed, same shapes): refused, --force loads it */
    char other[300];
    snprintf(other, sizeof other, "%s/run_other_seed", e->dir);
    expect_rc(e, mvae(e, "train '%s' --set seed=4 --set train.epochs=1 --set eval.pictures=false --out '%s' --quiet", e->exp,
                      other),
              0, "train seed 4");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s/last.ckpt' '%s/last.ckpt'", other, run);
    assert_int_equal(system(cmd), 0);
    expect_rc(e, mvae(e, "eval '%s' --quiet", run), 1, "eval a foreign checkpoint");
    mvae_assert_has(e->se, "belongs to another experiment");
    mvae_assert_has(e->se, "--force");
    expect_rc(e, mvae(e, "eval '%s' --force --quiet", run), 0, "eval --force");
    expect_rc(e, mvae(e, "train --resume '%s' --quiet", run), 1, "resume a foreign checkpoint");
    mvae_assert_has(e->se, "belongs to another experiment");
    expect_rc(e, mvae(e, "eval '%s' --set eval.accuracy.predict=lable --quiet", run), 1, "eval --set bad predict");
    mvae_assert_has(e->se, "did you mean 'label'");
}

/* eval.batch_size above the old fixed 4096-entry buffers, on a test split larger than that:
 * was a stack overflow (and silently wrong accuracy in Release). The accuracy from the mean of
 * q(z | image) does not depend on the batching. */
static void test_cli_large_eval_batch(void **state) {
    env *e = *state;
    char data[300], exp[300], run[300];
    snprintf(data, sizeof data, "%s/data_big_test", e->dir);
    mkdir(data, 0777);
    assert_int_equal(tiny_write_dataset(data, 100, 5000), 0);
    char *y = tiny_yaml(data);
    snprintf(exp, sizeof exp, "%s/big_test.yaml", e->dir);
    write_file(exp, y);
    free(y);
    snprintf(run, sizeof run, "%s/run_big_test", e->dir);
    expect_rc(e, mvae(e, "train '%s' --set train.epochs=1 --set eval.pictures=false --set eval.log_likelihood.max_test=2 --out '%s' --quiet",
                      exp, run),
              0, "train");
    double acc[2];
    const char *bs[2] = {"100", "5000"};
    for (int i = 0; i < 2; i++) {
        expect_rc(e, mvae(e, "eval '%s' --set eval.batch_size=%s --set eval.log_likelihood.samples=1 --quiet", run, bs[i]), 0,
                  "eval");
        const char *a = strstr(e->so, "\"accuracy_mean_z\"");
        assert_non_null(a);
        a = strchr(a, ':');
        assert_non_null(a);
        a = strchr(a + 1, ':'); /* "accuracy_mean_z": {"image->label": X} */
        assert_non_null(a);
        acc[i] = strtod(a + 1, NULL);
    }
    assert_true(acc[0] > 0.0);
    assert_true(fabs(acc[0] - acc[1]) < 1e-9);
}

/* --out of any length (was cut at 1023 characters without a word). */
static void test_cli_long_out(void **state) {
    env *e = *state;
    char run[1400];
    int n = snprintf(run, sizeof run, "%s", e->dir);
    for (int i = 0; i < 5; i++) {
        n += snprintf(run + n, sizeof run - (size_t)n, "/");
        for (int k = 0; k < 230; k++) run[n++] = (char)('a' + i);
        run[n] = '\0';
    }
    assert_true(strlen(run) > 1100);
    expect_rc(e, mvae(e, "train '%s' --set train.epochs=1 --set train.max_batches=1 --out '%s' --quiet", e->exp, run), 0,
              "train --out <1150 characters>");
    assert_true(file_exists(run, "metrics.json"));
    assert_true(file_exists(run, "reconstructions.png"));
    /* beyond what the system takes: refused with the limit, not cut */
    char *huge = malloc(5000);
    assert_non_null(huge);
    memset(huge, 'x', 4500);
    huge[0] = '/';
    huge[4500] = '\0';
    expect_rc(e, mvae(e, "train '%s' --out %s --quiet", e->exp, huge), 1, "train --out <4500 characters>");
    free(huge);
    mvae_assert_has(e->se, "at most 3900");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_help),
        cmocka_unit_test(test_cli_plugins),
        cmocka_unit_test(test_cli_validate),
        cmocka_unit_test(test_cli_train_eval_sample),
        cmocka_unit_test(test_cli_out_of_range),
        cmocka_unit_test(test_cli_wrong_shapes),
        cmocka_unit_test(test_cli_eval_checked_before_training),
        cmocka_unit_test(test_cli_resume_eval_sets),
        cmocka_unit_test(test_cli_large_eval_batch),
        cmocka_unit_test(test_cli_long_out),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("cli", tests, env_setup, env_teardown);
}
