/* Plants traps for the host side in the work dir: out.txt -> a host secret (argv[1]),
 * planted -> a host file the host might write (argv[2]), and a FIFO. The host must not read
 * or write through them. Expected: Exited(0). */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 97;
    if (symlink(argv[1], "/box/out.txt") != 0) return 96;
    if (symlink(argv[2], "/box/planted") != 0) return 95;
    if (mkfifo("/box/fifo", 0644) != 0) return 94;
    if (symlink("/proc/self/root/etc/passwd", "/box/magic") != 0) return 93;
    printf("traps set\n");
    return 0;
}
