//! Builds `csrc/fused.cpp` (snl's fused CPU kernels, see `src/fused.rs`) against the same
//! libtorch headers as torch-sys, and adds an rpath: torch-sys links libtorch but puts none
//! on the final binaries, so without it `cargo run`, tests and doctests would not find
//! `libtorch_cpu.so` without `LD_LIBRARY_PATH`.
use std::path::PathBuf;

fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch folder (DEP_TCH_LIBTORCH_LIB)");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // torch-sys' layout: <libtorch>/lib, <libtorch>/include, its C++ ABI default is 1
    let root = PathBuf::from(&lib).join("..");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    println!("cargo:rerun-if-changed=csrc/fused.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // the kernels' values must not depend on whether the compiler contracts a·b + c
        .flag("-ffp-contract=off")
        // no FP exception flags are read: lets GCC vectorize the 0/1 factors of x > 0
        .flag("-fno-trapping-math")
        .opt_level(3)
        .file("csrc/fused.cpp")
        .compile("snl_fused");
    // rustc links with --as-needed, which would drop libtorch_cuda.so (no symbol is used
    // directly); force it in for CUDA builds only, a CPU-only install would not start.
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
