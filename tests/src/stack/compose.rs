//! docker-compose.yml as compose itself reads it: `.env` parsed, `${VAR}` interpolated, `<<`
//! merges applied; and the (host, port) addresses written in its strings and in the config
//! files, so the tests can check each one names a service and a port that service serves.

use super::files::{COMPOSE, ENV_FILE, at, object, read, repo, strings_in, yaml};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

pub struct Stack {
    /// docker-compose.yml, merges applied, not yet interpolated.
    pub compose: Value,
    /// `.env`.
    pub env: BTreeMap<String, String>,
}

/// The repository's compose stack, read once per test binary.
pub static STACK: LazyLock<Stack> = LazyLock::new(Stack::load);

/// Validates the compose file `file` (relative to the repository) against the compose
/// specification's JSON schema, which check-jsonschema bundles (`vendor.compose-spec`), as
/// `docker compose` would: a misspelt key or a value of the wrong shape fails, with
/// check-jsonschema's report.
pub fn assert_valid_compose_file(file: &str) {
    let output = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.compose-spec", file])
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run check-jsonschema ({e}): pip install check-jsonschema")
        });
    assert!(
        output.status.success(),
        "{file} does not validate against the compose spec ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `.env`: `KEY=VALUE` lines, `#` comments and blank lines; a malformed line, a bad name or
/// a key set twice fails.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!(".env line {} is not KEY=VALUE: {line}", n + 1));
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            ".env line {}: bad variable name {key:?}",
            n + 1
        );
        assert!(
            env.insert(key.to_string(), value.to_string()).is_none(),
            ".env sets {key} twice"
        );
    }
    env
}

/// Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR`, and `$$`
/// for a literal `$`. Returns the names it needed; a name .env lacks (and that has no
/// default) is an error.
pub fn interpolate(
    s: &str,
    env: &BTreeMap<String, String>,
) -> Result<(String, Vec<String>), String> {
    let chars: Vec<char> = s.chars().collect();
    let (mut out, mut names, mut i) = (String::new(), Vec::new(), 0);
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?
                    + i;
                let inner: String = chars[i + 2..close].iter().collect();
                let (name, default) = match inner.split_once(":-").or_else(|| inner.split_once('-'))
                {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (inner.clone(), None),
                };
                match (env.get(&name), default) {
                    (Some(v), _) => out.push_str(v),
                    (None, Some(d)) => out.push_str(&d),
                    (None, None) => return Err(name),
                }
                names.push(name);
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .map_or(chars.len(), |p| p + i + 1);
                let name: String = chars[i + 1..end].iter().collect();
                out.push_str(env.get(&name).ok_or_else(|| name.clone())?);
                names.push(name);
                i = end;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok((out, names))
}

impl Stack {
    /// docker-compose.yml and .env of the repository.
    pub fn load() -> Stack {
        Stack {
            compose: yaml(COMPOSE),
            env: parse_env_file(&read(ENV_FILE)),
        }
    }

    pub fn services(&self) -> &serde_json::Map<String, Value> {
        object(at(&self.compose, &["services"]), "services")
    }

    pub fn service(&self, name: &str) -> &Value {
        self.services()
            .get(name)
            .unwrap_or_else(|| panic!("no compose service {name}"))
    }

    /// `s` interpolated with .env; an unset variable fails.
    pub fn expand(&self, s: &str) -> String {
        interpolate(s, &self.env)
            .unwrap_or_else(|name| panic!("{COMPOSE}: ${{{name}}} is not set in .env (in {s:?})"))
            .0
    }

    pub fn setting<'a>(&'a self, service: &str, key: &str) -> Option<&'a Value> {
        self.service(service).get(key)
    }

    /// A service's `environment`, interpolated.
    pub fn environment(&self, service: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if let Some(vars) = self.service(service).get("environment") {
            for (k, v) in object(vars, "environment") {
                let raw = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                env.insert(k.clone(), self.expand(&raw));
            }
        }
        env
    }

    /// Ports published on the host: (host port, container port).
    pub fn published(&self, service: &str) -> Vec<(u16, u16)> {
        let Some(ports) = self.setting(service, "ports") else {
            return Vec::new();
        };
        strings_in(ports, &format!("{service}.ports"))
            .iter()
            .map(|p| {
                let expanded = self.expand(p);
                let parts: Vec<&str> = expanded.split(':').collect();
                let [_, host, container] = parts[..] else {
                    panic!("{service}: port {p:?} must name the host address (BIND_ADDRESS)")
                };
                (
                    host.parse().expect("host port"),
                    container.parse().expect("container port"),
                )
            })
            .collect()
    }

    /// The ports a service serves on the compose network: `expose` plus published ones.
    pub fn listens(&self, service: &str) -> BTreeSet<u16> {
        let mut ports: BTreeSet<u16> = self.published(service).iter().map(|p| p.1).collect();
        if let Some(expose) = self.setting(service, "expose") {
            for p in strings_in(expose, &format!("{service}.expose")) {
                ports.insert(
                    p.parse()
                        .unwrap_or_else(|_| panic!("{service}: expose {p:?}")),
                );
            }
        }
        ports
    }

    /// Bind mounts of files in this repository: (service, path relative to the repo,
    /// container path).
    pub fn repo_mounts(&self) -> Vec<(String, String, String)> {
        let mut mounts = Vec::new();
        for (name, service) in self.services() {
            let Some(volumes) = service.get("volumes") else {
                continue;
            };
            for v in strings_in(volumes, &format!("{name}.volumes")) {
                let mut parts = v.split(':');
                let (source, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                if let Some(rel) = source.strip_prefix("./") {
                    mounts.push((name.clone(), rel.to_string(), target.to_string()));
                }
            }
        }
        mounts
    }

    /// Which service reads a file of this repository, through which container path.
    pub fn owner(&self, rel: &str) -> Option<(String, String)> {
        self.repo_mounts()
            .into_iter()
            .find_map(|(service, source, target)| {
                if rel == source {
                    Some((service, target))
                } else {
                    let inner = rel.strip_prefix(&format!("{source}/"))?;
                    Some((service, format!("{target}/{inner}")))
                }
            })
    }
}

