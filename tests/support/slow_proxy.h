/*
 * A TCP proxy on 127.0.0.1 for tests that need a server slower than the
 * client: it passes the client's bytes on at once, and the server's bytes
 * in chunks with a pause between them, as a real network would.
 */
#ifndef BL_TEST_SLOW_PROXY_H
#define BL_TEST_SLOW_PROXY_H

#include <stddef.h>

typedef struct slow_proxy slow_proxy_t;

/*
 * Start a proxy to 127.0.0.1:`target_port` that sends the server's bytes
 * on in chunks of at most `chunk` bytes, `pause_us` microseconds apart.
 * It serves any number of connections, each on a thread of its own.
 * Returns the port it listens on, or -1 (errno set) with *out NULL.
 */
int slow_proxy_start(slow_proxy_t **out, int target_port, size_t chunk, unsigned pause_us);

/* Close every connection, stop the threads and free the proxy. Takes
 * *proxy; NULL is fine. */
void slow_proxy_stop(slow_proxy_t **proxy);

#endif
