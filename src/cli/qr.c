/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Safety numbers for people: grouped digits, and a QR code drawn in the
 * terminal with libqrencode so that two people in the same room can compare
 * numbers by scanning rather than reading sixty digits aloud.
 */
#include <errno.h>
#include <string.h>

#include <qrencode.h>

#include "cli/cli.h"

/* ISO/IEC 18004 asks for a quiet zone of four modules around the code. */
#define QR_QUIET 4

/* Is module (x, y) of the code with its quiet zone dark? */
static bool qr_dark(const QRcode *q, int x, int y)
{
	int w = q->width;
	x -= QR_QUIET;
	y -= QR_QUIET;
	if (x < 0 || y < 0 || x >= w || y >= w)
		return false;
	/* libqrencode: bit 0 of each byte is the module's colour. */
	return (q->data[y * w + x] & 1) != 0;
}

enum vl_status cli_qr_print(FILE *out, const char *text, enum cli_qr_style style)
{
	QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	if (q == NULL)
		return errno == ERANGE ? VL_ERR_LIMIT : VL_ERR_NOMEM;
	int size = q->width + 2 * QR_QUIET;
	if (style == CLI_QR_ASCII) {
		for (int y = 0; y < size; y++) {
			for (int x = 0; x < size; x++)
				fputs(qr_dark(q, x, y) ? "##" : "  ", out);
			fputc('\n', out);
		}
		QRcode_free(q);
		return VL_OK;
	}
	/* Two rows per text line: the upper half block stands for the top
	 * module, the lower half block for the bottom one. */
	bool draw_light = style == CLI_QR_UTF8;
	for (int y = 0; y < size; y += 2) {
		for (int x = 0; x < size; x++) {
			bool top = qr_dark(q, x, y) != draw_light;
			bool bot = y + 1 < size ? qr_dark(q, x, y + 1) != draw_light : false;
			if (top && bot)
				fputs("\xe2\x96\x88", out); /* U+2588 full block */
			else if (top)
				fputs("\xe2\x96\x80", out); /* U+2580 upper half */
			else if (bot)
				fputs("\xe2\x96\x84", out); /* U+2584 lower half */
			else
				fputc(' ', out);
		}
		fputc('\n', out);
	}
	QRcode_free(q);
	return VL_OK;
}

bool cli_safety_format(char *buf, size_t len, const char *digits)
{
	size_t n = strlen(digits), o = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (digits[i] < '0' || digits[i] > '9')
			return false;
		if (i > 0 && i % 5 == 0) {
			if (o + 1 >= len)
				return false;
			buf[o++] = (i % 20 == 0) ? '\n' : ' ';
		}
		if (o + 1 >= len)
			return false;
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return true;
}
