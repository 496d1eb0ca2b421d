//! The two-host compose layout of deploy/two-host on its own terms and against the
//! single-host stack, without Docker: both compose files validate against the compose spec,
//! every `${VAR}` they use is set in their `.env` example, the app host's services are those
//! of docker-compose.yml (images, ports, environment names, privileges), only Caddy publishes
//! a port on the observability host, the Collector configs name only components built into
//! the pinned otelcol-contrib image and take every address and secret from the environment,
//! and the Caddyfile routes nothing to Tempo, Prometheus or Loki's query API.

use e2e_tests::stack::compose::{STACK, Stack, assert_valid_compose_file, parse_env_file};
use e2e_tests::stack::deploy::{check_components_exist, env_references};
use e2e_tests::stack::files::{at, object, read, strings_in, yaml};
use serde_json::Value;
use std::collections::BTreeSet;

const DIR: &str = "deploy/two-host";
const APP: &str = "deploy/two-host/app.compose.yml";
const OBS: &str = "deploy/two-host/obs.compose.yml";
const AGENT: &str = "deploy/two-host/otel-agent.yaml";
const GATEWAY: &str = "deploy/two-host/otel-gateway.yaml";
const CADDYFILE: &str = "deploy/two-host/Caddyfile";

fn app() -> Stack {
    Stack {
        compose: yaml(APP),
        env: parse_env_file(&read("deploy/two-host/app.env.example")),
    }
}

fn obs() -> Stack {
    Stack {
        compose: yaml(OBS),
        env: parse_env_file(&read("deploy/two-host/obs.env.example")),
    }
}

fn image(stack: &Stack, service: &str) -> String {
    stack
        .setting(service, "image")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{service} has no image"))
        .to_string()
}

fn string_set(v: Option<&Value>, what: &str) -> BTreeSet<String> {
    v.map(|v| strings_in(v, what).into_iter().collect())
        .unwrap_or_default()
}

#[test]
fn both_compose_files_validate_against_the_compose_spec() {
    for file in [APP, OBS] {
        assert_valid_compose_file(file);
    }
}

/// Every `${VAR}` of a compose file is set in its `.env` example (Stack::environment and
/// `expand` fail on an unset one), and every variable the example sets is used by its
/// compose file: no setting that does nothing.
#[test]
fn every_variable_is_set_in_the_env_example_and_used() {
    for (file, stack) in [(APP, app()), (OBS, obs())] {
        let text = read(file);
        let (_, used) = e2e_tests::stack::compose::interpolate(&text, &stack.env)
            .unwrap_or_else(|name| panic!("{file}: ${{{name}}} is not set in its .env example"));
        let used: BTreeSet<String> = used.into_iter().collect();
        for name in stack.env.keys() {
            assert!(
                used.contains(name),
                "{file}'s .env example sets {name}, which {file} never uses"
            );
        }
        for service in stack.services().keys() {
            stack.environment(service);
        }
    }
}

/// The app host runs the single-host stack's pipeline services with the same images, the
/// same environment variable names, the same privileges; what may differ is only where
/// telemetry goes and where Grafana is.
#[test]
fn app_host_services_agree_with_docker_compose_yml() {
    let (single, app) = (&*STACK, app());
    for service in [
        "rabbitmq",
        "postgres",
        "client-api",
        "judge-worker",
        "judge-worker-plain",
        "alloy",
    ] {
        assert!(
            app.services().contains_key(service),
            "{APP} lacks the service {service}"
        );
        let keys = |s: &Stack| -> BTreeSet<String> {
            object(s.service(service), service)
                .get("environment")
                .map(|e| object(e, "environment").keys().cloned().collect())
                .unwrap_or_default()
        };
        if service != "alloy" {
            assert_eq!(
                keys(&app),
                keys(single),
                "{service}: environment variable names differ from docker-compose.yml"
            );
        }
        for key in [
            "image",
            "build",
            "user",
            "cap_drop",
            "cap_add",
            "security_opt",
            "cgroup",
            "read_only",
            "pids_limit",
            "mem_limit",
            "stop_grace_period",
            "tmpfs",
            "healthcheck",
            "expose",
        ] {
            let mut theirs = single.setting(service, key).cloned();
            let mut ours = app.setting(service, key).cloned();
            if key == "build" {
                // Relative to each file's directory: the repository root either way.
                for (v, prefix) in [(&mut theirs, "."), (&mut ours, "../..")] {
                    if let Some(ctx) = v.as_mut().and_then(|b| b.get_mut("context")) {
                        assert_eq!(ctx.as_str(), Some(prefix), "{service}.build.context");
                        *ctx = Value::Null;
                    }
                }
            }
            if key == "expose" && service == "alloy" {
                continue;
            }
            assert_eq!(
                ours, theirs,
                "{service}.{key} differs between {APP} and docker-compose.yml"
            );
        }
    }
    // The worker's capability set, the one the sandbox is tested with.
    let caps = string_set(app.setting("judge-worker", "cap_add"), "cap_add");
    assert!(caps.contains("SYS_ADMIN") && caps.len() == 8, "{caps:?}");
    // Telemetry goes to the agent, and the agent is the one on this host.
    for service in ["client-api", "judge-worker"] {
        let env = app.environment(service);
        assert_eq!(
            env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://otel-agent:4317",
            "{service}"
        );
        assert!(
            app.listens("otel-agent").contains(&4317),
            "otel-agent must serve 4317"
        );
    }
    assert_eq!(image(&app, "otel-agent"), image(single, "otel-collector"));
    assert!(
        app.environment("client-api")["GRAFANA_URL"].starts_with("https://"),
        "trace_url links go to the observability host over TLS"
    );
}

