//! GPU kernels through wgpu (Vulkan): a register-blocked GEMM, a direct convolution and element-wise
//! kernels in WGSL, timed with timestamp queries where the adapter has them (wall clock otherwise) and
//! checked against CPU results. On a software adapter (Mesa llvmpipe, device type Cpu) timings are
//! reported but fidelity is not applicable; on a real GPU fidelity is pending until vchip has a GPU
//! model to predict these kernels from their launch geometry.

use serde::Serialize;
use wgpu::util::DeviceExt;

use crate::timing::{summarize, Measurement};
use crate::ValidateError;

const GEMM_WGSL: &str = r#"
struct Dims { m: u32, n: u32, k: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> d: Dims;

// Each invocation computes a 4x4 block of C; no shared memory (barrier-heavy tiling is slow on
// software rasterisers and gains little on this size of problem).
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let row0 = g.y * 4u;
    let col0 = g.x * 4u;
    var acc: array<array<f32, 4>, 4>;
    for (var kk = 0u; kk < d.k; kk = kk + 1u) {
        var av: array<f32, 4>;
        var bv: array<f32, 4>;
        for (var i = 0u; i < 4u; i = i + 1u) {
            let r = min(row0 + i, d.m - 1u);
            av[i] = a[r * d.k + kk];
            let cc = min(col0 + i, d.n - 1u);
            bv[i] = b[kk * d.n + cc];
        }
        for (var i = 0u; i < 4u; i = i + 1u) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                acc[i][j] = acc[i][j] + av[i] * bv[j];
            }
        }
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) {
            let r = row0 + i;
            let cc = col0 + j;
            if (r < d.m && cc < d.n) {
                c[r * d.n + cc] = acc[i][j];
            }
        }
    }
}
"#;

const CONV_WGSL: &str = r#"
struct Dims { c: u32, h: u32, oc: u32, oh: u32, k: u32, stride: u32, pad: u32, total: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> d: Dims;

// One invocation per output element (oc, oy, ox), NCHW with batch 1, square kernel and image.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let idx = g.x + g.y * 65535u * 256u;
    if (idx >= d.total) { return; }
    let ox = idx % d.oh;
    let oy = (idx / d.oh) % d.oh;
    let o = idx / (d.oh * d.oh);
    var acc = 0.0;
    for (var ci = 0u; ci < d.c; ci = ci + 1u) {
        for (var ky = 0u; ky < d.k; ky = ky + 1u) {
            let iy = i32(oy * d.stride + ky) - i32(d.pad);
            if (iy < 0 || iy >= i32(d.h)) { continue; }
            for (var kx = 0u; kx < d.k; kx = kx + 1u) {
                let ix = i32(ox * d.stride + kx) - i32(d.pad);
                if (ix < 0 || ix >= i32(d.h)) { continue; }
                acc = acc + x[(ci * d.h + u32(iy)) * d.h + u32(ix)] * w[((o * d.c + ci) * d.k + ky) * d.k + kx];
            }
        }
    }
    y[idx] = acc;
}
"#;

const ELTWISE_WGSL: &str = r#"
struct Dims { n: u32, op: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> d: Dims;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.x + g.y * 65535u * 256u;
    if (i >= d.n) { return; }
    if (d.op == 0u) { c[i] = a[i] + b[i]; } else { c[i] = max(a[i], 0.0); }
}
"#;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GpuKernel {
    Gemm {
        m: u32,
        n: u32,
        k: u32,
    },
    Conv {
        c: u32,
        h: u32,
        oc: u32,
        k: u32,
        stride: u32,
    },
    Add {
        n: u32,
    },
    Relu {
        n: u32,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct GpuKernelResult {
    pub name: String,
    pub kernel: GpuKernel,
    /// Largest |gpu − cpu| relative to the largest |cpu| value.
    pub max_rel_error: f64,
    pub correct: bool,
    pub measured: Measurement,
    pub gflops: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct GpuReport {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub timestamp_queries: bool,
    /// Whether these timings say anything about a GPU's speed, and whether a model predicts them.
    pub fidelity: String,
    pub kernels: Vec<GpuKernelResult>,
}

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    timestamps: bool,
}

fn fill(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0) - 0.5)
        .collect()
}

