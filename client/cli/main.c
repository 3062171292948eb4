/*
 * main.c - `berth`, the admin CLI of berthd. Everything but main() lives in
 * the other files of client/cli/, which the tests link too.
 */
#include <stdio.h>

#include "cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv, stdout, stderr);
}
