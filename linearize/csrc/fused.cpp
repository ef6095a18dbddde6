// Fused CPU kernels for snl's training loop; the Rust side is linearize/src/fused.rs.
//
// 1. The masked ReLU  y = x − c·min(x, 0)  (= c·relu(x) + (1 − c)·x), optionally followed by
//    a 2×2 average pool (stride 2, no padding), as one autograd function: one pass over x
//    forward, one pass over (x, ∂L/∂y) backward that also reduces ∂L/∂c over the batch.
//    With no mask (`c` undefined) it is relu(x) (then the pool): the plain-ReLU teacher and
//    pretraining get the same fusion.
// 2. Adam through ATen's own fused CPU kernel (`_fused_adam_`, what PyTorch's
//    `Adam(fused=True)` calls), which tch 0.24 does not expose.
//
// Geometry: x is contiguous [N, P] (P = C·H·W, or the feature count); c has Q elements, each
// covering r = P / Q consecutive positions (r = 1: one mask per activation, r = H·W: one per
// channel). Sums over a 2×2 window are taken in avg_pool2d's order and divided by 4.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <cstring>
#include <exception>
#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Elements per parallel task, roughly: below this one thread does the work.
constexpr int64_t GRAIN = 32768;

// Everything below is branch-free (max/min and 0/1 factors): with a branch per element the
// random signs of x cost a misprediction every other element, several times the memory time.

// How the mask is laid out: none (plain ReLU), one entry per activation, one per channel
// (or per group of r consecutive activations in the flat form).
enum class Mask { Plain, Pixel, Group };

template <typename T>
inline T relu(T x) {
  return std::max(x, T(0));
}

// x − c·min(x, 0)
template <typename T>
inline T masked(T x, T c) {
  return x + (-c) * std::min(x, T(0));
}

// ∂y/∂x·g: g where x > 0, g − c·g where x ≤ 0 (the kink takes 1 − c, as the reference's
// clamp_max does).
template <typename T>
inline T masked_dx(T x, T c, T g) {
  return g - T(x <= T(0)) * c * g;
}

template <typename T>
inline T relu_dx(T x, T g) {
  return T(x > T(0)) * g;
}

// ∂y/∂c·g = relu(−x)·g.
template <typename T>
inline T masked_dc(T x, T g) {
  return std::max(-x, T(0)) * g;
}

struct Geometry {
  int64_t n, p, q, r;          // batch, positions per example, mask entries, positions per entry
  int64_t ch, h, w;            // for the pooled form: channels, height, width
};

Geometry geometry(const at::Tensor& x, const at::Tensor& c, bool pool) {
  TORCH_CHECK(x.dim() >= 2, "the fused masked ReLU needs a batch [N, ...], got ", x.sizes());
  TORCH_CHECK(x.device().is_cpu(), "the fused kernels run on the CPU only");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "the fused kernels take float32 or float64, got ", x.scalar_type());
  Geometry g{};
  g.n = x.size(0);
  g.p = x.numel() / (g.n == 0 ? 1 : g.n);
  g.q = c.defined() ? c.numel() : g.p;
  TORCH_CHECK(g.q > 0 && g.p % g.q == 0, "a mask of ", g.q, " entries does not tile ", g.p,
              " positions");
  g.r = g.p / g.q;
  if (c.defined()) {
    TORCH_CHECK(c.scalar_type() == x.scalar_type(), "mask and input dtypes differ");
    TORCH_CHECK(c.device().is_cpu(), "the fused kernels run on the CPU only");
  }
  if (pool) {
    TORCH_CHECK(x.dim() == 4, "the fused ReLU + 2×2 pool needs [N, C, H, W], got ", x.sizes());
    g.ch = x.size(1);
    g.h = x.size(2);
    g.w = x.size(3);
    TORCH_CHECK(g.h % 2 == 0 && g.w % 2 == 0, "the fused 2×2 pool needs even H and W, got ",
                x.sizes());
    TORCH_CHECK(g.r == 1 || g.r == g.h * g.w,
                "the fused ReLU + pool takes a mask per activation or per channel");
  }
  return g;
}

Mask mask_kind(const at::Tensor& c, const Geometry& g) {
  if (!c.defined()) return Mask::Plain;
  return g.r == 1 ? Mask::Pixel : Mask::Group;
}

