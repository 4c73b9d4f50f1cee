// `lxd-helper exec --pidfd N [--cwd DIR --uid N --gid N --env K=V... --pty COLSxROWS
//  --seccomp HEX] -- CMD ARGS...`: runs a command inside a running container.
//
// The helper joins the container's cgroups and namespaces (setns on the pidfd), becomes container
// root and vforks the command. Everything the child needs (PATH candidates, directories,
// capability sets) is prepared before the vfork: between vfork and execve the child makes raw
// system calls only (async-signal-safe), and reports a failure as {step, errno} on a pipe, which
// the parent turns into a message. fd 3, when passed, is the control channel: "resize C R" and
// "signal N" in; "exit N" or "error MSG" out, after "trace start=MS joined=MS exec=MS exit=MS"
// (CLOCK_MONOTONIC) with --trace. With a pty the helper relays it (stdin, stdout);
// without one the command writes straight into the pipes the daemon gave.
#include "helper.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <linux/capability.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ENV 256
#define MAX_PATHS 64

struct exec_opts {
	int pidfd;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	char *env[MAX_ENV];
	int nenv, pty, cols, rows, trace;
	struct sock_fprog seccomp;
	char **argv;
};

static int ctl_fd = -1;

// Phase marks for --trace (CLOCK_MONOTONIC, ms).
enum { T_START, T_JOINED, T_EXEC, T_EXIT, T_COUNT };
static double marks[T_COUNT];

static void mark(int phase)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	marks[phase] = t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int parse_exec_args(int argc, char **argv, struct exec_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pidfd = -1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		char *v = i + 1 < argc ? argv[i + 1] : NULL;
		long n;
		if (!strcmp(a, "--")) {
			o->argv = argv + i + 1;
			break;
		}
		if (!strcmp(a, "--trace")) {
			o->trace = 1;
			continue;
		}
		if (!v)
			return fail(0, "option %s needs a value", a);
		if (!strcmp(a, "--pidfd")) {
			if ((o->pidfd = target_pidfd(v)) < 0)
				return -1;
		} else if (!strcmp(a, "--cwd")) {
			o->cwd = v;
		} else if (!strcmp(a, "--uid") || !strcmp(a, "--gid")) {
			if ((n = parse_long(v, 10, 0, UINT32_MAX - 1)) < 0)
				return fail(0, "%s wants an id", a);
			if (a[2] == 'u')
				o->uid = n;
			else
				o->gid = n;
		} else if (!strcmp(a, "--env")) {
			if (add_item(o->env, &o->nenv, MAX_ENV, v))
				return fail(0, "too many --env");
		} else if (!strcmp(a, "--pty")) {
			if (sscanf(v, "%dx%d", &o->cols, &o->rows) != 2)
				return fail(0, "--pty wants COLSxROWS");
			o->pty = 1;
		} else if (!strcmp(a, "--seccomp")) {
			if (parse_bpf(v, &o->seccomp) < 0)
				return -1;
		} else {
			return fail(0, "unknown option %s", a);
		}
		i++;
	}
	if (o->pidfd < 0 || !o->argv || !o->argv[0])
		return fail(0, "usage: lxd-helper exec --pidfd N [options] -- CMD [ARGS...]");
	return 0;
}

static const char *getenv_in(char **env, const char *key)
{
	size_t k = strlen(key);
	for (; *env; env++)
		if (!strncmp(*env, key, k) && (*env)[k] == '=')
			return *env + k + 1;
	return NULL;
}

