// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dog: vdi read (to stdout) and vdi write (from stdin) through the
 * library's vdi API.  A small ring of chunk buffers keeps several requests
 * in flight; dog's own poll loop over sd_cluster_fd() drives the library.
 * Reads are written out in offset order as the oldest chunk completes;
 * writes complete in any order.  Splitting, copy-on-write and inode
 * updates are the library's.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sheepdog/sheepdog.h>

#include "dog.h"

/* One user request: bounds memory (DEPTH chunks) whatever the object size. */
#define DOG_XFER_CHUNK (UINT64_C(4) << 20)
/* Requests in flight: enough to keep a sheep busy over one connection. */
#define DOG_XFER_DEPTH 8

struct xfer;

struct xfer_slot {
	struct xfer *x;
	char *buf;
	uint64_t off;
	size_t len;
	bool busy;	/* submitted; the callback has not run yet */
	bool read_done; /* copy: the read half completed */
	int ret;	/* the callback's result */
};

struct xfer {
	struct sd_cluster *c;
	struct sd_vdi *vdi;
	const char *name;
	struct xfer_slot slots[DOG_XFER_DEPTH];
	unsigned nr_slots;
	uint64_t head, tail; /* slots [head, tail) are in use, oldest first */
	unsigned busy;
	int err; /* first failure (-errno), 0 if none */
	uint64_t err_off;
	struct dog_progress prog;
};

static void xfer_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct xfer_slot *s = opaque;

	(void)vdi;
	s->ret = ret;
	s->busy = false;
	s->x->busy--;
}

/* Chunks on a fixed grid so that large transfers send aligned requests. */
static size_t chunk_len(uint64_t pos, uint64_t end)
{
	uint64_t len = DOG_XFER_CHUNK - pos % DOG_XFER_CHUNK;

	return (size_t)(end - pos < len ? end - pos : len);
}

static int xfer_init(struct xfer *x, struct sd_vdi *vdi, const char *name, uint64_t len)
{
	size_t size = len < DOG_XFER_CHUNK ? (size_t)len : (size_t)DOG_XFER_CHUNK;
	uint64_t need = (len + DOG_XFER_CHUNK - 1) / DOG_XFER_CHUNK;
	unsigned i;

	memset(x, 0, sizeof(*x));
	x->c = dog_cluster();
	x->vdi = vdi;
	x->name = name;
	/* a short transfer may cross one chunk boundary: two slots */
	x->nr_slots = need + 1 < DOG_XFER_DEPTH ? (unsigned)need + 1 : DOG_XFER_DEPTH;
	for (i = 0; i < x->nr_slots; i++) {
		x->slots[i].x = x;
		x->slots[i].buf = malloc(size ? size : 1);
		if (!x->slots[i].buf) {
			dog_err("Out of memory");
			return DOG_EXIT_SYSFAIL;
		}
	}
	dog_progress_begin(&x->prog, len);
	return DOG_EXIT_SUCCESS;
}

/*
 * Wait (bounded) for the library's fd and run one service round, which
 * runs the callbacks of whatever completed.  0 or -errno (broken handle).
 */
static int xfer_wait(struct xfer *x)
{
	struct pollfd pfd = { .fd = sd_cluster_fd(x->c), .events = POLLIN };

	if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
		return -errno;
	return sd_cluster_service(x->c);
}

static void xfer_fail(struct xfer *x, int err, uint64_t off)
{
	if (!x->err) {
		x->err = err;
		x->err_off = off;
	}
}

/* Wait for every request in flight, then free the buffers. */
static void xfer_finish(struct xfer *x)
{
	unsigned i;
	int ret;

	while (x->busy) {
		ret = xfer_wait(x);
		if (ret) {
			/* callbacks may never run: their buffers must stay */
			dog_err("Failed to wait for VDI %s: %s", x->name, strerror(-ret));
			return;
		}
	}
	for (i = 0; i < x->nr_slots; i++)
		free(x->slots[i].buf);
}

static struct xfer_slot *xfer_slot(struct xfer *x, uint64_t n)
{
	return &x->slots[n % x->nr_slots];
}

/*
 * Start reading the chunk at *next (up to end) into the tail slot and
 * advance *next.  A submit error is recorded with xfer_fail() and -1
 * returned, so the caller stops filling the pipeline.
 */
