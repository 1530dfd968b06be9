// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sheep: a single-node server for the Sheepdog protocol.
 *
 *   sheep [-f] [-b ADDR] [-p PORT] [-n] [-h] STORE_DIR
 *
 * Start-up: parse the command line, create the store directory, take the
 * store lock (flock on <store>/sheep.pid), open <store>/sheep.log, load the
 * format config, clean temp files, rebuild the VDI bitmaps from the stored
 * inodes, bind TCP ADDR:PORT and <store>/sock, daemonize unless -f (the
 * parent exits 0 only once the child serves), and run the event loop.
 * SIGTERM/SIGINT or SHUTDOWN end it with exit status 0.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sheep.h"

struct sheep_opts {
	int foreground;
	int nosync;
	const char *bind_addr;
	unsigned port;
	const char *dir;
};

static const struct option long_opts[] = {
	{ "foreground", no_argument, NULL, 'f' },
	{ "bindaddr", required_argument, NULL, 'b' },
	{ "port", required_argument, NULL, 'p' },
	{ "nosync", no_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'v' },
	/* upstream cluster/multi-node options: recognised only to be refused */
	{ "cluster", required_argument, NULL, 'c' },
	{ "zone", required_argument, NULL, 'z' },
	{ "cache", required_argument, NULL, 'w' },
	{ "journal", required_argument, NULL, 'j' },
	{ "gateway", no_argument, NULL, 'g' },
	{ "http", required_argument, NULL, 'r' },
	{ "vnodes", required_argument, NULL, 'V' },
	{ "ioaddr", required_argument, NULL, 'i' },
	{ "myaddr", required_argument, NULL, 'y' },
	{ "directio", no_argument, NULL, 'D' },
	{ "upgrade", no_argument, NULL, 'u' },
	{ "log", required_argument, NULL, 'l' },
	{ "pidfile", required_argument, NULL, 'P' },
	{ "wq-threads", required_argument, NULL, 't' },
	{ "sheepfs", required_argument, NULL, 'S' },
	{ "nfs", required_argument, NULL, 'x' },
	{ "dog", required_argument, NULL, 'o' },
	{ "recycle", no_argument, NULL, 'R' },
	{ "fixed-vnodes", no_argument, NULL, 'F' },
	{ "check-space", no_argument, NULL, 'C' },
	{ "trace", no_argument, NULL, 'T' },
	{ "enable-diskvnodes", no_argument, NULL, 'e' },
	{ NULL, 0, NULL, 0 },
};

static const char short_opts[] = ":fb:p:nhc:z:w:j:gr:V:vi:y:Dul:P:t:S:x:o:RFCTe";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sheep [OPTION]... STORE_DIR\n"
		"Single-node Sheepdog server.\n\n"
		"  -f, --foreground     stay in the foreground\n"
		"  -b, --bindaddr ADDR  listen on ADDR (default: all addresses)\n"
		"  -p, --port PORT      TCP port (default %u)\n"
		"  -n, --nosync         do not sync writes before replying;\n"
		"                       FLUSH_VDI makes data durable\n"
		"  -v, --version        print the version and exit\n"
		"  -h, --help           this help\n\n"
		"Also listens on STORE_DIR/sock; writes STORE_DIR/sheep.pid and\n"
		"STORE_DIR/sheep.log.  Cluster options of upstream sheep are not supported.\n",
		SD_LISTEN_PORT);
}

static const char *long_name_of(int c)
{
	const struct option *o;

	for (o = long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

static int parse_port(const char *s, unsigned *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *s == '+' || v == 0 || v > 65535)
		return -EINVAL;
	*port = (unsigned)v;
	return 0;
}

/* Returns 0 to run, 1 to exit 0 (help, version), -1 to exit 1. */
static int parse_args(int argc, char **argv, struct sheep_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->port = SD_LISTEN_PORT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (c) {
		case 'f': o->foreground = 1; break;
		case 'n': o->nosync = 1; break;
		case 'b': o->bind_addr = optarg; break;
		case 'p':
			if (parse_port(optarg, &o->port)) {
				fprintf(stderr, "sheep: invalid port '%s' (1-65535)\n", optarg);
				return -1;
			}
			break;
		case 'h': usage(stdout); return 1;
		case 'v':
			/* as upstream: print and exit at once, whatever else is given */
			printf("sheep version %s (tgt-sheepdog)\n", PACKAGE_VERSION);
			return 1;
		case '?':
			if (optopt)
				fprintf(stderr, "sheep: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "sheep: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return -1;
		case ':':
			fprintf(stderr, "sheep: option '-%c' needs an argument\n", optopt);
			return -1;
		default:
			fprintf(stderr,
				"sheep: option -%c (--%s) is not supported: this sheep is a "
				"single-node server without cluster features\n",
				c, long_name_of(c));
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "sheep: %s\n",
			optind >= argc ? "missing STORE_DIR" : "too many arguments");
		usage(stderr);
		return -1;
	}
	o->dir = argv[optind];
	return 0;
}

static int path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Lock <store>/sheep.pid; the lock lives as long as the fd (and its forks). */
static int lock_pidfile(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "sheep: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		if (n > 0)
			buf[strcspn(buf, "\n")] = '\0';
		fprintf(stderr, "sheep: the store is in use by another sheep (pid %s)\n",
			n > 0 ? buf : "?");
		close(fd);
		return -1;
	}
	return fd;
}

