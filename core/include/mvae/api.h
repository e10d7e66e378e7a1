/* mvae/api.h — a small, stable C API over runs: train, open a run directory, encode, decode,
 * sample and evaluate on caller arrays. The Python package `mvae` (python/mvae, docs/python.md)
 * is built on it alone; any other binding or program may use it the same way.
 *
 *   char msg[MVAE_API_MSG_MAX];
 *   mvae_run *run;
 *   if (mvae_run_open("runs/quickstart", "best", NULL, 0, 0, &run, msg, sizeof msg)) { puts(msg); ... }
 *   mvae_arrays *x;
 *   mvae_arrays_new(run, 100, &x, msg, sizeof msg);
 *   mvae_arrays_set(x, "image", pixels, 100 * 784, msg, sizeof msg);   // float32 [100, 1, 28, 28]
 *   float *mu = malloc(100 * mvae_run_latent_dim(run) * sizeof(float));
 *   mvae_run_encode(run, x, "image", 0, mu, NULL, NULL, msg, sizeof msg);   // mean of q(z | image)
 *   mvae_arrays_free(x);
 *   mvae_run_close(run);
 *
 * Rules that keep it stable and easy to bind (ctypes, cffi):
 *  - handles are opaque (mvae_run, mvae_arrays); only scalars, NUL-terminated strings and flat
 *    row-major arrays cross the API: float32 for images, vectors and z, int32 for class indices
 *    and tokens, exactly as the modality's type says (mvae/interfaces.h);
 *  - every function that can fail returns MVAE_OK (0) or an mvae_status (mvae/common.h) and
 *    writes mvae's message (the same text the `mvae` command prints) into msg, a caller buffer of
 *    msg_len bytes (msg may be NULL); no struct layout needs mirroring;
 *  - strings returned as `const char *` belong to the handle they came from; strings returned
 *    through `char **` are malloc'd and freed with mvae_api_free.
 *
 * Versioning, like the plugin ABI (mvae/plugin.h): MVAE_API_VERSION_MAJOR changes when a function
 * is removed or its signature or meaning changes; MVAE_API_VERSION_MINOR when functions are added.
 * A binding written against MAJOR.MINOR works with any library of the same major and a minor at
 * least as high; mvae_api_version() tells what the running library has. History:
 *   1.0  run directories, arrays (with per-sample presence), encode, decode, sample, evaluate,
 *        train with hooks.
 *
 * Threads: a mvae_run and the arrays made for it belong to one thread at a time. Different runs
 * (and a training) may be used from different threads at once: the core's GEMM thread pool
 * serialises its callers. The log level and sink are process-wide; training hooks run on the
 * thread that called mvae_api_train.
 */
#ifndef MVAE_API_H
#define MVAE_API_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define MVAE_API_VERSION_MAJOR 1
#define MVAE_API_VERSION_MINOR 0
/* (major << 16) | minor of the running library */
#define MVAE_API_VERSION ((MVAE_API_VERSION_MAJOR << 16) | MVAE_API_VERSION_MINOR)
int mvae_api_version(void);
/* mvae's own version ("0.1.0"), for messages */
const char *mvae_api_library_version(void);
/* A room for any message: mvae's messages are at most this long (MVAE_ERROR_MSG_MAX). */
#define MVAE_API_MSG_MAX 1024
/* Free what a `char **` output returned (NULL is a no-op). */
void mvae_api_free(void *p);
/* The status's short name: "ok", "invalid", "io", "format", "plugin", "numeric", "nomem",
 * "interrupted". */
const char *mvae_api_status_name(int status);

/* The logger (mvae/common.h): level 0 debug, 1 info, 2 warn, 3 error; returns the previous
 * level. sink NULL restores the default (stderr). The sink MAY be called from any thread that
 * logs (in practice the calling thread). */
int mvae_api_set_log_level(int level);
typedef void (*mvae_api_log_fn)(int level, const char *msg, void *user);
void mvae_api_set_log_sink(mvae_api_log_fn sink, void *user);

