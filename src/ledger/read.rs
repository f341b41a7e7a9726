//! Reading records back for the audit queries: segment by segment, parsing each
//! line into borrowed views so a million records cost little more than the
//! bytes they occupy. Chain checks are `audit verify`'s job, not this module's.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

pub(crate) use super::lines::find_byte;
use super::lines::{for_each_line, Lines};
use super::segment::list_segments;
use super::EntryKind;

/// A string borrowed from the segment bytes when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

/// A record as the queries see it.
#[derive(Debug, Deserialize)]
pub struct RecordView<'a> {
    /// Sequence number (the record id).
    pub seq: u64,
    /// The entry.
    #[serde(borrow)]
    pub entry: EntryView<'a>,
}

/// An entry borrowed from its line; see [`super::Entry`] for the meaning of
/// each field.
#[derive(Debug, Deserialize)]
pub struct EntryView<'a> {
    /// Disclosure or denial.
    pub kind: EntryKind,
    /// Denial code.
    #[serde(borrow, default)]
    pub reason: Option<Text<'a>>,
    /// RFC 3339 time.
    #[serde(borrow)]
    pub time: Text<'a>,
    /// Agent id.
    #[serde(borrow)]
    pub agent: Text<'a>,
    /// Vendor.
    #[serde(borrow)]
    pub vendor: Text<'a>,
    /// Ticket id.
    #[serde(borrow, default)]
    pub ticket: Option<Text<'a>>,
    /// Customers concerned.
    #[serde(borrow)]
    pub customers: Vec<Text<'a>>,
    /// HTTP method.
    #[serde(borrow)]
    pub method: Text<'a>,
    /// Route template.
    #[serde(borrow)]
    pub route: Text<'a>,
    /// Request id.
    #[serde(borrow)]
    pub request_id: Text<'a>,
    /// Client address.
    #[serde(borrow)]
    pub client: Text<'a>,
    /// Fields revealed in the clear.
    #[serde(borrow)]
    pub fields: Vec<FieldView<'a>>,
}

/// A revealed field borrowed from its line.
#[derive(Debug, Deserialize)]
pub struct FieldView<'a> {
    /// Customer id.
    #[serde(borrow)]
    pub customer: Text<'a>,
    /// Path in the response.
    #[serde(borrow)]
    pub path: Text<'a>,
    /// Field class.
    #[serde(borrow)]
    pub class: Text<'a>,
    /// Hex keyed fingerprint.
    #[serde(borrow)]
    pub fingerprint: Text<'a>,
}

/// A segment could not be listed or read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read ledger {path}: {source}")]
pub struct ReadError {
    /// The directory or segment.
    pub path: PathBuf,
    /// The underlying error.
    pub source: std::io::Error,
}

/// Counts from a pass over the ledger.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Records handed to the callback.
    pub records: u64,
    /// Complete lines that could not be parsed (`audit verify` says why).
    pub unreadable: u64,
}

/// Calls `each` for every readable record of every segment, in seq order. An
/// unfinished final line (a crash not yet recovered) is skipped.
pub fn for_each_record(
    dir: &Path,
    mut each: impl FnMut(&RecordView<'_>),
) -> Result<ReadStats, ReadError> {
    let segments = list_segments(dir).map_err(|source| ReadError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut stats = ReadStats::default();
    let mut buf = Vec::new();
    for segment in segments {
        let each_line = |line: &[u8]| match serde_json::from_slice::<RecordView<'_>>(line) {
            Ok(record) => {
                stats.records += 1;
                each(&record);
            }
            Err(_) => stats.unreadable += 1,
        };
        for_each_line(&segment.path, &mut buf, each_line).map_err(|source| ReadError {
            path: segment.path.clone(),
            source,
        })?;
    }
    Ok(stats)
}

/// Folds every complete line of every segment into per-thread states, reading
/// segments on up to `threads` threads (segments go to whichever thread is
/// free). Returns the states; which segment landed in which state is arbitrary,
/// so callers merge them order-independently.
pub fn fold_lines<T, I, F>(
    dir: &Path,
    threads: usize,
    init: I,
    each: F,
) -> Result<Vec<T>, ReadError>
where
    T: Send,
    I: Fn() -> T + Sync,
    F: Fn(&mut T, &[u8]) + Sync,
{
    let segments = list_segments(dir).map_err(|source| ReadError {
        path: dir.to_path_buf(),
        source,
    })?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> Result<T, ReadError> {
        let mut state = init();
        let mut buf = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(segment) = segments.get(i) else {
                return Ok(state);
            };
            for_each_line(&segment.path, &mut buf, |line| each(&mut state, line)).map_err(
                |source| ReadError {
                    path: segment.path.clone(),
                    source,
                },
            )?;
        }
    };
    let threads = threads.clamp(1, segments.len().max(1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ReadError {
                        path: dir.to_path_buf(),
                        source: std::io::Error::other("a reader thread failed"),
                    })
                })
            })
            .collect()
    })
}

/// Threads worth using for a pass over the ledger.
pub fn reader_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The newline-terminated lines of `bytes`, without their newlines.
pub fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    Lines::new(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_borrows_plain_strings_and_owns_escaped_ones() {
        let plain: Vec<Text<'_>> = serde_json::from_str(r#"["alice"]"#).unwrap();
        assert!(matches!(plain[0].0, Cow::Borrowed("alice")));
        let escaped: Vec<Text<'_>> = serde_json::from_str(r#"["a\"b"]"#).unwrap();
        assert_eq!(escaped[0].as_str(), "a\"b");
    }

    #[test]
    fn complete_lines_skips_an_unfinished_tail() {
        let lines: Vec<&[u8]> = complete_lines(b"a\nb\nc").collect();
        assert_eq!(lines, [&b"a"[..], b"b"]);
        assert_eq!(complete_lines(b"").count(), 0);
        assert_eq!(complete_lines(b"x\n").count(), 1);
    }
}
