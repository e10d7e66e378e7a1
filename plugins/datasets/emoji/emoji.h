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
 */
#ifndef MVAE_EMOJI_H
#define MVAE_EMOJI_H
#include "mvae/common.h"

#define EMOJI_MAX_CP 16
#define EMOJI_N_SKIN 6
#define EMOJI_N_GENDER 4
#define EMOJI_N_HAIR 6
#define EMOJI_N_BLOCKS 5

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

/* The caption (English name) of sample i of a split of an open emoji dataset (its `self`), or NULL. */
const char *mvae_emoji_caption(void *self, int split, int64_t i);
/* Glyphs that failed to render (skipped) when the dataset was opened. */
int64_t mvae_emoji_skipped(void *self);
#endif
