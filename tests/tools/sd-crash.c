// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd-crash.so: an LD_PRELOAD shim that simulates a power cut under a
 * directory tree (issue 12, "power loss of the sheep").  Test-only.
 *
 *   LD_PRELOAD=sd-crash.so SD_CRASH_DIR=/abs/store SD_CRASH_AT=N prog ...
 *
 * Every durability-relevant call on a file or directory under SD_CRASH_DIR
 * (open/openat creating a file, write/writev/pwrite/pwritev, ftruncate,
 * fallocate, rename/renameat, unlink/unlinkat, mkdir/mkdirat, fsync,
 * fdatasync, syncfs, sync) is counted, done under one lock, and leaves an
 * undo record of what it changed.  The records follow the POSIX rules, read
 * conservatively (Linux's ext4 is often kinder; we never count on it):
 *
 *   - file data and size become durable only at fsync/fdatasync of that file
 *     (any descriptor of the inode); fdatasync is taken to cover the size;
 *   - a name (a create, a rename, an unlink, a mkdir) becomes durable only at
 *     fsync of the directory that holds it (both directories for a rename);
 *     fsync of a file never makes its name durable, fsync of a directory
 *     never makes the data of its files durable;
 *   - syncfs() and sync() make everything durable;
 *   - close() makes nothing durable and is not intercepted.
 *
 * When the Nth counted call is about to run (SD_CRASH_AT=N, N >= 1), the
 * shim undoes, newest first, every change not yet durable (old bytes and
 * sizes written back, names renamed back, unlinked files linked back from
 * hard links kept in SD_CRASH_DIR.crash-save, created names removed) and
 * _exit()s with status 113 at once: the tree is what a power cut that lost
 * everything unforced would have left.  That is one of the states a real
 * cut can leave (the harshest); reorderings where some unforced changes
 * survive and others not are not modelled.
 *
 * SD_CRASH_STATS=FILE: the number of counted calls is written there at exit
 * ("ops N") or at the crash ("crashed N").  Names ending in .log or .pid
 * and the name sock under the tree are not tracked (sheep's log, pid file
 * and UNIX socket).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define CRASH_EXIT 113

enum undo_kind { U_DATA, U_CREATE, U_RENAME, U_UNLINK, U_MKDIR };

struct undo {
	enum undo_kind kind;
	int durable;
	/* U_DATA: the file, its old size and the old bytes at off */
	dev_t dev;
	ino_t ino;
	int fd; /* the shim's own O_RDWR descriptor of the file */
	off_t off, old_size;
	size_t len;
	char *old;
	/* names: the path(s) and the directories holding them */
	char *path, *path2, *saved;
	dev_t ddev[2];
	ino_t dino[2];
	int dsynced[2];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_dir[PATH_MAX];
static size_t g_dir_len;
static char g_save[PATH_MAX + 32];
static unsigned long g_ops, g_crash_at, g_saved_n;
static struct undo **g_log;
static size_t g_nlog, g_caplog;
static int g_active;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);

static void die(const char *what)
{
	fprintf(stderr, "sd-crash: %s: %s\n", what, strerror(errno));
	_exit(CRASH_EXIT + 1);
}

#define RESOLVE(name) (real_##name = dlsym(RTLD_NEXT, #name))

__attribute__((constructor)) static void crash_init(void)
{
	const char *d = getenv("SD_CRASH_DIR"), *at = getenv("SD_CRASH_AT");

	RESOLVE(open);
	RESOLVE(openat);
	RESOLVE(write);
	RESOLVE(writev);
	RESOLVE(pwrite);
	RESOLVE(pwritev);
	RESOLVE(ftruncate);
	RESOLVE(fallocate);
	RESOLVE(fsync);
	RESOLVE(fdatasync);
	RESOLVE(syncfs);
	RESOLVE(sync);
	RESOLVE(rename);
	RESOLVE(renameat);
	RESOLVE(unlink);
	RESOLVE(unlinkat);
	RESOLVE(mkdir);
	RESOLVE(mkdirat);
	if (!d || !*d)
		return;
	if (!realpath(d, g_dir))
		die("SD_CRASH_DIR");
	g_dir_len = strlen(g_dir);
	snprintf(g_save, sizeof(g_save), "%s.crash-save", g_dir);
	if (real_mkdir(g_save, 0700) < 0 && errno != EEXIST)
		die(g_save);
	g_crash_at = at ? strtoul(at, NULL, 10) : 0;
	g_active = 1;
}

static void write_stats(const char *what)
{
	const char *f = getenv("SD_CRASH_STATS");
	char buf[64];
	int fd, n;

	if (!f)
		return;
	fd = real_open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%s %lu\n", what, g_ops);
	if (real_write(fd, buf, (size_t)n) < 0)
		fprintf(stderr, "sd-crash: cannot write %s\n", f);
	close(fd);
}

__attribute__((destructor)) static void crash_fini(void)
{
	if (g_active)
		write_stats("ops");
}

/* ---- which paths are tracked ---- */

static int tracked_path(const char *p)
{
	size_t n = strlen(p);

	if (strncmp(p, g_dir, g_dir_len) || (p[g_dir_len] && p[g_dir_len] != '/'))
		return 0;
	if (n > 4 && (!strcmp(p + n - 4, ".log") || !strcmp(p + n - 4, ".pid") ||
		      !strcmp(p + n - 5, "/sock")))
		return 0;
	return 1;
}

static int fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	if (fd == AT_FDCWD)
		return getcwd(buf, len) ? 0 : -1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* dirfd + name as an absolute path (textual: the tree has no symlinks) */
static int join_path(int dirfd, const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX];

	if (name[0] == '/') {
		snprintf(buf, len, "%s", name);
		return 0;
	}
	if (fd_path(dirfd, dir, sizeof(dir)))
		return -1;
	return snprintf(buf, len, "%s/%s", dir, name) < (int)len ? 0 : -1;
}

