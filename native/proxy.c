// lxd-helper proxy: the forwarder behind one `proxy` device (LXD's forkproxy, in C).
//
//   lxd-helper proxy --pidfd N --listen ADDR --connect ADDR --bind host|instance
//                    --pidfile FILE [--mode OCTAL --uid N --gid N]
//   ADDR: tcp:HOST:PORT, udp:HOST:PORT, unix:PATH or unix:@ABSTRACT (HOST numeric, [v6] allowed)
//
// It keeps two network namespace fds (the host's and the container's) and creates each socket in
// the namespace it belongs to by switching this single-threaded process's namespace around the
// socket() call: a socket stays in the namespace it was created in. The listener is bound before
// the process detaches, so the caller reads "ok" or the reason on stdout. Then it runs as its
// own session (it survives the daemon) until the container's init exits or it is killed.
// Streams fork one relay child per connection; datagrams are relayed in the main loop with one
// connected socket per client address. Children die with the forwarder (PR_SET_PDEATHSIG).
#include "helper.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define UDP_CLIENTS 128

struct endpoint {
	int type; /* SOCK_STREAM or SOCK_DGRAM */
	struct sockaddr_storage addr;
	socklen_t len;
	int unix_path; /* a filesystem unix socket (not abstract) */
};

/* tcp:1.2.3.4:80, udp:[::1]:53, unix:/run/x.sock, unix:@name. `root` prefixes unix paths that
 * live in the container's filesystem (its root directory's fd), reached from the host's mount namespace. */
static int parse_endpoint(const char *spec, const char *root, struct endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ep->addr;
		const char *path = spec + 5;
		un->sun_family = AF_UNIX;
		ep->type = SOCK_STREAM;
		if (path[0] == '@') {
			size_t n = strlen(path);
			if (n > sizeof(un->sun_path)) return fail(0, "unix socket name too long: %s", spec);
			un->sun_path[0] = '\0';
			memcpy(un->sun_path + 1, path + 1, n - 1);
			ep->len = offsetof(struct sockaddr_un, sun_path) + n;
			return 0;
		}
		if (snprintf(un->sun_path, sizeof(un->sun_path), "%s%s", root, path) >= (int)sizeof(un->sun_path))
			return fail(0, "unix socket path too long: %s", spec);
		ep->len = sizeof(*un);
		ep->unix_path = 1;
		return 0;
	}
	if (strncmp(spec, "tcp:", 4) && strncmp(spec, "udp:", 4)) return fail(0, "unknown address family in %s", spec);
	ep->type = spec[0] == 't' ? SOCK_STREAM : SOCK_DGRAM;
	char host[128];
	const char *rest = spec + 4, *colon = strrchr(rest, ':');
	if (!colon || colon == rest) return fail(0, "missing port in %s", spec);
	size_t hl = colon - rest;
	if (rest[0] == '[' && hl >= 2 && rest[hl - 1] == ']') rest++, hl -= 2;
	if (hl >= sizeof(host)) return fail(0, "address too long in %s", spec);
	memcpy(host, rest, hl);
	host[hl] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) return fail(0, "invalid port in %s", spec);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ep->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ep->addr;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		ep->len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		ep->len = sizeof(*in6);
	} else {
		return fail(0, "invalid IP address in %s", spec);
	}
	return 0;
}

/* A socket created in network namespace `ns`; the process returns to `home` afterwards. */
static int socket_in(int ns, int home, const struct endpoint *ep)
{
	if (setns(ns, CLONE_NEWNET) < 0) return -1;
	int fd = socket(ep->addr.ss_family, ep->type | SOCK_CLOEXEC, 0);
	int saved = errno;
	if (setns(home, CLONE_NEWNET) < 0) _exit(1); /* never keep running in the wrong namespace */
	errno = saved;
	return fd;
}

