/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Messages: MIMI content (include/valise/content.h) built for sending and
 * interpreted on receipt — text, replies, reactions, edits, deletes,
 * attachments, and Valise's control parts (receipts, typing, group meta,
 * leave requests) — and the sealed record each stored message is kept as.
 *
 * Message ids are MIMI message ids (draft-ietf-mimi-content §"Message
 * ID") over the sender URI "im:<user address>" and the room URI
 * "valise:<conversation id>". The receiver takes the sender from the MLS
 * credential of the leaf that sent the message, never from the content, so
 * an id (and with it edits and deletes, which are honoured only for the
 * original sender's user) is bound to who really sent it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

#define RECORD_VERSION 1
#define F_EDITED       1
#define F_DELETED      2
#define F_OUTGOING     4
#define F_MARKDOWN     8

/* --- records -------------------------------------------------------------- */

void vl_message_cleanup(struct vl_message *m)
{
	if (!m)
		return;
	if (m->text) {
		vl_wipe(m->text, m->text_len);
		free(m->text);
	}
	free(m->attachment.file_name);
	free(m->attachment.media_type);
	for (size_t i = 0; i < m->n_reactions; i++)
		free(m->reactions[i].reaction);
	free(m->reactions);
	free(m->receipts);
	memset(m, 0, sizeof *m);
}

void vl_message_list_free(struct vl_message *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		vl_message_cleanup(&list[i]);
	free(list);
}

static char *dupn(const void *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static void w_str(struct vl_writer *w, const char *s)
{
	(void)!vl_write_opaque(w, s ? s : "", s ? strlen(s) : 0);
}

int cl_record_encode(const struct vl_message *m, uint8_t **out, size_t *len)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, CL_RECORD_MAX);
	uint8_t flags = (uint8_t)((m->edited ? F_EDITED : 0) | (m->deleted ? F_DELETED : 0) |
	                          (m->outgoing ? F_OUTGOING : 0) | (m->markdown ? F_MARKDOWN : 0));
	(void)!vl_write_u8(&w, RECORD_VERSION);
	(void)!vl_write_u8(&w, (uint8_t)m->kind);
	(void)!vl_write_u8(&w, flags);
	w_str(&w, m->sender);
	w_str(&w, m->sender_device);
	(void)!vl_write_u64(&w, m->timestamp_ms);
	(void)!vl_write_opaque(&w, m->text ? m->text : "", m->text ? m->text_len : 0);
	w_str(&w, m->in_reply_to);
	(void)!vl_write_u8(&w, m->kind == VL_MSG_ATTACHMENT);
	if (m->kind == VL_MSG_ATTACHMENT) {
		w_str(&w, m->attachment.blob_id);
		w_str(&w, m->attachment.file_name);
		w_str(&w, m->attachment.media_type);
		(void)!vl_write_u64(&w, m->attachment.size);
		(void)!vl_write_opaque(&w, m->attachment.hash, 32);
	}
	size_t mark = vl_write_vector_begin(&w);
	for (size_t i = 0; i < m->n_reactions; i++) {
		w_str(&w, m->reactions[i].sender);
		w_str(&w, m->reactions[i].reaction);
	}
	(void)!vl_write_vector_end(&w, mark);
	mark = vl_write_vector_begin(&w);
	for (size_t i = 0; i < m->n_receipts; i++) {
		w_str(&w, m->receipts[i].user);
		(void)!vl_write_u8(&w, (uint8_t)m->receipts[i].kind);
	}
	(void)!vl_write_vector_end(&w, mark);
	return vl_writer_take(&w, out, len);
}

/* Strings of a record are C strings: an embedded NUL is malformed. */
static int r_str(struct vl_reader *r, char *out, size_t cap)
{
	const uint8_t *p;
	size_t n;
	int rc = vl_read_opaque(r, &p, &n, cap - 1);
	if (!rc && memchr(p, 0, n))
		rc = VL_ERR_DECODE;
	if (!rc) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
	return rc;
}

static int r_dup(struct vl_reader *r, char **out, size_t max, size_t *len)
{
	const uint8_t *p;
	size_t n;
	int rc = vl_read_opaque(r, &p, &n, max);
	if (rc)
		return rc;
	if (!len && memchr(p, 0, n))
		return VL_ERR_DECODE;
	if (!(*out = dupn(p, n)))
		return VL_ERR_NOMEM;
	if (len)
		*len = n;
	return VL_OK;
}

int cl_record_decode(const uint8_t *buf, size_t len, struct vl_message *m)
{
	memset(m, 0, sizeof *m);
	struct vl_reader r;
	vl_reader_init(&r, buf, len);
	uint8_t ver, kind, flags, has_att;
	int rc = vl_read_u8(&r, &ver);
	if (!rc && ver != RECORD_VERSION)
		rc = VL_ERR_UNSUPPORTED;
	if (!rc)
		rc = vl_read_u8(&r, &kind);
	if (!rc && kind != VL_MSG_TEXT && kind != VL_MSG_ATTACHMENT && kind != VL_MSG_SYSTEM)
		rc = VL_ERR_DECODE;
	if (!rc)
		rc = vl_read_u8(&r, &flags);
	if (!rc && (flags & ~(F_EDITED | F_DELETED | F_OUTGOING | F_MARKDOWN)))
		rc = VL_ERR_DECODE;
	if (!rc)
		rc = r_str(&r, m->sender, sizeof m->sender);
	if (!rc)
		rc = r_str(&r, m->sender_device, sizeof m->sender_device);
	if (!rc)
		rc = vl_read_u64(&r, &m->timestamp_ms);
	if (!rc)
		rc = r_dup(&r, &m->text, VL_CLIENT_TEXT_MAX, &m->text_len);
	if (!rc)
		rc = r_str(&r, m->in_reply_to, sizeof m->in_reply_to);
	if (!rc)
		rc = vl_read_u8(&r, &has_att);
	if (!rc && has_att != (kind == VL_MSG_ATTACHMENT))
		rc = VL_ERR_DECODE;
	if (!rc && has_att) {
		const uint8_t *h;
		size_t hl;
		rc = r_str(&r, m->attachment.blob_id, sizeof m->attachment.blob_id);
		if (!rc)
			rc = r_dup(&r, &m->attachment.file_name, 4096, NULL);
		if (!rc)
			rc = r_dup(&r, &m->attachment.media_type, 256, NULL);
		if (!rc)
			rc = vl_read_u64(&r, &m->attachment.size);
		if (!rc && !(rc = vl_read_opaque(&r, &h, &hl, 32))) {
			if (hl != 32)
				rc = VL_ERR_DECODE;
			else
				memcpy(m->attachment.hash, h, 32);
		}
	}
	struct vl_reader sub;
	if (!rc)
		rc = vl_read_vector(&r, &sub);
	while (!rc && vl_reader_left(&sub) > 0) {
		if (m->n_reactions >= 4096) {
			rc = VL_ERR_LIMIT;
			break;
		}
		struct vl_reaction *nr = realloc(m->reactions, (m->n_reactions + 1) * sizeof *nr);
		if (!nr) {
			rc = VL_ERR_NOMEM;
			break;
		}
		m->reactions = nr;
		struct vl_reaction *e = &nr[m->n_reactions];
		memset(e, 0, sizeof *e);
		m->n_reactions++;
		rc = r_str(&sub, e->sender, sizeof e->sender);
		if (!rc)
			rc = r_dup(&sub, &e->reaction, 256, NULL);
	}
	if (!rc)
		rc = vl_read_vector(&r, &sub);
	while (!rc && vl_reader_left(&sub) > 0) {
		if (m->n_receipts >= 4096) {
			rc = VL_ERR_LIMIT;
			break;
		}
		struct vl_receipt *nr = realloc(m->receipts, (m->n_receipts + 1) * sizeof *nr);
		if (!nr) {
			rc = VL_ERR_NOMEM;
			break;
		}
		m->receipts = nr;
		struct vl_receipt *e = &nr[m->n_receipts++];
		uint8_t k = 0;
		rc = r_str(&sub, e->user, sizeof e->user);
		if (!rc)
			rc = vl_read_u8(&sub, &k);
		if (!rc && k != VL_RECEIPT_DELIVERED && k != VL_RECEIPT_READ)
			rc = VL_ERR_DECODE;
		e->kind = k == VL_RECEIPT_READ ? VL_RECEIPT_READ : VL_RECEIPT_DELIVERED;
	}
	if (!rc)
		rc = vl_reader_finish(&r);
	if (rc) {
		vl_message_cleanup(m);
		return rc;
	}
	m->kind = kind == VL_MSG_ATTACHMENT ? VL_MSG_ATTACHMENT
	                                    : (kind == VL_MSG_SYSTEM ? VL_MSG_SYSTEM : VL_MSG_TEXT);
	m->edited = flags & F_EDITED;
	m->deleted = flags & F_DELETED;
	m->outgoing = flags & F_OUTGOING;
	m->markdown = flags & F_MARKDOWN;
	return VL_OK;
}

int cl_message_copy(struct vl_message *dst, const struct vl_message *src)
{
	uint8_t *buf;
	size_t len;
	int rc = cl_record_encode(src, &buf, &len);
	if (rc)
		return rc;
	rc = cl_record_decode(buf, len, dst);
	vl_wipe(buf, len);
	free(buf);
	if (!rc) {
		memcpy(dst->id, src->id, sizeof dst->id);
		memcpy(dst->conv, src->conv, sizeof dst->conv);
	}
	return rc;
}

static bool id_parse(const char *hex, uint8_t id[32])
{
	size_t n;
	return hex && strlen(hex) == 64 && cl_unhex(hex, id, 32, &n) && n == 32;
}

static struct cl_conv *conv_by_gid_hex(struct vl_client *c, const char *hex)
{
	return cl_conv_find(c, hex);
}

/* Loads a stored message by binary id. */
static int record_get(struct vl_client *c, const uint8_t id[32], struct vl_message *m)
{
	uint8_t *buf;
	size_t len;
	int rc = vl_client_store_message_get(c->st, id, &buf, &len);
	if (rc)
		return rc;
	rc = cl_record_decode(buf, len, m);
	vl_client_store_free(buf, len);
	if (!rc)
		vl_hex_encode(id, 32, m->id);
	return rc;
}

int cl_record_put(struct vl_client *c, const struct vl_message *m)
{
	struct cl_conv *cv = conv_by_gid_hex(c, m->conv);
	uint8_t id[32];
	if (!cv || !id_parse(m->id, id))
		return VL_ERR_ARG;
	uint8_t *buf;
	size_t len;
	int rc = cl_record_encode(m, &buf, &len);
	if (rc)
		return rc;
	rc =
	    vl_client_store_message_put(c->st, cv->gid, cv->gid_len, id, m->timestamp_ms, buf, len);
	vl_wipe(buf, len);
	free(buf);
	return rc;
}

/* Replaces a stored record (same id and timestamp). */
static int record_update(struct vl_client *c, struct cl_conv *cv, const struct vl_message *m)
{
	uint8_t id[32];
	if (!id_parse(m->id, id))
		return VL_ERR_ARG;
	uint8_t *buf;
	size_t len;
	int rc = cl_record_encode(m, &buf, &len);
	if (rc)
		return rc;
	/* Delete then insert: the store has no update, and the pair is cheap
	 * next to the network round trip that caused it. */
	rc = vl_client_store_message_delete(c->st, id);
	if (!rc || rc == VL_ERR_NOT_FOUND)
		rc = vl_client_store_message_put(c->st, cv->gid, cv->gid_len, id, m->timestamp_ms,
		                                 buf, len);
	vl_wipe(buf, len);
	free(buf);
	return rc;
}

void cl_msg_system(struct vl_client *c, struct cl_conv *cv, const char *text)
{
	struct vl_message m;
	memset(&m, 0, sizeof m);
	uint8_t id[32];
	if (vl_random(id, sizeof id))
		return;
	id[0] = 0; /* never a MIMI id (those start with a hash octet) */
	vl_hex_encode(id, 32, m.id);
	snprintf(m.conv, sizeof m.conv, "%s", cv->id);
	m.kind = VL_MSG_SYSTEM;
	m.timestamp_ms = cl_now_ms();
	m.text = (char *)text;
	m.text_len = strlen(text);
	(void)!cl_record_put(c, &m);
}

/* --- sending ----------------------------------------------------------------- */

static void uris(struct vl_client *c, const struct cl_conv *cv, const char *user, char *sender,
                 size_t sl, char *room, size_t rl)
{
	(void)c;
	snprintf(sender, sl, "im:%s", user);
	snprintf(room, rl, "valise:%s", cv->id);
}

int cl_msg_send(struct vl_client *c, struct cl_conv *cv, struct vl_mimi_content *mc, bool store,
                char id[VL_CLIENT_MSG_ID_LEN + 1])
{
	if (id)
		id[0] = '\0';
	if (!cv->active || !cv->g)
		return cl_fail(c, VL_ERR_STATE, "no longer a member of this conversation");
	int rc = vl_mimi_content_new_salt(mc);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (!rc)
		rc = vl_mimi_content_encode_alloc(mc, &buf, &len);
	if (rc)
		return cl_fail(c, rc, "content does not encode: %s", vl_strerror(rc));
	char su[VL_CLIENT_ADDRESS_MAX + 8], ru[VL_CLIENT_ID_MAX + 16];
	uris(c, cv, c->address, su, sizeof su, ru, sizeof ru);
	uint8_t mid[32];
	rc = vl_mimi_message_id(buf, len, su, strlen(su), ru, strlen(ru), mid);
	if (!rc)
		rc = cl_conv_send(c, cv, buf, len);
	vl_wipe(buf, len);
	free(buf);
	if (rc)
		return rc;
	char hex[65];
	vl_hex_encode(mid, 32, hex);
	if (id)
		memcpy(id, hex, 65);
	if (!store)
		return VL_OK;
	struct vl_message m;
	memset(&m, 0, sizeof m);
	memcpy(m.id, hex, 65);
	snprintf(m.conv, sizeof m.conv, "%s", cv->id);
	m.kind = VL_MSG_TEXT;
	snprintf(m.sender, sizeof m.sender, "%s", c->address);
	snprintf(m.sender_device, sizeof m.sender_device, "%s", c->device);
	m.timestamp_ms = cl_now_ms();
	m.outgoing = true;
	const struct vl_mimi_part *p = &mc->body;
	if (p->cardinality == VL_MIMI_SINGLE) {
		m.text = (char *)p->content.data;
		m.text_len = p->content.len;
		m.markdown = strcmp(p->content_type.str ? p->content_type.str : "",
		                    VL_MIMI_TYPE_TEXT_MARKDOWN) == 0;
	} else if (p->cardinality == VL_MIMI_EXTERNAL) {
		m.kind = VL_MSG_ATTACHMENT;
		const struct vl_mimi_external *e = &p->external;
		const char *slash = e->url.str ? strrchr(e->url.str, '/') : NULL;
		snprintf(m.attachment.blob_id, sizeof m.attachment.blob_id, "%s",
		         slash ? slash + 1 : "");
		m.attachment.file_name = e->filename.str;
		m.attachment.media_type = p->content_type.str;
		m.attachment.size = e->size;
		if (e->content_hash.len == 32)
			memcpy(m.attachment.hash, e->content_hash.data, 32);
		m.text = e->filename.str;
		m.text_len = e->filename.len;
	}
	if (mc->has_in_reply_to)
		vl_hex_encode(mc->in_reply_to, 32, m.in_reply_to);
	/* m borrows mc's strings: encoded, not cleaned up. */
	rc = cl_record_put(c, &m);
	return rc ? cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st)) : VL_OK;
}

