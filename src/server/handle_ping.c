/* SPDX-License-Identifier: Apache-2.0 */
/* PING (docs/protocol.md §4.4): answered at once, before authentication
 * too (keep-alive, round-trip measurement). */
#include "server/core.h"

void vl_handle_ping(struct vl_conn *c, const struct vl_frame *f)
{
	if (vl_proto_empty_decode(&f->body) != VL_OK) {
		vl_conn_bad_body(c, f->request_id, VL_ERR_DECODE);
		return;
	}
	vl_conn_reply_empty(c, VL_FRAME_PING, f->request_id);
}
