//! Device selection: `cpu`, `cuda` or `auto`.
use clap::ValueEnum;
use tch::Device;

/// Where tensors live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// The GPU when libtorch sees one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (an error when none is visible).
    Cuda,
}

/// Why a device cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// `--device cuda` without a visible GPU.
    #[error(
        "--device cuda: libtorch sees no CUDA device (CPU-only build or no GPU; use --device cpu)"
    )]
    NoCuda,
}

impl DeviceArg {
    /// Resolves to a tch device.
    pub fn resolve(self) -> Result<Device, DeviceError> {
        match self {
            DeviceArg::Cpu => Ok(Device::Cpu),
            DeviceArg::Auto => Ok(Device::cuda_if_available()),
            DeviceArg::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceArg::Cuda => Err(DeviceError::NoCuda),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_resolves_and_auto_never_fails() {
        assert_eq!(DeviceArg::Cpu.resolve().unwrap(), Device::Cpu);
        let auto = DeviceArg::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), tch::Cuda::is_available());
    }
}
