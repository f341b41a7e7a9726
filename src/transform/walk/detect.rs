//! Detectors over text that is about to leave in the clear: a match is
//! revealed only when the ticket justifies it and it is one of the record's own
//! values; otherwise the detector's action conceals it.

use std::borrow::Cow;

use super::record::RecordState;
use super::Walker;
use crate::policy::{Detector, Unlisted};
use crate::transform::doc::Node;

/// What holds for every stretch of text between tokens in one value.
#[derive(Clone, Copy)]
struct Segment {
    /// The ticket justifies the detector's categories for this record.
    justified: bool,
    /// The stretch is the whole value (it holds no tokens).
    whole_input: bool,
}

impl<'a> Walker<'a> {
    /// Runs the detectors over every string in `value` that is about to leave in the clear.
    pub(super) fn scan(&mut self, value: &mut Node<'_>, rec: &mut RecordState<'_>) {
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
        let matches = self.route.detectors.any_match(key);
        if matches {
            self.out.counts.dropped += 1;
        }
        matches
    }

    /// Whether the name of a member no rule covers would show a detector's
    /// match: unlisted members keep their names only when unlisted values pass,
    /// and then a name is scanned like any passed text.
    pub(super) fn name_reveals(&mut self, key: &str) -> bool {
        self.route.unlisted == Unlisted::Pass && self.name_matches(key)
    }

    fn scan_text(&mut self, text: &str, rec: &mut RecordState<'_>) -> Option<String> {
        let detectors = &self.route.detectors;
        if !detectors.any_match(text) {
            return None;
        }
        let mut current: Option<String> = None;
        for index in detectors.matching(text).iter() {
            let detector = &detectors[index];
            let input = current.as_deref().unwrap_or(text);
            // An earlier detector may have replaced what this one matched.
            if current.is_some() && !detector.pattern.is_match(input) {
                continue;
            }
            current = Some(self.apply_detector(detector, input, rec));
        }
        current
    }

    fn apply_detector(
        &mut self,
        detector: &'a Detector,
        input: &str,
        rec: &mut RecordState<'_>,
    ) -> String {
        let justified = !detector.justify.is_empty() && self.justified(&detector.justify, rec);
        // Tokens already in the text (issued by an earlier detector) are kept as
        // they are, and the detector runs on the text between them: a pattern could
        // match a stretch of a token's alphabet, and a match that ran into a token
        // must not take the clear text beside it along with it (an email pattern
        // would otherwise swallow `tok_…x` and leave `@example.com`'s owner shown).
        let mut out = String::with_capacity(input.len());
        let mut last = 0;
        let tokens: Vec<std::ops::Range<usize>> = if input.contains(crate::token::TOKEN_PREFIX) {
            crate::token::find_tokens(input).collect()
        } else {
            Vec::new()
        };
        let segment = Segment {
            justified,
            whole_input: tokens.is_empty(),
        };
        for token in tokens {
            self.detect_in(detector, segment, &input[last..token.start], rec, &mut out);
            out.push_str(&input[token.clone()]);
            last = token.end;
        }
        self.detect_in(detector, segment, &input[last..], rec, &mut out);
        out
    }

    /// Appends `text` to `out` with the detector's matches revealed or concealed.
    fn detect_in(
        &mut self,
        detector: &'a Detector,
        segment: Segment,
        text: &str,
        rec: &mut RecordState<'_>,
        out: &mut String,
    ) {
        let mut last = 0;
        for m in detector.pattern.find_iter(text) {
            out.push_str(&text[last..m.start()]);
            last = m.end();
            let reveal = segment.justified && rec.owns(&detector.class, m.as_str());
            let whole = segment.whole_input && m.start() == 0 && m.end() == text.len();
            if reveal && whole && self.scanning_disclosed {
                out.push_str(m.as_str());
                continue;
            }
            if reveal {
                let mark = self.path.len();
                self.path.push('#');
                self.path.push_str(&detector.name);
                self.disclose(
                    &Node::String(Cow::Borrowed(m.as_str())),
                    &detector.class,
                    rec,
                );
                self.path.truncate(mark);
                out.push_str(m.as_str());
                continue;
            }
            let mut v = Node::String(Cow::Borrowed(m.as_str()));
            self.conceal(&mut v, &detector.action, &detector.class, detector.scope);
            if let Node::String(s) = v {
                out.push_str(&s);
            }
        }
        out.push_str(&text[last..]);
    }
}
