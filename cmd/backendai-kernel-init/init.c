/*
 * backendai-kernel-init (bai-init) is PID 1 of every kernel. The agent
 * bind-mounts it read-only at /opt/kernel/bai-init and starts kernels as
 *
 *   bai-init --status-dir DIR [--notify-fd N] [--grace 2s] [--signal-group] [--ldconfig] -- CMD [ARG...]
 *
 * It starts CMD as its only direct child, forwards signals to it, reaps
 * every process reparented to it, and records how CMD ended in DIR, a
 * host-visible directory (/opt/kernel/status) that the agent reads even
 * when it is not, or no longer, the container's parent.
 *
 * It is written in C, built static with no dependency: it runs once per
 * kernel start, and a Go program's runtime start-up alone (page faults of
 * its heap and stacks, threads, CPUID probes, all costly in a VM) made it
 * ~11 ms of wall time and ~12 ms of CPU per kernel more than this.
 *
 * Status files
 *
 * Both files are JSON objects followed by a newline, written to NAME.tmp in
 * DIR and renamed over NAME: a reader sees a whole file or none. They are
 * not fsynced: DIR lives in the agent's volatile state (/run), and a host
 * crash that could lose them leaves no kernel running anyway. Stale files
 * from an earlier run are removed before CMD starts.
 *
 *   started.json  {"pid":12,"started_at":"2025-01-02T03:04:05.123456789Z"}
 *   exit.json     {"exit_code":137,"signal":"SIGKILL","core_dumped":false,
 *                  "finished_at":"2025-01-02T03:04:06.5Z","error":""}
 *
 * pid is CMD's pid in the kernel's pid namespace. Times are RFC 3339 with
 * nanoseconds (trailing zeros dropped), in UTC. exit.json is written as
 * soon as CMD has been reaped, before the remaining processes are stopped.
 * started.json is written only when CMD started; when it could not start,
 * exit.json alone is written, with a non-empty error.
 *
 * Start notification
 *
 * With --notify-fd N, bai-init writes "ok\n" to descriptor N once CMD runs
 * and started.json is written, then closes it; when CMD could not start it
 * closes N without writing (after exit.json). The agent passes a pipe there
 * and waits on it, not on the file. N is close-on-exec from the start, so
 * CMD never inherits it; a descriptor that is not open is ignored.
 *
 * Exit codes
 *
 * exit_code, and bai-init's own exit status, are:
 *
 *   n        CMD exited with status n
 *   128+n    CMD was killed by signal n ("signal" names it: "SIGKILL"; a
 *            signal without a name is "SIG<n>"; "core_dumped" is set when
 *            the kernel wrote a core)
 *   127      CMD was not found (no such file, or no executable of that
 *            name in $PATH)
 *   126      CMD was found but could not be started (not executable, a
 *            directory, not a format the kernel runs, or any other failure)
 *   2        bad command line: no status files are written
 *
 * Process groups and signals
 *
 * CMD runs in a process group of its own; when bai-init's stdin is its
 * controlling terminal and bai-init is in the foreground, CMD's group is
 * made the terminal's foreground group, so that a TTY kernel gets ^C and
 * job control as a shell would give them. SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT and SIGTSTP sent to bai-init go to CMD
 * alone, as `docker stop` does with a container's PID 1: CMD is the kernel
 * runner (or the image's command), and it shuts its own children down.
 * With --signal-group they go to CMD's whole process group instead.
 * bai-init blocks the signals it handles and takes them synchronously; CMD
 * starts with the signal mask and dispositions bai-init was started with.
 *
 * After CMD exits
 *
 * Once exit.json is written, every remaining process gets SIGTERM; those
 * still there after --grace get SIGKILL. As PID 1 that is kill(-1), which
 * reaches every process of the namespace (those entered from outside
 * included; the kernel kills whatever is left when PID 1 exits). Not as
 * PID 1 (tests), bai-init makes itself a child subreaper and signals its
 * own children, again and again, since orphans keep being reparented to
 * it. It exits when it has no child left, or a second after SIGKILL at the
 * latest.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STARTED_FILE "started.json"
#define EXIT_FILE "exit.json"

enum { EXIT_USAGE = 2, EXIT_NOT_EXECUTABLE = 126, EXIT_NOT_FOUND = 127 };

/* How long bai-init waits for processes to die after SIGKILL. */
static const int64_t kill_wait_ns = 1000000000LL;

