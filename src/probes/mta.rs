//! Reads this host's MTA with its own tools: which one (binaries, configuration, listeners), how it sends (postconf, exim -bP), whether its password map holds the relay (postmap -q), and its queue (postqueue -j; exim -bp and the main log). Every tool runs with a time limit; nothing here prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::tool;
use crate::host::{exim, postfix};
use crate::plan::{Credentials, MtaPlan};
use crate::report::mta::{
    EntryState, MapEntry, MapFile, MapRole, MtaFacts, MtaKind, QueueFacts, QueueNotRead, Route,
    SaslFacts,
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
    let mut f = MtaFacts::new(MtaKind::Postfix);
    f.config = Some(dir.to_string());
    f.default_instance = Path::new(dir) == Path::new(postfix::DEFAULT_CONFIG);
    f.evidence
        .push(format!("postconf at {}", postconf.display()));
    let main_cf = Path::new(dir).join("main.cf");
    if main_cf.is_file() {
        f.evidence.push(main_cf.display().to_string());
    }
    let args = postfix::postconf_args(dir);
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tool::run(postconf, &arg_refs, timeout, MAX_OUTPUT).await;
    if !out.success() {
        f.errors
            .push(format!("postconf -c {dir}: {}", out.complaint()));
        return Gathered {
            facts: f,
            credentials: None,
            trust: Vec::new(),
        };
    }
    let settings = postfix::parse_postconf(&out.stdout);
    f.version = settings.get("mail_version").cloned();
    f.route = postfix::route(&settings);
    f.tls = postfix::tls_policy(&settings);
    f.families = postfix::families(&settings);
    let sibling = |name: &str| {
        postconf
            .parent()
            .map(|p| p.join(name))
            .filter(|p| p.is_file())
            .or_else(|| tool::find(name))
            .unwrap_or_else(|| PathBuf::from(name))
    };
    let (sasl, credentials) =
        postfix_sasl(&settings, &f.route, dir, &sibling("postmap"), timeout).await;
    f.sasl = sasl;
    let queue_dir = settings.get("queue_directory").cloned();
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
    f.settings = settings
        .into_iter()
        .filter(|(k, _)| postfix::PARAMS.contains(&k.as_str()))
        .collect();
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

/// SASL towards the relay: the map's entry for it (looked up as Postfix does, key by key, map by map) and the files.
async fn postfix_sasl(
    settings: &BTreeMap<String, String>,
    route: &Route,
    dir: &str,
    postmap: &Path,
    timeout: Duration,
) -> (SaslFacts, Option<Credentials>) {
    let mut s = SaslFacts {
        enabled: postfix::sasl_enabled(settings),
        maps: postfix::password_maps(settings),
        security_options: settings.get("smtp_sasl_security_options").cloned(),
        ..SaslFacts::default()
    };
    s.files = s
        .maps
        .iter()
        .flat_map(|m| postfix::map_files(m))
        .map(|(path, role)| stat_file(&path, role))
        .collect();
    let Route::Relay(relay) = route else {
        return (s, None);
    };
    s.keys = postfix::lookup_keys(relay);
    if !s.enabled {
        return (s, None);
    }
    s.entry.state = EntryState::Missing;
    // maps_find() asks every map for a key before the next key.
    for key in s.keys.clone() {
        for map in s.maps.clone() {
            let out = tool::run(
                postmap,
                &["-c", dir, "-q", &key, &map],
                timeout,
                MAX_FILE as usize,
            )
            .await;
            if out.success() {
                let Some((user, password)) = postfix::split_entry(&out.stdout) else {
                    continue;
                };
                s.entry = MapEntry {
                    state: EntryState::Found,
                    key: Some(key.clone()),
                    user: Some(user.clone()),
                    detail: None,
                };
                return (s, Some(Credentials::new(user, password)));
            }
            // Exit 1 with nothing said is "not found"; anything on stderr is a failure to read.
            let complaint = out.stderr.trim();
            if out.failure.is_some() || !complaint.is_empty() {
                let text = out.complaint();
                s.entry = MapEntry {
                    state: if denied(&text) && !is_root() {
                        EntryState::NotRoot
                    } else {
                        EntryState::Unreadable
                    },
                    key: None,
                    user: None,
                    detail: Some(text),
                };
                return (s, None);
            }
        }
    }
    (s, None)
}

async fn postfix_queue(postqueue: &Path, dir: &str, timeout: Duration) -> QueueFacts {
    let out = tool::run(postqueue, &["-c", dir, "-j"], timeout, MAX_OUTPUT).await;
    if out.success() {
        return postfix::parse_queue(&out.stdout, now());
    }
    let text = out.complaint();
    let why = if text.contains("mail system is down") {
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
    let mut f = MtaFacts::new(MtaKind::Exim);
    f.evidence.push(format!("exim at {}", binary.display()));
    let run = |args: &'static [&'static str]| tool::run(binary, args, timeout, MAX_OUTPUT);
    let (bv, routers, transports, logpath, bp) = tokio::join!(
        run(&["-bV"]),
        run(&["-bP", "routers"]),
        run(&["-bP", "transports"]),
        run(&["-bP", "log_file_path"]),
        run(&["-bp"]),
    );
    f.version = exim::parse_version(&bv.stdout);
    f.config = exim::config_file(&bv.stdout);
    if !bv.success() {
        f.errors.push(format!("exim -bV: {}", bv.complaint()));
    }
    let routers = exim::parse_drivers(&routers.stdout);
    let transports = exim::parse_drivers(&transports.stdout);
    let debian = read_small(exim::DEBIAN_CONF)
        .map(|t| exim::parse_debian_conf(&t))
        .unwrap_or_default();
    if !debian.is_empty() {
        f.evidence.push(exim::DEBIAN_CONF.to_string());
    }
    f.route = exim::route(&debian, &routers, &transports);
    f.tls = exim::tls_policy(&routers, &transports);
    f.settings = debian
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "dc_eximconfig_configtype" | "dc_smarthost"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    f.running = Some(process_running(&["exim4", "exim"]));

    // SASL: Debian's passwd.client, looked up by the smarthost's name.
    let mut credentials = None;
    if Path::new(exim::PASSWD_CLIENT).exists() {
        f.sasl.maps = vec![exim::PASSWD_CLIENT.to_string()];
        f.sasl.files = vec![stat_file(exim::PASSWD_CLIENT, MapRole::Source)];
        if let Route::Relay(relay) = &f.route {
            f.sasl.enabled = true;
            f.sasl.keys = vec![relay.host.clone()];
            f.sasl.entry = match read_small(exim::PASSWD_CLIENT) {
                Ok(text) => match exim::passwd_client_entry(&text, &relay.host) {
                    Some((key, user, password)) => {
                        credentials = Some(Credentials::new(user.clone(), password));
                        MapEntry {
                            state: EntryState::Found,
                            key: Some(key),
                            user: Some(user),
                            detail: None,
                        }
                    }
                    None => MapEntry {
                        state: EntryState::Missing,
                        ..MapEntry::default()
                    },
                },
                Err(e) => MapEntry {
                    state: if e.kind() == std::io::ErrorKind::PermissionDenied && !is_root() {
                        EntryState::NotRoot
                    } else {
                        EntryState::Unreadable
                    },
                    detail: Some(e.to_string()),
                    ..MapEntry::default()
                },
            };
        }
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
