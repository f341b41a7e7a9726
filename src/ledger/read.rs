//! Reading records back for the audit queries: segment by segment, parsing each
//! line into borrowed views so a million records cost little more than the
//! bytes they occupy. Chain checks are `audit verify`'s job, not this module's.
//!
//! What cannot be read is counted, never passed over in silence: an answer
//! from part of the ledger must say it is partial. A line that does not parse,
//! bytes after the last newline of any segment but the last (only the newest
//! segment may end in a write a crash interrupted), and a segment that cannot
//! be opened or read, or is not a regular file, all go into [`ReadStats`].

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

pub(crate) use super::lines::find_byte;
use super::lines::{for_each_line, Lines};
use super::segment::{list_segments_and_strays, SegmentFile};
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

/// Where a pass first met something it could not read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unreadable {
    /// The seq the segment's file name says it starts at; orders places
    /// across segments, whichever reader thread met them.
    pub first_seq: u64,
    /// 1-based line in the segment; `None` when the segment as a whole could
    /// not be read.
    pub line: Option<u64>,
    /// The segment's file name.
    pub segment: String,
    /// Why, for a segment that could not be read; `audit verify` says why a
    /// line could not.
    pub problem: Option<String>,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segment)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(problem) = &self.problem {
            write!(f, ": {problem}")?;
        }
        Ok(())
    }
}

/// Counts from a pass over the ledger.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadStats {
    /// Records handed to the callback.
    pub records: u64,
    /// Lines that could not be read as a record (`audit verify` says why).
    pub unreadable: u64,
    /// Segments that could not be read at all, or stopped partway; how many
    /// records they held is unknown.
    pub unreadable_segments: u64,
    /// The first place, in seq order, where something could not be read.
    pub first_unreadable: Option<Unreadable>,
}

impl ReadStats {
    /// True when every record of every segment was read.
    pub fn is_complete(&self) -> bool {
        self.unreadable == 0 && self.unreadable_segments == 0
    }

    /// Adds another pass's counts (over other segments) to these.
    pub fn merge(&mut self, other: ReadStats) {
        self.records += other.records;
        self.unreadable += other.unreadable;
        self.unreadable_segments += other.unreadable_segments;
        if let Some(place) = other.first_unreadable {
            self.note(place);
        }
    }

    fn unreadable_line(&mut self, segment: &SegmentFile, line: u64) {
        self.unreadable += 1;
        self.note(place(segment, Some(line), None));
    }

    fn unreadable_segment(&mut self, segment: &SegmentFile, problem: String) {
        self.unreadable_segments += 1;
        self.note(place(segment, None, Some(problem)));
    }

    /// Keeps `found` if it comes before the first place known so far.
    fn note(&mut self, found: Unreadable) {
        if self
            .first_unreadable
            .as_ref()
            .is_none_or(|kept| found < *kept)
        {
            self.first_unreadable = Some(found);
        }
    }
}

fn place(segment: &SegmentFile, line: Option<u64>, problem: Option<String>) -> Unreadable {
    Unreadable {
        first_seq: segment.first_seq,
        line,
        segment: segment.name(),
        problem,
    }
}

/// The segments of `dir` to read, in seq order, with `stats` already holding
/// the entries named like segments that are not files.
fn segments_to_read(dir: &Path, stats: &mut ReadStats) -> Result<Vec<SegmentFile>, ReadError> {
    let (segments, strays) = list_segments_and_strays(dir).map_err(|source| ReadError {
        path: dir.to_path_buf(),
        source,
    })?;
    for stray in &strays {
        stats.unreadable_segment(stray, "not a regular file".to_string());
    }
    Ok(segments)
}

/// Feeds every complete line of `segment` to `each`, which says whether the
/// line was a readable record, and counts in `stats` what was not.
fn read_segment(
    segment: &SegmentFile,
    last: bool,
    buf: &mut Vec<u8>,
    stats: &mut ReadStats,
    mut each: impl FnMut(&[u8]) -> bool,
) {
    let mut line = 0;
    let read = for_each_line(&segment.path, buf, |bytes| {
        line += 1;
        if each(bytes) {
            stats.records += 1;
        } else {
            stats.unreadable_line(segment, line);
        }
    });
    match read {
        Ok(0) => {}
        // An unfinished write a crash interrupted; it was never acknowledged.
        Ok(_) if last => {}
        // The writer only starts a segment once the one before is complete.
        Ok(_) => stats.unreadable_line(segment, line + 1),
        Err(e) => stats.unreadable_segment(segment, e.to_string()),
    }
}

