//! `bluezone-server`: the reference server binary.
//!
//! `bluezone-server [--config FILE] [--listen ADDR] [--data-dir DIR] ...` serves the workflow;
//! `bluezone-server --database-url postgres://… ...` keeps its records in PostgreSQL instead
//! of the sled store under the data directory, and `bluezone-server migrate-store` copies a
//! sled store into PostgreSQL. `bluezone-server backup` takes a backup of a running server,
//! `bluezone-server restore` restores one into an empty store.
//! A unit's key pair and its `[[units]]` entry come from `bluezone unit keygen` (the protocol's
//! tool), so that the unit's private key is never made on the server.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bluezone_protocol::PublisherKeyPair;
use bluezone_server::config::{Config, ConfigError, LogFormat};
use bluezone_server::domain::files;
use bluezone_server::domain::password::{PasswordHash, random_password};
use bluezone_server::domain::store::{PostgresOptions, PostgresStore};
use bluezone_server::domain::workflow::{IndexScope, PublishedFile};
use bluezone_server::web::publication::{FileSink, PUBLICATION_DIR};
use bluezone_server::web::{self, AppState, unix_now};
use bluezone_server::{PublicationSink, SledStore, Store, Workflow};
use clap::Parser;
use rand_core::UnwrapErr;

/// The reference server of the Bluezone contact-tracing protocol.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// What to do; without a command, serve.
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML configuration file (every field optional; see the crate docs of `config`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// PostgreSQL database to keep the records in, `postgres://user:password@host/db`
    /// (overrides the file; default: the sled store under the data directory).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Address to listen on (overrides the file), e.g. 127.0.0.1:8080; port 0 picks a free one.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory (overrides the file).
    #[arg(long, global = true)]
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
    /// Log lines as text (the default) or as one JSON object per line (overrides the file).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

/// What the server binary does besides serving.
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Give an account a new random password, printed once to standard error, and end its
    /// sessions: for a lost admin password. Offline: stop the server first (the store is
    /// locked while it runs).
    ResetPassword {
        /// The account.
        #[arg(long)]
        user: String,
    },
    /// Copy the sled store under the data directory into the (empty) PostgreSQL database of
    /// `--database-url`, in one transaction, then check that the two stores' digests are
    /// equal. Stop the server first: the sled store is opened, and locked, here.
    MigrateStore,
    /// Take a backup of a running server, through its `GET /api/v1/admin/backup`: one
    /// consistent snapshot of every record, and the publication batch files. The file is
    /// checked (format, checksum, digest) before it is kept; the record count and digest are
    /// printed. The publisher signing key is not in it: keep a copy of that key apart.
    Backup {
        /// The server, as it listens: `http://127.0.0.1:8080` (plain HTTP: run the command on
        /// the server's host, against its loopback address).
        #[arg(long)]
        server: String,
        /// An admin account. Its password is read from the environment variable
        /// BLUEZONE_ADMIN_PASSWORD, or else from the first line of standard input (never from
        /// the command line, which other users can see).
        #[arg(long)]
        user: String,
        /// The file to write (private to the user, 0600); refused if it exists.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup (`bluezone-server backup`) into the configured store, the sled store
    /// under the data directory or the PostgreSQL database of `--database-url`, which must
    /// hold no record; the batch files go under the data directory. The file is checked
    /// first, the publisher key of the data directory (or `--signing-key`) must be the one
    /// the backup names, and the restored store's digest must equal the backup's. Offline:
    /// no server may run on the target.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
}

/// The environment variable `bluezone-server backup` reads the admin password from.
const PASSWORD_VARIABLE: &str = "BLUEZONE_ADMIN_PASSWORD";

/// The command line, each flag's help ending with the default it overrides: the
/// configuration's ([`Config::default`]), what the server uses when neither flag nor file sets
/// the field.
fn command() -> clap::Command {
    use clap::CommandFactory;
    let d = Config::default();
    let defaults = [
        ("listen", d.listen.to_string()),
        ("data_dir", d.data_dir.display().to_string()),
        (
            "publication_interval",
            d.publication_interval_seconds.to_string(),
        ),
        (
            "filter_target_fp_rate",
            format!("{:e}", d.filter_target_fp_rate),
        ),
        ("filter_kind", d.filter_kind.to_string()),
        (
            "signing_key",
            "<data-dir>/publisher.key, made at the first start".into(),
        ),
        ("code_ttl", d.code_ttl_seconds.to_string()),
        (
            "database_url",
            "none: the sled store under <data-dir>/store".into(),
        ),
        ("log_format", "text".into()),
    ];
    let mut cmd = Cli::command().after_help(
        "Every flag overrides the field of the configuration file; every field is listed with \
         its default in reference-server/bluezone.example.toml.",
    );
    for (id, value) in defaults {
        cmd = cmd.mut_arg(id, |a| {
            let help = a.get_help().map(ToString::to_string).unwrap_or_default();
            a.help(format!("{help} [default: {value}]"))
        });
    }
    cmd
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

/// The publisher key in `path`, `None` if there is no such file.
fn read_signing_key(path: &Path) -> Result<Option<PublisherKeyPair>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            let seed: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("{}: expected 64 hex characters", path.display()))?;
            PublisherKeyPair::from_seed(seed)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn load_or_create_signing_key(path: &Path) -> Result<PublisherKeyPair, String> {
    match read_signing_key(path)? {
        Some(pair) => Ok(pair),
        None => {
            let pair = PublisherKeyPair::generate(&mut UnwrapErr(getrandom::SysRng));
            files::write_new_atomically(path, format!("{}\n", hex::encode(pair.seed())).as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "generated the publisher signing key");
            Ok(pair)
        }
    }
}

/// Where the publisher key is: `signing_key`, or `publisher.key` in the data directory.
fn signing_key_path(config: &Config) -> PathBuf {
    config
        .signing_key
        .clone()
        .unwrap_or_else(|| config.data_dir.join("publisher.key"))
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

    fn put_index(&self, scope: IndexScope, bytes: &[u8]) -> std::io::Result<()> {
        self.0.put_index(scope, bytes)
    }

    fn batch(&self, batch_id: u64) -> std::io::Result<Option<Vec<u8>>> {
        self.0.batch(batch_id)
    }

    fn index(&self, scope: IndexScope) -> std::io::Result<Option<Vec<u8>>> {
        self.0.index(scope)
    }

    fn served_batch(&self, batch_id: u64) -> std::io::Result<Option<PublishedFile>> {
        self.0.served_batch(batch_id)
    }

    fn served_index(&self, scope: IndexScope) -> std::io::Result<Option<PublishedFile>> {
        self.0.served_index(scope)
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
    if let Some(v) = &cli.database_url {
        config.database_url = Some(v.clone());
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
    if let Some(v) = cli.log_format {
        config.log_format = v;
    }
    Ok(config)
}

/// Log to standard error: text (coloured on a terminal only) or one JSON object per line with
/// the time, level, target and fields. `RUST_LOG` filters, `info` by default.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// `reset-password`: a new random password for `user` in the store of `config`, its sessions
/// ended. Refused while a server holds the store.
fn reset_password(config: &Config, user: &str) -> Result<(), String> {
    let store: Box<dyn Store> = match &config.database_url {
        Some(url) => Box::new(open_postgres(url, config)),
        None => {
            let dir = config.data_dir.join("store");
            if !dir.is_dir() {
                return Err(format!(
                    "no store in {}: give the server's --config or --data-dir",
                    dir.display()
                ));
            }
            Box::new(SledStore::open(&dir).map_err(|e| {
                format!(
                    "cannot open the store in {} (a running server holds it: stop it first): {e}",
                    dir.display()
                )
            })?)
        }
    };
    let mut account = store
        .account(user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no account {user:?}"))?;
    let mut rng = UnwrapErr(getrandom::SysRng);
    let password = zeroize::Zeroizing::new(random_password(&mut rng));
    account.password = PasswordHash::new(&password, &mut rng).map_err(|e| e.to_string())?;
    account.must_change_password = true;
    store.update_account(&account).map_err(|e| e.to_string())?;
    let ended = store
        .delete_sessions_of(user, None)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "new password for \"{user}\": \"{}\" (shown once, to be changed at the next login; \
         {ended} session(s) ended{})",
        password.as_str(),
        if account.disabled {
            "; the account is disabled: an admin enables it"
        } else {
            ""
        }
    );
    Ok(())
}

/// Resolves at the first SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => fail(format!("cannot handle SIGTERM: {e}")),
        };
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "stopping"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(signal = "interrupt", "stopping");
    }
}

