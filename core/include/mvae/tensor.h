/* mvae/tensor.h — float32 tensors, the per-step context (arena + tape), reverse-mode autodiff.
 *
 *   mvae_ctx *ctx = mvae_ctx_new(0);
 *   for (step...) {
 *       mvae_ctx_reset(ctx);                       // forget last step's tensors, keep the memory
 *       mvae_tensor *x = mvae_tensor_new(ctx, 2, (int64_t[]){B, 784});
 *       ... fill x->data ...
 *       mvae_tensor *h = mvae_swish(ctx, mvae_linear(ctx, x, W, b));   // computed now, recorded
 *       mvae_tensor *loss = mvae_mean_all(ctx, h);
 *       if (mvae_ctx_failed(ctx)) { puts(mvae_ctx_error(ctx)); ... }   // shape errors etc.
 *       mvae_backward(ctx, loss);                  // W->grad, b->grad accumulate (+=)
 *   }
 *
 * Execution is eager (define-by-run): an op constructor computes its output at once and, when
 * gradients are enabled and an input needs a gradient, appends the output to the context's tape.
 * mvae_backward walks the tape in reverse and calls each op's backward kernel from the op table
 * (ops.h). Backward kernels ACCUMULATE into input gradients.
 *
 * Memory has three lifetimes:
 *  - parameters, their gradients and optimizer state: single blocks owned by mvae_params;
 *  - everything made during a step (tensor structs, data, gradients, op scratch): the context's
 *    arena, reset by mvae_ctx_reset. After the first steps the arena is one block of the peak
 *    size and a step performs no malloc;
 *  - long-lived workspaces: owned by whoever plans them.
 *
 * Errors: an op given NULL, a shape mismatch or a wrong dtype returns NULL and records the first
 * such error in the context ("linear: x [100,784] and W [512,700]: inner sizes differ"); ops given
 * a NULL input return NULL silently, so a chain of ops needs one check at the end.
 */
#ifndef MVAE_TENSOR_H
#define MVAE_TENSOR_H

#include "mvae/common.h"
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MVAE_MAX_DIMS 4

typedef enum mvae_dtype { MVAE_F32 = 0, MVAE_I32 = 1 } mvae_dtype;

enum {
    MVAE_T_NEEDS_GRAD = 1u << 0, /* a gradient flows into this tensor */
    MVAE_T_PARAM = 1u << 1,      /* lives in an mvae_params block; grad points into it */
    MVAE_T_KEEP_GRAD = 1u << 3,  /* an op output whose gradient backward keeps (by default an
                                  * intermediate's gradient is recycled once its own backward
                                  * has run, and reads NULL afterwards); mvae_retain_grad */
    MVAE_T_VIEW = 1u << 4,       /* data belongs to another tensor (reshape) */
    MVAE_T_GRAD_ALIAS = 1u << 5, /* a reshape view whose grad is its source's block (written
                                  * straight into the source's gradient; backward copies nothing) */
    MVAE_T_GRAD_ZERO = 1u << 2,  /* grad holds zeros (mvae_params_zero_grad, an update with
                                  * zero_grad): the first backward writer may overwrite it. Write
                                  * a parameter's gradient by hand only through mvae_grad(). */
};

typedef struct mvae_tensor mvae_tensor;
struct mvae_tensor {
    float *data;  /* contiguous row-major; for MVAE_I32 tensors read as (int32_t *)data */
    float *grad;  /* same shape as data; NULL until backward reaches this tensor */
    int64_t shape[MVAE_MAX_DIMS]; /* shape[0] is the outermost (batch) dimension */
    int64_t n;    /* number of elements */
    int ndim;
    int dtype;    /* mvae_dtype */
    int op;       /* MVAE_OP_* that produced it (MVAE_OP_NONE for leaves) */
    uint32_t flags;
    mvae_tensor *src[4]; /* inputs of the op */
    int32_t ip[8];       /* integer op parameters */
    float fp[4];         /* float op parameters */
    void *aux;           /* op-owned scratch saved for backward (arena memory) */
    const char *name;    /* optional, for messages */
    int32_t uses;        /* ops on the tape that read it (counted for op outputs, not parameters) */
};

static inline int32_t *mvae_i32(const mvae_tensor *t) { return (int32_t *)(void *)t->data; }
static inline bool mvae_needs_grad(const mvae_tensor *t) {
    return t && (t->flags & MVAE_T_NEEDS_GRAD);
}

/* ---- context: arena + tape + sticky error ---- */
typedef struct mvae_ctx mvae_ctx;

