//! Sound output bounds and robustness verdicts over an input box.
//!
//! # The way in
//! Two doors, and every caller (the `snl-verify` commands included) uses them:
//! * [`Network::bound`] starts a [`Query`] on one [`InputBox`]: pick a [`Method`], maybe a
//!   deadline, then [`Query::solve`] (bounds of every output), [`Query::verify`] or
//!   [`Query::verify_report`] (a [`Property`], with how it was decided);
//! * [`Network::verify_spec`] decides a specification of several input regions, each with
//!   its output violation set (what a VNN-LIB file states), up to a [`bab::Level`].
//!
//! # Methods
//! | method     | runs on            | what                                                   | complete?  |
//! |------------|--------------------|--------------------------------------------------------|------------|
//! | `Interval` | the graph          | interval propagation, outward-rounded                  | no         |
//! | `Crown`    | the graph          | back-substitution relaxing kept unstable ReLUs         | no         |
//! | `Alpha`    | the graph          | CROWN with optimised lower slopes                      | no         |
//! | `Bab`      | the graph          | α-CROWN, then branch-and-bound (ReLU or input splits)  | up to time |
//! | `Lp`       | the dense form     | triangle relaxation after per-unit LP tightening       | no         |
//! | `Milp`     | the dense form     | big-M, one binary per kept ReLU straddling 0           | up to CBC  |
//! | `Smt`      | the dense form     | z3 over exact rationals, `y = ite(x >= 0, x, 0)`        | exact      |
//!
//! The graph methods carry a rigorous bound of their own floating-point rounding
//! ([`lbp`]), so what they prove holds for the real-arithmetic network. The dense methods
//! read [`Network::to_dense`] (only [`Layer::Dense`], [`Layer::Relu`] and [`Layer::Add`]
//! over flat vectors). Only SMT is exact ([`Method::is_exact`]): z3 decides the dense form
//! in rational arithmetic, and the dense form is the network's parameters as they are (see
//! [`Network::to_dense`] for batch norm and average pooling). MILP encodes the same
//! function, but CBC solves it in floating point with feasibility and integrality
//! tolerances: its optima are complete up to those tolerances, padded outward by
//! [`Tolerance::Solver`](crate::tolerance::Tolerance::Solver), not rigorous. A deadline
//! ([`Query::with_timeout`]) is shared by everything a query computes; what it stops keeps
//! a sound bound and says so in `unknown`.
//!
//! # Rooms
//! * [`lbp`]: the graph the graph methods run on — one compiled op enum with each op's
//!   forward, interval and backward step together — and the intermediate bounds
//!   ([`lbp::Analysis`]);
//! * [`bab`]: the verdict pipeline (attack, CROWN, α-CROWN, branch-and-bound), whose
//!   stages report which one decided ([`bab::DecidedBy`]); the branch-and-bound loop itself
//!   is one loop generic over what it splits (`branching.rs`);
//! * [`interval`], [`lp`], [`smt`]: the dense methods; [`exact`]: rational evaluation at a
//!   point, to decide a counterexample within rounding.
//!
//! The stages consume each other: `net.bound(&input_box)?.using(Method::Milp).solve()?`.
//!
//! ```
//! use nalgebra::{DMatrix, DVector};
//! use snl_theory::bound::{InputBox, Method};
//! use snl_theory::{Affine, Layer, Network, ReluMask};
//!
//! // y = relu(x0) - x1 over [-1, 2] x [0, 1]: max 2 (x = (2, 0)), min -1 (x0 <= 0, x1 = 1)
//! let mut net = Network::new(vec![2]);
//! net.push(Layer::Relu(ReluMask::from_bools(&[true, false])));
//! net.push(Layer::Dense(Affine::new(DMatrix::from_row_slice(1, 2, &[1.0, -1.0]), DVector::zeros(1))));
//! let input = InputBox::new(vec![-1.0, 0.0], vec![2.0, 1.0]).unwrap();
//! let b = net.bound(&input).unwrap().using(Method::Interval).solve().unwrap();
//! // rounded outward: [-1, 2] up to a rigorous allowance of a few ulps
//! let (lo, hi) = (b.bounds.lower[0], b.bounds.upper[0]);
//! assert!(lo <= -1.0 && lo > -1.0 - 1e-12 && hi >= 2.0 && hi < 2.0 + 1e-12);
//! ```
use std::time::{Duration, Instant};

