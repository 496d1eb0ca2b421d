/* Output flood without a single newline. Expected: OutputLimit. */
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];

int main(void) {
    memset(buf, 'x', sizeof buf);
    for (;;)
        if (write(1, buf, sizeof buf) < 0)
            return 1;
}
