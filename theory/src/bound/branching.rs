//! The branch-and-bound loop, generic over what it splits: kept ReLU units (each split
//! unit fixed to one side, the domain re-bounded with β-CROWN) or the input box (each half
//! re-bounded from scratch). Both run here: worst open domain first, a batch of children
//! bounded at once (one per core), until every domain is proved, one is refuted, or the
//! deadline or the domain limit leaves the rest open (unknown, never proved).
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::Instant;

use super::{Counterexample, Verdict};
use crate::Result;

/// What a branch-and-bound splits, and how it bounds and settles the pieces.
pub(crate) trait Branching: Sync {
    /// An open domain; the heap pops the greatest first, so its order is "worst first".
    type Domain: Ord + Sync;
    /// One child of a domain, not yet bounded.
    type Child: Sync;
    /// What bounding a child found.
    type Outcome: Send;

    /// Which branch-and-bound this is, for the unknown verdict ("input branch-and-bound").
    const NAME: &'static str;
    /// What its domains are called there ("boxes").
    const NOUN: &'static str;

    /// The bound that orders the domain (lowest first); reported for the worst open one.
    fn worst(d: &Self::Domain) -> f64;
    /// The domain's depth in the tree.
    fn depth(d: &Self::Domain) -> usize;
    /// The children of `d`, or `None` when it cannot be split further (it stays undecided).
    fn children(&self, d: &Self::Domain) -> Option<Vec<Self::Child>>;
    /// Whether bounding `c` goes one level deeper (a re-bound leaf does not).
    fn deepens(c: &Self::Child) -> bool;
    /// Called once per batch before its children are bounded, with the number of domains
    /// that will be open if none of them closes.
    fn prepare(&mut self, _open: usize) {}
    /// Bounds one child (run on its own core).
    fn bound(&self, parent: &Self::Domain, c: &Self::Child) -> Result<Self::Outcome>;
    /// What a bounded child means for the search.
    fn settle(
        &mut self,
        parent: &Self::Domain,
        c: Self::Child,
        o: Self::Outcome,
    ) -> Settled<Self::Domain>;
    /// Why the search ends unknown when `n` domains could be neither split nor decided.
    fn undecided(n: usize) -> String;
}

/// A bounded child's fate.
pub(crate) enum Settled<D> {
    /// Proved on the whole child.
    Proved,
    /// A counterexample (checked on the network).
    Refuted(Counterexample),
    /// Still open: back into the heap.
    Open(D),
    /// Open, and it cannot be split further.
    Undecided,
}

/// What a branch-and-bound run found.
pub(crate) struct Run {
    pub(crate) verdict: Verdict,
    /// Children bounded.
    pub(crate) domains: usize,
    pub(crate) max_depth: usize,
}

impl Run {
    /// Whether the search itself decided (proved or refuted), as opposed to stopping.
    pub(crate) fn decided(&self) -> bool {
        !matches!(self.verdict, Verdict::Unknown { .. })
    }
}

/// Branch-and-bound from `root`: `per_batch` domains are split per round and their
/// children bounded at once; stops unknown at `deadline` or after `max_domains` children.
pub(crate) fn branch_and_bound<B: Branching>(
    b: &mut B,
    root: B::Domain,
    per_batch: usize,
    max_domains: usize,
    deadline: Option<Instant>,
) -> Result<Run> {
    let past = || deadline.is_some_and(|d| Instant::now() >= d);
    let mut heap = BinaryHeap::from([root]);
    let (mut domains, mut max_depth, mut undecided) = (0usize, 0usize, 0usize);
    let run = |verdict, domains, max_depth| Run {
        verdict,
        domains,
        max_depth,
    };
    while let Some(worst) = heap.peek() {
        if past() || domains >= max_domains {
            let reason = format!(
                "{} stopped ({}) with {} open {} after {domains} bounded; worst open bound {:.6e}",
                B::NAME,
                if past() { "timeout" } else { "domain limit" },
                heap.len(),
                B::NOUN,
                B::worst(worst)
            );
            return Ok(run(Verdict::Unknown { reason }, domains, max_depth));
        }
        let mut jobs: Vec<(Rc<B::Domain>, B::Child)> = Vec::new();
        while jobs.len() < 2 * per_batch {
            let Some(d) = heap.pop() else { break };
            let Some(children) = b.children(&d) else {
                undecided += 1;
                continue;
            };
            let d = Rc::new(d);
            jobs.extend(children.into_iter().map(|c| (d.clone(), c)));
        }
        b.prepare(heap.len() + jobs.len());
        let work: Vec<(&B::Domain, &B::Child)> =
            jobs.iter().map(|(d, c)| (d.as_ref(), c)).collect();
        let bb = &*b;
        let outcomes = super::lbp::each_on_own_core(&work, |&(d, c)| bb.bound(d, c));
        for ((d, c), outcome) in jobs.into_iter().zip(outcomes) {
            domains += 1;
            if B::deepens(&c) {
                max_depth = max_depth.max(B::depth(&d) + 1);
            }
            match b.settle(&d, c, outcome?) {
                Settled::Proved => {}
                Settled::Refuted(c) => return Ok(run(Verdict::Refuted(c), domains, max_depth)),
                Settled::Open(child) => heap.push(child),
                Settled::Undecided => undecided += 1,
            }
        }
    }
    if undecided > 0 {
        let reason = B::undecided(undecided);
        return Ok(run(Verdict::Unknown { reason }, domains, max_depth));
    }
    Ok(run(Verdict::Proved, domains, max_depth))
}
