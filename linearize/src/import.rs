//! PyTorch `state_dict` import: map the key names of a safetensors checkpoint
//! (`safetensors.torch.save_file(model.state_dict(), f)`) onto the variables of the network
//! [`ArchConfig::build`] makes, so that the imported model equals what `snl` writes for the
//! same weights (same IR node order). The accepted names are listed in docs/import.md.
//!
//! Each of our variables (`layer1.0.shortcut.conv.weight`, `stem.bn.running_var`,
//! `layer1.0.relu1.c`, …) has a list of accepted source keys: our own name first, then the
//! torchvision / CIFAR-ResNet (kuangliu-style) / WideResNet (xternalz-style) spellings.
//! Weights must be present; a mask `<relu>.c` (alias `<relu>.mask`) is optional — without
//! it the ReLU is kept (c = 1). `*.num_batches_tracked` is ignored; every other key of the
//! file must be used, so a checkpoint of another architecture or ReLU convention is refused.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::arch::{Arch, ArchConfig, ReluConvention};
use crate::graph::SnlNet;
use crate::masked::MaskGranularity;

/// Errors of [`import`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is not a readable safetensors file.
    #[error("not a readable safetensors file ({reason})")]
    Read {
        /// The file.
        path: PathBuf,
        /// What libtorch said.
        reason: String,
    },
    /// A required key is absent.
    #[error("missing key '{key}'{}", alternatives_note(.alternatives))]
    Missing {
        /// The key looked for (torchvision-style where there is one).
        key: String,
        /// Other accepted spellings.
        alternatives: Vec<String>,
    },
    /// A key has the wrong shape.
    #[error("key '{key}' has shape {got:?}, expected {expected:?}")]
    Shape {
        /// The key.
        key: String,
        /// Its shape in the file.
        got: Vec<i64>,
        /// The shape the architecture needs.
        expected: Vec<i64>,
    },
    /// Two spellings of the same variable are both present.
    #[error("keys '{0}' and '{1}' both name the same variable")]
    Ambiguous(String, String),
    /// A key the architecture has no place for.
    #[error("unexpected key '{key}': --arch {arch} with --relus {relus} has no such variable")]
    Unexpected {
        /// The key.
        key: String,
        /// The architecture, as spelled on the command line.
        arch: &'static str,
        /// The ReLU convention, as spelled on the command line.
        relus: &'static str,
    },
    /// A tensor that is not floating point.
    #[error("key '{key}' has dtype {kind:?}, expected a floating-point tensor")]
    Dtype {
        /// The key.
        key: String,
        /// Its kind.
        kind: Kind,
    },
    /// A size that cannot be derived from the file.
    #[error("{0}")]
    Invalid(String),
}

fn alternatives_note(a: &[String]) -> String {
    if a.is_empty() {
        String::new()
    } else {
        format!(" (also accepted: {})", a.join(", "))
    }
}

/// `Result` of this module.
pub type Result<T> = std::result::Result<T, ImportError>;

/// Sizes the command line gives (the rest is read from the file).
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The architecture.
    pub arch: Arch,
    /// The ReLU convention the checkpoint was built with.
    pub relus: ReluConvention,
    /// Input `[C, H, W]` (C must agree with the first layer).
    pub input_shape: Vec<i64>,
    /// Per-channel normalization baked into node 0 (mean 0, std 1 = none).
    pub mean: Vec<f32>,
    /// Per-channel std.
    pub std: Vec<f32>,
}

/// What [`import`] found.
#[derive(Debug)]
pub struct Imported {
    /// The network with the file's weights and (soft) masks.
    pub net: SnlNet,
    /// Its architecture.
    pub arch: ArchConfig,
    /// Mask tensors found (the other ReLU layers are kept: c = 1).
    pub masks_found: usize,
    /// ReLU layers.
    pub relu_layers: usize,
    /// Keys of the file that were used.
    pub keys_used: usize,
    /// `num_batches_tracked` keys ignored.
    pub keys_ignored: usize,
}

