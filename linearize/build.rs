//! torch-sys links libtorch but puts no rpath on the final binaries; add one here so
//! `cargo run`, tests and doctests find `libtorch_cpu.so` without `LD_LIBRARY_PATH`.
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    // rustc links with --as-needed, which would drop libtorch_cuda.so (no symbol is used
    // directly); force it in for CUDA builds only, a CPU-only install would not start.
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
