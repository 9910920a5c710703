/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end: real valised on loopback and several libvalise clients, each
 * with its own data folder: one-to-one and group chat both ways, add and
 * remove (the removed member reads nothing after), offline catch-up across
 * a restart of the client, edits, deletes and reactions, two devices of one
 * user, concurrent commits, messages racing a commit (and one refused as
 * stale, then re-encrypted), attachments (and a download resumed after its
 * connection is cut), safety numbers, and a scan of the server's files for
 * plaintext. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pthread.h>

#include "client/client_int.h"
#include "crypto/crypto.h"
#include "e2e.h"
#include "valise/client.h"

static const char *valised_path;

struct env {
	struct srv s;
	char root[64]; /* client data folders live under here */
	char url[64];
};

struct dev {
	struct vl_client *c;
	char dir[128];
};

/* A server (plain, with one more setting if extra is not NULL) and a
 * folder for the clients' data. */
static int setup_with(void **state, const char *extra)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	e->s.extra[0] = extra;
	assert_int_equal(srv_start(&e->s, valised_path, false), 0);
	snprintf(e->root, sizeof e->root, "/tmp/vl_e2ec_XXXXXX");
	assert_non_null(mkdtemp(e->root));
	snprintf(e->url, sizeof e->url, "ws://127.0.0.1:%d", e->s.port);
	*state = e;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

static int teardown(void **state)
{
	struct env *e = *state;
	srv_cleanup(&e->s);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->root);
	if (system(cmd) != 0)
		fprintf(stderr, "e2e_client: could not remove %s\n", e->root);
	free(e);
	return 0;
}

static bool tls_insecure;
static uint32_t kp_target;

static struct vl_client_opts opts_for(const char *dir)
{
	struct vl_client_opts o = {
	    .data_dir = dir,
	    .passphrase = "correct horse battery staple",
	    .passphrase_len = 28,
	    .argon2_m_kib = 8 * 1024, /* the store's minimum: tests stay fast */
	    .timeout_ms = 10000,
	    .tls_insecure = tls_insecure,
	    .key_package_target = kp_target,
	};
	return o;
}

/* A new device; invite NULL: one from the server's admin command. */
static void dev_new(struct env *e, struct dev *d, const char *user, const char *device,
                    const char *invite)
{
	snprintf(d->dir, sizeof d->dir, "%s/%s-%s", e->root, user, device);
	char *inv = invite ? strdup(invite) : srv_invite(&e->s, user);
	assert_non_null(inv);
	struct vl_client_opts o = opts_for(d->dir);
	int rc = vl_client_register(&o, e->url, user, device, inv, &d->c);
	free(inv);
	if (rc)
		fprintf(stderr, "register %s#%s: %s\n", user, device, vl_strerror(rc));
	assert_int_equal(rc, VL_OK);
}

static void dev_close(struct dev *d)
{
	vl_client_close(d->c);
	d->c = NULL;
}

/* A device whose store key is a key file (mode 0600) instead of a
 * passphrase. */
static void dev_new_keyfile(struct env *e, struct dev *d, const char *user, const char *device)
{
	snprintf(d->dir, sizeof d->dir, "%s/%s-%s", e->root, user, device);
	char kf[200];
	snprintf(kf, sizeof kf, "%s/%s-%s.key", e->root, user, device);
	char *inv = srv_invite(&e->s, user);
	assert_non_null(inv);
	struct vl_client_opts o = opts_for(d->dir);
	o.passphrase = NULL;
	o.passphrase_len = 0;
	o.key_file = kf;
	assert_int_equal(vl_client_register(&o, e->url, user, device, inv, &d->c), VL_OK);
	free(inv);
	struct stat sb;
	assert_int_equal(stat(kf, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* Reopen with the key file; a passphrase does not open it. */
	vl_client_close(d->c);
	assert_int_equal(vl_client_open(&o, &d->c), VL_OK);
	vl_client_close(d->c);
	struct vl_client_opts wrong = opts_for(d->dir);
	assert_int_not_equal(vl_client_open(&wrong, &d->c), VL_OK);
	assert_int_equal(vl_client_open(&o, &d->c), VL_OK);
	assert_int_equal(vl_client_connect(d->c), VL_OK);
}

static void dev_reopen(struct dev *d)
{
	struct vl_client_opts o = opts_for(d->dir);
	assert_int_equal(vl_client_open(&o, &d->c), VL_OK);
	assert_int_equal(vl_client_connect(d->c), VL_OK);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Polls d until an event of type (for conv, if given; whose message text
 * or event text equals text, if given) arrives. Other events are dropped.
 * Returns true with *out filled (cleanup by caller) if out is not NULL. */
static bool wait_event(struct dev *d, enum vl_event_type type, const char *conv, const char *text,
                       int timeout_ms, struct vl_event *out)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		struct vl_event ev;
		while (vl_client_next_event(d->c, &ev)) {
			bool ok = ev.type == type && (!conv || strcmp(ev.conv, conv) == 0);
			if (ok && text) {
				const char *t = ev.has_msg ? ev.msg.text : ev.text;
				ok = t && strcmp(t, text) == 0;
			}
			if (ok) {
				if (out)
					*out = ev;
				else
					vl_event_cleanup(&ev);
				return true;
			}
			vl_event_cleanup(&ev);
		}
		uint64_t n = now_ms();
		if (n >= end)
			return false;
		int rc = vl_client_poll(d->c, (int)(end - n > 100 ? 100 : end - n));
		if (rc != VL_OK)
			fprintf(stderr, "poll %s#%s: %s (%s)\n", vl_client_address(d->c),
			        vl_client_device(d->c), vl_strerror(rc), vl_client_errmsg(d->c));
		assert_int_equal(rc, VL_OK);
	}
}

/* Polls for a while and fails if an event of this type with this text
 * shows up. */
static void expect_no_message(struct dev *d, const char *text, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		(void)!vl_client_poll(d->c, 50);
		struct vl_event ev;
		while (vl_client_next_event(d->c, &ev)) {
			if (ev.type == VL_EVENT_MESSAGE && ev.has_msg && ev.msg.text)
				assert_string_not_equal(ev.msg.text, text);
			vl_event_cleanup(&ev);
		}
	}
}

/* True if the conversation's stored messages hold text. */
static bool has_text(struct dev *d, const char *conv, const char *text)
{
	struct vl_message *list;
	size_t n;
	if (vl_client_messages(d->c, conv, 0, 0, &list, &n) != VL_OK)
		return false;
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (list[i].text && strcmp(list[i].text, text) == 0)
			found = true;
	vl_message_list_free(list, n);
	return found;
}

static void send_and_expect(struct dev *from, const char *conv, const char *text, struct dev **to,
                            size_t n_to)
{
	char id[VL_CLIENT_MSG_ID_LEN + 1];
	int rc = vl_client_send_text(from->c, conv, text, false, NULL, id);
	if (rc)
		fprintf(stderr, "send: %s (%s)\n", vl_strerror(rc), vl_client_errmsg(from->c));
	assert_int_equal(rc, VL_OK);
	for (size_t i = 0; i < n_to; i++) {
		struct vl_event ev;
		bool got = wait_event(to[i], VL_EVENT_MESSAGE, conv, text, 5000, &ev);
		if (!got)
			fprintf(stderr, "%s#%s did not get \"%s\"\n", vl_client_address(to[i]->c),
			        vl_client_device(to[i]->c), text);
		assert_true(got);
		assert_string_equal(ev.msg.id, id);
		assert_string_equal(ev.sender, vl_client_address(from->c));
		vl_event_cleanup(&ev);
	}
}

