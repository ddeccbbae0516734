//! Property tests of the DSL parser: it never panics, and what it builds matches closed forms.
use proptest::prelude::*;
use vchip_workloads::dsl::parse_dsl;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let _ = parse_dsl("fuzz.vnet", &src, Default::default());
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
        "input", "[", "]", "3", ",", "224", "conv", "k=3", "s=2", "{", "}", "(", ")", "block", "b", "repeat",
        "residual", "shortcut", "gate", "if", "else", "let", "x", "=", "-", "*", "/", "\n", ";", "#c", "relu", "linear", "as",
    ]), 0..60)) {
        let _ = parse_dsl("soup.vnet", &tokens.join(" "), Default::default());
    }

    /// A chain of convolutions has exactly the MACs of the standard formula.
    #[test]
    fn conv_chain_macs_match_formula(
        c0 in 1u64..16, hw in 8u64..64,
        layers in prop::collection::vec((1u64..32, 1u64..4, 1u64..3), 1..6),
        batch in 1i64..4,
    ) {
        let mut src = format!("input [{c0}, {hw}, {hw}]\n");
        let (mut c, mut h, mut expected) = (c0, hw, 0u64);
        for (out, k, s) in &layers {
            let k = 2 * k - 1; // odd kernels with 'same' padding k/2
            src.push_str(&format!("conv {out} k={k} s={s}\n"));
            let ho = (h + 2 * (k / 2) - k) / s + 1;
            expected += batch as u64 * out * ho * ho * c * k * k;
            c = *out;
            h = ho;
        }
        let vars = [("batch".to_string(), batch)].into_iter().collect();
        let t = parse_dsl("chain.vnet", &src, vars).unwrap();
        prop_assert_eq!(t.totals().macs, expected);
    }

    #[test]
    fn repeat_and_blocks_expand_exactly(n in 0i64..50, m in 1i64..5) {
        let src = format!("input [8]\nblock b() {{ relu; sigmoid }}\nrepeat {n} {{ repeat {m} {{ b() }} }}\nlinear 4\n");
        let t = parse_dsl("rep.vnet", &src, Default::default()).unwrap();
        prop_assert_eq!(t.ops.len() as i64, 2 * n * m + 1);
    }
}

#[test]
fn errors_carry_line_and_column() {
    let err = parse_dsl(
        "e.vnet",
        "input [3, 8, 8]\n\nconv 4 k=3 s=)\n",
        Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("e.vnet:3:"), "{err}");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let src = format!(
        "input [3]\n{}relu{}",
        "scope a { ".repeat(10_000),
        " }".repeat(10_000)
    );
    let err = parse_dsl("deep.vnet", &src, Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nesting deeper"), "{err}");
    let src = format!(
        "input [3]\nlet x = {}1{}\nrelu\n",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(parse_dsl("deep.vnet", &src, Default::default()).is_err());
}

#[test]
fn huge_repeat_counts_are_refused() {
    let err = parse_dsl(
        "big.vnet",
        "input [3]\nrepeat 1000000 { repeat 1000000 { relu } }\n",
        Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("more than 1000000 ops"), "{err}");
}

#[test]
fn absurd_dimensions_are_refused() {
    let err = parse_dsl(
        "huge.vnet",
        "input [1000000, 1000000, 1000000]\nrelu\n",
        Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("too large") || err.contains("more than"),
        "{err}"
    );
}

/// A flat 100,000-term expression once overflowed the stack (evaluating and dropping a tree as deep
/// as the chain); now it is a located error, and a long but reasonable one still works.
#[test]
fn a_huge_flat_expression_is_an_error_not_a_stack_overflow() {
    let src = format!("let x = {}1\ninput [3]\nrelu\n", "1 + ".repeat(100_000));
    let err = parse_dsl("flat.vnet", &src, Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("flat.vnet:1:") && err.contains("operators"),
        "{err}"
    );
    let ok = format!("let c = {}1\ninput [c]\nrelu\n", "1 + ".repeat(999));
    let t = parse_dsl("ok.vnet", &ok, Default::default()).unwrap();
    assert_eq!(t.tensors[0].shape[..], [1, 1000]);
}

/// Names are what a small file multiplies: 50,000 ops under one 6,000-character scope took 1.7 GB
/// (issue 20's 60 KB file under the op cap exhausted memory). A name beyond 4 KiB is refused at
/// once, and the names of a whole trace are capped.
#[test]
fn long_names_cannot_multiply_into_gigabytes() {
    let long = format!(
        "input [4]\nscope {} {{\n repeat 50000 {{ relu }}\n}}\n",
        "a".repeat(6000)
    );
    let err = parse_dsl("names.vnet", &long, Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 4096"), "{err}");
    let many = format!(
        "input [4]\nscope {} {{\n repeat 200000 {{ relu }}\n}}\n",
        "a".repeat(2000)
    );
    let err = parse_dsl("names.vnet", &many, Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 256 MiB"), "{err}");
}
