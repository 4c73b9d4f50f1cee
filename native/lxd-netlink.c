// Part of liblxd.so: creating an instance's veth pair over rtnetlink, in-process. The container's end
// is created directly in its network namespace (IFLA_NET_NS_FD: an fd of it the caller holds, never
// a pid that may have been reused), up; the calling thread never changes namespace, so this is safe
// from the multithreaded daemon, and no `ip`/`nsenter` process is spawned. (Not IFLA_TARGET_NETNSID on a set request: the kernel looks the device up in the caller's
// namespace and moves it, which would take a host interface with the same ifindex.)
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/ethernet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct req {
	struct nlmsghdr *h;
	size_t cap;
};

static struct rtattr *put(struct req *r, int type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(r->h->nlmsg_len);
	if (at + RTA_SPACE(len) > r->cap) return NULL;
	struct rtattr *a = (struct rtattr *)((char *)r->h + at);
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len) memcpy(RTA_DATA(a), data, len);
	r->h->nlmsg_len = at + RTA_SPACE(len);
	return a;
}

/* Nested attributes: open with begin(), close with end() once its contents are added. */
static struct rtattr *begin(struct req *r, int type) { return put(r, type, NULL, 0); }
/* A begin() that did not fit returned NULL; the request then fails as too long when sent. */
static void end(struct req *r, struct rtattr *a) { if (a) a->rta_len = (char *)r->h + r->h->nlmsg_len - (char *)a; }

static void init(struct req *r, void *buf, size_t cap, int type, int flags, const struct ifinfomsg *ifi)
{
	memset(buf, 0, cap);
	r->h = buf;
	r->cap = cap;
	r->h->nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	r->h->nlmsg_type = type;
	r->h->nlmsg_flags = NLM_F_REQUEST | flags;
	memcpy(NLMSG_DATA(r->h), ifi, sizeof(*ifi));
}

/* Sends one request and waits for its acknowledgement; returns 0 or -errno. */
static int talk(int fd, struct req *r)
{
	static __thread unsigned seq;
	r->h->nlmsg_seq = ++seq;
	if (send(fd, r->h, r->h->nlmsg_len, 0) < 0) return -errno;
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq == r->h->nlmsg_seq && h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
}

static int parse_mac(const char *text, unsigned char mac[ETH_ALEN])
{
	unsigned v[ETH_ALEN];
	if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != ETH_ALEN) return -EINVAL;
	for (int i = 0; i < ETH_ALEN; i++) mac[i] = v[i];
	return 0;
}

static int del_link(int fd, const char *name)
{
	char buf[512];
	struct req r;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	init(&r, buf, sizeof(buf), RTM_DELLINK, NLM_F_ACK, &ifi);
	put(&r, IFLA_IFNAME, name, strlen(name) + 1);
	return talk(fd, &r);
}

/*
 * Creates veth `peer` (MAC `mac`, `mtu`, up) inside the network namespace open as `netns_fd`, with its other
 * end `host` on the host (same MTU, up, enslaved to `master_ifindex` when > 0). The container's
 * end is the one created first, so it can be brought up as it is made in its namespace (a peer
 * cannot: its other end does not exist yet); the host end is then set up by name in the caller's
 * own namespace. Returns 0, or -errno with the step in *step (1 create, 2 host end); a failed
 * step 2 removes the pair.
 */
int lxd_veth_create(const char *host, const char *peer, const char *mac, int mtu, int master_ifindex, int netns_fd, int *step)
{
	unsigned char hw[ETH_ALEN];
	*step = 1;
	if (parse_mac(mac, hw) < 0) return -EINVAL;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) return -errno;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	char buf[1024];
	struct req r;
	struct ifinfomsg up = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct ifinfomsg none = { .ifi_family = AF_UNSPEC };
	init(&r, buf, sizeof(buf), RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &up);
	put(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
	put(&r, IFLA_ADDRESS, hw, ETH_ALEN);
	put(&r, IFLA_MTU, &mtu, sizeof(mtu));
	put(&r, IFLA_NET_NS_FD, &netns_fd, sizeof(netns_fd));
	struct rtattr *info = begin(&r, IFLA_LINKINFO);
	put(&r, IFLA_INFO_KIND, "veth", 5);
	struct rtattr *data = begin(&r, IFLA_INFO_DATA);
	struct rtattr *peer_info = begin(&r, VETH_INFO_PEER);
	/* The other end's attributes follow its own ifinfomsg; it stays in this namespace. */
	size_t at = NLMSG_ALIGN(r.h->nlmsg_len);
	memcpy((char *)r.h + at, &none, sizeof(none));
	r.h->nlmsg_len = at + NLMSG_ALIGN(sizeof(none));
	put(&r, IFLA_IFNAME, host, strlen(host) + 1);
	if (!put(&r, IFLA_MTU, &mtu, sizeof(mtu))) {
		close(fd);
		return -E2BIG;
	}
	end(&r, peer_info);
	end(&r, data);
	end(&r, info);
	int rc = talk(fd, &r);
	if (rc == 0) {
		*step = 2;
		/* By name, in the caller's namespace, with no namespace attribute: only our host end. */
		init(&r, buf, sizeof(buf), RTM_NEWLINK, NLM_F_ACK, &up);
		put(&r, IFLA_IFNAME, host, strlen(host) + 1);
		if (master_ifindex > 0) put(&r, IFLA_MASTER, &master_ifindex, sizeof(master_ifindex));
		rc = talk(fd, &r);
		if (rc < 0) del_link(fd, host);
	}
	close(fd);
	return rc;
}
