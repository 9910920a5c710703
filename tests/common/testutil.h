/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the unit, vector and end-to-end tests: hex decoding,
 * file reading, locating the vector folder and the one-line vector report.
 */
#ifndef VL_TESTUTIL_H
#define VL_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Heap buffer from a hex string (free() it). NULL on bad hex. An empty
 * string gives a valid 1-byte allocation and *len = 0. */
uint8_t *tu_unhex(const char *hex, size_t *len);
/* Lower-case hex of buf (free() it). */
char *tu_hex(const uint8_t *buf, size_t len);
/* Whole file into a heap buffer (free() it); NULL on error. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Folder of the shared vectors: $VALISE_VECTORS, else the folder meson
 * configured ($VALISE_VECTORS_DEFAULT), else ../shared/vectors. */
const char *tu_vectors_dir(void);
/* Path of a vector file (static buffer): the argv-given path if it names a
 * readable file, else tu_vectors_dir()/given, else tu_vectors_dir()/rel. */
const char *tu_vector_path(const char *given, const char *rel);
/* Loads a JSON vector file. NULL (and a message on stderr) if absent. */
json_t *tu_load_json(const char *path);

/* Hex field of a JSON object into a heap buffer; NULL if missing/bad. */
uint8_t *tu_json_hex(json_t *obj, const char *key, size_t *len);
/* Unsigned integer field; returns false if missing or not an integer. */
bool tu_json_uint(json_t *obj, const char *key, uint64_t *out);

/* Counts for one `vectors: FILE suite N: P passed, F failed, S skipped`
 * line. suite 0 means the file has no cipher suite (prints no suite). */
struct tu_tally {
	const char *file;
	unsigned suite;
	unsigned passed, failed, skipped;
};
void tu_tally_print(const struct tu_tally *t);
/* Prints a skip reason once per (file, reason) on stderr and counts it. */
void tu_skip(struct tu_tally *t, const char *reason);
/* Reports a failed case with context on stderr and counts it. */
void tu_fail(struct tu_tally *t, size_t index, const char *what);

/* Base name of a path (pointer into it). */
const char *tu_basename(const char *path);

#endif
