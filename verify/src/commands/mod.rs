//! One module per subcommand.
pub mod bench;
pub mod bound;
pub mod cost;
pub mod forward;
pub mod free;
pub mod info;
pub mod regions;
pub mod robust;
pub mod theorem;
pub mod vnncomp;
pub mod vnnlib;