use nalgebra::DVector;
use serde::{Deserialize, Serialize};

use crate::error::BoxProblem;
use crate::{numel, Affine, Error, Layer, Network, Result};

pub mod bab;
mod branching;
pub mod exact;
pub mod interval;
pub mod lbp;
#[cfg(feature = "lp")]
pub mod lp;
#[cfg(feature = "smt")]
pub mod smt;

/// A closed interval `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

impl Interval {
    /// `[lo, hi]`.
    pub fn new(lo: f64, hi: f64) -> Self {
        Self { lo, hi }
    }

    /// Whether `lo < 0 < hi` (a kept ReLU on it is not affine).
    pub fn straddles_zero(&self) -> bool {
        self.lo < 0.0 && self.hi > 0.0
    }

    /// The intersection with `other` (both sound: so is the result).
    pub fn intersect(&self, other: &Interval) -> Interval {
        Interval::new(self.lo.max(other.lo), self.hi.min(other.hi))
    }
}

/// The input region `{x : lower <= x <= upper}` (auto_LiRPA's `x_L`, `x_U`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputBox {
    /// Lower bound per input.
    pub lower: Vec<f64>,
    /// Upper bound per input.
    pub upper: Vec<f64>,
}

impl InputBox {
    /// A box from its corners; every bound finite and `lower <= upper`.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Result<Self> {
        if lower.len() != upper.len() {
            return Err(Error::InputBox(BoxProblem::Lengths {
                lower: lower.len(),
                upper: upper.len(),
            }));
        }
        for (index, (&lo, &hi)) in lower.iter().zip(&upper).enumerate() {
            for value in [lo, hi] {
                if !value.is_finite() {
                    return Err(Error::InputBox(BoxProblem::NonFinite { index, value }));
                }
            }
            if lo > hi {
                return Err(Error::InputBox(BoxProblem::Order { index, lo, hi }));
            }
        }
        Ok(Self { lower, upper })
    }

    /// `[lo, hi]` on each of `dim` inputs.
    pub fn uniform(dim: usize, lo: f64, hi: f64) -> Result<Self> {
        Self::new(vec![lo; dim], vec![hi; dim])
    }

    /// The L∞ ball `[c − eps, c + eps]` around `center`, rounded outward where `c ± eps` is
    /// not exact in f64 (one step down or up), so that it contains the real-arithmetic ball.
    pub fn around(center: &[f64], eps: f64) -> Result<Self> {
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(Error::InputBox(BoxProblem::Radius(eps)));
        }
        Self::new(
            center.iter().map(|&c| sum_down(c, -eps)).collect(),
            center.iter().map(|&c| sum_up(c, eps)).collect(),
        )
    }

    /// Number of inputs.
    pub fn dim(&self) -> usize {
        self.lower.len()
    }

    /// One interval per input.
    pub fn intervals(&self) -> Vec<Interval> {
        self.lower
            .iter()
            .zip(&self.upper)
            .map(|(&l, &u)| Interval::new(l, u))
            .collect()
    }

    /// The centre of the box.
    pub fn center(&self) -> Vec<f64> {
        self.lower
            .iter()
            .zip(&self.upper)
            .map(|(l, u)| 0.5 * (l + u))
            .collect()
    }

    /// Whether `x` lies in the box.
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.dim()
            && (0..x.len()).all(|i| self.lower[i] <= x[i] && x[i] <= self.upper[i])
    }

    /// `x` projected onto the box (solver witnesses can leave it by a rounding error).
    pub fn clamp(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(i, v)| v.clamp(self.lower[i], self.upper[i]))
            .collect()
    }
}

/// A lower and an upper bound for each output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputBounds {
    /// Lower bound per output.
    pub lower: Vec<f64>,
    /// Upper bound per output.
    pub upper: Vec<f64>,
}

impl OutputBounds {
    /// Bounds from one interval per output.
    pub fn from_intervals(iv: &[Interval]) -> Self {
        Self {
            lower: iv.iter().map(|i| i.lo).collect(),
            upper: iv.iter().map(|i| i.hi).collect(),
        }
    }
}

