#include "host/curl_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* Stubs for a host without a loadable libcurl: every call fails cleanly. */
static CURL *stub_easy_init(void)
{
	return NULL;
}
static void stub_easy_cleanup(CURL *h)
{
	(void)h;
}
static CURLcode stub_easy_setopt(CURL *h, CURLoption o, ...)
{
	(void)h, (void)o;
	return CURLE_FAILED_INIT;
}
static CURLcode stub_easy_getinfo(CURL *h, CURLINFO i, ...)
{
	(void)h, (void)i;
	return CURLE_FAILED_INIT;
}
static CURLcode stub_easy_perform(CURL *h)
{
	(void)h;
	return CURLE_FAILED_INIT;
}
static const char *stub_easy_strerror(CURLcode c)
{
	(void)c;
	return "libcurl is not available";
}
static void stub_free(void *p)
{
	(void)p;
}
static struct curl_slist *stub_slist_append(struct curl_slist *l, const char *s)
{
	(void)l, (void)s;
	return NULL;
}
static void stub_slist_free_all(struct curl_slist *l)
{
	(void)l;
}
static CURLU *stub_url(void)
{
	return NULL;
}
static void stub_url_cleanup(CURLU *u)
{
	(void)u;
}
static CURLUcode stub_url_get(const CURLU *u, CURLUPart p, char **v, unsigned int f)
{
	(void)u, (void)p, (void)f;
	*v = NULL;
	return CURLUE_OUT_OF_MEMORY;
}
static CURLUcode stub_url_set(CURLU *u, CURLUPart p, const char *v, unsigned int f)
{
	(void)u, (void)p, (void)v, (void)f;
	return CURLUE_OUT_OF_MEMORY;
}
static const char *stub_url_strerror(CURLUcode c)
{
	(void)c;
	return "libcurl is not available";
}

static CURLM *stub_multi_init(void)
{
	return NULL;
}
static CURLMcode stub_multi_cleanup(CURLM *m)
{
	(void)m;
	return CURLM_OK;
}
static CURLMcode stub_multi_handle(CURLM *m, CURL *h)
{
	(void)m, (void)h;
	return CURLM_BAD_HANDLE;
}
static CURLMcode stub_multi_perform(CURLM *m, int *running)
{
	(void)m;
	*running = 0;
	return CURLM_BAD_HANDLE;
}
static CURLMcode stub_multi_poll(CURLM *m, struct curl_waitfd *f, unsigned int n, int t, int *r)
{
	(void)m, (void)f, (void)n, (void)t;
	if (r)
		*r = 0;
	return CURLM_BAD_HANDLE;
}
static CURLMsg *stub_multi_info_read(CURLM *m, int *q)
{
	(void)m;
	*q = 0;
	return NULL;
}

static const struct curl_fns stubs = {
    stub_easy_init,	  stub_easy_cleanup,  stub_easy_setopt,	  stub_easy_getinfo,
    stub_easy_perform,	  stub_easy_strerror, stub_free,	  stub_slist_append,
    stub_slist_free_all,  stub_url,	      stub_url_cleanup,	  stub_url_get,
    stub_url_set,	  stub_url_strerror,  stub_multi_init,	  stub_multi_cleanup,
    stub_multi_handle,	  stub_multi_handle,  stub_multi_perform, stub_multi_poll,
    stub_multi_info_read,
};

/*
 * Written once under pthread_once and read-only afterwards: the process-wide
 * state here mirrors libcurl's own global initialisation, not brig's.
 */
static struct curl_fns loaded;
static const struct curl_fns *active = &stubs;
static const char *load_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define RESOLVE(field, sym)                                                                        \
	do {                                                                                       \
		*(void **)&loaded.field = dlsym(h, sym);                                           \
		if (!loaded.field)                                                                 \
			goto missing;                                                              \
	} while (0)

static void load(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	CURLcode (*global_init)(long);

	if (!h) {
		load_error = "cannot load libcurl.so.4";
		return;
	}
	RESOLVE(easy_init, "curl_easy_init");
	RESOLVE(easy_cleanup, "curl_easy_cleanup");
	RESOLVE(easy_setopt, "curl_easy_setopt");
	RESOLVE(easy_getinfo, "curl_easy_getinfo");
	RESOLVE(easy_perform, "curl_easy_perform");
	RESOLVE(easy_strerror, "curl_easy_strerror");
	RESOLVE(free, "curl_free");
	RESOLVE(slist_append, "curl_slist_append");
	RESOLVE(slist_free_all, "curl_slist_free_all");
	RESOLVE(url, "curl_url");
	RESOLVE(url_cleanup, "curl_url_cleanup");
	RESOLVE(url_get, "curl_url_get");
	RESOLVE(url_set, "curl_url_set");
	RESOLVE(url_strerror, "curl_url_strerror");
	RESOLVE(multi_init, "curl_multi_init");
	RESOLVE(multi_cleanup, "curl_multi_cleanup");
	RESOLVE(multi_add_handle, "curl_multi_add_handle");
	RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
	RESOLVE(multi_perform, "curl_multi_perform");
	RESOLVE(multi_poll, "curl_multi_poll");
	RESOLVE(multi_info_read, "curl_multi_info_read");
	*(void **)&global_init = dlsym(h, "curl_global_init");
	if (!global_init || global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		load_error = "curl_global_init failed";
		return;
	}
	active = &loaded;
	return;
missing:
	load_error = "libcurl.so.4 lacks a required function (libcurl >= 7.78 needed)";
}

const struct curl_fns *curl_fns(void)
{
	pthread_once(&once, load);
	return active;
}

const char *curl_load_error(void)
{
	pthread_once(&once, load);
	return load_error;
}
