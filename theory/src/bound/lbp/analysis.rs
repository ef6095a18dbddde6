//! Intermediate bounds of a whole graph ([`Analysis`]) and how their work is spread
//! over the cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;
use crate::Error;

/// Sound pre-activation bounds for every kept unit: interval propagation, then CROWN
/// back-substitution for the kept units interval propagation leaves unstable, layer by layer.
/// Cloning shares the graph.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The compiled graph.
    pub graph: std::sync::Arc<Graph>,
    /// Sound intervals of every value (ReLU pre-activations refined by back-substitution).
    pub iv: Intervals,
    /// The input box.
    pub input: InputBox,
    /// What was done.
    pub stats: LbpStats,
    /// Floating-point error weights of `iv`.
    pub fp: FpTerms,
}

/// The deadline for intermediate bounds within a run that ends at `deadline`: 90% of the
/// time left, so that the output or margin pass that follows them (a handful of rows) still
/// runs with whatever was refined, instead of leaving interval bounds at a timeout.
pub fn refine_deadline(deadline: Option<Instant>) -> Option<Instant> {
    deadline.map(|d| {
        let now = Instant::now();
        if d > now {
            now + (d - now).mul_f64(0.9)
        } else {
            d
        }
    })
}

/// Rows per backward batch (memory: `rows × value size` f64 per live value).
const BATCH_ROWS: usize = 32;

/// Graphs with more values than this refine intermediate bounds in batches of
/// [`BATCH_ROWS_LARGE`] rows: one row's pass is expensive there (tens of milliseconds on a
/// ResNet-18), and the deadline is checked between batches.
const LARGE_GRAPH_VALUES: usize = 100_000;
const BATCH_ROWS_LARGE: usize = 4;

thread_local! {
    /// Set while a caller already runs one bounding problem per core (see [`serial`]).
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's bound computations on this thread only: for callers that
/// bound several problems at once, one per core (input branch-and-bound), where nested
/// threads would only add spawning and contention.
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    let was = SERIAL.with(|s| s.replace(true));
    let r = f();
    SERIAL.with(|s| s.set(was));
    r
}

/// `f` of every item, each on its own thread and [`serial`] there (one bounding problem per
/// core); a single item, or any inside [`serial`], runs on this thread. Results in order.
pub fn each_on_own_core<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 || SERIAL.with(|s| s.get()) {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| s.spawn(move || serial(|| f(item))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bounding thread panicked"))
            .collect()
    })
}

/// The cores bound computations may use from this thread (1 inside [`serial`]).
pub fn threads() -> usize {
    if SERIAL.with(|s| s.get()) {
        1
    } else {
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    }
}

/// Runs `f(start, end)` for chunks of `0..n` on all cores; results in order.
fn parallel_chunks<T: Send>(
    n: usize,
    chunk: usize,
    deadline: Option<Instant>,
    f: impl Fn(usize, usize) -> T + Sync,
) -> Vec<Option<T>> {
    let chunks = n.div_ceil(chunk);
    let threads = threads().min(chunks.max(1));
    if threads <= 1 {
        return (0..chunks)
            .map(|c| {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    None
                } else {
                    Some(f(c * chunk, ((c + 1) * chunk).min(n)))
                }
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<T>>> = Mutex::new((0..chunks).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= chunks {
                    break;
                }
                let r = f(c * chunk, ((c + 1) * chunk).min(n));
                out.lock().expect("no panics while holding the lock")[c] = Some(r);
            });
        }
    });
    out.into_inner().expect("threads joined")
}

impl Analysis {
    /// Interval propagation plus CROWN intermediate bounds for the kept units, stopping at
    /// `deadline` (the bounds then stay sound, only looser).
    pub fn new(net: &Network, input: &InputBox, deadline: Option<Instant>) -> Result<Analysis> {
        let mut a = Analysis::interval_only(net, input)?;
        a.refine(deadline, &Relaxation::default());
        Ok(a)
    }

    /// Interval bounds only (no back-substitution).
    pub fn interval_only(net: &Network, input: &InputBox) -> Result<Analysis> {
        let graph = Graph::new(net)?;
        if input.dim() != graph.sizes[0] {
            return Err(Error::InputBox(crate::BoxProblem::Dimension {
                expected: graph.sizes[0],
                got: input.dim(),
            }));
        }
        let iv = intervals(&graph, input);
        let fp = FpTerms::new(&graph, &iv);
        let mut a = Analysis {
            graph: std::sync::Arc::new(graph),
            iv,
            input: input.clone(),
            stats: LbpStats::default(),
            fp,
        };
        a.count_unstable();
        a.stats.kept = a.kept_total();
        Ok(a)
    }

