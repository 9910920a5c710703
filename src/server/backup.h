/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `valised admin backup DIR`: a copy of a data folder's store and blobs
 * that a server started on it serves as the original did at one moment
 * (docs/operations.md, "Data and backups").
 */
#ifndef VL_SERVER_BACKUP_H
#define VL_SERVER_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store/store.h"

struct vl_backup_result {
	uint64_t store_bytes;
	uint64_t blobs, blob_bytes;
	uint64_t linked, copied; /* blobs hard-linked, blobs copied */
};

/* Copies the store st (opened on data_dir/valise.db) to dest/valise.db,
 * then the file of every blob that copy records from data_dir/blobs/ to
 * dest/blobs/ (a hard link where dest is on the same file system, a copy
 * elsewhere), syncing each. dest must not exist; its parent must. The
 * store copy is one snapshot, and its own list of blobs says which files
 * to take: a blob stored after it is left out, and one deleted since is
 * recorded with no file (a 404, as in the original). progress, if set, is
 * called every second or so during the blobs. 0, or VL_ERR_EXISTS /
 * VL_ERR_IO / VL_ERR_STORE with a sentence in err; blob files already
 * copied are then left for the operator to see and remove. */
int vl_backup(struct vl_store *st, const char *data_dir, const char *dest,
              void (*progress)(const struct vl_backup_result *r), struct vl_backup_result *out,
              char *err, size_t err_len);

#endif
