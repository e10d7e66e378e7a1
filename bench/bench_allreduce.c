/* bench_allreduce: the time of one in-place all-reduce of a gradient block (mvae/dist.h), the
 * communication part of a data-parallel step, without the compute around it.
 *   mpirun -np 2 --oversubscribe build/bench_allreduce [FLOATS ...] (default: the MLP's and CNN's
 *   parameter blocks). Prints, per size, the median and minimum over 30 calls and the bus
 *   bandwidth 2 (N-1)/N * bytes / time (the ring all-reduce's traffic per rank, docs/scaling.md). */
#include "mvae/dist.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    mvae_error err = {0};
    if (mvae_dist_init(&err)) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
        return 1;
    }
    int n_ranks = mvae_dist_size(), rank = mvae_dist_rank();
    if (n_ranks < 2 && rank == 0) fprintf(stderr, "bench_allreduce: one rank (run it under mpirun -np 2)\n");
    /* the parameter blocks (floats, padding included) of experiments/fashion_mnist_{mlp,cnn}.yaml */
    long sizes[16] = {2588192, 7689616};
    int n_sizes = 2;
    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 16; i++) sizes[n_sizes++] = strtol(argv[i], NULL, 10);
    }
    enum { REPS = 30 };
    for (int s = 0; s < n_sizes; s++) {
        size_t n = (size_t)sizes[s];
        float *g = calloc(n, sizeof *g);
        double t[REPS];
        for (int r = 0; r < REPS + 3; r++) {
            for (size_t i = 0; i < n; i += 1024) g[i] = (float)rank;
            mvae_dist_barrier_idle(&err);
            double t0 = mvae_time_sec();
            if (mvae_dist_allreduce_sum_f32(g, n, &err)) {
                fprintf(stderr, "bench_allreduce: %s\n", err.msg);
                mvae_dist_abort(1);
            }
            if (r >= 3) t[r - 3] = mvae_time_sec() - t0;
        }
        qsort(t, REPS, sizeof *t, cmp);
        double bytes = (double)n * 4, bus = n_ranks > 1 ? 2.0 * (n_ranks - 1) / n_ranks * bytes : 0;
        if (rank == 0)
            printf("allreduce %d ranks: %zu floats (%.2f MB): median %.2f ms, min %.2f ms, bus bandwidth %.2f GB/s "
                   "(median)\n", n_ranks, n, bytes / 1e6, 1e3 * t[REPS / 2], 1e3 * t[0], bus / t[REPS / 2] / 1e9);
        free(g);
    }
    mvae_dist_finalize();
    return 0;
}