/* A regular file or directory descriptor under the tree? */
static int tracked_fd(int fd, struct stat *sb)
{
	char p[PATH_MAX];

	if (!g_active || fstat(fd, sb) < 0 || !(S_ISREG(sb->st_mode) || S_ISDIR(sb->st_mode)))
		return 0;
	return !fd_path(fd, p, sizeof(p)) && tracked_path(p);
}

static void parent_of(const char *path, dev_t *dev, ino_t *ino)
{
	char d[PATH_MAX];
	char *slash;
	struct stat sb;

	snprintf(d, sizeof(d), "%s", path);
	slash = strrchr(d, '/');
	if (slash && slash != d)
		*slash = '\0';
	if (stat(d, &sb) < 0)
		die(d);
	*dev = sb.st_dev;
	*ino = sb.st_ino;
}

/* ---- the undo log ---- */

static void undo_apply(struct undo *u);

static void crash_now(const char *what)
{
	size_t i;

	for (i = g_nlog; i-- > 0;)
		if (!g_log[i]->durable)
			undo_apply(g_log[i]);
	for (i = 0; i < g_nlog; i++)
		if (g_log[i]->saved)
			real_unlink(g_log[i]->saved);
	write_stats("crashed");
	fprintf(stderr, "sd-crash: power cut before call %lu (%s)\n", g_ops, what);
	_exit(CRASH_EXIT);
}

/* Count one call (the lock held); the crash comes before the call runs. */
static void count_op(const char *what)
{
	g_ops++;
	if (g_crash_at && g_ops == g_crash_at)
		crash_now(what);
}

static struct undo *undo_new(enum undo_kind kind)
{
	struct undo *u = calloc(1, sizeof(*u));

	if (!u)
		die("calloc");
	u->kind = kind;
	u->fd = -1;
	if (g_nlog == g_caplog) {
		g_caplog = g_caplog ? 2 * g_caplog : 256;
		g_log = realloc(g_log, g_caplog * sizeof(*g_log));
		if (!g_log)
			die("realloc");
	}
	g_log[g_nlog++] = u;
	return u;
}

