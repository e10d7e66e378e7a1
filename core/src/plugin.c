/* plugin.c — the plugin registry: dlopen, descriptor checks, lookup with "did you mean" hints;
 * plus the small name helpers declared in interfaces.h. */
#define _GNU_SOURCE
#include "mvae/interfaces.h"
#include "mvae/plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- names ---- */

const char *mvae_plugin_kind_name(int kind) {
    switch (kind) {
    case MVAE_PLUGIN_DATASET:
        return "dataset";
    case MVAE_PLUGIN_ENCODER:
        return "encoder";
    case MVAE_PLUGIN_DECODER:
        return "decoder";
    case MVAE_PLUGIN_FUSION:
        return "fusion";
    case MVAE_PLUGIN_TRANSFORM:
        return "transform";
    case MVAE_PLUGIN_CLASSIFIER:
        return "classifier";
    default:
        return "unknown";
    }
}

const char *mvae_modality_type_name(int type) {
    switch (type) {
    case MVAE_MOD_IMAGE:
        return "image";
    case MVAE_MOD_BINARY:
        return "binary";
    case MVAE_MOD_CATEGORICAL:
        return "categorical";
    case MVAE_MOD_TOKENS:
        return "tokens";
    case MVAE_MOD_AUDIO:
        return "audio";
    case MVAE_MOD_REAL:
        return "real";
    default:
        return "unknown";
    }
}

int64_t mvae_modality_numel(const mvae_modality_info *m) {
    int64_t n = 1;
    for (int d = 0; d < m->ndim; d++) n *= m->shape[d];
    return n;
}

/* ---- required hooks per kind: (name, offset) tables, checked against vtable_size ---- */

typedef struct hook_spec {
    const char *name;
    size_t offset;
} hook_spec;