static int conv_for_send(struct vl_client *c, const char *conv, struct cl_conv **out)
{
	struct cl_conv *cv = conv ? cl_conv_find(c, conv) : NULL;
	if (!cv)
		return cl_fail(c, VL_ERR_NOT_FOUND, "no such conversation");
	if (!cv->active || !cv->g)
		return cl_fail(c, VL_ERR_STATE, "no longer a member of this conversation");
	*out = cv;
	return VL_OK;
}

int vl_client_send_text(struct vl_client *c, const char *conv, const char *text, bool markdown,
                        const char *in_reply_to, char id[VL_CLIENT_MSG_ID_LEN + 1])
{
	if (id)
		id[0] = '\0';
	struct cl_conv *cv;
	int rc = conv_for_send(c, conv, &cv);
	if (rc)
		return rc;
	size_t tl = text ? strlen(text) : 0;
	if (tl == 0 || tl > VL_CLIENT_TEXT_MAX)
		return cl_fail(c, VL_ERR_ARG, "text must be 1..%u octets", VL_CLIENT_TEXT_MAX);
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	if (in_reply_to && *in_reply_to) {
		if (!id_parse(in_reply_to, mc.in_reply_to) ||
		    mc.in_reply_to[0] != VL_MIMI_HASH_SHA256) {
			vl_mimi_content_cleanup(&mc);
			return cl_fail(c, VL_ERR_ARG, "bad message id to reply to");
		}
		mc.has_in_reply_to = true;
	}
	rc = vl_mimi_content_set_text(&mc, markdown, text, tl);
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, true, id);
	else
		rc = cl_fail(c, rc == VL_ERR_DECODE ? VL_ERR_ARG : rc, "text is not valid UTF-8");
	vl_mimi_content_cleanup(&mc);
	return rc;
}