/// How bounds are computed (`snl-verify bound --method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Interval propagation on the graph (outward-rounded): fast and loose.
    Interval,
    /// CROWN back-substitution on the graph; only kept ReLUs that straddle 0 are relaxed.
    /// Verdicts: PGD attack, then CROWN.
    #[default]
    Crown,
    /// α-CROWN: CROWN with optimised lower slopes. Verdicts: attack, CROWN, α-CROWN.
    Alpha,
    /// Bounds as alpha; verdicts complete: attack, α-CROWN, then branch-and-bound on the
    /// kept unstable ReLUs (β-CROWN split constraints), up to --timeout.
    Bab,
    /// Triangle LP relaxation after per-unit LP bound tightening (CBC, dense form).
    Lp,
    /// Big-M MILP (CBC); binaries only for kept ReLUs whose interval straddles 0. Complete
    /// up to CBC's floating-point tolerances, not exact.
    Milp,
    /// Exact SMT (z3, rational arithmetic), for small networks (<= 64 kept ReLUs).
    Smt,
}

impl Method {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Interval => "interval",
            Method::Crown => "crown",
            Method::Alpha => "alpha",
            Method::Bab => "bab",
            Method::Lp => "lp",
            Method::Milp => "milp",
            Method::Smt => "smt",
        }
    }

    /// Whether the method computes exact bounds when it finishes: only SMT (z3 over
    /// rationals). MILP is complete but rests on CBC's floating-point tolerances.
    pub fn is_exact(self) -> bool {
        matches!(self, Method::Smt)
    }

    /// How far the graph verifier goes for this method's verdicts ([`bab::Level`]): CROWN
    /// for interval and CROWN, α-CROWN for alpha, branch-and-bound for bab; `None` for the
    /// dense methods (LP, MILP, SMT).
    pub fn level(self) -> Option<bab::Level> {
        match self {
            Method::Interval | Method::Crown => Some(bab::Level::Crown),
            Method::Alpha => Some(bab::Level::Alpha),
            Method::Bab => Some(bab::Level::Bab),
            Method::Lp | Method::Milp | Method::Smt => None,
        }
    }
}

/// An input of the box that violates a property, with its f64 forward output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The input (inside the box).
    pub input: Vec<f64>,
    /// `Network::forward` of the input.
    pub output: Vec<f64>,
}

/// Three-valued answer to a property (z3's `Unsat`/`Sat`/`Unknown`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The property holds everywhere in the box.
    Proved,
    /// A counterexample, re-checked with the f64 forward pass.
    Refuted(Counterexample),
    /// Neither (timeout, solver unknown, or a relaxation too loose). Never read as proved.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// A property of the network on the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Property {
    /// Output `class` is strictly larger than every other output everywhere in the box.
    Argmax {
        /// The class.
        class: usize,
    },
}

/// `argmax=C`.
impl std::fmt::Display for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Property::Argmax { class } = self;
        write!(f, "argmax={class}")
    }
}

/// Parses `argmax=C` (the form `snl-verify --property` takes).
impl std::str::FromStr for Property {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let class = s
            .strip_prefix("argmax=")
            .and_then(|c| c.trim().parse::<usize>().ok())
            .ok_or_else(|| "expected argmax=C with C a class index".to_string())?;
        Ok(Property::Argmax { class })
    }
}

impl Property {
    /// The violation set of the property on the outputs of `net` (the general form every
    /// graph method reads).
    pub fn violation(&self, net: &Network) -> Result<crate::spec::OutputSpec> {
        let Property::Argmax { class } = *self;
        crate::spec::OutputSpec::argmax(numel(&net.output_shape()?), class)
    }
}

/// Bounds with how they were obtained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounded {
    /// The bounds (sound whatever `exact` says).
    pub bounds: OutputBounds,
    /// The method asked for.
    pub method: Method,
    /// Whether the complete encoding finished on every bound: for SMT every bound is then
    /// within the bisection gap of an attained value, exactly (rationals); for MILP every
    /// bound is CBC's optimum moved outward by its tolerance — complete up to CBC's
    /// floating-point tolerances, not exact ([`Method::is_exact`] says which).
    pub exact: bool,
    /// Why an exact method fell back to its relaxation on some bound (timeout, unknown).
    pub unknown: Option<String>,
    /// Binaries (MILP) or `ite` terms (SMT) in the final encoding: kept ReLUs that straddle 0.
    pub unstable_kept: usize,
    /// LPs solved to tighten intermediate bounds.
    pub tightening_lps: usize,
    /// Interval/CROWN/α statistics (kept units refined, floating-point allowance), for the
    /// methods that run on the IR graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lbp: Option<lbp::LbpStats>,
}

