/* bench_step — how fast is one training step, and how close is it to what sgemm allows?
 *
 *   bench_step [--threads N] [--steps N] [--warmup N] [--batch B]
 *       The MVAE-shaped MLP VAE built directly from core ops: image encoder 784-512-512 -> two
 *       512->64 heads (mu, logvar), decoder 64-512-512-512-784, swish, Bernoulli log-likelihood +
 *       KL, mean over the batch, backward, Adam. Random data.
 *   bench_step --model EXP.yaml [--set KEY=VALUE ...] [--threads N] [--steps N] [--warmup N] [--batch B]
 *       A real experiment's model (plugins, dataset): batch fill + mvae_objective_loss + backward
 *       + gradient norm + Adam, exactly what the trainer does per batch.
 *
 * FLOPs. Synthetic mode counts the GEMM FLOPs analytically from the layer shapes: forward
 * 2*B*in*out per linear; backward dW 2*B*in*out for every linear and dX 2*B*in*out for every
 * linear but the first (its input is data). Both modes also count the FLOPs of every GEMM
 * call actually made during one step: every layer's GEMM goes through mvae_sgemm, which reports
 * each call's shape and time to an observer the bench installs (mvae_gemm_set_observer).
 * Convolutions are im2col + GEMM in mvae, so the tally covers CNN experiments too. In synthetic
 * mode the two counts must agree.
 *
 * The GEMM bounds: every distinct GEMM shape recorded in one step (transposes, M, N, K, beta)
 * is timed in isolation (hot caches, median of repeated calls) twice: with mvae's GEMM as the
 * layers use it (gemm_bound: mvae's AVX-512 kernels, or OpenBLAS where the CPU lacks AVX-512 or
 * MVAE_GEMM=blas), and with OpenBLAS's cblas_sgemm (sgemm_bound). The bound for a step is
 * sum(count * time); fraction_of_*_bound = bound time / measured step time
 * (= achieved GFLOP/s / sgemm-bound GFLOP/s).
 *
 * Output: key=value lines (like the PyTorch peer's).
 */
#define _GNU_SOURCE
#include "mvae/model.h"
#include "mvae/optim.h"
#include "mvae/train.h"

#include <cblas.h>
#include "gemm_internal.h"
#include <sys/resource.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ cblas_sgemm wrapper */

typedef struct gemm_shape {
    int order, ta, tb, M, N, K, beta_nonzero;
    int count;     /* calls per step */
    double sec;    /* isolated time per call */
    double step_sec; /* time of the calls made inside the timed steps, summed */
    long step_calls;
} gemm_shape;

#define MAX_SHAPES 512
static struct {
    bool on;       /* count and time calls */
    bool record;   /* also record shapes */
    double flops;  /* since the last reset */
    double sec;    /* time inside sgemm since the last reset */
    int64_t calls;
    gemm_shape shapes[MAX_SHAPES];
    int n_shapes;
    bool overflow;
} tally;

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Observer of every mvae_sgemm call (the GEMM all layers use): counts, times, records shapes. */
static void observe_gemm(int ta, int tb, int M, int N, int K, float beta, double sec, void *user) {
    (void)user;
    if (!tally.on) return;
    tally.sec += sec;
    tally.flops += 2.0 * (double)M * (double)N * (double)K;
    tally.calls++;
    gemm_shape s = {.order = CblasRowMajor, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .beta_nonzero = beta != 0.0f};
    for (int i = 0; i < tally.n_shapes; i++) {
        gemm_shape *t = &tally.shapes[i];
        if (t->ta == s.ta && t->tb == s.tb && t->M == s.M && t->N == s.N && t->K == s.K &&
            t->beta_nonzero == s.beta_nonzero) {
            if (tally.record) t->count++;
            else t->step_sec += sec, t->step_calls++;
            return;
        }
    }
    if (!tally.record) return;
    if (tally.n_shapes == MAX_SHAPES) {
        tally.overflow = true;
        return;
    }
    s.count = 1;
    tally.shapes[tally.n_shapes++] = s;
}

static void tally_reset(bool on, bool record) {
    tally.on = on;
    tally.record = record;
    tally.flops = tally.sec = 0;
    tally.calls = 0;
    if (record) tally.n_shapes = 0;
}

