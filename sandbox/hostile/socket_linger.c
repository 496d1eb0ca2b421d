/* A socket that outlives its run ("leave NAME"): an abstract AF_UNIX datagram socket bound
 * to @NAME holds its own descriptor in flight (SCM_RIGHTS to itself), so nothing closes it
 * when the process exits; it stays until the kernel's garbage collector finds it. The next
 * submission in the slot ("look NAME") must not see it in /proc/net/unix nor reach it.
 * Expected: Exited(0) for both; "look" exits 99 if it found the socket. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t address(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t len = strlen(name);
    if (len > sizeof a->sun_path - 1)
        len = sizeof a->sun_path - 1;
    memcpy(a->sun_path + 1, name, len);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 97;
    struct sockaddr_un a;
    socklen_t alen = address(&a, argv[2]);
    if (!strcmp(argv[1], "leave")) {
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&a, alen) != 0) {
            printf("bind: %s\n", strerror(errno));
            return 96;
        }
        int t = socket(AF_UNIX, SOCK_DGRAM, 0);
        char byte = 'x';
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        struct msghdr m = {.msg_name = &a, .msg_namelen = alen, .msg_iov = &iov, .msg_iovlen = 1,
                           .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &s, sizeof(int));
        if (sendmsg(t, &m, 0) != 1) {
            printf("sendmsg: %s\n", strerror(errno));
            return 95;
        }
        printf("left @%s\n", argv[2]);
        return 0;
    }
    int found = 0;
    FILE *f = fopen("/proc/net/unix", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, argv[2])) {
            printf("FOUND in /proc/net/unix: %s", line);
            found = 1;
        }
    int t = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (sendto(t, "y", 1, 0, (struct sockaddr *)&a, alen) == 1) {
        printf("FOUND: sent to @%s\n", argv[2]);
        found = 1;
    }
    printf("looked\n");
    return found ? 99 : 0;
}
