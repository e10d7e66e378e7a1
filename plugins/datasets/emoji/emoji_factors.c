/* emoji_factors.c — the factors (role, gender, skin tone) of an emoji's name and the held-out
 * combination split of `split: combinations` (emoji.h; docs/results/compositionality.md).
 *
 *   "woman firefighter: medium-dark skin tone"  -> role "firefighter", gender woman, tone medium-dark
 *   "man: red hair, light skin tone"            -> role "red hair",    gender man,   tone light
 *   "victory hand"                              -> role "victory hand", gender none, tone none
 *   "kiss: woman, man, light skin tone, ..."    -> outside (people in the suffix, two tones)
 */
#define _POSIX_C_SOURCE 200809L
#include "emoji.h"
#include "mvae/rng.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool is_gender_word(const char *w, size_t k) {
    static const char *const words[] = {"man", "woman", "person", "men", "women", "people", NULL};
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == k && strncmp(w, words[i], k) == 0) return true;
    return false;
}

/* append the words of s[0..k) that are not gender words to role (space-separated) */
static void append_words(char *role, size_t len, const char *s, size_t k, bool drop_gender) {
    size_t i = 0;
    while (i < k) {
        while (i < k && s[i] == ' ') i++;
        size_t j = i;
        while (j < k && s[j] != ' ') j++;
        if (j > i && !(drop_gender && is_gender_word(s + i, j - i))) {
            size_t u = strlen(role);
            snprintf(role + u, len - u, "%s%.*s", u ? " " : "", (int)(j - i), s + i);
        }
        i = j;
    }
}

bool emoji_factors(const emoji_entry *e, char *role, size_t len, int *gender, int *tone) {
    if (!e || !e->name || !role || len < 2) return false;
    role[0] = '\0';
    if (e->gender == 3) return false; /* mixed: two people */
    const char *name = e->name, *colon = strstr(name, ": ");
    size_t head = colon ? (size_t)(colon - name) : strlen(name);
    char low[512];
    snprintf(low, sizeof low, "%s", name);
    for (char *p = low; *p; p++) *p = (char)tolower((unsigned char)*p);
    append_words(role, len, low, head < sizeof low ? head : sizeof low - 1, true);
    int tones = 0;
    if (colon) { /* suffix parts: skin tones (at most one) and other qualifiers (hair, ...) */
        const char *p = low + (colon - name) + 2;
        while (*p) {
            const char *q = strstr(p, ", ");
            size_t k = q ? (size_t)(q - p) : strlen(p);
            if (k >= 9 && strncmp(p + k - 9, "skin tone", 9) == 0) tones++;
            else {
                for (size_t i = 0; i < k;) { /* a part naming people: several persons */
                    size_t j = i;
                    while (j < k && p[j] != ' ') j++;
                    if (is_gender_word(p + i, j - i)) return false;
                    i = j + 1;
                }
                append_words(role, len, p, k, false);
            }
            p += k;
            if (*p) p += 2;
        }
    }
    if (tones > 1) return false;
    if (!role[0]) snprintf(role, len, "person");
    *gender = e->gender;
    *tone = e->skin;
    return true;
}

int emoji_holdout_combinations(const int *f, int n, const int n_values[3], double fraction, uint64_t seed,
                               uint8_t *held) {
    if (n < 1) return 0;
    memset(held, 0, (size_t)n);
    /* distinct combinations: the first item of each (items sharing one go together) */
    int64_t *combo = malloc((size_t)n * sizeof *combo);
    int *of = malloc((size_t)n * sizeof *of); /* item -> its combination's first item */
    int *left[3] = {calloc((size_t)n_values[0] + 1, sizeof(int)), calloc((size_t)n_values[1] + 1, sizeof(int)),
                    calloc((size_t)n_values[2] + 1, sizeof(int))};
    int rc = -1;
    if (!combo || !of || !left[0] || !left[1] || !left[2]) goto done;
    int64_t nc = 0;
    for (int i = 0; i < n; i++) {
        of[i] = i;
        for (int j = 0; j < i; j++)
            if (of[j] == j && f[j * 3] == f[i * 3] && f[j * 3 + 1] == f[i * 3 + 1] && f[j * 3 + 2] == f[i * 3 + 2]) {
                of[i] = j;
                break;
            }
        if (of[i] == i) {
            combo[nc++] = i;
            for (int a = 0; a < 3; a++) left[a][f[i * 3 + a]]++; /* seen combinations per value */
        }
    }
    int64_t want = (int64_t)(fraction * (double)nc + 0.5), got = 0;
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    mvae_rng_shuffle(&rng, combo, nc);
    for (int64_t c = 0; c < nc && got < want; c++) {
        int i = (int)combo[c];
        if (left[0][f[i * 3]] < 2 || left[1][f[i * 3 + 1]] < 2 || left[2][f[i * 3 + 2]] < 2) continue;
        for (int a = 0; a < 3; a++) left[a][f[i * 3 + a]]--;
        held[i] = 1;
        got++;
    }
    for (int i = 0; i < n; i++) held[i] = held[of[i]];
    rc = (int)got;
done:
    free(combo), free(of), free(left[0]), free(left[1]), free(left[2]);
    return rc;
}
