// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * SD_VDI_EXCLUSIVE (lib/vdi.c), the exclusive open a write-back gateway
 * needs.
 *   test_lib_excl            against the fake sheep (tests/unit/sdl_fake.c):
 *                            flags, the upstream fallback (no lock, one
 *                            warning), the lock taken again after the sheep
 *                            forgot it, refused when another gateway took
 *                            it meanwhile (I/O fails -EBUSY until it is
 *                            free again), release on close
 *   test_lib_excl ADDR       against a real sheep (tests/bats/lib_excl.bats):
 *                            exclusive then shared / plain / exclusive from
 *                            another client refused, shared then exclusive
 *                            refused, a killed holder (or shared gateway)
 *                            frees the vdi at once, several handles of one
 *                            client, a snapshot keeps the working vdi locked
 *   test_lib_excl ADDR --hold NAME SECONDS
 *                            open NAME exclusively and write 4 KiB every
 *                            50 ms for SECONDS; prints "held", then
 *                            "ok N fail M" each second, on failures
 *                            "write failed: ERRNO: MESSAGE" and
 *                            "recovered" at the next success
 *   test_lib_excl ADDR --try NAME SECONDS
 *                            open NAME exclusively; "opened" (then hold it
 *                            SECONDS, exit 0) or "refused: MESSAGE" (exit 2
 *                            for EBUSY, else 1)
 * The real-sheep checks need a formatted cluster without vdis named ex*.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sdl_check.h"
#include "sdl_fake.h"

int g_check_failed;

#define SHIFT 20 /* 1 MiB objects in the fake */
#define OBJ   (1u << SHIFT)
#define ALL   (~(uint64_t)0)
#define MIB   (1024u * 1024u)

/* ---- log capture ---- */

struct logs {
	int warnings; /* LOG_WARNING lines about exclusivity */
	int errors;   /* LOG_ERR lines about the lost lock */
};

static void log_cb(int level, const char *msg, void *opaque)
{
	struct logs *l = opaque;

	if (level == LOG_WARNING && strstr(msg, "exclusive"))
		l->warnings++;
	if (level == LOG_ERR && strstr(msg, "another gateway"))
		l->errors++;
}

/* ---- against the fake ---- */

static void test_flags(void)
{
	struct fake f;
	struct sd_cluster *c;

	fake_init(&f, SHIFT);
	fake_vdi_create(&f, "v", 4 * OBJ, 0);
	f.auto_serve = 1;
	c = fake_connect(&f, NULL);
	CHECK(c != NULL);
	errno = 0;
	CHECK(!sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_SHARED | SD_VDI_EXCLUSIVE));
	CHECK_EQ(errno, EINVAL);
	CHECK(strstr(sd_cluster_errmsg(c), "exclude each other"));
	errno = 0;
	CHECK(!sd_vdi_open_flags(c, "v", 1, NULL, SD_VDI_EXCLUSIVE));
	CHECK_EQ(errno, EINVAL);
	CHECK(!sd_vdi_open_flags(c, "v", 0, "t", SD_VDI_EXCLUSIVE));
	CHECK_EQ(errno, EINVAL);
	CHECK(strstr(sd_cluster_errmsg(c), "snapshot"));
	CHECK(!sd_vdi_open_flags(c, "v", 0, NULL, 0x8));
	CHECK_EQ(errno, EINVAL);
	CHECK(!sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_NOLOCK | SD_VDI_SHARED));
	CHECK_EQ(errno, EINVAL);
	CHECK(!sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_NOLOCK | SD_VDI_EXCLUSIVE));
	CHECK_EQ(errno, EINVAL);
	CHECK(strstr(sd_cluster_errmsg(c), "takes no lock"));
	/* nothing was sent for any of them */
	CHECK_EQ(f.nr_excl_locks, 0);
	CHECK_EQ(f.nr_shared_locks, 0);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

