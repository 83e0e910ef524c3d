//! Ctrl-C and SIGTERM during a run: the first asks every probe to stop so that what is known can be written, a second exits at once.

use std::future::Future;
use std::io::Write;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::exit;
use crate::report::Signal;

/// What each part of a run holds to learn that it must stop: cheap to clone, one per chain.
#[derive(Debug, Clone)]
pub struct Stop {
    rx: watch::Receiver<Option<Signal>>,
}

/// Fires the `Stop`s made with it: the signal listener's, or a test's.
#[derive(Debug)]
pub struct Trigger {
    tx: watch::Sender<Option<Signal>>,
}

impl Trigger {
    /// Stops the run as `signal` would; only the first call counts, so the first signal names the run's end.
    pub fn fire(&self, signal: Signal) {
        self.tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(signal);
            true
        });
    }
}

impl Stop {
    /// A trigger and the stop it fires.
    pub fn pair() -> (Trigger, Stop) {
        let (tx, rx) = watch::channel(None);
        (Trigger { tx }, Stop { rx })
    }

    /// A stop that never fires: for runs that end on their own terms (serve has its own graceful stop).
    pub fn never() -> Stop {
        // The trigger is dropped at once: `fired` then waits forever.
        Stop::pair().1
    }

    /// The signal, once one has stopped the run.
    pub fn signal(&self) -> Option<Signal> {
        *self.rx.borrow()
    }

    /// Waits until the stop fires; forever when it never will.
    pub async fn fired(&self) -> Signal {
        if let Some(s) = self.signal() {
            return s;
        }
        let mut rx = self.rx.clone();
        let seen = rx.wait_for(Option::is_some).await.ok().and_then(|s| *s);
        match seen {
            Some(s) => s,
            // The trigger is gone without firing: nothing can stop the run any more.
            None => std::future::pending().await,
        }
    }

    /// Runs `work` until it ends or the stop fires; None when the stop came first. Work that is done when both
    /// are ready wins: an answer that has arrived is never thrown away.
    pub async fn or<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = work => Some(out),
            _ = self.fired() => None,
        }
    }
}

/// Listens for SIGINT and SIGTERM for as long as the current runtime lives: the first fires the returned
/// `Stop`, a second exits at once with 130 (SIGINT) or 143 (SIGTERM), whatever is still being written.
/// Must be called within a runtime. A handler that cannot be installed leaves that signal its default action
/// (the process ends at once), which is what it did before.
pub fn listen() -> Stop {
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    if int.is_none() && term.is_none() {
        return Stop::never();
    }
    let (trigger, stop) = Stop::pair();
    tokio::spawn(async move {
        let Some(first) = next(&mut int, &mut term).await else {
            return;
        };
        trigger.fire(first);
        // From a thread of its own: a stderr nobody reads must not keep the second signal from being heard.
        std::thread::spawn(move || {
            let _ = writeln!(
                std::io::stderr(),
                "smtp-doctor: {}: stopping, and writing what is known so far (Ctrl-C again to quit at once)",
                first.name()
            );
        });
        if let Some(second) = next(&mut int, &mut term).await {
            // At once: no destructor, no flush of what is still being written, as a second Ctrl-C asks.
            std::process::exit(i32::from(exit::signal_status(second)));
        }
    });
    stop
}

/// The next SIGINT or SIGTERM; None once neither can arrive any more.
async fn next(
    int: &mut Option<tokio::signal::unix::Signal>,
    term: &mut Option<tokio::signal::unix::Signal>,
) -> Option<Signal> {
    let int_next = async {
        match int.as_mut() {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    let term_next = async {
        match term.as_mut() {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        got = int_next => got.map(|()| Signal::Sigint),
        got = term_next => got.map(|()| Signal::Sigterm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn the_first_signal_names_the_stop() {
        let (trigger, stop) = Stop::pair();
        assert_eq!(stop.signal(), None);
        trigger.fire(Signal::Sigterm);
        trigger.fire(Signal::Sigint);
        assert_eq!(stop.clone().signal(), Some(Signal::Sigterm));
        assert_eq!(runtime().block_on(stop.fired()), Signal::Sigterm);
    }

    #[test]
    fn work_that_ends_first_is_kept_and_a_stop_cuts_the_rest() {
        let rt = runtime();
        let (trigger, stop) = Stop::pair();
        assert_eq!(rt.block_on(stop.or(async { 7 })), Some(7));
        trigger.fire(Signal::Sigint);
        // Ready work still wins over a stop that has already fired.
        assert_eq!(rt.block_on(stop.or(async { 8 })), Some(8));
        let cut = rt.block_on(stop.or(std::future::pending::<u8>()));
        assert_eq!(cut, None);
    }

    #[test]
    fn a_stop_that_never_fires_lets_work_finish() {
        let rt = runtime();
        let stop = Stop::never();
        let slow = async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            1
        };
        assert_eq!(rt.block_on(stop.or(slow)), Some(1));
        assert_eq!(stop.signal(), None);
    }
}
