/* emoji.h — the emoji dataset's parts that tests reach through the static twin
 * (mvae_dataset_emoji_static): the emoji-test.txt parser, the attribute layout, the captions.
 *
 * Attribute vector layout (dataset option attributes: vector), K = G + S + 6 + 4 + 6 entries, each
 * block a one-hot (exactly one 1 per block):
 *   [0, G)            group      (the groups that hold fully-qualified emoji, in file order; 9 in Unicode 15)
 *   [G, G+S)          subgroup   (likewise; 99 -> K = 124)
 *   next 6            skin tone  none, light, medium-light, medium, medium-dark, dark
 *                                (the first U+1F3FB..1F3FF modifier in the sequence)
 *   next 4            gender     none, man, woman, mixed (words of the name: man/men/boy/boys/male
 *                                vs woman/women/girl/girls/female; both = mixed)
 *   next 6            hair       none, red, curly, white, bald, blond (words of the name)
 * With attributes: separate, the same five blocks are five categorical modalities attr_group,
 * attr_subgroup, attr_skin_tone, attr_gender, attr_hair.
 *
 * Column names (emoji_attr_name): group_<g>, subgroup_<s>, skin_tone_<t>, gender_<x>, hair_<h>, where
 * <...> is the block's value lower-cased, every run of characters other than a-z and 0-9 made one
 * '_' and none at either end: group_smileys_emotion, subgroup_person_role, skin_tone_medium_dark,
 * gender_woman, hair_red. With attributes: each, every selected column is a modality of its own,
 * named like its column, [1] binary (Bernoulli): at most EMOJI_MAX_SELECT of them.
 */
#ifndef MVAE_EMOJI_H
#define MVAE_EMOJI_H
#include "mvae/common.h"
#include "mvae/config.h"
#include "mvae/interfaces.h"

#define EMOJI_MAX_CP 16
#define EMOJI_N_SKIN 6
#define EMOJI_N_GENDER 4
#define EMOJI_N_HAIR 6
#define EMOJI_N_BLOCKS 5
/* attributes: each: the dataset's modalities are image, alpha and the selected attributes, and a
 * dataset has at most MVAE_MAX_MODALITIES */
#define EMOJI_MAX_SELECT (MVAE_MAX_MODALITIES - 2)
#define EMOJI_N_DEFAULT_SELECT 18

typedef struct emoji_entry {
    uint32_t cp[EMOJI_MAX_CP];
    int n_cp;
    int group, subgroup; /* indices into emoji_list.groups / subgroups */
    int skin, gender, hair;
    char *name;          /* the English name (the caption) */
} emoji_entry;

typedef struct emoji_list {
    emoji_entry *e;
    int n, cap;
    char **groups, **subgroups;
    int n_groups, n_subgroups;
    int64_t lines;       /* lines read */
} emoji_list;

extern const char *const emoji_skin_names[EMOJI_N_SKIN];
extern const char *const emoji_gender_names[EMOJI_N_GENDER];
extern const char *const emoji_hair_names[EMOJI_N_HAIR];

/* Parse the fully-qualified lines of emoji-test.txt (the first `limit` of them; 0 = all). A
 * missing file names the Debian package (unicode-data). */
int emoji_parse_file(const char *path, int64_t limit, emoji_list *out, mvae_error *err);
void emoji_list_free(emoji_list *l);
/* K, and the start of each block (block b covers [start[b], start[b+1])); start has 6 entries. */
int emoji_attr_layout(const emoji_list *l, int start[EMOJI_N_BLOCKS + 1]);
/* The attribute vector of entry e into out[K]. */
void emoji_attr_vector(const emoji_list *l, const emoji_entry *e, float *out);
/* Column k of that vector (0 or 1) without the rest. */
float emoji_attr_value(const emoji_list *l, const emoji_entry *e, int k);
/* The name of column k (layout above) into buf; returns the length it needs (snprintf-style). */
int emoji_attr_name(const emoji_list *l, int k, char *buf, size_t len);

/* attributes: each without select: 18 attributes that each hold for 4-59 % of the 3,655 emoji of
 * Unicode 15's list (docs/results/emoji.md has the rates), like the 18 CelebA attributes of
 * Wu & Goodman 2018. */
extern const char *const emoji_default_select[EMOJI_N_DEFAULT_SELECT];
/* The columns of the attributes named in `select` (the dataset's option: a list of names, a single
 * name, or NULL / empty = emoji_default_select, of which the names this list lacks, e.g. with
 * `limit`, are left out with a log line) into cols[EMOJI_MAX_SELECT], in the order given; *n their
 * count. An unknown name (with the nearest names), a name given twice, more than EMOJI_MAX_SELECT
 * names, or a name longer than a modality name may be is an error naming the YAML place. */
int emoji_attr_select(const emoji_list *l, const mvae_cfg_node *select, int *cols, int *n, mvae_error *err);

/* ---- split: combinations (emoji_factors.c): the compositionality probe's data ----
 * The factors of an entry: role = the words of the name's head other than man/woman/person/men/
 * women/people, plus every suffix part that is not a skin tone ("red hair"); "person" when none is
 * left; gender = e->gender (0 none, 1 man, 2 woman); tone = e->skin. Returns false for entries
 * outside the factor model: mixed gender, two or more skin tones, a suffix naming people
 * ("kiss: woman, man"). role receives at most len bytes. */
bool emoji_factors(const emoji_entry *e, char *role, size_t len, int *gender, int *tone);
/* n items with factor values f[3 i + a] in [0, n_values[a]) (a = role, gender, tone): hold out
 * round(fraction x the distinct combinations) of them, drawn by a seeded shuffle, skipping a
 * combination whenever holding it out would leave one of its three values without a seen
 * combination. held[i] = 1 for every item of a held-out combination. Returns the number of
 * combinations held out (fewer than asked when the constraint binds), -1 out of memory. */
int emoji_holdout_combinations(const int *f, int n, const int n_values[3], double fraction, uint64_t seed,
                               uint8_t *held);
#define EMOJI_N_FGENDER 3 /* none, man, woman */

/* The caption (English name) of sample i of a split of an open emoji dataset (its `self`), or NULL. */
const char *mvae_emoji_caption(void *self, int split, int64_t i);
/* Glyphs that failed to render (skipped) when the dataset was opened. */
int64_t mvae_emoji_skipped(void *self);
#endif
