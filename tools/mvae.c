/* mvae — the command: train, evaluate, sample, validate experiments; list plugins. */
#define _GNU_SOURCE
#include "mvae/checkpoint.h"
#include "mvae/image.h"
#include "mvae/dist.h"
#include "mvae/isa.h"
#include "mvae/model.h"
#include "mvae/report.h"
#include "mvae/sweep.h"
#include "mvae/train.h"
#include "mvae/translate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage_train =
    "usage: mvae train EXP.yaml [--set KEY=VALUE ...] [--out DIR] [--quiet]\n"
    "       mvae train --resume RUN_DIR [--set eval.KEY=VALUE ...] [--force] [--quiet]\n"
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
    "  --resume DIR     continue from DIR/last.ckpt with DIR/config.yaml (--set may change eval.* only)\n"
    "  --force          resume even from a checkpoint whose experiment fingerprint differs\n"
    "  --quiet          no progress output\n"
    "\n"
    "Under `mpirun -np N` it trains data-parallel: each rank takes 1/N of every batch, the gradients\n"
    "are all-reduced, rank 0 writes the run directory (train.dist_noise; docs/scaling.md).\n";

static const char *usage_eval =
    "usage: mvae eval RUN_DIR [--checkpoint last|best] [--set eval.KEY=VALUE ...] [--force] [--quiet]\n"
    "                 [--pictures DIR]\n"
    "\n"
    "Evaluates the run's checkpoint on the test split as the config's eval: section says (override\n"
    "with --set, e.g. --set eval.log_likelihood.samples=5000) and prints metrics.json to stdout.\n"
    "--force loads a checkpoint whose experiment fingerprint differs from config.yaml's.\n"
    "--pictures DIR also writes the run's PNG grids (as training does) into DIR.\n"
    "Under `mpirun -np N` the test batches are split over the ranks and rank 0 writes (docs/scaling.md).\n";

static const char *usage_sample =
    "usage: mvae sample RUN_DIR [--given MODALITY=VALUE] [-n N] [-o FILE.png] [--modality NAME]\n"
    "                   [--scale N] [--wav DIR] [--seed S] [--checkpoint last|best] [--force]\n"
    "\n"
    "Generates N images or spectrograms (default 64) of --modality (default: the first image) into a\n"
    "PNG grid (default samples.png): from z ~ q(z | given), e.g. --given label=3, --given\n"
    "label=Sneaker, or --given kannada=test:17 (that modality of test sample 17; kannada,audio=test:17\n"
    "gives both of its modalities together), or from the prior\n"
    "N(0, I) without --given. --wav DIR also turns each generated spectrogram back into sound\n"
    "(DIR/<modality>_<i>.wav; Griffin-Lim, docs/kfs_digits.md).\n"
    "--scale N draws each pixel as an N x N square (1..16); without it small images are scaled up so\n"
    "that a tile is at least 28 pixels (8x8 digits: 4x), and 28x28 or larger ones are not.\n";

static const char *usage_translate =
    "usage: mvae translate RUN_DIR --from MOD --to MOD [--beam K] [--checkpoint last|best] [TEXT ...]\n"
    "\n"
    "Translates each TEXT (or each line of stdin when no TEXT is given) from text modality --from to\n"
    "text modality --to of a trained run: z = mean of q(z | x_from), decoded greedily (--beam 1, the\n"
    "default) or by beam search. Prints one translation per line. The text is tokenised as the\n"
    "dataset tokenises (docs/translation.md); words outside the vocabulary become <unk>.\n";

static const char *usage_validate =
    "usage: mvae validate EXP.yaml [--set KEY=VALUE ...] [--with-data]\n"
    "\n"
    "Checks the experiment (keys, types, value ranges, plugins and their options) and prints the\n"
    "resolved config with every default filled in. --with-data also opens the dataset and builds\n"
    "the model, checking every modality name (modalities, transforms, eval) against the data and\n"
    "that the splits are not empty, exactly as `train` does before its first epoch.\n";

