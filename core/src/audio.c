/* audio.c — log-mel spectrograms, their inverse (mel pseudo-inverse + Griffin-Lim), resampling
 * and WAV files (mvae/audio.h). Small sizes (n_fft <= 8192, a few dozen frames): plain C, a
 * radix-2 FFT, double precision where sums are long. */
#define _POSIX_C_SOURCE 200809L
#include "mvae/audio.h"
#include "mvae/rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOGMEL_EPS 1e-10
#define PI_D 3.14159265358979323846

void mvae_logmel_default(mvae_logmel_cfg *c) {
    c->sample_rate = 8000;
    c->n_fft = 512;
    c->hop = 256;
    c->n_mels = 32;
    c->fmin = 0.0f;
    c->fmax = 4000.0f;
}

int mvae_logmel_frames(const mvae_logmel_cfg *c, int64_t n) { return (int)(1 + n / c->hop); }

static int cfg_check(const mvae_logmel_cfg *c, mvae_error *err) {
    int nf = c->n_fft;
    if (nf < 8 || nf > 8192 || (nf & (nf - 1)) || c->hop < 1 || c->hop > nf || c->n_mels < 1 ||
        c->n_mels > nf / 2 + 1 || c->sample_rate < 1 || !(c->fmin >= 0) || !(c->fmax > c->fmin) ||
        c->fmax > c->sample_rate / 2.0f + 1e-3f)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "log-mel: bad configuration (rate %d, n_fft %d must be a power of two in 8..8192, "
                              "hop %d in 1..n_fft, n_mels %d in 1..n_fft/2+1, 0 <= fmin %g < fmax %g <= rate/2)",
                              c->sample_rate, nf, c->hop, c->n_mels, c->fmin, c->fmax);
    return MVAE_OK;
}

/* ------------------------------------------------------------------------------------ FFT */
/* In-place radix-2 complex FFT of length n (a power of two); sign -1 forward, +1 inverse
 * (unscaled). */
static void fft(double *re, double *im, int n, int sign) {
    for (int i = 1, j = 0; i < n; i++) {
        int bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        double ang = sign * 2.0 * PI_D / len, wr = cos(ang), wi = sin(ang);
        for (int s = 0; s < n; s += len) {
            double cr = 1.0, ci = 0.0;
            for (int k = 0; k < len / 2; k++) {
                int a = s + k, b = a + len / 2;
                double xr = re[b] * cr - im[b] * ci, xi = re[b] * ci + im[b] * cr;
                re[b] = re[a] - xr; im[b] = im[a] - xi;
                re[a] += xr; im[a] += xi;
                double t = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = t;
            }
        }
    }
}

/* Shared state of one configuration: window, mel filters, FFT buffers. */
typedef struct stft_plan {
    int nf, hop, K, M;
    double *win;  /* [nf] periodic Hann */
    double *mel;  /* [M, K] triangles */
    double *re, *im; /* [nf] */
} stft_plan;

static void plan_free(stft_plan *p) {
    free(p->win);
    free(p->mel);
    free(p->re);
    free(p->im);
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

static int plan_init(stft_plan *p, const mvae_logmel_cfg *c, mvae_error *err) {
    memset(p, 0, sizeof *p);
    if (cfg_check(c, err)) return MVAE_ERR_INVALID;
    p->nf = c->n_fft;
    p->hop = c->hop;
    p->K = c->n_fft / 2 + 1;
    p->M = c->n_mels;
    p->win = malloc((size_t)p->nf * sizeof(double));
    p->mel = calloc((size_t)p->M * p->K, sizeof(double));
    p->re = malloc((size_t)p->nf * sizeof(double));
    p->im = malloc((size_t)p->nf * sizeof(double));
    if (!p->win || !p->mel || !p->re || !p->im) {
        plan_free(p);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "log-mel: out of memory");
    }
    for (int i = 0; i < p->nf; i++) p->win[i] = 0.5 - 0.5 * cos(2.0 * PI_D * i / p->nf);
    double m0 = hz_to_mel(c->fmin), m1 = hz_to_mel(c->fmax);
    for (int m = 0; m < p->M; m++) {
        double lo = mel_to_hz(m0 + (m1 - m0) * m / (p->M + 1));
        double mid = mel_to_hz(m0 + (m1 - m0) * (m + 1) / (p->M + 1));
        double hi = mel_to_hz(m0 + (m1 - m0) * (m + 2) / (p->M + 1));
        for (int k = 0; k < p->K; k++) {
            double f = (double)k * c->sample_rate / p->nf, w = 0.0;
            if (f > lo && f <= mid) w = (f - lo) / (mid - lo);
            else if (f > mid && f < hi) w = (hi - f) / (hi - mid);
            p->mel[(size_t)m * p->K + k] = w;
        }
    }
    return MVAE_OK;
}