static int write_pid(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

/*
 * Fork into the background.  The parent waits on a pipe until the child
 * reports that it serves (one byte) or dies, and exits accordingly.
 */
static int daemonize(int *notify_fd)
{
	int p[2];
	pid_t pid;
	char c = 0;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c == 'o' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	*notify_fd = p[1];
	return 0;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static int load_state(const char *dir, int nosync)
{
	int r;

	r = sheep_store_open(&g_sheep.store, dir, nosync);
	if (r) {
		sheep_err("cannot open the store %s: %s", dir, strerror(-r));
		return r;
	}
	r = sheep_store_config_load(&g_sheep.store, &g_sheep.cfg);
	if (r == 0) {
		g_sheep.formatted = 1;
	} else if (r != -ENOENT) {
		sheep_err("the store's config file is unreadable: %s", strerror(-r));
		return r;
	}
	r = sheep_vdi_init(&g_sheep.vdi, &g_sheep.store);
	if (r)
		return r;
	r = sheep_vdi_rebuild(&g_sheep.vdi);
	if (r) {
		sheep_err("cannot rebuild the vdi bitmaps: %s", strerror(-r));
		return r;
	}
	sheep_info("store %s: %s, %zu vdis%s", dir,
		   g_sheep.formatted ? "formatted" : "not formatted", g_sheep.vdi.nr_vids,
		   nosync ? ", nosync" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct sheep_opts o;
	struct sheep_listen_opts lo;
	char pid_path[PATH_MAX], log_path[PATH_MAX], sock_path[PATH_MAX], dir[PATH_MAX];
	int pid_fd, notify_fd = -1, r;

	r = parse_args(argc, argv, &o);
	if (r)
		return r > 0 ? 0 : 1;
	if (mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "sheep: cannot create %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	if (!realpath(o.dir, dir)) {
		fprintf(stderr, "sheep: %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	if (path_join(pid_path, sizeof(pid_path), dir, "sheep.pid") ||
	    path_join(log_path, sizeof(log_path), dir, "sheep.log") ||
	    path_join(sock_path, sizeof(sock_path), dir, "sock")) {
		fprintf(stderr, "sheep: store path too long\n");
		return 1;
	}
	pid_fd = lock_pidfile(pid_path);
	if (pid_fd < 0)
		return 1;
	if (sheep_log_open(log_path, SHEEP_LOG_INFO, 1)) {
		fprintf(stderr, "sheep: cannot open %s: %s\n", log_path, strerror(errno));
		return 1;
	}
	if (!o.foreground && daemonize(&notify_fd)) {
		fprintf(stderr, "sheep: cannot daemonize: %s\n", strerror(errno));
		return 1;
	}
	if (write_pid(pid_fd)) {
		sheep_err("cannot write %s", pid_path);
		return 1;
	}
	sheep_info("sheep starting (pid %ld) on store %s", (long)getpid(), dir);
	if (load_state(dir, o.nosync))
		goto fail;
	lo.bind_addr = o.bind_addr;
	lo.port = o.port;
	lo.unix_path = sock_path;
	if (sheep_event_init(&lo))
		goto fail;
	sheep_info("listening on %s port %u and %s", o.bind_addr ? o.bind_addr : "(any)", o.port,
		   sock_path);
	if (notify_fd >= 0) {
		detach_stdio();
		if (write(notify_fd, "o", 1) < 0)
			sheep_warn("cannot notify the parent");
		close(notify_fd);
	}
	r = sheep_event_loop();
	sheep_vdi_destroy(&g_sheep.vdi);
	sheep_coh_fini();
	sheep_store_close(&g_sheep.store);
	unlink(pid_path);
	close(pid_fd);
	sheep_info("sheep exiting (%d)", r ? 1 : 0);
	sheep_log_close();
	return r ? 1 : 0;
fail:
	unlink(pid_path);
	sheep_err("start-up failed");
	return 1;
}
