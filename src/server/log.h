/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Structured logs in logfmt (ts=... level=... event=... key=value ...) on
 * stderr. Callers log identifiers, counts and status codes only: never
 * keys, signatures, invite codes or message content.
 */
#ifndef VL_SERVER_LOG_H
#define VL_SERVER_LOG_H

enum vl_log_level { VL_LOG_DEBUG = 0, VL_LOG_INFO = 1, VL_LOG_WARN = 2, VL_LOG_ERROR = 3 };

/* Messages below level are dropped (default: info). */
void vl_log_set_level(enum vl_log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int vl_log_level_parse(const char *s);
/* One line: ts, level, event, then the caller's key=value pairs (fmt). */
void vl_log(enum vl_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
