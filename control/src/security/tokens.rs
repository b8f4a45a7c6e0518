//! Bearer tokens: the admin token kept in the data directory, tokens made for this process's
//! own clients, and kube-apiserver's `--token-auth-file` (CSV: `token,user,uid,"g1,g2"`).
//!
//! Tokens are held only as SHA-256 digests, so the table never keeps a secret in the clear and
//! a lookup compares digests, not the secrets themselves.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::UserInfo;
use super::pki::{PkiError, write_private};

/// Why a token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record is malformed.
    #[error("{path}: record {record}: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The 1-based record number.
        record: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The admin token could not be written.
    #[error(transparent)]
    Write(#[from] PkiError),
}

/// A fresh random token: 32 bytes from the OS generator, base64url without padding.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The file the admin token is kept in.
pub fn admin_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.token")
}

/// Reads `<data_dir>/admin.token`, creating it (0600) with a fresh token on first use.
pub fn load_or_create_admin(data_dir: &Path) -> Result<String, TokenFileError> {
    let path = admin_token_path(data_dir);
    match fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Err(TokenFileError::Record {
            path,
            record: 1,
            reason: "the admin token file is empty (delete it to have a new token made)"
                .to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = generate();
            write_private(&path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
        Err(source) => Err(TokenFileError::Io { path, source }),
    }
}

/// Token digests and the identity each stands for.
#[derive(Debug, Default, Clone)]
pub struct TokenTable {
    by_digest: HashMap<[u8; 32], UserInfo>,
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl TokenTable {
    /// Adds (or replaces) a token.
    pub fn insert(&mut self, token: &str, user: UserInfo) {
        self.by_digest.insert(digest(token), user);
    }

    /// The identity a token stands for.
    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        self.by_digest.get(&digest(token))
    }

    /// How many tokens the table holds.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// Adds every record of a kube-apiserver static token file: `token,user,uid` with an
    /// optional fourth column of comma-separated groups (quoted). Lines starting with `#` are
    /// comments. A record with fewer than three columns, an empty token or user, or a token
    /// that appears twice is an error naming the record.
    pub fn load_csv(&mut self, path: &Path) -> Result<usize, TokenFileError> {
        let text = fs::read(path).map_err(|source| TokenFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_slice());
        let mut seen = HashMap::new();
        let mut count = 0;
        for (index, record) in reader.records().enumerate() {
            let number = index + 1;
            let bad = |reason: String| TokenFileError::Record {
                path: path.to_path_buf(),
                record: number,
                reason,
            };
            let record = record.map_err(|e| bad(e.to_string()))?;
            if record.len() < 3 {
                return Err(bad(format!(
                    "expected at least 3 columns (token, user name, uid), found {}",
                    record.len()
                )));
            }
            let (token, name, uid) = (&record[0], &record[1], &record[2]);
            if token.is_empty() {
                return Err(bad("the token is empty".to_string()));
            }
            if name.is_empty() {
                return Err(bad("the user name is empty".to_string()));
            }
            if let Some(first) = seen.insert(digest(token), number) {
                return Err(bad(format!("the token of record {first} appears again")));
            }
            let groups = record
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            self.insert(
                token,
                UserInfo {
                    name: name.to_string(),
                    uid: uid.to_string(),
                    groups,
                },
            );
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn token_file_in_kube_apiserver_format() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("tokens.csv");
        fs::write(
            &path,
            "# comment\nt1,alice,uid-1,\"dev,ops\"\nt2,bob,uid-2\n t3 , carol , uid-3 , viewers\n",
        )?;
        let mut table = TokenTable::default();
        assert_eq!(table.load_csv(&path)?, 3);
        let alice = table.lookup("t1").ok_or("t1 missing")?;
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.uid, "uid-1");
        assert_eq!(alice.groups, vec!["dev".to_string(), "ops".to_string()]);
        assert!(table.lookup("t2").ok_or("t2 missing")?.groups.is_empty());
        assert_eq!(
            table.lookup("t3").ok_or("t3 missing")?.groups,
            vec!["viewers".to_string()]
        );
        assert!(table.lookup("t4").is_none());
        Ok(())
    }

    #[test]
    fn malformed_token_files_name_the_record() -> TestResult {
        let dir = tempfile::tempdir()?;
        for (text, needle) in [
            ("t1,alice\n", "record 1: expected at least 3 columns"),
            ("t1,alice,1\n,bob,2\n", "record 2: the token is empty"),
            ("t1,alice,1\nt1,bob,2\n", "record 2: the token of record 1"),
            ("t1,,1\n", "record 1: the user name is empty"),
        ] {
            let path = dir.path().join("bad.csv");
            fs::write(&path, text)?;
            let error = TokenTable::default()
                .load_csv(&path)
                .err()
                .ok_or("accepted a bad file")?;
            assert!(error.to_string().contains(needle), "{error} lacks {needle}");
        }
        Ok(())
    }

    #[test]
    fn admin_token_is_created_once_and_private() -> TestResult {
        let dir = tempfile::tempdir()?;
        let first = load_or_create_admin(dir.path())?;
        assert!(first.len() >= 40);
        assert_eq!(load_or_create_admin(dir.path())?, first);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(admin_token_path(dir.path()))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        Ok(())
    }
}
