//! `snl export-data`: write a split of a data set as a test-set file (`docs/inputs-format.md`)
//! that `snl-verify` reads without libtorch.
//!
//! The images are written raw, as the loaders produce them (`byte / 255` in `[0, 1]`, so
//! `pixel_min = 0`, `pixel_max = 1`). snl's model files normalize in their first node and
//! read those raw pixels, so by default the file carries no `mean`/`std` (the data set's
//! constants are recorded as the free-form `data_mean`/`data_std`); `--with-normalization`
//! writes them as `mean`/`std`, for a model that reads normalized inputs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use snl_theory::io::samples::Samples;
use tch::Kind;

use crate::cli::{DataArgs, ExitStatus};
use crate::commands::eval::Split;
use crate::data::{Dataset, Source, Splits};

/// Arguments of `export-data`.
#[derive(Debug, clap::Args)]
pub struct ExportDataCommand {
    /// The data set.
    #[arg(long, value_enum, default_value_t = Source::FashionMnist)]
    pub data: Source,
    /// Its folder (default: /usr/share/datasets/fashion-mnist for Fashion-MNIST,
    /// /usr/share/datasets/mnist, data/cifar-10-batches-bin, data/cifar-100-binary,
    /// data/tiny-imagenet-200).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The split (val and train are carved from the training files as `eval` does, with
    /// the same --seed, --val-fraction and --limit-train).
    #[arg(long, value_enum, default_value_t)]
    pub split: Split,
    /// Index of the first example written (file order within the split).
    #[arg(long, default_value_t = 0)]
    pub first: usize,
    /// Number of examples written (default: all from --first on).
    #[arg(long)]
    pub count: Option<usize>,
    /// Fraction of the training set held out for validation (as for `eval`).
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Use only this many training examples (seeded choice), as for `eval`.
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Seed of the train/validation split (as `eval --seed`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the data set's normalization as `mean`/`std`, for a model that reads
    /// normalized inputs. Leave it off for snl's model files: their node 0 normalizes.
    #[arg(long)]
    pub with_normalization: bool,
    /// The file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
}

/// JSON array of per-channel constants, each as its shortest f32 decimal (`[0.286]`).
fn json_f32(v: &[f32]) -> String {
    serde_json::to_string(v).expect("finite constants serialize")
}

/// The f64 of an f32's shortest decimal: `0.286f32` becomes `0.286`, the constant as
/// published, not `0.28600001335144043`.
fn decimal(v: f32) -> f64 {
    v.to_string().parse().expect("an f32 prints as a number")
}

/// Runs `export-data`.
pub fn run(c: ExportDataCommand) -> anyhow::Result<ExitStatus> {
    if c.count == Some(0) {
        bail!("--count must be at least 1");
    }
    check_folder(&c.out)?;
    let args = DataArgs {
        data: c.data,
        data_dir: c.data_dir.clone(),
        val_fraction: c.val_fraction,
        split_seed: None,
        limit_train: c.limit_train,
        limit_test: None,
        augment: None,
    };
    let splits = args.load(c.seed, None)?;
    let split_name = format!("{:?}", c.split).to_lowercase();
    let data = match c.split {
        Split::Test => &splits.test,
        Split::Val => &splits.val,
        Split::Train => &splits.train,
    };
    let count = range(&c, data.len(), &split_name)?;
    let samples = samples(&c, &splits, data, count, &split_name)?;
    samples.save(&c.out).context("cannot write the test set")?;
    println!(
        "wrote {} ({count} examples of shape {:?} from the {split_name} split of {}, {})",
        c.out.display(),
        samples.shape,
        splits.name,
        if c.with_normalization {
            "with mean/std"
        } else {
            "raw pixels, no mean/std"
        }
    );
    Ok(ExitStatus::Success)
}

/// Refuses a destination whose folder does not exist (checked before a data set is loaded).
fn check_folder(out: &Path) -> anyhow::Result<()> {
    let folder = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        bail!(
            "--out {}: the folder {} does not exist",
            out.display(),
            folder.display()
        );
    }
    Ok(())
}

/// The number of examples written from `--first` on, in a split of `n` examples.
fn range(c: &ExportDataCommand, n: usize, split_name: &str) -> anyhow::Result<usize> {
    if c.first >= n {
        bail!(
            "--first {} is past the end: the {split_name} split has {n} examples",
            c.first
        );
    }
    let count = c.count.unwrap_or(n - c.first);
    if count > n - c.first {
        bail!(
            "--first {} --count {count} asks for examples past the end: the {split_name} split has {n}",
            c.first
        );
    }
    Ok(count)
}

/// The test-set file of `count` examples of `data` from `--first` on: raw pixels, labels,
/// and the normalization as `mean`/`std` (`--with-normalization`) or as free-form info.
fn samples(
    c: &ExportDataCommand,
    splits: &Splits,
    data: &Dataset,
    count: usize,
    split_name: &str,
) -> anyhow::Result<Samples> {
    let (start, len) = (c.first as i64, count as i64);
    let images = data
        .images
        .narrow(0, start, len)
        .to_kind(Kind::Float)
        .contiguous()
        .flatten(0, -1);
    let images: Vec<f32> = Vec::try_from(&images).context("cannot read the images")?;
    let labels: Vec<i64> = Vec::try_from(&data.labels.narrow(0, start, len).contiguous())
        .context("cannot read the labels")?;
    let labels = labels
        .into_iter()
        .map(|l| usize::try_from(l).context("a loader produced a negative label"))
        .collect::<anyhow::Result<Vec<usize>>>()?;
    let mut info = BTreeMap::from([
        ("data".to_string(), splits.name.clone()),
        ("split".to_string(), split_name.to_string()),
        ("first".to_string(), c.first.to_string()),
        ("count".to_string(), count.to_string()),
        ("classes".to_string(), data.num_classes.to_string()),
        ("seed".to_string(), c.seed.to_string()),
        ("written_by".to_string(), "snl export-data".to_string()),
    ]);
    let (mean, std) = if c.with_normalization {
        (
            Some(splits.mean.iter().map(|&m| decimal(m)).collect()),
            Some(splits.std.iter().map(|&s| decimal(s)).collect()),
        )
    } else {
        info.insert("data_mean".to_string(), json_f32(&splits.mean));
        info.insert("data_std".to_string(), json_f32(&splits.std));
        (None, None)
    };
    Ok(Samples {
        shape: data.image_shape().to_vec(),
        inputs: images.into_iter().map(f64::from).collect(),
        labels,
        mean,
        std,
        // every loader yields byte / 255 (synthetic: clamped) in [0, 1]
        pixel_range: Some((0.0, 1.0)),
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_written_as_published() {
        assert_eq!(decimal(0.2860), 0.286);
        assert_eq!(json_f32(&[0.4914, 0.4822]), "[0.4914,0.4822]");
    }
}
