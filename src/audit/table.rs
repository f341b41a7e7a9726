//! Plain aligned text tables for the audit commands' default output.

/// A table with a header row; columns are padded to their widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, ending in a newline.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let cell = |row: &[String], c: usize| row.get(c).map_or("", String::as_str).to_string();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_uppercase()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (c, width) in widths.iter_mut().enumerate() {
                *width = (*width).max(cell(row, c).chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (c, width) in widths.iter().enumerate() {
                let text = cell(row, c);
                line.push_str(&text);
                if c + 1 < cols {
                    let pad = width - text.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(&["seq", "agent"]);
        t.row(vec!["1".into(), "alice".into()]);
        t.row(vec!["1000".into(), "bo".into()]);
        assert_eq!(t.render(), "SEQ   AGENT\n1     alice\n1000  bo\n");
    }
}
