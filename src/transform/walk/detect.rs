//! Detectors over text that is about to leave in the clear: a match is
//! revealed only when the ticket justifies it and it is one of the record's own
//! values; otherwise the detector's action conceals it.

use std::borrow::Cow;
use std::ops::Range;

use regex::Regex;

use super::record::RecordState;
use super::Walker;
use crate::policy::tree::RuleNode;
use crate::policy::{Detector, Detectors, Unlisted, REDACTED};
use crate::transform::doc::Node;

/// What holds for every unsettled stretch of one value under one detector.
#[derive(Clone, Copy)]
struct Segment {
    /// The ticket justifies the detector's categories for this record.
    justified: bool,
    /// Nothing in the value is settled yet, so a stretch is the whole value.
    whole_input: bool,
}

impl<'a> Walker<'a> {
    /// Runs the detectors over every string in `value` that is about to leave in the clear.
    pub(super) fn scan(&mut self, value: &mut Node<'_>, rec: &mut RecordState<'_>) {
        // A policy without detectors leaves every value as it is.
        if self.route.detectors.is_empty() {
            return;
        }
        match value {
            Node::String(s) => {
                if let Some(replaced) = self.scan_text(s, rec) {
                    *s = Cow::Owned(replaced);
                }
            }
            Node::Number(n) => {
                let text = n.to_string();
                if let Some(replaced) = self.scan_text(&text, rec) {
                    *value = Node::String(Cow::Owned(replaced));
                }
            }
            Node::Array(items) => items.iter_mut().for_each(|v| self.scan(v, rec)),
            Node::Object(members) => {
                members.retain(|(key, _)| !self.name_matches(key));
                members.iter_mut().for_each(|(_, v)| self.scan(v, rec));
            }
            _ => {}
        }
    }

    /// Whether a detector matches a member's name. A name cannot be masked in
    /// place, so such a member goes (and is counted as dropped).
    fn name_matches(&mut self, key: &str) -> bool {
        let matches = any_reading_matches(&self.route.detectors, key);
        if matches {
            self.out.counts.dropped += 1;
        }
        matches
    }

    /// Whether the name of a member no rule covers (`node` is `None`) would
    /// show a detector's match: unlisted members keep their names only when
    /// unlisted values pass, and then a name is scanned like any passed text.
    pub(super) fn name_reveals(&mut self, key: &str, node: Option<&RuleNode>) -> bool {
        node.is_none() && self.route.unlisted == Unlisted::Pass && self.name_matches(key)
    }

    /// The detectors over one string: `None` when nothing in it is concealed.
    ///
    /// Concealing a match changes what its neighbours look like: a code glued
    /// to an email (`…@x.org6166701043`) is a word of its own once the email
    /// is masked (`…****6166701043`), for a detector that already ran. So the
    /// detectors run again over what is still unsettled until a pass conceals
    /// nothing; each concealing pass settles more of the text, so it ends.
    fn scan_text(&mut self, text: &str, rec: &mut RecordState<'_>) -> Option<String> {
        let detectors = &self.route.detectors;
        if !any_reading_matches(detectors, text) {
            return None;
        }
        let mut draft = Draft {
            text: Cow::Borrowed(text),
            settled: self.authentic_tokens(text),
        };
        let mut concealed = false;
        for _ in 0..MAX_PASSES {
            let mut pass_concealed = false;
            let matching = MatchingDetectors::of(detectors, &draft.text);
            for (index, detector) in detectors.iter().enumerate() {
                if matching.matched(index) {
                    let (next, did_conceal) = self.apply_detector(detector, &draft, rec);
                    draft = next;
                    pass_concealed |= did_conceal;
                }
            }
            if !pass_concealed {
                return concealed.then(|| draft.text.into_owned());
            }
            concealed = true;
        }
        // Still finding more to conceal: show none of it.
        self.out.counts.redacted += 1;
        Some(REDACTED.to_owned())
    }

    /// Tokens this gateway issued that are in the text already: kept as they
    /// are. An upstream could write token-shaped text with a value glued on
    /// (`tok_k1_AAAA…-<tag>`, a body runs on through `-` and letters) to hide
    /// the value, so text that does not open as a token is scanned like any.
    fn authentic_tokens(&self, text: &str) -> Vec<Range<usize>> {
        if !text.contains(crate::token::TOKEN_PREFIX) {
            return Vec::new();
        }
        let vault = &self.judge.vault;
        crate::token::find_tokens(text)
            .filter(|r| vault.is_authentic(&text[r.clone()]))
            .collect()
    }

