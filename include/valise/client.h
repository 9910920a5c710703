/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvalise, the client library: one struct vl_client is one device of one
 * user (an address "user@domain" and a device name), with its sealed local
 * store in a data folder and its connection to the user's home server.
 *
 * Every conversation, one-to-one included, is an MLS group (RFC 9420) whose
 * members are devices; content is MIMI content (draft-ietf-mimi-content)
 * inside MLS application messages. The server sees ciphertext only.
 *
 * Threading: a client is not thread-safe; use it from one thread at a time.
 * Calls that talk to the server block until the server answers (or the
 * timeout of vl_client_opts.timeout_ms); vl_client_poll() reads what the
 * server pushes. While a call waits for its reply, pushed frames are kept
 * and processed by the next vl_client_poll() (or, for a commit that lost its
 * epoch, by the call itself before it retries).
 *
 * Events: incoming messages and changes are queued as struct vl_event.
 * vl_client_poll() delivers them to the callback set with
 * vl_client_set_event_cb() if there is one (the callback may call any
 * client function except vl_client_poll and vl_client_close), otherwise they
 * wait for vl_client_next_event().
 *
 * Identifiers in this API are strings: conversation ids and message ids are
 * lowercase hex (VL_CLIENT_ID_MAX characters at most), addresses are
 * "user@domain", devices are names, blob ids are 64 hex characters.
 *
 * Ownership: strings passed in are borrowed for the call. Heap results are
 * owned by the caller and released with the matching _free function named
 * in each comment; every _free accepts NULL.
 *
 * Return codes: every fallible function returns enum vl_status. Common to
 * all calls that talk to the server: VL_ERR_NET (no connection or it was
 * lost: call vl_client_connect again), VL_ERR_TIMEOUT, VL_ERR_PROTOCOL (the
 * server broke the protocol), VL_ERR_AGAIN (rate limited), VL_ERR_STORE
 * (local store failure), VL_ERR_NOMEM. A one-line reason for the last
 * failure is kept in vl_client_errmsg().
 */
#ifndef VALISE_CLIENT_H
#define VALISE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vl_client;

#define VL_CLIENT_ADDRESS_MAX 255 /* "user@domain" */
#define VL_CLIENT_DEVICE_MAX  64  /* device name */
#define VL_CLIENT_ID_MAX      510 /* hex of a group id (255 octets) */
#define VL_CLIENT_MSG_ID_LEN  64  /* hex of a 32-octet MIMI message id */
#define VL_CLIENT_BLOB_ID_LEN 64  /* hex of a 32-octet blob id */
/* A safety number: 12 groups of 5 digits separated by spaces. */
#define VL_CLIENT_SAFETY_NUMBER_LEN 71
/* Largest text of one message (octets of UTF-8). */
#define VL_CLIENT_TEXT_MAX (64u * 1024)
/* Largest attachment. */
#define VL_CLIENT_ATTACHMENT_MAX ((uint64_t)100 << 20)

/* --- Opening and account set-up --------------------------------------- */

struct vl_client_opts {
	/* Data folder (created with mode 0700 by vl_client_register): holds
	 * store.db and, with key_file, nothing else. Required. */
	const char *data_dir;
	/* How the store's key is protected: exactly one of a passphrase
	 * (Argon2id) and a key file (32 octets, mode 0600). */
	const char *passphrase;
	size_t passphrase_len;
	const char *key_file;
	/* Argon2id memory cost in KiB for a new store; 0: the store's default
	 * (64 MiB). Tests use the minimum (8 MiB). */
	uint32_t argon2_m_kib;
	/* Timeout of one request to the server, in ms; 0: 15000. */
	int timeout_ms;
	/* TLS: CA file to verify the server with (NULL: the system's); set
	 * tls_insecure only for a development server with a self-signed
	 * certificate. ws:// URLs are refused unless the host is loopback. */
	const char *ca_file;
	bool tls_insecure;
	/* KeyPackages kept in stock at the server; 0: 20. */
	uint32_t key_package_target;
	/* Optional: receives a one-line reason when vl_client_register or
	 * vl_client_open fails (there is then no client to ask). */
	char *errbuf;
	size_t errbuf_len;
};

