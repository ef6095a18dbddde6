//! One module per subcommand.
pub mod baseline;
pub mod bench;
pub mod eval;
pub mod export;
pub mod export_data;
pub mod import;
pub mod linearize;
pub mod quickstart;
pub mod sweep;
pub mod train;