// One activation row x[0..len) with its masks (Pixel: c[k]; Group: the constant cq).
template <typename T, Mask M>
inline void forward_row(const T* __restrict x, const T* __restrict c, T cq, T* __restrict y,
                        int64_t len) {
  for (int64_t k = 0; k < len; ++k) {
    if constexpr (M == Mask::Plain) y[k] = relu(x[k]);
    else if constexpr (M == Mask::Pixel) y[k] = masked(x[k], c[k]);
    else y[k] = masked(x[k], cq);
  }
}

// Accumulator of ∂L/∂c: per activation a sum over the batch (N terms) in T, which
// vectorizes; per channel a sum over N·H·W terms, in double.
template <typename T, Mask M>
using Acc = std::conditional_t<M == Mask::Pixel, T, double>;

// gx for one row, and (masked) the row's contribution to ∂L/∂c: acc[k] (Pixel) or *acc
// (Group) += relu(−x)·g.
template <typename T, Mask M>
inline void backward_row(const T* __restrict x, const T* __restrict c, T cq,
                         const T* __restrict gy, T* __restrict gx, Acc<T, M>* __restrict acc,
                         int64_t len) {
  if constexpr (M == Mask::Plain) {
    for (int64_t k = 0; k < len; ++k) gx[k] = relu_dx(x[k], gy[k]);
  } else {
    if (gx != nullptr)
      for (int64_t k = 0; k < len; ++k)
        gx[k] = masked_dx(x[k], M == Mask::Pixel ? c[k] : cq, gy[k]);
    if (acc != nullptr) {
      if constexpr (M == Mask::Pixel) {
        for (int64_t k = 0; k < len; ++k) acc[k] += masked_dc(x[k], gy[k]);
      } else {
        double s = 0;
        for (int64_t k = 0; k < len; ++k) s += double(masked_dc(x[k], gy[k]));
        *acc += s;
      }
    }
  }
}

template <typename T, Mask M>
void forward_flat(const T* x, const T* c, T* y, const Geometry& g) {
  int64_t grain = std::max<int64_t>(1, GRAIN / std::max<int64_t>(1, g.p));
  at::parallel_for(0, g.n, grain, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* xr = x + n * g.p;
      T* yr = y + n * g.p;
      if constexpr (M == Mask::Group) {
        for (int64_t q = 0; q < g.q; ++q)
          forward_row<T, M>(xr + q * g.r, nullptr, c[q], yr + q * g.r, g.r);
      } else {
        forward_row<T, M>(xr, c, T(0), yr, g.p);
      }
    }
  });
}

// Parallel over mask entries: each task owns its entries' sums, so the batch reduction
// needs no atomics.
template <typename T, Mask M>
void backward_flat(const T* x, const T* c, const T* gy, T* gx, T* gc, const Geometry& g) {
  int64_t grain = std::max<int64_t>(1, GRAIN / std::max<int64_t>(1, g.n * g.r));
  at::parallel_for(0, g.q, grain, [&](int64_t qb, int64_t qe) {
    std::vector<Acc<T, M>> acc(gc != nullptr ? qe - qb : 0, 0);
    Acc<T, M>* a = gc != nullptr ? acc.data() : nullptr;
    for (int64_t n = 0; n < g.n; ++n) {
      const int64_t off = n * g.p;
      T* gxr = gx == nullptr ? nullptr : gx + off;
      if constexpr (M == Mask::Group) {
        for (int64_t q = qb; q < qe; ++q) {
          const int64_t k = off + q * g.r;
          backward_row<T, M>(x + k, nullptr, c[q], gy + k, gxr == nullptr ? nullptr : gx + k,
                             a == nullptr ? nullptr : a + (q - qb), g.r);
        }
      } else {
        const int64_t k = off + qb;
        backward_row<T, M>(x + k, c == nullptr ? nullptr : c + qb, T(0), gy + k,
                           gxr == nullptr ? nullptr : gx + k, a, qe - qb);
      }
    }
    if (gc != nullptr)
      for (int64_t q = qb; q < qe; ++q) gc[q] = T(acc[q - qb]);
  });
}

