/* fake_encoder.c — one source, many broken or good encoder plugins for test_plugin.c.
 * Compile definitions pick the variant:
 *   FAKE_NAME="..."        plugin name (required)    FAKE_VERSION="..." (default "1.0.0")
 *   FAKE_ABI_MAJOR=n       override abi_major        FAKE_ABI_MINOR=n   override abi_minor
 *   FAKE_NO_FORWARD        leave the required hook 'forward' NULL
 *   FAKE_DATA_ENTRY        export mvae_plugin_descriptor as data (the descriptor itself)
 * Built without MVAE_PLUGIN_MODULE it exports no entry symbol (the "not a plugin" case). */
#include "mvae/interfaces.h"

#ifndef FAKE_VERSION
#define FAKE_VERSION "1.0.0"
#endif

static int fake_create(const mvae_module_args *a, void **self, mvae_error *err) {
    *self = NULL;
    return MVAE_OK;
}
static void fake_destroy(void *self) {}
#ifndef FAKE_NO_FORWARD
static int fake_forward(void *self, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **mu,
                        mvae_tensor **logvar) {
    *mu = x;
    *logvar = x;
    return MVAE_OK;
}
#endif

static const mvae_encoder_vtable fake_vt = {
    .create = fake_create,
    .destroy = fake_destroy,
#ifndef FAKE_NO_FORWARD
    .forward = fake_forward,
#endif
};

#ifndef FAKE_DATA_ENTRY
static const mvae_plugin_desc fake_desc_base =
    MVAE_PLUGIN_DESC(MVAE_PLUGIN_ENCODER, FAKE_NAME, FAKE_VERSION, "test plugin", &fake_vt, NULL);

#if defined(FAKE_ABI_MAJOR) || defined(FAKE_ABI_MINOR)
#ifndef FAKE_ABI_MAJOR
#define FAKE_ABI_MAJOR MVAE_ABI_MAJOR
#endif
#ifndef FAKE_ABI_MINOR
#define FAKE_ABI_MINOR MVAE_ABI_MINOR
#endif
static mvae_plugin_desc fake_desc;
__attribute__((constructor)) static void fake_init(void) {
    fake_desc = fake_desc_base;
    fake_desc.abi_major = FAKE_ABI_MAJOR;
    fake_desc.abi_minor = FAKE_ABI_MINOR;
}
#else
#define fake_desc fake_desc_base
#endif
#endif /* FAKE_DATA_ENTRY */

#ifdef FAKE_DATA_ENTRY
/* the mistake of exporting the descriptor instead of the function that returns it */
__attribute__((visibility("default"))) const mvae_plugin_desc mvae_plugin_descriptor =
    MVAE_PLUGIN_DESC(MVAE_PLUGIN_ENCODER, FAKE_NAME, FAKE_VERSION, "test plugin", &fake_vt, NULL);
#else
MVAE_PLUGIN_DEFINE(fake, fake_desc)
#endif
