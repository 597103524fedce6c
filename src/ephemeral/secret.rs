//! The password of a server the harness starts: generated per server, kept in the state
//! directory in a file only its owner can read, and never shown by `Debug` or in an error.

use std::fmt;
use std::path::Path;

use super::EphemeralError;

/// How many characters a generated password has: letters and digits, ~190 bits.
const LENGTH: usize = 32;

/// The superuser's password of a started server.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new random password of letters and digits (nothing a URL or SQL string would have
    /// to escape).
    pub(crate) fn generate() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        // The thread's generator is a cryptographically secure one, seeded by the system.
        let text = (0..LENGTH)
            .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
            .collect();
        Self(text)
    }

    /// The password in clear, for connect options and the owner's own URL.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Writes it to `path`, readable and writable by this user only (mode 0600, set when
    /// the file is created, so it is never readable by others even for a moment).
    pub(crate) fn write(&self, path: &Path) -> Result<(), EphemeralError> {
        use std::io::Write;
        let _ = std::fs::remove_file(path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(|e| EphemeralError::io("create", path, e))?;
        file.write_all(self.0.as_bytes())
            .map_err(|e| EphemeralError::io("write", path, e))
    }

    /// Reads what [`Secret::write`] wrote; `None` if the file is missing or empty.
    pub(crate) fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| Self(text.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_differ_and_are_plain_letters_and_digits() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), LENGTH);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(format!("{a:?}"), "Secret(***)");
    }

    #[test]
    fn a_written_secret_is_its_owners_alone_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("persistence-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("secret");
        let secret = Secret::generate();
        secret.write(&path).expect("write");
        assert_eq!(Secret::read(&path), Some(secret.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Written again (a new server of the same instance name): replaced, not appended.
        let other = Secret::generate();
        other.write(&path).expect("rewrite");
        assert_eq!(Secret::read(&path), Some(other));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