static void join(struct dev *d, char conv[VL_CLIENT_ID_MAX + 1])
{
	struct vl_event ev;
	assert_true(
	    wait_event(d, VL_EVENT_CONV_JOINED, conv && conv[0] ? conv : NULL, NULL, 5000, &ev));
	if (conv && !conv[0])
		snprintf(conv, VL_CLIENT_ID_MAX + 1, "%s", ev.conv);
	vl_event_cleanup(&ev);
}

static void test_direct_both_ways(void **state)
{
	struct env *e = *state;
	struct dev a, b;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new_keyfile(e, &b, "bob@example.org", "phone");
	const char *peer = "bob@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_DIRECT, NULL, &peer, 1, conv), VL_OK);
	/* Asking again gives the same conversation. */
	char again[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_DIRECT, NULL, &peer, 1, again), VL_OK);
	assert_string_equal(conv, again);
	join(&b, conv);
	struct dev *tb[] = {&b}, *ta[] = {&a};
	send_and_expect(&a, conv, "hello bob", tb, 1);
	send_and_expect(&b, conv, "hello alice", ta, 1);
	send_and_expect(&a, conv, "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7 bonjour", tb, 1);
	/* bob's client acknowledged delivery: alice sees the receipt. */
	assert_true(wait_event(&a, VL_EVENT_RECEIPT, conv, NULL, 5000, NULL));
	/* Conversation info on both sides. */
	struct vl_conv_info info;
	assert_int_equal(vl_client_conv_info(b.c, conv, &info), VL_OK);
	assert_int_equal(info.kind, VL_CONV_DIRECT);
	assert_int_equal(info.n_members, 2);
	assert_string_equal(info.name, "alice@example.org");
	vl_conv_info_cleanup(&info);
	/* Typing is an event only. */
	assert_int_equal(vl_client_typing(a.c, conv, true), VL_OK);
	struct vl_event ev;
	assert_true(wait_event(&b, VL_EVENT_TYPING, conv, NULL, 5000, &ev));
	assert_true(ev.typing);
	vl_event_cleanup(&ev);
	/* Safety numbers agree. */
	char sa[VL_CLIENT_SAFETY_NUMBER_LEN + 1], sb[VL_CLIENT_SAFETY_NUMBER_LEN + 1];
	assert_int_equal(vl_client_safety_number(a.c, "bob@example.org", sa, NULL), VL_OK);
	assert_int_equal(vl_client_safety_number(b.c, "alice@example.org", sb, NULL), VL_OK);
	assert_string_equal(sa, sb);
	assert_int_equal(strlen(sa), VL_CLIENT_SAFETY_NUMBER_LEN);
	dev_close(&a);
	dev_close(&b);
}

static void test_group_add_remove(void **state)
{
	struct env *e = *state;
	struct dev a, b, c, d;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	dev_new(e, &c, "carol@example.org", "desk", NULL);
	dev_new(e, &d, "dave@example.org", "tab", NULL);
	const char *members[] = {"bob@example.org", "carol@example.org"};
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_GROUP, "negotiation", members, 2, conv),
	                 VL_OK);
	join(&b, conv);
	join(&c, conv);
	struct dev *bc[] = {&b, &c}, *ab[] = {&a, &b}, *ac[] = {&a, &c};
	send_and_expect(&a, conv, "agenda item 1", bc, 2);
	send_and_expect(&c, conv, "carol agrees", ab, 2);
	send_and_expect(&b, conv, "bob too", ac, 2);
	/* The group's name reached the members with the meta message. */
	struct vl_conv_info info;
	assert_int_equal(vl_client_conv_info(c.c, conv, &info), VL_OK);
	assert_string_equal(info.name, "negotiation");
	assert_int_equal(info.n_members, 3);
	assert_int_equal(info.n_admins, 1);
	assert_string_equal(info.admins[0], "alice@example.org");
	vl_conv_info_cleanup(&info);
	/* Only admins add or remove. */
	const char *dv = "dave@example.org";
	assert_int_equal(vl_client_conv_add(b.c, conv, &dv, 1), VL_ERR_PERMISSION);
	assert_int_equal(vl_client_conv_add(a.c, conv, &dv, 1), VL_OK);
	join(&d, conv);
	struct dev *bcd[] = {&b, &c, &d};
	send_and_expect(&a, conv, "welcome dave", bcd, 3);
	/* Remove carol: she learns it and reads nothing sent after. */
	const char *cr = "carol@example.org";
	assert_int_equal(vl_client_conv_remove(a.c, conv, &cr, 1), VL_OK);
	assert_true(wait_event(&c, VL_EVENT_REMOVED, conv, NULL, 5000, NULL));
	struct dev *bd[] = {&b, &d};
	send_and_expect(&a, conv, "secret after removal", bd, 2);
	send_and_expect(&b, conv, "bob secret after removal", (struct dev *[]){&a, &d}, 2);
	expect_no_message(&c, "secret after removal", 300);
	assert_false(has_text(&c, conv, "secret after removal"));
	assert_false(has_text(&c, conv, "bob secret after removal"));
	assert_int_equal(vl_client_conv_info(c.c, conv, &info), VL_OK);
	assert_false(info.active);
	vl_conv_info_cleanup(&info);
	assert_int_equal(vl_client_send_text(c.c, conv, "still here?", false, NULL, NULL),
	                 VL_ERR_STATE);
	/* Rename and admins. */
	assert_int_equal(vl_client_conv_rename(a.c, conv, "final round"), VL_OK);
	struct vl_event ev;
	assert_true(wait_event(&b, VL_EVENT_RENAMED, conv, "final round", 5000, &ev));
	vl_event_cleanup(&ev);
	/* bob leaves: the remaining member with the lowest leaf commits it. */
	assert_int_equal(vl_client_conv_leave(b.c, conv), VL_OK);
	/* alice (leaf 0) is the designated committer: she has to be online. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(vl_client_poll(a.c, 25), VL_OK);
	assert_true(wait_event(&d, VL_EVENT_MEMBERS, conv, NULL, 5000, NULL));
	assert_int_equal(vl_client_conv_info(d.c, conv, &info), VL_OK);
	assert_int_equal(info.n_members, 2);
	vl_conv_info_cleanup(&info);
	send_and_expect(&d, conv, "just us", (struct dev *[]){&a}, 1);
	expect_no_message(&b, "just us", 200);
	dev_close(&a);
	dev_close(&b);
	dev_close(&c);
	dev_close(&d);
}

static void test_offline_catch_up(void **state)
{
	struct env *e = *state;
	struct dev a, b;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	/* bob is offline (his process gone) before he is even added. */
	dev_close(&b);
	const char *peer = "bob@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(
	    vl_client_conv_create(a.c, VL_CONV_GROUP, "while you were out", &peer, 1, conv), VL_OK);
	char text[32];
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof text, "queued %d", i);
		assert_int_equal(vl_client_send_text(a.c, conv, text, false, NULL, NULL), VL_OK);
	}
	dev_reopen(&b);
	assert_int_equal(vl_client_catch_up(b.c, 10000), VL_OK);
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof text, "queued %d", i);
		assert_true(has_text(&b, conv, text));
	}
	/* And after a restart the history and the group are still there. */
	dev_close(&b);
	dev_reopen(&b);
	assert_true(has_text(&b, conv, "queued 4"));
	send_and_expect(&b, conv, "back online", (struct dev *[]){&a}, 1);
	dev_close(&a);
	dev_close(&b);
}

