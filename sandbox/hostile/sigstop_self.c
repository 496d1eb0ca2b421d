/* Stops itself: a stopped process uses no CPU and never exits. Expected: WallTimeLimit. */
#include <signal.h>

int main(void) {
    raise(SIGSTOP);
    return 0;
}
