// `lxd-helper start`: the console, as the monitor serves it.
//
// The monitor holds the console's primary side, keeps its last CONSOLE_RING bytes of output (saved
// to console.log when init exits) and serves console.sock. A client first sends one line:
//   "log"               gets the buffered output, then EOF
//   "clear"             empties the buffer, gets "ok\n"
//   "attach COLS ROWS"  then sends frames (a type byte: 'd' data or 'r' "COLS ROWS"; a 2-byte
//                       big-endian payload length; the payload) and receives the output as it comes.
// The monitor never blocks on the console: input the container does not read and output an
// attached client does not take in time are dropped (the buffer still has the output).
#include "start.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>

#define CONSOLE_RING (128 * 1024)
#define CONSOLE_FRAME 4096

struct console_client {
	int fd, attached;
	size_t len;
	unsigned char buf[3 + CONSOLE_FRAME];
};

static struct {
	int master, peer, listen_fd, readable;
	char path[64];
	char ring[CONSOLE_RING];
	size_t head, len; // the buffered output: `len` bytes ending just before `head`
	int nclients;
	struct console_client clients[CONSOLE_CLIENTS];
} con = {.master = -1, .peer = -1, .listen_fd = -1};

const char *console_path(void)
{
	return con.path;
}

int console_peer(void)
{
	return con.peer;
}