fn main() {
    let cli = {
        use clap::FromArgMatches;
        Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
    };
    let config = configure(&cli).unwrap_or_else(|e| fail(e));
    match &cli.command {
        Some(Command::ResetPassword { user }) => {
            reset_password(&config, user).unwrap_or_else(|e| fail(e));
            return;
        }
        Some(Command::Backup { server, user, out }) => {
            backup(server, user, out).unwrap_or_else(|e| fail(e));
            return;
        }
        Some(Command::Restore { from }) => {
            restore(&config, from).unwrap_or_else(|e| fail(e));
            return;
        }
        Some(Command::MigrateStore) | None => {}
    }
    init_logging(config.log_format);
    let units = config.validate().unwrap_or_else(|e| fail(e));
    if let Some(Command::MigrateStore) = cli.command {
        migrate_store(&config);
        return;
    }
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
    let key_path = signing_key_path(&config);
    let publisher = load_or_create_signing_key(&key_path).unwrap_or_else(|e| fail(e));
    let store: Box<dyn Store> = match &config.database_url {
        Some(url) => Box::new(open_postgres(url, &config)),
        None => {
            Box::new(SledStore::open(&config.data_dir.join("store")).unwrap_or_else(|e| fail(e)))
        }
    };
    // Files left readable by an older version, or copied in by hand, are made private too.
    if let Err(e) = files::restrict_tree(&config.data_dir) {
        fail(format!(
            "cannot make {} private: {e}",
            config.data_dir.display()
        ));
    }
    let settings = config.settings(units);
    let files = FileSink::new(config.data_dir.join(PUBLICATION_DIR));
    let sink: Arc<dyn PublicationSink> = if std::env::var_os(FAULT_EXIT_AFTER_BATCH_FILE).is_some()
    {
        tracing::warn!("fault injection: the server exits after its next batch file is written");
        Arc::new(ExitAfterBatchFile(files))
    } else {
        Arc::new(files)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot start the runtime: {e}")));
    // The port first: a start that cannot listen fails before anything is created, so the
    // first-start admin password is never made, and lost, by a start that then fails.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.listen))
        .unwrap_or_else(|e| fail(format!("cannot listen on {}: {e}", config.listen)));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| fail(format!("no local address: {e}")));
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
        // Shown this once, the account stored: only its PBKDF2 hash is kept. Standard error,
        // not the log, and never standard output, which a service manager may keep.
        eprintln!(
            "first start: created account \"admin\" with password \"{password}\" \
             (shown once; log in and change it)"
        );
        println!("first start: the admin password is on standard error, shown once");
    }
    let state = Arc::new(AppState {
        workflow,
        limits: config.limits(),
        trusted_proxies: config.trusted_proxies.clone(),
        console: config.console,
        draining: AtomicBool::new(false),
        decoy_timing: Default::default(),
        next_publication: AtomicU64::new(0),
    });
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let drained = runtime.block_on(async {
        let records = match &config.database_url {
            Some(_) => "records in PostgreSQL, ".to_owned(),
            None => String::new(),
        };
        println!(
            "listening on http://{address} ({records}data in {}; publisher key {})",
            config.data_dir.display(),
            hex::encode(state.workflow.publisher_key().0)
        );
        spawn_background(&state, config.publication_interval_seconds);
        web::serve(listener, Arc::clone(&state), stop_signal(), grace)
            .await
            .unwrap_or_else(|e| fail(format!("server failed: {e}")))
    });
    match drained {
        web::Drained::All => tracing::info!("in-flight requests finished"),
        web::Drained::DeadlinePassed => tracing::warn!(
            grace_seconds = grace.as_secs(),
            "requests still running at the end of the grace period were cut"
        ),
    }
    // Background tasks end with the runtime; the store is closed (and flushed) when the last
    // handle on the workflow goes. Every acknowledged write was flushed before its answer.
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(state);
    tracing::info!("stopped");
}