// Calls visit(dir, controllers, arg) with the directory of each cgroup init is in where this
// process is not (controllers "": the cgroup2 hierarchy); stops at the first visit that does not
// return 0.
static int foreign_cgroups(int pidfd, int (*visit)(const char *dir, const char *controllers, void *arg), void *arg)
{
	_cleanup_close_ int fd = target_open(pidfd, "cgroup", O_RDONLY);
	_cleanup_close_ int sfd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (sfd < 0 || mfd < 0)
		return fail(errno, "read this process's cgroups");
	_cleanup_free_ char *groups = read_all(fd, NULL);
	_cleanup_free_ char *mine = read_all(sfd, NULL);
	_cleanup_free_ char *mounts = read_all(mfd, NULL);
	if (!groups || !mine || !mounts)
		return fail(errno, "read cgroups");
	for (char *gs, *g = strtok_r(groups, "\n", &gs); g; g = strtok_r(NULL, "\n", &gs)) {
		// Hierarchies where we already share init's cgroup need nothing.
		char line[PATH_MAX + 300];
		snprintf(line, sizeof(line), "\n%s\n", g);
		if (!strncmp(mine, line + 1, strlen(line + 1)) || strstr(mine, line))
			continue;
		// "ID:controllers:/path"
		char *ctrls = strchr(g, ':'), *cpath = ctrls ? strchr(ctrls + 1, ':') : NULL;
		if (!cpath)
			continue;
		*ctrls++ = 0;
		*cpath++ = 0;
		int v2 = !strcmp(g, "0") && !*ctrls;
		// mountinfo: "id parent maj:min root mountpoint opts ... - fstype source superopts"
		_cleanup_free_ char *copy = strdup(mounts);
		if (!copy)
			return fail(ENOMEM, "read cgroups");
		for (char *ms, *m = strtok_r(copy, "\n", &ms); m; m = strtok_r(NULL, "\n", &ms)) {
			char root[PATH_MAX], mnt[PATH_MAX], fstype[32], super[512];
			char *dash = strstr(m, " - ");
			if (!dash || sscanf(m, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
			    sscanf(dash + 3, "%31s %*s %511s", fstype, super) != 2)
				continue;
			int match = v2 ? !strcmp(fstype, "cgroup2") : !strcmp(fstype, "cgroup");
			if (match && !v2) {
				// Every controller of this hierarchy must be among the mount's options.
				char wanted[256], hay[520];
				snprintf(wanted, sizeof(wanted), "%s", ctrls);
				snprintf(hay, sizeof(hay), ",%s,", super);
				for (char *ws, *w = strtok_r(wanted, ",", &ws); w && match; w = strtok_r(NULL, ",", &ws)) {
					char needle[300];
					snprintf(needle, sizeof(needle), ",%s,", w);
					match = strstr(hay, needle) != NULL;
				}
			}
			size_t rl = strlen(root);
			if (!match || strncmp(cpath, root, rl) || (rl > 1 && cpath[rl] && cpath[rl] != '/'))
				continue;
			char dir[2 * PATH_MAX + 2];
			snprintf(dir, sizeof(dir), "%s%s", mnt, rl > 1 ? cpath + rl : cpath);
			int r = visit(dir, v2 ? "" : ctrls, arg);
			if (r)
				return r;
			break;
		}
	}
	return 0;
}

// Whether the comma-separated `list` names `name`.
static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return 1;
	return 0;
}

static int join_one(const char *dir, const char *controllers, void *skip)
{
	int flags = *(int *)skip;
	if (((flags & JOIN_SKIP_UNIFIED) && !*controllers) || ((flags & JOIN_SKIP_PIDS) && listed(controllers, "pids")))
		return 0;
	// Every caller is single-threaded, so on v1 moving the calling thread ("0" into `tasks`) moves
	// the process, and the kernel skips the global threadgroup lock for that case: writing a pid
	// into cgroup.procs waits for an RCU grace period (12-16 ms measured), this takes 25 us.
	char procs[2 * PATH_MAX + 16], self[32];
	snprintf(procs, sizeof(procs), "%s/%s", dir, *controllers ? "tasks" : "cgroup.procs");
	snprintf(self, sizeof(self), "%d", *controllers ? 0 : getpid());
	if (write_file(procs, self) < 0)
		return fail(errno, "join cgroup %s", procs);
	return 0;
}

// Joins every cgroup the container's init is in (before leaving the host's user namespace), but
// those `skip` (JOIN_SKIP_*) leaves out.
int join_cgroups(int pidfd, int skip)
{
	return foreign_cgroups(pidfd, join_one, &skip) < 0 ? -1 : 0;
}

static int open_unified(const char *dir, const char *controllers, void *fd)
{
	if (*controllers)
		return 0;
	*(int *)fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return 1;
}