/* Upstream sheep: open without the lock, one warning per cluster handle. */
static void test_upstream(void)
{
	struct logs l = { 0 };
	struct sd_vdi *v1, *v2;
	struct fake f;
	struct sd_cluster *c;

	fake_init(&f, SHIFT);
	fake_vdi_create(&f, "v", 4 * OBJ, 0);
	fake_vdi_create(&f, "w", 4 * OBJ, 0);
	f.auto_serve = 1;
	f.no_ext = 1;
	c = fake_connect(&f, NULL);
	CHECK(c != NULL);
	sd_set_log_cb(c, log_cb, &l);
	v1 = sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v1 != NULL);
	if (!v1)
		fprintf(stderr, "  %s\n", sd_cluster_errmsg(c));
	v2 = sd_vdi_open_flags(c, "w", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v2 != NULL);
	CHECK_EQ(f.nr_excl_locks, 0);
	CHECK_EQ(f.nr_shared_locks, 2);
	CHECK_EQ(l.warnings, 1);
	CHECK_EQ(sd_vdi_write(v1, "abcd", 4, 0), 0);
	CHECK_EQ(sd_vdi_close(v1), 0);
	CHECK_EQ(sd_vdi_close(v2), 0);
	CHECK_EQ(f.nr_excl_releases, 0);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

/*
 * Serve everything, answering LOCK_VDI EXCLUSIVE with result, until *done
 * (NULL: no condition) and f has seen want_excl exclusive locks; at most
 * 100 rounds.  Returns the exclusive locks seen.
 */
static int pump_excl(struct fake *f, struct sd_cluster *c, uint32_t result, const int *done,
		     int want_excl)
{
	struct fake_req *q;
	int i, seen = 0, quiet = 0;

	/* ... and two rounds in a row found nothing to answer */
	for (i = 0; i < 100 && ((done && !*done) || f->nr_excl_locks < want_excl || quiet < 2);
	     i++) {
		int n = 0;

		fake_pump(f, c, 20);
		while ((q = fake_find(f, SD_OP_LOCK_VDI, ALL)) &&
		       q->hdr.vdi.type == SD_LOCK_TYPE_EXT_EXCLUSIVE) {
			seen++;
			n++;
			if (result == SD_RES_SUCCESS)
				fake_serve(f, q);
			else
				fake_reply(f, q, result, NULL, 0);
		}
		n += fake_serve_all(f);
		quiet = n ? 0 : quiet + 1;
	}
	return seen;
}

struct rec {
	int calls;
	int ret;
};

static void rec_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct rec *r = opaque;

	(void)vdi;
	r->calls++;
	r->ret = ret;
}

/*
 * The sheep forgets us (restart: the HELLO says new): the next I/O waits
 * for RELEASE, LOCK EXCLUSIVE, LOCK SHARED, the refresh read.  Refused
 * (another gateway took the vdi meanwhile): the I/O fails -EBUSY, logged,
 * and so does the next one until the lock is ours again.
 */
