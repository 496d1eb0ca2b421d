// Compile bomb: every level instantiates two new, ever longer types, 2^N instantiations.
// Compiled with g++ inside the sandbox under compile limits.
// Expected: ends by a limit (memory, CPU, wall or output), not a hung worker.
template <class T, int N>
struct Bomb {
    typedef Bomb<Bomb<T, N - 1>, N - 1> A;
    typedef Bomb<Bomb<T*, N - 1>, N - 1> B;
    static const long value = A::value + B::value;
};

template <class T>
struct Bomb<T, 0> {
    static const long value = 1;
};

int main() { return (int)Bomb<int, 40>::value; }
