//! Reads this host's MTA with its own tools: which one (binaries, configuration, listeners), how it sends (postconf, exim -bP), whether its password map holds the relay (postmap -q), and its queue (postqueue -j; exim -bp and the main log). Every tool runs with a time limit; nothing here prints.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::tool;
use crate::host::{exim, postfix};
use crate::plan::{Credentials, MtaPlan};
use crate::report::mta::{
    EntryState, MapEntry, MapFile, MapRole, MtaFacts, MtaKind, QueueFacts, QueueNotRead, Route,
};
use crate::report::Listener;

/// Most bytes read from a tool's output (a queue listing of ~10,000 messages).
const MAX_OUTPUT: usize = 8 * 1024 * 1024;
/// How much of Exim's main log is read, from its end: the recent deferrals.
const MAX_LOG: u64 = 8 * 1024 * 1024;
/// Most bytes read from a small file (a CA bundle, passwd.client, update-exim4.conf.conf).
const MAX_FILE: u64 = 1024 * 1024;

/// What the reading found: the facts for the report, and what the relay probe needs but no report may hold.
pub struct Gathered {
    pub facts: MtaFacts,
    /// The relay's user and password from the MTA's own map (a secret: never in the report).
    pub credentials: Option<Credentials>,
    /// The CA certificates the MTA trusts for its relay (Postfix smtp_tls_CAfile).
    pub trust: Vec<CertificateDer<'static>>,
}

