/* raise(SIGSEGV): the program is not PID 1 of its namespace, so the signal kills it as it
 * would anywhere. Expected: Signaled(11). */
#include <signal.h>

int main(void) {
    raise(SIGSEGV);
    return 0;
}
