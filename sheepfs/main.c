// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sheepfs: command line and the FUSE operations (the file tree).
 *
 *   /cluster/info        `dog cluster info`
 *   /node/list           `dog node list`
 *   /vdi/list            vdis and snapshots, with the name to attach them by
 *   /vdi/mount           write NAME, NAME@TAG or NAME:SNAPID to attach a vdi
 *   /vdi/unmount         write a volume's name to detach it
 *   /volume/NAME         an attached vdi, as a file of the vdi's size
 *   /config/sheep_info   read: the sheep's address; write HOST:PORT to move
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "sheepfs.h"

#define SFS_DEFAULT_TIMEOUT 30 /* seconds: request timeout and retry window */

/* A file of the tree other than volume/NAME. */
struct sfs_entry {
	const char *path;
	mode_t mode;
	int (*text)(struct sfs_call *call); /* read: the file's text */
	int (*cmd)(struct sfs_call *call);  /* write: one call per line */
};

static const struct sfs_entry entries[] = {
	{ "/cluster/info", 0444, sfs_cluster_info_cb, NULL },
	{ "/node/list", 0444, sfs_node_list_cb, NULL },
	{ "/vdi/list", 0444, sfs_vdi_list_cb, NULL },
	{ "/vdi/mount", 0200, NULL, sfs_attach_cb },
	{ "/vdi/unmount", 0200, NULL, sfs_detach_cb },
	{ "/config/sheep_info", 0600, sfs_sheep_info_cb, sfs_reconnect_cb },
};

static const char *const dirs[] = { "/cluster", "/node", "/vdi", "/volume", "/config" };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Every file and directory shows the time of the mount. */
static time_t g_mount_time;

/* An open file: fi->fh. */
struct sfs_file {
	const struct sfs_entry *entry; /* NULL: a volume */
	struct sfs_volume *vol;
	char *text;
	size_t len;
};

void sfs_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(level, fmt, ap);
	va_end(ap);
}

static const struct sfs_entry *find_entry(const char *path)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(entries); i++)
		if (!strcmp(entries[i].path, path))
			return &entries[i];
	return NULL;
}

static bool is_dir(const char *path)
{
	size_t i;

	if (!strcmp(path, "/"))
		return true;
	for (i = 0; i < ARRAY_SIZE(dirs); i++)
		if (!strcmp(dirs[i], path))
			return true;
	return false;
}

/* "/volume/NAME" -> "NAME", else NULL. */
static const char *volume_name(const char *path)
{
	if (strncmp(path, "/volume/", 8) || !path[8] || strchr(path + 8, '/'))
		return NULL;
	return path + 8;
}

static int sfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	const struct sfs_entry *e = find_entry(path);
	const char *name = volume_name(path);
	struct sfs_volume *v;

	(void)fi;
	memset(st, 0, sizeof(*st));
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = g_mount_time;
	if (is_dir(path)) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	st->st_nlink = 1;
	if (e) {
		st->st_mode = S_IFREG | e->mode; /* size 0: read with direct I/O */
		return 0;
	}
	if (!name)
		return -ENOENT;
	pthread_mutex_lock(&g_sfs.lock);
	v = sfs_volume_find(name);
	if (v) {
		st->st_mode = S_IFREG | (v->readonly ? 0444 : 0644);
		st->st_size = (off_t)v->size;
		st->st_blksize = 4096;
		st->st_blocks = (blkcnt_t)(v->size / 512);
	}
	pthread_mutex_unlock(&g_sfs.lock);
	return v ? 0 : -ENOENT;
}

