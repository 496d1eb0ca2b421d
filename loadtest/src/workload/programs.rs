//! The programs the load generator submits: for each kind of verdict, small programs in every
//! language that reach it reliably, and cheaply (a time limit burns CPU up to the limit, so
//! the limit verdicts run against the tight problem with the smallest limits the API allows).

use super::{ProblemKey, Program};
use crate::mix::Kind;

const C_A_PLUS_B: &str = "#include <stdio.h>\n\
int main(void) {\n\
    long long a, b;\n\
    if (scanf(\"%lld %lld\", &a, &b) != 2) return 1;\n\
    printf(\"%lld\\n\", a + b);\n\
    return 0;\n\
}\n";

const C_SUM: &str = "#include <stdio.h>\n\
int main(void) {\n\
    int n;\n\
    long long sum = 0, x;\n\
    if (scanf(\"%d\", &n) != 1) return 1;\n\
    for (int i = 0; i < n; i++) {\n\
        if (scanf(\"%lld\", &x) != 1) return 1;\n\
        sum += x;\n\
    }\n\
    printf(\"%lld\\n\", sum);\n\
    return 0;\n\
}\n";

const C_MAX: &str = "#include <stdio.h>\n\
int main(void) {\n\
    int n;\n\
    long long best, x;\n\
    if (scanf(\"%d %lld\", &n, &best) != 2) return 1;\n\
    for (int i = 1; i < n; i++) {\n\
        if (scanf(\"%lld\", &x) != 1) return 1;\n\
        if (x > best) best = x;\n\
    }\n\
    printf(\"%lld\\n\", best);\n\
    return 0;\n\
}\n";

const CPP_A_PLUS_B: &str = "#include <iostream>\n\
int main() {\n\
    std::ios::sync_with_stdio(false);\n\
    long long a, b;\n\
    if (!(std::cin >> a >> b)) return 1;\n\
    std::cout << a + b << '\\n';\n\
}\n";

const CPP_SUM: &str = "#include <iostream>\n\
int main() {\n\
    std::ios::sync_with_stdio(false);\n\
    int n;\n\
    long long sum = 0, x;\n\
    std::cin >> n;\n\
    for (int i = 0; i < n && std::cin >> x; i++) sum += x;\n\
    std::cout << sum << '\\n';\n\
}\n";

const CPP_MAX: &str = "#include <algorithm>\n\
#include <iostream>\n\
#include <vector>\n\
int main() {\n\
    int n;\n\
    std::cin >> n;\n\
    std::vector<long long> v(n);\n\
    for (auto &x : v) std::cin >> x;\n\
    std::cout << *std::max_element(v.begin(), v.end()) << '\\n';\n\
}\n";

const JAVA_A_PLUS_B: &str = "import java.io.*;\n\
import java.util.*;\n\
public class Main {\n\
    public static void main(String[] args) throws IOException {\n\
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));\n\
        StringTokenizer st = new StringTokenizer(in.readLine());\n\
        long a = Long.parseLong(st.nextToken());\n\
        long b = Long.parseLong(st.nextToken());\n\
        System.out.println(a + b);\n\
    }\n\
}\n";

const JAVA_SUM: &str = "import java.io.*;\n\
public class Main {\n\
    public static void main(String[] args) throws IOException {\n\
        StreamTokenizer in = new StreamTokenizer(new BufferedInputStream(System.in));\n\
        in.nextToken();\n\
        int n = (int) in.nval;\n\
        long sum = 0;\n\
        for (int i = 0; i < n; i++) { in.nextToken(); sum += (long) in.nval; }\n\
        System.out.println(sum);\n\
    }\n\
}\n";

const JAVA_MAX: &str = "import java.util.*;\n\
public class Main {\n\
    public static void main(String[] args) {\n\
        Scanner in = new Scanner(System.in);\n\
        int n = in.nextInt();\n\
        long best = Long.MIN_VALUE;\n\
        for (int i = 0; i < n; i++) best = Math.max(best, in.nextLong());\n\
        System.out.println(best);\n\
    }\n\
}\n";

const PYTHON_A_PLUS_B: &str = "a, b = map(int, input().split())\nprint(a + b)\n";

const PYTHON_SUM: &str = "import sys\nwords = sys.stdin.read().split()\nn = int(words[0])\nprint(sum(map(int, words[1:1 + n])))\n";

const PYTHON_MAX: &str = "input()\nprint(max(map(int, input().split())))\n";

