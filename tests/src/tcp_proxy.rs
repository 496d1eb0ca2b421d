//! A TCP proxy between a service and a dependency, to cut and restore the connection without
//! touching the machine's own broker or database.
//!
//! While cut, new connections are accepted and closed at once and existing ones are dropped,
//! as after a network failure. [`TcpProxy::cut`] returns once every proxied connection is
//! closed, so a test's next step really happens during the outage.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    address: SocketAddr,
    open: watch::Sender<bool>,
    /// Number of live proxied connections.
    live: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (open, watcher) = watch::channel(true);
        let (live_tx, live) = watch::channel(0usize);
        let live_tx = Arc::new(live_tx);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut state = watcher.clone();
                if !*state.borrow() {
                    drop(client);
                    continue;
                }
                live_tx.send_modify(|n| *n += 1);
                let live_tx = live_tx.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {},
                            _ = state.wait_for(|open| !*open) => {},
                        }
                    }
                    live_tx.send_modify(|n| *n -= 1);
                });
            }
        });
        Ok(TcpProxy {
            address,
            open,
            live,
            task,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Drops every connection and refuses new ones until [`restore`](Self::restore).
    pub async fn cut(&self) {
        let _ = self.open.send(false);
        let mut live = self.live.clone();
        let _ = live.wait_for(|n| *n == 0).await;
    }

    pub fn restore(&self) {
        let _ = self.open.send(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