/// Calls `each` for every readable record of every segment, in seq order. An
/// unfinished final line of the last segment (a crash not yet recovered) is
/// skipped; anything else that cannot be read is counted in the stats.
pub fn for_each_record(
    dir: &Path,
    mut each: impl FnMut(&RecordView<'_>),
) -> Result<ReadStats, ReadError> {
    let mut stats = ReadStats::default();
    let segments = segments_to_read(dir, &mut stats)?;
    let mut buf = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        read_segment(
            segment,
            last,
            &mut buf,
            &mut stats,
            |line| match serde_json::from_slice::<RecordView<'_>>(line) {
                Ok(record) => {
                    each(&record);
                    true
                }
                Err(_) => false,
            },
        );
    }
    Ok(stats)
}

/// Folds every complete line of every segment into per-thread states, reading
/// segments on up to `threads` threads (segments go to whichever thread is
/// free); `each` says whether the line was a readable record. Returns the
/// states, and the stats of the whole pass; which segment landed in which
/// state is arbitrary, so callers merge them order-independently.
pub fn fold_lines<T, I, F>(
    dir: &Path,
    threads: usize,
    init: I,
    each: F,
) -> Result<(Vec<T>, ReadStats), ReadError>
where
    T: Send,
    I: Fn() -> T + Sync,
    F: Fn(&mut T, &[u8]) -> bool + Sync,
{
    let mut stats = ReadStats::default();
    let segments = segments_to_read(dir, &mut stats)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> (T, ReadStats) {
        let mut state = init();
        let mut stats = ReadStats::default();
        let mut buf = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(segment) = segments.get(i) else {
                return (state, stats);
            };
            let last = i + 1 == segments.len();
            read_segment(segment, last, &mut buf, &mut stats, |line| {
                each(&mut state, line)
            });
        }
    };
    let threads = threads.clamp(1, segments.len().max(1));
    let done: Result<Vec<(T, ReadStats)>, ReadError> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().map_err(|_| ReadError {
                    path: dir.to_path_buf(),
                    source: std::io::Error::other("a reader thread failed"),
                })
            })
            .collect()
    });
    let mut states = Vec::new();
    for (state, part) in done? {
        states.push(state);
        stats.merge(part);
    }
    Ok((states, stats))
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
    fn what_cannot_be_read_is_counted_with_its_first_place() {
        use super::super::segment::segment_name;
        let dir = tempfile::tempdir().unwrap();
        let record = |seq: u64| {
            let fields = r#""customers":[],"method":"GET","route":"/","request_id":"r","client":"c","fields":[]"#;
            format!(
                r#"{{"seq":{seq},"entry":{{"kind":"denial","time":"t","agent":"a","vendor":"v",{fields}}}}}"#
            )
        };
        let write = |seq: u64, text: String| {
            std::fs::write(dir.path().join(segment_name(seq)), text).unwrap();
        };
        // An unfinished line ends the first segment, which only a crash
        // in the last segment may leave; the last one's is skipped.
        write(
            1,
            format!("{}\nnot json\n{}\n{{\"seq\":4", record(1), record(3)),
        );
        std::fs::create_dir(dir.path().join(segment_name(5))).unwrap();
        write(9, format!("{}\n{{\"seq\":10", record(9)));
        let mut seen = Vec::new();
        let stats = for_each_record(dir.path(), |r| seen.push(r.seq)).unwrap();
        assert_eq!(seen, [1, 3, 9]);
        assert_eq!(
            (stats.records, stats.unreadable, stats.unreadable_segments),
            (3, 2, 1)
        );
        let first = stats.first_unreadable.unwrap();
        assert_eq!(first.to_string(), format!("{} line 2", segment_name(1)));

        let (states, folded) = fold_lines(dir.path(), 2, Vec::new, |seqs: &mut Vec<u8>, line| {
            seqs.push(line[0]);
            line.starts_with(b"{")
        })
        .unwrap();
        assert_eq!(states.concat().len(), 4);
        assert_eq!(folded.records, 3);
        assert_eq!((folded.unreadable, folded.unreadable_segments), (2, 1));
        let first = folded.first_unreadable.unwrap();
        assert_eq!((first.first_seq, first.line), (1, Some(2)));
    }

    #[test]
    fn complete_lines_skips_an_unfinished_tail() {
        let lines: Vec<&[u8]> = complete_lines(b"a\nb\nc").collect();
        assert_eq!(lines, [&b"a"[..], b"b"]);
        assert_eq!(complete_lines(b"").count(), 0);
        assert_eq!(complete_lines(b"x\n").count(), 1);
    }
}
