//! `/metrics` in gzip, with the cached families compressed once per change. They become the
//! start of one gzip member: its header and deflate blocks, ended at a byte boundary by a sync
//! flush and left open ([`Open`]). The live families (about a kilobyte) end that deflate
//! stream, compressed by a compressor kept per thread and reset (setting one up costs more
//! than compressing them), then the member's trailer (the CRC-32 and length of both parts).
//! One member, not two concatenated ones: RFC 1952 allows those, but curl reads only the
//! first.

use std::cell::RefCell;
use std::io::Write;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::{Compress, CompressError, Compression, FlushCompress, Status};

thread_local! {
    /// A raw deflate compressor for the live families, reset for each scrape.
    static LAST_BLOCKS: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

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

    /// The start of the member, shared by every scrape: the header and the text's blocks.
    pub fn start(&self) -> Bytes {
        self.start.clone()
    }

    /// The end of the member with `live` after the text: the live families' blocks and the
    /// trailer.
    pub fn end(&self, live: &[u8]) -> Result<Bytes, CompressError> {
        let mut end = last_blocks(live)?;
        let mut crc = self.crc.clone();
        crc.update(live);
        end.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE: the length modulo 2^32.
        end.extend_from_slice(&((self.len + live.len()) as u32).to_le_bytes());
        Ok(Bytes::from(end))
    }
}

/// `data` compressed as the last deflate blocks of a stream (the thread's compressor, reset:
/// a new one would start at a byte boundary, as the open member stands).
fn last_blocks(data: &[u8]) -> Result<Vec<u8>, CompressError> {
    LAST_BLOCKS.with_borrow_mut(|deflate| {
        deflate.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let consumed = deflate.total_in() as usize;
            if deflate.compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)?
                == Status::StreamEnd
            {
                return Ok(out);
            }
            out.reserve(out.capacity());
        }
    })
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
            let end = open.end(live).expect("closed");
            let member = [&open.start()[..], &end[..]].concat();
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
        let end = open.end(b"a 1\n").expect("closed");
        assert_eq!(gunzip(&[&open.start()[..], &end[..]].concat()), b"a 1\n");
    }
}