/* ------------------------------------------------------------------ statistics */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
/* q-quantile (0..1) of v[0..n) (sorts v), nearest rank */
static double quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)floor(q * (double)(n - 1) + 0.5);
    return v[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

/* Time each recorded shape in isolation; returns the bound (seconds per step). */
static double time_shapes_isolated(mvae_rng *rng, int verbose, bool openblas) {
    size_t maxa = 1, maxb = 1, maxc = 1;
    for (int i = 0; i < tally.n_shapes; i++) {
        gemm_shape *s = &tally.shapes[i];
        size_t a = (size_t)s->M * (size_t)s->K, b = (size_t)s->K * (size_t)s->N, c = (size_t)s->M * (size_t)s->N;
        if (a > maxa) maxa = a;
        if (b > maxb) maxb = b;
        if (c > maxc) maxc = c;
    }
    float *A = mvae_alloc_aligned(maxa * sizeof(float)), *B = mvae_alloc_aligned(maxb * sizeof(float)),
          *C = mvae_alloc_aligned(maxc * sizeof(float));
    if (!A || !B || !C) {
        fprintf(stderr, "bench_step: out of memory\n");
        exit(1);
    }
    mvae_rng_uniform_fill(rng, A, maxa, -1, 1);
    mvae_rng_uniform_fill(rng, B, maxb, -1, 1);
    mvae_rng_uniform_fill(rng, C, maxc, -1, 1);
    double bound = 0;
    enum { MAXREP = 400 };
    double t[MAXREP];
    for (int i = 0; i < tally.n_shapes; i++) {
        gemm_shape *s = &tally.shapes[i];
        int lda, ldb, ldc;
        if (s->order == CblasRowMajor) {
            lda = s->ta ? s->M : s->K;
            ldb = s->tb ? s->K : s->N;
            ldc = s->N;
        } else {
            lda = s->ta ? s->K : s->M;
            ldb = s->tb ? s->N : s->K;
            ldc = s->M;
        }
        float beta = s->beta_nonzero ? 1.0f : 0.0f;
        enum CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
#define GEMM_ONCE()                                                                                \
    do {                                                                                           \
        if (openblas)                                                                              \
            cblas_sgemm((enum CBLAS_ORDER)s->order, ta, tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, beta, C, ldc); \
        else                                                                                       \
            mvae_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, beta, C, ldc);        \
    } while (0)
        /* warm up, then enough repetitions for ~30 ms (at least 15, at most MAXREP) */
        double t0 = now_sec();
        for (int r = 0; r < 3; r++)
            GEMM_ONCE();
        double per = (now_sec() - t0) / 3;
        int reps = per > 0 ? (int)(0.03 / per) : MAXREP;
        if (reps < 15) reps = 15;
        if (reps > MAXREP) reps = MAXREP;
        for (int r = 0; r < reps; r++) {
            double a = now_sec();
            GEMM_ONCE();
            t[r] = now_sec() - a;
        }
        s->sec = quantile(t, reps, 0.5);
        bound += s->count * s->sec;
        if (verbose) {
            double fl = 2.0 * s->M * (double)s->N * s->K;
            printf("sgemm_shape gemm=%s op=%c%c M=%d N=%d K=%d beta=%d calls_per_step=%d us_med=%.1f gflops=%.1f",
                   openblas ? "openblas" : mvae_gemm_backend_name(), s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, s->beta_nonzero, s->count,
                   1e6 * s->sec, fl / s->sec * 1e-9);
            if (!openblas && s->step_calls) /* the same shape inside the training steps (caches as the step leaves them) */
                printf(" us_in_step_mean=%.1f", 1e6 * s->step_sec / (double)s->step_calls);
            printf("\n");
        }
    }
    mvae_free_aligned(A);
    mvae_free_aligned(B);
    mvae_free_aligned(C);
    return bound;
}

/* ------------------------------------------------------------------ options */
#define MAX_SETS 32
typedef struct opts {
    int threads, steps, warmup, batch;
    const char *model;
    const char *sets[MAX_SETS];
    int n_sets;
    int verbose;
    int eval_k, eval_n; /* --eval K N: time the importance-sampled log-likelihoods instead */
    int impartial;      /* --impartial: the cost of the experiment's train.impartial blocks */
} opts;

static const char *usage =
    "usage: bench_step [--threads N] [--steps N] [--warmup N] [--batch B] [--quiet-shapes]\n"
    "       bench_step --model EXP.yaml [--set KEY=VALUE ...] [same options]\n"
    "       bench_step --model EXP.yaml --eval K N   time log p(image) and log p(image,label) with\n"
    "                  K importance samples on the first N test images (what the peer's iw_sec times)\n"
    "       bench_step --model EXP.yaml --set train.impartial.method=M --impartial   the cost of the\n"
    "                  impartiality blocks: the step with them against the same step without\n"
    "                  (method none, no decoder_params), alternating, and the time in the combines\n"
    "\n"
    "Times the training step (median over --steps after --warmup) of the MVAE-shaped MLP VAE\n"
    "built from core ops (default) or of a real experiment (--model), counts its GEMM FLOPs and\n"
    "compares with cblas_sgemm timed in isolation at the same shapes. Defaults: threads 1,\n"
    "steps 200 (model: 100), warmup 20, batch 100.\n";

