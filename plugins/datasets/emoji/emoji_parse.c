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

float emoji_attr_value(const emoji_list *l, const emoji_entry *e, int k) {
    int s[EMOJI_N_BLOCKS + 1];
    emoji_attr_layout(l, s);
    const int v[EMOJI_N_BLOCKS] = {e->group, e->subgroup, e->skin, e->gender, e->hair};
    for (int b = 0; b < EMOJI_N_BLOCKS; b++)
        if (k >= s[b] && k < s[b + 1]) return v[b] == k - s[b] ? 1.0f : 0.0f;
    return 0.0f;
}

int emoji_attr_name(const emoji_list *l, int k, char *buf, size_t len) {
    static const char *const prefix[EMOJI_N_BLOCKS] = {"group", "subgroup", "skin_tone", "gender", "hair"};
    int s[EMOJI_N_BLOCKS + 1];
    emoji_attr_layout(l, s);
    int b = 0;
    while (b < EMOJI_N_BLOCKS && k >= s[b + 1]) b++;
    if (k < 0 || b == EMOJI_N_BLOCKS) return snprintf(buf, len, "%s", "");
    const char *const *values[EMOJI_N_BLOCKS] = {(const char *const *)l->groups, (const char *const *)l->subgroups,
                                                 emoji_skin_names, emoji_gender_names, emoji_hair_names};
    const char *v = values[b][k - s[b]];
    /* <prefix>_<value>: lower-case a-z0-9, every other run one '_', none at the end */
    char tmp[512];
    size_t n = (size_t)snprintf(tmp, sizeof tmp, "%s", prefix[b]);
    bool gap = true;
    for (const char *p = v; *p && n + 2 < sizeof tmp; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) && c < 0x80) {
            if (gap) tmp[n++] = '_';
            tmp[n++] = (char)tolower(c);
            gap = false;
        } else {
            gap = true;
        }
    }
    tmp[n] = '\0';
    return snprintf(buf, len, "%s", tmp);
}

const char *const emoji_default_select[EMOJI_N_DEFAULT_SELECT] = {
    "group_smileys_emotion", "group_people_body", "group_animals_nature", "group_travel_places", "group_objects",
    "group_symbols", "group_flags", "subgroup_person_role", "subgroup_family", "subgroup_person_sport",
    "subgroup_person_activity", "skin_tone_light", "skin_tone_medium_light", "skin_tone_medium",
    "skin_tone_medium_dark", "skin_tone_dark", "gender_man", "gender_woman",
};

/* The column named `name`, or -1. */
static int find_column(char *const *names, int K, const char *name) {
    for (int k = 0; k < K; k++)
        if (strcmp(names[k], name) == 0) return k;
    return -1;
}

/* The edit distance of word to a column's name or to its value alone (woman for gender_woman). */
static int name_distance(const char *word, const char *name) {
    static const char *const prefix[] = {"group_", "subgroup_", "skin_tone_", "gender_", "hair_", NULL};
    int d = mvae_edit_distance(word, name);
    for (int i = 0; prefix[i]; i++)
        if (strncmp(name, prefix[i], strlen(prefix[i])) == 0) {
            int v = mvae_edit_distance(word, name + strlen(prefix[i]));
            if (v < d) d = v;
        }
    return d;
}

/* "a, b, c": up to 5 names but `skip` closest to `word` (edit distance to the name or to its value
 * within mvae_nearest's bound), then names that contain it. */
static void near_names(char *const *names, int K, const char *word, const char *skip, char *out, size_t len) {
    int lim = (int)strlen(word) / 3 > 2 ? (int)strlen(word) / 3 : 2, shown = 0;
    out[0] = '\0';
    for (int d = 0; d <= lim && shown < 5; d++)
        for (int k = 0; k < K && shown < 5; k++)
            if (names[k] != skip && name_distance(word, names[k]) == d) {
                size_t u = strlen(out);
                snprintf(out + u, len - u, "%s%s", shown++ ? ", " : "", names[k]);
            }
    for (int k = 0; k < K && shown < 5 && word[0]; k++)
        if (names[k] != skip && strstr(names[k], word) && name_distance(word, names[k]) > lim) {
            size_t u = strlen(out);
            snprintf(out + u, len - u, "%s%s", shown++ ? ", " : "", names[k]);
        }
}

