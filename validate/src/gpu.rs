//! GPU kernels through wgpu (Vulkan): a tiled GEMM (workgroup memory, register blocking), a
//! convolution as an implicit GEMM on the same shader, and element-wise kernels in WGSL, timed with timestamp queries where the adapter has them (wall clock otherwise) and
//! checked against CPU results. On a software adapter (Mesa llvmpipe, device type Cpu) timings are
//! reported but fidelity is not applicable; on a real GPU the GPU model predicts each kernel from
//! its launch geometry (`gpu_fit.rs`).

use wgpu::util::DeviceExt;

use crate::gpu_report::conv_out_side;
pub use crate::gpu_report::{GpuKernel, GpuKernelResult, GpuReport};
use crate::timing::summarize;
use crate::ValidateError;

/// Bindings, staging tiles and the store shared by the tiled GEMM and the implicit-GEMM convolution.
/// C (m × n) = A (m × k) · B (k × n); the convolution's fields are zero for a plain GEMM.
const TILED_PRELUDE: &str = r#"
struct Dims { m: u32, n: u32, k: u32, c: u32, h: u32, oh: u32, ks: u32, stride: u32, pad: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> d: Dims;

var<workgroup> tile_a: array<f32, 1024>; // [k][row], 16 x 64
var<workgroup> tile_b: array<f32, 1024>; // [k][col], 16 x 64

fn store_row(r: u32, col: u32, v: vec4<f32>) {
    if (r >= d.m) { return; }
    if (col < d.n) { c[r * d.n + col] = v.x; }
    if (col + 16u < d.n) { c[r * d.n + col + 16u] = v.y; }
    if (col + 32u < d.n) { c[r * d.n + col + 32u] = v.z; }
    if (col + 48u < d.n) { c[r * d.n + col + 48u] = v.w; }
}
"#;

/// Row-major A and B.
const GEMM_LOADS: &str = r#"
fn load_a(r: u32, k: u32) -> f32 { return a[r * d.k + k]; }
fn load_b(k: u32, col: u32) -> f32 { return b[k * d.n + col]; }
"#;

/// Implicit GEMM (batch 1, NCHW, square image and kernel, zero padding): A is the weights
/// [out channel][c·ks·ks], B the im2col matrix [c·ks·ks][output pixel] gathered from the image
/// while the tile is staged, never materialised.
const CONV_LOADS: &str = r#"
fn load_a(r: u32, k: u32) -> f32 { return a[r * d.k + k]; }
fn load_b(k: u32, col: u32) -> f32 {
    let taps = d.ks * d.ks;
    let ci = k / taps;
    let ky = (k % taps) / d.ks;
    let kx = k % d.ks;
    let iy = i32((col / d.oh) * d.stride + ky) - i32(d.pad);
    let ix = i32((col % d.oh) * d.stride + kx) - i32(d.pad);
    if (iy < 0 || ix < 0 || iy >= i32(d.h) || ix >= i32(d.h)) { return 0.0; }
    return b[(ci * d.h + u32(iy)) * d.h + u32(ix)];
}
"#;

/// A 64x64 tile of C per workgroup of 16x16 invocations, 4x4 outputs each, stepping through K in
/// slices of 16 staged in workgroup memory. An invocation's rows and columns are 16 apart, so
/// neighbouring invocations read neighbouring words of the staged tiles (no bank conflicts) and
/// store neighbouring words of C (coalesced). Accumulators are vec4s, not arrays: an array indexed
/// in a loop can land in slow local memory once the shader compiler keeps the loop (an earlier
/// version of this kernel ran 36x slower on an H200 that way).
const TILED_MAIN: &str = r#"
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let tid = l.y * 16u + l.x;
    let row0 = wg.y * 64u;
    let col0 = wg.x * 64u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < d.k; k0 = k0 + 16u) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            let e = tid + i * 256u;
            // A: consecutive invocations read consecutive k of one row.
            let ar = e / 16u;
            let ak = e % 16u;
            var av = 0.0;
            if (row0 + ar < d.m && k0 + ak < d.k) { av = load_a(row0 + ar, k0 + ak); }
            tile_a[ak * 64u + ar] = av;
            // B: consecutive invocations read consecutive columns of one k.
            let bk = e / 64u;
            let bc = e % 64u;
            var bv = 0.0;
            if (k0 + bk < d.k && col0 + bc < d.n) { bv = load_b(k0 + bk, col0 + bc); }
            tile_b[bk * 64u + bc] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk = kk + 1u) {
            let ta = kk * 64u + l.y;
            let tb = kk * 64u + l.x;
            let bv = vec4<f32>(tile_b[tb], tile_b[tb + 16u], tile_b[tb + 32u], tile_b[tb + 48u]);
            acc0 = fma(vec4<f32>(tile_a[ta]), bv, acc0);
            acc1 = fma(vec4<f32>(tile_a[ta + 16u]), bv, acc1);
            acc2 = fma(vec4<f32>(tile_a[ta + 32u]), bv, acc2);
            acc3 = fma(vec4<f32>(tile_a[ta + 48u]), bv, acc3);
        }
        workgroupBarrier();
    }
    let col = col0 + l.x;
    store_row(row0 + l.y, col, acc0);
    store_row(row0 + l.y + 16u, col, acc1);
    store_row(row0 + l.y + 32u, col, acc2);
    store_row(row0 + l.y + 48u, col, acc3);
}
"#;