#define HOOK(T, h)                                                                                 \
    { #h, offsetof(T, h) }
static const hook_spec dataset_hooks[] = {HOOK(mvae_dataset_vtable, open),
                                          HOOK(mvae_dataset_vtable, close),
                                          HOOK(mvae_dataset_vtable, n_modalities),
                                          HOOK(mvae_dataset_vtable, modality),
                                          HOOK(mvae_dataset_vtable, size),
                                          HOOK(mvae_dataset_vtable, get_batch),
                                          {NULL, 0}};
static const hook_spec encoder_hooks[] = {HOOK(mvae_encoder_vtable, create),
                                          HOOK(mvae_encoder_vtable, destroy),
                                          HOOK(mvae_encoder_vtable, forward),
                                          {NULL, 0}};
static const hook_spec decoder_hooks[] = {HOOK(mvae_decoder_vtable, create),
                                          HOOK(mvae_decoder_vtable, destroy),
                                          HOOK(mvae_decoder_vtable, forward),
                                          {NULL, 0}};
static const hook_spec fusion_hooks[] = {
    HOOK(mvae_fusion_vtable, create), HOOK(mvae_fusion_vtable, destroy),
    HOOK(mvae_fusion_vtable, fuse),   HOOK(mvae_fusion_vtable, sample),
    HOOK(mvae_fusion_vtable, kl),     HOOK(mvae_fusion_vtable, log_q),
    HOOK(mvae_fusion_vtable, mean),   {NULL, 0}};
static const hook_spec transform_hooks[] = {HOOK(mvae_transform_vtable, create),
                                            HOOK(mvae_transform_vtable, destroy),
                                            HOOK(mvae_transform_vtable, apply),
                                            {NULL, 0}};
static const hook_spec classifier_hooks[] = {HOOK(mvae_classifier_vtable, create),
                                             HOOK(mvae_classifier_vtable, destroy),
                                             HOOK(mvae_classifier_vtable, forward),
                                             {NULL, 0}};
#undef HOOK

/* Every hook listed above is REQUIRED; a vtable may end with OPTIONAL hooks (decoder:
 * forward_teacher, generate since ABI 1.2; classifier: features since 2.1) that older plugins lack. A hook added to interfaces.h
 * must be added to its table above, or counted here as optional. */
#define HOOK_COUNT(T) (sizeof(T) / sizeof(void (*)(void)))
_Static_assert(HOOK_COUNT(mvae_dataset_vtable) == 6, "update dataset_hooks in plugin.c");
_Static_assert(HOOK_COUNT(mvae_encoder_vtable) == 3, "update encoder_hooks in plugin.c");
_Static_assert(HOOK_COUNT(mvae_decoder_vtable) == 3 + 2, "update decoder_hooks in plugin.c");
_Static_assert(HOOK_COUNT(mvae_fusion_vtable) == 7, "update fusion_hooks in plugin.c");
_Static_assert(HOOK_COUNT(mvae_transform_vtable) == 3, "update transform_hooks in plugin.c");
_Static_assert(HOOK_COUNT(mvae_classifier_vtable) == 3 + 1, "update classifier_hooks in plugin.c"); /* + features (2.1) */
#undef HOOK_COUNT

typedef struct kind_spec {
    size_t vtable_size; /* bytes up to the end of the last REQUIRED hook */
    const hook_spec *hooks;
} kind_spec;

static int kind_lookup(int kind, kind_spec *out) {
    switch (kind) {
    case MVAE_PLUGIN_DATASET:
        *out = (kind_spec){sizeof(mvae_dataset_vtable), dataset_hooks};
        break;
    case MVAE_PLUGIN_ENCODER:
        *out = (kind_spec){sizeof(mvae_encoder_vtable), encoder_hooks};
        break;
    case MVAE_PLUGIN_DECODER:
        *out = (kind_spec){offsetof(mvae_decoder_vtable, forward_teacher), decoder_hooks};
        break;
    case MVAE_PLUGIN_FUSION:
        *out = (kind_spec){sizeof(mvae_fusion_vtable), fusion_hooks};
        break;
    case MVAE_PLUGIN_TRANSFORM:
        *out = (kind_spec){sizeof(mvae_transform_vtable), transform_hooks};
        break;
    case MVAE_PLUGIN_CLASSIFIER:
        *out = (kind_spec){offsetof(mvae_classifier_vtable, features), classifier_hooks};
        break;
    default:
        return 0;
    }
    return 1;
}

/* ---- the registry ---- */

struct mvae_registry {
    mvae_plugin_entry *entries;
    void **handles; /* per entry: dlopen handle, NULL for static descriptors */
    int *dir_id;    /* per entry: which load_dir/load_file call added it */
    int n, cap;
    int next_dir_id;
    char searched[2048]; /* directories loaded, ':'-separated, for messages */
};

mvae_registry *mvae_registry_new(void) {
    mvae_registry *reg = calloc(1, sizeof *reg);
    if (reg) reg->next_dir_id = 1;
    return reg;
}

void mvae_registry_free(mvae_registry *reg) {
    if (!reg) return;
    for (int i = reg->n - 1; i >= 0; i--)
        if (reg->handles[i]) dlclose(reg->handles[i]);
    free(reg->entries);
    free(reg->handles);
    free(reg->dir_id);
    free(reg);
}

int mvae_registry_count(const mvae_registry *reg) {
    return reg ? reg->n : 0;
}

const mvae_plugin_entry *mvae_registry_at(const mvae_registry *reg, int i) {
    if (!reg || i < 0 || i >= reg->n) return NULL;
    return &reg->entries[i];
}

static int find_index(const mvae_registry *reg, int kind, const char *name) {
    for (int i = 0; i < reg->n; i++) {
        const mvae_plugin_desc *d = reg->entries[i].desc;
        if (d->kind == kind && strcmp(d->name, name) == 0) return i;
    }
    return -1;
}

const mvae_plugin_desc *mvae_registry_find(const mvae_registry *reg, int kind, const char *name) {
    if (!reg || !name) return NULL;
    int i = find_index(reg, kind, name);
    return i >= 0 ? reg->entries[i].desc : NULL;
}

/* Check a descriptor; on failure fill err (naming `file`) and return its status. */
static int check_desc(const mvae_plugin_desc *d, const char *file, mvae_error *err) {
    if (!d)
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "plugin %s returned a NULL descriptor: its mvae_plugin_descriptor() "
                              "must return the address of a static mvae_plugin_desc",
                              file);
    if (d->abi_major != MVAE_ABI_MAJOR)
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "plugin %s was built for mvae ABI %u.%u but this mvae is ABI %d.%d: "
                              "rebuild the plugin against this mvae's headers",
                              file, (unsigned)d->abi_major, (unsigned)d->abi_minor, MVAE_ABI_MAJOR,
                              MVAE_ABI_MINOR);
    if (d->abi_minor > MVAE_ABI_MINOR)
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "plugin %s was built for mvae ABI %u.%u, newer than this mvae (ABI "
                              "%d.%d): upgrade mvae or rebuild the plugin against this mvae's "
                              "headers",
                              file, (unsigned)d->abi_major, (unsigned)d->abi_minor, MVAE_ABI_MAJOR,
                              MVAE_ABI_MINOR);
    if (d->struct_size < sizeof(mvae_plugin_desc))
        return mvae_error_set(
            err, MVAE_ERR_PLUGIN,
            "plugin %s: its descriptor is %u bytes but this mvae expects at least "
            "%zu: rebuild the plugin against this mvae's headers (use "
            "MVAE_PLUGIN_DESC)",
            file, (unsigned)d->struct_size, sizeof(mvae_plugin_desc));
    kind_spec ks;
    if (!kind_lookup(d->kind, &ks))
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "plugin %s has unknown kind %d: use one of MVAE_PLUGIN_DATASET, "
                              "_ENCODER, _DECODER, _FUSION, _TRANSFORM, _CLASSIFIER",
                              file, d->kind);
    const char *kn = mvae_plugin_kind_name(d->kind);
    if (!d->name || !d->name[0])
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "%s plugin %s has no name: set the name in MVAE_PLUGIN_DESC", kn,
                              file);
    if (!d->vtable)
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "%s plugin '%s' (%s) has a NULL vtable: pass its mvae_%s_vtable to "
                              "MVAE_PLUGIN_DESC",
                              kn, d->name, file, kn);
    if (d->vtable_size < ks.vtable_size)
        return mvae_error_set(
            err, MVAE_ERR_PLUGIN,
            "%s plugin '%s' (%s): its vtable is %u bytes but this mvae's "
            "mvae_%s_vtable needs at least %zu: rebuild the plugin against this mvae's headers",
            kn, d->name, file, (unsigned)d->vtable_size, kn, ks.vtable_size);
    for (const hook_spec *h = ks.hooks; h->name; h++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)d->vtable + h->offset, sizeof fn);
        if (!fn)
            return mvae_error_set(err, MVAE_ERR_PLUGIN,
                                  "%s plugin '%s' (%s): required hook '%s' is NULL: implement it "
                                  "and set .%s in the vtable",
                                  kn, d->name, file, h->name, h->name);
    }
    return MVAE_OK;
}