impl Method {
    /// Whether the method runs on the IR graph ([`lbp`]) rather than the dense form.
    pub fn on_graph(self) -> bool {
        matches!(
            self,
            Method::Interval | Method::Crown | Method::Alpha | Method::Bab
        )
    }
}

/// A network and an input box, ready to be bounded with a method.
#[derive(Clone, Debug)]
pub struct Query {
    net: Network,
    dense: std::sync::OnceLock<Network>,
    input: InputBox,
    method: Method,
    deadline: Option<Instant>,
    /// The LP-tightened intervals of `dense`, computed once for `solve` and `verify`.
    #[cfg(feature = "lp")]
    tightened: std::sync::OnceLock<lp::Tightened>,
}

impl Network {
    /// Starts a bound query over `input` (the LP, MILP and SMT methods read the network's
    /// [`Network::to_dense`] form, built on first use; the others run on the graph).
    pub fn bound(&self, input: &InputBox) -> Result<Query> {
        self.validate()?;
        let n = numel(&self.input_shape);
        if input.dim() != n {
            return Err(Error::InputBox(BoxProblem::Dimension {
                expected: n,
                got: input.dim(),
            }));
        }
        Ok(Query {
            net: self.clone(),
            dense: std::sync::OnceLock::new(),
            input: input.clone(),
            method: Method::Interval,
            deadline: None,
            #[cfg(feature = "lp")]
            tightened: Default::default(),
        })
    }
}

impl Network {
    /// Decides a specification (a disjunction of input regions, each with its output
    /// violation set, as VNN-LIB states it) with the graph verifier up to `level`, stopping
    /// at `deadline`: the door for specifications, as [`Network::bound`] is for one box.
    pub fn verify_spec(
        &self,
        spec: &crate::spec::Spec,
        level: bab::Level,
        deadline: Option<Instant>,
    ) -> Result<bab::SpecReport> {
        let opts = bab::Options {
            level,
            deadline,
            ..bab::Options::default()
        };
        bab::verify_spec(self, spec, &opts)
    }
}

/// The time left before a deadline (`None`: no deadline).
#[cfg(any(feature = "lp", feature = "smt"))]
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The instant halfway between now and `deadline`.
#[cfg(feature = "lp")]
fn halfway(deadline: Option<Instant>) -> Option<Instant> {
    remaining(deadline).map(|t| Instant::now() + t / 2)
}

impl Query {
    /// Selects the method (default [`Method::Interval`]).
    pub fn using(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Limits the wall-clock time of the solver calls to `timeout` from now: see
    /// [`Query::with_deadline`].
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.with_deadline(Instant::now() + timeout)
    }

