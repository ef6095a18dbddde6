//! SNL's masked ReLU: `y = c ⊙ relu(x) + (1 − c) ⊙ x`, one trainable `c` per activation
//! position (`1×C×H×W`, the paper's default) or per channel (`1×C×1×1`), shared over the batch.
//!
//! Written as `y = x + c ⊙ relu(−x)` (the same value: `relu(x) − x = relu(−x)`), so
//! `∂y/∂c = g ⊙ (relu(x) − x)` and `∂y/∂x = g ⊙ (1 − c·1[x < 0])`.
//!
//! [`MaskFormula`] lists spellings of this one function that differ only in libtorch kernels
//! (and last-bit rounding); training uses the default, the others are for tests and
//! `snl bench` (papers/bench has the timings that chose it).
use tch::{nn, Kind, Tensor};

/// Name of the mask variable inside a ReLU layer's VarStore path: the variable of layer
/// `layer1.0.relu1` is `layer1.0.relu1.c`. Every variable whose name ends in
/// [`MASK_SUFFIX`] is a mask; all others are weights (see [`is_mask_var`]).
pub const MASK_VAR: &str = "c";

/// `"." + MASK_VAR`: the suffix that marks a mask in a VarStore or checkpoint name.
pub const MASK_SUFFIX: &str = ".c";

/// Whether a VarStore variable name is a ReLU mask (`….c`).
pub fn is_mask_var(name: &str) -> bool {
    name.ends_with(MASK_SUFFIX)
}

/// Threshold that reads a *binary* mask back: after [`MaskedRelu::binarize`] every `c` is 0
/// or 1, so any value in (0, 1) gives the same kept set; 0.5 is the one used everywhere a
/// binarized network is counted, exported or reloaded. (The soft masks of the mask phase are
/// counted at ε instead, `LinearizeConfig::eps`.)
pub const BINARY_THRESHOLD: f64 = 0.5;

/// How many mask parameters a ReLU layer gets.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum MaskGranularity {
    /// One `c` per activation position (C×H×W), as in the paper.
    #[default]
    Pixel,
    /// One `c` per channel (structured linearization).
    Channel,
}

/// How [`MaskedRelu::forward`] spells `c ⊙ relu(x) + (1 − c) ⊙ x`: the same function, other
/// kernels (the values may differ in the last bit: `(1 − c)·x` vs `x − c·x`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MaskFormula {
    /// `c·relu(x) + (1 − c)·x`, as the official SNL code writes it: five batch-sized
    /// kernels forward. The slow, obviously correct reference.
    Official,
    /// `addcmul(x, −c, min(x, 0))`: two batch-sized kernels forward, five backward. The
    /// default: the formula every published number of this repository was trained with;
    /// the four spellings time within a few percent of each other in `snl bench`
    /// (papers/bench/README.md), none clearly ahead on this machine.
    #[default]
    Addcmul,
    /// `_prelu_kernel(x, 1 − c)`: one batch-sized kernel forward, one (two outputs, not
    /// vectorized on CPU) plus a batch reduction backward.
    Prelu,
    /// `x + c·relu(−x)` with plain `mul` and `add` (no `addcmul`, whose backward multiplies
    /// by its scalar once more per input): four batch-sized kernels forward, six backward,
    /// all vectorized. At the kink `x = 0` its `∂y/∂x` is 1 (the others': `1 − c`).
    NegRelu,
}

impl MaskFormula {
    /// `c·relu(x) + (1 − c)·x` for a `c` that broadcasts over `x`.
    pub fn apply(self, x: &Tensor, c: &Tensor) -> Tensor {
        match self {
            MaskFormula::Official => c * x.relu() + (1.0 - c) * x,
            MaskFormula::Addcmul => x.addcmul(&c.neg(), &x.clamp_max(0.0)),
            MaskFormula::Prelu => x.internal_prelu_kernel(&c.rsub_scalar(1.0)),
            MaskFormula::NegRelu => x + c * x.neg().relu(),
        }
    }
}

/// A masked ReLU layer.
#[derive(Debug)]
pub struct MaskedRelu {
    /// The mask parameter, shape `[1, C, H, W]`, `[1, C, 1, 1]` (channel) or `[1, F]`.
    pub c: Tensor,
    /// Activation shape without the batch dimension.
    pub shape: Vec<i64>,
    /// Granularity of `c`.
    pub granularity: MaskGranularity,
    /// Straight-through forward: `Some(ε)` evaluates the layer with the binary mask
    /// `1[c > ε]` while the gradient reaches `c` as if it were soft (`∂y/∂c` unchanged).
    pub straight_through: Option<f64>,
    /// How the forward is computed (default [`MaskFormula::Addcmul`]).
    pub formula: MaskFormula,
}

