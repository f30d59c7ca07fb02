//! Application-level encryption of stored state: the [`Cipher`] trait and [`AesCipher`].

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{AeadInPlace, KeyInit, OsRng};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce, Tag};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::error::CipherError;

/// Encrypts stored state before it is written, and decrypts it when read.
///
/// The [`Mapper`](super::Mapper) compresses first, then encrypts; reading reverses the order.
pub trait Cipher: Send + Sync {
    /// Encrypts `plaintext`.
    fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError>;

    /// Decrypts what [`encrypt`](Cipher::encrypt) produced; damaged data or a wrong key is an
    /// error, never garbage.
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CipherError>;
}

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

type Aes192Gcm = AesGcm<Aes192, aes_gcm::aead::consts::U12>;

enum AesGcmKey {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// AES in GCM mode with a 128-, 192- or 256-bit key: the reference library's `AESCipher`.
///
/// Each encryption uses a fresh random 96-bit nonce, so the same plaintext encrypts to different
/// bytes every time. The output is laid out as the reference lays it out — nonce (12 bytes),
/// tag (16 bytes), cipher text — so it is 28 bytes longer than the plaintext.
///
/// ```
/// use eventsourcing::persistence::{AesCipher, Cipher};
///
/// let key = AesCipher::create_key(32).unwrap(); // base64 of 32 random bytes
/// let cipher = AesCipher::new(&key).unwrap();
/// let secret = cipher.encrypt(b"dinosaurs").unwrap();
/// assert_eq!(secret.len(), 9 + 28);
/// assert_eq!(cipher.decrypt(&secret).unwrap(), b"dinosaurs");
/// ```
pub struct AesCipher {
    key: AesGcmKey,
}

impl AesCipher {
    /// The key sizes AES accepts, in bytes.
    pub const KEY_SIZES: [usize; 3] = [16, 24, 32];

    /// A new random key of `num_bytes` bytes (16, 24 or 32), base64-encoded: what `CIPHER_KEY`
    /// holds.
    pub fn create_key(num_bytes: usize) -> Result<String, CipherError> {
        Self::check_key_size(num_bytes)?;
        let mut key = vec![0u8; num_bytes];
        OsRng.fill_bytes(&mut key);
        Ok(BASE64.encode(key))
    }

    /// A cipher with the given base64-encoded key of 16, 24 or 32 bytes.
    pub fn new(cipher_key: &str) -> Result<Self, CipherError> {
        let key = BASE64
            .decode(cipher_key.trim().as_bytes())
            .map_err(|e| CipherError::KeyNotBase64(e.to_string()))?;
        Self::from_key_bytes(&key)
    }

    /// A cipher with the given raw key of 16, 24 or 32 bytes.
    pub fn from_key_bytes(key: &[u8]) -> Result<Self, CipherError> {
        Self::check_key_size(key.len())?;
        let invalid = |_| CipherError::InvalidKeySize(key.len());
        let key = match key.len() {
            16 => AesGcmKey::Aes128(Box::new(Aes128Gcm::new_from_slice(key).map_err(invalid)?)),
            24 => AesGcmKey::Aes192(Box::new(Aes192Gcm::new_from_slice(key).map_err(invalid)?)),
            _ => AesGcmKey::Aes256(Box::new(Aes256Gcm::new_from_slice(key).map_err(invalid)?)),
        };
        Ok(AesCipher { key })
    }

    fn check_key_size(num_bytes: usize) -> Result<(), CipherError> {
        if Self::KEY_SIZES.contains(&num_bytes) {
            Ok(())
        } else {
            Err(CipherError::InvalidKeySize(num_bytes))
        }
    }

    /// The key size in bits.
    pub fn key_bits(&self) -> usize {
        match self.key {
            AesGcmKey::Aes128(_) => 128,
            AesGcmKey::Aes192(_) => 192,
            AesGcmKey::Aes256(_) => 256,
        }
    }
}

impl fmt::Debug for AesCipher {
    /// Never shows the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AesCipher(AES-{}-GCM)", self.key_bits())
    }
}

impl Cipher for AesCipher {
    fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let nonce = Nonce::from(nonce);
        // Layout: nonce | tag | cipher text. The tag is only known after encrypting, so the
        // cipher text is encrypted in place behind room left for it.
        let mut out = Vec::with_capacity(NONCE_LEN + TAG_LEN + plaintext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&[0u8; TAG_LEN]);
        out.extend_from_slice(plaintext);
        let buffer = &mut out[NONCE_LEN + TAG_LEN..];
        let tag = match &self.key {
            AesGcmKey::Aes128(c) => c.encrypt_in_place_detached(&nonce, b"", buffer),
            AesGcmKey::Aes192(c) => c.encrypt_in_place_detached(&nonce, b"", buffer),
            AesGcmKey::Aes256(c) => c.encrypt_in_place_detached(&nonce, b"", buffer),
        }
        .map_err(|e| CipherError::EncryptionFailed(e.to_string()))?;
        out[NONCE_LEN..NONCE_LEN + TAG_LEN].copy_from_slice(&tag);
        Ok(out)
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CipherError> {
        if ciphertext.len() < NONCE_LEN {
            return Err(CipherError::InvalidNonceLength);
        }
        if ciphertext.len() < NONCE_LEN + TAG_LEN {
            return Err(CipherError::InvalidTagLength);
        }
        let nonce = Nonce::from_slice(&ciphertext[..NONCE_LEN]);
        let tag = Tag::from_slice(&ciphertext[NONCE_LEN..NONCE_LEN + TAG_LEN]);
        let mut buffer = ciphertext[NONCE_LEN + TAG_LEN..].to_vec();
        match &self.key {
            AesGcmKey::Aes128(c) => c.decrypt_in_place_detached(nonce, b"", &mut buffer, tag),
            AesGcmKey::Aes192(c) => c.decrypt_in_place_detached(nonce, b"", &mut buffer, tag),
            AesGcmKey::Aes256(c) => c.decrypt_in_place_detached(nonce, b"", &mut buffer, tag),
        }
        .map_err(|_| CipherError::Damaged)?;
        Ok(buffer)
    }
}
