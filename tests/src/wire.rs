//! What sits on the wire between the functions and the engines, to see and price what AWS's
//! network would add: a TLS front that makes a plain-HTTP engine an HTTPS endpoint signed by a
//! local certificate authority (as every AWS endpoint is HTTPS), and a relay that counts the
//! connections and requests passing through it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority of this machine, with one server certificate for 127.0.0.1, shaped as
/// AWS's endpoints' are: an RSA 2048 root in the client's trust store, an RSA 2048 intermediate
/// the server sends with its RSA 2048 leaf. A handshake thus verifies the same two RSA
/// signatures a function's handshake with DynamoDB or KMS verifies.
pub struct LocalCa {
    pub dir: PathBuf,
}

impl LocalCa {
    /// Creates the authority and the certificate under `dir` (with the `openssl` command).
    pub fn create(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let openssl = |args: &[&str]| -> Result<(), String> {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .map_err(|e| format!("openssl: {e} (install Debian's openssl)"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!("openssl {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr)))
            }
        };
        let key = |name: &str| {
            openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", name])
        };
        key("root.key")?;
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "root.key",
            "-subj",
            "/CN=Stratus bench root",
            "-days",
            "30",
            "-out",
            "root.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])?;
        std::fs::write(
            dir.join("ca.ext"),
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("leaf.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .map_err(|e| e.to_string())?;
        key("intermediate.key")?;
        openssl(&[
            "req",
            "-new",
            "-key",
            "intermediate.key",
            "-subj",
            "/CN=Stratus bench intermediate",
            "-out",
            "intermediate.csr",
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "intermediate.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ca.ext",
            "-out",
            "intermediate.pem",
        ])?;
        key("server.key")?;
        openssl(&["req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr"])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "intermediate.pem",
            "-CAkey",
            "intermediate.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "leaf.ext",
            "-out",
            "server.pem",
        ])?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// A trust store file for `SSL_CERT_FILE`: `bundle` (the system's, as Lambda's image has one)
    /// with this authority's root appended, so that a function parses as many roots as on Lambda.
    pub fn trust_store(&self, bundle: &Path) -> Result<PathBuf, String> {
        let mut roots = std::fs::read(bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
        roots.extend(std::fs::read(self.dir.join("root.pem")).map_err(|e| e.to_string())?);
        let path = self.dir.join("trust-store.pem");
        std::fs::write(&path, roots).map_err(|e| e.to_string())?;
        Ok(path)
    }

    fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut chain = Vec::new();
        for file in ["server.pem", "intermediate.pem"] {
            chain.push(
                CertificateDer::from_pem_file(self.dir.join(file)).map_err(|e| format!("{file}: {e}"))?,
            );
        }
        let key = PrivateKeyDer::from_pem_file(self.dir.join("server.key"))
            .map_err(|e| format!("server.key: {e}"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }
}

/// An HTTPS endpoint on a free loopback port in front of a plain-HTTP one: every connection is
/// a new TLS session (no resumption is offered, as a new sandbox has none to resume), and its
/// bytes are relayed as they are.
pub struct TlsFront {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    pub async fn start(ca: &LocalCa, upstream: SocketAddr) -> Result<Self, String> {
        let mut config = (*ca.server_config()?).clone();
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = client.set_nodelay(true);
                    let Ok(mut secured) = acceptor.accept(client).await else { return };
                    let Ok(mut engine) = TcpStream::connect(upstream).await else { return };
                    let _ = engine.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut secured, &mut engine).await;
                    let _ = secured.shutdown().await;
                });
            }
        });
        Ok(Self { url: format!("https://127.0.0.1:{port}"), task })
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP relay in front of an endpoint that counts the connections made through it.
pub struct CountingRelay {
    pub url: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingRelay {
    pub async fn start(upstream: SocketAddr) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut engine) = TcpStream::connect(upstream).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                });
            }
        });
        Ok(Self { url: format!("http://127.0.0.1:{port}"), connections, task })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The address an `http://host:port` endpoint URL names.
pub fn endpoint_address(url: &str) -> Result<SocketAddr, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let host = parsed.host_str().ok_or_else(|| format!("{url} names no host"))?;
    let port = parsed.port_or_known_default().ok_or_else(|| format!("{url} names no port"))?;
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    format!("{host}:{port}").parse().map_err(|e| format!("{url}: {e}"))
}
