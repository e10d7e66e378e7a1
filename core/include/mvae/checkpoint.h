/* mvae/checkpoint.h — parameters + optimiser state + step in one versioned, checksummed file.
 *
 *   mvae_checkpoint_save("run/last.ckpt", ps, &opt, &rng, extra_json, &err);
 *   mvae_checkpoint_load("run/last.ckpt", ps, &opt, &rng, &err);   // ps declared the same way
 *
 * Format (little-endian), version 1:
 *   "MVAECKPT" | u32 version | u32 n_entries | i64 opt.step | u32 opt.kind | u8 has_moments
 *   | rng state (4 x u64) | u32 extra_len | extra (UTF-8, e.g. JSON with epoch/best metric)
 *   | entries: { u16 name_len | name | u8 ndim | i64 shape[ndim] | u8 buffer }
 *   | data: for each entry its floats, then (if has_moments) m and v for each entry
 *   | u32 crc32 of everything before it
 * Saving writes "<path>.tmp", fsyncs, then renames over <path> and fsyncs the directory: a crash
 * never leaves a half file under the real name (at most a stale "<path>.tmp", which the next
 * save overwrites and which nothing reads). Every I/O error names the file and strerror(errno). Loading checks magic, version, checksum, entry names and shapes against
 * the declared store, and fails with a message naming the file and the mismatch; on failure
 * nothing in ps/opt/rng is modified.
 */
#ifndef MVAE_CHECKPOINT_H
#define MVAE_CHECKPOINT_H
#include "mvae/optim.h"
#include "mvae/rng.h"
#ifdef __cplusplus
extern "C" {
#endif
#define MVAE_CHECKPOINT_VERSION 1u
/* opt, rng, extra may be NULL. */
int mvae_checkpoint_save(const char *path, const mvae_params *ps, const mvae_optim *opt,
                         const mvae_rng *rng, const char *extra, mvae_error *err);
/* opt, rng may be NULL (then not restored). extra_out (may be NULL) receives a malloc'd copy of
 * the extra string (caller frees). */
int mvae_checkpoint_load(const char *path, mvae_params *ps, mvae_optim *opt, mvae_rng *rng,
                         char **extra_out, mvae_error *err);

/* Called by mvae_checkpoint_load_checked with the verified file's extra string (never NULL; ""
 * when the file has none) after every structural check and before anything is copied: return
 * MVAE_OK to go on, or an error status (filling err) to refuse the file. */
typedef int (*mvae_checkpoint_check_fn)(const char *path, const char *extra, void *user, mvae_error *err);
/* mvae_checkpoint_load with a check of the extra string (check may be NULL): a refused file
 * changes nothing in ps/opt/rng. The trainer checks its metadata and fingerprint this way. */
int mvae_checkpoint_load_checked(const char *path, mvae_params *ps, mvae_optim *opt, mvae_rng *rng,
                                 mvae_checkpoint_check_fn check, void *user, char **extra_out,
                                 mvae_error *err);
/* Only the extra string of a checkpoint (magic, version, checksum and header checked; the
 * parameters are not read into anything). *extra_out is malloc'd ("" when none); caller frees. */
int mvae_checkpoint_read_extra(const char *path, char **extra_out, mvae_error *err);

/* Test hook for the kill tests (tests/test_rundir.c): with the environment variable
 * MVAE_TEST_CRASH_AT=<point>:<n>, the n-th call with that point name in this process kills the
 * process with SIGKILL (as a power cut or `kill -9` would). Without the variable it does
 * nothing. Points: ckpt_tmp (a checkpoint's temporary file written, not renamed), ckpt_renamed,
 * and the trainer's (mvae/train.h). */
void mvae_test_crash_point(const char *point);
#ifdef __cplusplus
}
#endif
#endif
