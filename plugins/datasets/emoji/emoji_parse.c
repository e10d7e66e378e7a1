/* emoji_parse.c — emoji-test.txt: "# group:" / "# subgroup:" headers and data lines
 *   1F469 200D 1F9B0                ; fully-qualified     # 👩‍🦰 E11.0 woman: red hair
 * Only fully-qualified lines are kept. Attributes come from the code points and the name. */
#define _POSIX_C_SOURCE 200809L
#include "emoji.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const emoji_skin_names[EMOJI_N_SKIN] = {"none", "light", "medium-light", "medium", "medium-dark", "dark"};
const char *const emoji_gender_names[EMOJI_N_GENDER] = {"none", "man", "woman", "mixed"};
const char *const emoji_hair_names[EMOJI_N_HAIR] = {"none", "red", "curly", "white", "bald", "blond"};

void emoji_list_free(emoji_list *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) free(l->e[i].name);
    for (int i = 0; i < l->n_groups; i++) free(l->groups[i]);
    for (int i = 0; i < l->n_subgroups; i++) free(l->subgroups[i]);
    free(l->e);
    free(l->groups);
    free(l->subgroups);
    memset(l, 0, sizeof *l);
}

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* index of name in tab (appending it when new), or -1 when out of memory */
static int intern(char ***tab, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (strcmp((*tab)[i], name) == 0) return i;
    char **t = realloc(*tab, (size_t)(*n + 1) * sizeof *t);
    if (!t) return -1;
    *tab = t;
    if (!(t[*n] = strdup(name))) return -1;
    return (*n)++;
}

/* the words of the name, lower-case ASCII letters only */
static bool has_word(const char *name, const char *const *words) {
    char w[64];
    const char *p = name;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p)) p++;
        size_t k = 0;
        while (*p && isalpha((unsigned char)*p)) {
            if (k + 1 < sizeof w) w[k++] = (char)tolower((unsigned char)*p);
            p++;
        }
        w[k] = '\0';
        for (int i = 0; k && words[i]; i++)
            if (strcmp(w, words[i]) == 0) return true;
    }
    return false;
}

static void attributes(emoji_entry *e) {
    e->skin = 0;
    for (int i = 0; i < e->n_cp && !e->skin; i++)
        if (e->cp[i] >= 0x1F3FB && e->cp[i] <= 0x1F3FF) e->skin = (int)(e->cp[i] - 0x1F3FB) + 1;
    static const char *const male[] = {"man", "men", "boy", "boys", "male", NULL};
    static const char *const female[] = {"woman", "women", "girl", "girls", "female", NULL};
    bool m = has_word(e->name, male), f = has_word(e->name, female);
    e->gender = m && f ? 3 : m ? 1 : f ? 2 : 0;
    static const char *const red[] = {"red", NULL}, *const curly[] = {"curly", NULL},
                             *const white[] = {"white", NULL}, *const bald[] = {"bald", NULL},
                             *const blond[] = {"blond", NULL}, *const hair[] = {"hair", NULL};
    e->hair = 0;
    if (has_word(e->name, bald)) e->hair = 4;
    else if (has_word(e->name, hair)) {
        if (has_word(e->name, red)) e->hair = 1;
        else if (has_word(e->name, curly)) e->hair = 2;
        else if (has_word(e->name, white)) e->hair = 3;
        else if (has_word(e->name, blond)) e->hair = 5;
    }
}

