/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Contact subcommands: contact add / list / verify, and safety (the
 * safety number shared with a contact, grouped digits and a QR code).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

CLI_RUN(cmd_contact_add)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	const char *addr = cli_param_str(params, "address");
	int r = vl_client_contact_add(ctx->client, addr, cli_param_str(params, "name"));
	if (r == VL_ERR_NOT_FOUND)
		return cli_err_set(err, VL_ERR_NOT_FOUND,
		                   "\"%s\" has no device that can be reached (unknown user?)",
		                   addr);
	if (r == VL_ERR_ARG)
		return cli_err_set(err, VL_ERR_ARG, "\"%s\" is not an address (user@domain)", addr);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "adding the contact");
	*result = json_pack("{s:s}", "added", addr);
	return VL_OK;
}

CLI_RUN(cmd_contact_list)
{
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	struct vl_contact *list = NULL;
	size_t n = 0;
	int r = vl_client_contacts(ctx->client, &list, &n);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "listing contacts");
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(
		    arr, json_pack("{s:s,s:s?,s:I,s:b,s:b}", "address", list[i].address, "name",
		                   list[i].display_name, "devices", (json_int_t)list[i].n_devices,
		                   "verified", list[i].verified, "changed", list[i].changed));
	vl_client_contacts_free(list, n);
	if (arr == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	*result = arr;
	return VL_OK;
}

CLI_HUMAN(human_contact_list)
{
	static const char *const head[] = {"ADDRESS", "NAME", "DEVICES", "SAFETY NUMBER"};
	struct cli_table t;
	cli_table_init(&t, 4, head);
	size_t i;
	json_t *c;
	json_array_foreach(result, i, c)
	{
		char nd[24];
		snprintf(nd, sizeof nd, "%lld",
		         (long long)json_integer_value(json_object_get(c, "devices")));
		const char *state = json_is_true(json_object_get(c, "changed"))
		                        ? "CHANGED: compare again"
		                    : json_is_true(json_object_get(c, "verified")) ? "verified"
		                                                                   : "not verified";
		const char *row[] = {json_string_value(json_object_get(c, "address")),
		                     json_string_value(json_object_get(c, "name")), nd, state};
		if (cli_table_add(&t, row) != VL_OK)
			break;
	}
	cli_table_print(out, &t);
	cli_table_cleanup(&t);
}

CLI_RUN(cmd_contact_verify)
{
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	const char *addr = cli_param_str(params, "address");
	int r = vl_client_contact_verify(ctx->client, addr);
	if (r == VL_ERR_NOT_FOUND)
		return cli_err_set(err, VL_ERR_NOT_FOUND, "no contact \"%s\"", addr);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "verifying");
	*result = json_pack("{s:s}", "verified", addr);
	return VL_OK;
}

CLI_RUN(cmd_safety)
{
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	const char *addr = cli_param_str(params, "address");
	char number[VL_CLIENT_SAFETY_NUMBER_LEN + 1];
	char *qr = NULL;
	int r = vl_client_safety_number(ctx->client, addr, number, &qr);
	if (r == VL_ERR_NOT_FOUND)
		return cli_err_set(err, VL_ERR_NOT_FOUND,
		                   "%s (is \"%s\" a contact? `valise contact add`)",
		                   vl_client_errmsg(ctx->client), addr);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "computing the safety number");
	/* Whether the contact is verified, and whether their devices changed,
	 * belongs beside the number: it is what the user acts on. */
	struct vl_contact *list = NULL;
	size_t n = 0;
	bool verified = false, changed = false;
	if (vl_client_contacts(ctx->client, &list, &n) == VL_OK) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(list[i].address, addr) == 0) {
				verified = list[i].verified;
				changed = list[i].changed;
			}
		vl_client_contacts_free(list, n);
	}
	const char *style = cli_param_bool(params, "ascii")    ? "ascii"
	                    : cli_param_bool(params, "invert") ? "inverted"
	                                                       : "utf8";
	*result = json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:s}", "address", addr, "safety_number",
	                    number, "qr_text", qr ? qr : "", "verified", verified, "changed",
	                    changed, "qr", cli_param_bool(params, "qr"), "qr_style", style);
	free(qr);
	return *result ? VL_OK : cli_err_set(err, VL_ERR_NOMEM, "out of memory");
}

CLI_HUMAN(human_safety)
{
	const char *addr = json_string_value(json_object_get(result, "address"));
	fprintf(out, "Safety number with %s:\n\n", addr);
	/* The library gives 12 groups of 5 digits separated by spaces. */
	char digits[VL_CLIENT_SAFETY_NUMBER_LEN + 1];
	size_t k = 0;
	for (const char *s = json_string_value(json_object_get(result, "safety_number")); *s; s++)
		if (*s >= '0' && *s <= '9' && k < sizeof digits - 1)
			digits[k++] = *s;
	digits[k] = '\0';
	char grouped[128];
	if (cli_safety_format(grouped, sizeof grouped, digits)) {
		for (char *line = strtok(grouped, "\n"); line; line = strtok(NULL, "\n"))
			fprintf(out, "    %s\n", line);
	}
	fputc('\n', out);
	if (json_is_true(json_object_get(result, "changed")))
		fprintf(out,
		        "WARNING: %s's devices changed since you last checked. Compare again.\n",
		        addr);
	else if (json_is_true(json_object_get(result, "verified")))
		fprintf(out, "Verified.\n");
	else
		fprintf(out, "Not verified: compare with %s, then `valise contact verify %s`.\n",
		        addr, addr);
	if (json_is_true(json_object_get(result, "qr"))) {
		const char *style = json_string_value(json_object_get(result, "qr_style"));
		enum cli_qr_style s = strcmp(style, "ascii") == 0      ? CLI_QR_ASCII
		                      : strcmp(style, "inverted") == 0 ? CLI_QR_UTF8_INVERTED
		                                                       : CLI_QR_UTF8;
		fputc('\n', out);
		if (cli_qr_print(out, json_string_value(json_object_get(result, "qr_text")), s) !=
		    VL_OK)
			fputs("(the QR code could not be drawn)\n", out);
	}
}
