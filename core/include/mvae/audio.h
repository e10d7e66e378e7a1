/* mvae/audio.h — audio as data: log-mel spectrograms of a waveform, their inverse (mel
 * pseudo-inverse + Griffin-Lim) so that a generated spectrogram can be listened to, resampling,
 * and WAV output.
 *
 *   mvae_logmel_cfg c;
 *   mvae_logmel_default(&c);                       // 8 kHz, Hann 512, hop 256, centred, 32 mels
 *   int T = mvae_logmel_frames(&c, 8000);          // 32 frames for 1 s
 *   float mel[32 * 32];                            // [n_mels, T], mel 0 = lowest band
 *   mvae_logmel(&c, wav, 8000, mel, &err);         // natural log of mel power (+1e-10)
 *   mvae_logmel_normalize(mel, 32 * 32, 80.0f);    // dB re the clip's peak, floor -80 dB -> [0, 1]
 *   ...                                            // a model generates x [32 * 32] in [0, 1]
 *   mvae_logmel_denormalize(x, 32 * 32, 80.0f);    // back to log power (peak at 0 dB)
 *   mvae_logmel_to_audio(&c, x, T, 64, 1, wav, 8000, &err);   // Griffin-Lim, 64 iterations
 *   mvae_wav_write("sample.wav", wav, 8000, 8000, &err);      // 16-bit PCM mono
 *
 * Framing: frame t covers samples [t*hop - n_fft/2, t*hop + n_fft/2) (zero outside the signal),
 * so frames = 1 + n / hop. The Hann window is n_fft long (periodic). Mel: HTK mel scale
 * (2595 log10(1 + f/700)), n_mels triangles between fmin and fmax on the power spectrum |X|^2,
 * no area normalisation. All functions are pure (no global state) and thread-safe.
 */
#ifndef MVAE_AUDIO_H
#define MVAE_AUDIO_H
#include "mvae/common.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct mvae_logmel_cfg {
    int sample_rate; /* Hz */
    int n_fft;       /* window and FFT length, a power of two (8..8192) */
    int hop;         /* samples between frames, 1..n_fft */
    int n_mels;      /* mel bands, 1..n_fft/2+1 */
    float fmin, fmax;/* Hz, 0 <= fmin < fmax <= sample_rate / 2 */
} mvae_logmel_cfg;

/* 8000 Hz, n_fft 512 (64 ms), hop 256 (50 % overlap), 32 mels over 0..4000 Hz: 1 s -> 32 x 32. */
void mvae_logmel_default(mvae_logmel_cfg *c);
/* Frames for n samples: 1 + n / hop. */
int mvae_logmel_frames(const mvae_logmel_cfg *c, int64_t n);

/* out [n_mels, frames(n)] = ln(mel power + 1e-10), row m = band m (ascending frequency).
 * MVAE_ERR_INVALID for a bad configuration; MVAE_ERR_NOMEM. */
int mvae_logmel(const mvae_logmel_cfg *c, const float *wav, int64_t n, float *out, mvae_error *err);

/* In place: x = clamp((10 log10 e * x - peak_db) / floor_db + 1, 0, 1), where peak_db is the
 * largest value of x in dB: 1 = the clip's loudest band, 0 = floor_db below it or quieter. */
void mvae_logmel_normalize(float *x, int64_t n, float floor_db);
/* In place, the inverse up to the lost peak level: ln power with the peak at 0 dB. Values at 0
 * (the floor) stay at -floor_db dB. */
void mvae_logmel_denormalize(float *x, int64_t n, float floor_db);

/* A waveform whose log-mel is close to logmel [n_mels, frames] (ln power, as mvae_logmel makes
 * it): power spectrum from the mel pseudo-inverse (ridge-regularised, clamped at 0), phase by
 * fast Griffin-Lim (Griffin & Lim 1984; momentum 0.99, Perraudin et al. 2013) from a seeded
 * random start. wav [n] gets n samples (n should
 * be about (frames - 1) * hop); it is scaled to a peak of 0.9. iters: 0..10000. */
int mvae_logmel_to_audio(const mvae_logmel_cfg *c, const float *logmel, int frames, int iters,
                         uint64_t seed, float *wav, int64_t n, mvae_error *err);

/* Band-limited resampling (Hann-windowed sinc, cutoff 0.45 of the lower rate, 32 zero
 * crossings): out [n_out] from in [n_in]; samples past the input's end read as 0. */
int mvae_resample(const float *in, int64_t n_in, int rate_in, float *out, int64_t n_out,
                  int rate_out, mvae_error *err);

/* Write a mono 16-bit PCM WAV (values clamped to [-1, 1]); atomic like the PNG writer. */
int mvae_wav_write(const char *path, const float *wav, int64_t n, int sample_rate, mvae_error *err);
/* Read a mono or stereo (first channel) 16-bit PCM WAV: *wav malloc'd [*n] in [-1, 1]. */
int mvae_wav_read(const char *path, float **wav, int64_t *n, int *sample_rate, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
