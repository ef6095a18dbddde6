//! LP (triangle relaxation) and exact MILP (big-M) encodings, solved with CBC via good_lp.
//!
//! For a kept ReLU `y = max(0, x)` with pre-activation bounds `l < 0 < u`:
//!
//! - LP (triangle): `y >= 0`, `y >= x`, `y <= u (x − l) / (u − l)`;
//! - MILP: a binary `d` with `y >= 0`, `y >= x`, `y <= x − l (1 − d)`, `y <= u d`
//!   (`d = 1`: `y = x`; `d = 0`: `y = 0`).
//!
//! A kept unit with `l >= 0` is `y = x`, one with `u <= 0` is `y = 0`, and a linearized unit
//! is `y = x`: none gets a variable or a binary. Every dense output gets a variable bounded by
//! its (tightened) interval.
//!
//! Bound tightening ([`tighten`]): interval propagation first, then, for each ReLU layer in
//! order, two LPs (min and max of the pre-activation) per kept unit that still straddles 0,
//! over the triangle relaxation of the layers before; later intervals are re-propagated and
//! intersected. Measured on a 4→32→32→1 MLP, this cut CBC's MILP time about 3×.
//! A pre-activation that is one dense map of the input box gets no LPs: its interval is
//! already exact (on a 784-input CNN that was 534 of 2814 LPs).
//!
//! Deadlines: CBC's `seconds` parameter bounds only its branch and bound; a pure LP runs to
//! the end whatever it says (measured: 2 s LPs with `seconds 1`). So with a limit every
//! solve runs on its own thread and the caller waits at most the limit: an LP still running
//! then is abandoned (it finishes on its own, its result dropped; the `singlethread-cbc`
//! lock makes a later solve wait for it) and counts as [`Optimum::TimedOut`]. Only
//! optimal values change a bound; an unfinished solve leaves the interval bound.
use std::sync::mpsc;
use std::time::{Duration, Instant};

use good_lp::solvers::coin_cbc::coin_cbc;
use good_lp::{
    variable, Constraint, Expression, ProblemVariables, ResolutionError, Solution, SolutionStatus,
    SolverModel, Variable, WithTimeLimit,
};

use crate::bound::interval::{self, check_dense};
use crate::bound::{remaining, Bounded, InputBox, Interval, Method, OutputBounds};
use crate::{Error, Layer, Network, Result, ValueId};

/// An LP or MILP encoding of the first values of a dense network, good_lp style.
pub struct Encoding {
    vars: ProblemVariables,
    constraints: Vec<Constraint>,
    /// One affine expression per unit of each encoded value (`[0]`: the input variables).
    pub values: Vec<Vec<Expression>>,
    /// The input variables.
    pub inputs: Vec<Variable>,
    /// Binaries added (kept ReLUs straddling 0, MILP only).
    pub binaries: usize,
    exact: bool,
}

/// The result of one optimisation.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimum {
    /// Solved to optimality: the objective value and the input at the optimum.
    Optimal {
        /// Objective value.
        value: f64,
        /// The input variables' values.
        input: Vec<f64>,
    },
    /// The time limit stopped the solver first.
    TimedOut,
}

impl Encoding {
    /// An encoding with the input variables of `input`; `exact` selects MILP over LP.
    pub fn new(input: &InputBox, exact: bool) -> Self {
        let mut vars = ProblemVariables::new();
        let inputs: Vec<Variable> = input
            .intervals()
            .iter()
            .map(|iv| vars.add(variable().min(iv.lo).max(iv.hi)))
            .collect();
        let values = vec![inputs.iter().map(|&v| Expression::from(v)).collect()];
        Self {
            vars,
            constraints: Vec::new(),
            values,
            inputs,
            binaries: 0,
            exact,
        }
    }

