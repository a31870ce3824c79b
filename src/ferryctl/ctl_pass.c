/*
 * ctl_pass.c - read a new password: from the terminal, without echo, asked
 * twice; or, for scripts, one line of standard input.
 * SECURITY: the password goes only into the caller's buffer and a local
 * copy that is wiped; echo is restored even when a signal arrives while the
 * terminal is silent (the signal is then re-raised, as readpassphrase does).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/auth_users.h"
#include "ferryctl/ctl.h"

enum { CTL_LINE_OK = 0, CTL_LINE_ERR = -1, CTL_LINE_LONG = -2, CTL_LINE_NUL = -3 };

static const int ctl_tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define CTL_NSIG (sizeof(ctl_tty_signals) / sizeof(ctl_tty_signals[0]))

static volatile sig_atomic_t ctl_caught;

static void
ctl_catch(int sig)
{
	ctl_caught = sig;
}

/* One line from fd into buf, NUL-terminated, without its CR/LF. Reads an
 * octet at a time so nothing after the line is consumed. */
static int
ctl_fd_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;
	char ch;

	for (;;) {
		if (ctl_caught)
			return CTL_LINE_ERR;
		r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return CTL_LINE_ERR;
		if (r == 0 || ch == '\n')
			break;
		if (ch == '\0')
			return CTL_LINE_NUL;
		if (n + 1 >= size)
			return CTL_LINE_LONG;
		buf[n++] = ch;
	}
	while (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return CTL_LINE_OK;
}

/* Say why a line was refused; 0 when it is a usable password. */
static int
ctl_line_check(int rc, const char *buf)
{
	if (rc == CTL_LINE_LONG)
		ctl_warn("password longer than %d octets", AUTH_PASS_MAX);
	else if (rc == CTL_LINE_NUL)
		ctl_warn("password contains a NUL octet");
	else if (rc == CTL_LINE_ERR && !ctl_caught)
		ctl_warn("reading the password: %s", strerror(errno));
	else if (rc == CTL_LINE_OK && buf[0] == '\0')
		ctl_warn("empty password");
	else if (rc == CTL_LINE_OK)
		return 0;
	return -1;
}

/* Prompt on the terminal and read one line with echo off. */
static int
ctl_tty_ask(int tty, const char *prompt, char *buf, size_t size)
{
	struct sigaction sa = { .sa_handler = ctl_catch }, old[CTL_NSIG];
	struct termios saved, quiet;
	int rc, saved_errno;

	if (tcgetattr(tty, &saved) < 0) {
		ctl_warn("terminal: %s", strerror(errno));
		return -1;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/* No SA_RESTART: read() must return so echo can be restored. */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < CTL_NSIG; i++)
		sigaction(ctl_tty_signals[i], &sa, &old[i]);
	if (write(tty, prompt, strlen(prompt)) < 0 || tcsetattr(tty, TCSAFLUSH, &quiet) < 0)
		rc = CTL_LINE_ERR;
	else
		rc = ctl_fd_line(tty, buf, size);
	saved_errno = errno;
	tcsetattr(tty, TCSAFLUSH, &saved);
	if (write(tty, "\n", 1) < 0) {
		/* the newline is cosmetic */
	}
	for (size_t i = 0; i < CTL_NSIG; i++)
		sigaction(ctl_tty_signals[i], &old[i], NULL);
	if (ctl_caught) {
		sodium_memzero(buf, size);
		raise(ctl_caught);
		ctl_warn("interrupted");   /* the signal was ignored before we came */
		return -1;
	}
	errno = saved_errno;
	return ctl_line_check(rc, buf);
}

static int
ctl_tty_pass(const char *name, char *buf, size_t size)
{
	char again[AUTH_PASS_MAX + 1], prompt[AUTH_USER_MAX + 32];
	int tty, rc = -1;

	if ((tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		ctl_warn("no terminal to ask for the password (use --password-stdin): %s",
		    strerror(errno));
		return -1;
	}
	snprintf(prompt, sizeof(prompt), "Password for %s: ", name);
	if (ctl_tty_ask(tty, prompt, buf, size) < 0 ||
	    ctl_tty_ask(tty, "Again: ", again, sizeof(again)) < 0)
		goto done;
	if (strcmp(buf, again) != 0) {
		ctl_warn("the passwords do not match");
		goto done;
	}
	rc = 0;
done:
	sodium_memzero(again, sizeof(again));
	close(tty);
	return rc;
}

int
ctl_pass_get(const char *name, bool from_stdin, char *buf, size_t size)
{
	if (from_stdin)
		return ctl_line_check(ctl_fd_line(STDIN_FILENO, buf, size), buf);
	return ctl_tty_pass(name, buf, size);
}