extern char **environ;

struct options {
	const char *status_dir;
	int notify_fd;
	int64_t grace_ns;
	bool group;
	bool ldconfig;
	char **argv;
};

/* The signals bai-init forwards to CMD. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP};

static void logf_(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *format, ...)
{
	static const char prefix[] = "bai-init: ";
	char buf[4096];
	memcpy(buf, prefix, sizeof prefix - 1);
	size_t room = sizeof buf - (sizeof prefix - 1) - 1; /* and the newline */
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(buf + sizeof prefix - 1, room, format, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = sizeof prefix - 1 + ((size_t)n < room ? (size_t)n : room - 1);
	buf[len++] = '\n';
	/* One write: lines of concurrent writers do not mix. */
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
}

static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* rfc3339 writes the current UTC time as RFC 3339 with nanoseconds,
 * trailing zeros of the fraction dropped (Go's time.RFC3339Nano). */
static void rfc3339(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ts.tv_nsec != 0 && n + 11 < size) {
		char frac[16];
		snprintf(frac, sizeof frac, ".%09ld", (long)ts.tv_nsec);
		size_t l = strlen(frac);
		while (l > 1 && frac[l - 1] == '0')
			frac[--l] = '\0';
		memcpy(out + n, frac, l + 1);
		n += l;
	}
	if (n + 2 <= size) {
		out[n] = 'Z';
		out[n + 1] = '\0';
	}
}

/* utf8_len is the length of the valid UTF-8 sequence at s (of at most n
 * bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t min, c;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, min = 0x80, c = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, min = 0x800, c = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, min = 0x10000, c = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

/* json_string appends s as a JSON string to out (of size size, used *n),
 * escaping as Go's encoding/json does; invalid UTF-8 becomes U+FFFD. */
static void json_string(char *out, size_t size, size_t *n, const char *s)
{
#define PUT(str, len)                                   \
	do {                                            \
		if (*n + (len) + 2 < size) {            \
			memcpy(out + *n, (str), (len)); \
			*n += (len);                    \
		}                                       \
	} while (0)
	PUT("\"", 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);
	while (left > 0) {
		unsigned char c = *p;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			PUT(esc, 2);
		} else if (c == '\n') {
			PUT("\\n", 2);
		} else if (c == '\r') {
			PUT("\\r", 2);
		} else if (c == '\t') {
			PUT("\\t", 2);
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			PUT(esc, 6);
		} else if (c >= 0x80) {
			size_t l = utf8_len(p, left);
			if (l == 0) {
				PUT("\\ufffd", 6);
				l = 1;
			} else {
				PUT(p, l);
			}
			p += l, left -= l;
			continue;
		} else {
			PUT(p, 1);
		}
		p++, left--;
	}
	PUT("\"", 1);
#undef PUT
}

/* write_status writes content to dir/name atomically: dir/name.tmp,
 * renamed over name. It returns 0, or -1 with errno set. */