/* ---- training ---- */
/* Hooks: both run on the calling thread; a nonzero return stops training (the call then returns
 * MVAE_ERR_INTERRUPTED and the run directory holds the last completed epoch, so that a call with
 * MVAE_API_RESUME continues it). on_batch: after every optimizer step (batch from 1; loss: the
 * epoch's running mean); a stop leaves the epoch's partial work unsaved. on_epoch: after the
 * epoch's metrics.jsonl line and checkpoints are written; line: that JSON line. After the last
 * epoch there is nothing left to stop: the evaluation follows. */
typedef int (*mvae_api_batch_fn)(void *user, int epoch, int64_t batch, int64_t n_batches, double loss);
typedef int (*mvae_api_epoch_fn)(void *user, const char *line);
enum {
    MVAE_API_RESUME = 1, /* continue run_dir (experiment must be NULL; sets may name eval.* only) */
    MVAE_API_FORCE = 2,  /* with RESUME: accept a checkpoint of a different experiment fingerprint */
    MVAE_API_QUIET = 4,  /* no progress output on stderr (log lines still go to the logger) */
};
/* `mvae train EXPERIMENT --set S... --out RUN_DIR` (or `--resume RUN_DIR`): trains, evaluates
 * and writes the run directory. sets: n_sets "key=value" overrides. run_dir NULL (new runs
 * only): runs/<name>-<date>-<time>, as the command. *run_dir_out (may be NULL) receives the run
 * directory; *metrics_out (may be NULL) the run's metrics.json text; both malloc'd, also set
 * (when known) on failure, e.g. after an interruption. */
int mvae_api_train(const char *experiment, const char *const *sets, int n_sets, const char *run_dir, int flags,
                   mvae_api_batch_fn on_batch, mvae_api_epoch_fn on_epoch, void *user, char **run_dir_out,
                   char **metrics_out, char *msg, size_t msg_len);

/* ---- runs ---- */
typedef struct mvae_run mvae_run;
/* Open a run directory as `mvae eval|sample RUN_DIR` do: its config.yaml (with sets: eval.*
 * overrides only), the plugins found as the command finds them ($MVAE_PLUGIN_PATH, the build
 * tree or the install prefix), the dataset, and checkpoint "last" or "best" (NULL = "last")
 * after checking its metadata and experiment fingerprint (force: load a different one). */
int mvae_run_open(const char *run_dir, const char *checkpoint, const char *const *sets, int n_sets, int force,
                  mvae_run **out, char *msg, size_t msg_len);
void mvae_run_close(mvae_run *run); /* NULL is a no-op */
const char *mvae_run_dir(const mvae_run *run);
const char *mvae_run_checkpoint(const mvae_run *run); /* the checkpoint file loaded */
int64_t mvae_run_epoch(const mvae_run *run);          /* epochs the checkpoint has trained */
int mvae_run_latent_dim(const mvae_run *run);
/* The resolved config (YAML text, as config.yaml), malloc'd; NULL when out of memory. */
char *mvae_run_config(const mvae_run *run);

/* The model's modalities (what encode/decode name) and the dataset's inputs (what arrays hold; a
 * derived modality of `transforms:` is computed from its input). Both usually coincide. */
int mvae_run_n_modalities(const mvae_run *run);
const char *mvae_run_modality_name(const mvae_run *run, int k); /* NULL out of range */
int mvae_run_n_inputs(const mvae_run *run);
const char *mvae_run_input_name(const mvae_run *run, int i);
/* By name, a modality or an input: its type ("image", "binary", "categorical", "tokens",
 * "audio", "real"; NULL: no such name), per-sample shape (returns ndim 1..3, -1 unknown name),
 * classes (categorical: classes, tokens: vocabulary, else 0) and class c's name (NULL: none). */
const char *mvae_run_type(const mvae_run *run, const char *name);
int mvae_run_shape(const mvae_run *run, const char *name, int64_t shape[3]);
int mvae_run_classes(const mvae_run *run, const char *name);
const char *mvae_run_class_name(const mvae_run *run, const char *name, int c);
/* Model modalities only: 1 when it has an encoder (q(z | .) can be given it), 0 decoder-only,
 * -1 unknown; its likelihood ("bernoulli", "gaussian", "laplace", "categorical"; NULL unknown). */