/* Frame t of wav (centred, zero outside) -> spectrum re/im [K] (in p->re/p->im). */
static void stft_frame(stft_plan *p, const float *wav, int64_t n, int t) {
    int64_t start = (int64_t)t * p->hop - p->nf / 2;
    for (int i = 0; i < p->nf; i++) {
        int64_t s = start + i;
        p->re[i] = (s >= 0 && s < n) ? wav[s] * p->win[i] : 0.0;
        p->im[i] = 0.0;
    }
    fft(p->re, p->im, p->nf, -1);
}

int mvae_logmel(const mvae_logmel_cfg *c, const float *wav, int64_t n, float *out, mvae_error *err) {
    stft_plan p;
    if (plan_init(&p, c, err)) return err && err->status ? err->status : MVAE_ERR_INVALID;
    int T = mvae_logmel_frames(c, n);
    double *pow_ = malloc((size_t)p.K * sizeof(double));
    if (!pow_) {
        plan_free(&p);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "log-mel: out of memory");
    }
    for (int t = 0; t < T; t++) {
        stft_frame(&p, wav, n, t);
        for (int k = 0; k < p.K; k++) pow_[k] = p.re[k] * p.re[k] + p.im[k] * p.im[k];
        for (int m = 0; m < p.M; m++) {
            const double *w = p.mel + (size_t)m * p.K;
            double s = 0.0;
            for (int k = 0; k < p.K; k++) s += w[k] * pow_[k];
            out[(size_t)m * T + t] = (float)log(s + LOGMEL_EPS);
        }
    }
    free(pow_);
    plan_free(&p);
    return MVAE_OK;
}

#define DB_PER_NEPER 4.342944819032518 /* 10 log10(e) */

void mvae_logmel_normalize(float *x, int64_t n, float floor_db) {
    if (n <= 0) return;
    float peak = x[0];
    for (int64_t i = 1; i < n; i++) peak = x[i] > peak ? x[i] : peak;
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(((double)x[i] - peak) * DB_PER_NEPER / floor_db + 1.0);
        x[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
}

void mvae_logmel_denormalize(float *x, int64_t n, float floor_db) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < 0.0f ? 0.0f : (x[i] > 1.0f ? 1.0f : x[i]);
        x[i] = (float)((v - 1.0) * floor_db / DB_PER_NEPER);
    }
}

/* Solve A x = b for the symmetric positive definite A [n, n] (Cholesky, in place). */
static int cholesky_inverse(double *A, int n, double *inv) {
    for (int j = 0; j < n; j++) {
        double d = A[(size_t)j * n + j];
        for (int k = 0; k < j; k++) d -= A[(size_t)j * n + k] * A[(size_t)j * n + k];
        if (!(d > 0)) return -1;
        d = sqrt(d);
        A[(size_t)j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = A[(size_t)i * n + j];
            for (int k = 0; k < j; k++) s -= A[(size_t)i * n + k] * A[(size_t)j * n + k];
            A[(size_t)i * n + j] = s / d;
        }
    }
    for (int col = 0; col < n; col++) { /* solve L L^T x = e_col */
        double *x = inv + (size_t)col * n; /* symmetric: column = row */
        for (int i = 0; i < n; i++) {
            double s = (i == col);
            for (int k = 0; k < i; k++) s -= A[(size_t)i * n + k] * x[k];
            x[i] = s / A[(size_t)i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) {
            double s = x[i];
            for (int k = i + 1; k < n; k++) s -= A[(size_t)k * n + i] * x[k];
            x[i] = s / A[(size_t)i * n + i];
        }
    }
    return 0;
}

/* Overlap-add of the frames spec (re/im [T, K]) into wav [n], weighted by the window and divided
 * by the summed squared window (the least-squares inverse STFT, Griffin & Lim 1984). */
static void istft(stft_plan *p, const double *sre, const double *sim, int T, float *wav, int64_t n,
                  double *acc, double *norm) {
    memset(acc, 0, (size_t)n * sizeof(double));
    memset(norm, 0, (size_t)n * sizeof(double));
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < p->K; k++) {
            p->re[k] = sre[(size_t)t * p->K + k];
            p->im[k] = sim[(size_t)t * p->K + k];
        }
        for (int k = p->K; k < p->nf; k++) { /* Hermitian symmetry: a real frame */
            p->re[k] = p->re[p->nf - k];
            p->im[k] = -p->im[p->nf - k];
        }
        fft(p->re, p->im, p->nf, +1);
        int64_t start = (int64_t)t * p->hop - p->nf / 2;
        for (int i = 0; i < p->nf; i++) {
            int64_t s = start + i;
            if (s < 0 || s >= n) continue;
            acc[s] += p->re[i] / p->nf * p->win[i];
            norm[s] += p->win[i] * p->win[i];
        }
    }
    for (int64_t s = 0; s < n; s++) wav[s] = norm[s] > 1e-8 ? (float)(acc[s] / norm[s]) : 0.0f;
}