    fn kept_total(&self) -> usize {
        self.graph
            .kept_relu_nodes()
            .iter()
            .map(|&k| self.graph.mask(k).map_or(0, |m| m.kept()))
            .sum()
    }

    fn count_unstable(&mut self) {
        let mut n = 0;
        for k in self.graph.kept_relu_nodes() {
            let m = self.graph.mask(k).expect("relu");
            for i in 0..m.len() {
                let (l, h) = pre(&self.iv, &self.graph, k, i);
                if m.is_kept(i) && l < 0.0 && h > 0.0 {
                    n += 1;
                }
            }
        }
        self.stats.unstable_kept = n;
    }

    /// Kept units of node `k` whose interval straddles 0.
    pub fn unstable_units(&self, k: usize) -> Vec<usize> {
        let Some(m) = self.graph.mask(k) else {
            return Vec::new();
        };
        (0..m.len())
            .filter(|&i| {
                let (l, h) = pre(&self.iv, &self.graph, k, i);
                m.is_kept(i) && l < 0.0 && h > 0.0
            })
            .collect()
    }

    /// Refines the kept units' pre-activation bounds by back-substitution, layer by layer.
    pub(crate) fn refine(&mut self, deadline: Option<Instant>, relax: &Relaxation) {
        self.refine_from(0, deadline, relax);
    }

    /// [`Analysis::refine`] for the ReLU nodes from node `first` on.
    pub(crate) fn refine_from(
        &mut self,
        first: usize,
        deadline: Option<Instant>,
        relax: &Relaxation,
    ) {
        self.refine_stale(first, None, deadline, relax);
    }

    /// Narrows value `v` to `update` (`(unit, lo, hi)`, a sound bound) and refines the ReLU
    /// nodes from node `first` on, as [`Analysis::narrow`] then [`Analysis::refine_from`],
    /// with the intervals after `v` re-propagated once instead of once per step.
    pub(crate) fn narrow_then_refine(
        &mut self,
        v: usize,
        update: (usize, f64, f64),
        first: usize,
        deadline: Option<Instant>,
        relax: &Relaxation,
    ) {
        self.intersect(v, &[update]);
        self.refine_stale(first, Some(v), deadline, relax);
    }

    /// [`Analysis::refine_from`] where the intervals after value `stale` (when `Some`) are
    /// not yet re-propagated and the floating-point terms not yet updated for them: each
    /// node's input is brought in step just before it is refined, the rest at the end.
    fn refine_stale(
        &mut self,
        first: usize,
        stale: Option<usize>,
        deadline: Option<Instant>,
        relax: &Relaxation,
    ) {
        self.stats = LbpStats {
            kept: self.kept_total(),
            ..LbpStats::default()
        };
        // `fp` is in step with `iv` on entry (every change of `iv` updates it: here,
        // `narrow`, `interval_only`). Within the loop it is left as it was: intervals only
        // narrow, so the magnitudes it holds still bound every value and its error terms
        // stay sound (only a little larger); one update at the end brings it in step.
        let mut changed_from: Option<usize> = stale;
        // the first op whose output is not in step with its inputs' intervals
        let mut pending: Option<usize> = stale;
        for k in self.graph.kept_relu_nodes() {
            if k < first {
                continue;
            }
            let u = self.graph.inputs[k][0];
            if let Some(p) = pending.filter(|&p| p < u) {
                repropagate_ops(&self.graph, &mut self.iv, p, u);
                pending = Some(u);
            }
            let units = self.unstable_units(k);
            self.stats.candidates += units.len();
            if units.is_empty() {
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.stats.timed_out = true;
                continue;
            }
            let su = self.graph.sizes[u];
            let g = &self.graph;
            let iv = &self.iv;
            let fp = &self.fp;
            let input = &self.input;
            // rows: +e_i (lower) and −e_i (upper) for each unit
            let per = self.units_per_batch();
            let results = parallel_chunks(units.len(), per, deadline, |s, e| {
                let m = 2 * (e - s);
                let mut rows = vec![0.0; m * su];
                for (j, &i) in units[s..e].iter().enumerate() {
                    rows[(2 * j) * su + i] = 1.0;
                    rows[(2 * j + 1) * su + i] = -1.0;
                }
                backward(g, iv, fp, input, u, &rows, m, relax, false)
            });
            let mut refined = 0;
            let mut fp = 0.0f64;
            let mut updates = Vec::new();
            for (c, r) in results.into_iter().enumerate() {
                let Some(b) = r else {
                    self.stats.timed_out = true;
                    continue;
                };
                fp = fp.max(b.fp_allowance);
                let s = c * per;
                for j in 0..b.lower.len() / 2 {
                    updates.push((units[s + j], b.lower[2 * j], -b.lower[2 * j + 1]));
                    refined += 1;
                }
            }
            self.intersect(u, &updates);
            self.stats.refined += refined;
            self.stats.fp_allowance = self.stats.fp_allowance.max(fp);
            pending = Some(pending.map_or(u, |p| p.min(u)));
            changed_from = Some(changed_from.map_or(u, |c| c.min(u)));
        }
        if let Some(p) = pending {
            repropagate(&self.graph, &mut self.iv, p);
        }
        if let Some(u) = changed_from {
            self.fp.update_from(&self.graph, &self.iv, u);
        }
        self.count_unstable();
    }