static void undo_free(struct undo *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->saved)
		real_unlink(u->saved);
	free(u->old);
	free(u->path);
	free(u->path2);
	free(u->saved);
	free(u);
}

/* Drop the records that are durable now. */
static void undo_compact(void)
{
	size_t i, j = 0;

	for (i = 0; i < g_nlog; i++) {
		if (g_log[i]->durable)
			undo_free(g_log[i]);
		else
			g_log[j++] = g_log[i];
	}
	g_nlog = j;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : real_unlink(p);
}

static void undo_apply(struct undo *u)
{
	switch (u->kind) {
	case U_DATA:
		if (u->len && real_pwrite(u->fd, u->old, u->len, u->off) != (ssize_t)u->len)
			die("undo pwrite");
		if (real_ftruncate(u->fd, u->old_size) < 0)
			die("undo ftruncate");
		break;
	case U_CREATE:
		if (real_unlink(u->path) < 0 && errno != ENOENT)
			die("undo create");
		break;
	case U_MKDIR: nftw(u->path, rm_one, 16, FTW_DEPTH | FTW_PHYS); break;
	case U_RENAME: /* path2 back to path, and the replaced path2 back */
		if (real_rename(u->path2, u->path) < 0)
			die("undo rename");
		if (u->saved && link(u->saved, u->path2) < 0)
			die("undo rename target");
		break;
	case U_UNLINK:
		if (link(u->saved, u->path) < 0)
			die("undo unlink");
		break;
	}
}

/* A hard link of path under the save directory, to bring it back. */
static char *save_link(const char *path)
{
	char buf[PATH_MAX + 64];

	snprintf(buf, sizeof(buf), "%s/%ld.%lu", g_save, (long)getpid(), ++g_saved_n);
	if (link(path, buf) < 0) {
		if (errno != ENOENT)
			die("save link");
		return NULL; /* the call fails the same way */
	}
	return strdup(buf);
}

/* Before a change of [off, off+len) of fd (and its size to new_size). */
static void record_data(int fd, const struct stat *sb, off_t off, size_t len)
{
	struct undo *u = undo_new(U_DATA);
	char link[64];
	size_t keep = 0;

	u->dev = sb->st_dev;
	u->ino = sb->st_ino;
	u->off = off;
	u->old_size = sb->st_size;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	u->fd = real_open(link, O_RDWR | O_CLOEXEC);
	if (u->fd < 0)
		die("reopen");
	if (off < sb->st_size)
		keep = (size_t)(sb->st_size - off) < len ? (size_t)(sb->st_size - off) : len;
	if (keep) {
		u->old = malloc(keep);
		if (!u->old || pread(u->fd, u->old, keep, off) != (ssize_t)keep)
			die("save old bytes");
	}
	u->len = keep;
}

static void record_name(enum undo_kind kind, const char *path, const char *path2, char *saved)
{
	struct undo *u = undo_new(kind);

	u->path = strdup(path);
	u->path2 = path2 ? strdup(path2) : NULL;
	u->saved = saved;
	parent_of(path, &u->ddev[0], &u->dino[0]);
	if (path2)
		parent_of(path2, &u->ddev[1], &u->dino[1]);
	else
		u->dsynced[1] = 1;
}

static void mark_file_synced(const struct stat *sb)
{
	size_t i;

	for (i = 0; i < g_nlog; i++)
		if (g_log[i]->kind == U_DATA && g_log[i]->dev == sb->st_dev &&
		    g_log[i]->ino == sb->st_ino)
			g_log[i]->durable = 1;
	undo_compact();
}

static void mark_dir_synced(const struct stat *sb)
{
	size_t i;
	int k;

	for (i = 0; i < g_nlog; i++) {
		struct undo *u = g_log[i];

		if (u->kind == U_DATA)
			continue;
		for (k = 0; k < 2; k++)
			if (u->ddev[k] == sb->st_dev && u->dino[k] == sb->st_ino)
				u->dsynced[k] = 1;
		if (u->dsynced[0] && u->dsynced[1])
			u->durable = 1;
	}
	undo_compact();
}