static int write_status(const char *dir, const char *name, const char *content)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name) >= (int)sizeof tmp ||
	    snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t len = strlen(content), off = 0;
	while (off < len) {
		ssize_t w = write(fd, content + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			unlink(tmp);
			errno = e;
			return -1;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static void write_started(const char *dir, pid_t pid)
{
	char ts[64], buf[256];
	rfc3339(ts, sizeof ts);
	snprintf(buf, sizeof buf, "{\"pid\":%d,\"started_at\":\"%s\"}\n", (int)pid, ts);
	if (write_status(dir, STARTED_FILE, buf) < 0)
		logf_("write status: %s: %s", STARTED_FILE, strerror(errno));
}

static void write_exit(const char *dir, int code, const char *signame, bool core, const char *error)
{
	char ts[64], buf[8192];
	rfc3339(ts, sizeof ts);
	size_t n = (size_t)snprintf(buf, sizeof buf, "{\"exit_code\":%d,\"signal\":", code);
	json_string(buf, sizeof buf, &n, signame);
	n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"core_dumped\":%s,\"finished_at\":\"%s\",\"error\":", core ? "true" : "false", ts);
	json_string(buf, sizeof buf, &n, error);
	snprintf(buf + n, sizeof buf - n, "}\n");
	if (write_status(dir, EXIT_FILE, buf) < 0)
		logf_("write status: %s: %s", EXIT_FILE, strerror(errno));
}

/* signal_name is the name Go's unix.SignalName gives sig, or NULL. */
static const char *signal_name(int sig)
{
	static const char *const names[] = {
	    [SIGHUP] = "SIGHUP",       [SIGINT] = "SIGINT",       [SIGQUIT] = "SIGQUIT",     [SIGILL] = "SIGILL",
	    [SIGTRAP] = "SIGTRAP",     [SIGABRT] = "SIGABRT",     [SIGBUS] = "SIGBUS",       [SIGFPE] = "SIGFPE",
	    [SIGKILL] = "SIGKILL",     [SIGUSR1] = "SIGUSR1",     [SIGSEGV] = "SIGSEGV",     [SIGUSR2] = "SIGUSR2",
	    [SIGPIPE] = "SIGPIPE",     [SIGALRM] = "SIGALRM",     [SIGTERM] = "SIGTERM",     [SIGSTKFLT] = "SIGSTKFLT",
	    [SIGCHLD] = "SIGCHLD",     [SIGCONT] = "SIGCONT",     [SIGSTOP] = "SIGSTOP",     [SIGTSTP] = "SIGTSTP",
	    [SIGTTIN] = "SIGTTIN",     [SIGTTOU] = "SIGTTOU",     [SIGURG] = "SIGURG",       [SIGXCPU] = "SIGXCPU",
	    [SIGXFSZ] = "SIGXFSZ",     [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",     [SIGWINCH] = "SIGWINCH",
	    [SIGIO] = "SIGIO",         [SIGPWR] = "SIGPWR",       [SIGSYS] = "SIGSYS",
	};
	if (sig > 0 && sig < (int)(sizeof names / sizeof names[0]))
		return names[sig];
	return NULL;
}

/* parse_duration parses a Go duration ("2s", "300ms", "1m30s", "1.5s",
 * "0"); it returns -1 when s is not one or is negative. */
static int64_t parse_duration(const char *s)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000}, {"ms", 1000000},
		     {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
	if (strcmp(s, "0") == 0)
		return 0;
	if (*s == '+')
		s++;
	if (*s == '\0' || *s == '-')
		return -1;
	double total = 0;
	while (*s) {
		char *end;
		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		errno = 0;
		double v = strtod(s, &end);
		if (end == s || errno != 0)
			return -1;
		s = end;
		int64_t unit = 0;
		size_t best = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t l = strlen(units[i].unit);
			if (l > best && strncmp(s, units[i].unit, l) == 0)
				unit = units[i].ns, best = l;
		}
		if (unit == 0)
			return -1;
		s += best;
		total += v * (double)unit;
		if (total > 9.2e18)
			return -1;
	}
	return (int64_t)total;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bai-init --status-dir DIR [--notify-fd N] [--grace DURATION] [--signal-group] [--ldconfig] -- CMD [ARG...]\n"
		   "  --status-dir DIR     directory for started.json and exit.json (required)\n"
		   "  --notify-fd N        descriptor to write \"ok\" to once CMD runs, closed either way (-1: none)\n"
		   "  --grace DURATION     time between SIGTERM and SIGKILL for the processes left after CMD exits (default 2s)\n"
		   "  --signal-group       forward signals to CMD's process group, not to CMD alone\n"
		   "  --ldconfig           run the image's ldconfig before CMD (libraries bound into the kernel, e.g. the GPU driver's)\n");
}

/* parse_args parses the command line as Go's flag package would (-flag or
 * --flag, with =value or the next argument, up to "--" or the first
 * argument that is not a flag). It returns 0, 1 for --help, or -1 when the
 * command line is wrong (said on stderr). */
