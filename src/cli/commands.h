/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The subcommands of `valise`: the table (commands.c) and the functions
 * behind it, one file per group (cmd_account.c, cmd_contact.c, cmd_chat.c,
 * cmd_group.c, cmd_daemon.c). Each run function serves both the command
 * line and the daemon (see cli.h).
 */
#ifndef VL_CLI_COMMANDS_H
#define VL_CLI_COMMANDS_H

#include "cli/session.h"

extern const struct cli_cmd cli_commands[];
extern const size_t cli_n_commands;

#define CLI_RUN(name)                                                                              \
	enum vl_status name(struct cli_ctx *ctx, json_t *params, json_t **result,                  \
	                    struct cli_err *err)
#define CLI_HUMAN(name) void name(FILE *out, const json_t *result)

/* cmd_account.c */
CLI_RUN(cmd_register);
CLI_RUN(cmd_whoami);
CLI_RUN(cmd_device_list);
CLI_RUN(cmd_device_invite);
CLI_RUN(cmd_device_revoke);
CLI_RUN(cmd_sync);
CLI_HUMAN(human_register);
CLI_HUMAN(human_whoami);
CLI_HUMAN(human_device_list);
CLI_HUMAN(human_device_invite);
CLI_HUMAN(human_done);

/* cmd_contact.c */
CLI_RUN(cmd_contact_add);
CLI_RUN(cmd_contact_list);
CLI_RUN(cmd_contact_verify);
CLI_RUN(cmd_safety);
CLI_HUMAN(human_contact_list);
CLI_HUMAN(human_safety);

/* cmd_chat.c */
CLI_RUN(cmd_chats);
CLI_RUN(cmd_send);
CLI_RUN(cmd_edit);
CLI_RUN(cmd_delete);
CLI_RUN(cmd_read);
CLI_RUN(cmd_download);
CLI_RUN(cmd_export);
CLI_RUN(cmd_watch);
CLI_RUN(cmd_typing);
CLI_HUMAN(human_chats);
CLI_HUMAN(human_sent);
CLI_HUMAN(human_read);
CLI_HUMAN(human_export);
CLI_HUMAN(human_download);

/* cmd_group.c */
CLI_RUN(cmd_group_create);
CLI_RUN(cmd_group_add);
CLI_RUN(cmd_group_remove);
CLI_RUN(cmd_group_leave);
CLI_RUN(cmd_group_info);
CLI_RUN(cmd_group_rename);
CLI_RUN(cmd_group_admin);
CLI_HUMAN(human_group_info);
CLI_HUMAN(human_group_created);

/* cmd_daemon.c */
CLI_RUN(cmd_daemon);

#endif
