// `lxd-helper start`: launches a container and becomes its monitor.
//
// The spawner's process forks the monitor (its own session, so it outlives the daemon) and exits
// once the monitor reports "ok PID" or "error MSG". The monitor clones init into new namespaces,
// writes its id maps, idmaps the rootfs layers, puts it in its cgroups, forks the builder into its
// pid and network namespaces (rootfs.c), then serves monitor.sock and console.sock until init
// exits.
//
// monitor.sock: a client is greeted with "running PID exec" ("exec": exec requests are taken)
// and told "exit CODE" when init exits. An exec request is one byte carrying four fds (stdin,
// stdout, stderr, control; SCM_RIGHTS) followed by the arguments; a runner (a fork) reads them
// and runs the command (exec.c), saving the daemon a process spawn. Requests go to exec.sock,
// served by the exec zygote, a child of the monitor already in init's cgroup v1 hierarchies (but
// pids) that creates each runner in init's cgroup2 directory: writing a pid into cgroup.procs
// waits for an RCU grace period (8-22 ms measured), which every exec would otherwise pay; the
// runner joins the v1 pids cgroup by moving its own thread, which does not wait (join_one).
// Without exec.sock (no zygote) requests go to monitor.sock and the monitor forks the runner.
#include "start.h"
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

void logf_(const char *fmt, ...)
{
	char buf[1024];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	write_all(2, buf, strlen(buf));
}

// Writes "ns host range" lines to /proc/PID/{uid,gid}_map (PID: our own unreaped child).
int write_idmap(pid_t pid, const char *kind, char **lines, int n)
{
	char path[64], data[4096] = "";
	snprintf(path, sizeof(path), "/proc/%d/%s_map", pid, kind);
	for (int i = 0; i < n; i++) {
		if (strlen(data) + strlen(lines[i]) + 2 > sizeof(data))
			return fail(E2BIG, "write %s", path);
		strcat(data, lines[i]);
		strcat(data, "\n");
	}
	if (write_file(path, data) < 0)
		return fail(errno, "write %s", path);
	return 0;
}

// Longest common directory of two absolute paths ("/a/b/upper", "/a/b/work" -> "/a/b").
static char *common_dir(const char *a, const char *b)
{
	size_t i = 0, last = 0;
	while (a[i] && a[i] == b[i]) {
		if (a[i] == '/')
			last = i;
		i++;
	}
	if ((!a[i] || a[i] == '/') && (!b[i] || b[i] == '/'))
		last = i;
	return strndup(a, last ? last : 1);
}

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	write_all(fd, buf, n > 0 ? n : 0);
}

#define MAX_CLIENTS 1024