    /// Adds node `k` of the dense network; `bounds` holds an interval per unit of every value.
    pub fn add_layer(&mut self, dense: &Network, k: usize, bounds: &[Vec<Interval>]) {
        let node = &dense.nodes[k];
        let x = &self.values[node.inputs[0]];
        let out: Vec<Expression> = match &node.layer {
            Layer::Dense(a) => {
                let mut out = Vec::with_capacity(a.weight.nrows());
                for (r, iv) in bounds[k + 1].iter().enumerate() {
                    let mut e = Expression::from(a.bias[r]);
                    for (j, xj) in x.iter().enumerate() {
                        let w = a.weight[(r, j)];
                        if w != 0.0 {
                            e.add_mul(w, xj.clone());
                        }
                    }
                    let y = self.vars.add(variable().min(iv.lo).max(iv.hi));
                    self.constraints.push(Expression::from(y).eq(e));
                    out.push(y.into());
                }
                out
            }
            Layer::Add => {
                let z = &self.values[node.inputs[1]];
                x.iter()
                    .zip(z)
                    .map(|(a, b)| a.clone() + b.clone())
                    .collect()
            }
            Layer::Relu(m) => {
                let pre = &bounds[node.inputs[0]];
                let x = x.clone();
                x.into_iter()
                    .enumerate()
                    .map(|(i, xi)| {
                        let iv = pre[i];
                        if !m.is_kept(i) || iv.lo >= 0.0 {
                            xi
                        } else if iv.hi <= 0.0 {
                            Expression::from(0.0)
                        } else {
                            self.relu(xi, iv)
                        }
                    })
                    .collect()
            }
            _ => unreachable!("check_dense rejects other layers"),
        };
        self.values.push(out);
    }

    fn relu(&mut self, x: Expression, iv: Interval) -> Expression {
        let (l, u) = (iv.lo, iv.hi);
        let y = self.vars.add(variable().min(0.0).max(u));
        self.constraints.push(Expression::from(y).geq(x.clone()));
        if self.exact {
            let d = self.vars.add(variable().binary());
            self.binaries += 1;
            // y <= x - l (1 - d)  <=>  y - x - l d <= -l
            self.constraints
                .push((Expression::from(y) - x - l * d).leq(-l));
            self.constraints
                .push((Expression::from(y) - u * d).leq(0.0));
        } else {
            // y <= u (x - l) / (u - l)
            let s = u / (u - l);
            self.constraints
                .push((Expression::from(y) - s * x).leq(-s * l));
        }
        y.into()
    }

    /// The constraints so far.
    pub fn constraints(&self) -> &[Constraint] {
        &self.constraints
    }

    /// Maximises (`maximise`) or minimises `objective` with CBC, within `limit` if given.
    ///
    /// With a limit the solve runs on its own thread and this returns [`Optimum::TimedOut`]
    /// once the limit has passed, whether or not CBC has stopped (see the module doc); a
    /// MILP also gets CBC's `seconds` so that its branch and bound stops by itself.
    pub fn optimise(
        &self,
        objective: &Expression,
        maximise: bool,
        limit: Option<Duration>,
    ) -> Result<Optimum> {
        let job = Job {
            vars: self.vars.clone(),
            constraints: self.constraints.clone(),
            objective: objective.clone(),
            maximise,
            inputs: self.inputs.clone(),
            exact: self.exact,
        };
        let Some(limit) = limit else {
            return job.solve(None);
        };
        if limit.is_zero() {
            return Ok(Optimum::TimedOut);
        }
        let (done, result) = mpsc::channel();
        std::thread::Builder::new()
            .name("snl-cbc".into())
            .stack_size(CBC_STACK)
            .spawn(move || {
                // the receiver is gone when the limit passed first
                let _ = done.send(job.solve(Some(limit)));
            })
            .map_err(|e| Error::Solver {
                reason: format!("cannot start a CBC thread: {e}"),
            })?;
        match result.recv_timeout(limit) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(Optimum::TimedOut),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Solver {
                reason: "the CBC thread panicked".into(),
            }),
        }
    }
}

