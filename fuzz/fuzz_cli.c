/* fuzz_cli — the command's argument handling: tools/mvae.c is compiled into this harness with
 * -Dmain=mvae_cli_main and called with argv = "mvae" followed by the input split on NUL bytes
 * (at most 32 arguments).
 *
 * The sandbox: each input runs in <scratch>/a/b (and returns to libFuzzer's directory after it), which holds exp.yaml (a valid experiment),
 * bad.yaml (an unknown key), notyaml.yaml and run/ (a run directory whose config.yaml fails
 * validation); stdin is /dev/null, stdout goes to /dev/null. Inputs that could leave the sandbox
 * or do real work are skipped, not run:
 *   - an argument containing '/' (every path stays inside the scratch directory);
 *   - `train` and `sweep` unless --help/-h is among their arguments (they would train);
 *   - `eval`, `sample`, `translate`, `report` run: no directory they can name holds a model, so
 *     they fail after their argument parsing (run/'s config.yaml is invalid).
 * So this covers: the top-level dispatch (help, --version, unknown commands with their hint),
 * every command's --help and option parsing up to its first file, `validate` with --set in full
 * (registry, YAML, overrides, validation, printing), `plugins [-v]`, and the run-directory
 * errors of eval/sample/translate/report. */
#include "fuzz_util.h"

#include <fcntl.h>
#include <sys/stat.h>

int mvae_cli_main(int argc, char **argv);

#define MAX_ARGS 32

static char sandbox[700];
static int home_fd = -1; /* libFuzzer's working directory: its corpus and artifact paths are relative */

static void put(const char *path, const char *text) {
    fuzz_write_file(path, (const uint8_t *)text, strlen(text));
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet();
    fuzz_pin_plugins(MVAE_FUZZ_PLUGIN_DIR);
    char d[700];
    snprintf(d, sizeof d, "%s/a/b/run", fuzz_scratch("cli"));
    mvae_error err = {0};
    if (mvae_mkdir_p(d, &err)) {
        fprintf(stderr, "fuzz_cli: %s\n", err.msg);
        abort();
    }
    snprintf(sandbox, sizeof sandbox, "%s/a/b", fuzz_scratch("cli"));
    home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (home_fd < 0 || chdir(sandbox)) abort();
    put("exp.yaml", "name: fuzz\ndataset: {plugin: fashion_mnist, path: nowhere, train_limit: 10}\n"
                    "latent_dim: 8\nmodalities:\n  image:\n    encoder: {plugin: mlp, hidden: [16]}\n"
                    "    decoder: {plugin: mlp, hidden: [16]}\n  label:\n    encoder: {plugin: mlp, hidden: [16]}\n"
                    "    decoder: {plugin: mlp, hidden: [16]}\nfusion: {plugin: poe}\ntrain: {epochs: 1}\n");
    put("bad.yaml", "name: fuzz\nlaten_dim: 8\n");
    put("notyaml.yaml", "{[: \"\n");
    put("run/config.yaml", "name: run\nlaten_dim: 3\n");
    if (fchdir(home_fd)) abort();
    if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout)) abort();
    return 0;
}

static int has_help(int argc, char **argv) {
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = fuzz_cstr(data, size);
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "mvae";
    for (size_t i = 0; i <= size && argc <= MAX_ARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    if (size == 0) argc = 1; /* no input: `mvae` alone */
    argv[argc] = NULL;
    int skip = 0;
    for (int i = 1; i < argc; i++)
        if (strchr(argv[i], '/')) skip = 1;
    if (argc > 1 && (!strcmp(argv[1], "train") || !strcmp(argv[1], "sweep")) && !has_help(argc, argv)) skip = 1;
    if (!skip) {
        if (chdir(sandbox)) abort();
        mvae_cli_main(argc, argv);
        fflush(stdout);
        if (fchdir(home_fd)) abort();
    }
    free(buf);
    return 0;
}