static int parse_int(const char *s, const char *opt) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 1000000) {
        fprintf(stderr, "bench_step: %s needs a non-negative integer, got '%s'\n", opt, s);
        exit(2);
    }
    return (int)v;
}

static void parse(int argc, char **argv, opts *o) {
    *o = (opts){.threads = 1, .steps = -1, .warmup = 20, .batch = 100, .verbose = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(a, "--quiet-shapes")) {
            o->verbose = 0;
        } else if (has && !strcmp(a, "--threads")) {
            o->threads = parse_int(argv[++i], a);
        } else if (has && !strcmp(a, "--steps")) {
            o->steps = parse_int(argv[++i], a);
        } else if (has && !strcmp(a, "--warmup")) {
            o->warmup = parse_int(argv[++i], a);
        } else if (has && !strcmp(a, "--batch")) {
            o->batch = parse_int(argv[++i], a);
        } else if (has && !strcmp(a, "--model")) {
            o->model = argv[++i];
        } else if (i + 2 < argc && !strcmp(a, "--eval")) {
            o->eval_k = parse_int(argv[++i], a);
            o->eval_n = parse_int(argv[++i], a);
        } else if (!strcmp(a, "--impartial")) {
            o->impartial = 1;
        } else if (has && !strcmp(a, "--set")) {
            if (o->n_sets < MAX_SETS) o->sets[o->n_sets++] = argv[++i];
        } else {
            fprintf(stderr, "bench_step: unknown or incomplete option '%s'\n%s", a, usage);
            exit(2);
        }
    }
    if (o->steps < 0) o->steps = o->model ? 100 : 200;
    if (o->impartial && !o->model) {
        fprintf(stderr, "bench_step: --impartial needs --model EXP.yaml (with train.impartial set)\n");
        exit(2);
    }
    if (o->steps < 1 || o->batch < 1 || o->threads < 1) {
        fprintf(stderr, "bench_step: --steps, --batch and --threads must be >= 1\n");
        exit(2);
    }
}

static void print_config(const opts *o, const char *mode, size_t params) {
    const char *ct = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("config mode=%s threads=%d openblas_threads=%d openblas_core=%s OPENBLAS_CORETYPE=%s "
           "OPENBLAS_L2_SIZE=%s nproc=%ld batch=%d steps=%d warmup=%d params=%zu\n",
           mode, o->threads, openblas_get_num_threads(), openblas_get_corename(), ct ? ct : "unset",
           l2 ? l2 : "unset", sysconf(_SC_NPROCESSORS_ONLN), o->batch, o->steps, o->warmup, params);
}

/* Print the timing summary shared by both modes. step[] / gemm[] are per-step seconds. */
static void report(const opts *o, double *step, double *gemm, int n, double flop_per_step,
                   double bound_sec, double blas_bound_sec, double *extra, const char *extra_name) {
    double s_med = quantile(step, n, 0.5);
    double s_p10 = quantile(step, n, 0.1), s_p90 = quantile(step, n, 0.9);
    double g_med = quantile(gemm, n, 0.5);
    printf("step ms_per_step_med=%.3f ms_p10=%.3f ms_p90=%.3f samples_per_sec=%.1f gflops=%.2f "
           "sgemm_ms_in_step_med=%.3f sgemm_share=%.3f",
           1e3 * s_med, 1e3 * s_p10, 1e3 * s_p90, o->batch / s_med, flop_per_step / s_med * 1e-9,
           1e3 * g_med, g_med / s_med);
    if (extra) printf(" %s_ms_med=%.3f", extra_name, 1e3 * quantile(extra, n, 0.5));
    printf("\n");
    printf("bound gemm=%s gemm_bound_ms_per_step=%.3f gemm_bound_gflops=%.2f gemm_bound_samples_per_sec=%.1f "
           "fraction_of_gemm_bound=%.3f gemm_in_step_vs_isolated=%.3f\n",
           mvae_gemm_backend_name(), 1e3 * bound_sec, flop_per_step / bound_sec * 1e-9, o->batch / bound_sec,
           bound_sec / s_med, g_med / bound_sec);
    printf("bound gemm=openblas sgemm_bound_ms_per_step=%.3f sgemm_bound_gflops=%.2f sgemm_bound_samples_per_sec=%.1f "
           "fraction_of_sgemm_bound=%.3f\n",
           1e3 * blas_bound_sec, flop_per_step / blas_bound_sec * 1e-9, o->batch / blas_bound_sec,
           blas_bound_sec / s_med);
}

