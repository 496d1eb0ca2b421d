/* Leaves state for the next run of the slot ("leave"): SysV shared memory, a message queue,
 * a semaphore set, a file in /tmp. The next run ("look") must find none of it.
 * Expected: Exited(0) for both; "look" exits 99 if anything survived. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#define KEY 0x5a5a

int main(int argc, char **argv) {
    int leave = argc > 1 && !strcmp(argv[1], "leave");
    if (leave) {
        int id = shmget(KEY, 4096, IPC_CREAT | 0666);
        if (id < 0) return 97;
        char *p = shmat(id, 0, 0);
        if (p == (void *)-1) return 96;
        strcpy(p, "left behind");
        if (msgget(KEY, IPC_CREAT | 0666) < 0) return 95;
        if (semget(KEY, 1, IPC_CREAT | 0666) < 0) return 94;
        int fd = open("/tmp/leftover", O_CREAT | O_WRONLY, 0666);
        if (fd < 0) return 93;
        close(fd);
        printf("left state\n");
        return 0;
    }
    int found = 0;
    if (shmget(KEY, 0, 0) >= 0) { printf("FOUND shm\n"); found = 1; }
    if (msgget(KEY, 0) >= 0) { printf("FOUND msg\n"); found = 1; }
    if (semget(KEY, 0, 0) >= 0) { printf("FOUND sem\n"); found = 1; }
    if (access("/tmp/leftover", F_OK) == 0) { printf("FOUND /tmp/leftover\n"); found = 1; }
    printf("looked\n");
    return found ? 99 : 0;
}
