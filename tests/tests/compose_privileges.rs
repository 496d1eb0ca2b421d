//! The judge under exactly the privileges docker-compose.yml gives the worker, in a cgroup
//! of its own: `judge-worker judge-batch` re-executed through `setpriv` with the compose file's
//! `cap_add` list and `no-new-privileges`, judging submission after submission in its one
//! slot — ordinary ones, and ones that write files, nest directories as deep as they can,
//! fill their disk quota or fallocate gigabytes. Every one gets its real verdict, and the
//! slot serves the next. (It once judged 0 of 7 here: without `CAP_DAC_OVERRIDE` the worker
//! could not empty the work dir a run had owned.) Needs root, as CI runs.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use e2e_tests::compose_privileges::{Launcher, capability_mask};
use serde_json::{Value, json};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

const WORKER: &str = env!("CARGO_BIN_EXE_e2e-judge-worker");

fn job(language: &str, source: &str, testcases: Value) -> Value {
    json!({
        "submission_id": uuid::Uuid::now_v7(),
        "language": language,
        "source": source,
        "limits": {"time_limit_ms": 2000, "memory_limit_mb": 128},
        "testcases": testcases,
        "run_all_testcases": true,
    })
}

fn a_plus_b() -> Value {
    json!([{"input": "1 2\n", "output": "3\n"}, {"input": "40 2\n", "output": "42\n"}])
}

const C_SUM: &str = "#include <stdio.h>\nint main(void){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);return 0;}\n";
const CPP_SUM: &str =
    "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}\n";
const PY_SUM: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
const JAVA_SUM: &str = "import java.util.*;\npublic class Main { public static void main(String[] x) { Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }\n";

/// Writes files next to itself and in /tmp, answers, and leaves them for the next test case
/// (which must not see them: it answers wrong if it does).
const C_FILES: &str = r#"#include <stdio.h>
#include <unistd.h>
int main(void){
    long a,b; if(scanf("%ld %ld",&a,&b)!=2) return 1;
    if(access("left.txt",F_OK)==0 || access("/tmp/left.txt",F_OK)==0){ printf("saw the last run\n"); return 0; }
    FILE*f=fopen("left.txt","w"); FILE*g=fopen("/tmp/left.txt","w");
    if(!f||!g) return 2;
    fprintf(f,"%ld",a+b); fprintf(g,"%ld",a+b); fclose(f); fclose(g);
    printf("%ld\n",a+b); return 0; }
"#;

/// Nests directories as deep as it can (22,000 levels once crashed the worker), then answers.
const C_DEEP: &str = r#"#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void){
    long a,b; if(scanf("%ld %ld",&a,&b)!=2) return 1;
    for(int i=0;i<22000;i++){ if(mkdir("d",0755)!=0||chdir("d")!=0) break; }
    printf("%ld\n",a+b); return 0; }
"#;

/// Fills /tmp until the quota stops it, then fails.
const C_FILL: &str = r#"#include <stdio.h>
#include <string.h>
static char buf[1<<20];
int main(void){
    memset(buf,'z',sizeof buf); FILE*f=fopen("/tmp/fill","w"); if(!f) return 2;
    for(;;){ if(fwrite(buf,1,sizeof buf,f)!=sizeof buf||fflush(f)!=0) return 1; } }
"#;

/// Asks for 4 GiB of disk in a few microseconds of CPU, then answers: past the file-size
/// limit, so SIGXFSZ ends it (OutputLimitExceeded), and the host's disk never sees it.
const C_FALLOCATE: &str = r#"#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
int main(void){
    long a,b; if(scanf("%ld %ld",&a,&b)!=2) return 1;
    int fd=open("big",O_WRONLY|O_CREAT,0644); if(fd>=0) fallocate(fd,0,0,4LL<<30);
    printf("%ld\n",a+b); return 0; }
"#;

#[test]
fn submissions_in_a_row_under_the_compose_privileges() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("not root: the compose privilege set cannot be tested here");
        return Ok(());
    }
    let launcher = Launcher::compose()?;
    // What this machine's root can have at all (here CAP_SYS_RESOURCE is missing from the
    // bounding set): the compose set can only be narrowed from that.
    let own = std::fs::read_to_string("/proc/self/status")?;
    let own_bounding = own
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16))
        .transpose()?
        .unwrap_or(0);
    let compose_mask = capability_mask(&launcher.capabilities)?;
    if compose_mask & !own_bounding != 0 {
        eprintln!(
            "this machine's root lacks capabilities compose grants (mask {:#x}); testing with fewer",
            compose_mask & !own_bounding
        );
    }
    let mask = compose_mask & own_bounding;

    // The launcher gives exactly the compose set: no more, no less.
    let status = Command::new("/bin/sh")
        .args(&launcher.wrap(&["/bin/cat", "/proc/self/status"])[1..])
        .output()?;
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    for set in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(
            u64::from_str_radix(&field(set), 16)?,
            mask,
            "{set} under the launcher: {status}"
        );
    }
    assert_eq!(field("CapInh:"), "0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "1");

    let cases: Vec<(Value, &str)> = vec![
        (job("c", C_SUM, a_plus_b()), "Accepted"),
        (job("cpp", CPP_SUM, a_plus_b()), "Accepted"),
        (job("python3", PY_SUM, a_plus_b()), "Accepted"),
        (job("c", C_FILES, a_plus_b()), "Accepted"),
        (job("c", C_DEEP, a_plus_b()), "Accepted"),
        (job("c", C_SUM, a_plus_b()), "Accepted"),
        (
            job("c", C_FILL, json!([{"input": "", "output": ""}])),
            "OutputLimitExceeded",
        ),
        (job("c", C_FALLOCATE, a_plus_b()), "OutputLimitExceeded"),
        (job("java", JAVA_SUM, a_plus_b()), "Accepted"),
        (job("c", C_SUM, a_plus_b()), "Accepted"),
        (job("c", "int main( {", a_plus_b()), "CompileError"),
        (job("c", C_SUM, a_plus_b()), "Accepted"),
    ];

    let pid = std::process::id();
    let base_uid = (3_000_000 + (pid % 20_000) * 64).to_string();
    let cgroup = format!("compose-judge-{pid}");
    let argv = launcher.wrap(&[
        WORKER,
        "--sandbox-base-uid",
        &base_uid,
        "--sandbox-cgroup",
        &cgroup,
        "judge-batch",
    ]);
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (job, _) in &cases {
            writeln!(stdin, "{job}")?;
        }
    }
    let stdout = child.stdout.take().expect("stdout");
    let answers: Vec<Value> = BufReader::new(stdout)
        .lines()
        .map(|l| Ok(serde_json::from_str(&l?)?))
        .collect::<anyhow::Result<_>>()?;
    let output = child.wait_with_output()?;
    let logs = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "judge-batch failed: {logs}");
    assert_eq!(answers.len(), cases.len(), "{answers:#?}\n{logs}");
    for (i, ((job, want), answer)) in cases.iter().zip(&answers).enumerate() {
        let got = answer["Judged"]["verdict"].as_str().unwrap_or("no verdict");
        assert_eq!(
            got, *want,
            "submission {i} ({}): {answer}\n{logs}",
            job["language"]
        );
    }
    // The file writer's second test case did not see the first's files.
    let files = &answers[3]["Judged"]["results"];
    assert_eq!(files[1]["verdict"], "Accepted", "{files}");
    Ok(())
}
