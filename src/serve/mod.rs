//! `smtp-doctor serve`: a Prometheus exporter with blackbox_exporter's multi-target pattern, on hyper's HTTP/1 server.
//!
//! `/probe?target=HOST&module=NAME` runs one `check` of HOST with a module of the config file and answers with
//! the same exposition as `check --format prometheus`; `/metrics` is the exporter's own health. A request
//! names only the target and the module: credentials and options live in the config file, so a URL (which
//! lands in logs, in Prometheus' target list and in browser histories) never carries a secret.

pub mod config;
mod health;

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::cli::ServeArgs;
use crate::exit;
use crate::output::prometheus::{self, Outcome, Probe};
use crate::probes::budget::{FDS_PER_CHAIN, FDS_PER_LOOKUP};
use crate::probes::{self, Budget};
use crate::{diagnosis, explain};
use config::{Config, Module};
use health::Health;

/// The header Prometheus sends with every scrape: how long it waits for the answer.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";
/// A scrape without that header gets this long, as blackbox_exporter does.
const DEFAULT_SCRAPE_TIMEOUT: f64 = 120.0;
/// Each network step of a probe gets this share of its deadline: a name server that never answers costs two
/// steps (one retry) and a silent port one more, and the probe still answers before the deadline.
const STEPS_PER_DEADLINE: f64 = 4.0;
/// The largest request head (request line and headers) a client may send; hyper answers 431 beyond it.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most header fields in one request; hyper answers 431 beyond it.
const MAX_HEADERS: usize = 32;
/// Chains one probe may need at once (3 ports × 2 addresses, with room): sizes the shared descriptor budget.
const CHAINS_PER_PROBE: usize = 8;
/// How long one module's session (host facts, firewall rules, trust store) serves before it is read again.
const SESSION_MAX_AGE: Duration = Duration::from_secs(60);
/// How long connections get to finish after SIGTERM or SIGINT, beyond the longest module timeout.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The exposition's media type (text format 0.0.4).
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The "Exit status" paragraph of `serve --help`.
pub fn help() -> String {
    format!(
        "Exit status:\n  {}  stopped by SIGTERM or SIGINT after the requests in flight were answered.\n  {}  bad usage, or a config file that cannot be read or is wrong (the message names its line and key).\n  {}  the exporter could not run (the address cannot be listened on, no async runtime, too few file descriptors).",
        exit::OK,
        exit::USAGE,
        exit::INTERNAL
    )
}

/// What every request handler shares.
struct State {
    config: Config,
    /// Names of the modules, for messages ("the config file's modules: a, b").
    module_list: String,
    probe_slots: Arc<Semaphore>,
    max_concurrent: u32,
    budget: Budget,
    offset: f64,
    health: Health,
    /// Per module: this host's facts, rules and the module's trust store, read once and shared by its probes until
    /// they are SESSION_MAX_AGE old (a rule listing and a CA store per scrape would cost more than the probe).
    sessions:
        tokio::sync::Mutex<std::collections::HashMap<String, (Instant, Arc<probes::Session>)>>,
}

/// Loads the config, listens, serves until SIGTERM or SIGINT.
pub fn run(args: &ServeArgs) -> ExitCode {
    let config = match config::load(&args.config, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smtp-doctor: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtp-doctor: cannot start the async runtime: {e}; check the process limits (ulimit -n, ulimit -u)");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(serve(args, config)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(why) => {
            eprintln!("smtp-doctor: {why}");
            ExitCode::from(exit::INTERNAL)
        }
    }
}