// An fd of init's cgroup2 directory when this process is not in it, else -1.
int init_unified_cgroup(int pidfd)
{
	int fd = -1;
	return foreign_cgroups(pidfd, open_unified, &fd) < 0 ? -1 : fd;
}

// ---- the child, between vfork and execve ----

enum step { STEP_SETSID, STEP_PTY, STEP_CTTY, STEP_CHOWN_PTY, STEP_DUP, STEP_CAPS, STEP_SECCOMP, STEP_SETGID, STEP_SETUID, STEP_CHDIR };
static const char *const step_names[] = {"setsid", "open pty slave", "set controlling terminal", "chown pty",
					 "dup pty", "drop capabilities", "install seccomp filter", "setgid",
					 "setuid", "chdir"};

struct child_error {
	int step, err;
};

// Everything the child uses, prepared by the parent before the vfork.
struct exec_plan {
	const struct exec_opts *o;
	int master, err_fd;
	char *paths[MAX_PATHS + 1]; // execve candidates, PATH already searched
	const char *dirs[3];        // working directory candidates: the first that works (the last may fail)
	int ndirs, strict_dir;      // strict_dir: --cwd, failing is an error
	struct __user_cap_header_struct cap_hdr;
	struct __user_cap_data_struct cap_data[2];
	sigset_t no_signals;
	struct sigaction dfl;
};

// LXD drops these from every container (as drop_caps in util.c).
static const int dropped_caps[] = {25, 16, 17, 33, 32};

static __attribute__((noreturn)) void child_fail(const struct exec_plan *p, int step)
{
	struct child_error e = {.step = step, .err = errno};
	(void)!write(p->err_fd, &e, sizeof(e));
	_exit(255);
}

static __attribute__((noreturn)) void exec_child(struct exec_plan *p)
{
	const struct exec_opts *o = p->o;
	if (setsid() < 0)
		child_fail(p, STEP_SETSID);
	if (o->pty) {
		int slave = ioctl(p->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			child_fail(p, STEP_PTY);
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			child_fail(p, STEP_CTTY);
		if (o->uid && fchown(slave, o->uid, -1) < 0)
			child_fail(p, STEP_CHOWN_PTY);
		if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
			child_fail(p, STEP_DUP);
	}
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &p->dfl, NULL);
	sigprocmask(SIG_SETMASK, &p->no_signals, NULL);
	cloexec_from(3);
	for (size_t i = 0; i < ARRAY_SIZE(dropped_caps); i++)
		if (prctl(PR_CAPBSET_DROP, dropped_caps[i], 0, 0, 0) < 0 && errno != EINVAL)
			child_fail(p, STEP_CAPS);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &p->cap_hdr, p->cap_data) < 0)
		child_fail(p, STEP_CAPS);
	// Installed while still privileged in the container's namespace: no NO_NEW_PRIVS needed.
	if (install_seccomp(&o->seccomp) < 0)
		child_fail(p, STEP_SECCOMP);
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, o->gid, o->gid, o->gid) < 0)
		child_fail(p, STEP_SETGID);
	if (syscall(SYS_setresuid, o->uid, o->uid, o->uid) < 0)
		child_fail(p, STEP_SETUID);
	for (int i = 0; i < p->ndirs; i++) {
		if (chdir(p->dirs[i]) == 0)
			break;
		if (p->strict_dir)
			child_fail(p, STEP_CHDIR);
	}
	int denied = 0;
	for (char **path = p->paths; *path; path++) {
		execve(*path, o->argv, (char **)o->env);
		if (errno != ENOENT && errno != ENOTDIR)
			denied = 1;
	}
	_exit(denied ? 126 : 127);
}

// ---- the parent ----