static int parse_args(int argc, char **argv, struct options *o)
{
	o->status_dir = NULL;
	o->notify_fd = -1;
	o->grace_ns = 2000000000LL;
	o->group = false;
	o->ldconfig = false;
	o->argv = NULL;
	int i = 1;
	for (; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		char *name = a + 1;
		if (*name == '-')
			name++;
		char *value = strchr(name, '=');
		size_t nlen = value ? (size_t)(value - name) : strlen(name);
		if (value)
			value++;
#define IS(flag) (nlen == strlen(flag) && strncmp(name, flag, nlen) == 0)
		if (IS("h") || IS("help"))
			return 1;
		if (IS("signal-group") || IS("ldconfig")) {
			bool v = true;
			if (value) {
				if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
					v = true;
				else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
					v = false;
				else {
					fprintf(stderr, "invalid boolean value \"%s\" for -%.*s\n", value, (int)nlen, name);
					return -1;
				}
			}
			if (IS("signal-group"))
				o->group = v;
			else
				o->ldconfig = v;
			continue;
		}
		if (!(IS("status-dir") || IS("notify-fd") || IS("grace"))) {
			fprintf(stderr, "flag provided but not defined: -%.*s\n", (int)nlen, name);
			return -1;
		}
		if (!value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "flag needs an argument: -%.*s\n", (int)nlen, name);
				return -1;
			}
			value = argv[++i];
		}
		if (IS("status-dir")) {
			o->status_dir = value;
		} else if (IS("notify-fd")) {
			char *end;
			errno = 0;
			long v = strtol(value, &end, 0);
			if (*value == '\0' || *end != '\0' || errno != 0 || v < INT_MIN || v > INT_MAX) {
				fprintf(stderr, "invalid value \"%s\" for flag -notify-fd: parse error\n", value);
				return -1;
			}
			o->notify_fd = (int)v;
		} else {
			o->grace_ns = parse_duration(value);
			if (o->grace_ns < 0) {
				fprintf(stderr, "invalid value \"%s\" for flag -grace: parse error\n", value);
				return -1;
			}
		}
#undef IS
	}
	o->argv = argv + i;
	if (o->status_dir == NULL || o->status_dir[0] == '\0') {
		logf_("--status-dir is required");
		return -1;
	}
	if (o->argv[0] == NULL) {
		logf_("no command given");
		return -1;
	}
	return 0;
}

/* find_command resolves name as Go's exec.LookPath does: a name with a
 * slash is used as it is; otherwise the first regular file with an execute
 * bit in $PATH. It returns 0, or -1 with errno ENOENT when there is none. */
static int find_command(const char *name, char *out, size_t size)
{
	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		return 0;
	}
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "";
	while (1) {
		const char *end = strchrnul(path, ':');
		size_t len = (size_t)(end - path);
		const char *dir = len == 0 ? "." : path;
		if (len == 0)
			len = 1;
		if ((size_t)snprintf(out, size, "%.*s/%s", (int)len, dir, name) < size) {
			struct stat st;
			if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
				return 0;
		}
		if (*end == '\0')
			break;
		path = end + 1;
	}
	errno = ENOENT;
	return -1;
}

/* reap collects every exited child without blocking. It sets *ws to pid's
 * wait status and returns true in *found if pid was among them; it returns
 * true when no child is left. */
static bool reap(pid_t pid, int *ws, bool *found)
{
	while (1) {
		int s;
		pid_t p = waitpid(-1, &s, WNOHANG | __WALL);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			return true; /* ECHILD */
		if (p == 0)
			return false;
		if (p == pid) {
			*ws = s;
			*found = true;
		}
	}
}

/* children_of lists (up to max) the processes whose parent is ppid. */
static size_t children_of(pid_t ppid, pid_t *pids, size_t max)
{
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < max) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		/* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
		char *rp = strrchr(buf, ')');
		int parent;
		char state;
		if (rp && sscanf(rp + 1, " %c %d", &state, &parent) == 2 && parent == ppid)
			pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

struct rest {
	bool pid1;
	pid_t termed[4096];
	size_t ntermed;
};

static void send_rest(struct rest *r, int sig)
{
	if (r->pid1) {
		kill(-1, sig); /* every process but this one; ESRCH when none */
		return;
	}
	/* Orphans keep being reparented here: signal the new ones too. */
	pid_t kids[4096];
	size_t n = children_of(getpid(), kids, sizeof kids / sizeof kids[0]);
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < r->ntermed && !seen; j++)
			seen = r->termed[j] == kids[i];
		if (sig == SIGTERM && seen)
			continue;
		if (!seen && r->ntermed < sizeof r->termed / sizeof r->termed[0])
			r->termed[r->ntermed++] = kids[i];
		kill(kids[i], sig); /* a zombie or a process that just exited: fine */
	}
}

/* terminate_rest stops and reaps the processes left once CMD has exited:
 * SIGTERM, then SIGKILL after grace. It returns when no child is left, or
 * kill_wait after SIGKILL. */