/// Stack of a CBC solve thread (the main thread's default).
const CBC_STACK: usize = 8 << 20;

/// One CBC solve, owning its problem so that it can run on its own thread.
struct Job {
    vars: ProblemVariables,
    constraints: Vec<Constraint>,
    objective: Expression,
    maximise: bool,
    inputs: Vec<Variable>,
    exact: bool,
}

impl Job {
    fn solve(self, limit: Option<Duration>) -> Result<Optimum> {
        let problem = if self.maximise {
            self.vars.maximise(self.objective.clone())
        } else {
            self.vars.minimise(self.objective.clone())
        };
        let mut model = problem.using(coin_cbc);
        model.set_parameter("log", "0");
        if let Some(t) = limit.filter(|_| self.exact) {
            // whole seconds, rounded up: the caller's wait is the real limit
            model = model.with_time_limit(t.as_secs_f64());
            model.set_parameter("timeMode", "elapsed");
        }
        for c in self.constraints {
            model.add_constraint(c);
        }
        match model.solve() {
            Ok(sol) => match sol.status() {
                SolutionStatus::Optimal => Ok(Optimum::Optimal {
                    value: self.objective.eval_with(&sol),
                    input: self.inputs.iter().map(|&v| sol.value(v)).collect(),
                }),
                _ => Ok(Optimum::TimedOut),
            },
            Err(ResolutionError::Infeasible) => Err(Error::Infeasible),
            Err(ResolutionError::Unbounded) => Err(Error::Unbounded),
            Err(ResolutionError::Other("Stopped")) => Ok(Optimum::TimedOut),
            Err(e) => Err(Error::Solver {
                reason: e.to_string(),
            }),
        }
    }
}

/// A solver optimum `value` as a bound: moved outward (up when maximising) by CBC's tolerance,
/// [`crate::tolerance::solver_pad`]. Every LP/MILP optimum that becomes a bound, the
/// tightened intervals of hidden units as well as the output bounds, goes through here.
fn outward(value: f64, maximise: bool) -> f64 {
    let pad = crate::tolerance::solver_pad(value);
    if maximise {
        value + pad
    } else {
        value - pad
    }
}

/// Encodes values `0..=upto` of the dense network.
pub fn encode(
    dense: &Network,
    input: &InputBox,
    bounds: &[Vec<Interval>],
    upto: usize,
    exact: bool,
) -> Encoding {
    let mut e = Encoding::new(input, exact);
    for k in 0..upto {
        e.add_layer(dense, k, bounds);
    }
    e
}

/// What [`tighten`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tightening {
    /// LPs solved to optimality: only their values changed an interval.
    pub solved: usize,
    /// LPs it meant to solve: two per kept unit straddling 0 when its layer came up (for
    /// the layers the deadline kept it from, counted on the intervals it left).
    pub planned: usize,
    /// Whether some planned LP was not solved (the deadline stopped it or came first).
    pub timed_out: bool,
}

/// The intervals of every value of a dense network after [`tighten`], with what it did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tightened {
    /// One interval per unit of every value (`[0]`: the input box).
    pub values: Vec<Vec<Interval>>,
    /// What the tightening did.
    pub report: Tightening,
}

impl Tightened {
    /// Interval propagation, then [`tighten`] until `deadline`.
    pub fn new(dense: &Network, input: &InputBox, deadline: Option<Instant>) -> Result<Self> {
        let mut values = interval::propagate(dense, input)?;
        let report = tighten(dense, input, &mut values, deadline)?;
        Ok(Self { values, report })
    }

