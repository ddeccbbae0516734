//! The validation kernel set, drawn from real networks' layers (ResNet-50, MobileNetV2, BERT-base,
//! Llama-2-7B), and its split into a calibration part and a test part that calibration never sees.

use std::collections::BTreeSet;

use vchip_workloads::{zoo, OpKind, TraceOptions};

use crate::kernels::{Kernel, KernelCase};

fn case(name: String, source: &str, kernel: Kernel, threads: usize) -> KernelCase {
    KernelCase {
        name,
        source: source.into(),
        kernel,
        threads,
    }
}

/// Distinct conv layers of a zoo CNN as kernels (batch 1).
fn convs(model: &str, depthwise: bool, limit: usize) -> Vec<KernelCase> {
    let Ok(t) = zoo::load_by_name(model, &TraceOptions::default()) else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for op in &t.ops {
        if let OpKind::Conv2d(c) = op.kind {
            let dw = c.groups > 1;
            if dw != depthwise || c.kh != c.kw || c.h_in != c.w_in || c.pad_h != c.kh / 2 {
                continue;
            }
            let k = if dw {
                Kernel::DwConv {
                    c: c.c_in as usize,
                    h: c.h_in as usize,
                    k: c.kh as usize,
                    stride: c.stride_h as usize,
                }
            } else {
                Kernel::Conv {
                    c: c.c_in as usize,
                    h: c.h_in as usize,
                    out: c.c_out as usize,
                    k: c.kh as usize,
                    stride: c.stride_h as usize,
                }
            };
            let key = format!("{k:?}");
            if seen.insert(key) {
                out.push(case(format!("{model}:{}", op.name), model, k, 1));
            }
        }
    }
    // Spread the picks over the network rather than taking the first layers.
    let step = out.len().div_ceil(limit.max(1)).max(1);
    out.into_iter().step_by(step).collect()
}

/// The kernel set. `quick` keeps it small enough to finish in well under a minute.
pub fn kernels(quick: bool) -> Vec<KernelCase> {
    let mut v = Vec::new();
    let (conv_n, dw_n) = if quick { (8, 6) } else { (20, 14) };
    v.extend(convs("resnet50", false, conv_n));
    v.extend(convs("mobilenet_v2", true, dw_n));
    v.extend(convs("mobilenet_v2", false, if quick { 5 } else { 10 }));
    let bert = [
        (128, 2304, 768, "qkv"),
        (128, 768, 768, "attn_out"),
        (128, 3072, 768, "ffn_up"),
        (128, 768, 3072, "ffn_down"),
        (128, 128, 64, "scores"),
        (128, 64, 128, "context"),
    ];
    for (m, n, k, what) in bert {
        v.push(case(
            format!("bert-base:{what}"),
            "bert-base",
            Kernel::Gemm { m, n, k },
            1,
        ));
    }
    v.push(case(
        "bert-base:softmax".into(),
        "bert-base",
        Kernel::Softmax {
            rows: 12 * 128,
            cols: 128,
        },
        1,
    ));
    v.push(case(
        "bert-base:gelu".into(),
        "bert-base",
        Kernel::Eltwise {
            op: "gelu".into(),
            n: 128 * 3072,
        },
        1,
    ));
    v.push(case(
        "bert-base:residual_add".into(),
        "bert-base",
        Kernel::Eltwise {
            op: "add".into(),
            n: 128 * 768,
        },
        1,
    ));
    v.push(case(
        "bert-base:layernorm_sum".into(),
        "bert-base",
        Kernel::RowSum {
            rows: 128,
            cols: 768,
        },
        1,
    ));
    v.push(case(
        "resnet50:relu_112".into(),
        "resnet50",
        Kernel::Eltwise {
            op: "relu".into(),
            n: 64 * 112 * 112,
        },
        1,
    ));
    v.push(case(
        "resnet50:add_56".into(),
        "resnet50",
        Kernel::Eltwise {
            op: "add".into(),
            n: 256 * 56 * 56,
        },
        1,
    ));
    v.push(case(
        "resnet50:relu_7".into(),
        "resnet50",
        Kernel::Eltwise {
            op: "relu".into(),
            n: 2048 * 7 * 7,
        },
        1,
    ));
    v.push(case(
        "mobilenet_v2:relu6_28".into(),
        "mobilenet_v2",
        Kernel::Eltwise {
            op: "relu".into(),
            n: 192 * 28 * 28,
        },
        1,
    ));
    v.push(case(
        "llama-2-7b:decode_qproj".into(),
        "llama-2-7b",
        Kernel::Gemm {
            m: 1,
            n: 4096,
            k: 4096,
        },
        1,
    ));
    v.push(case(
        "llama-2-7b:rmsnorm_sum".into(),
        "llama-2-7b",
        Kernel::RowSum {
            rows: 128,
            cols: 4096,
        },
        1,
    ));
    v.push(case(
        "llama-2-7b:decode_softmax".into(),
        "llama-2-7b",
        Kernel::Softmax {
            rows: 32,
            cols: 2048,
        },
        1,
    ));
    v.push(case(
        "llama-2-7b:kv_copy".into(),
        "llama-2-7b",
        Kernel::Copy { n: 2 * 128 * 4096 },
        1,
    ));
    if !quick {
        v.push(case(
            "llama-2-7b:prefill_qproj".into(),
            "llama-2-7b",
            Kernel::Gemm {
                m: 128,
                n: 4096,
                k: 4096,
            },
            1,
        ));
        v.push(case(
            "llama-2-7b:decode_up".into(),
            "llama-2-7b",
            Kernel::Gemm {
                m: 1,
                n: 11008,
                k: 4096,
            },
            1,
        ));
        v.push(case(
            "llama-2-7b:silu_mul".into(),
            "llama-2-7b",
            Kernel::Eltwise {
                op: "gelu".into(),
                n: 128 * 11008,
            },
            1,
        ));
    }
    // Multi-threaded variants of the heavier kernels.
    let multi: Vec<KernelCase> = v
        .iter()
        .filter(|c| {
            matches!(c.kernel, Kernel::Gemm { m, .. } if m >= 128)
                || matches!(c.kernel, Kernel::Conv { .. })
        })
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, c)| KernelCase {
            name: format!("{} [2 threads]", c.name),
            threads: 2,
            ..c.clone()
        })
        .collect();
    v.extend(multi);
    v
}

/// Every third kernel (by position) calibrates; the rest only test.
pub fn is_calibration(index: usize) -> bool {
    index.is_multiple_of(3)
}
