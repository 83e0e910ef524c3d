//! --as-user: the local account whose uid, gid and groups the probes take on, looked up while the plan is built.

use std::ffi::CString;

use nix::unistd::{getgrouplist, Uid, User};

use super::PlanError;

/// The identity the probes run under after root gives itself up: a local account, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The account's name in the user database (also when it was given as a uid).
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, as the account gets them at login (its primary group included).
    pub groups: Vec<u32>,
}

/// Looks up `given` (a name, or a uid) and checks that this process may become it.
///
/// The account is looked up before the root check, so a misspelt name is named as such whoever runs it.
pub(super) fn resolve(given: &str, euid_is_root: bool) -> Result<RunAs, PlanError> {
    let user = lookup(given)?;
    if user.uid.is_root() {
        return Err(PlanError::AsUserRoot {
            name: user.name.clone(),
        });
    }
    if !euid_is_root {
        return Err(PlanError::AsUserNeedsRoot {
            name: user.name.clone(),
        });
    }
    // getgrouplist wants the name as the C library spells it; a name from getpwnam has no NUL in it.
    let c_name = CString::new(user.name.as_bytes()).map_err(|_| PlanError::NoSuchUser {
        name: given.to_string(),
    })?;
    let groups = getgrouplist(&c_name, user.gid).map_err(|errno| PlanError::UserLookup {
        name: user.name.clone(),
        errno,
    })?;
    let mut groups: Vec<u32> = groups.into_iter().map(|g| g.as_raw()).collect();
    groups.sort_unstable();
    groups.dedup();
    Ok(RunAs {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups,
    })
}

/// The account by name, else by uid when `given` is a number (a user named "1000" still wins, as in `id`).
fn lookup(given: &str) -> Result<User, PlanError> {
    let failed = |errno| PlanError::UserLookup {
        name: given.to_string(),
        errno,
    };
    if let Some(user) = User::from_name(given).map_err(failed)? {
        return Ok(user);
    }
    if let Ok(uid) = given.parse::<u32>() {
        if let Some(user) = User::from_uid(Uid::from_raw(uid)).map_err(failed)? {
            return Ok(user);
        }
    }
    Err(PlanError::NoSuchUser {
        name: given.to_string(),
    })
}