static void test_edit_delete_react(void **state)
{
	struct env *e = *state;
	struct dev a, b;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	const char *peer = "bob@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_DIRECT, NULL, &peer, 1, conv), VL_OK);
	join(&b, conv);
	char m1[VL_CLIENT_MSG_ID_LEN + 1], m2[VL_CLIENT_MSG_ID_LEN + 1],
	    r1[VL_CLIENT_MSG_ID_LEN + 1];
	assert_int_equal(vl_client_send_text(a.c, conv, "draft text", false, NULL, m1), VL_OK);
	assert_int_equal(vl_client_send_text(a.c, conv, "regrettable", false, NULL, m2), VL_OK);
	assert_true(wait_event(&b, VL_EVENT_MESSAGE, conv, "regrettable", 5000, NULL));
	/* bob replies and reacts; only the sender may edit or delete. */
	assert_int_equal(vl_client_send_text(b.c, conv, "a reply", false, m1, r1), VL_OK);
	assert_int_equal(vl_client_send_reaction(b.c, conv, m1, "\xf0\x9f\x91\x8d"), VL_OK);
	assert_int_equal(vl_client_edit(b.c, conv, m1, "hijack"), VL_ERR_PERMISSION);
	assert_int_equal(vl_client_delete(b.c, conv, m1), VL_ERR_PERMISSION);
	struct vl_event ev;
	assert_true(wait_event(&a, VL_EVENT_REACTION, conv, "\xf0\x9f\x91\x8d", 5000, &ev));
	assert_string_equal(ev.target, m1);
	vl_event_cleanup(&ev);
	assert_int_equal(vl_client_edit(a.c, conv, m1, "final text"), VL_OK);
	assert_int_equal(vl_client_delete(a.c, conv, m2), VL_OK);
	assert_true(wait_event(&b, VL_EVENT_EDITED, conv, "final text", 5000, NULL));
	assert_true(wait_event(&b, VL_EVENT_DELETED, conv, NULL, 5000, &ev));
	assert_string_equal(ev.target, m2);
	vl_event_cleanup(&ev);
	struct vl_message m;
	assert_int_equal(vl_client_message(b.c, m1, &m), VL_OK);
	assert_string_equal(m.text, "final text");
	assert_true(m.edited);
	vl_message_cleanup(&m);
	assert_int_equal(vl_client_message(b.c, m2, &m), VL_OK);
	assert_true(m.deleted);
	assert_string_equal(m.text, "");
	vl_message_cleanup(&m);
	assert_int_equal(vl_client_message(b.c, r1, &m), VL_OK);
	assert_string_equal(m.in_reply_to, m1);
	vl_message_cleanup(&m);
	assert_int_equal(vl_client_message(a.c, m1, &m), VL_OK);
	assert_int_equal(m.n_reactions, 1);
	assert_string_equal(m.reactions[0].sender, "bob@example.org");
	assert_string_equal(m.reactions[0].reaction, "\xf0\x9f\x91\x8d");
	assert_string_equal(m.text, "final text");
	vl_message_cleanup(&m);
	/* A read receipt. */
	assert_int_equal(vl_client_mark_read(b.c, conv, m1), VL_OK);
	assert_true(wait_event(&a, VL_EVENT_RECEIPT, conv, NULL, 5000, NULL));
	for (int i = 0; i < 20; i++)
		(void)!vl_client_poll(a.c, 20);
	assert_int_equal(vl_client_message(a.c, m1, &m), VL_OK);
	assert_int_equal(m.receipt_all, VL_RECEIPT_READ);
	vl_message_cleanup(&m);
	dev_close(&a);
	dev_close(&b);
}

static void test_two_devices(void **state)
{
	struct env *e = *state;
	struct dev a1, a2, a3, b;
	dev_new(e, &a1, "alice@example.org", "laptop", NULL);
	char *inv = NULL;
	assert_int_equal(vl_client_device_invite(a1.c, &inv), VL_OK);
	dev_new(e, &a2, "alice@example.org", "phone", inv);
	free(inv);
	dev_new(e, &b, "bob@example.org", "desk", NULL);
	struct vl_device_entry *devs;
	size_t nd;
	assert_int_equal(vl_client_devices(a2.c, &devs, &nd), VL_OK);
	assert_int_equal(nd, 2);
	vl_client_devices_free(devs);
	const char *peer = "alice@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	/* bob starts the conversation: both of alice's devices join. */
	assert_int_equal(vl_client_conv_create(b.c, VL_CONV_DIRECT, NULL, &peer, 1, conv), VL_OK);
	join(&a1, conv);
	join(&a2, conv);
	send_and_expect(&b, conv, "to all of alice", (struct dev *[]){&a1, &a2}, 2);
	/* What one of alice's devices sends, the other shows as hers. */
	send_and_expect(&a2, conv, "from the phone", (struct dev *[]){&b, &a1}, 2);
	struct vl_message *list;
	size_t n;
	assert_int_equal(vl_client_messages(a1.c, conv, 0, 0, &list, &n), VL_OK);
	bool mine = false;
	for (size_t i = 0; i < n; i++)
		if (list[i].text && strcmp(list[i].text, "from the phone") == 0)
			mine = list[i].outgoing;
	vl_message_list_free(list, n);
	assert_true(mine);
	/* A third device arrives later and is added by the laptop's sync. */
	assert_int_equal(vl_client_device_invite(a1.c, &inv), VL_OK);
	dev_new(e, &a3, "alice@example.org", "tablet", inv);
	free(inv);
	assert_int_equal(vl_client_sync(a1.c), VL_OK);
	join(&a3, conv);
	send_and_expect(&b, conv, "hello tablet", (struct dev *[]){&a1, &a2, &a3}, 3);
	/* bob is warned that alice's devices changed. */
	struct vl_event ev;
	assert_true(wait_event(&b, VL_EVENT_DEVICES_CHANGED, NULL, NULL, 5000, &ev));
	assert_string_equal(ev.sender, "alice@example.org");
	assert_string_equal(ev.sender_device, "tablet");
	vl_event_cleanup(&ev);
	/* Revoking the phone removes it from the conversation. */
	assert_int_equal(vl_client_device_revoke(a1.c, "phone"), VL_OK);
	struct vl_conv_info info;
	assert_int_equal(vl_client_conv_info(a1.c, conv, &info), VL_OK);
	assert_int_equal(info.n_devices, 3);
	vl_conv_info_cleanup(&info);
	send_and_expect(&b, conv, "phone gone", (struct dev *[]){&a1, &a3}, 2);
	dev_close(&a1);
	dev_close(&a2);
	dev_close(&a3);
	dev_close(&b);
}