// Fills the plan: PATH candidates, working directories, the capability sets to keep.
static int plan_exec(struct exec_plan *p)
{
	const struct exec_opts *o = p->o;
	int n = 0;
	if (strchr(o->argv[0], '/')) {
		p->paths[n++] = o->argv[0];
	} else {
		const char *path = getenv_in((char **)o->env, "PATH");
		for (const char *s = path ? path : DEFAULT_PATH; *s && n < MAX_PATHS;) {
			const char *end = strchrnul(s, ':');
			if (asprintf(&p->paths[n], "%.*s%s%s", (int)(end - s), s, end > s ? "/" : "", o->argv[0]) < 0)
				return fail(ENOMEM, "exec");
			n++;
			s = *end ? end + 1 : end;
		}
	}
	p->paths[n] = NULL;
	if (o->cwd) {
		p->dirs[p->ndirs++] = o->cwd;
		p->strict_dir = 1;
	} else {
		const char *home = getenv_in((char **)o->env, "HOME");
		if (o->uid == 0)
			p->dirs[p->ndirs++] = "/root";
		if (home)
			p->dirs[p->ndirs++] = home;
		p->dirs[p->ndirs++] = "/";
	}
	p->cap_hdr = (struct __user_cap_header_struct){.version = _LINUX_CAPABILITY_VERSION_3};
	if (syscall(SYS_capget, &p->cap_hdr, p->cap_data) < 0)
		return fail(errno, "capget");
	for (size_t i = 0; i < ARRAY_SIZE(dropped_caps); i++) {
		uint32_t bit = 1U << (dropped_caps[i] % 32);
		struct __user_cap_data_struct *d = &p->cap_data[dropped_caps[i] / 32];
		d->effective &= ~bit;
		d->permitted &= ~bit;
		d->inheritable &= ~bit;
	}
	sigemptyset(&p->no_signals);
	p->dfl = (struct sigaction){.sa_handler = SIG_DFL};
	return 0;
}

static int child_error_message(const struct exec_plan *p, const struct child_error *e)
{
	const struct exec_opts *o = p->o;
	const char *what = e->step >= 0 && e->step <= STEP_CHDIR ? step_names[e->step] : "exec";
	if (e->step == STEP_SETGID)
		return fail(e->err, "%s %u", what, o->gid);
	if (e->step == STEP_SETUID)
		return fail(e->err, "%s %u", what, o->uid);
	if (e->step == STEP_CHDIR)
		return fail(e->err, "%s %s", what, o->cwd);
	return fail(e->err, "%s", what);
}

