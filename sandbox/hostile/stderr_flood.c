/* Output flood on stderr. Expected: OutputLimit. */
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];

int main(void) {
    memset(buf, 'e', sizeof buf);
    for (;;)
        if (write(2, buf, sizeof buf) < 0)
            return 1;
}
