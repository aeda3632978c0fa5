/*
 * Cancel tokens for one-shot runs.  A token is an eventfd that is written
 * once and never read: once triggered it stays readable, so every monitor
 * polling it sees the trigger, however many runs share the token and
 * whenever they start.
 */
#include "lib/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct brig_cancel {
	atomic_bool triggered;
	int fd;
};

int brig_cancel_new(brig_cancel **out)
{
	brig_cancel *c;

	if (!out)
		return BRIG_E_INVAL;
	*out = NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return BRIG_E_NOMEM;
	atomic_init(&c->triggered, false);
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		int rc = errno == ENOMEM ? BRIG_E_NOMEM : BRIG_E_INTERNAL;

		free(c);
		return rc;
	}
	*out = c;
	return BRIG_OK;
}

void brig_cancel_trigger(brig_cancel *c)
{
	uint64_t one = 1;

	/* Only an eventfd write: safe from any thread, even mid-run. */
	if (c && !atomic_exchange(&c->triggered, true))
		(void)!write(c->fd, &one, sizeof(one));
}

bool brig_cancel_triggered(const brig_cancel *c)
{
	return c && atomic_load(&((brig_cancel *)c)->triggered);
}

void brig_cancel_free(brig_cancel *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int cancel_wrap_fd(int fd, brig_cancel **out)
{
	brig_cancel *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return BRIG_E_NOMEM;
	atomic_init(&c->triggered, false);
	if ((c->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		free(c);
		return BRIG_E_INTERNAL;
	}
	*out = c;
	return BRIG_OK;
}

int cancel_fd(const brig_cancel *c)
{
	return c ? c->fd : -1;
}
