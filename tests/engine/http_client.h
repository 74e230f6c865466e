/*
 * One HTTP request to 127.0.0.1 with libcurl, for tests of the admin
 * endpoint. A failed transfer fails the test.
 */
#ifndef BL_TEST_HTTP_CLIENT_H
#define BL_TEST_HTTP_CLIENT_H

/* A response: the body and Content-Type are owned (free with
 * http_reply_free). */
typedef struct http_reply {
	long status;
	char *body;           /* NUL-terminated; "" when empty */
	char *content_type;   /* NULL when the response has none */
} http_reply_t;

/* Send `method` (GET, POST...) to http://127.0.0.1:PORT/PATH, with
 * "Authorization: Bearer TOKEN" unless `token` is NULL. */
http_reply_t http_request(int port, const char *method, const char *path, const char *token);

/* The same with `body` (borrowed; NULL for none) sent as application/json. */
http_reply_t http_request_body(int port, const char *method, const char *path, const char *token, const char *body);

void http_reply_free(http_reply_t *reply);

#endif
