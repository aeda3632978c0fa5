/* Host, IP, URL and allowlist parsing for the HTTP capability. */
#include "check.h"
#include "host/netaddr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* expect NULL: the input must be refused. */
struct ip_case {
	const char *in;
	const char *expect;
};

static void test_ipv4_notations(void)
{
	static const struct ip_case cases[] = {
	    {"127.0.0.1", "127.0.0.1"},
	    {"2130706433", "127.0.0.1"},
	    {"0x7f000001", "127.0.0.1"},
	    {"0X7F000001", "127.0.0.1"},
	    {"017700000001", "127.0.0.1"},
	    {"0177.0.0.1", "127.0.0.1"},
	    {"0177.0.0.01", "127.0.0.1"},
	    {"127.1", "127.0.0.1"},
	    {"127.0.1", "127.0.0.1"},
	    {"0x7f.1", "127.0.0.1"},
	    {"0x7f.0x0.0x0.0x1", "127.0.0.1"},
	    {"127.0.0x1", "127.0.0.1"},
	    {"0", "0.0.0.0"},
	    {"0x", "0.0.0.0"},
	    {"1.2.3.4", "1.2.3.4"},
	    {"4294967295", "255.255.255.255"},
	    {"0xffffffff", "255.255.255.255"},
	    {"1.2.65535", "1.2.255.255"},
	    {"1.16777215", "1.255.255.255"},
	    {"169.254.43518", "169.254.169.254"},
	    {"0251.0376.0251.0376", "169.254.169.254"},
	    {"4294967296", NULL},
	    {"0x100000000", NULL},
	    {"256.0.0.1", NULL},
	    {"1.2.3.256", NULL},
	    {"1.2.65536", NULL},
	    {"1.16777216", NULL},
	    {"1.2.3.4.5", NULL},
	    {"1..2.3", NULL},
	    {"", NULL},
	    {".1.2.3", NULL},
	    {"1.2.3.", NULL},
	    {"08.0.0.1", NULL},
	    {"0x7g.1", NULL},
	    {"-1", NULL},
	    {"+1", NULL},
	    {" 1", NULL},
	    {"1.2.3.4 ", NULL},
	    {"127.0.0.1a", NULL},
	    {"99999999999999999999", NULL},
	};

	for (size_t i = 0; i < N(cases); i++) {
		uint8_t a[4];
		char buf[64];
		int rc = net_parse_ipv4(cases[i].in, a);

		if (!cases[i].expect) {
			CHECK(rc == -1);
			if (rc != -1)
				fprintf(stderr, "  accepted %s\n", cases[i].in);
			continue;
		}
		CHECK(rc == 0);
		inet_ntop(AF_INET, a, buf, sizeof(buf));
		CHECK_STR(rc == 0 ? buf : "", cases[i].expect);
	}
}

static void test_ip_any(void)
{
	static const struct ip_case cases[] = {
	    {"::1", "[::1]"},
	    {"[::1]", "[::1]"},
	    {"0:0:0:0:0:0:0:1", "[::1]"},
	    {"::ffff:127.0.0.1", "[::ffff:127.0.0.1]"},
	    {"[0:0:0:0:0:ffff:7f00:1]", "[::ffff:127.0.0.1]"},
	    {"::FFFF:7F00:1", "[::ffff:127.0.0.1]"},
	    {"FD00:EC2::254", "[fd00:ec2::254]"},
	    {"10.0.0.1", "10.0.0.1"},
	    {"012.1", "10.0.0.1"},
	    {"[::1", NULL},
	    {"::1]", NULL},
	    {":::1", NULL},
	    {"fe80::1%eth0", NULL},
	    {"1:2:3:4:5:6:7:8:9", NULL},
	    {"[]", NULL},
	    {"[127.0.0.1]", NULL},
	    {"::ffff:0x7f.1", NULL},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct net_ip ip;
		char buf[64] = "";
		int rc = net_parse_ip(cases[i].in, &ip);

		if (!cases[i].expect) {
			CHECK(rc == -1);
			continue;
		}
		CHECK(rc == 0);
		if (rc == 0)
			net_ip_format(&ip, true, buf, sizeof(buf));
		CHECK_STR(buf, cases[i].expect);
	}
}

