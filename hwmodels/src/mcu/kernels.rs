//! Cycle model of int8 kernels on Cortex-M cores, per kernel library.
//!
//! A kernel's cost is counted in *units*: one unit is the work of one MAC in the library's plain
//! convolution loop. Each kernel class weighs its MACs, outputs (requantisation and store), im2col
//! elements (copied and widened to 16 bits before SMLAD can use them) and element-wise work
//! against that, as read off the library's inner loops. A library's `scale` (Cortex-M4 cycles
//! per unit) and `per_op` (cycles per kernel call: interpreter dispatch, setup) are calibrated on
//! the Nucleo-L4R5ZI MLPerf Tiny rows only (`docs/mcu.md`; the `calibration` test re-derives
//! them). Other cores divide by their scalar throughput relative to the M4; flash wait states on
//! weight reads are added per board.

use vchip_workloads::{Op, OpKind};

use crate::spec::mcu::{Core, Library};

/// What a library's kernels cost, in units (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LibProfile {
    pub library: Library,
    /// Per MAC of a k×k convolution (k > 1, or strided 1×1).
    pub conv: f64,
    /// Per MAC of a stride-1 1×1 convolution (no im2col).
    pub pointwise: f64,
    pub depthwise: f64,
    pub fully_connected: f64,
    /// Per output element of a MAC kernel: bias, requantisation, clamp, store.
    pub per_output: f64,
    /// Per element an im2col buffer is filled with (0: the library has no im2col).
    pub im2col: f64,
    /// Per output element of an element-wise op (ADD requantises both inputs).
    pub eltwise: f64,
    /// Per input element a pooling window reads.
    pub pool: f64,
    /// Per element of softmax (exp lookup and a division per row).
    pub softmax: f64,
    /// Output pixels a convolution computes per read of its weights (CMSIS-NN's
    /// `arm_nn_mat_mult_kernel_s8_s16` does two columns at once; reference loops one).
    pub columns_per_weight_read: u64,
    /// MAC loops vectorised with Helium on a Cortex-M55 (CMSIS-NN has MVE kernels).
    pub helium: bool,
    /// Cortex-M4 cycles per unit (calibrated).
    pub scale: f64,
    /// Cycles per kernel call (calibrated).
    pub per_op: f64,
    /// Persistent RAM per op (TFLM's TfLiteNode + registration pointer, ~40 B on 32-bit) and per
    /// tensor (TfLiteEvalTensor, 12 B), and whether per-channel requantisation parameters (two
    /// int32 per output channel) live in RAM (TFLM computes them at Prepare) or in flash.
    pub persistent_per_op: u64,
    pub persistent_per_tensor: u64,
    pub requant_params_in_ram: bool,
    /// RAM outside the arena: stack and runtime state.
    pub runtime_ram: u64,
    /// Flash of the runtime itself and of each distinct kernel linked in.
    pub code_base: u64,
    pub code_per_kernel: u64,
    /// Flash per op and per tensor of the model description (flatbuffer tables, or generated C).
    pub model_per_op: u64,
    pub model_per_tensor: u64,
}

/// TFLM's reference kernels (tensorflow/lite/micro/kernels, `reference_integer_ops`): one MAC per
/// inner iteration with no SIMD, the input offset added per MAC and `Offset()` index arithmetic
/// in the convolution's innermost loop; the fully connected loop walks plain pointers (about
/// 0.6 of a convolution MAC); depthwise re-checks the image bounds per filter tap with a channel
/// loop of one (2 units); per output a 64-bit `MultiplyByQuantizedMultiplier` (12 units).
pub const TFLM: LibProfile = LibProfile {
    library: Library::Tflm,
    conv: 1.0,
    pointwise: 1.0,
    depthwise: 2.0,
    fully_connected: 0.6,
    per_output: 12.0,
    im2col: 0.0,
    eltwise: 5.0,
    pool: 1.5,
    softmax: 8.0,
    columns_per_weight_read: 1,
    helium: false,
    scale: 5.615,
    per_op: 3800.0,
    persistent_per_op: 40,
    persistent_per_tensor: 12,
    requant_params_in_ram: true,
    // Assumption: stack and interpreter object of a TFLM application (2 KiB).
    runtime_ram: 2048,
    // "The core runtime just fits in 16 KB on an Arm Cortex M3" (TFLM README); kernels are
    // assumptions (a reference conv compiles to 2-3 KB with -Os).
    code_base: 16 * 1024,
    code_per_kernel: 2560,
    // Assumption: flatbuffer operator and tensor tables with quantisation parameters.
    model_per_op: 96,
    model_per_tensor: 80,
};