/// (host, port) pairs in a string: URLs (`scheme://user:pw@host:port/...`), bash's
/// `/dev/tcp/host/port`, a bare `host:port`, or a `--flag=host:port`.
pub fn addresses(s: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let scheme_start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+'))
            .map_or(0, |j| j + 1);
        let scheme = &rest[scheme_start..i];
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| "/?#\"' ".contains(c))
            .unwrap_or(after.len());
        let authority = after[..end]
            .rsplit_once('@')
            .map_or(&after[..end], |(_, h)| h);
        if !matches!(scheme, "unix" | "file") && !authority.is_empty() {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()),
                None => (
                    authority,
                    match scheme {
                        "http" => Some(80),
                        "https" => Some(443),
                        "amqp" => Some(5672),
                        "postgres" | "postgresql" => Some(5432),
                        _ => None,
                    },
                ),
            };
            let port = port.unwrap_or_else(|| panic!("cannot tell the port of {s:?}"));
            out.push((host.to_string(), port));
        }
        rest = &after[end..];
    }
    if let Some(i) = s.find("/dev/tcp/") {
        let mut parts = s[i + 9..].split('/');
        let host = parts.next().unwrap_or("").to_string();
        let port: String = parts
            .next()
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        out.push((host, port.parse().expect("/dev/tcp port")));
    }
    let bare = s
        .rsplit_once('=')
        .filter(|_| s.starts_with("--"))
        .map_or(s, |(_, v)| v);
    if !bare.contains("://")
        && let Some((host, port)) = bare.rsplit_once(':')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        && let Ok(port) = port.parse::<u16>()
    {
        out.push((host.to_string(), port));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn addresses_are_parsed_as_intended() {
        assert_eq!(
            addresses("amqp://judge:secret@rabbitmq:5672/%2f"),
            [("rabbitmq".to_string(), 5672)]
        );
        assert_eq!(
            addresses("http://loki:3100/otlp"),
            [("loki".to_string(), 3100)]
        );
        assert_eq!(addresses("tempo:4317"), [("tempo".to_string(), 4317)]);
        assert_eq!(addresses("0.0.0.0:4317"), [("0.0.0.0".to_string(), 4317)]);
        assert_eq!(
            addresses("--server.http.listen-addr=0.0.0.0:12345"),
            [("0.0.0.0".to_string(), 12345)]
        );
        assert_eq!(
            addresses("exec 3<>/dev/tcp/127.0.0.1/8080 && printf x"),
            [("127.0.0.1".to_string(), 8080)]
        );
        assert!(addresses("unix:///var/run/docker.sock").is_empty());
        assert!(addresses("grafana/tempo:3.0.3").is_empty());
        assert!(addresses("./collector-config/tempo.yaml:/etc/tempo.yaml:ro").is_empty());
    }

    #[test]
    fn addresses_without_a_port_take_the_schemes_default() {
        assert_eq!(
            addresses("http://grafana/d/x"),
            [("grafana".to_string(), 80)]
        );
        assert_eq!(
            addresses("postgres://postgres@db/judge"),
            [("db".to_string(), 5432)]
        );
        assert_eq!(
            addresses("a http://x:1/ and https://y/"),
            [("x".to_string(), 1), ("y".to_string(), 443)]
        );
    }

    #[test]
    fn interpolation_follows_compose() {
        let e = env(&[("A", "1"), ("B_2", "two"), ("EMPTY", "")]);
        let expand = |s: &str| interpolate(s, &e);
        assert_eq!(
            expand("${A}:$B_2/x"),
            Ok(("1:two/x".to_string(), vec!["A".into(), "B_2".into()]))
        );
        // Defaults apply only to unset names (compose's `:-` also to empty ones; .env sets
        // none empty that has a default).
        assert_eq!(
            expand("${C:-dflt} ${D-other} ${A:-unused}"),
            Ok((
                "dflt other 1".to_string(),
                vec!["C".into(), "D".into(), "A".into()]
            ))
        );
        assert_eq!(
            expand("$$A costs $5"),
            Ok(("$A costs $5".to_string(), vec![]))
        );
        assert_eq!(
            expand("${EMPTY}x"),
            Ok(("x".to_string(), vec!["EMPTY".into()]))
        );
        assert_eq!(expand("${MISSING}"), Err("MISSING".to_string()));
        assert_eq!(expand("$MISSING"), Err("MISSING".to_string()));
        assert!(expand("${A").unwrap_err().contains("unclosed"));
    }

    #[test]
    fn env_files_are_key_value_lines() {
        let parsed = parse_env_file("# comment\n\nA=1\n  B=x y  \nURL=http://h:1/?q=a=b\nE=\n");
        assert_eq!(
            parsed,
            env(&[
                ("A", "1"),
                ("B", "x y"),
                ("URL", "http://h:1/?q=a=b"),
                ("E", "")
            ])
        );
    }

    #[test]
    #[should_panic(expected = "sets A twice")]
    fn an_env_file_sets_each_key_once() {
        parse_env_file("A=1\nA=2\n");
    }

    #[test]
    #[should_panic(expected = "is not KEY=VALUE")]
    fn an_env_line_needs_an_equals_sign() {
        parse_env_file("A\n");
    }

    #[test]
    #[should_panic(expected = "bad variable name")]
    fn an_env_name_is_a_shell_name() {
        parse_env_file("A-B=1\n");
    }
}
