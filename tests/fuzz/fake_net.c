/*
 * A network that is never reached, for the targets that run http.request.
 * Linked into the fuzz binaries, these definitions take the place of libc's:
 *
 *   getaddrinfo  answers from a fixed table, so resolution is deterministic
 *                and needs no DNS:
 *                  public.test   93.184.216.34, 2606:2800:220:1::1
 *                  private.test  10.1.2.3
 *                  mixed.test    93.184.216.34, 127.0.0.1
 *                  v6.test       2001:db8::1
 *                  mapped.test   ::ffff:169.254.169.254
 *                (and their subdomains); any other name does not resolve.
 *   socket       always fails, so a request that passes every check ends in
 *                a connection error instead of a transfer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fake_net.h"

int fake_net_sockets;

struct fake_name {
	const char *name;
	const char *addrs[2];
};

static const struct fake_name names[] = {
    {"public.test", {"93.184.216.34", "2606:2800:220:1::1"}}, {"private.test", {"10.1.2.3", NULL}},
    {"mixed.test", {"93.184.216.34", "127.0.0.1"}},	      {"v6.test", {"2001:db8::1", NULL}},
    {"mapped.test", {"::ffff:169.254.169.254", NULL}},
};

static const struct fake_name *lookup(const char *node)
{
	size_t n = strlen(node);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t d = strlen(names[i].name);

		if (n >= d && strcmp(node + n - d, names[i].name) == 0 &&
		    (n == d || node[n - d - 1] == '.'))
			return &names[i];
	}
	return NULL;
}

static struct addrinfo *make_ai(const char *text)
{
	struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_in6));
	struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)(ai + 1);
	struct sockaddr_in *sa4 = (struct sockaddr_in *)(ai + 1);

	if (!ai)
		return NULL;
	ai->ai_socktype = SOCK_STREAM;
	ai->ai_protocol = IPPROTO_TCP;
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	if (inet_pton(AF_INET, text, &sa4->sin_addr) == 1) {
		ai->ai_family = sa4->sin_family = AF_INET;
		ai->ai_addrlen = sizeof(*sa4);
	} else {
		inet_pton(AF_INET6, text, &sa6->sin6_addr);
		ai->ai_family = sa6->sin6_family = AF_INET6;
		ai->ai_addrlen = sizeof(*sa6);
	}
	return ai;
}

void freeaddrinfo(struct addrinfo *res)
{
	while (res) {
		struct addrinfo *next = res->ai_next;

		free(res);
		res = next;
	}
}

int getaddrinfo(const char *restrict node, const char *restrict service,
		const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
	const struct fake_name *f = node ? lookup(node) : NULL;
	struct addrinfo *head = NULL, **tail = &head;

	(void)service, (void)hints;
	*res = NULL;
	if (!f)
		return EAI_NONAME;
	for (int i = 0; i < 2 && f->addrs[i]; i++) {
		if (!(*tail = make_ai(f->addrs[i]))) {
			freeaddrinfo(head);
			return EAI_MEMORY;
		}
		tail = &(*tail)->ai_next;
	}
	*res = head;
	return 0;
}

int socket(int domain, int type, int protocol)
{
	(void)domain, (void)type, (void)protocol;
	__atomic_add_fetch(&fake_net_sockets, 1, __ATOMIC_RELAXED);
	errno = EACCES;
	return -1;
}
