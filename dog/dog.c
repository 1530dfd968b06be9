// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dog: command line front end.  Finds "<command> <subcommand>", parses the
 * options (upstream syntax; -a/-p accepted anywhere on the line) and hands
 * back the handler, which main.c runs.  The handlers live in cluster.c,
 * vdi.c and transfer.c.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dog.h"

#define DOG_MAX_ARGS 4

struct dog_subcmd {
	const char *cmd;
	const char *sub;
	const char *opts;		/* short options besides a, p, h */
	const char *args[DOG_MAX_ARGS]; /* positional names; [name] = optional */
	int min_args;
	const char *desc;
	int (*fn)(const struct dog_opts *o, int argc, char **argv);
};

/* One command per two lines reads as a table: keep it out of clang-format. */
/* clang-format off */
static const struct dog_subcmd g_subcmds[] = {
	{ "cluster", "info", "rv", { NULL }, 0,
	  "show cluster information", dog_cmd_cluster_info },
	{ "cluster", "format", "b:c:fz:", { NULL }, 0,
	  "create a Sheepdog store", dog_cmd_cluster_format },
	{ "cluster", "shutdown", "", { NULL }, 0,
	  "stop Sheepdog", dog_cmd_cluster_shutdown },
	{ "node", "list", "r", { NULL }, 0,
	  "list nodes", dog_cmd_node_list },
	{ "node", "info", "r", { NULL }, 0,
	  "show information about each node", dog_cmd_node_info },
	{ "vdi", "create", "Pc:z:", { "<vdiname>", "<size>" }, 2,
	  "create an image", dog_cmd_vdi_create },
	{ "vdi", "snapshot", "s:v", { "<vdiname>" }, 1,
	  "create a snapshot", dog_cmd_vdi_snapshot },
	{ "vdi", "clone", "s:Pv", { "<src vdi>", "<dst vdi>" }, 2,
	  "clone an image", dog_cmd_vdi_clone },
	{ "vdi", "delete", "s:", { "<vdiname>" }, 1,
	  "delete an image", dog_cmd_vdi_delete },
	{ "vdi", "list", "rs:", { "[vdiname]" }, 0,
	  "list images", dog_cmd_vdi_list },
	{ "vdi", "resize", "", { "<vdiname>", "<new size>" }, 2,
	  "resize an image", dog_cmd_vdi_resize },
	{ "vdi", "rollback", "s:fv", { "<vdiname>" }, 1,
	  "rollback to a snapshot", dog_cmd_vdi_rollback },
	{ "vdi", "read", "s:", { "<vdiname>", "[<offset>", "[<len>]]" }, 1,
	  "read data from an image", dog_cmd_vdi_read },
	{ "vdi", "write", "", { "<vdiname>", "[<offset>", "[<len>]]" }, 1,
	  "write data to an image", dog_cmd_vdi_write },
	{ "vdi", "check", "s:e", { "<vdiname>" }, 1,
	  "check and repair image's consistency", dog_cmd_vdi_check },
	{ "vdi", "setattr", "dx", { "<vdiname>", "<key>", "[value]" }, 2,
	  "set a VDI attribute", dog_cmd_vdi_setattr },
	{ "vdi", "getattr", "", { "<vdiname>", "<key>" }, 2,
	  "get a VDI attribute", dog_cmd_vdi_getattr },
};
/* clang-format on */

#define DOG_NR_SUBCMDS (sizeof(g_subcmds) / sizeof(g_subcmds[0]))

static const struct option g_long_opts[] = {
	{ "address", required_argument, NULL, 'a' },
	{ "port", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ "raw", no_argument, NULL, 'r' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "prealloc", no_argument, NULL, 'P' },
	{ "force", no_argument, NULL, 'f' },
	{ "copies", required_argument, NULL, 'c' },
	{ "block_size_shift", required_argument, NULL, 'z' },
	{ "snapshot", required_argument, NULL, 's' },
	{ "backend", required_argument, NULL, 'b' },
	{ "exist", no_argument, NULL, 'e' },
	{ "exclusive", no_argument, NULL, 'x' },
	{ "delete", no_argument, NULL, 'd' },
	{ NULL, 0, NULL, 0 },
};

static const char *opt_help(int c)
{
	switch (c) {
	case 'a': return "specify the daemon address or unix:PATH (default: 127.0.0.1)";
	case 'p': return "specify the daemon port";
	case 'h': return "display this help and exit";
	case 'r':
		return "raw output mode: omit headers, separate fields with single spaces "
		       "and print all sizes in decimal bytes";
	case 'v': return "print more information than default";
	case 'P': return "preallocate all the data objects";
	case 'f': return "do not prompt for confirmation";
	case 'c': return "specify the data redundancy level (number of copies, or d:p)";
	case 'z': return "specify the bit shift num for data object size (20..31)";
	case 's': return "specify a snapshot id or tag name";
	case 'b': return "specify backend store (only \"plain\")";
	case 'e': return "only check objects exist or not";
	case 'x': return "write in an exclusive mode";
	case 'd': return "delete a key";
	default: return "";
	}
}

