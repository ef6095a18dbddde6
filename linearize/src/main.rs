//! `snl`: Selective Network Linearization on libtorch.
fn main() {
    println!("snl {}", env!("CARGO_PKG_VERSION"));
}
