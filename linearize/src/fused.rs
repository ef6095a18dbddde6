//! snl's fused CPU kernels (`linearize/csrc/fused.cpp`, built against libtorch's headers by
//! `build.rs`), chosen with `--kernels fused`:
//!
//! - the masked ReLU `x − c·min(x, 0)` as one autograd function: one pass over `x` forward,
//!   one pass over `(x, ∂L/∂y)` backward that also sums `∂L/∂c` over the batch (libtorch's
//!   autograd needs 2 kernels forward and 5 backward for the same function);
//! - that function followed by a 2×2 average pool (stride 2), in the same two passes, and the
//!   plain ReLU followed by that pool (teacher, pretraining);
//! - Adam through ATen's fused CPU kernel `_fused_adam_` (what PyTorch's `Adam(fused=True)`
//!   runs; tch 0.24 does not expose it).
//!
//! Same functions, other rounding: the reference kernels ([`Kernels::Reference`]) stay the
//! default because every published number of this repository was trained with them. On
//! CUDA the fused masked ReLU falls back to the reference spelling (the kernels are CPU
//! loops); `papers/bench` has the timings.
use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicU8, Ordering};

use tch::{TchError, Tensor};
use torch_sys::C_tensor;

/// Which kernels training runs.
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
#[serde(rename_all = "kebab-case")]
pub enum Kernels {
    /// libtorch's own kernels through autograd (masked ReLU as `addcmul`, Adam as tensor
    /// ops): the kernels every published number here was trained with.
    #[default]
    Reference,
    /// snl's fused CPU kernels: masked ReLU (+ 2×2 average pool) in one pass forward and one
    /// backward, ATen's fused Adam. The same functions with other rounding; on CUDA the
    /// masked ReLU uses the reference kernels.
    Fused,
}

/// The process-wide default that new networks ([`crate::graph::SnlNet::kernels`]) and
/// optimizers ([`crate::optim::Optimizer::kernels`]) start with; 0 = reference, 1 = fused.
static DEFAULT: AtomicU8 = AtomicU8::new(0);

impl Kernels {
    /// The kernels new networks and optimizers of this process use (like libtorch's thread
    /// count, a process setting: the CLI sets it once from `--kernels`).
    pub fn current() -> Kernels {
        match DEFAULT.load(Ordering::Relaxed) {
            1 => Kernels::Fused,
            _ => Kernels::Reference,
        }
    }

    /// Sets [`Kernels::current`].
    pub fn set_current(k: Kernels) {
        DEFAULT.store(u8::from(k == Kernels::Fused), Ordering::Relaxed);
    }
}

unsafe extern "C" {
    fn snl_free_error(e: *mut c_char);
    fn snl_masked_relu(
        x: *const C_tensor,
        c: *const C_tensor,
        pool: i32,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn snl_fused_adam(
        params: *const *const C_tensor,
        grads: *const *const C_tensor,
        m: *const *const C_tensor,
        v: *const *const C_tensor,
        n: usize,
        step: i64,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
    ) -> *mut c_char;
}

/// Turns a C++ error string (owned by us) into a [`TchError`].
fn check(err: *mut c_char) -> Result<(), TchError> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string malloc'ed by fused.cpp, freed
    // once, here.
    let msg = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { snl_free_error(err) };
    Err(TchError::Torch(msg))
}

/// `c·relu(x) + (1 − c)·x` (`c` broadcast from `[1, …]`, one entry per activation or per
/// channel), or `relu(x)` when `c` is `None`; with `pool`, followed by a 2×2 average pool
/// of stride 2 (`x` must be `[N, C, H, W]` with even `H`, `W`). Differentiable in `x` and
/// `c`. CPU, float32 or float64.
pub fn masked_relu(x: &Tensor, c: Option<&Tensor>, pool: bool) -> Result<Tensor, TchError> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    let c_ptr = c.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: the pointers are live tch tensors (at::Tensor*) for the duration of the call;
    // on success `out` is a new at::Tensor* whose ownership passes to the returned Tensor.
    let err = unsafe { snl_masked_relu(x.as_ptr(), c_ptr, i32::from(pool), &mut out) };
    check(err)?;
    // SAFETY: see above; `out` is non-null when no error was returned.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// Whether [`masked_relu`] can take `x` (and fuse the 2×2 pool when `pool`): a CPU float
/// tensor of at least 2 dimensions, with even `H`, `W` for the pool.
pub fn fusable(x: &Tensor, pool: bool) -> bool {
    let size = x.size();
    x.device() == tch::Device::Cpu
        && matches!(x.kind(), tch::Kind::Float | tch::Kind::Double)
        && size.len() >= 2
        && (!pool || (size.len() == 4 && size[2] % 2 == 0 && size[3] % 2 == 0))
}

/// Adam's hyper-parameters for [`fused_adam`].
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// Step number (≥ 1) for the bias corrections.
    pub step: i64,
    /// Learning rate.
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
    /// ε.
    pub eps: f64,
}

