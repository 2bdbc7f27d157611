#ifndef LOKET_CLIBPQ_SHIM_H
#define LOKET_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Readiness flags of a socket a lane waits on (epoll's, named here so Swift need not import the
   packed epoll_event struct). */
static const uint32_t LOKET_READABLE = EPOLLIN;
static const uint32_t LOKET_WRITABLE = EPOLLOUT;
static const uint32_t LOKET_FAILED = EPOLLERR | EPOLLHUP;

/* Arms a one-shot wait for `events` on `fd` (plus errors and hang-ups, which epoll always
   reports): modifies an existing registration, or adds one. Returns 0, or -1 with errno. */
static inline int loket_epoll_arm(int epfd, int fd, uint32_t events) {
    struct epoll_event event;
    event.events = events | EPOLLONESHOT;
    event.data.fd = fd;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event) == 0) return 0;
    if (errno != ENOENT) return -1;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

/* Waits for at most `capacity` events; writes each one's descriptor and flags. Returns how many
   (0 on timeout or EINTR), or -1 with errno. */
static inline int loket_epoll_wait(int epfd, int *fds, uint32_t *flags, int capacity, int timeout) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count = epoll_wait(epfd, events, capacity, timeout);
    if (count < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < count; i++) {
        fds[i] = events[i].data.fd;
        flags[i] = events[i].events;
    }
    return count;
}
/* Names the calling thread as the system shows it (top -H, perf, /proc/…/comm): at most 15 bytes
   are kept. Returns 0, or -1 with errno. */
static inline int loket_name_this_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
#endif
