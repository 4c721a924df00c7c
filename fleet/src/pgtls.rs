//! TLS to PostgreSQL (managed PostgreSQL requires it), on rustls with ring as
//! the MQTT side: the connection string's `sslmode` as libpq reads it —
//! `disable`, `prefer` (the default), `require` (encrypted; the chain checked
//! only when a CA is given, as libpq does with a root certificate),
//! `verify-ca` (the chain checked against the CA), `verify-full` (the chain
//! and the host name). The CA: `sslrootcert=FILE` in the connection string or
//! the `database_ca` setting (PEM); without one, the system's roots.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::bail;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// What `sslmode` asks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypted, the certificate not checked (`prefer`/`require` without a CA).
    Nothing,
    /// The chain up to the CA (`verify-ca`; `prefer`/`require` with a CA).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A connection string made ready for tokio-postgres (which reads `sslmode`
/// only up to `require`, and no `sslrootcert`), and what TLS must check.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub url: String,
    pub tls: bool,
    pub verify: Verify,
    pub ca: Option<PathBuf>,
}

/// Reads `sslmode` and `sslrootcert` out of `url` (URL or key=value form); `ca` (a setting) wins over `sslrootcert`.
pub fn target(url: &str, ca: Option<&Path>) -> anyhow::Result<Target> {
    let mut mode = None;
    let mut root = None;
    let keep = |part: &str, mode: &mut Option<String>, root: &mut Option<String>| {
        if let Some(v) = part.strip_prefix("sslmode=") {
            *mode = Some(v.to_string());
            false
        } else if let Some(v) = part.strip_prefix("sslrootcert=") {
            *root = Some(v.to_string());
            false
        } else {
            true
        }
    };
    let mut rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query.split('&').filter(|p| keep(p, &mut mode, &mut root)).collect();
                if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) }
            }
            None => url.to_string(),
        }
    } else {
        let kept: Vec<&str> = url.split_whitespace().filter(|p| keep(p, &mut mode, &mut root)).collect();
        kept.join(" ")
    };
    let ca = ca.map(Path::to_path_buf).or(root.map(PathBuf::from));
    let (wire, verify, tls) = match mode.as_deref().unwrap_or("prefer") {
        "disable" => ("disable", Verify::Nothing, false),
        m @ ("prefer" | "require") => (m, if ca.is_some() { Verify::Chain } else { Verify::Nothing }, true),
        "verify-ca" => ("require", Verify::Chain, true),
        "verify-full" => ("require", Verify::Full, true),
        other => bail!("sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"),
    };
    let sep = if rest.contains("://") { if rest.contains('?') { "&" } else { "?" } } else { " " };
    rest = format!("{rest}{sep}sslmode={wire}");
    Ok(Target { url: rest, tls, verify, ca })
}

/// The rustls client configuration for `t`.
pub fn client_config(t: &Target) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &t.ca {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| anyhow::anyhow!("database CA {}: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                bail!("database CA {}: no certificate in it (PEM expected)", path.display());
            }
        }
        None if t.verify != Verify::Nothing => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                bail!(
                    "sslmode verify-ca/verify-full: no CA given (database_ca, --database-ca or sslrootcert) and no system roots"
                );
            }
        }
        None => {}
    }
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let config = match t.verify {
        Verify::Full => builder.with_root_certificates(roots).with_no_client_auth(),
        verify => {
            let inner = if verify == Verify::Chain {
                Some(WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?)
            } else {
                None
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Relaxed { inner, provider }))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// `verify-ca` (the chain, any name) or no check at all (`prefer`/`require` without a CA).
#[derive(Debug)]
struct Relaxed {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else { return Ok(ServerCertVerified::assertion()) };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS connector on rustls.
#[derive(Clone)]
pub struct MakeRustls(Arc<ClientConfig>);

impl MakeRustls {
    pub fn new(config: ClientConfig) -> Self {
        Self(Arc::new(config))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for MakeRustls {
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect { config: self.0.clone(), name: ServerName::try_from(domain.to_string())? })
    }
}

pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for RustlsConnect {
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let s = tokio_rustls::TlsConnector::from(self.config).connect(self.name, stream).await?;
            Ok(RustlsStream(Box::new(s)))
        })
    }
}

pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM falls back to no channel binding (tokio-postgres' default `prefer`).
        ChannelBinding::none()
    }
}

/// Whether `e` is the server's certificate refused (retrying will not help).
pub fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return matches!(r, rustls::Error::InvalidCertificate(_));
        }
        if let Some(io) = err.downcast_ref::<io::Error>()
            && let Some(inner) = io.get_ref()
            && inner.downcast_ref::<rustls::Error>().is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The task that drives one connection (plain or TLS).
type ConnectionTask = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// A database to connect to (again, after each loss): the target and its TLS connector, built once.
#[derive(Clone)]
pub struct Database {
    pub target: Target,
    tls: Option<MakeRustls>,
}

impl Database {
    /// Reads the connection string and the CA (`ca`: the `database_ca` setting); a bad CA file is an error here.
    pub fn new(url: &str, ca: Option<&Path>) -> anyhow::Result<Self> {
        let target = target(url, ca)?;
        let tls = if target.tls { Some(MakeRustls::new(client_config(&target)?)) } else { None };
        Ok(Self { target, tls })
    }

    /// `host:port/dbname` (no user, no password), for messages.
    pub fn describe(&self) -> String {
        match self.target.url.parse::<tokio_postgres::Config>() {
            Ok(c) => {
                let host = match c.get_hosts().first() {
                    Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                    #[cfg(unix)]
                    Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                    None => "localhost".into(),
                };
                let port = c.get_ports().first().copied().unwrap_or(5432);
                format!("{host}:{port}/{}", c.get_dbname().unwrap_or(""))
            }
            Err(_) => "(unparsable connection string)".into(),
        }
    }

    /// What a certificate failure says: the database and the CA it was checked with.
    pub fn certificate_failure(&self) -> String {
        let ca = match &self.target.ca {
            Some(p) => format!("CA {}", p.display()),
            None => "the system's CA roots".into(),
        };
        format!("database {}: its TLS certificate is not trusted by {ca}", self.describe())
    }

    /// Connects (TLS as `sslmode` asks); the connection runs on a task that logs its end.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, task): (_, ConnectionTask) = match &self.tls {
            Some(tls) => {
                let (client, conn) = tokio_postgres::connect(&self.target.url, tls.clone()).await?;
                (client, Box::pin(conn))
            }
            None => {
                let (client, conn) = tokio_postgres::connect(&self.target.url, tokio_postgres::NoTls).await?;
                (client, Box::pin(conn))
            }
        };
        tokio::spawn(async move {
            if let Err(e) = task.await {
                eprintln!("collect: database connection: {e}");
            }
        });
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmodes_as_libpq_reads_them() {
        let t = target("postgres://u:p@db.example:5432/fleet?sslmode=verify-full&sslrootcert=/ca.pem", None).unwrap();
        assert_eq!(t.url, "postgres://u:p@db.example:5432/fleet?sslmode=require");
        assert_eq!((t.tls, t.verify, t.ca), (true, Verify::Full, Some(PathBuf::from("/ca.pem"))));
        let t = target("host=db sslmode=verify-ca user=u", Some(Path::new("/x.pem"))).unwrap();
        assert_eq!((t.url.as_str(), t.verify), ("host=db user=u sslmode=require", Verify::Chain));
        let t = target("postgres://db/fleet", None).unwrap();
        assert_eq!((t.url.as_str(), t.tls, t.verify), ("postgres://db/fleet?sslmode=prefer", true, Verify::Nothing));
        let t = target("postgres://db/fleet?sslmode=disable&application_name=c", None).unwrap();
        assert_eq!((t.url.as_str(), t.tls), ("postgres://db/fleet?application_name=c&sslmode=disable", false));
        assert!(target("postgres://db?sslmode=allowish", None).is_err());
    }
}
