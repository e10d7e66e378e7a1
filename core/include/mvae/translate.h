/* mvae/translate.h — cross-modal generation between token modalities (text): translate with
 * z = mean of q(z | x_from) and the target decoder's generate hook, map text <-> ids with a
 * modality's vocabulary (its class_names), and score with corpus BLEU (mvae/text.h).
 *
 *   char out[1024];
 *   mvae_translate_text(model, mvae_model_find(model, "en"), mvae_model_find(model, "vi"),
 *                       "Display the compiler's version.", 1, out, sizeof out, &err);
 */
#ifndef MVAE_TRANSLATE_H
#define MVAE_TRANSLATE_H
#include "mvae/model.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Tokenise text (mvae_text_tokenize) into ids [T = shape[0]] of modality mi: known words get
 * their index in class_names, others "<unk>"; then "<eos>" and -1 padding (truncated to T-1
 * tokens). Returns the number of ids before padding, or -1 when mi has no vocabulary. */
int mvae_text_to_ids(const mvae_modality_info *mi, const char *text, int32_t *ids);
/* ids (up to T, stopping at -1 or "<eos>", skipping "<bos>") -> detokenised text. */
void mvae_ids_to_text(const mvae_modality_info *mi, const int32_t *ids, int T, char *out, size_t cap);
/* n sentences src [n, T_from] (modality from) -> out [n, T_to] (modality to): z = mean of
 * q(z | x_from), decoded greedily (beam <= 1) or by beam search. The decoder of `to` needs the
 * generate hook (gru_text has it). */
int mvae_translate_ids(const mvae_model *m, mvae_ctx *ctx, int from, int to, const int32_t *src, int n,
                       int beam, int32_t *out, mvae_error *err);
int mvae_translate_text(const mvae_model *m, int from, int to, const char *text, int beam, char *out,
                        size_t cap, mvae_error *err);
/* Corpus BLEU-4 of from->to translations of the first max_n (0 = all) samples of split against
 * the dataset's target side, on the dataset's tokens (an <unk> never matches). */
int mvae_translate_bleu(const mvae_model *m, int split, int from, int to, int64_t max_n, int beam,
                        double *bleu, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
