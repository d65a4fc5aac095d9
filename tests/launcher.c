/* The launcher of tests/forkcommand.py, in C: what its Python launcher does, without starting an
 * interpreter (about 1 ms of CPU a run instead of 15).
 *
 * It hands its argv, environment, directory and descriptors 0-2 to the fork server listening on
 * "server.sock" beside the directory it lives in (DIR/bin/NAME -> DIR/server.sock), then waits:
 * the server answers with the run's pid, and with its exit code (negative: the signal that ended
 * it) once the run is over. Meanwhile SIGHUP, SIGINT, SIGQUIT and SIGTERM go on to the run. The
 * launcher ends as the run did: the same exit code, or the same signal.
 *
 * The request is one SOCK_SEQPACKET message of NUL-terminated fields:
 *   session, terminal ("0" or "1"), cwd, the number of arguments, the arguments, then
 *   the environment ("NAME=VALUE"), with the descriptors 0, 1 and 2 attached (SCM_RIGHTS).
 * With FORKCOMMAND_STATUS=FILE in its environment (not passed on), it writes the exit status to
 * FILE as sh's $? gives it (128 + N for signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

static volatile pid_t run_pid;

static void forward(int signum) {
    int saved = errno;
    kill(run_pid, signum); /* ESRCH: it has ended, its code is on its way */
    errno = saved;
}

static void die(const char *what) {
    fprintf(stderr, "forkcommand launcher: %s: %s\n", what, strerror(errno));
    exit(125);
}

struct buffer {
    char *data;
    size_t size, used;
};

static void put(struct buffer *b, const char *text) {
    size_t n = strlen(text) + 1;
    if (b->used + n > b->size) {
        b->size = 2 * (b->used + n);
        b->data = realloc(b->data, b->size);
        if (!b->data) die("realloc");
    }
    memcpy(b->data + b->used, text, n);
    b->used += n;
}

/* an answer of the server: a decimal number in one message */
static long answer(int sock) {
    char text[64];
    ssize_t got;
    do got = recv(sock, text, sizeof text - 1, 0);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
        if (got == 0) errno = EPIPE;
        die("the fork server");
    }
    text[got] = 0;
    return strtol(text, NULL, 10);
}

int main(int argc, char **argv) {
    int session = getsid(0) == getpid();
    int terminal = session && tcgetpgrp(0) == getpid();
    if (terminal) { /* give it up for the run to take (a leader that does is sent SIGHUP) */
        signal(SIGHUP, SIG_IGN);
        ioctl(0, TIOCNOTTY);
    }

    struct sockaddr_un address = {.sun_family = AF_UNIX};
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) die("/proc/self/exe");
    self[n] = 0;
    char *slash = strrchr(self, '/'); /* DIR/bin/NAME -> DIR */
    if (slash) *slash = 0;
    slash = strrchr(self, '/');
    if (slash) *slash = 0;
    if (snprintf(address.sun_path, sizeof address.sun_path, "%s/server.sock", self) >=
        (int)sizeof address.sun_path) {
        errno = ENAMETOOLONG;
        die(self);
    }
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) die("socket");
    if (connect(sock, (struct sockaddr *)&address, sizeof address) < 0) die(address.sun_path);

    struct buffer request = {0};
    char cwd[PATH_MAX], count[32];
    if (!getcwd(cwd, sizeof cwd)) die("getcwd");
    put(&request, session ? "1" : "0");
    put(&request, terminal ? "1" : "0");
    put(&request, cwd);
    snprintf(count, sizeof count, "%d", argc - 1);
    put(&request, count);
    for (int i = 1; i < argc; i++) put(&request, argv[i]);
    const char *status = NULL;
    for (char **entry = environ; *entry; entry++) {
        if (strncmp(*entry, "FORKCOMMAND_STATUS=", 19) == 0)
            status = *entry + 19;
        else
            put(&request, *entry);
    }

    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)] = {0};
    struct iovec part = {.iov_base = request.data, .iov_len = request.used};
    struct msghdr message = {
        .msg_iov = &part, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *rights = CMSG_FIRSTHDR(&message);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(rights), fds, sizeof fds);
    if (sendmsg(sock, &message, 0) < 0) die("sendmsg");

    run_pid = (pid_t)answer(sock);
    struct sigaction pass = {.sa_handler = forward};
    sigemptyset(&pass.sa_mask);
    int passed[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    for (size_t i = 0; i < sizeof passed / sizeof *passed; i++) sigaction(passed[i], &pass, NULL);
    int code = (int)answer(sock);

    if (status && *status) { /* where the test wants it, as sh's $? says it */
        FILE *out = fopen(status, "w");
        if (!out) die(status);
        fprintf(out, "%d\n", code >= 0 ? code : 128 - code);
        fclose(out);
    }
    if (code < 0) { /* the run ended by a signal: end the same way */
        signal(-code, SIG_DFL);
        kill(getpid(), -code);
        return 128 - code;
    }
    return code;
}
