/* LD_PRELOAD shim for LocalStack and what it starts.
   bind(): a bind to the wildcard address (0.0.0.0 or ::) binds loopback instead.
   DynamoDB Local and the Kinesis mock that LocalStack starts bind the wildcard with
   no option to change it; geoplan keeps every listener local.
   setsid(): see below. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    if (!real_bind) real_bind = dlsym(RTLD_NEXT, "bind");
    if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in a;
        memcpy(&a, addr, sizeof a);
        if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (struct sockaddr *)&a, sizeof a);
        }
    } else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 a;
        memcpy(&a, addr, sizeof a);
        if (memcmp(&a.sin6_addr, &in6addr_any, sizeof a.sin6_addr) == 0) {
            /* ::ffff:127.0.0.1 — the IPv4 loopback on a dual-stack socket, so clients
               of 127.0.0.1 still reach it (::1 alone would not). */
            static const unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
            memcpy(&a.sin6_addr, mapped, sizeof mapped);
            return real_bind(fd, (struct sockaddr *)&a, sizeof a);
        }
    }
    return real_bind(fd, addr, len);
}

/* setsid() makes a new process group instead of a new session. LocalStack starts
   DynamoDB Local and the Kinesis mock in sessions of their own; where the kernel
   schedules by session first (autogroup, on in most distributions) each session
   weighs as much as the whole test suite's, whatever its nice value. In the
   launcher's session, the nice values launch.py sets mean what they say. A process
   group still lets a parent stop its child's whole group. */
#include <unistd.h>

pid_t setsid(void) {
    if (setpgid(0, 0) != 0) return (pid_t)-1;
    return getpid();
}
