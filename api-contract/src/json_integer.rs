//! serde helpers for integer fields: JSON Schema's `integer` includes `185.0`, so a number
//! with a zero fraction is accepted as the integer it is; `185.5` is not an integer.

use serde::{Deserialize, Deserializer, de::Error};

fn from_number<E: Error>(n: serde_json::Number) -> Result<i64, E> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(E::custom(format!("expected an integer, got {n}"))),
    }
}

pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    from_number(serde_json::Number::deserialize(d)?)
}

pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(from_number)
        .transpose()
}