/* Sets up a new account or a new device of an existing account: creates
 * the data folder and the sealed store, generates the device's signature
 * key (cipher suite 1: X25519, AES-128-GCM, SHA-256, Ed25519), connects to
 * server_url ("ws://127.0.0.1:8443" or "wss://host[:port]"), registers
 * address#device with the one-time invite (from an administrator for a
 * user's first device, from vl_client_device_invite() on one of the user's
 * devices for the next), and uploads KeyPackages. The client is connected
 * and authenticated on return; existing devices of the user add the new
 * device to their conversations when they next sync (vl_client_sync).
 * *out is released with vl_client_close().
 * Returns VL_OK; VL_ERR_ARG (bad address, device name or URL, or both or
 * neither of passphrase and key_file); VL_ERR_EXISTS (the data folder
 * already holds a store, or the server has this device name);
 * VL_ERR_AUTH (invite unknown, used, expired or for another address);
 * VL_ERR_LIMIT (the user has the maximum number of devices); VL_ERR_IO;
 * the common network errors. On failure nothing is left in data_dir. */
VL_MUST_CHECK int vl_client_register(const struct vl_client_opts *opts, const char *server_url,
                                     const char *address, const char *device, const char *invite,
                                     struct vl_client **out);

/* Opens an existing device's data folder. Does not connect.
 * Returns VL_OK; VL_ERR_NOT_FOUND (no store in data_dir); VL_ERR_AUTH
 * (wrong passphrase or key file); VL_ERR_PERMISSION (key file not private);
 * VL_ERR_STORE; VL_ERR_NOMEM. */
VL_MUST_CHECK int vl_client_open(const struct vl_client_opts *opts, struct vl_client **out);

/* Disconnects, wipes every key held in memory and frees c. Accepts NULL. */
void vl_client_close(struct vl_client *c);

/* The last failure's reason (owned by c, valid until the next call; never
 * a secret). */
const char *vl_client_errmsg(const struct vl_client *c);

/* This device's address, device name and server URL (owned by c). */
const char *vl_client_address(const struct vl_client *c);
const char *vl_client_device(const struct vl_client *c);
const char *vl_client_server_url(const struct vl_client *c);

/* --- Connection --------------------------------------------------------- */

/* Connects to the server and authenticates by signing its challenge with
 * the device key. After authentication the server pushes everything queued
 * while the device was offline (catch-up), processed by vl_client_poll().
 * Also resends a commit left pending by a crash and tops KeyPackages up
 * (a refused top-up does not fail the connection: the next one retries).
 * Returns VL_OK (also when already connected); VL_ERR_AUTH (the server
 * refused the device: unknown or revoked); network errors. */
VL_MUST_CHECK int vl_client_connect(struct vl_client *c);
/* Closes the connection (the client stays usable offline). */
void vl_client_disconnect(struct vl_client *c);
bool vl_client_connected(const struct vl_client *c);
/* The connection's socket, for an event loop (readable: call
 * vl_client_poll), or -1 when not connected. */
int vl_client_fd(const struct vl_client *c);

/* Reads and processes what the server pushed, waiting at most timeout_ms
 * (0: do not wait, -1: wait for at least one frame), then delivers queued
 * events to the callback. Acknowledges processed deliveries to the server.
 * Returns VL_OK; VL_ERR_NET when the connection is lost or the server
 * closed it (an event VL_EVENT_DISCONNECTED says why); VL_ERR_STATE if
 * called from the event callback. */
VL_MUST_CHECK int vl_client_poll(struct vl_client *c, int timeout_ms);

/* Polls until every delivery queued at the server for this device at the
 * time of the call has been processed (a PING round trip marks the end of
 * the backlog), at most timeout_ms. */
VL_MUST_CHECK int vl_client_catch_up(struct vl_client *c, int timeout_ms);

/* Makes the server state match the account: adds the user's devices that
 * are missing from its conversations (multi-device), removes revoked ones
 * and refreshes KeyPackages. Called by vl_client_connect; call it again
 * after registering another device. */