fn open_postgres(url: &str, config: &Config) -> PostgresStore {
    let options = PostgresOptions {
        max_connections: config.database_max_connections,
        ..PostgresOptions::default()
    };
    PostgresStore::open_with(url, &options).unwrap_or_else(|e| fail(e))
}

/// `bluezone-server migrate-store`: see [`Command::MigrateStore`].
fn migrate_store(config: &Config) {
    let Some(url) = &config.database_url else {
        fail("migrate-store needs the target database: --database-url postgres://…");
    };
    let dir = config.data_dir.join("store");
    if !dir.exists() {
        fail(format!("no sled store in {}", dir.display()));
    }
    let sled = SledStore::open(&dir).unwrap_or_else(|e| fail(e));
    let postgres = open_postgres(url, config);
    if !postgres.is_empty().unwrap_or_else(|e| fail(e)) {
        fail("the database already holds records: migrate-store copies into an empty one only");
    }
    let copied = postgres
        .import(sled.raw_records())
        .unwrap_or_else(|e| fail(e));
    let from = sled.digest().unwrap_or_else(|e| fail(e));
    let to = postgres.digest().unwrap_or_else(|e| fail(e));
    println!("copied {copied} records from {}", dir.display());
    println!("sled store digest:       {}", hex::encode(from));
    println!("PostgreSQL store digest: {}", hex::encode(to));
    if from != to {
        fail("the digests differ: the copy is not faithful; do not start on the database");
    }
    println!("the digests are equal: start the server with this database_url");
}

