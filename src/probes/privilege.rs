//! Giving root up for --as-user: every thread of the process takes on one user's groups, gid and uid for good, and proves it cannot go back.

use nix::errno::Errno;
use nix::unistd::{self, Gid, Uid, User};

use crate::plan::RunAs;
use crate::report::UserFacts;

/// Why the switch to the --as-user account failed; nothing has been probed when it does.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error("cannot set the supplementary groups of {name}: {errno}; nothing was probed")]
    Groups { name: String, errno: Errno },
    #[error("cannot switch to the group of {name} (gid {gid}): {errno}; nothing was probed")]
    Gid {
        name: String,
        gid: u32,
        errno: Errno,
    },
    #[error("cannot switch to the user {name} (uid {uid}): {errno}; nothing was probed")]
    Uid {
        name: String,
        uid: u32,
        errno: Errno,
    },
    #[error(
        "after switching to {name} (uid {uid}) this process could still become root again; \
             it stops here rather than probe with rights {name} does not have"
    )]
    RootRegained { name: String, uid: u32 },
    #[error(
        "after switching to {name} this process runs as {got}, not as {want}; \
             it stops here rather than probe with rights {name} does not have"
    )]
    Mismatch {
        name: String,
        want: String,
        got: String,
    },
}

/// Switches the whole process to `user` for good: supplementary groups, then gid, then uid.
///
/// glibc applies setgroups, setgid and setuid to every thread of the process (it signals each one), so
/// the runtime's worker threads, which open the probe sockets, change too; `verify` checks that they did.
pub fn drop_to(user: &RunAs) -> Result<(), DropError> {
    let name = || user.name.clone();
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    // In this order because each step needs root: once the uid is not 0, groups and gid are fixed.
    unistd::setgroups(&groups).map_err(|errno| DropError::Groups {
        name: name(),
        errno,
    })?;
    unistd::setgid(Gid::from_raw(user.gid)).map_err(|errno| DropError::Gid {
        name: name(),
        gid: user.gid,
        errno,
    })?;
    // As root, setuid sets the real, effective and saved uid at once and clears every capability.
    unistd::setuid(Uid::from_raw(user.uid)).map_err(|errno| DropError::Uid {
        name: name(),
        uid: user.uid,
        errno,
    })?;
    verify(user)
}

/// Proves the switch: root cannot be taken back, and this process and each of its threads hold exactly `user`'s ids.
fn verify(user: &RunAs) -> Result<(), DropError> {
    if unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(DropError::RootRegained {
            name: user.name.clone(),
            uid: user.uid,
        });
    }
    let want = Ids {
        uids: [user.uid; 4],
        gids: [user.gid; 4],
        groups: sorted(user.groups.clone()),
    };
    let mismatch = |got: String| DropError::Mismatch {
        name: user.name.clone(),
        want: want.to_string(),
        got,
    };
    match own_ids() {
        Some(own) if own == want => {}
        Some(own) => return Err(mismatch(own.to_string())),
        None => return Err(mismatch("ids it cannot read".into())),
    }
    // Belt and braces over the C library: each thread's own ids, as the kernel shows them. Without
    // /proc there is nothing to read, and the C library's all-threads guarantee stands alone.
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                // A thread that ended since the listing has no status left to check.
                continue;
            };
            match parse_status(&status) {
                Some(ids) if ids == want => {}
                Some(ids) => return Err(mismatch(format!("{ids} in one of its threads"))),
                None => return Err(mismatch("ids it cannot read in one of its threads".into())),
            }
        }
    }
    Ok(())
}

/// Who this process is now: the effective ids every socket opened from here on carries.
///
/// `as_user` is the account --as-user switched to, if it did; its name was looked up while root could.
pub fn current_user(as_user: Option<&RunAs>) -> UserFacts {
    let uid = unistd::geteuid();
    let name = match as_user {
        Some(u) => Some(u.name.clone()),
        None => User::from_uid(uid).ok().flatten().map(|u| u.name),
    };
    UserFacts {
        name,
        uid: uid.as_raw(),
        gid: unistd::getegid().as_raw(),
        groups: sorted(
            unistd::getgroups()
                .unwrap_or_default()
                .into_iter()
                .map(|g| g.as_raw())
                .collect(),
        ),
        as_user: as_user.is_some(),
    }
}

/// Real, effective, saved and filesystem ids, and the supplementary groups (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ids {
    uids: [u32; 4],
    gids: [u32; 4],
    groups: Vec<u32>,
}

impl std::fmt::Display for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        write!(
            f,
            "uid {} gid {} groups {}",
            list(&self.uids),
            list(&self.gids),
            list(&self.groups)
        )
    }
}

/// This thread's ids through the system calls (the filesystem ids follow the effective ones).
fn own_ids() -> Option<Ids> {
    let u = unistd::getresuid().ok()?;
    let g = unistd::getresgid().ok()?;
    let groups = unistd::getgroups().ok()?;
    Some(Ids {
        uids: [u.real, u.effective, u.saved, u.effective].map(Uid::as_raw),
        gids: [g.real, g.effective, g.saved, g.effective].map(Gid::as_raw),
        groups: sorted(groups.into_iter().map(|g| g.as_raw()).collect()),
    })
}

/// The `Uid:`, `Gid:` and `Groups:` lines of a /proc/…/status file.
fn parse_status(text: &str) -> Option<Ids> {
    let field = |key: &str| -> Option<Vec<u32>> {
        let line = text.lines().find_map(|l| l.strip_prefix(key))?;
        line.split_whitespace().map(|w| w.parse().ok()).collect()
    };
    let four = |v: Vec<u32>| -> Option<[u32; 4]> { v.try_into().ok() };
    Some(Ids {
        uids: four(field("Uid:")?)?,
        gids: four(field("Gid:")?)?,
        groups: sorted(field("Groups:")?),
    })
}

fn sorted(mut ids: Vec<u32>) -> Vec<u32> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        let text = "Name:\tsmtp-doctor\nUmask:\t0022\nUid:\t33\t33\t33\t33\nGid:\t33\t33\t33\t33\n\
                    FDSize:\t64\nGroups:\t33 4 \nNStgid:\t1\n";
        assert_eq!(
            parse_status(text),
            Some(Ids {
                uids: [33; 4],
                gids: [33; 4],
                groups: vec![4, 33],
            })
        );
        // No supplementary groups: the line is there, empty.
        let none = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n";
        assert_eq!(parse_status(none).map(|i| i.groups), Some(Vec::new()));
        assert_eq!(
            parse_status("Uid:\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\n"),
            None
        );
        assert_eq!(parse_status("garbage"), None);
    }

    /// The process itself is never switched here (tests share it); its own ids read the same both ways.
    #[test]
    fn own_ids_match_this_threads_status() {
        let from_proc = std::fs::read_to_string("/proc/thread-self/status")
            .ok()
            .and_then(|s| parse_status(&s));
        if let (Some(own), Some(proc)) = (own_ids(), from_proc) {
            assert_eq!(own, proc);
        }
    }

    #[test]
    fn current_user_names_the_account() {
        let facts = current_user(None);
        assert_eq!(facts.uid, unistd::geteuid().as_raw());
        assert!(!facts.as_user);
        let as_user = RunAs {
            name: "www-data".into(),
            uid: 33,
            gid: 33,
            groups: vec![33],
        };
        let facts = current_user(Some(&as_user));
        assert_eq!(facts.name.as_deref(), Some("www-data"));
        assert!(facts.as_user);
    }
}