/* arena_hint: initial arena bytes (0 = 16 MiB). Returns NULL on allocation failure. */
mvae_ctx *mvae_ctx_new(size_t arena_hint);
void mvae_ctx_free(mvae_ctx *ctx); /* NULL is a no-op */
/* Forget every tensor made since the last reset (tape, arena) and clear the error.
 * Keeps the memory: if the last step needed several arena chunks they are merged into one. */
void mvae_ctx_reset(mvae_ctx *ctx);
/* Uninitialised, 64-byte aligned arena memory, valid until the next reset. */
void *mvae_ctx_alloc(mvae_ctx *ctx, size_t bytes);
/* Zeroed arena memory. */
void *mvae_ctx_calloc(mvae_ctx *ctx, size_t bytes);
/* Scratch for an op's kernel: 64-byte aligned, uninitialised, valid only until the next call of
 * mvae_ctx_scratch on this context (each call may return the same memory). For temporaries that
 * die with the kernel (im2col columns, gathered chunks): unlike mvae_ctx_alloc they do not pile up
 * in the arena over a step, so the context's memory is the arena plus the largest scratch. */
void *mvae_ctx_scratch(mvae_ctx *ctx, size_t bytes);
/* Gradient recording on/off (off = inference: no tape, no grads). Returns the previous value. */
bool mvae_ctx_set_grad(mvae_ctx *ctx, bool enabled);
bool mvae_ctx_grad_enabled(const mvae_ctx *ctx);
/* Until the next call (n = 0 ends it) or reset: every op recorded from now on that reads from[i]
 * records to[i] as its source instead, so that backward sends from[i]'s gradient to to[i]. The
 * values read are from[i]'s, so to[i] must hold the same values and shape (a branch of an
 * impartiality block over a parameter: objective_impartial.c). Sources an op attaches after
 * recording (mvae_op_attach_source: the GRU's) are not redirected. The arrays must outlive the
 * substitution. */
void mvae_ctx_substitute(mvae_ctx *ctx, int n, mvae_tensor *const *from, mvae_tensor *const *to);
/* Training mode flag read by dropout and batchnorm. Returns the previous value. */
bool mvae_ctx_set_training(mvae_ctx *ctx, bool training);
bool mvae_ctx_training(const mvae_ctx *ctx);
/* Let backward reuse saved values: once an op output's own backward has run, nothing later in the
 * pass reads its values, so its block joins the gradients' free list and its data reads NULL.
 * The peak of a step is then about the forward pass's saved values, not those plus the
 * gradients. Off by default; for callers that read only the loss (and gradients of leaves,
 * parameters and mvae_retain_grad tensors) after backward, as the trainer does. The output given
 * to backward keeps its values and gradient (a reshape view's source too). A second backward
 * before the next reset is refused with an error. Returns the previous value. */
bool mvae_ctx_set_recycle_values(mvae_ctx *ctx, bool on);
/* Data parallelism (mvae/dist.h): this context's batch is rows [row0, row0 + n) of a global batch
 * of `global` rows (global 0: no window, the default). Read by mvae_noise_fill; kept across
 * resets. */
