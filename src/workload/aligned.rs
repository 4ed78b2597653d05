//! A byte buffer that starts on a page boundary, for every buffer the kernel copies file data
//! into on the measured path.
//!
//! The kernel's copy to user space (`rep movsb` on CPUs with `erms`/`fsrm`) is very sensitive
//! to the destination's alignment: reading the same 89 KB file into a buffer 8, 16 or 24 bytes
//! past a page boundary can take five times as long as at 0 or 64. A `Vec<u8>` starts wherever
//! the allocator puts it, which differs between processes and runs, so an unaligned buffer
//! adds a bimodal noise of the tool's own to every measurement. This buffer fixes the start of
//! its usable bytes at a page boundary (or, for benchmarks, a chosen offset past one) without
//! `unsafe`: it over-allocates by a page and uses the part that begins at the boundary.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;

/// The boundary the usable bytes start on.
pub const PAGE: usize = 4096;

/// A growable byte buffer whose usable bytes start `offset` bytes past a page boundary
/// (0 unless a benchmark asks otherwise). It grows by doubling; its filled part derefs to
/// `[u8]`.
#[derive(Debug)]
pub struct AlignedBuf {
    storage: Vec<u8>,
    /// Index in `storage` of the first usable byte.
    start: usize,
    /// Usable bytes.
    capacity: usize,
    /// Bytes filled by the last read.
    len: usize,
    offset: usize,
}

impl Default for AlignedBuf {
    fn default() -> Self {
        AlignedBuf::with_offset(0)
    }
}

impl AlignedBuf {
    /// An empty buffer whose usable bytes start `offset` (below [`PAGE`]) bytes past a page
    /// boundary; benchmarks use it to show what misalignment costs.
    pub fn with_offset(offset: usize) -> Self {
        AlignedBuf {
            storage: Vec::new(),
            start: 0,
            capacity: 0,
            len: 0,
            offset: offset % PAGE,
        }
    }

    /// Makes room for at least `capacity` usable bytes, keeping the filled part.
    fn reserve(&mut self, capacity: usize) {
        if capacity <= self.capacity {
            return;
        }
        let mut storage = vec![0; capacity + 2 * PAGE];
        let start = storage.as_ptr().align_offset(PAGE) + self.offset;
        storage[start..start + self.len].copy_from_slice(&self[..]);
        self.storage = storage;
        self.start = start;
        self.capacity = capacity;
    }

    /// The usable bytes past the filled part.
    fn spare(&mut self) -> &mut [u8] {
        &mut self.storage[self.start + self.len..self.start + self.capacity]
    }

    /// Replaces the contents with all of `file` from its current offset, and returns how many
    /// bytes that is. Capacity only grows (doubling, from 64 KiB), so re-reading a file of the
    /// same size costs no allocation: one `read` plus the one that finds the end.
    pub fn read_file(&mut self, file: &mut File) -> io::Result<usize> {
        self.len = 0;
        loop {
            if self.len == self.capacity {
                self.reserve((self.capacity * 2).max(64 * 1024));
            }
            match file.read(self.spare()) {
                Ok(0) => return Ok(self.len),
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Replaces the contents with `bytes`.
    pub fn set(&mut self, bytes: &[u8]) {
        self.len = 0;
        self.reserve(bytes.len());
        self.storage[self.start..self.start + bytes.len()].copy_from_slice(bytes);
        self.len = bytes.len();
    }

    /// Address of the first usable byte, for checks.
    pub fn address(&self) -> usize {
        self.storage[self.start..].as_ptr() as usize
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    /// The filled part.
    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_land_on_the_chosen_offset_past_a_page_boundary_and_grow_by_doubling() {
        let mut file = tempfile::tempfile().expect("file");
        let text: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&text).expect("write");
        for offset in [0, 8, 24, 64] {
            let mut buf = AlignedBuf::with_offset(offset);
            for _ in 0..2 {
                use std::io::Seek;
                file.rewind().expect("rewind");
                assert_eq!(buf.read_file(&mut file).expect("read"), text.len());
                assert_eq!(&buf[..], &text[..]);
                assert_eq!(buf.address() % PAGE, offset);
            }
            assert_eq!(buf.capacity, 256 * 1024, "64 KiB doubled to fit");
        }
    }

    #[test]
    fn set_keeps_alignment_and_an_empty_buffer_is_empty() {
        let mut buf = AlignedBuf::default();
        assert!(buf.is_empty());
        buf.set(b"line1\nline2\n");
        assert_eq!(&buf[..], b"line1\nline2\n");
        assert_eq!(buf.address() % PAGE, 0);
        buf.set(&[7; 5000]);
        assert_eq!((buf.len(), buf.address() % PAGE), (5000, 0));
    }
}
