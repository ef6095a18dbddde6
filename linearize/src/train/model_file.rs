//! snl model files: the IR (weights and binary masks) plus `snl.*` metadata that lets
//! `snl` rebuild the libtorch network.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::Device;

use super::{Result, TrainError};
use crate::arch::ArchConfig;
use crate::data::{DataRecord, Difference, Splits};
use crate::graph::SnlNet;

/// Metadata key holding the [`ArchConfig`] JSON in model files written by `snl`.
pub const ARCH_KEY: &str = "snl.arch";

/// Metadata key holding the [`DataRecord`] JSON: the data set, split and normalization the
/// model was trained on (written by `train`, carried over by `linearize`).
pub const DATA_KEY: &str = "snl.data";

/// Writes the network as an snl model file with its architecture and `extra` metadata
/// ([`ModelFile::of`], then [`ModelFile::write`]).
pub fn save_model(
    net: &SnlNet,
    arch: &ArchConfig,
    eps: f64,
    extra: &[(&str, String)],
    path: &Path,
) -> Result<()> {
    ModelFile::of(net, arch, eps, extra, path).write()
}

/// An snl model file: its IR, architecture and metadata, read from a file
/// ([`ModelFile::read`]) or made from a network ([`ModelFile::of`]).
pub struct ModelFile {
    /// Where it was read from or is written to.
    pub path: PathBuf,
    /// The network (weights and binary masks).
    pub ir: snl_theory::Network,
    /// The architecture to rebuild it with.
    pub arch: ArchConfig,
    /// The free-form metadata.
    pub info: BTreeMap<String, String>,
}

impl ModelFile {
    /// The model file of `net` in memory: its IR (masks binarized at `eps`), `arch`, and the
    /// metadata [`SnlNet::ir_info`] plus the architecture and `extra`; what
    /// [`ModelFile::write`] writes to `path` and [`ModelFile::read`] reads back.
    pub fn of(
        net: &SnlNet,
        arch: &ArchConfig,
        eps: f64,
        extra: &[(&str, String)],
        path: &Path,
    ) -> Self {
        let mut info: BTreeMap<String, String> = SnlNet::ir_info();
        info.insert(ARCH_KEY.into(), serde_json::to_string(arch).expect("arch"));
        for (k, v) in extra {
            info.insert((*k).to_string(), v.clone());
        }
        Self {
            path: path.to_path_buf(),
            ir: net.to_ir(eps),
            arch: arch.clone(),
            info,
        }
    }

    /// Writes the file to [`ModelFile::path`], atomically and with mode 0644
    /// (`write_atomic`).
    pub fn write(&self) -> Result<()> {
        snl_theory::io::model_file::save_with_info(&self.ir, &self.info, &self.path)?;
        Ok(())
    }

    /// Reads and checks the file (no libtorch network is built).
    pub fn read(path: &Path) -> Result<Self> {
        let (ir, info) = snl_theory::io::model_file::load_with_info(path)?;
        let arch: ArchConfig = serde_json::from_str(info.get(ARCH_KEY).ok_or_else(|| {
            incompatible(
                path,
                format!(
                    "no '{ARCH_KEY}' metadata: not written by `snl` (snl-verify still reads it)"
                ),
            )
        })?)
        .map_err(|e| incompatible(path, format!("bad '{ARCH_KEY}' metadata: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            ir,
            arch,
            info,
        })
    }

    /// The data record (`None` when the file carries none).
    pub fn data_record(&self) -> Result<Option<DataRecord>> {
        self.info
            .get(DATA_KEY)
            .map(|j| {
                serde_json::from_str(j).map_err(|e| {
                    incompatible(&self.path, format!("bad '{DATA_KEY}' metadata: {e}"))
                })
            })
            .transpose()
    }

    /// Refuses `splits` when they differ from the data the model was trained on (all fields
    /// of the record, or only the data set and normalization with `split_too = false`).
    /// Files without a record pass.
    pub fn check_data(&self, splits: &Splits, split_too: bool) -> Result<()> {
        let Some(mine) = self.data_record()? else {
            return Ok(());
        };
        let mut d = mine.differences(&splits.record);
        if !split_too {
            d.retain(Difference::is_data);
        }
        if d.is_empty() {
            Ok(())
        } else {
            let words: Vec<String> = d.iter().map(Difference::to_string).collect();
            Err(TrainError::DataMismatch {
                path: self.path.clone(),
                differences: words.join(", "),
            })
        }
    }

    /// A libtorch network with this file's weights and masks (masks trainable, c ∈ {0, 1}).
    pub fn build(&self, device: Device) -> Result<SnlNet> {
        let mut net = self.arch.build(device);
        net.load_ir(&self.ir)
            .map_err(|reason| incompatible(&self.path, reason))?;
        Ok(net)
    }
}

/// A pretrained model file checked against the splits it is to be linearized on: its data
/// record matches theirs, the validation split included ([`ModelFile::check_data`]). What
/// [`linearize`](super::linearize()) starts from.
pub struct Pretrained<'a> {
    file: &'a ModelFile,
    splits: &'a Splits,
}

impl<'a> Pretrained<'a> {
    /// `file` with `splits`, or [`TrainError::DataMismatch`] when they are not its data.
    pub fn check(file: &'a ModelFile, splits: &'a Splits) -> Result<Self> {
        file.check_data(splits, true)?;
        Ok(Self { file, splits })
    }

    /// The model file.
    pub fn file(&self) -> &'a ModelFile {
        self.file
    }

    /// The splits it was checked against.
    pub fn splits(&self) -> &'a Splits {
        self.splits
    }
}

fn incompatible(path: &Path, reason: String) -> TrainError {
    TrainError::Incompatible {
        path: path.to_path_buf(),
        reason,
    }
}

/// Reads a model file written by [`save_model`] and rebuilds its network.
pub fn load_model(
    path: &Path,
    device: Device,
) -> Result<(SnlNet, ArchConfig, BTreeMap<String, String>)> {
    let file = ModelFile::read(path)?;
    let net = file.build(device)?;
    Ok((net, file.arch, file.info))
}