/// Accepted programs, ordered so that consecutive picks change both language and problem.
fn accepted() -> Vec<Program> {
    let by_language = [
        ("c", [C_A_PLUS_B, C_SUM, C_MAX]),
        ("cpp", [CPP_A_PLUS_B, CPP_SUM, CPP_MAX]),
        ("java", [JAVA_A_PLUS_B, JAVA_SUM, JAVA_MAX]),
        ("python3", [PYTHON_A_PLUS_B, PYTHON_SUM, PYTHON_MAX]),
    ];
    let problems = [ProblemKey::APlusB, ProblemKey::Sum, ProblemKey::Max];
    // 4 languages and 3 problems are coprime: j walks through all 12 pairs.
    (0..12)
        .map(|j| {
            let (language, sources) = by_language[j % 4];
            Program {
                kind: Kind::Accepted,
                language,
                problem: problems[j % 3],
                source: sources[j % 3],
            }
        })
        .collect()
}

fn program(
    kind: Kind,
    language: &'static str,
    problem: ProblemKey,
    source: &'static str,
) -> Program {
    Program {
        kind,
        language,
        problem,
        source,
    }
}

/// Every program of every kind.
pub(super) fn all() -> Vec<Program> {
    use Kind::{Ce, Mle, Re, Tle, Wrong};
    use ProblemKey::{APlusB, Tight};
    let mut programs = accepted();
    programs.extend([
        // Wrong answers on A+B (the first test case already fails).
        program(
            Wrong,
            "c",
            APlusB,
            "#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a-b);return 0;}\n",
        ),
        program(
            Wrong,
            "cpp",
            APlusB,
            "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a*b<<\"\\n\";}\n",
        ),
        program(
            Wrong,
            "java",
            APlusB,
            "public class Main{public static void main(String[] a){System.out.println(7);}}\n",
        ),
        program(Wrong, "python3", APlusB, "print(0)\n"),
        // Time limits: a busy loop on the tight problem (100 ms, scaled per language).
        program(
            Tle,
            "c",
            Tight,
            "int main(void){volatile unsigned long x=0;for(;;)x++;}\n",
        ),
        program(
            Tle,
            "cpp",
            Tight,
            "int main(){volatile unsigned long x=0;for(;;)x++;}\n",
        ),
        program(
            Tle,
            "java",
            Tight,
            "public class Main{public static void main(String[] a){long x=0;while(true){x++;if(x==Long.MIN_VALUE)System.out.println(x);}}}\n",
        ),
        program(Tle, "python3", Tight, "while True:\n    pass\n"),
        // Memory limits: grow until stopped. Not Java: its heap limit turns this into an
        // OutOfMemoryError (a runtime error) or a memory limit depending on the JVM's overhead.
        program(
            Mle,
            "c",
            Tight,
            "#include <stdlib.h>\n#include <string.h>\nstatic char *volatile keep;\nint main(void){for(;;){char*p=malloc(1<<20);if(!p)return 4;memset(p,1,1<<20);keep=p;}}\n",
        ),
        program(
            Mle,
            "cpp",
            Tight,
            "#include <vector>\nint main(){std::vector<std::vector<char>> keep;for(;;)keep.emplace_back(1<<20,'x');}\n",
        ),
        program(
            Mle,
            "python3",
            Tight,
            "keep = []\nwhile True:\n    keep.append(b\"x\" * (1 << 20))\n",
        ),
        // Runtime errors.
        program(
            Re,
            "c",
            APlusB,
            "#include <stdlib.h>\nint main(void){exit(3);}\n",
        ),
        program(
            Re,
            "cpp",
            APlusB,
            "#include <cstdlib>\nint main(){std::abort();}\n",
        ),
        program(
            Re,
            "java",
            APlusB,
            "public class Main{public static void main(String[] a){throw new RuntimeException(\"boom\");}}\n",
        ),
        program(Re, "python3", APlusB, "print(1 // 0)\n"),
        // Compile errors.
        program(Ce, "c", APlusB, "int main( { return 0 }\n"),
        program(Ce, "cpp", APlusB, "int main(){ undeclared_thing(); }\n"),
        program(
            Ce,
            "java",
            APlusB,
            "public class Main{public static void main(String[] a){int x = \"no\";}}\n",
        ),
        program(Ce, "python3", APlusB, "def broken(:\n    pass\n"),
    ]);
    programs
}
