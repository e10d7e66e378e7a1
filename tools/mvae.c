/* mvae — the command: train, evaluate, sample, validate experiments; list plugins. */
#define _GNU_SOURCE
#include "mvae/checkpoint.h"
#include "mvae/model.h"
#include "mvae/sweep.h"
#include "mvae/train.h"
#include "mvae/translate.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_SETS 64

static const char *usage_main =
    "usage: mvae <command> [options]\n"
    "\n"
    "commands:\n"
    "  train EXP.yaml [--set KEY=VALUE ...] [--out DIR]   train, evaluate, write a run directory\n"
    "  train --resume RUN_DIR                           continue an interrupted run\n"
    "  eval RUN_DIR [--checkpoint last|best] [--set ...] evaluate a run on the test split\n"
    "  sample RUN_DIR [--given label=3] [-n 64] [-o grid.png]  generate images\n"
    "  translate RUN_DIR --from en --to vi [TEXT ...]   translate text (stdin line by line without TEXT)\n"
    "  validate EXP.yaml [--set ...]                    check an experiment file, print it resolved\n"
    "  plugins [-v]                                     list the plugins found\n"
    "\n"
    "`mvae <command> --help` describes each command. Plugins are searched in $MVAE_PLUGIN_PATH,\n"
    "the build tree and the install prefix. Docs: docs/ in the source tree.\n";

static const char *usage_train =
    "usage: mvae train EXP.yaml [--set KEY=VALUE ...] [--out DIR] [--quiet]\n"
    "       mvae train --resume RUN_DIR [--quiet]\n"
    "\n"
    "Trains the experiment, evaluates it on the test split and writes the run directory:\n"
    "  config.yaml     the resolved experiment (every default filled in)\n"
    "  metrics.jsonl   one line per epoch (loss, each objective term, beta, samples/s)\n"
    "  metrics.json    final test metrics (ELBO, log-likelihoods, accuracy) and throughput\n"
    "  last.ckpt, best.ckpt   checkpoints (parameters, optimizer state, RNG)\n"
    "  *.png           reconstructions, prior samples, generation from each class\n"
    "\n"
    "  --set KEY=VALUE  override a setting, e.g. --set train.epochs=2 --set latent_dim=32\n"
    "  --out DIR        run directory (default runs/<name>-<date>-<time>)\n"
    "  --resume DIR     continue from DIR/last.ckpt with DIR/config.yaml\n"
    "  --quiet          no progress output\n";

static const char *usage_eval =
    "usage: mvae eval RUN_DIR [--checkpoint last|best] [--set KEY=VALUE ...] [--quiet]\n"
    "\n"
    "Evaluates the run's checkpoint on the test split as the config's eval: section says (override\n"
    "with --set, e.g. --set eval.log_likelihood.samples=5000) and prints metrics.json to stdout.\n";

static const char *usage_sample =
    "usage: mvae sample RUN_DIR [--given MODALITY=VALUE] [-n N] [-o FILE.png] [--modality NAME]\n"
    "                   [--seed S] [--checkpoint last|best]\n"
    "\n"
    "Generates N images (default 64) into a PNG grid (default samples.png): from z ~ q(z | given),\n"
    "e.g. --given label=3 or --given label=Sneaker, or from the prior N(0, I) without --given.\n";

static const char *usage_translate =
    "usage: mvae translate RUN_DIR --from MOD --to MOD [--beam K] [--checkpoint last|best] [TEXT ...]\n"
    "\n"
    "Translates each TEXT (or each line of stdin when no TEXT is given) from text modality --from to\n"
    "text modality --to of a trained run: z = mean of q(z | x_from), decoded greedily (--beam 1, the\n"
    "default) or by beam search. Prints one translation per line. The text is tokenised as the\n"
    "dataset tokenises (docs/translation.md); words outside the vocabulary become <unk>.\n";

static const char *usage_validate =
    "usage: mvae validate EXP.yaml [--set KEY=VALUE ...]\n"
    "\n"
    "Checks the experiment (keys, types, plugins and their options) without loading data, and\n"
    "prints the resolved config with every default filled in.\n";