/// The admin password for `backup`: [`PASSWORD_VARIABLE`], or the first line of standard
/// input.
fn admin_password() -> Result<zeroize::Zeroizing<String>, String> {
    if let Some(value) = std::env::var_os(PASSWORD_VARIABLE) {
        return value
            .into_string()
            .map(zeroize::Zeroizing::new)
            .map_err(|_| format!("{PASSWORD_VARIABLE} is not UTF-8"));
    }
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if password.is_empty() {
        return Err(format!(
            "no password: set {PASSWORD_VARIABLE} or give it on standard input"
        ));
    }
    Ok(password)
}

/// The server's error message in an API error answer, or the status.
fn api_error(response: &mut ureq::http::Response<ureq::Body>) -> String {
    let status = response.status();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .map_or_else(|| status.to_string(), |m| format!("{status}: {m}"))
}

/// `bluezone-server backup`: see [`Command::Backup`].
fn backup(server: &str, user: &str, out: &Path) -> Result<(), String> {
    use bluezone_server::domain::backup::Backup;
    use std::io::Write;
    if !server.starts_with("http://") {
        return Err(format!(
            "--server {server}: give the server's own address, http://HOST:PORT (plain HTTP: \
             run the backup on the server's host, against its listen address)"
        ));
    }
    if out.exists() {
        return Err(format!("{} exists: give a new file", out.display()));
    }
    let password = admin_password()?;
    let base = server.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(3600)))
        .build()
        .into();
    let login = serde_json::json!({"username": user, "password": password.as_str()}).to_string();
    let login = zeroize::Zeroizing::new(login);
    let mut response = agent
        .post(format!("{base}/api/v1/login"))
        .header("Content-Type", "application/json")
        .send(login.as_str())
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    if response.status() != 200 {
        return Err(format!(
            "login as {user:?} refused: {}",
            api_error(&mut response)
        ));
    }
    let session = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())
        .and_then(|text| {
            serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string())
        })
        .map_err(|e| format!("login answer: {e}"))?;
    let token = zeroize::Zeroizing::new(session["token"].as_str().unwrap_or_default().to_owned());
    let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.as_str()));
    let fetched = agent
        .get(format!("{base}/api/v1/admin/backup"))
        .header("Authorization", bearer.as_str())
        .call();
    // The session ends whatever the backup did.
    let _ = agent
        .post(format!("{base}/api/v1/logout"))
        .header("Authorization", bearer.as_str())
        .send_empty();
    let mut response = fetched.map_err(|e| format!("backup request failed: {e}"))?;
    if response.status() != 200 {
        return Err(format!("backup refused: {}", api_error(&mut response)));
    }
    // Into a private temporary file next to `out`, then checked, then linked to `out` (never
    // over a file that appeared meanwhile).
    let tmp = out.with_extension(format!("partial.{}", std::process::id()));
    let written = (|| {
        let mut file = files::create_private_file(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut body = response.body_mut().with_config().limit(u64::MAX).reader();
        std::io::copy(&mut body, &mut file).map_err(|e| format!("download failed: {e}"))?;
        file.flush()
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let bytes =
            std::fs::read(&tmp).map_err(|e| format!("cannot read {}: {e}", tmp.display()))?;
        Backup::read(&bytes).map_err(|e| format!("the server's answer is {e}"))
    })();
    let backup = match written {
        Ok(backup) => backup,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    files::link_new(&tmp, out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let h = &backup.header;
    println!(
        "backup of {} records and {} batch files written to {}",
        h.records,
        h.files,
        out.display()
    );
    println!("store digest: {}", h.digest);
    println!(
        "publisher key: {} (its private key is not in the backup: keep a copy of it apart)",
        h.publisher_key
    );
    Ok(())
}

/// `bluezone-server restore`: see [`Command::Restore`].
fn restore(config: &Config, from: &Path) -> Result<(), String> {
    use bluezone_server::domain::backup::Backup;
    use bluezone_server::domain::store::SLED_SCHEMA_VERSION;
    let bytes = std::fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let backup = Backup::read(&bytes).map_err(|e| format!("{}: {e}", from.display()))?;
    let header = &backup.header;
    // The key phones pin must be the one that signed the restored batches.
    let key_path = signing_key_path(config);
    let key = match read_signing_key(&key_path)? {
        Some(pair) => hex::encode(pair.public_key().0),
        None => {
            return Err(format!(
                "no publisher key at {}: put there the key of the server the backup was taken \
                 on (public key {}), kept apart from the backup; a new key would make phones \
                 refuse every batch",
                key_path.display(),
                header.publisher_key
            ));
        }
    };
    if key != header.publisher_key {
        return Err(format!(
            "the publisher key at {} (public key {key}) is not the backup's ({}): phones pin \
             the backup's; use that key",
            key_path.display(),
            header.publisher_key
        ));
    }
    files::create_private_dir(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    // The batch files first (a batch file without its record is never served): refused if
    // one of them is there with other bytes, before anything is written.
    let sink = FileSink::new(config.data_dir.join(PUBLICATION_DIR));
    let mut new_files = Vec::new();
    for (id, file) in &backup.batches {
        match sink.batch(*id) {
            Ok(None) => new_files.push((*id, file)),
            Ok(Some(there)) if &there == file => {}
            Ok(Some(_)) => {
                return Err(format!(
                    "{} holds another batch {id}: restore into an empty data directory",
                    sink.batch_path(*id).display()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "cannot read {}: {e}",
                    sink.batch_path(*id).display()
                ));
            }
        }
    }
    let (written, digest, target) = match &config.database_url {
        Some(url) => {
            let postgres = open_postgres(url, config);
            if !postgres.is_empty().map_err(|e| e.to_string())? {
                return Err("the database already holds records: restore into an empty one".into());
            }
            if header.record_schema != SLED_SCHEMA_VERSION {
                return Err(format!(
                    "the backup's records are of schema {}, this server's {SLED_SCHEMA_VERSION}: \
                     restore it into a sled data directory (which converts them), then \
                     migrate-store",
                    header.record_schema
                ));
            }
            write_batches(&sink, &new_files)?;
            let records = backup.records.iter().cloned().map(Ok);
            let written = postgres.import(records).map_err(|e| e.to_string())?;
            let digest = postgres.digest().map_err(|e| e.to_string())?;
            (written, digest, "the PostgreSQL database".to_owned())
        }
        None => {
            let dir = config.data_dir.join("store");
            let staging = config.data_dir.join("store.restoring");
            if dir.exists() {
                let there = SledStore::open(&dir).map_err(|e| {
                    format!(
                        "cannot open the store in {} (a running server holds it: stop it \
                         first): {e}",
                        dir.display()
                    )
                })?;
                if !there.holds_nothing() {
                    return Err(format!(
                        "the store in {} holds records: restore into an empty data directory \
                         (or move that store away first)",
                        dir.display()
                    ));
                }
            }
            if staging.exists() {
                return Err(format!(
                    "{} exists (an interrupted restore?): remove it first",
                    staging.display()
                ));
            }
            write_batches(&sink, &new_files)?;
            let records = backup.records.iter().cloned().map(Ok);
            let (store, written) = SledStore::import(&staging, header.record_schema, records)
                .map_err(|e| format!("{}: {e}", staging.display()))?;
            let digest = store.digest().map_err(|e| e.to_string())?;
            drop(store);
            // Into place: the empty store that may be there gives way.
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("cannot remove the empty {}: {e}", dir.display()))?;
            }
            std::fs::rename(&staging, &dir).map_err(|e| {
                format!(
                    "cannot move {} to {}: {e}",
                    staging.display(),
                    dir.display()
                )
            })?;
            (written, digest, dir.display().to_string())
        }
    };
    println!(
        "restored {written} records and {} batch files into {target}",
        backup.batches.len()
    );
    println!("backup digest:         {}", header.digest);
    println!("restored store digest: {}", hex::encode(digest));
    if hex::encode(digest) != header.digest {
        return Err(
            "the digests differ: the restore is not faithful; do not start a server on it".into(),
        );
    }
    println!("the digests are equal: start the server");
    Ok(())
}

fn write_batches(sink: &FileSink, batches: &[(u64, &Vec<u8>)]) -> Result<(), String> {
    for (id, bytes) in batches {
        sink.put_batch(*id, bytes)
            .map_err(|e| format!("cannot write {}: {e}", sink.batch_path(*id).display()))?;
    }
    Ok(())
}

/// Scheduled publication, and hourly purging of what retention no longer allows.
fn spawn_background(state: &Arc<AppState>, publication_interval: u64) {
    if publication_interval > 0 {
        let s = Arc::clone(state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(publication_interval));
            tick.tick().await;
            loop {
                let due = unix_now() + publication_interval;
                s.next_publication.store(due, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help` shows, for every flag that overrides the file, the default it overrides.
    #[test]
    fn help_shows_every_default() {
        let cmd = command();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if ["config", "help", "version"].contains(&id) {
                continue;
            }
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.contains("[default: "), "--{id}: {help}");
        }
        let text = command().render_long_help().to_string();
        assert!(text.contains("[default: 127.0.0.1:8080]"), "{text}");
        assert!(text.contains("[default: 3600]"), "{text}");
        assert!(text.contains("bluezone.example.toml"), "{text}");
    }
}