/// One Adam step on `params` with their `grads` and moments `m`, `v` (updated in place),
/// through ATen's fused CPU kernel.
pub fn fused_adam(
    params: &[&Tensor],
    grads: &[&Tensor],
    m: &[&Tensor],
    v: &[&Tensor],
    h: AdamStep,
) -> Result<(), TchError> {
    let n = params.len();
    assert!(grads.len() == n && m.len() == n && v.len() == n);
    let ptrs = |ts: &[&Tensor]| ts.iter().map(|t| t.as_ptr()).collect::<Vec<_>>();
    let (p, g, mm, vv) = (ptrs(params), ptrs(grads), ptrs(m), ptrs(v));
    // SAFETY: four arrays of n live at::Tensor* for the duration of the call.
    let err = unsafe {
        snl_fused_adam(
            p.as_ptr(),
            g.as_ptr(),
            mm.as_ptr(),
            vv.as_ptr(),
            n,
            h.step,
            h.lr,
            h.beta1,
            h.beta2,
            h.weight_decay,
            h.eps,
        )
    };
    check(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn reference(x: &Tensor, c: Option<&Tensor>, pool: bool) -> Tensor {
        let y = match c {
            Some(c) => x.addcmul(&c.neg(), &x.clamp_max(0.0)),
            None => x.relu(),
        };
        if pool {
            y.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
        } else {
            y
        }
    }

    /// Values, `∂L/∂x` and `∂L/∂c` of `L = Σ w ⊙ f(x, c)` (a random `w`), fused vs reference.
    fn agree(xshape: &[i64], cshape: Option<&[i64]>, pool: bool, kind: Kind, tol: f64) {
        let x = (Tensor::randn(xshape, (kind, tch::Device::Cpu)) * 2.0).set_requires_grad(true);
        // some exact zeros: the kink takes ∂y/∂x = 1 − c on both sides
        let x = tch::no_grad(|| x.where_self(&x.abs().gt(0.2), &x.zeros_like()))
            .set_requires_grad(true);
        let c = cshape.map(|s| Tensor::rand(s, (kind, tch::Device::Cpu)).set_requires_grad(true));
        // every random draw before either run (parallel tests share the generator)
        let w = Tensor::randn(
            reference(&x, c.as_ref(), pool).size(),
            (kind, tch::Device::Cpu),
        );
        let run = |y: Tensor| {
            let inputs: Vec<&Tensor> = std::iter::once(&x).chain(c.as_ref()).collect();
            let grads = Tensor::run_backward(&[(&y * &w).sum(kind)], &inputs, false, false);
            (y, grads)
        };
        let (yf, gf) = run(masked_relu(&x, c.as_ref(), pool).unwrap());
        let (yr, gr) = run(reference(&x, c.as_ref(), pool));
        assert_eq!(yf.size(), yr.size());
        let close = |a: &Tensor, b: &Tensor, what: &str| {
            let err = (a - b).abs().max().double_value(&[]);
            let scale = b.abs().max().double_value(&[]).max(1.0);
            assert!(
                err <= tol * scale,
                "{what}: max error {err} (scale {scale})"
            );
        };
        close(&yf, &yr, "values");
        for (i, (a, b)) in gf.iter().zip(&gr).enumerate() {
            close(a, b, ["∂x", "∂c"][i]);
        }
    }

    #[test]
    fn fused_masked_relu_matches_the_reference_values_and_gradients() {
        for kind in [Kind::Float, Kind::Double] {
            let tol = if kind == Kind::Float { 1e-5 } else { 1e-12 };
            // per activation, per channel, plain; with and without the pool
            for pool in [false, true] {
                agree(&[5, 3, 6, 4], Some(&[1, 3, 6, 4]), pool, kind, tol);
                agree(&[5, 3, 6, 4], Some(&[1, 3, 1, 1]), pool, kind, tol);
                agree(&[5, 3, 6, 4], None, pool, kind, tol);
            }
            agree(&[7, 10], Some(&[1, 10]), false, kind, tol);
            agree(&[7, 10], None, false, kind, tol);
            // big enough for several parallel tasks
            agree(&[64, 16, 28, 28], Some(&[1, 16, 28, 28]), true, kind, tol);
            agree(&[64, 128], Some(&[1, 128]), false, kind, tol);
        }
    }

    #[test]
    fn fused_masked_relu_refuses_what_it_cannot_take() {
        let x = Tensor::randn([2, 3, 5, 4], (Kind::Float, tch::Device::Cpu));
        let err = masked_relu(&x, None, true).unwrap_err().to_string();
        assert!(err.contains("even H and W"), "{err}");
        let c = Tensor::ones([1, 7], (Kind::Float, tch::Device::Cpu));
        let err = masked_relu(&x, Some(&c), false).unwrap_err().to_string();
        assert!(err.contains("does not tile"), "{err}");
        assert!(!fusable(&x, true) && fusable(&x, false));
        let xi = Tensor::ones([2, 4], (Kind::Int64, tch::Device::Cpu));
        assert!(masked_relu(&xi, None, false).is_err() && !fusable(&xi, false));
    }
}