VL_MUST_CHECK int vl_client_sync(struct vl_client *c);

/* --- Devices and KeyPackages --------------------------------------------- */

struct vl_device_entry {
	char name[VL_CLIENT_DEVICE_MAX + 1];
	uint16_t cipher_suite;
	uint8_t signature_key[65];
	size_t signature_key_len;
	uint64_t created; /* Unix seconds */
	bool revoked;
	bool current; /* this device */
};

/* The devices of this user, from the server. *list is released with
 * vl_client_devices_free(). */
VL_MUST_CHECK int vl_client_devices(struct vl_client *c, struct vl_device_entry **list, size_t *n);
void vl_client_devices_free(struct vl_device_entry *list);
/* A one-time invite for a new device of this user (*invite: heap string,
 * free()). */
VL_MUST_CHECK int vl_client_device_invite(struct vl_client *c, char **invite);
/* Revokes a device of this user (permanent) and removes it from this
 * client's conversations. VL_ERR_NOT_FOUND for an unknown name. */
VL_MUST_CHECK int vl_client_device_revoke(struct vl_client *c, const char *device);

/* Uploads KeyPackages until the server holds `target` (0: the configured
 * target) plus a last-resort package. Done automatically on connect and on
 * the server's KP_LOW push. *uploaded (may be NULL) receives the count. */
VL_MUST_CHECK int vl_client_key_packages_replenish(struct vl_client *c, uint32_t target,
                                                   uint32_t *uploaded);

/* --- Contacts and safety numbers ------------------------------------------ */

struct vl_contact {
	char address[VL_CLIENT_ADDRESS_MAX + 1];
	char *display_name; /* heap, may be NULL */
	size_t n_devices;   /* devices whose keys are known */
	bool verified;      /* the user marked the safety number as checked */
	bool changed;       /* devices changed since verified / first seen */
};

/* Adds (or renames) a contact: checks with the server that the address has
 * devices (this claims one KeyPackage per device, which is how the client
 * learns the contact's device keys, trusted on first use). display_name
 * may be NULL. Returns VL_OK; VL_ERR_ARG (bad address); VL_ERR_NOT_FOUND
 * (no such user, or no device with a KeyPackage); network errors. */
VL_MUST_CHECK int vl_client_contact_add(struct vl_client *c, const char *address,
                                        const char *display_name);
/* Every contact, sorted by address; release with vl_client_contacts_free. */
VL_MUST_CHECK int vl_client_contacts(struct vl_client *c, struct vl_contact **list, size_t *n);
void vl_client_contacts_free(struct vl_contact *list, size_t n);

/* The safety number of this user and a contact: a fingerprint of both
 * users' device signature keys, the same on both sides (construction in
 * docs/internals/client.md). out receives VL_CLIENT_SAFETY_NUMBER_LEN
 * characters and a NUL. qr (may be NULL) receives the same value as a
 * heap string meant for a QR code ("valise-safety:1:" and the digits).
 * Keys come from the ratchet trees of shared conversations; when none is
 * on record (no shared conversation yet) and the client is connected, one
 * KeyPackage per device of the contact is claimed to learn them, as
 * vl_client_contact_add does.
 * VL_ERR_NOT_FOUND if no key of the contact is known. */
VL_MUST_CHECK int vl_client_safety_number(struct vl_client *c, const char *address,
                                          char out[VL_CLIENT_SAFETY_NUMBER_LEN + 1], char **qr);
/* Marks the contact's current device keys as verified (after comparing
 * safety numbers); a later change raises VL_EVENT_DEVICES_CHANGED with
 * `verified_broken` set. */
VL_MUST_CHECK int vl_client_contact_verify(struct vl_client *c, const char *address);

/* --- Conversations ----------------------------------------------------------- */

enum vl_conv_kind {
	VL_CONV_DIRECT = 1, /* one-to-one: this user's and one contact's devices */
	VL_CONV_GROUP = 2,
};

