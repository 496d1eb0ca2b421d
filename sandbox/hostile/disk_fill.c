/* Fills its writable space: one fallocate of 4 GiB in the work dir (a few milliseconds of CPU
 * when the work dir was on the host's disk), then 1 MiB writes into /tmp until they fail.
 * Prints what it got and exits 1 when it ran out of room. Expected: FileSizeLimit (the run
 * failed after filling its quota), with no more than the quota written. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 20];

int main(void) {
    int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 97;
    int r = fallocate(fd, 0, 0, 4LL << 30);
    printf("fallocate 4 GiB: %s\n", r == 0 ? "ALLOCATED" : strerror(errno));
    close(fd);
    unlink("big");
    memset(buf, 'z', sizeof buf);
    fd = open("/tmp/fill", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 96;
    long long total = 0;
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n <= 0) {
            printf("wrote %lld bytes, then: %s\n", total, n < 0 ? strerror(errno) : "0");
            fflush(stdout);
            return 1;
        }
        total += n;
    }
}