static int sfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	size_t i, len = strlen(path);
	struct sfs_volume *v;

	(void)off;
	(void)fi;
	(void)flags;
	if (!is_dir(path))
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	if (!strcmp(path, "/")) {
		for (i = 0; i < ARRAY_SIZE(dirs); i++)
			fill(buf, dirs[i] + 1, NULL, 0, 0);
		return 0;
	}
	if (!strcmp(path, "/volume")) {
		pthread_mutex_lock(&g_sfs.lock);
		for (v = g_sfs.volumes; v; v = v->next)
			fill(buf, v->name, NULL, 0, 0);
		pthread_mutex_unlock(&g_sfs.lock);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(entries); i++)
		if (!strncmp(entries[i].path, path, len) && entries[i].path[len] == '/')
			fill(buf, entries[i].path + len + 1, NULL, 0, 0);
	return 0;
}

static int open_volume_file(const char *name, struct fuse_file_info *fi, struct sfs_file *f)
{
	struct sfs_volume *v;
	int ret = 0;

	pthread_mutex_lock(&g_sfs.lock);
	v = sfs_volume_find(name);
	if (!v)
		ret = -ENOENT;
	else if (v->readonly && (fi->flags & O_ACCMODE) != O_RDONLY)
		ret = -EROFS;
	else
		v->nr_open++;
	pthread_mutex_unlock(&g_sfs.lock);
	f->vol = v;
	return ret;
}

static int sfs_open(const char *path, struct fuse_file_info *fi)
{
	const struct sfs_entry *e = find_entry(path);
	const char *name = volume_name(path);
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct sfs_file *f;
	int ret = 0;

	if (!e && !name)
		return is_dir(path) ? -EISDIR : -ENOENT;
	if (e && ((wr && !e->cmd) || ((fi->flags & O_ACCMODE) != O_WRONLY && !e->text)))
		return -EACCES;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->entry = e;
	if (name)
		ret = open_volume_file(name, fi, f);
	else if (!wr)
		ret = sfs_control(e->text, NULL, &f->text, &f->len);
	if (ret < 0) {
		free(f);
		return ret;
	}
	/* the text files have no fixed size; the volumes go through the page cache */
	fi->direct_io = e != NULL;
	fi->fh = (uintptr_t)f;
	return 0;
}

static int sfs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct sfs_file *f = (struct sfs_file *)(uintptr_t)fi->fh;

	(void)path;
	if (off < 0)
		return -EINVAL;
	if (f->vol)
		return sfs_volume_read(f->vol, buf, size, (uint64_t)off);
	if ((size_t)off >= f->len)
		return 0;
	if (size > f->len - (size_t)off)
		size = f->len - (size_t)off;
	memcpy(buf, f->text + off, size);
	return (int)size;
}

/* A write to vdi/mount, vdi/unmount or config/sheep_info: each line is a command. */
static int run_commands(const struct sfs_entry *e, const char *buf, size_t size)
{
	char *text = strndup(buf, size), *line, *next, *end;
	int ret = 0;

	if (!text)
		return -ENOMEM;
	for (line = text; line && !ret; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*line)
			ret = sfs_control(e->cmd, line, NULL, NULL);
	}
	free(text);
	return ret;
}

static int sfs_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct sfs_file *f = (struct sfs_file *)(uintptr_t)fi->fh;
	int ret;

	(void)path;
	if (off < 0)
		return -EINVAL;
	if (f->vol)
		return sfs_volume_write(f->vol, buf, size, (uint64_t)off);
	ret = run_commands(f->entry, buf, size);
	return ret < 0 ? ret : (int)size;
}

static int sfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct sfs_file *f = (struct sfs_file *)(uintptr_t)fi->fh;

	(void)path;
	(void)datasync;
	return f->vol ? sfs_volume_fsync(f->vol) : 0;
}

static int sfs_release(const char *path, struct fuse_file_info *fi)
{
	struct sfs_file *f = (struct sfs_file *)(uintptr_t)fi->fh;

	(void)path;
	if (f->vol) {
		pthread_mutex_lock(&g_sfs.lock);
		f->vol->nr_open--;
		pthread_mutex_unlock(&g_sfs.lock);
	}
	free(f->text);
	free(f);
	return 0;
}

