#!/usr/bin/env python3
"""Compile times of the language table's compilers run directly (no sandbox, no worker):
each row's argv as written ("cold") and with the flags the worker adds from its toolchain
directory ("warm": -I<dir>/include -Winvalid-pch for precompiled headers, the class archive
for javac). The peer measurement for BENCHMARKS.md: what the compiler itself costs.

    python3 loadtest/bench/compile_times.py [--runs 20] [--toolchain-dir DIR] [--json FILE]

Run `judge-worker prepare-toolchains` first (it makes the warm files). Every run compiles in
a fresh directory; the median and the spread of the wall times are printed per language.
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Small programs of the kind a judge sees most: A+B with the usual headers.
SOURCES = {
    "c": "#include <stdio.h>\nint main(void){long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;printf(\"%lld\\n\",a+b);return 0;}\n",
    "cpp": "#include <bits/stdc++.h>\nusing namespace std;\nint main(){long long a,b;cin>>a>>b;cout<<a+b<<endl;}\n",
    "java": "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);System.out.println(s.nextLong()+s.nextLong());}}\n",
    "python3": "a, b = map(int, input().split())\nprint(a + b)\n",
}


def warm_flags(row, toolchain_dir):
    """The flags the worker inserts after argv[0], from the newest prepared directory."""
    flags = []
    dirs = sorted(pathlib.Path(toolchain_dir).glob(f"{row['id']}-*/"), key=os.path.getmtime)
    if not dirs:
        return None
    d = dirs[-1]
    if row.get("precompiled_headers") and all(
        (d / "include" / f"{h}.gch").is_file() for h in row["precompiled_headers"]
    ):
        flags += [f"-I{d / 'include'}", "-Winvalid-pch"]
    archive = row.get("compiler_class_archive")
    if archive and (d / "compiler.jsa").is_file():
        flags.append(archive["load"].replace("{archive}", str(d / "compiler.jsa")))
    return flags or None


def time_compiles(row, argv, runs):
    env = dict(e.split("=", 1) for e in row.get("env", []))
    times = []
    for _ in range(runs):
        work = tempfile.mkdtemp(prefix="compile-times-")
        try:
            pathlib.Path(work, row["source_file"]).write_text(SOURCES[row["id"]])
            started = time.perf_counter()
            done = subprocess.run(argv, cwd=work, env=env, capture_output=True)
            times.append(time.perf_counter() - started)
            if done.returncode != 0 or done.stderr.strip():
                raise SystemExit(f"{row['id']}: {argv} failed or warned: {done.stderr.decode()[:500]}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--toolchain-dir", default="/var/cache/judge-worker/toolchains")
    parser.add_argument("--json")
    args = parser.parse_args()
    table = tomllib.loads((ROOT / "languages.toml").read_text())["language"]
    results = []
    print(f"{'language':<9} {'variant':<5} {'median s':>9} {'min s':>7} {'max s':>7}  runs")
    for row in table:
        if not row.get("compile"):
            continue
        variants = [("cold", row["compile"])]
        flags = warm_flags(row, args.toolchain_dir)
        if flags:
            variants.append(("warm", row["compile"][:1] + flags + row["compile"][1:]))
        for name, argv in variants:
            times = time_compiles(row, argv, args.runs)
            result = {
                "language": row["id"],
                "variant": name,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "runs": len(times),
                "argv": argv,
            }
            results.append(result)
            print(f"{row['id']:<9} {name:<5} {result['median_s']:>9.3f} {result['min_s']:>7.3f} "
                  f"{result['max_s']:>7.3f}  {len(times)}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
