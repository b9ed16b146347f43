//! `bluezone-server`: the reference server binary.
//!
//! `bluezone-server [--config FILE] [--listen ADDR] [--data-dir DIR] ...` serves the workflow.
//! A unit's key pair and its `[[units]]` entry come from `bluezone unit keygen` (the protocol's
//! tool), so that the unit's private key is never made on the server.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bluezone_protocol::PublisherKeyPair;
use bluezone_server::config::{Config, ConfigError};
use bluezone_server::domain::files;
use bluezone_server::domain::workflow::PublishedFile;
use bluezone_server::web::publication::{FileSink, PUBLICATION_DIR};
use bluezone_server::web::{self, AppState, unix_now};
use bluezone_server::{PublicationSink, SledStore, Store, Workflow};
use clap::Parser;
use rand_core::UnwrapErr;

/// The reference server of the Bluezone contact-tracing protocol.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (every field optional; see the crate docs of `config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the file), e.g. 127.0.0.1:8080; port 0 picks a free one.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory (overrides the file).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seconds between scheduled publication runs, 0 for on demand only (overrides the file).
    #[arg(long)]
    publication_interval: Option<u64>,
    /// Target false-positive rate of the batch filters (overrides the file).
    #[arg(long)]
    filter_target_fp_rate: Option<f64>,
    /// Filter kind of the batches: 2 (compressed, the default) or 1 (partitioned Bloom filter)
    /// (overrides the file; SPEC.md §8.1).
    #[arg(long)]
    filter_kind: Option<u8>,
    /// File with the publisher's Ed25519 seed, 64 hex characters (overrides the file).
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// Lifetime of declaration codes, seconds (overrides the file).
    #[arg(long)]
    code_ttl: Option<u64>,
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("bluezone-server: {message}");
    std::process::exit(2)
}

/// A signing key outside the data directory is the operator's file: say so if others can read
/// it, but leave its mode alone.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the publisher signing key is readable by other users; make it 0600"
            );
        }
    }
}

fn load_or_create_signing_key(path: &Path) -> Result<PublisherKeyPair, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            let seed: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("{}: expected 64 hex characters", path.display()))?;
            PublisherKeyPair::from_seed(seed).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pair = PublisherKeyPair::generate(&mut UnwrapErr(getrandom::SysRng));
            files::write_new_atomically(path, format!("{}\n", hex::encode(pair.seed())).as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "generated the publisher signing key");
            Ok(pair)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Fault-injection hook, for the crash tests (`tests/server_hardening.rs`): when this variable
/// is set, the server exits with status [`FAULT_EXIT_STATUS`] right after it has written a
/// batch file, before the store records the batch: the crash a publication run must survive
/// without reusing the batch id. Never set it in a deployment.
const FAULT_EXIT_AFTER_BATCH_FILE: &str = "BLUEZONE_FAULT_EXIT_AFTER_BATCH_FILE";
/// The exit status of the injected crash.
const FAULT_EXIT_STATUS: i32 = 86;

/// The [`FileSink`], exiting the process after it has kept a batch (see
/// [`FAULT_EXIT_AFTER_BATCH_FILE`]).
#[derive(Debug)]
struct ExitAfterBatchFile(FileSink);

impl PublicationSink for ExitAfterBatchFile {
    fn put_batch(&self, batch_id: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.0.put_batch(batch_id, bytes)?;
        eprintln!("bluezone-server: fault injection: exiting after writing batch {batch_id}");
        std::process::exit(FAULT_EXIT_STATUS)
    }

    fn put_index(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.put_index(bytes)
    }

    fn batch(&self, batch_id: u64) -> std::io::Result<Option<Vec<u8>>> {
        self.0.batch(batch_id)
    }

    fn index(&self) -> std::io::Result<Option<Vec<u8>>> {
        self.0.index()
    }

    fn served_batch(&self, batch_id: u64) -> std::io::Result<Option<PublishedFile>> {
        self.0.served_batch(batch_id)
    }

    fn served_index(&self) -> std::io::Result<Option<PublishedFile>> {
        self.0.served_index()
    }
}

