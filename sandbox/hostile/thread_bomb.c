/* Thread bomb: creates threads forever (each sleeps); creation fails at the pids limit and
 * the main thread keeps retrying. Expected: CpuTimeLimit or MemoryLimit (see fork_bomb.c;
 * WallTimeLimit tolerated). */
#include <pthread.h>
#include <unistd.h>

static void *sleeper(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return 0;
}

int main(void) {
    for (;;) {
        pthread_t t;
        pthread_create(&t, 0, sleeper, 0);
    }
}
