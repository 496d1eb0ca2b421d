//! The judge workers' privileges in docker-compose.yml are exactly what the sandbox
//! documents as its needs: the isolated worker holds each capability it needs (with a reason
//! on its line) and nothing more, the plain worker holds none. The matching run of the
//! worker with those privileges is tests/tests/compose_privileges.rs.

use e2e_tests::stack::compose::STACK;
use e2e_tests::stack::files::{COMPOSE, at, read, str_at, strings_in};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn worker_privileges_are_exactly_what_the_sandbox_needs() {
    let stack = &*STACK;
    // The capabilities the isolated sandbox documents as its needs, in the section "What a
    // worker container needs" of sandbox/src/namespaces/mod.rs.
    let doc = read("sandbox/src/namespaces/mod.rs");
    let section: String = doc
        .lines()
        .skip_while(|l| !l.contains("# What a worker container needs"))
        .skip(1)
        .take_while(|l| l.starts_with("//!") && !l.starts_with("//! #"))
        .collect::<Vec<_>>()
        .join(" ");
    let needed: BTreeSet<String> = section
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter_map(|w| w.strip_prefix("CAP_"))
        .map(str::to_string)
        .collect();
    assert!(
        needed.len() >= 5,
        "the sandbox's list of needs was not found: {needed:?}"
    );

    let isolated = stack.service("judge-worker");
    assert_eq!(stack.environment("judge-worker")["SANDBOX"], "namespaces");
    let granted: BTreeSet<String> = strings_in(at(isolated, &["cap_add"]), "cap_add")
        .into_iter()
        .collect();
    assert_eq!(
        granted, needed,
        "judge-worker's cap_add must be what the sandbox documents"
    );
    assert_eq!(strings_in(at(isolated, &["cap_drop"]), "cap_drop"), ["ALL"]);
    let options = strings_in(at(isolated, &["security_opt"]), "security_opt");
    for option in ["seccomp=unconfined", "apparmor=unconfined"] {
        assert!(
            options.iter().any(|o| o == option),
            "judge-worker needs {option}"
        );
    }
    assert!(!options.iter().any(|o| o.starts_with("privileged")));
    assert!(
        isolated.get("privileged").is_none(),
        "name each privilege, never --privileged"
    );
    assert_eq!(str_at(isolated, &["cgroup"]), "private");
    // Each capability is explained where it is granted.
    let compose = read(COMPOSE);
    for cap in &granted {
        assert!(
            compose
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("- {cap} ")) && l.contains(" # ")),
            "{COMPOSE}: say why judge-worker needs {cap}, in a comment on its line"
        );
    }

    // The plain sandbox isolates nothing, so its worker holds no privilege at all.
    let plain = stack.service("judge-worker-plain");
    assert_eq!(stack.environment("judge-worker-plain")["SANDBOX"], "plain");
    assert!(
        plain.get("cap_add").is_none(),
        "the plain worker gets no capability"
    );
    assert_eq!(strings_in(at(plain, &["cap_drop"]), "cap_drop"), ["ALL"]);
    assert_ne!(
        str_at(plain, &["user"]).split(':').next(),
        Some("0"),
        "the plain worker is not root"
    );
    assert_eq!(at(plain, &["read_only"]), &Value::Bool(true));
    let profiles = strings_in(at(plain, &["profiles"]), "profiles");
    assert!(
        !profiles.is_empty(),
        "the plain worker must not start by default"
    );
}
