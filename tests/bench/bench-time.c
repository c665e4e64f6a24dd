/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-time OUT CMD [ARGS...]: run CMD (stdin, stdout and stderr
 * inherited) and append the time from just before fork to its exit, in
 * nanoseconds of CLOCK_MONOTONIC, as one line to OUT. Exits with CMD's
 * status (128 + signal if it was killed; 127 if it could not be run).
 * For tests/bench: the measurement covers the whole process, from exec to
 * exit, and nothing of the timer's own start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t t0, t1;
	int status, out;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "Usage: bench-time OUT CMD [ARGS...]\n");
		return 2;
	}
	out = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "bench-time: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	t0 = now_ns();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench-time: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "bench-time: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "bench-time: waitpid: %s\n", strerror(errno));
			return 2;
		}
	}
	t1 = now_ns();
	if (dprintf(out, "%llu\n", (unsigned long long)(t1 - t0)) < 0 || close(out) < 0) {
		fprintf(stderr, "bench-time: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
