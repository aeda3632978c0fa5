#include "brig.h"

struct err_desc {
	int code;
	const char *name;
	const char *text;
};

static const struct err_desc errors[] = {
    {BRIG_OK, "OK", "success"},
    {BRIG_E_INVAL, "ERR_INVALID_ARG", "invalid argument"},
    {BRIG_E_CANCELLED, "ERR_CANCELLED", "execution was cancelled (timeout or kill)"},
    {BRIG_E_LIMIT, "ERR_LIMIT", "a resource limit was exceeded"},
    {BRIG_E_GUEST_ABORT, "ERR_GUEST_ABORT", "the guest aborted (crash or signal)"},
    {BRIG_E_UNAVAILABLE, "ERR_UNAVAILABLE", "the sandbox is unavailable on this host"},
    {BRIG_E_INTERNAL, "ERR_INTERNAL", "internal error"},
    {BRIG_E_PROTOCOL, "ERR_PROTOCOL", "the guest violated the control protocol"},
    {BRIG_E_NOMEM, "ERR_NOMEM", "out of memory"},
    {BRIG_E_UNSUPPORTED, "ERR_UNSUPPORTED", "not supported"},
    {BRIG_E_DENIED, "ERR_DENIED", "capability not granted"},
    {BRIG_E_NOTFOUND, "ERR_NOT_FOUND", "not found"},
    {BRIG_E_POISONED, "ERR_POISONED", "the sandbox is poisoned; restore or close it"},
    {BRIG_E_CONSUMED, "ERR_CONSUMED", "object already consumed"},
    {BRIG_E_STACK_OVERFLOW, "ERR_STACK_OVERFLOW", "guest stack overflow"},
    {BRIG_E_IO, "ERR_IO", "a host file operation failed"},
};

static const struct err_desc *find(int code)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		if (errors[i].code == code)
			return &errors[i];
	}
	return NULL;
}

const char *brig_strerror(int code)
{
	const struct err_desc *d = find(code);

	return d ? d->text : "unknown error";
}

const char *brig_err_name(int code)
{
	const struct err_desc *d = find(code);

	return d ? d->name : "ERR_UNKNOWN";
}
