/* sweep_internal.h — between sweep.c and sweep_cluster.c. */
#ifndef MVAE_SWEEP_INTERNAL_H
#define MVAE_SWEEP_INTERNAL_H
#include <stdbool.h>
#include <stdio.h>
/* The runs of sweep directory `dir` that have no metrics.json yet, with their state (running:
 * whose claim; interrupted; failed; waiting) and epochs done: a Markdown section appended to md
 * (may be NULL) and, unless quiet, lines on stdout. Returns how many are running. */
int mvae_sweep_list_unfinished(const char *dir, FILE *md, bool quiet);
#endif