// Serves monitor.sock until init exits; never returns.
// Reads an exec request's first byte and its fds: 1 when it is one, 0 at EOF or on an error, -1
// when nothing (yet) or something else arrived.
static int recv_request(int client, int fds[EXEC_FDS], int flags)
{
	char byte, cbuf[CMSG_SPACE(EXEC_FDS * sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n = recvmsg(client, &msg, MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -1 : 0;
	if (n == 0)
		return 0;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	int nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	memcpy(fds, CMSG_DATA(cm), (nfds < EXEC_FDS ? nfds : EXEC_FDS) * sizeof(int));
	if (nfds == EXEC_FDS && byte == 'x' && !(msg.msg_flags & MSG_CTRUNC))
		return 1;
	for (int i = 0; i < nfds && i < EXEC_FDS; i++)
		close(fds[i]);
	return -1;
}

static pid_t zygote = -1;

// fork(), with the child created in the cgroup2 directory `cgroup` when it is an fd (then closed):
// starting there costs nothing, while moving a process into a cgroup waits for an RCU grace
// period. Falls back to fork() (the runner then joins itself) when clone3 cannot.
static pid_t fork_into(int cgroup)
{
	if (cgroup < 0)
		return fork();
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
	} args = {.flags = H_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup};
	pid_t pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		pid = fork();
	if (pid != 0)
		close(cgroup);
	return pid;
}

// The zygote: in init's cgroups, it serves exec.sock and forks one runner per request.
static __attribute__((noreturn)) void zygote_main(int listen_fd, int init_pidfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	// Nothing of the monitor's but its log (0-2): the listener at 3, init's pidfd at 4.
	int l = fcntl(listen_fd, F_DUPFD_CLOEXEC, 100), p = fcntl(init_pidfd, F_DUPFD_CLOEXEC, 100);
	if (l < 0 || p < 0 || dup3(l, 3, O_CLOEXEC) < 0 || dup3(p, 4, O_CLOEXEC) < 0)
		_exit(1);
	syscall(SYS_close_range, 5, ~0U, 0);
	listen_fd = 3;
	init_pidfd = 4;
	signal(SIGCHLD, SIG_IGN); // runners are reaped by the kernel
	// cgroup v1 hierarchies only: a process left in the container's cgroup2 directory would
	// keep systemd inside from enabling controllers for its children (no internal processes);
	// and not pids, whose limit counts the container's processes only (LXD's limits.processes).
	if (join_cgroups(init_pidfd, JOIN_SKIP_UNIFIED | JOIN_SKIP_PIDS) < 0)
		logf_("exec zygote: %s (each exec joins the cgroups itself)", herr.msg);
	for (;;) {
		int client = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC), fds[EXEC_FDS];
		if (client < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		struct timeval tv = {.tv_sec = 2};
		setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (recv_request(client, fds, 0) == 1) {
			// init may have moved (systemd does, to init.scope): follow it once, here. The
			// runner starts in init's cgroup2 directory (clone3 CLONE_INTO_CGROUP: no move).
			join_cgroups(init_pidfd, JOIN_SKIP_UNIFIED | JOIN_SKIP_PIDS);
			pid_t runner = fork_into(init_unified_cgroup(init_pidfd));
			if (runner == 0) {
				close(listen_fd);
				exec_runner(client, fds, init_pidfd);
			}
			if (runner < 0) {
				fail(errno, "fork the exec runner");
				char line[1200];
				int len = snprintf(line, sizeof(line), "error %s\n", herr.msg);
				write_all(fds[EXEC_FDS - 1], line, len);
			}
			for (int i = 0; i < EXEC_FDS; i++)
				close(fds[i]);
		}
		close(client);
	}
}

// exec.sock (cwd = rundir) and the zygote behind it; without them exec requests come to
// monitor.sock and the monitor forks runners itself.
static void zygote_start(int init_pidfd)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = "exec.sock"};
	unlink(addr.sun_path);
	_cleanup_close_ int listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listen_fd, 64) < 0) {
		logf_("exec zygote: listen on exec.sock: %s", strerror(errno));
		return;
	}
	zygote = fork();
	if (zygote == 0)
		zygote_main(listen_fd, init_pidfd);
	if (zygote < 0)
		unlink(addr.sun_path);
}

// A client sent something: an exec request (its fds) makes the monitor fork a runner. 0 when
// the client is done.
static int client_input(int client, int init_pidfd)
{
	int fds[EXEC_FDS], r = recv_request(client, fds, MSG_DONTWAIT);
	if (r != 1)
		return r != 0;
	if (fork() == 0)
		exec_runner(client, fds, init_pidfd);
	for (int i = 0; i < EXEC_FDS; i++)
		close(fds[i]);
	return 0;
}

static __attribute__((noreturn)) void monitor_loop(pid_t init, int init_pidfd, int listen_fd, int sig_fd, const char *sock_path)
{
	struct pollfd pfd[2 + MAX_CLIENTS + 2 + CONSOLE_CLIENTS];
	int clients[MAX_CLIENTS], nclients = 0, code = -1;
	char line[64];
	zygote_start(init_pidfd);
	for (;;) {
		int status;
		pid_t w;
		while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
			if (w == init)
				code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
			if (w == zygote)
				zygote = -1;
		}
		if (code >= 0)
			break;
		pfd[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
		for (int i = 0; i < nclients; i++)
			pfd[2 + i] = (struct pollfd){.fd = clients[i], .events = POLLIN};
		int console_at = 2 + nclients, nfds = console_at + console_pollfds(pfd + console_at);
		if (poll(pfd, nfds, -1) < 0)
			continue;
		console_serve(pfd + console_at);
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			while (read(sig_fd, &si, sizeof(si)) > 0)
				;
		}
		// Disconnected clients and exec requests go (a runner has the request's connection).
		for (int i = nclients - 1; i >= 0; i--) {
			if (pfd[2 + i].revents && !client_input(clients[i], init_pidfd)) {
				close(clients[i]);
				clients[i] = clients[--nclients];
			}
		}
		if (pfd[1].revents & POLLIN) {
			int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c >= 0 && nclients < MAX_CLIENTS) {
				// Kept even if the greeting fails: an exec request may be queued behind a
				// client that has already closed its end.
				int n = snprintf(line, sizeof(line), "running %d exec\n", init);
				(void)!send(c, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
				clients[nclients++] = c;
			} else if (c >= 0) {
				close(c);
			}
		}
	}
	// The zygote is in the container's cgroups: gone before the daemon hears of the exit.
	if (zygote > 0) {
		kill(zygote, SIGKILL);
		waitpid(zygote, NULL, 0);
	}
	console_close();
	unlink("exec.sock");
	unlink(sock_path);
	unlink("init.pid");
	int n = snprintf(line, sizeof(line), "exit %d\n", code);
	for (int i = 0; i < nclients; i++) {
		write_all(clients[i], line, n);
		close(clients[i]);
	}
	logf_("init %d exited: %d", init, code);
	_exit(0);
}

