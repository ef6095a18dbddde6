//! The model file: round trip through save/load, corruption gives typed errors.
use crate::common::arb_mlp;
use proptest::prelude::*;
use snl_theory::{Error, ModelFileProblem};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// IR → save → load → identical f64 forward outputs (bit for bit).
    #[test]
    fn save_load_round_trip_is_bit_exact(
        net in arb_mlp(),
        xs in proptest::collection::vec(-3.0f64..3.0, 4 * 4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("net.safetensors");
        snl_theory::save(&net, &p).unwrap();
        let back = snl_theory::load(&p).unwrap();
        prop_assert_eq!(&back, &net);
        let d = net.input_shape[0];
        for x in xs.chunks(4) {
            let (a, b) = (net.forward(&x[..d]).unwrap(), back.forward(&x[..d]).unwrap());
            prop_assert!(a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()));
        }
    }

    /// Every truncation of a valid file is a typed error naming the file, never a panic.
    #[test]
    fn any_truncation_is_a_typed_error(net in arb_mlp(), frac in 0.0f64..1.0) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("net.safetensors");
        snl_theory::save(&net, &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let cut = ((bytes.len() as f64) * frac) as usize;
        std::fs::write(&p, &bytes[..cut.min(bytes.len() - 1)]).unwrap();
        match snl_theory::load(&p) {
            Err(Error::ModelFile { path, problem: ModelFileProblem::Safetensors(_) }) => {
                prop_assert_eq!(path, p)
            }
            other => prop_assert!(false, "expected a typed safetensors error, got {:?}", other),
        }
    }
}

#[test]
fn flipped_header_byte_is_a_typed_error() {
    let net = crate::common::mlp(&[2, 3, 1], &[0.5, -1.0, 0.25], &[true, false], false);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("net.safetensors");
    snl_theory::save(&net, &p).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[12] = b'#'; // inside the JSON header
    std::fs::write(&p, &bytes).unwrap();
    let err = snl_theory::load(&p).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&p.display().to_string()), "{msg}");
}