static int xfer_read_next(struct xfer *x, struct sd_vdi *vdi, uint64_t *next, uint64_t end)
{
	struct xfer_slot *s = xfer_slot(x, x->tail);
	int ret;

	s->off = *next;
	s->len = chunk_len(*next, end);
	s->read_done = false;
	ret = sd_vdi_aio_read(vdi, s->buf, s->len, s->off, xfer_cb, s);
	if (ret) {
		xfer_fail(x, ret, *next);
		return -1;
	}
	s->busy = true;
	x->busy++;
	x->tail++;
	*next += s->len;
	return 0;
}

static int write_out(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to len bytes from stdin; returns bytes read (short only at EOF) or -errno. */
static ssize_t read_in(char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(STDIN_FILENO, buf + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int xfer_result(struct xfer *x, const char *verb, uint64_t done, int local)
{
	if (local)
		return local;
	if (x->err) {
		int ret = dog_errno_to_exit(x->err);

		/* as dog_exec does: say which sheep could not be reached */
		if (ret == DOG_EXIT_SYSFAIL)
			dog_err("Failed to communicate with %s: %s", dog_conn_name(),
				strerror(-x->err));
		dog_err("Failed to %s VDI %s at offset %" PRIu64 ": %s", verb, x->name, x->err_off,
			strerror(-x->err));
		return ret;
	}
	dog_progress_end(&x->prog, done);
	return DOG_EXIT_SUCCESS;
}

int dog_vdi_to_stdout(struct sd_vdi *vdi, const char *name, uint64_t offset, uint64_t len)
{
	uint64_t next = offset, end = offset + len, done = 0;
	struct xfer x;
	int ret, local = 0;

	ret = xfer_init(&x, vdi, name, len);
	while (!ret && !x.err && !local && done < len) {
		struct xfer_slot *s;

		/* keep the pipeline full */
		while (x.tail - x.head < x.nr_slots && next < end)
			if (xfer_read_next(&x, vdi, &next, end))
				break;
		if (x.err || x.head == x.tail)
			break;
		/* stdout wants the data in order: wait for the oldest chunk */
		s = xfer_slot(&x, x.head);
		if (s->busy) {
			int w = xfer_wait(&x);

			if (w)
				xfer_fail(&x, w, s->off);
			continue;
		}
		if (s->ret) {
			xfer_fail(&x, s->ret, s->off);
			break;
		}
		ret = write_out(s->buf, s->len);
		if (ret) {
			dog_err("Failed to write to stdout: %s", strerror(-ret));
			local = DOG_EXIT_FAILURE;
			ret = 0;
			break;
		}
		x.head++;
		done += s->len;
		dog_progress_update(&x.prog, done);
	}
	xfer_finish(&x);
	return ret ? ret : xfer_result(&x, "read", done, local);
}

int dog_stdin_to_vdi(struct sd_vdi *vdi, const char *name, uint64_t offset, uint64_t len)
{
	uint64_t next = offset, end = offset + len, done = 0;
	bool eof = false;
	struct xfer x;
	int ret, local = 0;

	ret = xfer_init(&x, vdi, name, len);
	while (!ret) {
		struct xfer_slot *s;

		while (!x.err && !local && !eof && x.tail - x.head < x.nr_slots && next < end) {
			size_t want = chunk_len(next, end);
			ssize_t got;

			s = xfer_slot(&x, x.tail);
			got = read_in(s->buf, want);
			if (got < 0) {
				dog_err("Failed to read from stdin: %s", strerror((int)-got));
				local = DOG_EXIT_FAILURE;
				break;
			}
			if ((size_t)got < want)
				eof = true; /* end of input: write what came */
			if (!got)
				break;
			s->off = next;
			s->len = (size_t)got;
			ret = sd_vdi_aio_write(vdi, s->buf, s->len, s->off, 0, xfer_cb, s);
			if (ret) {
				xfer_fail(&x, ret, next);
				ret = 0;
				break;
			}
			s->busy = true;
			x.busy++;
			x.tail++;
			next += s->len;
		}
		if (x.head == x.tail)
			break;
		/* writes finish in any order; retire them oldest first */
		s = xfer_slot(&x, x.head);
		if (s->busy) {
			int w = xfer_wait(&x);

			if (w) {
				xfer_fail(&x, w, s->off);
				break;
			}
			continue;
		}
		if (s->ret)
			xfer_fail(&x, s->ret, s->off);
		else
			done += s->len;
		x.head++;
		dog_progress_update(&x.prog, done);
	}
	xfer_finish(&x);
	return ret ? ret : xfer_result(&x, "write", done, local);
}

int dog_vdi_copy(struct sd_vdi *src, struct sd_vdi *dst, const char *name, uint64_t len)
{
	uint64_t next = 0, done = 0, n;
	struct xfer x;
	int ret;

	ret = xfer_init(&x, dst, name, len);
	while (!ret) {
		struct xfer_slot *s;

		while (!x.err && x.tail - x.head < x.nr_slots && next < len)
			if (xfer_read_next(&x, src, &next, len))
				break;
		/* each chunk read goes straight on to its write, in any order */
		for (n = x.head; n < x.tail; n++) {
			s = xfer_slot(&x, n);
			if (s->busy || s->read_done)
				continue;
			s->read_done = true;
			if (s->ret || x.err)
				continue;
			s->ret = sd_vdi_aio_write(dst, s->buf, s->len, s->off, 0, xfer_cb, s);
			if (!s->ret) {
				s->busy = true;
				x.busy++;
			}
		}
		if (x.head == x.tail)
			break;
		s = xfer_slot(&x, x.head);
		if (s->busy || !s->read_done) {
			int w = xfer_wait(&x);

			if (w) {
				xfer_fail(&x, w, s->off);
				break;
			}
			continue;
		}
		if (s->ret)
			xfer_fail(&x, s->ret, s->off);
		else if (!x.err)
			done += s->len;
		x.head++;
		dog_progress_update(&x.prog, done);
	}
	xfer_finish(&x);
	return ret ? ret : xfer_result(&x, "copy", done, 0);
}

/* ---- the commands ---- */

/* Offset and length arguments, checked before sheep is contacted. */
static int parse_args(int argc, char **argv, uint64_t *offset, uint64_t *len, bool *has_len)
{
	*offset = 0;
	*has_len = argc > 2;
	if (argc > 1 && dog_parse_size(argv[1], offset)) {
		dog_err("Invalid offset '%s'", argv[1]);
		return DOG_EXIT_USAGE;
	}
	if (argc > 2 && dog_parse_size(argv[2], len)) {
		dog_err("Invalid length '%s'", argv[2]);
		return DOG_EXIT_USAGE;
	}
	return DOG_EXIT_SUCCESS;
}

/*
 * Look the vdi up (upstream's messages and exit codes), open it through the
 * library, clip the range to its size and run the transfer.
 */
static int vdi_io(int argc, char **argv, uint32_t snapid, const char *tag, bool write)
{
	const char *name = argv[0];
	uint64_t offset, len = 0, size;
	struct sd_cluster *c;
	struct sd_vdi *vdi;
	bool has_len;
	uint32_t vid;
	int ret, err;

	if ((ret = parse_args(argc, argv, &offset, &len, &has_len)))
		return ret;
	if ((ret = dog_vdi_lookup(name, snapid, tag, &vid)))
		return ret;
	c = dog_cluster();
	/* reads inspect, as upstream's dog does: no lock, so they work while
	 * a gateway holds the vdi exclusively (its cache may be ahead) */
	vdi = sd_vdi_open_flags(c, name, snapid, tag, write ? 0 : SD_VDI_NOLOCK);
	if (!vdi) {
		err = -errno;
		dog_err("Failed to open VDI %s: %s", name, sd_cluster_errmsg(c));
		return dog_errno_to_exit(err);
	}
	size = sd_vdi_size(vdi);
	if (offset > size) {
		dog_err("%s offset is beyond the end of the VDI", write ? "Write" : "Read");
		ret = DOG_EXIT_FAILURE;
	} else {
		if (!has_len || len > size - offset)
			len = size - offset;
		ret = write ? dog_stdin_to_vdi(vdi, name, offset, len)
			    : dog_vdi_to_stdout(vdi, name, offset, len);
	}
	err = sd_vdi_close(vdi);
	if (err && !ret) {
		dog_err("Failed to close VDI %s: %s", name, sd_cluster_errmsg(c));
		ret = dog_errno_to_exit(err);
	}
	return ret;
}

int dog_cmd_vdi_read(const struct dog_opts *o, int argc, char **argv)
{
	return vdi_io(argc, argv, o->snapid, o->tag, false);
}

int dog_cmd_vdi_write(const struct dog_opts *o, int argc, char **argv)
{
	(void)o;
	return vdi_io(argc, argv, 0, "", true);
}
