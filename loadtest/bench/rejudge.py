#!/usr/bin/env python3
"""Rejudge benchmark: N submissions of one problem, judged, then rejudged as a whole.

    eval "$(loadtest/bench/pipeline.sh env NAME PORT)"
    python3 loadtest/bench/rejudge.py submit --count 200            # prints the problem id
    python3 loadtest/bench/rejudge.py rejudge --problem ID --judging 2

`submit` creates an A+B problem and sends `count` submissions with sources of their own (a
quarter each in c, cpp with <bits/stdc++.h>, java and python3; a comment makes each source
unique), waits for every verdict and prints the time from the first POST to the last verdict.
`rejudge` asks `POST /api/v1/problems/{id}/rejudge`, waits until every submission's current
judging is `--judging` and done, and prints the elapsed time and how many compile steps the
compile cache served (`timings.compile_cached`). Restart the worker between the two for a
cold cache; rejudge again for a warm one. Reads API_URL, ADMIN_TOKEN and API_TOKENS.
"""

import argparse
import json
import os
import time
import urllib.request

API = os.environ.get("API_URL", "http://127.0.0.1:8080")
ADMIN = os.environ.get("ADMIN_TOKEN", "dev-admin")
CLIENTS = [t for t in os.environ.get("API_TOKENS", "dev-client").split(",") if t]

SOURCES = {
    "c": "#include <stdio.h>\nint main(void){long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;printf(\"%lld\\n\",a+b);return 0;}\n",
    "cpp": "#include <bits/stdc++.h>\nusing namespace std;\nint main(){long long a,b;cin>>a>>b;cout<<a+b<<endl;}\n",
    "java": "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);System.out.println(s.nextLong()+s.nextLong());}}\n",
    "python3": "a, b = map(int, input().split())\nprint(a + b)\n",
}
COMMENT = {"c": "//", "cpp": "//", "java": "//", "python3": "#"}


def call(method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{API}{path}", data=data, method=method)
    request.add_header("authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait_all(ids, judging, token_of):
    """Polls until every submission's current judging is `judging` and done."""
    views = {}
    pending = set(ids)
    while pending:
        for sid in sorted(pending):
            view = call("GET", f"/api/v1/submissions/{sid}", token_of[sid])
            if view["judging"] == judging and view["status"] == "done":
                views[sid] = view
        pending -= set(views)
        if pending:
            time.sleep(0.2)
    return views


def summary(views, started):
    elapsed = time.monotonic() - started
    cached = sum(1 for v in views.values() if v["timings"].get("compile_cached"))
    verdicts = {}
    for v in views.values():
        verdicts[v["verdict"]] = verdicts.get(v["verdict"], 0) + 1
    compile_ms = sorted(v["timings"]["compile_ms"] or 0.0 for v in views.values())
    by_language = {}
    for v in views.values():
        by_language.setdefault(v["language"], []).append(v["timings"]["compile_ms"] or 0.0)
    compile_p50 = {lang: round(sorted(ms)[len(ms) // 2], 2) for lang, ms in sorted(by_language.items())}
    return {
        "submissions": len(views),
        "elapsed_s": round(elapsed, 2),
        "per_second": round(len(views) / elapsed, 2),
        "compile_cached": cached,
        # Every language of the table has a compile step (Python byte-compiles).
        "compile_steps": len(views),
        "compile_ms_p50": round(compile_ms[len(compile_ms) // 2], 2),
        "compile_ms_p50_by_language": compile_p50,
        "verdicts": verdicts,
    }


def submit(args):
    problem = call("POST", "/api/v1/problems", ADMIN, {
        "title": "A+B (rejudge benchmark)", "time_limit_ms": 2000, "memory_limit_mb": 256,
        "testcases": [{"input": "1 2\n", "output": "3\n"}, {"input": "40 2\n", "output": "42\n"},
                      {"input": "-5 5\n", "output": "0\n"}],
    })
    languages = list(SOURCES)
    ids, token_of = [], {}
    started = time.monotonic()
    for i in range(args.count):
        language = languages[i % len(languages)]
        source = f"{SOURCES[language]}{COMMENT[language]} rejudge benchmark {i} {time.time_ns()}\n"
        token = CLIENTS[i % len(CLIENTS)]
        answer = call("POST", "/api/v1/submissions", token,
                      {"problem_id": problem["id"], "language": language, "source": source})
        ids.append(answer["id"])
        token_of[answer["id"]] = token
    views = wait_all(ids, 1, token_of)
    result = {"problem_id": problem["id"], "first_judging": summary(views, started)}
    with open(args.state, "w") as f:
        json.dump({"problem_id": problem["id"], "token_of": token_of}, f)
    print(json.dumps(result))


def rejudge(args):
    with open(args.state) as f:
        state = json.load(f)
    token_of = state["token_of"]
    started = time.monotonic()
    answer = call("POST", f"/api/v1/problems/{args.problem}/rejudge", ADMIN)
    views = wait_all(list(token_of), args.judging, token_of)
    print(json.dumps({"problem_id": args.problem, "requeued": answer["count"],
                      "judging": args.judging, "rejudge": summary(views, started)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit")
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--state", default="/tmp/rejudge-bench.json")
    r = sub.add_parser("rejudge")
    r.add_argument("--problem", type=int, required=True)
    r.add_argument("--judging", type=int, required=True)
    r.add_argument("--state", default="/tmp/rejudge-bench.json")
    args = parser.parse_args()
    {"submit": submit, "rejudge": rejudge}[args.command](args)


if __name__ == "__main__":
    main()