static void test_rejoin(void)
{
	struct logs l = { 0 };
	struct rec r = { 0 };
	struct sd_vdi *v, *v2;
	struct sd_cluster *c;
	struct fake f;
	char buf[16] = "0123456789abcdef";
	int releases;

	fake_init(&f, SHIFT);
	fake_vdi_create(&f, "v", 4 * OBJ, 0);
	f.auto_serve = 1;
	c = fake_connect(&f, NULL);
	CHECK(c != NULL);
	sd_set_log_cb(c, log_cb, &l);
	v = sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	CHECK_EQ(f.nr_excl_locks, 1);
	CHECK_EQ(f.nr_shared_locks, 1);
	CHECK_EQ(l.warnings, 0);

	/*
	 * Forgotten: the lock is taken again at once, before any more I/O.
	 * (A request already sent, or started before the HELLO's answer,
	 * goes out as it is: the sheep fences it if another client has the
	 * vdi, lib_excl.bats.)
	 */
	f.auto_serve = 0;
	f.hello_flags = SD_EXT_HELLO_NEW;
	releases = f.nr_releases;
	fake_kill_all(&f);
	CHECK_EQ(pump_excl(&f, c, SD_RES_SUCCESS, NULL, 2), 1);
	CHECK_EQ(f.nr_excl_locks, 2);
	CHECK_EQ(f.nr_shared_locks, 2);
	CHECK_EQ(f.nr_releases, releases + 1); /* the shared one, before re-joining */
	CHECK_EQ(f.nr_excl_releases, 0);
	f.hello_flags = 0;
	CHECK_EQ(sd_vdi_aio_write(v, buf, sizeof(buf), OBJ, 0, rec_cb, &r), 0);
	CHECK_EQ(pump_excl(&f, c, SD_RES_SUCCESS, &r.calls, 0), 0);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);

	/* forgotten again, and another gateway has it now: said at LOG_ERR */
	f.hello_flags = SD_EXT_HELLO_NEW;
	fake_kill_all(&f);
	CHECK_EQ(pump_excl(&f, c, SD_RES_VDI_LOCKED, NULL, 3), 1);
	CHECK_EQ(l.errors, 1);
	CHECK(strstr(sd_cluster_errmsg(c), "another gateway"));
	/* every later request asks again first: refused, writes and reads alike */
	f.hello_flags = 0;
	r.calls = 0;
	CHECK_EQ(sd_vdi_aio_write(v, buf, sizeof(buf), 2 * OBJ, 0, rec_cb, &r), 0);
	CHECK_EQ(pump_excl(&f, c, SD_RES_VDI_LOCKED, &r.calls, 4), 1);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -EBUSY);
	CHECK(!fake_obj(&f, sd_vid_to_data_oid(sd_vdi_id(v), 2)));
	r.calls = 0;
	CHECK_EQ(sd_vdi_aio_read(v, buf, sizeof(buf), 0, rec_cb, &r), 0);
	CHECK_EQ(pump_excl(&f, c, SD_RES_VDI_LOCKED, &r.calls, 5), 1);
	CHECK_EQ(r.ret, -EBUSY);
	CHECK_EQ(l.errors, 3);
	/* the other gateway left: the lock is ours again and I/O goes on */
	r.calls = 0;
	CHECK_EQ(sd_vdi_aio_write(v, buf, sizeof(buf), 2 * OBJ, 0, rec_cb, &r), 0);
	CHECK_EQ(pump_excl(&f, c, SD_RES_SUCCESS, &r.calls, 6), 1);
	CHECK_EQ(r.ret, 0);
	CHECK(fake_obj(&f, sd_vid_to_data_oid(sd_vdi_id(v), 2)) != NULL);

	/* a second exclusive handle: only the last close releases the lock */
	f.auto_serve = 1;
	v2 = sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v2 != NULL);
	CHECK_EQ(sd_vdi_close(v2), 0);
	CHECK_EQ(f.nr_excl_releases, 0);
	CHECK_EQ(sd_vdi_close(v), 0);
	CHECK_EQ(f.nr_excl_releases, 1);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

/* Refused at open: EBUSY with the reason, and no shared lock left behind. */
static void test_open_refused(void)
{
	struct sd_cluster *c;
	struct fake f;
	int releases;

	fake_init(&f, SHIFT);
	fake_vdi_create(&f, "v", 4 * OBJ, 0);
	f.auto_serve = 1;
	f.excl_result = SD_RES_VDI_LOCKED;
	c = fake_connect(&f, NULL);
	CHECK(c != NULL);
	releases = f.nr_releases;
	errno = 0;
	CHECK(!sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_EXCLUSIVE));
	CHECK_EQ(errno, EBUSY);
	CHECK(strstr(sd_cluster_errmsg(c), "vdi 'v' is open by another gateway"));
	CHECK_EQ(f.nr_excl_locks, 1);
	CHECK_EQ(f.nr_shared_locks, 0);
	CHECK_EQ(f.nr_releases, releases);
	/* any other failure of the exclusive lock is passed on */
	f.excl_result = SD_RES_NO_VDI;
	CHECK(!sd_vdi_open_flags(c, "v", 0, NULL, SD_VDI_EXCLUSIVE));
	CHECK_EQ(errno, ENOENT);
	f.excl_result = 0;
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

/* ---- against a real sheep ---- */

static const char *g_addr;

static struct sd_cluster *conn(void)
{
	struct sd_cluster *c = sd_connect(g_addr);

	if (!c) {
		fprintf(stderr, "sd_connect %s: %s\n", g_addr, strerror(errno));
		exit(1);
	}
	return c;
}