static void test_concurrent_commits(void **state)
{
	struct env *e = *state;
	struct dev a, b, c, d, f;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	dev_new(e, &c, "carol@example.org", "desk", NULL);
	dev_new(e, &d, "dave@example.org", "tab", NULL);
	dev_new(e, &f, "frank@example.org", "pc", NULL);
	const char *members[] = {"bob@example.org", "carol@example.org"};
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_GROUP, "g", members, 2, conv), VL_OK);
	join(&b, conv);
	join(&c, conv);
	assert_int_equal(vl_client_conv_set_admin(a.c, conv, "bob@example.org", true), VL_OK);
	assert_true(wait_event(&b, VL_EVENT_ADMINS, conv, NULL, 5000, NULL));
	/* alice commits first; bob, who has not seen her commit yet, commits
	 * on the same epoch: his loses, he processes hers and retries. */
	const char *dv = "dave@example.org", *fr = "frank@example.org";
	assert_int_equal(vl_client_conv_add(a.c, conv, &dv, 1), VL_OK);
	int rc = vl_client_conv_add(b.c, conv, &fr, 1);
	if (rc)
		fprintf(stderr, "bob's add: %s (%s)\n", vl_strerror(rc), vl_client_errmsg(b.c));
	assert_int_equal(rc, VL_OK);
	join(&d, conv);
	join(&f, conv);
	struct dev *all[] = {&a, &b, &c, &d, &f};
	for (size_t i = 0; i < 5; i++) {
		struct dev *others[4];
		size_t k = 0;
		for (size_t j = 0; j < 5; j++)
			if (j != i)
				others[k++] = all[j];
		char text[40];
		snprintf(text, sizeof text, "in sync %zu", i);
		send_and_expect(all[i], conv, text, others, 4);
	}
	for (size_t i = 0; i < 5; i++) {
		struct vl_conv_info info;
		assert_int_equal(vl_client_conv_info(all[i]->c, conv, &info), VL_OK);
		assert_int_equal(info.n_members, 5);
		vl_conv_info_cleanup(&info);
		dev_close(all[i]);
	}
}

struct adder {
	struct dev *d;
	const char *conv;
	const char *who;
	int rc;
};

static void *add_thread(void *arg)
{
	struct adder *a = arg;
	a->rc = vl_client_conv_add(a->d->c, a->conv, &a->who, 1);
	return NULL;
}

static void test_concurrent_commits_threads(void **state)
{
	struct env *e = *state;
	struct dev a, b, c, d, f;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	dev_new(e, &c, "carol@example.org", "desk", NULL);
	dev_new(e, &d, "dave@example.org", "tab", NULL);
	dev_new(e, &f, "frank@example.org", "pc", NULL);
	const char *members[] = {"bob@example.org", "carol@example.org"};
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_GROUP, "g", members, 2, conv), VL_OK);
	join(&b, conv);
	join(&c, conv);
	assert_int_equal(vl_client_conv_set_admin(a.c, conv, "bob@example.org", true), VL_OK);
	assert_true(wait_event(&b, VL_EVENT_ADMINS, conv, NULL, 5000, NULL));
	/* Two admins commit at the same moment from two threads (one client
	 * each): one wins the epoch, the other retries on top of it. Then
	 * both again, removing and re-adding. */
	struct adder x = {&a, conv, "dave@example.org", -1},
	             y = {&b, conv, "frank@example.org", -1};
	pthread_t tx, ty;
	pthread_create(&tx, NULL, add_thread, &x);
	pthread_create(&ty, NULL, add_thread, &y);
	pthread_join(tx, NULL);
	pthread_join(ty, NULL);
	assert_int_equal(x.rc, VL_OK);
	assert_int_equal(y.rc, VL_OK);
	join(&d, conv);
	join(&f, conv);
	struct dev *all[] = {&a, &b, &c, &d, &f};
	for (size_t i = 0; i < 5; i++) {
		struct dev *others[4];
		size_t k = 0;
		for (size_t j = 0; j < 5; j++)
			if (j != i)
				others[k++] = all[j];
		char text[40];
		snprintf(text, sizeof text, "threads in sync %zu", i);
		send_and_expect(all[i], conv, text, others, 4);
	}
	uint64_t epoch = 0;
	for (size_t i = 0; i < 5; i++) {
		struct vl_conv_info info;
		assert_int_equal(vl_client_conv_info(all[i]->c, conv, &info), VL_OK);
		assert_int_equal(info.n_members, 5);
		if (i == 0)
			epoch = info.epoch;
		assert_int_equal(info.epoch, epoch);
		vl_conv_info_cleanup(&info);
		dev_close(all[i]);
	}
}

struct sender {
	struct dev *d;
	const char *conv;
	int n;
	int rc;
};

static void *send_thread(void *arg)
{
	struct sender *s = arg;
	char text[32];
	for (int i = 0; i < s->n && s->rc == VL_OK; i++) {
		snprintf(text, sizeof text, "race %d", i);
		s->rc = vl_client_send_text(s->d->c, s->conv, text, false, NULL, NULL);
	}
	return NULL;
}

static void test_messages_racing_a_commit(void **state)
{
	struct env *e = *state;
	struct dev a, b, c, d;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	dev_new(e, &c, "carol@example.org", "desk", NULL);
	dev_new(e, &d, "dave@example.org", "tab", NULL);
	const char *members[] = {"bob@example.org", "carol@example.org"};
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_GROUP, "g", members, 2, conv), VL_OK);
	join(&b, conv);
	join(&c, conv);
	/* bob sends while alice's commit is under way: messages he made in
	 * the old epoch reach members who already moved on, and are still
	 * read (the previous epoch is kept for a while). */
	struct sender sb = {&b, conv, 20, VL_OK};
	struct adder ad = {&a, conv, "dave@example.org", -1};
	pthread_t tb, ta;
	pthread_create(&tb, NULL, send_thread, &sb);
	pthread_create(&ta, NULL, add_thread, &ad);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
	assert_int_equal(sb.rc, VL_OK);
	assert_int_equal(ad.rc, VL_OK);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(vl_client_poll(a.c, 25), VL_OK);
		assert_int_equal(vl_client_poll(c.c, 25), VL_OK);
	}
	char text[32];
	for (int i = 0; i < 20; i++) {
		snprintf(text, sizeof text, "race %d", i);
		assert_true(has_text(&a, conv, text));
		assert_true(has_text(&c, conv, text));
	}
	dev_close(&a);
	dev_close(&b);
	dev_close(&c);
	dev_close(&d);
}

/* Polls d for ms and fails on a second copy of text or on a message that
 * could not be read. */
static void expect_no_duplicate(struct dev *d, const char *text, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		assert_int_equal(vl_client_poll(d->c, 50), VL_OK);
		struct vl_event ev;
		while (vl_client_next_event(d->c, &ev)) {
			assert_int_not_equal(ev.type, VL_EVENT_UNDECRYPTABLE);
			if (ev.type == VL_EVENT_MESSAGE && ev.has_msg && ev.msg.text)
				assert_string_not_equal(ev.msg.text, text);
			vl_event_cleanup(&ev);
		}
	}
}

