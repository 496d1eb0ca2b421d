//! Who may call what: bearer tokens, roles, ownership and per-token rate limits.
//!
//! - client tokens (`API_TOKENS`) submit and read their own submissions;
//! - the admin token (`ADMIN_TOKEN`) manages problems and reads any submission;
//! - the worker token (`WORKER_TOKEN`) reads test cases from the internal endpoint.
//!
//! Tokens come from the environment or from files (`*_FILE`, for container secrets), are
//! compared in constant time and never logged; a client is known by an opaque id derived from
//! its token. Without tokens the API refuses to start, unless `--insecure-dev` is given, in
//! which case every caller is let in (and the log says so, loudly).

use crate::problem_details::ApiError;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A client, known by an opaque id derived from its token.
    Client {
        owner: String,
    },
    Admin,
    Worker,
    /// Anyone, under `--insecure-dev`.
    Anyone,
}

impl Caller {
    /// The owner recorded on submissions this caller makes.
    pub fn owner(&self) -> &str {
        match self {
            Caller::Client { owner } => owner,
            Caller::Admin => "admin",
            Caller::Worker => "worker",
            Caller::Anyone => "dev",
        }
    }

    /// Whether this caller may read a submission owned by `owner`.
    pub fn may_read(&self, owner: &str) -> bool {
        match self {
            Caller::Admin | Caller::Anyone => true,
            Caller::Client { owner: mine } => mine == owner,
            Caller::Worker => false,
        }
    }
}

/// What an endpoint requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Admin,
    Worker,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessConfigError {
    #[error(transparent)]
    File(#[from] messaging::settings::SecretFileError),
    #[error(
        "no {0} configured: set it (or its *_FILE variant), or start with --insecure-dev for local development"
    )]
    Missing(&'static str),
}

/// The configured tokens.
pub struct AccessPolicy {
    clients: Vec<(Vec<u8>, String)>,
    admin: Option<Vec<u8>>,
    worker: Option<Vec<u8>>,
    insecure: bool,
    limiter: RateLimiter,
}

/// The opaque owner id of a client token.
pub fn owner_of(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal without revealing where two secrets differ (only their lengths may leak).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AccessPolicy {
    /// `clients` is a comma- or newline-separated list.
    pub fn new(
        clients: Option<String>,
        admin: Option<String>,
        worker: Option<String>,
        insecure: bool,
        rate: RateLimit,
    ) -> Result<Self, AccessConfigError> {
        let clients: Vec<(Vec<u8>, String)> = clients
            .unwrap_or_default()
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| (t.as_bytes().to_vec(), owner_of(t)))
            .collect();
        if !insecure {
            if clients.is_empty() {
                return Err(AccessConfigError::Missing("API_TOKENS"));
            }
            if admin.is_none() {
                return Err(AccessConfigError::Missing("ADMIN_TOKEN"));
            }
            if worker.is_none() {
                return Err(AccessConfigError::Missing("WORKER_TOKEN"));
            }
        }
        Ok(AccessPolicy {
            clients,
            admin: admin.map(String::into_bytes),
            worker: worker.map(String::into_bytes),
            insecure,
            limiter: RateLimiter::new(rate),
        })
    }

    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// Who presents `token`, if anyone.
    fn identify(&self, token: &str) -> Option<Caller> {
        let token = token.as_bytes();
        // Check every entry, so the time taken does not tell which list matched.
        let mut found = None;
        for (secret, owner) in &self.clients {
            if constant_time_eq(secret, token) && found.is_none() {
                found = Some(Caller::Client {
                    owner: owner.clone(),
                });
            }
        }
        if let Some(admin) = &self.admin
            && constant_time_eq(admin, token)
        {
            found = Some(Caller::Admin);
        }
        if let Some(worker) = &self.worker
            && constant_time_eq(worker, token)
        {
            found = Some(Caller::Worker);
        }
        found
    }

    /// The caller of a request with this `Authorization` header, if allowed `role`.
    pub fn authorize(&self, authorization: Option<&str>, role: Role) -> Result<Caller, ApiError> {
        if self.insecure {
            return Ok(Caller::Anyone);
        }
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` count.
        let token = authorization
            .and_then(|h| h.trim_start().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <token>`".into()))?;
        let caller = self
            .identify(token)
            .ok_or_else(|| ApiError::Unauthorized("the token is not valid".into()))?;
        let allowed = match role {
            Role::Client => matches!(caller, Caller::Client { .. } | Caller::Admin),
            Role::Admin => caller == Caller::Admin,
            Role::Worker => matches!(caller, Caller::Worker | Caller::Admin),
        };
        if !allowed {
            return Err(ApiError::Forbidden(format!(
                "this token may not call {} endpoints",
                match role {
                    Role::Client => "client",
                    Role::Admin => "admin",
                    Role::Worker => "internal",
                }
            )));
        }
        if let Caller::Client { owner } = &caller
            && let Err(retry_after) = self.limiter.take(owner)
        {
            return Err(ApiError::RateLimited(retry_after));
        }
        Ok(caller)
    }
}

