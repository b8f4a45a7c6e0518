//! The cluster's certificate authority and the API server's serving certificate.
//!
//! On first start the CA (`pki/ca.crt`, `pki/ca.key`) and a serving certificate signed by it
//! (`pki/serving.crt`, `pki/serving.key`) are created in the data directory; later starts reuse
//! them, and issue a new serving certificate only when the old one lacks a wanted name or is
//! within [`RENEW_BEFORE`] of expiry. Keys are written 0600 through a temporary file and a
//! rename, so a crash never leaves half a key. The same CA signs client certificates
//! (`switchyard kubeconfig --user`), whose CN is the user and whose O values are the groups.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// How long the generated CA is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a generated serving or client certificate is valid.
pub const LEAF_VALIDITY: Duration = Duration::days(365);
/// A serving certificate closer than this to expiry is issued again at start.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// Why certificates could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's contents are not what they should be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Certificate generation failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, reason: impl ToString) -> PkiError {
    PkiError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The cluster CA, able to sign serving and client certificates.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    cert_pem: String,
    /// Whether this start created the CA (so every leaf must be issued anew).
    created: bool,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("created", &self.created)
            .finish()
    }
}

/// The folder below the data directory that holds the certificates.
pub fn pki_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("pki")
}

impl Ca {
    /// Loads the CA from `<data_dir>/pki`, creating it on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Ca, PkiError> {
        let dir = pki_dir(data_dir);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let cert_path = dir.join("ca.crt");
        let key_path = dir.join("ca.key");
        if cert_path.exists() && key_path.exists() {
            return Ca::load(&cert_path, &key_path);
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "switchyard-ca");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        write_public(&cert_path, cert_pem.as_bytes())?;
        Ok(Ca {
            cert,
            key,
            cert_pem,
            created: true,
        })
    }

    /// Loads a CA certificate and key from PEM files.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Ca, PkiError> {
        let cert_pem = fs::read_to_string(cert_path).map_err(io(cert_path))?;
        let key_pem = fs::read_to_string(key_path).map_err(io(key_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(key_path, e))?;
        let params =
            CertificateParams::from_ca_cert_pem(&cert_pem).map_err(|e| invalid(cert_path, e))?;
        // Re-signing the parameters gives a certificate with the same subject and key, which is
        // all that signing a leaf needs; the file on disk stays what clients trust.
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert,
            key,
            cert_pem,
            created: false,
        })
    }

    /// The CA certificate, PEM (what clients put in `certificate-authority-data`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Whether this start created the CA.
    pub fn created(&self) -> bool {
        self.created
    }

    /// Issues a serving certificate for `names` (DNS names and IP addresses).
    pub fn issue_serving(&self, names: &[SubjectName]) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "switchyard-apiserver");
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n {
                SubjectName::Dns(d) => d
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(PkiError::from),
                SubjectName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            })
            .collect::<Result<_, _>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        self.sign(params)
    }

    /// Issues a client certificate for `user` in `groups` (CN = user, one O per group), the
    /// identity kube-apiserver reads from a client certificate.
    pub fn issue_client(&self, user: &str, groups: &[String]) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, user);
        for group in groups {
            dn.push(DnType::OrganizationName, group.as_str());
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Result<Issued, PkiError> {
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + LEAF_VALIDITY;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A name a serving certificate is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectName {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl SubjectName {
    /// Parses `text` as an IP address, else takes it as a DNS name.
    pub fn parse(text: &str) -> SubjectName {
        match text.parse::<IpAddr>() {
            Ok(ip) => SubjectName::Ip(ip),
            Err(_) => SubjectName::Dns(text.to_ascii_lowercase()),
        }
    }
}

/// The serving certificate in `<data_dir>/pki`: reused when it is signed by this CA, covers
/// every name in `names` and is not close to expiry; issued anew otherwise. Returns the paths
/// of the certificate and the key.
pub fn ensure_serving(
    data_dir: &Path,
    ca: &Ca,
    names: &[SubjectName],
) -> Result<(PathBuf, PathBuf), PkiError> {
    let dir = pki_dir(data_dir);
    let cert_path = dir.join("serving.crt");
    let key_path = dir.join("serving.key");
    let reusable = !ca.created()
        && key_path.exists()
        && fs::read(&cert_path)
            .ok()
            .is_some_and(|pem| covers(&pem, names));
    if !reusable {
        let issued = ca.issue_serving(names)?;
        write_private(&key_path, issued.key_pem.as_bytes())?;
        write_public(&cert_path, issued.cert_pem.as_bytes())?;
        tracing::info!(path = %cert_path.display(), "issued a new serving certificate");
    }
    Ok((cert_path, key_path))
}

/// Whether the PEM certificate names every one of `names` and is valid for longer than
/// [`RENEW_BEFORE`].
fn covers(pem: &[u8], names: &[SubjectName]) -> bool {
    let Ok(der) = CertificateDer::from_pem_slice(pem) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return false;
    };
    let renew_at = OffsetDateTime::now_utc() + RENEW_BEFORE;
    if cert.validity().not_after.to_datetime() < renew_at {
        return false;
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return names.is_empty();
    };
    let present: Vec<SubjectName> = san
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            x509_parser::extensions::GeneralName::DNSName(d) => {
                Some(SubjectName::Dns(d.to_ascii_lowercase()))
            }
            x509_parser::extensions::GeneralName::IPAddress(bytes) => ip_from_bytes(bytes),
            _ => None,
        })
        .collect();
    names.iter().all(|n| present.contains(n))
}

fn ip_from_bytes(bytes: &[u8]) -> Option<SubjectName> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| SubjectName::Ip(IpAddr::from(b))),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| SubjectName::Ip(IpAddr::from(b))),
        _ => None,
    }
}

/// Reads every certificate of a PEM file (a chain, or a bundle of CAs).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let pem = fs::read(path).map_err(io(path))?;
    certs_from_pem(&pem, path)
}

/// Every certificate of PEM text; `source` names it in errors. At least one is required.
pub fn certs_from_pem(pem: &[u8], source: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(source, e))?;
    if certs.is_empty() {
        return Err(invalid(source, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// Reads the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    let pem = fs::read(path).map_err(io(path))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| invalid(path, e))
}

/// Writes `bytes` readable by the owner only (0600), through a temporary file and a rename.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, bytes, 0o600)
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, bytes, 0o644)
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_certificate_is_reused_until_a_name_is_missing() -> Result<(), PkiError> {
        let dir = tempfile::tempdir().map_err(io(Path::new("tmp")))?;
        let ca = Ca::load_or_create(dir.path())?;
        assert!(ca.created());
        let names = vec![
            SubjectName::parse("127.0.0.1"),
            SubjectName::parse("localhost"),
        ];
        let (cert, _) = ensure_serving(dir.path(), &ca, &names)?;
        let first = fs::read(&cert).map_err(io(&cert))?;
        let ca = Ca::load_or_create(dir.path())?;
        assert!(!ca.created(), "the CA is reused");
        ensure_serving(dir.path(), &ca, &names)?;
        assert_eq!(fs::read(&cert).map_err(io(&cert))?, first, "reused");
        let mut more = names.clone();
        more.push(SubjectName::parse("api.example.test"));
        ensure_serving(dir.path(), &ca, &more)?;
        let third = fs::read(&cert).map_err(io(&cert))?;
        assert_ne!(third, first, "a new name issues a new certificate");
        assert!(covers(&third, &more));
        let mode = fs::metadata(pki_dir(dir.path()).join("ca.key"))
            .map_err(io(&cert))?
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        Ok(())
    }
}