static void terminate_rest(bool pid1, int64_t grace_ns)
{
	static struct rest r;
	r.pid1 = pid1;
	r.ntermed = 0;
	send_rest(&r, SIGTERM);
	int64_t kill_at = now_ns(CLOCK_MONOTONIC) + grace_ns;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (1) {
		int ws;
		bool found = false;
		if (reap(0, &ws, &found))
			return;
		int64_t t = now_ns(CLOCK_MONOTONIC);
		if (t > kill_at + kill_wait_ns) {
			logf_("processes left %ds after SIGKILL; exiting anyway", (int)(kill_wait_ns / 1000000000LL));
			return;
		} else if (t >= kill_at) {
			send_rest(&r, SIGKILL);
		} else if (!pid1) {
			send_rest(&r, SIGTERM);
		}
		struct timespec tick = {0, 50 * 1000000L};
		sigtimedwait(&chld, NULL, &tick);
	}
}

/* run_ldconfig rebuilds the image's ld cache, so that libraries the agent
 * bound in (the GPU driver's libcuda.so.<version>) resolve by SONAME, and
 * makes their SONAME links. An image without ldconfig is left as it is:
 * the agent created the links already. ldconfig.real first: Debian and
 * Ubuntu's /sbin/ldconfig may be a wrapper script. */
static void run_ldconfig(const sigset_t *orig_mask)
{
	static const char *const paths[] = {"/sbin/ldconfig.real", "/sbin/ldconfig", "/usr/sbin/ldconfig"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct stat st;
		if (stat(paths[i], &st) != 0)
			continue;
		int out[2];
		if (pipe2(out, O_CLOEXEC) < 0) {
			logf_("ldconfig: %s", strerror(errno));
			return;
		}
		pid_t pid = fork();
		if (pid < 0) {
			logf_("ldconfig: %s", strerror(errno));
			close(out[0]);
			close(out[1]);
			return;
		}
		if (pid == 0) {
			dup2(out[1], STDOUT_FILENO);
			dup2(out[1], STDERR_FILENO);
			sigprocmask(SIG_SETMASK, orig_mask, NULL);
			execl(paths[i], paths[i], (char *)NULL);
			_exit(EXIT_NOT_EXECUTABLE);
		}
		close(out[1]);
		char buf[2048];
		size_t n = 0;
		ssize_t r;
		while ((r = read(out[0], buf + n, sizeof buf - 1 - n)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				break;
			n += (size_t)r;
			if (n == sizeof buf - 1) { /* keep the start, drain the rest */
				char sink[512];
				while ((r = read(out[0], sink, sizeof sink)) > 0 || (r < 0 && errno == EINTR))
					;
				break;
			}
		}
		close(out[0]);
		buf[n] = '\0';
		while (n > 0 && isspace((unsigned char)buf[n - 1]))
			buf[--n] = '\0';
		int ws;
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(ws) && WEXITSTATUS(ws) != 0)
			logf_("ldconfig: exit status %d: %s", WEXITSTATUS(ws), buf);
		else if (WIFSIGNALED(ws))
			logf_("ldconfig: signal: %s: %s", strsignal(WTERMSIG(ws)), buf);
		return;
	}
}

/* in_foreground reports whether stdin is bai-init's controlling terminal
 * with bai-init's process group in the foreground. */
static bool in_foreground(void)
{
	pid_t pgrp;
	return ioctl(STDIN_FILENO, TIOCGPGRP, &pgrp) == 0 && pgrp == getpgrp();
}

/* start_command forks and execs CMD in a process group of its own. It
 * returns CMD's pid, or -1 with the exit code and an error message set. */