/* Open and expect EBUSY with `why` in the message. */
static void refused(struct sd_cluster *c, const char *name, unsigned flags, const char *why)
{
	struct sd_vdi *v;

	errno = 0;
	v = sd_vdi_open_flags(c, name, 0, NULL, flags);
	CHECK(v == NULL);
	CHECK_EQ(errno, EBUSY);
	if (!strstr(sd_cluster_errmsg(c), why)) {
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", sd_cluster_errmsg(c), why);
		g_check_failed++;
	}
	if (v)
		sd_vdi_close(v);
}

static void real_excl_then_others(void)
{
	struct sd_cluster *a = conn(), *b = conn();
	struct sd_vdi *v, *v2, *plain, *w;
	char buf[4096];

	CHECK_EQ(sd_vdi_create(a, "ex1", 8 * MIB), 0);
	v = sd_vdi_open_flags(a, "ex1", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	refused(b, "ex1", SD_VDI_SHARED, "open exclusively by another gateway");
	refused(b, "ex1", 0, "open exclusively by another gateway");
	refused(b, "ex1", SD_VDI_EXCLUSIVE, "is open by another gateway (exclusive open refused)");
	memset(buf, 'e', sizeof(buf));
	CHECK_EQ(sd_vdi_write(v, buf, sizeof(buf), 4 * MIB), 0);
	/* an inspection handle (dog vdi read) of another client: no lock,
	 * untagged reads, not refused */
	w = sd_vdi_open_flags(b, "ex1", 0, NULL, SD_VDI_NOLOCK);
	CHECK(w != NULL);
	if (w) {
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(sd_vdi_read(w, buf, sizeof(buf), 4 * MIB), 0);
		CHECK_EQ(buf[4095], 'e');
		CHECK_EQ(sd_vdi_close(w), 0);
	}
	/* ...and the exclusive holder still holds it */
	refused(b, "ex1", 0, "open exclusively by another gateway");
	/* the same client: more handles, exclusive or not */
	v2 = sd_vdi_open_flags(a, "ex1", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v2 != NULL);
	plain = sd_vdi_open(a, "ex1", 0, NULL);
	CHECK(plain != NULL);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(sd_vdi_read(plain, buf, sizeof(buf), 4 * MIB), 0);
	CHECK_EQ(buf[4095], 'e');
	/* closing one of the two exclusive handles keeps the vdi ours */
	CHECK_EQ(sd_vdi_close(v2), 0);
	CHECK_EQ(sd_vdi_close(plain), 0);
	refused(b, "ex1", SD_VDI_EXCLUSIVE, "exclusive open refused");
	/* another vdi is not affected */
	CHECK_EQ(sd_vdi_create(b, "ex1b", 4 * MIB), 0);
	w = sd_vdi_open_flags(b, "ex1b", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(w != NULL);
	CHECK_EQ(sd_vdi_close(w), 0);
	CHECK_EQ(sd_vdi_close(v), 0);
	/* released: the other client gets it, and then refuses the first */
	v = sd_vdi_open_flags(b, "ex1", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	refused(a, "ex1", SD_VDI_EXCLUSIVE, "exclusive open refused");
	CHECK_EQ(sd_vdi_close(v), 0);
	v = sd_vdi_open_flags(a, "ex1", 0, NULL, SD_VDI_SHARED);
	CHECK(v != NULL);
	CHECK_EQ(sd_vdi_close(v), 0);
	CHECK_EQ(sd_disconnect(a), 0);
	CHECK_EQ(sd_disconnect(b), 0);
}

static void real_shared_then_excl(void)
{
	struct sd_cluster *a = conn(), *b = conn(), *c = conn();
	struct sd_vdi *s, *p, *v;

	CHECK_EQ(sd_vdi_create(a, "ex2", 4 * MIB), 0);
	s = sd_vdi_open_flags(a, "ex2", 0, NULL, SD_VDI_SHARED);
	CHECK(s != NULL);
	p = sd_vdi_open(b, "ex2", 0, NULL);
	CHECK(p != NULL);
	refused(c, "ex2", SD_VDI_EXCLUSIVE, "exclusive open refused");
	CHECK_EQ(sd_vdi_close(s), 0);
	/* a plain (not shared) open is another gateway too */
	refused(c, "ex2", SD_VDI_EXCLUSIVE, "exclusive open refused");
	CHECK_EQ(sd_vdi_close(p), 0);
	v = sd_vdi_open_flags(c, "ex2", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	CHECK_EQ(sd_vdi_close(v), 0);
	CHECK_EQ(sd_disconnect(a), 0);
	CHECK_EQ(sd_disconnect(b), 0);
	CHECK_EQ(sd_disconnect(c), 0);
}

/* A child opens name with flags, writes 4 KiB of `fill` at 0 and waits to be killed. */
static pid_t spawn_holder(const char *name, unsigned flags, char fill)
{
	int fds[2];
	char ok = 0;
	pid_t pid;

	if (pipe(fds))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct sd_cluster *c = sd_connect(g_addr);
		struct sd_vdi *v = c ? sd_vdi_open_flags(c, name, 0, NULL, flags) : NULL;
		char buf[4096];

		memset(buf, fill, sizeof(buf));
		ok = v && !sd_vdi_write(v, buf, sizeof(buf), 0) ? 'y' : 'n';
		if (write(fds[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &ok, 1) != 1 || ok != 'y') {
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		pid = -1;
	}
	close(fds[0]);
	return pid;
}

/* SIGKILL the holder `pid` (nothing closed): the vdi is free at once, and
 * an exclusive open of c reads the holder's mark `byte` at offset 0. */
static void kill_then_take(struct sd_cluster *c, const char *name, pid_t pid, char byte)
{
	struct sd_vdi *v;
	char buf[4096];

	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	v = sd_vdi_open_flags(c, name, 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	if (v) {
		CHECK_EQ(sd_vdi_read(v, buf, sizeof(buf), 0), 0);
		CHECK_EQ(buf[0], byte);
		CHECK_EQ(sd_vdi_close(v), 0);
	}
}

static void real_killed(void)
{
	struct sd_cluster *a = conn();
	pid_t pid;

	CHECK_EQ(sd_vdi_create(a, "ex3", 4 * MIB), 0);
	pid = spawn_holder("ex3", SD_VDI_EXCLUSIVE, 'k');
	CHECK(pid > 0);
	refused(a, "ex3", SD_VDI_EXCLUSIVE, "exclusive open refused");
	refused(a, "ex3", 0, "open exclusively by another gateway");
	/* killed without closing anything: free at once, no waiting */
	kill_then_take(a, "ex3", pid, 'k');
	/* a killed shared gateway does not pin the vdi either */
	pid = spawn_holder("ex3", SD_VDI_SHARED, 's');
	CHECK(pid > 0);
	refused(a, "ex3", SD_VDI_EXCLUSIVE, "exclusive open refused");
	kill_then_take(a, "ex3", pid, 's');
	CHECK_EQ(sd_disconnect(a), 0);
}

/* A snapshot moves the lock to the new working vdi; the snapshot opens freely. */
static void real_snapshot(void)
{
	struct sd_cluster *a = conn(), *b = conn();
	struct sd_vdi *v, *snap;
	char buf[4096];

	CHECK_EQ(sd_vdi_create(a, "ex4", 4 * MIB), 0);
	v = sd_vdi_open_flags(a, "ex4", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	memset(buf, '1', sizeof(buf));
	CHECK_EQ(sd_vdi_write(v, buf, sizeof(buf), 0), 0);
	CHECK_EQ(sd_vdi_snapshot(b, "ex4", "s1"), 0);
	memset(buf, '2', sizeof(buf));
	CHECK_EQ(sd_vdi_write(v, buf, sizeof(buf), 0), 0);
	refused(b, "ex4", 0, "open exclusively by another gateway");
	refused(b, "ex4", SD_VDI_EXCLUSIVE, "exclusive open refused");
	snap = sd_vdi_open(b, "ex4", 0, "s1");
	CHECK(snap != NULL);
	if (snap) {
		CHECK_EQ(sd_vdi_read(snap, buf, sizeof(buf), 0), 0);
		CHECK_EQ(buf[0], '1');
		CHECK_EQ(sd_vdi_close(snap), 0);
	}
	CHECK_EQ(sd_vdi_close(v), 0);
	v = sd_vdi_open_flags(b, "ex4", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	if (v) {
		CHECK_EQ(sd_vdi_read(v, buf, sizeof(buf), 0), 0);
		CHECK_EQ(buf[0], '2');
	}
	/* a holder that never noticed a snapshot still frees the vdi on close */
	CHECK_EQ(sd_vdi_snapshot(a, "ex4", "s2"), 0);
	refused(a, "ex4", 0, "open exclusively by another gateway");
	if (v)
		CHECK_EQ(sd_vdi_close(v), 0);
	v = sd_vdi_open_flags(a, "ex4", 0, NULL, SD_VDI_EXCLUSIVE);
	CHECK(v != NULL);
	if (v)
		CHECK_EQ(sd_vdi_close(v), 0);
	CHECK_EQ(sd_disconnect(a), 0);
	CHECK_EQ(sd_disconnect(b), 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int hold_mode(const char *name, unsigned seconds)
{
	struct sd_cluster *c = conn();
	uint64_t end = now_ms() + seconds * 1000ull, next_report = now_ms() + 1000;
	unsigned ok = 0, fail = 0, i = 0;
	int failing = 0;
	struct sd_vdi *v;
	char buf[4096];

	v = sd_vdi_open_flags(c, name, 0, NULL, SD_VDI_EXCLUSIVE);
	if (!v) {
		printf("open failed: %s\n", sd_cluster_errmsg(c));
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	while (now_ms() < end) {
		int ret;

		memset(buf, 'a' + i % 26, sizeof(buf));
		ret = sd_vdi_write(v, buf, sizeof(buf), (uint64_t)(i % 64) * sizeof(buf));
		i++;
		if (ret) {
			fail++;
			failing = 1;
			printf("write failed: %s: %s\n", strerror(-ret), sd_cluster_errmsg(c));
		} else {
			ok++;
			if (failing)
				printf("recovered\n");
			failing = 0;
		}
		if (now_ms() >= next_report) {
			printf("ok %u fail %u\n", ok, fail);
			next_report += 1000;
		}
		fflush(stdout);
		usleep(50000);
	}
	printf("ok %u fail %u\nhold done\n", ok, fail);
	sd_vdi_close(v);
	sd_disconnect(c);
	return 0;
}

static int try_mode(const char *name, unsigned seconds)
{
	struct sd_cluster *c = conn();
	struct sd_vdi *v;
	int err;

	v = sd_vdi_open_flags(c, name, 0, NULL, SD_VDI_EXCLUSIVE);
	if (!v) {
		err = errno;
		printf("refused: %s\n", sd_cluster_errmsg(c));
		sd_disconnect(c);
		return err == EBUSY ? 2 : 1;
	}
	printf("opened\n");
	fflush(stdout);
	sleep(seconds);
	sd_vdi_close(v);
	sd_disconnect(c);
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	if (argc == 5 && !strcmp(argv[2], "--hold")) {
		g_addr = argv[1];
		return hold_mode(argv[3], (unsigned)strtoul(argv[4], NULL, 0));
	}
	if (argc == 5 && !strcmp(argv[2], "--try")) {
		g_addr = argv[1];
		return try_mode(argv[3], (unsigned)strtoul(argv[4], NULL, 0));
	}
	if (argc == 2) {
		g_addr = argv[1];
		RUN_TEST(real_excl_then_others, passed, failed);
		RUN_TEST(real_shared_then_excl, passed, failed);
		RUN_TEST(real_killed, passed, failed);
		RUN_TEST(real_snapshot, passed, failed);
	} else if (argc == 1) {
		RUN_TEST(test_flags, passed, failed);
		RUN_TEST(test_upstream, passed, failed);
		RUN_TEST(test_rejoin, passed, failed);
		RUN_TEST(test_open_refused, passed, failed);
	} else {
		fprintf(stderr, "usage: %s [ADDR [--hold|--try NAME SECONDS]]\n", argv[0]);
		return 2;
	}
	printf("%d passed, %d failed\n", passed, failed);
	if (!failed)
		printf("OK\n");
	return failed ? 1 : 0;
}
