//! SGD (momentum, weight decay) and Adam with PyTorch's update rules, written on tensors so
//! that their state can be checkpointed and a killed run resumed exactly.
//!
//! SGD: `g ← ∇ + wd·p; b ← μ·b + g; p ← p − lr·b` (dampening 0, no Nesterov).
//! Adam: `m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`.
use tch::Tensor;

use crate::fused::{self, Kernels};

/// The optimizer kind and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimKind {
    /// SGD with momentum and weight decay.
    Sgd {
        /// Momentum μ.
        momentum: f64,
        /// L2 weight decay.
        weight_decay: f64,
    },
    /// Adam.
    Adam {
        /// β₁.
        beta1: f64,
        /// β₂.
        beta2: f64,
        /// ε.
        eps: f64,
        /// L2 weight decay (added to the gradient).
        weight_decay: f64,
    },
}

impl OptimKind {
    /// Adam with PyTorch's defaults and no weight decay.
    pub fn adam() -> Self {
        OptimKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// An optimizer over a fixed list of parameters.
#[derive(Debug)]
pub struct Optimizer {
    kind: OptimKind,
    params: Vec<Tensor>,
    /// SGD momentum buffers, or Adam first moments.
    m: Vec<Tensor>,
    /// Adam second moments (empty for SGD).
    v: Vec<Tensor>,
    /// Steps taken.
    pub step: i64,
    /// Reference (tensor ops) or fused (ATen's `_fused_adam_`, CPU) Adam updates; SGD and
    /// parameters off the CPU always take the reference updates.
    pub kernels: Kernels,
}

impl Optimizer {
    /// An optimizer for `params` (all must require grad).
    pub fn new(kind: OptimKind, params: Vec<Tensor>) -> Self {
        let zeros = |ps: &[Tensor]| ps.iter().map(|p| p.zeros_like()).collect::<Vec<_>>();
        let m = zeros(&params);
        let v = match kind {
            OptimKind::Adam { .. } => zeros(&params),
            OptimKind::Sgd { .. } => Vec::new(),
        };
        Self {
            kind,
            params,
            m,
            v,
            step: 0,
            kernels: Kernels::current(),
        }
    }

    /// Scales the gradients down so that their global L2 norm is at most `max`; returns the
    /// norm before scaling.
    pub fn clip_grad_norm(&mut self, max: f64) -> f64 {
        let total = tch::no_grad(|| {
            self.params
                .iter()
                .map(|p| p.grad())
                .filter(|g| g.defined())
                .map(|g| g.square().sum(tch::Kind::Double))
                .fold(None::<Tensor>, |a, b| {
                    Some(a.map_or(b.shallow_clone(), |a| a + b))
                })
                .map_or(0.0, |s| s.sqrt().double_value(&[]))
        });
        if total > max {
            tch::no_grad(|| {
                for p in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(max / total);
                    }
                }
            });
        }
        total
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr`; parameters without a gradient are skipped.
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        if self.fused_adam_step(lr) {
            return;
        }
        let t = self.step as i32;
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let g = self.params[i].grad();
                if !g.defined() {
                    continue;
                }
                match self.kind {
                    OptimKind::Sgd {
                        momentum,
                        weight_decay,
                    } => {
                        let g = if weight_decay != 0.0 {
                            &g + &self.params[i] * weight_decay
                        } else {
                            g
                        };
                        let upd = if momentum != 0.0 {
                            let b = &mut self.m[i];
                            if t == 1 {
                                b.copy_(&g);
                            } else {
                                let _ = b.g_mul_scalar_(momentum);
                                let _ = b.g_add_(&g);
                            }
                            b.shallow_clone()
                        } else {
                            g
                        };
                        let _ = self.params[i].g_sub_(&(upd * lr));
                    }
                    OptimKind::Adam {
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                    } => {
                        let g = if weight_decay != 0.0 {
                            &g + &self.params[i] * weight_decay
                        } else {
                            g
                        };
                        let _ = self.m[i].lerp_(&g, 1.0 - beta1);
                        let _ = self.v[i].g_mul_scalar_(beta2);
                        let _ = self.v[i].addcmul_(&(&g * (1.0 - beta2)), &g);
                        let bc1 = 1.0 - beta1.powi(t);
                        let bc2 = 1.0 - beta2.powi(t);
                        let denom = (&self.v[i] / bc2).sqrt() + eps;
                        let _ = self.params[i].g_sub_(&(&self.m[i] / denom * (lr / bc1)));
                    }
                }
            }
        });
    }

    /// Adam's update through [`fused::fused_adam`] when the kernels are fused and every
    /// parameter is a CPU float tensor; `false` (nothing done) otherwise.
    fn fused_adam_step(&mut self, lr: f64) -> bool {
        let OptimKind::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.kind
        else {
            return false;
        };
        let cpu_float = |p: &Tensor| {
            p.device() == tch::Device::Cpu
                && matches!(p.kind(), tch::Kind::Float | tch::Kind::Double)
        };
        if self.kernels != Kernels::Fused || !self.params.iter().all(cpu_float) {
            return false;
        }
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.grad()).collect();
        let live: Vec<usize> = (0..grads.len()).filter(|&i| grads[i].defined()).collect();
        if live.is_empty() {
            return true;
        }
        fn pick<'a>(ts: &'a [Tensor], live: &[usize]) -> Vec<&'a Tensor> {
            live.iter().map(|&i| &ts[i]).collect()
        }
        let h = fused::AdamStep {
            step: self.step,
            lr,
            beta1,
            beta2,
            weight_decay,
            eps,
        };
        fused::fused_adam(
            &pick(&self.params, &live),
            &pick(&grads, &live),
            &pick(&self.m, &live),
            &pick(&self.v, &live),
            h,
        )
        .expect("fused Adam on CPU float parameters");
        true
    }

    /// The state as named tensors (`prefix.m.i`, `prefix.v.i`, `prefix.step`).
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        for (i, t) in self.m.iter().enumerate() {
            out.push((format!("{prefix}.m.{i}"), t.shallow_clone()));
        }
        for (i, t) in self.v.iter().enumerate() {
            out.push((format!("{prefix}.v.{i}"), t.shallow_clone()));
        }
        out.push((format!("{prefix}.step"), Tensor::from(self.step)));
        out
    }

    /// Restores [`Optimizer::state`]; `false` when a tensor is missing or mis-shaped.
    pub fn load_state(
        &mut self,
        prefix: &str,
        named: &std::collections::HashMap<String, Tensor>,
    ) -> bool {
        let mut ok = true;
        tch::no_grad(|| {
            for (key, list) in [("m", &mut self.m), ("v", &mut self.v)] {
                for (i, t) in list.iter_mut().enumerate() {
                    match named.get(&format!("{prefix}.{key}.{i}")) {
                        Some(s) if s.size() == t.size() => t.copy_(s),
                        _ => ok = false,
                    }
                }
            }
        });
        match named.get(&format!("{prefix}.step")) {
            Some(s) => self.step = s.int64_value(&[]),
            None => ok = false,
        }
        ok
    }
}

/// Learning-rate schedules.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Multiply by `gamma` at each milestone epoch.
    Step {
        /// Epochs where the rate drops.
        milestones: Vec<usize>,
        /// Factor.
        gamma: f64,
    },
    /// Cosine annealing from the base rate to 0 over `epochs` (per epoch, as PyTorch's
    /// `CosineAnnealingLR` stepped once an epoch).
    Cosine {
        /// Length of the schedule.
        epochs: usize,
    },
}

impl Schedule {
    /// The rate for `epoch` (0-based) given the base rate.
    pub fn lr(&self, base: f64, epoch: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Step { milestones, gamma } => {
                base * gamma.powi(milestones.iter().filter(|&&m| epoch >= m).count() as i32)
            }
            Schedule::Cosine { epochs } => {
                let t = (epoch as f64 / (*epochs).max(1) as f64).min(1.0);
                base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tch::Kind;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// One SGD step on λ‖c‖₁ alone moves each c by exactly lr·λ·sign(c).
        #[test]
        fn sgd_step_on_l1_moves_by_lr_lambda_sign(
            cs in proptest::collection::vec(-2.0f64..2.0, 1..16),
            lr in 1e-4f64..0.5,
            lambda in 1e-6f64..1.0,
        ) {
            tch::set_num_threads(1);
            prop_assume!(cs.iter().all(|c| c.abs() > 1e-9));
            let c = Tensor::from_slice(&cs).set_requires_grad(true);
            let mut opt = Optimizer::new(OptimKind::Sgd { momentum: 0.9, weight_decay: 0.0 }, vec![c.shallow_clone()]);
            opt.zero_grad();
            (c.abs().sum(Kind::Double) * lambda).backward();
            opt.step(lr);
            let after: Vec<f64> = Vec::try_from(&c.detach()).unwrap();
            for (a, b) in after.iter().zip(&cs) {
                let expect = b - lr * lambda * b.signum();
                prop_assert!((a - expect).abs() <= 1e-12 * (1.0 + b.abs()), "{} vs {}", a, expect);
            }
        }
    }

    #[test]
    fn adam_first_step_is_lr_times_sign() {
        // With bias correction the first Adam step is lr·g/(|g| + ε') ≈ lr·sign(g).
        let p = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let mut opt = Optimizer::new(OptimKind::adam(), vec![p.shallow_clone()]);
        (&p * Tensor::from_slice(&[3.0f64, -0.5]))
            .sum(Kind::Double)
            .backward();
        opt.step(0.1);
        let v: Vec<f64> = Vec::try_from(&p.detach()).unwrap();
        assert!(
            (v[0] - 0.9).abs() < 1e-6 && (v[1] - (-1.9)).abs() < 1e-6,
            "{v:?}"
        );
    }

    #[test]
    fn fused_adam_follows_the_reference_updates() {
        // five steps with weight decay and one parameter left without a gradient
        // the starting values drawn once (parallel tests share the generator)
        let run = |kernels: Kernels, init: &[Tensor], kind: Kind| {
            let ps: Vec<Tensor> = init
                .iter()
                .map(|t| t.copy().set_requires_grad(true))
                .collect();
            let hyper = OptimKind::Adam {
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-6,
                weight_decay: 0.1,
            };
            let mut opt = Optimizer::new(hyper, ps.iter().map(|p| p.shallow_clone()).collect());
            opt.kernels = kernels;
            for t in 0..5 {
                opt.zero_grad();
                let loss =
                    (&ps[0] * &ps[0] * &ps[0]).sum(kind) + (&ps[1] * (t as f64)).sin().sum(kind);
                loss.backward();
                opt.step(0.05);
            }
            ps.iter().map(|p| p.detach().copy()).collect::<Vec<_>>()
        };
        for (kind, tol) in [(Kind::Float, 1e-5), (Kind::Double, 1e-12)] {
            let init = [[4i64, 3].as_slice(), &[5], &[2]]
                .map(|shape| Tensor::randn(shape, (kind, tch::Device::Cpu)));
            let (a, b) = (
                run(Kernels::Reference, &init, kind),
                run(Kernels::Fused, &init, kind),
            );
            for (x, y) in a.iter().zip(&b) {
                let err = (x - y).abs().max().double_value(&[]);
                assert!(
                    err <= tol,
                    "{kind:?}: fused and reference Adam differ by {err}"
                );
            }
            // the parameter without a gradient did not move
            assert!(b[2].equal(&init[2]));
            // and the others did
            assert!(!b[0].equal(&init[0]) && !b[1].equal(&init[1]));
        }
    }

    #[test]
    fn state_round_trip_resumes_identically() {
        let run = |split: bool| {
            let p = Tensor::from_slice(&[0.5f64, -1.5, 2.0]).set_requires_grad(true);
            let mut opt = Optimizer::new(OptimKind::adam(), vec![p.shallow_clone()]);
            let step = |opt: &mut Optimizer, p: &Tensor| {
                opt.zero_grad();
                (p * p * p).sum(Kind::Double).backward();
                opt.step(0.01);
            };
            for _ in 0..3 {
                step(&mut opt, &p);
            }
            if split {
                let state: std::collections::HashMap<String, Tensor> = opt
                    .state("o")
                    .into_iter()
                    .map(|(k, t)| (k, t.copy()))
                    .collect();
                let mut fresh = Optimizer::new(OptimKind::adam(), vec![p.shallow_clone()]);
                assert!(fresh.load_state("o", &state));
                opt = fresh;
            }
            for _ in 0..3 {
                step(&mut opt, &p);
            }
            Vec::<f64>::try_from(&p.detach()).unwrap()
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn schedules() {
        let s = Schedule::Step {
            milestones: vec![80, 120],
            gamma: 0.1,
        };
        assert_eq!(s.lr(0.1, 79), 0.1);
        assert!((s.lr(0.1, 80) - 0.01).abs() < 1e-15);
        assert!((s.lr(0.1, 150) - 0.001).abs() < 1e-15);
        let c = Schedule::Cosine { epochs: 100 };
        assert_eq!(c.lr(1e-3, 0), 1e-3);
        assert!((c.lr(1e-3, 50) - 5e-4).abs() < 1e-15);
        assert!(c.lr(1e-3, 100).abs() < 1e-15);
    }

    #[test]
    fn clipping_scales_the_global_norm_down_and_only_down() {
        let p = Tensor::from_slice(&[1.0f64, 1.0]).set_requires_grad(true);
        let kind = OptimKind::Sgd {
            momentum: 0.0,
            weight_decay: 0.0,
        };
        let mut opt = Optimizer::new(kind, vec![p.shallow_clone()]);
        // L = 3·p0 + 4·p1: gradient (3, 4), norm 5
        (&p * Tensor::from_slice(&[3.0f64, 4.0]))
            .sum(tch::Kind::Double)
            .backward();
        assert!((opt.clip_grad_norm(10.0) - 5.0).abs() < 1e-12);
        assert_eq!(Vec::<f64>::try_from(&p.grad()).unwrap(), vec![3.0, 4.0]);
        assert!((opt.clip_grad_norm(1.0) - 5.0).abs() < 1e-12);
        let g = Vec::<f64>::try_from(&p.grad()).unwrap();
        assert!(
            (g[0] - 0.6).abs() < 1e-12 && (g[1] - 0.8).abs() < 1e-12,
            "{g:?}"
        );
    }
}
