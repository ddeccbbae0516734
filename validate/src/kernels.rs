//! Real kernels on the CPU, each also expressed as a trace op so the CPU model predicts it through the
//! same `HardwareModel` trait as every other chip.
//!
//! GEMM uses faer (the fastest well-kept f32 GEMM measured on this machine class, ~90 % of peak on 2
//! threads at 1–2k sizes, per `shared/reference/dependencies.md`); convolution is im2col + the same
//! GEMM; depthwise convolution, element-wise ops, row reductions, softmax and copies are plain Rust
//! loops (auto-vectorised), parallelised with rayon when `threads > 1`.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vchip_workloads::builder::{ConvSpec, TraceBuilder};
use vchip_workloads::{EltOp, Trace};

/// Clears the upper halves of the vector registers after faer's AVX/AVX-512 code. Without it, the
/// scalar-SSE `expf`/`tanhf` of libm that runs next pays a state-transition penalty on every call
/// (measured here: softmax 2.3 → 119 ns/element after a GEMM), which would charge one kernel for the
/// previous one's leftovers.
fn clear_upper_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` only needs AVX, checked just above; it touches no memory.
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}

/// Sets a hand-off's turn counter to the next pass when dropped.
struct HandOn<'a>(&'a std::sync::atomic::AtomicUsize, usize);

impl Drop for HandOn<'_> {
    fn drop(&mut self) {
        self.0.store(self.1, std::sync::atomic::Ordering::Release);
    }
}

/// The passes of a `Kernel::HandOff` on the current pool's first two threads (the first alone
/// when the pool has one). Both threads meet before the first pass, so waking the second costs
/// both variants alike; a pass waits for the previous one on a spinning turn counter, which
/// hands over in well under a microsecond, against a few microseconds a pass.
fn hand_off(data: &std::sync::Mutex<Vec<f32>>, phases: usize, remote: bool) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let arrived = AtomicUsize::new(0);
    let turn = AtomicUsize::new(0);
    let pool = rayon::current_num_threads().min(2);
    rayon::broadcast(|ctx| {
        let me = ctx.index();
        if me >= pool {
            return;
        }
        arrived.fetch_add(1, Ordering::AcqRel);
        while arrived.load(Ordering::Acquire) < pool {
            std::hint::spin_loop();
        }
        for p in 0..phases {
            let owner = if remote && pool > 1 { p % 2 } else { 0 };
            if me != owner {
                continue;
            }
            while turn.load(Ordering::Acquire) != p {
                std::hint::spin_loop();
            }
            // Hands the turn on however the pass ends, so a pass that panicked cannot leave the
            // other thread spinning.
            let _hand_on = HandOn(&turn, p + 1);
            let mut v = data.lock().unwrap_or_else(|e| e.into_inner());
            v.iter_mut().for_each(|x| *x += 1.0);
            std::hint::black_box(&mut *v);
        }
    });
}

/// im2col for a square NCHW input (`c` channels of `h`×`h`, zero padding `k / 2`): fills `cols`, the
/// column-major patch matrix (row = output pixel, column = (channel, ky, kx)). Columns are
/// contiguous and independent, so the gather splits them over all threads when `threads > 1`, as
/// inference runtimes do (whole channels would leave a thread idle on a 3-channel stem: timed
/// here, splitting 3 channels over 2 threads gained nothing).
pub fn im2col(
    x: &[f32],
    c: usize,
    h: usize,
    k: usize,
    stride: usize,
    threads: usize,
    cols: &mut [f32],
) {
    let pad = k / 2;
    let ho = (h + 2 * pad - k) / stride + 1;
    let mm = ho * ho;
    // One patch column: channel `ch`, tap (ky, kx), every output pixel.
    let gather = |column: usize, dst: &mut [f32]| {
        let (ch, ky, kx) = (column / (k * k), column / k % k, column % k);
        for oy in 0..ho {
            let iy = (oy * stride + ky) as isize - pad as isize;
            let row = &mut dst[oy * ho..(oy + 1) * ho];
            if iy < 0 || iy as usize >= h {
                row.fill(0.0);
                continue;
            }
            let src = &x[(ch * h + iy as usize) * h..(ch * h + iy as usize + 1) * h];
            for (ox, v) in row.iter_mut().enumerate() {
                let ix = (ox * stride + kx) as isize - pad as isize;
                *v = if ix >= 0 && (ix as usize) < h {
                    src[ix as usize]
                } else {
                    0.0
                };
            }
        }
    };
    let used = &mut cols[..mm * c * k * k];
    if threads > 1 {
        used.par_chunks_mut(mm)
            .enumerate()
            .for_each(|(j, column)| gather(j, column));
    } else {
        used.chunks_mut(mm)
            .enumerate()
            .for_each(|(j, column)| gather(j, column));
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Kernel {
    Gemm {
        m: usize,
        n: usize,
        k: usize,
    },
    Conv {
        c: usize,
        h: usize,
        out: usize,
        k: usize,
        stride: usize,
    },
    DwConv {
        c: usize,
        h: usize,
        k: usize,
        stride: usize,
    },
    Eltwise {
        op: String,
        n: usize,
    },
    RowSum {
        rows: usize,
        cols: usize,
    },
    Softmax {
        rows: usize,
        cols: usize,
    },
    Copy {
        n: usize,
    },
    /// Stores a constant to `n` floats: the bandwidth of a store-only stream (a GEMM writing C).
    Fill {
        n: usize,
    },
    /// `phases` read-modify-write passes over `n` floats small enough to stay in a core's L2,
    /// alternating between the pool's first two threads (`remote`) or all on the first: the
    /// difference between the two is what reading lines another core last wrote costs (a
    /// threaded GEMM reading A that the other thread packed or gathered).
    HandOff {
        n: usize,
        phases: usize,
        remote: bool,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct KernelCase {
    pub name: String,
    /// Which network the shape comes from.
    pub source: String,
    pub kernel: Kernel,
    pub threads: usize,
}

/// Most elements an operand of a kernel built by `Kernel::from_shape` may have (4 GiB of f32).
pub const MAX_SHAPE_ELEMS: usize = 1 << 30;

impl Kernel {
    /// A GEMM given as `MxNxK` or a convolution (im2col + GEMM) as `CxHxOUTxKxSTRIDE`, as the
    /// model-development examples take them; `None` for anything else, a zero dimension, or an
    /// operand of more than `MAX_SHAPE_ELEMS` elements (the kernel allocates its operands).
    pub fn from_shape(s: &str) -> Option<Kernel> {
        let v: Vec<usize> = s
            .split('x')
            .map(|p| p.parse().ok().filter(|&d: &usize| d > 0))
            .collect::<Option<_>>()?;
        let fits = |a: usize, b: usize| a.checked_mul(b).is_some_and(|e| e <= MAX_SHAPE_ELEMS);
        match v[..] {
            [m, n, k] if fits(m, k) && fits(k, n) && fits(m, n) => Some(Kernel::Gemm { m, n, k }),
            [c, h, out, k, stride] => {
                let side = h.checked_add(2 * (k / 2))?.checked_sub(k)? / stride + 1;
                let patch = c.checked_mul(k.checked_mul(k)?)?;
                (fits(c, h.checked_mul(h)?)
                    && fits(side * side, patch)
                    && fits(patch, out)
                    && fits(side * side, out))
                .then_some(Kernel::Conv {
                    c,
                    h,
                    out,
                    k,
                    stride,
                })
            }
            _ => None,
        }
    }

    /// The kernel as a one-op trace (f32).
    pub fn trace(&self) -> Trace {
        let mut b = TraceBuilder::new("kernel");
        let r = (|| -> vchip_workloads::Result<()> {
            match self {
                Kernel::Gemm { m, n, k } => {
                    let x =
                        b.input("a", vec![*m as u64, *k as u64], vchip_workloads::DType::F32)?;
                    b.linear("gemm", x, *n as u64, false)?;
                }
                Kernel::Conv {
                    c,
                    h,
                    out,
                    k,
                    stride,
                } => {
                    let x = b.input(
                        "x",
                        vec![1, *c as u64, *h as u64, *h as u64],
                        vchip_workloads::DType::F32,
                    )?;
                    b.conv2d(
                        "conv",
                        x,
                        ConvSpec::square(*out as u64, *k as u64, *stride as u64, (*k / 2) as u64),
                    )?;
                }
                Kernel::DwConv { c, h, k, stride } => {
                    let x = b.input(
                        "x",
                        vec![1, *c as u64, *h as u64, *h as u64],
                        vchip_workloads::DType::F32,
                    )?;
                    let mut s =
                        ConvSpec::square(*c as u64, *k as u64, *stride as u64, (*k / 2) as u64);
                    s.groups = *c as u64;
                    b.conv2d("dw", x, s)?;
                }
                Kernel::Eltwise { op, n } => {
                    let x = b.input("x", vec![*n as u64], vchip_workloads::DType::F32)?;
                    match op.as_str() {
                        "add" => {
                            let y = b.input("y", vec![*n as u64], vchip_workloads::DType::F32)?;
                            b.eltwise("add", EltOp::Add, &[x, y])?;
                        }
                        "relu" => {
                            b.eltwise("relu", EltOp::Relu, &[x])?;
                        }
                        "exp" => {
                            b.eltwise("exp", EltOp::Exp, &[x])?;
                        }
                        _ => {
                            b.eltwise("gelu", EltOp::Gelu, &[x])?;
                        }
                    }
                }
                Kernel::RowSum { rows, cols } => {
                    let x = b.input(
                        "x",
                        vec![*rows as u64, *cols as u64],
                        vchip_workloads::DType::F32,
                    )?;
                    let name = b.qualify("rowsum", "");
                    b.push_op(
                        name,
                        vchip_workloads::OpKind::Reduce {
                            elems_in: (*rows * *cols) as u64,
                            elems_out: *rows as u64,
                        },
                        vec![x],
                        vec![],
                        vec![vec![*rows as u64]],
                    )?;
                }
                Kernel::Softmax { rows, cols } => {
                    let x = b.input(
                        "x",
                        vec![*rows as u64, *cols as u64],
                        vchip_workloads::DType::F32,
                    )?;
                    b.softmax("softmax", x)?;
                }
                Kernel::Copy { n } => {
                    let x = b.input("x", vec![*n as u64], vchip_workloads::DType::F32)?;
                    b.movement(
                        "copy",
                        vchip_workloads::MoveKind::Copy,
                        &[x],
                        vec![*n as u64],
                    )?;
                }
                // A microbenchmark only (never predicted): its passes as one copy.
                Kernel::HandOff { n, phases, .. } => {
                    let len = (*n as u64).saturating_mul(*phases as u64);
                    let x = b.input("x", vec![len], vchip_workloads::DType::F32)?;
                    b.movement("handoff", vchip_workloads::MoveKind::Copy, &[x], vec![len])?;
                }
                Kernel::Fill { n } => {
                    b.movement(
                        "fill",
                        vchip_workloads::MoveKind::Copy,
                        &[],
                        vec![*n as u64],
                    )?;
                }
            }
            Ok(())
        })();
        debug_assert!(r.is_ok(), "kernel shapes are valid by construction: {r:?}");
        b.finish()
    }

    /// Allocates inputs and returns a closure that runs the kernel once.
    pub fn prepare(&self, threads: usize) -> Box<dyn FnMut() + '_> {
        let par = if threads > 1 {
            Par::rayon(threads)
        } else {
            Par::Seq
        };
        let fill = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect()
        };
        match *self {
            Kernel::Gemm { m, n, k } => {
                let a = Mat::<f32>::from_fn(m, k, |i, j| ((i * 31 + j * 17) % 100) as f32 / 100.0);
                let bm = Mat::<f32>::from_fn(k, n, |i, j| ((i * 13 + j * 29) % 100) as f32 / 100.0);
                let mut c = Mat::<f32>::zeros(m, n);
                Box::new(move || {
                    matmul(
                        c.as_mut(),
                        Accum::Replace,
                        a.as_ref(),
                        bm.as_ref(),
                        1.0f32,
                        par,
                    );
                    clear_upper_state();
                })
            }
            Kernel::Conv {
                c,
                h,
                out,
                k: 1,
                stride: 1,
            } => {
                // A 1x1 convolution needs no im2col. An NCHW activation is a column-major
                // (HW × C) matrix, so Y (HW × out) = X (HW × C) · W (C × out) with rows = output
                // pixels, the same orientation as the im2col convolutions and the trace's GEMM.
                let x =
                    Mat::<f32>::from_fn(h * h, c, |i, j| ((i * 31 + j * 17) % 100) as f32 / 100.0);
                let w =
                    Mat::<f32>::from_fn(c, out, |i, j| ((i * 13 + j * 29) % 100) as f32 / 100.0);
                let mut y = Mat::<f32>::zeros(h * h, out);
                Box::new(move || {
                    matmul(
                        y.as_mut(),
                        Accum::Replace,
                        x.as_ref(),
                        w.as_ref(),
                        1.0f32,
                        par,
                    );
                    clear_upper_state();
                })
            }
            Kernel::Conv {
                c,
                h,
                out,
                k,
                stride,
            } => {
                let x = fill(c * h * h);
                let ho = (h + 2 * (k / 2) - k) / stride + 1;
                let (mm, kk) = (ho * ho, c * k * k);
                let w =
                    Mat::<f32>::from_fn(kk, out, |i, j| ((i * 13 + j * 29) % 100) as f32 / 100.0);
                let mut y = Mat::<f32>::zeros(mm, out);
                let mut cols = vec![0f32; mm * kk];
                Box::new(move || {
                    im2col(&x, c, h, k, stride, threads, &mut cols);
                    let patches = MatRef::from_column_major_slice(&cols, mm, kk);
                    matmul(y.as_mut(), Accum::Replace, patches, w.as_ref(), 1.0f32, par);
                    clear_upper_state();
                })
            }
            Kernel::DwConv { c, h, k, stride } => {
                let x = fill(c * h * h);
                let w = fill(c * k * k);
                let ho = (h + 2 * (k / 2) - k) / stride + 1;
                let mut y = vec![0f32; c * ho * ho];
                let pad = k / 2;
                Box::new(move || {
                    let plane = |ch: usize, out: &mut [f32]| {
                        for oy in 0..ho {
                            for ox in 0..ho {
                                let mut acc = 0f32;
                                for ky in 0..k {
                                    let iy = (oy * stride + ky) as isize - pad as isize;
                                    if iy < 0 || iy as usize >= h {
                                        continue;
                                    }
                                    for kx in 0..k {
                                        let ix = (ox * stride + kx) as isize - pad as isize;
                                        if ix >= 0 && (ix as usize) < h {
                                            acc += x[(ch * h + iy as usize) * h + ix as usize]
                                                * w[(ch * k + ky) * k + kx];
                                        }
                                    }
                                }
                                out[oy * ho + ox] = acc;
                            }
                        }
                    };
                    if threads > 1 {
                        y.par_chunks_mut(ho * ho)
                            .enumerate()
                            .for_each(|(ch, o)| plane(ch, o));
                    } else {
                        y.chunks_mut(ho * ho)
                            .enumerate()
                            .for_each(|(ch, o)| plane(ch, o));
                    }
                })
            }
            Kernel::Eltwise { ref op, n } => {
                let x = fill(n);
                let z = fill(n);
                let mut y = vec![0f32; n];
                let op = op.clone();
                let chunk = n.div_ceil(threads.max(1)).max(1);
                Box::new(move || {
                    let f = |(i, out): (usize, &mut [f32])| {
                        let base = i * chunk;
                        let xs = &x[base..base + out.len()];
                        match op.as_str() {
                            "add" => out
                                .iter_mut()
                                .zip(xs)
                                .zip(&z[base..])
                                .for_each(|((o, a), b)| *o = a + b),
                            "relu" => out.iter_mut().zip(xs).for_each(|(o, a)| *o = a.max(0.0)),
                            "exp" => out.iter_mut().zip(xs).for_each(|(o, a)| *o = a.exp()),
                            _ => out.iter_mut().zip(xs).for_each(|(o, a)| {
                                *o = 0.5
                                    * a
                                    * (1.0 + (0.797_884_6 * (a + 0.044715 * a * a * a)).tanh())
                            }),
                        }
                    };
                    if threads > 1 {
                        y.par_chunks_mut(chunk).enumerate().for_each(f);
                    } else {
                        y.chunks_mut(chunk).enumerate().for_each(f);
                    }
                })
            }
            Kernel::RowSum { rows, cols } => {
                let x = fill(rows * cols);
                let mut y = vec![0f32; rows];
                Box::new(move || {
                    let f =
                        |(r, o): (usize, &mut f32)| *o = x[r * cols..(r + 1) * cols].iter().sum();
                    if threads > 1 {
                        y.par_iter_mut().enumerate().for_each(f);
                    } else {
                        y.iter_mut().enumerate().for_each(f);
                    }
                })
            }
            Kernel::Softmax { rows, cols } => {
                let x = fill(rows * cols);
                let mut y = vec![0f32; rows * cols];
                Box::new(move || {
                    let f = |(r, o): (usize, &mut [f32])| {
                        let row = &x[r * cols..(r + 1) * cols];
                        let m = row.iter().copied().fold(f32::MIN, f32::max);
                        let mut s = 0f32;
                        for (oi, &v) in o.iter_mut().zip(row) {
                            *oi = (v - m).exp();
                            s += *oi;
                        }
                        let inv = 1.0 / s;
                        o.iter_mut().for_each(|v| *v *= inv);
                    };
                    if threads > 1 {
                        y.par_chunks_mut(cols).enumerate().for_each(f);
                    } else {
                        y.chunks_mut(cols).enumerate().for_each(f);
                    }
                })
            }
            Kernel::Fill { n } => {
                let mut y = vec![0f32; n];
                let chunk = n.div_ceil(threads.max(1)).max(1);
                Box::new(move || {
                    if threads > 1 {
                        y.par_chunks_mut(chunk).for_each(|o| o.fill(1.5));
                    } else {
                        y.fill(1.5);
                    }
                    std::hint::black_box(&mut y);
                })
            }
            Kernel::HandOff { n, phases, remote } => {
                let data = std::sync::Mutex::new(fill(n));
                Box::new(move || hand_off(&data, phases, remote))
            }
            Kernel::Copy { n } => {
                let x = fill(n);
                let mut y = vec![0f32; n];
                let chunk = n.div_ceil(threads.max(1)).max(1);
                Box::new(move || {
                    if threads > 1 {
                        y.par_chunks_mut(chunk).enumerate().for_each(|(i, o)| {
                            o.copy_from_slice(&x[i * chunk..i * chunk + o.len()])
                        });
                    } else {
                        y.copy_from_slice(&x);
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_as_gemms_or_convolutions_and_refuse_the_rest() {
        assert_eq!(
            Kernel::from_shape("784x32x192"),
            Some(Kernel::Gemm {
                m: 784,
                n: 32,
                k: 192
            })
        );
        assert_eq!(
            Kernel::from_shape("3x224x32x3x2"),
            Some(Kernel::Conv {
                c: 3,
                h: 224,
                out: 32,
                k: 3,
                stride: 2
            })
        );
        for bad in [
            "",
            "1x2",
            "0x4x4",
            "4x-1x4",
            "axbxc",
            "1x2x3x4",
            "65536x65536x65536",
        ] {
            assert_eq!(Kernel::from_shape(bad), None, "{bad}");
        }
        // An im2col matrix beyond the limit (1 Mi pixels × 200,704 columns), and an overflow.
        assert_eq!(Kernel::from_shape("4096x1024x64x7x1"), None);
        assert_eq!(Kernel::from_shape(&format!("1x{}x1x1x1", usize::MAX)), None);
    }

    #[test]
    fn hand_off_runs_every_pass_once_on_one_or_two_threads() {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            for remote in [true, false] {
                let data = std::sync::Mutex::new(vec![0f32; 1000]);
                pool.install(|| hand_off(&data, 7, remote));
                let v = data.into_inner().expect("not poisoned");
                assert!(
                    v.iter().all(|&x| x == 7.0),
                    "{threads} threads, remote {remote}"
                );
            }
        }
    }

    #[test]
    fn im2col_gathers_padded_patches_the_same_on_any_thread_count() {
        // 2 channels of 3×3, 3×3 kernel, stride 1, padding 1: 9 output pixels × 18 columns.
        let x: Vec<f32> = (0..18).map(|i| i as f32 + 1.0).collect();
        let mut one = vec![f32::NAN; 9 * 18];
        im2col(&x, 2, 3, 3, 1, 1, &mut one);
        // Column (ch 0, ky 1, kx 1) is the channel itself; (ch 1, ky 0, kx 0) is channel 1 shifted
        // down-right with zeros in the first row and column.
        assert_eq!(&one[4 * 9..5 * 9], &x[..9]);
        assert_eq!(
            &one[9 * 9..10 * 9],
            &[0.0, 0.0, 0.0, 0.0, 10.0, 11.0, 0.0, 13.0, 14.0]
        );
        let mut two = vec![f32::NAN; 9 * 18];
        im2col(&x, 2, 3, 3, 1, 2, &mut two);
        assert_eq!(one, two);
        // Stride 2 on 4×4 with a 3×3 kernel: 2×2 outputs; centre tap reads pixels 0, 2, 8, 10.
        let x: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let mut s2 = vec![f32::NAN; 4 * 9];
        im2col(&x, 1, 4, 3, 2, 1, &mut s2);
        assert_eq!(&s2[4 * 4..5 * 4], &[0.0, 2.0, 8.0, 10.0]);
    }
}