static const char *usage_sweep =
    "usage: mvae sweep SWEEP.yaml [--out DIR] [--dry-run] [--quiet]\n"
    "\n"
    "Runs every point of the sweep's grid (a base experiment and axes of overrides, docs/sweeps.md)\n"
    "one after the other, each in DIR/<axis>=<value>,... (default DIR: runs/<sweep name>). Finished\n"
    "runs (metrics.json present) are skipped and interrupted ones resumed, so the same command\n"
    "continues a sweep. A failing run is reported and the others go on; the exit status is 1 when\n"
    "any run failed. Then: mvae report DIR.\n"
    "\n"
    "  --out DIR   sweep directory\n"
    "  --dry-run   list the runs, their state (new, resume, done) and check each experiment\n"
    "  --quiet     no training progress (one line per run is still printed)\n";

static const char *usage_report =
    "usage: mvae report SWEEP_DIR [--quiet]\n"
    "\n"
    "Reads the sweep's runs.jsonl and each run's metrics.json and writes SWEEP_DIR/report.md (mean\n"
    "+- std over seeds per point of the other axes), report.csv, lines_<metric>.png (accuracy and\n"
    "coherence vs the paired fraction, one line per fusion / variant) and bars_<metric>.png\n"
    "(log-likelihoods).\n";

static const char *usage_plugins =
    "usage: mvae plugins [-v]\n\nLists every plugin found: kind, name, version, file (-v: options too).\n";

static int load_registry(mvae_registry **reg, mvae_error *err) {
    *reg = mvae_registry_new();
    if (!*reg) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    return mvae_registry_load_default(*reg, err);
}

static int fail(mvae_error *err) {
    fprintf(stderr, "mvae: error: %s\n", err->msg);
    return 1;
}

static int has_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

static int need_arg(int i, int argc, const char *opt) {
    if (i + 1 >= argc) {
        fprintf(stderr, "mvae: error: %s needs a value\n", opt);
        return 0;
    }
    return 1;
}

static int load_config(const char *path, char **sets, int nsets, mvae_cfg **cfg, mvae_error *err) {
    if (mvae_cfg_load_file(path, cfg, err)) return err->status;
    for (int i = 0; i < nsets; i++)
        if (mvae_cfg_set(*cfg, sets[i], err)) return err->status;
    return MVAE_OK;
}

static int cmd_train(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_train, stdout), 0;
    const char *exp = NULL, *out = NULL, *resume = NULL;
    char *sets[MAX_SETS];
    int nsets = 0;
    bool quiet = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--set")) {
            if (!need_arg(i, argc, "--set")) return 2;
            if (nsets < MAX_SETS) sets[nsets++] = argv[++i];
        } else if (!strncmp(argv[i], "--set=", 6)) {
            if (nsets < MAX_SETS) sets[nsets++] = argv[i] + 6;
        } else if (!strcmp(argv[i], "--out")) {
            if (!need_arg(i, argc, "--out")) return 2;
            out = argv[++i];
        } else if (!strcmp(argv[i], "--resume")) {
            if (!need_arg(i, argc, "--resume")) return 2;
            resume = argv[++i];
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "mvae train: unknown option '%s'\n%s", argv[i], usage_train);
            return 2;
        } else if (!exp) {
            exp = argv[i];
        } else {
            fprintf(stderr, "mvae train: unexpected argument '%s'\n%s", argv[i], usage_train);
            return 2;
        }
    }
    if (!exp && !resume) {
        fputs(usage_train, stderr);
        return 2;
    }
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    char run_dir[1024], cfgpath[1100];
    if (load_registry(&reg, &err)) goto out;
    if (resume) {
        if (exp || nsets) {
            fprintf(stderr, "mvae train: --resume takes the run's own config.yaml; drop the experiment file and --set\n");
            rc = 2;
            goto out;
        }
        snprintf(run_dir, sizeof run_dir, "%s", resume);
        snprintf(cfgpath, sizeof cfgpath, "%s/config.yaml", resume);
        if (load_config(cfgpath, NULL, 0, &cfg, &err)) goto out;
    } else {
        if (load_config(exp, sets, nsets, &cfg, &err)) goto out;
    }
    if (mvae_model_build(cfg, reg, &m, &err)) goto out;
    if (!resume) {
        if (out) {
            snprintf(run_dir, sizeof run_dir, "%s", out);
        } else {
            const char *name = "experiment";
            mvae_cfg_string_or(mvae_cfg_root(cfg), "name", "experiment", &name, &err);
            time_t t = time(NULL);
            struct tm tm;
            localtime_r(&t, &tm);
            char stamp[32];
            strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
            snprintf(run_dir, sizeof run_dir, "runs/%s-%s", name, stamp);
        }
        struct stat st;
        char probe[1100];
        snprintf(probe, sizeof probe, "%s/last.ckpt", run_dir);
        if (stat(probe, &st) == 0) {
            mvae_error_set(&err, MVAE_ERR_INVALID,
                           "'%s' already holds a trained run: continue it with `mvae train --resume %s`, or "
                           "choose another --out", run_dir, run_dir);
            goto out;
        }
    }
    mvae_train_opts o = {.run_dir = run_dir, .resume = resume != NULL, .quiet = quiet};
    mvae_train_result r;
    if (mvae_train(m, &o, &r, &err)) goto out;
    if (!quiet) {
        printf("run directory: %s\n", run_dir);
        printf("  metrics: %s/metrics.json\n", run_dir);
        printf("  pictures: %s/*.png\n", run_dir);
    }
    rc = 0;