fn configure(cli: &Cli) -> Result<Config, ConfigError> {
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(v) = cli.listen {
        config.listen = v;
    }
    if let Some(v) = &cli.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = cli.publication_interval {
        config.publication_interval_seconds = v;
    }
    if let Some(v) = cli.filter_target_fp_rate {
        config.filter_target_fp_rate = v;
    }
    if let Some(v) = cli.filter_kind {
        config.filter_kind = v;
    }
    if let Some(v) = &cli.signing_key {
        config.signing_key = Some(v.clone());
    }
    if let Some(v) = cli.code_ttl {
        config.code_ttl_seconds = v;
    }
    Ok(config)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = configure(&cli).unwrap_or_else(|e| fail(e));
    let units = config.validate().unwrap_or_else(|e| fail(e));
    if units.is_empty() {
        tracing::warn!(
            "no preventive-medicine unit configured: F1 reports will be refused until one is \
             (see `bluezone unit keygen`), or until an admin registers one (POST /api/v1/units \
             or the console's admin page)"
        );
    }
    // Private to the server's user whatever the umask: the directory 0700, every file 0600
    // (`domain::files`).
    if let Err(e) = files::create_private_dir(&config.data_dir) {
        fail(format!("cannot create {}: {e}", config.data_dir.display()));
    }
    let key_path = config
        .signing_key
        .clone()
        .unwrap_or_else(|| config.data_dir.join("publisher.key"));
    let publisher = load_or_create_signing_key(&key_path).unwrap_or_else(|e| fail(e));
    let store = SledStore::open(&config.data_dir.join("store")).unwrap_or_else(|e| fail(e));
    // Files left readable by an older version, or copied in by hand, are made private too.
    if let Err(e) = files::restrict_tree(&config.data_dir) {
        fail(format!(
            "cannot make {} private: {e}",
            config.data_dir.display()
        ));
    }
    let store: Box<dyn Store> = Box::new(store);
    let settings = config.settings(units);
    let files = FileSink::new(config.data_dir.join(PUBLICATION_DIR));
    let sink: Arc<dyn PublicationSink> = if std::env::var_os(FAULT_EXIT_AFTER_BATCH_FILE).is_some()
    {
        tracing::warn!("fault injection: the server exits after its next batch file is written");
        Arc::new(ExitAfterBatchFile(files))
    } else {
        Arc::new(files)
    };
    let (workflow, admin_password) = Workflow::open(
        store,
        settings,
        publisher,
        sink,
        Box::new(UnwrapErr(getrandom::SysRng)),
        unix_now(),
    )
    .unwrap_or_else(|e| fail(e));
    if let Some(password) = admin_password {
        // Shown this once: only its PBKDF2 hash is stored.
        println!(
            "first start: created account \"admin\" with password \"{password}\" \
             (shown once; log in and change it)"
        );
    }
    let state = Arc::new(AppState {
        workflow,
        limits: config.limits(),
        trusted_proxies: config.trusted_proxies.clone(),
        console: config.console,
        decoy_timing: Default::default(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot start the runtime: {e}")));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .unwrap_or_else(|e| fail(format!("cannot listen on {}: {e}", config.listen)));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| fail(format!("no local address: {e}")));
        println!(
            "listening on http://{address} (data in {}; publisher key {})",
            config.data_dir.display(),
            hex::encode(state.workflow.publisher_key().0)
        );
        spawn_background(&state, config.publication_interval_seconds);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        if let Err(e) = web::serve(listener, state, shutdown).await {
            fail(format!("server failed: {e}"));
        }
    });
}

/// Scheduled publication, and hourly purging of what retention no longer allows.
fn spawn_background(state: &Arc<AppState>, publication_interval: u64) {
    if publication_interval > 0 {
        let s = Arc::clone(state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(publication_interval));
            tick.tick().await;
            loop {
                tick.tick().await;
                let s = Arc::clone(&s);
                let run = tokio::task::spawn_blocking(move || s.workflow.publish(unix_now()));
                match run.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "scheduled publication failed"),
                    Err(e) => tracing::error!(error = %e, "scheduled publication panicked"),
                }
            }
        });
    }
    let s = Arc::clone(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let s = Arc::clone(&s);
            let run = tokio::task::spawn_blocking(move || {
                let now = unix_now();
                let removed = s.workflow.purge(now)?;
                s.workflow.write_publication_index(now)?;
                Ok::<_, bluezone_server::ApiError>(removed)
            });
            match run.await {
                Ok(Ok(removed)) => tracing::info!(removed, "retention purge"),
                Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed"),
                Err(e) => tracing::error!(error = %e, "retention purge panicked"),
            }
        }
    });
}