    /// Whether one backward row is expensive here (see [`LARGE_GRAPH_VALUES`]).
    fn large(&self) -> bool {
        self.graph.total_size() > LARGE_GRAPH_VALUES
    }

    /// Units (two rows each: lower and upper) per backward batch.
    fn units_per_batch(&self) -> usize {
        if self.large() {
            BATCH_ROWS_LARGE / 2
        } else {
            BATCH_ROWS / 2
        }
    }

    /// Narrows the intervals of value `v` to `[lo, hi]` where those are tighter (`updates`:
    /// `(unit, lo, hi)`, each a sound bound), then re-propagates intervals downstream and
    /// recomputes the floating-point terms and the unstable count.
    pub(crate) fn narrow(&mut self, v: usize, updates: &[(usize, f64, f64)]) {
        self.intersect(v, updates);
        repropagate(&self.graph, &mut self.iv, v);
        self.fp.update_from(&self.graph, &self.iv, v);
        self.count_unstable();
    }

    /// Intersects the intervals of value `v` with `updates` (`(unit, lo, hi)`, each a sound
    /// bound), nothing else: the values after `v` are not re-propagated.
    fn intersect(&mut self, v: usize, updates: &[(usize, f64, f64)]) {
        for &(i, lo, hi) in updates {
            self.iv.lo[v][i] = self.iv.lo[v][i].max(lo);
            self.iv.hi[v][i] = self.iv.hi[v][i].min(hi);
        }
    }

    /// Lower bounds of `rows · value_start` (`m × size(start)`, row-major).
    pub fn lower_bounds_at(
        &self,
        start: usize,
        rows: &[f64],
        m: usize,
        relax: &Relaxation,
        record: bool,
    ) -> Backward {
        backward(
            &self.graph,
            &self.iv,
            &self.fp,
            &self.input,
            start,
            rows,
            m,
            relax,
            record,
        )
    }

    /// Lower bounds of `rows · output` (`m × outputs`, row-major).
    pub fn lower_bounds(
        &self,
        rows: &[f64],
        m: usize,
        relax: &Relaxation,
        record: bool,
    ) -> Backward {
        self.lower_bounds_at(self.graph.values() - 1, rows, m, relax, record)
    }

    /// Sound bounds of every output: back-substitution intersected with intervals (outputs
    /// whose batch `deadline` stopped keep their interval bounds).
    pub fn output_bounds(&self, deadline: Option<Instant>) -> (Vec<f64>, Vec<f64>, f64) {
        let out = self.graph.values() - 1;
        let n = self.graph.sizes[out];
        let mut lo = self.iv.lo[out].clone();
        let mut hi = self.iv.hi[out].clone();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return (lo, hi, 0.0);
        }
        let mut rows = vec![0.0; 2 * n * n];
        for i in 0..n {
            rows[(2 * i) * n + i] = 1.0;
            rows[(2 * i + 1) * n + i] = -1.0;
        }
        // one output (two rows) a batch on large graphs, so the deadline is checked often
        let per = if self.large() { 1 } else { BATCH_ROWS / 2 };
        let results = parallel_chunks(n, per, deadline, |s, e| {
            self.lower_bounds(
                &rows[2 * s * n..2 * e * n],
                2 * (e - s),
                &Relaxation::default(),
                false,
            )
        });
        let mut fp = 0.0f64;
        for (c, r) in results.into_iter().enumerate() {
            // past the deadline, the outputs of the batches not run keep interval bounds
            let Some(b) = r else { continue };
            fp = fp.max(b.fp_allowance);
            let s = c * per;
            for j in 0..b.lower.len() / 2 {
                lo[s + j] = lo[s + j].max(b.lower[2 * j]);
                hi[s + j] = hi[s + j].min(-b.lower[2 * j + 1]);
            }
        }
        (lo, hi, fp)
    }
}
