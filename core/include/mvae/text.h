/* mvae/text.h — text helpers shared by the translation dataset, the `translate` command and the
 * BLEU evaluation: one tokeniser, so that training, decoding and scoring see the same tokens.
 *
 * Tokenisation (documented in docs/translation.md):
 *  1. the text is decoded as UTF-8 and lower-cased (ASCII, Latin-1, Latin Extended-A/B where
 *     paired, Latin Extended Additional (Vietnamese), Greek and Cyrillic basic ranges);
 *  2. a token is a maximal run of letters and digits (ASCII alphanumerics and every non-ASCII
 *     code point except the general punctuation block U+2000–U+206F);
 *  3. every other non-space character is a token of its own ("don't" -> don ' t).
 * Detokenisation joins tokens with spaces, then removes the space before . , : ; ! ? ) ] and '
 * and after ( [ and '.
 */
#ifndef MVAE_TEXT_H
#define MVAE_TEXT_H
#include "mvae/common.h"
#include <stdbool.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
bool mvae_utf8_valid(const char *s, size_t n);
/* Tokenise text (NUL-terminated) into buf (NUL-separated tokens, cap bytes); tok[i] points into
 * buf. Returns the number of tokens (at most max_tok; the rest are dropped), or -1 when buf is too
 * small. */
int mvae_text_tokenize(const char *text, char *buf, size_t cap, const char **tok, int max_tok);
/* Join tokens as described above into out (cap bytes, always NUL-terminated). */
void mvae_text_detokenize(const char *const *tok, int n, char *out, size_t cap);

/* Corpus BLEU (Papineni et al. 2002): geometric mean of the modified n-gram precisions for
 * n = 1..max_n (clipped counts summed over the corpus) times the brevity penalty
 * exp(min(0, 1 - r/c)), r = total reference length, c = total candidate length; one reference per
 * sentence. Sentences are token-id sequences ended by a negative id or their length. Returns a
 * value in [0, 1] (0 when some precision is 0 or the candidate corpus is empty). max_n <= 8. */
typedef struct mvae_bleu {
    int max_n;
    double match[8], total[8];
    double cand_len, ref_len;
} mvae_bleu;
void mvae_bleu_init(mvae_bleu *b, int max_n);
/* Add one (candidate, reference) pair: n_cand / n_ref tokens. */
void mvae_bleu_add(mvae_bleu *b, const int32_t *cand, int n_cand, const int32_t *ref, int n_ref);
double mvae_bleu_score(const mvae_bleu *b);

#ifdef __cplusplus
}
#endif
#endif
