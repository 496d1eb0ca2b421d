/* Output flood, line by line. Expected: OutputLimit, stdout truncated at the cap. */
#include <stdio.h>

int main(void) {
    for (;;)
        puts("flood flood flood flood flood flood flood");
}
