//! A real PostgreSQL server on 127.0.0.1 for the fleet tests: `initdb` into a
//! temporary folder, a free port, trust authentication for `postgres` on
//! 127.0.0.1 only, stopped (fast) on drop. The binaries come from
//! `pg_config --bindir` (Debian keeps them off PATH). PostgreSQL refuses to run
//! as root: as root the server runs as the unprivileged user `blickfang-pg`,
//! which `scripts/setup.sh --test` creates, and the folder is theirs.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The unprivileged user the server runs as when the tests run as root.
pub const PG_USER: &str = "blickfang-pg";

pub struct Postgres {
    pub port: u16,
    pub dir: PathBuf,
    bindir: PathBuf,
    running: bool,
    /// With TLS: the folder of the certificates (`ca.pem`, `wrong-ca.pem`, the server's).
    pub tls: Option<PathBuf>,
}

fn bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    for v in ["17", "16", "15"] {
        let dir = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    panic!("PostgreSQL server binaries not found (apt package postgresql-15; `make test` installs it)");
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `program args...`, as `PG_USER` when we are root.
fn run_as_pg(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", PG_USER, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).env("LC_ALL", "C").output().unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Postgres {
    /// initdb and start.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// initdb and start with `ssl=on`: a CA and a server certificate (for 127.0.0.1 and localhost)
    /// made with `openssl` in the temporary folder, and connections without TLS refused.
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        let bindir = bindir();
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("blickfang-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown").arg(format!("{PG_USER}:")).arg(&dir).status().map(|s| s.success());
            assert!(
                matches!(ok, Ok(true)),
                "cannot give {} to user {PG_USER}: create it (scripts/setup.sh --test does: useradd --system {PG_USER})",
                dir.display()
            );
        }
        let data = dir.join("data");
        let out = run_as_pg(
            &bindir.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let tls = tls.then(|| make_certificates(&dir, &data));
        let mut pg = Self { port, dir, bindir, running: false, tls };
        pg.restart();
        pg
    }

    /// Starts the server (again, on the same data and port) and waits until it accepts connections.
    pub fn restart(&mut self) {
        assert!(!self.running, "already running");
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.display()
        );
        if self.tls.is_some() {
            // Relative to the data folder (where make_certificates put the server's files).
            options.push_str(" -c ssl=on -c ssl_cert_file=server.pem -c ssl_key_file=server.key");
        }
        let out = run_as_pg(
            &self.bindir.join("pg_ctl"),
            &[
                "-D",
                self.dir.join("data").to_str().unwrap(),
                "-o",
                &options,
                "-l",
                self.dir.join("postgres.log").to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(out.status.success(), "pg_ctl start failed: {}\n{}", String::from_utf8_lossy(&out.stderr), self.log());
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (fast: open transactions roll back).
    pub fn stop(&mut self) {
        if self.running {
            let _ = run_as_pg(
                &self.bindir.join("pg_ctl"),
                &["-D", self.dir.join("data").to_str().unwrap(), "-m", "fast", "-w", "stop"],
            );
            self.running = false;
        }
    }

    /// A libpq-style connection string (tokio-postgres reads it); with TLS, verify-full with the test CA.
    pub fn url(&self) -> String {
        match &self.tls {
            Some(dir) => format!(
                "postgres://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
                self.port,
                dir.join("ca.pem").display()
            ),
            None => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }
}

/// One server for the tests of a binary that run at the same time (initdb and start are the slow
/// part; each test takes a database of its own, [`migrated_database`]): started by the first,
/// stopped when the last lets go. A static never drops, so it would leave the server running.
pub fn shared() -> Arc<Postgres> {
    static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pg) = slot.upgrade() {
        return pg;
    }
    let pg = Arc::new(Postgres::start());
    *slot = Arc::downgrade(&pg);
    pg
}

/// A new database `name` on `pg` (without TLS), migrated to the collector's schema: its URL.
pub fn migrated_database(pg: &Postgres, name: &str) -> String {
    assert!(pg.tls.is_none(), "a database of its own on a server without TLS");
    let url = format!("postgres://postgres@127.0.0.1:{}/{name}", pg.port);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
        let conn = tokio::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        drop(client);
        conn.await.unwrap().unwrap();
        let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        let conn = tokio::spawn(conn);
        blickfang_fleet::db::migrate(&mut client, None).await.unwrap();
        drop(client);
        conn.await.unwrap().unwrap();
    });
    url
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl (apt package openssl): {e}"));
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA, a second (wrong) CA, and a server certificate for 127.0.0.1 signed by the first, in
/// `dir/tls`; the server's certificate and key copied into `data` (PostgreSQL wants its key 0600 and
/// its own). Returns `dir/tls`.
fn make_certificates(dir: &Path, data: &Path) -> PathBuf {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for ca in ["ca", "wrong-ca"] {
        let (key, pem, subj) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN=blickfang test {ca}"));
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subj, "-keyout", &key, "-out", &pem];
        args.extend(ec);
        args.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&tls, &args);
    }
    let mut args = vec!["req", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"];
    args.extend(ec);
    openssl(&tls, &args);
    std::fs::write(
        tls.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &tls,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    for f in ["server.pem", "server.key"] {
        std::fs::copy(tls.join(f), data.join(f)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    if is_root() {
        let ok = Command::new("chown")
            .arg(format!("{PG_USER}:"))
            .arg(data.join("server.pem"))
            .arg(data.join("server.key"))
            .status();
        assert!(matches!(ok.map(|s| s.success()), Ok(true)), "chown of the server's certificate to {PG_USER}");
    }
    // Connections without TLS refused: whatever is stored came over TLS.
    let hba = data.join("pg_hba.conf");
    let rest = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("hostnossl all all all reject\n{rest}")).unwrap();
    tls
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