out:
    if (rc == 1) fail(&err);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

/* Rebuild a run's model from its config.yaml and load a checkpoint. */
static int open_run(const char *dir, const char *which, char **sets, int nsets, mvae_registry **reg,
                    mvae_cfg **cfg, mvae_model **m, mvae_error *err) {
    char path[1100];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mvae_error_set(err, MVAE_ERR_IO, "'%s' is not a run directory (made by `mvae train`)", dir);
    if (load_registry(reg, err) || load_config(path, sets, nsets, cfg, err) || mvae_model_build(*cfg, *reg, m, err))
        return err->status ? err->status : MVAE_ERR_INVALID;
    snprintf(path, sizeof path, "%s/%s.ckpt", dir, which);
    return mvae_checkpoint_load(path, (*m)->params, NULL, NULL, NULL, err);
}

static int cmd_eval(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_eval, stdout), 0;
    const char *dir = NULL, *which = "last";
    char *sets[MAX_SETS];
    int nsets = 0;
    bool quiet = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--set")) {
            if (!need_arg(i, argc, "--set")) return 2;
            if (nsets < MAX_SETS) sets[nsets++] = argv[++i];
        } else if (!strcmp(argv[i], "--checkpoint")) {
            if (!need_arg(i, argc, "--checkpoint")) return 2;
            which = argv[++i];
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "mvae eval: unexpected argument '%s'\n%s", argv[i], usage_eval);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) return fputs(usage_eval, stderr), 2;
    if (strcmp(which, "last") && strcmp(which, "best")) {
        fprintf(stderr, "mvae eval: --checkpoint is last or best\n");
        return 2;
    }
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    mvae_eval_result e;
    if (open_run(dir, which, sets, nsets, &reg, &cfg, &m, &err)) goto out;
    if (mvae_evaluate_in(m, MVAE_SPLIT_TEST, dir, &e, quiet, &err)) goto out;
    char path[1100];
    snprintf(path, sizeof path, "%s/eval_%s.json", dir, which);
    if (mvae_write_metrics_json(path, &e, NULL, &err)) goto out;
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
        fclose(f);
    }
    if (!quiet) fprintf(stderr, "wrote %s\n", path);
    rc = 0;
out:
    if (rc) fail(&err);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

