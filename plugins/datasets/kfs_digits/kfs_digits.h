/* kfs_digits.h — the parts of the kfs_digits dataset shared between its files (glyphs, speech).
 * Not a public header: the plugin exports only its descriptor and mvae_kfs_persian_font_check. */
#ifndef MVAE_KFS_DIGITS_H
#define MVAE_KFS_DIGITS_H
#include "mvae/common.h"
#include "mvae/rng.h"

#define KFS_SIDE 28            /* image side */
#define KFS_AUDIO_RATE 8000    /* Hz */
#define KFS_AUDIO_LEN 8000     /* 1 s */
#define KFS_MELS 32
#define KFS_FRAMES 32
#define KFS_FLOOR_DB 80.0f     /* normalisation: 0 = 80 dB below the clip's loudest band */
#define KFS_N_ACCENTS 8

/* ---- speech (kfs_speech.c) ---- */
typedef struct kfs_voice_params {
    int accent;   /* index into kfs_accents */
    int variant;  /* index into kfs_variants */
    int speed;    /* words per minute */
    int pitch;    /* 0..99 */
    int range;    /* 0..100 */
    int shift;    /* centre offset jitter in samples (at 8 kHz) */
} kfs_voice_params;

extern const char *const kfs_accents[KFS_N_ACCENTS];
extern const char *const kfs_variants[];   /* NULL-terminated */
extern const int kfs_variant_unseen[];     /* 1 = held out for test-unseen, same order */
int kfs_n_variants(void);

/* Speak the English words of digits[0..n) with p[0..n) and store their normalised log-mels
 * (KFS_MELS x KFS_FRAMES each, mel 0 = lowest band, [0, 1] quantised to 8 bits) in out. Runs
 * espeak-ng in a fresh child process (kfs_speech.c says why), so the result depends only on the
 * arguments. A missing library data or voice names the Debian package (espeak-ng-data). */
int kfs_speak_batch(const int *digits, const kfs_voice_params *p, int64_t n, uint8_t *out, mvae_error *err);
/* The espeak-ng version string (part of the cache key). */
const char *kfs_speech_version(void);

#endif