/// Finds the MTA and reads it.
pub async fn gather(plan: &MtaPlan) -> Gathered {
    let timeout = plan.options.timeout;
    let listeners: Vec<Listener> = super::host::gather()
        .mail_listeners
        .into_iter()
        .filter(|l| matches!(l.port, 25 | 465 | 587))
        .collect();
    let dir = plan.postfix_config.to_string_lossy().into_owned();
    let postconf = tool::find("postconf");
    let postfix_configured = Path::new(&dir).join("main.cf").is_file();
    let exim_bin = exim::BINARIES.iter().find_map(|b| tool::find(b));
    let mut g = match (postconf, exim_bin) {
        (Some(pc), _) if plan.postfix_named || postfix_configured => {
            read_postfix(&pc, &dir, timeout).await
        }
        (_, Some(ex)) => read_exim(&ex, timeout).await,
        (Some(pc), None) => read_postfix(&pc, &dir, timeout).await,
        (None, None) => Gathered {
            facts: MtaFacts::new(MtaKind::None),
            credentials: None,
            trust: Vec::new(),
        },
    };
    if g.facts.kind == MtaKind::None && !listeners.is_empty() {
        g.facts.evidence.push(
            "something listens on a mail port, but neither postconf nor exim is installed".into(),
        );
    }
    g.facts.listeners = listeners;
    g
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn denied(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("permission denied") || t.contains("not authorized") || t.contains("not permitted")
}

async fn read_postfix(postconf: &Path, dir: &str, timeout: Duration) -> Gathered {
    let args = postfix::postconf_args(dir);
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tool::run(postconf, &arg_refs, timeout, MAX_OUTPUT).await;
    let mut f = if out.success() {
        postfix::read(&out.stdout, dir)
    } else {
        let mut f = postfix::read("", dir);
        f.route = Route::Unknown;
        f.errors
            .push(format!("postconf -c {dir}: {}", out.complaint()));
        f
    };
    f.evidence
        .push(format!("postconf at {}", postconf.display()));
    let main_cf = Path::new(dir).join("main.cf");
    if main_cf.is_file() {
        f.evidence.push(main_cf.display().to_string());
    }
    if !out.success() {
        return Gathered {
            facts: f,
            credentials: None,
            trust: Vec::new(),
        };
    }
    let sibling = |name: &str| {
        postconf
            .parent()
            .map(|p| p.join(name))
            .filter(|p| p.is_file())
            .or_else(|| tool::find(name))
            .unwrap_or_else(|| PathBuf::from(name))
    };
    f.sasl.files = f
        .sasl
        .maps
        .iter()
        .flat_map(|m| postfix::map_files(m))
        .map(|(path, role)| stat_file(&path, role))
        .collect();
    let credentials = match &f.route {
        Route::Relay(_) if f.sasl.enabled => {
            let (entry, credentials) = postfix_entry(
                &f.sasl.keys,
                &f.sasl.maps,
                dir,
                &sibling("postmap"),
                timeout,
            )
            .await;
            f.sasl.entry = entry;
            credentials
        }
        _ => None,
    };
    let queue_dir = f.settings.get("queue_directory").cloned();
    f.queue = postfix_queue(&sibling("postqueue"), dir, timeout).await;
    f.running = match f.queue.why_not {
        Some(QueueNotRead::NotRunning) => Some(false),
        _ => queue_dir.as_deref().and_then(master_running),
    };
    if f.running.is_none() && f.queue.read {
        // postqueue asks the running showq service: an answer means Postfix runs.
        f.running = Some(true);
    }
    let trust = f.tls.ca_file.as_deref().map(read_certs).unwrap_or_default();
    Gathered {
        facts: f,
        credentials,
        trust,
    }
}

/// Postfix's master writes its pid to queue_directory/pid/master.pid (root only): a live pid means it runs.
fn master_running(queue_dir: &str) -> Option<bool> {
    let text = std::fs::read_to_string(Path::new(queue_dir).join("pid/master.pid")).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    Some(Path::new(&format!("/proc/{pid}")).exists())
}

/// The map's entry for the relay, looked up as Postfix does: key by key, each in every map; the password goes to the
/// probe, never into the report.
async fn postfix_entry(
    keys: &[String],
    maps: &[String],
    dir: &str,
    postmap: &Path,
    timeout: Duration,
) -> (MapEntry, Option<Credentials>) {
    // maps_find() asks every map for a key before the next key.
    for key in keys {
        for map in maps {
            let out = tool::run(
                postmap,
                &["-c", dir, "-q", key, map],
                timeout,
                MAX_FILE as usize,
            )
            .await;
            if out.success() {
                let Some((user, password)) = postfix::split_entry(&out.stdout) else {
                    continue;
                };
                let entry = MapEntry {
                    state: EntryState::Found,
                    key: Some(key.clone()),
                    user: Some(user.clone()),
                    detail: None,
                };
                return (entry, Some(Credentials::new(user, password)));
            }
            // Exit 1 with nothing said is "not found"; anything on stderr is a failure to read.
            if out.failure.is_some() || !out.stderr.trim().is_empty() {
                let text = out.complaint();
                let entry = MapEntry {
                    state: if denied(&text) && !is_root() {
                        EntryState::NotRoot
                    } else if text.contains("open database") && text.contains("No such file") {
                        EntryState::NoDatabase
                    } else {
                        EntryState::Unreadable
                    },
                    key: None,
                    user: None,
                    detail: Some(text),
                };
                return (entry, None);
            }
        }
    }
    let missing = MapEntry {
        state: EntryState::Missing,
        ..MapEntry::default()
    };
    (missing, None)
}

async fn postfix_queue(postqueue: &Path, dir: &str, timeout: Duration) -> QueueFacts {
    let out = tool::run(postqueue, &["-c", dir, "-j"], timeout, MAX_OUTPUT).await;
    if out.success() {
        return postfix::parse_queue(&out.stdout, now());
    }
    let mut text = out.complaint();
    // Postfix down: "Mail system is down -- accessing queue directly" (as root, which then fails for -j), or
    // "Queue report unavailable - mail system is down". That line says it best.
    let down = out
        .stderr
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("mail system is down"));
    let why = if let Some(line) = down {
        text = line.trim().to_string();
        QueueNotRead::NotRunning
    } else if denied(&text) && !is_root() {
        QueueNotRead::NotRoot
    } else {
        QueueNotRead::ToolFailed
    };
    QueueFacts {
        why_not: Some(why),
        detail: Some(text),
        ..QueueFacts::default()
    }
}