static int cmd_translate(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_translate, stdout), 0;
    const char *dir = NULL, *from = NULL, *to = NULL, *which = "last";
    int beam = 1, ntext = 0;
    char **texts = calloc((size_t)(argc > 0 ? argc : 1), sizeof *texts);
    if (!texts) return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--from") || !strcmp(a, "--to") || !strcmp(a, "--beam") || !strcmp(a, "--checkpoint")) {
            if (!need_arg(i, argc, a)) return free(texts), 2;
            const char *v = argv[++i];
            if (!strcmp(a, "--from")) from = v;
            else if (!strcmp(a, "--to")) to = v;
            else if (!strcmp(a, "--beam")) beam = atoi(v);
            else which = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mvae translate: unexpected argument '%s'\n%s", a, usage_translate);
            return free(texts), 2;
        } else if (!dir) {
            dir = a;
        } else {
            texts[ntext++] = argv[i];
        }
    }
    if (!dir || !from || !to) return free(texts), fputs(usage_translate, stderr), 2;
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    char out[4096];
    mvae_log_level lvl = mvae_log_get_level();
    mvae_log_set_level(MVAE_LOG_WARN); /* the dataset's summary line is noise here */
    int orc = open_run(dir, which, NULL, 0, &reg, &cfg, &m, &err);
    mvae_log_set_level(lvl);
    if (orc) goto out;
    int kf = mvae_model_find(m, from), kt = mvae_model_find(m, to);
    if (kf < 0 || kt < 0) {
        mvae_error_set(&err, MVAE_ERR_INVALID, "the run has no modality '%s'", kf < 0 ? from : to);
        goto out;
    }
    if (ntext) {
        for (int i = 0; i < ntext; i++) {
            if (mvae_translate_text(m, kf, kt, texts[i], beam, out, sizeof out, &err)) goto out;
            printf("%s\n", out);
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
            if (mvae_translate_text(m, kf, kt, line, beam, out, sizeof out, &err)) {
                free(line);
                goto out;
            }
            printf("%s\n", out);
            fflush(stdout);
        }
        free(line);
    }
    rc = 0;
out:
    if (rc) fail(&err);
    free(texts);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

static int cmd_sample(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_sample, stdout), 0;
    const char *dir = NULL, *given = NULL, *outp = "samples.png", *mod = NULL, *which = "last";
    int n = 64;
    uint64_t seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--given") || !strcmp(a, "-n") || !strcmp(a, "-o") || !strcmp(a, "--modality") ||
            !strcmp(a, "--seed") || !strcmp(a, "--checkpoint")) {
            if (!need_arg(i, argc, a)) return 2;
            const char *v = argv[++i];
            if (!strcmp(a, "--given")) given = v;
            else if (!strcmp(a, "-n")) n = atoi(v);
            else if (!strcmp(a, "-o")) outp = v;
            else if (!strcmp(a, "--modality")) mod = v;
            else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
            else which = v;
        } else if (a[0] == '-' || dir) {
            fprintf(stderr, "mvae sample: unexpected argument '%s'\n%s", a, usage_sample);
            return 2;
        } else {
            dir = a;
        }
    }
    if (!dir) return fputs(usage_sample, stderr), 2;
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    if (open_run(dir, which, NULL, 0, &reg, &cfg, &m, &err)) goto out;
    if (mvae_sample_png(m, given, mod, n, seed, outp, &err)) goto out;
    printf("wrote %s (%d samples%s%s)\n", outp, n, given ? " given " : " from the prior", given ? given : "");
    rc = 0;
out:
    if (rc) fail(&err);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

static int cmd_validate(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_validate, stdout), 0;
    const char *exp = NULL;
    char *sets[MAX_SETS];
    int nsets = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--set")) {
            if (!need_arg(i, argc, "--set")) return 2;
            if (nsets < MAX_SETS) sets[nsets++] = argv[++i];
        } else if (argv[i][0] == '-' || exp) {
            fprintf(stderr, "mvae validate: unexpected argument '%s'\n%s", argv[i], usage_validate);
            return 2;
        } else {
            exp = argv[i];
        }
    }
    if (!exp) return fputs(usage_validate, stderr), 2;
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    int rc = 1;
    if (load_registry(&reg, &err) || load_config(exp, sets, nsets, &cfg, &err) ||
        mvae_experiment_validate(cfg, reg, &err))
        goto out;
    mvae_cfg_write(mvae_cfg_root(cfg), stdout);
    fprintf(stderr, "%s: ok\n", exp);
    rc = 0;
out:
    if (rc) fail(&err);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

