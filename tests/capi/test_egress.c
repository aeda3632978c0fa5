/*
 * The egress proxy's limits (brig_proxy_limits) and the result's counts, and
 * the package API's argument checks, through the C API.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/check.h"
#include "brig.h"
#include "capi.h"

static brig_executor *ex;

/* A loopback server: answers each request with body_len bytes, or holds it. */
struct server {
	int fd;
	int port;
	size_t body_len;
	bool hold; /* keep the connection open until the peer closes it */
	int served;
	bool saw_eof;
	pthread_t tid;
};

static void answer(struct server *s, int c)
{
	char req[4096], head[128];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(req) - 1 && (n = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (s->hold) {
		/* A tunnel that says nothing: wait for the proxy to close it. */
		s->saw_eof = read(c, req, sizeof(req)) == 0;
		return;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", s->body_len);
	(void)!write(c, head, strlen(head));
	for (size_t left = s->body_len; left;) {
		static const char chunk[4096];
		ssize_t w = write(c, chunk, left < sizeof(chunk) ? left : sizeof(chunk));

		if (w <= 0)
			break;
		left -= (size_t)w;
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		s->served++;
		answer(s, c);
		close(c);
	}
	return NULL;
}

static void server_start(struct server *s, size_t body_len, bool hold)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->body_len = body_len;
	s->hold = hold;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(bind(s->fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s->fd, 16) == 0);
	getsockname(s->fd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->tid, NULL, serve, s);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->tid, NULL);
	close(s->fd);
}

static brig_result *proxied(const struct server *s, const brig_proxy_limits *lim, const char *fmt)
{
	char host[64], code[2048];
	brig_caps *caps = NULL;
	brig_run_opts o;
	brig_result *r = NULL;

	snprintf(host, sizeof(host), "127.0.0.1:%d", s->port);
	snprintf(code, sizeof(code), fmt, s->port, s->port, s->port);
	brig_caps_new(&caps);
	CHECK(brig_caps_allow_host(caps, host) == BRIG_OK);
	if (lim)
		brig_caps_set_proxy_limits(caps, lim);
	brig_run_opts_init(&o);
	o.caps = caps;
	brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), &o, &r);
	brig_caps_free(caps);
	return r;
}

static const char fetch3[] =
    "import urllib.request, urllib.error\n"
    "for _ in range(3):\n"
    "    try:\n"
    "        print(len(urllib.request.urlopen('http://127.0.0.1:%d/').read()))\n"
    "    except urllib.error.HTTPError as e:\n"
    "        print(e.code)\n";

static void connection_limit(void)
{
	brig_proxy_limits lim = {.max_connections = 2};
	struct server s;
	brig_result *r;

	server_start(&s, 10, false);
	r = proxied(&s, &lim, fetch3);
	CHECK_STR(brig_result_stdout(r, NULL), "10\n10\n429\n");
	CHECK(brig_result_proxy_connections(r) == 3 && brig_result_proxy_refused(r) == 1);
	CHECK(s.served == 2);
	brig_result_free(r);
	server_stop(&s);
}

static void byte_limit(void)
{
	brig_proxy_limits lim = {.max_bytes_down = 64 << 10};
	struct server s;
	brig_result *r;

	server_start(&s, 1 << 20, false);
	r = proxied(&s, &lim,
		    "import http.client\n"
		    "c = http.client.HTTPConnection('127.0.0.1', 3128)\n"
		    "c.request('GET', 'http://127.0.0.1:%d/')\n"
		    "r = c.getresponse()\n"
		    "try:\n"
		    "    print(len(r.read()))\n"
		    "except http.client.IncompleteRead as e:\n"
		    "    print('cut', len(e.partial) < 64 << 10)\n");
	CHECK_STR(brig_result_stdout(r, NULL), "cut True\n");
	brig_result_free(r);
	server_stop(&s);
}

static void idle_limit(void)
{
	brig_proxy_limits lim = {.idle_timeout_ms = 300};
	struct server s;
	brig_result *r;

	server_start(&s, 0, true);
	r = proxied(&s, &lim,
		    "import socket\n"
		    "s = socket.create_connection(('127.0.0.1', 3128))\n"
		    "s.sendall(b'CONNECT 127.0.0.1:%d HTTP/1.1\\r\\n\\r\\n')\n"
		    "print(s.recv(100).split(b'\\r\\n')[0].decode())\n"
		    "s.settimeout(20)\n"
		    "print(s.recv(100))\n");
	CHECK_STR(brig_result_stdout(r, NULL), "HTTP/1.1 200 Connection established\nb''\n");
	CHECK(brig_result_proxy_refused(r) == 0);
	brig_result_free(r);
	server_stop(&s);
	CHECK(s.saw_eof);
}

