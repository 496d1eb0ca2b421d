/* Channels between concurrent runs through shared read-only files: "hold" takes flock and a
 * POSIX read lock on /usr/include/stdio.h and watches /usr/include with inotify, then waits;
 * "look" (another slot, at the same time) asks whether the file is locked. Locks taken
 * inside the sandbox are no-ops and inotify is refused, so "look" learns nothing.
 * Expected: Exited(0) for both; "look" exits 99 if it saw the other run's lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <unistd.h>

#define SHARED "/usr/include/stdio.h"

int main(int argc, char **argv) {
    int fd = open(SHARED, O_RDONLY);
    if (fd < 0)
        return 97;
    if (argc > 1 && !strcmp(argv[1], "hold")) {
        printf("flock: %s\n", flock(fd, LOCK_EX) == 0 ? "ok" : strerror(errno));
        struct flock l = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
        printf("F_SETLK: %s\n", fcntl(fd, F_SETLK, &l) == 0 ? "ok" : strerror(errno));
        int in = inotify_init1(0);
        printf("inotify: %s\n", in >= 0 ? "WATCHING" : strerror(errno));
        if (in >= 0)
            inotify_add_watch(in, "/usr/include", IN_ACCESS | IN_OPEN);
        int ready = open("ready", O_WRONLY | O_CREAT, 0644);
        if (ready >= 0)
            close(ready);
        fflush(stdout);
        sleep(30);
        return 0;
    }
    int found = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        printf("FOUND flock held\n");
        found = 1;
    }
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK) {
        printf("FOUND a POSIX lock of pid %d\n", (int)l.l_pid);
        found = 1;
    }
    if (inotify_init1(0) >= 0) {
        printf("FOUND inotify available\n");
        found = 1;
    }
    printf("looked\n");
    return found ? 99 : 0;
}