static int cmd_sweep(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_sweep, stdout), 0;
    const char *file = NULL;
    mvae_sweep_opts o = {0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out")) {
            if (!need_arg(i, argc, "--out")) return 2;
            o.out_dir = argv[++i];
        } else if (!strcmp(argv[i], "--dry-run") || !strcmp(argv[i], "-n")) {
            o.dry_run = true;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            o.quiet = true;
        } else if (argv[i][0] == '-' || file) {
            fprintf(stderr, "mvae sweep: unexpected argument '%s'\n%s", argv[i], usage_sweep);
            return 2;
        } else {
            file = argv[i];
        }
    }
    if (!file) return fputs(usage_sweep, stderr), 2;
    char command[2048] = "mvae sweep";
    for (int i = 0; i < argc; i++)
        snprintf(command + strlen(command), sizeof command - strlen(command), " %s", argv[i]);
    o.command = command;
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_sweep *s = NULL;
    mvae_sweep_summary sum;
    int rc = 1;
    if (load_registry(&reg, &err) || mvae_sweep_load(file, &s, &err) || mvae_sweep_execute(s, reg, &o, &sum, &err)) {
        fail(&err);
    } else {
        rc = sum.failed ? 1 : 0;
        if (!o.dry_run && !sum.failed)
            printf("next: mvae report %s%s\n", o.out_dir ? o.out_dir : "runs/", o.out_dir ? "" : mvae_sweep_name(s));
    }
    mvae_sweep_free(s);
    mvae_registry_free(reg);
    return rc;
}

static int cmd_report(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_report, stdout), 0;
    const char *dir = NULL;
    bool quiet = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "mvae report: unexpected argument '%s'\n%s", argv[i], usage_report);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) return fputs(usage_report, stderr), 2;
    mvae_error err = {0};
    if (mvae_sweep_report(dir, quiet, &err)) return fail(&err);
    return 0;
}

static const char *opt_type_name(int t) {
    static const char *n[] = {"?", "int", "float", "bool", "string", "int list", "float list", "string list", "map", "map", "any"};
    return (t >= 1 && t <= 10) ? n[t] : "?";
}

static int cmd_plugins(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_plugins, stdout), 0;
    bool verbose = argc > 0 && !strcmp(argv[0], "-v");
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    if (load_registry(&reg, &err)) {
        fail(&err);
        mvae_registry_free(reg);
        return 1;
    }
    printf("%-10s %-14s %-8s %s\n", "KIND", "NAME", "VERSION", "FILE");
    for (int kind = MVAE_PLUGIN_DATASET; kind <= MVAE_PLUGIN_CLASSIFIER; kind++)
        for (int i = 0; i < mvae_registry_count(reg); i++) {
            const mvae_plugin_entry *e = mvae_registry_at(reg, i);
            if (e->desc->kind != kind) continue;
            printf("%-10s %-14s %-8s %s\n", mvae_plugin_kind_name(kind), e->desc->name, e->desc->version, e->file);
            if (verbose) {
                printf("           %s\n", e->desc->description ? e->desc->description : "");
                for (const mvae_option *o = e->desc->options; o && o->key; o++)
                    printf("             %-18s %-11s default %-12s %s\n", o->key, opt_type_name(o->type),
                           o->default_value ? o->default_value : "-", o->help ? o->help : "");
            }
        }
    mvae_registry_free(reg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mvae %s (plugin ABI %d.%d)\n", MVAE_VERSION_STRING, MVAE_ABI_MAJOR, MVAE_ABI_MINOR);
        return 0;
    }
    const char *c = argv[1];
    if (!strcmp(c, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(c, "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(c, "sample")) return cmd_sample(argc - 2, argv + 2);
    if (!strcmp(c, "validate")) return cmd_validate(argc - 2, argv + 2);
    if (!strcmp(c, "translate")) return cmd_translate(argc - 2, argv + 2);
    if (!strcmp(c, "plugins")) return cmd_plugins(argc - 2, argv + 2);
    if (!strcmp(c, "sweep")) return cmd_sweep(argc - 2, argv + 2);
    if (!strcmp(c, "report")) return cmd_report(argc - 2, argv + 2);
    static const char *const cmds[] = {"train", "eval", "sample", "validate", "plugins", "sweep", "report", "translate"};
    const char *near = mvae_nearest(c, cmds, 8);
    fprintf(stderr, "mvae: unknown command '%s'%s%s%s\n\n%s", c, near ? " (did you mean '" : "", near ? near : "",
            near ? "'?)" : "", usage_main);
    return 2;
}
