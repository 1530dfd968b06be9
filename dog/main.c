// SPDX-License-Identifier: GPL-2.0-or-later
/* dog's main(): parse the command line (dog.c), connect, run the handler. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dog.h"

int main(int argc, char **argv)
{
	struct dog_cmdline cl;
	int ret = dog_cmdline_parse(argc, argv, &cl);

	if (ret < 0) {
		if (dog_conn_configure(cl.addr, cl.port)) {
			ret = DOG_EXIT_FAILURE; /* as 1.0.1 for an unusable -a */
		} else {
			ret = cl.fn(&cl.o, cl.nargs, cl.av + cl.first);
			dog_conn_close();
		}
		dog_cmdline_free(&cl);
	}
	if (fflush(stdout) == EOF && ret == DOG_EXIT_SUCCESS) {
		dog_err("Failed to write output: %s", strerror(errno));
		ret = DOG_EXIT_FAILURE;
	}
	return ret;
}