    /// Stops the solver calls at `deadline`: `solve`, `verify` and the clones of this query
    /// share it (the LP tightening is done once for all of them). What is unfinished then
    /// keeps a sound bound and is reported in `unknown`, never as proved.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        #[cfg(feature = "lp")]
        if self.tightened.get().is_some_and(|t| t.report.timed_out) {
            self.tightened = Default::default(); // there may be more time now
        }
        self
    }

    /// The dense form the LP/MILP/SMT encodings read (unrolled on first use).
    pub fn dense(&self) -> Result<&Network> {
        if let Some(d) = self.dense.get() {
            return Ok(d);
        }
        let d = self.net.to_dense()?;
        Ok(self.dense.get_or_init(|| d))
    }

    /// The network as given.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The bound stages that run on the graph: interval, CROWN, α-CROWN.
    fn solve_on_graph(&self) -> Result<Bounded> {
        let deadline = self.deadline;
        let a = match self.method {
            Method::Interval => lbp::Analysis::interval_only(&self.net, &self.input)?,
            _ => lbp::Analysis::new(&self.net, &self.input, lbp::refine_deadline(deadline))?,
        };
        let out = a.graph.values() - 1;
        let (mut lo, mut hi) = (a.iv.lo[out].clone(), a.iv.hi[out].clone());
        let mut stats = a.stats.clone();
        if self.method != Method::Interval {
            let (l, h, fp) = a.output_bounds(deadline);
            stats.fp_allowance = stats.fp_allowance.max(fp);
            lo = l;
            hi = h;
        }
        if matches!(self.method, Method::Alpha | Method::Bab) && !stats.timed_out {
            let n = lo.len();
            let mut rows = vec![0.0; 2 * n * n];
            for i in 0..n {
                rows[(2 * i) * n + i] = 1.0;
                rows[(2 * i + 1) * n + i] = -1.0;
            }
            let mut relax = lbp::Relaxation::default();
            bab::init_alpha(&a, 2 * n, &mut relax);
            let groups: Vec<usize> = (0..2 * n).collect();
            let iters = bab::Options::default().alpha_iters;
            let (best, pass) =
                bab::optimize(&a, &rows, 2 * n, &groups, &mut relax, iters, deadline);
            stats.fp_allowance = stats.fp_allowance.max(pass.fp_allowance);
            for i in 0..n {
                lo[i] = lo[i].max(best[2 * i]);
                hi[i] = hi[i].min(-best[2 * i + 1]);
            }
        }
        let timed_out = stats.timed_out || deadline.is_some_and(|d| Instant::now() >= d);
        Ok(Bounded {
            bounds: OutputBounds { lower: lo, upper: hi },
            method: self.method,
            exact: false,
            unknown: timed_out.then(|| {
                format!(
                    "timeout: {} of {} candidate kept units refined by back-substitution; the rest keep interval bounds",
                    stats.refined, stats.candidates
                )
            }),
            unstable_kept: stats.unstable_kept,
            tightening_lps: 0,
            lbp: Some(stats),
        })
    }

    /// Decides a property with the graph methods, with the full report.
    pub fn verify_report(&self, property: &Property) -> Result<bab::Report> {
        self.verify_output_report(&property.violation(&self.net)?)
    }

    /// Decides a general violation set on the query's box with the graph methods (CROWN,
    /// α-CROWN or branch-and-bound by the query's method), with the full report.
    pub fn verify_output_report(&self, spec: &crate::spec::OutputSpec) -> Result<bab::Report> {
        let level = self.method.level().unwrap_or(bab::Level::Crown);
        let opts = bab::Options {
            level,
            deadline: self.deadline,
            ..bab::Options::default()
        };
        bab::verify_output(&self.net, &self.input, spec, &opts)
    }

    /// The input box.
    pub fn input(&self) -> &InputBox {
        &self.input
    }

    /// The LP-tightened intervals of the dense network, computed on first use with half of
    /// the time left (the bounds that read them need the rest).
    #[cfg(feature = "lp")]
    fn tightened(&self) -> Result<&lp::Tightened> {
        interval::check_dense(self.dense()?, self.method.name())?;
        if let Some(t) = self.tightened.get() {
            return Ok(t);
        }
        let t = lp::Tightened::new(self.dense()?, &self.input, halfway(self.deadline))?;
        Ok(self.tightened.get_or_init(|| t))
    }

    /// Bounds every output over the box.
    pub fn solve(&self) -> Result<Bounded> {
        #[cfg_attr(not(any(feature = "lp", feature = "smt")), allow(unused_variables))]
        let deadline = self.deadline;
        if self.method.on_graph() {
            return self.solve_on_graph();
        }
        let dense = self.dense()?;
        match self.method {
            #[cfg(feature = "lp")]
            Method::Lp | Method::Milp => {
                let exact = self.method == Method::Milp;
                let t = self.tightened()?;
                Ok(lp::bounds_with(dense, &self.input, t, exact, deadline, true)?.0)
            }
            #[cfg(feature = "smt")]
            Method::Smt => {
                // the MILP's optimum (when compiled in) only steers z3's bisection: it gets
                // half of the time
                #[cfg(feature = "lp")]
                let hint = Some(lp::bounds(dense, &self.input, true, halfway(deadline))?.bounds);
                #[cfg(not(feature = "lp"))]
                let hint = None;
                smt::bounds(dense, &self.input, deadline, hint.as_ref())
            }
            #[allow(unreachable_patterns)]
            m => Err(Error::Solver {
                reason: format!("method {} is not compiled in (feature lp/smt)", m.name()),
            }),
        }
    }

    /// Decides a property on the box with the query's method.
    ///
    /// `Argmax { class: c }` holds when every margin `y_c − y_j` (`j ≠ c`) is positive on the
    /// whole box. Interval, LP and MILP first try the centre and 256 deterministic samples
    /// (corners included), then bound the margins from below: every lower bound above the
    /// [`Tolerance::Sound`](crate::tolerance::Tolerance::Sound) slack proves the property;
    /// otherwise the LP's or MILP's minimisers are tried as counterexamples. SMT decides it
    /// with one exact z3 query on the dense form. Every counterexample (samples, the LP's or
    /// MILP's minimisers, z3's model) is re-checked with [`argmax_violation`] on the network
    /// itself, never on its dense form;
    /// anything else (timeouts, a relaxation too loose) is `Unknown`.
    pub fn verify(&self, property: &Property) -> Result<Verdict> {
        if self.method.on_graph() && self.method != Method::Interval {
            return Ok(self.verify_report(property)?.verdict);
        }
        let Property::Argmax { class } = *property;
        let margins = self.margin_query(class)?;
        #[cfg(feature = "smt")]
        if self.method == Method::Smt {
            // z3's model is re-checked on the network itself, never on its dense form
            return smt::verify_positive(margins.dense()?, &self.input, self.deadline, &|x| {
                argmax_violation(&self.net, x, class)
            });
        }
        // counterexamples are checked on the network itself, never on its dense form
        let net = &self.net;
        // a cheap attack first: the centre and deterministic samples (corners included);
        // with a deadline, samples for a tenth of the time left at most (a forward pass of
        // a large dense form is not free)
        let now = Instant::now();
        let attack_until = self
            .deadline
            .map(|d| now + d.saturating_duration_since(now) / 10);
        let mut candidates = vec![self.input.center()];
        candidates.extend(samples(&self.input, 256, crate::rng::seeds::ATTACK));
        for (k, x) in candidates.iter().enumerate() {
            if k > 0 && attack_until.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if let Some(cex) = argmax_violation(net, x, class)? {
                return Ok(Verdict::Refuted(cex));
            }
        }
        // graph bounds are rigorous (outward rounding); CBC's are floating point
        let slack = if self.method.on_graph() {
            0.0
        } else {
            crate::tolerance::Tolerance::Sound.atol_rtol().0
        };
        let (b, witnesses) = match self.method {
            #[cfg(feature = "lp")]
            Method::Lp | Method::Milp => {
                // the margins continue the network: its tightened intervals serve them too
                let t = self
                    .tightened()?
                    .extended(self.dense()?, margins.dense()?, &self.input)?;
                let exact = self.method == Method::Milp;
                lp::bounds_with(
                    margins.dense()?,
                    &self.input,
                    &t,
                    exact,
                    self.deadline,
                    false,
                )?
            }
            _ => (margins.solve()?, Vec::<Vec<f64>>::new()),
        };
        if b.bounds.lower.iter().all(|&l| l > slack) {
            return Ok(Verdict::Proved);
        }
        // the relaxation's or the MILP's minimisers of the margins
        for x in witnesses {
            let x = self.input.clamp(&x);
            if let Some(cex) = argmax_violation(net, &x, class)? {
                return Ok(Verdict::Refuted(cex));
            }
        }
        let (j, lb) = b
            .bounds
            .lower
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, &l)| (if i < class { i } else { i + 1 }, l))
            .expect("at least one margin");
        let why = match &b.unknown {
            Some(u) => format!("{u}; "),
            None => String::new(),
        };
        Ok(Verdict::Unknown {
            reason: format!(
                "{why}{} lower bound of y{class} - y{j} is {lb:.6e} <= {slack:e} and no counterexample was found",
                b.method.name()
            ),
        })
    }

    /// The query for the margins `y_c − y_j`, `j ≠ c`, in the order of `j`.
    pub fn margin_query(&self, class: usize) -> Result<Query> {
        let mut q = self.clone();
        q.net = margin_network(&self.net, class)?;
        q.dense = std::sync::OnceLock::new();
        if let Some(d) = self.dense.get() {
            let _ = q.dense.set(margin_network(d, class)?);
        }
        #[cfg(feature = "lp")]
        {
            q.tightened = Default::default(); // they were for `self.dense`
        }
        Ok(q)
    }
}

