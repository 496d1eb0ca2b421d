/* Catches (and ignores) SIGXCPU, the RLIMIT_CPU soft-limit signal, and keeps spinning: the
 * sandbox must not rely on the program dying of it. Expected: CpuTimeLimit. */
#include <signal.h>

static volatile sig_atomic_t caught;

static void on_xcpu(int sig) {
    (void)sig;
    caught++;
}

int main(void) {
    signal(SIGXCPU, on_xcpu);
    volatile unsigned long x = 0;
    for (;;)
        x++;
}
