/* test_paper.c — the shipped files of issue 14: experiments/quickstart.yaml uses the documented
 * options (cross_reconstruct, a 1-epoch KL schedule, coherence on), quickstart_recipe.yaml keeps
 * the original objective, and sweeps/paper_weak_supervision*.yaml are one grid (the halves name
 * the full file's runs) whose nn / logreg variants build with the supervised objective. The
 * experiments are built on the tiny generated data set (tiny_data.h), not the real one. */
#define _GNU_SOURCE
#include "mvae_test.h"

#include "mvae/model.h"
#include "mvae/sweep.h"
#include "mvae/train.h"
#include "tiny_data.h"

typedef tiny_env env;

static int env_setup(void **state) { return tiny_env_open(state, "paper", 300, 100); }
static int env_teardown(void **state) { return tiny_env_close(state); }

/* Build cfg on the tiny data; read its objective. Takes cfg. */
static mvae_objective build_objective(env *e, mvae_cfg *cfg) {
    char set[400];
    snprintf(set, sizeof set, "dataset.path=\"%s\"", e->data);
    mvae_error err = {0};
    int rc = mvae_cfg_set(cfg, set, &err);
    if (!rc) rc = mvae_cfg_set(cfg, "dataset.storage=memory", &err);
    mvae_model *m = NULL;
    if (!rc) rc = mvae_model_build(cfg, e->reg, &m, &err);
    mvae_objective obj;
    if (!rc) rc = mvae_objective_from_config(m, &obj, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    return obj;
}

static mvae_cfg *load(const char *rel) {
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    char p[600];
    snprintf(p, sizeof p, "%s/%s", MVAE_SOURCE_DIR, rel);
    int rc = mvae_cfg_load_file(p, &cfg, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
    return cfg;
}

static bool cfg_true(mvae_cfg *cfg, const char *path) {
    mvae_cfg_node *n = mvae_cfg_path(mvae_cfg_root(cfg), path);
    return n && n->value && strcmp(n->value, "true") == 0;
}

static void test_quickstart_options(void **state) {
    env *e = *state;
    mvae_cfg *cfg = load("experiments/quickstart.yaml");
    assert_true(cfg_true(cfg, "eval.coherence.enabled"));
    mvae_cfg_node *kl = mvae_cfg_path(mvae_cfg_root(cfg), "train.kl_anneal_epochs");
    assert_non_null(kl);
    assert_true(atof(kl->value) <= 1.0);
    mvae_objective obj = build_objective(e, cfg);
    assert_true(obj.mvae.cross_reconstruct);
    assert_true(obj.mvae.joint && obj.mvae.unimodal);
    /* the original objective, kept beside it */
    obj = build_objective(e, load("experiments/quickstart_recipe.yaml"));
    assert_false(obj.mvae.cross_reconstruct);
}

static void test_paper_sweep(void **state) {
    env *e = *state;
    mvae_error err = {0};
    mvae_sweep *full = NULL;
    char p[600];
    snprintf(p, sizeof p, "%s/sweeps/paper_weak_supervision.yaml", MVAE_SOURCE_DIR);
    assert_int_equal(mvae_sweep_load(p, &full, &err), MVAE_OK);
    int n = mvae_sweep_n_runs(full), n_nn = 0, n_lr = 0;
    assert_int_equal(n, 12); /* 4 fractions x (MVAE, nn, logreg) */
    for (int i = 0; i < n; i++) {
        const mvae_sweep_run *r = mvae_sweep_run_at(full, i);
        mvae_cfg *cfg = NULL;
        assert_int_equal(mvae_sweep_run_config(full, i, &cfg, &err), MVAE_OK);
        mvae_cfg_node *ep = mvae_cfg_path(mvae_cfg_root(cfg), "train.epochs");
        assert_int_equal(atoi(ep->value), 100);
        bool paired_only = cfg_true(cfg, "dataset.paired_only");
        mvae_objective obj = build_objective(e, cfg);
        if (!r->variant) {
            assert_string_equal(obj.kind->name, "mvae");
            assert_false(paired_only);
        } else {
            assert_string_equal(obj.kind->name, "supervised");
            assert_true(paired_only);
            n_nn += strcmp(r->variant, "nn") == 0;
            n_lr += strcmp(r->variant, "logreg") == 0;
        }
    }
    assert_int_equal(n_nn, 4);
    assert_int_equal(n_lr, 4);
    /* the two halves: every run of theirs is a run (same directory) of the full file, and
     * together they cover its base grid */
    int covered = 0;
    for (int h = 0; h < 2; h++) {
        mvae_sweep *half = NULL;
        snprintf(p, sizeof p, "%s/sweeps/paper_weak_supervision_%c.yaml", MVAE_SOURCE_DIR, 'a' + h);
        assert_int_equal(mvae_sweep_load(p, &half, &err), MVAE_OK);
        assert_string_equal(mvae_sweep_name(half), mvae_sweep_name(full));
        for (int i = 0; i < mvae_sweep_n_runs(half); i++) {
            bool found = false;
            for (int j = 0; j < n && !found; j++)
                found = strcmp(mvae_sweep_run_at(half, i)->dir, mvae_sweep_run_at(full, j)->dir) == 0;
            if (!found) fprintf(stderr, "%s: run %s is not in the full sweep\n", p, mvae_sweep_run_at(half, i)->dir);
            assert_true(found);
            covered++;
        }
        mvae_sweep_free(half);
    }
    assert_int_equal(covered, 4);
    mvae_sweep_free(full);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quickstart_options),
        cmocka_unit_test(test_paper_sweep),
    };
    mvae_test_filters_(argc, argv);
    return cmocka_run_group_tests_name("paper", tests, env_setup, env_teardown);
}