static void test_ip_format_and_equal(void)
{
	struct net_ip a, b, c;
	char buf[64];

	CHECK(net_parse_ip("::1", &a) == 0);
	net_ip_format(&a, false, buf, sizeof(buf));
	CHECK_STR(buf, "::1");
	CHECK(net_parse_ip("[0::1]", &b) == 0);
	CHECK(net_ip_equal(&a, &b));
	CHECK(net_parse_ip("0.0.0.1", &c) == 0);
	CHECK(!net_ip_equal(&a, &c)); /* same low bytes, other family */
	CHECK(net_parse_ip("127.0.0.1", &a) == 0);
	CHECK(net_parse_ip("::ffff:127.0.0.1", &b) == 0);
	CHECK(!net_ip_equal(&a, &b));
}

static void test_embedded(void)
{
	static const struct ip_case cases[] = {
	    {"::ffff:127.0.0.1", "127.0.0.1"},	       /* mapped */
	    {"::127.0.0.1", "127.0.0.1"},	       /* compatible */
	    {"::ffff:0:a9fe:a9fe", "169.254.169.254"}, /* SIIT */
	    {"64:ff9b::a00:1", "10.0.0.1"},	       /* NAT64 */
	    {"2002:c0a8:101::1", "192.168.1.1"},       /* 6to4 */
	    {"2606:4700::1111", NULL},
	    {"fe80::1", NULL},
	    {"64:ff9b:1::a00:1", NULL},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct net_ip ip;
		uint8_t v4[4];
		char buf[32] = "";
		bool got;

		CHECK(net_parse_ip(cases[i].in, &ip) == 0);
		got = net_ip_embedded_v4(&ip, v4);
		CHECK(got == (cases[i].expect != NULL));
		if (got && cases[i].expect) {
			inet_ntop(AF_INET, v4, buf, sizeof(buf));
			CHECK_STR(buf, cases[i].expect);
		}
	}
	{
		struct net_ip v4only;

		CHECK(net_parse_ip("127.0.0.1", &v4only) == 0);
		CHECK(!net_ip_embedded_v4(&v4only, (uint8_t[4]){0}));
	}
}

static void test_classification(void)
{
	static const struct ip_case cases[] = {
	    {"127.0.0.1", "loopback"},
	    {"127.255.255.254", "loopback"},
	    {"10.1.2.3", "private"},
	    {"172.16.0.1", "private"},
	    {"172.31.255.255", "private"},
	    {"172.32.0.1", NULL},
	    {"172.15.255.255", NULL},
	    {"192.168.1.1", "private"},
	    {"169.254.1.1", "link-local"},
	    {"169.254.169.254", "metadata"},
	    {"100.64.0.1", "cgnat"},
	    {"100.127.255.255", "cgnat"},
	    {"100.128.0.1", NULL},
	    {"100.63.255.255", NULL},
	    {"100.100.100.200", "metadata"},
	    {"0.0.0.0", "unspecified"},
	    {"0.1.2.3", "unspecified"},
	    {"255.255.255.255", "broadcast"},
	    {"224.0.0.1", "multicast"},
	    {"239.255.255.250", "multicast"},
	    {"240.0.0.1", "reserved"},
	    {"192.0.0.8", "reserved"},
	    {"192.0.0.192", "reserved"},
	    {"192.0.1.1", NULL},
	    {"198.18.0.1", "benchmarking"},
	    {"198.19.255.255", "benchmarking"},
	    {"198.20.0.1", NULL},
	    {"198.17.255.255", NULL},
	    {"192.0.2.1", "documentation"},
	    {"8.8.8.8", NULL},
	    {"1.1.1.1", NULL},
	    {"9.255.255.255", NULL},
	    {"11.0.0.0", NULL},
	    {"126.255.255.255", NULL},
	    {"128.0.0.0", NULL},
	    {"223.255.255.255", NULL},
	    {"::", "unspecified"},
	    {"::1", "loopback"},
	    {"::2", "unspecified"},
	    {"::ffff:127.0.0.1", "loopback"},
	    {"::ffff:10.0.0.1", "private"},
	    {"::ffff:169.254.169.254", "metadata"},
	    {"::ffff:8.8.8.8", NULL},
	    {"::127.0.0.1", "loopback"},
	    {"::ffff:0:169.254.169.254", "metadata"},
	    {"64:ff9b::7f00:1", "loopback"},
	    {"64:ff9b::808:808", NULL},
	    {"64:ff9b:1::808:808", "nat64-local"},
	    {"2002:7f00:1::", "loopback"},
	    {"2002:a9fe:a9fe::1", "metadata"},
	    {"2002:6464:64c8::", "metadata"},
	    {"2002:808:808::1", NULL},
	    {"2001::1", "teredo"},
	    {"2001:db8::1", "documentation"},
	    {"100::1", "discard"},
	    {"fc00::1", "unique-local"},
	    {"fd00:ec2::254", "metadata"},
	    {"fd00:ec2::253", "unique-local"},
	    {"fd12:3456::1", "unique-local"},
	    {"fe80::1", "link-local"},
	    {"febf::1", "link-local"},
	    {"fec0::1", "site-local"},
	    {"ff02::1", "multicast"},
	    {"4000::1", "reserved"},
	    {"1000::1", "reserved"},
	    {"2606:4700:4700::1111", NULL},
	    {"2001:4860:4860::8888", NULL},
	    {"3fff:ffff::1", NULL},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct net_ip ip;
		const char *why;

		CHECK(net_parse_ip(cases[i].in, &ip) == 0);
		why = net_ip_blocked(&ip);
		if (cases[i].expect)
			CHECK_STR(why, cases[i].expect);
		else
			CHECK(why == NULL);
		if ((why == NULL) != (cases[i].expect == NULL))
			fprintf(stderr, "  %s classified as %s\n", cases[i].in,
				why ? why : "public");
	}
}