/* Loads target for a change by this user; own: must be ours. */
static int target_get(struct vl_client *c, struct cl_conv *cv, const char *target, bool own,
                      uint8_t tid[32], struct vl_message *m)
{
	if (!id_parse(target, tid) || tid[0] != VL_MIMI_HASH_SHA256)
		return cl_fail(c, VL_ERR_ARG, "bad message id");
	int rc = record_get(c, tid, m);
	if (rc)
		return cl_fail(c, rc == VL_ERR_NOT_FOUND ? rc : VL_ERR_STORE, "no such message");
	snprintf(m->conv, sizeof m->conv, "%s", cv->id);
	if (own && strcmp(m->sender, c->address) != 0) {
		vl_message_cleanup(m);
		return cl_fail(c, VL_ERR_PERMISSION, "not a message of this user");
	}
	return VL_OK;
}

static void reaction_set(struct vl_message *m, const char *user, const char *reaction)
{
	for (size_t i = 0; i < m->n_reactions; i++)
		if (strcmp(m->reactions[i].sender, user) == 0) {
			char *r = strdup(reaction);
			if (r) {
				free(m->reactions[i].reaction);
				m->reactions[i].reaction = r;
			}
			return;
		}
	struct vl_reaction *nr = realloc(m->reactions, (m->n_reactions + 1) * sizeof *nr);
	if (!nr)
		return;
	m->reactions = nr;
	memset(&nr[m->n_reactions], 0, sizeof *nr);
	snprintf(nr[m->n_reactions].sender, sizeof nr->sender, "%s", user);
	if ((nr[m->n_reactions].reaction = strdup(reaction)))
		m->n_reactions++;
}

