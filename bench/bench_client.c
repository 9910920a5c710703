/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvalise end to end on loopback, against a real valised started here
 * (argument 1, or ../src/server/valised next to this program):
 *
 *  1. Send-to-display latency: two connected clients in a one-to-one
 *     conversation; the receiver polls in its own thread; the time from
 *     the start of vl_client_send_text() to the VL_EVENT_MESSAGE on the
 *     receiving side, over 100 sends: median, 90th percentile, maximum.
 *  2. Sending to a 100-member group: MLS encryptions, SEND frames,
 *     attachment encryptions and blob uploads made by one text and one
 *     file sent to it, next to the same for a 2-member group.
 *
 * Prints tables; asserts nothing about speed.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "e2e.h"

#define SENDS   100
#define MEMBERS 100

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static char root[64], url[64];
static struct srv server;

static struct vl_client *mk(const char *user, const char *device, uint32_t kp_target)
{
	char dir[200];
	snprintf(dir, sizeof dir, "%s/%s-%s", root, user, device);
	char *inv = srv_invite(&server, user);
	if (!inv)
		return NULL;
	struct vl_client_opts o = {.data_dir = dir,
	                           .passphrase = "bench passphrase",
	                           .passphrase_len = 16,
	                           .argon2_m_kib = 8 * 1024,
	                           .key_package_target = kp_target};
	char err[256] = "";
	o.errbuf = err;
	o.errbuf_len = sizeof err;
	struct vl_client *c = NULL;
	int rc = vl_client_register(&o, url, user, device, inv, &c);
	free(inv);
	if (rc)
		fprintf(stderr, "register %s: %s (%s)\n", user, vl_strerror(rc), err);
	return c;
}