/// The observability host runs the single-host stack's backends with the same images, and
/// reads the same config files (mounted from collector-config, not copied).
#[test]
fn obs_host_reuses_the_single_host_images_and_files() {
    let (single, obs) = (&*STACK, obs());
    for service in ["tempo", "loki", "prometheus", "grafana", "alloy"] {
        assert_eq!(
            image(&obs, service),
            image(single, service),
            "{service}: image differs"
        );
    }
    assert_eq!(
        image(&obs, "otel-collector"),
        image(single, "otel-collector")
    );
    let mounts: BTreeSet<String> = ["tempo", "loki", "grafana"]
        .iter()
        .flat_map(|s| string_set(obs.setting(s, "volumes"), "volumes"))
        .collect();
    for source in [
        "../../collector-config/tempo.yaml:/etc/tempo.yaml:ro",
        "../../collector-config/loki.yaml:/etc/loki/config.yaml:ro",
        "../../collector-config/grafana/provisioning:/etc/grafana/provisioning:ro",
        "../../collector-config/grafana/dashboards:/etc/grafana/dashboards:ro",
    ] {
        assert!(mounts.contains(source), "obs host must mount {source}");
    }
    // Prometheus' own file keeps the single-host global/otlp/storage settings (the
    // dashboard's metric names depend on the OTLP translation).
    let (ours, theirs) = (
        yaml("deploy/two-host/prometheus.yml"),
        yaml("collector-config/prometheus.yml"),
    );
    for key in ["global", "otlp"] {
        assert_eq!(ours.get(key), theirs.get(key), "prometheus.yml {key}");
    }
    // Grafana has its own login here.
    let env = obs.environment("grafana");
    assert_eq!(env["GF_AUTH_ANONYMOUS_ENABLED"], "false");
    assert!(!env["GF_SECURITY_ADMIN_PASSWORD"].is_empty());
}

/// Between the hosts only the proxy is open: on the observability host only Caddy publishes
/// ports (80, 443), and nothing on the app host publishes an observability port.
#[test]
fn only_caddy_is_published_on_the_observability_host() {
    let obs = obs();
    for service in obs.services().keys() {
        let published = obs.published(service);
        if service == "caddy" {
            let ports: BTreeSet<u16> = published.iter().map(|p| p.1).collect();
            assert_eq!(
                ports,
                BTreeSet::from([80, 443]),
                "caddy publishes 80 and 443"
            );
        } else {
            assert!(
                published.is_empty(),
                "{service} publishes {published:?} on the observability host: only Caddy may"
            );
        }
    }
    let app = app();
    for service in app.services().keys() {
        for (_, container) in app.published(service) {
            assert!(
                [8080, 15672].contains(&container),
                "{service} publishes {container} on the app host"
            );
        }
    }
}

