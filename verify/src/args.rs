//! Argument types shared by several commands: the input region ([`RegionArgs`], flattened
//! into every command that takes one) and the parsers behind them.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use snl_theory::bound::InputBox;
use snl_theory::io::onnx::Encoding;
use snl_theory::io::samples::Samples;
use snl_theory::numel;

/// The input region: a box (`--input-box`), the L∞ ball around a point of the model's input
/// space (`--center --eps`), or the L∞ ball around a test-set example in pixel space
/// (`--inputs --index --eps`).
#[derive(Debug, Args)]
pub struct RegionArgs {
    /// A box: `LO:HI` (the same interval on every input) or a JSON file
    /// `{"lower": [..], "upper": [..]}` (model input space; e.g. `snl-verify bench`'s box
    /// files).
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["center", "inputs", "eps"])]
    pub input_box: Option<String>,
    /// Centre of an L∞ ball in the model's input space: a JSON array of numbers or a
    /// whitespace/comma separated list.
    #[arg(long, requires = "eps", conflicts_with = "inputs")]
    pub center: Option<PathBuf>,
    /// A test set (safetensors `inputs` + `labels`, docs/inputs-format.md): the ball is
    /// around example `--index`, with `--eps` in pixel space, clipped to the pixel range
    /// and normalized as the file says.
    #[arg(long, requires = "eps")]
    pub inputs: Option<PathBuf>,
    /// The example of `--inputs`.
    #[arg(long, requires = "inputs", default_value_t = 0)]
    pub index: usize,
    /// Radius of the L∞ ball: model space with `--center`, pixel space with `--inputs`.
    #[arg(long, allow_hyphen_values = true)]
    pub eps: Option<f64>,
}

/// A resolved input region.
#[derive(Debug)]
pub struct Region {
    /// The box.
    pub input: InputBox,
    /// How reports name it.
    pub what: String,
    /// With `--inputs`: the example's label and its normalized input (the ball's centre).
    pub example: Option<(usize, Vec<f64>)>,
}

impl RegionArgs {
    /// Checks what needs no model: `--eps` positive.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(e) = self.eps {
            if !(e.is_finite() && e > 0.0) {
                bail!("--eps must be a positive number, got {e}");
            }
        }
        Ok(())
    }

    /// The region for a model with `dim` inputs.
    pub fn resolve(&self, dim: usize) -> anyhow::Result<Region> {
        self.check()?;
        if let Some(path) = &self.inputs {
            let Some(eps) = self.eps else {
                bail!("--inputs needs --eps");
            };
            let s = Samples::load(path).context("cannot read the inputs")?;
            if numel(&s.shape) != dim {
                bail!(
                    "{}: examples have shape {:?} ({} values), the model reads {dim}",
                    path.display(),
                    s.shape,
                    numel(&s.shape)
                );
            }
            let input = s.ball(self.index, eps)?;
            let what = format!(
                "L∞ ball eps={eps} (pixels) around example {} of {}",
                self.index,
                path.display()
            );
            let example = Some((s.labels[self.index], s.normalized(self.index)));
            return Ok(Region {
                input,
                what,
                example,
            });
        }
        let input = parse_region(
            self.input_box.as_deref(),
            self.center.as_deref(),
            self.eps,
            dim,
        )?;
        let what = match (&self.input_box, &self.center) {
            (Some(spec), _) => format!("box {spec}"),
            (None, Some(c)) => format!("box {} ± {}", c.display(), self.eps.unwrap_or(0.0)),
            _ => "box".to_string(),
        };
        Ok(Region {
            input,
            what,
            example: None,
        })
    }
}

