// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The object store: one file per object under <store>/obj, named by the
 * 16-hex-digit oid, always at the object's full size (sparse).
 *
 * Crash safety: an object is only ever created by writing a temp file
 * (".tmp.*"), syncing it, renaming it over the final name and syncing the
 * directory, so a crash leaves either no object, the old object or the
 * complete new one.  Temp files are removed when the store is opened.
 * In-place writes (WRITE_OBJ) are pwrite + fdatasync; with -n (nosync) the
 * syncs are skipped and sheep_store_sync() makes everything durable.
 *
 * Thread context: any worker thread; the struct is read-only after open
 * (the open-file cache has its own lock).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fullio.h"
#include "sheep.h"

#define TMP_PREFIX  ".tmp."
#define CONFIG_NAME "config"
#define COPY_CHUNK  (1u << 20)
#define ZERO_CHUNK  4096u

static unsigned long g_tmp_counter;

static void fault(struct sheep_store *st, enum sheep_fault_point p)
{
	if (st->fault_cb)
		st->fault_cb(st->fault_arg, p);
}

static void oid_name(char *buf, size_t len, uint64_t oid)
{
	snprintf(buf, len, "%016" PRIx64, oid);
}

static void tmp_name(char *buf, size_t len, const char *what)
{
	unsigned long n = __atomic_add_fetch(&g_tmp_counter, 1, __ATOMIC_RELAXED);

	snprintf(buf, len, TMP_PREFIX "%s.%ld.%lu", what, (long)getpid(), n);
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	/* sdc_full_io only reads from buf for a write */
	return sdc_full_io(fd, SDC_IO_PWRITE, (void *)buf, len, off, -EIO);
}

/* Reads past EOF return -EIO: objects are always stored at full size. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	return sdc_full_io(fd, SDC_IO_PREAD, buf, len, off, -EIO);
}

static int is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	return len == 0 || (p[0] == 0 && !memcmp(p, p + 1, len - 1));
}

/* Write buf at off, skipping all-zero 4 KiB chunks so the file stays sparse. */
static int pwrite_sparse(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < 4096 ? len - done : 4096;

		if (!is_zero(p + done, n)) {
			int r = pwrite_full(fd, p + done, n, off + done);

			if (r)
				return r;
		}
		done += n;
	}
	return 0;
}