fn tiled_shader(loads: &str) -> String {
    format!("{TILED_PRELUDE}{loads}{TILED_MAIN}")
}

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

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    timestamps: bool,
    /// wgpu reports validation and out-of-memory errors through this handler (its default panics).
    error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// A kernel compiled and bound once, dispatched many times.
struct Prepared {
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    output: wgpu::Buffer,
    readback: wgpu::Buffer,
    out_bytes: u64,
    groups: (u32, u32, u32),
    queries: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
    // Kept alive for the bind group.
    _inputs: [wgpu::Buffer; 3],
}

impl Prepared {
    /// Records one compute pass that runs the kernel over its whole launch.
    fn record(
        &self,
        enc: &mut wgpu::CommandEncoder,
        timestamp_writes: Option<wgpu::ComputePassTimestampWrites>,
    ) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind, &[]);
        pass.dispatch_workgroups(self.groups.0, self.groups.1, self.groups.2);
    }
}

fn fill(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0) - 0.5)
        .collect()
}

impl Gpu {
    /// Fails with wgpu's own message if an error was reported since the last check.
    fn check(&self, what: &str) -> Result<(), ValidateError> {
        let taken = self.error.lock().map(|mut e| e.take()).unwrap_or(None);
        match taken {
            Some(e) => Err(ValidateError::Unavailable(format!(
                "GPU kernel `{what}` failed: {e}"
            ))),
            None => Ok(()),
        }
    }