static void no_proxy_no_counts(void)
{
	brig_result *r = NULL;
	char *json;

	brig_run(ex, BRIG_LANG_PYTHON, "print(1)", 8, NULL, &r);
	CHECK(brig_result_proxy_connections(r) == 0 && brig_result_proxy_refused(r) == 0);
	json = brig_result_to_json(r);
	CHECK(json && strstr(json, "\"proxy_refused\":0"));
	free(json);
	brig_result_free(r);
	CHECK(brig_result_proxy_refused(NULL) == 0);
}

static void package_arguments(void)
{
	const char *no_grant = "try:\n    install_pkg('x')\nexcept PermissionError as e:\n"
			       "    print(e)\n";
	const char *other = "try:\n    install_pkg('other')\nexcept PermissionError as e:\n"
			    "    print(e)\n";
	brig_caps *caps = NULL;
	char *msg = NULL, *list, dir[] = "/tmp/brig-capi-pkgs.XXXXXX";
	char cache[] = "/tmp/brig-capi-cache.XXXXXX";
	const char *bad[] = {"ok", "x y"};
	brig_result *r = NULL;
	brig_run_opts o;

	brig_caps_new(&caps);
	CHECK(brig_caps_allow_package(caps, "Tiny_Pkg") == BRIG_OK);
	CHECK(brig_caps_allow_package(caps, "no spaces") == BRIG_E_INVAL);
	CHECK(brig_caps_allow_package(caps, "-lead") == BRIG_E_INVAL);
	CHECK(brig_caps_allow_package(NULL, "x") == BRIG_E_INVAL);
	CHECK(brig_caps_set_package_index(caps, "ftp://h/simple") == BRIG_E_INVAL);
	CHECK(brig_caps_set_package_index(caps, "http://u@h/simple") == BRIG_E_INVAL);
	CHECK(brig_caps_set_package_index(caps, "http://h/'$(id)'") == BRIG_E_INVAL);
	CHECK(brig_caps_set_package_index(caps, "http://127.0.0.1:9/simple") == BRIG_OK);
	CHECK(brig_caps_set_package_cache(caps, "relative") == BRIG_E_INVAL);
	CHECK(brig_caps_add_packages(caps, "relative") == BRIG_E_INVAL);
	CHECK(brig_packages_install(ex, caps, "/tmp/x", bad, 2, &msg) == BRIG_E_INVAL);
	CHECK(msg && strstr(msg, "x y"));
	free(msg);
	CHECK(brig_packages_install(ex, caps, "/tmp/x", NULL, 0, NULL) == BRIG_E_INVAL);
	/* A run without the grant: install_pkg says how to get it. */
	brig_run(ex, BRIG_LANG_PYTHON, no_grant, strlen(no_grant), NULL, &r);
	CHECK(strstr(brig_result_stdout(r, NULL), "--allow-package x") != NULL);
	brig_result_free(r);
	/* With it, for another project: refused by name. */
	CHECK(mkdtemp(cache) != NULL);
	CHECK(brig_caps_set_package_cache(caps, cache) == BRIG_OK);
	brig_run_opts_init(&o);
	o.caps = caps;
	brig_run(ex, BRIG_LANG_PYTHON, other, strlen(other), &o, &r);
	CHECK_STR(brig_result_stdout(r, NULL), "package not allowed: other\n");
	brig_result_free(r);
	brig_caps_free(caps);
	/* brig_packages_list reads dist-info directories, sorted. */
	CHECK(brig_packages_list("/nonexistent/brig") == NULL);
	CHECK(mkdtemp(dir) != NULL);
	for (int i = 0; i < 3; i++) {
		const char *names[] = {"zeta_pkg-1.0.dist-info", "Alpha-2.1.dist-info", "alpha"};
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		CHECK(mkdir(path, 0755) == 0);
	}
	list = brig_packages_list(dir);
	CHECK_STR(list, "alpha 2.1\nzeta-pkg 1.0\n");
	free(list);
	rwc_dir_remove(dir);
	rwc_dir_remove(cache);
}

int main(void)
{
	if (!(ex = test_executor()))
		return 1;
	connection_limit();
	byte_limit();
	idle_limit();
	no_proxy_no_counts();
	package_arguments();
	brig_executor_free(ex);
	return CHECK_DONE();
}
