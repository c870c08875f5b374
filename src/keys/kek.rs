//! The key-encryption key (KEK) and the at-rest encryption of private signing keys.
//!
//! A stored private key is `nonce (12 bytes) ‖ AES-256-GCM(PKCS#8 DER) ‖ tag (16 bytes)`, with
//! the key's `kid` as additional authenticated data so a blob cannot be moved to another record.

use super::KeyError;
use crate::secret::{Secret, random_bytes};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Length of the GCM authentication tag appended to the ciphertext.
const TAG_LEN: usize = 16;

/// Standard alphabet, padding optional (URL-safe input is mapped onto it first).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The 32-byte AES-256-GCM key that encrypts private keys at rest. Never printed.
pub struct Kek([u8; 32]);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Drop for Kek {
    fn drop(&mut self) {
        self.0.fill(0);
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

impl Kek {
    /// Parses base64 (standard or url-safe, padded or not) of exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Kek, KeyError> {
        let normalised: String = encoded
            .trim()
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                other => other,
            })
            .collect();
        let bytes = LENIENT
            .decode(normalised.as_bytes())
            .map_err(|_| KeyError::MalformedKek)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::MalformedKek)?;
        Ok(Kek(key))
    }

    /// A fresh random key.
    pub fn generate() -> Kek {
        Kek(random_bytes::<32>())
    }

    /// Its base64 form, for writing to a file.
    pub fn to_base64(&self) -> Secret {
        Secret::new(STANDARD.encode(self.0))
    }

    /// Reads the key from `path`, or generates one there (mode 0600, parent created) if absent.
    ///
    /// Creation is atomic: the key is written to a private temporary file and hard-linked into
    /// place, so two processes starting at once agree on one key and neither reads a half file.
    pub fn load_or_create(path: &Path) -> Result<Kek, KeyError> {
        let file_error = |source: std::io::Error| KeyError::KekFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(contents) => return Self::parse_file(path, &contents),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(e)),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(file_error)?;
        }
        let kek = Kek::generate();
        let temp = temp_path(path);
        let written = write_private(&temp, kek.to_base64().expose());
        let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
        // The temporary name is ours alone; failing to remove it only leaves a stray file.
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "generated a new key-encryption key");
                Ok(kek)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let contents = std::fs::read_to_string(path).map_err(file_error)?;
                Self::parse_file(path, &contents)
            }
            Err(e) => Err(file_error(e)),
        }
    }

    fn parse_file(path: &Path, contents: &str) -> Result<Kek, KeyError> {
        warn_if_readable_by_others(path);
        Kek::from_base64(contents).map_err(|_| KeyError::KekFile {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the key-encryption key must be base64 of exactly 32 bytes",
            ),
        })
    }

    fn aead_key(&self) -> Result<LessSafeKey, KeyError> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| KeyError::Crypto("AES-256-GCM key setup failed".into()))
    }

    /// Encrypts a PKCS#8 private key for storage, bound to `kid`.
    pub(crate) fn seal(&self, kid: &str, pkcs8: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = self.aead_key()?;
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut in_out = pkcs8.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(kid.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| KeyError::Crypto("AES-256-GCM encryption failed".into()))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&nonce_bytes);
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts a stored private key. Any failure (wrong KEK, a blob moved from another kid,
    /// corruption) is [`KeyError::WrongKek`]: it can only be told apart by guessing.
    pub(crate) fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(KeyError::WrongKek);
        }
        let key = self.aead_key()?;
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::WrongKek)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| KeyError::WrongKek)?;
        Ok(plaintext.to_vec())
    }
}

/// A sibling of `path` that no other process will pick.
fn temp_path(path: &Path) -> PathBuf {
    let suffix: String = random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{suffix}"));
    path.with_file_name(name)
}

/// Creates `path` (which must not exist) readable by its owner only, and writes `contents`.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "key-encryption key file is accessible to other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    #[test]
    fn kek_round_trips_through_base64() {
        let kek = Kek::generate();
        let encoded = kek.to_base64();
        let back = Kek::from_base64(encoded.expose()).unwrap();
        assert_eq!(kek.0, back.0);
    }

    #[test]
    fn kek_accepts_every_base64_flavour() {
        let raw = [0xfbu8; 32]; // encodes with '+'/'/' or '-'/'_'
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let encoded = format!(" {}\n", engine.encode(raw));
            assert_eq!(Kek::from_base64(&encoded).unwrap().0, raw, "{encoded}");
        }
    }

    #[test]
    fn malformed_kek_is_rejected() {
        for bad in [
            "",
            "not base64 at all!",
            &STANDARD.encode([1u8; 31]),
            &STANDARD.encode([1u8; 33]),
            &STANDARD.encode([1u8; 16]),
        ] {
            assert!(
                matches!(Kek::from_base64(bad), Err(KeyError::MalformedKek)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kek_debug_is_redacted() {
        let kek = Kek::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(format!("{kek:?}"), "Kek(<redacted>)");
    }

    #[test]
    fn load_or_create_generates_a_private_file_then_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("kek");
        let first = Kek::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Kek::load_or_create(&path).unwrap();
        assert_eq!(first.0, second.0);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("kek")],
            "no temp file left"
        );
    }

    #[test]
    fn load_or_create_names_the_file_when_it_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, "short").unwrap();
        let err = Kek::load_or_create(&path).unwrap_err();
        assert!(matches!(err, KeyError::KekFile { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn sealed_key_is_bound_to_kek_and_kid() {
        let kek = Kek::generate();
        let plaintext = b"pretend this is PKCS#8";
        let sealed = kek.seal("kid-1", plaintext).unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + plaintext.len() + TAG_LEN);
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), plaintext);
        assert!(matches!(
            kek.open("kid-2", &sealed),
            Err(KeyError::WrongKek)
        ));
        assert!(matches!(
            Kek::generate().open("kid-1", &sealed),
            Err(KeyError::WrongKek)
        ));
        assert!(matches!(
            kek.open("kid-1", &sealed[..10]),
            Err(KeyError::WrongKek)
        ));
    }
}