async fn require(policy: &AccessPolicy, role: Role, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match policy.authorize(header, role) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

pub async fn require_client(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    require(&policy, Role::Client, request, next).await
}

pub async fn require_admin(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    require(&policy, Role::Admin, request, next).await
}

pub async fn require_worker(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    require(&policy, Role::Worker, request, next).await
}

/// Requests a client may make: `burst` at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

/// A token bucket per client.
struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is available.
    fn take(&self, key: &str) -> Result<(), Duration> {
        if self.limit.per_second <= 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let (tokens, last) = buckets
            .entry(key.to_string())
            .or_insert((self.limit.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.limit.per_second)
            .min(self.limit.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - *tokens) / self.limit.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AccessPolicy {
        AccessPolicy::new(
            Some("alpha, beta\ngamma".into()),
            Some("root".into()),
            Some("judge".into()),
            false,
            RateLimit {
                per_second: 1.0,
                burst: 2.0,
            },
        )
        .unwrap()
    }

    #[test]
    fn roles() {
        let p = policy();
        let alpha = p.authorize(Some("Bearer alpha"), Role::Client).unwrap();
        assert_eq!(alpha.owner(), owner_of("alpha"));
        assert!(p.authorize(Some("Bearer gamma"), Role::Client).is_ok());
        // Accepted whatever the scheme's case (the rate limit may answer instead: not a 401).
        for header in ["bearer gamma", "BEARER  gamma"] {
            assert!(
                !matches!(
                    p.authorize(Some(header), Role::Client),
                    Err(ApiError::Unauthorized(_))
                ),
                "{header}"
            );
        }
        assert!(p.authorize(Some("Basic gamma"), Role::Client).is_err());
        assert!(p.authorize(Some("Bearergamma"), Role::Client).is_err());
        assert!(matches!(
            p.authorize(Some("Bearer alpha"), Role::Admin),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            p.authorize(Some("Bearer nope"), Role::Client),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            p.authorize(None, Role::Client),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            p.authorize(Some("Basic alpha"), Role::Client),
            Err(ApiError::Unauthorized(_))
        ));
        assert_eq!(
            p.authorize(Some("Bearer root"), Role::Admin).unwrap(),
            Caller::Admin
        );
        assert_eq!(
            p.authorize(Some("Bearer judge"), Role::Worker).unwrap(),
            Caller::Worker
        );
        assert!(p.authorize(Some("Bearer judge"), Role::Client).is_err());
        assert!(alpha.may_read(&owner_of("alpha")));
        assert!(!alpha.may_read(&owner_of("beta")));
    }

    #[test]
    fn rate_limit_per_client() {
        let p = policy();
        assert!(p.authorize(Some("Bearer beta"), Role::Client).is_ok());
        assert!(p.authorize(Some("Bearer beta"), Role::Client).is_ok());
        match p.authorize(Some("Bearer beta"), Role::Client) {
            Err(ApiError::RateLimited(after)) => assert!(after <= Duration::from_secs(1)),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        // Another client has its own bucket.
        assert!(p.authorize(Some("Bearer alpha"), Role::Client).is_ok());
    }

    #[test]
    fn refuses_to_run_without_tokens_unless_insecure() {
        let rate = RateLimit {
            per_second: 0.0,
            burst: 0.0,
        };
        assert!(matches!(
            AccessPolicy::new(None, Some("a".into()), Some("w".into()), false, rate),
            Err(AccessConfigError::Missing("API_TOKENS"))
        ));
        assert!(matches!(
            AccessPolicy::new(Some("c".into()), None, Some("w".into()), false, rate),
            Err(AccessConfigError::Missing("ADMIN_TOKEN"))
        ));
        let open = AccessPolicy::new(None, None, None, true, rate).unwrap();
        assert_eq!(open.authorize(None, Role::Admin).unwrap(), Caller::Anyone);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