static const char *opt_long(int c)
{
	const struct option *o;

	for (o = g_long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

static void usage_line(FILE *f, const struct dog_subcmd *s)
{
	const char *p;
	int i;

	fprintf(f, "Usage: dog %s %s", s->cmd, s->sub);
	for (p = s->opts; *p; p++)
		if (*p != ':')
			fprintf(f, " [-%c|--%s]", *p, opt_long(*p));
	fprintf(f, " [-a|--address] [-p|--port] [-h|--help]");
	for (i = 0; i < DOG_MAX_ARGS && s->args[i]; i++)
		fprintf(f, " %s", s->args[i]);
	fputc('\n', f);
}

static void subcmd_help(const struct dog_subcmd *s)
{
	const char *all = "", *p;
	char buf[64];

	usage_line(stdout, s);
	printf("%s\nOptions:\n", s->desc);
	snprintf(buf, sizeof(buf), "%sa:p:h", s->opts);
	all = buf;
	for (p = all; *p; p++) {
		char name[40];

		if (*p == ':')
			continue;
		snprintf(name, sizeof(name), "-%c, --%s", *p, opt_long(*p));
		printf("  %-24s%s\n", name, opt_help(*p));
	}
}

static void subcmd_usage_err(const struct dog_subcmd *s)
{
	usage_line(stderr, s);
	fprintf(stderr, "Try 'dog %s %s --help' for more information.\n", s->cmd, s->sub);
}

static void list_subcmds(FILE *f, const char *cmd)
{
	size_t i;

	fprintf(f, "Available %s subcommands:\n", cmd);
	for (i = 0; i < DOG_NR_SUBCMDS; i++)
		if (!strcmp(g_subcmds[i].cmd, cmd))
			fprintf(f, "  %-10s%s\n", g_subcmds[i].sub, g_subcmds[i].desc);
}

static void main_usage(FILE *f)
{
	fprintf(f,
		"Sheepdog administrator utility (tgt-sheepdog %s)\n"
		"Usage: dog <command> <subcommand> [options]\n\n"
		"Available commands:\n",
		PACKAGE_VERSION);
	for (size_t i = 0; i < DOG_NR_SUBCMDS; i++) {
		char name[40];

		snprintf(name, sizeof(name), "%s %s", g_subcmds[i].cmd, g_subcmds[i].sub);
		fprintf(f, "  %-18s%s\n", name, g_subcmds[i].desc);
	}
	fprintf(f, "\nFor more information, run 'dog <command> <subcommand> --help'.\n");
}

static bool is_command(const char *cmd)
{
	for (size_t i = 0; i < DOG_NR_SUBCMDS; i++)
		if (!strcmp(g_subcmds[i].cmd, cmd))
			return true;
	return false;
}

static const struct dog_subcmd *find_subcmd(const char *cmd, const char *sub)
{
	for (size_t i = 0; i < DOG_NR_SUBCMDS; i++)
		if (!strcmp(g_subcmds[i].cmd, cmd) && !strcmp(g_subcmds[i].sub, sub))
			return &g_subcmds[i];
	return NULL;
}

/* Options that take a value, anywhere on the line (for the word scan). */
static bool takes_value(const char *arg)
{
	static const char with_value[] = "apcszb";

	if (!strcmp(arg, "--address") || !strcmp(arg, "--port") || !strcmp(arg, "--copies") ||
	    !strcmp(arg, "--snapshot") || !strcmp(arg, "--block_size_shift") ||
	    !strcmp(arg, "--backend"))
		return true;
	/* a cluster of short flags whose last letter takes the next word */
	if (arg[0] == '-' && arg[1] && arg[1] != '-') {
		size_t n = strlen(arg);
		const char *p;

		for (p = arg + 1; *p; p++)
			if (strchr(with_value, *p))
				return (size_t)(p - arg) == n - 1;
	}
	return false;
}

/*
 * 0, or the exit code: 64 for a bad port, 1 for a bad value of a
 * subcommand option (-c, -z, -s, -b), as 1.0.1's option parsers exit.
 */
static int parse_opt(int c, const char *arg, struct dog_opts *o, const char **addr, unsigned *port)
{
	uint64_t v;

	switch (c) {
	case 'a': *addr = arg; return 0;
	case 'p':
		if (dog_parse_uint(arg, 1, 65535, &v)) {
			dog_err("Invalid port number '%s'", arg);
			return DOG_EXIT_USAGE;
		}
		*port = (unsigned)v;
		return 0;
	case 'r': o->raw = true; return 0;
	case 'v': o->verbose = true; return 0;
	case 'P': o->prealloc = true; return 0;
	case 'f': o->force = true; return 0;
	case 'e': o->exist = true; return 0;
	case 'x': o->exclusive = true; return 0;
	case 'd': o->delete_key = true; return 0;
	case 'c':
		if (dog_parse_copies(arg, &o->copies, &o->copy_policy)) {
			dog_err("Invalid number of copies '%s': use N (1 to %d replicas) or "
				"d:p (d = 2, 4, 8 or 16 data strips, p < d parity strips)",
				arg, SD_MAX_COPIES);
			return DOG_EXIT_FAILURE;
		}
		o->has_copies = true;
		return 0;
	case 'z':
		if (dog_parse_uint(arg, SD_MIN_BLOCK_SIZE_SHIFT, SD_MAX_BLOCK_SIZE_SHIFT, &v)) {
			dog_err("Invalid block size shift '%s': object size is limited to "
				"2^%d .. 2^%d",
				arg, SD_MIN_BLOCK_SIZE_SHIFT, SD_MAX_BLOCK_SIZE_SHIFT);
			return DOG_EXIT_FAILURE;
		}
		o->block_shift = (uint8_t)v;
		return 0;
	case 's':
		o->has_snap = true;
		if (!dog_parse_uint(arg, 1, UINT32_MAX, &v)) {
			o->snapid = (uint32_t)v;
			return 0;
		}
		if (!arg[0] || strlen(arg) >= sizeof(o->tag) || !strcmp(arg, "0")) {
			dog_err("Invalid snapshot '%s'", arg);
			return DOG_EXIT_FAILURE;
		}
		memcpy(o->tag, arg, strlen(arg) + 1);
		return 0;
	case 'b':
		if (!arg[0] || strlen(arg) >= sizeof(o->store)) {
			dog_err("Invalid backend store name '%s'", arg);
			return DOG_EXIT_FAILURE;
		}
		memcpy(o->store, arg, strlen(arg) + 1);
		return 0;
	default: return DOG_EXIT_USAGE;
	}
}

int dog_cmdline_parse(int argc, char **argv, struct dog_cmdline *cl)
{
	const struct dog_subcmd *s;
	const char *cmd = NULL, *sub = NULL;
	int cmd_i = -1, sub_i = -1, i, n, c, ret, nargs;
	bool help = false;
	char optstring[64];
	char **av;

	memset(cl, 0, sizeof(*cl));
	/* The first two words that are not options (or option values). */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (argv[i][0] == '-' && argv[i][1]) {
			if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
				help = true;
			if (takes_value(argv[i]))
				i++;
			continue;
		}
		if (cmd_i < 0) {
			cmd_i = i;
		} else {
			sub_i = i;
			break;
		}
	}
	if (cmd_i < 0) {
		main_usage(help ? stdout : stderr);
		return help ? DOG_EXIT_SUCCESS : DOG_EXIT_USAGE;
	}
	cmd = argv[cmd_i];
	if (!is_command(cmd)) {
		dog_err("Invalid command '%s'", cmd);
		main_usage(stderr);
		return DOG_EXIT_USAGE;
	}
	if (sub_i < 0) {
		list_subcmds(help ? stdout : stderr, cmd);
		return help ? DOG_EXIT_SUCCESS : DOG_EXIT_USAGE;
	}
	sub = argv[sub_i];
	s = find_subcmd(cmd, sub);
	if (!s) {
		dog_err("Invalid %s subcommand '%s'", cmd, sub);
		list_subcmds(stderr, cmd);
		return DOG_EXIT_USAGE;
	}

	/* argv without the two command words, for getopt (which permutes) */
	av = calloc((size_t)argc + 1, sizeof(*av));
	if (!av) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	for (i = 0, n = 0; i < argc; i++)
		if (i != cmd_i && i != sub_i)
			av[n++] = argv[i];
	snprintf(optstring, sizeof(optstring), ":a:p:h%s", s->opts);
	opterr = 0;
	optind = 0; /* glibc: start afresh (a second parse in one process) */
	ret = DOG_EXIT_USAGE;
	while ((c = getopt_long(n, av, optstring, g_long_opts, NULL)) != -1) {
		if (c == 'h') {
			subcmd_help(s);
			ret = DOG_EXIT_SUCCESS;
			goto out;
		}
		if (c == ':') {
			dog_err("Option '%s' requires an argument", av[optind - 1]);
			subcmd_usage_err(s);
			goto out;
		}
		if (c == '?' || (c != 'a' && c != 'p' && !strchr(s->opts, c))) {
			if (optopt && c == '?')
				dog_err("Invalid option '-%c'", optopt);
			else
				dog_err("Invalid option '%s'", av[optind - 1]);
			subcmd_usage_err(s);
			goto out;
		}
		if ((i = parse_opt(c, optarg, &cl->o, &cl->addr, &cl->port))) {
			ret = i;
			goto out;
		}
	}
	nargs = n - optind;
	for (i = 0; i < DOG_MAX_ARGS && s->args[i]; i++)
		;
	if (nargs < s->min_args) {
		dog_err("Missing argument %s", s->args[nargs]);
		subcmd_usage_err(s);
		goto out;
	}
	if (nargs > i) {
		dog_err("Too many arguments (unexpected '%s')", av[optind + i]);
		subcmd_usage_err(s);
		goto out;
	}
	cl->fn = s->fn;
	cl->av = av;
	cl->first = optind;
	cl->nargs = nargs;
	return -1;
out:
	free(av);
	memset(cl, 0, sizeof(*cl));
	return ret;
}

void dog_cmdline_free(struct dog_cmdline *cl)
{
	free(cl->av);
	memset(cl, 0, sizeof(*cl));
}
