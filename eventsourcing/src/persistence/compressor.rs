//! Compression of stored state: the [`Compressor`] trait and [`ZlibCompressor`].

use std::cell::RefCell;
use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compresses stored state before it is written (and before it is encrypted), and decompresses
/// it when read.
pub trait Compressor: Send + Sync {
    /// Compresses `data`.
    fn compress(&self, data: &[u8]) -> io::Result<Vec<u8>>;

    /// Decompresses what [`compress`](Compressor::compress) produced; damaged data is an error.
    fn decompress(&self, data: &[u8]) -> io::Result<Vec<u8>>;
}

/// zlib compression (a 2-byte header, deflate, an Adler-32 trailer), as Python's `zlib`
/// module writes it: the reference library's `ZlibCompressor`.
///
/// ```
/// use eventsourcing::persistence::{Compressor, ZlibCompressor};
///
/// let zlib = ZlibCompressor::default();
/// let data = b"dinosaurs dinosaurs dinosaurs dinosaurs".repeat(10);
/// let compressed = zlib.compress(&data).unwrap();
/// assert!(compressed.len() < data.len());
/// assert_eq!(zlib.decompress(&compressed).unwrap(), data);
/// ```
///
/// States under 256 bytes are compressed at level 1 at most, whatever the level set: they hardly
/// compress at any level, and the better levels cost more than twice the time.
///
/// Decompressing stops with an error past [`DEFAULT_MAX_DECOMPRESSED_LEN`] bytes (or the bound
/// set with [`with_max_decompressed_len`](ZlibCompressor::with_max_decompressed_len)), so that
/// a damaged or forged state can't make a reader allocate without bound (a few kilobytes of
/// zlib can stand for gigabytes).
#[derive(Debug, Clone, Copy)]
pub struct ZlibCompressor {
    level: Compression,
    max_decompressed_len: usize,
}

/// States shorter than this are compressed at level 1 at most (see [`ZlibCompressor`]).
const SMALL_STATE: usize = 256;

/// The most bytes a [`ZlibCompressor`] decompresses one state to, unless told otherwise:
/// 64 MiB, far above any event's state.
pub const DEFAULT_MAX_DECOMPRESSED_LEN: usize = 64 << 20;

impl Default for ZlibCompressor {
    fn default() -> Self {
        ZlibCompressor {
            level: Compression::default(),
            max_decompressed_len: DEFAULT_MAX_DECOMPRESSED_LEN,
        }
    }
}

impl ZlibCompressor {
    /// A compressor at the given level, 0 (none) to 9 (best); the default is 6, as zlib's.
    pub fn with_level(level: u32) -> Self {
        ZlibCompressor {
            level: Compression::new(level.min(9)),
            ..ZlibCompressor::default()
        }
    }

    /// The same compressor, refusing to decompress a state to more than `max` bytes.
    ///
    /// ```
    /// use eventsourcing::persistence::{Compressor, ZlibCompressor};
    ///
    /// let zlib = ZlibCompressor::default().with_max_decompressed_len(1000);
    /// let bomb = zlib.compress(&[0; 100_000]).unwrap();
    /// assert!(bomb.len() < 200);
    /// assert!(zlib.decompress(&bomb).is_err());
    /// ```
    pub fn with_max_decompressed_len(mut self, max: usize) -> Self {
        self.max_decompressed_len = max;
        self
    }
}