/// The accepted spellings of module `m` (a dotted prefix of one of our variables): the
/// torchvision (ResNet-18) or WideResNet spelling first, then ours, then the others.
pub fn module_aliases(arch: Arch, m: &str) -> Vec<String> {
    let mut out = vec![m.to_string()];
    let parts: Vec<&str> = m.split('.').collect();
    match (arch, parts.as_slice()) {
        (Arch::Resnet18, ["stem", "conv"]) => out.push("conv1".into()),
        (Arch::Resnet18, ["stem", "bn"]) => out.push("bn1".into()),
        (Arch::Resnet18, ["stem", "relu"]) => out.push("relu".into()),
        (Arch::Resnet18, [l, b, "shortcut", k]) => {
            let i = if *k == "conv" { 0 } else { 1 };
            out.push(format!("{l}.{b}.downsample.{i}"));
            out.push(format!("{l}.{b}.shortcut.{i}"));
        }
        // torchvision's name is ours: put it first so that the swap below keeps it first
        (Arch::Resnet18, ["fc"]) => out.insert(0, "linear".into()),
        (Arch::Wrn22x8, ["stem", "conv"]) => out.push("conv1".into()),
        (Arch::Wrn22x8, ["final", "bn"]) => out.push("bn1".into()),
        (Arch::Wrn22x8, ["final", "relu"]) => out.push("relu".into()),
        (Arch::Wrn22x8, [s, b, "shortcut"]) => out.push(format!("{s}.layer.{b}.convShortcut")),
        (Arch::Wrn22x8, [s, b, rest]) if s.starts_with("block") => {
            out.push(format!("{s}.layer.{b}.{rest}"))
        }
        _ => {}
    }
    if out.len() > 1 {
        out.swap(0, 1);
    }
    out
}

/// The accepted source keys for our variable `var`, the preferred spelling first.
pub fn key_aliases(arch: Arch, var: &str) -> Vec<String> {
    let (module, param) = var.rsplit_once('.').unwrap_or(("", var));
    let params: &[&str] = if param == "c" {
        &["c", "mask"]
    } else {
        &[param]
    };
    let mut out = Vec::new();
    for m in module_aliases(arch, module) {
        for p in params {
            out.push(if m.is_empty() {
                p.to_string()
            } else {
                format!("{m}.{p}")
            });
        }
    }
    out
}

/// The key an error names, and the other accepted spellings.
fn preferred(mut aliases: Vec<String>) -> (String, Vec<String>) {
    let first = aliases.remove(0);
    (first, aliases)
}

fn arch_flag(arch: Arch) -> &'static str {
    match arch {
        Arch::Mlp => "mlp",
        Arch::Cnn => "cnn",
        Arch::Resnet18 => "resnet18",
        Arch::Wrn22x8 => "wrn22x8",
    }
}

fn flag(relus: ReluConvention) -> &'static str {
    match relus {
        ReluConvention::Paper => "paper",
        ReluConvention::All => "all",
    }
}

