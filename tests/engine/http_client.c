#include "http_client.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buffer {
	char *data;
	size_t len;
} buffer_t;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	buffer_t *b = arg;
	char *grown = realloc(b->data, b->len + size * n + 1);
	cr_assert_not_null(grown);
	memcpy(grown + b->len, data, size * n);
	b->data = grown;
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

http_reply_t http_request(int port, const char *method, const char *path, const char *token)
{
	return http_request_body(port, method, path, token, NULL);
}

http_reply_t http_request_body(int port, const char *method, const char *path, const char *token, const char *body_text)
{
	char url[512], auth[512];
	buffer_t body = {0};
	struct curl_slist *headers = NULL;
	http_reply_t reply = {0};
	char *type = NULL;

	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	CURL *c = curl_easy_init();
	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}
	if (body_text) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_text);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

	CURLcode rc = curl_easy_perform(c);
	cr_assert_eq(rc, CURLE_OK, "%s %s failed: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
	reply.content_type = type ? strdup(type) : NULL;
	reply.body = body.data ? body.data : strdup("");
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return reply;
}

void http_reply_free(http_reply_t *reply)
{
	free(reply->body);
	free(reply->content_type);
	reply->body = NULL;
	reply->content_type = NULL;
}
