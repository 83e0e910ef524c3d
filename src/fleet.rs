//! `check` over many targets: each probed within one shared session and descriptor budget, --concurrency at a time, and written as it finishes.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, Semaphore};

use crate::interrupt::Stop;
use crate::output::fleet::{FleetStyle, FleetWriter, Probed, TargetOutcome};
use crate::output::Style;
use crate::plan::{FleetFormat, FleetPlan};
use crate::probes::{self, RunError, Session};
use crate::{diagnosis, explain};

/// Why a run over several targets stopped short.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("cannot write the report: {0}")]
    Write(io::Error),
}

/// Probes every target of the plan and writes each result as it finishes; returns the exit status of them all.
/// A reader that goes away (`| head`) ends the run early, with the status of the targets written by then.
/// When `stop` fires, the targets under way report what they know and those not begun are written as such.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    plan: &FleetPlan,
    stop: &Stop,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, FleetError> {
    let start = Instant::now();
    let total = plan.targets.len();
    let mut writer = FleetWriter::new(style(plan.format), out, err, total);
    let running = Arc::new(AtomicUsize::new(0));
    let written = runtime.block_on(async {
        let per_target = plan
            .targets
            .iter()
            .filter_map(|t| t.plan.as_ref().ok())
            .map(probes::descriptors_for)
            .max()
            .unwrap_or(0);
        let in_flight = plan.concurrency.min(total).max(1) as u64;
        let starting = Session::start(&plan.base, per_target.saturating_mul(in_flight), total > 1);
        // A signal while this host's rules are read (--as-user) leaves a session that probes nothing.
        let session = match stop.or(starting).await {
            Some(session) => Some(Arc::new(session?.stop_on(stop.clone()))),
            None => None,
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<TargetOutcome>();
        let slots = Arc::new(Semaphore::new(plan.concurrency.max(1)));
        // Targets that cannot be probed are reported before any probe starts: they have nothing to wait for.
        for (index, t) in plan.targets.iter().enumerate() {
            if let Err(why) = &t.plan {
                let _ = tx.send(TargetOutcome {
                    index,
                    name: t.name.clone(),
                    input: t.input.clone(),
                    elapsed_ms: 0.0,
                    result: Probed::NotProbed {
                        code: why.code(),
                        message: why.to_string(),
                    },
                });
            }
        }
        let mut tasks = Vec::new();
        for (index, t) in plan.targets.iter().enumerate() {
            let Ok(target_plan) = t.plan.clone() else {
                continue;
            };
            let (name, input) = (t.name.clone(), t.input.clone());
            let Some(session) = session.clone() else {
                let _ = tx.send(not_started(index, name, input, stop));
                continue;
            };
            let (slots, tx, running, stop) =
                (slots.clone(), tx.clone(), running.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                // The semaphore is never closed; were it, the target would run unthrottled.
                let slot = stop.or(slots.acquire_owned()).await;
                // A target still waiting for its turn when the signal came is not begun at all.
                if slot.is_none() || stop.signal().is_some() {
                    let _ = tx.send(not_started(index, name, input, &stop));
                    return;
                }
                let _slot = slot;
                running.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                let report = session.probe(&target_plan).await;
                let diagnosis = diagnosis::diagnose(&report);
                let explained = explain::explain(&report, &diagnosis);
                running.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send(TargetOutcome {
                    index,
                    name,
                    input,
                    elapsed_ms: probes::elapsed_ms(began),
                    result: Probed::Report(Box::new((report, explained))),
                });
            }));
        }
        drop(tx);
        let written = write_all(&mut writer, &mut rx, &running).await;
        if written.is_err() {
            for t in &tasks {
                t.abort();
            }
        }
        written
    });
    writer.stopped_by(stop.signal());
    match written {
        Ok(()) => {
            let code = writer.exit_status();
            match writer.finish(probes::elapsed_ms(start)) {
                Ok(code) => Ok(code),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(code),
                Err(e) => Err(FleetError::Write(e)),
            }
        }
        Err(FleetError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            Ok(writer.exit_status())
        }
        Err(e) => Err(e),
    }
}

/// A target a signal came before: written as not probed, with the signal named.
fn not_started(index: usize, name: Option<String>, input: String, stop: &Stop) -> TargetOutcome {
    let signal = stop.signal().map_or("a signal", |s| s.name());
    TargetOutcome {
        index,
        name,
        input,
        elapsed_ms: 0.0,
        result: Probed::NotStarted {
            message: format!("not probed: {signal} stopped the run before this target began"),
        },
    }
}

/// Writes each outcome as it arrives, redrawing the progress line between them.
async fn write_all(
    writer: &mut FleetWriter<'_>,
    rx: &mut mpsc::UnboundedReceiver<TargetOutcome>,
    running: &AtomicUsize,
) -> Result<(), FleetError> {
    writer
        .progress(running.load(Ordering::Relaxed))
        .map_err(FleetError::Write)?;
    while let Some(outcome) = rx.recv().await {
        writer.target(outcome).map_err(FleetError::Write)?;
        writer
            .progress(running.load(Ordering::Relaxed))
            .map_err(FleetError::Write)?;
    }
    Ok(())
}

fn style(format: FleetFormat) -> FleetStyle {
    match format {
        FleetFormat::Document => FleetStyle::Document,
        FleetFormat::Lines => FleetStyle::Lines,
        FleetFormat::Prometheus => FleetStyle::Prometheus,
        FleetFormat::Human {
            color,
            verbose,
            progress,
        } => FleetStyle::Human {
            style: Style { color, verbose },
            progress,
        },
    }
}
