/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-decode arena: a chain of heap chunks handed out by bumping a
 * pointer, freed all at once. Decoded MLS structures keep their arrays here
 * so that one cleanup call releases a whole message, and the byte cap bounds
 * what a hostile input can make a decoder allocate.
 */
#include "mls/struct/struct_int.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct vl_mls_arena_chunk {
	struct vl_mls_arena_chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

#define ARENA_MIN_CHUNK 4096u
#define ARENA_MAX_CHUNK (1u << 20)
#define ARENA_ALIGN     alignof(max_align_t)

void vl_mls_arena_init(struct vl_mls_arena *a, size_t max)
{
	memset(a, 0, sizeof *a);
	a->max = max ? max : VL_MLS_ARENA_DEFAULT_MAX;
}

void vl_mls_arena_cleanup(struct vl_mls_arena *a)
{
	struct vl_mls_arena_chunk *c = a->head;
	while (c) {
		struct vl_mls_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = 0;
}

int vl_mls_arena_tick(struct vl_mls_arena *a)
{
	a->n_allocs++;
	if (a->fail_at && a->n_allocs >= a->fail_at)
		return VL_ERR_NOMEM;
	return VL_OK;
}

int vl_mls_arena_alloc(struct vl_mls_arena *a, size_t n, void **out)
{
	*out = NULL;
	int rc = vl_mls_arena_tick(a);
	if (rc)
		return rc;
	size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (need < n || need > a->max - a->used)
		return VL_ERR_LIMIT;
	struct vl_mls_arena_chunk *c = a->head;
	if (!c || c->size - c->used < need) {
		/* Chunks double up to a ceiling so that small messages cost one
		 * small allocation and large trees few large ones. */
		size_t size = c ? c->size * 2 : ARENA_MIN_CHUNK;
		if (size > ARENA_MAX_CHUNK)
			size = ARENA_MAX_CHUNK;
		if (size < need)
			size = need;
		c = malloc(sizeof *c + size);
		if (!c)
			return VL_ERR_NOMEM;
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += need;
	a->used += need;
	memset(p, 0, need);
	*out = p;
	return VL_OK;
}