    /// The intervals of `longer`, given that these intervals are those of `shorter` over
    /// the same box: the values that `longer` computes exactly as `shorter` does (its
    /// longest common prefix of nodes) keep the tightened intervals, and the nodes after it
    /// get interval propagation from them (no LP).
    ///
    /// `longer` is meant to continue `shorter` (the margin network does), but need not: the
    /// dense form of a network that ends in a flatten of an earlier value ends in an
    /// identity node that its margin network's dense form lacks. Matching by position would
    /// then give the margins the outputs' intervals.
    pub fn extended(&self, shorter: &Network, longer: &Network, input: &InputBox) -> Result<Self> {
        assert_eq!(
            self.values.len(),
            shorter.nodes.len() + 1,
            "intervals of another network"
        );
        let mut values = interval::propagate(longer, input)?;
        let common = shorter
            .nodes
            .iter()
            .zip(&longer.nodes)
            .take_while(|(a, b)| a == b)
            .count();
        // values 0..=common are the same functions of the input in both networks
        values[..=common].clone_from_slice(&self.values[..=common]);
        interval::repropagate(longer, &mut values, common);
        Ok(Self {
            values,
            report: self.report,
        })
    }
}

/// Whether interval propagation is already exact on value `u`: the input box, or one dense
/// node applied to it (an affine function's extremes over a box are at its corners).
fn exact_interval(dense: &Network, u: ValueId) -> bool {
    u.node().is_none_or(|j| {
        let node = &dense.nodes[j];
        matches!(node.layer, Layer::Dense(_)) && node.inputs == [ValueId::INPUT]
    })
}

/// Whether the deadline has passed.
fn past(deadline: Option<Instant>) -> bool {
    remaining(deadline).is_some_and(|t| t.is_zero())
}

/// Tightens the pre-activation interval of every kept ReLU unit that straddles 0 with two
/// LPs each, layer by layer, and re-propagates.
///
/// Each LP gets the time left before `deadline`; only optimal values change an interval,
/// so an LP that does not finish leaves it as it was. At the deadline the tightening stops
/// (re-propagating what it has), and the report says how many LPs it solved of how many
/// it planned. Values on which interval propagation is exact get no LPs.
pub fn tighten(
    dense: &Network,
    input: &InputBox,
    bounds: &mut [Vec<Interval>],
    deadline: Option<Instant>,
) -> Result<Tightening> {
    let mut t = Tightening::default();
    for k in 0..dense.nodes.len() {
        let node = &dense.nodes[k];
        let Layer::Relu(m) = &node.layer else {
            continue;
        };
        let u = node.inputs[0];
        let unstable: Vec<usize> = (0..m.len())
            .filter(|&i| m.is_kept(i) && bounds[u][i].straddles_zero())
            .collect();
        if unstable.is_empty() || exact_interval(dense, u) {
            continue;
        }
        t.planned += 2 * unstable.len();
        if past(deadline) {
            continue; // only count what is left
        }
        let enc = encode(dense, input, bounds, u.index(), false);
        'units: for i in unstable {
            let obj = &enc.values[u][i];
            let mut iv = bounds[u][i];
            for maximise in [false, true] {
                if past(deadline) {
                    break 'units;
                }
                match enc.optimise(obj, maximise, remaining(deadline))? {
                    Optimum::Optimal { value, .. } => {
                        t.solved += 1;
                        let b = outward(value, maximise);
                        if maximise {
                            iv.hi = iv.hi.min(b);
                        } else {
                            iv.lo = iv.lo.max(b);
                        }
                    }
                    Optimum::TimedOut => {} // the interval stays
                }
            }
            if iv.lo <= iv.hi {
                bounds[u][i] = iv;
            }
        }
        interval::repropagate(dense, bounds, u.index());
    }
    t.timed_out = t.solved < t.planned;
    Ok(t)
}

/// LP (`exact = false`) or MILP (`exact = true`) bounds of every output over the box.
///
/// Everything stops at `deadline`: the tightening where it is, and each bound whose solve
/// has not finished keeps the sound bound below it (a MILP bound: the LP's; an LP bound:
/// the tightened interval). The result then says so in `unknown`, with the counts.
pub fn bounds(
    dense: &Network,
    input: &InputBox,
    exact: bool,
    deadline: Option<Instant>,
) -> Result<Bounded> {
    Ok(bounds_sided(dense, input, exact, deadline, true)?.0)
}

