//! The workload mix: how often each kind of submission (by expected verdict) is sent.
//!
//! `--mix accepted=75,wrong=5,tle=5,mle=5,re=5,ce=5` parses into a [`Mix`]. Picking is
//! deterministic (smooth weighted round robin), so two runs with the same mix send the same
//! sequence of submissions, and the in-process engine baseline judges exactly what the
//! pipeline judged.

use std::fmt;
use std::str::FromStr;

/// What a submission is expected to get, which selects its program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Accepted,
    Wrong,
    Tle,
    Mle,
    Re,
    Ce,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Accepted,
        Kind::Wrong,
        Kind::Tle,
        Kind::Mle,
        Kind::Re,
        Kind::Ce,
    ];

    /// The name used in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Accepted => "accepted",
            Kind::Wrong => "wrong",
            Kind::Tle => "tle",
            Kind::Mle => "mle",
            Kind::Re => "re",
            Kind::Ce => "ce",
        }
    }

    /// The verdict the API must report for this kind.
    pub fn expected_verdict(self) -> &'static str {
        match self {
            Kind::Accepted => "Accepted",
            Kind::Wrong => "WrongAnswer",
            Kind::Tle => "TimeLimitExceeded",
            Kind::Mle => "MemoryLimitExceeded",
            Kind::Re => "RuntimeError",
            Kind::Ce => "CompileError",
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "accepted" | "ac" => Some(Kind::Accepted),
            "wrong" | "wa" | "wronganswer" => Some(Kind::Wrong),
            "tle" | "timelimitexceeded" => Some(Kind::Tle),
            "mle" | "memorylimitexceeded" => Some(Kind::Mle),
            "re" | "runtimeerror" => Some(Kind::Re),
            "ce" | "compileerror" => Some(Kind::Ce),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Weights per kind; at least one is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Kind, u32)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MixError {
    #[error("`{0}` is not `kind=weight`")]
    Syntax(String),
    #[error("unknown kind `{0}`; use accepted, wrong, tle, mle, re or ce")]
    UnknownKind(String),
    #[error("weight of `{0}` is not a whole number")]
    BadWeight(String),
    #[error("`{0}` appears twice")]
    Duplicate(String),
    #[error("all weights are zero")]
    Empty,
}

impl Mix {
    pub const DEFAULT: &'static str = "accepted=75,wrong=5,tle=5,mle=5,re=5,ce=5";

    pub fn new(weights: Vec<(Kind, u32)>) -> Result<Self, MixError> {
        let weights: Vec<(Kind, u32)> = weights.into_iter().filter(|(_, w)| *w > 0).collect();
        if weights.is_empty() {
            return Err(MixError::Empty);
        }
        Ok(Mix { weights })
    }

    /// Kinds with a positive weight, in the order given.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.weights.iter().map(|(k, _)| *k)
    }

    /// A fresh deterministic picker over this mix.
    pub fn picker(&self) -> KindPicker {
        KindPicker {
            weights: self.weights.clone(),
            current: vec![0; self.weights.len()],
            total: self.weights.iter().map(|(_, w)| i64::from(*w)).sum(),
        }
    }
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            weights: vec![
                (Kind::Accepted, 75),
                (Kind::Wrong, 5),
                (Kind::Tle, 5),
                (Kind::Mle, 5),
                (Kind::Re, 5),
                (Kind::Ce, 5),
            ],
        }
    }
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(text: &str) -> Result<Self, MixError> {
        let mut weights: Vec<(Kind, u32)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| MixError::Syntax(item.to_string()))?;
            let kind = Kind::parse(name).ok_or_else(|| MixError::UnknownKind(name.to_string()))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| MixError::BadWeight(name.to_string()))?;
            if weights.iter().any(|(k, _)| *k == kind) {
                return Err(MixError::Duplicate(name.to_string()));
            }
            weights.push((kind, weight));
        }
        Mix::new(weights)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(k, w)| format!("{k}={w}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Smooth weighted round robin (as in nginx): over any window of `total` picks each kind
/// comes up exactly `weight` times, spread out rather than in runs.
#[derive(Debug, Clone)]
pub struct KindPicker {
    weights: Vec<(Kind, u32)>,
    current: Vec<i64>,
    total: i64,
}

impl KindPicker {
    pub fn next_kind(&mut self) -> Kind {
        let mut best = 0;
        for (i, (_, weight)) in self.weights.iter().enumerate() {
            self.current[i] += i64::from(*weight);
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= self.total;
        self.weights[best].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let mix: Mix = "accepted=80, wa=5,tle=5,re=5,ce=5".parse().unwrap();
        assert_eq!(mix.to_string(), "accepted=80,wrong=5,tle=5,re=5,ce=5");
        assert_eq!(Mix::DEFAULT.parse::<Mix>().unwrap(), Mix::default());
    }

    #[test]
    fn rejects_nonsense() {
        assert_eq!("ac".parse::<Mix>(), Err(MixError::Syntax("ac".into())));
        assert_eq!(
            "ok=1".parse::<Mix>(),
            Err(MixError::UnknownKind("ok".into()))
        );
        assert_eq!("ac=x".parse::<Mix>(), Err(MixError::BadWeight("ac".into())));
        assert_eq!(
            "ac=1,accepted=2".parse::<Mix>(),
            Err(MixError::Duplicate("accepted".into()))
        );
        assert_eq!("ac=0".parse::<Mix>(), Err(MixError::Empty));
    }

    #[test]
    fn picks_in_proportion_and_spread_out() {
        let mix: Mix = "accepted=3,wrong=1".parse().unwrap();
        let mut picker = mix.picker();
        let picks: Vec<Kind> = (0..8).map(|_| picker.next_kind()).collect();
        assert_eq!(picks.iter().filter(|k| **k == Kind::Wrong).count(), 2);
        assert_ne!(picks[..4].iter().filter(|k| **k == Kind::Wrong).count(), 0);
        let equal: Mix = "accepted=1,wrong=1,tle=1,mle=1,re=1,ce=1".parse().unwrap();
        let mut picker = equal.picker();
        let mut six: Vec<Kind> = (0..6).map(|_| picker.next_kind()).collect();
        six.sort();
        assert_eq!(six, Kind::ALL);
    }
}