static void mark_all_synced(void)
{
	size_t i;

	for (i = 0; i < g_nlog; i++)
		g_log[i]->durable = 1;
	undo_compact();
}

/* ---- the interposed calls ---- */

static int do_open(int dirfd, const char *name, int flags, mode_t mode, int at)
{
	char p[PATH_MAX];
	struct stat sb;
	int fd, existed, track;

	track = g_active && (flags & (O_CREAT | O_TRUNC)) &&
		!join_path(dirfd, name, p, sizeof(p)) && tracked_path(p);
	if (!track)
		return at ? real_openat(dirfd, name, flags, mode) : real_open(name, flags, mode);
	pthread_mutex_lock(&g_lock);
	count_op("open O_CREAT/O_TRUNC");
	existed = stat(p, &sb) == 0;
	if (existed && (flags & O_TRUNC) && S_ISREG(sb.st_mode) && sb.st_size) {
		int tfd = real_open(p, O_RDONLY | O_CLOEXEC);

		if (tfd >= 0) {
			record_data(tfd, &sb, 0, (size_t)sb.st_size);
			close(tfd);
		}
	}
	fd = at ? real_openat(dirfd, name, flags, mode) : real_open(name, flags, mode);
	if (fd >= 0 && !existed)
		record_name(U_CREATE, p, NULL, NULL);
	pthread_mutex_unlock(&g_lock);
	return fd;
}

int open(const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return do_open(AT_FDCWD, name, flags, mode, 0);
}

int openat(int dirfd, const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return do_open(dirfd, name, flags, mode, 1);
}

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/* A write of len bytes at off (-1: the file position) through fd. */
static int write_begin(int fd, off_t off, size_t len)
{
	struct stat sb;

	if (!g_active || !tracked_fd(fd, &sb) || !S_ISREG(sb.st_mode))
		return 0;
	pthread_mutex_lock(&g_lock);
	count_op("write");
	if (off < 0)
		off = (fcntl(fd, F_GETFL) & O_APPEND) ? sb.st_size : lseek(fd, 0, SEEK_CUR);
	record_data(fd, &sb, off, len);
	return 1;
}

static void end(int locked)
{
	if (locked)
		pthread_mutex_unlock(&g_lock);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	int l = write_begin(fd, -1, len);
	ssize_t r = real_write(fd, buf, len);

	end(l);
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	int l = write_begin(fd, -1, iov_len(iov, n));
	ssize_t r = real_writev(fd, iov, n);

	end(l);
	return r;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	int l = write_begin(fd, off, len);
	ssize_t r = real_pwrite(fd, buf, len, off);

	end(l);
	return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	int l = write_begin(fd, off, iov_len(iov, n));
	ssize_t r = real_pwritev(fd, iov, n, off);

	end(l);
	return r;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pwritev(fd, iov, n, off);
}

int ftruncate(int fd, off_t len)
{
	struct stat sb;
	int l = 0, r;

	if (g_active && tracked_fd(fd, &sb)) {
		pthread_mutex_lock(&g_lock);
		l = 1;
		count_op("ftruncate");
		record_data(fd, &sb, len, len < sb.st_size ? (size_t)(sb.st_size - len) : 0);
	}
	r = real_ftruncate(fd, len);
	end(l);
	return r;
}

int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	struct stat sb;
	int l = 0, r;

	if (g_active && tracked_fd(fd, &sb)) {
		pthread_mutex_lock(&g_lock);
		l = 1;
		count_op("fallocate");
		/* a plain allocation only grows the size; the rest changes bytes */
		record_data(fd, &sb, off, mode & ~FALLOC_FL_KEEP_SIZE ? (size_t)len : 0);
	}
	r = real_fallocate(fd, mode, off, len);
	end(l);
	return r;
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

