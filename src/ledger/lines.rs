//! Splitting segments into record lines cheaply: a byte search that compiles to
//! wide compares, and a reader that streams a segment through one reused buffer
//! instead of reading it whole into fresh memory (which costs a page fault per
//! 4 KiB and evicts the caches the parser needs).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Read size; the buffer only grows past it for a line longer than this.
const CHUNK: usize = 1 << 20;

/// Position of the first `needle` in `hay`.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LANES: usize = 32;
    let mut chunks = hay.chunks_exact(LANES);
    let mut base = 0;
    for chunk in &mut chunks {
        // No early exit inside a chunk, so the compiler turns this into a few
        // vector compares instead of 32 branches.
        if chunk.iter().fold(false, |hit, &b| hit | (b == needle)) {
            return chunk.iter().position(|&b| b == needle).map(|i| base + i);
        }
        base += LANES;
    }
    let tail = chunks.remainder().iter().position(|&b| b == needle);
    tail.map(|i| base + i)
}

/// The newline-terminated lines of some bytes, without their newlines; bytes
/// after the last newline (an unfinished record) are not a line.
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Lines { rest: bytes }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = find_byte(self.rest, b'\n')?;
        let (line, tail) = self.rest.split_at(end);
        self.rest = &tail[1..];
        Some(line)
    }
}

/// Calls `each` for every complete line of the file at `path`, using `buf` as
/// the read buffer (pass the same one for every segment of a pass). Returns
/// how many bytes followed the last newline: an unfinished line, not handed
/// to `each`.
pub(crate) fn for_each_line(
    path: &Path,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]),
) -> io::Result<usize> {
    let mut file = File::open(path)?;
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match file.read(&mut buf[filled..]) {
            Ok(0) => return Ok(filled),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        let mut lines = Lines::new(&buf[..filled]);
        lines.by_ref().for_each(&mut each);
        // Keep the unfinished last line for the next read.
        let consumed = filled - lines.rest.len();
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_agrees_with_a_plain_search_at_every_position() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = b'\n';
                if at + 1 < len {
                    hay[len - 1] = b'\n';
                }
                assert_eq!(find_byte(&hay, b'\n'), Some(at), "len {len} at {at}");
            }
            assert_eq!(find_byte(&vec![b'x'; len], b'\n'), None);
        }
    }

    #[test]
    fn lines_skip_an_unfinished_tail() {
        let lines: Vec<&[u8]> = Lines::new(b"a\n\nb\nc").collect();
        assert_eq!(lines, [&b"a"[..], b"", b"b"]);
    }

    #[test]
    fn streamed_lines_match_the_whole_file_across_chunk_edges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let mut bytes = Vec::new();
        for i in 0..5000usize {
            // Varying lengths, one far longer than a read chunk.
            let len = if i == 2500 { 3 * CHUNK } else { i % 997 };
            bytes.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(b"unfinished");
        std::fs::write(&path, &bytes).unwrap();
        let expected: Vec<Vec<u8>> = Lines::new(&bytes).map(<[u8]>::to_vec).collect();
        let mut seen = Vec::new();
        let mut buf = Vec::new();
        let unfinished = for_each_line(&path, &mut buf, |line| seen.push(line.to_vec())).unwrap();
        assert_eq!(unfinished, "unfinished".len());
        assert_eq!(seen.len(), 5000);
        assert_eq!(seen, expected);
    }
}