    /// One detector over the unsettled stretches of `draft`: the new draft,
    /// and whether anything was concealed.
    fn apply_detector<'t>(
        &mut self,
        detector: &'a Detector,
        draft: &Draft<'_>,
        rec: &mut RecordState<'_>,
    ) -> (Draft<'t>, bool) {
        let justified = !detector.justify.is_empty() && self.justified(&detector.justify, rec);
        let mut next = Draft {
            text: Cow::Owned(String::with_capacity(draft.text.len())),
            settled: Vec::new(),
        };
        let segment = Segment {
            justified,
            whole_input: draft.settled.is_empty(),
        };
        let mut concealed = false;
        let mut last = 0;
        for span in &draft.settled {
            let text = &draft.text[last..span.start];
            concealed |= self.detect_in(detector, segment, text, rec, &mut next);
            next.keep(&draft.text[span.clone()]);
            last = span.end;
        }
        concealed |= self.detect_in(detector, segment, &draft.text[last..], rec, &mut next);
        (next, concealed)
    }

    /// Appends `text` to `next` with the detector's matches revealed or
    /// concealed (and settled either way); whether anything was concealed.
    fn detect_in(
        &mut self,
        detector: &'a Detector,
        segment: Segment,
        text: &str,
        rec: &mut RecordState<'_>,
        next: &mut Draft<'_>,
    ) -> bool {
        let mut concealed = false;
        let mut last = 0;
        for span in match_spans(&detector.pattern, text) {
            next.push(&text[last..span.start]);
            last = span.end;
            let found = &text[span.clone()];
            let reveal = segment.justified && rec.owns(&detector.class, found);
            let whole = segment.whole_input && span.start == 0 && span.end == text.len();
            if reveal && whole && self.scanning_disclosed {
                next.keep(found);
                continue;
            }
            if reveal {
                let mark = self.path.len();
                self.path.push('#');
                self.path.push_str(&detector.name);
                self.disclose(&Node::String(Cow::Borrowed(found)), &detector.class, rec);
                self.path.truncate(mark);
                next.keep(found);
                continue;
            }
            let mut v = Node::String(Cow::Borrowed(found));
            self.conceal(&mut v, &detector.action, &detector.class, detector.scope);
            if let Node::String(s) = v {
                next.keep(&s);
            }
            concealed = true;
        }
        next.push(&text[last..]);
        concealed
    }
}

/// Detector passes over one string before it is redacted whole. Each pass
/// that conceals settles more of the text, and one value unmasked by another's
/// concealment takes one more pass: real text needs two or three.
const MAX_PASSES: usize = 8;

/// A string part way through the detectors.
struct Draft<'t> {
    /// The text so far (the original until a detector rewrites it).
    text: Cow<'t, str>,
    /// Stretches later passes leave alone, in order: matches already revealed
    /// or concealed, and the gateway's own tokens.
    settled: Vec<Range<usize>>,
}

impl Draft<'_> {
    /// Appends `text`.
    fn push(&mut self, text: &str) {
        self.text.to_mut().push_str(text);
    }

    /// Appends `text` as settled.
    fn keep(&mut self, text: &str) {
        let start = self.text.len();
        self.push(text);
        self.settled.push(start..self.text.len());
    }
}

/// Which detectors match either reading of a text.
struct MatchingDetectors {
    /// On the text as it is.
    plain: regex::SetMatches,
    /// With underscores read as spaces, when it has any.
    spaced: Option<regex::SetMatches>,
}

impl MatchingDetectors {
    fn of(detectors: &Detectors, text: &str) -> Self {
        MatchingDetectors {
            plain: detectors.matching(text),
            spaced: underscores_as_spaces(text).map(|spaced| detectors.matching(&spaced)),
        }
    }

    fn matched(&self, index: usize) -> bool {
        self.plain.matched(index) || self.spaced.as_ref().is_some_and(|m| m.matched(index))
    }
}

// Detectors read text two ways. Patterns bound values by `\b`, for which an
// underscore is part of a word, yet file names and identifiers use it as a
// separator (`invoice_<tag>.pdf`). So text holding underscores is also read
// with them as spaces, and what either reading matches is concealed. The two
// readings have the same length, so their byte offsets agree.

/// `text` with every `_` read as a space, when it has any.
fn underscores_as_spaces(text: &str) -> Option<String> {
    text.contains('_').then(|| text.replace('_', " "))
}

/// Whether any detector matches either reading of `text`.
fn any_reading_matches(detectors: &Detectors, text: &str) -> bool {
    // Without detectors there is nothing to read, nor a spaced copy to make.
    !detectors.is_empty()
        && (detectors.any_match(text)
            || underscores_as_spaces(text).is_some_and(|spaced| detectors.any_match(&spaced)))
}

/// Where `pattern` matches either reading of `text`, in order, with
/// overlapping matches merged into one span.
fn match_spans<'r, 'h>(pattern: &'r Regex, text: &'h str) -> Spans<'r, 'h> {
    let Some(spaced) = underscores_as_spaces(text) else {
        return Spans::Plain(pattern.find_iter(text));
    };
    let mut spans: Vec<Range<usize>> = pattern.find_iter(text).map(|m| m.range()).collect();
    spans.extend(pattern.find_iter(&spaced).map(|m| m.range()));
    spans.sort_unstable_by_key(|span| (span.start, span.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    Spans::Merged(merged.into_iter())
}

/// The spans [`match_spans`] finds: straight from the regex when the text
/// has one reading, else the merged list.
enum Spans<'r, 'h> {
    Plain(regex::Matches<'r, 'h>),
    Merged(std::vec::IntoIter<Range<usize>>),
}

impl Iterator for Spans<'_, '_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        match self {
            Spans::Plain(matches) => matches.next().map(|m| m.range()),
            Spans::Merged(spans) => spans.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_readings_are_matched_and_overlaps_merged() {
        let tag = Regex::new(r"\b[A-Z0-9]{7}\b").unwrap();
        let spans = |pattern: &Regex, text: &str| match_spans(pattern, text).collect::<Vec<_>>();
        assert_eq!(spans(&tag, "a H1TKYQA b"), vec![2..9]);
        assert_eq!(spans(&tag, "invoice_H1TKYQA.pdf"), vec![8..15]);
        assert_eq!(
            spans(&tag, "H1TKYQA_X2TKYQB"),
            vec![0..7, 8..15],
            "two tags, one underscore apart"
        );
        // The spaced reading finds `doe@…` inside the whole address: one span.
        let email = Regex::new(r"[A-Za-z0-9._%+-]+@[a-z.]+\.[a-z]{2,}").unwrap();
        assert_eq!(spans(&email, "mail john_doe@x.com now"), vec![5..19]);
        assert!(spans(&tag, "no_tags_here").is_empty());
    }
}