/* ------------------------------------------------------------------ synthetic MLP VAE */
typedef struct lin {
    mvae_tensor *w, *b;
    int in, out;
    bool first; /* input is data: no dX */
} lin;

static int add_lin(mvae_params *ps, lin *l, const char *name, int in, int out, bool first, mvae_error *err) {
    char n[96];
    l->in = in;
    l->out = out;
    l->first = first;
    snprintf(n, sizeof n, "%s.w", name);
    l->w = mvae_params_add(ps, n, 2, (int64_t[]){out, in}, MVAE_INIT_KAIMING_UNIFORM, in, err);
    snprintf(n, sizeof n, "%s.b", name);
    l->b = mvae_params_add(ps, n, 1, (int64_t[]){out}, MVAE_INIT_BIAS_UNIFORM, in, err);
    return l->w && l->b ? MVAE_OK : err->status;
}

static int run_mlp(const opts *o) {
    enum { D = 784, H = 512, L = 64, NL = 8, NBATCH = 8 };
    mvae_error err = {0};
    mvae_params *ps = mvae_params_new();
    lin l[NL];
    /* encoder fc1, fc2, heads mu/logvar; decoder fc1..fc3, out */
    int rc = add_lin(ps, &l[0], "enc.fc1", D, H, true, &err) || add_lin(ps, &l[1], "enc.fc2", H, H, false, &err) ||
             add_lin(ps, &l[2], "enc.mu", H, L, false, &err) || add_lin(ps, &l[3], "enc.logvar", H, L, false, &err) ||
             add_lin(ps, &l[4], "dec.fc1", L, H, false, &err) || add_lin(ps, &l[5], "dec.fc2", H, H, false, &err) ||
             add_lin(ps, &l[6], "dec.fc3", H, H, false, &err) || add_lin(ps, &l[7], "dec.out", H, D, false, &err);
    mvae_rng rng;
    mvae_rng_seed(&rng, 1);
    if (rc || mvae_params_finalize(ps, &rng, &err)) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    print_config(o, "mlp", mvae_params_count_trainable(ps));

    /* analytic GEMM FLOPs per step */
    double fwd = 0, bwd = 0, B = o->batch;
    for (int i = 0; i < NL; i++) {
        double f = 2.0 * B * l[i].in * l[i].out;
        fwd += f;
        bwd += l[i].first ? f : 2 * f;
    }

    size_t nx = (size_t)o->batch * D;
    float *xs = malloc(NBATCH * nx * sizeof(float));
    if (!xs) return 1;
    mvae_rng_uniform_fill(&rng, xs, NBATCH * nx, 0, 1);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_optim opt = mvae_optim_adam(1e-3f);

    int total = o->warmup + o->steps;
    double *st = malloc((size_t)total * sizeof *st), *gt = malloc((size_t)total * sizeof *gt);
    double tally_flops = 0, last_loss = 0;
    for (int s = 0; s < total; s++) {
        bool rec = s == 0;
        tally_reset(true, rec);
        double t0 = now_sec();
        mvae_ctx_reset(ctx);
        mvae_params_zero_grad(ps);
        mvae_tensor *x = mvae_tensor_wrap(ctx, 2, (int64_t[]){o->batch, D}, xs + (size_t)(s % NBATCH) * nx);
        mvae_tensor *h = mvae_swish(ctx, mvae_linear(ctx, x, l[0].w, l[0].b));
        h = mvae_swish(ctx, mvae_linear(ctx, h, l[1].w, l[1].b));
        mvae_tensor *mu = mvae_linear(ctx, h, l[2].w, l[2].b);
        mvae_tensor *lv = mvae_linear(ctx, h, l[3].w, l[3].b);
        mvae_tensor *eps = mvae_tensor_new(ctx, 2, (int64_t[]){o->batch, L});
        if (eps) mvae_rng_normal_fill(&rng, eps->data, (size_t)o->batch * L);
        mvae_tensor *z = mvae_gaussian_sample(ctx, mu, lv, eps);
        mvae_tensor *d = mvae_swish(ctx, mvae_linear(ctx, z, l[4].w, l[4].b));
        d = mvae_swish(ctx, mvae_linear(ctx, d, l[5].w, l[5].b));
        d = mvae_swish(ctx, mvae_linear(ctx, d, l[6].w, l[6].b));
        mvae_tensor *logits = mvae_linear(ctx, d, l[7].w, l[7].b);
        mvae_tensor *lp = mvae_bernoulli_logp(ctx, logits, x);
        mvae_tensor *kl = mvae_kl_normal(ctx, mu, lv);
        mvae_tensor *loss = mvae_mean_all(ctx, mvae_sub(ctx, kl, lp));
        if (mvae_ctx_failed(ctx) || mvae_backward(ctx, loss) || mvae_optim_step(&opt, ps, &err)) {
            fprintf(stderr, "bench_step: step %d: %s%s\n", s, mvae_ctx_error(ctx), err.msg);
            return 1;
        }
        st[s] = now_sec() - t0;
        gt[s] = tally.sec;
        if (rec) tally_flops = tally.flops;
        last_loss = loss->data[0];
    }
    tally_reset(false, false);
    bool match = fabs(tally_flops - (fwd + bwd)) <= 1e-9 * (fwd + bwd);
    printf("flops fwd_flop_per_step=%.0f bwd_flop_per_step=%.0f flop_per_step=%.0f flop_per_sample=%.0f "
           "sgemm_tally_flop_per_step=%.0f analytic_matches_tally=%s\n",
           fwd, bwd, fwd + bwd, (fwd + bwd) / B, tally_flops, match ? "yes" : "NO");
    printf("loss last_loss=%.4f\n", last_loss);
    double bound = time_shapes_isolated(&rng, o->verbose, false);
    double blas_bound = time_shapes_isolated(&rng, o->verbose, true);
    report(o, st + o->warmup, gt + o->warmup, o->steps, fwd + bwd, bound, blas_bound, NULL, NULL);
    free(st);
    free(gt);
    free(xs);
    mvae_ctx_free(ctx);
    mvae_params_free(ps);
    return match ? 0 : 1;
}

