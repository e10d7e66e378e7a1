/* mvae/plugin.h — the plugin contract: one exported function returns a const descriptor; the
 * core's registry finds, checks and lists plugins. The interfaces (vtables) each kind implements
 * are in mvae/interfaces.h.
 *
 * A plugin source file ends with:
 *
 *   static const mvae_encoder_vtable vt = { .create = ..., .destroy = ..., .forward = ... };
 *   static const mvae_option opts[] = { {"hidden", MVAE_OPT_INT_LIST, "[512, 512]", "hidden sizes"},
 *                                       {NULL} };
 *   static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(MVAE_PLUGIN_ENCODER, "mlp", "1.0.0",
 *                                          "MLP expert for vectors and flattened images", &vt, opts);
 *   MVAE_PLUGIN_DEFINE(mlp_encoder, desc)
 *
 * Built as a module (the CMake function mvae_add_plugin defines MVAE_PLUGIN_MODULE) it exports
 * `mvae_plugin_descriptor`, which the loader looks up with dlsym. Every build also exports
 * `mvae_plugin_<ident>` so the same source can be linked statically (tests) and registered with
 * mvae_registry_add.
 *
 * The loader rejects: a different ABI major; a newer ABI minor than the core's; a struct_size
 * smaller than the core knows; a vtable smaller than its REQUIRED hooks need (optional trailing
 * hooks added by a later minor may be missing: the core reads those only when present); a NULL name/vtable; a vtable missing a required hook; a second
 * plugin with the same kind and name. Each with a message naming the file and the fix.
 */
#ifndef MVAE_PLUGIN_H
#define MVAE_PLUGIN_H
#include "mvae/config.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ABI history — docs/writing-a-plugin.md ("ABI history") has the same table, and CTest
 * docs (tests/test_docs.c) checks the two against each other and against these macros:
 *   1.0  the first ABI: dataset, encoder, decoder, fusion and transform plugins
 *   1.1  the classifier kind (MVAE_PLUGIN_CLASSIFIER)
 *   1.2  optional trailing decoder hooks forward_teacher, generate
 *   2.0  mvae_option gained `range` (option tables changed layout: rebuild plugins against 2.x)
 *   2.1  optional trailing classifier hook features (the Fréchet distance's feature space)
 */
#define MVAE_ABI_MAJOR 2
#define MVAE_ABI_MINOR 1

typedef enum mvae_plugin_kind {
    MVAE_PLUGIN_DATASET = 1,
    MVAE_PLUGIN_ENCODER = 2,
    MVAE_PLUGIN_DECODER = 3,
    MVAE_PLUGIN_FUSION = 4,
    MVAE_PLUGIN_TRANSFORM = 5,
    MVAE_PLUGIN_CLASSIFIER = 6, /* ABI 1.1: evaluation classifiers (coherence) */
} mvae_plugin_kind;
const char *mvae_plugin_kind_name(int kind); /* "dataset", "encoder", ..., "classifier" */

typedef struct mvae_plugin_desc {
    uint16_t abi_major;  /* MVAE_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;
    uint32_t struct_size;/* sizeof(mvae_plugin_desc) at build time */
    int kind;            /* mvae_plugin_kind */
    const char *name;    /* unique per kind; what YAML's `plugin:` names */
    const char *version; /* the plugin's own version */
    const char *description;
    const void *vtable;  /* const mvae_<kind>_vtable * */
    uint32_t vtable_size;/* sizeof the vtable at build time */
    const mvae_option *options; /* YAML keys accepted (besides `plugin`), NULL-key terminated */
} mvae_plugin_desc;

#define MVAE_PLUGIN_DESC(kind_, name_, version_, descr_, vtable_, options_)                        \
    {.abi_major = MVAE_ABI_MAJOR, .abi_minor = MVAE_ABI_MINOR,                                     \
     .struct_size = (uint32_t)sizeof(mvae_plugin_desc), .kind = (kind_), .name = (name_),          \
     .version = (version_), .description = (descr_), .vtable = (vtable_),                          \
     .vtable_size = (uint32_t)sizeof(*(vtable_)), .options = (options_)}

typedef const mvae_plugin_desc *(*mvae_plugin_entry_fn)(void);
#define MVAE_PLUGIN_ENTRY_SYMBOL "mvae_plugin_descriptor"

#ifdef MVAE_PLUGIN_MODULE
#define MVAE_PLUGIN_DEFINE(ident, desc)                                                            \
    const mvae_plugin_desc *mvae_plugin_##ident(void) { return &(desc); }                          \
    __attribute__((visibility("default"))) const mvae_plugin_desc *mvae_plugin_descriptor(void) {  \
        return &(desc);                                                                            \
    }
#else
#define MVAE_PLUGIN_DEFINE(ident, desc)                                                            \
    const mvae_plugin_desc *mvae_plugin_##ident(void) { return &(desc); }
#endif

/* ---- the registry ---- */
typedef struct mvae_registry mvae_registry;
typedef struct mvae_plugin_entry {
    const mvae_plugin_desc *desc;
    char file[512]; /* where it came from ("<static>" for mvae_registry_add) */
} mvae_plugin_entry;

mvae_registry *mvae_registry_new(void);
void mvae_registry_free(mvae_registry *reg); /* dlcloses the modules; NULL is a no-op */
/* Check and add a descriptor (file may be NULL = "<static>"). */
int mvae_registry_add(mvae_registry *reg, const mvae_plugin_desc *desc, const char *file,
                      mvae_error *err);
/* dlopen one .so and add its descriptor. */
int mvae_registry_load_file(mvae_registry *reg, const char *path, mvae_error *err);
/* Load every mvae_*.so in a directory (not recursive). A bad file is an error (not skipped). */
int mvae_registry_load_dir(mvae_registry *reg, const char *dir, mvae_error *err);
/* The standard search: every directory of $MVAE_PLUGIN_PATH (colon-separated) first; then, when
 * the running libmvae is the one in the build tree, the build tree's plugin directory — otherwise
 * <directory of the running libmvae.so>/mvae/plugins (found with dladdr, so an install moved with
 * `cmake --install --prefix DIR` finds its plugins); then the install directory configured at
 * build time (<libdir>/mvae/plugins). Missing directories are skipped. A plugin name found again
 * in a later directory is skipped (the first one wins) — but two with the same name in ONE
 * directory are a duplicate error. */
int mvae_registry_load_default(mvae_registry *reg, mvae_error *err);
int mvae_registry_count(const mvae_registry *reg);
const mvae_plugin_entry *mvae_registry_at(const mvae_registry *reg, int i);
/* Find by kind and name; NULL if absent. */
const mvae_plugin_desc *mvae_registry_find(const mvae_registry *reg, int kind, const char *name);
/* Find or fail with "no encoder plugin named 'mpl' (did you mean 'mlp'?); available: mlp,
 * conv_image; search path: ..." */
const mvae_plugin_desc *mvae_registry_require(const mvae_registry *reg, int kind, const char *name,
                                              mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
