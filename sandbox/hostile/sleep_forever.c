/* Sleeps past the wall-clock limit without using CPU. Expected: WallTimeLimit. */
#include <unistd.h>

int main(void) {
    for (;;)
        sleep(1000);
}