    /// Compiles the case's shader and binds its inputs, an output buffer and the uniform.
    fn prepare(&self, name: &str, case: &GpuCase) -> Result<Prepared, ValidateError> {
        let dev = &self.device;
        let (wgsl, out_len, groups) = (case.wgsl.as_str(), case.out_len, case.groups);
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(wgsl.into()),
        });
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
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
        let (ba, bb) = (storage(&case.a), storage(&case.b));
        let out_bytes = (out_len * 4) as u64;
        let output = dev.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: out_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let ud: Vec<u8> = case.uniform.iter().flat_map(|v| v.to_le_bytes()).collect();
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
                    resource: output.as_entire_binding(),
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
        self.check(name)?;
        Ok(Prepared {
            pipeline,
            bind,
            output,
            readback,
            out_bytes,
            groups,
            queries,
            _inputs: [ba, bb, bu],
        })
    }

    /// Blocks until the GPU has finished everything submitted.
    fn wait(&self) -> Result<(), ValidateError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| ValidateError::Unavailable(format!("GPU wait failed: {e}")))
    }

    /// Maps `buf`, waits for the GPU and copies its contents out.
    fn read(&self, buf: &wgpu::Buffer) -> Result<Vec<u8>, ValidateError> {
        let slice = buf.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.wait()?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| ValidateError::Unavailable(format!("cannot read GPU results: {e}")))?
            .to_vec();
        buf.unmap();
        Ok(data)
    }

    /// Keeps the GPU busy with back-to-back dispatches of `p` for about `seconds` (estimated from
    /// one dispatch's `each_s`), in one submission so the GPU never idles between them: an idle
    /// GPU runs at a fraction of its clock (an H200 read 345 MHz idle, 1980 MHz under load) and
    /// needs sustained work to ramp up before a timing means anything.
    fn warm_up(
        &self,
        name: &str,
        p: &Prepared,
        each_s: f64,
        seconds: f64,
    ) -> Result<(), ValidateError> {
        let n = (seconds / each_s.max(1e-7)).ceil().clamp(1.0, 20_000.0) as usize;
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        for _ in 0..n {
            p.record(&mut enc, None);
        }
        self.queue.submit([enc.finish()]);
        self.wait()?;
        self.check(name)
    }

    /// Dispatches once; returns the output when `want_output` and the kernel time (s): the
    /// timestamp-query interval where the adapter has them, else wall clock from submit to done.
    fn dispatch(
        &self,
        name: &str,
        p: &Prepared,
        want_output: bool,
    ) -> Result<(Option<Vec<f32>>, f64), ValidateError> {
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        let timestamps = p
            .queries
            .as_ref()
            .map(|(set, _, _)| wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            });
        p.record(&mut enc, timestamps);
        if want_output {
            enc.copy_buffer_to_buffer(&p.output, 0, &p.readback, 0, p.out_bytes);
        }
        if let Some((set, resolve, read)) = &p.queries {
            enc.resolve_query_set(set, 0..2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        let t0 = std::time::Instant::now();
        self.queue.submit([enc.finish()]);
        self.wait()?;
        let wall = t0.elapsed().as_secs_f64();
        self.check(name)?;
        let out = if want_output {
            let raw = self.read(&p.readback)?;
            Some(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        } else {
            None
        };
        let secs = match &p.queries {
            Some((_, _, read)) => {
                let raw = self.read(read)?;
                let t = |i: usize| {
                    u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
                };
                (t(1).saturating_sub(t(0))) as f64 * self.queue.get_timestamp_period() as f64 * 1e-9
            }
            None => wall,
        };
        Ok((out, secs))
    }
}

fn bytemuck_f32(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8; the length covers exactly the
    // slice's memory, and u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Largest |got − want| relative to the largest |want|; infinite when the lengths differ (a short
/// read-back must not pass as a match).
fn rel_error(got: &[f32], want: &[f32]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
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
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    })).map_err(|e| {
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
    let error = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let sink = error.clone();
    device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
        if let Ok(mut slot) = sink.lock() {
            slot.get_or_insert_with(|| e.to_string());
        }
    }));
    let gpu = Gpu {
        device,
        queue,
        timestamps,
        error,
    };
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let gemm = |m, n, k| GpuKernel::Gemm { m, n, k };
    let conv = |c, h, oc, k, stride| GpuKernel::Conv {
        c,
        h,
        oc,
        k,
        stride,
    };
    let mut kernels = vec![
        ("gemm 256^3", gemm(256, 256, 256)),
        ("bert-base attn_out 128x768x768", gemm(128, 768, 768)),
        ("gemm ragged 100x70x33", gemm(100, 70, 33)),
        ("resnet50 layer3 conv 3x3", conv(64, 14, 64, 3, 1)),
        ("mobilenet stem conv 3x3/2", conv(3, 56, 16, 3, 2)),
        ("residual add 1M", GpuKernel::Add { n: 1 << 20 }),
        ("relu 1M", GpuKernel::Relu { n: 1 << 20 }),
    ];
    if !quick {
        kernels.push(("gemm 512^3", gemm(512, 512, 512)));
        kernels.push(("resnet50 layer1 conv 3x3", conv(64, 56, 64, 3, 1)));
    }
    if !software {
        // Sizes that fill a real GPU, so timings are not all launch latency; too slow for llvmpipe.
        kernels.push(("gemm 1024^3", gemm(1024, 1024, 1024)));
        kernels.push(("gemm 2048^3", gemm(2048, 2048, 2048)));
        kernels.push(("llama-7b mlp up 512x11008x4096", gemm(512, 11008, 4096)));
        kernels.push(("resnet50 conv1-size 3x3 256ch 56", conv(256, 56, 256, 3, 1)));
        kernels.push(("residual add 16M", GpuKernel::Add { n: 1 << 24 }));
        kernels.push(("relu 16M", GpuKernel::Relu { n: 1 << 24 }));
    }
    // A real GPU's timestamp samples are cheap; a software adapter's take CPU seconds.
    let reps = match (software, quick) {
        (false, _) => 25,
        (true, true) => 3,
        (true, false) => 10,
    };
    let mut results = Vec::new();
    for (name, k) in kernels {
        let case = GpuCase::new(&k);
        let prepared = gpu.prepare(name, &case)?;
        // The first dispatch is checked; then ~0.25 s of back-to-back work (a software adapter's
        // slowest kernels: one dispatch more) ramps the clocks; the rest are timed.
        let (got, first_s) = gpu.dispatch(name, &prepared, true)?;
        let err = rel_error(&got.unwrap_or_default(), &case.want);
        gpu.warm_up(name, &prepared, first_s, 0.25)?;
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            samples.push(gpu.dispatch(name, &prepared, false)?.1);
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
            gflops: case.flops / measured.median_s / 1e9,
            gb_s: case.bytes / measured.median_s / 1e9,
            measured,
            part: None,
            predicted_s: None,
        });
    }
    Ok(GpuReport {
        adapter: info.name,
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info),
        timestamp_queries: timestamps,
        fidelity: String::new(),
        kernels: results,
        fit: None,
    })
}

