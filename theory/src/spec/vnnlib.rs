//! The VNN-LIB reader (a helper is writing it; this stub keeps the workspace building).
use std::path::Path;

use super::Spec;
use crate::{Error, Result};

/// Reads a VNN-LIB file.
pub fn read(path: &Path) -> Result<Spec> {
    Err(Error::Vnnlib {
        path: path.display().to_string(),
        line: 0,
        reason: "not yet implemented".into(),
    })
}
