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

/* Start espeak-ng (once per process) and check that every accent and variant exists. A missing
 * library data or voice names the Debian package (espeak-ng-data). */
int kfs_speech_init(mvae_error *err);
/* Speak the English word of `digit` with p, and make the normalised log-mel
 * out [KFS_MELS, KFS_FRAMES] in [0, 1] (mel 0 = lowest band); wav8k, when not NULL, gets the
 * 1 s waveform [KFS_AUDIO_LEN] at 8 kHz. Not thread-safe (espeak-ng is one global state). */
int kfs_speak(int digit, const kfs_voice_params *p, float *out, float *wav8k, mvae_error *err);
/* The espeak-ng version string (part of the cache key). */
const char *kfs_speech_version(void);

#endif