static const char *usage_sweep =
    "usage: mvae sweep SWEEP.yaml [--out DIR] [--shard I/N] [--dry-run] [--quiet]\n"
    "       mvae sweep SWEEP.yaml --slurm [--slurm-out FILE] [--shards N] [--time T] [--cpus C] [--partition P]\n"
    "\n"
    "Runs every point of the sweep's grid (a base experiment and axes of overrides, docs/sweeps.md)\n"
    "one after the other, each in DIR/<axis>=<value>,... (default DIR: runs/<sweep name>). Finished\n"
    "runs (metrics.json present) are skipped and interrupted ones resumed, so the same command\n"
    "continues a sweep. A failing run is reported and the others go on; the exit status is 1 when\n"
    "any run failed. Then: mvae report DIR.\n"
    "\n"
    "  --out DIR   sweep directory\n"
    "  --dry-run   list the runs, their state (new, resume, done) and check each experiment\n"
    "  --quiet     no training progress (one line per run is still printed)\n"
    "  --shard I/N run only the runs j with j mod N = I (0 <= I < N); every run is claimed before it\n"
    "              trains, so processes and hosts sharing DIR never train one twice, and the claim of\n"
    "              a process that died is taken over. Under mpirun each rank is shard RANK/SIZE.\n"
    "  --slurm     print a Slurm job-array script (one array task per shard) instead of running;\n"
    "              --slurm-out FILE writes it to FILE; --shards N tasks (default: one per run),\n"
    "              --time (24:00:00), --cpus per task (1), --partition. docs/scaling.md\n";

static const char *usage_report =
    "usage: mvae report DIR [--quiet]\n"
    "       mvae report RUN_DIR RUN_DIR ... [-o compare.html] [--quiet]\n"
    "\n"
    "A sweep directory (made by `mvae sweep`: it has runs.jsonl): reads each run's metrics.json and\n"
    "writes DIR/report.md (mean +- std over seeds per point of the other axes), report.csv,\n"
    "lines_<metric>.png (accuracy and coherence vs the paired fraction, one line per fusion /\n"
    "variant), bars_<metric>.png (log-likelihoods) and report.html.\n"
    "A run directory (made by `mvae train`): writes DIR/report.html.\n"
    "Several run directories (mvae report RUN_A RUN_B ... [-o FILE]): writes FILE (default\n"
    "compare.html): the settings that differ between them, their metrics side by side, their\n"
    "training losses in one plot and their pictures side by side.\n"
    "\n"
    "report.html is one self-contained page for a browser: the tables, SVG plots (bar charts with\n"
    "error bars over seeds, training curves), every picture grid embedded, each run's metrics and\n"
    "config (collapsible) and, for a sweep, the points of the grid side by side.\n";

static const char *usage_plugins =
    "usage: mvae plugins [-v|--verbose]\n\nLists every plugin found: kind, name, version, file (-v: options,\n"
    "with their defaults and allowed ranges, too).\n";

static int load_registry(mvae_registry **reg, mvae_error *err) {
    *reg = mvae_registry_new();
    if (!*reg) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    return mvae_registry_load_default(*reg, err);
}

static int fail(mvae_error *err) {
    if (mvae_dist_size() > 1) { /* one rank failed: say which, and stop them all (docs/scaling.md) */
        fprintf(stderr, "mvae: error (rank %d of %d): %s\n", mvae_dist_rank(), mvae_dist_size(), err->msg);
        mvae_dist_abort(1);
    }
    fprintf(stderr, "mvae: error: %s\n", err->msg);
    return 1;
}

/* train and sweep under an MPI launcher: join the process group; ranks > 0 print warnings only */
static int dist_start(void) {
    mvae_error err = {0};
    if (mvae_dist_init(&err)) return fail(&err);
    if (mvae_dist_rank() > 0) mvae_log_set_level(MVAE_LOG_WARN);
    return 0;
}

static int has_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

/* ---- argument parsing: one table of flags per command ---- */
enum { ARG_BOOL, ARG_STR, ARG_SET };
typedef struct {
    const char *name, *alias; /* "--out", NULL */
    int kind;                 /* ARG_BOOL: *(bool *)dest = true; ARG_STR: *(const char **)dest;
                               * ARG_SET: appended to the set_list at dest (repeatable) */
    void *dest;
} arg_spec;
typedef struct {
    char **v; /* argc entries at most: no fixed limit */
    int n;
} set_list;
typedef struct {
    const char **v; /* positional arguments in order */
    int n, max;     /* max: how many the command takes */
} pos_list;