struct vl_conv_info {
	char id[VL_CLIENT_ID_MAX + 1];
	enum vl_conv_kind kind;
	char *name;     /* heap; for a direct conversation the peer's address */
	char **members; /* heap array of heap strings: user addresses, sorted */
	size_t n_members;
	char **admins; /* addresses allowed to add, remove, rename, set admins */
	size_t n_admins;
	size_t n_devices; /* MLS members (devices) */
	uint64_t epoch;
	uint64_t last_activity_ms;
	size_t unread;
	bool active; /* false once this device was removed or left */
};
void vl_conv_info_cleanup(struct vl_conv_info *info);
void vl_conv_list_free(struct vl_conv_info *list, size_t n);

/* Creates a conversation: a new MLS group with this device, the user's
 * other devices and every device of each member address (their KeyPackages
 * claimed from the server), committed and welcomed in one commit. A direct
 * conversation takes exactly one member; asking for a direct conversation
 * that exists returns its id. name may be NULL. The creator is the first
 * admin. id receives the conversation id.
 * Returns VL_OK; VL_ERR_ARG (bad address, no member for a direct
 * conversation, more than 1 for it); VL_ERR_NOT_FOUND (an address has no
 * device with a KeyPackage); network errors. */
VL_MUST_CHECK int vl_client_conv_create(struct vl_client *c, enum vl_conv_kind kind,
                                        const char *name, const char *const *members,
                                        size_t n_members, char id[VL_CLIENT_ID_MAX + 1]);
/* Conversations sorted by last activity, newest first. */
VL_MUST_CHECK int vl_client_conv_list(struct vl_client *c, struct vl_conv_info **list, size_t *n);
/* One conversation; release with vl_conv_info_cleanup. VL_ERR_NOT_FOUND. */
VL_MUST_CHECK int vl_client_conv_info(struct vl_client *c, const char *conv,
                                      struct vl_conv_info *info);
/* Adds every device of each address (a group, not a direct conversation:
 * VL_ERR_STATE). Only admins (VL_ERR_PERMISSION). A commit that loses its
 * epoch to another member's is retried on the new epoch automatically. */
VL_MUST_CHECK int vl_client_conv_add(struct vl_client *c, const char *conv,
                                     const char *const *addresses, size_t n);
/* Removes every device of each address. Only admins (VL_ERR_PERMISSION);
 * VL_ERR_NOT_FOUND if an address is not a member. */
VL_MUST_CHECK int vl_client_conv_remove(struct vl_client *c, const char *conv,
                                        const char *const *addresses, size_t n);
/* Leaves: removes all of this user's devices from the group in one commit
 * and marks the conversation inactive (its history stays). */
VL_MUST_CHECK int vl_client_conv_leave(struct vl_client *c, const char *conv);
/* Renames a group (admins only), announced to members in the group. */
VL_MUST_CHECK int vl_client_conv_rename(struct vl_client *c, const char *conv, const char *name);
/* Grants (admin true) or withdraws admin rights of a member (admins only;
 * the last admin cannot withdraw itself: VL_ERR_STATE). */
VL_MUST_CHECK int vl_client_conv_set_admin(struct vl_client *c, const char *conv,
                                           const char *address, bool admin);

/* --- Messages ------------------------------------------------------------------ */

enum vl_msg_kind {
	VL_MSG_TEXT = 1,
	VL_MSG_ATTACHMENT = 2,
	VL_MSG_SYSTEM = 3, /* membership, rename, admins: text describes it */
};

struct vl_attachment_info {
	char blob_id[VL_CLIENT_BLOB_ID_LEN + 1];
	char *file_name;  /* heap */
	char *media_type; /* heap */
	uint64_t size;    /* plaintext octets */
	uint8_t hash[32]; /* SHA-256 of the encrypted blob (MIMI contentHash),
	                   * checked before decrypting */
};

struct vl_reaction {
	char sender[VL_CLIENT_ADDRESS_MAX + 1];
	char *reaction; /* heap, UTF-8 */
};

enum vl_receipt_kind {
	VL_RECEIPT_DELIVERED = 1,
	VL_RECEIPT_READ = 2,
};

/* The best receipt seen from one user for a message. */
struct vl_receipt {
	char user[VL_CLIENT_ADDRESS_MAX + 1];
	enum vl_receipt_kind kind;
};

