//! The VNN-LIB reader (to be written): `parse(text, path) -> Result<Spec>`.