static void test_send_refused_as_stale(void **state)
{
	struct env *e = *state;
	struct dev a, b, c, d;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	dev_new(e, &c, "carol@example.org", "desk", NULL);
	dev_new(e, &d, "dave@example.org", "tab", NULL);
	const char *members[] = {"bob@example.org", "carol@example.org"};
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_GROUP, "g", members, 2, conv), VL_OK);
	join(&b, conv);
	join(&c, conv);
	send_and_expect(&b, conv, "bob in the first epoch", (struct dev *[]){&a, &c}, 2);
	/* alice's commit adding dave is accepted; bob has not processed it. */
	const char *dv = "dave@example.org";
	assert_int_equal(vl_client_conv_add(a.c, conv, &dv, 1), VL_OK);
	join(&d, conv);
	struct vl_conv_info info;
	assert_int_equal(vl_client_conv_info(b.c, conv, &info), VL_OK);
	uint64_t old_epoch = info.epoch;
	assert_int_equal(info.n_devices, 3);
	vl_conv_info_cleanup(&info);
	/* bob encrypts in the epoch alice's commit has ended: the server
	 * refuses it; bob processes the commit, encrypts the same content in
	 * the new epoch and sends it again. */
	long stale0 = srv_metric(&e->s, "valised_sends_stale_total");
	assert_true(stale0 >= 0);
	unsigned long enc0 = cl_stat_encryptions, sends0 = cl_stat_sends;
	cl_test_send_without_drain = true;
	const char *text = "sent as the epoch moved on";
	char id[VL_CLIENT_MSG_ID_LEN + 1];
	int rc = vl_client_send_text(b.c, conv, text, false, NULL, id);
	if (rc)
		fprintf(stderr, "bob's send: %s (%s)\n", vl_strerror(rc), vl_client_errmsg(b.c));
	assert_int_equal(rc, VL_OK);
	assert_false(cl_test_send_without_drain);
	assert_int_equal(cl_stat_encryptions - enc0, 2);
	assert_int_equal(cl_stat_sends - sends0, 2);
	assert_int_equal(srv_metric(&e->s, "valised_sends_stale_total"), stale0 + 1);
	assert_int_equal(vl_client_conv_info(b.c, conv, &info), VL_OK);
	assert_true(info.epoch == old_epoch + 1);
	assert_int_equal(info.n_devices, 4);
	vl_conv_info_cleanup(&info);
	/* Every recipient reads it once under the one message id, dave too,
	 * who joined in the new epoch and could not read the old one. */
	struct dev *to[] = {&a, &c, &d};
	for (size_t i = 0; i < 3; i++) {
		struct vl_event ev;
		assert_true(wait_event(to[i], VL_EVENT_MESSAGE, conv, text, 5000, &ev));
		assert_string_equal(ev.msg.id, id);
		assert_string_equal(ev.sender, "bob@example.org");
		vl_event_cleanup(&ev);
	}
	for (size_t i = 0; i < 3; i++)
		expect_no_duplicate(to[i], text, i == 0 ? 300 : 50);
	assert_true(has_text(&b, conv, text));
	send_and_expect(&d, conv, "dave answers", (struct dev *[]){&a, &b, &c}, 3);
	dev_close(&a);
	dev_close(&b);
	dev_close(&c);
	dev_close(&d);
}

static void test_crash_during_commit(void **state)
{
	struct env *e = *state;
	struct dev a, b, c;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	dev_new(e, &c, "carol@example.org", "desk", NULL);
	const char *peer = "bob@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_GROUP, "g", &peer, 1, conv), VL_OK);
	join(&b, conv);
	/* alice's commit reaches the server, then her process dies before
	 * the answer: the pending record survives in her store. */
	cl_test_crash_after_commit_send = true;
	const char *cr = "carol@example.org";
	assert_int_equal(vl_client_conv_add(a.c, conv, &cr, 1), VL_ERR_NET);
	dev_close(&a);
	/* The server accepted it: bob moves on, carol is welcomed. */
	join(&c, conv);
	dev_reopen(&a); /* resends the pending commit, learns it was accepted */
	struct vl_conv_info info;
	assert_int_equal(vl_client_conv_info(a.c, conv, &info), VL_OK);
	assert_int_equal(info.n_members, 3);
	vl_conv_info_cleanup(&info);
	send_and_expect(&a, conv, "after the crash", (struct dev *[]){&b, &c}, 2);
	send_and_expect(&c, conv, "carol here", (struct dev *[]){&a, &b}, 2);
	/* alice is away while the other admin commits: she follows on her
	 * return. */
	struct dev d;
	dev_new(e, &d, "dave@example.org", "tab", NULL);
	assert_int_equal(vl_client_conv_set_admin(a.c, conv, "bob@example.org", true), VL_OK);
	assert_true(wait_event(&b, VL_EVENT_ADMINS, conv, NULL, 5000, NULL));
	dev_close(&a);
	const char *dv = "dave@example.org";
	assert_int_equal(vl_client_conv_add(b.c, conv, &dv, 1), VL_OK);
	join(&d, conv);
	dev_reopen(&a);
	assert_int_equal(vl_client_catch_up(a.c, 5000), VL_OK);
	send_and_expect(&a, conv, "all four", (struct dev *[]){&b, &c, &d}, 3);
	dev_close(&a);
	dev_close(&b);
	dev_close(&c);
	dev_close(&d);
}

static void test_key_package_replenish(void **state)
{
	struct env *e = *state;
	struct dev a, b;
	kp_target = 10;
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	kp_target = 0;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	/* Each claim takes one of bob's 10 packages: the server says KP_LOW
	 * and bob's client uploads more without being asked. */
	assert_int_equal(vl_client_contact_add(a.c, "bob@example.org", "Bob"), VL_OK);
	struct vl_event ev;
	assert_true(wait_event(&b, VL_EVENT_KEY_PACKAGES, NULL, NULL, 5000, &ev));
	assert_true(ev.code > 0);
	vl_event_cleanup(&ev);
	struct vl_contact *list;
	size_t n;
	assert_int_equal(vl_client_contacts(a.c, &list, &n), VL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].address, "bob@example.org");
	assert_string_equal(list[0].display_name, "Bob");
	assert_int_equal(list[0].n_devices, 1);
	vl_client_contacts_free(list, n);
	/* Verified, then a new device of bob: the warning says so. */
	assert_int_equal(vl_client_contact_verify(a.c, "bob@example.org"), VL_OK);
	char *inv;
	assert_int_equal(vl_client_device_invite(b.c, &inv), VL_OK);
	struct dev b2;
	dev_new(e, &b2, "bob@example.org", "tablet", inv);
	free(inv);
	assert_int_equal(vl_client_contact_add(a.c, "bob@example.org", NULL), VL_OK);
	assert_true(wait_event(&a, VL_EVENT_DEVICES_CHANGED, NULL, NULL, 1000, &ev));
	assert_true(ev.verified_broken);
	assert_string_equal(ev.sender_device, "tablet");
	vl_event_cleanup(&ev);
	assert_int_equal(vl_client_contacts(a.c, &list, &n), VL_OK);
	assert_false(list[0].verified);
	assert_true(list[0].changed);
	assert_int_equal(list[0].n_devices, 2);
	vl_client_contacts_free(list, n);
	char qr_num[VL_CLIENT_SAFETY_NUMBER_LEN + 1];
	char *qr = NULL;
	assert_int_equal(vl_client_safety_number(a.c, "bob@example.org", qr_num, &qr), VL_OK);
	assert_non_null(qr);
	assert_true(strncmp(qr, "valise-safety:1:", 16) == 0);
	assert_string_equal(qr + 16, qr_num);
	free(qr);
	dev_close(&a);
	dev_close(&b);
	dev_close(&b2);
}

static int setup_tls(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(srv_start(&e->s, valised_path, true), 0);
	snprintf(e->root, sizeof e->root, "/tmp/vl_e2ec_XXXXXX");
	assert_non_null(mkdtemp(e->root));
	snprintf(e->url, sizeof e->url, "wss://127.0.0.1:%d", e->s.port);
	*state = e;
	return 0;
}

