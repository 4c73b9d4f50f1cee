/* lxd-dqlite: one dqlite node (Raft-replicated SQLite) as a process of its own.
 *
 *   lxd-dqlite --id N --address HOST:PORT --dir DIR [--latency-ms MS]
 *
 * libdqlite brings its own libuv, whose symbols the Bun runtime would capture if the daemon loaded
 * the library itself, so the node runs here. The library is opened with dlopen at run time: the
 * binary builds without libdqlite-dev (and for every release arch), and a host without libdqlite0
 * gets one clear line instead of a loader error. Node 1 bootstraps a one-voter cluster on first
 * start; the others start empty and wait to be added by a client (ADD, then ASSIGN).
 *
 * "ready" on stdout once the node serves. The node stops on SIGTERM/SIGINT, and when stdin
 * reaches end of file: the daemon holds the other end, so its death stops the node.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct dqlite_node dqlite_node;

struct dqlite_api {
	int (*create)(unsigned long long id, const char *address, const char *dir, dqlite_node **n);
	int (*set_bind_address)(dqlite_node *n, const char *address);
	int (*set_network_latency_ms)(dqlite_node *n, unsigned ms);
	int (*start)(dqlite_node *n);
	int (*stop)(dqlite_node *n);
	void (*destroy)(dqlite_node *n);
	const char *(*errmsg)(dqlite_node *n);
};

enum { EXIT_USAGE = 2, EXIT_NO_LIBRARY = 3, EXIT_NODE = 4 };

static int fail(int code, const char *what, const char *detail)
{
	fprintf(stderr, "lxd-dqlite: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return code;
}

static int load(struct dqlite_api *api)
{
	void *lib = dlopen("libdqlite.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return -1;
	/* errmsg is missing from older releases: failures then carry the return code only. */
	api->errmsg = (const char *(*)(dqlite_node *))dlsym(lib, "dqlite_node_errmsg");
	api->create = (int (*)(unsigned long long, const char *, const char *, dqlite_node **))dlsym(lib, "dqlite_node_create");
	api->set_bind_address = (int (*)(dqlite_node *, const char *))dlsym(lib, "dqlite_node_set_bind_address");
	api->set_network_latency_ms = (int (*)(dqlite_node *, unsigned))dlsym(lib, "dqlite_node_set_network_latency_ms");
	api->start = (int (*)(dqlite_node *))dlsym(lib, "dqlite_node_start");
	api->stop = (int (*)(dqlite_node *))dlsym(lib, "dqlite_node_stop");
	api->destroy = (void (*)(dqlite_node *))dlsym(lib, "dqlite_node_destroy");
	return api->create && api->set_bind_address && api->set_network_latency_ms && api->start && api->stop &&
			       api->destroy
		       ? 0
		       : -1;
}

/* Blocks until a stop signal or end of file on stdin. */
static void wait_for_stop(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	struct pollfd fds[2] = { { .fd = sfd, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
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
	}
}

int main(int argc, char **argv)
{
	unsigned long long id = 0;
	const char *address = NULL, *dir = NULL;
	unsigned latency_ms = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--id"))
			id = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--address"))
			address = argv[i + 1];
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--latency-ms"))
			latency_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else
			return fail(EXIT_USAGE, "unknown option", argv[i]);
	}
	if (!id || !address || !dir)
		return fail(EXIT_USAGE, "usage", "lxd-dqlite --id N --address HOST:PORT --dir DIR [--latency-ms MS]");

	struct dqlite_api api;
	if (load(&api) < 0)
		return fail(EXIT_NO_LIBRARY, "libdqlite.so.0 is not usable (Debian: apt-get install libdqlite0)", dlerror());

	/* A write to a peer node that died must fail with EPIPE, not kill this node (Go, LXD's
	 * host for libdqlite, ignores SIGPIPE the same way). */
	signal(SIGPIPE, SIG_IGN);
	/* Stop signals become readable on the signalfd, and only there. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	dqlite_node *node = NULL;
	int rv = api.create(id, address, dir, &node);
	if (rv == 0)
		rv = api.set_bind_address(node, address);
	if (rv == 0 && latency_ms)
		rv = api.set_network_latency_ms(node, latency_ms);
	if (rv == 0)
		rv = api.start(node);
	if (rv != 0) {
		char code[16];
		snprintf(code, sizeof code, "error %d", rv);
		return fail(EXIT_NODE, "starting the node failed", node && api.errmsg ? api.errmsg(node) : code);
	}
	printf("ready\n");
	fflush(stdout);

	wait_for_stop();
	api.stop(node);
	api.destroy(node);
	return 0;
}
