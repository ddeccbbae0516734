use std::time::Instant;
fn main() {
    let spec = "ofa-mbv3:r=224:d=34234:ks=35735735735735735735:e=34634634634634634634";
    let hw = vchip::session::load_spec("edge-tpu-like", &Default::default()).unwrap();
    let m = vchip_hwmodels::build_model(hw.clone()).unwrap();
    let req = vchip::session::TraceRequest::default();
    let sim = vchip::session::SimRequest::default();
    let n = 2000;
    let t0 = Instant::now();
    let mut traces = Vec::new();
    for _ in 0..n {
        traces.push(req.load(spec, hw.precision.as_deref()).unwrap());
    }
    let t1 = Instant::now();
    let opts = vchip_hwmodels::CostOptions::default();
    let mut graphs = Vec::new();
    for t in &traces {
        graphs.push(vchip_sim::prepare(t, &opts).unwrap());
    }
    let t2 = Instant::now();
    for g in &graphs {
        let _ = vchip_sim::simulate_graph(g, m.as_ref(), &opts).unwrap();
    }
    let t3 = Instant::now();
    for t in &traces {
        let _ = vchip::session::simulate(spec, t, &hw, m.as_ref(), &req, &sim).unwrap();
    }
    let t4 = Instant::now();
    let us = |a: Instant, b: Instant| (b - a).as_secs_f64() / n as f64 * 1e6;
    println!("ops {} trace {:.1} us, prepare {:.1} us, simulate_graph {:.1} us, session::simulate {:.1} us", traces[0].ops.len(), us(t0,t1), us(t1,t2), us(t2,t3), us(t3,t4));
}
