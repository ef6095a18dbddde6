//! Loop kernels of the bound passes: dot products with partial sums, a dense layer's
//! transposed product for a batch of rows, and convolution index ranges.

/// The output columns `ox ∈ [x0, x1]` whose input column `ox·stride + k − pad` lies in
/// `0..width`, as a half-open range.
pub(super) fn valid_range(
    x0: usize,
    x1: usize,
    stride: usize,
    k: usize,
    pad: usize,
    width: usize,
) -> (usize, usize) {
    // ox·stride + k >= pad  and  ox·stride + k − pad <= width − 1
    let lo = if k >= pad {
        0
    } else {
        (pad - k).div_ceil(stride)
    };
    let hi_excl = if width + pad > k {
        (width + pad - k - 1) / stride + 1
    } else {
        0
    };
    (x0.max(lo), (x1 + 1).min(hi_excl).max(x0.max(lo)))
}

/// Rows `y0..=y1` and columns `x0..=x1` holding every non-zero of an `h × w` channel.
pub(super) fn nonzero_box(ch: &[f64], h: usize, w: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
    for y in 0..h {
        let row = &ch[y * w..(y + 1) * w];
        let Some(first) = row.iter().position(|&v| v != 0.0) else {
            continue;
        };
        let last = row.iter().rposition(|&v| v != 0.0).expect("a non-zero");
        y0 = y0.min(y);
        y1 = y;
        x0 = x0.min(first);
        x1 = x1.max(last);
    }
    (y0 != usize::MAX).then_some((y0, y1, x0, x1))
}

/// `init + Σ aᵢbᵢ` with eight running partial sums, which the compiler turns into vector
/// instructions (a single running sum waits on each addition). The order of the additions
/// differs from left to right; every error bound here uses `γₙ` for a sum of `n` products,
/// which holds for any order.
pub(super) fn dot(a: &[f64], b: &[f64], init: f64) -> f64 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut tail = init;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    let mut acc = [0.0f64; 8];
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    sum8(acc) + tail
}

/// The sum of eight partial sums, pairwise.
pub(super) fn sum8(v: [f64; 8]) -> f64 {
    ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
}

/// `(init + w·c, a·r, a·s)` in one pass, each sum as in [`dot`].
pub(super) fn dot3(
    w: &[f64],
    a: &[f64],
    c: &[f64],
    r: &[f64],
    s: &[f64],
    init: f64,
) -> (f64, f64, f64) {
    let n = w.len();
    let full = n - n % 8;
    let (mut x, mut y, mut z) = ([0.0f64; 8], [0.0f64; 8], [0.0f64; 8]);
    for j in (0..full).step_by(8) {
        let (w8, a8) = (&w[j..j + 8], &a[j..j + 8]);
        let (c8, r8, s8) = (&c[j..j + 8], &r[j..j + 8], &s[j..j + 8]);
        for l in 0..8 {
            x[l] += w8[l] * c8[l];
            y[l] += a8[l] * r8[l];
            z[l] += a8[l] * s8[l];
        }
    }
    let (mut tx, mut ty, mut tz) = (init, 0.0, 0.0);
    for j in full..n {
        tx += w[j] * c[j];
        ty += a[j] * r[j];
        tz += a[j] * s[j];
    }
    (sum8(x) + tx, sum8(y) + ty, sum8(z) + tz)
}

/// Whether a batch of coefficient rows is dense enough for one matrix product through a
/// dense layer: at least a quarter of its entries non-zero. Sparser batches (the one-hot
/// rows that start an intermediate bound) go row by row, skipping zeros.
pub(super) fn worth_gemm(a: &[f64]) -> bool {
    4 * a.iter().filter(|&&x| x != 0.0).count() >= a.len()
}

/// `out += a·W` for `m` rows at once: `a` is `m × n_out`, `W` (`w`) `n_out × n_in` and `out`
/// `m × n_in`, all row-major — one matrix product (nalgebra's gemm, which hands sizes above
/// 5 to matrixmultiply's blocked kernels). Each entry of `out` is a sum of `n_out` products,
/// in whatever order the kernel takes; the classical bound `γₙ·Σ|a_o||W_oi|` on its rounding
/// error holds for every summation order (and with fused multiply-adds), so the backward
/// pass's error term `|a|·t` covers it exactly as it covers [`Op::transpose`]'s loop.
pub(super) fn dense_transpose_rows(w: &[f64], n_in: usize, a: &[f64], m: usize, out: &mut [f64]) {
    let n_out = w.len() / n_in;
    // column-major views of the transposes (a row-major `r × c` slice is a column-major
    // `c × r` matrix): outᵀ (n_in × m) += Wᵀ (n_in × n_out) · aᵀ (n_out × m)
    let wt = nalgebra::DMatrixView::from_slice(w, n_in, n_out);
    let at = nalgebra::DMatrixView::from_slice(a, n_out, m);
    let mut ot = nalgebra::DMatrixViewMut::from_slice(out, n_in, m);
    ot.gemm(1.0, &wt, &at, 1.0);
}
