//! Model-development tool: times faer's f32 GEMM over a grid of shapes on this machine and prints
//! GFLOP/s per shape, so the host-CPU model's GEMM terms (tile padding, packing, per-call cost) can be
//! checked against what the library really does. Not part of validation (which never looks up a
//! measured time); run on an idle machine:
//! `cargo run --release -p vchip-validate --example gemm_shapes [threads]`.

use vchip_validate::kernels::Kernel;
use vchip_validate::timing::{measure, TimingConfig};

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let cfg = TimingConfig::full();
    println!("m,n,k,threads,median_us,gflops");
    for &m in &[1usize, 16, 49, 64, 128, 196, 784, 3136] {
        for &n in &[64usize, 256, 1024] {
            for &k in &[64usize, 256, 1152, 4608] {
                if m * n * k > 1 << 30 {
                    continue;
                }
                let kern = Kernel::Gemm { m, n, k };
                let mut run = kern.prepare(threads);
                let t = measure(&mut *run, cfg).median_s;
                println!(
                    "{m},{n},{k},{threads},{:.2},{:.1}",
                    t * 1e6,
                    2.0 * (m * n * k) as f64 / t / 1e9
                );
            }
        }
    }
}
