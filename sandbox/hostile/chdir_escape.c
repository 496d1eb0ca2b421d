/* chroot-style escape: chdir("..") many times, then look for the host: a marker file whose
 * absolute host path is argv[1] (absolute and relative to where it ended up), /etc/shadow,
 * /root, /home. Also tries chroot tricks. Expected: Exited(0); 99 if the host is reachable. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *marker = argc > 1 ? argv[1] : "/nonexistent";
    int escaped = 0;
    for (int i = 0; i < 100; i++)
        if (chdir("..") != 0)
            break;
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd))
        printf("cwd after chdir(..) loop: %s\n", cwd);
    DIR *d = opendir(".");
    if (d) {
        struct dirent *e;
        printf("here:");
        while ((e = readdir(d)))
            printf(" %s", e->d_name);
        printf("\n");
        closedir(d);
    }
    struct stat st;
    const char *probes[] = {marker, marker + 1, "etc/shadow", "root", "home", "/home"};
    for (unsigned i = 0; i < sizeof probes / sizeof *probes; i++) {
        if (stat(probes[i], &st) == 0) {
            printf("FOUND %s\n", probes[i]);
            escaped = 1;
        }
    }
    /* The classic chroot escape needs chroot(2); it must be refused. */
    if (mkdir("/tmp/jail", 0755) == 0 && chroot("/tmp/jail") == 0) {
        printf("CHROOT allowed\n");
        escaped = 1;
    }
    return escaped ? 99 : 0;
}
