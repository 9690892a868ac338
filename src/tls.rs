//! HTTPS: a PEM certificate chain and key become a rustls configuration (TLS 1.2 and
//! 1.3 only, ring provider). The pair sits behind an atomic swap: a reload (SIGHUP) validates
//! the new files first and only then replaces the pair, so a bad new pair never stops the
//! old one from serving. In-flight connections keep the pair they started with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// A certificate that expires sooner than this starts with a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// What an admin wants to know about a certificate.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    #[schema(format = DateTime)]
    pub not_before: String,
    #[schema(format = DateTime)]
    pub not_after: String,
    /// SHA-256 of the leaf certificate (DER), hex.
    pub sha256: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub expires: DateTime<Utc>,
}

impl CertInfo {
    pub fn days_left(&self) -> i64 {
        (self.expires - Utc::now()).num_days()
    }
}

/// A validated certificate chain and key, ready to serve.
pub struct CertPair {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
}

/// Reads and validates a PEM certificate chain and its private key (PKCS#8, PKCS#1 or SEC1;
/// RSA, ECDSA or Ed25519). Every refusal names the file and the problem.
pub fn load_pair(cert_path: &Path, key_path: &Path) -> anyhow::Result<CertPair> {
    let cert_pem = std::fs::read(cert_path)
        .with_context(|| format!("cannot read certificate file {}", cert_path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            anyhow!(
                "certificate file {} is not valid PEM: {e:?}",
                cert_path.display()
            )
        })?;
    if chain.is_empty() {
        bail!(
            "certificate file {} holds no PEM certificate",
            cert_path.display()
        );
    }
    let key_pem = std::fs::read(key_path)
        .with_context(|| format!("cannot read key file {}", key_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow!(
            "key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e:?}",
            key_path.display()
        )
    })?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| {
        anyhow!(
            "key file {}: unsupported private key: {e}",
            key_path.display()
        )
    })?;
    let info =
        describe(&chain[0]).with_context(|| format!("certificate file {}", cert_path.display()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|e| {
        anyhow!(
            "the key in {} does not match the certificate in {} ({e})",
            key_path.display(),
            cert_path.display()
        )
    })?;
    let now = Utc::now();
    if info.expires < now {
        bail!(
            "certificate {} expired on {}",
            cert_path.display(),
            info.not_after
        );
    }
    Ok(CertPair {
        key: Arc::new(certified),
        info,
    })
}

/// Subject, issuer, SANs, validity and fingerprint of a DER certificate.
pub fn describe(der: &CertificateDer<'_>) -> anyhow::Result<CertInfo> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| anyhow!("the certificate cannot be parsed: {e}"))?;
    let sans = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .map(|name| match name {
                    GeneralName::DNSName(dns) => dns.to_string(),
                    GeneralName::IPAddress(ip) => format_ip(ip),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let stamp = |t: ASN1Time| {
        DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let not_before = stamp(cert.validity().not_before);
    let expires = stamp(cert.validity().not_after);
    if not_before > Utc::now() {
        bail!("the certificate is not valid before {not_before}");
    }
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: crate::time::rfc3339(not_before.naive_utc()),
        not_after: crate::time::rfc3339(expires.naive_utc()),
        sha256: hex::encode(Sha256::digest(der.as_ref())),
        expires,
    })
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).unwrap_or_default()).to_string(),
        _ => format!("{bytes:?}"),
    }
}

/// The served pair, replaceable while serving.
pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish()
    }
}

impl ReloadableCert {
    /// Loads the pair; a problem stops here, before anything serves.
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
    ) -> anyhow::Result<(Arc<ReloadableCert>, CertInfo)> {
        let pair = load_pair(cert_path, key_path)?;
        let reloadable = ReloadableCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::new(pair.key),
        };
        Ok((Arc::new(reloadable), pair.info))
    }

    /// What the pair now serving says about itself.
    pub fn info(&self) -> anyhow::Result<CertInfo> {
        let current = self.current.load();
        let leaf = current
            .cert
            .first()
            .ok_or_else(|| anyhow!("the serving pair has no certificate"))?;
        describe(leaf)
    }

    /// Re-reads the files; the new pair serves new handshakes only if it is valid.
    pub fn reload(&self) -> anyhow::Result<CertInfo> {
        let pair = load_pair(&self.cert_path, &self.key_path)?;
        self.current.store(pair.key);
        Ok(pair.info)
    }
}