/// The Caddyfile: TLS on one site; OTLP to the gateway (which checks the bearer token);
/// Loki's push API behind basic_auth (the directive's name since Caddy 2.8; `basicauth` is
/// the deprecated alias); the rest of /loki refused; everything else Grafana; no route to
/// Tempo or Prometheus; every `{$VAR}` set in the container's environment.
#[test]
fn caddy_exposes_only_what_it_should() {
    let text = read(CADDYFILE);
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(code.contains("tls {$CADDY_TLS}"), "the site has TLS");
    assert!(code.contains("admin off"));
    let upstreams: BTreeSet<&str> = code
        .lines()
        .filter_map(|l| l.trim().strip_prefix("reverse_proxy "))
        .collect();
    assert_eq!(
        upstreams,
        BTreeSet::from([
            "h2c://otel-collector:4317",
            "otel-collector:4318",
            "loki:3100",
            "grafana:3000"
        ]),
        "Caddy's upstreams"
    );
    for forbidden in ["tempo", "prometheus", ":9090", ":3200", "basicauth "] {
        assert!(
            !code.contains(forbidden),
            "the Caddyfile must not mention {forbidden}"
        );
    }
    // Loki is reached only on the push path, and only with basic_auth first.
    let loki_push = code
        .find("handle /loki/api/v1/push {")
        .expect("a handle for Loki's push API");
    let block = &code[loki_push..];
    let block = &block[..block.find("\n\t}").expect("end of the handle block")];
    assert!(
        block
            .find("basic_auth")
            .expect("basic_auth on the push path")
            < block
                .find("reverse_proxy loki:3100")
                .expect("proxy to loki"),
        "basic_auth must come before the proxy"
    );
    assert!(
        code.contains("handle /loki/* {\n\t\trespond"),
        "the rest of /loki refused"
    );
    // The gateway's receiver wants the token on both protocols.
    let gateway = yaml(GATEWAY);
    for protocol in ["grpc", "http"] {
        assert_eq!(
            at(
                &gateway,
                &[
                    "receivers",
                    "otlp",
                    "protocols",
                    protocol,
                    "auth",
                    "authenticator"
                ]
            )
            .as_str(),
            Some("bearertokenauth/agents"),
            "the gateway's OTLP/{protocol} receiver must authenticate"
        );
    }
    // Every {$VAR} the Caddyfile uses is in caddy's environment.
    let env = obs().environment("caddy");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("{$") {
        let name = &rest[i + 2..i + 2 + rest[i + 2..].find('}').expect("closing brace")];
        assert!(env.contains_key(name), "Caddyfile uses {{${name}}}, unset");
        rest = &rest[i + 2..];
    }
}

#[test]
fn collector_configs_use_only_components_of_the_pinned_image() {
    for rel in [AGENT, GATEWAY] {
        check_components_exist(rel);
    }
}

/// Every `${env:VAR}` of the agent and gateway configs is set in its container's
/// environment, from a variable that the `.env` example sets; secrets appear nowhere in clear.
#[test]
fn collector_configs_take_addresses_and_secrets_from_the_environment() {
    for (rel, stack, service) in [
        (AGENT, app(), "otel-agent"),
        (GATEWAY, obs(), "otel-collector"),
    ] {
        let text = read(rel);
        let refs = env_references(&text);
        assert!(refs.contains("OTLP_TOKEN"), "{rel} must read the token");
        let env = stack.environment(service);
        for name in &refs {
            assert!(
                env.contains_key(name),
                "{rel} reads ${{env:{name}}}, which {service}'s environment lacks"
            );
        }
        assert!(
            !text.contains(&stack.env["OTLP_TOKEN"]),
            "{rel} holds the token in clear"
        );
        // The config file is what the service mounts.
        let volumes = string_set(stack.setting(service, "volumes"), "volumes");
        let file = rel
            .strip_prefix(&format!("{DIR}/"))
            .expect("in deploy/two-host");
        assert!(
            volumes.contains(&format!("./{file}:/etc/otelcol-contrib/config.yaml:ro")),
            "{service} must mount {rel}"
        );
    }
    // The agent's export is TLS (no `insecure`) with the bearer token.
    let agent = yaml(AGENT);
    let exporter = at(&agent, &["exporters", "otlp_grpc/gateway"]);
    assert!(exporter.pointer("/tls/insecure").is_none());
    assert_eq!(
        at(exporter, &["auth", "authenticator"]).as_str(),
        Some("bearertokenauth/gateway")
    );
    // The token is the same on both hosts' examples.
    assert_eq!(app().env["OTLP_TOKEN"], obs().env["OTLP_TOKEN"]);
    assert_eq!(app().env["LOKI_PUSH_USER"], obs().env["LOKI_PUSH_USER"]);
}
