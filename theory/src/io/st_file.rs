//! A safetensors file read with one parse of its header.
//!
//! `SafeTensors::deserialize` parses the JSON header itself, so reading both the metadata
//! (`read_metadata`) and the tensors through it parses a large header twice; this reads it
//! once and slices the tensors out of the buffer. `read_metadata` has already checked that
//! the tensors' offsets tile the data exactly, so the slices are in bounds.
use std::collections::HashMap;

use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

/// The parsed header and the data section of a safetensors buffer.
pub(crate) struct StFile<'a> {
    header: Metadata,
    data: &'a [u8],
}

/// One tensor: dtype, shape and its little-endian bytes.
pub(crate) struct StTensor<'a> {
    pub dtype: Dtype,
    pub shape: &'a [usize],
    pub data: &'a [u8],
}

impl<'a> StFile<'a> {
    /// Parses the header of `bytes` once.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, SafeTensorError> {
        let (n, header) = SafeTensors::read_metadata(bytes)?;
        // the header is 8 length bytes plus n bytes of JSON
        Ok(Self {
            header,
            data: &bytes[8 + n..],
        })
    }

    /// The string → string metadata (empty when the file has none).
    pub(crate) fn metadata(&self) -> HashMap<String, String> {
        self.header.metadata().clone().unwrap_or_default()
    }

    /// The tensor called `name`, if the file has one.
    pub(crate) fn tensor(&self, name: &str) -> Option<StTensor<'_>> {
        let info = self.header.info(name)?;
        let (start, end) = info.data_offsets;
        Some(StTensor {
            dtype: info.dtype,
            shape: &info.shape,
            data: &self.data[start..end],
        })
    }
}

impl StTensor<'_> {
    /// The values as f64 when the dtype is F32 or F64 (both convert exactly).
    pub(crate) fn floats(&self) -> Option<Vec<f64>> {
        match self.dtype {
            Dtype::F64 => Some(
                self.data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
            Dtype::F32 => Some(
                self.data
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The values as i64 when the dtype is I64, I32 or U8.
    pub(crate) fn ints(&self) -> Option<Vec<i64>> {
        match self.dtype {
            Dtype::I64 => Some(
                self.data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
            Dtype::I32 => Some(
                self.data
                    .chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
                    .collect(),
            ),
            Dtype::U8 => Some(self.data.iter().map(|&b| i64::from(b)).collect()),
            _ => None,
        }
    }
}
