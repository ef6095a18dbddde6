//! Architectures: MLP, a small CNN for 28×28 inputs, CIFAR ResNet-18 and WideResNet-22-8.
//!
//! **ReLU-count conventions.** The paper's code dropped ResNet-18's stem ReLU (491,520
//! masked ReLUs at 32×32; 557,056 with it) and its WRN-22-8 count (1,359,872 at 32×32) has
//! no ReLU after the final batch norm (1,392,640 with it). `--relus paper` builds the
//! networks as counted there (those two ReLUs absent); `--relus all` keeps every ReLU.
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::graph::{Builder, SnlNet};
use crate::masked::MaskGranularity;

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Flatten → hidden layers (`--hidden`) with masked ReLUs → classes.
    Mlp,
    /// conv5×5(16)–relu–avgpool2–conv5×5(32)–relu–avgpool2–fc128–relu–fc (18,944 ReLUs at 28×28).
    Cnn,
    /// CIFAR ResNet-18 (3×3 stem, no max-pool).
    Resnet18,
    /// WideResNet-22-8 (pre-activation blocks).
    Wrn22x8,
}

/// Which ReLUs exist (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReluConvention {
    /// As the paper's code counted them (ResNet-18 without the stem ReLU, WRN without the last).
    #[default]
    Paper,
    /// Every ReLU of the textbook architecture.
    All,
}

/// Everything needed to rebuild a network (stored in checkpoints and model files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchConfig {
    /// The architecture.
    pub arch: Arch,
    /// Input shape `[C, H, W]`.
    pub input_shape: Vec<i64>,
    /// Output classes.
    pub classes: i64,
    /// Hidden widths of the MLP.
    pub hidden: Vec<i64>,
    /// Mask granularity.
    pub granularity: MaskGranularity,
    /// ReLU convention.
    pub relus: ReluConvention,
    /// Per-channel input mean.
    pub mean: Vec<f32>,
    /// Per-channel input std.
    pub std: Vec<f32>,
    /// Width multiplier (1 = the standard widths); small values give quick test nets.
    pub width: f64,
}

impl ArchConfig {
    /// `arch` sized for `splits` (input shape, classes, normalization), pixel masks,
    /// standard widths.
    pub fn for_data(arch: Arch, splits: &crate::data::Splits, relus: ReluConvention) -> Self {
        ArchConfig {
            arch,
            input_shape: splits.input_shape().iter().map(|&d| d as i64).collect(),
            classes: splits.num_classes() as i64,
            hidden: Vec::new(),
            granularity: MaskGranularity::Pixel,
            relus,
            mean: splits.mean.clone(),
            std: splits.std.clone(),
            width: 1.0,
        }
    }

    /// Builds the network on `device` with fresh weights (seed with `tch::manual_seed`).
    pub fn build(&self, device: Device) -> SnlNet {
        let mut b = Builder::new(
            device,
            &self.input_shape,
            &self.mean,
            &self.std,
            self.granularity,
        );
        let w = |c: i64| ((c as f64 * self.width).round() as i64).max(1);
        match self.arch {
            Arch::Mlp => {
                let mut v = b.flatten(b.last());
                for (i, &h) in self.hidden.iter().enumerate() {
                    v = b.linear(&format!("fc{i}"), v, h);
                    v = b.relu(&format!("relu{i}"), v);
                }
                b.linear("out", v, self.classes);
            }
            Arch::Cnn => {
                let v = b.conv("conv1", b.last(), w(16), 5, 1, 2, true);
                let v = b.relu("relu1", v);
                let v = b.avg_pool(v, 2);
                let v = b.conv("conv2", v, w(32), 5, 1, 2, true);
                let v = b.relu("relu2", v);
                let v = b.avg_pool(v, 2);
                let v = b.flatten(v);
                let v = b.linear("fc1", v, w(128));
                let v = b.relu("relu3", v);
                b.linear("fc2", v, self.classes);
            }
            Arch::Resnet18 => {
                let mut v = b.conv("stem.conv", b.last(), w(64), 3, 1, 1, false);
                v = b.bn("stem.bn", v);
                if self.relus == ReluConvention::All {
                    v = b.relu("stem.relu", v);
                }
                for (stage, (&c, stride)) in
                    [64, 128, 256, 512].iter().zip([1, 2, 2, 2]).enumerate()
                {
                    for block in 0..2 {
                        let s = if block == 0 { stride } else { 1 };
                        v = basic_block(&mut b, &format!("layer{}.{block}", stage + 1), v, w(c), s);
                    }
                }
                let k = b.shape(v)[1];
                v = b.avg_pool(v, k);
                v = b.flatten(v);
                b.linear("fc", v, self.classes);
            }
            Arch::Wrn22x8 => {
                let mut v = b.conv("stem.conv", b.last(), w(16), 3, 1, 1, false);
                for (stage, (&c, stride)) in [128, 256, 512].iter().zip([1, 2, 2]).enumerate() {
                    for block in 0..3 {
                        let s = if block == 0 { stride } else { 1 };
                        v = wide_block(&mut b, &format!("block{}.{block}", stage + 1), v, w(c), s);
                    }
                }
                v = b.bn("final.bn", v);
                if self.relus == ReluConvention::All {
                    v = b.relu("final.relu", v);
                }
                let k = b.shape(v)[1];
                v = b.avg_pool(v, k);
                v = b.flatten(v);
                b.linear("fc", v, self.classes);
            }
        }
        b.finish()
    }
}