/* Add a checked descriptor. skip_earlier: a (kind, name) already registered by an EARLIER
 * directory is skipped (returns 1, caller dlcloses); otherwise a duplicate is an error. */
static int add_entry(mvae_registry *reg, const mvae_plugin_desc *d, const char *file, void *handle,
                     int dir_id, int skip_earlier, mvae_error *err) {
    int rc = check_desc(d, file, err);
    if (rc) return rc;
    int prev = find_index(reg, d->kind, d->name);
    if (prev >= 0) {
        if (skip_earlier && reg->dir_id[prev] != dir_id) return 1;
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "duplicate %s plugin '%s': defined by both %s and %s: remove or "
                              "rename one of them",
                              mvae_plugin_kind_name(d->kind), d->name, reg->entries[prev].file,
                              file);
    }
    if (reg->n == reg->cap) {
        int cap = reg->cap ? reg->cap * 2 : 16;
        mvae_plugin_entry *e = realloc(reg->entries, (size_t)cap * sizeof *e);
        if (e) reg->entries = e;
        void **h = realloc(reg->handles, (size_t)cap * sizeof *h);
        if (h) reg->handles = h;
        int *di = realloc(reg->dir_id, (size_t)cap * sizeof *di);
        if (di) reg->dir_id = di;
        if (!e || !h || !di) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        reg->cap = cap;
    }
    mvae_plugin_entry *e = &reg->entries[reg->n];
    e->desc = d;
    snprintf(e->file, sizeof e->file, "%s", file);
    reg->handles[reg->n] = handle;
    reg->dir_id[reg->n] = dir_id;
    reg->n++;
    return MVAE_OK;
}