/// `net` followed by the dense map to the margins `y_c − y_j`, `j ≠ c` (in the order of `j`).
pub fn margin_network(net: &Network, class: usize) -> Result<Network> {
    let n = numel(&net.output_shape()?);
    if class >= n || n < 2 {
        return Err(Error::NoSuchClass { class, outputs: n });
    }
    let mut w = nalgebra::DMatrix::zeros(n - 1, n);
    for (r, j) in (0..n).filter(|&j| j != class).enumerate() {
        w[(r, class)] = 1.0;
        w[(r, j)] = -1.0;
    }
    let mut out = net.clone();
    out.push(Layer::Dense(Affine::new(w, DVector::zeros(n - 1))));
    Ok(out)
}

/// `Some` counterexample when `x` violates "`class` is the strict argmax": see
/// [`spec_violation`].
pub fn argmax_violation(net: &Network, x: &[f64], class: usize) -> Result<Option<Counterexample>> {
    let spec = crate::spec::OutputSpec::argmax(numel(&net.output_shape()?), class)?;
    let point = InputBox::new(x.to_vec(), x.to_vec())?;
    spec_violation(net, &spec, &point, x)
}

/// `Some` counterexample when the point `x` of `input` maps into the violation set `spec`
/// **in real arithmetic**: some conjunction holds under the f64 forward pass of `net`, and
/// an outward-rounded interval evaluation of the network and the constraint rows at `x`
/// proves every constraint of that conjunction (`a·y − b ≤ 0` for the real output). A
/// violation within the forward pass's rounding error (a tie, say) is then decided in exact
/// rationals ([`exact`]) where the network is rational (no batch norm, pooling windows of
/// power-of-two area, a small enough dense form); otherwise it is not a counterexample
/// (`None`: the caller reports unknown). Points outside `input` are never counterexamples.
pub fn spec_violation(
    net: &Network,
    spec: &crate::spec::OutputSpec,
    input: &InputBox,
    x: &[f64],
) -> Result<Option<Counterexample>> {
    let gnet = bab::spec_network(net, spec)?;
    spec_violation_with(net, spec, &gnet, input, x)
}

