//! VNN-LIB (the SMT-LIB subset of VNN-COMP) for robustness queries on an exported ONNX
//! graph.
//!
//! Inputs are `X_0 … X_{n−1}`, the ONNX input flattened row-major (`[1, C, H, W]` → index
//! `(c·H + h)·W + w`), in the model's own input space (the same space as the ONNX input);
//! outputs are `Y_0 … Y_{m−1}`. As VNN-LIB prescribes, the file asserts the input box and
//! the **violation** of the property: for `argmax = c` that some `Y_j ≥ Y_c`, `j ≠ c`. A
//! verifier answering `unsat` has proved the property (`Y_c > Y_j` on the whole box),
//! `sat` has found a counterexample.
//!
//! Numbers are printed as plain decimals (Rust's shortest round-trip form, no exponent),
//! so each bound reads back as exactly the f64 of the [`InputBox`].
use std::fmt::Write;

use crate::bound::{InputBox, Property};
use crate::{Error, Result};

/// The VNN-LIB text for `property` over `input`, for a network with `outputs` outputs;
/// `comment` lines are written first (as `; …`).
pub fn write(
    input: &InputBox,
    property: &Property,
    outputs: usize,
    comment: &[String],
) -> Result<String> {
    let Property::Argmax { class } = *property;
    if class >= outputs {
        return Err(Error::NoSuchClass { class, outputs });
    }
    let mut s = String::new();
    for c in comment {
        for line in c.lines() {
            writeln!(s, "; {line}").expect("writing to a String");
        }
    }
    for i in 0..input.dim() {
        writeln!(s, "(declare-const X_{i} Real)").expect("String");
    }
    for j in 0..outputs {
        writeln!(s, "(declare-const Y_{j} Real)").expect("String");
    }
    s.push_str("\n; the input box\n");
    for (i, (lo, hi)) in input.lower.iter().zip(&input.upper).enumerate() {
        writeln!(s, "(assert (<= X_{i} {}))", dec(*hi)).expect("String");
        writeln!(s, "(assert (>= X_{i} {}))", dec(*lo)).expect("String");
    }
    writeln!(
        s,
        "\n; the violation of argmax = {class}: some other output at least Y_{class}"
    )
    .expect("String");
    s.push_str("(assert (or\n");
    for j in (0..outputs).filter(|&j| j != class) {
        writeln!(s, "    (and (>= Y_{j} Y_{class}))").expect("String");
    }
    s.push_str("))\n");
    Ok(s)
}

/// A plain decimal (no exponent); `-0` is written `0`.
fn dec(v: f64) -> String {
    if v == 0.0 {
        "0.0".into()
    } else {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_and_violation_are_written_exactly() {
        let b = InputBox::new(vec![-0.5, 1e-7], vec![0.25, 1.0]).unwrap();
        let t = write(&b, &Property::Argmax { class: 1 }, 3, &["hello".into()]).unwrap();
        assert!(t.starts_with("; hello\n(declare-const X_0 Real)\n"));
        assert!(t.contains("(assert (<= X_0 0.25))\n(assert (>= X_0 -0.5))"));
        // no exponent, and the decimal reads back as the same f64
        assert!(t.contains("(assert (>= X_1 0.0000001))"));
        assert_eq!("0.0000001".parse::<f64>().unwrap(), 1e-7);
        assert!(t.contains("(assert (<= X_1 1.0))"));
        assert!(t.contains("(and (>= Y_0 Y_1))\n    (and (>= Y_2 Y_1))\n))"));
        assert!(!t.contains("Y_1 Y_1"));
        assert!(matches!(
            write(&b, &Property::Argmax { class: 3 }, 3, &[]),
            Err(Error::NoSuchClass {
                class: 3,
                outputs: 3
            })
        ));
    }

    #[test]
    fn shortest_decimals_round_trip() {
        for v in [0.1, 1.0 / 3.0, -2.5e-12, 123456.789, f64::MIN_POSITIVE] {
            let d = dec(v);
            assert!(!d.contains('e'), "{d}");
            assert_eq!(d.parse::<f64>().unwrap(), v);
        }
    }
}