int vl_client_send_reaction(struct vl_client *c, const char *conv, const char *target,
                            const char *reaction)
{
	struct cl_conv *cv;
	int rc = conv_for_send(c, conv, &cv);
	if (rc)
		return rc;
	if (!reaction || !*reaction || strlen(reaction) > 64)
		return cl_fail(c, VL_ERR_ARG, "reaction must be 1..64 octets");
	uint8_t tid[32];
	struct vl_message m;
	if ((rc = target_get(c, cv, target, false, tid, &m)))
		return rc;
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	rc = vl_mimi_content_set_reaction(&mc, tid, reaction, strlen(reaction));
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, false, NULL);
	vl_mimi_content_cleanup(&mc);
	if (!rc) {
		reaction_set(&m, c->address, reaction);
		rc = record_update(c, cv, &m);
	}
	vl_message_cleanup(&m);
	return rc;
}

int vl_client_edit(struct vl_client *c, const char *conv, const char *target, const char *text)
{
	struct cl_conv *cv;
	int rc = conv_for_send(c, conv, &cv);
	if (rc)
		return rc;
	size_t tl = text ? strlen(text) : 0;
	if (tl == 0 || tl > VL_CLIENT_TEXT_MAX)
		return cl_fail(c, VL_ERR_ARG, "text must be 1..%u octets", VL_CLIENT_TEXT_MAX);
	uint8_t tid[32];
	struct vl_message m;
	if ((rc = target_get(c, cv, target, true, tid, &m)))
		return rc;
	if (m.deleted || m.kind != VL_MSG_TEXT) {
		vl_message_cleanup(&m);
		return cl_fail(c, VL_ERR_STATE, "only a text message that exists can be edited");
	}
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	rc = vl_mimi_content_set_text(&mc, m.markdown, text, tl);
	mc.has_replaces = true;
	memcpy(mc.replaces, tid, 32);
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, false, NULL);
	vl_mimi_content_cleanup(&mc);
	if (!rc) {
		char *nt = dupn(text, tl);
		if (!nt)
			rc = VL_ERR_NOMEM;
		else {
			vl_wipe(m.text, m.text_len);
			free(m.text);
			m.text = nt;
			m.text_len = tl;
			m.edited = true;
			rc = record_update(c, cv, &m);
		}
	}
	vl_message_cleanup(&m);
	return rc;
}

int vl_client_delete(struct vl_client *c, const char *conv, const char *target)
{
	struct cl_conv *cv;
	int rc = conv_for_send(c, conv, &cv);
	if (rc)
		return rc;
	uint8_t tid[32];
	struct vl_message m;
	if ((rc = target_get(c, cv, target, true, tid, &m)))
		return rc;
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	vl_mimi_content_set_delete(&mc, tid, VL_MIMI_DISP_RENDER);
	rc = cl_msg_send(c, cv, &mc, false, NULL);
	vl_mimi_content_cleanup(&mc);
	if (!rc) {
		vl_wipe(m.text, m.text_len);
		m.text[0] = '\0';
		m.text_len = 0;
		m.deleted = true;
		rc = record_update(c, cv, &m);
	}
	vl_message_cleanup(&m);
	return rc;
}