/* Parse argv against the table: `--name VALUE`, `--name=VALUE` and aliases; anything else that
 * starts with '-' (but is not "-" alone) is an error; positionals fill pos up to pos->max. The
 * lists must have room for argc entries. Returns 0, or 2 with the message printed. */
static int parse_args(const char *cmd, const char *usage, int argc, char **argv, const arg_spec *specs,
                      pos_list *pos) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const arg_spec *hit = NULL;
        const char *val = NULL;
        for (const arg_spec *sp = specs; sp && sp->name; sp++) {
            const char *names[2] = {sp->name, sp->alias};
            for (int k = 0; k < 2 && !hit; k++) {
                if (!names[k]) continue;
                size_t nl = strlen(names[k]);
                if (!strcmp(a, names[k])) hit = sp;
                else if (sp->kind != ARG_BOOL && !strncmp(a, names[k], nl) && a[nl] == '=') hit = sp, val = a + nl + 1;
            }
            if (hit) break;
        }
        if (!hit) {
            if (a[0] == '-' && a[1]) {
                const char *cand[16];
                int nc = 0;
                for (const arg_spec *sp = specs; sp && sp->name && nc < 16; sp++) cand[nc++] = sp->name;
                const char *near = mvae_nearest(a, cand, nc);
                fprintf(stderr, "mvae %s: unknown option '%s'%s%s%s\n%s", cmd, a, near ? " (did you mean '" : "",
                        near ? near : "", near ? "'?)" : "", usage);
                return 2;
            }
            if (pos->n >= pos->max) {
                fprintf(stderr, "mvae %s: unexpected argument '%s'\n%s", cmd, a, usage);
                return 2;
            }
            pos->v[pos->n++] = a;
            continue;
        }
        if (hit->kind == ARG_BOOL) {
            *(bool *)hit->dest = true;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mvae %s: %s needs a value\n", cmd, hit->name);
                return 2;
            }
            val = argv[++i];
        }
        if (hit->kind == ARG_STR) {
            *(const char **)hit->dest = val;
        } else {
            set_list *sl = hit->dest;
            sl->v[sl->n++] = (char *)val;
        }
    }
    return 0;
}

/* A whole-number option value in [lo, hi], or a message and 0. */
static bool parse_count(const char *cmd, const char *flag, const char *v, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long x = v && *v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "mvae %s: %s '%s' must be a whole number in %lld..%lld\n", cmd, flag, v ? v : "", lo, hi);
        return false;
    }
    *out = x;
    return true;
}

static int load_config(const char *path, char **sets, int nsets, mvae_cfg **cfg, mvae_error *err) {
    if (mvae_cfg_load_file(path, cfg, err)) return err->status;
    for (int i = 0; i < nsets; i++)
        if (mvae_cfg_set(*cfg, sets[i], err)) return err->status;
    return MVAE_OK;
}

/* --set on an existing run (resume, eval): only the eval section may change, so the model and
 * its training stay the ones the checkpoint was made with. */
static int only_eval_sets(const char *cmd, const set_list *sets) {
    mvae_error err = {0};
    if (!mvae_run_dir_check_sets((const char *const *)sets->v, sets->n, MVAE_RUN_DIR_CLI, &err)) return 0;
    fprintf(stderr, "mvae %s: %s\n", cmd, err.msg);
    return 2;
}

