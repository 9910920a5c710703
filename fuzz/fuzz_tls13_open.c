/* SPDX-License-Identifier: Apache-2.0 */
/* Drives the TLS 1.3 record layer (src/server/tls13.h) on a fixed key
 * state. The first byte picks the mode:
 *  - even: the rest is opened as it is, record after record (what an
 *    attacker without the keys can send);
 *  - odd: the rest is a list of steps [flags][length: 2 bytes][bytes], and
 *    each step's bytes are sealed as a whole TLSInnerPlaintext under the
 *    server's current read key before being opened, so that content types,
 *    padding, alerts and (fragmented) KeyUpdates reach the parser behind
 *    the tag. Control records the server owes are opened by a peer state,
 *    whose own replies go back to the server.
 * Bit 1 of the first byte picks ChaCha20-Poly1305 instead of AES-128-GCM,
 * bit 2 starts both sequence numbers just below AES-GCM's soft limit.
 * Never a crash; every result is one the header documents. */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/tls13.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static const uint8_t SECRET_C[VL_TLS13_SECRET_LEN] = {0xc1, 0x1e, 0x47};
static const uint8_t SECRET_S[VL_TLS13_SECRET_LEN] = {0x5e, 0x7e, 0x75};

static uint8_t buf[VL_TLS13_RECORD_MAX + 512];
static uint8_t sealed[VL_TLS13_PLAIN_MAX + 512 + 2 * VL_TLS13_OVERHEAD];

/* Opens one record and checks the outcome against the contract. */
static int open_checked(struct vl_tls13 *r, uint8_t *p, size_t len, size_t *used)
{
	const uint8_t *pl = (const uint8_t *)1;
	size_t pl_len = 99;
	bool was_closed = r->peer_closed, was_failed = r->failed;
	int rc = vl_tls13_open(r, p, len, used, &pl, &pl_len);
	switch (rc) {
	case VL_OK:
		CHECK(*used >= 5 + VL_AEAD_TAG_LEN + 1 && *used <= len &&
		      *used <= VL_TLS13_RECORD_MAX);
		CHECK(pl_len <= VL_TLS13_PLAIN_MAX);
		CHECK(pl_len == 0 || (pl == p + 5 && pl + pl_len <= p + *used));
		CHECK(!r->failed && !r->peer_closed);
		break;
	case VL_ERR_AGAIN:
		CHECK(*used == 0 && !pl && pl_len == 0);
		break;
	case VL_ERR_STATE:
		CHECK(r->peer_closed && !pl && pl_len == 0);
		CHECK(was_closed ? *used == 0 : *used <= len);
		break;
	case VL_ERR_CRYPTO:
		CHECK(r->failed && *used == 0 && !pl && pl_len == 0);
		/* a new failure names the alert owed (RFC 8446 §6.2) */
		CHECK(was_failed || r->alert == 10 || r->alert == 20 || r->alert == 22 ||
		      r->alert == 47 || r->alert == 50 || r->alert == 255);
		break;
	default:
		CHECK(0);
	}
	return rc;
}

static void raw(struct vl_tls13 *r, const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	CHECK(copy);
	memcpy(copy, data, size);
	size_t off = 0, used;
	while (open_checked(r, copy + off, size - off, &used) == VL_OK)
		off += used;
	free(copy);
}