static int send_receipt(struct vl_client *c, struct cl_conv *cv, enum vl_receipt_kind kind,
                        const uint8_t *ids, size_t n)
{
	size_t len = 1 + 32 * n;
	uint8_t *buf = malloc(len);
	if (!buf)
		return VL_ERR_NOMEM;
	buf[0] = (uint8_t)kind;
	memcpy(buf + 1, ids, 32 * n);
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	int rc = vl_mimi_part_set_single(&mc.body, VL_MIMI_DISP_SESSION, NULL, CL_TYPE_RECEIPT, buf,
	                                 len);
	free(buf);
	c->nowait = true;
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, false, NULL);
	c->nowait = false;
	vl_mimi_content_cleanup(&mc);
	return rc;
}

int vl_client_mark_read(struct vl_client *c, const char *conv, const char *target)
{
	struct cl_conv *cv;
	int rc = conv_for_send(c, conv, &cv);
	if (rc)
		return rc;
	uint8_t tid[32];
	struct vl_message m;
	if ((rc = target_get(c, cv, target, false, tid, &m)))
		return rc;
	vl_message_cleanup(&m);
	if (cv->unread > 0) {
		cv->unread--;
		(void)!cl_conv_save_meta(c, cv);
	}
	return send_receipt(c, cv, VL_RECEIPT_READ, tid, 1);
}

int vl_client_typing(struct vl_client *c, const char *conv, bool typing)
{
	struct cl_conv *cv;
	int rc = conv_for_send(c, conv, &cv);
	if (rc)
		return rc;
	uint8_t b = typing ? 1 : 0;
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	rc = vl_mimi_part_set_single(&mc.body, VL_MIMI_DISP_SESSION, NULL, CL_TYPE_TYPING, &b, 1);
	c->nowait = true;
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, false, NULL);
	c->nowait = false;
	vl_mimi_content_cleanup(&mc);
	return rc;
}

int cl_msg_send_meta(struct vl_client *c, struct cl_conv *cv)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, 64 * 1024);
	(void)!vl_write_u8(&w, cv->kind);
	(void)!vl_write_opaque(&w, cv->name ? cv->name : "", cv->name ? strlen(cv->name) : 0);
	size_t mark = vl_write_vector_begin(&w);
	for (size_t i = 0; i < cv->n_admins; i++)
		(void)!vl_write_opaque(&w, cv->admins[i], strlen(cv->admins[i]));
	(void)!vl_write_vector_end(&w, mark);
	uint8_t *buf;
	size_t len;
	int rc = vl_writer_take(&w, &buf, &len);
	if (rc)
		return cl_fail(c, rc, "group meta too large");
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	rc = vl_mimi_part_set_single(&mc.body, VL_MIMI_DISP_SESSION, NULL, CL_TYPE_META, buf, len);
	free(buf);
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, false, NULL);
	vl_mimi_content_cleanup(&mc);
	return rc;
}

void cl_receipts_flush(struct vl_client *c)
{
	for (struct cl_conv *cv = c->convs; cv; cv = cv->next) {
		if (cv->n_rcpt == 0)
			continue;
		uint8_t *ids = cv->rcpt;
		size_t n = cv->n_rcpt;
		cv->rcpt = NULL;
		cv->n_rcpt = 0;
		if (cv->active && cv->g && c->connected)
			(void)!send_receipt(c, cv, VL_RECEIPT_DELIVERED, ids, n);
		free(ids);
	}
}

/* --- receiving ---------------------------------------------------------------- */

static void event_base(struct vl_event *ev, enum vl_event_type t, const struct cl_conv *cv,
                       const char *user, const char *dev)
{
	memset(ev, 0, sizeof *ev);
	ev->type = t;
	snprintf(ev->conv, sizeof ev->conv, "%s", cv->id);
	snprintf(ev->sender, sizeof ev->sender, "%s", user);
	snprintf(ev->sender_device, sizeof ev->sender_device, "%s", dev);
}

static void event_with_msg(struct vl_client *c, struct vl_event *ev, const struct vl_message *m)
{
	if (cl_message_copy(&ev->msg, m) == VL_OK)
		ev->has_msg = true;
	cl_event_push(c, ev);
}

static bool type_is(const struct vl_mimi_part *p, const char *t)
{
	return p->content_type.str && strcmp(p->content_type.str, t) == 0;
}

static void on_receipt(struct vl_client *c, struct cl_conv *cv, const char *user, const char *dev,
                       const struct vl_mimi_part *p)
{
	if (p->content.len < 1 || (p->content.len - 1) % 32 || strcmp(user, c->address) == 0)
		return;
	enum vl_receipt_kind kind =
	    p->content.data[0] == VL_RECEIPT_READ ? VL_RECEIPT_READ : VL_RECEIPT_DELIVERED;
	size_t n = (p->content.len - 1) / 32;
	if (n > 1024)
		return;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *tid = p->content.data + 1 + 32 * i;
		struct vl_message m;
		if (record_get(c, tid, &m) != VL_OK)
			continue;
		snprintf(m.conv, sizeof m.conv, "%s", cv->id);
		bool found = false, changed = false;
		for (size_t j = 0; j < m.n_receipts; j++)
			if (strcmp(m.receipts[j].user, user) == 0) {
				found = true;
				if (kind > m.receipts[j].kind) {
					m.receipts[j].kind = kind;
					changed = true;
				}
			}
		if (!found && m.n_receipts < 4096) {
			struct vl_receipt *nr =
			    realloc(m.receipts, (m.n_receipts + 1) * sizeof *nr);
			if (nr) {
				m.receipts = nr;
				memset(&nr[m.n_receipts], 0, sizeof *nr);
				snprintf(nr[m.n_receipts].user, sizeof nr->user, "%s", user);
				nr[m.n_receipts].kind = kind;
				m.n_receipts++;
				changed = true;
			}
		}
		if (changed && record_update(c, cv, &m) == VL_OK) {
			struct vl_event ev;
			event_base(&ev, VL_EVENT_RECEIPT, cv, user, dev);
			vl_hex_encode(tid, 32, ev.target);
			ev.receipt = kind;
			cl_event_push(c, &ev);
		}
		vl_message_cleanup(&m);
	}
}