static int do_sync(int fd, int (*fn)(int))
{
	struct stat sb;
	int r;

	if (!g_active || !tracked_fd(fd, &sb))
		return fn(fd);
	pthread_mutex_lock(&g_lock);
	count_op("fsync/fdatasync");
	r = fn(fd);
	if (!r) {
		if (S_ISDIR(sb.st_mode))
			mark_dir_synced(&sb);
		else
			mark_file_synced(&sb);
	}
	pthread_mutex_unlock(&g_lock);
	return r;
}

int fsync(int fd)
{
	return do_sync(fd, real_fsync);
}

int fdatasync(int fd)
{
	return do_sync(fd, real_fdatasync);
}

int syncfs(int fd)
{
	int r;

	if (!g_active)
		return real_syncfs(fd);
	pthread_mutex_lock(&g_lock);
	count_op("syncfs");
	r = real_syncfs(fd);
	if (!r)
		mark_all_synced();
	pthread_mutex_unlock(&g_lock);
	return r;
}

void sync(void)
{
	if (!g_active) {
		real_sync();
		return;
	}
	pthread_mutex_lock(&g_lock);
	count_op("sync");
	real_sync();
	mark_all_synced();
	pthread_mutex_unlock(&g_lock);
}

static int do_rename(int ofd, const char *oname, int nfd, const char *nname)
{
	char op[PATH_MAX], np[PATH_MAX];
	char *saved = NULL;
	int r;

	if (!g_active || join_path(ofd, oname, op, sizeof(op)) ||
	    join_path(nfd, nname, np, sizeof(np)) || !(tracked_path(op) || tracked_path(np)))
		return real_renameat(ofd, oname, nfd, nname);
	pthread_mutex_lock(&g_lock);
	count_op("rename");
	if (access(np, F_OK) == 0)
		saved = save_link(np);
	r = real_renameat(ofd, oname, nfd, nname);
	if (!r)
		record_name(U_RENAME, op, np, saved);
	else if (saved)
		real_unlink(saved), free(saved);
	pthread_mutex_unlock(&g_lock);
	return r;
}

int rename(const char *o, const char *n)
{
	return do_rename(AT_FDCWD, o, AT_FDCWD, n);
}

int renameat(int ofd, const char *o, int nfd, const char *n)
{
	return do_rename(ofd, o, nfd, n);
}

static int do_unlink(int dirfd, const char *name, int flags)
{
	char p[PATH_MAX];
	char *saved = NULL;
	int r;

	if (!g_active || join_path(dirfd, name, p, sizeof(p)) || !tracked_path(p))
		return real_unlinkat(dirfd, name, flags);
	pthread_mutex_lock(&g_lock);
	count_op("unlink");
	if (!(flags & AT_REMOVEDIR))
		saved = save_link(p);
	r = real_unlinkat(dirfd, name, flags);
	if (!r && saved)
		record_name(U_UNLINK, p, NULL, saved);
	else if (saved)
		real_unlink(saved), free(saved);
	pthread_mutex_unlock(&g_lock);
	return r;
}

int unlink(const char *name)
{
	return do_unlink(AT_FDCWD, name, 0);
}

int unlinkat(int dirfd, const char *name, int flags)
{
	return do_unlink(dirfd, name, flags);
}

static int do_mkdir(int dirfd, const char *name, mode_t mode)
{
	char p[PATH_MAX];
	int r;

	if (!g_active || join_path(dirfd, name, p, sizeof(p)) || !tracked_path(p))
		return real_mkdirat(dirfd, name, mode);
	pthread_mutex_lock(&g_lock);
	count_op("mkdir");
	r = real_mkdirat(dirfd, name, mode);
	if (!r)
		record_name(U_MKDIR, p, NULL, NULL);
	pthread_mutex_unlock(&g_lock);
	return r;
}

int mkdir(const char *name, mode_t mode)
{
	return do_mkdir(AT_FDCWD, name, mode);
}

int mkdirat(int dirfd, const char *name, mode_t mode)
{
	return do_mkdir(dirfd, name, mode);
}
