/* mvae/coherence.h — evaluation classifiers, coherence of conditional generation and linear
 * probes of the latent space. Definitions: docs/metrics.md.
 *
 *   mvae_classifier *clf;
 *   if (mvae_classifier_get(model, img, lab, "/home/me/.cache/mvae/classifiers", &clf, &err)) ...
 *   printf("%s: test accuracy %.4f (%s)\n", clf->path, clf->test_accuracy,
 *          clf->trained ? "trained now" : "loaded from the cache");
 *   mvae_classifier_predict(clf, ctx, images, pred, &err);   // images [B, C, H, W] in [0,1]
 *   mvae_classifier_free(clf);
 *
 * The classifier (a plugin of kind classifier, named by eval.coherence.classifier.plugin) is
 * trained once per (dataset plugin + its options, image modality, label modality, classifier
 * settings) with Adam on the training split, and its parameters are cached with
 * mvae_checkpoint_save in <cache_dir>/<dataset>-<image>-<label>-<plugin>-<key hash>.ckpt. A later
 * call with the same key loads the file; a file that fails to load (corrupted, truncated, from
 * another version) or whose recorded key differs is retrained and rewritten, with a warning.
 */
#ifndef MVAE_COHERENCE_H
#define MVAE_COHERENCE_H
#include "mvae/train.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct mvae_classifier {
    const mvae_plugin_desc *desc;
    void *self;
    mvae_params *params;
    int image, label;     /* modality indices in the model */
    int n_classes;
    double test_accuracy; /* on the whole test split */
    bool trained;         /* true: trained by this call; false: loaded from the cache */
    double seconds;       /* time taken by mvae_classifier_get (training or loading) */
    int epochs;
    int64_t n_train;
    char key[17];         /* 16 hex digits */
    char path[1200];      /* the cache file */
} mvae_classifier;

/* The cache directory for classifiers: eval.coherence.cache_dir if set; else
 * $MVAE_CACHE_DIR/classifiers; else $XDG_CACHE_HOME/mvae/classifiers; else
 * $HOME/.cache/mvae/classifiers; else <fallback>/classifiers (fallback: the run directory; "."
 * when NULL). Into buf; returns buf. */
const char *mvae_classifier_cache_dir(const mvae_model *m, const char *fallback, char *buf, size_t len);

/* Load or train the classifier of image modality `image` for categorical modality `label` (model
 * modality indices), with the settings of eval.coherence.classifier. cache_dir NULL or "" = no
 * cache (always train, write nothing). A cache file that cannot be written is a warning. */
int mvae_classifier_get(const mvae_model *m, int image, int label, const char *cache_dir,
                        mvae_classifier **out, mvae_error *err);
/* Arg-max class of each image of x [B, shape...] into pred[B] (evaluation mode, no gradient). */
int mvae_classifier_predict(const mvae_classifier *c, mvae_ctx *ctx, mvae_tensor *x, int32_t *pred,
                            mvae_error *err);
void mvae_classifier_free(mvae_classifier *c); /* NULL is a no-op */

/* ---- multinomial logistic regression (the linear probe) ---- */
typedef struct mvae_logreg {
    int d, k;
    float *mean, *inv_std; /* [d] feature standardisation from the training set */
    float *W, *b;          /* [k, d], [k] on the standardised features */
    double final_loss;     /* mean cross-entropy + L2 term after the last iteration */
} mvae_logreg;
/* Fit softmax regression on X [n, d] (row-major), labels y[n] in [0, k): standardise each feature
 * (train mean and standard deviation), then minimise
 *   (1/n) sum_i -log softmax(W x_i + b)[y_i] + (l2 / 2) ||W||^2
 * by full-batch L-BFGS (memory 10, Armijo backtracking) from zero for at most `iters` iterations
 * (fewer when converged): deterministic. */
int mvae_logreg_fit(const float *X, const int32_t *y, int64_t n, int d, int k, float l2, int iters,
                    mvae_logreg *out, mvae_error *err);
/* Fraction of rows of X [n, d] whose arg-max class equals y. */
double mvae_logreg_accuracy(const mvae_logreg *lr, const float *X, const int32_t *y, int64_t n);
void mvae_logreg_free(mvae_logreg *lr);

/* ---- ridge regression (the probe of a real-valued target) ---- */
typedef struct mvae_ridge {
    int d, k;
    float *mean, *inv_std; /* [d] feature standardisation from the training set */
    float *W, *b;          /* [k, d] on the standardised features; b [k] = the training target mean */
} mvae_ridge;
/* Fit Y [n, k] from X [n, d] (row-major): standardise each feature (train mean and standard
 * deviation), centre each target, and solve (Xs^T Xs / n + l2 I) w = Xs^T y / n exactly
 * (Cholesky): the minimiser of (1/(2n)) sum_i ||y_i - W x_i - b||^2 + (l2 / 2) ||W||^2. */
int mvae_ridge_fit(const float *X, const float *Y, int64_t n, int d, int k, float l2, mvae_ridge *out,
                   mvae_error *err);
/* Coefficient of determination on (X, Y): 1 - SSE / SST per target column (SST about the mean of
 * these rows), averaged over the k columns. Below 0 when worse than predicting that mean. */
double mvae_ridge_r2(const mvae_ridge *rg, const float *X, const float *Y, int64_t n);
void mvae_ridge_free(mvae_ridge *rg); /* NULL is a no-op */

/* ---- the evaluation passes (called by mvae_evaluate_in; fill the coherence / probe fields) ---- */
/* eval.coherence: for every image modality and every categorical modality (eval.coherence.label:
 * only that one), the classifier's test accuracy, and the coherence of images generated from each
 * non-image modality alone and from all of them together (when there are at least two); with
 * eval.coherence.given: subsets, of every image and spectrogram modality generated from every
 * non-empty subset of the encodable modalities that does not contain it. */
int mvae_eval_coherence(mvae_model *m, int split, const char *run_dir, mvae_eval_result *r, bool quiet,
                        mvae_error *err);
/* eval.probe: for each (from set, categorical target) pair, the test accuracy of a logistic
 * regression fitted on the mean of q(z | x_from) of (up to max_train) training samples; for a
 * real-valued target, the test R^2 of a ridge regression (l2 = eval.probe.l2), "from->target:r2". */
int mvae_eval_probe(mvae_model *m, int split, int target, const uint32_t *froms, int nfrom,
                    mvae_eval_result *r, bool quiet, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
