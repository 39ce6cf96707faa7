//! Files written whole or not at all: the complete text goes to a temporary file beside the
//! file, synced, and only then takes the file's name (known_servers, the user's key).

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Write `bytes` to a new temporary file beside `path` (mode `mode`, this process's own name
/// for it) and sync it: the file to rename or link into place. It is removed again when the
/// write fails.
///
/// # Errors
/// The OS's.
pub fn synced_temp(path: &Path, bytes: &[u8], mode: u32) -> io::Result<PathBuf> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
