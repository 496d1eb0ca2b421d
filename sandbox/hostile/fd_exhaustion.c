/* Opens descriptors until it cannot. Expected: Exited(0) with "opened N errno 24" (EMFILE),
 * N below the open-files limit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

int main(void) {
    long n = 0;
    for (;;) {
        if (open("/dev/null", O_RDONLY) < 0) {
            printf("opened %ld errno %d\n", n, errno);
            return errno == EMFILE ? 0 : 99;
        }
        n++;
    }
}
