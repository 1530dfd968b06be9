// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The sheep log: "<date time.msec> <LEVEL> [tid] func(line) message" lines
 * appended to <store>/sheep.log.  Each line goes out in one write(2) on an
 * O_APPEND descriptor, so worker threads never interleave partial lines.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sheep.h"

static int g_log_fd = -1;
static int g_log_stderr = 1;
static enum sheep_log_level g_log_level = SHEEP_LOG_INFO;

static const char *const level_names[] = {
	[SHEEP_LOG_ERR] = "ERROR",
	[SHEEP_LOG_WARN] = "WARN",
	[SHEEP_LOG_INFO] = "INFO",
	[SHEEP_LOG_DEBUG] = "DEBUG",
};

int sheep_log_open(const char *path, enum sheep_log_level level, int also_stderr)
{
	g_log_level = level;
	g_log_stderr = also_stderr;
	if (!path)
		return 0;
	g_log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (g_log_fd < 0)
		return -errno;
	return 0;
}

void sheep_log_close(void)
{
	if (g_log_fd >= 0)
		close(g_log_fd);
	g_log_fd = -1;
}

int sheep_log_enabled(enum sheep_log_level level)
{
	return level <= g_log_level;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void sheep_log_msg(enum sheep_log_level level, const char *func, int line, const char *fmt, ...)
{
	char buf[1024];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%b %d %H:%M:%S", &tm);
	r = snprintf(buf + n, sizeof(buf) - n, ".%03ld %-5s [%ld] %s(%d) ", (long)tv.tv_usec / 1000,
		     level_names[level], (long)syscall(SYS_gettid), func, line);
	if (r > 0)
		n += (size_t)r < sizeof(buf) - n ? (size_t)r : sizeof(buf) - n - 1;
	va_start(ap, fmt);
	r = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(buf) - n ? (size_t)r : sizeof(buf) - n - 1;
	if (n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (g_log_fd >= 0)
		write_all(g_log_fd, buf, n);
	if (g_log_stderr && (g_log_fd < 0 || level <= SHEEP_LOG_WARN))
		write_all(STDERR_FILENO, buf, n);
}
