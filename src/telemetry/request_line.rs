//! The per-request log line, rendered directly into the log buffer.
//!
//! Every request logs one line, and going through a `tracing` event costs a
//! field visitor, `Debug` formatting and a formatter pass per field: several
//! microseconds a request, more than the line is worth. The line is rendered
//! here instead, byte for byte as `tracing_subscriber`'s `fmt` layer renders
//! the same event in the configured format (text or JSON; the tests hold the
//! two side by side), and only when that layer would log it at all.

use std::fmt::Write as _;
use std::sync::OnceLock;

use chrono::{SecondsFormat, Utc};

use super::RequestLog;
use crate::json_text;

/// The target the line is logged under, as `tracing` would name it.
pub(super) const TARGET: &str = "keyhole::telemetry";

/// How log lines are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineFormat {
    /// `tracing_subscriber`'s default text format, without colour codes.
    Text,
    /// `tracing_subscriber`'s JSON format with the event's fields flattened.
    Json,
}

static FORMAT: OnceLock<LineFormat> = OnceLock::new();

/// Chosen once, with the log subscriber.
pub(super) fn set_format(format: LineFormat) {
    let _ = FORMAT.set(format);
}

/// The configured format; `None` until logging is set up (nothing is written then).
pub(super) fn format() -> Option<LineFormat> {
    FORMAT.get().copied()
}

/// One field's value and how `tracing` would record it.
enum Field<'a> {
    /// Recorded with `%` (`Display`): written as is in text.
    Shown(&'a str),
    /// A `&str` field: quoted and escaped (`Debug`) in text.
    Text(&'a str),
    /// An integer.
    Number(u64),
}

/// The line's fields, in the order they are written.
fn fields<'a>(log: &'a RequestLog, status: u16, micros: u64) -> [(&'static str, Field<'a>); 17] {
    let or_dash = |v: &'a Option<String>| Field::Text(v.as_deref().unwrap_or("-"));
    let counts = &log.counts;
    [
        ("request_id", Field::Shown(&log.request_id)),
        ("method", Field::Shown(&log.method)),
        ("route", or_dash(&log.route)),
        ("agent", or_dash(&log.agent)),
        ("vendor", or_dash(&log.vendor)),
        ("ticket", or_dash(&log.ticket)),
        ("status", Field::Number(status.into())),
        ("disclosed", Field::Number(counts.disclosed.into())),
        ("masked", Field::Number(counts.masked.into())),
        ("tokenized", Field::Number(counts.tokenized.into())),
        ("redacted", Field::Number(counts.redacted.into())),
        ("dropped", Field::Number(counts.dropped.into())),
        ("hidden", Field::Number(counts.hidden.into())),
        ("disclosure", Field::Number(log.disclosure.unwrap_or(0))),
        ("denial", or_dash(&log.denial)),
        ("error", Field::Text(log.error.unwrap_or("-"))),
        ("micros", Field::Number(micros)),
    ]
}

/// Appends the request line for `log` to `out`, newline included.
pub(super) fn render(
    format: LineFormat,
    time: &str,
    log: &RequestLog,
    status: u16,
    micros: u64,
    out: &mut String,
) {
    let fields = fields(log, status, micros);
    match format {
        LineFormat::Text => {
            out.push_str(time);
            out.push_str("  INFO ");
            out.push_str(TARGET);
            out.push_str(": request");
            for (name, value) in &fields {
                out.push(' ');
                out.push_str(name);
                out.push('=');
                match value {
                    Field::Shown(s) => out.push_str(s),
                    Field::Text(s) => push_debug_str(out, s),
                    Field::Number(n) => push_number(out, *n),
                }
            }
        }
        LineFormat::Json => {
            out.push_str("{\"timestamp\":\"");
            out.push_str(time);
            out.push_str("\",\"level\":\"INFO\",\"message\":\"request\"");
            for (name, value) in &fields {
                out.push_str(",\"");
                out.push_str(name);
                out.push_str("\":");
                match value {
                    Field::Shown(s) | Field::Text(s) => json_text::push_string(out, s),
                    Field::Number(n) => push_number(out, *n),
                }
            }
            out.push_str(",\"target\":\"");
            out.push_str(TARGET);
            out.push_str("\"}");
        }
    }
    out.push('\n');
}

