/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `valise` command: global options, then a subcommand from the table
 * in commands.c with its arguments; the result printed for people or, with
 * --json, as one JSON value. Exit codes are those of enum cli_exit
 * (docs/cli.md).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

#ifndef VL_VERSION
#define VL_VERSION "unknown"
#endif

static const char *const prog = "valise";

/* "valise group" alone, or with an unknown word: list what it offers. */
static void main_group_hint(const char *group)
{
	fprintf(stderr, "%s %s: one of:", prog, group);
	size_t gl = strlen(group);
	for (size_t i = 0; i < cli_n_commands; i++) {
		const char *name = cli_commands[i].name;
		if (strncmp(name, group, gl) == 0 && name[gl] == ' ')
			fprintf(stderr, " %s", name + gl + 1);
	}
	fprintf(stderr, "\nTry `%s %s SUBCOMMAND --help`.\n", prog, group);
}

static int main_fail(const struct cli_global *g, const char *cmd, const struct cli_err *err)
{
	if (g->json) {
		json_t *j = cli_err_json(err);
		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		fprintf(stderr, "%s%s%s: ", prog, cmd ? " " : "", cmd ? cmd : "");
		cli_print_safe(stderr, err->msg, false);
		fputc('\n', stderr);
		if (err->status == VL_ERR_ARG && cmd != NULL)
			fprintf(stderr, "Try `%s %s --help`.\n", prog, cmd);
	}
	return cli_exit_from_status(err->status);
}

int main(int argc, char **argv)
{
	struct cli_global g = {0};
	struct cli_err err = {0};
	int stop = 0;
	argc--;
	argv++;
	if (cli_args_parse(NULL, argc, argv, &g, NULL, &stop, &err) != VL_OK)
		return main_fail(&g, NULL, &err);
	if (g.version) {
		printf("%s %s\n", prog, VL_VERSION);
		return CLI_EXIT_OK;
	}
	argc -= stop;
	argv += stop;
	if (argc > 0 && strcmp(argv[0], "help") == 0) {
		argc--;
		argv++;
		g.help = true;
	}
	if (argc == 0) {
		cli_help_all(g.help ? stdout : stderr, prog, cli_commands, cli_n_commands);
		return g.help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	int used = 0;
	const struct cli_cmd *cmd = cli_cmd_find(cli_commands, cli_n_commands, argc, argv, &used);
	if (cmd == NULL) {
		if (used == 1) {
			if (argc > 1)
				fprintf(stderr, "%s %s: unknown subcommand \"%s\"\n", prog, argv[0],
				        argv[1]);
			main_group_hint(argv[0]);
			return CLI_EXIT_USAGE;
		}
		cli_err_set(&err, VL_ERR_ARG, "unknown command \"%s\"; see `%s --help`", argv[0],
		            prog);
		return main_fail(&g, NULL, &err);
	}
	json_t *params = NULL;
	if (cli_args_parse(cmd, argc - used, argv + used, &g, &params, NULL, &err) != VL_OK)
		return main_fail(&g, cmd->name, &err);
	if (g.help) {
		cli_help_cmd(stdout, prog, cmd);
		json_decref(params);
		return CLI_EXIT_OK;
	}

	struct cli_ctx ctx;
	json_t *result = NULL;
	enum vl_status st = cli_session_init(&ctx, &g, prog, &err);
	if (st == VL_OK)
		st = cmd->run(&ctx, params, &result, &err);
	cli_session_close(&ctx);
	json_decref(params);
	if (st != VL_OK) {
		json_decref(result);
		return main_fail(&g, cmd->name, &err);
	}
	if (result != NULL) {
		if (g.json || cmd->human == NULL)
			cli_print_json(stdout, result);
		else
			cmd->human(stdout, result);
	}
	json_decref(result);
	if (fflush(stdout) != 0)
		return CLI_EXIT_FAILED;
	return CLI_EXIT_OK;
}
