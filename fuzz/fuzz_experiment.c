/* fuzz_experiment — an experiment file as `mvae validate` reads it: the YAML loader
 * (mvae_cfg_load_string) and, when it parses, the experiment schema's validation with the build
 * tree's plugins (mvae_experiment_validate: keys, types, choices, each plugin's option table),
 * then writing the resolved tree (mvae_cfg_write). Input: the YAML text. */
#include "fuzz_util.h"
#include "mvae/model.h"

static mvae_registry *reg;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet();
    fuzz_pin_plugins(MVAE_FUZZ_PLUGIN_DIR);
    mvae_error err = {0};
    reg = mvae_registry_new();
    if (!reg || mvae_registry_load_default(reg, &err)) {
        fprintf(stderr, "fuzz_experiment: cannot load the plugins: %s\n", err.msg);
        abort();
    }
    devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    if (mvae_cfg_load_string(text, "fuzz.yaml", &cfg, &err) == MVAE_OK) {
        mvae_error verr = {0};
        if (mvae_experiment_validate(cfg, reg, &verr) == MVAE_OK) mvae_cfg_write(mvae_cfg_root(cfg), devnull);
    }
    mvae_cfg_free(cfg);
    free(text);
    return 0;
}