impl Gpu {
    /// Runs `wgsl` over three f32 buffers and a uniform; returns the output and the kernel time (s).
    fn run(
        &self,
        wgsl: &str,
        a: &[f32],
        b: &[f32],
        out_len: usize,
        uniform: &[u32],
        groups: (u32, u32, u32),
    ) -> Result<(Vec<f32>, f64), ValidateError> {
        let dev = &self.device;
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: None,
            source: wgpu::ShaderSource::Wgsl(wgsl.into()),
        });
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let storage = |data: &[f32]| {
            dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck_f32(data),
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let (ba, bb) = (storage(a), storage(b));
        let out_bytes = (out_len * 4) as u64;
        let bc = dev.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: out_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let ud: Vec<u8> = uniform.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bu = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: &ud,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let readback = dev.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: out_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: ba.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: bb.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: bc.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: bu.as_entire_binding(),
                },
            ],
        });
        let queries = self.timestamps.then(|| {
            let set = dev.create_query_set(&wgpu::QuerySetDescriptor {
                label: None,
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = dev.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let read = dev.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: 16,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (set, resolve, read)
        });
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let tw = queries
                .as_ref()
                .map(|(set, _, _)| wgpu::ComputePassTimestampWrites {
                    query_set: set,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: tw,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        }
        enc.copy_buffer_to_buffer(&bc, 0, &readback, 0, out_bytes);
        if let Some((set, resolve, read)) = &queries {
            enc.resolve_query_set(set, 0..2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        let t0 = std::time::Instant::now();
        self.queue.submit([enc.finish()]);
        let wait = |buf: &wgpu::Buffer| -> Result<Vec<u8>, ValidateError> {
            let slice = buf.slice(..);
            slice.map_async(wgpu::MapMode::Read, |_| {});
            dev.poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| ValidateError::Unavailable(format!("GPU wait failed: {e}")))?;
            let data = slice
                .get_mapped_range()
                .map_err(|e| ValidateError::Unavailable(format!("cannot read GPU results: {e}")))?
                .to_vec();
            buf.unmap();
            Ok(data)
        };
        let out = wait(&readback)?;
        let wall = t0.elapsed().as_secs_f64();
        let secs = match &queries {
            Some((_, _, read)) => {
                let raw = wait(read)?;
                let t = |i: usize| {
                    u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
                };
                (t(1).saturating_sub(t(0))) as f64 * self.queue.get_timestamp_period() as f64 * 1e-9
            }
            None => wall,
        };
        let values = out
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((values, secs))
    }
}

fn bytemuck_f32(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8; the length covers exactly the
    // slice's memory, and u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn rel_error(got: &[f32], want: &[f32]) -> f64 {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6) as f64;
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() as f64)
        .fold(0.0, f64::max)
        / scale
}

/// Splits a 1-D launch of `n` invocations (workgroups of 256) into a 2-D grid under the 65,535 limit.
fn grid_1d(n: usize) -> (u32, u32, u32) {
    let groups = n.div_ceil(256) as u32;
    (groups.min(65_535), groups.div_ceil(65_535), 1)
}

pub fn run_gpu(quick: bool, progress: &dyn Fn(&str)) -> Result<GpuReport, ValidateError> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
    if std::env::var_os("WGPU_BACKEND").is_none() {
        desc.backends = wgpu::Backends::VULKAN;
    }
    let instance = wgpu::Instance::new(desc);
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).map_err(|e| {
        ValidateError::Unavailable(format!(
            "no GPU adapter found through wgpu/Vulkan ({e}). Fix: install a Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers` for Mesa's software adapter"
        ))
    })?;
    let info = adapter.get_info();
    let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
    let required_features = if timestamps {
        wgpu::Features::TIMESTAMP_QUERY
    } else {
        wgpu::Features::empty()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features,
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .map_err(|e| ValidateError::Unavailable(format!("the GPU adapter refused a device: {e}")))?;
    progress(&format!(
        "adapter: {} ({:?}, {:?}, driver {}), timestamp queries: {timestamps}",
        info.name, info.backend, info.device_type, info.driver_info
    ));
    let gpu = Gpu {
        device,
        queue,
        timestamps,
    };
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let fidelity = if software {
        "not applicable: software adapter (CPU), timings say nothing about GPU speed".to_string()
    } else {
        "pending: vchip has no GPU model yet to predict these kernels".to_string()
    };
    let mut kernels = vec![
        (
            "gemm 256^3",
            GpuKernel::Gemm {
                m: 256,
                n: 256,
                k: 256,
            },
        ),
        (
            "bert-base attn_out 128x768x768",
            GpuKernel::Gemm {
                m: 128,
                n: 768,
                k: 768,
            },
        ),
        (
            "gemm ragged 100x70x33",
            GpuKernel::Gemm {
                m: 100,
                n: 70,
                k: 33,
            },
        ),
        (
            "resnet50 layer3 conv 3x3",
            GpuKernel::Conv {
                c: 64,
                h: 14,
                oc: 64,
                k: 3,
                stride: 1,
            },
        ),
        (
            "mobilenet stem conv 3x3/2",
            GpuKernel::Conv {
                c: 3,
                h: 56,
                oc: 16,
                k: 3,
                stride: 2,
            },
        ),
        ("residual add 1M", GpuKernel::Add { n: 1 << 20 }),
        ("relu 1M", GpuKernel::Relu { n: 1 << 20 }),
    ];
    if !quick {
        kernels.push((
            "gemm 512^3",
            GpuKernel::Gemm {
                m: 512,
                n: 512,
                k: 512,
            },
        ));
        kernels.push((
            "resnet50 layer1 conv 3x3",
            GpuKernel::Conv {
                c: 64,
                h: 56,
                oc: 64,
                k: 3,
                stride: 1,
            },
        ));
    }
    let reps = if quick { 3 } else { 10 };
    let mut results = Vec::new();
    for (name, k) in kernels {
        let (wgsl, a, b, out_len, uniform, groups, flops, want) = match k {
            GpuKernel::Gemm { m, n, k } => {
                let (mu, nu, ku) = (m as usize, n as usize, k as usize);
                let (a, b) = (fill(mu * ku, 1), fill(ku * nu, 2));
                let mut want = vec![0f32; mu * nu];
                for i in 0..mu {
                    for p in 0..ku {
                        let av = a[i * ku + p];
                        for j in 0..nu {
                            want[i * nu + j] += av * b[p * nu + j];
                        }
                    }
                }
                (
                    GEMM_WGSL,
                    a,
                    b,
                    mu * nu,
                    vec![m, n, k, 0],
                    (n.div_ceil(64), m.div_ceil(64), 1),
                    2.0 * (mu * nu * ku) as f64,
                    want,
                )
            }
            GpuKernel::Conv {
                c,
                h,
                oc,
                k,
                stride,
            } => {
                let pad = k / 2;
                let oh = (h + 2 * pad - k) / stride + 1;
                let (cu, hu, ocu, ku, ohu) =
                    (c as usize, h as usize, oc as usize, k as usize, oh as usize);
                let (x, w) = (fill(cu * hu * hu, 3), fill(ocu * cu * ku * ku, 4));
                let mut want = vec![0f32; ocu * ohu * ohu];
                for o in 0..ocu {
                    for oy in 0..ohu {
                        for ox in 0..ohu {
                            let mut acc = 0f32;
                            for ci in 0..cu {
                                for ky in 0..ku {
                                    let iy = (oy * stride as usize + ky) as isize - pad as isize;
                                    for kx in 0..ku {
                                        let ix =
                                            (ox * stride as usize + kx) as isize - pad as isize;
                                        if iy >= 0
                                            && ix >= 0
                                            && (iy as usize) < hu
                                            && (ix as usize) < hu
                                        {
                                            acc += x[(ci * hu + iy as usize) * hu + ix as usize]
                                                * w[((o * cu + ci) * ku + ky) * ku + kx];
                                        }
                                    }
                                }
                            }
                            want[(o * ohu + oy) * ohu + ox] = acc;
                        }
                    }
                }
                let total = ocu * ohu * ohu;
                (
                    CONV_WGSL,
                    x,
                    w,
                    total,
                    vec![c, h, oc, oh, k, stride, pad, total as u32],
                    grid_1d(total),
                    2.0 * (total * cu * ku * ku) as f64,
                    want,
                )
            }
            GpuKernel::Add { n } | GpuKernel::Relu { n } => {
                let nu = n as usize;
                let (a, b) = (fill(nu, 5), fill(nu, 6));
                let add = matches!(k, GpuKernel::Add { .. });
                let want = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| if add { x + y } else { x.max(0.0) })
                    .collect();
                (
                    ELTWISE_WGSL,
                    a,
                    b,
                    nu,
                    vec![n, u32::from(!add), 0, 0],
                    grid_1d(nu),
                    nu as f64,
                    want,
                )
            }
        };
        let mut samples = Vec::new();
        let mut err = 0.0;
        for i in 0..reps + 1 {
            let (got, secs) = gpu.run(wgsl, &a, &b, out_len, &uniform, groups)?;
            if i == 0 {
                err = rel_error(&got, &want); // the first run warms up and is checked
            } else {
                samples.push(secs);
            }
        }
        let measured = summarize(samples);
        let correct = err <= 1e-3;
        progress(&format!(
            "  {name}: {:.1} us, max rel error {err:.2e} {}",
            measured.median_s * 1e6,
            if correct { "ok" } else { "WRONG" }
        ));
        results.push(GpuKernelResult {
            name: name.to_string(),
            kernel: k,
            max_rel_error: err,
            correct,
            gflops: flops / measured.median_s / 1e9,
            measured,
        });
    }
    Ok(GpuReport {
        adapter: info.name,
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info),
        timestamp_queries: timestamps,
        fidelity,
        kernels: results,
    })
}