static void strv_set(char ***v, size_t *n, char **nv, size_t nn)
{
	cl_strv_free(*v, *n);
	*v = nv;
	*n = nn;
}

static void on_meta(struct vl_client *c, struct cl_conv *cv, const char *user, const char *dev,
                    const struct vl_mimi_part *p)
{
	/* Accepted from an admin, or (first meta after joining) from anyone:
	 * the member who added us sends it right after its commit. */
	if (cv->has_meta && !cl_conv_is_admin(cv, user))
		return;
	struct vl_reader r;
	vl_reader_init(&r, p->content.data, p->content.len);
	uint8_t kind;
	const uint8_t *np;
	size_t nl;
	struct cl_conv tmp;
	memset(&tmp, 0, sizeof tmp);
	if (vl_read_u8(&r, &kind) || vl_read_opaque(&r, &np, &nl, 4096))
		return;
	/* read the admins into a scratch conversation, reusing its parser */
	struct vl_reader sub;
	if (vl_read_vector(&r, &sub) || vl_reader_finish(&r))
		return;
	char **adm = NULL;
	size_t na = 0;
	bool bad = false;
	while (vl_reader_left(&sub) > 0 && !bad) {
		const uint8_t *ap;
		size_t al;
		char **nv;
		if (vl_read_opaque(&sub, &ap, &al, VL_CLIENT_ADDRESS_MAX) ||
		    !vl_proto_address_valid(ap, al) || na >= 1024 ||
		    !(nv = realloc(adm, (na + 1) * sizeof *nv))) {
			bad = true;
			break;
		}
		adm = nv;
		if (!(adm[na] = dupn(ap, al)))
			bad = true;
		else
			na++;
	}
	if (bad || na == 0) {
		cl_strv_free(adm, na);
		return;
	}
	bool first = !cv->has_meta;
	bool renamed = !first && (nl != (cv->name ? strlen(cv->name) : 0) ||
	                          (nl && memcmp(np, cv->name, nl) != 0));
	bool admins_changed = na != cv->n_admins;
	for (size_t i = 0; i < na && !admins_changed; i++)
		admins_changed = !cl_conv_is_admin(cv, adm[i]);
	cv->kind = kind == VL_CONV_DIRECT ? VL_CONV_DIRECT : VL_CONV_GROUP;
	free(cv->name);
	cv->name = nl ? dupn(np, nl) : NULL;
	strv_set(&cv->admins, &cv->n_admins, adm, na);
	if (cv->kind == VL_CONV_DIRECT && !cv->peer[0]) {
		char **users;
		size_t nu;
		if (cl_conv_users(cv, &users, &nu) == VL_OK) {
			for (size_t i = 0; i < nu; i++)
				if (strcmp(users[i], c->address) != 0)
					snprintf(cv->peer, sizeof cv->peer, "%s", users[i]);
			cl_strv_free(users, nu);
		}
	}
	cv->has_meta = true;
	(void)!cl_conv_save_meta(c, cv);
	struct vl_event ev;
	if (renamed) {
		event_base(&ev, VL_EVENT_RENAMED, cv, user, dev);
		ev.text = strdup(cv->name ? cv->name : "");
		cl_event_push(c, &ev);
		char t[600];
		snprintf(t, sizeof t, "%s renamed the conversation to %.400s", user,
		         cv->name ? cv->name : "");
		cl_msg_system(c, cv, t);
	}
	if (admins_changed && !first) {
		event_base(&ev, VL_EVENT_ADMINS, cv, user, dev);
		cl_event_push(c, &ev);
	}
}

static void on_leave(struct vl_client *c, struct cl_conv *cv, const char *user,
                     const struct vl_mimi_part *p)
{
	/* Only a user's own devices can ask for that user to leave. */
	if (p->content.len != strlen(user) || memcmp(p->content.data, user, p->content.len) != 0 ||
	    strcmp(user, c->address) == 0 || cv->n_leavers >= 64)
		return;
	char **nv = realloc(cv->leavers, (cv->n_leavers + 1) * sizeof *nv);
	if (!nv)
		return;
	cv->leavers = nv;
	if ((cv->leavers[cv->n_leavers] = strdup(user)))
		cv->n_leavers++;
}