/// CMSIS-NN (Arm, `arm_convolve_s8` + `arm_nn_mat_mult_kernel_s8_s16`): im2col into 16-bit
/// columns (2 units per element: load, SXTB16 twice, offset add, store), then 2×2 output tiles
/// with SMLAD; 1×1 convolutions skip im2col; depthwise (`arm_depthwise_conv_s8_opt`) reuses
/// little and costs about 2 units per MAC; requantisation per output (10 units).
pub const CMSIS_NN: LibProfile = LibProfile {
    library: Library::CmsisNn,
    conv: 1.0,
    pointwise: 1.0,
    depthwise: 2.0,
    fully_connected: 1.0,
    per_output: 10.0,
    im2col: 2.0,
    eltwise: 4.0,
    pool: 1.0,
    softmax: 6.0,
    columns_per_weight_read: 2,
    helium: true,
    scale: 3.022,
    per_op: 1900.0,
    persistent_per_op: 40,
    persistent_per_tensor: 12,
    requant_params_in_ram: true,
    runtime_ram: 2048,
    code_base: 16 * 1024,
    // Assumption: unrolled SIMD kernels are about twice the reference ones.
    code_per_kernel: 5 * 1024,
    model_per_op: 96,
    model_per_tensor: 80,
};

/// The vendor's optimised runtime (ST X-CUBE-AI 7.x on STM32): closed source, so its structure is
/// CMSIS-NN's with the weights chosen by the calibration residual among code-read candidates
/// (depthwise 3, 1×1 1.2, per output 16 units); parameters are compiled into flash.
pub const VENDOR: LibProfile = LibProfile {
    library: Library::Vendor,
    conv: 1.0,
    pointwise: 1.2,
    depthwise: 3.0,
    fully_connected: 1.0,
    per_output: 16.0,
    im2col: 2.0,
    eltwise: 4.0,
    pool: 1.0,
    softmax: 6.0,
    columns_per_weight_read: 2,
    helium: true,
    scale: 1.615,
    per_op: 27700.0,
    persistent_per_op: 0,
    persistent_per_tensor: 0,
    requant_params_in_ram: false,
    // Assumption: X-CUBE-AI's runtime RAM (network context and stack) of ST model-zoo reports'
    // order, 4 KiB.
    runtime_ram: 4096,
    // Assumption: the network runtime library (~12 KiB) and its kernels.
    code_base: 12 * 1024,
    code_per_kernel: 3 * 1024,
    model_per_op: 48,
    model_per_tensor: 32,
};

pub fn profile(lib: Library) -> &'static LibProfile {
    match lib {
        Library::Tflm => &TFLM,
        Library::CmsisNn => &CMSIS_NN,
        Library::Vendor => &VENDOR,
    }
}

/// Scalar throughput relative to a Cortex-M4, from Arm's Dhrystone figures (DMIPS/MHz: M4 1.25,
/// M7 2.14, M33 1.50, M55 1.6; Arm's Cortex-M product pages). NN kernels are integer loops of
/// loads, SIMD MACs and index arithmetic, the mix Dhrystone measures; the M7's dual issue pairs a
/// load with a MAC.
pub fn core_speed(core: Core) -> f64 {
    let dmips = match core {
        Core::CortexM4f => 1.25,
        Core::CortexM7 => 2.14,
        Core::CortexM33 => 1.50,
        Core::CortexM55 => 1.6,
    };
    dmips / 1.25
}

/// Helium's int8 MAC rate over SMLAD's: about 8 MACs per cycle (VMLADAVA over 16 int8 lanes in
/// two beats) against SMLAD's 2 (`docs/mcu.md`; Arm Cortex-M55 technical overview).
pub const HELIUM_MAC_SPEEDUP: f64 = 4.0;

/// The kernel an op runs as, with the counts its cost depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kernel {
    Conv {
        macs: u64,
        outputs: u64,
        im2col: u64,
    },
    Pointwise {
        macs: u64,
        outputs: u64,
    },
    Depthwise {
        macs: u64,
        outputs: u64,
    },
    FullyConnected {
        macs: u64,
        outputs: u64,
    },
    Eltwise {
        elems: u64,
    },
    Pool {
        reads: u64,
    },
    Softmax {
        elems: u64,
    },
    /// Data movement or anything else: a copy per element.
    Copy {
        elems: u64,
    },
    /// A view (reshape): metadata only.
    View,
}