async fn serve(args: &ServeArgs, config: Config) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let max_concurrent = args.max_concurrent.max(1);
    // Each connection holds a descriptor beside the probes' chains.
    let per_probe = u64::from(FDS_PER_LOOKUP) + CHAINS_PER_PROBE as u64 * u64::from(FDS_PER_CHAIN);
    let budget = Budget::within_limit_beside(
        u64::from(max_concurrent) * per_probe,
        u64::from(args.max_connections) + 16,
    )
    .map_err(|e| e.to_string())?;
    let module_list = config
        .modules
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let longest = config
        .modules
        .values()
        .map(|m| m.timeout)
        .max()
        .unwrap_or_default();
    let state = Arc::new(State {
        health: Health::new(config.modules.keys(), max_concurrent),
        module_list,
        config,
        probe_slots: Arc::new(Semaphore::new(max_concurrent as usize)),
        max_concurrent,
        budget,
        sessions: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        offset: args.timeout_offset,
    });
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot catch SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot catch SIGINT: {e}"))?;
    eprintln!(
        "smtp-doctor serve: listening on {local}; modules: {}; {} probes at once, {} descriptors in the probes' budget",
        state.module_list,
        max_concurrent,
        state.budget.size()
    );
    let connection_slots = Arc::new(Semaphore::new(args.max_connections.max(1) as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let header_timeout = Duration::from_secs_f64(args.header_timeout);
    let signal_name = loop {
        // Reap finished connection tasks so the set does not grow with the server's lifetime.
        while connections.try_join_next().is_some() {}
        let (stream, _) = tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors or a connection reset before accept: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connection_slots.clone().try_acquire_owned() else {
            // Closing at once keeps the kernel's backlog from holding clients the server will not serve.
            state.health.connection_rejected();
            drop(stream);
            continue;
        };
        let state = state.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let _open = state.health.connection_opened();
            connection(stream, state.clone(), stop, header_timeout).await;
        });
    };
    eprintln!("smtp-doctor serve: {signal_name}: stopping; answering the requests in flight");
    drop(listener);
    let _ = stop_tx.send(true);
    let grace = longest + STOP_GRACE;
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
        eprintln!(
            "smtp-doctor serve: connections still open after {:.1}s were closed",
            grace.as_secs_f64()
        );
    }
    Ok(())
}

/// Serves one client connection with hyper's HTTP/1 server: headers within `header_timeout`, a bounded head,
/// and a graceful close when the exporter stops.
async fn connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    header_timeout: Duration,
) {
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let stopping = async move {
        loop {
            let now = *stop.borrow_and_update();
            if now || stop.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopping => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Routes a request and counts its answer.
async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = Health::path_label(req.uri().path());
    let response = if req.method() != Method::GET {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served".into());
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        r
    } else {
        match path {
            "/probe" => probe(state, &req).await,
            "/metrics" => {
                let mut body = Vec::new();
                match state.health.write(&mut body) {
                    Ok(()) => exposition(body),
                    Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            }
            "/" => text(
                StatusCode::OK,
                format!(
                    "smtp-doctor exporter\n/probe?target=HOST&module=NAME  modules: {}\n/metrics  the exporter's own health\n",
                    state.module_list
                ),
            ),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: the paths are /probe and /metrics".into(),
            ),
        }
    };
    state.health.count_request(path, response.status().as_u16());
    response
}

/// A plain-text answer: the reason of an error, or the index.
fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut body = body;
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn exposition(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(EXPOSITION));
    r
}

/// What a client typed, made safe to quote on one line of an error: control characters escaped, length bounded.
fn quoted(s: &str) -> String {
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() > 80 {
        format!("{}…", escaped.chars().take(80).collect::<String>())
    } else {
        escaped
    }
}

/// The two parameters of /probe; anything else is refused, so no credential or option can come by URL.
pub(crate) fn probe_params(query: &str) -> Result<(String, String), String> {
    let mut target = None;
    let mut module = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "target" => &mut target,
            "module" => &mut module,
            other => {
                return Err(format!(
                    "unknown parameter '{}': /probe takes only target and module; credentials and options belong in the config file's modules",
                    quoted(other)
                ))
            }
        };
        if slot.is_some() {
            return Err(format!("parameter {k} is given twice; give it once"));
        }
        *slot = Some(v.into_owned());
    }
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or("missing parameter target: ask for /probe?target=HOST&module=NAME")?;
    let module = module
        .filter(|m| !m.is_empty())
        .ok_or("missing parameter module: ask for /probe?target=HOST&module=NAME")?;
    Ok((target, module))
}