// The 2×2 pool: each output is (((v00 + v01) + v10) + v11) / 4, avg_pool2d's order.
template <typename T, Mask M>
void forward_pool(const T* x, const T* c, T* y, const Geometry& g) {
  const int64_t oh = g.h / 2, ow = g.w / 2, planes = g.n * g.ch;
  int64_t grain = std::max<int64_t>(1, GRAIN / std::max<int64_t>(1, g.h * g.w));
  at::parallel_for(0, planes, grain, [&](int64_t b, int64_t e) {
    std::vector<T> row0(g.w), row1(g.w);
    for (int64_t pl = b; pl < e; ++pl) {
      const int64_t ch = pl % g.ch;
      const T* xp = x + pl * g.h * g.w;
      T* yp = y + pl * oh * ow;
      const T* cp = M == Mask::Pixel ? c + ch * g.h * g.w : nullptr;
      const T cq = M == Mask::Group ? c[ch] : T(0);
      for (int64_t i = 0; i < oh; ++i) {
        const int64_t r0 = 2 * i * g.w, r1 = r0 + g.w;
        forward_row<T, M>(xp + r0, cp == nullptr ? nullptr : cp + r0, cq, row0.data(), g.w);
        forward_row<T, M>(xp + r1, cp == nullptr ? nullptr : cp + r1, cq, row1.data(), g.w);
        for (int64_t j = 0; j < ow; ++j)
          yp[i * ow + j] =
              (((row0[2 * j] + row0[2 * j + 1]) + row1[2 * j]) + row1[2 * j + 1]) / T(4);
      }
    }
  });
}

template <typename T, Mask M>
void backward_pool(const T* x, const T* c, const T* gy, T* gx, T* gc, const Geometry& g) {
  const int64_t oh = g.h / 2, ow = g.w / 2, hw = g.h * g.w;
  // parallel over channels: each task owns its channel's masks (see backward_flat)
  at::parallel_for(0, g.ch, 1, [&](int64_t b, int64_t e) {
    std::vector<Acc<T, M>> acc(gc != nullptr ? (M == Mask::Pixel ? hw : 1) : 0);
    std::vector<T> grow(g.w);
    for (int64_t ch = b; ch < e; ++ch) {
      std::fill(acc.begin(), acc.end(), 0);
      const T* cp = M == Mask::Pixel ? c + ch * hw : nullptr;
      const T cq = M == Mask::Group ? c[ch] : T(0);
      for (int64_t n = 0; n < g.n; ++n) {
        const int64_t pl = n * g.ch + ch;
        const T* xp = x + pl * hw;
        const T* gp = gy + pl * oh * ow;
        T* dp = gx == nullptr ? nullptr : gx + pl * hw;
        for (int64_t i = 0; i < g.h; ++i) {
          // the pool's gradient, spread over the row: ∂L/∂out / 4 at both columns
          const T* gr = gp + (i / 2) * ow;
          for (int64_t j = 0; j < ow; ++j) grow[2 * j] = grow[2 * j + 1] = gr[j] / T(4);
          Acc<T, M>* a = nullptr;
          if (gc != nullptr) a = M == Mask::Pixel ? acc.data() + i * g.w : acc.data();
          backward_row<T, M>(xp + i * g.w, cp == nullptr ? nullptr : cp + i * g.w, cq,
                             grow.data(), dp == nullptr ? nullptr : dp + i * g.w, a, g.w);
        }
      }
      if (gc != nullptr) {
        if constexpr (M == Mask::Pixel)
          for (int64_t k = 0; k < hw; ++k) gc[ch * hw + k] = T(acc[k]);
        else
          gc[ch] = T(acc[0]);
      }
    }
  });
}

// Calls f.template operator()<M>() for the mask layout at run time.
template <typename F>
void with_mask(Mask m, F&& f) {
  switch (m) {
    case Mask::Plain: f(std::integral_constant<Mask, Mask::Plain>{}); break;
    case Mask::Pixel: f(std::integral_constant<Mask, Mask::Pixel>{}); break;
    case Mask::Group: f(std::integral_constant<Mask, Mask::Group>{}); break;
  }
}

at::Tensor forward_kernel(const at::Tensor& x, const at::Tensor& c, bool pool) {
  Geometry g = geometry(x, c, pool);
  at::Tensor y = pool ? at::empty({g.n, g.ch, g.h / 2, g.w / 2}, x.options())
                      : at::empty_like(x, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "snl_masked_relu_forward", [&] {
    const scalar_t* cp = c.defined() ? c.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    with_mask(mask_kind(c, g), [&](auto m) {
      constexpr Mask M = decltype(m)::value;
      if (pool)
        forward_pool<scalar_t, M>(xp, cp, yp, g);
      else
        forward_flat<scalar_t, M>(xp, cp, yp, g);
    });
  });
  return y;
}