static int cmd_train(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_train, stdout), 0;
    const char *exp = NULL, *out = NULL, *resume = NULL;
    set_list sets = {calloc((size_t)argc + 1, sizeof(char *)), 0};
    const char *posv[1];
    pos_list pos = {posv, 0, 1};
    bool quiet = false, force = false;
    const arg_spec specs[] = {{"--set", NULL, ARG_SET, &sets},     {"--out", NULL, ARG_STR, &out},
                              {"--resume", NULL, ARG_STR, &resume}, {"--quiet", "-q", ARG_BOOL, &quiet},
                              {"--force", NULL, ARG_BOOL, &force},  {NULL, NULL, 0, NULL}};
    if (!sets.v) return 1;
    int prc = parse_args("train", usage_train, argc, argv, specs, &pos);
    if (prc) return free(sets.v), prc;
    exp = pos.n ? pos.v[0] : NULL;
    if ((!exp && !resume) || (exp && resume)) {
        if (exp && resume)
            fprintf(stderr, "mvae train: --resume takes the run's own config.yaml; drop the experiment file\n");
        else
            fputs(usage_train, stderr);
        return free(sets.v), 2;
    }
    if (resume && only_eval_sets("train --resume", &sets)) return free(sets.v), 2;
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    char *run_dir = NULL, *cfgpath = NULL;
    if (load_registry(&reg, &err)) goto out;
    if (resume) {
        if (mvae_run_dir_resume(resume, MVAE_RUN_DIR_CLI, &run_dir, &cfgpath, &err)) goto out;
        if (load_config(cfgpath, sets.v, sets.n, &cfg, &err)) goto out;
    } else {
        if (load_config(exp, sets.v, sets.n, &cfg, &err)) goto out;
    }
    if (mvae_model_build(cfg, reg, &m, &err)) goto out;
    /* repaired eval settings are kept with the run (written atomically), so a later `mvae eval`
     * sees what this evaluation used */
    if (resume && sets.n && mvae_dist_rank() == 0 && mvae_cfg_write_file(cfg, cfgpath, &err)) goto out;
    if (!resume && mvae_run_dir_new(cfg, out, MVAE_RUN_DIR_CLI, &run_dir, &err)) goto out;
    mvae_train_opts o = {.run_dir = run_dir, .resume = resume != NULL, .quiet = quiet, .force = force};
    mvae_train_result r;
    if (mvae_train(m, &o, &r, &err)) goto out;
    if (!quiet && mvae_dist_rank() == 0) {
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
    free(run_dir);
    free(cfgpath);
    free(sets.v);
    return rc;
}

/* Rebuild a run's model from its config.yaml and load a checkpoint. */
/* Rebuild a run's model from its config.yaml (with eval.* --set overrides) and load a checkpoint. */
static int open_run(const char *dir, const char *which, char **sets, int nsets, bool force, mvae_registry **reg,
                    mvae_cfg **cfg, mvae_model **m, mvae_error *err) {
    char *path = NULL;
    int rc = mvae_run_dir_check_existing(dir, err);
    if (rc) return rc;
    if (asprintf(&path, "%s/config.yaml", dir) < 0) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    rc = load_registry(reg, err) || load_config(path, sets, nsets, cfg, err) || mvae_model_build(*cfg, *reg, m, err);
    free(path);
    if (rc) return err->status ? err->status : MVAE_ERR_INVALID;
    if (asprintf(&path, "%s/%s.ckpt", dir, which) < 0) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    /* metadata range-checked and the experiment fingerprint compared (unless force) first */
    rc = mvae_run_checkpoint_load(*m, path, NULL, NULL, force, NULL, err);
    free(path);
    return rc;
}

static int cmd_eval(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_eval, stdout), 0;
    const char *dir = NULL, *which = "last", *pics = NULL;
    set_list sets = {calloc((size_t)argc + 1, sizeof(char *)), 0};
    const char *posv[1];
    pos_list pos = {posv, 0, 1};
    bool quiet = false, force = false;
    const arg_spec specs[] = {{"--set", NULL, ARG_SET, &sets},
                              {"--checkpoint", NULL, ARG_STR, &which},
                              {"--quiet", "-q", ARG_BOOL, &quiet},
                              {"--force", NULL, ARG_BOOL, &force},
                              {"--pictures", NULL, ARG_STR, &pics},
                              {NULL, NULL, 0, NULL}};
    if (!sets.v) return 1;
    int prc = parse_args("eval", usage_eval, argc, argv, specs, &pos);
    if (!prc && !pos.n) prc = 2, fputs(usage_eval, stderr);
    if (!prc && strcmp(which, "last") && strcmp(which, "best"))
        prc = 2, fprintf(stderr, "mvae eval: --checkpoint is last or best\n");
    if (!prc) prc = only_eval_sets("eval", &sets);
    if (prc) return free(sets.v), prc;
    dir = pos.v[0];
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    char *path = NULL;
    mvae_eval_result e;
    if (open_run(dir, which, sets.v, sets.n, force, &reg, &cfg, &m, &err)) goto out;
    if (mvae_evaluate_in(m, MVAE_SPLIT_TEST, dir, &e, quiet, &err)) goto out;
    if (mvae_dist_rank() > 0) { /* under mpirun: its share evaluated; rank 0 writes (docs/scaling.md) */
        rc = 0;
        goto out;
    }
    if (asprintf(&path, "%s/eval_%s.json", dir, which) < 0) {
        path = NULL;
        mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (mvae_write_metrics_json(path, &e, NULL, &err)) goto out;
    if (pics && (mvae_mkdir_p(pics, &err) || mvae_write_pictures(m, pics, quiet, &err))) goto out;
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
    free(path);
    free(sets.v);
    return rc;
}

