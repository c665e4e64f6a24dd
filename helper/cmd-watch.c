/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield watch [NAME] [--json] [--state-dir DIR]: nftsetd's live stream.
 * With --json, or when stdout is not a terminal, every event is copied out
 * as the JSON line nftsetd sent. On a terminal, a view that redraws from a
 * fresh report whenever an event arrives (at most ten times a second) and
 * once a second for the time left on each address. Plain ANSI sequences on
 * the alternate screen; the terminal is given back as it was on q, Ctrl-C,
 * SIGTERM, SIGHUP and when nftsetd goes away, and while stopped by Ctrl-Z.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "shield/fdio.h"
#include "shield/grow.h"
#include "cli.h"
#include "nftsetd-client.h"
#include "report-text.h"
#include "cli-target.h"

/* Events kept for the view's "recent events" rows. */
#define WATCH_RECENT_MAX 256
/* Redraws: at most one per WATCH_MIN_REDRAW_MS for events, one per tick otherwise. */
#define WATCH_MIN_REDRAW_MS 100
#define WATCH_TICK_MS	    1000

static void watch_usage(FILE *out)
{
	fprintf(out, "Usage: shield watch [NAME|ID | --state-dir DIR] [--json]\n"
		     "\n"
		     "Follow nftsetd's events (rotation, blocked queries, drift) live, for every\n"
		     "shielded container or the one named (a name, id, or --state-dir for a\n"
		     "namespace attached with 'shield attach'). On a terminal: a view per\n"
		     "container (mode, domains with their addresses and time left, last rotation,\n"
		     "blocked queries, open drift) and the latest events; q or Ctrl-C quits.\n"
		     "Otherwise, or with --json: one JSON object per event and line.\n"
		     "\n"
		     "Options:\n" CLI_TARGET_HELP
		     "  --json             stream the events as JSON lines\n"
		     "  -h, --help         show this help\n"
		     "\n"
		     "nftsetd's socket: $SHIELD_NFTSETD_SOCKET, else RUNTIME_DIR/nftsetd.sock.\n");
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Block the signals that end or resize the view and read them from a signalfd instead. */
static int signals_open(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGTSTP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return negative_errno();
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? negative_errno() : fd;
}

/* The next signal waiting on the signalfd, 0 when none. */
static int signal_next(int sigfd)
{
	struct signalfd_siginfo si;

	if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

/* --json: copy each event line to stdout until nftsetd closes or a signal ends it. */
static int watch_stream(struct cli *cli, int sock, struct line_reader *rd, int sigfd)
{
	struct pollfd fds[2] = {{.fd = sock, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
	struct shield_error err = {0};

	for (;;) {
		char *lines;
		size_t len;
		int n;

		/*
		 * Whole lines in blocks, one write each: while a subscriber lags,
		 * nftsetd holds back reading every query log (and drops one that
		 * holds them back for 10 s), so copying must keep up with a burst.
		 * Lines already buffered from the subscription handshake come first.
		 */
		while ((n = line_reader_lines(rd, &lines, &len)) == 1) {
			n = fd_write_all(STDOUT_FILENO, lines, len, 0);
			if (n == -EPIPE)
				return 0; /* the reader is gone (shield watch --json | head) */
			if (n < 0) {
				shield_error_set(&err, n, "writing to stdout: %s",
						 shield_strerror(n));
				return cli_fail(cli, &err);
			}
		}
		if (n == 0) {
			shield_error_set(&err, -ECONNRESET, "nftsetd closed the connection");
			return cli_fail(cli, &err);
		}
		if (n != -EAGAIN) {
			shield_error_set(&err, n, "reading from nftsetd: %s",
					 n == -EMSGSIZE ? "a line over 64 KiB"
							: shield_strerror(n));
			return cli_fail(cli, &err);
		}
		if (poll(fds, 2, -1) < 0 && errno != EINTR) {
			shield_error_set(&err, negative_errno(), "poll: %s",
					 shield_strerror(errno));
			return cli_fail(cli, &err);
		}
		if (fds[1].revents) {
			int sig = signal_next(sigfd);

			if (sig == SIGTSTP)
				kill(getpid(), SIGSTOP); /* Ctrl-Z: stop as usual */
			else if (sig != SIGWINCH && sig != 0)
				return 0;
		}
	}
}

/* ------------------------------------------------------------------- the view */

struct view {
	const char *socket;
	const char *target;
	int width, height;
	bool have_termios, active;
	struct termios saved;
	json_t *report; /* the last report that came */
	json_t *recent[WATCH_RECENT_MAX];
	size_t n_recent;
	char status[256];
	struct screen screen;
	char *frame; /* the escape sequences and text of one redraw */
	size_t frame_len, frame_cap;
};

static void view_size(struct view *v)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		v->width = ws.ws_col;
		v->height = ws.ws_row;
	} else {
		v->width = 80;
		v->height = 24;
	}
}

/*
 * Take the terminal: alternate screen, cursor hidden, no line wrap, and
 * (when stdin is the terminal) no echo and no line buffering, so a typed q
 * arrives at once and nothing typed scribbles over the view. Ctrl-C still
 * sends SIGINT (ISIG stays on).
 */
static void view_enter(struct view *v)
{
	static const char enter[] = "\033[?1049h\033[?25l\033[?7l\033[H\033[2J";

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &v->saved) == 0) {
		struct termios raw = v->saved;

		raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		v->have_termios = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	(void)fd_write_all(STDOUT_FILENO, enter, sizeof(enter) - 1, 0);
	v->active = true;
}

/* Give the terminal back as it was. */
static void view_leave(struct view *v)
{
	static const char leave[] = "\033[?7h\033[?25h\033[?1049l";

	if (!v->active)
		return;
	(void)fd_write_all(STDOUT_FILENO, leave, sizeof(leave) - 1, 0);
	if (v->have_termios)
		tcsetattr(STDIN_FILENO, TCSANOW, &v->saved);
	v->active = false;
}

static void view_free(struct view *v)
{
	view_leave(v);
	json_decref(v->report);
	for (size_t i = 0; i < v->n_recent; i++)
		json_decref(v->recent[i]);
	screen_reset(&v->screen);
	free(v->screen.lines);
	free(v->frame);
}

static int frame_add(struct view *v, const char *s, size_t len)
{
	if (v->frame_len + len + 1 > v->frame_cap) {
		char *f = shield_grow(v->frame, &v->frame_cap, v->frame_len + len + 1, 1, 4096);

		if (!f)
			return -ENOMEM;
		v->frame = f;
	}
	memcpy(v->frame + v->frame_len, s, len);
	v->frame_len += len;
	return 0;
}

/* Bytes of line that fill at most width columns (one per UTF-8 character), and how many. */
static size_t clip(const char *line, int width, int *cols)
{
	size_t i = 0;
	int c = 0;

	while (line[i] && c < width) {
		i++;
		while ((line[i] & 0xc0) == 0x80)
			i++;
		c++;
	}
	*cols = c;
	return i;
}

/* Draw v->screen: every row positioned absolutely, clipped to the width, the rest cleared. */
static int view_draw(struct view *v)
{
	char pos[32];
	size_t rows = v->screen.n < (size_t)v->height ? v->screen.n : (size_t)v->height;
	int r = 0;

	v->frame_len = 0;
	for (size_t i = 0; r >= 0 && i < rows; i++) {
		int cols, n = snprintf(pos, sizeof(pos), "\033[%zu;1H", i + 1);
		size_t len = clip(v->screen.lines[i], v->width, &cols);

		r = frame_add(v, pos, (size_t)n);
		if (r >= 0)
			r = frame_add(v, v->screen.lines[i], len);
		if (r >= 0 && cols < v->width)
			r = frame_add(v, "\033[K", 3);
	}
	if (r >= 0 && rows < (size_t)v->height) {
		int n = snprintf(pos, sizeof(pos), "\033[%zu;1H\033[J", rows + 1);

		r = frame_add(v, pos, (size_t)n);
	}
	if (r < 0)
		return r;
	return fd_write_all(STDOUT_FILENO, v->frame, v->frame_len, 0);
}

/* Fetch a fresh report (keeping the last one if that fails) and redraw. */
static int view_refresh(struct view *v)
{
	struct shield_error err = {0};
	json_t *report = NULL;
	char clock[32];
	time_t t = time(NULL);
	struct tm tm;
	int r;

	gmtime_r(&t, &tm);
	snprintf(clock, sizeof(clock), "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (nftsetd_report(v->socket, v->target, &report, &err) >= 0) {
		json_decref(v->report);
		v->report = report;
		snprintf(v->status, sizeof(v->status), "nftsetd live %s", clock);
	} else {
		char msg[200];

		term_clean(err.msg, msg, sizeof(msg));
		snprintf(v->status, sizeof(v->status), "report failed: %s", msg);
	}
	r = watch_screen_build(&v->screen, v->report, v->recent, v->n_recent, v->height, v->status);
	return r < 0 ? r : view_draw(v);
}

static void view_push_event(struct view *v, json_t *ev)
{
	if (v->n_recent == WATCH_RECENT_MAX) {
		json_decref(v->recent[0]);
		memmove(v->recent, v->recent + 1, (WATCH_RECENT_MAX - 1) * sizeof(v->recent[0]));
		v->n_recent--;
	}
	v->recent[v->n_recent++] = ev;
}

/*
 * Read what the socket has: 1 events arrived, 0 nothing new, -ECONNRESET
 * nftsetd closed, else -errno.
 */
static int view_read_events(struct view *v, struct line_reader *rd)
{
	int got = 0;

	for (;;) {
		char *line;
		size_t len;
		int n = line_reader_next(rd, &line, &len);
		json_t *ev;

		if (n == -EAGAIN)
			return got;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return n;
		ev = json_loadb(line, len, 0, NULL);
		if (json_is_object(ev)) {
			view_push_event(v, ev);
			got = 1;
		} else {
			json_decref(ev);
		}
	}
}

static int watch_view(struct cli *cli, struct view *v, int sock, struct line_reader *rd, int sigfd)
{
	struct pollfd fds[3] = {
		{.fd = sock, .events = POLLIN},
		{.fd = sigfd, .events = POLLIN},
		{.fd = v->have_termios ? STDIN_FILENO : -1, .events = POLLIN},
	};
	struct shield_error err = {0};
	long long last_draw = 0;
	bool dirty = true;
	int r;

	for (;;) {
		long long now = now_ms(), next;
		int sig, timeout;

		if ((dirty && now - last_draw >= WATCH_MIN_REDRAW_MS) ||
		    now - last_draw >= WATCH_TICK_MS) {
			r = view_refresh(v);
			if (r < 0 && r != -EPIPE) {
				view_leave(v);
				shield_error_set(&err, r, "drawing: %s", shield_strerror(r));
				return cli_fail(cli, &err);
			}
			last_draw = now;
			dirty = false;
		}
		next = last_draw + (dirty ? WATCH_MIN_REDRAW_MS : WATCH_TICK_MS);
		timeout = next > now ? (int)(next - now) : 0;
		if (poll(fds, 3, timeout) < 0 && errno != EINTR) {
			view_leave(v);
			shield_error_set(&err, negative_errno(), "poll: %s",
					 shield_strerror(errno));
			return cli_fail(cli, &err);
		}
		while (fds[1].revents && (sig = signal_next(sigfd)) > 0) {
			if (sig == SIGTSTP) {
				/* Ctrl-Z: give the terminal back, stop, take it again once continued. */
				view_leave(v);
				kill(getpid(), SIGSTOP);
				view_enter(v);
			} else if (sig != SIGWINCH) {
				view_leave(v);
				return 0;
			}
			view_size(v);
			(void)fd_write_all(STDOUT_FILENO, "\033[2J", 4, 0);
			dirty = true;
			last_draw = 0;
		}
		if (fds[2].revents) {
			char keys[64];
			ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));

			if (n <= 0 || memchr(keys, 'q', (size_t)n) ||
			    memchr(keys, 'Q', (size_t)n)) {
				view_leave(v);
				return 0;
			}
		}
		if (fds[0].revents) {
			r = view_read_events(v, rd);
			if (r < 0) {
				view_leave(v);
				if (r == -ECONNRESET)
					shield_error_set(&err, r, "nftsetd closed the connection");
				else
					shield_error_set(&err, r, "reading from nftsetd: %s",
							 shield_strerror(r));
				return cli_fail(cli, &err);
			}
			dirty |= r > 0;
		}
	}
}

