/* check_pkgconfig.c — a program built with `pkg-config --cflags --libs mvae` alone:
 *   cc -std=c11 check_pkgconfig.c $(pkg-config --cflags --libs mvae) -o check_pkgconfig
 * It loads the installed plugins the standard way and lists them; exit 1 if none is found. */
#include <mvae/config.h>
#include <mvae/plugin.h>

#include <stdio.h>

int main(void) {
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    if (!reg || mvae_registry_load_default(reg, &err) != MVAE_OK) {
        fprintf(stderr, "check_pkgconfig: %s\n", err.msg);
        mvae_registry_free(reg);
        return 1;
    }
    int n = mvae_registry_count(reg);
    for (int i = 0; i < n; i++) {
        const mvae_plugin_entry *e = mvae_registry_at(reg, i);
        printf("%s %s %s\n", mvae_plugin_kind_name(e->desc->kind), e->desc->name, e->file);
    }
    printf("mvae %s, plugin ABI %d.%d, %d plugins\n", MVAE_VERSION_STRING, MVAE_ABI_MAJOR,
           MVAE_ABI_MINOR, n);
    mvae_registry_free(reg);
    return n > 0 ? 0 : 1;
}