static int cmd_translate(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_translate, stdout), 0;
    const char *dir = NULL, *from = NULL, *to = NULL, *which = "last", *beam_s = "1";
    long long beam = 1;
    const char **posv = calloc((size_t)argc + 1, sizeof *posv);
    if (!posv) return 1;
    pos_list pos = {posv, 0, argc};
    const arg_spec specs[] = {{"--from", NULL, ARG_STR, &from},
                              {"--to", NULL, ARG_STR, &to},
                              {"--beam", NULL, ARG_STR, &beam_s},
                              {"--checkpoint", NULL, ARG_STR, &which},
                              {NULL, NULL, 0, NULL}};
    int prc = parse_args("translate", usage_translate, argc, argv, specs, &pos);
    if (!prc && (!pos.n || !from || !to)) prc = 2, fputs(usage_translate, stderr);
    if (!prc && !parse_count("translate", "--beam", beam_s, 1, 64, &beam)) prc = 2;
    if (!prc && strcmp(which, "last") && strcmp(which, "best"))
        prc = 2, fprintf(stderr, "mvae translate: --checkpoint is last or best\n");
    if (prc) return free(posv), prc;
    dir = pos.v[0];
    const char **texts = pos.v + 1;
    int ntext = pos.n - 1;
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    char out[4096];
    mvae_log_level lvl = mvae_log_get_level();
    mvae_log_set_level(MVAE_LOG_WARN); /* the dataset's summary line is noise here */
    int orc = open_run(dir, which, NULL, 0, false, &reg, &cfg, &m, &err);
    mvae_log_set_level(lvl);
    if (orc) goto out;
    int kf = mvae_model_find(m, from), kt = mvae_model_find(m, to);
    if (kf < 0 || kt < 0) {
        mvae_error_set(&err, MVAE_ERR_INVALID, "the run has no modality '%s'", kf < 0 ? from : to);
        goto out;
    }
    if (ntext) {
        for (int i = 0; i < ntext; i++) {
            if (mvae_translate_text(m, kf, kt, texts[i], (int)beam, out, sizeof out, &err)) goto out;
            printf("%s\n", out);
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
            if (mvae_translate_text(m, kf, kt, line, (int)beam, out, sizeof out, &err)) {
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
    free(posv);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

static int cmd_sample(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_sample, stdout), 0;
    const char *dir = NULL, *given = NULL, *outp = "samples.png", *mod = NULL, *which = "last", *wav = NULL;
    const char *n_s = "64", *seed_s = "1", *scale_s = NULL;
    const char *posv[1];
    pos_list pos = {posv, 0, 1};
    bool force = false;
    const arg_spec specs[] = {{"--given", NULL, ARG_STR, &given},   {"-n", NULL, ARG_STR, &n_s},
                              {"-o", "--output", ARG_STR, &outp},   {"--modality", NULL, ARG_STR, &mod},
                              {"--seed", NULL, ARG_STR, &seed_s},   {"--checkpoint", NULL, ARG_STR, &which},
                              {"--force", NULL, ARG_BOOL, &force},  {"--wav", NULL, ARG_STR, &wav},
                              {"--scale", NULL, ARG_STR, &scale_s}, {NULL, NULL, 0, NULL}};
    long long n = 64, seed = 1, scale = 0;
    int prc = parse_args("sample", usage_sample, argc, argv, specs, &pos);
    if (!prc && !pos.n) prc = 2, fputs(usage_sample, stderr);
    if (!prc && (!parse_count("sample", "-n", n_s, 1, 4096, &n) ||
                 !parse_count("sample", "--seed", seed_s, 0, INT64_MAX, &seed) ||
                 (scale_s && !parse_count("sample", "--scale", scale_s, 1, MVAE_PNG_GRID_MAX_SCALE, &scale))))
        prc = 2;
    if (!prc && strcmp(which, "last") && strcmp(which, "best"))
        prc = 2, fprintf(stderr, "mvae sample: --checkpoint is last or best\n");
    if (prc) return prc;
    dir = pos.v[0];
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    if (open_run(dir, which, NULL, 0, force, &reg, &cfg, &m, &err)) goto out;
    if (mvae_sample_scaled(m, given, mod, (int)n, (uint64_t)seed, outp, wav, (int)scale, &err)) goto out;
    if (wav) printf("wrote %lld WAV files into %s\n", n, wav);
    printf("wrote %s (%lld samples%s%s)\n", outp, n, given ? " given " : " from the prior", given ? given : "");
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
    set_list sets = {calloc((size_t)argc + 1, sizeof(char *)), 0};
    const char *posv[1];
    pos_list pos = {posv, 0, 1};
    bool with_data = false;
    const arg_spec specs[] = {{"--set", NULL, ARG_SET, &sets}, {"--with-data", NULL, ARG_BOOL, &with_data}, {NULL, NULL, 0, NULL}};
    if (!sets.v) return 1;
    int prc = parse_args("validate", usage_validate, argc, argv, specs, &pos);
    if (!prc && !pos.n) prc = 2, fputs(usage_validate, stderr);
    if (prc) return free(sets.v), prc;
    exp = pos.v[0];
    mvae_error err = {0};
    mvae_registry *reg = NULL;
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    if (load_registry(&reg, &err) || load_config(exp, sets.v, sets.n, &cfg, &err)) goto out;
    /* --with-data opens the dataset and builds the model, as `train` does before its first epoch */
    if (with_data ? mvae_model_build(cfg, reg, &m, &err) : mvae_experiment_validate(cfg, reg, &err)) goto out;
    /* with the model: the objective's settings too, and what it bounds (docs/objectives.md) */
    mvae_objective obj;
    if (m && mvae_objective_from_config(m, &obj, &err)) goto out;
    mvae_cfg_write(mvae_cfg_root(cfg), stdout);
    fprintf(stderr, "%s: ok%s\n", exp, with_data ? " (checked against the data)" : "");
    if (m) {
        mvae_bound_report br;
        char line[2048];
        mvae_objective_bounds(m, &obj, &br);
        fprintf(stderr, "objective %s %s\n", obj.kind->name, mvae_bound_summary(&br, line, sizeof line));
    }
    rc = 0;
out:
    if (rc) fail(&err);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    free(sets.v);
    return rc;
}

/* `mvae sweep --slurm`: the job-array script, with absolute paths (tasks start elsewhere) */
static int sweep_slurm(const char *file, const char *out_dir, mvae_slurm_opts *so, const char *path) {
    mvae_error err = {0};
    mvae_sweep *s = NULL;
    char *exe = realpath("/proc/self/exe", NULL), *sf = realpath(file, NULL), *wd = getcwd(NULL, 0), *dir = NULL;
    int rc = 1;
    if (mvae_sweep_load(file, &s, &err)) goto out;
    if (!exe || !sf || !wd) {
        mvae_error_set(&err, MVAE_ERR_IO, "cannot resolve the absolute paths of the command, %s or the working "
                       "directory: %s", file, strerror(errno));
        goto out;
    }
    if (out_dir && out_dir[0] == '/') dir = strdup(out_dir);
    else if (asprintf(&dir, "%s/%s%s", wd, out_dir ? "" : "runs/", out_dir ? out_dir : mvae_sweep_name(s)) < 0) dir = NULL;
    if (!dir) {
        mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto out;
    }
    so->exe = exe, so->sweep_file = sf, so->out_dir = dir, so->workdir = wd;
    FILE *f = path && strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!f) {
        mvae_error_set(&err, MVAE_ERR_IO, "--slurm-out %s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    int wrc = mvae_sweep_write_slurm(s, so, f, &err);
    if (f != stdout && fclose(f) != 0 && !wrc)
        wrc = mvae_error_set(&err, MVAE_ERR_IO, "--slurm-out %s: cannot write: %s", path, strerror(errno));
    if (wrc) goto out;
    if (f != stdout) printf("wrote %s: submit it with `sbatch %s`, watch it with `mvae report %s`\n", path, path, dir);
    rc = 0;
out:
    if (rc) fail(&err);
    mvae_sweep_free(s);
    free(exe);
    free(sf);
    free(wd);
    free(dir);
    return rc;
}

static int cmd_sweep(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_sweep, stdout), 0;
    const char *file = NULL;
    mvae_sweep_opts o = {0};
    const char *posv[1];
    pos_list pos = {posv, 0, 1};
    const char *shard = NULL, *slurm_out = NULL, *shards = NULL, *cpus = NULL;
    bool slurm = false;
    mvae_slurm_opts so = {0};
    const arg_spec specs[] = {{"--out", NULL, ARG_STR, &o.out_dir},
                              {"--dry-run", "-n", ARG_BOOL, &o.dry_run},
                              {"--quiet", "-q", ARG_BOOL, &o.quiet},
                              {"--shard", NULL, ARG_STR, &shard},
                              {"--slurm", NULL, ARG_BOOL, &slurm},
                              {"--slurm-out", NULL, ARG_STR, &slurm_out},
                              {"--shards", NULL, ARG_STR, &shards},
                              {"--time", NULL, ARG_STR, &so.time},
                              {"--cpus", NULL, ARG_STR, &cpus},
                              {"--partition", NULL, ARG_STR, &so.partition},
                              {NULL, NULL, 0, NULL}};
    int prc = parse_args("sweep", usage_sweep, argc, argv, specs, &pos);
    if (!prc && !pos.n) prc = 2, fputs(usage_sweep, stderr);
    if (prc) return prc;
    file = pos.v[0];
    if (shard) { /* I/N */
        char *end = NULL;
        long i = strtol(shard, &end, 10), n = end && *end == '/' ? strtol(end + 1, &end, 10) : 0;
        if (!end || *end || n < 1 || n > 1000000 || i < 0 || i >= n) {
            fprintf(stderr, "mvae sweep: --shard '%s' must be I/N with 0 <= I < N, e.g. --shard 0/4 (the first of "
                    "four shards)\n", shard);
            return 2;
        }
        o.shard = (int)i, o.n_shards = (int)n;
    } else if (mvae_dist_size() > 1 && !slurm && !slurm_out) { /* mpirun -np N mvae sweep: rank r is shard r/N */
        o.shard = mvae_dist_rank(), o.n_shards = mvae_dist_size();
    }
    mvae_dist_detach(); /* each process trains its runs alone */
    long long v = 0;
    if (shards && !parse_count("sweep", "--shards", shards, 1, 1000000, &v)) return 2;
    so.n_shards = (int)v;
    if (cpus && !parse_count("sweep", "--cpus", cpus, 1, 1024, &v)) return 2;
    so.cpus = cpus ? (int)v : 0;
    if (slurm || slurm_out) return sweep_slurm(file, o.out_dir, &so, slurm_out);
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
    bool quiet = false;
    const char *out = "compare.html";
    const char **posv = calloc((size_t)argc + 1, sizeof *posv);
    if (!posv) return 1;
    pos_list pos = {posv, 0, argc};
    const arg_spec specs[] = {{"--quiet", "-q", ARG_BOOL, &quiet}, {"-o", "--output", ARG_STR, &out}, {NULL, NULL, 0, NULL}};
    int prc = parse_args("report", usage_report, argc, argv, specs, &pos);
    if (!prc && !pos.n) prc = 2, fputs(usage_report, stderr);
    if (!prc && pos.n > 64) prc = 2, fprintf(stderr, "mvae report: at most 64 run directories to compare (got %d)\n", pos.n);
    if (prc) return free(posv), prc;
    mvae_error err = {0};
    int rc = pos.n == 1 ? mvae_report_dir(pos.v[0], quiet, &err)
                        : mvae_report_compare_html(pos.v, pos.n, out, quiet, &err);
    free(posv);
    return rc ? fail(&err) : 0;
}

static const char *opt_type_name(int t) {
    static const char *n[] = {"?", "int", "float", "bool", "string", "int list", "float list", "string list", "map", "map", "any"};
    return (t >= 1 && t <= 10) ? n[t] : "?";
}

static int cmd_plugins(int argc, char **argv) {
    if (has_help(argc, argv)) return fputs(usage_plugins, stdout), 0;
    bool verbose = false;
    pos_list pos = {NULL, 0, 0};
    const arg_spec specs[] = {{"--verbose", "-v", ARG_BOOL, &verbose}, {NULL, NULL, 0, NULL}};
    int prc = parse_args("plugins", usage_plugins, argc, argv, specs, &pos);
    if (prc) return prc;
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
                    printf("             %-18s %-11s default %-12s %s%s%s\n", o->key, opt_type_name(o->type),
                           o->default_value ? o->default_value : "-", o->help ? o->help : "",
                           o->range ? "; allowed " : "", o->range ? o->range : "");
            }
        }
    mvae_registry_free(reg);
    return 0;
}

