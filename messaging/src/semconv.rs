//! Names that dashboards, TraceQL queries and alerts rely on: span names, attribute keys and
//! metric names. They are fixed and low-cardinality; ids go in attributes, never in names.
//!
//! Messaging attributes follow the OpenTelemetry messaging semantic conventions (v1.44.0,
//! RabbitMQ): `messaging.destination.name` is `{exchange}:{routing key}` on the producer side
//! and `{exchange}:{routing key}:{queue}` on the consumer side.

/// `messaging.system` for every span and metric here.
pub const MESSAGING_SYSTEM: &str = "rabbitmq";

/// Span names of the trace of one submission (README.md: the trace tree at the top, and
/// "Observability stack: inspecting a trace in Grafana").
pub mod span {
    pub const SUBMIT: &str = "POST /api/v1/submissions";
    pub const SUBMISSION_STORE: &str = "submission.store";
    pub const PUBLISH_SUBMISSION: &str = "publish judge.submission";
    pub const CONFIRM_SUBMISSION: &str = "confirm judge.submission";
    pub const QUEUE_WAIT: &str = "queue.wait";
    pub const PROCESS_SUBMISSION: &str = "process judge.submission";
    pub const TESTCASE_FETCH: &str = "GET /internal/v1/problems/{id}/testcases";
    pub const JUDGE_COMPILE: &str = "judge.compile";
    pub const JUDGE_RUN: &str = "judge.run";
    pub const PUBLISH_RESULT: &str = "publish judge.result";
    pub const CONFIRM_RESULT: &str = "confirm judge.result";
    pub const PROCESS_RESULT: &str = "process judge.result";
    pub const SUBMISSION_FINALIZE: &str = "submission.finalize";
    /// The root of a rejudged judging's own trace (linked to the first trace).
    pub const SUBMISSION_REJUDGE: &str = "submission.rejudge";
    /// One batch of a rejudge request queued again, in the request's trace.
    pub const SUBMISSION_REQUEUE: &str = "submission.requeue";

    /// Every span name above, for consistency checks.
    pub const ALL: [&str; 15] = [
        SUBMIT,
        SUBMISSION_STORE,
        PUBLISH_SUBMISSION,
        CONFIRM_SUBMISSION,
        QUEUE_WAIT,
        PROCESS_SUBMISSION,
        TESTCASE_FETCH,
        JUDGE_COMPILE,
        JUDGE_RUN,
        PUBLISH_RESULT,
        CONFIRM_RESULT,
        PROCESS_RESULT,
        SUBMISSION_FINALIZE,
        SUBMISSION_REJUDGE,
        SUBMISSION_REQUEUE,
    ];
}

/// Metric names. Histograms are in seconds.
pub mod metric {
    pub const HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
    pub const HTTP_CLIENT_REQUEST_DURATION: &str = "http.client.request.duration";
    pub const MESSAGING_CLIENT_OPERATION_DURATION: &str = "messaging.client.operation.duration";
    pub const MESSAGING_CLIENT_SENT_MESSAGES: &str = "messaging.client.sent.messages";
    pub const MESSAGING_CLIENT_CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
    pub const MESSAGING_PROCESS_DURATION: &str = "messaging.process.duration";
    pub const QUEUE_WAIT: &str = "judge.queue.wait";
    pub const COMPILE_DURATION: &str = "judge.compile.duration";
    /// Compile steps by language and whether the compile cache served them
    /// (`judge.compile.cached`).
    pub const COMPILE_CACHE_LOOKUPS: &str = "judge.compile.cache.lookups";
    pub const RUN_DURATION: &str = "judge.run.duration";
    pub const SUBMISSIONS: &str = "judge.submissions";
    pub const SLOTS_BUSY: &str = "judge.slots.busy";
    pub const MESSAGES_REJECTED: &str = "judge.messages.rejected";
    pub const E2E_DURATION: &str = "submission.e2e.duration";

    pub const ALL: [&str; 14] = [
        HTTP_SERVER_REQUEST_DURATION,
        HTTP_CLIENT_REQUEST_DURATION,
        MESSAGING_CLIENT_OPERATION_DURATION,
        MESSAGING_CLIENT_SENT_MESSAGES,
        MESSAGING_CLIENT_CONSUMED_MESSAGES,
        MESSAGING_PROCESS_DURATION,
        QUEUE_WAIT,
        COMPILE_DURATION,
        COMPILE_CACHE_LOOKUPS,
        RUN_DURATION,
        SUBMISSIONS,
        SLOTS_BUSY,
        MESSAGES_REJECTED,
        E2E_DURATION,
    ];
}

/// Explicit histogram buckets in seconds: fine below 10 ms for the pipeline's own hops,
/// reaching minutes for queue waits under load.
pub const DURATION_BUCKETS_SECONDS: [f64; 22] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

/// `server.address` and `server.port` of the broker, for span and metric attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub address: String,
    pub port: u16,
}

impl BrokerEndpoint {
    /// Parsed from an AMQP URL; `unknown`:5672 if the URL does not parse (the connection
    /// attempt will then report the real problem).
    pub fn from_url(url: &str) -> Self {
        match url.parse::<lapin::uri::AMQPUri>() {
            Ok(uri) => BrokerEndpoint {
                address: uri.authority.host,
                port: uri.authority.port,
            },
            Err(_) => BrokerEndpoint {
                address: "unknown".into(),
                port: 5672,
            },
        }
    }
}

/// `messaging.destination.name` of a publish: `{exchange}:{routing key}`.
pub fn publish_destination(exchange: &str, routing_key: &str) -> String {
    format!("{exchange}:{routing_key}")
}

/// `messaging.destination.name` of a delivery: `{exchange}:{routing key}:{queue}`, the key
/// given once when it equals the queue.
pub fn process_destination(exchange: &str, routing_key: &str, queue: &str) -> String {
    if routing_key == queue {
        format!("{exchange}:{queue}")
    } else {
        format!("{exchange}:{routing_key}:{queue}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_and_destinations() {
        let e = BrokerEndpoint::from_url("amqp://guest:guest@10.0.0.5:5673/%2f");
        assert_eq!(e.address, "10.0.0.5");
        assert_eq!(e.port, 5673);
        assert_eq!(
            publish_destination("judge", "judge.submission"),
            "judge:judge.submission"
        );
        assert_eq!(
            process_destination("judge", "judge.submission", "t.judge.submission"),
            "judge:judge.submission:t.judge.submission"
        );
        assert_eq!(process_destination("", "q", "q"), ":q");
    }
}