/// The current time as the `fmt` layer's default timer writes it.
pub(super) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn push_number(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// `{:?}` of a `&str`, without the formatter for the common plain case.
fn push_debug_str(out: &mut String, s: &str) {
    let plain = s
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' && b != b'\'');
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        let _ = write!(out, "{s:?}");
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;
    use crate::transform::ActionCounts;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    /// The line as the `tracing` event it replaces renders it, without the time.
    fn through_tracing(format: LineFormat, log: &RequestLog, status: u16, micros: u64) -> String {
        let capture = Capture::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_ansi(false)
            .without_time();
        let emit = || {
            tracing::info!(
                target: "keyhole::telemetry",
                request_id = %log.request_id,
                method = %log.method,
                route = log.route.as_deref().unwrap_or("-"),
                agent = log.agent.as_deref().unwrap_or("-"),
                vendor = log.vendor.as_deref().unwrap_or("-"),
                ticket = log.ticket.as_deref().unwrap_or("-"),
                status = status,
                disclosed = log.counts.disclosed,
                masked = log.counts.masked,
                tokenized = log.counts.tokenized,
                redacted = log.counts.redacted,
                dropped = log.counts.dropped,
                hidden = log.counts.hidden,
                disclosure = log.disclosure.unwrap_or(0),
                denial = log.denial.as_deref().unwrap_or("-"),
                error = log.error.unwrap_or("-"),
                micros = micros,
                "request"
            )
        };
        match format {
            LineFormat::Text => tracing::subscriber::with_default(builder.finish(), emit),
            LineFormat::Json => {
                tracing::subscriber::with_default(builder.json().flatten_event(true).finish(), emit)
            }
        }
        let bytes = capture.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn logs() -> Vec<RequestLog> {
        let mut full = RequestLog::new("0a1b2c3d-000000000007".into(), "GET");
        full.route = Some("/customers/{customer}".into());
        full.agent = Some("alice".into());
        full.vendor = Some("northwind-support".into());
        full.ticket = Some("T-1001".into());
        full.counts = ActionCounts {
            disclosed: 16,
            masked: 2,
            redacted: 2,
            ..ActionCounts::default()
        };
        full.disclosure = Some(970_348);
        let mut hostile = RequestLog::new("0a1b2c3d-000000000008".into(), "POST");
        // Header and claim values an agent controls: quotes, escapes, control
        // and non-ASCII characters must come out escaped, never raw.
        hostile.ticket = Some("T-\"1\"\\x\t\u{7f}é'".into());
        hostile.agent = Some("a\nb\u{1b}[31m".into());
        hostile.denial = Some("token-not-yours".into());
        hostile.error = Some("upstream-timeout");
        vec![full, hostile, RequestLog::new("r".into(), "DELETE")]
    }

    #[test]
    fn text_line_is_the_line_tracing_writes() {
        for log in logs() {
            let mut ours = String::new();
            render(LineFormat::Text, "T", &log, 403, 3927, &mut ours);
            let theirs = through_tracing(LineFormat::Text, &log, 403, 3927);
            // Without a timer, tracing starts the line at the padded level.
            assert_eq!(ours.strip_prefix("T "), Some(theirs.as_str()));
            // One line, and no terminal escape reaches whoever tails the log.
            assert_eq!(ours.matches('\n').count(), 1);
            assert!(!ours.contains('\u{1b}') && !ours.contains('\t'));
        }
    }

    #[test]
    fn json_line_is_the_line_tracing_writes() {
        for log in logs() {
            let mut ours = String::new();
            render(LineFormat::Json, "T", &log, 200, 12, &mut ours);
            let theirs = through_tracing(LineFormat::Json, &log, 200, 12);
            assert_eq!(
                ours.replace("\"timestamp\":\"T\",", ""),
                theirs,
                "the same keys in the same order"
            );
            let parsed: serde_json::Value = serde_json::from_str(&ours).unwrap();
            assert_eq!(parsed["ticket"], log.ticket.as_deref().unwrap_or("-"));
        }
    }

    #[test]
    fn timestamp_has_the_default_timer_shape() {
        let t = now();
        assert_eq!(t.len(), "2026-11-23T14:48:00.447795Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
