//! W3C trace context and the publish time, carried in AMQP message headers.
//!
//! Values are AMQP long strings (type `S`): a short-string value does not survive the wire
//! (lapin's `AMQPValue::ShortString` has no field-table type id). `x-published-at-ns` is an
//! integer of Unix nanoseconds, so the consumer can measure queue wait finer than the AMQP
//! `timestamp` property, which holds whole seconds.

use crate::contract::QueueWaitPrecision;
use chrono::{DateTime, Utc};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use std::collections::BTreeMap;

/// Header holding the publish time in Unix nanoseconds.
pub const PUBLISHED_AT_HEADER: &str = "x-published-at-ns";

/// Writes `cx` into `headers` with the globally installed propagator
/// (`traceparent`, `tracestate`, `baggage`).
pub fn inject_context(cx: &Context, headers: &mut FieldTable) {
    let mut injector = HeaderInjector(headers);
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, &mut injector));
}

/// Reads the trace context a producer put in `headers`; an empty context when there is none.
pub fn extract_context(headers: Option<&FieldTable>) -> Context {
    match headers {
        Some(headers) => opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(headers.inner()))
        }),
        None => Context::new(),
    }
}

/// The same context as plain strings, e.g. to store with an outbox row and re-inject later.
pub fn context_to_map(cx: &Context) -> BTreeMap<String, String> {
    let mut map = MapInjector(BTreeMap::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, &mut map));
    map.0
}

/// The inverse of [`context_to_map`].
pub fn context_from_map(map: &BTreeMap<String, String>) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapExtractor(map)))
}

/// Sets `x-published-at-ns` to `at`.
pub fn set_published_at(headers: &mut FieldTable, at: DateTime<Utc>) {
    let nanos = at.timestamp_nanos_opt().unwrap_or(i64::MAX);
    headers.insert(
        ShortString::from(PUBLISHED_AT_HEADER),
        AMQPValue::LongLongInt(nanos),
    );
}

/// Reads `x-published-at-ns`, accepting any integer width a client might have used.
pub fn published_at(headers: Option<&FieldTable>) -> Option<DateTime<Utc>> {
    let value = headers?.inner().get(PUBLISHED_AT_HEADER)?;
    let nanos: i64 = match value {
        AMQPValue::LongLongInt(v) => *v,
        AMQPValue::LongUInt(v) => i64::from(*v),
        AMQPValue::LongInt(v) => i64::from(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok()?,
        _ => return None,
    };
    Some(DateTime::from_timestamp_nanos(nanos))
}

/// When a delivered message was published, as finely as the delivery tells: the
/// `x-published-at-ns` header, else the AMQP `timestamp` property (whole seconds; a producer
/// outside this project may set only that), else nothing.
pub fn publish_time(
    headers: Option<&FieldTable>,
    amqp_timestamp: Option<u64>,
) -> Option<(DateTime<Utc>, QueueWaitPrecision)> {
    if let Some(at) = published_at(headers) {
        return Some((at, QueueWaitPrecision::Nanoseconds));
    }
    let seconds = i64::try_from(amqp_timestamp?).ok()?;
    DateTime::from_timestamp(seconds, 0).map(|at| (at, QueueWaitPrecision::Seconds))
}

/// How many times the broker delivered this message before (quorum queues set
/// `x-delivery-count` on redeliveries; absent on the first delivery).
pub fn delivery_count(headers: Option<&FieldTable>) -> i64 {
    let Some(value) = headers.and_then(|h| h.inner().get("x-delivery-count")) else {
        return 0;
    };
    match value {
        AMQPValue::LongLongInt(v) => *v,
        AMQPValue::LongInt(v) => i64::from(*v),
        AMQPValue::LongUInt(v) => i64::from(*v),
        AMQPValue::ShortInt(v) => i64::from(*v),
        AMQPValue::ShortUInt(v) => i64::from(*v),
        AMQPValue::ShortShortInt(v) => i64::from(*v),
        AMQPValue::ShortShortUInt(v) => i64::from(*v),
        _ => 0,
    }
}

struct HeaderInjector<'a>(&'a mut FieldTable);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagator keys are short, fixed and lowercase; try_new guards the 255-byte limit.
        if let Ok(key) = ShortString::try_new(key.to_string()) {
            self.0
                .insert(key, AMQPValue::LongString(LongString::from(value)));
        }
    }
}