// Relays stdin -> pty master and master -> stdout, and serves the control channel, until the
// child is gone. Returns the child's exit code.
static int exec_loop(pid_t child, int master)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	char ctl_buf[256], in_buf[4096], out_buf[16384];
	size_t ctl_len = 0, in_len = 0, in_off = 0;
	int code = -1, stdin_open = master >= 0, ctl_open = ctl_fd >= 0, master_open = master >= 0;
	struct timespec exited_at = {0};
	for (;;) {
		int status;
		if (code < 0 && waitpid(child, &status, WNOHANG) == child) {
			code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
			clock_gettime(CLOCK_MONOTONIC, &exited_at);
			mark(T_EXIT);
			stdin_open = 0;
		}
		if (code >= 0 && !master_open)
			return code;
		struct pollfd pfd[4];
		int n = 0, i_sig = n++, i_ctl = -1, i_in = -1, i_master = -1;
		pfd[i_sig] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		if (ctl_open) {
			i_ctl = n++;
			pfd[i_ctl] = (struct pollfd){.fd = ctl_fd, .events = POLLIN};
		}
		if (stdin_open && in_len == 0) {
			i_in = n++;
			pfd[i_in] = (struct pollfd){.fd = 0, .events = POLLIN};
		}
		if (master_open) {
			i_master = n++;
			pfd[i_master] = (struct pollfd){.fd = master, .events = POLLIN | (in_len ? POLLOUT : 0)};
		}
		// After the child exits, output still queued in the pty is drained until EIO or until
		// it stays quiet briefly: a background process may hold the pty open forever.
		int timeout = -1;
		if (code >= 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long ms = (now.tv_sec - exited_at.tv_sec) * 1000 + (now.tv_nsec - exited_at.tv_nsec) / 1000000;
			if (ms > 2000)
				return code;
			timeout = 30;
		}
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && code >= 0)
			return code;
		if (pfd[i_sig].revents) {
			struct signalfd_siginfo si;
			while (read(sig_fd, &si, sizeof(si)) > 0)
				;
		}
		if (i_ctl >= 0 && pfd[i_ctl].revents) {
			ssize_t got = read(ctl_fd, ctl_buf + ctl_len, sizeof(ctl_buf) - 1 - ctl_len);
			if (got <= 0) {
				ctl_open = 0;
			} else {
				ctl_len += got;
				ctl_buf[ctl_len] = 0;
				char *nl;
				while ((nl = strchr(ctl_buf, '\n'))) {
					*nl = 0;
					int a, b;
					if (sscanf(ctl_buf, "resize %d %d", &a, &b) == 2 && master >= 0) {
						struct winsize ws = {.ws_row = b, .ws_col = a};
						ioctl(master, TIOCSWINSZ, &ws);
					} else if (sscanf(ctl_buf, "signal %d", &a) == 1 && code < 0) {
						kill(child, a);
					}
					ctl_len -= nl + 1 - ctl_buf;
					memmove(ctl_buf, nl + 1, ctl_len + 1);
				}
				if (ctl_len == sizeof(ctl_buf) - 1)
					ctl_len = 0; // an overlong line is dropped
			}
		}
		if (i_in >= 0 && pfd[i_in].revents) {
			ssize_t got = read(0, in_buf, sizeof(in_buf));
			if (got > 0) {
				in_len = got;
				in_off = 0;
			} else if (got == 0 || errno != EINTR) {
				// End of input on a terminal: the EOF character, as a typed ^D would send.
				struct termios t;
				in_buf[0] = tcgetattr(master, &t) == 0 ? t.c_cc[VEOF] : 4;
				in_len = 1;
				in_off = 0;
				stdin_open = 0;
			}
		}
		if (i_master >= 0 && (pfd[i_master].revents & POLLOUT) && in_len) {
			ssize_t put = write(master, in_buf + in_off, in_len);
			if (put > 0) {
				in_off += put;
				in_len -= put;
			}
		}
		if (i_master >= 0 && (pfd[i_master].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(master, out_buf, sizeof(out_buf));
			if (got > 0) {
				// A failed write means the reader went away; keep serving until the child exits.
				(void)write_all(1, out_buf, got);
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				master_open = 0; // EIO: every slave fd is closed and the data drained
			}
		}
	}
}