static int sfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	const struct sfs_entry *e = find_entry(path);
	const char *name = volume_name(path);
	struct sfs_volume *v;
	int ret;

	(void)fi;
	if (e) /* `echo NAME > vdi/mount` opens with O_TRUNC */
		return e->cmd ? 0 : -EACCES;
	if (!name || size < 0)
		return name ? -EINVAL : -ENOENT;
	pthread_mutex_lock(&g_sfs.lock);
	v = sfs_volume_find(name);
	ret = v ? sfs_volume_truncate(v, (uint64_t)size) : -ENOENT;
	pthread_mutex_unlock(&g_sfs.lock);
	return ret;
}

static void *sfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	int ret;

	(void)conn;
	/*
	 * No kernel caching of names and attributes: a detached volume is gone
	 * at once, an attached one there at once (getattr is a lookup in
	 * memory, no request to sheep).
	 */
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	/* before the thread starts: from then on g_sfs.addr is its own */
	sfs_log(LOG_INFO, "mounted, sheep at %s", g_sfs.addr);
	ret = sfs_service_start();
	if (ret < 0) {
		sfs_log(LOG_ERR, "cannot start the service thread: %s", strerror(-ret));
		exit(1);
	}
	return NULL;
}

static void sfs_destroy(void *private_data)
{
	(void)private_data;
	sfs_service_stop();
	sfs_log(LOG_INFO, "unmounted");
}

static const struct fuse_operations sfs_ops = {
	.init = sfs_init,
	.destroy = sfs_destroy,
	.getattr = sfs_getattr,
	.readdir = sfs_readdir,
	.open = sfs_open,
	.read = sfs_read,
	.write = sfs_write,
	.fsync = sfs_fsync,
	.release = sfs_release,
	.truncate = sfs_truncate,
};

struct sfs_cmdline {
	char *addr;
	char *port;
	char *timeout;
	int help;
	int version;
};

#define SFS_OPT(t, p) \
	{ \
		t, offsetof(struct sfs_cmdline, p), 1 \
	}
static const struct fuse_opt sfs_cmdline_opts[] = {
	SFS_OPT("-a %s", addr),
	SFS_OPT("--address=%s", addr),
	SFS_OPT("-p %s", port),
	SFS_OPT("--port=%s", port),
	SFS_OPT("-t %s", timeout),
	SFS_OPT("--timeout=%s", timeout),
	SFS_OPT("-h", help),
	SFS_OPT("--help", help),
	SFS_OPT("-V", version),
	SFS_OPT("--version", version),
	FUSE_OPT_END,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sheepfs MOUNTPOINT [-a ADDR] [-p PORT] [-t SECONDS] [FUSE options]\n"
		"  -a, --address=ADDR    sheep address (default 127.0.0.1; HOST[:PORT],\n"
		"                        [V6]:PORT, unix:/path)\n"
		"  -p, --port=PORT       sheep port (default 7000)\n"
		"  -t, --timeout=SECONDS request timeout and retry window; after it a\n"
		"                        sheep that is gone makes I/O fail with EIO\n"
		"                        (default %d)\n"
		"  -f  foreground   -d  debug   -s  single-threaded   -o OPT[,OPT...]\n"
		"See sheepfs(8).\n",
		SFS_DEFAULT_TIMEOUT);
}

/* A whole decimal number in [lo, hi], or -1. */
static long parse_num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	return v;
}

static int build_addr(const struct sfs_cmdline *cl, char *addr, size_t len)
{
	const char *host = cl->addr ? cl->addr : "127.0.0.1";
	long port = 7000;
	int n;

	if (cl->port) {
		port = parse_num(cl->port, 1, 65535);
		if (port < 0) {
			fprintf(stderr, "sheepfs: invalid port '%s' (1-65535)\n", cl->port);
			return -1;
		}
	} else if (cl->addr) {
		n = snprintf(addr, len, "%s", host); /* the address says it all */
		return n < 0 || (size_t)n >= len ? -1 : 0;
	}
	/* a bare IPv6 literal needs brackets before the port */
	if (strchr(host, ':') && host[0] != '[')
		n = snprintf(addr, len, "[%s]:%ld", host, port);
	else
		n = snprintf(addr, len, "%s:%ld", host, port);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "sheepfs: address too long\n");
		return -1;
	}
	return 0;
}

