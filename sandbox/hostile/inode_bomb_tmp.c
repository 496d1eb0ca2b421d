/* Inode bomb in /tmp: creates empty files until it cannot. The private /tmp has an inode
 * cap, so this must stop with ENOSPC. Expected: Exited(0), "created N" with N below the cap. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char name[64];
    long n = 0;
    for (;;) {
        snprintf(name, sizeof name, "/tmp/f%ld", n);
        int fd = open(name, O_CREAT | O_WRONLY | O_EXCL, 0600);
        if (fd < 0) {
            int e = errno;
            printf("created %ld errno %d\n", n, e);
            return e == ENOSPC ? 0 : 99;
        }
        close(fd);
        n++;
    }
}