/* ------------------------------------------------------------------ a real experiment */
/* VmHWM of /proc/self/status: the peak resident set so far, in MiB (-1 if unreadable) */
static double vm_hwm_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib / 1024.0;
}

static int run_model(const opts *o) {
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    mvae_batch b;
    bool have_batch = false;
    mvae_ctx *ctx = NULL;
    int64_t *perm = NULL;
    double *st = NULL, *gt = NULL, *ft = NULL, *ph[4] = {NULL, NULL, NULL, NULL};
    int rc = 1;
    if (!reg || mvae_registry_load_default(reg, &err) || mvae_cfg_load_file(o->model, &cfg, &err)) goto out;
    for (int i = 0; i < o->n_sets; i++)
        if (mvae_cfg_set(cfg, o->sets[i], &err)) goto out;
    if (mvae_model_build(cfg, reg, &m, &err)) goto out;
    mvae_objective obj;
    if (mvae_objective_from_config(m, &obj, &err)) goto out;
    if (mvae_batch_init(&b, m, o->batch, &err)) goto out;
    have_batch = true;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N = dv->size(m->ds, MVAE_SPLIT_TRAIN);
    if (N < o->batch) {
        mvae_error_set(&err, MVAE_ERR_INVALID, "the training split has %lld samples, fewer than --batch %d",
                       (long long)N, o->batch);
        goto out;
    }
    char mode[300];
    snprintf(mode, sizeof mode, "model:%s", o->model);
    print_config(o, mode, mvae_params_count_trainable(m->params));

    perm = malloc((size_t)N * sizeof *perm);
    int total = o->warmup + o->steps;
    st = malloc((size_t)total * sizeof *st);
    gt = malloc((size_t)total * sizeof *gt);
    ft = malloc((size_t)total * sizeof *ft);
    for (int i = 0; i < 4; i++) ph[i] = malloc((size_t)total * sizeof *ph[i]);
    ctx = mvae_ctx_new(0);
    if (ctx) mvae_ctx_set_recycle_values(ctx, true); /* as the trainer does */
    if (!perm || !st || !gt || !ft || !ph[0] || !ph[1] || !ph[2] || !ph[3] || !ctx) {
        mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
        goto out;
    }
    mvae_rng rng, shuf;
    mvae_rng_seed(&rng, m->seed ^ 0x5DEECE66Dull);
    mvae_rng_seed(&shuf, m->seed);
    for (int64_t i = 0; i < N; i++) perm[i] = i;
    mvae_rng_shuffle(&shuf, perm, N);
    int64_t nb = N / o->batch;
    mvae_optim opt = mvae_optim_adam(1e-3f);
    opt.zero_grad = true;
    double tally_flops = 0, last_loss = 0;
    size_t arena_fwd = 0; /* arena in use at the end of the last step's forward pass */
    int n_terms = 0;
    int64_t tally_calls = 0;
    for (int s = 0; s < total; s++) {
        bool rec = s == 0;
        int64_t bi = s % nb;
        tally_reset(true, rec);
        double t0 = now_sec();
        if (mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, perm + bi * o->batch, o->batch, NULL, &err)) goto out;
        double t1 = now_sec();
        mvae_ctx_reset(ctx);
        if (s == 0) mvae_params_zero_grad(m->params); /* then each update leaves them zero, as in training */
        mvae_tensor *loss;
        mvae_step_stats stats;
        int r = mvae_objective_loss(m, ctx, &b, &obj, 1.0f, &rng, &loss, &stats);
        double t2 = now_sec();
        if (s == total - 1) arena_fwd = mvae_ctx_arena_used(ctx);
        if (!r) r = mvae_backward(ctx, loss);
        double t3 = now_sec();
        if (r) {
            mvae_error_set(&err, r, "step %d: %s", s, mvae_ctx_error(ctx));
            goto out;
        }
        float gn = mvae_grad_norm(m->params);
        double t4 = now_sec();
        if (!isfinite(gn)) {
            mvae_error_set(&err, MVAE_ERR_NUMERIC, "step %d: gradient norm is not finite", s);
            goto out;
        }
        if (mvae_optim_step(&opt, m->params, &err)) goto out;
        st[s] = now_sec() - t0;
        ft[s] = t1 - t0;
        ph[0][s] = t2 - t1, ph[1][s] = t3 - t2, ph[2][s] = t4 - t3, ph[3][s] = t0 + st[s] - t4;
        gt[s] = tally.sec;
        if (rec) tally_flops = tally.flops, tally_calls = tally.calls;
        last_loss = stats.loss;
        n_terms = stats.n_terms;
    }
    tally_reset(false, false);
    if (tally.overflow) printf("warning more than %d distinct GEMM shapes: the bound leaves some out\n", MAX_SHAPES);
    printf("flops sgemm_tally_flop_per_step=%.0f flop_per_sample=%.0f objective_terms=%d sgemm_calls_per_step=%lld\n",
           tally_flops, tally_flops / o->batch, n_terms, (long long)tally_calls);
    printf("loss last_loss=%.4f\n", last_loss);
    /* where the memory goes: weights, gradients and Adam's two moments are 4 floats per trainable
     * parameter; the step arena holds the activations and the backward pass's scratch. */
    printf("memory_parts params_grads_adam_mib=%.1f arena_after_forward_mib=%.1f arena_peak_mib=%.1f "
           "arena_capacity_mib=%.1f scratch_mib=%.1f\n",
           (double)mvae_params_count_trainable(m->params) * 16.0 / 1048576.0, (double)arena_fwd / 1048576.0,
           (double)mvae_ctx_arena_peak(ctx) / 1048576.0, (double)mvae_ctx_arena_capacity(ctx) / 1048576.0,
           (double)mvae_ctx_scratch_capacity(ctx) / 1048576.0);
    /* the training peak, before the isolated GEMM timings below allocate their own operands (and
     * wake OpenBLAS's buffers, which training never touches) */
    printf("memory_train peak_rss_mib=%.1f\n", vm_hwm_mib());
    /* where a step's time goes, medians of the timed steps (GEMMs are inside forward/backward) */
    printf("phases forward_ms_med=%.3f backward_ms_med=%.3f grad_norm_ms_med=%.3f optim_ms_med=%.3f\n",
           1e3 * quantile(ph[0] + o->warmup, o->steps, 0.5), 1e3 * quantile(ph[1] + o->warmup, o->steps, 0.5),
           1e3 * quantile(ph[2] + o->warmup, o->steps, 0.5), 1e3 * quantile(ph[3] + o->warmup, o->steps, 0.5));
    double bound = time_shapes_isolated(&rng, o->verbose, false);
    double blas_bound = time_shapes_isolated(&rng, o->verbose, true);
    report(o, st + o->warmup, gt + o->warmup, o->steps, tally_flops, bound, blas_bound, ft + o->warmup, "batch_fill");
    rc = 0;
