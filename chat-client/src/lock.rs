//! One client per profile at a time: an exclusive advisory lock on `<profile>/lock`, held as
//! long as the client lives.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::error::ClientError;

/// The lock file inside a profile directory.
pub const LOCK_FILE: &str = "lock";

/// The held lock; dropping it releases the profile.
#[derive(Debug)]
pub(crate) struct ProfileLock {
    _file: File,
}

impl ProfileLock {
    /// Takes the profile in `dir` (which must exist), or says who has it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, ClientError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(LOCK_FILE))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Self { _file: file }),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                Err(ClientError::ProfileLocked(dir.to_path_buf()))
            }
            Err(e) => Err(ClientError::Io(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_held_by_one_lock_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = ProfileLock::acquire(dir.path()).unwrap();
        match ProfileLock::acquire(dir.path()) {
            Err(ClientError::ProfileLocked(p)) => assert_eq!(p, dir.path()),
            other => panic!("{other:?}"),
        }
        drop(held);
        ProfileLock::acquire(dir.path()).expect("free once released");
    }
}
