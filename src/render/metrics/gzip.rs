//! `/metrics` in gzip, with the cached families compressed once per change. They become the
//! start of one gzip member: its header and deflate blocks, ended at a byte boundary by a sync
//! flush and left open ([`Open`]). Each scrape ends that deflate stream with its live families
//! (a few hundred bytes) as stored blocks, which cost a copy where a compressor would cost
//! its setup (tens of microseconds), then the member's trailer (the CRC-32 and length of both
//! parts). One member, not two concatenated ones: RFC 1952 allows those, but curl reads only
//! the first.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// The cached families compressed: an open gzip member.
pub struct Open {
    /// The header and the deflate blocks of the text, sync-flushed, with no last block.
    start: Bytes,
    /// The CRC-32 of the text, to go on over the live families.
    crc: crc32fast::Hasher,
    /// The text's length.
    len: usize,
}

impl Open {
    /// `text` compressed as the start of a member.
    pub fn of(text: &[u8]) -> std::io::Result<Open> {
        let mut gz = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::default());
        gz.write_all(text)?;
        // A sync flush: every byte of the text out, the stream open at a byte boundary.
        gz.flush()?;
        // Taken before the encoder is dropped: dropping it ends its stream, into the empty
        // vector left behind.
        let start = Bytes::from(std::mem::take(gz.get_mut()));
        let mut crc = crc32fast::Hasher::new();
        crc.update(text);
        Ok(Open {
            start,
            crc,
            len: text.len(),
        })
    }

    /// The member with `live` after the text: the shared start, and the live families'
    /// blocks with the trailer.
    pub fn close(&self, live: &[u8]) -> (Bytes, Bytes) {
        let mut end = stored_blocks(live);
        let mut crc = self.crc.clone();
        crc.update(live);
        end.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE: the length modulo 2^32.
        end.extend_from_slice(&((self.len + live.len()) as u32).to_le_bytes());
        (self.start.clone(), Bytes::from(end))
    }
}

/// `data` as the last deflate blocks of a stream that stands at a byte boundary: stored
/// (uncompressed) blocks of at most 65,535 bytes (RFC 1951, 3.2.4), each a header byte
/// (BFINAL on the last, BTYPE 00, then padding to the byte), its length and the length's
/// complement (little-endian), and the bytes.
fn stored_blocks(data: &[u8]) -> Vec<u8> {
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(usize::from(u16::MAX)).collect()
    };
    let mut out = Vec::with_capacity(data.len() + 5 * chunks.len() + 8);
    for (i, chunk) in chunks.iter().enumerate() {
        let len = chunk.len() as u16;
        out.push(u8::from(i + 1 == chunks.len()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(member: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // A single-member reader: a second member would be left unread.
        flate2::read::GzDecoder::new(member)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn the_start_and_each_end_make_one_member_of_both_texts() {
        let text: Vec<u8> = (0..5000)
            .flat_map(|i| format!("copybench_x{{i=\"{i}\"}} {}\n", i * 7).into_bytes())
            .collect();
        let open = Open::of(&text).expect("compressed");
        assert!(
            open.start.len() * 3 < text.len(),
            "{} bytes",
            open.start.len()
        );
        let long: Vec<u8> = (0..70_000).map(|i| b"abc\n"[i % 4]).collect();
        for live in [&b""[..], b"process_open_fds 17\n", &long] {
            let (start, end) = open.close(live);
            let member = [&start[..], &end[..]].concat();
            assert_eq!(gunzip(&member), [&text[..], live].concat());
            // And the whole is one member: nothing follows its trailer.
            let mut decoder = flate2::bufread::GzDecoder::new(&member[..]);
            std::io::copy(&mut decoder, &mut std::io::sink()).expect("read");
            assert!(decoder.into_inner().is_empty(), "bytes after the member");
        }
    }

    #[test]
    fn an_empty_text_still_makes_a_member() {
        let open = Open::of(b"").expect("compressed");
        let (start, end) = open.close(b"a 1\n");
        assert_eq!(gunzip(&[&start[..], &end[..]].concat()), b"a 1\n");
    }
}