impl ReloadableCert {
    /// Validates a new PEM pair, writes it over the configured files and serves it. The
    /// pair is checked from temporary files next to the real ones, then renamed into place,
    /// so a bad pair changes nothing and a good one is never half-written.
    pub fn install(&self, cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<CertInfo> {
        let staged = |path: &Path| path.with_extension("new");
        let (cert_new, key_new) = (staged(&self.cert_path), staged(&self.key_path));
        std::fs::write(&cert_new, cert_pem)
            .with_context(|| format!("cannot write {}", cert_new.display()))?;
        write(&key_new, &String::from_utf8_lossy(key_pem), true)?;
        let pair = match load_pair(&cert_new, &key_new) {
            Ok(pair) => pair,
            Err(e) => {
                let _ = std::fs::remove_file(&cert_new);
                let _ = std::fs::remove_file(&key_new);
                return Err(e);
            }
        };
        std::fs::rename(&key_new, &self.key_path)
            .with_context(|| format!("cannot replace {}", self.key_path.display()))?;
        std::fs::rename(&cert_new, &self.cert_path)
            .with_context(|| format!("cannot replace {}", self.cert_path.display()))?;
        self.current.store(pair.key);
        Ok(pair.info)
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// A rustls server configuration: TLS 1.3 and 1.2, HTTP/1.1, certificate from `resolver`.
pub fn server_config(resolver: Arc<ReloadableCert>) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("cannot configure TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Logs how long a certificate has left, warning inside the last 30 days.
pub fn log_validity(what: &str, info: &CertInfo) {
    let days = info.days_left();
    if days < EXPIRY_WARNING_DAYS {
        log::warn!(
            "{what}: certificate {} expires in {days} days ({})",
            info.subject,
            info.not_after
        );
    } else {
        log::info!(
            "{what}: certificate {} valid until {} (sha256 {})",
            info.subject,
            info.not_after,
            info.sha256
        );
    }
}

/// Files written by [`self_signed`].
pub struct GeneratedFiles {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A local CA and a server certificate signed by it, for development and tests. `hostname`
/// becomes a SAN (an IP address when it parses as one; `localhost` also gets 127.0.0.1 and ::1).
/// Keys are ECDSA P-256; key files are written readable by the owner only.
pub fn self_signed(hostname: &str, out_dir: &Path, days: u32) -> anyhow::Result<GeneratedFiles> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    let now = time_now();
    let until = now + std::time::Duration::from_secs(u64::from(days) * 86_400);

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "intake development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = now;
    ca_params.not_after = until;
    let ca = ca_params.self_signed(&ca_key)?;

    let mut sans = vec![san(hostname)?];
    if hostname == "localhost" {
        sans.push(SanType::IpAddress([127, 0, 0, 1].into()));
        sans.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, hostname);
    params.subject_alt_names = sans;
    params.not_before = now;
    params.not_after = until;
    let cert = params.signed_by(&key, &ca, &ca_key)?;

    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let files = GeneratedFiles {
        ca_cert: out_dir.join("ca.pem"),
        cert: out_dir.join("cert.pem"),
        key: out_dir.join("key.pem"),
    };
    write(&files.ca_cert, &ca.pem(), false)?;
    write(&out_dir.join("ca-key.pem"), &ca_key.serialize_pem(), true)?;
    write(&files.cert, &cert.pem(), false)?;
    write(&files.key, &key.serialize_pem(), true)?;
    Ok(files)
}

fn san(hostname: &str) -> anyhow::Result<rcgen::SanType> {
    Ok(match hostname.parse::<std::net::IpAddr>() {
        Ok(ip) => rcgen::SanType::IpAddress(ip),
        Err(_) => rcgen::SanType::DnsName(
            hostname
                .try_into()
                .map_err(|e| anyhow!("--hostname '{hostname}': {e}"))?,
        ),
    })
}

fn time_now() -> ::time::OffsetDateTime {
    ::time::OffsetDateTime::now_utc()
}

fn write(path: &Path, contents: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