/// [`bounds`], with the upper bounds only when `upper` (otherwise the interval ones), and the
/// inputs at which each lower bound's LP or MILP attains its optimum (counterexample
/// candidates; none for a bound that timed out).
pub fn bounds_sided(
    dense: &Network,
    input: &InputBox,
    exact: bool,
    deadline: Option<Instant>,
    upper_too: bool,
) -> Result<(Bounded, Vec<Vec<f64>>)> {
    check_dense(dense, if exact { "milp" } else { "lp" })?;
    let t = Tightened::new(dense, input, deadline)?;
    bounds_with(dense, input, &t, exact, deadline, upper_too)
}

/// The optimum of output `i` of the encoding: `Some((value, input))`, or `None` when the
/// solve did not finish before `deadline`.
fn side(
    enc: &Encoding,
    i: usize,
    maximise: bool,
    deadline: Option<Instant>,
) -> Result<Option<(f64, Vec<f64>)>> {
    let out = enc.values.last().expect("the output");
    Ok(
        match enc.optimise(&out[i], maximise, remaining(deadline))? {
            Optimum::Optimal { value, input } => Some((value, input)),
            Optimum::TimedOut => None,
        },
    )
}

/// [`bounds_sided`] from intervals already tightened for `dense`.
pub(crate) fn bounds_with(
    dense: &Network,
    input: &InputBox,
    t: &Tightened,
    exact: bool,
    deadline: Option<Instant>,
    upper_too: bool,
) -> Result<(Bounded, Vec<Vec<f64>>)> {
    let values = &t.values;
    let n = dense.nodes.len();
    // no encoding (a large one takes a while) when there is no time to solve it
    let live = !past(deadline);
    let lp = live.then(|| encode(dense, input, values, n, false));
    let milp = (live && exact).then(|| encode(dense, input, values, n, true));
    let out = &values[n];
    let sides: &[bool] = if upper_too { &[false, true] } else { &[false] };
    let jobs: Vec<(usize, bool)> = (0..out.len())
        .flat_map(|i| sides.iter().map(move |&m| (i, m)))
        .collect();
    // start from the (tightened) interval bounds: sound whatever finishes
    let mut s = Solves {
        best: jobs
            .iter()
            .map(|&(i, m)| if m { out[i].hi } else { out[i].lo })
            .collect(),
        lp_done: vec![false; jobs.len()],
        milp_done: vec![false; jobs.len()],
        witnesses: Vec::new(),
    };
    // the LP bounds first when a MILP might not finish: they are its fallback
    if let Some(lp) = lp.as_ref().filter(|_| !exact || deadline.is_some()) {
        s.lp_pass(lp, &jobs, exact, deadline)?;
    }
    if let Some(m) = &milp {
        s.milp_pass(m, lp.as_ref(), &jobs, deadline)?;
    }
    let total = jobs.len();
    let milp_failed = if exact {
        s.milp_done.iter().filter(|d| !**d).count()
    } else {
        0
    };
    // bounds left at their intervals: neither the MILP nor the LP finished
    let lp_failed = (0..total)
        .filter(|&j| !s.lp_done[j] && !s.milp_done[j])
        .count();
    let why = timeout_reasons(&t.report, milp_failed, lp_failed, total);
    let mut lower = Vec::with_capacity(out.len());
    let mut upper = Vec::with_capacity(out.len());
    for (j, &(i, maximise)) in jobs.iter().enumerate() {
        if maximise {
            upper.push(s.best[j]);
        } else {
            lower.push(s.best[j]);
            if !upper_too {
                upper.push(out[i].hi);
            }
        }
    }
    let bounded = Bounded {
        bounds: OutputBounds { lower, upper },
        method: if exact { Method::Milp } else { Method::Lp },
        exact: exact && milp_failed == 0 && upper_too,
        unknown: (!why.is_empty()).then(|| format!("timeout: {}", why.join("; "))),
        unstable_kept: milp
            .as_ref()
            .map_or_else(|| interval::unstable_kept(dense, values), |m| m.binaries),
        tightening_lps: t.report.solved,
        lbp: None,
    };
    Ok((bounded, s.witnesses))
}