int emoji_attr_select(const emoji_list *l, const mvae_cfg_node *select, int *cols, int *n, mvae_error *err) {
    *n = 0;
    int s[EMOJI_N_BLOCKS + 1];
    const int K = emoji_attr_layout(l, s);
    char **names = calloc((size_t)K, sizeof *names);
    if (!names) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int rc = MVAE_OK;
    for (int k = 0; k < K && !rc; k++) {
        int need = emoji_attr_name(l, k, NULL, 0);
        if (!(names[k] = malloc((size_t)need + 1))) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        else emoji_attr_name(l, k, names[k], (size_t)need + 1);
    }
    char w[256];
    const mvae_cfg_node *const *items = NULL;
    int count = 0;
    if (!rc && select) {
        if (select->kind == MVAE_CFG_SCALAR && select->value && select->value[0]) {
            items = &select;
            count = 1;
        } else if (select->kind == MVAE_CFG_SEQ) {
            items = (const mvae_cfg_node *const *)select->items;
            count = select->n_items;
        } else if (select->kind == MVAE_CFG_MAP) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: dataset.select must be a list of attribute names, e.g. "
                                "[gender_woman, skin_tone_dark]", mvae_cfg_where(select, w, sizeof w));
        }
    }
    if (!rc && count > EMOJI_MAX_SELECT)
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: dataset.select names %d attributes; at most %d: each is a modality, "
                            "and a dataset has at most %d (image, alpha and %d attributes)",
                            mvae_cfg_where(select, w, sizeof w), count, EMOJI_MAX_SELECT, MVAE_MAX_MODALITIES,
                            EMOJI_MAX_SELECT);
    for (int i = 0; !rc && i < count; i++) {
        const mvae_cfg_node *it = items[i];
        const char *name = it->kind == MVAE_CFG_SCALAR && it->value ? it->value : "";
        int k = find_column(names, K, name);
        if (k < 0) {
            const char *best = mvae_nearest(name, (const char *const *)names, K);
            char near[400];
            near_names(names, K, name, best, near, sizeof near);
            rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                "%s: dataset.select[%d]: no attribute '%s'%s%s%s%s%s; names are group_<group>, "
                                "subgroup_<subgroup>, skin_tone_{none,light,medium_light,medium,medium_dark,dark}, "
                                "gender_{none,man,woman,mixed}, hair_{none,red,curly,white,bald,blond} (the list's "
                                "groups and subgroups lower-cased, '_' between words)",
                                mvae_cfg_where(it, w, sizeof w), i, name, best ? " (did you mean '" : "",
                                best ? best : "", best ? "'?)" : "", near[0] ? (best ? "; also close: " : "; close: ") : "", near);
            break;
        }
        for (int j = 0; j < *n && !rc; j++)
            if (cols[j] == k)
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: dataset.select[%d]: '%s' is listed twice",
                                    mvae_cfg_where(it, w, sizeof w), i, name);
        if (!rc && strlen(name) >= MVAE_NAME_MAX)
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: dataset.select[%d]: '%s' is longer than the %d characters "
                                "a modality name may have", mvae_cfg_where(it, w, sizeof w), i, name, MVAE_NAME_MAX - 1);
        if (!rc) cols[(*n)++] = k;
    }
    if (!rc && count == 0) {
        char missing[512] = "";
        for (int i = 0; i < EMOJI_N_DEFAULT_SELECT; i++) {
            int k = find_column(names, K, emoji_default_select[i]);
            if (k >= 0) {
                cols[(*n)++] = k;
            } else {
                size_t u = strlen(missing);
                snprintf(missing + u, sizeof missing - u, "%s%s", u ? ", " : "", emoji_default_select[i]);
            }
        }
        if (missing[0])
            MVAE_INFO("emoji: the default attributes %s are not in this list (limit?): left out", missing);
        if (*n == 0)
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "emoji: none of the default attributes is in this list: name "
                                "them in dataset.select");
    }
    for (int k = 0; k < K; k++) free(names[k]);
    free(names);
    return rc;
}