/// One kernel's shader, inputs, launch geometry, work and CPU reference result.
struct GpuCase {
    wgsl: String,
    a: Vec<f32>,
    b: Vec<f32>,
    out_len: usize,
    uniform: Vec<u32>,
    groups: (u32, u32, u32),
    flops: f64,
    /// Compulsory DRAM traffic: each input read once, the output written once.
    bytes: f64,
    want: Vec<f32>,
}

impl GpuCase {
    fn new(k: &GpuKernel) -> GpuCase {
        // 16×16 invocations of 4×4 outputs each: a 64×64 tile of the output per workgroup.
        let tiled_groups = k
            .tiled_groups()
            .map(|(x, y)| (x as u32, y as u32, 1))
            .unwrap_or_default();
        match *k {
            GpuKernel::Gemm { m, n, k } => {
                let (mu, nu, ku) = (m as usize, n as usize, k as usize);
                let (a, b) = (fill(mu * ku, 1), fill(ku * nu, 2));
                let want = reference_gemm(&a, &b, mu, nu, ku);
                GpuCase {
                    wgsl: tiled_shader(GEMM_LOADS),
                    a,
                    b,
                    out_len: mu * nu,
                    uniform: vec![m, n, k, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    groups: tiled_groups,
                    flops: 2.0 * (mu * nu * ku) as f64,
                    bytes: 4.0 * (mu * ku + ku * nu + mu * nu) as f64,
                    want,
                }
            }
            GpuKernel::Conv {
                c,
                h,
                oc,
                k,
                stride,
            } => {
                let pad = k / 2;
                let oh = conv_out_side(h.into(), k.into(), stride.into()) as u32;
                let (cu, hu, ocu, ku, ohu) =
                    (c as usize, h as usize, oc as usize, k as usize, oh as usize);
                let (x, w) = (fill(cu * hu * hu, 3), fill(ocu * cu * ku * ku, 4));
                let want = reference_conv(&x, &w, cu, hu, ocu, ku, stride as usize);
                let total = ocu * ohu * ohu;
                let (pixels, taps) = (oh * oh, c * k * k);
                GpuCase {
                    wgsl: tiled_shader(CONV_LOADS),
                    bytes: 4.0 * (x.len() + w.len() + total) as f64,
                    // A = weights (out channels × taps), B = the image gathered as im2col.
                    a: w,
                    b: x,
                    out_len: total,
                    uniform: vec![oc, pixels, taps, c, h, oh, k, stride, pad, 0, 0, 0],
                    groups: tiled_groups,
                    flops: 2.0 * (total * cu * ku * ku) as f64,
                    want,
                }
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
                GpuCase {
                    wgsl: ELTWISE_WGSL.to_string(),
                    a,
                    b,
                    out_len: nu,
                    uniform: vec![n, u32::from(!add), 0, 0],
                    groups: grid_1d(nu),
                    flops: nu as f64,
                    bytes: 4.0 * (if add { 3 } else { 2 } * nu) as f64,
                    want,
                }
            }
        }
    }
}

/// Row-major C = A·B on the CPU with faer (exact enough to check f32 GPU sums over k ≤ 4096).
fn reference_gemm(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    let am = faer::MatRef::from_row_major_slice(a, m, k);
    let bm = faer::MatRef::from_row_major_slice(b, k, n);
    let mut c = faer::Mat::<f32>::zeros(m, n);
    faer::linalg::matmul::matmul(
        c.as_mut(),
        faer::Accum::Replace,
        am,
        bm,
        1.0f32,
        faer::Par::rayon(0),
    );
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        out.extend((0..n).map(|j| c[(i, j)]));
    }
    out
}

