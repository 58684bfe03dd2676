/* SPDX-License-Identifier: MIT */
/*
 * What the network examples share: a socket made ready for a loop.
 */
#ifndef XEV_EXAMPLE_LOOP_SOCKET_H
#define XEV_EXAMPLE_LOOP_SOCKET_H

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

/* An IPv4 socket of type for a loop: non-blocking, as readiness backends
 * need, and close-on-exec.  socket(2)'s SOCK_NONBLOCK and SOCK_CLOEXEC
 * are not everywhere (macOS), so fcntl(2) sets them.  -1 and errno on
 * failure. */
static int loop_socket(int type)
{
	int fd = socket(AF_INET, type, 0), fl;

	if (fd < 0)
		return -1;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

#endif
