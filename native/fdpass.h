// Passing fds over a unix socket (SCM_RIGHTS), shared by lxd-helper and liblxd.so.
#ifndef LXD_FDPASS_H
#define LXD_FDPASS_H
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

// One byte carrying `n` fds (at most 8); 0 or -1 with errno set.
static inline int send_fds(int sock, char byte, const int *fds, int n, int flags)
{
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	if (n < 1 || n > 8)
		return errno = EINVAL, -1;
	memset(cbuf, 0, sizeof(cbuf));
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL | flags) == 1 ? 0 : -1;
}
#endif
