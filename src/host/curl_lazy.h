/*
 * libcurl, loaded on first use.  Linking libcurl pulls in some thirty
 * libraries (TLS, GSSAPI, LDAP...) whose loading and constructors cost
 * milliseconds at every start of the CLI, although most runs never make an
 * HTTP request.  Include this after <curl/curl.h>: the curl functions brig
 * uses become calls through a table resolved with dlopen on first use.
 */
#ifndef BRIG_CURL_LAZY_H
#define BRIG_CURL_LAZY_H

#include <curl/curl.h>

struct curl_fns {
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_perform)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
	const char *(*url_strerror)(CURLUcode);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
};

/*
 * The table, loaded and curl_global_init'ed once per process (libcurl's
 * global state is process-wide by nature).  When libcurl cannot be loaded
 * every entry is a stub that fails, so callers see ordinary curl errors.
 */
const struct curl_fns *curl_fns(void);
/* Why loading failed, or NULL. */
const char *curl_load_error(void);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_init() (curl_fns()->easy_init())
#define curl_easy_cleanup(h) (curl_fns()->easy_cleanup(h))
#define curl_easy_setopt(h, o, ...) (curl_fns()->easy_setopt((h), (o), __VA_ARGS__))
#define curl_easy_getinfo(h, i, ...) (curl_fns()->easy_getinfo((h), (i), __VA_ARGS__))
#define curl_easy_perform(h) (curl_fns()->easy_perform(h))
#define curl_easy_strerror(c) (curl_fns()->easy_strerror(c))
#define curl_free(p) (curl_fns()->free(p))
#define curl_slist_append(l, s) (curl_fns()->slist_append((l), (s)))
#define curl_slist_free_all(l) (curl_fns()->slist_free_all(l))
#define curl_url() (curl_fns()->url())
#define curl_url_cleanup(u) (curl_fns()->url_cleanup(u))
#define curl_url_get(u, p, v, f) (curl_fns()->url_get((u), (p), (v), (f)))
#define curl_url_set(u, p, v, f) (curl_fns()->url_set((u), (p), (v), (f)))
#define curl_url_strerror(c) (curl_fns()->url_strerror(c))
#define curl_multi_init() (curl_fns()->multi_init())
#define curl_multi_cleanup(m) (curl_fns()->multi_cleanup(m))
#define curl_multi_add_handle(m, h) (curl_fns()->multi_add_handle((m), (h)))
#define curl_multi_remove_handle(m, h) (curl_fns()->multi_remove_handle((m), (h)))
#define curl_multi_perform(m, r) (curl_fns()->multi_perform((m), (r)))
#define curl_multi_poll(m, f, n, t, r) (curl_fns()->multi_poll((m), (f), (n), (t), (r)))
#define curl_multi_info_read(m, q) (curl_fns()->multi_info_read((m), (q)))

#endif
