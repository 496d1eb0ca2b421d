//! TLS to the broker (`amqps://`), as in the Kubernetes deployment where the RabbitmqCluster
//! serves TLS: both services reach RabbitMQ only through a TLS endpoint whose certificate they
//! trust through `SSL_CERT_FILE` (a mounted CA), and a submission is judged over it.

use e2e_tests::{TestBed, TestBedOptions, binaries};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const A_PLUS_B_C: &str = "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);return 0;}\n";

/// A CA, and a certificate for `localhost` signed by it.
struct Certificates {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

fn certificates() -> anyhow::Result<Certificates> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "broker-tls test CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let server_params = CertificateParams::new(vec!["localhost".to_string()])?;
    let server_key = KeyPair::generate()?;
    let server = server_params.signed_by(&server_key, &ca, &ca_key)?;
    Ok(Certificates {
        ca_pem: ca.pem(),
        server_chain: vec![server.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    })
}

/// Terminates TLS and forwards to the plain broker; counts completed handshakes.
async fn tls_endpoint(
    certificates: &Certificates,
    upstream: SocketAddr,
) -> anyhow::Result<(SocketAddr, Arc<AtomicUsize>)> {
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            certificates.server_chain.clone(),
            certificates.server_key.clone_key(),
        )?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                let Ok(mut client) = acceptor.accept(client).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut server) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    Ok((address, handshakes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_judge_over_tls_to_the_broker() -> anyhow::Result<()> {
    let certificates = certificates()?;
    let dir = std::env::temp_dir().join(format!("broker-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &certificates.ca_pem)?;

    let (address, handshakes) = tls_endpoint(&certificates, "127.0.0.1:5672".parse()?).await?;
    let url = format!("amqps://guest:guest@localhost:{}/%2f", address.port());
    let trust = vec![("SSL_CERT_FILE", ca_file.display().to_string())];
    let bed = TestBed::start(
        binaries!(),
        "broker-tls",
        TestBedOptions {
            no_telemetry: true,
            api_amqp_url: Some(url.clone()),
            worker_amqp_url: Some(url),
            api_env: trust.clone(),
            worker_env: trust,
            ..Default::default()
        },
    )
    .await?;

    let accepted = bed
        .client
        .submit(&serde_json::json!({
            "language": "c",
            "source": A_PLUS_B_C,
            "testcases": [{"input": "1 2\n", "output": "3\n"}],
            "time_limit_ms": 1000,
            "memory_limit_mb": 64,
        }))
        .await?;
    let id = accepted["id"].as_str().unwrap_or_default();
    let view = bed.client.wait_done(id).await?;
    assert_eq!(view["verdict"], "Accepted", "{view}");
    // The API's publisher, result and started consumers and the worker's consumer each hold
    // a connection: every one of them went through the TLS endpoint.
    let connections = handshakes.load(Ordering::SeqCst);
    assert!(connections >= 4, "{connections} TLS connections");
    drop(bed);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_nobody_trusts_is_refused() -> anyhow::Result<()> {
    let certificates = certificates()?;
    let (address, handshakes) = tls_endpoint(&certificates, "127.0.0.1:5672".parse()?).await?;
    let url = format!("amqps://guest:guest@localhost:{}/%2f", address.port());
    // The services' AMQP client, with no SSL_CERT_FILE: the test CA is in no trust store.
    let connected = lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await;
    let error = connected.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        !error.is_empty(),
        "connected to a broker whose certificate nobody trusts"
    );
    assert_eq!(handshakes.load(Ordering::SeqCst), 0, "{error}");
    Ok(())
}