/// Reads the tensors of a safetensors file.
pub fn read_state_dict(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    if !path.is_file() {
        return Err(ImportError::Read {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    Tensor::read_safetensors(path)
        .map(|v| v.into_iter().collect())
        .map_err(|e| ImportError::Read {
            path: path.to_path_buf(),
            reason: e.to_string().lines().next().unwrap_or("").to_string(),
        })
}

/// The shape of the first present key among `var`'s aliases.
fn probe<'a>(
    sd: &'a BTreeMap<String, Tensor>,
    arch: Arch,
    var: &str,
) -> Result<(&'a str, Vec<i64>)> {
    let aliases = key_aliases(arch, var);
    for a in &aliases {
        if let Some((k, t)) = sd.get_key_value(a) {
            return Ok((k.as_str(), t.size()));
        }
    }
    let (key, alternatives) = preferred(aliases);
    Err(ImportError::Missing { key, alternatives })
}

fn dim(key: &str, shape: &[i64], rank: usize, i: usize) -> Result<i64> {
    if shape.len() != rank {
        return Err(ImportError::Invalid(format!(
            "key '{key}' has shape {shape:?}, expected a {rank}-d tensor"
        )));
    }
    Ok(shape[i])
}

/// The architecture of the checkpoint: widths, classes and MLP hidden sizes from the file.
pub fn arch_config(sd: &BTreeMap<String, Tensor>, o: &ImportOptions) -> Result<ArchConfig> {
    let (first, base, last) = match o.arch {
        Arch::Resnet18 => ("stem.conv.weight", 64.0, "fc.weight"),
        Arch::Wrn22x8 => ("stem.conv.weight", 16.0, "fc.weight"),
        Arch::Cnn => ("conv1.weight", 16.0, "fc2.weight"),
        Arch::Mlp => ("fc0.weight", 0.0, "out.weight"),
    };
    let mut hidden = Vec::new();
    let width = if o.arch == Arch::Mlp {
        while let Ok((k, s)) = probe(sd, o.arch, &format!("fc{}.weight", hidden.len())) {
            hidden.push(dim(k, &s, 2, 0)?);
        }
        1.0
    } else {
        let (k, s) = probe(sd, o.arch, first)?;
        dim(k, &s, 4, 0)? as f64 / base
    };
    let (k, s) = probe(sd, o.arch, last)?;
    let classes = dim(k, &s, 2, 0)?;
    let c = o.input_shape.first().copied().unwrap_or(0) as usize;
    if o.mean.len() != c || o.std.len() != c {
        return Err(ImportError::Invalid(format!(
            "--mean and --std need {c} values (one per input channel), got {} and {}",
            o.mean.len(),
            o.std.len()
        )));
    }
    Ok(ArchConfig {
        arch: o.arch,
        input_shape: o.input_shape.clone(),
        classes,
        hidden,
        granularity: MaskGranularity::Pixel,
        relus: o.relus,
        mean: o.mean.clone(),
        std: o.std.clone(),
        width,
    })
}

/// Imports a state dict: builds the architecture and copies every variable from its key.
pub fn import(path: &Path, o: &ImportOptions) -> Result<Imported> {
    let sd = read_state_dict(path)?;
    let arch = arch_config(&sd, o)?;
    let net = arch.build(Device::Cpu);
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut masks_found = 0;
    let vars: HashMap<String, Tensor> = net.vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let aliases = key_aliases(o.arch, name);
        let present: Vec<&String> = aliases
            .iter()
            .filter_map(|a| sd.get_key_value(a).map(|(k, _)| k))
            .collect();
        if present.len() > 1 {
            return Err(ImportError::Ambiguous(
                present[0].clone(),
                present[1].clone(),
            ));
        }
        let is_mask = name.ends_with(".c");
        let Some(key) = present.first() else {
            if is_mask {
                continue;
            }
            let (key, alternatives) = preferred(aliases);
            return Err(ImportError::Missing { key, alternatives });
        };
        let t = &sd[*key];
        if !t.is_floating_point() {
            return Err(ImportError::Dtype {
                key: key.to_string(),
                kind: t.kind(),
            });
        }
        let want = var.size();
        let got = t.size();
        // masks may come without the leading batch dimension of 1
        let ok = got == want || (is_mask && got.as_slice() == &want[1..]);
        if !ok {
            return Err(ImportError::Shape {
                key: key.to_string(),
                got,
                expected: want,
            });
        }
        let src = t.to_kind(var.kind()).view(want.as_slice());
        let mut dst = var.shallow_clone();
        tch::no_grad(|| dst.copy_(&src));
        used.insert(key.as_str());
        masks_found += is_mask as usize;
    }
    let mut ignored = 0;
    for key in sd.keys() {
        if used.contains(key.as_str()) {
            continue;
        }
        if key.ends_with("num_batches_tracked") {
            ignored += 1;
            continue;
        }
        return Err(ImportError::Unexpected {
            key: key.clone(),
            arch: arch_flag(o.arch),
            relus: flag(o.relus),
        });
    }
    let relu_layers = net.relus().count();
    Ok(Imported {
        keys_used: used.len(),
        net,
        arch,
        masks_found,
        relu_layers,
        keys_ignored: ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_cover_torchvision_cifar_and_wrn_names() {
        use Arch::*;
        assert_eq!(
            key_aliases(Resnet18, "stem.conv.weight"),
            ["conv1.weight", "stem.conv.weight"]
        );
        assert_eq!(
            key_aliases(Resnet18, "layer2.0.shortcut.bn.running_var"),
            [
                "layer2.0.downsample.1.running_var",
                "layer2.0.shortcut.bn.running_var",
                "layer2.0.shortcut.1.running_var"
            ]
        );
        assert_eq!(
            key_aliases(Resnet18, "layer1.1.relu2.c"),
            ["layer1.1.relu2.c", "layer1.1.relu2.mask"]
        );
        assert_eq!(
            key_aliases(Wrn22x8, "block2.0.shortcut.weight"),
            [
                "block2.layer.0.convShortcut.weight",
                "block2.0.shortcut.weight"
            ]
        );
        assert_eq!(
            key_aliases(Wrn22x8, "block1.2.bn2.bias"),
            ["block1.layer.2.bn2.bias", "block1.2.bn2.bias"]
        );
        assert_eq!(key_aliases(Wrn22x8, "final.bn.weight")[0], "bn1.weight");
        assert_eq!(key_aliases(Cnn, "fc1.weight"), ["fc1.weight"]);
        let (k, alt) = preferred(key_aliases(Resnet18, "fc.bias"));
        assert_eq!(
            (k.as_str(), alt),
            ("fc.bias", vec!["linear.bias".to_string()])
        );
    }
}
