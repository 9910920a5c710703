/*
 * bench_host: how this machine delays a thread and an fdatasync when its
 * CPUs are busy. No valised code: it measures the floor under every
 * latency figure of bench_loadgen (bench/README.md).
 *
 * For 0 .. nproc busy threads (each spinning for the whole row), two
 * threads are timed together:
 *   - a sleeper: usleep(1000) in a loop; how much later than 1 ms it
 *     wakes (scheduling and timer delay);
 *   - a syncer: fdatasync of a 32 MiB file that a third thread overwrites
 *     in 4 KiB pieces at about 12 MiB/s (the store's WAL at 25,000
 *     messages a second), then 0.5 ms of sleep.
 * Each row runs twice: with the timed threads at normal priority, and in
 * SCHED_FIFO where the process may (root). Under SCHED_FIFO nothing in
 * this system preempts them, so a delay left there is the hypervisor's
 * (the virtual CPU not running) or the device's.
 *
 *   build/bench/bench_host [--seconds S] [--file PATH]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILE_BYTES  (32u << 20)
#define MAX_SAMPLES 200000u

struct samples {
	uint64_t *v;
	size_t n;
};

struct row {
	int fd;
	bool fifo;
	uint64_t end_ns;
	atomic_bool stop;
	struct samples sleep, sync;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add(struct samples *s, uint64_t v)
{
	if (s->n < MAX_SAMPLES)
		s->v[s->n++] = v;
}

static bool set_fifo(void)
{
	struct sched_param p = {.sched_priority = 50};
	return pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) == 0;
}

static void *busy_main(void *arg)
{
	struct row *r = arg;
	volatile uint64_t x = 0;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed))
		for (int i = 0; i < 100000; i++)
			x++;
	return NULL;
}

/* 12 pieces of 4 KiB every 4 ms, round the file. */
static void *writer_main(void *arg)
{
	struct row *r = arg;
	static char piece[4096];
	memset(piece, 0x5a, sizeof piece);
	off_t off = 0;
	while (!atomic_load(&r->stop)) {
		for (int i = 0; i < 12; i++) {
			if (pwrite(r->fd, piece, sizeof piece, off) != (ssize_t)sizeof piece)
				return NULL;
			off = (off + (off_t)sizeof piece) % FILE_BYTES;
		}
		usleep(4000);
	}
	return NULL;
}

static void *sleeper_main(void *arg)
{
	struct row *r = arg;
	if (r->fifo)
		(void)set_fifo();
	while (mono_ns() < r->end_ns) {
		uint64_t t = mono_ns();
		usleep(1000);
		uint64_t slept = mono_ns() - t;
		add(&r->sleep, slept > 1000000u ? slept - 1000000u : 0);
	}
	return NULL;
}

static void *syncer_main(void *arg)
{
	struct row *r = arg;
	if (r->fifo)
		(void)set_fifo();
	while (mono_ns() < r->end_ns) {
		uint64_t t = mono_ns();
		if (fdatasync(r->fd) != 0)
			return NULL;
		add(&r->sync, mono_ns() - t);
		usleep(500);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void print_stat(struct samples *s)
{
	if (!s->n) {
		printf(" - | - | - | - | - |");
		return;
	}
	qsort(s->v, s->n, sizeof *s->v, cmp_u64);
	size_t over = 0;
	for (size_t i = 0; i < s->n; i++)
		over += s->v[i] > 5000000u;
	printf(" %.2f | %.2f | %.2f | %.2f | %zu |", (double)s->v[s->n / 2] / 1e6,
	       (double)s->v[s->n * 99 / 100] / 1e6, (double)s->v[s->n * 999 / 1000] / 1e6,
	       (double)s->v[s->n - 1] / 1e6, over);
}

static int run_row(int fd, unsigned busy, bool fifo, double seconds, uint64_t *buf)
{
	struct row r = {.fd = fd, .fifo = fifo};
	r.sleep.v = buf;
	r.sync.v = buf + MAX_SAMPLES;
	pthread_t busy_t[64], writer, sleeper, syncer;
	unsigned started = 0;
	for (; started < busy; started++)
		if (pthread_create(&busy_t[started], NULL, busy_main, &r) != 0)
			break;
	usleep(300000); /* the busy threads settle */
	r.end_ns = mono_ns() + (uint64_t)(seconds * 1e9);
	int rc = -1;
	if (pthread_create(&writer, NULL, writer_main, &r) == 0) {
		if (pthread_create(&sleeper, NULL, sleeper_main, &r) == 0) {
			if (pthread_create(&syncer, NULL, syncer_main, &r) == 0) {
				pthread_join(syncer, NULL);
				rc = 0;
			}
			pthread_join(sleeper, NULL);
		}
		atomic_store(&r.stop, true);
		pthread_join(writer, NULL);
	}
	atomic_store(&r.stop, true);
	for (unsigned i = 0; i < started; i++)
		pthread_join(busy_t[i], NULL);
	if (rc)
		return rc;
	printf("| %u | %s |", started, fifo ? "FIFO" : "normal");
	print_stat(&r.sleep);
	print_stat(&r.sync);
	printf("\n");
	fflush(stdout);
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
	        "usage: %s [--seconds S] [--file PATH]\n"
	        "  --seconds S  each row's length (default 4)\n"
	        "  --file PATH  the file synced (default bench_host.dat here, on the disk\n"
	        "               the data folder would use); removed afterwards\n",
	        argv0);
}

int main(int argc, char **argv)
{
	double seconds = 4;
	const char *path = "bench_host.dat";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
			if (seconds <= 0 || seconds > 60) {
				fprintf(stderr, "bench_host: --seconds must be in (0, 60]\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else {
			usage(argv[0]);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1 || ncpu > 64)
		ncpu = ncpu < 1 ? 1 : 64;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		fprintf(stderr, "bench_host: %s: %s\n", path, strerror(errno));
		return 1;
	}
	uint64_t *buf = malloc(2 * MAX_SAMPLES * sizeof *buf);
	int rc = 1;
	if (!buf || ftruncate(fd, FILE_BYTES) != 0 || fdatasync(fd) != 0) {
		fprintf(stderr, "bench_host: cannot prepare %s\n", path);
		goto out;
	}
	/* Only to learn whether SCHED_FIFO is allowed; the timed threads set
	 * it for themselves. */
	struct sched_param keep;
	int policy;
	pthread_getschedparam(pthread_self(), &policy, &keep);
	bool fifo_ok = set_fifo();
	pthread_setschedparam(pthread_self(), policy, &keep);

	printf("bench_host: %ld CPUs, %.0f s a row, file %s; times in ms\n\n", ncpu, seconds, path);
	printf("| busy threads | timed threads | 1 ms sleep: late p50 | p99 | p999 | max | "
	       "over 5 ms | fdatasync p50 | p99 | p999 | max | over 5 ms |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (unsigned busy = 0; busy <= (unsigned)ncpu; busy++)
		for (int f = 0; f < (fifo_ok ? 2 : 1); f++)
			if (run_row(fd, busy, f == 1, seconds, buf) != 0) {
				fprintf(stderr,
				        "bench_host: a row failed (threads or fdatasync)\n");
				goto out;
			}
	if (!fifo_ok)
		printf("\n(SCHED_FIFO not permitted: run as root for those rows)\n");
	rc = 0;
out:
	free(buf);
	close(fd);
	unlink(path);
	return rc;
}
