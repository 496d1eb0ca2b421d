//! Every language through the whole pipeline: each verdict the judge can reach, with inline
//! test cases and with a problem's test cases.

use e2e_tests::{TestBed, TestBedOptions, binaries};
use serde_json::{Value, json};

const A_PLUS_B: [(&str, &str); 2] = [("1 2\n", "3\n"), ("40 2\n", "42\n")];

struct Case {
    language: &'static str,
    expected: &'static str,
    source: &'static str,
}

fn cases() -> Vec<Case> {
    let c = |language, expected, source| Case {
        language,
        expected,
        source,
    };
    vec![
        // C
        c(
            "c",
            "Accepted",
            "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);return 0;}\n",
        ),
        c(
            "c",
            "WrongAnswer",
            "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a-b);return 0;}\n",
        ),
        c("c", "CompileError", "int main( { return 0 }\n"),
        c(
            "c",
            "TimeLimitExceeded",
            "int main(){volatile unsigned long x=0;for(;;)x++;}\n",
        ),
        c(
            "c",
            "RuntimeError",
            "#include <stdlib.h>\nint main(){exit(3);}\n",
        ),
        c(
            "c",
            "MemoryLimitExceeded",
            "#include <stdlib.h>\n#include <string.h>\nint main(){for(int i=0;i<1024;i++){char*p=malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}return 0;}\n",
        ),
        c(
            "c",
            "OutputLimitExceeded",
            "#include <stdio.h>\nint main(){for(;;)puts(\"all work and no play makes jack a dull boy\");}\n",
        ),
        // C++
        c(
            "cpp",
            "Accepted",
            "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n",
        ),
        c(
            "cpp",
            "WrongAnswer",
            "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b<<\"\\n\";}\n",
        ),
        c("cpp", "CompileError", "int main(){ undeclared_thing(); }\n"),
        c(
            "cpp",
            "TimeLimitExceeded",
            "int main(){volatile unsigned long x=0;for(;;)x++;}\n",
        ),
        c(
            "cpp",
            "RuntimeError",
            "#include <cstdlib>\nint main(){std::abort();}\n",
        ),
        // Java
        c(
            "java",
            "Accepted",
            "import java.util.*;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);long x=s.nextLong(),y=s.nextLong();System.out.println(x+y);}}\n",
        ),
        c(
            "java",
            "WrongAnswer",
            "public class Main{public static void main(String[] a){System.out.println(7);}}\n",
        ),
        c(
            "java",
            "CompileError",
            "public class Main{public static void main(String[] a){int x = \"no\";}}\n",
        ),
        c(
            "java",
            "TimeLimitExceeded",
            "public class Main{public static void main(String[] a){long x=0;while(true){x++;}}}\n",
        ),
        c(
            "java",
            "RuntimeError",
            "public class Main{public static void main(String[] a){throw new RuntimeException(\"boom\");}}\n",
        ),
        // Python
        c(
            "python3",
            "Accepted",
            "a, b = map(int, input().split())\nprint(a + b)\n",
        ),
        c("python3", "WrongAnswer", "print(0)\n"),
        c("python3", "CompileError", "def broken(:\n    pass\n"),
        c("python3", "TimeLimitExceeded", "while True:\n    pass\n"),
        c("python3", "RuntimeError", "print(1 // 0)\n"),
        c(
            "python3",
            "MemoryLimitExceeded",
            "chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))\n",
        ),
        c(
            "python3",
            "OutputLimitExceeded",
            "import sys\nwhile True:\n    sys.stdout.write('x' * 4096 + '\\n')\n",
        ),
    ]
}

