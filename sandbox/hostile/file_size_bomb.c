/* File-size bomb in the work dir: writes one file forever. RLIMIT_FSIZE stops it with
 * SIGXFSZ. Expected: Signaled(25), and the file on the host no larger than the limit. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];

int main(void) {
    memset(buf, 'f', sizeof buf);
    int fd = open("big.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 97;
    for (;;)
        if (write(fd, buf, sizeof buf) < 0)
            return 98;
}
