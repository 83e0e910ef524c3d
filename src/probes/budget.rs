//! One budget of open files for a whole run: every chain of every target, and each target's name lookups, take their descriptors from it, within RLIMIT_NOFILE.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::RunError;

/// Descriptors one chain holds at once: its connection, a second connection that tries the other TLS mode,
/// and two TTL-limited SYNs (one descriptor each). A chain whose connect is slow climbs a TTL ladder of up to
/// `ladder::LADDER_WIDTH` more SYNs at once, taken from what the budget has free at that moment.
pub const FDS_PER_CHAIN: u32 = 4;
/// Descriptors one target's name lookups may hold at once: the A, AAAA and MX queries (UDP, TCP when an
/// answer is truncated) and, at the same time, the direct check of up to three name servers.
pub const FDS_PER_LOOKUP: u32 = 10;
/// Descriptors kept for everything else: stdio, the runtime, rule listings, the NAT table, route lookups.
pub const FD_RESERVE: u64 = 64;

/// Descriptors counted out to the chains and lookups of every target; a taker waits for its share rather than fail with EMFILE.
#[derive(Clone, Debug)]
pub struct Budget {
    permits: Arc<Semaphore>,
    size: u32,
}

impl Budget {
    /// A budget of `descriptors` (at least one chain's worth, so no taker waits forever).
    pub fn of(descriptors: u32) -> Budget {
        let size = descriptors.max(FDS_PER_CHAIN);
        Budget {
            permits: Arc::new(Semaphore::new(size as usize)),
            size,
        }
    }

    /// The budget this process may spend: RLIMIT_NOFILE less the reserve, after raising the soft limit towards the
    /// hard one when `wanted` descriptors would not fit.
    pub fn within_limit(wanted: u64) -> Result<Budget, RunError> {
        Budget::within_limit_beside(wanted, 0)
    }

    /// `within_limit`, keeping `beside` more descriptors out of the budget for what is not a probe (the
    /// exporter's client connections).
    pub fn within_limit_beside(wanted: u64, beside: u64) -> Result<Budget, RunError> {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let reserve = FD_RESERVE.saturating_add(beside);
        let needed = wanted.saturating_add(reserve);
        let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
            // No limit to read: spend what was asked for.
            return Ok(Budget::of(clamp(wanted)));
        };
        let mut soft = soft;
        if soft < needed {
            let raised = needed.min(hard);
            if setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_ok() {
                soft = raised;
            }
        }
        let minimum = reserve + u64::from(FDS_PER_CHAIN);
        if soft < minimum {
            return Err(RunError::TooFewFiles {
                soft,
                needed: minimum,
            });
        }
        Ok(Budget::of(clamp(soft - reserve)))
    }

    /// Waits for one chain's descriptors; they return to the budget when the permit drops. None only if the
    /// budget were closed, which it never is: the chain then runs unthrottled.
    pub async fn chain(&self) -> Option<OwnedSemaphorePermit> {
        self.take(FDS_PER_CHAIN).await
    }

    /// Waits for one target's lookup descriptors.
    pub async fn lookup(&self) -> Option<OwnedSemaphorePermit> {
        self.take(FDS_PER_LOOKUP).await
    }

    /// Takes up to `max` more descriptors if the budget has them free right now, never waiting: a chain that
    /// already holds its own must not wait for more while others wait for its. Returns how many were taken.
    pub fn try_extra(&self, max: u32) -> (u32, Option<OwnedSemaphorePermit>) {
        let free = u32::try_from(self.permits.available_permits()).unwrap_or(u32::MAX);
        let mut n = max.min(free);
        while n > 0 {
            if let Ok(p) = self.permits.clone().try_acquire_many_owned(n) {
                return (n, Some(p));
            }
            n /= 2;
        }
        (0, None)
    }

    async fn take(&self, n: u32) -> Option<OwnedSemaphorePermit> {
        self.permits
            .clone()
            .acquire_many_owned(n.min(self.size))
            .await
            .ok()
    }

    /// Descriptors in the budget.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Descriptors not taken right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// A descriptor count as a semaphore's size (tokio caps permits far above any RLIMIT_NOFILE).
fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX).min(1 << 28)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Several targets' chains drawing on one budget never hold more than it has, and all of them finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn targets_share_one_budget() {
        let budget = Budget::of(3 * FDS_PER_CHAIN);
        let held = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        // Four targets of five chains each: twenty chains, three at a time.
        for _target in 0..4 {
            for _chain in 0..5 {
                let (budget, held, peak) = (budget.clone(), held.clone(), peak.clone());
                tasks.push(tokio::spawn(async move {
                    let _permit = budget.chain().await;
                    let now = held.fetch_add(FDS_PER_CHAIN as usize, Ordering::SeqCst)
                        + FDS_PER_CHAIN as usize;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    held.fetch_sub(FDS_PER_CHAIN as usize, Ordering::SeqCst);
                }));
            }
        }
        for t in tasks {
            assert!(t.await.is_ok());
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3 * FDS_PER_CHAIN as usize);
        assert_eq!(budget.available(), budget.size() as usize);
    }

    /// A lookup and chains share the same count: what a lookup holds, a chain cannot take.
    #[tokio::test]
    async fn lookups_count_against_the_same_budget() {
        let budget = Budget::of(FDS_PER_CHAIN + FDS_PER_LOOKUP);
        let lookup = budget.lookup().await;
        let chain = budget.chain().await;
        assert!(lookup.is_some() && chain.is_some());
        assert_eq!(budget.available(), 0);
        let second = tokio::time::timeout(Duration::from_millis(20), budget.chain()).await;
        assert!(
            second.is_err(),
            "a chain got descriptors the budget does not have"
        );
        drop(lookup);
        drop(chain);
        assert_eq!(budget.available(), budget.size() as usize);
    }

    #[tokio::test]
    async fn a_ladder_takes_only_what_is_free() {
        let budget = Budget::of(FDS_PER_CHAIN + 10);
        let _chain = budget.chain().await;
        let (n, permit) = budget.try_extra(30);
        assert_eq!(n, 10);
        assert_eq!(budget.available(), 0);
        let (none, nothing) = budget.try_extra(30);
        assert_eq!((none, nothing.is_none()), (0, true));
        drop(permit);
        assert_eq!(budget.available(), 10);
    }

    #[test]
    fn a_budget_always_fits_one_chain() {
        assert_eq!(Budget::of(0).size(), FDS_PER_CHAIN);
    }

    #[test]
    fn the_limit_leaves_the_reserve() {
        if let Ok(b) = Budget::within_limit(10 * u64::from(FDS_PER_CHAIN)) {
            assert!(b.size() >= FDS_PER_CHAIN);
        }
    }
}
