//! A throwaway PostgreSQL cluster for the tests of the server's PostgreSQL store.
//!
//! [`Cluster::shared`] starts one cluster per test binary (initdb and `postgres` in a temporary
//! directory, on a free loopback port, its Unix socket in that directory) and hands every test
//! a fresh database ([`Cluster::database_url`]), so a test binary pays one start. PostgreSQL
//! refuses to run as root, and tests often do (CI containers): then the cluster runs as the
//! `postgres` user that Debian's package creates, in a directory given to that user.
//!
//! The cluster stops when the [`Cluster`] is dropped (a panicking test unwinds through the
//! drop) and, for the shared one (a static, never dropped) or after a kill, when the test
//! process exits or dies: a watchdog process started with the cluster waits for the test
//! process to go, then stops the cluster and removes its directory.
//!
//! Without PostgreSQL's binaries (Debian's `postgresql` package, or `BLUEZONE_PG_BIN` naming
//! the directory of `initdb`, `pg_ctl` and `psql`), [`Cluster::shared`] prints that the test is
//! SKIPPED and returns `None`, except when the environment variable `CI` is set: then it panics,
//! so CI never passes without having run the tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    next_db: AtomicU32,
}

/// The directory of PostgreSQL's server binaries: `BLUEZONE_PG_BIN`, or the newest
/// `/usr/lib/postgresql/<version>/bin` holding `initdb`.
pub fn binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BLUEZONE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

impl Cluster {
    /// The cluster shared by every test of this test binary, started on first use; `None`
    /// (after printing `SKIPPED <test>`) when PostgreSQL is not installed and `CI` is not set.
    pub fn shared(test: &str) -> Option<&'static Cluster> {
        static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
        let cluster = SHARED.get_or_init(|| Cluster::start(false)).as_ref();
        if cluster.is_none() {
            eprintln!(
                "SKIPPED {test}: PostgreSQL is not installed (apt-get install postgresql, or set \
                 BLUEZONE_PG_BIN to the directory of initdb)"
            );
        }
        cluster
    }

    /// Start a cluster of its own (stopped when dropped); `None` when PostgreSQL is not
    /// installed and `CI` is not set. `durable`: flush the write-ahead log to disk at every
    /// commit, as a deployment does (for benchmarks; the tests' clusters skip `fsync`, which
    /// changes no answer, only the time a commit takes, and makes no difference to the tests,
    /// which kill server processes, never the cluster).
    pub fn start_own(durable: bool) -> Option<Cluster> {
        Cluster::start(durable)
    }

    fn start(durable: bool) -> Option<Cluster> {
        let Some(bin) = binaries() else {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is not installed, and CI is set: .ci/run installs it");
            }
            return None;
        };
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "bluezone-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("cannot create the cluster's directory");
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot give {} to postgres",
                dir.display()
            );
        }
        let cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            next_db: AtomicU32::new(0),
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let fast = if durable {
            ""
        } else {
            " -c fsync=off -c full_page_writes=off"
        };
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=300{fast}",
            cluster.port,
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &cluster.data(),
                "-l",
                &log.display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        // Also for an owned cluster: its Drop does not run if the process is killed.
        cluster.watch(std::process::id());
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A process that outlives this one by at most half a second: it stops the cluster and
    /// removes its directory once process `pid` is gone (a static cluster is never dropped).
    fn watch(&self, pid: u32) {
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {} {} -D {} stop -m immediate >/dev/null 2>&1; rm -rf {}",
            if self.as_postgres {
                "runuser -u postgres --"
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data(),
            self.dir.display()
        );
        // Started in the background by a shell that exits at once, so that the watchdog is
        // nobody's child here (no zombie, nothing to wait for), in a session of its own, so
        // that a signal to the test's process group (a timeout, Ctrl-C) does not end it too.
        let status = Command::new("sh")
            .args(["-c", &format!("setsid sh -c '{stop}' >/dev/null 2>&1 &")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("cannot start the cluster's watchdog");
        assert!(status.success(), "cannot start the cluster's watchdog");
    }

    /// The loopback port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the cluster (its data, log and Unix socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Run one SQL statement as the superuser in database `database`.
    pub fn psql(&self, database: &str, sql: &str) {
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                sql,
            ],
        );
    }

    /// A new empty database, and its URL.
    pub fn database_url(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url_of(&name)
    }

    /// The URL of database `name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "stop", "-m", "immediate"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
