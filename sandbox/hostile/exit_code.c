/* A plain non-zero exit. Expected: Exited(3). */
int main(void) { return 3; }