/// The solves of [`bounds_with`], one per job `(output, maximise)`: the best bound so far,
/// which solves finished, and the inputs at which lower bounds are attained.
struct Solves {
    best: Vec<f64>,
    lp_done: Vec<bool>,
    milp_done: Vec<bool>,
    witnesses: Vec<Vec<f64>>,
}

impl Solves {
    /// Job `j`'s bound, tightened by a solver optimum `v` where it beats it.
    fn tighten(&mut self, j: usize, v: f64, maximise: bool) {
        let v = outward(v, maximise);
        self.best[j] = if maximise {
            self.best[j].min(v)
        } else {
            self.best[j].max(v)
        };
    }

    /// Every job by the LP (its witnesses kept when the LP is the method, `!exact`).
    fn lp_pass(
        &mut self,
        lp: &Encoding,
        jobs: &[(usize, bool)],
        exact: bool,
        deadline: Option<Instant>,
    ) -> Result<()> {
        for (j, &(i, maximise)) in jobs.iter().enumerate() {
            if let Some((v, x)) = side(lp, i, maximise, deadline)? {
                self.tighten(j, v, maximise);
                self.lp_done[j] = true;
                if !maximise && !exact {
                    self.witnesses.push(x);
                }
            }
        }
        Ok(())
    }

    /// Every job by the MILP; without a deadline, a MILP that CBC stopped by itself falls
    /// back to the LP.
    fn milp_pass(
        &mut self,
        milp: &Encoding,
        lp: Option<&Encoding>,
        jobs: &[(usize, bool)],
        deadline: Option<Instant>,
    ) -> Result<()> {
        for (j, &(i, maximise)) in jobs.iter().enumerate() {
            match side(milp, i, maximise, deadline)? {
                Some((v, x)) => {
                    self.tighten(j, v, maximise);
                    self.milp_done[j] = true;
                    if !maximise {
                        self.witnesses.push(x);
                    }
                }
                None => {
                    if let Some(lp) = lp.filter(|_| deadline.is_none()) {
                        // CBC stopped by itself: the LP bound instead
                        if let Some((v, _)) = side(lp, i, maximise, None)? {
                            self.tighten(j, v, maximise);
                            self.lp_done[j] = true;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why some of `total` bounds are not what their method computes: an unfinished
/// tightening, MILP bounds replaced by LP ones, bounds left at their intervals.
fn timeout_reasons(
    tightening: &Tightening,
    milp_failed: usize,
    lp_failed: usize,
    total: usize,
) -> Vec<String> {
    let mut why = Vec::new();
    if tightening.timed_out {
        why.push(format!(
            "{} of {} tightening LPs done",
            tightening.solved, tightening.planned
        ));
    }
    if milp_failed > 0 {
        why.push(format!(
            "the MILP timed out on {milp_failed} of {total} bounds: LP bounds there"
        ));
    }
    if lp_failed > 0 {
        why.push(format!(
            "{lp_failed} of {total} bounds without a finished LP: interval bounds there"
        ));
    }
    why
}

/// The exact optimum of output `i` (MILP), with its witness input, or `None` on timeout.
pub fn milp_optimum(
    dense: &Network,
    input: &InputBox,
    output: usize,
    maximise: bool,
    deadline: Option<Instant>,
) -> Result<Option<(f64, Vec<f64>)>> {
    check_dense(dense, "milp")?;
    let t = Tightened::new(dense, input, deadline)?;
    let enc = encode(dense, input, &t.values, dense.nodes.len(), true);
    side(&enc, output, maximise, deadline)
}
