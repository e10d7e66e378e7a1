/* kfs_speech.c — spoken digits for kfs_digits: English "zero".."nine" synthesised in-process
 * with libespeak-ng (22,050 Hz), resampled to 8 kHz, trimmed at -40 dB re the loudest 10 ms
 * frame, placed in the middle of 1 s (+/- a jitter), then a 32 x 32 log-mel (mvae/audio.h)
 * normalised to [0, 1]: dB re the clip's loudest band, floor -80 dB.
 *
 * "Speakers" are accent x variant pairs; each utterance also draws speed, pitch and intonation
 * range (docs/kfs_digits.md). espeak-ng output is deterministic for given parameters.
 */
#define _DEFAULT_SOURCE
#include "kfs_digits.h"
#include "mvae/audio.h"

#include <espeak-ng/speak_lib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* espeak-ng voice names: British English is "en" (espeak_SetVoiceByName refuses "en-gb", which is
 * only its language tag) */
const char *const kfs_accents[KFS_N_ACCENTS] = {"en-029", "en", "en-gb-scotland", "en-gb-x-gbclan",
                                                "en-gb-x-gbcwmd", "en-gb-x-rp", "en-us", "en-us-nyc"};
/* espeak-ng-data/voices/!v variants: novelty ones (Demonic, robosoft*, UniRobot, Tweaky,
 * anikaRobot, announcer, fast, Mr serious, whisper, croak) left out. The last 10 are held out for
 * test-unseen (4 of them female: f4, Andrea, linda, shelby). */
const char *const kfs_variants[] = {
    "m1", "m2", "m3", "m4", "m6", "m8", "f1", "f2", "f3", "f5", "klatt", "klatt2", "klatt4",
    "Alex", "Alicia", "Annie", "adam", "aunty", "belinda", "benjamin", "boris", "caleb", "ed",
    "edward", "john", "max", "michel", "norbert", "paul", "quincy", "rob", "robert", "steph",
    "travis", "victor", "zac",
    /* held out */
    "m5", "m7", "f4", "Andrea", "linda", "david", "klatt3", "shelby", "grandpa", "Mike", NULL};
const int kfs_variant_unseen[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
_Static_assert(sizeof kfs_variant_unseen / sizeof kfs_variant_unseen[0] ==
                   sizeof kfs_variants / sizeof kfs_variants[0] - 1,
               "one held-out flag per variant");

int kfs_n_variants(void) { return (int)(sizeof kfs_variants / sizeof kfs_variants[0]) - 1; }

static const char *const words[10] = {"zero", "one", "two", "three", "four",
                                      "five", "six", "seven", "eight", "nine"};

static int g_rate = 0;             /* espeak's sample rate once started */

/* The synthesis callback appends to this buffer. */
typedef struct pcm_buf {
    short *s;
    int n, cap;
    int oom;
} pcm_buf;
static pcm_buf g_pcm;

static int synth_cb(short *wav, int n, espeak_EVENT *ev) {
    (void)ev;
    if (!wav || n <= 0) return 0;
    if (g_pcm.n + n > g_pcm.cap) {
        int cap = g_pcm.cap ? g_pcm.cap : 32768;
        while (cap < g_pcm.n + n) cap *= 2;
        short *p = realloc(g_pcm.s, (size_t)cap * sizeof *p);
        if (!p) {
            g_pcm.oom = 1;
            return 1; /* abort synthesis */
        }
        g_pcm.s = p;
        g_pcm.cap = cap;
    }
    memcpy(g_pcm.s + g_pcm.n, wav, (size_t)n * sizeof *wav);
    g_pcm.n += n;
    return 0;
}

const char *kfs_speech_version(void) {
    const char *path = NULL;
    return espeak_Info(&path); /* the version string; needs no running synthesiser */
}

/* Start espeak-ng in this (child) process and check every accent and variant. */
static int speech_start(mvae_error *err) {
    int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);
    if (rate <= 0)
        return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: espeak-ng cannot start (its data is missing?): "
                              "install it with `sudo apt-get install espeak-ng-data libespeak-ng1`");
    espeak_SetSynthCallback(synth_cb);
    g_rate = rate;
    const char *path = NULL;
    espeak_Info(&path);
    for (int a = 0; a < KFS_N_ACCENTS; a++)
        if (espeak_SetVoiceByName(kfs_accents[a]) != EE_OK)
            return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: espeak-ng has no voice '%s': install it with "
                                  "`sudo apt-get install espeak-ng-data`", kfs_accents[a]);
    for (int v = 0; kfs_variants[v]; v++) {
        char f[4200];
        struct stat st;
        snprintf(f, sizeof f, "%s/voices/!v/%s", path ? path : "", kfs_variants[v]);
        if (stat(f, &st) != 0)
            return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: espeak-ng voice variant '%s' not found at %s: install "
                                  "it with `sudo apt-get install espeak-ng-data`", kfs_variants[v], f);
    }
    return MVAE_OK;
}

