/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Output of the `valise` command: exit codes and status names, the one-line
 * JSON form for scripts, and the pieces of the human form (times, sizes,
 * aligned tables, and text from peers printed without its control
 * characters, since a message is attacker-chosen and a terminal obeys
 * escape sequences).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

int cli_exit_from_status(enum vl_status st)
{
	switch (st) {
	case VL_OK:
		return CLI_EXIT_OK;
	case VL_ERR_ARG:
		return CLI_EXIT_USAGE;
	case VL_ERR_NOT_FOUND:
		return CLI_EXIT_NOT_FOUND;
	case VL_ERR_PERMISSION:
	case VL_ERR_AUTH:
		return CLI_EXIT_DENIED;
	case VL_ERR_NET:
	case VL_ERR_TIMEOUT:
		return CLI_EXIT_NETWORK;
	case VL_ERR_IO:
	case VL_ERR_STORE:
		return CLI_EXIT_STORE;
	case VL_ERR_CRYPTO:
		return CLI_EXIT_SECURITY;
	case VL_ERR_NOMEM:
		return CLI_EXIT_INTERNAL;
	case VL_ERR_DECODE:
	case VL_ERR_LIMIT:
	case VL_ERR_INVALID:
	case VL_ERR_UNSUPPORTED:
	case VL_ERR_STATE:
	case VL_ERR_STALE_EPOCH:
	case VL_ERR_EPOCH_AHEAD:
	case VL_ERR_PROTOCOL:
	case VL_ERR_EXISTS:
	case VL_ERR_AGAIN:
		return CLI_EXIT_FAILED;
	}
	return CLI_EXIT_FAILED;
}

const char *cli_status_name(enum vl_status st)
{
	static const char *const names[] = {
	    [VL_OK] = "ok",
	    [VL_ERR_NOMEM] = "nomem",
	    [VL_ERR_DECODE] = "decode",
	    [VL_ERR_LIMIT] = "limit",
	    [VL_ERR_INVALID] = "invalid",
	    [VL_ERR_CRYPTO] = "crypto",
	    [VL_ERR_UNSUPPORTED] = "unsupported",
	    [VL_ERR_IO] = "io",
	    [VL_ERR_NOT_FOUND] = "not_found",
	    [VL_ERR_STATE] = "state",
	    [VL_ERR_STALE_EPOCH] = "stale_epoch",
	    [VL_ERR_PERMISSION] = "permission",
	    [VL_ERR_PROTOCOL] = "protocol",
	    [VL_ERR_NET] = "network",
	    [VL_ERR_STORE] = "store",
	    [VL_ERR_EXISTS] = "exists",
	    [VL_ERR_AGAIN] = "again",
	    [VL_ERR_AUTH] = "auth",
	    [VL_ERR_TIMEOUT] = "timeout",
	    [VL_ERR_ARG] = "usage",
	    [VL_ERR_EPOCH_AHEAD] = "epoch_ahead",
	};
	if ((unsigned)st < sizeof names / sizeof names[0] && names[st] != NULL)
		return names[st];
	return "error";
}

void cli_print_json(FILE *out, const json_t *v)
{
	if (v == NULL) {
		fputs("null\n", out);
		return;
	}
	/* JSON_ENCODE_ANY: a result may be a bare string or number. Compact,
	 * so that one result is one line for line-oriented tools. */
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL) {
		fputs("null\n", out);
		return;
	}
	fputs(s, out);
	fputc('\n', out);
	free(s);
}

json_t *cli_err_json(const struct cli_err *err)
{
	return json_pack("{s:{s:s,s:s,s:i}}", "error", "status", cli_status_name(err->status),
	                 "message", err->msg[0] ? err->msg : vl_strerror(err->status), "exit",
	                 cli_exit_from_status(err->status));
}

void cli_time_human(char *buf, size_t len, int64_t unix_s)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)unix_s);
}

void cli_size_human(char *buf, size_t len, uint64_t n)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return;
	}
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024.0 && u + 1 < sizeof unit / sizeof unit[0]) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if s does not start
 * one. Overlong forms and surrogates are refused. */
static size_t out_utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (s[0] == 0xe0 && s[1] < 0xa0)
			return 0;
		if (s[0] == 0xed && s[1] >= 0xa0)
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

void cli_print_safe(FILE *out, const char *str, bool keep_newlines)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s != '\0') {
		size_t n = out_utf8_len(s);
		if (n == 0) {
			fputs("\xef\xbf\xbd", out);
			s++;
			continue;
		}
		if (n == 1 && (*s < 0x20 || *s == 0x7f)) {
			if (keep_newlines && (*s == '\n' || *s == '\t'))
				fputc(*s, out);
			else
				fprintf(out, "\\x%02x", *s);
			s++;
			continue;
		}
		/* C1 controls (U+0080..U+009F) are escapes too on some
		 * terminals (CSI is U+009B). */
		if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
			fprintf(out, "\\u%04x", s[1]);
			s += 2;
			continue;
		}
		fwrite(s, 1, n, out);
		s += n;
	}
}

/* Display width of a UTF-8 string, counting one cell per code point (wide
 * East Asian characters are off by one, which only shifts a column). */
static size_t out_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head)
{
	memset(t, 0, sizeof *t);
	t->ncols = ncols > CLI_TABLE_MAX_COLS ? CLI_TABLE_MAX_COLS : ncols;
	for (size_t i = 0; i < t->ncols; i++)
		t->head[i] = head[i];
}

enum vl_status cli_table_add(struct cli_table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
		if (c == NULL)
			return VL_ERR_NOMEM;
		t->cells = c;
		t->cap = cap;
	}
	char **dst = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		dst[i] = strdup(row[i] ? row[i] : "");
		if (dst[i] == NULL) {
			while (i-- > 0)
				free(dst[i]);
			return VL_ERR_NOMEM;
		}
	}
	t->nrows++;
	return VL_OK;
}

void cli_table_print(FILE *out, const struct cli_table *t)
{
	size_t w[CLI_TABLE_MAX_COLS];
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = out_width(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t x = out_width(t->cells[r * t->ncols + c]);
			if (x > w[c])
				w[c] = x;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->ncols + c];
			cli_print_safe(out, s, false);
			if (c + 1 < t->ncols)
				fprintf(out, "%*s", (int)(w[c] - out_width(s) + 2), "");
		}
		fputc('\n', out);
	}
}

void cli_table_cleanup(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}
