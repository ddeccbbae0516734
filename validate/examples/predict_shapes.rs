//! Model-development tool, the counterpart of `gemm_shapes`: prints what a calibrated host model
//! predicts for GEMM shapes (`MxNxK`) or convolutions (`CxHxOUTxKxSTRIDE`, im2col + GEMM), so a
//! model term can be checked against shapes timed by `gemm_shapes`:
//! `cargo run --release -p vchip-validate --example predict_shapes host-cpu.yaml [threads] SHAPE ...`.

use vchip_hwmodels::cpu::CpuModel;
use vchip_hwmodels::spec::Count;
use vchip_validate::kernels::Kernel;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: predict_shapes host-cpu.yaml [threads] MxNxK|CxHxOUTxKxSTRIDE ...");
        std::process::exit(2);
    };
    let threads: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let model = vchip_hwmodels::load_hardware(&file)
        .map_err(|e| e.to_string())
        .and_then(|mut spec| {
            if let Some(c) = spec.cpu.as_mut() {
                c.threads = Count(threads);
            }
            CpuModel::new(spec).map_err(|e| e.to_string())
        });
    let model = match model {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{file}: {e}");
            std::process::exit(1);
        }
    };
    for a in args {
        let Some(kernel) = Kernel::from_shape(&a) else {
            eprintln!("`{a}`: give MxNxK (GEMM) or CxHxOUTxKxSTRIDE (convolution)");
            std::process::exit(2);
        };
        let t = kernel.trace();
        let s: f64 = t.ops.iter().map(|op| model.predict_s(&t, op).0).sum();
        println!("{a},{threads},{:.2}", s * 1e6);
    }
}