fn inline(case: &Case) -> Value {
    let testcases: Vec<Value> = A_PLUS_B
        .iter()
        .map(|(i, o)| json!({"input": i, "output": o}))
        .collect();
    json!({"language": case.language, "source": case.source, "time_limit_ms": 500,
           "memory_limit_mb": 64, "testcases": testcases})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_reaches_every_verdict() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "judging", TestBedOptions::default()).await?;
    let cases = cases();
    let mut submitted = Vec::new();
    for case in &cases {
        let answer = bed.client.submit(&inline(case)).await?;
        submitted.push(answer["id"].as_str().unwrap_or_default().to_string());
    }
    let mut failures = Vec::new();
    for (case, id) in cases.iter().zip(&submitted) {
        let done = bed.client.wait_done(id).await?;
        if done["verdict"] != case.expected {
            failures.push(format!(
                "{} {}: got {} (compile output: {}, results: {})",
                case.language,
                case.expected,
                done["verdict"],
                done["compile_output"],
                done["results"]
            ));
        }
        if case.expected == "CompileError" {
            assert!(
                !done["compile_output"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "{}: a compile error comes with the compiler's message",
                case.language
            );
        }
    }
    assert!(
        failures.is_empty(),
        "wrong verdicts:\n{}",
        failures.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_test_cases_are_fetched_versioned_and_reported_per_case() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "problem", TestBedOptions::default()).await?;
    let problem = bed.admin.create_problem(&A_PLUS_B, 1000, 128).await?;
    let source = "a, b = map(int, input().split())\nprint(a + b)\n";
    let submit = json!({"problem_id": problem, "language": "python3", "source": source});

    let first = bed.client.submit(&submit).await?;
    let done = bed
        .client
        .wait_done(first["id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(done["verdict"], "Accepted", "{done}");
    assert_eq!(done["problem_version"], 1);
    let results = done["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 2, "{done}");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i as u64);
        assert_eq!(r["verdict"], "Accepted");
        assert!(r["memory_kb"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    assert!(
        done["timings"]["testcase_fetch_ms"].as_f64().unwrap_or(0.0) > 0.0,
        "first use fetches: {done}"
    );

    // A new version whose second case the same program fails; later cases are skipped.
    let (status, _, body) = bed
        .admin
        .post_raw(&format!("/api/v1/problems/{problem}/testcases"), Vec::new())
        .await?;
    assert_eq!(status, 405, "PUT only: {body}");
    let response = bed
        .admin
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/problems/{problem}/testcases"),
        )
        .json(&json!({"testcases": [
            {"input": "1 1\n", "output": "2\n"},
            {"input": "2 2\n", "output": "5\n"},
            {"input": "3 3\n", "output": "6\n"}]}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await?;
    assert_eq!(body["version"], 2);

    let second = bed.client.submit(&submit).await?;
    let done = bed
        .client
        .wait_done(second["id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(done["verdict"], "WrongAnswer", "{done}");
    assert_eq!(done["problem_version"], 2);
    let verdicts: Vec<&str> = done["results"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["verdict"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(verdicts, ["Accepted", "WrongAnswer", "Skipped"]);

    // Asked to, the judge runs every case.
    let mut all = submit.clone();
    all["run_all_testcases"] = json!(true);
    let third = bed.client.submit(&all).await?;
    let done = bed
        .client
        .wait_done(third["id"].as_str().unwrap_or_default())
        .await?;
    let verdicts: Vec<&str> = done["results"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["verdict"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(verdicts, ["Accepted", "WrongAnswer", "Accepted"]);
    // Version 2 was fetched for the second submission and is cached for the third.
    assert_eq!(
        done["timings"]["testcase_fetch_ms"].as_f64(),
        Some(0.0),
        "{done}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_submissions_are_contained_and_the_worker_keeps_serving() -> anyhow::Result<()> {
    // The worker as compose runs it: only the capabilities docker-compose.yml grants.
    let options = TestBedOptions {
        compose_privileges: true,
        ..TestBedOptions::default()
    };
    let bed = TestBed::start(binaries!(), "hostile", options).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let one_case = |language: &str, source: String, output: &str| {
        json!({"language": language, "source": source, "time_limit_ms": 1000,
               "memory_limit_mb": 64, "testcases": [{"input": "", "output": output}]})
    };
    let cases = vec![
        (
            "fork bomb",
            one_case(
                "c",
                "#include <unistd.h>\nint main(){for(;;)fork();}\n".into(),
                "",
            ),
        ),
        (
            "read /etc/shadow",
            one_case("python3", "print(open('/etc/shadow').read())\n".into(), ""),
        ),
        (
            "connect to the host",
            one_case(
                "python3",
                format!(
                    "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')\n"
                ),
                "connected\n",
            ),
        ),
        (
            "compile bomb",
            one_case("c", "#include </dev/urandom>\nint main(){}\n".into(), ""),
        ),
        (
            "write outside the work dir",
            one_case(
                "python3",
                "open('/usr/pwned', 'w').write('x')\nprint('written')\n".into(),
                "written\n",
            ),
        ),
    ];
    let mut ids = Vec::new();
    for (name, body) in &cases {
        ids.push((
            *name,
            bed.client.submit(body).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    // The environment a program sees is exactly the language's: no worker secrets.
    let env = bed
        .client
        .submit(&one_case(
            "python3",
            "import os\nprint(sorted(os.environ))\n".into(),
            "['LANG', 'PATH', 'PYTHONIOENCODING']\n",
        ))
        .await?;
    for (name, id) in ids {
        let done = bed.client.wait_done(&id).await?;
        let verdict = done["verdict"].as_str().unwrap_or_default();
        assert!(
            !["Accepted", "ServerError"].contains(&verdict),
            "{name} must be stopped by the sandbox, got {verdict}: {done}"
        );
    }
    let done = bed
        .client
        .wait_done(env["id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(done["verdict"], "Accepted", "clean environment: {done}");
    assert!(!std::path::Path::new("/usr/pwned").exists());
    // No connection reached the host.
    assert!(
        tokio::time::timeout(std::time::Duration::ZERO, listener.accept())
            .await
            .is_err(),
        "a sandboxed program connected to the host"
    );

    // A tree far too deep for a recursive walk, and a disk filled to its quota: verdicts,
    // not a crashed worker or a host disk paying for it.
    let deep = bed
        .client
        .submit(&one_case(
            "c",
            "#include <stdio.h>\n#include <sys/stat.h>\n#include <unistd.h>\n\
             int main(){for(int i=0;i<22000;i++){if(mkdir(\"d\",0755)||chdir(\"d\"))break;}\
             puts(\"ok\");}\n"
                .into(),
            "ok\n",
        ))
        .await?;
    let fill = bed
        .client
        .submit(&one_case(
            "c",
            "#include <stdio.h>\nstatic char b[1<<20];\nint main(){FILE*f=fopen(\"/tmp/x\",\"w\");\
             for(;;){if(fwrite(b,1,sizeof b,f)!=sizeof b||fflush(f))return 1;}}\n"
                .into(),
            "",
        ))
        .await?;
    for (submission, want) in [(deep, "Accepted"), (fill, "OutputLimitExceeded")] {
        let done = bed
            .client
            .wait_done(submission["id"].as_str().unwrap_or_default())
            .await?;
        assert_eq!(done["verdict"], want, "{done}");
    }

    let ok = bed
        .client
        .submit(&one_case("python3", "print(6 * 7)\n".into(), "42\n"))
        .await?;
    let done = bed
        .client
        .wait_done(ok["id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(
        done["verdict"], "Accepted",
        "the worker keeps serving: {done}"
    );
    Ok(())
}
