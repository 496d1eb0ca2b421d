/* Compile bomb: the preprocessor reads an endless device. Compiled with gcc inside the
 * sandbox under compile limits. Expected: ends by a limit (memory, CPU, wall or output). */
#include </dev/urandom>
int main(void) { return 0; }