/// A file's owner, group, mode and age, as stat shows them (names from the user database).
fn stat_file(path: &str, role: MapRole) -> MapFile {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok();
    MapFile {
        path: path.to_string(),
        role,
        exists: meta.is_some(),
        uid: meta.as_ref().map(|m| m.uid()),
        gid: meta.as_ref().map(|m| m.gid()),
        owner: meta
            .as_ref()
            .and_then(|m| nix::unistd::User::from_uid(m.uid().into()).ok().flatten())
            .map(|u| u.name),
        group: meta
            .as_ref()
            .and_then(|m| nix::unistd::Group::from_gid(m.gid().into()).ok().flatten())
            .map(|g| g.name),
        mode: meta.as_ref().map(|m| m.mode() & 0o7777),
        modified: meta.as_ref().map(|m| m.mtime()),
    }
}

fn read_small(path: &str) -> Result<String, std::io::Error> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE)
        .read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The PEM certificates of a CA file; an unreadable or empty file trusts nothing more.
fn read_certs(path: &str) -> Vec<CertificateDer<'static>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect()
}

/// The last `MAX_LOG` bytes of a log, from the first whole line.
fn read_tail(path: &str) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(MAX_LOG);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_LOG).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some(if start > 0 {
        text.split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    } else {
        text
    })
}

/// Whether a process of this name runs (from /proc/*/comm).
fn process_running(names: &[&str]) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .take(100_000)
        .any(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| names.contains(&c.trim()))
        })
}

async fn read_exim(binary: &Path, timeout: Duration) -> Gathered {
    let run = |args: &'static [&'static str]| tool::run(binary, args, timeout, MAX_OUTPUT);
    let (bv, routers, transports, logpath, bp) = tokio::join!(
        run(&["-bV"]),
        run(&["-bP", "routers"]),
        run(&["-bP", "transports"]),
        run(&["-bP", "log_file_path"]),
        run(&["-bp"]),
    );
    let debian = read_small(exim::DEBIAN_CONF).ok();
    let mut f = exim::read(
        &bv.stdout,
        &routers.stdout,
        &transports.stdout,
        debian.as_deref(),
    );
    f.evidence.push(format!("exim at {}", binary.display()));
    if debian.is_some() {
        f.evidence.push(exim::DEBIAN_CONF.to_string());
    }
    if !bv.success() {
        f.errors.push(format!("exim -bV: {}", bv.complaint()));
        f.route = Route::Unknown;
    }
    f.running = Some(process_running(&["exim4", "exim"]));

    // SASL: Debian's passwd.client, looked up by the smarthost's name.
    let mut credentials = None;
    if Path::new(exim::PASSWD_CLIENT).exists() {
        match read_small(exim::PASSWD_CLIENT) {
            Ok(text) => {
                credentials = exim::apply_passwd_client(&mut f, &text)
                    .map(|(user, password)| Credentials::new(user, password));
            }
            Err(e) => {
                // Unread, the file still says SASL is meant: apply an empty one, then say why it was not read.
                let _ = exim::apply_passwd_client(&mut f, "");
                if f.sasl.enabled {
                    f.sasl.entry = MapEntry {
                        state: if e.kind() == std::io::ErrorKind::PermissionDenied && !is_root() {
                            EntryState::NotRoot
                        } else {
                            EntryState::Unreadable
                        },
                        detail: Some(e.to_string()),
                        ..MapEntry::default()
                    };
                }
            }
        }
        f.sasl.files = vec![stat_file(exim::PASSWD_CLIENT, MapRole::Source)];
    }

    // The queue, with each deferral's reason from the main log.
    f.queue = if bp.success() {
        let log_path = exim::main_log(&logpath.stdout).or_else(|| {
            exim::DEFAULT_LOGS
                .iter()
                .find(|p| Path::new(p).exists())
                .map(|p| p.to_string())
        });
        let log = log_path.as_deref().and_then(read_tail);
        let mut q = exim::queue(&bp.stdout, log.as_deref());
        q.log = log_path;
        q
    } else {
        let text = bp.complaint();
        QueueFacts {
            why_not: Some(if denied(&text) && !is_root() {
                QueueNotRead::NotRoot
            } else {
                QueueNotRead::ToolFailed
            }),
            detail: Some(text),
            ..QueueFacts::default()
        }
    };
    let trust = f.tls.ca_file.as_deref().map(read_certs).unwrap_or_default();
    Gathered {
        facts: f,
        credentials,
        trust,
    }
}
