//! Times the Pareto marking of 1,000,000 random points on two and three objectives (the sweep
//! table's `--pareto latency,energy[,area]`). Run: `cargo run --release -p vchip-explore --example
//! pareto_million`.

use vchip_explore::sweep::{pareto_front, SplitMix};

fn main() {
    let n = 1_000_000;
    let mut rng = SplitMix(1);
    let col =
        |rng: &mut SplitMix| -> Vec<f64> { (0..n).map(|_| rng.below(1 << 30) as f64).collect() };
    let (a, b, c) = (col(&mut rng), col(&mut rng), col(&mut rng));
    for objs in [vec![a.clone(), b.clone()], vec![a, b, c]] {
        let start = std::time::Instant::now();
        let front = pareto_front(&objs);
        println!(
            "{} objectives, {n} points: {} on the front in {:.3} s",
            objs.len(),
            front.iter().filter(|&&f| f).count(),
            start.elapsed().as_secs_f64()
        );
    }
}
