/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS 1.3 for valised, split in two. OpenSSL runs the server handshake on
 * memory BIOs (struct vl_tls13_hs); once it is complete, only the record
 * protection state is kept (struct vl_tls13: traffic secrets, keys, IVs and
 * sequence numbers, under 200 bytes, no heap) and the SSL object is freed.
 * From then on this module protects and opens TLS 1.3 records itself
 * (RFC 8446 §5), derives keys from the traffic secrets (§7.1-7.3) and
 * follows KeyUpdate (§4.6.3), so an idle connection costs its embedded
 * struct vl_tls13 instead of OpenSSL's 13.5 KiB.
 *
 * Lifecycle of one connection:
 *   vl_tls13_hs_new -> vl_tls13_hs_input ... (VL_ERR_AGAIN) ... VL_OK
 *     -> vl_tls13_hs_finish (hs freed, struct vl_tls13 filled)
 *     -> vl_tls13_open / vl_tls13_seal / vl_tls13_take_control ...
 *     -> vl_tls13_seal_alert(close_notify) -> vl_tls13_wipe.
 * A handshake that fails or is abandoned is freed with vl_tls13_hs_free.
 *
 * Nothing here does I/O; nothing logs. A struct vl_tls13 is used by one
 * thread at a time.
 */
#ifndef VL_SERVER_TLS13_H
#define VL_SERVER_TLS13_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

#define VL_TLS13_PLAIN_MAX   16384u               /* 2^14: most plaintext in one record */
#define VL_TLS13_RECORD_MAX  (5u + 16384u + 256u) /* largest TLSCiphertext incl. header we accept */
#define VL_TLS13_OVERHEAD    (5u + 1u + 16u) /* header + inner content type + tag, per record */
#define VL_TLS13_CONTROL_MAX (VL_TLS13_OVERHEAD + 5u) /* one KeyUpdate record; an alert needs 24 */
/* The most bytes vl_tls13_hs_input buffers past the end of the handshake
 * (application records the client sent behind its Finished). */
#define VL_TLS13_HS_REST_MAX (1u << 20)

/* TLS cipher suites accepted (RFC 8446 §B.4). */
enum {
	VL_TLS13_AES_128_GCM_SHA256 = 0x1301,
	VL_TLS13_CHACHA20_POLY1305_SHA256 = 0x1303,
};

/* Key usage limits (RFC 8446 §5.5), in records per key, counted whatever
 * their size (so conservatively):
 *  - AES-128-GCM: from VL_TLS13_GCM_SOFT_LIMIT records on, a KeyUpdate is
 *    owed (ours when we have sent that many, one requesting the peer's when
 *    we have received that many); vl_tls13_seal refuses application data
 *    past VL_TLS13_GCM_HARD_LIMIT = floor(2^24.5) records (VL_ERR_LIMIT).
 *  - ChaCha20-Poly1305: no limit below the sequence number itself; a key is
 *    never used with sequence number 2^64 - 1 or beyond.
 * Control records (a KeyUpdate, an alert) may go a few records past the
 * hard limit: they are what ends the key's use. */
#define VL_TLS13_GCM_SOFT_LIMIT (UINT64_C(1) << 24)
#define VL_TLS13_GCM_HARD_LIMIT UINT64_C(23726566)

#define VL_TLS13_SECRET_LEN 32 /* SHA-256 traffic secrets: both suites */

/* --- Server context ------------------------------------------------------------ */

struct vl_tls13_ctx; /* the server's SSL_CTX and settings */

/* Loads the certificate chain and private key (PEM files) into a new server
 * context: TLS 1.3 only; cipher suites TLS_AES_128_GCM_SHA256 and
 * TLS_CHACHA20_POLY1305_SHA256 only; no session tickets, no session cache,
 * no early data, no renegotiation; ALPN "http/1.1" selected if the client
 * offers it (a client offering ALPN without it is refused with
 * no_application_protocol, RFC 7301 §3.2).
 * Returns VL_OK (*out is new; vl_tls13_ctx_free), VL_ERR_IO if a file
 * cannot be read, VL_ERR_CRYPTO if OpenSSL refuses the files or the
 * settings, VL_ERR_NOMEM. */
VL_MUST_CHECK int vl_tls13_ctx_new(const char *cert_file, const char *key_file,
                                   struct vl_tls13_ctx **out);
/* Accepts NULL. Handshakes in progress keep their own reference. */
void vl_tls13_ctx_free(struct vl_tls13_ctx *c);

/* --- Handshake ------------------------------------------------------------------ */

struct vl_tls13_hs; /* one server-side handshake in progress (an SSL on memory BIOs) */

