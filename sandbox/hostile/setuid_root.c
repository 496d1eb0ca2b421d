/* Tries to become root (setuid/setgid/setresuid/setgroups 0) and checks its capability
 * sets, no_new_privs and seccomp mode in /proc/self/status. Expected: Exited(0); 99 if it
 * got root, has any capability, or runs without no_new_privs or seccomp. */
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    int escaped = 0;
    if (setuid(0) == 0) { printf("SETUID 0\n"); escaped = 1; }
    if (setgid(0) == 0) { printf("SETGID 0\n"); escaped = 1; }
    if (setresuid(0, 0, 0) == 0) { printf("SETRESUID 0\n"); escaped = 1; }
    if (seteuid(0) == 0) { printf("SETEUID 0\n"); escaped = 1; }
    gid_t zero = 0;
    if (setgroups(1, &zero) == 0) { printf("SETGROUPS 0\n"); escaped = 1; }
    printf("uid %d euid %d gid %d\n", (int)getuid(), (int)geteuid(), (int)getgid());
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
            !strncmp(line, "Seccomp:", 8)) {
            printf("%s", line);
            if (!strncmp(line, "Cap", 3) && !strstr(line, "0000000000000000")) escaped = 1;
            if (!strncmp(line, "NoNewPrivs", 10) && !strstr(line, "1")) escaped = 1;
            if (!strncmp(line, "Seccomp:", 8) && !strstr(line, "2")) escaped = 1;
        }
    }
    if (getuid() == 0 || geteuid() == 0) escaped = 1;
    return escaped ? 99 : 0;
}
