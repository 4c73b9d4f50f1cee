/* lxd-dqlite: one dqlite node (Raft-replicated SQLite) as a process of its own, behind TLS.
 *
 *   lxd-dqlite --id N --address HOST:PORT --dir DIR --cert CRT --key KEY --relay NAME [--latency-ms MS]
 *
 * libdqlite brings its own libuv, whose symbols the Bun runtime would capture if the daemon loaded
 * the library itself, so the node runs here. libdqlite and libssl are opened with dlopen at run
 * time: the binary builds without their -dev packages (and for every release arch), and a host
 * without them gets one clear line instead of a loader error. Node 1 bootstraps a one-voter
 * cluster on first start; the others start empty and wait to be added by a client (ADD, then ASSIGN).
 *
 * Nothing of the database crosses the network in clear. The node itself listens on an abstract
 * unix socket that only this process may reach (libdqlite checks the peer's pid), and this process
 *  - listens on HOST:PORT, the node's address in the Raft configuration, for TLS connections from
 *    the other members (their nodes' Raft traffic, their daemons' SQL) and pipes each to the node;
 *  - dials the other nodes over TLS for Raft (dqlite_node_set_connect_func), through a socket pair;
 *  - listens on the abstract unix socket NAME for the daemon's own clients (same user only): a
 *    client sends the address of the node it wants, "HOST:PORT\n", reads "ok\n" (or one line
 *    saying why not) and then speaks dqlite's protocol to that node, over TLS unless it is this one.
 * Both ends of every TLS connection present the cluster certificate CRT and accept only that very
 * certificate from the other end (the rule member-to-member HTTPS follows too).
 *
 * "ready" on stdout once the node serves. The node stops on SIGTERM/SIGINT, and when stdin
 * reaches end of file: the daemon holds the other end, so its death stops the node.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct dqlite_node dqlite_node;

struct dqlite_api {
	int (*create)(unsigned long long id, const char *address, const char *dir, dqlite_node **n);
	int (*set_bind_address)(dqlite_node *n, const char *address);
	const char *(*get_bind_address)(dqlite_node *n);
	int (*set_connect_func)(dqlite_node *n, int (*f)(void *arg, const char *address, int *fd), void *arg);
	int (*set_network_latency_ms)(dqlite_node *n, unsigned ms);
	int (*start)(dqlite_node *n);
	int (*stop)(dqlite_node *n);
	void (*destroy)(dqlite_node *n);
	const char *(*errmsg)(dqlite_node *n);
};

/* The few OpenSSL 3 calls used, declared here so the build needs no libssl-dev for every arch. */
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct x509_st X509;
typedef struct x509_store_ctx_st X509_STORE_CTX;

enum {
	SSL_FILETYPE_PEM = 1,
	SSL_VERIFY_PEER = 0x01,
	SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x02,
	SSL_ERROR_WANT_READ = 2,
	SSL_ERROR_WANT_WRITE = 3,
	SSL_CTRL_MODE = 33,
	SSL_CTRL_SET_MIN_PROTO_VERSION = 123,
	SSL_MODE_ENABLE_PARTIAL_WRITE = 0x1,
	SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2,
	TLS1_2_VERSION = 0x0303,
};

struct tls_api {
	const SSL_METHOD *(*method)(void);
	SSL_CTX *(*ctx_new)(const SSL_METHOD *m);
	int (*use_certificate)(SSL_CTX *c, const char *file);
	int (*use_key)(SSL_CTX *c, const char *file, int type);
	int (*check_key)(const SSL_CTX *c);
	X509 *(*own_certificate)(const SSL_CTX *c);
	void (*set_verify)(SSL_CTX *c, int mode, int (*cb)(int ok, X509_STORE_CTX *store));
	long (*ctx_ctrl)(SSL_CTX *c, int cmd, long larg, void *parg);
	SSL *(*new)(SSL_CTX *c);
	void (*free)(SSL *s);
	int (*set_fd)(SSL *s, int fd);
	int (*accept)(SSL *s);
	int (*connect)(SSL *s);
	int (*read)(SSL *s, void *buf, int len);
	int (*write)(SSL *s, const void *buf, int len);
	int (*get_error)(const SSL *s, int rv);
	X509 *(*peer_certificate)(const SSL *s);
	int (*cmp)(const X509 *a, const X509 *b);
	void (*x509_free)(X509 *x);
	X509 *(*store_certificate)(const X509_STORE_CTX *store);
	int (*store_depth)(const X509_STORE_CTX *store);
	unsigned long (*error)(void);
	void (*error_string)(unsigned long e, char *buf, size_t len);
	void (*clear_error)(void);
};