/* The commands: `mvae --help` is generated from this table, so it lists every one. */
typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis; /* the arguments, as in the command's usage */
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "EXP.yaml [--set KEY=VALUE ...] [--out DIR]", "train, evaluate, write a run directory"},
    {"train", cmd_train, "--resume RUN_DIR [--set eval.K=V ...]", "continue an interrupted run"},
    {"eval", cmd_eval, "RUN_DIR [--checkpoint last|best] [--set ...]", "evaluate a run on the test split"},
    {"sample", cmd_sample, "RUN_DIR [--given label=3] [-n 64] [-o grid.png]", "generate images"},
    {"translate", cmd_translate, "RUN_DIR --from en --to vi [TEXT ...]", "translate text (stdin without TEXT)"},
    {"validate", cmd_validate, "EXP.yaml [--set ...] [--with-data]", "check an experiment, print it resolved"},
    {"sweep", cmd_sweep, "SWEEP.yaml [--out DIR] [--dry-run] [--shard I/N] [--slurm]", "run a grid of experiments (resumable)"},
    {"report", cmd_report, "DIR | RUN_DIR RUN_DIR ...", "report.html of a run or sweep; compare runs"},
    {"plugins", cmd_plugins, "[-v]", "list the plugins found"},
};
enum { N_COMMANDS = (int)(sizeof commands / sizeof commands[0]) };