/*
 * FUSE's own options, parsed before connecting: 0 when they name a mount
 * point, -1 when libfuse refused them (it said why), -2 with no mount point.
 */
static int check_fuse_cmdline(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(args->argc, args->argv);
	struct fuse_cmdline_opts opts;
	int ret;

	memset(&opts, 0, sizeof(opts));
	ret = fuse_parse_cmdline(&copy, &opts) ? -1 : opts.mountpoint ? 0 : -2;
	free(opts.mountpoint);
	fuse_opt_free_args(&copy);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct sfs_cmdline cl;
	char addr[sizeof(g_sfs.addr)];
	long timeout = SFS_DEFAULT_TIMEOUT;
	int ret;

	memset(&cl, 0, sizeof(cl));
	if (fuse_opt_parse(&args, &cl, sfs_cmdline_opts, NULL) < 0) {
		usage(stderr);
		return 2;
	}
	if (cl.version) {
		printf("sheepfs %s (libfuse %s)\n", PACKAGE_VERSION, fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (cl.help) {
		usage(stdout);
		/* let libfuse add its own options, without a second usage line */
		ret = fuse_opt_add_arg(&args, "--help") ? 1 : 0;
		if (!ret) {
			args.argv[0][0] = '\0';
			ret = fuse_main(args.argc, args.argv, &sfs_ops, NULL);
		}
		goto out;
	}
	if (cl.timeout) {
		timeout = parse_num(cl.timeout, 1, 3600);
		if (timeout < 0) {
			fprintf(stderr, "sheepfs: invalid timeout '%s' (1-3600 seconds)\n",
				cl.timeout);
			ret = 2;
			goto out;
		}
	}
	ret = check_fuse_cmdline(&args);
	if (ret) {
		if (ret == -2) {
			fprintf(stderr, "sheepfs: no mount point given\n");
			usage(stderr);
		}
		ret = 2;
		goto out;
	}
	if (build_addr(&cl, addr, sizeof(addr))) {
		ret = 2;
		goto out;
	}
	g_mount_time = time(NULL);
	openlog("sheepfs", LOG_PID | LOG_PERROR, LOG_DAEMON);
	setlogmask(LOG_UPTO(LOG_INFO));
	sd_cluster_opts_init(&g_sfs.opts);
	g_sfs.opts.io_timeout_ms = (unsigned)timeout * 1000;
	g_sfs.opts.retry_timeout_ms = (unsigned)timeout * 1000;
	if (g_sfs.opts.connect_timeout_ms > g_sfs.opts.io_timeout_ms)
		g_sfs.opts.connect_timeout_ms = g_sfs.opts.io_timeout_ms;
	if (sfs_connect(addr) < 0) {
		ret = 1;
		goto out;
	}
	/*
	 * libfuse 3.14 warns about its own default of max_idle_threads (-1);
	 * a value given on the command line comes later and wins.
	 */
	if (fuse_opt_insert_arg(&args, 1, "-omax_idle_threads=10")) {
		ret = 1;
		goto out;
	}
	ret = fuse_main(args.argc, args.argv, &sfs_ops, NULL);
	/* the service thread stopped in destroy; if the mount failed it never ran */
	sfs_service_stop();
	sfs_log(LOG_INFO, "exiting with status %d", ret);
	closelog();
out:
	free(cl.addr);
	free(cl.port);
	free(cl.timeout);
	fuse_opt_free_args(&args);
	return ret;
}