int mvae_logmel_to_audio(const mvae_logmel_cfg *c, const float *logmel, int frames, int iters,
                         uint64_t seed, float *wav, int64_t n, mvae_error *err) {
    if (frames < 1 || n < 1 || iters < 0 || iters > 10000 || !logmel || !wav)
        return mvae_error_set(err, MVAE_ERR_INVALID, "log-mel inverse: frames %d and samples %lld must be >= 1, "
                              "iterations %d in 0..10000", frames, (long long)n, iters);
    stft_plan p;
    if (plan_init(&p, c, err)) return err && err->status ? err->status : MVAE_ERR_INVALID;
    int M = p.M, K = p.K, T = frames;
    double *A = malloc((size_t)M * M * sizeof(double)), *Ai = malloc((size_t)M * M * sizeof(double));
    double *mag = malloc((size_t)T * K * sizeof(double));
    double *sre = malloc((size_t)T * K * sizeof(double)), *sim = malloc((size_t)T * K * sizeof(double));
    double *acc = malloc((size_t)n * sizeof(double)), *norm = malloc((size_t)n * sizeof(double));
    double *mp = malloc((size_t)M * sizeof(double));
    double *pre = malloc((size_t)T * K * sizeof(double)), *pim = malloc((size_t)T * K * sizeof(double));
    int rc = MVAE_OK;
    if (!A || !Ai || !mag || !sre || !sim || !acc || !norm || !mp || !pre || !pim) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "log-mel inverse: out of memory");
        goto done;
    }
    /* P = M^T (M M^T + lambda I)^-1 m: the least-norm power spectrum with these mel energies */
    double tr = 0.0;
    for (int a = 0; a < M; a++)
        for (int b = 0; b < M; b++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) s += p.mel[(size_t)a * K + k] * p.mel[(size_t)b * K + k];
            A[(size_t)a * M + b] = s;
            if (a == b) tr += s;
        }
    for (int a = 0; a < M; a++) A[(size_t)a * M + a] += 1e-4 * tr / M + 1e-12;
    if (cholesky_inverse(A, M, Ai)) {
        rc = mvae_error_set(err, MVAE_ERR_NUMERIC, "log-mel inverse: the mel filterbank is degenerate");
        goto done;
    }
    for (int t = 0; t < T; t++) {
        for (int a = 0; a < M; a++) {
            double s = 0.0;
            for (int b = 0; b < M; b++) s += Ai[(size_t)a * M + b] * (exp((double)logmel[(size_t)b * T + t]) - LOGMEL_EPS);
            mp[a] = s;
        }
        for (int k = 0; k < K; k++) {
            double s = 0.0;
            for (int a = 0; a < M; a++) s += p.mel[(size_t)a * K + k] * mp[a];
            mag[(size_t)t * K + k] = s > 0.0 ? sqrt(s) : 0.0;
        }
    }
    /* Griffin-Lim from a seeded random phase */
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)T * K; i++) {
        double ph = 2.0 * PI_D * mvae_rng_uniform(&rng);
        sre[i] = mag[i] * cos(ph);
        sim[i] = mag[i] * sin(ph);
    }
    /* fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013): the consistent spectrogram S_k
     * extrapolated by 0.99 (S_k - S_{k-1}) before the magnitude is imposed again */
    istft(&p, sre, sim, T, wav, n, acc, norm);
    for (int it = 0; it < iters; it++) {
        for (int t = 0; t < T; t++) {
            stft_frame(&p, wav, n, t);
            for (int k = 0; k < K; k++) {
                size_t q = (size_t)t * K + k;
                double xr = p.re[k], xi = p.im[k];
                if (it > 0) {
                    xr += 0.99 * (p.re[k] - pre[q]);
                    xi += 0.99 * (p.im[k] - pim[q]);
                }
                pre[q] = p.re[k];
                pim[q] = p.im[k];
                double r = hypot(xr, xi), m = mag[q];
                sre[q] = r > 1e-12 ? m * xr / r : m;
                sim[q] = r > 1e-12 ? m * xi / r : 0.0;
            }
        }
        istft(&p, sre, sim, T, wav, n, acc, norm);
    }
    float peak = 0.0f;
    for (int64_t s = 0; s < n; s++) peak = fabsf(wav[s]) > peak ? fabsf(wav[s]) : peak;
    if (peak > 0.0f)
        for (int64_t s = 0; s < n; s++) wav[s] *= 0.9f / peak;
