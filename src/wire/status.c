/* SPDX-License-Identifier: Apache-2.0 */
/* Text for the status codes of include/valise/status.h. */
#include "valise/status.h"

const char *vl_strerror(int status)
{
	switch (status) {
	case VL_OK:
		return "ok";
	case VL_ERR_NOMEM:
		return "out of memory";
	case VL_ERR_DECODE:
		return "malformed input";
	case VL_ERR_LIMIT:
		return "size or count limit exceeded";
	case VL_ERR_INVALID:
		return "invalid by protocol rules";
	case VL_ERR_CRYPTO:
		return "cryptographic operation failed";
	case VL_ERR_UNSUPPORTED:
		return "not supported";
	case VL_ERR_IO:
		return "input/output error";
	case VL_ERR_NOT_FOUND:
		return "not found";
	case VL_ERR_STATE:
		return "not allowed in the current state";
	case VL_ERR_STALE_EPOCH:
		return "stale epoch";
	case VL_ERR_PERMISSION:
		return "permission denied";
	case VL_ERR_PROTOCOL:
		return "protocol error";
	case VL_ERR_NET:
		return "network error";
	case VL_ERR_STORE:
		return "storage error";
	case VL_ERR_EXISTS:
		return "already exists";
	case VL_ERR_AGAIN:
		return "try again later";
	case VL_ERR_AUTH:
		return "authentication failed";
	case VL_ERR_TIMEOUT:
		return "timed out";
	case VL_ERR_ARG:
		return "argument out of range";
	case VL_ERR_EPOCH_AHEAD:
		return "the server's group is at an earlier epoch";
	}
	return "unknown error";
}