int emoji_parse_file(const char *path, int64_t limit, emoji_list *out, mvae_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return mvae_error_set(err, MVAE_ERR_IO,
                                  "emoji list not found at %s: install it with `sudo apt-get install unicode-data` "
                                  "or set dataset.emoji_test",
                                  path);
        return mvae_error_set(err, MVAE_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    char line[2048], group[256] = "", subgroup[256] = "";
    int rc = MVAE_OK;
    while (fgets(line, sizeof line, f)) {
        out->lines++;
        if (line[0] == '#') {
            if (strncmp(line, "# group:", 8) == 0) snprintf(group, sizeof group, "%s", trim(line + 8));
            else if (strncmp(line, "# subgroup:", 11) == 0) snprintf(subgroup, sizeof subgroup, "%s", trim(line + 11));
            continue;
        }
        char *semi = strchr(line, ';');
        if (!semi) continue; /* blank line */
        *semi = '\0';
        char *hash = strchr(semi + 1, '#');
        if (!hash) continue;
        *hash = '\0';
        if (strcmp(trim(semi + 1), "fully-qualified") != 0) continue;
        if (limit > 0 && out->n >= limit) break;
        emoji_entry e;
        memset(&e, 0, sizeof e);
        char *p = line, *end;
        while (*p) {
            while (*p && isspace((unsigned char)*p)) p++;
            if (!*p) break;
            unsigned long v = strtoul(p, &end, 16);
            if (end == p || v > 0x10FFFF || e.n_cp >= EMOJI_MAX_CP) {
                e.n_cp = -1;
                break;
            }
            e.cp[e.n_cp++] = (uint32_t)v;
            p = end;
        }
        if (e.n_cp < 1) {
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s:%lld: cannot read the code points of a fully-qualified line: "
                                "is it an emoji-test.txt file?", path, (long long)out->lines);
            break;
        }
        /* after '#': the emoji itself, "E<version>", then the name */
        char *q = trim(hash + 1);
        char *sp = strchr(q, ' ');
        q = sp ? trim(sp) : q;
        if (q[0] == 'E' && isdigit((unsigned char)q[1])) {
            sp = strchr(q, ' ');
            q = sp ? trim(sp) : q + strlen(q);
        }
        if (!group[0] || !subgroup[0]) {
            rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s:%lld: a fully-qualified line before any '# group:' / '# subgroup:' "
                                "header: is it an emoji-test.txt file?", path, (long long)out->lines);
            break;
        }
        e.group = intern(&out->groups, &out->n_groups, group);
        e.subgroup = intern(&out->subgroups, &out->n_subgroups, subgroup);
        e.name = strdup(q);
        if (e.group < 0 || e.subgroup < 0 || !e.name) {
            free(e.name);
            rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
            break;
        }
        attributes(&e);
        if (out->n == out->cap) {
            int nc = out->cap ? out->cap * 2 : 1024;
            emoji_entry *ne = realloc(out->e, (size_t)nc * sizeof *ne);
            if (!ne) {
                free(e.name);
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                break;
            }
            out->e = ne;
            out->cap = nc;
        }
        out->e[out->n++] = e;
    }
    fclose(f);
    if (!rc && out->n == 0)
        rc = mvae_error_set(err, MVAE_ERR_FORMAT, "%s holds no fully-qualified emoji lines: is it emoji-test.txt "
                            "(package unicode-data)?", path);
    if (rc) emoji_list_free(out);
    return rc;
}

int emoji_attr_layout(const emoji_list *l, int start[EMOJI_N_BLOCKS + 1]) {
    int sizes[EMOJI_N_BLOCKS] = {l->n_groups, l->n_subgroups, EMOJI_N_SKIN, EMOJI_N_GENDER, EMOJI_N_HAIR};
    start[0] = 0;
    for (int b = 0; b < EMOJI_N_BLOCKS; b++) start[b + 1] = start[b] + sizes[b];
    return start[EMOJI_N_BLOCKS];
}

void emoji_attr_vector(const emoji_list *l, const emoji_entry *e, float *out) {
    int s[EMOJI_N_BLOCKS + 1];
    int K = emoji_attr_layout(l, s);
    memset(out, 0, (size_t)K * sizeof *out);
    out[s[0] + e->group] = 1.0f;
    out[s[1] + e->subgroup] = 1.0f;
    out[s[2] + e->skin] = 1.0f;
    out[s[3] + e->gender] = 1.0f;
    out[s[4] + e->hair] = 1.0f;
}