struct host_case {
	const char *in;
	const char *expect; /* NULL: refused */
	bool is_ip;
};

static void test_host_normalisation(void)
{
	static const struct host_case cases[] = {
	    {"Example.COM", "example.com", false},
	    {"example.com.", "example.com", false},
	    {"a_b.example.com", "a_b.example.com", false},
	    {"1.2.3.4.com", "1.2.3.4.com", false},
	    {"xn--bcher-kva.de", "xn--bcher-kva.de", false},
	    {"b\xc3\xbc"
	     "cher.de",
	     "xn--bcher-kva.de", false},
	    {"B\xc3\x9c"
	     "CHER.de",
	     "xn--bcher-kva.de", false},
	    {"fa\xc3\x9f.de", "xn--fa-hia.de", false},
	    /* Full-width letters and the ideographic full stop map to ASCII. */
	    {"\xef\xbc\xa5\xef\xbc\xb6\xef\xbc\xa9\xef\xbc\xac.com", "evil.com", false},
	    {"allowed\xe3\x80\x82"
	     "com",
	     "allowed.com", false},
	    {"\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1", "127.0.0.1", true},
	    {"2130706433", "127.0.0.1", true},
	    {"0x7f.1", "127.0.0.1", true},
	    {"0x7F.1.", "127.0.0.1", true},
	    {"127.0.0.1.", "127.0.0.1", true},
	    {"0177.0.0.1", "127.0.0.1", true},
	    {"[::1]", "[::1]", true},
	    {"::1", "[::1]", true},
	    {"[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]", true},
	    {"[0:0:0:0:0:ffff:7f00:1]", "[::ffff:127.0.0.1]", true},
	    {"example.com..", NULL, false},
	    {"1.2.3.4.5", NULL, false},
	    {"999.1.1.1", NULL, false},
	    {"1.2.3.0x100", NULL, false},
	    {"example.123", NULL, false},
	    {"evil.com%2f", NULL, false},
	    {"a b", NULL, false},
	    {"a/b", NULL, false},
	    {"a@b", NULL, false},
	    {"a\\b", NULL, false},
	    {"", NULL, false},
	    {".", NULL, false},
	    {".com", NULL, false},
	    {"[::1", NULL, false},
	    {"[fe80::1%eth0]", NULL, false},
	    {"xn--zz\xff.com", NULL, false},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", NULL, false},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", false},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct net_host h;
		char err[128] = "";
		int rc = net_host_parse(cases[i].in, &h, err, sizeof(err));

		if (!cases[i].expect) {
			CHECK(rc == -1);
			CHECK(err[0] != '\0');
			if (rc != -1)
				fprintf(stderr, "  accepted host %s as %s\n", cases[i].in, h.name);
			continue;
		}
		CHECK(rc == 0);
		CHECK_STR(h.name, cases[i].expect);
		CHECK(h.is_ip == cases[i].is_ip);
		if (rc != 0 || strcmp(h.name, cases[i].expect))
			fprintf(stderr, "  host %s -> %s (%s)\n", cases[i].in, h.name, err);
	}
}

