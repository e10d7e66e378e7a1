/* sweep_cluster.c — a sweep directory shared by processes and hosts: run claims (flock on
 * RUN/claim, taken over when the holder died), the Slurm job-array script, and the list of runs
 * not finished yet that `mvae report` prints while a sweep is running (docs/scaling.md). */
#define _GNU_SOURCE
#include "mvae/sweep.h"
#include "sweep_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void read_text(int fd, char *buf, size_t len) {
    ssize_t got = pread(fd, buf, len - 1, 0);
    buf[got > 0 ? got : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* "pid P host H started T" -> "PID P on host H since T" */
static void describe(const char *claim, char *out, size_t len) {
    long pid = 0;
    char host[128] = "?", started[64] = "?";
    if (sscanf(claim, "pid %ld host %127s started %63s", &pid, host, started) >= 2)
        snprintf(out, len, "PID %ld on host %s since %s", pid, host, started);
    else
        snprintf(out, len, "%s", claim[0] ? claim : "another process");
}

int mvae_run_claim_try(const char *run_dir, mvae_run_claim *c, bool *got, char *prev, size_t prev_len,
                       mvae_error *err) {
    c->fd = -1;
    *got = false;
    prev[0] = '\0';
    int rc = mvae_mkdir_p(run_dir, err);
    if (rc) return rc;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/claim", run_dir) >= (int)sizeof path)
        return mvae_error_set(err, MVAE_ERR_IO, "run directory name too long: '%s'", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return mvae_error_set(err, MVAE_ERR_IO, "cannot create the claim file %s: %s (is the sweep directory "
                              "writable?)", path, strerror(errno));
    char text[256];
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK) {
            close(fd);
            return mvae_error_set(err, MVAE_ERR_IO, "cannot lock %s: %s (does this file system support flock? "
                                  "docs/scaling.md)", path, strerror(e));
        }
        read_text(fd, text, sizeof text);
        close(fd);
        describe(text, prev, prev_len);
        return MVAE_OK;
    }
    /* ours: a claim text still there belongs to a holder that died without releasing it */
    read_text(fd, text, sizeof text);
    if (text[0]) describe(text, prev, prev_len);
    char host[128] = "unknown", stamp[64] = "?", line[320];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm)) strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S%z", &tm);
    int n = snprintf(line, sizeof line, "pid %ld host %s started %s\n", (long)getpid(), host, stamp);
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return mvae_error_set(err, MVAE_ERR_IO, "cannot write the claim file %s: %s", path, strerror(e));
    }
    c->fd = fd;
    *got = true;
    return MVAE_OK;
}

void mvae_run_claim_release(mvae_run_claim *c) {
    if (!c || c->fd < 0) return;
    if (ftruncate(c->fd, 0) != 0) { /* an unreleased-looking claim only reads as "crashed" */
    }
    close(c->fd); /* drops the flock */
    c->fd = -1;
}

/* ---------------------------------------------------------------------------- Slurm script */
static void sh_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

