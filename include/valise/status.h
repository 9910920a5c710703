/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status codes shared by every layer of Valise. Every fallible function
 * returns one of these; 0 is success. vl_strerror() gives a short, fixed
 * English description that never contains caller data.
 */
#ifndef VALISE_STATUS_H
#define VALISE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VL_MUST_CHECK __attribute__((warn_unused_result))
#else
#define VL_MUST_CHECK
#endif

enum vl_status {
	VL_OK = 0,
	/* Memory could not be allocated. */
	VL_ERR_NOMEM = 1,
	/* Input is not well formed: truncated, trailing bytes, bad prefix,
	 * non-minimal integer, unknown enum value. */
	VL_ERR_DECODE = 2,
	/* A size or count limit was exceeded (input or output). */
	VL_ERR_LIMIT = 3,
	/* Input is well formed but violates a rule of the protocol. */
	VL_ERR_INVALID = 4,
	/* A cryptographic operation failed: bad signature, bad tag, bad key.
	 * Deliberately carries no further detail. */
	VL_ERR_CRYPTO = 5,
	/* A cipher suite, extension, version or feature is not supported. */
	VL_ERR_UNSUPPORTED = 6,
	/* An operating-system I/O call failed. */
	VL_ERR_IO = 7,
	/* The object asked for does not exist. */
	VL_ERR_NOT_FOUND = 8,
	/* The call is not allowed in the object's current state. */
	VL_ERR_STATE = 9,
	/* A commit or message refers to an epoch that is not the current one. */
	VL_ERR_STALE_EPOCH = 10,
	/* The caller is not allowed to do this. */
	VL_ERR_PERMISSION = 11,
	/* The peer broke the client/server protocol. */
	VL_ERR_PROTOCOL = 12,
	/* A network operation failed or the connection was lost. */
	VL_ERR_NET = 13,
	/* The storage backend failed. */
	VL_ERR_STORE = 14,
	/* The object already exists. */
	VL_ERR_EXISTS = 15,
	/* Try again later (rate limit, back-pressure, busy). */
	VL_ERR_AGAIN = 16,
	/* Authentication failed. */
	VL_ERR_AUTH = 17,
	/* Timed out. */
	VL_ERR_TIMEOUT = 18,
	/* An argument is out of range for this call. */
	VL_ERR_ARG = 19,
	/* A commit or message is for a later epoch than the group's on the
	 * server: the server has lost the group's latest commits (it was
	 * restored from a backup), and the group has to be made again. */
	VL_ERR_EPOCH_AHEAD = 20,
};

/* Returns a static, human-readable description of a status code. Unknown
 * codes give "unknown error". Never returns NULL. */
const char *vl_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif
