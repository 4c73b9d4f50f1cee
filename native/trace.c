// Per-phase trace of `lxd-helper start`, enabled by LXD_HELPER_TRACE=1 in its environment: the
// processes of a start (the spawner, the monitor, the forker, init, the builder) mark the end of
// each phase and add their CPU time on one shared anonymous page, mapped before the first fork;
// the monitor appends to its "ok PID" report " cpu_user=MSms cpu_sys=MSms run_wait=MSms" and the
// marks as " NAME=MSms ..." (time since the previous mark, in time order: the start's timeline).
// cpu_* is CPU time and run_wait the time spent runnable but waiting for a CPU (schedstat's
// run_delay: what a loaded host adds), each summed over the processes.
#include "helper.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <time.h>

#define TRACE_MARKS 48

struct trace_page {
	int n;
	uint64_t user_us, sys_us, wait_ns;
	struct {
		uint64_t ns;
		char name[24];
	} marks[TRACE_MARKS];
};

static struct trace_page *page;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void trace_init(void)
{
	const char *on = getenv("LXD_HELPER_TRACE");
	if (!on || strcmp(on, "1"))
		return;
	void *p = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	page = p;
	trace_mark("begin");
}

void trace_mark(const char *name)
{
	if (!page)
		return;
	int i = __atomic_fetch_add(&page->n, 1, __ATOMIC_RELAXED);
	if (i >= TRACE_MARKS)
		return;
	snprintf(page->marks[i].name, sizeof(page->marks[i].name), "%s", name);
	__atomic_store_n(&page->marks[i].ns, now_ns(), __ATOMIC_RELEASE);
}

static uint64_t tv_us(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000ULL + tv.tv_usec;
}

void trace_cpu(int who)
{
	struct rusage ru;
	if (!page || getrusage(who, &ru) < 0)
		return;
	__atomic_fetch_add(&page->user_us, tv_us(ru.ru_utime), __ATOMIC_RELAXED);
	__atomic_fetch_add(&page->sys_us, tv_us(ru.ru_stime), __ATOMIC_RELAXED);
	// "CPU_NS RUN_DELAY_NS SLICES" (needs schedstats; absent, the wait stays 0).
	char buf[96] = "";
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	unsigned long long cpu, delay;
	if (sscanf(buf, "%llu %llu", &cpu, &delay) == 2)
		__atomic_fetch_add(&page->wait_ns, delay, __ATOMIC_RELAXED);
}

int trace_format(char *buf, size_t cap)
{
	buf[0] = 0;
	if (!page)
		return 0;
	int n = page->n < TRACE_MARKS ? page->n : TRACE_MARKS, order[TRACE_MARKS];
	for (int i = 0; i < n; i++)
		order[i] = i;
	// Insertion sort by time: marks come from several processes.
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && page->marks[order[j]].ns < page->marks[order[j - 1]].ns; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	// Whole tokens only: the daemon rejects a report with a cut one. The totals come first.
	size_t len = 0;
	char token[96];
	int t = snprintf(token, sizeof(token), " cpu_user=%.2fms cpu_sys=%.2fms run_wait=%.2fms", page->user_us / 1e3,
			 page->sys_us / 1e3, page->wait_ns / 1e6);
	if (t > 0 && (size_t)t < cap) {
		memcpy(buf, token, t + 1);
		len = t;
	}
	for (int i = 1; i < n; i++) {
		double ms = (page->marks[order[i]].ns - page->marks[order[i - 1]].ns) / 1e6;
		t = snprintf(token, sizeof(token), " %s=%.2fms", page->marks[order[i]].name, ms);
		if (t <= 0 || len + t >= cap)
			break;
		memcpy(buf + len, token, t + 1);
		len += t;
	}
	return (int)len;
}

void trace_done(void)
{
	if (page)
		munmap(page, sizeof(*page));
	page = NULL;
}