done:
    free(A); free(Ai); free(mag); free(sre); free(sim); free(acc); free(norm); free(mp); free(pre); free(pim);
    plan_free(&p);
    return rc;
}

/* ------------------------------------------------------------------------------ resampling */
static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int mvae_resample(const float *in, int64_t n_in, int rate_in, float *out, int64_t n_out, int rate_out,
                  mvae_error *err) {
    if (rate_in < 1 || rate_out < 1 || n_in < 0 || n_out < 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "resample: rates %d -> %d must be >= 1", rate_in, rate_out);
    double lo = rate_in < rate_out ? rate_in : rate_out;
    double fc = 0.45 * lo / rate_in;             /* cutoff, cycles per input sample */
    double half = 16.0 / (2.0 * fc);             /* 16 zero crossings on each side */
    /* output i sits at input position i * D / L = q + p / L: one filter per phase p (polyphase) */
    int64_t g = gcd64(rate_in, rate_out), L = rate_out / g, D = rate_in / g;
    int H = (int)ceil(half), W = 2 * H + 1;
    if (L > 4096)
        return mvae_error_set(err, MVAE_ERR_INVALID, "resample: %d -> %d Hz needs %lld filter phases (at most 4096)",
                              rate_in, rate_out, (long long)L);
    float *h = malloc((size_t)L * W * sizeof *h);
    if (!h) return mvae_error_set(err, MVAE_ERR_NOMEM, "resample: out of memory");
    for (int64_t p = 0; p < L; p++)
        for (int j = -H; j <= H; j++) {
            double t = j - (double)p / L, x = 2.0 * fc * t;
            double sinc = fabs(x) < 1e-9 ? 1.0 : sin(PI_D * x) / (PI_D * x);
            double w = fabs(t) < half ? 0.5 + 0.5 * cos(PI_D * t / half) : 0.0;
            h[p * W + j + H] = (float)(2.0 * fc * sinc * w);
        }
    for (int64_t i = 0; i < n_out; i++) {
        int64_t q = i * D / L, p = i * D % L;
        const float *hp = h + p * W;
        double s = 0.0;
        for (int j = -H; j <= H; j++) {
            int64_t k = q + j;
            if (k >= 0 && k < n_in) s += (double)in[k] * hp[j + H];
        }
        out[i] = (float)s;
    }
    free(h);
    return MVAE_OK;
}

/* ------------------------------------------------------------------------------------- WAV */
static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static uint32_t get_u32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