// Forks the builder into init's pid and network namespaces (through a short-lived parent: setns
// into a pid namespace applies to children only). Its failures go to the error pipe.
static int spawn_builder(struct child_ctx *x, int init_pidfd, int userns_fd)
{
	pid_t pid = fork();
	if (pid < 0)
		return fail(errno, "fork builder");
	if (pid > 0)
		return 0;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setns(init_pidfd, CLONE_NEWNET | CLONE_NEWPID) < 0) {
		fail(errno, "join the container's pid and network namespaces");
		write_all(x->err_fd, herr.msg, strlen(herr.msg));
		_exit(1);
	}
	pid_t builder = fork();
	if (builder == 0)
		builder_main(x, userns_fd);
	int status = 0;
	trace_cpu(RUSAGE_SELF);
	while (builder > 0 && waitpid(builder, &status, 0) < 0 && errno == EINTR)
		;
	_exit(builder > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

// Clones each disk device's host path (in the host's mount namespace).
static int open_launch_mounts(struct config *c)
{
	for (int i = 0; i < c->nmounts; i++) {
		struct launch_mount *m = &c->mounts[i];
		struct stat st;
		if (stat(m->source, &st) < 0 || (m->fd = clone_tree(m->source)) < 0)
			return fail(errno, "disk source %s", m->source);
		m->is_dir = S_ISDIR(st.st_mode);
	}
	return 0;
}

// What the monitor made while starting: closed (and init killed) on every path out.
struct launch {
	struct child_ctx x;
	pid_t init;
	int init_pidfd, userns, sync_w, err_r, sock_w;
	int listen_fd, sig_fd;
	uint64_t joined; // bit i: init started in c->cgroups[i] (clone_init), nothing to write there
	char *rw_dir;
	struct sockaddr_un addr;
};

static void launch_release(struct launch *l)
{
	int fds[] = {l->userns, l->sync_w, l->err_r, l->sock_w, l->x.rw_fd, l->x.root_fd};
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		close_p(&fds[i]);
	for (int i = 0; i < l->x.nlower; i++)
		close(l->x.lower_fds[i]);
	for (int i = 0; i < l->x.cfg->nmounts; i++)
		close_p(&l->x.cfg->mounts[i].fd);
	free(l->rw_dir);
}

// Clones the rootfs layers (idmapped once the container's user namespace has its maps, and
// attached by init inside its own mount namespace) and the disk devices.
static int open_layers(struct launch *l)
{
	struct config *c = l->x.cfg;
	if (c->bind) {
		if ((l->x.root_fd = clone_tree(c->bind)) < 0)
			return fail(errno, "open_tree %s", c->bind);
		return open_launch_mounts(c);
	}
	if (!(l->rw_dir = common_dir(c->upper, c->work)))
		return fail(ENOMEM, "rootfs_overlay");
	size_t n = strlen(l->rw_dir) == 1 ? 1 : strlen(l->rw_dir) + 1;
	l->x.upper_rel = strlen(c->upper) > n ? c->upper + n : ".";
	l->x.work_rel = strlen(c->work) > n ? c->work + n : ".";
	for (int i = 0; i <= c->nlayers; i++) {
		const char *layer = i < c->nlayers ? c->layers[i] : c->lower;
		if ((l->x.lower_fds[i] = clone_tree(layer)) < 0)
			return fail(errno, "open_tree %s", layer);
		l->x.nlower = i + 1;
	}
	if ((l->x.rw_fd = clone_tree(l->rw_dir)) < 0)
		return fail(errno, "open_tree %s", l->rw_dir);
	return open_launch_mounts(c);
}

// Id maps, idmapped layers, cgroups: what init waits for before it builds its root.
static int prepare_init(struct launch *l)
{
	struct config *c = l->x.cfg;
	if (!c->privileged) {
		if (write_idmap(l->init, "uid", c->uidmap, c->nuid) < 0 || write_idmap(l->init, "gid", c->gidmap, c->ngid) < 0)
			return -1;
		trace_mark("m_idmap_write");
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", l->init);
		if ((l->userns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return fail(errno, "open %s", path);
		if (l->x.root_fd >= 0 && idmap_tree(l->x.root_fd, l->userns, 0) < 0)
			return fail(errno, "idmap %s", c->bind);
		for (int i = 0; i < l->x.nlower; i++)
			if (idmap_tree(l->x.lower_fds[i], l->userns, 0) < 0)
				return fail(errno, "idmap %s", i < c->nlayers ? c->layers[i] : c->lower);
		if (l->x.rw_fd >= 0 && idmap_tree(l->x.rw_fd, l->userns, 0) < 0)
			return fail(errno, "idmap %s", l->rw_dir);
	}
	for (int i = 0; i < c->nmounts; i++)
		if (idmap_tree(c->mounts[i].fd, l->userns, c->mounts[i].ro) < 0)
			return fail(errno, "idmap %s", c->mounts[i].source);
	trace_mark("m_idmap_trees");
	char pidstr[32];
	snprintf(pidstr, sizeof(pidstr), "%d", l->init);
	for (int i = 0; i < c->ncg; i++)
		if (!(l->joined & (1ULL << i)) && write_file(c->cgroups[i], pidstr) < 0)
			return fail(errno, "join cgroup %s", c->cgroups[i]);
	trace_mark("m_cgroups");
	return 0;
}

// Creates init (clone `flags`) already in its cgroups; returns its pid, 0 in init. Writing a pid
// into cgroup.procs waits for an RCU grace period (12-21 ms measured, the largest part of a
// start), but two ways in do not: a single-threaded process moving itself ("0" into a v1
// hierarchy's `tasks`) and a child created in a cgroup2 directory (clone3 CLONE_INTO_CGROUP). So
// a short-lived fork of the monitor joins the v1 cgroups and creates init as the monitor's child
// (CLONE_PARENT) in the cgroup2 one; prepare_init writes init into whatever it could not join
// (l->joined says which). When that fork cannot create init (the forker itself counts against a
// pids limit of 1, no clone3), the monitor clones init itself and prepare_init moves it.
static pid_t clone_init(struct launch *l, uint64_t flags)
{
	struct config *c = l->x.cfg;
	struct {
		pid_t init;
		int err;
		uint64_t joined;
	} r = {0};
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(errno, "pipe");
	_cleanup_close_ int rd = p[0];
	pid_t forker = fork();
	if (forker < 0) {
		close(p[1]);
		return fail(errno, "fork");
	}
	if (forker == 0) {
		_cleanup_close_ int cgroup2 = -1;
		int at2 = -1;
		for (int i = 0; i < c->ncg && i < 64; i++) {
			char dir[PATH_MAX], tasks[PATH_MAX + 8];
			snprintf(dir, sizeof(dir), "%s", c->cgroups[i]);
			char *slash = strrchr(dir, '/');
			struct statfs fs;
			if (!slash || statfs(c->cgroups[i], &fs) < 0)
				continue;
			*slash = 0;
			snprintf(tasks, sizeof(tasks), "%s/tasks", dir);
			if (fs.f_type == CGROUP2_SUPER_MAGIC) {
				if (cgroup2 < 0 && (cgroup2 = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
					at2 = i;
			} else if (write_file(tasks, "0") == 0) {
				r.joined |= 1ULL << i;
			}
		}
		trace_mark("f_cgroups");
		struct {
			uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
		} args = {.flags = flags | CLONE_PARENT | (cgroup2 >= 0 ? H_CLONE_INTO_CGROUP : 0), .cgroup = (uint64_t)cgroup2};
		pid_t pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid < 0 && cgroup2 >= 0) {
			args.flags &= ~H_CLONE_INTO_CGROUP; // before Linux 5.7: prepare_init moves it
			at2 = -1;
			pid = syscall(SYS_clone3, &args, sizeof(args));
		}
		if (pid == 0) {
			close(p[1]);
			return 0; // init, the monitor's child
		}
		if (at2 >= 0)
			r.joined |= 1ULL << at2;
		r.init = pid;
		r.err = pid < 0 ? errno : 0;
		trace_mark("f_clone");
		trace_cpu(RUSAGE_SELF);
		_exit(write_all(p[1], &r, sizeof(r)) < 0);
	}
	close(p[1]);
	ssize_t n;
	while ((n = read(rd, &r, sizeof(r))) < 0 && errno == EINTR)
		;
	while (waitpid(forker, NULL, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(r) || r.init <= 0) {
		l->init = syscall(SYS_clone, flags | H_CLONE_PIDFD | SIGCHLD, 0, &l->init_pidfd, 0, 0);
		if (l->init < 0)
			return fail(errno, "clone");
		return l->init;
	}
	l->joined = r.joined;
	l->init = r.init;
	// init is our unreaped child: its pid cannot be reused before we wait for it.
	if ((l->init_pidfd = syscall(SYS_pidfd_open, r.init, 0)) < 0)
		return fail(errno, "pidfd_open init");
	return r.init;
}

// Boots: creates init in its new namespaces and waits until it has executed /sbin/init.
static int boot_init(struct launch *l, int report_fd)
{
	struct config *c = l->x.cfg;
	int sync_fds[2], err_fds[2], sock_fds[2];
	if (pipe2(sync_fds, O_CLOEXEC) < 0)
		return fail(errno, "pipe");
	l->sync_w = sync_fds[1];
	_cleanup_close_ int sync_r = sync_fds[0];
	if (pipe2(err_fds, O_CLOEXEC) < 0)
		return fail(errno, "pipe");
	l->err_r = err_fds[0];
	_cleanup_close_ int err_w = err_fds[1];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock_fds) < 0)
		return fail(errno, "socketpair");
	l->sock_w = sock_fds[1];
	_cleanup_close_ int sock_r = sock_fds[0];

	// init_pidfd: the builder joins init's namespaces through a pidfd, never through its pid.
	pid_t init = clone_init(l, (c->privileged ? 0 : CLONE_NEWUSER) | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
				       CLONE_NEWNET);
	if (init < 0)
		return -1;
	if (init > 0)
		trace_mark("m_clone");
	if (init == 0) {
		// Only init's ends stay open here: the monitor's ends must see EOF when init dies, and
		// init's reads when the monitor or the builder dies.
		close(report_fd);
		close(l->sync_w);
		close(l->err_r);
		close(l->sock_w);
		l->x.sync_fd = sync_r;
		l->x.err_fd = err_w;
		l->x.sock_fd = sock_r;
		init_main(&l->x);
	}
	if (prepare_init(l) < 0)
		return -1;
	if (write_all(l->sync_w, "x", 1) < 0)
		return fail(errno, "release init");
	close_p(&l->sync_w);
	l->sync_w = -1;
	l->x.err_fd = err_w;
	l->x.sock_fd = l->sock_w;
	if (spawn_builder(&l->x, l->init_pidfd, l->userns) < 0)
		return -1;
	trace_mark("m_spawn_builder");
	// Only init and the builder may hold these now: either one's exit must end the other's wait.
	close_p(&l->sock_w);
	l->sock_w = -1;
	close_p(&err_w);
	err_w = -1;

	// EOF on the close-on-exec error pipe means execve succeeded.
	size_t len = 0;
	_cleanup_free_ char *childerr = read_all(l->err_r, &len);
	if (childerr && len)
		return fail(0, "%s", childerr);
	trace_mark("m_exec_seen");
	return 0;
}

static int launch(struct launch *l, int report_fd)
{
	struct config *c = l->x.cfg;
	if (console_open(c) < 0)
		return -1;
	trace_mark("m_console");
	if (open_layers(l) < 0)
		return -1;
	trace_mark("m_layers");
	l->x.console_path = console_path();
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if ((l->sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		return fail(errno, "signalfd");
	if (c->restore_dir ? restore_init(&l->x, &l->init, &l->init_pidfd) < 0 : boot_init(l, report_fd) < 0)
		return -1;

	char pidstr[32];
	snprintf(pidstr, sizeof(pidstr), "%d", l->init);
	_cleanup_close_ int pf = open("init.pid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (pf < 0 || write_all(pf, pidstr, strlen(pidstr)) < 0)
		return fail(errno, "write init.pid");
	l->addr.sun_family = AF_UNIX;
	if (snprintf(l->addr.sun_path, sizeof(l->addr.sun_path), "%s/monitor.sock", c->rundir) >= (int)sizeof(l->addr.sun_path))
		return fail(ENAMETOOLONG, "%s/monitor.sock", c->rundir);
	unlink(l->addr.sun_path);
	l->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->listen_fd < 0 || bind(l->listen_fd, (struct sockaddr *)&l->addr, sizeof(l->addr)) < 0 || listen(l->listen_fd, 64) < 0)
		return fail(errno, "listen on %s", l->addr.sun_path);
	if (console_listen(c->rundir) < 0)
		return -1;
	trace_mark("m_listen");
	return 0;
}

// Redirects the monitor's stdio to monitor.log (cwd = rundir) and /dev/null.
static int monitor_stdio(struct config *c)
{
	if (chdir(c->rundir) < 0)
		return fail(errno, "chdir %s", c->rundir);
	_cleanup_close_ int log = open("monitor.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	_cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (log < 0 || null < 0)
		return fail(errno, "open %s/monitor.log", c->rundir);
	if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		return fail(errno, "redirect the monitor's output");
	return 0;
}

// The detached monitor: launches init, reports "ok PID" or "error MSG" on report_fd.
static __attribute__((noreturn)) void run_monitor(struct config *c, int report_fd)
{
	struct launch l = {.x = {.cfg = c, .rw_fd = -1, .root_fd = -1}, .init = -1, .init_pidfd = -1, .userns = -1,
			   .sync_w = -1, .err_r = -1, .sock_w = -1, .listen_fd = -1, .sig_fd = -1};
	setsid();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	int ok = monitor_stdio(c) == 0;
	trace_mark("m_stdio");
	if (ok) {
		logf_("starting %s", c->name);
		ok = launch(&l, report_fd) == 0;
	}
	launch_release(&l);
	if (!ok) {
		close_p(&l.init_pidfd);
		if (l.init > 0) {
			kill(l.init, SIGKILL);
			waitpid(l.init, NULL, 0);
		}
		logf_("start failed: %s", herr.msg);
		report(report_fd, "error %s\n", herr.msg);
		_exit(1);
	}
	logf_("init %d running", l.init);
	trace_cpu(RUSAGE_SELF);
	char trace[1024];
	trace_format(trace, sizeof(trace));
	report(report_fd, "ok %d%s\n", l.init, trace);
	trace_done();
	close(report_fd);
	monitor_loop(l.init, l.init_pidfd, l.listen_fd, l.sig_fd, l.addr.sun_path);
}

int cmd_start(void)
{
	trace_init();
	_cleanup_free_ char *text = read_all(0, NULL);
	struct config cfg;
	int rep[2];
	if (!text)
		fail(errno, "read config");
	else if (parse_config(text, &cfg) == 0 && pipe2(rep, O_CLOEXEC) < 0)
		fail(errno, "pipe");
	else if (!herr.msg[0]) {
		trace_mark("s_config");
		trace_cpu(RUSAGE_SELF);
		pid_t mon = fork();
		if (mon == 0) {
			close(rep[0]);
			run_monitor(&cfg, rep[1]);
		}
		close(rep[1]);
		if (mon < 0) {
			fail(errno, "fork");
		} else {
			// The spawner sees this process exit as soon as the monitor has reported.
			_cleanup_free_ char *msg = read_all(rep[0], NULL);
			close(rep[0]);
			if (msg && !strncmp(msg, "ok ", 3)) {
				fputs(msg, stdout);
				return 0;
			}
			if (msg && *msg) {
				fputs(msg, stdout);
				return 1;
			}
			waitpid(mon, NULL, 0);
			fail(0, "monitor died during start");
		}
	}
	printf("error %s\n", herr.msg);
	return 1;
}