int mvae_registry_add(mvae_registry *reg, const mvae_plugin_desc *desc, const char *file,
                      mvae_error *err) {
    MVAE_ASSERT(reg);
    return add_entry(reg, desc, file ? file : "<static>", NULL, reg->next_dir_id++, 0, err);
}

static int load_file_impl(mvae_registry *reg, const char *path, int dir_id, int skip_earlier,
                          mvae_error *err) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "cannot load plugin %s: %s (is it a shared library built for this "
                              "machine, with its dependencies installed?)",
                              path, why ? why : "unknown dlopen error");
    }
    dlerror();
    void *sym = dlsym(h, MVAE_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        dlclose(h);
        return mvae_error_set(
            err, MVAE_ERR_PLUGIN,
            "%s is not an mvae plugin: it does not export '%s' (build it with the "
            "CMake function mvae_add_plugin, which defines MVAE_PLUGIN_MODULE, and "
            "end the source with MVAE_PLUGIN_DEFINE)",
            path, MVAE_PLUGIN_ENTRY_SYMBOL);
    }
    /* The symbol must be a function: a plugin that exports the descriptor itself as data would
     * otherwise be called and crash the loader. The ELF symbol entry tells. */
    Dl_info info;
    const ElfW(Sym) *es = NULL;
    if (dladdr1(sym, &info, (void **)&es, RTLD_DL_SYMENT) && es &&
        ELF64_ST_TYPE(es->st_info) != STT_FUNC && ELF64_ST_TYPE(es->st_info) != STT_GNU_IFUNC) {
        dlclose(h);
        return mvae_error_set(err, MVAE_ERR_PLUGIN,
                              "%s exports '%s' as data, not as a function: it must be "
                              "`const mvae_plugin_desc *%s(void)` (end the source with "
                              "MVAE_PLUGIN_DEFINE instead of defining it by hand)",
                              path, MVAE_PLUGIN_ENTRY_SYMBOL, MVAE_PLUGIN_ENTRY_SYMBOL);
    }
    mvae_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    int rc = add_entry(reg, entry(), path, h, dir_id, skip_earlier, err);
    if (rc != MVAE_OK) dlclose(h);
    return rc == 1 ? MVAE_OK : rc;
}

int mvae_registry_load_file(mvae_registry *reg, const char *path, mvae_error *err) {
    MVAE_ASSERT(reg && path);
    return load_file_impl(reg, path, reg->next_dir_id++, 0, err);
}