/* Copies both ways until both directions reach end of file, passing half-closes on. */
static void relay(int a, int b)
{
	char buf[65536];
	int open_a = 1, open_b = 1;
	while (open_a || open_b) {
		struct pollfd p[2] = { { open_a ? a : -1, POLLIN, 0 }, { open_b ? b : -1, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR) continue;
			return;
		}
		for (int i = 0; i < 2; i++) {
			int from = i ? b : a, to = i ? a : b;
			if (!p[i].revents) continue;
			ssize_t n = read(from, buf, sizeof(buf));
			if (n < 0 && errno == EINTR) continue;
			if (n <= 0) {
				shutdown(to, SHUT_WR);
				if (i) open_b = 0; else open_a = 0;
				if (n < 0) return;
				continue;
			}
			if (write_all(to, buf, n) < 0) return;
		}
	}
}

static int connect_target(int ns, int home, const struct endpoint *ep)
{
	int fd = socket_in(ns, home, ep);
	if (fd < 0) return -1;
	if (connect(fd, (const struct sockaddr *)&ep->addr, ep->len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void serve_stream(int lfd, int cfd_ns, int home, const struct endpoint *conn, int pidfd)
{
	for (;;) {
		struct pollfd p[2] = { { lfd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR) continue;
			return;
		}
		if (p[1].revents) return;
		int client = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (client < 0) continue;
		pid_t pid = fork();
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(lfd);
			int target = connect_target(cfd_ns, home, conn);
			if (target >= 0) relay(client, target);
			_exit(0);
		}
		close(client);
	}
}

struct udp_client {
	struct sockaddr_storage addr;
	socklen_t len;
	int fd;
};

static void serve_dgram(int lfd, int cfd_ns, int home, const struct endpoint *conn, int pidfd)
{
	static struct udp_client clients[UDP_CLIENTS];
	static char buf[65536];
	int n_clients = 0, next_evict = 0;
	for (;;) {
		struct pollfd p[UDP_CLIENTS + 2] = { { lfd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		for (int i = 0; i < n_clients; i++) p[i + 2] = (struct pollfd){ clients[i].fd, POLLIN, 0 };
		if (poll(p, n_clients + 2, -1) < 0) {
			if (errno == EINTR) continue;
			return;
		}
		if (p[1].revents) return;
		for (int i = 0; i < n_clients; i++) {
			if (!p[i + 2].revents) continue;
			ssize_t n = recv(clients[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n >= 0) sendto(lfd, buf, n, 0, (struct sockaddr *)&clients[i].addr, clients[i].len);
		}
		if (!p[0].revents) continue;
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(lfd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0) continue;
		int k = -1;
		for (int i = 0; i < n_clients; i++)
			if (clients[i].len == flen && !memcmp(&clients[i].addr, &from, flen)) k = i;
		if (k < 0) {
			int fd = connect_target(cfd_ns, home, conn);
			if (fd < 0) continue;
			if (n_clients < UDP_CLIENTS) {
				k = n_clients++;
			} else {
				k = next_evict;
				next_evict = (next_evict + 1) % UDP_CLIENTS;
				close(clients[k].fd);
			}
			clients[k] = (struct udp_client){ .addr = from, .len = flen, .fd = fd };
		}
		send(clients[k].fd, buf, n, MSG_DONTWAIT);
	}
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 2; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], name)) return argv[i + 1];
	return def;
}

struct proxy {
	struct endpoint lep, cep;
	int pidfd, root, home, lfd, on_host;
	char root_path[32];
};

/* Everything up to a bound listener; the caller reports the error. */
static int proxy_setup(int argc, char **argv, struct proxy *p)
{
	const char *pidfd_s = opt(argc, argv, "--pidfd", NULL), *listen_s = opt(argc, argv, "--listen", NULL);
	const char *connect_s = opt(argc, argv, "--connect", NULL), *bind_s = opt(argc, argv, "--bind", "host");
	const char *mode = opt(argc, argv, "--mode", "0644");
	int uid = atoi(opt(argc, argv, "--uid", "0")), gid = atoi(opt(argc, argv, "--gid", "0"));
	if (!pidfd_s || !listen_s || !connect_s || !opt(argc, argv, "--pidfile", NULL))
		return fail(0, "usage: lxd-helper proxy --pidfd N --listen ADDR --connect ADDR --pidfile FILE");
	p->on_host = strcmp(bind_s, "instance") != 0;
	/* The container's unix sockets are reached through its root directory, held open. */
	if ((p->pidfd = target_pidfd(pidfd_s)) < 0 || (p->root = target_open(p->pidfd, "root", O_PATH | O_DIRECTORY)) < 0)
		return -1;
	snprintf(p->root_path, sizeof(p->root_path), "/proc/self/fd/%d", p->root);
	if (parse_endpoint(listen_s, p->on_host ? "" : p->root_path, &p->lep) < 0 ||
	    parse_endpoint(connect_s, p->on_host ? p->root_path : "", &p->cep) < 0)
		return -1;
	if (p->lep.type != p->cep.type)
		return fail(0, "listen and connect must both be streams or both datagrams (%s)", listen_s);
	if ((p->home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
		return fail(errno, "open /proc/self/ns/net");
	/* setns on the pidfd joins the container's network namespace for one socket() call. */
	p->lfd = socket_in(p->on_host ? p->home : p->pidfd, p->home, &p->lep);
	if (p->lfd < 0)
		return fail(errno, "cannot create the listening socket");
	int one = 1;
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (p->lep.unix_path) unlink(((struct sockaddr_un *)&p->lep.addr)->sun_path);
	if (bind(p->lfd, (struct sockaddr *)&p->lep.addr, p->lep.len) < 0) return fail(errno, "cannot listen");
	if (p->lep.unix_path) {
		const char *path = ((struct sockaddr_un *)&p->lep.addr)->sun_path;
		if (chmod(path, strtol(mode, NULL, 8)) < 0 || chown(path, uid, gid) < 0)
			return fail(errno, "cannot set the socket's owner and mode");
	}
	if (p->lep.type == SOCK_STREAM && listen(p->lfd, 128) < 0) return fail(errno, "cannot listen");
	return 0;
}

static int proxy_detach(const char *pidfile)
{
	/* Detach: a new session, reparented away from the caller, which gets "ok" once we run. */
	pid_t child = fork();
	if (child < 0) return fail(errno, "fork");
	if (child > 0) _exit(0);
	setsid();
	signal(SIGCHLD, SIG_IGN); /* relay children reap themselves */
	signal(SIGPIPE, SIG_IGN);
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", getpid());
	_cleanup_close_ int pf = open(pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (pf < 0 || write_all(pf, line, n) < 0) return fail(errno, "cannot write %s", pidfile);
	return 0;
}

int cmd_proxy(int argc, char **argv)
{
	struct proxy p = {.pidfd = -1, .root = -1, .home = -1, .lfd = -1};
	const char *pidfile = opt(argc, argv, "--pidfile", NULL);
	if (proxy_setup(argc, argv, &p) < 0 || proxy_detach(pidfile) < 0) {
		printf("error: %s\n", herr.msg);
		return 1;
	}
	printf("ok\n");
	fflush(stdout);
	int devnull = open("/dev/null", O_RDWR);
	dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2);
	if (devnull > 2) close(devnull);
	int target_ns = p.on_host ? p.pidfd : p.home;
	if (p.lep.type == SOCK_STREAM) serve_stream(p.lfd, target_ns, p.home, &p.cep, p.pidfd);
	else serve_dgram(p.lfd, target_ns, p.home, &p.cep, p.pidfd);
	if (p.lep.unix_path && p.on_host) unlink(((struct sockaddr_un *)&p.lep.addr)->sun_path);
	unlink(pidfile);
	return 0;
}