int cmd_watch(struct cli *cli, int argc, char **argv)
{
	struct cli_target_opts o = {0};
	struct cli_target t = CLI_TARGET_INIT;
	struct shield_error err = {0};
	_cleanup_free_ struct line_reader *rd = NULL;
	_cleanup_close_ int sock = -1, sigfd = -1;
	char path[PATH_MAX];
	int r;

	r = cli_target_parse(cli, argc, argv, &o, 0, 0, CLI_TARGET_NAME_OPTIONAL, watch_usage);
	if (r >= 0)
		return r;
	r = 0;
	/* nftsetd knows a container by its registry id or its bundle (podman or the registry name them). */
	if (o.name || o.state_dir)
		r = cli_target_resolve(cli, &o, 0, &t, &err);
	if (r >= 0)
		r = nftsetd_socket_path(path, sizeof(path), &err);
	if (r >= 0) {
		sigfd = signals_open();
		if (sigfd < 0)
			r = shield_error_set(&err, sigfd, "signalfd: %s", shield_strerror(sigfd));
	}
	if (r >= 0 && !(rd = malloc(sizeof(*rd))))
		r = shield_error_set(&err, -ENOMEM, "out of memory");
	/* Subscribe before the first report, so no event falls between the two. */
	if (r >= 0) {
		sock = nftsetd_subscribe(path, nftsetd_selector(&t), rd, &err);
		r = sock;
	}
	if (r >= 0 && fcntl(sock, F_SETFL, O_NONBLOCK) < 0)
		r = shield_error_set(&err, negative_errno(), "fcntl: %s", shield_strerror(errno));
	if (r < 0) {
		cli_target_free(&t);
		return cli_fail(cli, &err);
	}
	if (o.json || !isatty(STDOUT_FILENO)) {
		r = watch_stream(cli, sock, rd, sigfd);
	} else {
		struct view v = {.socket = path, .target = nftsetd_selector(&t)};

		view_size(&v);
		view_enter(&v);
		r = watch_view(cli, &v, sock, rd, sigfd);
		view_free(&v);
	}
	cli_target_free(&t);
	return r;
}