static void on_change(struct vl_client *c, struct cl_conv *cv, const char *user, const char *dev,
                      const struct vl_mimi_content *mc)
{
	struct vl_message m;
	if (record_get(c, mc->replaces, &m) != VL_OK)
		return;
	snprintf(m.conv, sizeof m.conv, "%s", cv->id);
	/* Edits and deletes only from the original sender's user. */
	if (strcmp(m.sender, user) != 0 || m.kind == VL_MSG_SYSTEM) {
		vl_message_cleanup(&m);
		return;
	}
	const struct vl_mimi_part *p = &mc->body;
	struct vl_event ev;
	if (p->cardinality == VL_MIMI_NULLPART) {
		if (m.text)
			vl_wipe(m.text, m.text_len);
		if (m.text)
			m.text[0] = '\0';
		m.text_len = 0;
		m.deleted = true;
		if (record_update(c, cv, &m) == VL_OK) {
			event_base(&ev, VL_EVENT_DELETED, cv, user, dev);
			memcpy(ev.target, m.id, sizeof ev.target);
			cl_event_push(c, &ev);
		}
	} else if (p->cardinality == VL_MIMI_SINGLE && !m.deleted && m.kind == VL_MSG_TEXT) {
		char *nt = dupn(p->content.data, p->content.len);
		if (nt) {
			vl_wipe(m.text, m.text_len);
			free(m.text);
			m.text = nt;
			m.text_len = p->content.len;
			m.edited = true;
			if (record_update(c, cv, &m) == VL_OK) {
				event_base(&ev, VL_EVENT_EDITED, cv, user, dev);
				memcpy(ev.target, m.id, sizeof ev.target);
				event_with_msg(c, &ev, &m);
			}
		}
	}
	vl_message_cleanup(&m);
}

static void on_reaction(struct vl_client *c, struct cl_conv *cv, const char *user, const char *dev,
                        const struct vl_mimi_content *mc)
{
	const struct vl_mimi_part *p = &mc->body;
	if (!mc->has_in_reply_to || p->content.len == 0 || p->content.len > 64)
		return;
	struct vl_message m;
	if (record_get(c, mc->in_reply_to, &m) != VL_OK)
		return;
	snprintf(m.conv, sizeof m.conv, "%s", cv->id);
	char *r = dupn(p->content.data, p->content.len);
	if (r) {
		reaction_set(&m, user, r);
		if (record_update(c, cv, &m) == VL_OK) {
			struct vl_event ev;
			event_base(&ev, VL_EVENT_REACTION, cv, user, dev);
			memcpy(ev.target, m.id, sizeof ev.target);
			ev.text = r;
			r = NULL;
			cl_event_push(c, &ev);
		}
		free(r);
	}
	vl_message_cleanup(&m);
}

/* Blob id from an attachment URL ".../blob/<64 hex>". */
static bool blob_from_url(const struct vl_mimi_text *url, char out[VL_CLIENT_BLOB_ID_LEN + 1])
{
	if (!url->str || url->len < 6 + VL_CLIENT_BLOB_ID_LEN)
		return false;
	const char *id = url->str + url->len - VL_CLIENT_BLOB_ID_LEN;
	if (memcmp(id - 6, "/blob/", 6) != 0)
		return false;
	uint8_t b[32];
	size_t n;
	memcpy(out, id, VL_CLIENT_BLOB_ID_LEN);
	out[VL_CLIENT_BLOB_ID_LEN] = '\0';
	return cl_unhex(out, b, sizeof b, &n) && n == 32;
}

int cl_msg_receive(struct vl_client *c, struct cl_conv *cv, const char *user, const char *device,
                   const uint8_t *data, size_t len)
{
	struct vl_mimi_content mc;
	int rc = vl_mimi_content_decode(&mc, data, len);
	if (rc) {
		struct vl_event ev;
		event_base(&ev, VL_EVENT_UNDECRYPTABLE, cv, user, device);
		ev.text = strdup("content does not decode");
		cl_event_push(c, &ev);
		return VL_OK;
	}
	const struct vl_mimi_part *p = &mc.body;
	struct vl_event ev;
	if (p->cardinality == VL_MIMI_SINGLE && type_is(p, CL_TYPE_TYPING)) {
		/* Ephemeral: an event, nothing stored. */
		if (strcmp(user, c->address) != 0) {
			event_base(&ev, VL_EVENT_TYPING, cv, user, device);
			ev.typing = p->content.len == 1 && p->content.data[0] == 1;
			cl_event_push(c, &ev);
		}
		goto done;
	}
	if (p->cardinality == VL_MIMI_SINGLE && type_is(p, CL_TYPE_RECEIPT)) {
		on_receipt(c, cv, user, device, p);
		goto done;
	}
	if (p->cardinality == VL_MIMI_SINGLE && type_is(p, CL_TYPE_META)) {
		on_meta(c, cv, user, device, p);
		goto done;
	}
	if (p->cardinality == VL_MIMI_SINGLE && type_is(p, CL_TYPE_LEAVE)) {
		on_leave(c, cv, user, p);
		goto done;
	}
	if (mc.has_replaces) {
		on_change(c, cv, user, device, &mc);
		goto done;
	}
	if (p->disposition == VL_MIMI_DISP_REACTION && p->cardinality == VL_MIMI_SINGLE) {
		on_reaction(c, cv, user, device, &mc);
		goto done;
	}
	struct vl_message m;
	memset(&m, 0, sizeof m);
	char su[VL_CLIENT_ADDRESS_MAX + 8], ru[VL_CLIENT_ID_MAX + 16];
	uris(c, cv, user, su, sizeof su, ru, sizeof ru);
	uint8_t mid[32];
	if (vl_mimi_message_id(data, len, su, strlen(su), ru, strlen(ru), mid))
		goto done;
	vl_hex_encode(mid, 32, m.id);
	snprintf(m.conv, sizeof m.conv, "%s", cv->id);
	snprintf(m.sender, sizeof m.sender, "%s", user);
	snprintf(m.sender_device, sizeof m.sender_device, "%s", device);
	m.timestamp_ms = cl_now_ms();
	m.outgoing = strcmp(user, c->address) == 0;
	if (mc.has_in_reply_to)
		vl_hex_encode(mc.in_reply_to, 32, m.in_reply_to);
	if (p->cardinality == VL_MIMI_SINGLE &&
	    (type_is(p, VL_MIMI_TYPE_TEXT_PLAIN) || type_is(p, VL_MIMI_TYPE_TEXT_MARKDOWN))) {
		m.kind = VL_MSG_TEXT;
		m.markdown = type_is(p, VL_MIMI_TYPE_TEXT_MARKDOWN);
		m.text = (char *)p->content.data;
		m.text_len = p->content.len;
		if (m.text_len > VL_CLIENT_TEXT_MAX)
			goto done;
	} else if (p->cardinality == VL_MIMI_EXTERNAL &&
	           blob_from_url(&p->external.url, m.attachment.blob_id) &&
	           p->external.content_hash.len == 32 &&
	           p->external.size <= VL_CLIENT_ATTACHMENT_MAX) {
		m.kind = VL_MSG_ATTACHMENT;
		m.attachment.file_name = p->external.filename.str;
		m.attachment.media_type = p->content_type.str;
		m.attachment.size = p->external.size;
		memcpy(m.attachment.hash, p->external.content_hash.data, 32);
		m.text = p->external.filename.str;
		m.text_len = p->external.filename.len;
		if (cl_attach_secret_put(c, m.attachment.blob_id, &p->external))
			goto done;
	} else {
		goto done; /* a part this client does not show */
	}
	/* m borrows mc's strings for the encoding below. */
	rc = cl_record_put(c, &m);
	if (rc == VL_ERR_EXISTS) {
		rc = VL_OK; /* delivered twice */
		goto done;
	}
	if (rc) {
		rc = VL_ERR_STORE;
		goto done;
	}
	cv->last_ms = m.timestamp_ms;
	if (!m.outgoing) {
		cv->unread++;
		uint8_t *nr = realloc(cv->rcpt, (cv->n_rcpt + 1) * 32);
		if (nr && cv->n_rcpt < 1024) {
			cv->rcpt = nr;
			memcpy(cv->rcpt + 32 * cv->n_rcpt, mid, 32);
			cv->n_rcpt++;
		} else if (nr) {
			cv->rcpt = nr;
		}
	}
	(void)!cl_conv_save_meta(c, cv);
	event_base(&ev, VL_EVENT_MESSAGE, cv, user, device);
	memcpy(ev.target, m.id, sizeof ev.target);
	event_with_msg(c, &ev, &m);
done:
	vl_mimi_content_cleanup(&mc);
	return rc;
}

