//! Compression of stored state: the [`Compressor`] trait and [`ZlibCompressor`].

use std::io::{self, Read, Write};

use flate2::bufread::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

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
#[derive(Debug, Clone, Copy, Default)]
pub struct ZlibCompressor {
    level: Compression,
}

impl ZlibCompressor {
    /// A compressor at the given level, 0 (none) to 9 (best); the default is 6, as zlib's.
    pub fn with_level(level: u32) -> Self {
        ZlibCompressor {
            level: Compression::new(level.min(9)),
        }
    }
}

impl Compressor for ZlibCompressor {
    fn compress(&self, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 2 + 16), self.level);
        encoder.write_all(data)?;
        encoder.finish()
    }

    /// Decompresses one whole zlib stream. A stream that is cut short, damaged (including
    /// its Adler-32 checksum), or followed by more bytes is an error
    /// ([`io::ErrorKind::InvalidData`] for trailing bytes): the compressor never writes
    /// anything after the stream, so bytes there mean the stored state is not what was
    /// written. (Python's `zlib.decompress` ignores trailing bytes.)
    fn decompress(&self, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() * 3);
        // The buffered decoder over the slice consumes exactly the stream, so what is left
        // of the slice afterwards is what followed it.
        let mut decoder = ZlibDecoder::new(data);
        decoder.read_to_end(&mut out)?;
        let trailing = decoder.get_ref().len();
        if trailing > 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{trailing} bytes after the end of the zlib stream"),
            ));
        }
        Ok(out)
    }
}