int mvae_wav_write(const char *path, const float *wav, int64_t n, int sample_rate, mvae_error *err) {
    if (!path || (!wav && n > 0) || n < 0 || n > 0x3fffffff || sample_rate < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID, "wav: bad arguments for '%s'", path ? path : "(null)");
    uint8_t h[44];
    memcpy(h, "RIFF", 4);
    put_u32(h + 4, (uint32_t)(36 + 2 * n));
    memcpy(h + 8, "WAVEfmt ", 8);
    put_u32(h + 16, 16);
    put_u16(h + 20, 1); /* PCM */
    put_u16(h + 22, 1); /* mono */
    put_u32(h + 24, (uint32_t)sample_rate);
    put_u32(h + 28, (uint32_t)sample_rate * 2);
    put_u16(h + 32, 2);
    put_u16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put_u32(h + 40, (uint32_t)(2 * n));
    size_t plen = strlen(path) + 32;
    char *tmp = malloc(plen);
    int16_t *pcm = malloc((size_t)(n ? n : 1) * sizeof *pcm);
    if (!tmp || !pcm) {
        free(tmp);
        free(pcm);
        return mvae_error_set(err, MVAE_ERR_NOMEM, "wav: out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        float v = wav[i] != wav[i] ? 0.0f : (wav[i] < -1.0f ? -1.0f : (wav[i] > 1.0f ? 1.0f : wav[i]));
        int16_t s = (int16_t)lrintf(v * 32767.0f);
        uint8_t le[2];
        put_u16(le, (uint16_t)s);
        memcpy(&pcm[i], le, 2); /* little-endian bytes whatever the host */
    }
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int rc = MVAE_OK;
    if (!f) rc = mvae_error_set(err, MVAE_ERR_IO, "wav: cannot create '%s': %s", tmp, strerror(errno));
    else {
        bool ok = fwrite(h, sizeof h, 1, f) == 1 && fwrite(pcm, 2, (size_t)n, f) == (size_t)n;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            remove(tmp);
            rc = mvae_error_set(err, MVAE_ERR_IO, "wav: cannot write '%s'", path);
        }
    }
    free(tmp);
    free(pcm);
    return rc;
}

int mvae_wav_read(const char *path, float **wav, int64_t *n, int *sample_rate, mvae_error *err) {
    *wav = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mvae_error_set(err, MVAE_ERR_IO, "wav: cannot open '%s': %s", path, strerror(errno));
    uint8_t h[12], ch[8];
    int rc = MVAE_OK, channels = 0, bits = 0;
    if (fread(h, 12, 1, f) != 1 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
        fclose(f);
        return mvae_error_set(err, MVAE_ERR_FORMAT, "wav: '%s' is not a RIFF/WAVE file", path);
    }
    while (fread(ch, 8, 1, f) == 1) {
        uint32_t len = get_u32(ch + 4);
        if (!memcmp(ch, "fmt ", 4) && len >= 16) {
            uint8_t fm[16];
            if (fread(fm, 16, 1, f) != 1) break;
            channels = get_u16(fm + 2);
            *sample_rate = (int)get_u32(fm + 4);
            bits = get_u16(fm + 14);
            if (get_u16(fm) != 1 || bits != 16 || channels < 1) {
                fclose(f);
                return mvae_error_set(err, MVAE_ERR_FORMAT, "wav: '%s' is not 16-bit PCM", path);
            }
            if (len > 16) fseek(f, (long)(len - 16 + (len & 1)), SEEK_CUR);
        } else if (!memcmp(ch, "data", 4) && channels > 0) {
            int64_t frames = len / (2 * (uint32_t)channels);
            uint8_t *raw = malloc((size_t)len + 1);
            float *out = malloc((size_t)(frames ? frames : 1) * sizeof *out);
            if (!raw || !out || fread(raw, 1, len, f) != len) {
                free(raw);
                free(out);
                fclose(f);
                return mvae_error_set(err, MVAE_ERR_FORMAT, "wav: '%s' is truncated", path);
            }
            for (int64_t i = 0; i < frames; i++) out[i] = (int16_t)get_u16(raw + 2 * channels * i) / 32768.0f;
            free(raw);
            fclose(f);
            *wav = out;
            *n = frames;
            return MVAE_OK;
        } else {
            fseek(f, (long)(len + (len & 1)), SEEK_CUR);
        }
    }
    fclose(f);
    rc = mvae_error_set(err, MVAE_ERR_FORMAT, "wav: '%s' has no fmt/data chunk", path);
    return rc;
}