static int open_obj(struct sheep_store *st, uint64_t oid, int flags, uint64_t *size)
{
	char name[32];
	struct stat sb;
	int fd;

	oid_name(name, sizeof(name), oid);
	fd = openat(st->obj_fd, name, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*size = (uint64_t)sb.st_size;
	return fd;
}

/*
 * Open-file cache: READ/WRITE of an object reuse an open descriptor instead
 * of open + fstat + close per request.  Direct-mapped by oid; a slot's fd is
 * refcounted by the requests using it.  Replacing or removing an object
 * invalidates its slot (closing the fd once unused) and bumps the slot's
 * generation, so a descriptor opened before the rename is never installed
 * after it.  Objects never change size in place, so the size is cached too.
 */
struct fd_slot {
	uint64_t oid;
	uint64_t size;
	unsigned gen;
	int fd; /* -1: empty */
	int refs;
	int dead; /* object replaced/removed: close when refs drops to 0 */
};

struct sheep_fd_cache {
	pthread_mutex_t lock;
	unsigned shift; /* 64 - log2(nr slots) */
	struct fd_slot *slots;
};

struct obj_ref {
	int fd;
	uint64_t size;
	struct fd_slot *slot; /* NULL: not cached, close fd after use */
};

static struct fd_slot *slot_of(struct sheep_fd_cache *c, uint64_t oid)
{
	return &c->slots[(oid * UINT64_C(0x9e3779b97f4a7c15)) >> c->shift];
}

static struct sheep_fd_cache *fd_cache_create(void)
{
	struct sheep_fd_cache *c = calloc(1, sizeof(*c));
	struct rlimit rl;
	unsigned bits = 12, i;

	if (!c)
		return NULL;
	/* leave most descriptors to connections: at most a quarter for the cache */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		while (bits > 4 && (rlim_t)(1u << bits) > rl.rlim_cur / 4)
			bits--;
	c->shift = 64 - bits;
	c->slots = calloc(1u << bits, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	for (i = 0; i < 1u << bits; i++)
		c->slots[i].fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void fd_cache_destroy(struct sheep_fd_cache *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < 1u << (64 - c->shift); i++)
		if (c->slots[i].fd >= 0)
			close(c->slots[i].fd);
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c);
}

static int obj_get(struct sheep_store *st, uint64_t oid, struct obj_ref *ref)
{
	struct sheep_fd_cache *c = st->fds;
	struct fd_slot *s = NULL;
	unsigned gen = 0;
	int fd;

	ref->slot = NULL;
	if (c) {
		s = slot_of(c, oid);
		pthread_mutex_lock(&c->lock);
		if (s->fd >= 0 && s->oid == oid && !s->dead) {
			s->refs++;
			ref->fd = s->fd;
			ref->size = s->size;
			ref->slot = s;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		gen = s->gen;
		pthread_mutex_unlock(&c->lock);
	}
	fd = open_obj(st, oid, O_RDWR, &ref->size);
	if (fd < 0)
		return fd;
	ref->fd = fd;
	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (s->gen == gen) {
		if (s->fd >= 0 && !s->refs) {
			close(s->fd);
			s->fd = -1;
		}
		if (s->fd < 0) {
			s->oid = oid;
			s->fd = fd;
			s->size = ref->size;
			s->refs = 1;
			s->dead = 0;
			ref->slot = s;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void obj_put(struct sheep_store *st, struct obj_ref *ref)
{
	struct fd_slot *s = ref->slot;

	if (!s) {
		close(ref->fd);
		return;
	}
	pthread_mutex_lock(&st->fds->lock);
	if (!--s->refs && s->dead) {
		close(s->fd);
		s->fd = -1;
		s->dead = 0;
	}
	pthread_mutex_unlock(&st->fds->lock);
}

/* The name now refers to another file (or none): drop the cached one. */
static void slot_invalidate(struct fd_slot *s)
{
	s->gen++;
	if (s->fd < 0)
		return;
	if (s->refs) {
		s->dead = 1;
	} else {
		close(s->fd);
		s->fd = -1;
	}
}

static void obj_invalidate(struct sheep_store *st, uint64_t oid)
{
	struct sheep_fd_cache *c = st->fds;
	struct fd_slot *s;

	if (!c)
		return;
	s = slot_of(c, oid);
	pthread_mutex_lock(&c->lock);
	if (s->fd < 0 || s->oid == oid)
		slot_invalidate(s);
	else
		s->gen++;
	pthread_mutex_unlock(&c->lock);
}

static void obj_invalidate_all(struct sheep_store *st)
{
	struct sheep_fd_cache *c = st->fds;
	unsigned i;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < 1u << (64 - c->shift); i++)
		slot_invalidate(&c->slots[i]);
	pthread_mutex_unlock(&c->lock);
}

static void remove_temps(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
			sheep_info("removing stale temp file %s", de->d_name);
			unlinkat(dfd, de->d_name, 0);
		}
	}
	closedir(d);
}

int sheep_store_open(struct sheep_store *st, const char *dir, int nosync)
{
	int r;

	memset(st, 0, sizeof(*st));
	st->nosync = nosync;
	st->obj_fd = -1;
	st->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dir_fd < 0)
		return -errno;
	if (mkdirat(st->dir_fd, "obj", 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto err;
	}
	st->obj_fd = openat(st->dir_fd, "obj", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->obj_fd < 0) {
		r = -errno;
		goto err;
	}
	remove_temps(st->dir_fd);
	remove_temps(st->obj_fd);
	st->fds = fd_cache_create(); /* optional: NULL just means no caching */
	return 0;
err:
	close(st->dir_fd);
	st->dir_fd = -1;
	return r;
}

void sheep_store_close(struct sheep_store *st)
{
	fd_cache_destroy(st->fds);
	st->fds = NULL;
	if (st->obj_fd >= 0)
		close(st->obj_fd);
	if (st->dir_fd >= 0)
		close(st->dir_fd);
	st->obj_fd = st->dir_fd = -1;
}

/* Copy the first min(size, source size) bytes of src into dst, keeping holes. */
static int copy_object(int src, int dst, uint64_t size)
{
	struct stat sb;
	uint64_t off = 0, end;
	char *buf;
	int r = 0;

	if (fstat(src, &sb) < 0)
		return -errno;
	end = (uint64_t)sb.st_size < size ? (uint64_t)sb.st_size : size;
	buf = malloc(COPY_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (off < end) {
		size_t n = end - off < COPY_CHUNK ? (size_t)(end - off) : COPY_CHUNK;

		r = pread_full(src, buf, n, off);
		if (r)
			break;
		r = pwrite_sparse(dst, buf, n, off);
		if (r)
			break;
		off += n;
	}
	free(buf);
	return r;
}

struct create_spec {
	uint64_t size;
	uint64_t cow_oid;
	const void *data;
	size_t len;
	uint64_t off;
	/* inode variant */
	const void *hdr;
	const void *idx;
	size_t idx_len;
};

/*
 * Give a new data object its disk blocks up front, as upstream sheep does:
 * durable overwrites of allocated blocks need no journal commit, so they are
 * several times faster than first writes into holes.  A zero-length create
 * is an explicit preallocation (dog vdi create -P): its blocks are written
 * with zeros so that even the extent conversion disappears; other creates
 * only reserve the space.  Inodes (mostly empty) stay sparse.
 */
static int allocate_object(int fd, const struct create_spec *s)
{
	uint64_t off = 0;
	char *zero;
	int r = 0;

	if (s->len || s->cow_oid) {
		if (fallocate(fd, 0, 0, (off_t)s->size) < 0 && errno != EOPNOTSUPP &&
		    errno != ENOSYS)
			return -errno;
		return 0;
	}
	/*
	 * One page per pwrite: the page cache sizes folios by the write, and
	 * a 4 KiB overwrite of a large folio makes fdatasync write back the
	 * whole folio.  Zero-filling in 1 MiB writes halved durable 4 KiB
	 * random-write IOPS (docs/performance.md).
	 */
	zero = calloc(1, ZERO_CHUNK);
	if (!zero)
		return -ENOMEM;
	while (off < s->size && !r) {
		size_t n = s->size - off < ZERO_CHUNK ? (size_t)(s->size - off) : ZERO_CHUNK;

		r = pwrite_full(fd, zero, n, off);
		off += n;
	}
	free(zero);
	return r;
}

static int create_common(struct sheep_store *st, uint64_t oid, const struct create_spec *s)
{
	char name[32], tmp[64];
	int fd, src = -1, r;

	oid_name(name, sizeof(name), oid);
	if (s->cow_oid && s->len != s->size) {
		char sname[32];

		oid_name(sname, sizeof(sname), s->cow_oid);
		src = openat(st->obj_fd, sname, O_RDONLY | O_CLOEXEC);
		if (src < 0)
			return -errno;
	}
	tmp_name(tmp, sizeof(tmp), name);
	fd = openat(st->obj_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out_src;
	}
	fault(st, SHEEP_FAULT_TMP_OPEN);
	if (!s->hdr) {
		r = allocate_object(fd, s);
		if (r)
			goto err;
	}
	if (src >= 0) {
		r = copy_object(src, fd, s->size);
		if (r)
			goto err;
	}
	if (s->hdr) {
		r = pwrite_full(fd, s->hdr, SD_INODE_HEADER_SIZE, 0);
		if (!r && s->idx)
			r = pwrite_sparse(fd, s->idx, s->idx_len, SD_INODE_HEADER_SIZE);
		if (r)
			goto err;
	}
	if (s->len) {
		r = pwrite_full(fd, s->data, s->len, s->off);
		if (r)
			goto err;
	}
	fault(st, SHEEP_FAULT_TMP_WRITTEN);
	if (ftruncate(fd, (off_t)s->size) < 0) {
		r = -errno;
		goto err;
	}
	if (!st->nosync && fdatasync(fd) < 0) {
		r = -errno;
		goto err;
	}
	fault(st, SHEEP_FAULT_TMP_SYNCED);
	if (renameat(st->obj_fd, tmp, st->obj_fd, name) < 0) {
		r = -errno;
		goto err;
	}
	fault(st, SHEEP_FAULT_RENAMED);
	obj_invalidate(st, oid);
	close(fd);
	if (src >= 0)
		close(src);
	if (!st->nosync && fsync(st->obj_fd) < 0)
		return -errno;
	fault(st, SHEEP_FAULT_DIR_SYNCED);
	return 0;
err:
	close(fd);
	unlinkat(st->obj_fd, tmp, 0);
out_src:
	if (src >= 0)
		close(src);
	return r;
}

int sheep_store_create(struct sheep_store *st, uint64_t oid, uint64_t size, uint64_t cow_oid,
		       const void *data, uint32_t len, uint64_t off)
{
	struct create_spec s = {
		.size = size,
		.cow_oid = cow_oid,
		.data = data,
		.len = len,
		.off = off,
	};

	if (off > size || len > size - off)
		return -EINVAL;
	return create_common(st, oid, &s);
}

int sheep_store_create_inode(struct sheep_store *st, uint64_t oid, const void *hdr, const void *idx,
			     size_t idx_len)
{
	struct create_spec s = {
		.size = SD_INODE_SIZE,
		.hdr = hdr,
		.idx = idx,
		.idx_len = idx_len,
	};

	if (idx_len > SD_INODE_INDEX_END - SD_INODE_HEADER_SIZE)
		return -EINVAL;
	return create_common(st, oid, &s);
}

int sheep_store_read(struct sheep_store *st, uint64_t oid, void *buf, uint32_t len, uint64_t off)
{
	struct obj_ref ref;
	int r;

	r = obj_get(st, oid, &ref);
	if (r)
		return r;
	if (off > ref.size || len > ref.size - off)
		r = -EINVAL;
	else
		r = pread_full(ref.fd, buf, len, off);
	obj_put(st, &ref);
	return r;
}

int sheep_store_read_nowait(struct sheep_store *st, uint64_t oid, void *buf, uint32_t len,
			    uint64_t off)
{
	struct sheep_fd_cache *c = st->fds;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct obj_ref ref = { .fd = -1 };
	struct fd_slot *s;
	ssize_t n;

	if (!c || !len)
		return -EAGAIN;
	/* only descriptors already cached: an open() may block on the disk */
	s = slot_of(c, oid);
	pthread_mutex_lock(&c->lock);
	if (s->fd >= 0 && s->oid == oid && !s->dead) {
		s->refs++;
		ref.fd = s->fd;
		ref.size = s->size;
		ref.slot = s;
	}
	pthread_mutex_unlock(&c->lock);
	if (!ref.slot)
		return -EAGAIN;
	n = -1;
	if (off <= ref.size && len <= ref.size - off)
		n = preadv2(ref.fd, &iov, 1, (off_t)off, RWF_NOWAIT);
	obj_put(st, &ref);
	return n == (ssize_t)len ? 0 : -EAGAIN;
}

int sheep_store_write(struct sheep_store *st, uint64_t oid, const void *buf, uint32_t len,
		      uint64_t off)
{
	struct obj_ref ref;
	int r;

	r = obj_get(st, oid, &ref);
	if (r)
		return r;
	if (off > ref.size || len > ref.size - off)
		r = -EINVAL;
	else
		r = pwrite_full(ref.fd, buf, len, off);
	if (!r && len && !st->nosync && fdatasync(ref.fd) < 0)
		r = -errno;
	obj_put(st, &ref);
	return r;
}

int sheep_store_remove(struct sheep_store *st, uint64_t oid)
{
	char name[32];

	oid_name(name, sizeof(name), oid);
	if (unlinkat(st->obj_fd, name, 0) < 0)
		return -errno;
	obj_invalidate(st, oid);
	if (!st->nosync && fsync(st->obj_fd) < 0)
		return -errno;
	return 0;
}

int sheep_store_size(struct sheep_store *st, uint64_t oid, uint64_t *size)
{
	char name[32];
	struct stat sb;

	oid_name(name, sizeof(name), oid);
	if (fstatat(st->obj_fd, name, &sb, 0) < 0)
		return -errno;
	*size = (uint64_t)sb.st_size;
	return 0;
}

static int for_each_name(struct sheep_store *st,
			 int (*cb)(struct sheep_store *st, const char *name, void *arg), void *arg)
{
	int fd = openat(st->obj_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		r = cb(st, de->d_name, arg);
		if (r)
			break;
	}
	closedir(d);
	return r;
}

static int wipe_one(struct sheep_store *st, const char *name, void *arg)
{
	if (unlinkat(st->obj_fd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int sheep_store_wipe(struct sheep_store *st)
{
	int r = for_each_name(st, wipe_one, NULL);

	obj_invalidate_all(st);
	if (!r && fsync(st->obj_fd) < 0)
		r = -errno;
	return r;
}

int sheep_store_sync(struct sheep_store *st)
{
	return syncfs(st->obj_fd) < 0 ? -errno : 0;
}

struct oid_iter {
	int (*cb)(void *arg, uint64_t oid);
	void *arg;
};

static int oid_one(struct sheep_store *st, const char *name, void *arg)
{
	struct oid_iter *it = arg;
	uint64_t oid;
	char *end;

	if (strlen(name) != 16)
		return 0;
	errno = 0;
	oid = strtoull(name, &end, 16);
	if (errno || *end)
		return 0;
	return it->cb(it->arg, oid);
}

int sheep_store_for_each_oid(struct sheep_store *st, int (*cb)(void *arg, uint64_t oid), void *arg)
{
	struct oid_iter it = { .cb = cb, .arg = arg };

	return for_each_name(st, oid_one, &it);
}

struct inode_iter {
	int (*cb)(void *arg, uint32_t vid);
	void *arg;
};

static int inode_one(void *arg, uint64_t oid)
{
	struct inode_iter *it = arg;

	if ((oid & SD_OID_KIND_MASK) != SD_VDI_BIT || sd_oid_to_idx(oid) || !sd_oid_to_vid(oid))
		return 0;
	return it->cb(it->arg, sd_oid_to_vid(oid));
}

int sheep_store_for_each_inode(struct sheep_store *st, int (*cb)(void *arg, uint32_t vid),
			       void *arg)
{
	struct inode_iter it = { .cb = cb, .arg = arg };

	return sheep_store_for_each_oid(st, inode_one, &it);
}

/* ---- config: "key=value" lines, replaced atomically ---- */

int sheep_store_config_save(struct sheep_store *st, const struct sheep_config *cfg)
{
	char buf[512], tmp[64];
	int fd, n, r = 0;

	n = snprintf(buf, sizeof(buf),
		     "ctime=%" PRIu64 "\nflags=%u\ncopies=%u\ncopy_policy=%u\n"
		     "block_size_shift=%u\nstore=%.15s\nepoch_time=%" PRIu64 "\n",
		     cfg->ctime, cfg->flags, cfg->nr_copies, cfg->copy_policy,
		     cfg->block_size_shift, cfg->store, cfg->epoch_time);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	tmp_name(tmp, sizeof(tmp), CONFIG_NAME);
	fd = openat(st->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = pwrite_full(fd, buf, (size_t)n, 0);
	if (!r && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (!r && renameat(st->dir_fd, tmp, st->dir_fd, CONFIG_NAME) < 0)
		r = -errno;
	if (r) {
		unlinkat(st->dir_fd, tmp, 0);
		return r;
	}
	if (fsync(st->dir_fd) < 0)
		return -errno;
	return 0;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || end == v || *end || *out > max || *v == '-')
		return -EINVAL;
	return 0;
}

int sheep_store_config_load(struct sheep_store *st, struct sheep_config *cfg)
{
	char buf[512];
	char *line, *next;
	ssize_t n;
	unsigned seen = 0;
	int fd;

	memset(cfg, 0, sizeof(*cfg));
	fd = openat(st->dir_fd, CONFIG_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	for (line = buf; *line; line = next) {
		char *eq;
		uint64_t v;

		next = strchr(line, '\n');
		if (!next)
			return -EINVAL;
		*next++ = '\0';
		eq = strchr(line, '=');
		if (!eq)
			return -EINVAL;
		*eq++ = '\0';
		if (!strcmp(line, "store")) {
			snprintf(cfg->store, sizeof(cfg->store), "%s", eq);
			seen |= 1u << 5;
			continue;
		}
		if (parse_u64(eq, UINT64_MAX, &v))
			return -EINVAL;
		if (!strcmp(line, "ctime")) {
			cfg->ctime = v;
			seen |= 1u << 0;
		} else if (!strcmp(line, "flags") && v <= UINT16_MAX) {
			cfg->flags = (uint16_t)v;
			seen |= 1u << 1;
		} else if (!strcmp(line, "copies") && v <= UINT8_MAX) {
			cfg->nr_copies = (uint8_t)v;
			seen |= 1u << 2;
		} else if (!strcmp(line, "copy_policy") && v <= UINT8_MAX) {
			cfg->copy_policy = (uint8_t)v;
			seen |= 1u << 3;
		} else if (!strcmp(line, "block_size_shift") && v >= SD_MIN_BLOCK_SIZE_SHIFT &&
			   v <= SD_MAX_BLOCK_SIZE_SHIFT) {
			cfg->block_size_shift = (uint8_t)v;
			seen |= 1u << 4;
		} else if (!strcmp(line, "epoch_time")) {
			cfg->epoch_time = v;
			seen |= 1u << 6;
		} else {
			return -EINVAL;
		}
	}
	return seen == 0x7f ? 0 : -EINVAL;
}
