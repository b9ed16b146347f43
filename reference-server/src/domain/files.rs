//! Files only the server's user may read: the data directory is `0700` and every file in it
//! `0600` from its creation, whatever the umask (the store holds the declaration-code and
//! contact-history HMAC secrets, F0 daily keys and password hashes; `publisher.key` holds the
//! signing seed).
//!
//! The publication files live in the same private directory: they are public by nature, but
//! the server serves them over HTTP (and a CDN pulls them from the server as its origin), so
//! nothing needs to read them from the disk but the server itself. One rule with no exception
//! is easier to check than a tree of modes.
//!
//! On other platforms than unix the modes are left to the operating system.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of every directory the server creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the server creates.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (and its missing parents) as `0700`, and make it `0700` if it was there.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)?;
    set_mode(dir, DIR_MODE)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Make every directory under `dir` (itself included) `0700` and every file `0600`: for the
/// files a library (sled) creates with the umask's mode. Symbolic links are left alone.
pub fn restrict_tree(dir: &Path) -> std::io::Result<()> {
    set_mode(dir, DIR_MODE)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            restrict_tree(&entry.path())?;
        } else if kind.is_file() {
            set_mode(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

/// A new file, `0600` from its creation; refused if `path` exists.
pub fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options.open(path)
}

/// Write `bytes` to a new private temporary file next to `path`, synced; its path. Each call
/// has a temporary file of its own, so parallel writers never mix their bytes.
fn write_temporary(path: &Path, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let written = (|| {
        let mut f = create_private_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

/// Write `bytes` to `path` so that a reader sees the old file or the new one, never a part:
/// a private temporary file (`0600` from its creation), synced, renamed over the old one, and
/// the directory synced. Parallel writers of one path never mix their bytes: the last rename
/// wins. The directory is created `0700` if missing.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temporary(path, bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// [`write_atomically`], but never over an existing file: refused with
/// [`std::io::ErrorKind::AlreadyExists`] if `path` exists, and then nothing is changed. (The
/// temporary file is linked to `path`, which fails rather than replace, then removed.)
pub fn write_new_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temporary(path, bytes)?;
    link_new(&tmp, path)
}

/// Give the finished (synced) file `tmp` the name `path`, never over an existing file:
/// refused with [`std::io::ErrorKind::AlreadyExists`] if `path` exists. `tmp` is removed
/// either way; the directory is synced.
pub fn link_new(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let linked = fs::hard_link(tmp, path);
    let _ = fs::remove_file(tmp);
    linked?;
    sync_dir(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_private_from_creation() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_private_dir(&data).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&data), 0o700);
        let file = data.join("sub/x.bin");
        write_atomically(&file, b"one").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&data.join("sub")), 0o700);
        // Never over an existing file.
        let refused = write_new_atomically(&file, b"two").unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&file).unwrap(), b"one");
        assert_eq!(fs::read_dir(data.join("sub")).unwrap().count(), 1);
        // A file made by someone else's code is restricted afterwards.
        let loose = data.join("loose");
        fs::write(&loose, b"x").unwrap();
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).unwrap();
        restrict_tree(dir.path()).unwrap();
        assert_eq!(mode(&loose), 0o600);
    }
}
