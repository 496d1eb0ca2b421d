/* Static-array bomb: a 512 MiB zero-initialised array, all of it touched. Expected:
 * MemoryLimit. */
#include <string.h>

static char big[512 << 20];

int main(void) {
    memset(big, 1, sizeof big);
    return big[12345];
}