static pid_t start_command(char **argv, bool foreground, const sigset_t *orig_mask, int *code, char *err, size_t errsize)
{
	char path[PATH_MAX];
	if (find_command(argv[0], path, sizeof path) < 0) {
		snprintf(err, errsize, "exec: \"%s\": executable file not found in $PATH", argv[0]);
		*code = EXIT_NOT_FOUND;
		return -1;
	}
	/* The child reports a failed exec through a close-on-exec pipe: EOF
	 * means the exec took place. */
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0) {
		snprintf(err, errsize, "fork/exec %s: %s", path, strerror(errno));
		*code = EXIT_NOT_EXECUTABLE;
		return -1;
	}
	sigset_t all, mask;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &mask);
	pid_t pid = fork();
	if (pid == 0) {
		/* Every signal is blocked here: tcsetpgrp from what is now a
		 * background group would otherwise get SIGTTOU. */
		close(report[0]);
		setpgid(0, 0);
		if (foreground)
			tcsetpgrp(STDIN_FILENO, getpid());
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		sigprocmask(SIG_SETMASK, orig_mask, NULL);
		execve(path, argv, environ);
		int e = errno;
		ssize_t w = write(report[1], &e, sizeof e);
		(void)w;
		_exit(EXIT_NOT_EXECUTABLE);
	}
	int fork_errno = errno;
	sigprocmask(SIG_SETMASK, &mask, NULL);
	close(report[1]);
	if (pid < 0) {
		close(report[0]);
		snprintf(err, errsize, "fork/exec %s: %s", path, strerror(fork_errno));
		*code = EXIT_NOT_EXECUTABLE;
		return -1;
	}
	int e = 0;
	ssize_t r;
	while ((r = read(report[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (r == (ssize_t)sizeof e) {
		int ws;
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		snprintf(err, errsize, "fork/exec %s: %s", path, strerror(e));
		*code = e == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
		return -1;
	}
	return pid;
}

int main(int argc, char **argv)
{
	struct options o;
	switch (parse_args(argc, argv, &o)) {
	case 1:
		usage(stdout);
		return 0;
	case -1:
		usage(stderr);
		return EXIT_USAGE;
	}

	/* The notify descriptor is close-on-exec from the start; one that is
	 * not open counts as none. */
	int notify = o.notify_fd;
	if (notify >= 0 && fcntl(notify, F_SETFD, FD_CLOEXEC) < 0)
		notify = -1;
	bool pid1 = getpid() == 1;
	if (!pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		logf_("become a child subreaper: %s", strerror(errno));

	/* Blocked before the start, so that nothing sent in between is lost;
	 * taken with sigwaitinfo. SIGPIPE is blocked too: a write to a closed
	 * stderr then fails instead of killing bai-init. */
	sigset_t handled, orig_mask;
	sigemptyset(&handled);
	sigaddset(&handled, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&handled, forwarded[i]);
	sigset_t block = handled;
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &orig_mask);

	const char *stale[] = {STARTED_FILE, EXIT_FILE};
	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", o.status_dir, stale[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			logf_("remove stale status: %s: %s", path, strerror(errno));
	}
	if (o.ldconfig)
		run_ldconfig(&orig_mask);

	int code;
	char err[PATH_MAX + 256];
	pid_t pid = start_command(o.argv, in_foreground(), &orig_mask, &code, err, sizeof err);
	if (pid < 0) {
		logf_("start command: %s", err);
		write_exit(o.status_dir, code, "", false, err);
		if (notify >= 0)
			close(notify);
		return code;
	}
	write_started(o.status_dir, pid);
	if (notify >= 0) {
		ssize_t w = write(notify, "ok\n", 3);
		(void)w;
		close(notify);
	}

	int ws = 0;
	for (bool done = false; !done;) {
		siginfo_t info;
		int sig = sigwaitinfo(&handled, &info);
		if (sig < 0)
			continue; /* EINTR */
		if (sig == SIGCHLD) {
			bool found = false;
			reap(pid, &ws, &found);
			done = found;
			continue;
		}
		/* pid cannot be reused here: only this loop reaps it. */
		if (kill(o.group ? -pid : pid, sig) < 0 && errno != ESRCH)
			logf_("forward %s: %s", signal_name(sig) ? signal_name(sig) : "signal", strerror(errno));
	}

	int exit_code = 0;
	const char *signame = "";
	char other[16];
	bool core = false;
	if (WIFSIGNALED(ws)) {
		int s = WTERMSIG(ws);
		exit_code = 128 + s;
		signame = signal_name(s);
		if (signame == NULL) {
			snprintf(other, sizeof other, "SIG%d", s);
			signame = other;
		}
		core = WCOREDUMP(ws);
	} else {
		exit_code = WEXITSTATUS(ws);
	}
	write_exit(o.status_dir, exit_code, signame, core, "");
	terminate_rest(pid1, o.grace_ns);
	return exit_code;
}