impl MaskedRelu {
    /// A mask initialised to 1 (every ReLU kept) over activations of `shape`.
    pub fn new(vs: nn::Path, shape: &[i64], granularity: MaskGranularity) -> Self {
        let mut cshape = vec![1i64];
        match granularity {
            MaskGranularity::Pixel => cshape.extend(shape),
            MaskGranularity::Channel => {
                cshape.push(shape[0]);
                cshape.extend(std::iter::repeat_n(1, shape.len() - 1));
            }
        }
        let c = vs.var(MASK_VAR, &cshape, nn::Init::Const(1.0));
        Self {
            c,
            shape: shape.to_vec(),
            granularity,
            straight_through: None,
            formula: MaskFormula::default(),
        }
    }

    /// `c ⊙ relu(x) + (1 − c) ⊙ x`, computed as [`MaskedRelu::formula`] says.
    /// With [`MaskedRelu::straight_through`] `Some(ε)`, `c` is replaced by
    /// `c + (1[c > ε] − c).detach()`: the value of the binary mask, the gradient of `c`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.formula.apply(x, &self.effective_c())
    }

    /// The mask the forward applies: `c`, or under [`MaskedRelu::straight_through`] the
    /// binary mask with `c`'s gradient.
    pub fn effective_c(&self) -> Tensor {
        match self.straight_through {
            None => self.c.shallow_clone(),
            Some(eps) => {
                let hard = self.c.gt(eps).to_kind(self.c.kind());
                &self.c + (hard - &self.c).detach()
            }
        }
    }

    /// Units (activation positions) of the layer.
    pub fn units(&self) -> i64 {
        self.shape.iter().product()
    }

    /// Units per mask parameter (1 for pixel masks, H·W for channel masks).
    pub fn units_per_param(&self) -> i64 {
        self.units() / self.c.numel() as i64
    }

    /// Units counted as kept: `c > eps`.
    pub fn kept(&self, eps: f64) -> i64 {
        self.c.gt(eps).sum(Kind::Int64).int64_value(&[]) * self.units_per_param()
    }

    /// Per-unit kept flags (`c > eps`), row-major over the activation shape.
    pub fn kept_flags(&self, eps: f64) -> Vec<bool> {
        let flags = self
            .c
            .gt(eps)
            .expand(
                std::iter::once(1)
                    .chain(self.shape.iter().copied())
                    .collect::<Vec<_>>(),
                false,
            )
            .to_kind(Kind::Uint8)
            .flatten(0, -1)
            .to_device(tch::Device::Cpu);
        let v: Vec<u8> = Vec::<u8>::try_from(&flags).expect("u8 mask");
        v.into_iter().map(|b| b != 0).collect()
    }

    /// Binarizes: `c ← 1[c > eps]`, and freezes `c` (no more gradient).
    pub fn binarize(&mut self, eps: f64) {
        tch::no_grad(|| {
            let b = self.c.gt(eps).to_kind(self.c.kind());
            self.c.copy_(&b);
        });
        self.c = self.c.set_requires_grad(false);
    }

    /// Sets `c` from per-unit kept flags (pixel masks) and freezes it.
    pub fn set_binary(&mut self, kept: &[bool]) {
        assert_eq!(self.granularity, MaskGranularity::Pixel);
        let v: Vec<f32> = kept.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
        let t = Tensor::from_slice(&v)
            .view(self.c.size().as_slice())
            .to_device(self.c.device());
        tch::no_grad(|| {
            self.c.copy_(&t);
        });
        self.c = self.c.set_requires_grad(false);
    }

    /// Whether `c` is frozen (binarized).
    pub fn is_frozen(&self) -> bool {
        !self.c.requires_grad()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layer(c: &[f32], shape: &[i64]) -> (nn::VarStore, MaskedRelu) {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mut m = MaskedRelu::new(vs.root() / "r", shape, MaskGranularity::Pixel);
        tch::no_grad(|| {
            m.c.copy_(&Tensor::from_slice(c).view(m.c.size().as_slice()));
        });
        (vs, m)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// ∂L/∂c = Σ_batch g ⊙ (relu(x) − x) and ∂L/∂x = g ⊙ (c·1[x>0] + (1 − c)) for
        /// L = Σ g ⊙ y, against the closed form and central finite differences (f64), for
        /// every [`MaskFormula`].
        #[test]
        fn gradients_match_closed_form_and_finite_differences(
            xs in proptest::collection::vec(-3.0f64..3.0, 8),
            cs in proptest::collection::vec(-0.5f64..1.5, 4),
            gs in proptest::collection::vec(-2.0f64..2.0, 8),
        ) {
            tch::set_num_threads(1);
            prop_assume!(xs.iter().all(|x| x.abs() > 1e-3)); // away from the kink
            for formula in [MaskFormula::Official, MaskFormula::Addcmul, MaskFormula::Prelu, MaskFormula::NegRelu] {
                let x = Tensor::from_slice(&xs).view([2, 4]).set_requires_grad(true);
                let c = Tensor::from_slice(&cs).view([1, 4]).set_requires_grad(true);
                let g = Tensor::from_slice(&gs).view([2, 4]);
                // the layer's own forward, on f64 tensors
                let f = |x: &Tensor, c: &Tensor| {
                    let m = MaskedRelu {
                        c: c.shallow_clone(),
                        shape: vec![4],
                        granularity: MaskGranularity::Pixel,
                        straight_through: None,
                        formula,
                    };
                    m.forward(x) * &g
                };
                f(&x, &c).sum(Kind::Double).backward();
                let gc: Vec<f64> = Vec::try_from(&c.grad().flatten(0, -1)).unwrap();
                let gx: Vec<f64> = Vec::try_from(&x.grad().flatten(0, -1)).unwrap();
                for j in 0..4 {
                    let closed: f64 = (0..2).map(|b| gs[b * 4 + j] * (xs[b * 4 + j].max(0.0) - xs[b * 4 + j])).sum();
                    prop_assert!((gc[j] - closed).abs() < 1e-9, "{:?} dc {} vs {}", formula, gc[j], closed);
                    let h = 1e-6;
                    let (mut cp, mut cm) = (cs.clone(), cs.clone());
                    cp[j] += h;
                    cm[j] -= h;
                    let xt = Tensor::from_slice(&xs).view([2, 4]);
                    let lp = f(&xt, &Tensor::from_slice(&cp).view([1, 4])).sum(Kind::Double).double_value(&[]);
                    let lm = f(&xt, &Tensor::from_slice(&cm).view([1, 4])).sum(Kind::Double).double_value(&[]);
                    prop_assert!((gc[j] - (lp - lm) / (2.0 * h)).abs() < 1e-6);
                }
                for i in 0..8 {
                    let cj = cs[i % 4];
                    let closed = gs[i] * if xs[i] > 0.0 { 1.0 } else { 1.0 - cj };
                    prop_assert!((gx[i] - closed).abs() < 1e-9, "{:?} dx {} vs {}", formula, gx[i], closed);
                }
            }
        }

        /// The fast formulas give the official formula's output and both gradients
        /// (input and mask), for pixel and channel masks on `[N, C, H, W]` activations,
        /// zeros (the kink) included (except `NegRelu`'s `∂y/∂x` there): f64 within `Close`,
        /// f32 within `Approximate`.
        #[test]
        fn formulas_agree_with_the_official_one(
            xs in proptest::collection::vec(prop_oneof![Just(0.0f64), -3.0f64..3.0], 2 * 3 * 2 * 2),
            cs in proptest::collection::vec(-0.5f64..1.5, 3 * 2 * 2),
            gs in proptest::collection::vec(-2.0f64..2.0, 2 * 3 * 2 * 2),
            channel in any::<bool>(),
            double in any::<bool>(),
        ) {
            use snl_theory::tolerance::{compare, Tolerance};
            tch::set_num_threads(1);
            let (kind, tol) = if double { (Kind::Double, Tolerance::Close) } else { (Kind::Float, Tolerance::Approximate) };
            let cshape: &[i64] = if channel { &[1, 3, 1, 1] } else { &[1, 3, 2, 2] };
            let cn = cshape.iter().product::<i64>() as usize;
            let run = |formula: MaskFormula| {
                let x = Tensor::from_slice(&xs).view([2, 3, 2, 2]).to_kind(kind).set_requires_grad(true);
                let c = Tensor::from_slice(&cs[..cn]).view(cshape).to_kind(kind).set_requires_grad(true);
                let g = Tensor::from_slice(&gs).view([2, 3, 2, 2]).to_kind(kind);
                let y = formula.apply(&x, &c);
                (&y * g).sum(Kind::Double).backward();
                let v = |t: &Tensor| Vec::<f64>::try_from(&t.to_kind(Kind::Double).flatten(0, -1)).unwrap();
                (v(&y.detach()), v(&x.grad()), v(&c.grad()))
            };
            let (y0, gx0, gc0) = run(MaskFormula::Official);
            for formula in [MaskFormula::Addcmul, MaskFormula::Prelu, MaskFormula::NegRelu] {
                let (y, mut gx, gc) = run(formula);
                if formula == MaskFormula::NegRelu {
                    // its subgradient at the kink x = 0 is 1, the others' 1 − c
                    for (i, _) in xs.iter().enumerate().filter(|(_, &x)| x == 0.0) {
                        gx[i] = gx0[i];
                    }
                }
                for (what, got, want) in [("y", &y, &y0), ("dx", &gx, &gx0), ("dc", &gc, &gc0)] {
                    if let Some(why) = compare(got, want, tol) {
                        prop_assert!(false, "{:?} {}: {}", formula, what, why);
                    }
                }
            }
        }

        /// Binarization is monotone in ε: raising ε never raises the kept count, and every
        /// unit kept at the larger ε is kept at the smaller.
        #[test]
        fn binarization_is_monotone_in_eps(
            cs in proptest::collection::vec(-1.0f32..2.0, 12),
            e1 in 0.0f64..1.0,
            e2 in 0.0f64..1.0,
        ) {
            let (lo, hi) = if e1 <= e2 { (e1, e2) } else { (e2, e1) };
            let (_vs, m) = layer(&cs, &[3, 2, 2]);
            prop_assert!(m.kept(hi) <= m.kept(lo));
            let (fl, fh) = (m.kept_flags(lo), m.kept_flags(hi));
            prop_assert!(fh.iter().zip(&fl).all(|(&h, &l)| !h || l));
        }
    }

    #[test]
    fn c_one_is_relu_c_zero_is_identity_and_binarize_freezes() {
        let x = Tensor::from_slice(&[-2.0f32, -0.5, 0.0, 3.0]).view([1, 4]);
        let (_vs, mut m) = layer(&[1.0, 0.0, 0.3, 0.005], &[4]);
        let y: Vec<f32> = Vec::try_from(&m.forward(&x).flatten(0, -1)).unwrap();
        // unit 0: c=1 → relu(-2) = 0; unit 1: c=0 → -0.5; unit 2: x=0 → 0; unit 3: x>0 → 3
        assert_eq!(y, vec![0.0, -0.5, 0.0, 3.0]);
        assert_eq!(m.kept(1e-2), 2);
        m.binarize(1e-2);
        assert!(m.is_frozen());
        let c: Vec<f32> = Vec::try_from(&m.c.flatten(0, -1)).unwrap();
        assert_eq!(c, vec![1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn straight_through_forward_is_the_binary_mask_and_keeps_the_soft_gradient() {
        let x = Tensor::from_slice(&[-2.0f32, -1.0, -0.5, 3.0]).view([1, 4]);
        let (_vs, mut m) = layer(&[0.6, 0.005, 0.3, 0.2], &[4]);
        m.straight_through = Some(1e-2);
        let y = m.forward(&x);
        let v: Vec<f32> = Vec::try_from(&y.flatten(0, -1)).unwrap();
        // c → 1, 0, 1, 1: relu(-2) = 0, -1 (linear), relu(-0.5) = 0, 3
        assert_eq!(v, vec![0.0, -1.0, 0.0, 3.0]);
        y.sum(Kind::Float).backward();
        // ∂y/∂c = relu(x) − x = 2, 1, 0.5, 0 (the soft formula's)
        let g: Vec<f32> = Vec::try_from(&m.c.grad().flatten(0, -1)).unwrap();
        assert_eq!(g, vec![2.0, 1.0, 0.5, 0.0]);
    }

    #[test]
    fn the_mask_variable_is_named_with_the_suffix() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _m = MaskedRelu::new(vs.root() / "layer1" / "relu", &[2], MaskGranularity::Pixel);
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert_eq!(names, vec![format!("layer1.relu{MASK_SUFFIX}")]);
        assert!(is_mask_var(&names[0]));
        assert!(!is_mask_var("layer1.conv.weight"));
    }

    #[test]
    fn channel_masks_count_whole_channels() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = MaskedRelu::new(vs.root() / "r", &[3, 2, 2], MaskGranularity::Channel);
        assert_eq!(m.c.size(), vec![1, 3, 1, 1]);
        assert_eq!(m.kept(1e-2), 12);
        assert_eq!(m.kept_flags(1e-2).len(), 12);
    }
}
