//! The data layer's seeded streams: [`SeededRng`] (snl's one generator, from
//! `snl_theory::rng`) and the per-epoch seed of the batch order.
pub use snl_theory::rng::SeededRng;

/// Mixes a base seed and an epoch number into the seed of that epoch's batch order, so that
/// consecutive epochs get unrelated shuffles: `epoch_seed(s, e) != epoch_seed(s, e + 1)`.
pub fn epoch_seed(base: u64, epoch: u64) -> u64 {
    let mut r = SeededRng::new(base ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seeds_differ() {
        let s: Vec<u64> = (0..5).map(|e| epoch_seed(42, e)).collect();
        for i in 0..5 {
            for j in 0..i {
                assert_ne!(s[i], s[j]);
            }
        }
        assert_eq!(epoch_seed(42, 3), epoch_seed(42, 3));
    }
}
