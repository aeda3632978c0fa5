/*
 * The jail's own network namespace, for the egress proxy: its loopback
 * interface brought up, and a listener on 127.0.0.1 there whose accepted
 * connections the host serves (src/host/proxy.c).  The namespace has no
 * other interface, so the listener is the jail's only way out.  Called by
 * init, a clone of a possibly multi-threaded process: raw calls only.
 */
#include "jail/jail.h"

#include <errno.h>
#include <stdbool.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel creates lo down in a new network namespace. */
static int loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

bool jail_env_guest_only(const char *entry)
{
	static const char *const names[] = {
	    "HTTP_PROXY=",     "HTTPS_PROXY=",	    "NO_PROXY=",
	    "http_proxy=",     "https_proxy=",	    "no_proxy=",
	    "PIP_PROXY=",      "npm_config_proxy=", "npm_config_https_proxy=",
	    "BRIG_PYTHONPATH="};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(entry, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

int jail_net_listen(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd, rc;

	if ((rc = loopback_up()) < 0)
		return rc;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, JAIL_PROXY_BACKLOG) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}
