/* A tree too deep for the host to walk: nests directories in the work dir as deep as the
 * inode quota lets it (the target is 22,000 levels, which overflowed the worker's stack when
 * the host removed work dirs recursively). argv[1] = "tmp" nests in /tmp instead.
 * Expected: Exited(0), "depth N" with N below the inode quota; the slot still works and the
 * next submission in it starts clean. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *top = argc > 1 && !strcmp(argv[1], "tmp") ? "/tmp" : ".";
    if (chdir(top) != 0)
        return 97;
    long depth = 0;
    while (depth < 22000) {
        if (mkdir("d", 0755) != 0 || chdir("d") != 0) {
            int e = errno;
            printf("depth %ld errno %d\n", depth, e);
            return e == ENOSPC ? 0 : 98;
        }
        depth++;
    }
    printf("depth %ld\n", depth);
    return 0;
}
