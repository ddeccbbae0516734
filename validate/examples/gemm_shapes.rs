//! Model-development tool: times faer's f32 GEMM over a grid of shapes (or the `MxNxK` GEMMs and
//! `CxHxOUTxKxSTRIDE` convolutions given) on this machine and prints GFLOP/s per shape, so the
//! host-CPU model's GEMM terms (tile padding, packing, threading, im2col) can be checked against
//! what the library really does. Threaded runs are timed from inside a pool of that many threads,
//! as `vchip validate` times them. Not part of validation (which never looks up a measured time);
//! run on an idle machine:
//! `cargo run --release -p vchip-validate --example gemm_shapes [threads] [SHAPE ...]`.

use vchip_validate::kernels::Kernel;
use vchip_validate::timing::{measure, TimingConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut shapes: Vec<(String, Kernel)> = Vec::new();
    for a in args {
        match Kernel::from_shape(&a) {
            Some(k) => shapes.push((a, k)),
            None => {
                eprintln!(
                    "`{a}`: give shapes as MxNxK (GEMM) or CxHxOUTxKxSTRIDE (convolution), \
                     e.g. 5000x96x48, each operand at most 2^30 elements"
                );
                std::process::exit(2);
            }
        }
    }
    if shapes.is_empty() {
        for &m in &[1usize, 16, 49, 64, 128, 196, 784, 3136] {
            for &n in &[64usize, 256, 1024] {
                for &k in &[64usize, 256, 1152, 4608] {
                    if m * n * k <= 1 << 30 {
                        shapes.push((format!("{m}x{n}x{k}"), Kernel::Gemm { m, n, k }));
                    }
                }
            }
        }
    }
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot start {threads} threads: {e}");
            std::process::exit(1);
        }
    };
    let cfg = TimingConfig::full();
    println!("shape,threads,median_us,gflops");
    for (shape, kern) in shapes {
        let macs = kern
            .trace()
            .ops
            .iter()
            .fold(0u64, |sum, op| sum.saturating_add(op.macs));
        let t = pool.install(|| {
            let mut run = kern.prepare(threads);
            measure(&mut *run, cfg).median_s
        });
        println!(
            "{shape},{threads},{:.2},{:.1}",
            t * 1e6,
            2.0 * macs as f64 / t / 1e9
        );
    }
}