enum { EXIT_USAGE = 2, EXIT_NO_LIBRARY = 3, EXIT_NODE = 4 };

/* How long a TCP connect or a TLS handshake may take. */
#define HANDSHAKE_MS 3000
/* One TLS record's worth of payload per direction and connection. */
#define PUMP_BUF 16384

static struct tls_api tls;
static SSL_CTX *tls_ctx;
static X509 *cluster_cert;
static const char *own_address;
static struct sockaddr_un node_addr;
static socklen_t node_addr_len;

static int fail(int code, const char *what, const char *detail)
{
	fprintf(stderr, "lxd-dqlite: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return code;
}

/* A line on stderr from a relay thread; stderr is non-blocking by then (see main), so a daemon
 * that does not read it never stalls the relay. */
static void note(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	ssize_t rv = write(STDERR_FILENO, line, (size_t)n);
	(void)rv;
}

#define SYM(lib, field, name) ((*(void **)&(field) = dlsym(lib, name)) != NULL)

static int load_dqlite(struct dqlite_api *api)
{
	void *lib = dlopen("libdqlite.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return -1;
	/* errmsg is missing from older releases: failures then carry the return code only. */
	(void)SYM(lib, api->errmsg, "dqlite_node_errmsg");
	bool ok = SYM(lib, api->create, "dqlite_node_create") && SYM(lib, api->set_bind_address, "dqlite_node_set_bind_address") &&
		  SYM(lib, api->get_bind_address, "dqlite_node_get_bind_address") &&
		  SYM(lib, api->set_connect_func, "dqlite_node_set_connect_func") &&
		  SYM(lib, api->set_network_latency_ms, "dqlite_node_set_network_latency_ms") &&
		  SYM(lib, api->start, "dqlite_node_start") && SYM(lib, api->stop, "dqlite_node_stop") &&
		  SYM(lib, api->destroy, "dqlite_node_destroy");
	return ok ? 0 : -1;
}

static int load_tls(void)
{
	/* libssl's handle also resolves libcrypto's symbols (a dependency of it). */
	void *lib = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return -1;
	bool ok = SYM(lib, tls.method, "TLS_method") && SYM(lib, tls.ctx_new, "SSL_CTX_new") &&
		  SYM(lib, tls.use_certificate, "SSL_CTX_use_certificate_chain_file") &&
		  SYM(lib, tls.use_key, "SSL_CTX_use_PrivateKey_file") && SYM(lib, tls.check_key, "SSL_CTX_check_private_key") &&
		  SYM(lib, tls.own_certificate, "SSL_CTX_get0_certificate") && SYM(lib, tls.set_verify, "SSL_CTX_set_verify") &&
		  SYM(lib, tls.ctx_ctrl, "SSL_CTX_ctrl") && SYM(lib, tls.new, "SSL_new") && SYM(lib, tls.free, "SSL_free") &&
		  SYM(lib, tls.set_fd, "SSL_set_fd") && SYM(lib, tls.accept, "SSL_accept") && SYM(lib, tls.connect, "SSL_connect") &&
		  SYM(lib, tls.read, "SSL_read") && SYM(lib, tls.write, "SSL_write") && SYM(lib, tls.get_error, "SSL_get_error") &&
		  SYM(lib, tls.peer_certificate, "SSL_get1_peer_certificate") && SYM(lib, tls.cmp, "X509_cmp") &&
		  SYM(lib, tls.x509_free, "X509_free") && SYM(lib, tls.store_certificate, "X509_STORE_CTX_get_current_cert") &&
		  SYM(lib, tls.store_depth, "X509_STORE_CTX_get_error_depth") && SYM(lib, tls.error, "ERR_get_error") &&
		  SYM(lib, tls.error_string, "ERR_error_string_n") && SYM(lib, tls.clear_error, "ERR_clear_error");
	return ok ? 0 : -1;
}

/* The last OpenSSL error of this thread as text, or `otherwise`. */
static void tls_reason(char *why, size_t len, const char *otherwise)
{
	unsigned long e = tls.error();
	if (e)
		tls.error_string(e, why, len);
	else
		snprintf(why, len, "%s", otherwise);
}

/* The certificate the other end presents must be the cluster's: a self-signed certificate is
 * fine (it is the one), any other is refused during the handshake. */
static int pin(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	if (tls.store_depth(store) != 0)
		return 1;
	X509 *peer = tls.store_certificate(store);
	return peer && tls.cmp(peer, cluster_cert) == 0;
}

static int tls_setup(const char *cert, const char *key, char *why, size_t len)
{
	tls_ctx = tls.ctx_new(tls.method());
	if (!tls_ctx || tls.use_certificate(tls_ctx, cert) != 1 || tls.use_key(tls_ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    tls.check_key(tls_ctx) != 1) {
		tls_reason(why, len, "cannot load the cluster certificate");
		return -1;
	}
	cluster_cert = tls.own_certificate(tls_ctx);
	tls.set_verify(tls_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, pin);
	tls.ctx_ctrl(tls_ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
	/* The pump retries a write with the same bytes but maybe another buffer address. */
	tls.ctx_ctrl(tls_ctx, SSL_CTRL_MODE, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
	return 0;
}

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* HOST:PORT ([V6]:PORT) into its parts; -1 if it has no port. */
static int split_address(const char *address, char *host, size_t len, const char **port)
{
	const char *colon = strrchr(address, ':');
	if (!colon || !colon[1])
		return -1;
	const char *start = address, *end = colon;
	if (*start == '[' && end > start && end[-1] == ']') {
		start++;
		end--;
	}
	if ((size_t)(end - start) >= len)
		return -1;
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	*port = colon + 1;
	return 0;
}

/* A TCP socket connected to (`listening`: bound and listening on) HOST:PORT; -1 with `why`. */
static int tcp_socket(const char *address, bool listening, char *why, size_t len)
{
	char host[256];
	const char *port;
	if (split_address(address, host, sizeof host, &port) < 0) {
		snprintf(why, len, "\"%s\" is not HOST:PORT", address);
		return -1;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | (listening ? AI_PASSIVE : 0) };
	struct addrinfo *found = NULL;
	int rv = getaddrinfo(host, port, &hints, &found);
	if (rv != 0) {
		snprintf(why, len, "%s: %s", address, gai_strerror(rv));
		return -1;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = found; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		if (listening) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			rv = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0 ? 0 : -1;
		} else {
			/* connect() gives up at the send timeout. */
			set_timeouts(fd, HANDSHAKE_MS);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			rv = connect(fd, ai->ai_addr, ai->ai_addrlen);
		}
		if (rv < 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(found);
	if (fd < 0)
		snprintf(why, len, "%s %s: %s", listening ? "cannot listen on" : "cannot connect to", address,
			 err == EINPROGRESS || err == EAGAIN ? "no answer in time" : strerror(err));
	return fd;
}

/* A connection to the node's own socket. */
static int connect_node(char *why, size_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&node_addr, node_addr_len) < 0) {
		snprintf(why, len, "cannot reach the local node: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One end of a relayed connection: a plain socket, or one under TLS. */
struct end {
	int fd;
	SSL *ssl;
	/* What poll must wait for before the operation that would have blocked can go on. */
	short want;
};

static void end_close(struct end *e)
{
	if (e->ssl)
		tls.free(e->ssl);
	if (e->fd >= 0)
		close(e->fd);
	e->ssl = NULL;
	e->fd = -1;
}

/* The TLS handshake on a connected socket, the peer pinned to the cluster certificate. */
static SSL *handshake(int fd, bool server, char *why, size_t len)
{
	set_timeouts(fd, HANDSHAKE_MS);
	tls.clear_error();
	SSL *ssl = tls.new(tls_ctx);
	if (!ssl || tls.set_fd(ssl, fd) != 1) {
		tls_reason(why, len, "out of memory");
		goto fail;
	}
	if ((server ? tls.accept(ssl) : tls.connect(ssl)) != 1) {
		tls_reason(why, len, "the TLS handshake failed");
		goto fail;
	}
	X509 *peer = tls.peer_certificate(ssl);
	bool pinned = peer && tls.cmp(peer, cluster_cert) == 0;
	if (peer)
		tls.x509_free(peer);
	if (!pinned) {
		snprintf(why, len, "the peer does not hold the cluster certificate");
		goto fail;
	}
	set_timeouts(fd, 0);
	return ssl;
fail:
	if (ssl)
		tls.free(ssl);
	return NULL;
}

/* A TLS connection to another member's node at HOST:PORT. */
static int dial(const char *address, struct end *out, char *why, size_t len)
{
	int fd = tcp_socket(address, false, why, len);
	if (fd < 0)
		return -1;
	SSL *ssl = handshake(fd, false, why, len);
	if (!ssl) {
		close(fd);
		return -1;
	}
	*out = (struct end){ .fd = fd, .ssl = ssl };
	return 0;
}

/* >0: bytes moved; 0: the end closed or failed; -1: it would block (e->want says on what). */
static ssize_t end_io(struct end *e, void *buf, size_t len, bool writing)
{
	if (!e->ssl) {
		ssize_t n = writing ? send(e->fd, buf, len, MSG_NOSIGNAL) : recv(e->fd, buf, len, 0);
		if (n > 0)
			return n;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			e->want = writing ? POLLOUT : POLLIN;
			return -1;
		}
		return 0;
	}
	tls.clear_error();
	int n = writing ? tls.write(e->ssl, buf, (int)len) : tls.read(e->ssl, buf, (int)len);
	if (n > 0)
		return n;
	switch (tls.get_error(e->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		e->want = POLLIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		e->want = POLLOUT;
		return -1;
	default:
		return 0;
	}
}

struct flow {
	struct end *from, *to;
	size_t off, len;
	char buf[PUMP_BUF];
};

/* Moves bytes both ways between `a` and `b` until either closes, then closes both. Each flow
 * reads (from a TLS end: until OpenSSL has nothing buffered) and writes until one of its ends
 * would block; poll then waits for exactly what the blocked operations need. */
static void pump(struct end *a, struct end *b)
{
	struct flow flows[2] = { { .from = a, .to = b }, { .from = b, .to = a } };
	if (set_nonblocking(a->fd) < 0 || set_nonblocking(b->fd) < 0)
		goto done;
	for (;;) {
		struct pollfd fds[2] = { { .fd = a->fd }, { .fd = b->fd } };
		for (int i = 0; i < 2; i++) {
			struct flow *f = &flows[i];
			struct end *blocked;
			for (;;) {
				ssize_t n;
				if (f->off == f->len) {
					n = end_io(f->from, f->buf, sizeof f->buf, false);
					if (n == 0)
						goto done;
					if (n < 0) {
						blocked = f->from;
						break;
					}
					f->off = 0;
					f->len = (size_t)n;
				}
				n = end_io(f->to, f->buf + f->off, f->len - f->off, true);
				if (n == 0)
					goto done;
				if (n < 0) {
					blocked = f->to;
					break;
				}
				f->off += (size_t)n;
			}
			fds[blocked == a ? 0 : 1].events |= blocked->want;
		}
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			goto done;
		if ((fds[0].revents | fds[1].revents) & POLLNVAL)
			goto done;
	}
done:
	end_close(a);
	end_close(b);
}

/* A member's node or daemon over TLS on the Raft address: piped to the node once it proved it holds
 * the cluster certificate. */
static void *serve_member(void *arg)
{
	struct end peer = { .fd = (int)(intptr_t)arg }, node = { .fd = -1 };
	char why[256];
	int one = 1;
	/* Requests and answers are small and each waits for the other: no Nagle delay. */
	setsockopt(peer.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	peer.ssl = handshake(peer.fd, true, why, sizeof why);
	if (!peer.ssl) {
		note("lxd-dqlite: refused a connection on %s: %s", own_address, why);
		goto fail;
	}
	node.fd = connect_node(why, sizeof why);
	if (node.fd < 0) {
		note("lxd-dqlite: %s", why);
		goto fail;
	}
	pump(&peer, &node);
	return NULL;
fail:
	end_close(&peer);
	return NULL;
}

/* Reads the client's "HOST:PORT\n" (the client sends nothing else before the answer). */
static int read_target(int fd, char *line, size_t len)
{
	size_t at = 0;
	set_timeouts(fd, HANDSHAKE_MS);
	while (at < len - 1) {
		ssize_t n = recv(fd, line + at, len - 1 - at, 0);
		if (n <= 0)
			return -1;
		at += (size_t)n;
		char *nl = memchr(line, '\n', at);
		if (nl) {
			*nl = '\0';
			set_timeouts(fd, 0);
			return nl == line + at - 1 ? 0 : -1;
		}
	}
	return -1;
}

/* One of the daemon's clients on the relay socket: connected to the node it names. */
static void *serve_client(void *arg)
{
	struct end client = { .fd = (int)(intptr_t)arg }, target = { .fd = -1 };
	char line[300], why[256];
	struct ucred cred;
	socklen_t cred_len = sizeof cred;
	/* Only the daemon's user: a local client is given the database without a certificate. */
	if (getsockopt(client.fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 || cred.uid != getuid())
		goto fail;
	if (read_target(client.fd, line, sizeof line) < 0)
		goto fail;
	if (!strcmp(line, own_address))
		target.fd = connect_node(why, sizeof why);
	else
		dial(line, &target, why, sizeof why);
	if (target.fd < 0) {
		size_t n = strnlen(why, sizeof why - 1);
		why[n] = '\n';
		ssize_t rv = send(client.fd, why, n + 1, MSG_NOSIGNAL);
		(void)rv;
		goto fail;
	}
	if (send(client.fd, "ok\n", 3, MSG_NOSIGNAL) != 3)
		goto fail;
	pump(&client, &target);
	return NULL;
fail:
	end_close(&client);
	end_close(&target);
	return NULL;
}

/* dqlite's connect function for Raft: a TLS connection to the peer, handed to the node as the
 * other end of a socket pair whose pump runs on a thread of its own. */
static void *pump_pair(void *arg)
{
	struct end *ends = arg;
	pump(&ends[0], &ends[1]);
	free(ends);
	return NULL;
}

static int spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t thread;
	if (pthread_attr_init(&attr) != 0)
		return -1;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rv = pthread_create(&thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rv == 0 ? 0 : -1;
}

static int connect_raft(void *arg, const char *address, int *fd)
{
	(void)arg;
	char why[256];
	int pair[2] = { -1, -1 };
	struct end *ends = calloc(2, sizeof *ends);
	if (!ends)
		return 1;
	ends[0].fd = ends[1].fd = -1;
	if (dial(address, &ends[1], why, sizeof why) < 0) {
		note("lxd-dqlite: Raft to %s: %s", address, why);
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		goto fail;
	ends[0].fd = pair[1];
	if (spawn(pump_pair, ends) < 0)
		goto fail;
	*fd = pair[0];
	return 0;
fail:
	if (pair[0] >= 0)
		close(pair[0]);
	end_close(&ends[0]);
	end_close(&ends[1]);
	free(ends);
	return 1;
}

static int unix_listen(const char *name, char *why, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	if (n + 1 > sizeof sun.sun_path) {
		snprintf(why, len, "relay name too long");
		return -1;
	}
	/* Abstract: sun_path starts with a NUL, nothing on disk to clean up. */
	memcpy(sun.sun_path + 1, name, n);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0 ||
	    listen(fd, 64) < 0) {
		snprintf(why, len, "cannot listen on @%s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The node's abstract socket ("@NAME" from libdqlite) as an address to connect to. */
static int set_node_address(const char *bound)
{
	size_t n = bound ? strlen(bound) : 0;
	if (n < 2 || bound[0] != '@' || n > sizeof node_addr.sun_path)
		return -1;
	node_addr.sun_family = AF_UNIX;
	memcpy(node_addr.sun_path + 1, bound + 1, n - 1);
	node_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

/* Serves the listeners until a stop signal or end of file on stdin. */
static void serve(int member_fd, int client_fd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	struct pollfd fds[4] = { { .fd = sfd, .events = POLLIN },
				 { .fd = STDIN_FILENO, .events = POLLIN },
				 { .fd = member_fd, .events = POLLIN },
				 { .fd = client_fd, .events = POLLIN } };
	void *(*handlers[4])(void *) = { NULL, NULL, serve_member, serve_client };
	for (;;) {
		if (poll(fds, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (fds[0].revents)
			return;
		if (fds[1].revents) {
			char buf[64];
			ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
			if (n <= 0 && !(n < 0 && errno == EINTR))
				return;
		}
		for (int i = 2; i < 4; i++) {
			if (!fds[i].revents)
				continue;
			int fd = accept4(fds[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && spawn(handlers[i], (void *)(intptr_t)fd) < 0)
				close(fd);
		}
	}
}

int main(int argc, char **argv)
{
	unsigned long long id = 0;
	const char *dir = NULL, *cert = NULL, *key = NULL, *relay = NULL;
	unsigned latency_ms = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--id"))
			id = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--address"))
			own_address = argv[i + 1];
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--cert"))
			cert = argv[i + 1];
		else if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--relay"))
			relay = argv[i + 1];
		else if (!strcmp(argv[i], "--latency-ms"))
			latency_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else
			return fail(EXIT_USAGE, "unknown option", argv[i]);
	}
	if (!id || !own_address || !dir || !cert || !key || !relay)
		return fail(EXIT_USAGE, "usage",
			    "lxd-dqlite --id N --address HOST:PORT --dir DIR --cert CRT --key KEY --relay NAME [--latency-ms MS]");

	struct dqlite_api api;
	if (load_dqlite(&api) < 0)
		return fail(EXIT_NO_LIBRARY, "libdqlite.so.0 is not usable (Debian: apt-get install libdqlite0)", dlerror());
	if (load_tls() < 0)
		return fail(EXIT_NO_LIBRARY, "libssl.so.3 is not usable (Debian: apt-get install libssl3)", dlerror());

	/* A write to a peer that died must fail with EPIPE, not kill this node (Go, LXD's host for
	 * libdqlite, ignores SIGPIPE the same way). */
	signal(SIGPIPE, SIG_IGN);
	/* Stop signals become readable on the signalfd, and only there; relay threads inherit the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	char why[256];
	if (tls_setup(cert, key, why, sizeof why) < 0)
		return fail(EXIT_NODE, "loading the cluster certificate failed", why);
	/* Bound before the node starts: a taken port fails here, with nothing to undo. */
	int member_fd = tcp_socket(own_address, true, why, sizeof why);
	if (member_fd < 0)
		return fail(EXIT_NODE, "starting the node failed", why);
	int client_fd = unix_listen(relay, why, sizeof why);
	if (client_fd < 0)
		return fail(EXIT_NODE, "starting the node failed", why);

	dqlite_node *node = NULL;
	int rv = api.create(id, own_address, dir, &node);
	if (rv == 0)
		rv = api.set_bind_address(node, "@");
	if (rv == 0)
		rv = api.set_connect_func(node, connect_raft, NULL);
	if (rv == 0 && latency_ms)
		rv = api.set_network_latency_ms(node, latency_ms);
	if (rv == 0)
		rv = api.start(node);
	if (rv != 0) {
		char code[16];
		snprintf(code, sizeof code, "error %d", rv);
		return fail(EXIT_NODE, "starting the node failed", node && api.errmsg ? api.errmsg(node) : code);
	}
	if (set_node_address(api.get_bind_address(node)) < 0)
		return fail(EXIT_NODE, "starting the node failed", "libdqlite did not bind an abstract socket");
	printf("ready\n");
	fflush(stdout);
	/* Nobody may read stderr from now on: a full pipe must drop lines, not stall a relay. */
	set_nonblocking(STDERR_FILENO);

	serve(member_fd, client_fd);
	close(member_fd);
	close(client_fd);
	api.stop(node);
	api.destroy(node);
	return 0;
}