static int is_plugin_name(const char *s) {
    size_t n = strlen(s);
    return n > 8 && strncmp(s, "mvae_", 5) == 0 && strcmp(s + n - 3, ".so") == 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void note_searched(mvae_registry *reg, const char *dir) {
    size_t used = strlen(reg->searched);
    snprintf(reg->searched + used, sizeof reg->searched - used, "%s%s", used ? ":" : "", dir);
}

static int load_dir_impl(mvae_registry *reg, const char *dir, int skip_earlier, mvae_error *err) {
    DIR *d = opendir(dir);
    if (!d)
        return mvae_error_set(err, MVAE_ERR_IO, "cannot open plugin directory %s: %s", dir,
                              strerror(errno));
    note_searched(reg, dir);
    /* collect and sort the names so the load order (and duplicate messages) are deterministic */
    char **names = NULL;
    int n = 0, cap = 0, rc = MVAE_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_plugin_name(de->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == MVAE_OK && n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    int dir_id = reg->next_dir_id++;
    char path[4096];
    for (int i = 0; i < n && rc == MVAE_OK; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = load_file_impl(reg, path, dir_id, skip_earlier, err);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int mvae_registry_load_dir(mvae_registry *reg, const char *dir, mvae_error *err) {
    MVAE_ASSERT(reg && dir);
    return load_dir_impl(reg, dir, 0, err);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

#ifndef MVAE_LIB_BUILD_DIR
#define MVAE_LIB_BUILD_DIR ""
#endif
#ifndef MVAE_PLUGIN_BUILD_DIR
#define MVAE_PLUGIN_BUILD_DIR ""
#endif
#ifndef MVAE_PLUGIN_INSTALL_DIR
#define MVAE_PLUGIN_INSTALL_DIR ""
#endif

/* The directory of the libmvae this code runs in (dladdr on one of its own functions), resolved
 * with realpath; "" if unknown. */
static void own_lib_dir(char *out, size_t len) {
    out[0] = 0;
    Dl_info info;
    void *self = (void *)(uintptr_t)&mvae_registry_load_default;
    if (!dladdr(self, &info) || !info.dli_fname || !info.dli_fname[0]) return;
    char *real = realpath(info.dli_fname, NULL);
    if (!real) return;
    char *slash = strrchr(real, '/');
    if (slash) {
        *slash = 0;
        snprintf(out, len, "%s", slash == real ? "/" : real);
    }
    free(real);
}

static int same_dir(const char *a, const char *b) {
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    int same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

int mvae_registry_load_default(mvae_registry *reg, mvae_error *err) {
    MVAE_ASSERT(reg);
    const char *env = getenv("MVAE_PLUGIN_PATH");
    if (env && env[0]) {
        char *copy = strdup(env);
        if (!copy) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            if (!is_dir(dir)) {
                MVAE_WARN("MVAE_PLUGIN_PATH entry '%s' is not a directory; skipping it", dir);
                continue;
            }
            int rc = load_dir_impl(reg, dir, 1, err);
            if (rc) {
                free(copy);
                return rc;
            }
        }
        free(copy);
    }
    /* Then: the build tree's plugins if this libmvae is the one in the build tree; otherwise the
     * plugins beside this libmvae (<its dir>/mvae/plugins: an install moved with
     * `cmake --install --prefix`); then the configured install directory. */
    char lib_dir[4096], beside[4200];
    own_lib_dir(lib_dir, sizeof lib_dir);
    int in_build_tree = !lib_dir[0] || (MVAE_LIB_BUILD_DIR[0] && same_dir(lib_dir, MVAE_LIB_BUILD_DIR));
    beside[0] = 0;
    if (lib_dir[0] && !in_build_tree) snprintf(beside, sizeof beside, "%s/mvae/plugins", lib_dir);
    const char *fixed[3] = {in_build_tree ? MVAE_PLUGIN_BUILD_DIR : "", beside,
                            MVAE_PLUGIN_INSTALL_DIR};
    for (int i = 0; i < 3; i++) {
        if (!fixed[i][0] || !is_dir(fixed[i])) continue;
        int seen = 0;
        for (int j = 0; j < i; j++)
            if (fixed[j][0] && same_dir(fixed[i], fixed[j])) seen = 1;
        if (seen) continue;
        int rc = load_dir_impl(reg, fixed[i], 1, err);
        if (rc) return rc;
    }
    return MVAE_OK;
}

const mvae_plugin_desc *mvae_registry_require(const mvae_registry *reg, int kind, const char *name,
                                              mvae_error *err) {
    MVAE_ASSERT(reg);
    const char *kn = mvae_plugin_kind_name(kind);
    if (!name || !name[0]) {
        mvae_error_set(err, MVAE_ERR_INVALID,
                       "no %s plugin named: set `plugin:` to one of the "
                       "registered %ss (`mvae plugins` lists them)",
                       kn, kn);
        return NULL;
    }
    const mvae_plugin_desc *d = mvae_registry_find(reg, kind, name);
    if (d) return d;
    const char **cands = malloc((size_t)(reg->n ? reg->n : 1) * sizeof *cands);
    if (!cands) {
        mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        return NULL;
    }
    int nc = 0;
    for (int i = 0; i < reg->n; i++)
        if (reg->entries[i].desc->kind == kind) cands[nc++] = reg->entries[i].desc->name;
    if (nc > 1) qsort(cands, (size_t)nc, sizeof *cands, cmp_str);
    char list[512] = "";
    size_t used = 0;
    for (int i = 0; i < nc && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", cands[i]);
    if (nc == 0) snprintf(list, sizeof list, "none");
    const char *near = mvae_nearest(name, cands, nc);
    char hint[160] = "";
    if (near) snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    mvae_error_set(
        err, MVAE_ERR_PLUGIN, "no %s plugin named '%s'%s; available %ss: %s; searched: %s", kn,
        name, hint, kn, list,
        reg->searched[0] ? reg->searched : "no plugin directory (call mvae_registry_load_default)");
    free(cands);
    return NULL;
}