struct MaskedReluFn : public torch::autograd::Function<MaskedReluFn> {
  // `masked` false: plain ReLU, `c` is a placeholder (autograd needs a defined tensor).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& c,
                            bool masked, bool pool) {
    at::Tensor xc = x.contiguous();
    ctx->saved_data["pool"] = pool;
    ctx->saved_data["masked"] = masked;
    if (masked) {
      at::Tensor cc = c.contiguous();
      ctx->save_for_backward({xc, cc});
      return forward_kernel(xc, cc, pool);
    }
    ctx->save_for_backward({xc});
    return forward_kernel(xc, at::Tensor(), pool);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const bool pool = ctx->saved_data["pool"].toBool();
    const bool has_c = ctx->saved_data["masked"].toBool();
    variable_list saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    at::Tensor c = has_c ? saved[1] : at::Tensor();
    at::Tensor gy = grads[0].contiguous();
    Geometry g = geometry(x, c, pool);
    const bool want_x = ctx->needs_input_grad(0) || !has_c;
    const bool want_c = has_c && ctx->needs_input_grad(1);
    at::Tensor gx = want_x ? at::empty_like(x, at::MemoryFormat::Contiguous) : at::Tensor();
    at::Tensor gc = want_c ? at::empty_like(c, at::MemoryFormat::Contiguous) : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "snl_masked_relu_backward", [&] {
      const scalar_t* cp = has_c ? c.const_data_ptr<scalar_t>() : nullptr;
      scalar_t* gxp = want_x ? gx.mutable_data_ptr<scalar_t>() : nullptr;
      scalar_t* gcp = want_c ? gc.mutable_data_ptr<scalar_t>() : nullptr;
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* gyp = gy.const_data_ptr<scalar_t>();
      with_mask(mask_kind(c, g), [&](auto m) {
        constexpr Mask M = decltype(m)::value;
        if (pool)
          backward_pool<scalar_t, M>(xp, cp, gyp, gxp, gcp, g);
        else
          backward_flat<scalar_t, M>(xp, cp, gyp, gxp, gcp, g);
      });
    });
    return {gx, gc, at::Tensor(), at::Tensor()};
  }
};

char* error_copy(const char* what) {
  size_t len = std::strlen(what);
  char* out = static_cast<char*>(std::malloc(len + 1));
  if (out != nullptr) std::memcpy(out, what, len + 1);
  return out;
}

}  // namespace

extern "C" {

// Frees an error string returned by the functions below.
void snl_free_error(char* e) { std::free(e); }

// y = maskedrelu(x, c) (c null: relu), then the 2×2 average pool when `pool` is nonzero.
// On success writes a new tensor to *out and returns null; else returns an error string.
char* snl_masked_relu(const at::Tensor* x, const at::Tensor* c, int pool, at::Tensor** out) {
  try {
    const bool masked = c != nullptr;
    at::Tensor y = MaskedReluFn::apply(*x, masked ? *c : at::empty({0}, x->options()), masked,
                                       pool != 0);
    *out = new at::Tensor(std::move(y));
    return nullptr;
  } catch (const c10::Error& e) {
    return error_copy(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return error_copy(e.what());
  }
}

// One Adam step on n parameters through ATen's fused CPU kernel (L2 weight decay added to
// the gradient, as torch.optim.Adam; bias corrections for step `step` ≥ 1).
char* snl_fused_adam(const at::Tensor* const* params, const at::Tensor* const* grads,
                     const at::Tensor* const* m, const at::Tensor* const* v, size_t n,
                     int64_t step, double lr, double beta1, double beta2, double weight_decay,
                     double eps) {
  try {
    std::vector<at::Tensor> p, g, mm, vv, steps;
    for (size_t i = 0; i < n; ++i) {
      p.push_back(*params[i]);
      g.push_back(*grads[i]);
      mm.push_back(*m[i]);
      vv.push_back(*v[i]);
      steps.push_back(at::full({}, static_cast<double>(step), params[i]->options().dtype(at::kFloat)));
    }
    at::NoGradGuard no_grad;
    at::_fused_adam_(p, g, mm, vv, {}, steps, lr, beta1, beta2, weight_decay, eps, false, false);
    return nullptr;
  } catch (const c10::Error& e) {
    return error_copy(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return error_copy(e.what());
  }
}

}  // extern "C"