int mvae_run_encodable(const mvae_run *run, const char *name);
const char *mvae_run_likelihood(const mvae_run *run, const char *name);

/* ---- arrays: n samples of some of the run's inputs, in memory ---- */
typedef struct mvae_arrays mvae_arrays;
int mvae_arrays_new(const mvae_run *run, int64_t n, mvae_arrays **out, char *msg, size_t msg_len);
void mvae_arrays_free(mvae_arrays *x); /* NULL is a no-op */
int64_t mvae_arrays_size(const mvae_arrays *x);
/* Copy input `name`: count = n * numel values, float32 or int32 (index inputs: categorical,
 * tokens) by its type. Checked: finite values; images and binary vectors in [0, 1]; classes in
 * [0, classes); tokens in [-1, vocabulary). An input never set is absent for every sample. */
int mvae_arrays_set(mvae_arrays *x, const char *name, const void *data, int64_t count, char *msg, size_t msg_len);
/* Per-sample presence of input `name`, which x must hold: present[i] = 0 marks sample i as not
 * having it (its values are then ignored), as a dataset with missing data does; n = the arrays'
 * size. Without it every sample has the input. encode and sample condition each sample on the
 * given modalities it has (q(z | .) of a sample with none of them is the fusion's empty product:
 * the prior for poe); evaluate refuses missing data (a test split is complete). */
int mvae_arrays_set_present(mvae_arrays *x, const char *name, const uint8_t *present, int64_t n, char *msg,
                            size_t msg_len);

/* ---- inference (no gradients; the run's eval.batch_size rows at a time) ---- */
/* q(z | x_given) for every sample of x: given = "image" or "image,label" (modalities with an
 * encoder whose inputs x holds). Outputs [n, latent_dim], each MAY be NULL: mean (the fusion's
 * point estimate, the z the evaluation's accuracy_mean_z decodes), logvar (Gaussian fusions
 * such as poe, and a mixture of one component; a mixture of several has none: an error), z (one
 * draw, seeded by seed; a mixture draws one component per sample by its weight). */
int mvae_run_encode(mvae_run *run, const mvae_arrays *x, const char *given, uint64_t seed, float *mean,
                    float *logvar, float *z, char *msg, size_t msg_len);
/* Floats per sample that decode writes for modality `name`: numel of its shape, or classes for
 * a categorical one (-1: unknown name or a token modality, which decode does not handle). */
int64_t mvae_run_decode_size(const mvae_run *run, const char *name);
/* z [n, latent_dim] -> out [n, decode_size]: the distribution's mean (bernoulli: probabilities;
 * gaussian, laplace: means; categorical: class probabilities), or with raw != 0 the decoder's
 * output itself (logits, means). */
int mvae_run_decode(mvae_run *run, const float *z, int64_t n, const char *name, int raw, float *out, char *msg,
                    size_t msg_len);
/* `mvae sample --given MOD=V --seed S -n N`: z [n, latent_dim] drawn from q(z | x_given) with
 * x = given_x (its size is n), all n rows as one batch, so that with the same seed the draws
 * are those of `mvae sample` (decode them with mvae_run_decode); given_x NULL (given NULL):
 * z ~ N(0, I), as `mvae sample` without --given. */
int mvae_run_sample(mvae_run *run, const mvae_arrays *given_x, const char *given, int64_t n, uint64_t seed,
                    float *z, char *msg, size_t msg_len);
/* The run's evaluation (`mvae eval`: the config's eval: section, mvae_evaluate) with x as the
 * test split: x must hold every input the model's modalities need. Parts that train (the
 * linear probe, the coherence classifier) still train on the run's own training split.
 * *json_out: the metrics as metrics.json writes them ({"test": {"elbo": .., "log_p": {..},
 * "accuracy": {..}, ...}}), malloc'd. quiet: no summary line on stderr. */
int mvae_run_evaluate(mvae_run *run, const mvae_arrays *x, int quiet, char **json_out, char *msg, size_t msg_len);

#ifdef __cplusplus
}
#endif
#endif