/// [`spec_violation`] with the specification network already built.
pub(crate) fn spec_violation_with(
    net: &Network,
    spec: &crate::spec::OutputSpec,
    gnet: &Network,
    input: &InputBox,
    x: &[f64],
) -> Result<Option<Counterexample>> {
    if !input.contains(x) {
        return Ok(None);
    }
    let y = net.forward(x)?;
    if spec.violated_by(&y).is_none() {
        return Ok(None);
    }
    // the real output at x: an outward-rounded enclosure of every row g_r = a_r·y − b_r
    let point = InputBox::new(x.to_vec(), x.to_vec())?;
    let a = lbp::Analysis::interval_only(gnet, &point)?;
    let hi = &a.iv.hi[a.graph.values() - 1];
    let mut r = 0;
    let found = Some(Counterexample {
        input: x.to_vec(),
        output: y,
    });
    for c in &spec.disjuncts {
        let k = c.constraints.len();
        if (r..r + k).all(|i| hi[i] <= 0.0) {
            return Ok(found);
        }
        r += k;
    }
    // within the rounding error: decide it in exact rationals where the network allows
    if let Some(exact_y) = exact::forward(net, x)? {
        if exact::violates(spec, &exact_y) {
            return Ok(found);
        }
    }
    Ok(None)
}

/// `n` deterministic pseudo-random points of the box ([`SeededRng`](crate::rng::SeededRng)),
/// corners included.
pub fn samples(input: &InputBox, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = crate::rng::SeededRng::new(seed);
    (0..n)
        .map(|k| {
            (0..input.dim())
                .map(|i| {
                    let r = rng.next_u64();
                    let t = if k % 4 == 0 {
                        (r & 1) as f64 // a corner every fourth sample
                    } else {
                        (r >> 11) as f64 / (1u64 << 53) as f64
                    };
                    // lower + 1·(upper − lower) can round past upper: clamp into the box
                    (input.lower[i] + t * (input.upper[i] - input.lower[i]))
                        .clamp(input.lower[i], input.upper[i])
                })
                .collect()
        })
        .collect()
}

/// `a + b` and its rounding error: `a + b = s + e` exactly (Knuth's TwoSum, finite inputs).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// The largest f64 not above the real `a + b`.
fn sum_down(a: f64, b: f64) -> f64 {
    let (s, e) = two_sum(a, b);
    if e < 0.0 {
        s.next_down()
    } else {
        s
    }
}

/// The smallest f64 not below the real `a + b`.
fn sum_up(a: f64, b: f64) -> f64 {
    let (s, e) = two_sum(a, b);
    if e > 0.0 {
        s.next_up()
    } else {
        s
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod lbp_tests;

#[cfg(test)]
mod spec_tests;