struct vl_message {
	char id[VL_CLIENT_MSG_ID_LEN + 1];
	char conv[VL_CLIENT_ID_MAX + 1];
	enum vl_msg_kind kind;
	char sender[VL_CLIENT_ADDRESS_MAX + 1];
	char sender_device[VL_CLIENT_DEVICE_MAX + 1];
	uint64_t timestamp_ms; /* local receive (or send) time */
	char *text;            /* heap UTF-8, NUL-terminated; "" when deleted */
	size_t text_len;
	bool markdown;
	char in_reply_to[VL_CLIENT_MSG_ID_LEN + 1]; /* "" when not a reply */
	bool edited, deleted, outgoing;
	struct vl_attachment_info attachment; /* kind VL_MSG_ATTACHMENT */
	struct vl_reaction *reactions;
	size_t n_reactions;
	/* Receipts from other users (outgoing messages): the best state seen
	 * from every other member, and from at least one. */
	enum vl_receipt_kind receipt_all, receipt_any; /* 0 when none */
	struct vl_receipt *receipts;                   /* per user (heap) */
	size_t n_receipts;
};
void vl_message_cleanup(struct vl_message *m);
void vl_message_list_free(struct vl_message *list, size_t n);

/* Sends text to a conversation: one MIMI message, one MLS encryption, one
 * SEND (the server fans it out to every member device). markdown selects
 * text/markdown. in_reply_to may be NULL. id (may be NULL) receives the
 * message id. If another member's commit was accepted first, the server
 * refuses the message as stale; the client then processes that commit and
 * encrypts the same content again in the new epoch (this and every other
 * send below, up to 8 times; the message id does not change). Returns
 * VL_OK; VL_ERR_ARG (empty or oversized text, bad reply id);
 * VL_ERR_NOT_FOUND (no such conversation); VL_ERR_STATE (this device is no
 * longer a member); VL_ERR_AGAIN (refused as stale every time);
 * VL_ERR_EPOCH_AHEAD (the server's copy of the group is at an earlier
 * epoch than ours: it lost the group's later commits, as after a restore
 * from a backup, and the conversation has to be made again); network
 * errors. */
VL_MUST_CHECK int vl_client_send_text(struct vl_client *c, const char *conv, const char *text,
                                      bool markdown, const char *in_reply_to,
                                      char id[VL_CLIENT_MSG_ID_LEN + 1]);
/* Reacts to a message (reaction: an emoji or short UTF-8 text). */
VL_MUST_CHECK int vl_client_send_reaction(struct vl_client *c, const char *conv, const char *target,
                                          const char *reaction);
/* Replaces the text of one of this user's messages (MIMI replaces). */
VL_MUST_CHECK int vl_client_edit(struct vl_client *c, const char *conv, const char *target,
                                 const char *text);
/* Deletes one of this user's messages for everyone (VL_ERR_PERMISSION for
 * another user's message). */
VL_MUST_CHECK int vl_client_delete(struct vl_client *c, const char *conv, const char *target);
/* Sends a read receipt for a received message (delivery receipts are sent
 * automatically when messages are processed). */
VL_MUST_CHECK int vl_client_mark_read(struct vl_client *c, const char *conv, const char *target);
/* Typing indicator: ephemeral, never stored on either side. */
VL_MUST_CHECK int vl_client_typing(struct vl_client *c, const char *conv, bool typing);

/* Stored messages of a conversation in order, at most max after skipping
 * offset (max 0 or over 100000: 100000). Release with
 * vl_message_list_free. */
VL_MUST_CHECK int vl_client_messages(struct vl_client *c, const char *conv, size_t offset,
                                     size_t max, struct vl_message **list, size_t *n);
/* One stored message; release with vl_message_cleanup. */
VL_MUST_CHECK int vl_client_message(struct vl_client *c, const char *id, struct vl_message *m);

/* --- Attachments ------------------------------------------------------------------ */

/* Progress: done of total octets so far; return false to cancel (the
 * transfer then stops and the call returns VL_ERR_STATE). */