/// The probe's deadline in seconds: the scrape's timeout less the offset (the whole timeout when the offset would
/// leave nothing), capped by the module's timeout.
fn deadline_seconds(header: Option<&str>, offset: f64, module: &Module) -> Result<f64, String> {
    let scrape = match header {
        None => DEFAULT_SCRAPE_TIMEOUT,
        Some(h) => match h.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => v,
            _ => {
                return Err(format!(
                    "X-Prometheus-Scrape-Timeout-Seconds '{}' is not a positive number of seconds",
                    quoted(h)
                ))
            }
        },
    };
    let after_offset = if scrape > offset {
        scrape - offset
    } else {
        scrape
    };
    Ok(after_offset.min(module.timeout.as_secs_f64()))
}

/// The module's session, started anew when there is none or it is older than SESSION_MAX_AGE.
async fn session(
    state: &State,
    module: &str,
    plan: &crate::plan::Plan,
) -> Result<Arc<probes::Session>, probes::RunError> {
    let mut sessions = state.sessions.lock().await;
    if let Some((at, s)) = sessions.get(module) {
        if at.elapsed() < SESSION_MAX_AGE {
            return Ok(s.clone());
        }
    }
    let fresh = Arc::new(probes::Session::with_budget(plan, state.budget.clone(), true).await?);
    sessions.insert(module.to_string(), (Instant::now(), fresh.clone()));
    Ok(fresh)
}

/// /probe: checks the request, waits (within the deadline) for a probe slot, probes, and writes the exposition.
async fn probe(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let start = Instant::now();
    let (target, module_name) = match probe_params(req.uri().query().unwrap_or("")) {
        Ok(p) => p,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    let Some(module) = state.config.modules.get(&module_name) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown module '{}'; the config file's modules: {}",
                quoted(&module_name),
                state.module_list
            ),
        );
    };
    let header = match req.headers().get(SCRAPE_TIMEOUT_HEADER).map(|h| h.to_str()) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "X-Prometheus-Scrape-Timeout-Seconds is not text".into(),
            )
        }
    };
    let seconds = match deadline_seconds(header, state.offset, module) {
        Ok(s) => s,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    let deadline = start + Duration::from_secs_f64(seconds);
    // Checked before waiting for a slot, so a bad target is refused at once; the step timeout is set after.
    let mut plan = match crate::plan::exporter_plan(
        &target,
        &module.ports,
        module.mode,
        module.options.clone(),
        module.credentials.clone(),
        module.envelope.clone(),
    ) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, quoted_lines(&e.to_string())),
    };
    let Ok(Ok(_slot)) =
        tokio::time::timeout_at(deadline, state.probe_slots.clone().acquire_owned()).await
    else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "all {} probe slots stayed busy for the whole deadline ({seconds:.1}s); raise --max-concurrent or scrape less often",
                state.max_concurrent
            ),
        );
    };
    // What is left after waiting for the slot is shared out among the steps.
    let left = deadline.saturating_duration_since(Instant::now());
    plan.timeout = left
        .div_f64(STEPS_PER_DEADLINE)
        .max(Duration::from_millis(1));
    let _in_flight = state.health.probe_started();
    let ran = tokio::time::timeout_at(deadline, async {
        let session = session(state, &module_name, &plan).await?;
        Ok::<_, probes::RunError>(session.probe(&plan).await)
    })
    .await;
    let elapsed = start.elapsed().as_secs_f64();
    let mut body = Vec::new();
    let written = match ran {
        Ok(Ok(report)) => {
            let d = diagnosis::diagnose(&report);
            let e = explain::explain(&report, &d);
            prometheus::write(
                &mut body,
                &[Probe {
                    target: &target,
                    outcome: Outcome::Diagnosed(&report, &e),
                    timeout_seconds: Some(seconds),
                }],
            )
        }
        Ok(Err(e)) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(_) => prometheus::write(
            &mut body,
            &[Probe {
                target: &target,
                outcome: Outcome::DeadlineExceeded {
                    elapsed_seconds: elapsed,
                },
                timeout_seconds: Some(seconds),
            }],
        ),
    };
    state.health.observe(&module_name, elapsed);
    match written {
        Ok(()) => exposition(body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// An error message on one line (a reason phrase a scraper logs as it is).
fn quoted_lines(s: &str) -> String {
    s.lines().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
