//! Reading a leaked list, and the equivalent forms of a leaked value.
//!
//! A leaked list is either CSV (any columns: service tag, express service code,
//! phone, email, name, address...; an optional header row is recognised) or one
//! value a line. Each row stands for one leaked customer record; every cell of
//! it is a value that may have been disclosed. Quoted CSV cells may hold commas
//! but not newlines.
//!
//! Rows are returned as they appear, repeats included: which rows are the same
//! is a question of normalized values, answered where they are counted
//! (`attribute`).

use std::fmt;

use crate::ledger::normalize;

/// Normalized values shorter than this are ignored by attribution: "US", "1"
/// or "Y" would match unrelated records.
pub const MIN_VALUE_LEN: usize = 4;

/// One leaked record. Holds customer data, so `Debug` shows only its shape.
#[derive(Clone, PartialEq, Eq)]
pub struct LeakedRow {
    /// 1-based line number in the leaked file.
    pub line: usize,
    /// The row's values, as they appeared.
    pub values: Vec<String>,
}

impl fmt::Debug for LeakedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LeakedRow {{ line: {}, values: {} }}",
            self.line,
            self.values.len()
        )
    }
}

/// Parses a leaked list. Blank lines are skipped.
pub fn parse_leaked(text: &str) -> Vec<LeakedRow> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let csv = lines.peek().is_some_and(|(_, l)| l.contains(','));
    let mut rows = Vec::new();
    let mut first = true;
    for (i, line) in lines {
        let cells = if csv {
            split_csv(line)
        } else {
            vec![line.trim().to_string()]
        };
        if std::mem::take(&mut first) && csv && is_header(&cells) {
            continue;
        }
        let mut values = Vec::new();
        for cell in cells.into_iter().filter(|c| !c.is_empty()) {
            if cell.contains(',') {
                values.extend(cell.split(',').map(|p| p.trim().to_string()));
            }
            values.push(cell);
        }
        rows.push(LeakedRow {
            line: i + 1,
            values,
        });
    }
    rows
}

/// Splits one CSV line, honouring double quotes and `""` escapes.
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_string());
    cells
}

const HEADER_WORDS: &[&str] = &[
    "tag", "service", "express", "code", "phone", "mobile", "email", "mail", "name", "address",
    "street", "city", "zip", "postal", "customer", "serial",
];

fn is_header(cells: &[String]) -> bool {
    let plain = cells
        .iter()
        .all(|c| !c.is_empty() && !c.contains('@') && !c.chars().any(|ch| ch.is_ascii_digit()));
    plain
        && cells.iter().any(|c| {
            let lower = c.to_lowercase();
            HEADER_WORDS.iter().any(|w| lower.contains(w))
        })
}

/// The normalized forms under which `value` may have been disclosed: itself,
/// and for a service tag its express service code (the same number in base 10)
/// and back, and for a North American phone number the form with or without
/// the leading country code 1.
pub fn candidates(value: &str) -> Vec<String> {
    let n = normalize(value);
    let mut out = vec![n.clone()];
    if n.len() == 7 && n.bytes().all(|b| b.is_ascii_alphanumeric()) {
        if let Ok(number) = u64::from_str_radix(&n, 36) {
            out.push(number.to_string());
        }
    }
    if n.bytes().all(|b| b.is_ascii_digit()) {
        if n.len() == 11 && n.starts_with('1') {
            out.push(n[1..].to_string());
        }
        if n.len() == 10 {
            out.push(format!("1{n}"));
        }
        if (8..=11).contains(&n.len()) {
            out.extend(n.parse::<u64>().ok().and_then(base36_tag));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A number as a 7-character base-36 service tag (lowercase, as normalized).
fn base36_tag(mut number: u64) -> Option<String> {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if number >= 36u64.pow(7) {
        return None;
    }
    let mut tag = [b'0'; 7];
    for slot in tag.iter_mut().rev() {
        *slot = DIGITS[(number % 36) as usize];
        number /= 36;
    }
    String::from_utf8(tag.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_quotes_and_addresses() {
        let text = "name,phone,service_tag,address\n\
                    Ann Lee,+1 555 010 2233,7XK2P9Q,\"12 Oak St, Springfield\"\n\
                    \n\
                    \"Bo \"\"B\"\" Ray\",,,\n";
        let rows = parse_leaked(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert!(rows[0].values.contains(&"12 Oak St".to_string()));
        assert!(rows[0]
            .values
            .contains(&"12 Oak St, Springfield".to_string()));
        assert_eq!(rows[1].values, ["Bo \"B\" Ray"]);
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn one_value_a_line_and_headerless_csv() {
        let rows = parse_leaked("7XK2P9Q\nann@example.com\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].values, ["ann@example.com"]);
        let rows = parse_leaked("Ann Lee,5550102233\n");
        assert_eq!(rows.len(), 1, "a data row must not be taken for a header");
    }

    #[test]
    fn service_tag_and_express_code_are_equivalent() {
        let tag = "7XK2P9Q";
        let code = u64::from_str_radix("7xk2p9q", 36).unwrap().to_string();
        assert!(candidates(tag).contains(&code));
        assert!(candidates(&code).contains(&"7xk2p9q".to_string()));
    }

    #[test]
    fn phone_with_and_without_country_code() {
        assert!(candidates("(555) 010-2233").contains(&"15550102233".to_string()));
        assert!(candidates("+1 555 010 2233").contains(&"5550102233".to_string()));
    }

    #[test]
    fn debug_hides_values() {
        let rows = parse_leaked("ann@example.com\n");
        assert!(!format!("{rows:?}").contains("ann"));
    }
}