/* A new server handshake. VL_OK (*out; free with vl_tls13_hs_free or
 * consume with vl_tls13_hs_finish), VL_ERR_NOMEM, VL_ERR_CRYPTO. */
VL_MUST_CHECK int vl_tls13_hs_new(struct vl_tls13_ctx *c, struct vl_tls13_hs **out);
/* Feeds bytes received from the peer (any split; len may be 0). *out and
 * *out_len: bytes to send to the peer now (owned by hs, valid until the
 * next call on hs; may be 0 bytes).
 * Returns VL_OK when the handshake is complete (bytes fed after that are
 * kept for vl_tls13_hs_finish), VL_ERR_AGAIN when it needs more input,
 * VL_ERR_CRYPTO if it failed (*out may then hold an alert to send before
 * closing; every later call fails the same way), VL_ERR_LIMIT if more than
 * VL_TLS13_HS_REST_MAX bytes arrived past the end of the handshake. No
 * detail beyond that; nothing is logged. */
VL_MUST_CHECK int vl_tls13_hs_input(struct vl_tls13_hs *hs, const uint8_t *in, size_t len,
                                    const uint8_t **out, size_t *out_len);

/* Record state after the handshake. The caller embeds it; it holds no
 * pointer. Fields other than peer_closed and alert are this module's. */
struct vl_tls13 {
	/* Per direction (read: from the peer; write: to the peer): the
	 * current application traffic secret, kept for KeyUpdate (§7.2), its
	 * key and IV (§7.3) and the next record's sequence number (§5.3). */
	uint8_t read_secret[VL_TLS13_SECRET_LEN];
	uint8_t write_secret[VL_TLS13_SECRET_LEN];
	uint8_t read_key[32]; /* 16 bytes used for AES-128-GCM */
	uint8_t write_key[32];
	uint8_t read_iv[12];
	uint8_t write_iv[12];
	uint64_t read_seq;
	uint64_t write_seq;
	uint16_t suite;    /* the vl_suite id of src/crypto: 1 (AES-128-GCM) or 3 (ChaCha20) */
	bool peer_closed;  /* the peer sent close_notify: no more data will be read */
	bool failed;       /* a fatal error: nothing more is read, no more data sealed */
	bool write_closed; /* we sent an alert, or the write side failed: nothing more is sealed */
	uint8_t owed;      /* control records owed to the peer (VL_TLS13_OWE_*) */
	/* After vl_tls13_open failed on the peer's input: the alert
	 * description to send (RFC 8446 §6.2), or 255 if none is owed (the
	 * peer sent a fatal alert itself). 0 otherwise. */
	uint8_t alert;
	uint8_t hs_len; /* bytes of a fragmented handshake message held in hs_part */
	uint8_t hs_part[4];
};

/* Bits of struct vl_tls13.owed. */
enum {
	VL_TLS13_OWE_REPLY = 1,  /* the peer's KeyUpdate requested one of ours */
	VL_TLS13_OWE_UPDATE = 2, /* our write key has reached its soft limit */
	VL_TLS13_OWE_ASK = 4,    /* the peer's key has: our KeyUpdate requests one */
	VL_TLS13_ASKED = 8,      /* a request was sent; not asked again until answered */
};

/* After vl_tls13_hs_input returned VL_OK: moves the traffic state into *rec
 * (derived from the client and server application traffic secrets; both
 * sequence numbers 0, since the server sends nothing after its Finished),
 * hands back in *rest (heap, free(); NULL when none) the bytes already
 * received past the handshake (the peer may send application records right
 * behind its Finished; open them with vl_tls13_open) and frees hs.
 * hs is freed in every case, success or not. Returns VL_OK,
 * VL_ERR_STATE if the handshake had not completed, VL_ERR_CRYPTO if
 * OpenSSL holds bytes it already took from the BIO but has not processed,
 * or a secret is missing or malformed, or the suite is not one of the two,
 * VL_ERR_NOMEM. On failure *rec is wiped and *rest is NULL. */
VL_MUST_CHECK int vl_tls13_hs_finish(struct vl_tls13_hs *hs, struct vl_tls13 *rec, uint8_t **rest,
                                     size_t *rest_len);
/* Frees a handshake that did not finish, wiping its secrets. Accepts NULL. */
void vl_tls13_hs_free(struct vl_tls13_hs *hs);

/* The ALPN protocol selected during the handshake ("http/1.1"), or NULL if
 * none was. The string is static. Call before vl_tls13_hs_finish. */
const char *vl_tls13_hs_alpn(const struct vl_tls13_hs *hs);

/* --- Records -------------------------------------------------------------------- */