static void usage_main(FILE *out) {
    fputs("usage: mvae <command> [options]\n       mvae --version\n\ncommands:\n", out);
    for (int i = 0; i < N_COMMANDS; i++) {
        char head[160];
        snprintf(head, sizeof head, "%s %s", commands[i].name, commands[i].synopsis);
        fprintf(out, "  %-54s %s\n", head, commands[i].summary);
    }
    fputs("\n`mvae <command> --help` describes each command. Plugins are searched in $MVAE_PLUGIN_PATH,\n"
          "the build tree and the install prefix. Docs: docs/ in the source tree.\n",
          out);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage_main(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    mvae_error isa_err = {0}; /* MVAE_ISA: an ISA this CPU cannot run is an error before any work */
    if (mvae_isa_init(&isa_err) != MVAE_OK) {
        fprintf(stderr, "mvae: %s\n", isa_err.msg);
        return 2;
    }
    if (!strcmp(argv[1], "--version")) {
        /* the ABI of this build's headers, and the oldest plugin ABI the loader accepts */
        printf("mvae %s\nplugin ABI %d.%d (loads plugins built for ABI %d.0", MVAE_VERSION_STRING, MVAE_ABI_MAJOR,
               MVAE_ABI_MINOR, MVAE_ABI_MAJOR);
        if (MVAE_ABI_MINOR > 0) printf(" to %d.%d", MVAE_ABI_MAJOR, MVAE_ABI_MINOR);
        printf(")\n");
        printf("isa %s%s, detected %s, gemm %s\n", mvae_isa_name(mvae_isa()), mvae_isa_forced() ? " forced by MVAE_ISA" : "",
               mvae_isa_name(mvae_isa_detected()), mvae_isa_gemm_name());
        return 0;
    }
    const char *c = argv[1];
    const char *names[N_COMMANDS];
    for (int i = 0; i < N_COMMANDS; i++) {
        if (!strcmp(c, commands[i].name)) {
            if (strcmp(c, "train") && strcmp(c, "sweep") && strcmp(c, "eval")) return commands[i].run(argc - 2, argv + 2);
            /* train, eval and sweep join the MPI process group when mpirun started them (dist.h) */
            if (dist_start()) return 1;
            int rc = commands[i].run(argc - 2, argv + 2);
            mvae_dist_finalize();
            return rc;
        }
        names[i] = commands[i].name;
    }
    const char *near = mvae_nearest(c, names, N_COMMANDS);
    fprintf(stderr, "mvae: unknown command '%s'%s%s%s\n\n", c, near ? " (did you mean '" : "", near ? near : "",
            near ? "'?)" : "");
    usage_main(stderr);
    return 2;
}