/* --- listing ------------------------------------------------------------------- */

/* Fills receipt_all / receipt_any from the record's receipts. */
static void receipts_summary(struct vl_message *m, char **users, size_t nu, const char *me)
{
	m->receipt_any = 0;
	for (size_t j = 0; j < m->n_receipts; j++)
		if (m->receipts[j].kind > m->receipt_any)
			m->receipt_any = m->receipts[j].kind;
	enum vl_receipt_kind all = VL_RECEIPT_READ;
	size_t others = 0;
	for (size_t i = 0; i < nu; i++) {
		if (strcmp(users[i], me) == 0)
			continue;
		others++;
		enum vl_receipt_kind k = 0;
		for (size_t j = 0; j < m->n_receipts; j++)
			if (strcmp(m->receipts[j].user, users[i]) == 0)
				k = m->receipts[j].kind;
		if (k < all)
			all = k;
	}
	m->receipt_all = others ? all : 0;
}

int vl_client_message(struct vl_client *c, const char *id, struct vl_message *m)
{
	memset(m, 0, sizeof *m);
	uint8_t tid[32];
	if (!id_parse(id, tid))
		return cl_fail(c, VL_ERR_ARG, "bad message id");
	int rc = record_get(c, tid, m);
	if (rc)
		return cl_fail(c, rc == VL_ERR_NOT_FOUND ? rc : VL_ERR_STORE, "no such message");
	uint8_t *gid;
	size_t gl;
	if (vl_client_store_message_group(c->st, tid, &gid, &gl) == VL_OK) {
		struct cl_conv *cv = cl_conv_find_gid(c, gid, gl);
		vl_client_store_free(gid, gl);
		if (cv) {
			snprintf(m->conv, sizeof m->conv, "%s", cv->id);
			char **users;
			size_t nu;
			if (cl_conv_users(cv, &users, &nu) == VL_OK) {
				receipts_summary(m, users, nu, c->address);
				cl_strv_free(users, nu);
			}
		}
	}
	return VL_OK;
}

int vl_client_messages(struct vl_client *c, const char *conv, size_t offset, size_t max,
                       struct vl_message **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	struct cl_conv *cv = conv ? cl_conv_find(c, conv) : NULL;
	if (!cv)
		return cl_fail(c, VL_ERR_NOT_FOUND, "no such conversation");
	uint8_t *ids;
	size_t k;
	/* The store lists at most 100000 ids a call. */
	if (max == 0 || max > 100000)
		max = 100000;
	int rc = vl_client_store_message_list(c->st, cv->gid, cv->gid_len, offset, max, &ids, &k);
	if (rc)
		return cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st));
	struct vl_message *out = calloc(k ? k : 1, sizeof *out);
	char **users = NULL;
	size_t nu = 0;
	if (!out || cl_conv_users(cv, &users, &nu)) {
		free(out);
		vl_client_store_free(ids, k * 32);
		return VL_ERR_NOMEM;
	}
	size_t got = 0;
	for (size_t i = 0; i < k; i++) {
		if (record_get(c, ids + 32 * i, &out[got]) != VL_OK)
			continue;
		snprintf(out[got].conv, sizeof out[got].conv, "%s", cv->id);
		receipts_summary(&out[got], users, nu, c->address);
		got++;
	}
	cl_strv_free(users, nu);
	vl_client_store_free(ids, k * 32);
	*list = out;
	*n = got;
	return VL_OK;
}
