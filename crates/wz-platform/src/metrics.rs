//! Prometheus metrics, text exposition format. Labels are result-code
//! names, modes and routes only: never anything about a person.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

const BUCKETS_MS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS_MS.len()],
    sum_ms: f64,
    total: u64,
}

/// Counters and latency histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    verifications: Mutex<BTreeMap<(String, String), u64>>,
    enrolments: Mutex<BTreeMap<(String, String), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    security: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts a verification by result name and mode.
    pub fn verification(&self, result: &str, mode: &str) {
        if let Ok(mut m) = self.verifications.lock() {
            *m.entry((result.to_owned(), mode.to_owned())).or_default() += 1;
        }
    }

    /// Counts an enrolment by level and result name.
    pub fn enrolment(&self, level: &str, result: &str) {
        if let Ok(mut m) = self.enrolments.lock() {
            *m.entry((level.to_owned(), result.to_owned())).or_default() += 1;
        }
    }

    /// Counts a security event (presentation attack, PIN lock, …) by kind,
    /// for operators to alert on.
    pub fn security_event(&self, kind: &str) {
        if let Ok(mut m) = self.security.lock() {
            *m.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// Records a request's latency under its route template.
    pub fn latency(&self, route: &str, ms: f64) {
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(route.to_owned()).or_default();
            for (i, b) in BUCKETS_MS.iter().enumerate() {
                if ms <= *b
                    && let Some(c) = h.counts.get_mut(i)
                {
                    *c += 1;
                }
            }
            h.sum_ms += ms;
            h.total += 1;
        }
    }

    /// The exposition text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP wz_verifications_total Verifications by result code and auth mode.\n");
        out.push_str("# TYPE wz_verifications_total counter\n");
        if let Ok(m) = self.verifications.lock() {
            for ((result, mode), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "wz_verifications_total{{result=\"{result}\",mode=\"{mode}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP wz_enrolments_total Enrolments by level and result code.\n");
        out.push_str("# TYPE wz_enrolments_total counter\n");
        if let Ok(m) = self.enrolments.lock() {
            for ((level, result), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "wz_enrolments_total{{level=\"{level}\",result=\"{result}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP wz_security_events_total Security events by kind.\n");
        out.push_str("# TYPE wz_security_events_total counter\n");
        if let Ok(m) = self.security.lock() {
            for (kind, n) in m.iter() {
                let _ = writeln!(out, "wz_security_events_total{{kind=\"{kind}\"}} {n}");
            }
        }
        out.push_str("# HELP wz_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE wz_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                for (b, c) in BUCKETS_MS.iter().zip(h.counts) {
                    let _ = writeln!(
                        out,
                        "wz_request_duration_seconds_bucket{{route=\"{route}\",le=\"{}\"}} {c}",
                        b / 1000.0
                    );
                }
                let _ = writeln!(
                    out,
                    "wz_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.total
                );
                let _ = writeln!(
                    out,
                    "wz_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum_ms / 1000.0
                );
                let _ = writeln!(
                    out,
                    "wz_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.total
                );
            }
        }
        out
    }
}
