/* fuzz_cfg_set — `--set KEY=VALUE` overrides applied to a loaded experiment, as `mvae validate
 * EXP --set ...` and `mvae train` apply them (mvae_cfg_set), then the experiment's validation.
 * Input: one byte choosing the base experiment (the source tree's experiments/NAME.yaml, read
 * once), then one assignment per line (at most 16). Where the result validates, it is written
 * (mvae_cfg_write) and read back: a resolved config that does not parse again aborts, since
 * that is the file a run directory keeps and `--resume` reads. */
#include "fuzz_util.h"
#include "mvae/model.h"

#include <glob.h>

#define MAX_BASES 32
#define MAX_SETS 16

static mvae_registry *reg;
static char *bases[MAX_BASES];
static int n_bases;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet();
    fuzz_pin_plugins(MVAE_FUZZ_PLUGIN_DIR);
    mvae_error err = {0};
    reg = mvae_registry_new();
    if (!reg || mvae_registry_load_default(reg, &err)) {
        fprintf(stderr, "fuzz_cfg_set: cannot load the plugins: %s\n", err.msg);
        abort();
    }
    glob_t g;
    if (glob(MVAE_FUZZ_SOURCE_DIR "/experiments/*.yaml", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && n_bases < MAX_BASES; i++)
            if ((bases[n_bases] = slurp(g.gl_pathv[i]))) n_bases++;
        globfree(&g);
    }
    if (!n_bases) {
        fprintf(stderr, "fuzz_cfg_set: no experiments under %s/experiments\n", MVAE_FUZZ_SOURCE_DIR);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *base = bases[data[0] % n_bases];
    char *text = fuzz_cstr(data + 1, size - 1);
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    if (mvae_cfg_load_string(base, "base.yaml", &cfg, &err) != MVAE_OK) {
        fprintf(stderr, "fuzz_cfg_set: a base experiment does not load: %s\n", err.msg);
        abort();
    }
    int rc = MVAE_OK, nsets = 0;
    for (char *line = text, *next; line && rc == MVAE_OK && nsets < MAX_SETS; line = next, nsets++) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        rc = mvae_cfg_set(cfg, line, &err);
    }
    if (rc == MVAE_OK && mvae_experiment_validate(cfg, reg, &err) == MVAE_OK) {
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        if (!m) abort();
        int wrc = mvae_cfg_write(mvae_cfg_root(cfg), m);
        fclose(m);
        mvae_cfg *again = NULL;
        mvae_error rerr = {0};
        if (wrc == MVAE_OK && mvae_cfg_load_string(out, "config.yaml", &again, &rerr) != MVAE_OK) {
            fprintf(stderr, "fuzz_cfg_set: the resolved config does not load again: %s\n---\n%s---\n", rerr.msg, out);
            abort();
        }
        mvae_cfg_free(again);
        free(out);
    }
    mvae_cfg_free(cfg);
    free(text);
    return 0;
}