/* Sets up *r from two application traffic secrets of VL_TLS13_SECRET_LEN
 * bytes (read: the peer's, write: ours), both sequence numbers 0.
 * cipher_suite is VL_TLS13_AES_128_GCM_SHA256 or
 * VL_TLS13_CHACHA20_POLY1305_SHA256. vl_tls13_hs_finish calls it; tests and
 * fuzzers use it for a fixed state. VL_OK, VL_ERR_UNSUPPORTED for another
 * suite, VL_ERR_CRYPTO (r wiped). */
VL_MUST_CHECK int vl_tls13_init(struct vl_tls13 *r, uint16_t cipher_suite,
                                const uint8_t read_secret[static VL_TLS13_SECRET_LEN],
                                const uint8_t write_secret[static VL_TLS13_SECRET_LEN]);

/* Bytes needed to seal len bytes of application data as records of at most
 * VL_TLS13_PLAIN_MAX: len + ceil(len / 16384) * VL_TLS13_OVERHEAD (0 for 0). */
size_t vl_tls13_sealed_len(size_t len);

/* Seals len bytes of application data from in into out, which holds
 * vl_tls13_sealed_len(len) bytes and must not overlap in. Records carry no
 * padding (§5.4). Call vl_tls13_take_control first whenever something may
 * be owed (after vl_tls13_open; cheap when nothing is).
 * Returns VL_OK (len 0 writes nothing), VL_ERR_LIMIT if the write key's
 * limit (see above) or the sequence number would be passed (the caller
 * closes; nothing written), VL_ERR_STATE if a KeyUpdate reply the peer
 * asked for has not been taken with vl_tls13_take_control (§4.6.3: it must
 * precede our next application data), or after a failure or an alert was
 * sealed, VL_ERR_CRYPTO if the cipher failed (r is then failed). */
VL_MUST_CHECK int vl_tls13_seal(struct vl_tls13 *r, const uint8_t *in, size_t len, uint8_t *out);

/* Opens one record at buf[0..len) in place.
 * - VL_ERR_AGAIN: no whole record yet (*consumed = 0); nothing changed.
 * - VL_OK: the first *consumed bytes were one record; *plain and *plain_len its
 *   application data (pointing into buf; plain_len may be 0: a KeyUpdate,
 *   a user_canceled alert or an empty record, all handled here; a KeyUpdate
 *   that asks for ours sets VL_TLS13_OWE_REPLY: see vl_tls13_take_control).
 * - VL_ERR_STATE: the peer sent close_notify (r->peer_closed is set;
 *   *consumed counts the alert's record), or had sent it before (*consumed
 *   = 0): everything after close_notify is ignored (§6.1).
 * - VL_ERR_CRYPTO: a bad tag, a record too long, a wrong outer type (a
 *   plaintext record after the handshake), an inner plaintext with no
 *   content type (all zero), an unknown content type, an unexpected or
 *   malformed handshake message, a malformed or fatal alert, or sequence
 *   number exhaustion. r->alert tells which alert to send (255: none);
 *   the caller sends it with vl_tls13_seal_alert and closes. Every later
 *   call fails the same way (*consumed = 0).
 * On VL_ERR_AGAIN, VL_ERR_STATE and VL_ERR_CRYPTO *plain is NULL and
 * *plain_len 0. */
VL_MUST_CHECK int vl_tls13_open(struct vl_tls13 *r, uint8_t *buf, size_t len, size_t *consumed,
                                const uint8_t **plain, size_t *plain_len);

/* Control records owed to the peer (a KeyUpdate: the reply the peer asked
 * for, ours at the write key's soft limit, or one asking for the peer's at
 * the read key's soft limit), sealed into out (at least
 * VL_TLS13_CONTROL_MAX bytes), after which the write keys are updated
 * (§7.2). The caller sends these before any further application data.
 * One record per call: a request of ours that meets a reply owed waits for
 * the next call, so call it before every vl_tls13_seal (it costs a test of
 * r->owed when nothing is owed).
 * Returns the bytes written: 0 if none are owed, after a failure or an
 * alert, or if sealing failed (r is then failed and write_closed). */
size_t vl_tls13_take_control(struct vl_tls13 *r, uint8_t *out);

/* A sealed alert record into out (at least VL_TLS13_CONTROL_MAX bytes):
 * description 0 is close_notify (sent with level warning, as is
 * user_canceled 90), any other is fatal (§6). After it nothing more can be
 * sealed. It may follow a failure of vl_tls13_open (to send r->alert).
 * Returns bytes written, 0 if nothing can be sent (the write side failed,
 * is already closed, or its sequence number is exhausted). */
size_t vl_tls13_seal_alert(struct vl_tls13 *r, uint8_t description, uint8_t *out);

/* Wipes all of *r (every byte zero). */
void vl_tls13_wipe(struct vl_tls13 *r);

#endif