/// ResNet basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).
fn basic_block(b: &mut Builder, name: &str, x: usize, out: i64, stride: i64) -> usize {
    let v = b.conv(&format!("{name}.conv1"), x, out, 3, stride, 1, false);
    let v = b.bn(&format!("{name}.bn1"), v);
    let v = b.relu(&format!("{name}.relu1"), v);
    let v = b.conv(&format!("{name}.conv2"), v, out, 3, 1, 1, false);
    let v = b.bn(&format!("{name}.bn2"), v);
    let short = if stride != 1 || b.shape(x)[0] != out {
        let s = b.conv(
            &format!("{name}.shortcut.conv"),
            x,
            out,
            1,
            stride,
            0,
            false,
        );
        b.bn(&format!("{name}.shortcut.bn"), s)
    } else {
        x
    };
    let v = b.add(v, short);
    b.relu(&format!("{name}.relu2"), v)
}

/// Pre-activation wide block: conv(relu(bn(conv(relu(bn(x)))))) + shortcut, where the
/// shortcut is a 1×1 conv of relu(bn(x)) when the shape changes.
fn wide_block(b: &mut Builder, name: &str, x: usize, out: i64, stride: i64) -> usize {
    let a = b.bn(&format!("{name}.bn1"), x);
    let a = b.relu(&format!("{name}.relu1"), a);
    let v = b.conv(&format!("{name}.conv1"), a, out, 3, stride, 1, false);
    let v = b.bn(&format!("{name}.bn2"), v);
    let v = b.relu(&format!("{name}.relu2"), v);
    let v = b.conv(&format!("{name}.conv2"), v, out, 3, 1, 1, false);
    let short = if stride != 1 || b.shape(x)[0] != out {
        b.conv(&format!("{name}.shortcut"), a, out, 1, stride, 0, false)
    } else {
        x
    };
    b.add(v, short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(arch: Arch, shape: &[i64], relus: ReluConvention) -> ArchConfig {
        ArchConfig {
            arch,
            input_shape: shape.to_vec(),
            classes: 10,
            hidden: vec![64, 32],
            granularity: MaskGranularity::Pixel,
            relus,
            mean: vec![0.5; shape[0] as usize],
            std: vec![0.25; shape[0] as usize],
            width: 1.0,
        }
    }

    #[test]
    fn relu_counts_match_the_paper_conventions() {
        tch::set_num_threads(1);
        let count = |a, s: &[i64], r| cfg(a, s, r).build(Device::Cpu).total_relus();
        use ReluConvention::{All, Paper};
        // 16·28·28 + 32·14·14 + 128
        assert_eq!(count(Arch::Cnn, &[1, 28, 28], Paper), 18_944);
        assert_eq!(count(Arch::Mlp, &[1, 28, 28], Paper), 96);
        assert_eq!(count(Arch::Resnet18, &[3, 32, 32], Paper), 491_520);
        assert_eq!(count(Arch::Resnet18, &[3, 32, 32], All), 557_056);
        assert_eq!(count(Arch::Wrn22x8, &[3, 32, 32], Paper), 1_359_872);
        assert_eq!(count(Arch::Wrn22x8, &[3, 32, 32], All), 1_392_640);
        // Tiny-ImageNet (64×64), the paper's convention
        assert_eq!(count(Arch::Resnet18, &[3, 64, 64], Paper), 1_966_080);
        assert_eq!(count(Arch::Wrn22x8, &[3, 64, 64], Paper), 5_439_488);
    }

    #[test]
    fn small_resnet_and_wrn_run_forward_and_backward() {
        tch::set_num_threads(1);
        for arch in [Arch::Resnet18, Arch::Wrn22x8] {
            let mut c = cfg(arch, &[3, 8, 8], ReluConvention::All);
            c.width = 0.0625;
            let net = c.build(Device::Cpu);
            let x = tch::Tensor::rand([2, 3, 8, 8], (tch::Kind::Float, Device::Cpu));
            let y = net.forward_t(&x, true);
            assert_eq!(y.size(), vec![2, 10]);
            y.sum(tch::Kind::Float).backward();
        }
    }

    /// The fused kernels change rounding only: same logits and gradients (weights and masks)
    /// as the reference kernels on the CNN (ReLU + pool fused, channel and pixel masks,
    /// straight-through, plain ReLUs) and a small ResNet (BN before each ReLU, no pool).
    #[test]
    fn fused_kernels_give_the_reference_logits_and_gradients() {
        use crate::fused::Kernels;
        use tch::{Kind, Tensor};
        tch::set_num_threads(1);
        // one network and one draw of everything random per case, evaluated with both
        // kernels; every value comes from a seeded stream, not libtorch's global generator
        // (tests running in parallel draw from that one too, so its values change run to run)
        let run = |arch: Arch, shape: &[i64], gran, st: Option<f64>, plain: bool| {
            let mut c = cfg(arch, shape, ReluConvention::Paper);
            c.granularity = gran;
            if arch != Arch::Cnn {
                c.width = 0.0625;
            }
            let mut net = c.build(Device::Cpu);
            net.plain_relu = plain;
            let mut rng = snl_theory::rng::SeededRng::new(0xF05E);
            let mut draw = |size: &[i64], lo: f64, hi: f64| {
                let n: i64 = size.iter().product();
                let v: Vec<f32> = (0..n).map(|_| rng.uniform(lo, hi) as f32).collect();
                Tensor::from_slice(&v).view(size)
            };
            let vars = net.vs.variables();
            let mut names: Vec<&String> = vars.keys().collect();
            names.sort();
            tch::no_grad(|| {
                // weights uniform with variance 2 / fan-in (He), batch-norm scales in
                // [0.5, 1.5), biases and shifts in ±0.1; buffers (running statistics) as built
                for name in names {
                    let mut p = vars[name].shallow_clone();
                    if crate::masked::is_mask_var(name) || !p.requires_grad() {
                        continue;
                    }
                    let size = p.size();
                    let init = if size.len() > 1 {
                        let a = (6.0 / (size[1..].iter().product::<i64>() as f64)).sqrt();
                        draw(&size, -a, a)
                    } else if name.ends_with("weight") {
                        draw(&size, 0.5, 1.5)
                    } else {
                        draw(&size, -0.1, 0.1)
                    };
                    p.copy_(&init);
                }
                for m in net.relus_mut() {
                    // masks spread over [−0.2, 1.2): some 0, some 1, some between
                    let r = draw(&m.c.size(), -0.2, 1.2);
                    m.c.copy_(&r);
                }
            });
            for m in net.relus_mut() {
                m.straight_through = st;
            }
            let mut dims = vec![4];
            dims.extend(shape);
            let x = draw(&dims, 0.0, 1.0);
            let w = draw(&[4, 10], -1.0, 1.0);
            let (mut ps, masks) = net.weights_and_masks();
            if !plain {
                ps.extend(masks);
            }
            [Kernels::Reference, Kernels::Fused].map(|k| {
                net.kernels = k;
                let y = net.forward_t(&x, true);
                let loss = (&y * &w).sum(Kind::Float);
                (y, Tensor::run_backward(&[loss], &ps, false, false))
            })
        };
        use MaskGranularity::{Channel, Pixel};
        let cases = [
            (Arch::Cnn, &[1i64, 28, 28][..], Pixel, None, false),
            (Arch::Cnn, &[1, 28, 28], Channel, None, false),
            (Arch::Cnn, &[1, 28, 28], Pixel, Some(0.3), false),
            (Arch::Cnn, &[1, 28, 28], Pixel, None, true),
            (Arch::Resnet18, &[3, 8, 8], Pixel, None, false),
        ];
        for (arch, shape, gran, st, plain) in cases {
            let [(yr, gr), (yf, gf)] = run(arch, shape, gran, st, plain);
            let case = format!("{arch:?} {gran:?} st={st:?} plain={plain}");
            let close = |a: &Tensor, b: &Tensor, what: &str| {
                let err = (a - b).abs().max().double_value(&[]);
                let scale = b.abs().max().double_value(&[]).max(1e-3);
                assert!(
                    err <= 1e-4 * scale,
                    "{case} {what}: error {err}, scale {scale}"
                );
            };
            close(&yf, &yr, "logits");
            assert_eq!(gf.len(), gr.len());
            for (i, (a, b)) in gf.iter().zip(&gr).enumerate() {
                close(a, b, &format!("gradient {i}"));
            }
        }
    }
}