/* Seals inner[0..n) as one record under r's read state, as its peer would. */
static size_t seal_for(const struct vl_tls13 *r, const uint8_t *inner, size_t n, uint8_t *out)
{
	const struct vl_suite *s = vl_suite_get(r->suite);
	CHECK(s);
	size_t ct = n + VL_AEAD_TAG_LEN;
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(ct >> 8);
	out[4] = (uint8_t)ct;
	uint8_t nonce[12];
	memcpy(nonce, r->read_iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(r->read_seq >> (8 * i));
	CHECK(vl_aead_seal(s, r->read_key, nonce, out, 5, inner, n, out + 5) == VL_OK);
	return 5 + ct;
}

/* Hands the server's owed control records to the peer, and the peer's
 * replies back. */
static void exchange_control(struct vl_tls13 *srv, struct vl_tls13 *peer)
{
	uint8_t ctl[VL_TLS13_CONTROL_MAX];
	size_t n = vl_tls13_take_control(srv, ctl), used;
	if (!n)
		return;
	CHECK(n <= VL_TLS13_CONTROL_MAX);
	CHECK(srv->write_seq == 0);
	/* The server's own records always open. */
	CHECK(open_checked(peer, ctl, n, &used) == VL_OK && used == n);
	/* The steps sealed under the server's read state directly: the peer
	 * catches up before it answers. */
	memcpy(peer->write_secret, srv->read_secret, sizeof peer->write_secret);
	memcpy(peer->write_key, srv->read_key, sizeof peer->write_key);
	memcpy(peer->write_iv, srv->read_iv, sizeof peer->write_iv);
	peer->write_seq = srv->read_seq;
	n = vl_tls13_take_control(peer, ctl);
	if (n && !srv->failed && !srv->peer_closed)
		(void)open_checked(srv, ctl, n, &used);
}

static void steps(struct vl_tls13 *srv, struct vl_tls13 *peer, const uint8_t *data, size_t size)
{
	while (size >= 3 && !srv->failed && !srv->peer_closed) {
		uint8_t flags = data[0];
		size_t n = (size_t)data[1] << 8 | data[2];
		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		if (n > VL_TLS13_PLAIN_MAX + 250)
			n = VL_TLS13_PLAIN_MAX + 250;
		const uint8_t *bytes = data;
		data += n;
		size -= n;
		size_t used;
		if (flags & 0x04) {
			/* The server sends data: the peer must read it back. */
			if (peer->failed || peer->peer_closed || n > VL_TLS13_PLAIN_MAX)
				continue;
			exchange_control(srv, peer);
			if (srv->failed)
				return;
			int rc = vl_tls13_seal(srv, bytes, n, sealed);
			CHECK(rc == VL_OK || rc == VL_ERR_LIMIT || rc == VL_ERR_STATE);
			if (rc != VL_OK || n == 0)
				continue;
			const uint8_t *pl;
			size_t pl_len;
			CHECK(vl_tls13_open(peer, sealed, vl_tls13_sealed_len(n), &used, &pl,
			                    &pl_len) == VL_OK);
			CHECK(used == vl_tls13_sealed_len(n) && pl_len == n);
			CHECK(memcmp(pl, bytes, n) == 0);
			continue;
		}
		size_t len = seal_for(srv, bytes, n, buf);
		if (flags & 0x01) /* tamper with one byte */
			buf[((size_t)flags * 131u) % len] ^= (uint8_t)(1u << (flags >> 5));
		if (flags & 0x02) { /* first a part of it */
			size_t part = ((size_t)flags * 977u) % len;
			int rc = open_checked(srv, buf, part, &used);
			CHECK(rc == VL_ERR_AGAIN || rc == VL_ERR_CRYPTO);
			if (rc == VL_ERR_CRYPTO)
				return;
		}
		if (open_checked(srv, buf, len, &used) == VL_OK)
			exchange_control(srv, peer);
	}
	uint8_t alert[VL_TLS13_CONTROL_MAX];
	size_t n = vl_tls13_seal_alert(srv, srv->failed ? srv->alert : 0, alert);
	CHECK(n == 0 || n == 24);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	uint16_t suite =
	    (mode & 2) ? VL_TLS13_CHACHA20_POLY1305_SHA256 : VL_TLS13_AES_128_GCM_SHA256;
	struct vl_tls13 srv, peer;
	CHECK(vl_tls13_init(&srv, suite, SECRET_C, SECRET_S) == VL_OK);
	CHECK(vl_tls13_init(&peer, suite, SECRET_S, SECRET_C) == VL_OK);
	if (mode & 4) {
		srv.read_seq = peer.write_seq = VL_TLS13_GCM_SOFT_LIMIT - 2;
		srv.write_seq = peer.read_seq = VL_TLS13_GCM_SOFT_LIMIT - 2;
	}
	if (mode & 1)
		steps(&srv, &peer, data + 1, size - 1);
	else
		raw(&srv, data + 1, size - 1);
	vl_tls13_wipe(&srv);
	vl_tls13_wipe(&peer);
	return 0;
}