static void test_name_within(void)
{
	static const struct {
		const char *name, *domain;
		bool expect;
	} cases[] = {
	    {"api.example.com", "api.example.com", true},
	    {"x.api.example.com", "api.example.com", true},
	    {"a.b.api.example.com", "api.example.com", true},
	    {"evilapi.example.com", "api.example.com", false},
	    {"api.example.com.evil.com", "api.example.com", false},
	    {"example.com", "api.example.com", false},
	    {"pi.example.com", "api.example.com", false},
	    {"api.example.co", "api.example.com", false},
	    {"", "example.com", false},
	};

	for (size_t i = 0; i < N(cases); i++)
		CHECK(net_name_within(cases[i].name, cases[i].domain) == cases[i].expect);
}

static void test_allow_parse(void)
{
	static const struct {
		const char *in;
		const char *host; /* NULL: refused */
		unsigned port;
	} cases[] = {
	    {"example.com", "example.com", 0},
	    {"Example.com:8080", "example.com", 8080},
	    {"example.com.:443", "example.com", 443},
	    {"1.2.3.4", "1.2.3.4", 0},
	    {"1.2.3.4:8080", "1.2.3.4", 8080},
	    {"[::1]:8080", "[::1]", 8080},
	    {"[::1]", "[::1]", 0},
	    {"::1", "[::1]", 0},
	    {"2130706433:80", "127.0.0.1", 80},
	    {"b\xc3\xbc"
	     "cher.de:8443",
	     "xn--bcher-kva.de", 8443},
	    {"example.com:65535", "example.com", 65535},
	    {"", NULL, 0},
	    {"example.com:", NULL, 0},
	    {"example.com:0", NULL, 0},
	    {"example.com:65536", NULL, 0},
	    {"example.com:80a", NULL, 0},
	    {"example.com:-1", NULL, 0},
	    {"example.com:+80", NULL, 0},
	    {"[::1", NULL, 0},
	    {"[::1]x", NULL, 0},
	    {"[::1]:", NULL, 0},
	    {"*.example.com", NULL, 0},
	    {"http://example.com", NULL, 0},
	    {"example.com/path", NULL, 0},
	    {"user@example.com", NULL, 0},
	    {"exa mple.com", NULL, 0},
	    {"1.2.3.4.5", NULL, 0},
	    {":80", NULL, 0},
	    {"[fe80::1%eth0]:80", NULL, 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct net_allow a;
		char err[128] = "";
		int rc = net_allow_parse(cases[i].in, &a, err, sizeof(err));

		if (!cases[i].host) {
			CHECK(rc == -1);
			CHECK(err[0] != '\0');
			if (rc != -1)
				fprintf(stderr, "  accepted entry %s\n", cases[i].in);
			continue;
		}
		CHECK(rc == 0);
		CHECK_STR(a.host.name, cases[i].host);
		CHECK(a.port == cases[i].port);
	}
	{
		struct net_allow a;
		char err[128] = "";

		CHECK(net_allow_parse(NULL, &a, err, sizeof(err)) == -1);
		CHECK(net_allow_parse("*.example.com", &a, err, sizeof(err)) == -1);
		CHECK(strstr(err, "subdomains") != NULL);
	}
}

static void test_allow_match(void)
{
	static const char *const entries[] = {
	    "api.example.com", "static.example.org:8080", "127.0.0.1:8080", "[::1]:9000",
	    "10.0.0.1",
	};
	static const struct {
		const char *host;
		unsigned port;
		bool expect;
	} cases[] = {
	    {"api.example.com", 443, true},
	    {"api.example.com", 80, true},
	    {"API.Example.COM.", 443, true},
	    {"api.example.com", 8080, false},
	    {"api.example.com", 444, false},
	    {"x.api.example.com", 443, true},
	    {"evilapi.example.com", 443, false},
	    {"api.example.com.evil.com", 443, false},
	    {"example.com", 443, false},
	    {"static.example.org", 8080, true},
	    {"static.example.org", 80, false},
	    {"static.example.org", 443, false},
	    {"a.static.example.org", 8080, true},
	    {"127.0.0.1", 8080, true},
	    {"2130706433", 8080, true},
	    {"0x7f.1", 8080, true},
	    {"127.0.0.1", 80, false},
	    {"127.0.0.1", 8081, false},
	    {"127.0.0.2", 8080, false},
	    {"[::ffff:127.0.0.1]", 8080, false},
	    {"localhost", 8080, false},
	    {"[::1]", 9000, true},
	    {"[0:0::1]", 9000, true},
	    {"[::1]", 80, false},
	    {"::1", 8080, false},
	    {"10.0.0.1", 80, true},
	    {"10.0.0.1", 443, true},
	    {"10.0.0.1", 8080, false},
	    {"10.0.0.2", 80, false},
	};
	struct net_allow list[N(entries)];

	for (size_t i = 0; i < N(entries); i++)
		CHECK(net_allow_parse(entries[i], &list[i], NULL, 0) == 0);
	for (size_t i = 0; i < N(cases); i++) {
		struct net_host h;
		bool got;

		CHECK(net_host_parse(cases[i].host, &h, NULL, 0) == 0);
		got = net_allow_match(list, N(list), &h, cases[i].port);
		CHECK(got == cases[i].expect);
		if (got != cases[i].expect)
			fprintf(stderr, "  %s:%u matched=%d\n", cases[i].host, cases[i].port, got);
		CHECK(!net_allow_match(list, 0, &h, cases[i].port));
	}
}

struct url_case {
	const char *in;
	const char *host; /* NULL: refused */
	unsigned port;
	bool userinfo;
};

static void test_url_parse(void)
{
	static const struct url_case cases[] = {
	    {"http://evil.com/?x=allowed.com", "evil.com", 80, false},
	    {"http://evil.com?x=allowed.com", "evil.com", 80, false},
	    {"http://evil.com#@allowed.com", "evil.com", 80, false},
	    {"http://allowed.com@evil.com/", "evil.com", 80, true},
	    {"http://user:pw@x.com/", "x.com", 80, true},
	    {"http://:pw@x.com/", "x.com", 80, true},
	    {"http://x.com;o=1@y.com/", "y.com", 80, true},
	    {"http://x.com/", "x.com", 80, false},
	    {"https://x.com/", "x.com", 443, false},
	    {"HTTP://X.COM:8080/p", "x.com", 8080, false},
	    {"http://allowed.com.evil.com/", "allowed.com.evil.com", 80, false},
	    {"http://2130706433/", "127.0.0.1", 80, false},
	    {"http://0x7f.1/", "127.0.0.1", 80, false},
	    {"http://0177.0.0.1/", "127.0.0.1", 80, false},
	    {"http://127.1:8080/", "127.0.0.1", 8080, false},
	    {"http://[::1]:8080/a", "[::1]", 8080, false},
	    {"http://[::ffff:127.0.0.1]/", "[::ffff:127.0.0.1]", 80, false},
	    {"http://[0:0:0:0:0:ffff:7f00:1]:80/", "[::ffff:127.0.0.1]", 80, false},
	    {"http://%65vil.com/", "evil.com", 80, false},
	    {"http://b\xc3\xbc"
	     "cher.de/",
	     "xn--bcher-kva.de", 80, false},
	    {"http://EVIL.com./x", "evil.com", 80, false},
	    /* libcurl reads a third slash as the start of the host. */
	    {"http:///path", "path", 80, false},
	    {"http:\\\\evil.com\\", NULL, 0, false},
	    {"http://evil.com\\@allowed.com/", NULL, 0, false},
	    {"http://ex ample.com/", NULL, 0, false},
	    {"http://x.com/a b", NULL, 0, false},
	    {"http://x.com/\t", NULL, 0, false},
	    {" http://x.com/", NULL, 0, false},
	    {"http://x.com/\r\nX: y", NULL, 0, false},
	    {"http://x.com/\x7f", NULL, 0, false},
	    {"ftp://x.com/", NULL, 0, false},
	    {"file:///etc/passwd", NULL, 0, false},
	    {"gopher://x.com/", NULL, 0, false},
	    {"dict://x.com/", NULL, 0, false},
	    {"javascript:alert(1)", NULL, 0, false},
	    {"//x.com/", NULL, 0, false},
	    {"x.com", NULL, 0, false},
	    {"", NULL, 0, false},
	    {"http://x.com:0/", NULL, 0, false},
	    {"http://x.com:65536/", NULL, 0, false},
	    {"http://[fe80::1%25eth0]/", NULL, 0, false},
	    {"http://999.1.1.1/", NULL, 0, false},
	    {"http://1.2.3.4.5/", NULL, 0, false},
	    {"http://0x100000000/", NULL, 0, false},
	    {"http://x..com/", NULL, 0, false},
	    {"http://%2e.x/", NULL, 0, false},
	    {"http://a%2fb.com/", NULL, 0, false},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct net_url u;
		char err[160] = "";
		int rc = net_url_parse(cases[i].in, &u, err, sizeof(err));

		if (!cases[i].host) {
			CHECK(rc == -1);
			CHECK(err[0] != '\0');
			if (rc != -1) {
				fprintf(stderr, "  accepted URL %s\n", cases[i].in);
				net_url_free(&u);
			}
			continue;
		}
		CHECK(rc == 0);
		if (rc != 0) {
			fprintf(stderr, "  refused URL %s: %s\n", cases[i].in, err);
			continue;
		}
		CHECK_STR(u.host.name, cases[i].host);
		CHECK(u.port == cases[i].port);
		CHECK(u.has_userinfo == cases[i].userinfo);
		CHECK(u.https == (strncmp(cases[i].in, "https", 5) == 0));
		net_url_free(&u);
	}
	CHECK(net_url_parse(NULL, &(struct net_url){0}, NULL, 0) == -1);
}

static void check_url_string(const char *in, const char *expect)
{
	struct net_url u;
	char *s;

	CHECK(net_url_parse(in, &u, NULL, 0) == 0);
	s = net_url_string(&u);
	CHECK_STR(s, expect);
	free(s);
	net_url_free(&u);
}

static void test_url_string(void)
{
	check_url_string("http://EVIL.com./x?q=1#frag", "http://evil.com/x?q=1");
	check_url_string("http://0x7f.1:8080/a", "http://127.0.0.1:8080/a");
	check_url_string("http://2130706433/", "http://127.0.0.1/");
	check_url_string("http://[0:0:0:0:0:ffff:7f00:1]:81/", "http://[::ffff:127.0.0.1]:81/");
	check_url_string("https://b\xc3\xbc"
			 "cher.de/p",
			 "https://xn--bcher-kva.de/p");
	check_url_string("http://%65vil.com/", "http://evil.com/");
}

static bool cross(const char *a, const char *b)
{
	struct net_url ua, ub;
	bool r;

	CHECK(net_url_parse(a, &ua, NULL, 0) == 0);
	CHECK(net_url_parse(b, &ub, NULL, 0) == 0);
	r = net_url_cross_origin(&ua, &ub);
	net_url_free(&ua);
	net_url_free(&ub);
	return r;
}

static void test_cross_origin(void)
{
	CHECK(!cross("http://a.com/", "http://a.com:80/x"));
	CHECK(!cross("http://A.com./", "http://a.com/y?z"));
	CHECK(!cross("http://127.0.0.1/", "http://2130706433/"));
	CHECK(cross("http://a.com/", "https://a.com/"));
	CHECK(cross("http://a.com/", "http://b.a.com/"));
	CHECK(cross("http://a.com/", "http://a.com:8080/"));
	CHECK(cross("https://a.com/", "https://a.com:80/"));
	CHECK(cross("http://127.0.0.1:81/", "http://127.0.0.1:82/"));
}

int main(void)
{
	test_ipv4_notations();
	test_ip_any();
	test_ip_format_and_equal();
	test_embedded();
	test_classification();
	test_host_normalisation();
	test_name_within();
	test_allow_parse();
	test_allow_match();
	test_url_parse();
	test_url_string();
	test_cross_origin();
	return CHECK_DONE();
}
