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
 * Saving writes "<path>.tmp", fsyncs, then renames over <path>: a crash never leaves a half file
 * under the real name. Loading checks magic, version, checksum, entry names and shapes against
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
#ifdef __cplusplus
}
#endif
#endif