int mvae_sweep_write_slurm(const mvae_sweep *s, const mvae_slurm_opts *o, FILE *out, mvae_error *err) {
    if (!o->exe || o->exe[0] != '/' || !o->sweep_file || o->sweep_file[0] != '/' || !o->out_dir ||
        o->out_dir[0] != '/' || !o->workdir || o->workdir[0] != '/')
        return mvae_error_set(err, MVAE_ERR_INVALID, "slurm script: the command, sweep file, sweep directory and "
                              "working directory must be absolute paths (array tasks start elsewhere)");
    int n_runs = mvae_sweep_n_runs(s);
    int n = o->n_shards > 0 ? o->n_shards : n_runs;
    if (n < 1) n = 1;
    if (n > n_runs && n_runs > 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "--shards %d: the sweep has only %d runs; use at most %d shards",
                              n, n_runs, n_runs);
    int cpus = o->cpus > 0 ? o->cpus : 1;
    const char *name = mvae_sweep_name(s);
    fprintf(out, "#!/bin/bash\n");
    fprintf(out, "# mvae sweep %s as a Slurm job array: %d array task%s (shards) over %d runs, written by\n",
            o->sweep_file, n, n == 1 ? "" : "s", n_runs);
    fprintf(out, "# `mvae sweep --slurm`. Submit with `sbatch FILE`; submit it again to finish runs that\n");
    fprintf(out, "# failed or were cut off (finished runs are skipped, interrupted ones resumed; a run is\n");
    fprintf(out, "# claimed before it trains, so tasks never train the same run twice). Watch it with\n");
    fprintf(out, "# `mvae report %s`. Adjust the resources to your cluster (docs/scaling.md).\n", o->out_dir);
    fprintf(out, "#SBATCH --job-name=mvae-%s\n", name);
    fprintf(out, "#SBATCH --array=0-%d\n", n - 1);
    fprintf(out, "#SBATCH --ntasks=1\n");
    fprintf(out, "#SBATCH --cpus-per-task=%d\n", cpus);
    fprintf(out, "#SBATCH --time=%s\n", o->time ? o->time : "24:00:00");
    if (o->partition) fprintf(out, "#SBATCH --partition=%s\n", o->partition);
    fprintf(out, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", o->out_dir);
    fprintf(out, "set -euo pipefail\n");
    fprintf(out, "cd ");
    sh_quote(out, o->workdir);
    fprintf(out, "\n");
    fprintf(out, "# one training process per task; it uses train.threads GEMM threads (0: automatic, one with\n"
                 "# OpenBLAS): set train.threads in the sweep's set: to match --cpus-per-task\n");
    fprintf(out, "exec ");
    sh_quote(out, o->exe);
    fprintf(out, " sweep ");
    sh_quote(out, o->sweep_file);
    fprintf(out, " --out ");
    sh_quote(out, o->out_dir);
    fprintf(out, " --shard \"${SLURM_ARRAY_TASK_ID}/%d\" --quiet\n", n);
    return ferror(out) ? mvae_error_set(err, MVAE_ERR_IO, "cannot write the Slurm script") : MVAE_OK;
}

/* ------------------------------------------------------------ runs not finished (report) */
static bool has_file(const char *dir, const char *name) {
    char p[8800];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int mvae_sweep_list_unfinished(const char *dir, FILE *md, bool quiet) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char rd[4400];
        snprintf(rd, sizeof rd, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(rd, &st) != 0 || !S_ISDIR(st.st_mode) || has_file(rd, "metrics.json")) continue;
        if (!has_file(rd, "claim") && !has_file(rd, "config.yaml")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    char myhost[128] = "";
    if (gethostname(myhost, sizeof myhost) != 0) myhost[0] = '\0';
    myhost[sizeof myhost - 1] = '\0';
    int running = 0;
    if (n && md) fprintf(md, "\n## Runs not finished (%zu)\n\n| run | state | epochs done |\n|---|---|---|\n", n);
    if (n && !quiet) printf("runs not finished: %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        char rd[4400], p[4500], text[256] = "", state[400];
        snprintf(rd, sizeof rd, "%s/%s", dir, names[i]);
        snprintf(p, sizeof p, "%s/claim", rd);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            read_text(fd, text, sizeof text);
            close(fd);
        }
        long pid = 0;
        char host[128] = "", started[64] = "?";
        bool claimed = text[0] && sscanf(text, "pid %ld host %127s started %63s", &pid, host, started) >= 2;
        if (claimed && !strcmp(host, myhost) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            snprintf(state, sizeof state, "interrupted (PID %ld on %s died; the next sweep process takes it over)", pid,
                     host);
        else if (claimed && !strcmp(host, myhost))
            snprintf(state, sizeof state, "running (PID %ld on %s since %s)", pid, host, started), running++;
        else if (claimed)
            snprintf(state, sizeof state, "running on host %s (PID %ld since %s; not checkable from here)", host, pid,
                     started), running++;
        else if (has_file(rd, "error.txt"))
            snprintf(state, sizeof state, "failed (see error.txt; the next sweep process retries it)");
        else
            snprintf(state, sizeof state, "%s", has_file(rd, "last.ckpt") ? "interrupted (resumed by the next sweep "
                                                                            "process)" : "waiting");
        /* epochs done: lines of metrics.jsonl */
        int epochs = 0;
        snprintf(p, sizeof p, "%s/metrics.jsonl", rd);
        FILE *f = fopen(p, "r");
        if (f) {
            for (int ch; (ch = fgetc(f)) != EOF;) epochs += ch == '\n';
            fclose(f);
        }
        if (md) fprintf(md, "| %s | %s | %d |\n", names[i], state, epochs);
        if (!quiet) printf("  %s: %s, %d epoch(s) done\n", names[i], state, epochs);
        free(names[i]);
    }
    free(names);
    return running;
}