struct HeaderExtractor<'a>(&'a BTreeMap<ShortString, AMQPValue>);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // Other clients send strings as long strings or byte arrays; accept both.
        match self.0.get(key)? {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ByteArray(b) => std::str::from_utf8(b.as_slice()).ok(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MapInjector(BTreeMap<String, String>);

impl Injector for MapInjector {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

struct MapExtractor<'a>(&'a BTreeMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    fn remote_context() -> Context {
        let sc = SpanContext::new(
            TraceId::from_bytes(0x4bf92f3577b34da6a3ce929d0e0e4736u128.to_be_bytes()),
            SpanId::from_bytes(0x00f067aa0ba902b7u64.to_be_bytes()),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        Context::new().with_remote_span_context(sc)
    }

    #[test]
    fn context_round_trips_through_headers_and_maps() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let cx = remote_context();
        let mut headers = FieldTable::default();
        inject_context(&cx, &mut headers);
        assert!(matches!(
            headers.inner().get("traceparent"),
            Some(AMQPValue::LongString(_))
        ));
        let back = extract_context(Some(&headers));
        assert_eq!(
            back.span().span_context().trace_id(),
            cx.span().span_context().trace_id()
        );
        let map = context_to_map(&cx);
        assert_eq!(
            map.get("traceparent").map(String::as_str),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = context_from_map(&map);
        assert_eq!(
            back.span().span_context().span_id(),
            cx.span().span_context().span_id()
        );
        assert!(!extract_context(None).has_active_span());
    }

    #[test]
    fn published_at_and_delivery_count() {
        let at = DateTime::from_timestamp_nanos(1_764_000_000_123_456_789);
        let mut headers = FieldTable::default();
        set_published_at(&mut headers, at);
        assert_eq!(published_at(Some(&headers)), Some(at));
        assert_eq!(published_at(None), None);
        assert_eq!(delivery_count(Some(&headers)), 0);
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(2));
        assert_eq!(delivery_count(Some(&headers)), 2);
    }

    #[test]
    fn publish_time_falls_back_to_the_amqp_timestamp_then_to_nothing() {
        let at = DateTime::from_timestamp_nanos(1_764_000_000_123_456_789);
        let mut headers = FieldTable::default();
        set_published_at(&mut headers, at);
        assert_eq!(
            publish_time(Some(&headers), Some(1)),
            Some((at, QueueWaitPrecision::Nanoseconds))
        );
        let seconds = DateTime::from_timestamp(1_764_000_000, 0);
        assert_eq!(
            publish_time(None, Some(1_764_000_000)),
            seconds.map(|s| (s, QueueWaitPrecision::Seconds))
        );
        assert_eq!(publish_time(Some(&FieldTable::default()), None), None);
        assert_eq!(publish_time(None, Some(u64::MAX)), None);
    }

    #[test]
    fn extractor_reads_long_strings_and_byte_arrays() {
        let mut table = BTreeMap::new();
        table.insert(
            ShortString::from("traceparent"),
            AMQPValue::LongString(LongString::from("a")),
        );
        table.insert(
            ShortString::from("tracestate"),
            AMQPValue::ByteArray(b"b".to_vec().into()),
        );
        table.insert(ShortString::from("other"), AMQPValue::LongLongInt(1));
        let ex = HeaderExtractor(&table);
        assert_eq!(ex.get("traceparent"), Some("a"));
        assert_eq!(ex.get("tracestate"), Some("b"));
        assert_eq!(ex.get("other"), None);
    }
}