impl Kernel {
    pub fn of(op: &Op) -> Kernel {
        match op.kind {
            OpKind::Conv2d(c) => {
                let outputs = c
                    .batch
                    .saturating_mul(c.c_out)
                    .saturating_mul(c.h_out)
                    .saturating_mul(c.w_out);
                if c.groups > 1 {
                    Kernel::Depthwise {
                        macs: op.macs,
                        outputs,
                    }
                } else if c.kh == 1 && c.kw == 1 && c.stride_h == 1 && c.stride_w == 1 {
                    Kernel::Pointwise {
                        macs: op.macs,
                        outputs,
                    }
                } else {
                    let im2col = c
                        .batch
                        .saturating_mul(c.h_out)
                        .saturating_mul(c.w_out)
                        .saturating_mul(c.kh)
                        .saturating_mul(c.kw)
                        .saturating_mul(c.c_in);
                    Kernel::Conv {
                        macs: op.macs,
                        outputs,
                        im2col,
                    }
                }
            }
            OpKind::MatMul(m) => Kernel::FullyConnected {
                macs: op.macs,
                outputs: m.batch.saturating_mul(m.m).saturating_mul(m.n),
            },
            OpKind::Attention { .. } => Kernel::FullyConnected {
                macs: op.macs,
                outputs: 0,
            },
            OpKind::Elementwise { elems, .. } | OpKind::Norm { elems, .. } => {
                Kernel::Eltwise { elems }
            }
            // A pool's FLOPs are its window reads (batch × channels × output × window).
            OpKind::Pool { .. } => Kernel::Pool { reads: op.flops },
            OpKind::Softmax { rows, cols } => Kernel::Softmax {
                elems: rows.saturating_mul(cols),
            },
            OpKind::Reduce { elems_in, .. } => Kernel::Copy { elems: elems_in },
            OpKind::Embedding { rows, dim } => Kernel::Copy {
                elems: rows.saturating_mul(dim),
            },
            OpKind::DataMovement { .. } if vchip_workloads::graph::is_view(op) => Kernel::View,
            OpKind::DataMovement { elems, .. } => Kernel::Copy { elems },
        }
    }

    /// A name for the code-size estimate: kernels of one name link once.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Conv { .. } => "conv",
            Kernel::Pointwise { .. } => "conv-1x1",
            Kernel::Depthwise { .. } => "depthwise",
            Kernel::FullyConnected { .. } => "fully-connected",
            Kernel::Eltwise { .. } => "elementwise",
            Kernel::Pool { .. } => "pool",
            Kernel::Softmax { .. } => "softmax",
            Kernel::Copy { .. } => "copy",
            Kernel::View => "reshape",
        }
    }

    pub fn macs(&self) -> u64 {
        match *self {
            Kernel::Conv { macs, .. }
            | Kernel::Pointwise { macs, .. }
            | Kernel::Depthwise { macs, .. }
            | Kernel::FullyConnected { macs, .. } => macs,
            _ => 0,
        }
    }

    /// (MAC units, other units) in `p`'s units.
    pub fn units(&self, p: &LibProfile) -> (f64, f64) {
        let f = |v: u64| v as f64;
        match *self {
            Kernel::Conv {
                macs,
                outputs,
                im2col,
            } => (
                f(macs) * p.conv,
                f(outputs) * p.per_output + f(im2col) * p.im2col,
            ),
            Kernel::Pointwise { macs, outputs } => {
                (f(macs) * p.pointwise, f(outputs) * p.per_output)
            }
            Kernel::Depthwise { macs, outputs } => {
                (f(macs) * p.depthwise, f(outputs) * p.per_output)
            }
            Kernel::FullyConnected { macs, outputs } => {
                (f(macs) * p.fully_connected, f(outputs) * p.per_output)
            }
            Kernel::Eltwise { elems } => (0.0, f(elems) * p.eltwise),
            Kernel::Pool { reads } => (0.0, f(reads) * p.pool),
            Kernel::Softmax { elems } => (0.0, f(elems) * p.softmax),
            Kernel::Copy { elems } => (0.0, f(elems)),
            Kernel::View => (0.0, 0.0),
        }
    }

    /// Bytes of weights read from flash, counting re-reads: a convolution reads its weights once
    /// per `columns_per_weight_read` output pixels, depthwise and fully connected layers once per
    /// output pixel (batch 1: once).
    pub fn weight_reads(&self, weight_bytes: u64, p: &LibProfile) -> u64 {
        match *self {
            Kernel::Conv { macs, .. } | Kernel::Pointwise { macs, .. } => {
                (macs / p.columns_per_weight_read.max(1)).max(weight_bytes)
            }
            Kernel::Depthwise { macs, .. } | Kernel::FullyConnected { macs, .. } => {
                macs.max(weight_bytes)
            }
            _ => weight_bytes,
        }
    }

    /// Scratch RAM the kernel asks the arena for (CMSIS-NN's `*_get_buffer_size`): a k×k
    /// convolution's two 16-bit im2col columns (2·Cin·kh·kw·2 bytes), the optimised depthwise
    /// kernel's Cin·kh·kw 16-bit buffer; the reference kernels need none.
    pub fn scratch_bytes(op: &Op, p: &LibProfile) -> u64 {
        if p.im2col == 0.0 {
            return 0;
        }
        match (Kernel::of(op), op.kind) {
            (Kernel::Conv { .. }, OpKind::Conv2d(c)) => {
                4u64.saturating_mul(c.c_in).saturating_mul(c.kh * c.kw)
            }
            (Kernel::Depthwise { .. }, OpKind::Conv2d(c)) => {
                2u64.saturating_mul(c.c_in).saturating_mul(c.kh * c.kw)
            }
            _ => 0,
        }
    }
}