out:
    if (rc) fprintf(stderr, "bench_step: %s\n", err.msg);
    free(perm);
    free(st);
    free(gt);
    free(ft);
    for (int i = 0; i < 4; i++) free(ph[i]);
    mvae_ctx_free(ctx);
    if (have_batch) mvae_batch_free(&b);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

/* ------------------------------------------------------------------ impartiality blocks' cost */
/* The experiment twice: as configured (its train.impartial blocks) and with the blocks off
 * (method none, decoder_params false), the two steps alternating on the same batches so that a
 * shared machine's load falls on both alike. Prints the step medians, their difference, the time
 * inside the blocks' combines (Gram matrix, method, weighted sum) and the step arenas' peaks. */
static int run_impartial(const opts *o) {
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    mvae_cfg *cfg[2] = {NULL, NULL};
    mvae_model *m[2] = {NULL, NULL};
    mvae_ctx *ctx[2] = {NULL, NULL};
    mvae_batch b;
    bool have_batch = false;
    int64_t *perm = NULL;
    double *st[2] = {NULL, NULL};
    int rc = 1, total = o->warmup + o->steps;
    mvae_objective obj[2];
    mvae_rng rng[2];
    mvae_optim opt[2];
    if (!reg || mvae_registry_load_default(reg, &err)) goto out;
    for (int v = 0; v < 2; v++) {
        if (mvae_cfg_load_file(o->model, &cfg[v], &err)) goto out;
        for (int i = 0; i < o->n_sets; i++)
            if (mvae_cfg_set(cfg[v], o->sets[i], &err)) goto out;
        if (v == 1 && (mvae_cfg_set(cfg[v], "train.impartial.method=none", &err) ||
                       mvae_cfg_set(cfg[v], "train.impartial.decoder_params=false", &err)))
            goto out;
        if (mvae_model_build(cfg[v], reg, &m[v], &err) || mvae_objective_from_config(m[v], &obj[v], &err)) goto out;
        ctx[v] = mvae_ctx_new(0);
        st[v] = malloc((size_t)total * sizeof *st[v]);
        if (!ctx[v] || !st[v]) {
            mvae_error_set(&err, MVAE_ERR_NOMEM, "out of memory");
            goto out;
        }
        mvae_ctx_set_recycle_values(ctx[v], true);
        mvae_rng_seed(&rng[v], m[v]->seed ^ 0x5DEECE66Dull);
        opt[v] = mvae_optim_adam(1e-3f);
        opt[v].zero_grad = true;
        mvae_params_zero_grad(m[v]->params);
    }
    if (!m[0]->impartial) {
        mvae_error_set(&err, MVAE_ERR_INVALID, "--impartial: the experiment has no impartiality block "
                                               "(set train.impartial.method, e.g. --set train.impartial.method=pcgrad)");
        goto out;
    }
    if (mvae_batch_init(&b, m[0], o->batch, &err)) goto out;
    have_batch = true;
    int64_t N = ((const mvae_dataset_vtable *)m[0]->ds_desc->vtable)->size(m[0]->ds, MVAE_SPLIT_TRAIN);
    if (N < o->batch) {
        mvae_error_set(&err, MVAE_ERR_INVALID, "the training split has %lld samples, fewer than --batch %d",
                       (long long)N, o->batch);
        goto out;
    }
    char mode[300];
    snprintf(mode, sizeof mode, "impartial:%s", o->model);
    print_config(o, mode, mvae_params_count_trainable(m[0]->params));
    perm = malloc((size_t)N * sizeof *perm);
    if (!perm) goto out;
    mvae_rng shuf;
    mvae_rng_seed(&shuf, m[0]->seed);
    for (int64_t i = 0; i < N; i++) perm[i] = i;
    mvae_rng_shuffle(&shuf, perm, N);
    int64_t nb = N / o->batch;
    char *js = malloc(1 << 17);
    if (!js) goto out;
    for (int s = 0; s < total; s++) {
        if (s == o->warmup) mvae_impartial_set_stats_json(m[0], js, 1 << 17); /* resets the blocks' clocks */
        if (mvae_batch_fill(&b, m[0], MVAE_SPLIT_TRAIN, perm + (s % nb) * o->batch, o->batch, NULL, &err)) break;
        for (int v0 = 0; v0 < 2; v0++) {
            int v = (s + v0) % 2; /* alternate which goes first */
            double t0 = now_sec();
            mvae_ctx_reset(ctx[v]);
            mvae_tensor *loss;
            mvae_step_stats stats;
            int r = mvae_objective_loss(m[v], ctx[v], &b, &obj[v], 1.0f, &rng[v], &loss, &stats);
            if (!r) r = mvae_backward(ctx[v], loss);
            if (r) {
                mvae_error_set(&err, r, "step %d: %s", s, mvae_ctx_error(ctx[v]));
                break;
            }
            if (mvae_optim_step(&opt[v], m[v]->params, &err)) break;
            st[v][s] = now_sec() - t0;
        }
        if (err.status) break;
    }
    free(js);
    if (err.status) goto out;
    int blocks = 0;
    int64_t calls = 0;
    double comb = mvae_impartial_set_seconds(m[0], &blocks, &calls);
    const mvae_cfg_node *sec = mvae_cfg_path(mvae_cfg_root(cfg[0]), "train.impartial");
    const char *method = "?";
    bool dp = false;
    mvae_cfg_string_or(sec, "method", "none", &method, &err);
    mvae_cfg_bool_or(sec, "decoder_params", false, &dp, &err);
    double med[2], p10[2], p90[2];
    for (int v = 0; v < 2; v++) {
        med[v] = quantile(st[v] + o->warmup, o->steps, 0.5);
        p10[v] = quantile(st[v] + o->warmup, o->steps, 0.1);
        p90[v] = quantile(st[v] + o->warmup, o->steps, 0.9);
    }
    printf("impartial method=%s decoder_params=%s fusion=%s blocks=%d combines_per_step=%.1f\n", method,
           dp ? "true" : "false", m[0]->fusion_desc->name, blocks, (double)calls / o->steps);
    printf("impartial_time step_ms_med=%.3f (p10 %.3f, p90 %.3f) plain_step_ms_med=%.3f (p10 %.3f, p90 %.3f) "
           "extra_ms_med=%.3f extra_pct=%.1f combine_ms_per_step=%.3f\n",
           1e3 * med[0], 1e3 * p10[0], 1e3 * p90[0], 1e3 * med[1], 1e3 * p10[1], 1e3 * p90[1],
           1e3 * (med[0] - med[1]), 100.0 * (med[0] - med[1]) / med[1], 1e3 * comb / o->steps);
    printf("impartial_memory arena_peak_mib=%.2f plain_arena_peak_mib=%.2f extra_mib=%.2f state_floats=%zu\n",
           (double)mvae_ctx_arena_peak(ctx[0]) / 1048576.0, (double)mvae_ctx_arena_peak(ctx[1]) / 1048576.0,
           ((double)mvae_ctx_arena_peak(ctx[0]) - (double)mvae_ctx_arena_peak(ctx[1])) / 1048576.0,
           m[0]->params->n_floats - m[1]->params->n_floats);
    rc = 0;
out:
    if (rc) fprintf(stderr, "bench_step: %s\n", err.msg);
    free(perm);
    for (int v = 0; v < 2; v++) {
        free(st[v]);
        mvae_ctx_free(ctx[v]);
        mvae_model_free(m[v]);
        mvae_cfg_free(cfg[v]);
    }
    if (have_batch) mvae_batch_free(&b);
    mvae_registry_free(reg);
    return rc;
}