typedef bool (*vl_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Sends a file: reads it, encrypts it with a fresh AES-128-GCM key and
 * nonce (one encryption whatever the group's size), uploads the ciphertext
 * once to the server's blob store, then sends a MIMI message whose
 * external part carries blob id, key, nonce, SHA-256 hash, size, media
 * type and file name. media_type and file_name may be NULL (guessed from
 * the path's extension / its base name). progress (may be NULL) is called
 * during the upload. Returns VL_OK; VL_ERR_IO (cannot read path);
 * VL_ERR_LIMIT (over VL_CLIENT_ATTACHMENT_MAX or the server's limit or
 * quota); VL_ERR_STATE (cancelled by the progress callback); network
 * errors. */
VL_MUST_CHECK int vl_client_send_file(struct vl_client *c, const char *conv, const char *path,
                                      const char *media_type, const char *file_name,
                                      vl_progress_fn progress, void *progress_ctx,
                                      char id[VL_CLIENT_MSG_ID_LEN + 1]);
/* Downloads the attachment of a received message, checks its hash,
 * decrypts it and writes it to dest_path (created with mode 0600; not
 * replaced if it exists: VL_ERR_EXISTS). Returns VL_OK; VL_ERR_NOT_FOUND
 * (no such message or blob); VL_ERR_CRYPTO (hash or tag mismatch: nothing
 * is written); VL_ERR_IO; VL_ERR_STATE (cancelled); network errors. */
VL_MUST_CHECK int vl_client_download(struct vl_client *c, const char *message_id,
                                     const char *dest_path, vl_progress_fn progress,
                                     void *progress_ctx);

/* --- Events --------------------------------------------------------------------------- */

enum vl_event_type {
	VL_EVENT_MESSAGE = 1,          /* a new message (text or attachment): msg */
	VL_EVENT_EDITED = 2,           /* msg holds the new text; target the edited id */
	VL_EVENT_DELETED = 3,          /* target deleted */
	VL_EVENT_REACTION = 4,         /* text holds the reaction; target */
	VL_EVENT_RECEIPT = 5,          /* receipt for target from sender */
	VL_EVENT_TYPING = 6,           /* typing true/false from sender */
	VL_EVENT_CONV_JOINED = 7,      /* this device was added to conv */
	VL_EVENT_MEMBERS = 8,          /* conv's members changed (text describes it) */
	VL_EVENT_REMOVED = 9,          /* this device was removed from conv */
	VL_EVENT_RENAMED = 10,         /* text holds the new name */
	VL_EVENT_ADMINS = 11,          /* admin rights changed */
	VL_EVENT_DEVICES_CHANGED = 12, /* a contact's devices changed: warning */
	VL_EVENT_DISCONNECTED = 13,    /* the connection was lost; code: reason */
	VL_EVENT_UNDECRYPTABLE = 14,   /* a message of conv could not be read */
	VL_EVENT_KEY_PACKAGES = 15,    /* KeyPackages were uploaded (count) */
};

struct vl_event {
	enum vl_event_type type;
	char conv[VL_CLIENT_ID_MAX + 1];
	char sender[VL_CLIENT_ADDRESS_MAX + 1];
	char sender_device[VL_CLIENT_DEVICE_MAX + 1];
	char target[VL_CLIENT_MSG_ID_LEN + 1];
	char *text; /* heap or NULL */
	bool typing;
	enum vl_receipt_kind receipt;
	bool verified_broken; /* DEVICES_CHANGED: the contact had been verified */
	int code;             /* DISCONNECTED: enum vl_status; KEY_PACKAGES: count */
	bool has_msg;
	struct vl_message msg; /* MESSAGE, EDITED */
};
void vl_event_cleanup(struct vl_event *ev);

typedef void (*vl_event_fn)(void *ctx, const struct vl_event *ev);
/* Sets (or with NULL clears) the event callback. */
void vl_client_set_event_cb(struct vl_client *c, vl_event_fn cb, void *ctx);
/* Pops the oldest queued event into *ev (release with vl_event_cleanup).
 * Returns true if there was one. */
bool vl_client_next_event(struct vl_client *c, struct vl_event *ev);

#ifdef __cplusplus
}
#endif
#endif