// A deflate stream's state is large (its window and hash tables): setting one up for every
// event cost more than compressing the event. Each thread keeps one per level it has used (at
// most two: small states are compressed at level 1) and one decompressor, and resets them.
thread_local! {
    static COMPRESS: RefCell<Vec<(u32, Compress)>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESS: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

fn io_error(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Compressor for ZlibCompressor {
    fn compress(&self, data: &[u8]) -> io::Result<Vec<u8>> {
        COMPRESS.with(|cell| {
            let mut streams = cell.borrow_mut();
            // Small states hardly compress, whatever the level, and deflate's search costs
            // most of the time: at most level 1 for them (a 101-byte event state: 94 bytes in
            // 6.8 µs at level 6, 100 bytes in 2.6 µs at level 1). Still the zlib format.
            let level = if data.len() < SMALL_STATE {
                self.level.level().min(1)
            } else {
                self.level.level()
            };
            let at = match streams.iter().position(|(l, _)| *l == level) {
                Some(at) => {
                    streams[at].1.reset();
                    at
                }
                None => {
                    streams.push((level, Compress::new(Compression::new(level), true)));
                    streams.len() - 1
                }
            };
            let compress = &mut streams[at].1;
            // Room for incompressible data: deflate adds at most 5 bytes per 16 KiB block, plus
            // the zlib header and trailer.
            let mut out = Vec::with_capacity(data.len() + data.len() / 16_000 * 5 + 64);
            loop {
                let consumed = compress.total_in() as usize;
                let status = compress
                    .compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)
                    .map_err(io_error)?;
                match status {
                    Status::StreamEnd => return Ok(out),
                    Status::Ok | Status::BufError => out.reserve(out.capacity().max(64)),
                }
            }
        })
    }

    fn decompress(&self, data: &[u8]) -> io::Result<Vec<u8>> {
        DECOMPRESS.with(|cell| {
            let mut slot = cell.borrow_mut();
            let decompress = match &mut *slot {
                Some(decompress) => {
                    decompress.reset(true);
                    decompress
                }
                None => slot.insert(Decompress::new(true)),
            };
            let max = self.max_decompressed_len;
            let mut out = Vec::with_capacity(data.len().saturating_mul(4).clamp(64, max.max(64)));
            loop {
                let consumed = decompress.total_in() as usize;
                let before = (consumed, out.len());
                let status = decompress
                    .decompress_vec(&data[consumed..], &mut out, FlushDecompress::None)
                    .map_err(io_error)?;
                match status {
                    Status::StreamEnd if out.len() > max => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("the zlib stream decompresses to more than {max} bytes"),
                        ));
                    }
                    Status::StreamEnd => {
                        if decompress.total_in() as usize != data.len() {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "unexpected bytes after the end of the zlib stream",
                            ));
                        }
                        return Ok(out);
                    }
                    _ if out.len() > max => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("the zlib stream decompresses to more than {max} bytes"),
                        ));
                    }
                    _ if out.len() == out.capacity() => {
                        out.reserve_exact(out.capacity().min(max + 1 - out.len()))
                    }
                    _ if (decompress.total_in() as usize, out.len()) == before => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the zlib stream ends early (truncated or damaged)",
                        ));
                    }
                    _ => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_states_are_compressed_fast_and_large_ones_as_configured() {
        let best = ZlibCompressor::with_level(9);
        let small = br#"{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-04T19:17:06.050261+00:00"},"trick":"trick-0"}"#;
        let compressed = best.compress(small).unwrap();
        // zlib's header says the level class: 0x01 is "fastest" (level 1), 0xDA "best".
        assert_eq!(compressed[..2], [0x78, 0x01]);
        assert_eq!(best.decompress(&compressed).unwrap(), small);
        let large = small.repeat(10);
        let compressed = best.compress(&large).unwrap();
        assert_eq!(compressed[..2], [0x78, 0xDA]);
        assert_eq!(best.decompress(&compressed).unwrap(), large);
        // Both streams of this thread are kept and reused, alternately.
        for _ in 0..3 {
            assert_eq!(
                best.decompress(&best.compress(small).unwrap()).unwrap(),
                small
            );
            assert_eq!(
                best.decompress(&best.compress(&large).unwrap()).unwrap(),
                large
            );
        }
        let stored = ZlibCompressor::with_level(0).compress(small).unwrap();
        assert_eq!(
            ZlibCompressor::default().decompress(&stored).unwrap(),
            small
        );
    }
}
