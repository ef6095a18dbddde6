//! General specifications: what VNN-LIB says, in the engine's terms.
//!
//! A [`Spec`] is a disjunction over input boxes ([`Region`]s); in each region the
//! **violation** of the property is an [`OutputSpec`]: a disjunction of conjunctions of
//! linear constraints on the outputs, each `a·y ≤ b` ([`Constraint`]). The property holds
//! (VNN-LIB `unsat`) when no input of any region maps into its violation set; it is refuted
//! (`sat`) by an input of a region whose output satisfies every constraint of one
//! conjunction.
//!
//! A conjunction is impossible on a domain as soon as one of its constraints is: `a·y − b >
//! 0` on the whole domain, which a sound lower bound of the row `a·y` above `b` proves. So
//! every constraint is a *row* `a` with an offset `b`, and the verifier bounds rows exactly
//! as it bounds the margins of `argmax`: [`Property::Argmax`](crate::bound::Property) `= c`
//! is the violation `∨_{j≠c} (y_c − y_j ≤ 0)`, one conjunction of one row per other class
//! ([`OutputSpec::argmax`]).
use serde::{Deserialize, Serialize};

use crate::bound::InputBox;
use crate::{Error, Result};

/// One linear constraint of a violation: `coef · y ≤ rhs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// One coefficient per output.
    pub coef: Vec<f64>,
    /// The right-hand side.
    pub rhs: f64,
}

impl Constraint {
    /// `coef · y − rhs` evaluated in f64 (not rounded outward: for reporting only).
    pub fn slack(&self, y: &[f64]) -> f64 {
        self.coef.iter().zip(y).map(|(a, v)| a * v).sum::<f64>() - self.rhs
    }
}

/// A conjunction of constraints: the outputs violate the property when all hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conjunction {
    /// The constraints; an empty conjunction is always true (every input violates).
    pub constraints: Vec<Constraint>,
}

/// The violation set on the outputs: a disjunction of conjunctions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Number of outputs every constraint is written over.
    pub outputs: usize,
    /// The disjuncts; an empty disjunction is never true (the property holds trivially).
    pub disjuncts: Vec<Conjunction>,
}

impl OutputSpec {
    /// The violation of "`class` is the strict argmax": `y_c − y_j ≤ 0` for some `j ≠ c`.
    pub fn argmax(outputs: usize, class: usize) -> Result<Self> {
        if class >= outputs || outputs < 2 {
            return Err(Error::NoSuchClass { class, outputs });
        }
        let disjuncts = (0..outputs)
            .filter(|&j| j != class)
            .map(|j| {
                let mut coef = vec![0.0; outputs];
                coef[class] = 1.0;
                coef[j] = -1.0;
                Conjunction {
                    constraints: vec![Constraint { coef, rhs: 0.0 }],
                }
            })
            .collect();
        Ok(Self { outputs, disjuncts })
    }

    /// Checks that every constraint has one finite coefficient per output and a finite
    /// right-hand side.
    pub fn validate(&self) -> Result<()> {
        for (d, c) in self.disjuncts.iter().enumerate() {
            for (k, r) in c.constraints.iter().enumerate() {
                if r.coef.len() != self.outputs {
                    return Err(Error::Spec(format!(
                        "disjunct {d}, constraint {k}: {} coefficients for {} outputs",
                        r.coef.len(),
                        self.outputs
                    )));
                }
                if !r.rhs.is_finite() || r.coef.iter().any(|a| !a.is_finite()) {
                    return Err(Error::Spec(format!(
                        "disjunct {d}, constraint {k}: a coefficient or bound is not finite"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The index of the first conjunction that `y` satisfies in f64 (every `slack ≤ 0`).
    pub fn violated_by(&self, y: &[f64]) -> Option<usize> {
        self.disjuncts
            .iter()
            .position(|c| c.constraints.iter().all(|r| r.slack(y) <= 0.0))
    }
}

/// One input box and the violation set over it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// The inputs `X_i`.
    pub input: InputBox,
    /// What the outputs must not do there.
    pub violation: OutputSpec,
}

/// A disjunction over input regions (VNN-LIB: several input boxes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The regions; the property holds when it holds on each.
    pub regions: Vec<Region>,
}

impl Spec {
    /// One region.
    pub fn single(input: InputBox, violation: OutputSpec) -> Self {
        Self {
            regions: vec![Region { input, violation }],
        }
    }

    /// Checks every region against a network with `inputs` inputs and `outputs` outputs.
    pub fn check_dims(&self, inputs: usize, outputs: usize) -> Result<()> {
        for (r, reg) in self.regions.iter().enumerate() {
            if reg.input.dim() != inputs {
                return Err(Error::Spec(format!(
                    "region {r}: the specification has {} inputs, the network {inputs}",
                    reg.input.dim()
                )));
            }
            if reg.violation.outputs != outputs {
                return Err(Error::Spec(format!(
                    "region {r}: the specification has {} outputs, the network {outputs}",
                    reg.violation.outputs
                )));
            }
            reg.violation.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_is_one_row_per_other_class() {
        let s = OutputSpec::argmax(3, 1).unwrap();
        assert_eq!(s.disjuncts.len(), 2);
        assert_eq!(s.disjuncts[0].constraints[0].coef, vec![-1.0, 1.0, 0.0]);
        assert_eq!(s.violated_by(&[0.0, 1.0, 0.5]), None);
        assert_eq!(s.violated_by(&[0.0, 1.0, 1.0]), Some(1)); // a tie violates "strict"
        assert!(OutputSpec::argmax(3, 3).is_err());
    }

    #[test]
    fn empty_conjunction_is_always_violated() {
        let s = OutputSpec {
            outputs: 2,
            disjuncts: vec![Conjunction {
                constraints: vec![],
            }],
        };
        assert_eq!(s.violated_by(&[1.0, 2.0]), Some(0));
    }
}