/* ------------------------------------------------------------------ evaluation speed */
static int run_eval(const opts *o) {
    mvae_error err = {0};
    mvae_registry *reg = mvae_registry_new();
    mvae_cfg *cfg = NULL;
    mvae_model *m = NULL;
    int rc = 1;
    char kset[64], nset[64];
    snprintf(kset, sizeof kset, "eval.log_likelihood.samples=%d", o->eval_k);
    snprintf(nset, sizeof nset, "eval.log_likelihood.max_test=%d", o->eval_n);
    if (!reg || mvae_registry_load_default(reg, &err) || mvae_cfg_load_file(o->model, &cfg, &err)) goto out;
    for (int i = 0; i < o->n_sets; i++)
        if (mvae_cfg_set(cfg, o->sets[i], &err)) goto out;
    if (mvae_cfg_set(cfg, kset, &err) || mvae_cfg_set(cfg, nset, &err) ||
        mvae_cfg_set(cfg, "eval.log_likelihood.terms=[image, \"image,label\"]", &err) ||
        mvae_cfg_set(cfg, "eval.coherence.enabled=false", &err) || mvae_cfg_set(cfg, "eval.probe.enabled=false", &err) ||
        mvae_model_build(cfg, reg, &m, &err))
        goto out;
    print_config(o, "eval", mvae_params_count_trainable(m->params));
    mvae_eval_result r;
    if (mvae_evaluate(m, MVAE_SPLIT_TEST, &r, true, &err)) goto out;
    printf("eval K=%d n=%lld ll_sec=%.3f test_points_per_sec=%.1f total_eval_sec=%.3f\n", r.ll_samples,
           (long long)r.n_ll_test, r.ll_seconds, (double)r.n_ll_test / r.ll_seconds, r.seconds);
    rc = 0;
out:
    if (rc) fprintf(stderr, "bench_step: %s\n", err.msg);
    mvae_model_free(m);
    mvae_cfg_free(cfg);
    mvae_registry_free(reg);
    return rc;
}

static void print_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("memory peak_rss_mib=%.1f\n", (double)ru.ru_maxrss / 1024.0);
}

int main(int argc, char **argv) {
    opts o;
    parse(argc, argv, &o);
    mvae_gemm_set_threads(o.threads);
    mvae_gemm_set_observer(observe_gemm, NULL);
    int rc = o.model ? (o.impartial ? run_impartial(&o) : o.eval_k > 0 ? run_eval(&o) : run_model(&o)) : run_mlp(&o);
    print_rss();
    return rc;
}
