/* Looks for a concurrent run in another slot. "hold": leaves markers (a file in /tmp, a SysV
 * shm segment, a listening abstract socket), creates /box/ready and waits forever.
 * "look": reports whether it can see any of them, or any process but its own.
 * Expected: hold → WallTimeLimit; look → Exited(0) (99 if it saw the other run). */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define KEY 0x7777
static const char NAME[] = "sandbox-parallel-peek";

static socklen_t addr(struct sockaddr_un *a) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, NAME, sizeof NAME - 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof NAME);
}

int main(int argc, char **argv) {
    struct sockaddr_un a;
    socklen_t alen = addr(&a);
    if (argc > 1 && !strcmp(argv[1], "hold")) {
        int fd = open("/tmp/peek-marker", O_CREAT | O_WRONLY, 0666);
        if (fd < 0 || shmget(KEY, 4096, IPC_CREAT | IPC_EXCL | 0666) < 0) return 97;
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&a, alen) != 0 || listen(s, 1) != 0) return 96;
        if (open("/box/ready", O_CREAT | O_WRONLY, 0644) < 0) return 95;
        for (;;) pause();
    }
    int found = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    printf("my pid %d; /proc:", (int)getpid());
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        printf(" %s", e->d_name);
        if (atoi(e->d_name) != getpid()) found = 1;
    }
    printf("\n");
    if (access("/tmp/peek-marker", F_OK) == 0) { printf("FOUND /tmp marker\n"); found = 1; }
    if (shmget(KEY, 0, 0) >= 0) { printf("FOUND shm\n"); found = 1; }
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&a, alen) == 0) { printf("FOUND socket\n"); found = 1; }
    kill(-1, SIGKILL); /* may only reach this run's own processes */
    printf("looked\n");
    return found ? 99 : 0;
}