struct rx {
	struct vl_client *c;
	double recv[SENDS];
	volatile int stop;
	int got;
};

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	while (!r->stop) {
		if (vl_client_poll(r->c, 20) != VL_OK)
			break;
		struct vl_event ev;
		while (vl_client_next_event(r->c, &ev)) {
			int i;
			if (ev.type == VL_EVENT_MESSAGE && ev.has_msg && ev.msg.text &&
			    sscanf(ev.msg.text, "bench %d", &i) == 1 && i >= 0 && i < SENDS) {
				r->recv[i] = now_ms();
				r->got++;
			}
			vl_event_cleanup(&ev);
		}
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int latency(void)
{
	struct vl_client *a = mk("alice@example.org", "laptop", 0);
	struct vl_client *b = mk("bob@example.org", "phone", 0);
	if (!a || !b)
		return 1;
	const char *peer = "bob@example.org";
	char conv[VL_CLIENT_ID_MAX + 1];
	if (vl_client_conv_create(a, VL_CONV_DIRECT, NULL, &peer, 1, conv))
		return 1;
	/* bob joins before the clock starts. */
	for (int i = 0; i < 50 && !cl_conv_find(b, conv); i++)
		(void)!vl_client_poll(b, 20);
	struct rx r = {.c = b};
	pthread_t t;
	pthread_create(&t, NULL, rx_main, &r);
	double sent[SENDS], call[SENDS];
	char text[32];
	for (int i = 0; i < SENDS; i++) {
		snprintf(text, sizeof text, "bench %d", i);
		sent[i] = now_ms();
		if (vl_client_send_text(a, conv, text, false, NULL, NULL)) {
			fprintf(stderr, "send: %s\n", vl_client_errmsg(a));
			break;
		}
		call[i] = now_ms() - sent[i];
		/* One message in flight at a time: wait until it is shown. */
		for (int w = 0; w < 2000 && r.recv[i] == 0; w++)
			usleep(250);
	}
	r.stop = 1;
	pthread_join(t, NULL);
	double lat[SENDS];
	int n = 0;
	for (int i = 0; i < SENDS; i++)
		if (r.recv[i] > 0)
			lat[n++] = r.recv[i] - sent[i];
	qsort(lat, (size_t)n, sizeof *lat, cmp_d);
	qsort(call, SENDS, sizeof *call, cmp_d);
	printf("send to display, one-to-one, loopback (%d sends)\n", SENDS);
	printf("%-10s %10s %10s %10s %10s %16s\n", "received", "median ms", "p90 ms", "max ms",
	       "min ms", "send call (med)");
	if (n > 0)
		printf("%-10d %10.2f %10.2f %10.2f %10.2f %16.2f\n\n", n, lat[n / 2],
		       lat[n * 9 / 10], lat[n - 1], lat[0], call[SENDS / 2]);
	else
		printf("%-10d %10s %10s %10s %10s %16s\n\n", 0, "-", "-", "-", "-", "-");
	vl_client_close(a);
	vl_client_close(b);
	return n == SENDS ? 0 : 1;
}

static int group_cost(void)
{
	struct vl_client *s = mk("sender@example.org", "desk", 0);
	if (!s)
		return 1;
	/* Members register and go offline: the sender's cost is measured. */
	const char **members = calloc(MEMBERS, sizeof *members);
	char(*names)[40] = calloc(MEMBERS, sizeof *names);
	if (!members || !names)
		return 1;
	for (int i = 0; i < MEMBERS - 1; i++) {
		snprintf(names[i], sizeof names[i], "m%03d@example.org", i);
		members[i] = names[i];
		struct vl_client *m = mk(names[i], "d", 1);
		if (!m)
			return 1;
		vl_client_close(m);
	}
	char file[200];
	snprintf(file, sizeof file, "%s/attachment.bin", root);
	FILE *f = fopen(file, "wb");
	if (!f)
		return 1;
	for (int i = 0; i < (1 << 20); i++)
		fputc(i & 0xff, f);
	fclose(f);
	printf("cost of one send to a group, as counted in the sender\n");
	printf("%-8s %-10s %12s %10s %12s %10s %10s\n", "members", "what", "encryptions", "SENDs",
	       "file encr.", "uploads", "ms");
	int sizes[2] = {2, MEMBERS};
	int rc = 0;
	for (int k = 0; k < 2; k++) {
		char conv[VL_CLIENT_ID_MAX + 1];
		double t0 = now_ms();
		if (vl_client_conv_create(s, VL_CONV_GROUP, "bench", members, (size_t)sizes[k] - 1,
		                          conv)) {
			fprintf(stderr, "create: %s\n", vl_client_errmsg(s));
			return 1;
		}
		double t_create = now_ms() - t0;
		unsigned long e0 = cl_stat_encryptions, s0 = cl_stat_sends;
		t0 = now_ms();
		if (vl_client_send_text(s, conv, "to everyone", false, NULL, NULL))
			return 1;
		printf("%-8d %-10s %12lu %10lu %12s %10s %10.2f\n", sizes[k], "text",
		       cl_stat_encryptions - e0, cl_stat_sends - s0, "-", "-", now_ms() - t0);
		e0 = cl_stat_encryptions;
		s0 = cl_stat_sends;
		unsigned long fe0 = cl_attach_encryptions, u0 = cl_attach_uploads;
		t0 = now_ms();
		int frc = vl_client_send_file(s, conv, file, NULL, NULL, NULL, NULL, NULL);
		if (frc == VL_OK)
			printf("%-8d %-10s %12lu %10lu %12lu %10lu %10.2f\n", sizes[k],
			       "1 MiB file", cl_stat_encryptions - e0, cl_stat_sends - s0,
			       cl_attach_encryptions - fe0, cl_attach_uploads - u0, now_ms() - t0);
		else
			printf("%-8d %-10s %12s %10s %12s %10s %10s   (%s)\n", sizes[k],
			       "1 MiB file", "-", "-", "-", "-", "-", vl_client_errmsg(s));
		printf("%-8d %-10s %12s %10s %12s %10s %10.2f\n", sizes[k], "(create)", "", "", "",
		       "", t_create);
	}
	printf("\n");
	vl_client_close(s);
	free(members);
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX + 32];
	if (argc > 1) {
		snprintf(exe, sizeof exe, "%s", argv[1]);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			return 2;
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		snprintf(exe, sizeof exe, "%s/../src/server/valised", self);
	}
	if (access(exe, X_OK) != 0) {
		fprintf(stderr, "bench_client: no valised at %s\n", exe);
		return 2;
	}
	if (srv_start(&server, exe, false)) {
		fprintf(stderr, "bench_client: valised did not start\n");
		return 1;
	}
	snprintf(root, sizeof root, "/tmp/vl_benchc_XXXXXX");
	if (!mkdtemp(root))
		return 1;
	snprintf(url, sizeof url, "ws://127.0.0.1:%d", server.port);
	int rc = latency();
	rc |= group_cost();
	srv_cleanup(&server);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_client: could not remove %s\n", root);
	return rc;
}