/// Direct NCHW convolution, batch 1, square image and kernel, zero padding k/2.
fn reference_conv(
    x: &[f32],
    w: &[f32],
    c: usize,
    h: usize,
    oc: usize,
    k: usize,
    stride: usize,
) -> Vec<f32> {
    let pad = k / 2;
    let oh = conv_out_side(h as u64, k as u64, stride as u64) as usize;
    let mut want = vec![0f32; oc * oh * oh];
    for o in 0..oc {
        for oy in 0..oh {
            for ox in 0..oh {
                let mut acc = 0f32;
                for ci in 0..c {
                    for ky in 0..k {
                        let Some(iy) = (oy * stride + ky).checked_sub(pad).filter(|&v| v < h)
                        else {
                            continue;
                        };
                        for kx in 0..k {
                            let Some(ix) = (ox * stride + kx).checked_sub(pad).filter(|&v| v < h)
                            else {
                                continue;
                            };
                            acc += x[(ci * h + iy) * h + ix] * w[((o * c + ci) * k + ky) * k + kx];
                        }
                    }
                }
                want[(o * oh + oy) * oh + ox] = acc;
            }
        }
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gemm_reference_is_row_major_a_times_b() {
        // [[1, 2, 3], [4, 5, 6]] · [[1, 0], [0, 1], [1, 1]] = [[4, 5], [10, 11]].
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        assert_eq!(reference_gemm(&a, &b, 2, 2, 3), vec![4.0, 5.0, 10.0, 11.0]);
    }

    #[test]
    fn the_conv_reference_pads_and_strides() {
        // One 3×3 channel, an all-ones 3×3 kernel, padding 1: each output sums its neighbourhood.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let w = [1.0; 9];
        let y = reference_conv(&x, &w, 1, 3, 1, 3, 1);
        assert_eq!(
            y,
            vec![12.0, 21.0, 16.0, 27.0, 45.0, 33.0, 24.0, 39.0, 28.0]
        );
        // Stride 2 keeps the corners only.
        assert_eq!(
            reference_conv(&x, &w, 1, 3, 1, 3, 2),
            vec![12.0, 16.0, 24.0, 28.0]
        );
    }

    #[test]
    fn one_dimensional_launches_stay_under_the_workgroup_limit() {
        assert_eq!(grid_1d(256), (1, 1, 1));
        assert_eq!(grid_1d(257), (2, 1, 1));
        // 16 M elements: 65,536 workgroups split into two rows of 65,535.
        assert_eq!(grid_1d(1 << 24), (65_535, 2, 1));
    }

    #[test]
    fn the_error_is_relative_to_the_largest_reference_value() {
        assert_eq!(rel_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((rel_error(&[1.0, 3.0], &[1.0, 4.0]) - 0.25).abs() < 1e-12);
        assert_eq!(rel_error(&[], &[1.0]), f64::INFINITY);
    }

    #[test]
    fn every_kernel_case_fits_its_launch() {
        // The launch covers the output: 64×64 tiles for the tiled shaders, 256 per group otherwise.
        for k in [
            GpuKernel::Gemm {
                m: 100,
                n: 70,
                k: 33,
            },
            GpuKernel::Conv {
                c: 3,
                h: 56,
                oc: 16,
                k: 3,
                stride: 2,
            },
            GpuKernel::Add { n: 1000 },
        ] {
            let case = GpuCase::new(&k);
            assert_eq!(case.want.len(), case.out_len);
            let (gx, gy, gz) = case.groups;
            let covered = match k {
                GpuKernel::Add { .. } | GpuKernel::Relu { .. } => 256 * (gx * gy * gz) as usize,
                _ => 64 * 64 * (gx * gy * gz) as usize,
            };
            assert!(covered >= case.out_len, "{k:?}");
            assert!(case.wgsl.contains("fn main"));
        }
    }
}