/// The box from `--input-box LO:HI|FILE` or `--center FILE --eps E`.
fn parse_region(
    input_box: Option<&str>,
    center: Option<&Path>,
    eps: Option<f64>,
    dim: usize,
) -> anyhow::Result<InputBox> {
    if let Some(spec) = input_box {
        let parts: Option<(f64, f64)> = spec
            .split_once(':')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        if let Some((lo, hi)) = parts {
            return Ok(InputBox::uniform(dim, lo, hi)?);
        }
        let path = Path::new(spec);
        if !path.exists() {
            bail!("bad --input-box '{spec}': expected LO:HI or a JSON file with lower/upper");
        }
        #[derive(serde::Deserialize)]
        struct BoxFile {
            lower: Vec<f64>,
            upper: Vec<f64>,
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {spec}"))?;
        let b: BoxFile = serde_json::from_str(&text)
            .with_context(|| format!("{spec}: expected {{\"lower\": [..], \"upper\": [..]}}"))?;
        return Ok(InputBox::new(b.lower, b.upper)?);
    }
    let (Some(center), Some(eps)) = (center, eps) else {
        bail!("give --input-box LO:HI, --center FILE --eps E or --inputs FILE --eps E");
    };
    let text = std::fs::read_to_string(center)
        .with_context(|| format!("cannot read --center {}", center.display()))?;
    let c = parse_numbers(&text, center)?;
    Ok(InputBox::around(&c, eps)?)
}

/// How an ONNX export writes partially linearized ReLU layers (`--encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// Kept units gathered, Relu on them only (Relu elements = kept ReLUs).
    #[default]
    Gathered,
    /// `x − m ⊙ min(x, 0)` on every unit with a constant mask.
    Masked,
    /// Dense layer before the ReLU as two Gemms (kept, linear units), Relu on the kept part
    /// only, the next dense layer reading both (MLPs; Relu elements = kept ReLUs; read by
    /// Marabou and onnx2pytorch).
    Split,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Self {
        match e {
            EncodingArg::Gathered => Encoding::Gathered,
            EncodingArg::Masked => Encoding::Masked,
            EncodingArg::Split => Encoding::Split,
        }
    }
}

/// Numbers from a file's text: a JSON array, or a whitespace/comma separated list.
pub fn parse_numbers(text: &str, what: &Path) -> anyhow::Result<Vec<f64>> {
    let t = text.trim();
    let v: Vec<f64> = if t.starts_with('[') {
        serde_json::from_str(t)
            .with_context(|| format!("{}: not a JSON array of numbers", what.display()))?
    } else {
        t.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f64>()
                    .with_context(|| format!("{}: '{s}' is not a number", what.display()))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if v.is_empty() {
        bail!("{}: no numbers", what.display());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RegionArgs {
        RegionArgs {
            input_box: None,
            center: None,
            inputs: None,
            index: 0,
            eps: None,
        }
    }

    #[test]
    fn a_region_resolves_from_a_box_or_a_centre_and_says_which() {
        let r = RegionArgs {
            input_box: Some("-1:2".into()),
            ..args()
        }
        .resolve(3)
        .unwrap();
        assert_eq!(
            (r.input.lower, r.input.upper),
            (vec![-1.0; 3], vec![2.0; 3])
        );
        assert_eq!(r.what, "box -1:2");
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("c.txt");
        std::fs::write(&c, "0.5, 1.5").unwrap();
        let r = RegionArgs {
            center: Some(c.clone()),
            eps: Some(0.25),
            ..args()
        }
        .resolve(2)
        .unwrap();
        assert_eq!(
            (r.input.lower, r.input.upper),
            (vec![0.25, 1.25], vec![0.75, 1.75])
        );
        assert!(
            r.what.starts_with("box ") && r.what.ends_with("± 0.25"),
            "{}",
            r.what
        );
        assert!(r.example.is_none());
    }

    #[test]
    fn a_missing_or_bad_region_is_one_message() {
        let e = args().resolve(2).unwrap_err().to_string();
        assert!(e.starts_with("give --input-box"), "{e}");
        let e = RegionArgs {
            center: Some("c".into()),
            eps: Some(-1.0),
            ..args()
        }
        .resolve(2)
        .unwrap_err()
        .to_string();
        assert_eq!(e, "--eps must be a positive number, got -1");
        let e = RegionArgs {
            input_box: Some("nope".into()),
            ..args()
        }
        .resolve(2)
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("bad --input-box 'nope'"), "{e}");
    }
}