void mvae_ctx_set_batch_window(mvae_ctx *ctx, int64_t row0, int64_t n, int64_t global);
/* The window; false when none is set. */
bool mvae_ctx_batch_window(const mvae_ctx *ctx, int64_t *row0, int64_t *n, int64_t *global);
/* Sticky error: the first failure since the last reset. */
bool mvae_ctx_failed(const mvae_ctx *ctx);
const char *mvae_ctx_error(const mvae_ctx *ctx);
/* Record an error (first one wins). Returns NULL so ops can `return mvae_ctx_fail(...)`. */
mvae_tensor *mvae_ctx_fail(mvae_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes of arena in use now / high-water mark / capacity; bytes of scratch held. */
size_t mvae_ctx_arena_used(const mvae_ctx *ctx);
size_t mvae_ctx_arena_peak(const mvae_ctx *ctx);
size_t mvae_ctx_arena_capacity(const mvae_ctx *ctx);
size_t mvae_ctx_scratch_capacity(const mvae_ctx *ctx);
/* Number of heap allocations the arena has made since creation (tests check it stays flat). */
uint64_t mvae_ctx_arena_mallocs(const mvae_ctx *ctx);
size_t mvae_ctx_tape_len(const mvae_ctx *ctx);
/* The tensor at tape position i (0 = the first op of the step); NULL past the end. */
mvae_tensor *mvae_ctx_tape_at(const mvae_ctx *ctx, size_t i);
/* A callback for backward (data parallelism, mvae/dist.h: start the all-reduce of a gradient
 * bucket as soon as the last op reading its parameters has run backward). mvae_backward calls
 * fn(ctx, user, end, end) once before the sweep (the tape [0, end) is complete and may be read),
 * then fn(ctx, user, i, end) after tape position i (end-1 down to 0) is done: from then on no op
 * at a position >= i writes a gradient again, so a parameter whose readers all sit at positions
 * >= i has its final gradient. NULL: none (the default). Kept across resets. */
typedef void (*mvae_backward_hook)(mvae_ctx *ctx, void *user, size_t pos, size_t end);
void mvae_ctx_set_backward_hook(mvae_ctx *ctx, mvae_backward_hook fn, void *user);

/* ---- tensors in the arena ---- */
/* New uninitialised F32 tensor. ndim 1..4, all sizes >= 1. */
mvae_tensor *mvae_tensor_new(mvae_ctx *ctx, int ndim, const int64_t *shape);
mvae_tensor *mvae_tensor_new_i32(mvae_ctx *ctx, int ndim, const int64_t *shape);
mvae_tensor *mvae_tensor_zeros(mvae_ctx *ctx, int ndim, const int64_t *shape);
mvae_tensor *mvae_tensor_fill(mvae_ctx *ctx, int ndim, const int64_t *shape, float value);
/* Wrap caller-owned memory (not copied; must outlive the step). */
mvae_tensor *mvae_tensor_wrap(mvae_ctx *ctx, int ndim, const int64_t *shape, float *data);
/* Scalar helpers */
mvae_tensor *mvae_scalar(mvae_ctx *ctx, float v);
/* Shape helpers */
int mvae_shape_eq(const mvae_tensor *a, const mvae_tensor *b);
/* "[100,784]" into buf (returns buf). */
const char *mvae_shape_str(const mvae_tensor *t, char *buf, size_t len);
#define MVAE_SHAPE_STR_LEN 64
/* Repeat t's rows k times ([R, ...] -> [k*R, ...], block-major), F32 or I32. A copy with no
 * gradient: for masks, weights, data, and to stop a gradient (k = 1). NULL in, NULL out. */
mvae_tensor *mvae_tile_rows(mvae_ctx *ctx, const mvae_tensor *t, int k);
/* Mark a leaf as needing a gradient (e.g. inputs in a gradient check). */
void mvae_tensor_requires_grad(mvae_tensor *t);

/* ---- autodiff ---- */
/* Keep t's gradient after backward (t an op output; leaves and parameters always keep theirs). */
static inline void mvae_retain_grad(mvae_tensor *t) {
    if (t) t->flags |= MVAE_T_KEEP_GRAD;
}
/* Seed d(loss)=1 (loss must have one element) and run every backward kernel on the tape in
 * reverse. Gradients of parameters accumulate into their mvae_params block; gradients of other
 * tensors are arena memory. Returns MVAE_OK or an error status (message in the context). */
int mvae_backward(mvae_ctx *ctx, mvae_tensor *loss);
/* Like mvae_backward but seeds the output gradient with `seed` (same shape as out). */
int mvae_backward_seeded(mvae_ctx *ctx, mvae_tensor *out, const float *seed);
/* The gradient buffer of t, allocated (zeroed) in the arena on first use; NULL if t needs no
 * gradient. Backward kernels use this to accumulate into their inputs. */
float *mvae_grad(mvae_ctx *ctx, mvae_tensor *t);
/* Like mvae_grad, but a buffer allocated by this call is left uninitialised (or a parameter's
 * buffer known to hold zeros, MVAE_T_GRAD_ZERO) and *fresh is set:
 * the caller must then WRITE every element (y = ..., GEMM with beta 0) instead of adding. Saves
 * clearing gradients that the first writer overwrites anyway. */
float *mvae_grad_fresh(mvae_ctx *ctx, mvae_tensor *t, bool *fresh);

/* Internal to op implementations: make an output tensor for `op` from inputs (sets needs-grad and
 * records it on the tape when any input needs a gradient and recording is on). */
mvae_tensor *mvae_op_output(mvae_ctx *ctx, int op, int ndim, const int64_t *shape,
                            mvae_tensor *s0, mvae_tensor *s1, mvae_tensor *s2, mvae_tensor *s3);
/* The same for an op whose output shares its single input's data (reshape): no copy. Ops never
 * write their inputs, so the two stay consistent. */
mvae_tensor *mvae_op_output_view(mvae_ctx *ctx, int op, int ndim, const int64_t *shape, mvae_tensor *s0);

#ifdef __cplusplus
}
#endif
#endif