// Joins the container and starts the command; returns the child's pid (the pty master in *master).
static pid_t exec_start(struct exec_opts *o, int *master)
{
	if (join_cgroups(o->pidfd, 0) < 0)
		return -1;
	if (target_enter(o->pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
					   CLONE_NEWCGROUP) < 0)
		return -1;
	mark(T_JOINED);
	close(o->pidfd);
	// Container root from here on: files (such as the pty) are created as it.
	if (become_root() < 0)
		return -1;
	if (o->pty) {
		// The container's own devpts (we are in its mount namespace), so `tty` works inside.
		int unlock = 0;
		*master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		if (*master < 0 || ioctl(*master, TIOCSPTLCK, &unlock) < 0)
			return fail(errno, "open /dev/ptmx");
		struct winsize ws = {.ws_row = o->rows, .ws_col = o->cols};
		ioctl(*master, TIOCSWINSZ, &ws);
	}
	struct exec_plan plan = {.o = o, .master = *master};
	int err[2];
	if (plan_exec(&plan) < 0)
		return -1;
	if (pipe2(err, O_CLOEXEC) < 0)
		return fail(errno, "pipe");
	_cleanup_close_ int err_r = err[0];
	plan.err_fd = err[1];
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	// vfork: the child runs at once with no copy-on-write faults (measured: about 3 ms less to
	// first output than fork). It only makes raw system calls on memory prepared above.
	pid_t child = vfork();
	if (child == 0)
		exec_child(&plan);
	int vfork_errno = errno;
	mark(T_EXEC); // the child has called execve (or failed): vfork returns then
	close(err[1]);
	for (char **p = plan.paths; *p; p++)
		if (*p != o->argv[0])
			free(*p);
	if (child < 0)
		return fail(vfork_errno, "fork");
	struct child_error e;
	ssize_t n;
	while ((n = read(err_r, &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (n == sizeof(e)) {
		waitpid(child, NULL, 0);
		return child_error_message(&plan, &e);
	}
	return child;
}

int cmd_exec(int argc, char **argv)
{
	mark(T_START);
	// The control channel is fd 3 when the spawner passed one; check before opening anything.
	if (fcntl(3, F_GETFD) >= 0 && fcntl(3, F_SETFD, FD_CLOEXEC) == 0)
		ctl_fd = 3;
	// Not dumpable: container root must never reach this host binary via /proc/PID/exe.
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	struct exec_opts o;
	int master = -1;
	pid_t child = parse_exec_args(argc, argv, &o) < 0 ? -1 : exec_start(&o, &master);
	char line[1200];
	if (child < 0) {
		int n = snprintf(line, sizeof(line), "error %s\n", herr.msg);
		if (ctl_fd >= 0)
			write_all(ctl_fd, line, n);
		fprintf(stderr, "lxd-helper exec: %s\n", herr.msg);
		return 255;
	}
	int code = exec_loop(child, master);
	if (ctl_fd >= 0) {
		int n = 0;
		if (o.trace)
			n = snprintf(line, sizeof(line), "trace start=%.3f joined=%.3f exec=%.3f exit=%.3f\n", marks[T_START],
				     marks[T_JOINED], marks[T_EXEC], marks[T_EXIT]);
		n += snprintf(line + n, sizeof(line) - n, "exit %d\n", code);
		write_all(ctl_fd, line, n);
	}
	return code;
}

// Reads "LEN\n" and LEN bytes of NUL-separated arguments from the request's connection.
static int read_request(int sock, char **args, size_t *len)
{
	char header[24];
	size_t n = 0;
	fcntl(sock, F_SETFL, 0);
	while (n < sizeof(header) - 1 && (n == 0 || header[n - 1] != '\n')) {
		ssize_t got = read(sock, header + n, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return fail(got < 0 ? errno : EPIPE, "read the exec request");
		n++;
	}
	header[n] = 0;
	long want = parse_long(strtok(header, "\n") ? header : "", 10, 1, 1 << 20);
	if (want < 1)
		return fail(0, "bad exec request");
	*args = malloc(want + 1);
	if (!*args)
		return fail(ENOMEM, "exec request");
	for (*len = 0; *len < (size_t)want;) {
		ssize_t got = read(sock, *args + *len, want - *len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return fail(got < 0 ? errno : EPIPE, "read the exec request");
		*len += got;
	}
	(*args)[*len] = 0;
	return 0;
}

// The monitor's runner for one exec request (a fork of the monitor): the request's fds become
// 0-3 and init's pidfd 4, everything else of the monitor's is closed, then it runs `exec` with the
// request's arguments as lxd-helper would.
void exec_runner(int sock, const int fds[EXEC_FDS], int init_pidfd)
{
	signal(SIGCHLD, SIG_DFL); // the zygote reaps its runners by ignoring SIGCHLD; a runner waits
	int high[EXEC_FDS + 1];
	for (int i = 0; i < EXEC_FDS; i++)
		high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 16);
	high[EXEC_FDS] = fcntl(init_pidfd, F_DUPFD_CLOEXEC, 16);
	_cleanup_free_ char *args = NULL;
	size_t len = 0;
	int ok = read_request(sock, &args, &len) == 0;
	char *argv[MAX_ENV + 64];
	int argc = 0;
	argv[argc++] = "lxd-helper";
	for (size_t at = 0; ok && at < len; at += strlen(args + at) + 1) {
		if (argc >= (int)ARRAY_SIZE(argv) - 1)
			ok = fail(E2BIG, "exec request") == 0;
		else
			argv[argc++] = args + at;
	}
	argv[argc] = NULL;
	for (int i = 0; i <= EXEC_FDS; i++)
		if (high[i] < 0 || dup2(high[i], i) < 0)
			_exit(255);
	syscall(SYS_close_range, EXEC_FDS + 1, ~0U, 0);
	if (!ok || argc < 2 || strcmp(argv[1], "exec")) {
		char line[1200];
		int n = snprintf(line, sizeof(line), "error %s\n", ok ? "bad exec request" : herr.msg);
		write_all(3, line, n);
		_exit(255);
	}
	exit(cmd_exec(argc, argv));
}
