/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A one-line progress bar for attachment uploads and downloads, redrawn in
 * place with a carriage return on a terminal and silent elsewhere (a pipe
 * or a log file would otherwise fill with redraws). The rendering is a pure
 * function so it can be tested without a terminal.
 */
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define PROGRESS_MAX_WIDTH 80

static double progress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_render(char *buf, size_t len, const char *label, unsigned width, uint64_t done,
                         uint64_t total, double elapsed_s)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	if (width > PROGRESS_MAX_WIDTH)
		width = PROGRESS_MAX_WIDTH;
	if (done > total)
		done = total;
	/* Integer arithmetic so that 100% is shown only when done. */
	unsigned permille = total == 0 ? 1000 : (unsigned)((done * 1000.0) / (double)total);
	if (permille > 1000 || (permille == 1000 && done < total))
		permille = 999;
	unsigned filled = (unsigned)(((uint64_t)permille * width) / 1000);
	char bar[PROGRESS_MAX_WIDTH + 1];
	for (unsigned i = 0; i < width; i++)
		bar[i] = i < filled ? '#' : '-';
	bar[width] = '\0';
	char a[32], b[32], rate[48] = "";
	cli_size_human(a, sizeof a, done);
	cli_size_human(b, sizeof b, total);
	if (elapsed_s > 0.0 && done > 0) {
		char r[32];
		cli_size_human(r, sizeof r, (uint64_t)((double)done / elapsed_s));
		snprintf(rate, sizeof rate, "  %s/s", r);
	}
	snprintf(buf, len, "%s [%s] %3u%%  %s / %s%s", label ? label : "", bar, permille / 10, a, b,
	         rate);
}

void cli_progress_init(struct cli_progress *p, FILE *out, bool enabled, const char *label,
                       uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	p->enabled = enabled;
	p->width = 30;
	p->label = label;
	p->total = total;
	p->start = progress_now();
	p->last_permille = -1;
}

static void progress_draw(struct cli_progress *p, uint64_t done)
{
	char line[256];
	cli_progress_render(line, sizeof line, p->label, p->width, done, p->total,
	                    progress_now() - p->start);
	/* "\r" then clear to the end of line: the new line may be shorter. */
	fprintf(p->out, "\r%s\033[K", line);
	fflush(p->out);
	p->drawn = true;
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
	if (!p->enabled)
		return;
	int pm =
	    p->total == 0
	        ? 1000
	        : (int)((double)(done > p->total ? p->total : done) * 1000.0 / (double)p->total);
	if (pm == p->last_permille)
		return;
	p->last_permille = pm;
	progress_draw(p, done);
}

void cli_progress_finish(struct cli_progress *p, uint64_t done)
{
	if (!p->enabled)
		return;
	progress_draw(p, done);
	fputc('\n', p->out);
	fflush(p->out);
}