static int speak_one(int digit, const kfs_voice_params *p, float *out, float *wav8k, mvae_error *err) {
    char voice[64];
    snprintf(voice, sizeof voice, "%s+%s", kfs_accents[p->accent], kfs_variants[p->variant]);
    if (espeak_SetVoiceByName(voice) != EE_OK)
        return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: espeak-ng cannot select the voice '%s' (package espeak-ng-data)", voice);
    espeak_SetParameter(espeakRATE, p->speed, 0);
    espeak_SetParameter(espeakPITCH, p->pitch, 0);
    espeak_SetParameter(espeakRANGE, p->range, 0);
    g_pcm.n = 0;
    g_pcm.oom = 0;
    const char *w = words[digit];
    if (espeak_Synth(w, strlen(w) + 1, 0, POS_CHARACTER, 0, espeakCHARS_AUTO, NULL, NULL) != EE_OK ||
        espeak_Synchronize() != EE_OK || g_pcm.oom || g_pcm.n < 1)
        return mvae_error_set(err, g_pcm.oom ? MVAE_ERR_NOMEM : MVAE_ERR_IO,
                              "kfs_digits: espeak-ng failed to speak '%s' with voice '%s'", w, voice);
    /* 22,050 Hz -> 8 kHz */
    int64_t n_in = g_pcm.n, n8 = n_in * KFS_AUDIO_RATE / g_rate;
    float *in = malloc((size_t)n_in * sizeof *in), *x = malloc((size_t)(n8 ? n8 : 1) * sizeof *x);
    float *clip = calloc(KFS_AUDIO_LEN, sizeof *clip);
    int rc = MVAE_OK;
    if (!in || !x || !clip) {
        rc = mvae_error_set(err, MVAE_ERR_NOMEM, "kfs_digits: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n_in; i++) in[i] = g_pcm.s[i] / 32768.0f;
    if ((rc = mvae_resample(in, n_in, g_rate, x, n8, KFS_AUDIO_RATE, err))) goto done;
    /* trim: 10 ms frames whose power is within 40 dB of the loudest frame */
    const int fr = KFS_AUDIO_RATE / 100;
    int64_t nfr = n8 / fr, first = -1, last = -1;
    double peak = 0.0;
    for (int64_t f = 0; f < nfr; f++) {
        double e = 0.0;
        for (int i = 0; i < fr; i++) e += (double)x[f * fr + i] * x[f * fr + i];
        peak = e > peak ? e : peak;
    }
    for (int64_t f = 0; f < nfr; f++) {
        double e = 0.0;
        for (int i = 0; i < fr; i++) e += (double)x[f * fr + i] * x[f * fr + i];
        if (e >= peak * 1e-4) {
            if (first < 0) first = f;
            last = f;
        }
    }
    if (first < 0) {
        rc = mvae_error_set(err, MVAE_ERR_NUMERIC, "kfs_digits: espeak-ng gave silence for '%s' (voice '%s')", w, voice);
        goto done;
    }
    int64_t a = first * fr, len = (last + 1 - first) * fr;
    if (len > KFS_AUDIO_LEN) { /* centre-crop */
        a += (len - KFS_AUDIO_LEN) / 2;
        len = KFS_AUDIO_LEN;
    }
    int64_t off = (KFS_AUDIO_LEN - len) / 2 + p->shift;
    if (off < 0) off = 0;
    if (off + len > KFS_AUDIO_LEN) off = KFS_AUDIO_LEN - len;
    memcpy(clip + off, x + a, (size_t)len * sizeof *clip);
    if (wav8k) memcpy(wav8k, clip, KFS_AUDIO_LEN * sizeof *clip);
    mvae_logmel_cfg c;
    mvae_logmel_default(&c);
    if ((rc = mvae_logmel(&c, clip, KFS_AUDIO_LEN, out, err))) goto done;
    mvae_logmel_normalize(out, KFS_MELS * KFS_FRAMES, KFS_FLOOR_DB);
done:
    free(in);
    free(x);
    free(clip);
    return rc;
}

/* espeak-ng keeps state from one utterance to the next (its output for the same text and
 * parameters changes with what was said before, and espeak_Terminate + espeak_Initialize does not
 * return in this version), so a batch is synthesised in a child process that starts espeak-ng
 * fresh: the audio then depends only on the batch's parameters and order. The child sends a
 * status, a message and the batch through a pipe. */
static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}
static int read_all(int fd, void *p, size_t n) {
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

int kfs_speak_batch(const int *digits, const kfs_voice_params *p, int64_t n, uint8_t *out, mvae_error *err) {
    int fd[2];
    if (pipe(fd)) return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: pipe failed");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: fork failed");
    }
    if (pid == 0) { /* the child: synthesise, send, leave without running the parent's atexit */
        close(fd[0]);
        mvae_error e = {0};
        int rc = speech_start(&e);
        float mel[KFS_MELS * KFS_FRAMES];
        uint8_t *q = malloc((size_t)KFS_MELS * KFS_FRAMES * (size_t)(n > 0 ? n : 1));
        if (!rc && !q) rc = mvae_error_set(&e, MVAE_ERR_NOMEM, "kfs_digits: out of memory");
        for (int64_t i = 0; !rc && i < n; i++) {
            rc = speak_one(digits[i], &p[i], mel, NULL, &e);
            for (int j = 0; !rc && j < KFS_MELS * KFS_FRAMES; j++) q[i * KFS_MELS * KFS_FRAMES + j] = (uint8_t)lrintf(mel[j] * 255.0f);
        }
        int32_t st = rc;
        int bad = write_all(fd[1], &st, sizeof st) || write_all(fd[1], e.msg, sizeof e.msg);
        if (!rc && !bad) bad = write_all(fd[1], q, (size_t)KFS_MELS * KFS_FRAMES * (size_t)n);
        close(fd[1]);
        _exit(bad ? 1 : 0);
    }
    close(fd[1]);
    int32_t st = -1;
    char msg[MVAE_ERROR_MSG_MAX] = "";
    int bad = read_all(fd[0], &st, sizeof st) || read_all(fd[0], msg, sizeof msg);
    if (!bad && st == 0) bad = read_all(fd[0], out, (size_t)KFS_MELS * KFS_FRAMES * (size_t)n);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!bad && st != 0) return mvae_error_set(err, st, "%s", msg);
    if (bad || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return mvae_error_set(err, MVAE_ERR_IO, "kfs_digits: the speech synthesis process failed (exit status %d)", status);
    return MVAE_OK;
}