static void test_tls(void **state)
{
	struct env *e = *state;
	struct dev a, b;
	/* The development certificate is self-signed: verification is off
	 * here, and refused when asked for. */
	snprintf(a.dir, sizeof a.dir, "%s/strict", e->root);
	char *inv = srv_invite(&e->s, "alice@example.org");
	assert_non_null(inv);
	struct vl_client_opts o = opts_for(a.dir);
	assert_int_equal(vl_client_register(&o, e->url, "alice@example.org", "laptop", inv, &a.c),
	                 VL_ERR_NET);
	free(inv);
	tls_insecure = true;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	tls_insecure = false;
	const char *peer = "bob@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_DIRECT, NULL, &peer, 1, conv), VL_OK);
	join(&b, conv);
	send_and_expect(&a, conv, "over TLS 1.3", (struct dev *[]){&b}, 1);
	send_and_expect(&b, conv, "and back", (struct dev *[]){&a}, 1);
	dev_close(&a);
	dev_close(&b);
}

/* Searches every file under dir for needle; true if found. */
static bool dir_contains(const char *dir, const uint8_t *needle, size_t nl)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return false;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(dh))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char p[1024];
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		struct stat sb;
		if (lstat(p, &sb))
			continue;
		if (S_ISDIR(sb.st_mode)) {
			found = dir_contains(p, needle, nl);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		FILE *f = fopen(p, "rb");
		if (!f)
			continue;
		uint8_t *buf = malloc((size_t)sb.st_size + 1);
		size_t n = buf ? fread(buf, 1, (size_t)sb.st_size, f) : 0;
		fclose(f);
		for (size_t i = 0; buf && i + nl <= n && !found; i++)
			found = memcmp(buf + i, needle, nl) == 0;
		free(buf);
	}
	closedir(dh);
	return found;
}

static bool cancel_cb(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	return done < total / 2;
}

static bool progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	uint64_t *calls = ctx;
	(*calls)++;
	return done <= total;
}

/* The file at path holds exactly size octets, equal to data. */
static void expect_file(const char *path, const uint8_t *data, size_t size)
{
	uint8_t *back = malloc(size + 1);
	assert_non_null(back);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(back, 1, size + 1, f), size);
	fclose(f);
	assert_memory_equal(back, data, size);
	free(back);
}

static void test_attachment_and_no_plaintext(void **state)
{
	struct env *e = *state;
	struct dev a, b;
	dev_new(e, &a, "alice@example.org", "laptop", NULL);
	dev_new(e, &b, "bob@example.org", "phone", NULL);
	const char *peer = "bob@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	assert_int_equal(vl_client_conv_create(a.c, VL_CONV_DIRECT, NULL, &peer, 1, conv), VL_OK);
	join(&b, conv);
	/* A canary message. */
	uint8_t rnd[8];
	assert_int_equal(vl_random(rnd, sizeof rnd), VL_OK);
	char canary[64];
	snprintf(canary, sizeof canary, "CANARY-%02x%02x%02x%02x%02x%02x%02x%02x-TEXT", rnd[0],
	         rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	send_and_expect(&a, conv, canary, (struct dev *[]){&b}, 1);
	/* A 5 MiB file with a canary inside. */
	size_t size = (size_t)5 << 20;
	uint8_t *data = malloc(size);
	assert_non_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	char fcanary[64];
	snprintf(fcanary, sizeof fcanary, "FILECANARY-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
	         rnd[3]);
	memcpy(data + size / 2, fcanary, strlen(fcanary));
	char src[200], dst[200];
	snprintf(src, sizeof src, "%s/report.bin", e->root);
	snprintf(dst, sizeof dst, "%s/report.out", e->root);
	FILE *f = fopen(src, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, size, f), size);
	fclose(f);
	uint64_t up_calls = 0, down_calls = 0;
	char mid[VL_CLIENT_MSG_ID_LEN + 1];
	int rc = vl_client_send_file(a.c, conv, src, NULL, NULL, progress_cb, &up_calls, mid);
	if (rc)
		fprintf(stderr, "send_file: %s (%s)\n", vl_strerror(rc), vl_client_errmsg(a.c));
	assert_int_equal(rc, VL_OK);
	assert_true(up_calls > 0);
	struct vl_event ev;
	assert_true(wait_event(&b, VL_EVENT_MESSAGE, conv, "report.bin", 5000, &ev));
	assert_int_equal(ev.msg.kind, VL_MSG_ATTACHMENT);
	assert_int_equal(ev.msg.attachment.size, size);
	assert_string_equal(ev.msg.attachment.media_type, "application/octet-stream");
	assert_string_equal(ev.msg.id, mid);
	vl_event_cleanup(&ev);
	assert_int_equal(vl_client_download(b.c, mid, dst, progress_cb, &down_calls), VL_OK);
	assert_true(down_calls > 0);
	expect_file(dst, data, size);
	struct stat sb;
	assert_int_equal(stat(dst, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* Not replaced when it exists. */
	assert_int_equal(vl_client_download(b.c, mid, dst, NULL, NULL), VL_ERR_EXISTS);
	/* The sender's other party can fetch it again; a cancelled download
	 * writes nothing. */
	char dst2[220];
	snprintf(dst2, sizeof dst2, "%s.2", dst);
	assert_int_equal(vl_client_download(b.c, mid, dst2, cancel_cb, NULL), VL_ERR_STATE);
	assert_int_not_equal(stat(dst2, &sb), 0);
	/* Give the server time to write everything, then stop it so its
	 * files are complete, and scan its data folder (database, WAL, blob
	 * folder, logs). */
	for (int i = 0; i < 10; i++)
		(void)!vl_client_poll(b.c, 20);
	dev_close(&a);
	dev_close(&b);
	assert_true(srv_stop(&e->s, 5000) >= 0);
	assert_false(dir_contains(e->s.dir, (const uint8_t *)canary, strlen(canary)));
	assert_false(dir_contains(e->s.dir, (const uint8_t *)fcanary, strlen(fcanary)));
	/* The clients' own stores are sealed too. */
	assert_false(dir_contains(e->root, (const uint8_t *)canary, strlen(canary)));
	free(data);
}

/* A TCP relay on loopback between one client and the server that cuts
 * blob transfers: the n-th download connection is closed after cut[n]
 * octets from the server, the n-th upload request (PUT /blob, queries
 * included) after up_cut[n] octets from the client (0: not cut), or
 * stalled after up_stall[n]: what the client sends after that is read
 * and dropped, so the server sees nothing more and the client waits for
 * an answer; or held up_delay_ms[n] before it is passed on. */
struct relay {
	int lfd, port, server_port;
	pthread_t acceptor, conns[32];
	size_t n_conns;
	pthread_mutex_t mu;
	const size_t *cut, *up_cut;
	size_t n_cut, downloads, ranged;
	size_t n_up_cut, uploads, queries;
	const size_t *up_stall;
	size_t n_up_stall;
	const unsigned *up_delay_ms;
	size_t n_up_delay;
	bool hide_range; /* a server that ignores Range (answers 200) */
	volatile int stop;
};

struct relay_conn {
	struct relay *r;
	int cfd;
};

static void *relay_pump(void *arg)
{
	struct relay_conn *rc = arg;
	struct relay *r = rc->r;
	int cfd = rc->cfd;
	free(rc);
	int sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)r->server_port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof sa) != 0)
		goto out;
	size_t limit = SIZE_MAX, passed = 0, up_limit = SIZE_MAX, up_passed = 0;
	size_t up_stall = SIZE_MAX;
	bool first = true;
	char buf[16385];
	for (;;) {
		struct pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
		if (poll(p, 2, 200) < 0 || r->stop)
			break;
		if (p[0].revents) {
			ssize_t k = recv(cfd, buf, sizeof buf - 1, 0);
			if (k <= 0)
				break;
			buf[k] = '\0'; /* a request head is text */
			if (first && k > 10 && memcmp(buf, "GET /blob/", 10) == 0 &&
			    !(k >= 19 && memcmp(buf + 10, "challenge", 9) == 0)) {
				pthread_mutex_lock(&r->mu);
				size_t i = r->downloads++;
				char *range = strstr(buf, "\r\nRange: bytes=");
				if (range)
					r->ranged++;
				if (range && r->hide_range)
					range[2] = 'X'; /* an unknown header now */
				if (i < r->n_cut && r->cut[i])
					limit = r->cut[i];
				pthread_mutex_unlock(&r->mu);
			}
			if (first && k > 9 && memcmp(buf, "PUT /blob", 9) == 0) {
				pthread_mutex_lock(&r->mu);
				size_t i = r->uploads++;
				if (strstr(buf, "\r\nContent-Range: bytes */"))
					r->queries++;
				if (i < r->n_up_cut && r->up_cut[i])
					up_limit = r->up_cut[i];
				if (i < r->n_up_stall && r->up_stall[i])
					up_stall = r->up_stall[i];
				unsigned delay = i < r->n_up_delay ? r->up_delay_ms[i] : 0;
				pthread_mutex_unlock(&r->mu);
				if (delay)
					usleep(delay * 1000u);
			}
			first = false;
			size_t give =
			    (size_t)k < up_limit - up_passed ? (size_t)k : up_limit - up_passed;
			if (up_passed >= up_stall)
				continue; /* stalled: dropped */
			if (give > up_stall - up_passed)
				give = up_stall - up_passed;
			if (give && send(sfd, buf, give, MSG_NOSIGNAL) != (ssize_t)give)
				break;
			up_passed += give;
			if (up_passed == up_limit) {
				/* The cut. The server sees it first and has time to
				 * take in what came before it, so that the client's
				 * query finds all of it. */
				close(sfd);
				sfd = -1;
				usleep(300000);
				break;
			}
		}
		if (p[1].revents) {
			ssize_t k = recv(sfd, buf, sizeof buf, 0);
			if (k <= 0)
				break;
			size_t give = (size_t)k < limit - passed ? (size_t)k : limit - passed;
			if (give && send(cfd, buf, give, MSG_NOSIGNAL) != (ssize_t)give)
				break;
			passed += give;
			if (passed == limit)
				break; /* the cut */
		}
	}
