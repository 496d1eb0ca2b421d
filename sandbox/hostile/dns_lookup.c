/* DNS lookup of a public name. Expected: Exited(0) (resolution fails); 99 if it resolved. */
#include <netdb.h>
#include <stdio.h>

int main(void) {
    struct addrinfo *res = 0;
    int rc = getaddrinfo("example.com", "80", 0, &res);
    if (rc == 0) {
        printf("RESOLVED example.com\n");
        freeaddrinfo(res);
        return 99;
    }
    printf("getaddrinfo: %s\n", gai_strerror(rc));
    return 0;
}
