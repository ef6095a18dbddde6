//! [`ValueId`]: which value of a network a node reads.
use serde::{Deserialize, Serialize};

/// A value of a [`Network`](super::network::Network): its input, or the output of one of
/// its nodes. Values are numbered in evaluation order — the input first, then node `k`'s
/// output — and that number is the value's position in every per-value list (shapes,
/// intervals, activations), which these lists can be indexed with directly.
///
/// In a model file a value is that number (`0` the input, `k + 1` node `k`'s output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValueId(usize);

impl ValueId {
    /// The network's input.
    pub const INPUT: ValueId = ValueId(0);

    /// The output of node `k`.
    pub const fn of_node(k: usize) -> ValueId {
        ValueId(k + 1)
    }

    /// The value at `index` of a per-value list (`0`: the input).
    pub const fn from_index(index: usize) -> ValueId {
        ValueId(index)
    }

    /// Its position in a per-value list.
    pub const fn index(self) -> usize {
        self.0
    }

    /// The node computing it (`None`: the input).
    pub const fn node(self) -> Option<usize> {
        self.0.checked_sub(1)
    }
}

impl std::fmt::Display for ValueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> std::ops::Index<ValueId> for [T] {
    type Output = T;
    fn index(&self, v: ValueId) -> &T {
        &self[v.0]
    }
}

impl<T> std::ops::IndexMut<ValueId> for [T] {
    fn index_mut(&mut self, v: ValueId) -> &mut T {
        &mut self[v.0]
    }
}

impl<T> std::ops::Index<ValueId> for Vec<T> {
    type Output = T;
    fn index(&self, v: ValueId) -> &T {
        &self[v.0]
    }
}

impl<T> std::ops::IndexMut<ValueId> for Vec<T> {
    fn index_mut(&mut self, v: ValueId) -> &mut T {
        &mut self[v.0]
    }
}

/// The values at these per-value list positions (tests write graphs by number).
#[cfg(test)]
pub(crate) fn ids(indices: &[usize]) -> Vec<ValueId> {
    indices.iter().map(|&i| ValueId::from_index(i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_and_serde() {
        assert_eq!(ValueId::INPUT.index(), 0);
        assert_eq!(ValueId::INPUT.node(), None);
        assert_eq!(ValueId::of_node(3).index(), 4);
        assert_eq!(ValueId::of_node(3).node(), Some(3));
        assert_eq!(serde_json::to_string(&ValueId::of_node(0)).unwrap(), "1");
        let v: Vec<ValueId> = serde_json::from_str("[0, 2]").unwrap();
        assert_eq!(v, vec![ValueId::INPUT, ValueId::of_node(1)]);
        let mut list = ["x", "y", "z"].to_vec();
        assert_eq!(list[ValueId::of_node(1)], "z");
        list[ValueId::INPUT] = "w";
        assert_eq!(list[..][ValueId::INPUT], "w");
    }
}