out:
	if (sfd >= 0)
		close(sfd);
	close(cfd);
	return NULL;
}

static void *relay_accept(void *arg)
{
	struct relay *r = arg;
	while (!r->stop) {
		struct pollfd p = {r->lfd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		int cfd = accept(r->lfd, NULL, NULL);
		if (cfd < 0)
			continue;
		struct relay_conn *rc = malloc(sizeof *rc);
		if (!rc || r->n_conns == sizeof r->conns / sizeof r->conns[0]) {
			free(rc);
			close(cfd);
			continue;
		}
		rc->r = r;
		rc->cfd = cfd;
		if (pthread_create(&r->conns[r->n_conns], NULL, relay_pump, rc) != 0) {
			free(rc);
			close(cfd);
			continue;
		}
		r->n_conns++;
	}
	return NULL;
}

static void relay_start(struct relay *r, int server_port, const size_t *cut, size_t n_cut)
{
	memset(r, 0, sizeof *r);
	r->server_port = server_port;
	r->cut = cut;
	r->n_cut = n_cut;
	pthread_mutex_init(&r->mu, NULL);
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->lfd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(r->lfd, 16), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sa, &sl), 0);
	r->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&r->acceptor, NULL, relay_accept, r), 0);
}

static void relay_stop(struct relay *r)
{
	r->stop = 1;
	pthread_join(r->acceptor, NULL);
	for (size_t i = 0; i < r->n_conns; i++)
		pthread_join(r->conns[i], NULL);
	close(r->lfd);
	pthread_mutex_destroy(&r->mu);
}

#define RELAY_FILE_SIZE ((size_t)2 << 20)

/* Alice and Bob in a direct conversation conv, one of them (Alice if
 * alice_relayed, else Bob) connected through the relay r, and a 2 MiB file
 * e->root/scan.bin. Returns the file's bytes (heap). */
static uint8_t *relay_pair(struct env *e, const struct relay *r, bool alice_relayed, struct dev *a,
                           struct dev *b, char conv[VL_CLIENT_ID_MAX + 1], char src[200])
{
	char direct[64], relayed[64];
	snprintf(direct, sizeof direct, "%s", e->url);
	snprintf(relayed, sizeof relayed, "ws://127.0.0.1:%d", r->port);
	snprintf(e->url, sizeof e->url, "%s", alice_relayed ? relayed : direct);
	dev_new(e, a, "alice@example.org", "laptop", NULL);
	snprintf(e->url, sizeof e->url, "%s", alice_relayed ? direct : relayed);
	dev_new(e, b, "bob@example.org", "phone", NULL);
	snprintf(e->url, sizeof e->url, "%s", direct);
	const char *peer = "bob@example.org";
	assert_int_equal(vl_client_conv_create(a->c, VL_CONV_DIRECT, NULL, &peer, 1, conv), VL_OK);
	join(b, conv);
	uint8_t *data = malloc(RELAY_FILE_SIZE);
	assert_non_null(data);
	for (size_t i = 0; i < RELAY_FILE_SIZE; i++)
		data[i] = (uint8_t)(i * 2246822519u >> 11);
	snprintf(src, 200, "%s/scan.bin", e->root);
	FILE *f = fopen(src, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, RELAY_FILE_SIZE, f), RELAY_FILE_SIZE);
	fclose(f);
	return data;
}

/* A download whose connection is cut part-way resumes where it stopped
 * (a Range request) and still yields the file, checked whole. */
static void test_download_resumes(void **state)
{
	struct env *e = *state;
	static const size_t cut[] = {700000, 1300000};
	struct relay r;
	relay_start(&r, e->s.port, cut, sizeof cut / sizeof cut[0]);
	struct dev a, b;
	char conv[VL_CLIENT_ID_MAX + 1], src[200], dst[200], dst2[200];
	size_t size = RELAY_FILE_SIZE;
	uint8_t *data = relay_pair(e, &r, false, &a, &b, conv, src);
	snprintf(dst, sizeof dst, "%s/scan.out", e->root);
	snprintf(dst2, sizeof dst2, "%s/scan.out2", e->root);
	char mid[VL_CLIENT_MSG_ID_LEN + 1];
	assert_int_equal(vl_client_send_file(a.c, conv, src, NULL, NULL, NULL, NULL, mid), VL_OK);
	assert_true(wait_event(&b, VL_EVENT_MESSAGE, conv, "scan.bin", 5000, NULL));

	/* Cut at 700,000 octets (headers included), resumed, cut again
	 * 1,300,000 octets later, resumed again to the end. */
	uint64_t calls = 0;
	assert_int_equal(vl_client_download(b.c, mid, dst, progress_cb, &calls), VL_OK);
	assert_int_equal(r.downloads, 3);
	assert_int_equal(r.ranged, 2);
	expect_file(dst, data, size);

	/* Cut, then the resumed request cut again inside its head: no
	 * progress, so the download gives up and writes nothing. */
	static const size_t cut2[] = {0, 0, 0, 1300000, 100};
	pthread_mutex_lock(&r.mu);
	r.cut = cut2;
	r.n_cut = sizeof cut2 / sizeof cut2[0];
	pthread_mutex_unlock(&r.mu);
	assert_int_equal(vl_client_download(b.c, mid, dst2, NULL, NULL), VL_ERR_NET);
	assert_int_equal(r.downloads, 5);
	struct stat sb;
	assert_int_not_equal(stat(dst2, &sb), 0);

	/* A server that ignores the Range header sends the whole blob
	 * again: what the client has is skipped, the file is still whole. */
	static const size_t cut3[] = {0, 0, 0, 0, 0, 900000};
	pthread_mutex_lock(&r.mu);
	r.cut = cut3;
	r.n_cut = sizeof cut3 / sizeof cut3[0];
	r.hide_range = true;
	pthread_mutex_unlock(&r.mu);
	assert_int_equal(vl_client_download(b.c, mid, dst2, NULL, NULL), VL_OK);
	assert_int_equal(r.downloads, 7);
	expect_file(dst2, data, size);
	free(data);
	dev_close(&a);
	dev_close(&b);
	relay_stop(&r);
}

