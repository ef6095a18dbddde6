//! Per-unit ReLU masks: bit `i` set means unit `i` keeps its ReLU, clear means it is
//! linearized (replaced by the identity). Stored packed, 64 units a word.
use serde::{Deserialize, Serialize};

/// Which units of one ReLU layer keep their non-linearity.
///
/// Serialized compactly as `{ "len": n, "kept": k, "bits": "<hex>" }`, where `bits` is the
/// hex of the mask packed 8 units a byte, least significant bit first (NumPy's
/// `np.packbits(m, bitorder="little").tobytes().hex()`); `kept` is a checksum.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MaskRepr", into = "MaskRepr")]
pub struct ReluMask {
    len: usize,
    words: Vec<u64>,
}

impl ReluMask {
    /// All `len` units keep their ReLU.
    pub fn all_kept(len: usize) -> Self {
        let mut m = Self::all_linearized(len);
        for w in &mut m.words {
            *w = u64::MAX;
        }
        m.clear_tail();
        m
    }

    /// All `len` units are linearized.
    pub fn all_linearized(len: usize) -> Self {
        Self {
            len,
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// A mask from one flag per unit (`true` = kept).
    pub fn from_bools(kept: &[bool]) -> Self {
        let mut m = Self::all_linearized(kept.len());
        for (i, &k) in kept.iter().enumerate() {
            m.set(i, k);
        }
        m
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the layer has no units.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether unit `i` keeps its ReLU. Panics if `i >= len`.
    pub fn is_kept(&self, i: usize) -> bool {
        assert!(
            i < self.len,
            "unit {i} out of range for a mask of {}",
            self.len
        );
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Sets whether unit `i` keeps its ReLU. Panics if `i >= len`.
    pub fn set(&mut self, i: usize, kept: bool) {
        assert!(
            i < self.len,
            "unit {i} out of range for a mask of {}",
            self.len
        );
        let bit = 1u64 << (i % 64);
        if kept {
            self.words[i / 64] |= bit;
        } else {
            self.words[i / 64] &= !bit;
        }
    }

    /// Number of kept units.
    pub fn kept(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// One flag per unit.
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.len).map(|i| self.is_kept(i)).collect()
    }

    /// The packed bytes, 8 units a byte, least significant bit first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let nbytes = self.len.div_ceil(8);
        (0..nbytes)
            .map(|b| (self.words[b / 8] >> ((b % 8) * 8)) as u8)
            .collect()
    }

    /// Inverse of [`ReluMask::to_bytes`]; `None` if the length does not match or a bit past
    /// `len` is set.
    pub fn from_bytes(len: usize, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != len.div_ceil(8) {
            return None;
        }
        let mut m = Self::all_linearized(len);
        for (b, &byte) in bytes.iter().enumerate() {
            m.words[b / 8] |= (byte as u64) << ((b % 8) * 8);
        }
        let before = m.kept();
        m.clear_tail();
        (m.kept() == before).then_some(m)
    }

    fn clear_tail(&mut self) {
        if !self.len.is_multiple_of(64) {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << (self.len % 64)) - 1;
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct MaskRepr {
    len: usize,
    kept: usize,
    bits: String,
}

impl From<ReluMask> for MaskRepr {
    fn from(m: ReluMask) -> Self {
        let bits = m.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        MaskRepr {
            len: m.len,
            kept: m.kept(),
            bits,
        }
    }
}

impl TryFrom<MaskRepr> for ReluMask {
    type Error = String;
    fn try_from(r: MaskRepr) -> Result<Self, String> {
        if !r.bits.len().is_multiple_of(2) || !r.bits.is_ascii() {
            return Err("mask bits must be a hex string of whole bytes".into());
        }
        let bytes = (0..r.bits.len() / 2)
            .map(|i| u8::from_str_radix(&r.bits[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| "mask bits are not hex".to_string())?;
        let m = ReluMask::from_bytes(r.len, &bytes).ok_or_else(|| {
            format!(
                "mask of {} units needs {} bytes with no bit past the end, got {} bytes",
                r.len,
                r.len.div_ceil(8),
                bytes.len()
            )
        })?;
        if m.kept() != r.kept {
            return Err(format!(
                "mask says kept = {} but its bits have {} set",
                r.kept,
                m.kept()
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn all_kept_counts_every_unit_and_no_tail_bits() {
        for len in [0, 1, 63, 64, 65, 130] {
            let m = ReluMask::all_kept(len);
            assert_eq!(m.kept(), len);
            assert_eq!(ReluMask::all_linearized(len).kept(), 0);
        }
    }

    #[test]
    fn hex_is_numpy_packbits_little() {
        // units 0 and 9 kept: bytes [0b0000_0001, 0b0000_0010]
        let mut m = ReluMask::all_linearized(10);
        m.set(0, true);
        m.set(9, true);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"len":10,"kept":2,"bits":"0102"}"#);
    }

    #[test]
    fn rejects_bad_checksum_and_tail_bits() {
        assert!(serde_json::from_str::<ReluMask>(r#"{"len":10,"kept":3,"bits":"0102"}"#).is_err());
        // bit 10 set in a mask of 10 units
        assert!(serde_json::from_str::<ReluMask>(r#"{"len":10,"kept":2,"bits":"0104"}"#).is_err());
        assert!(serde_json::from_str::<ReluMask>(r#"{"len":10,"kept":2,"bits":"01"}"#).is_err());
    }

    proptest! {
        #[test]
        fn json_round_trip(flags in proptest::collection::vec(any::<bool>(), 0..300)) {
            let m = ReluMask::from_bools(&flags);
            prop_assert_eq!(m.kept(), flags.iter().filter(|&&f| f).count());
            let back: ReluMask = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            prop_assert_eq!(back.to_bools(), flags);
        }
    }
}