// Opens the console pty on the host's devpts; console_path() is its secondary side.
int console_open(struct config *c)
{
	int unlock = 0;
	con.master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (con.master < 0 || ioctl(con.master, TIOCSPTLCK, &unlock) < 0)
		return fail(errno, "open the console pty");
	// Kept open here, so the primary side never reads EIO while nothing inside has it open.
	con.peer = ioctl(con.master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (con.peer < 0)
		return fail(errno, "open the console pty's peer");
	char fdpath[64];
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", con.peer);
	ssize_t n = readlink(fdpath, con.path, sizeof(con.path) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(con.path) - 1)
		return fail(errno, "readlink %s", fdpath);
	con.path[n] = 0;
	// Owned by the container's root, as its console should be.
	if (fchown(con.peer, c->root_uid, c->root_gid) < 0 || fchmod(con.peer, 0620) < 0)
		return fail(errno, "chown %s", con.path);
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	ioctl(con.master, TIOCSWINSZ, &ws);
	con.readable = 1;
	return 0;
}

int console_listen(const char *rundir)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/console.sock", rundir) >= (int)sizeof(addr.sun_path))
		return fail(ENAMETOOLONG, "%s/console.sock", rundir);
	unlink(addr.sun_path);
	con.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (con.listen_fd < 0 || bind(con.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(con.listen_fd, 16) < 0)
		return fail(errno, "listen on %s", addr.sun_path);
	return 0;
}
static void console_record(const char *data, size_t n)
{
	if (n > CONSOLE_RING) {
		data += n - CONSOLE_RING;
		n = CONSOLE_RING;
	}
	size_t first = CONSOLE_RING - con.head < n ? CONSOLE_RING - con.head : n;
	memcpy(con.ring + con.head, data, first);
	memcpy(con.ring, data + first, n - first);
	con.head = (con.head + n) % CONSOLE_RING;
	con.len = con.len + n > CONSOLE_RING ? CONSOLE_RING : con.len + n;
}

// Writes the buffered output, oldest first.
static int console_dump(int fd)
{
	size_t start = (con.head + CONSOLE_RING - con.len) % CONSOLE_RING;
	size_t first = CONSOLE_RING - start < con.len ? CONSOLE_RING - start : con.len;
	return write_all(fd, con.ring + start, first) < 0 || write_all(fd, con.ring, con.len - first) < 0 ? -1 : 0;
}

static void console_output(void)
{
	static char buf[16384];
	ssize_t n = read(con.master, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		con.readable = 0;
		return;
	}
	console_record(buf, n);
	for (int i = 0; i < con.nclients; i++)
		if (con.clients[i].attached)
			(void)send(con.clients[i].fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void console_resize(int cols, int rows)
{
	if (cols <= 0 || rows <= 0 || cols > 65535 || rows > 65535)
		return;
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	ioctl(con.master, TIOCSWINSZ, &ws);
}

// Answers a client's first line; 1 when it stays (attached).
static int console_command(struct console_client *cl, const char *line)
{
	int cols, rows;
	if (!strcmp(line, "log")) {
		// The whole buffer in one go; a client that does not read within 2 s loses the rest.
		struct timeval tv = {.tv_sec = 2};
		fcntl(cl->fd, F_SETFL, 0);
		setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		console_dump(cl->fd);
		return 0;
	}
	if (!strcmp(line, "clear")) {
		con.len = 0;
		write_all(cl->fd, "ok\n", 3);
		return 0;
	}
	if (sscanf(line, "attach %d %d", &cols, &rows) == 2) {
		console_resize(cols, rows);
		cl->attached = 1;
		return 1;
	}
	write_all(cl->fd, "error unknown command\n", 22);
	return 0;
}

// Consumes what a client sent; 0 when it is gone or must go.
static int console_input(struct console_client *cl)
{
	ssize_t n = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0)
		return 0;
	cl->len += n;
	if (!cl->attached) {
		unsigned char *nl = memchr(cl->buf, '\n', cl->len);
		if (!nl)
			return cl->len < 64;
		*nl = 0;
		if (!console_command(cl, (const char *)cl->buf))
			return 0;
		cl->len -= nl + 1 - cl->buf;
		memmove(cl->buf, nl + 1, cl->len);
	}
	size_t off = 0;
	while (cl->len - off >= 3) {
		unsigned char *f = cl->buf + off;
		size_t plen = (size_t)f[1] << 8 | f[2];
		if (plen > CONSOLE_FRAME)
			return 0;
		if (cl->len - off < 3 + plen)
			break;
		if (f[0] == 'd') {
			(void)!write(con.master, f + 3, plen);
		} else if (f[0] == 'r') {
			char arg[32];
			int cols, rows;
			snprintf(arg, sizeof(arg), "%.*s", (int)plen, f + 3);
			if (sscanf(arg, "%d %d", &cols, &rows) == 2)
				console_resize(cols, rows);
		}
		off += 3 + plen;
	}
	cl->len -= off;
	memmove(cl->buf, cl->buf + off, cl->len);
	return 1;
}

// Adds the console's fds to a poll set (primary side, listener, clients); returns how many.
int console_pollfds(struct pollfd *pfd)
{
	int n = 0;
	pfd[n++] = (struct pollfd){.fd = con.readable ? con.master : -1, .events = POLLIN};
	pfd[n++] = (struct pollfd){.fd = con.listen_fd, .events = POLLIN};
	for (int i = 0; i < con.nclients; i++)
		pfd[n++] = (struct pollfd){.fd = con.clients[i].fd, .events = POLLIN};
	return n;
}

// Handles what poll reported on the fds console_pollfds added.
void console_serve(struct pollfd *pfd)
{
	if (pfd[0].revents)
		console_output();
	for (int i = con.nclients - 1; i >= 0; i--) {
		if (pfd[2 + i].revents && !console_input(&con.clients[i])) {
			close(con.clients[i].fd);
			con.clients[i] = con.clients[--con.nclients];
		}
	}
	if (pfd[1].revents & POLLIN) {
		int c = accept4(con.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c >= 0 && con.nclients < CONSOLE_CLIENTS) {
			memset(&con.clients[con.nclients], 0, sizeof(struct console_client));
			con.clients[con.nclients++].fd = c;
		} else if (c >= 0) {
			close(c);
		}
	}
}

// When init is gone: the last output goes to console.log (cwd = rundir) for a stopped container.
void console_close(void)
{
	if (con.readable)
		console_output();
	int fd = open("console.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		console_dump(fd);
		close(fd);
	}
	unlink("console.sock");
	for (int i = 0; i < con.nclients; i++)
		close(con.clients[i].fd);
}