/* An upload whose connection is cut part-way resumes from where the server
 * got to, twice, and the file still arrives whole; an upload that makes no
 * progress gives up. */
static void test_upload_resumes(void **state)
{
	struct env *e = *state;
	/* PUT /blob requests in turn: the upload, cut; a query; the rest,
	 * cut again; a query; the rest. */
	static const size_t up_cut[] = {600000, 0, 900000, 0, 0};
	struct relay r;
	relay_start(&r, e->s.port, NULL, 0);
	r.up_cut = up_cut;
	r.n_up_cut = sizeof up_cut / sizeof up_cut[0];
	struct dev a, b;
	char conv[VL_CLIENT_ID_MAX + 1], src[200], dst[200];
	uint8_t *data = relay_pair(e, &r, true, &a, &b, conv, src);
	snprintf(dst, sizeof dst, "%s/scan.out", e->root);
	char mid[VL_CLIENT_MSG_ID_LEN + 1];
	uint64_t calls = 0;
	assert_int_equal(vl_client_send_file(a.c, conv, src, NULL, NULL, progress_cb, &calls, mid),
	                 VL_OK);
	assert_true(calls > 0);
	pthread_mutex_lock(&r.mu);
	assert_int_equal(r.uploads, 5);
	assert_int_equal(r.queries, 2);
	pthread_mutex_unlock(&r.mu);
	assert_true(wait_event(&b, VL_EVENT_MESSAGE, conv, "scan.bin", 5000, NULL));
	assert_int_equal(vl_client_download(b.c, mid, dst, NULL, NULL), VL_OK);
	expect_file(dst, data, RELAY_FILE_SIZE);

	/* Cut inside the request's head, twice: the server holds nothing,
	 * so the query answers 0; the upload tries once more from there,
	 * then gives up. */
	static const size_t up_cut2[] = {0, 0, 0, 0, 0, 100, 0, 100, 0};
	pthread_mutex_lock(&r.mu);
	r.up_cut = up_cut2;
	r.n_up_cut = sizeof up_cut2 / sizeof up_cut2[0];
	pthread_mutex_unlock(&r.mu);
	assert_int_equal(vl_client_send_file(a.c, conv, src, NULL, NULL, NULL, NULL, mid),
	                 VL_ERR_NET);
	pthread_mutex_lock(&r.mu);
	assert_int_equal(r.uploads, 9);
	assert_int_equal(r.queries, 4);
	pthread_mutex_unlock(&r.mu);
	free(data);
	dev_close(&a);
	dev_close(&b);
	relay_stop(&r);
}

/* Alice, connected through r, sends Bob the relay's 2 MiB file: the
 * relay sees `uploads` PUT /blob requests, `queries` of them asking how
 * far an upload got, and Bob gets the file whole. Stops r. */
static void relayed_upload(struct env *e, struct relay *r, size_t uploads, size_t queries)
{
	struct dev a, b;
	char conv[VL_CLIENT_ID_MAX + 1], src[200], dst[200];
	uint8_t *data = relay_pair(e, r, true, &a, &b, conv, src);
	snprintf(dst, sizeof dst, "%s/scan.out", e->root);
	char mid[VL_CLIENT_MSG_ID_LEN + 1];
	assert_int_equal(vl_client_send_file(a.c, conv, src, NULL, NULL, NULL, NULL, mid), VL_OK);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->uploads, uploads);
	assert_int_equal(r->queries, queries);
	pthread_mutex_unlock(&r->mu);
	assert_true(wait_event(&b, VL_EVENT_MESSAGE, conv, "scan.bin", 5000, NULL));
	assert_int_equal(vl_client_download(b.c, mid, dst, NULL, NULL), VL_OK);
	expect_file(dst, data, RELAY_FILE_SIZE);
	free(data);
	dev_close(&a);
	dev_close(&b);
	relay_stop(r);
}

/* A server that forgets an unfinished upload 1 s after its last octet. */
static int setup_ttl1(void **state)
{
	return setup_with(state, "upload_ttl=1");
}

/* The server forgets an upload cut part-way before the client asks how far
 * it got (a restart does the same): the client starts over, once, and the
 * file arrives whole. */
static void test_upload_forgotten(void **state)
{
	struct env *e = *state;
	/* PUT /blob requests in turn: the upload, cut; the query, held 3 s;
	 * the whole again. */
	static const size_t up_cut[] = {600000, 0, 0};
	static const unsigned up_delay_ms[] = {0, 3000, 0};
	struct relay r;
	relay_start(&r, e->s.port, NULL, 0);
	r.up_cut = up_cut;
	r.n_up_cut = 3;
	r.up_delay_ms = up_delay_ms;
	r.n_up_delay = 3;
	relayed_upload(e, &r, 3, 1);
	assert_int_equal(srv_metric(&e->s, "valised_blob_uploads_expired_total"), 1);
}

/* A server with windows of 1 s for HTTP transfers (http_timeout). */
static int setup_http1(void **state)
{
	return setup_with(state, "http_timeout=1");
}

/* An upload that stalls is answered 408 by the server (transfer_min_rate);
 * the client asks how far it got and sends the rest. */
static void test_upload_too_slow(void **state)
{
	struct env *e = *state;
	/* PUT /blob requests in turn: the upload, stalled; a query; the rest. */
	static const size_t up_stall[] = {500000, 0, 0};
	struct relay r;
	relay_start(&r, e->s.port, NULL, 0);
	r.up_stall = up_stall;
	r.n_up_stall = sizeof up_stall / sizeof up_stall[0];
	relayed_upload(e, &r, 3, 1);
	assert_int_equal(srv_metric(&e->s, "valised_slow_transfers_total"), 1);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s VALISED\n", argv[0]);
		return 2;
	}
	valised_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_direct_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_add_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offline_catch_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edit_delete_react, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_commits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_commits_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_during_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_messages_racing_a_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_refused_as_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attachment_and_no_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_download_resumes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_resumes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_too_slow, setup_http1, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_forgotten, setup_ttl1, teardown),
	    cmocka_unit_test_setup_teardown(test_tls, setup_tls, teardown),
	    cmocka_unit_test_setup_teardown(test_key_package_replenish, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
