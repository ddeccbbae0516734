//! One test per op fix the ONNX node-test conformance run found (scripts/onnx_conformance.py):
//! each builds the node the way ONNX's test case does and checks vchip's output shape, dtype
//! and name against the reference.

use super::malformed_tests::{encode, graph_model, int, ints, model, node};
use super::*;

fn trace(bytes: &[u8]) -> std::result::Result<Trace, String> {
    load_onnx("t.onnx", bytes, &TraceOptions::default()).map_err(|e| e.to_string())
}

/// Shape and dtype of the tensor named `name` (ONNX value names are kept).
fn out(t: &Trace, name: &str) -> (Vec<u64>, DType) {
    let x = t
        .tensors
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("no tensor `{name}`"));
    (x.shape.to_vec(), x.dtype)
}

#[test]
fn flatten_negative_axes_count_from_the_rank() {
    // test_flatten_negative_axis{1,4}: a [2, 3, 4, 5] input.
    for (axis, want) in [(-1, vec![24, 5]), (-4, vec![1, 120]), (4, vec![120, 1])] {
        let t = trace(&model(
            "Flatten",
            &[("x", &[2, 3, 4, 5])],
            vec![int("axis", axis)],
        ))
        .unwrap();
        assert_eq!(out(&t, "y").0, want, "axis {axis}");
    }
    let e = trace(&model(
        "Flatten",
        &[("x", &[2, 3, 4, 5])],
        vec![int("axis", 5)],
    ))
    .unwrap_err();
    assert!(e.contains("axis 5 is outside [-4, 4]"), "{e}");
}

#[test]
fn pools_honour_dilations_and_ceil_mode() {
    let pool = |op: &str, x: &[i64], attrs: Vec<AttributeProto>| {
        out(&trace(&model(op, &[("x", x)], attrs)).unwrap(), "y").0
    };
    // test_maxpool_2d_dilations: 4x4 input, 2x2 kernel, dilation 2 -> 2x2.
    let dil = || vec![ints("kernel_shape", &[2, 2]), ints("dilations", &[2, 2])];
    assert_eq!(pool("MaxPool", &[1, 1, 4, 4], dil()), [1, 1, 2, 2]);
    assert_eq!(pool("AveragePool", &[1, 1, 4, 4], dil()), [1, 1, 2, 2]);
    // test_maxpool_2d_ceil: 4x4, 3x3 kernel, stride 2, ceil -> 2x2.
    let ceil = |k: i64, s: i64| {
        vec![
            ints("kernel_shape", &[k, k]),
            ints("strides", &[s, s]),
            int("ceil_mode", 1),
        ]
    };
    assert_eq!(pool("MaxPool", &[1, 1, 4, 4], ceil(3, 2)), [1, 1, 2, 2]);
    // test_maxpool_2d_ceil_output_size_reduce_by_one: a last window starting past the input is
    // dropped (2x2 input, 1x1 kernel, stride 2 -> 1x1, not 2x2).
    assert_eq!(pool("MaxPool", &[1, 1, 2, 2], ceil(1, 2)), [1, 1, 1, 1]);
    // test_averagepool_2d_ceil_last_window_starts_on_pad: same rule with padding.
    let mut a = ceil(3, 3);
    a.push(ints("pads", &[1, 1, 1, 1]));
    assert_eq!(pool("AveragePool", &[1, 3, 2, 2], a), [1, 3, 1, 1]);
}

#[test]
fn gather_nd_keeps_the_index_tuples_not_the_indices() {
    // test_gathernd_example_int32: data [2, 2], indices [2, 2] -> [2].
    let t = trace(&model(
        "GatherND",
        &[("d", &[2, 2]), ("i", &[2, 2])],
        vec![],
    ))
    .unwrap();
    assert_eq!(out(&t, "y").0, [2]);
    // ..._batch_dim1: data [2, 2, 2], indices [2, 1], batch_dims 1 -> [2, 2].
    let t = trace(&model(
        "GatherND",
        &[("d", &[2, 2, 2]), ("i", &[2, 1])],
        vec![int("batch_dims", 1)],
    ))
    .unwrap();
    assert_eq!(out(&t, "y").0, [2, 2]);
    let e = trace(&model(
        "GatherND",
        &[("d", &[2, 2]), ("i", &[2, 3])],
        vec![],
    ))
    .unwrap_err();
    assert!(e.contains("do not index data"), "{e}");
}

#[test]
fn split_sizes_must_add_up_and_runtime_axes_need_a_declared_shape() {
    let e = trace(&model(
        "Split",
        &[("x", &[6])],
        vec![ints("split", &[2, 2])],
    ))
    .unwrap_err();
    assert!(e.contains("do not add up"), "{e}");
    // Squeeze with axes computed at run time and no declared output: refused, not guessed.
    let e = trace(&model(
        "Squeeze",
        &[("x", &[1, 3, 1, 5]), ("axes", &[1])],
        vec![],
    ))
    .unwrap_err();
    assert!(e.contains("needs constant axes"), "{e}");
    let e = trace(&model(
        "ReduceSum",
        &[("x", &[3, 2, 2]), ("axes", &[1])],
        vec![],
    ))
    .unwrap_err();
    assert!(e.contains("needs constant axes"), "{e}");
}

#[test]
fn outputs_keep_their_names_and_onnx_dtypes() {
    let inputs: &[(&str, &[i64])] = &[("a", &[3, 4]), ("b", &[3, 4])];
    let cast_to_f16 = AttributeProto {
        name: "to".into(),
        i: 10,
        r#type: 2,
        ..Default::default()
    };
    let t = trace(&graph_model(
        vec![
            node("Equal", &["a", "b"], "eq", vec![]),
            node("Cast", &["a"], "half", vec![cast_to_f16]),
            node("CastLike", &["half", "b"], "back", vec![]),
            node("Add", &["back", "a"], "sum", vec![]),
        ],
        inputs,
    ))
    .unwrap();
    assert_eq!(
        out(&t, "eq"),
        (vec![3, 4], DType::Int64),
        "bool is index-like"
    );
    assert_eq!(out(&t, "half"), (vec![3, 4], DType::F16));
    // CastLike takes input 1's type, not its shape.
    assert_eq!(out(&t, "back"), (vec![3, 4], DType::F32));
    assert_eq!(out(&t, "sum").1, DType::F32);
}

#[test]
fn attention_opset_23_shapes_and_macs() {
    // test_attention_4d_gqa-like: Q [2, 9, 4, 8], K/V [2, 3, 6, 8]/[2, 3, 6, 10], past 5 steps.
    let g = graph_model(
        vec![NodeProto {
            input: vec![
                "q".into(),
                "k".into(),
                "v".into(),
                "".into(),
                "pk".into(),
                "pv".into(),
            ],
            output: vec!["y".into(), "present_key".into(), "present_value".into()],
            name: "att".into(),
            op_type: "Attention".into(),
            attribute: vec![],
            domain: String::new(),
        }],
        &[
            ("q", &[2, 9, 4, 8]),
            ("k", &[2, 3, 6, 8]),
            ("v", &[2, 3, 6, 10]),
            ("pk", &[2, 3, 5, 8]),
            ("pv", &[2, 3, 5, 10]),
        ],
    );
    let t = trace(&g).unwrap();
    assert_eq!(out(&t, "y").0, [2, 9, 4, 10]);
    assert_eq!(out(&t, "present_key").0, [2, 3, 11, 8]);
    assert_eq!(out(&t, "present_value").0, [2, 3, 11, 10]);
    // QKᵀ 2·9·4·11·8 plus ·V 2·9·4·11·10 MACs.
    assert_eq!(t.ops[0].macs, 2 * 9 * 4 * 11 * (8 + 10));
    // 3-D inputs need the head counts; heads that do not divide are refused.
    let three_d = |qh: i64| {
        model(
            "Attention",
            &[("q", &[2, 4, 72]), ("k", &[2, 6, 24]), ("v", &[2, 6, 24])],
            vec![int("q_num_heads", qh), int("kv_num_heads", 3)],
        )
    };
    assert_eq!(out(&trace(&three_d(9)).unwrap(), "y").0, [2, 4, 72]);
    let e = trace(&three_d(7)).unwrap_err();
    assert!(
        e.contains("`q_num_heads` dividing its hidden size 72"),
        "{e}"
    );
}

#[test]
fn losses_and_layer_norm_statistics_have_their_shapes() {
    let s = |v: &str| AttributeProto {
        name: "reduction".into(),
        s: v.as_bytes().to_vec(),
        r#type: 3,
        ..Default::default()
    };
    let sce = |r: &str| {
        let t = trace(&model(
            "SoftmaxCrossEntropyLoss",
            &[("scores", &[3, 5, 2]), ("labels", &[3, 2])],
            vec![s(r)],
        ))
        .unwrap();
        out(&t, "y").0
    };
    assert_eq!(sce("none"), [3, 2]);
    assert!(sce("mean").is_empty(), "a scalar");
    let t = trace(&graph_model(
        vec![NodeProto {
            input: vec!["x".into(), "w".into(), "b".into()],
            output: vec!["y".into(), "mean".into(), "inv_std".into()],
            name: "ln".into(),
            op_type: "LayerNormalization".into(),
            attribute: vec![int("axis", -2)],
            domain: String::new(),
        }],
        &[("x", &[2, 3, 4, 5]), ("w", &[4, 5]), ("b", &[4, 5])],
    ))
    .unwrap();
    assert_eq!(out(&t, "mean"), (vec![2, 3, 1, 1], DType::F32));
    assert_eq!(out(&t, "inv_std").0, [2, 3, 1, 1]);
}

#[test]
fn boolean_shape_arithmetic_folds() {
    // The GQA test of Attention's function body: Where(And(Not(Equal(a, b)), ...), ...) on
    // shape values must fold, or the Expand it feeds has no shape.
    let inputs: &[(&str, &[i64])] = &[("x", &[2, 8]), ("z", &[2, 1])];
    let t = trace(&graph_model(
        vec![
            node("Shape", &["x"], "sx", vec![]),
            node("Shape", &["z"], "sz", vec![]),
            node("Equal", &["sx", "sz"], "eq", vec![]),
            node("Not", &["eq"], "ne", vec![]),
            node("And", &["ne", "ne"], "both", vec![]),
            node("Where", &["both", "sx", "sz"], "shape", vec![]),
            node("Expand", &["z", "shape"], "y", vec![]),
        ],
        inputs,
    ))
    .unwrap();
    // [2, 8] vs [2, 1]: Equal [1, 0], Not [0, 1], Where picks 8 where they differ: [2, 8].
    assert_eq!(out(&t, "y").0, [2, 8]);
}

#[test]
fn shapes_of_the_ops_added_for_conformance() {
    let y = |op: &str, inputs: &[(&str, &[i64])], attrs: Vec<AttributeProto>| {
        out(&trace(&model(op, inputs, attrs)).unwrap(), "y").0
    };
    // test_convtranspose: [1, 1, 3, 3] by a [1, 2, 3, 3] kernel -> [1, 2, 5, 5]; strides 3 with
    // output_padding 1 (test_convtranspose_output_shape family) -> [1, 2, 10, 8].
    assert_eq!(
        y(
            "ConvTranspose",
            &[("x", &[1, 1, 3, 3]), ("w", &[1, 2, 3, 3])],
            vec![]
        ),
        [1, 2, 5, 5]
    );
    assert_eq!(
        y(
            "ConvTranspose",
            &[("x", &[1, 1, 3, 3]), ("w", &[1, 2, 3, 3])],
            vec![ints("strides", &[3, 2]), ints("output_padding", &[1, 1])]
        ),
        [1, 2, 10, 8]
    );
    // 1-D and 3-D pooling (test_averagepool_1d_default, test_maxpool_3d_default).
    assert_eq!(
        y(
            "AveragePool",
            &[("x", &[1, 3, 32])],
            vec![ints("kernel_shape", &[2])]
        ),
        [1, 3, 31]
    );
    assert_eq!(
        y(
            "MaxPool",
            &[("x", &[1, 3, 32, 32, 32])],
            vec![ints("kernel_shape", &[2, 2, 2])]
        ),
        [1, 3, 31, 31, 31]
    );
    assert_eq!(
        y(
            "SpaceToDepth",
            &[("x", &[1, 2, 4, 6])],
            vec![int("blocksize", 2)]
        ),
        [1, 8, 2, 3]
    );
    assert_eq!(
        y(
            "DepthToSpace",
            &[("x", &[1, 8, 2, 3])],
            vec![int("blocksize", 2)]
        ),
        [1, 2, 4, 6]
    );
    // GridSample: [N, C, H, W] sampled at a [N, 6, 7, 2] grid -> [N, C, 6, 7].
    assert_eq!(
        y(
            "GridSample",
            &[("x", &[1, 3, 4, 4]), ("g", &[1, 6, 7, 2])],
            vec![]
        ),
        [1, 3, 6, 7]
    );
    // LSTM over 5 steps of batch 2, 3 inputs, hidden 4, one direction.
    let t = trace(&graph_model(
        vec![NodeProto {
            input: vec!["x".into(), "w".into(), "r".into()],
            output: vec!["y".into(), "y_h".into(), "y_c".into()],
            name: "lstm".into(),
            op_type: "LSTM".into(),
            attribute: vec![int("hidden_size", 4)],
            domain: String::new(),
        }],
        &[("x", &[5, 2, 3]), ("w", &[1, 16, 3]), ("r", &[1, 16, 4])],
    ))
    .unwrap();
    assert_eq!(out(&t, "y").0, [5, 1, 2, 4]);
    assert_eq!(out(&t, "y_c").0, [1, 2, 4]);
    // Four gates of [x, h] (3 + 4) by 4 hidden, per step and batch row.
    assert_eq!(t.ops[0].macs, 5 * 2 * 7 * 16);
}

/// A model with one Relu on an input of named symbolic dims (`batch`, `seq`) and a fixed 64.
fn symbolic_model(with_shape: bool) -> Vec<u8> {
    let dim = |p: Option<&str>, v: Option<i64>| Dimension {
        dim_value: v,
        dim_param: p.map(str::to_string),
    };
    let input = ValueInfoProto {
        name: "x".into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
                shape: with_shape.then(|| TensorShapeProto {
                    dim: vec![
                        dim(Some("batch"), None),
                        dim(Some("seq"), None),
                        dim(None, Some(64)),
                    ],
                }),
            }),
        }),
    };
    encode(GraphProto {
        node: vec![node("Relu", &["x"], "y", vec![])],
        name: "g".into(),
        input: vec![input],
        ..Default::default()
    })
}

#[test]
fn symbolic_dimensions_are_bound_by_the_exporters_names() {
    let opts = |dims: &[(&str, u64)]| TraceOptions {
        dims: dims.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..TraceOptions::default()
    };
    let t = load_onnx(
        "s.onnx",
        &symbolic_model(true),
        &opts(&[("batch", 8), ("seq", 2048)]),
    )
    .unwrap();
    assert_eq!(out(&t, "y").0, [8, 2048, 64]);
    // Unbound: the error names the dimension and the flag that binds it.
    let e = load_onnx("s.onnx", &symbolic_model(true), &opts(&[("batch", 8)]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("symbolic (`seq`)") && e.contains("--dim seq=N"),
        "{e}"
    );
    // A name no input has is a typo, listed against the real ones.
    let e = load_onnx("s.onnx", &symbolic_model(true), &opts(&[("sequence", 8)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`sequence`") && e.contains("batch, seq"), "{e}");
    // An input without a declared shape is named.
    let e = load_onnx("s.onnx", &symbolic_model(false), &TraceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("graph input `x`") && e.contains("declares no shape"),
        "{e}"
    );
}

/// Review findings (session 10): each was a silent wrong number.
#[test]
fn run_time_inputs_with_module_like_names_are_data_not_weights() {
    let dim = |p: Option<&str>, v: Option<i64>| Dimension {
        dim_value: v,
        dim_param: p.map(str::to_string),
    };
    let input = |name: &str| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: vec![dim(Some("batch"), None), dim(None, Some(512))],
                }),
            }),
        }),
    };
    let bytes = encode(GraphProto {
        node: vec![node("Add", &["x", "state.h"], "y", vec![])],
        name: "g".into(),
        input: vec![input("x"), input("state.h")],
        ..Default::default()
    });
    let opts = TraceOptions {
        dims: vec![("batch".into(), 8)],
        ..TraceOptions::default()
    };
    let t = load_onnx("s.onnx", &bytes, &opts).unwrap();
    assert_eq!(out(&t, "state.h").0, [8, 512]);
    assert_eq!(t.totals().params, 0);
}

#[test]
fn small_int8_initializers_stay_weights_and_inputs_keep_their_names() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![16, 64],
        data_type: 3, // int8
        raw_data: vec![1u8; 16 * 64],
        ..Default::default()
    };
    let scale = TensorProto {
        name: "s".into(),
        dims: vec![],
        data_type: 1,
        float_data: vec![0.1],
        ..Default::default()
    };
    let mut g = GraphProto {
        node: vec![
            node("DequantizeLinear", &["w", "s"], "wd", vec![]),
            node("Identity", &["x"], "alias", vec![]),
            node("MatMul", &["alias", "wd"], "y", vec![]),
        ],
        name: "g".into(),
        input: vec![super::malformed_tests::value("x", &[2, 16])],
        initializer: vec![w, scale],
        output: vec![ValueInfoProto {
            name: "alias".into(),
            r#type: None,
        }],
        ..Default::default()
    };
    g.output.push(ValueInfoProto {
        name: "y".into(),
        r#type: None,
    });
    let bytes = encode(g);
    let t = trace(&bytes).unwrap();
    let tot = t.totals();
    assert_eq!(
        (tot.params, tot.weight_bytes),
        (1024, 1024),
        "int8 weights, one byte each"
    );
    // The graph input keeps `x` although an Identity hands it on as a graph output.
    assert!(t.tensors.iter().any(|x| x.name == "x"));
    // Pool windows must be positive.
    let e = trace(&model(
        "MaxPool",
        &[("x", &[1, 1, 4, 4])],
        vec![ints("kernel_shape", &[2, 2]), ints("strides", &[0, 0])],
    ))
    .unwrap_err();
    assert!(e.contains("`strides` [0, 0] must give one value"), "{e}");
}

#[test]
fn unnamed_optional_outputs_are_not_written() {
    let t = trace(&graph_model(
        vec![NodeProto {
            input: vec!["q".into(), "k".into(), "v".into()],
            output: vec!["y".into(), "".into(), "".into(), "qk".into()],
            name: "att".into(),
            op_type: "Attention".into(),
            attribute: vec![],
            domain: String::new(),
        }],
        &[
            ("q", &[1, 4, 3, 8]),
            ("k", &[1, 4, 6, 8]),
            ("v", &[1, 4, 6, 8]),
        ],
    ))
    .unwrap();
    assert_eq!(t.ops[0].outputs.len(), 2);
    assert_eq!(out(&t, "qk").0, [1, 4, 3, 6]);
}

/// An initializer of `data_type` (ONNX TensorProto.DataType) filled with ones.
fn init(name: &str, dims: &[i64], data_type: i32) -> TensorProto {
    let n: i64 = dims.iter().product();
    let width = match data_type {
        2 | 3 => 1,
        6 => 4,
        _ => 4,
    };
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type,
        raw_data: vec![1u8; (n * width) as usize],
        ..Default::default()
    }
}

fn qdq_conv_graph() -> Vec<u8> {
    let mut g = GraphProto {
        node: vec![
            node("QuantizeLinear", &["x", "x_s", "x_zp"], "xq", vec![]),
            node("DequantizeLinear", &["xq", "x_s", "x_zp"], "xd", vec![]),
            node(
                "DequantizeLinear",
                &["w", "w_s", "w_zp"],
                "wd",
                vec![int("axis", 0)],
            ),
            node("DequantizeLinear", &["b", "b_s"], "bd", vec![]),
            node(
                "Conv",
                &["xd", "wd", "bd"],
                "c",
                vec![ints("pads", &[1, 1, 1, 1])],
            ),
            node("Relu", &["c"], "r", vec![]),
            node("QuantizeLinear", &["r", "y_s", "y_zp"], "rq", vec![]),
            node("DequantizeLinear", &["rq", "y_s", "y_zp"], "rd", vec![]),
        ],
        name: "qdq".into(),
        input: vec![super::malformed_tests::value("x", &[1, 8, 8, 8])],
        initializer: vec![
            init("x_s", &[], 1),
            init("x_zp", &[], 2),
            init("w", &[16, 8, 3, 3], 3),
            init("w_s", &[16], 1),
            init("w_zp", &[16], 3),
            init("b", &[16], 6),
            init("b_s", &[16], 1),
            init("y_s", &[], 1),
            init("y_zp", &[], 2),
        ],
        ..Default::default()
    };
    g.output.push(ValueInfoProto {
        name: "rd".into(),
        r#type: None,
    });
    encode(g)
}

#[test]
fn qdq_pairs_fold_into_the_op_they_wrap() {
    let t = trace(&qdq_conv_graph()).unwrap();
    let kinds: Vec<(&str, DType)> = t
        .ops
        .iter()
        .map(|o| (o.kind.type_name(), o.dtype))
        .collect();
    // The input's quantize and the output's dequantize stay (the graph's edges); the weight,
    // bias and activation pairs around the convolution cost nothing.
    assert_eq!(t.ops.len(), 4, "{kinds:?}");
    let conv = t.ops.iter().find(|o| o.name.ends_with("Conv_c")).unwrap();
    assert_eq!(conv.dtype, DType::Int8, "the convolution runs at int8");
    assert_eq!(conv.macs, 16 * 8 * 9 * 8 * 8, "the float model's MACs");
    // It reads the int8 weight as stored, under the initializer's name.
    let w = &t.tensors[conv.weights[0].0 as usize];
    assert_eq!(
        (w.name.as_str(), w.dtype, w.bytes()),
        ("w", DType::Int8, 1152)
    );
    assert_eq!(t.tensors[conv.weights[1].0 as usize].name, "b");
    // Its input is the quantized tensor; its own output is float (the graph's type), the ReLU's
    // is stored int8 because a folded QuantizeLinear reads it.
    assert_eq!(out(&t, "xq").1, DType::Int8);
    assert_eq!(out(&t, "c").1, DType::F32);
    assert_eq!(out(&t, "r").1, DType::Int8);
    assert_eq!(out(&t, "rd"), (vec![1, 16, 8, 8], DType::F32));
    // Folded values name no tensor.
    for gone in ["xd", "wd", "bd", "rq"] {
        assert!(t.tensors.iter().all(|x| x.name != gone), "{gone}");
    }
    assert_eq!(t.totals().params, 16 * 8 * 9 + 16);
}

#[test]
fn integer_convolutions_are_convolutions_on_narrow_operands() {
    let mut x = super::malformed_tests::value("x", &[1, 8, 8, 8]);
    if let Some(t) = x.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) {
        t.elem_type = 2; // uint8
    }
    let graph = |n: NodeProto, inits: Vec<TensorProto>| {
        let mut g = GraphProto {
            node: vec![n],
            name: "g".into(),
            input: vec![x.clone()],
            initializer: inits,
            ..Default::default()
        };
        g.output.push(ValueInfoProto {
            name: "y".into(),
            r#type: None,
        });
        encode(g)
    };
    let qlinear = graph(
        node(
            "QLinearConv",
            &["x", "x_s", "x_zp", "w", "w_s", "w_zp", "y_s", "y_zp"],
            "y",
            vec![],
        ),
        vec![
            init("x_s", &[], 1),
            init("x_zp", &[], 2),
            init("w", &[16, 8, 3, 3], 3),
            init("w_s", &[], 1),
            init("w_zp", &[], 3),
            init("y_s", &[], 1),
            init("y_zp", &[], 3),
        ],
    );
    let t = trace(&qlinear).unwrap();
    assert_eq!(t.ops.len(), 1);
    assert_eq!(
        (t.ops[0].dtype, t.ops[0].macs),
        (DType::Int8, 16 * 8 * 9 * 6 * 6)
    );
    assert_eq!(out(&t, "y"), (vec![1, 16, 6, 6], DType::Int8));
    assert_eq!(
        t.totals().weight_bytes,
        1152,
        "int8 weights; scales and zero points not counted"
    );
    let integer = graph(
        node("ConvInteger", &["x", "w"], "y", vec![]),
        vec![init("w", &[16, 8, 3, 3], 3)],
    );
    let t = trace(&integer).unwrap();
    assert_eq!(
        (t.ops[0].dtype, t.ops[0].macs),
        (DType::Int8, 16 * 8 * 9 * 6 * 6)
    );
    // int32 accumulators: vchip's integer class.
    assert_eq!(out(&t, "y"), (vec![1, 16, 6, 6], DType::Int64));
}

fn ms(mut n: NodeProto) -> NodeProto {
    n.domain = "com.microsoft".into();
    n
}

fn graph_with(
    nodes: Vec<NodeProto>,
    inputs: &[(&str, &[i64])],
    inits: Vec<TensorProto>,
    outputs: &[&str],
) -> Vec<u8> {
    encode(GraphProto {
        node: nodes,
        name: "g".into(),
        input: inputs
            .iter()
            .map(|(n, d)| super::malformed_tests::value(n, d))
            .collect(),
        initializer: inits,
        output: outputs
            .iter()
            .map(|o| ValueInfoProto {
                name: o.to_string(),
                r#type: None,
            })
            .collect(),
        ..Default::default()
    })
}

#[test]
fn matmul_nbits_reads_int4_weights_with_their_block_scales() {
    // N = 32 outputs, K = 64, blocks of 32: B is [32, 2, 16] bytes, scales one per block.
    let bytes = graph_with(
        vec![ms(node(
            "MatMulNBits",
            &["a", "b", "scales", "zp"],
            "y",
            vec![
                int("K", 64),
                int("N", 32),
                int("bits", 4),
                int("block_size", 32),
            ],
        ))],
        &[("a", &[1, 4, 64])],
        vec![
            init("b", &[32, 2, 16], 2),
            init("scales", &[64], 1),
            init("zp", &[32], 2),
        ],
        &["y"],
    );
    let t = trace(&bytes).unwrap();
    assert_eq!(out(&t, "y"), (vec![1, 4, 32], DType::F32));
    let op = &t.ops[0];
    assert_eq!(
        (op.kind.type_name(), op.macs, op.dtype),
        ("matmul", 4 * 64 * 32, DType::F32)
    );
    let w = &t.tensors[op.weights[0].0 as usize];
    assert_eq!(
        (w.name.as_str(), w.shape.to_vec(), w.dtype),
        ("b", vec![32, 64], DType::Int4)
    );
    // Exactly the initializers' bytes: packed weights, f32 scales, uint8 zero points.
    assert_eq!(t.totals().weight_bytes, 32 * 2 * 16 + 64 * 4 + 32);
    let bad = graph_with(
        vec![ms(node(
            "MatMulNBits",
            &["a", "b", "scales"],
            "y",
            vec![
                int("K", 48),
                int("N", 32),
                int("bits", 4),
                int("block_size", 32),
            ],
        ))],
        &[("a", &[1, 4, 64])],
        vec![init("b", &[32, 2, 16], 2), init("scales", &[64], 1)],
        &["y"],
    );
    let e = trace(&bad).unwrap_err();
    assert!(
        e.contains("last dimension is 64 but attribute K is 48"),
        "{e}"
    );
}

#[test]
fn contrib_attention_and_norms_have_their_shapes() {
    // GroupQueryAttention: 8 query heads over 2 KV heads of 16, one new token after 15 cached.
    let gqa = graph_with(
        vec![{
            let mut n = ms(node(
                "GroupQueryAttention",
                &["q", "k", "v", "past_k", "past_v"],
                "y",
                vec![int("num_heads", 8), int("kv_num_heads", 2)],
            ));
            n.output
                .extend(["present_k".to_string(), "present_v".to_string()]);
            n
        }],
        &[
            ("q", &[1, 1, 128]),
            ("k", &[1, 1, 32]),
            ("v", &[1, 1, 32]),
            ("past_k", &[1, 2, 15, 16]),
            ("past_v", &[1, 2, 15, 16]),
        ],
        vec![],
        &["y", "present_k", "present_v"],
    );
    let t = trace(&gqa).unwrap();
    assert_eq!(out(&t, "y").0, [1, 1, 128]);
    assert_eq!(out(&t, "present_k").0, [1, 2, 16, 16]);
    match t.ops[0].kind {
        OpKind::Attention {
            heads,
            kv_heads,
            q_len,
            kv_len,
            head_dim,
            ..
        } => assert_eq!(
            (heads, kv_heads, q_len, kv_len, head_dim),
            (8, 2, 1, 16, 16)
        ),
        ref k => panic!("{k:?}"),
    }
    // The packed Attention: a QKV projection (a product with the weights), then the core.
    let packed = graph_with(
        vec![ms(node(
            "Attention",
            &["x", "w", "bias"],
            "y",
            vec![int("num_heads", 4)],
        ))],
        &[("x", &[2, 10, 64])],
        vec![init("w", &[64, 192], 1), init("bias", &[192], 1)],
        &["y"],
    );
    let t = trace(&packed).unwrap();
    assert_eq!(t.ops.len(), 2);
    assert_eq!(t.ops[0].macs, 2 * 10 * 64 * 192, "the projection");
    assert_eq!(out(&t, "y").0, [2, 10, 64]);
    assert_eq!(t.totals().params, 64 * 192 + 192);
    // SkipSimplifiedLayerNormalization: RMSNorm of input + skip, the sum as a fourth output.
    let skip = graph_with(
        vec![{
            let mut n = ms(node(
                "SkipSimplifiedLayerNormalization",
                &["x", "s", "gamma"],
                "y",
                vec![],
            ));
            n.output
                .extend(["".to_string(), "".to_string(), "sum".to_string()]);
            n
        }],
        &[("x", &[1, 5, 64]), ("s", &[1, 5, 64])],
        vec![init("gamma", &[64], 1)],
        &["y", "sum"],
    );
    let t = trace(&skip).unwrap();
    assert_eq!(out(&t, "y").0, [1, 5, 64]);
    assert_eq!(out(&t, "sum").0, [1, 5, 64]);
    assert!(matches!(
        t.ops[0].kind,
        OpKind::Norm {
            kind: NormKind::Rms,
            ..
        }
    ));
}

/// An input whose dimensions are numbers or exporter names.
fn named_input(name: &str, dims: &[&str]) -> ValueInfoProto {
    let mut v = super::malformed_tests::value(name, &[]);
    if let Some(shape) = v
        .r#type
        .as_mut()
        .and_then(|t| t.tensor_type.as_mut())
        .and_then(|t| t.shape.as_mut())
    {
        shape.dim = dims
            .iter()
            .map(|d| Dimension {
                dim_value: d.parse::<i64>().ok(),
                dim_param: d.parse::<i64>().is_err().then(|| d.to_string()),
            })
            .collect();
    }
    v
}

#[test]
fn kv_cache_dimensions_take_the_llm_options() {
    // An optimum-style attention fragment: the new key appended to the cached ones.
    let mut g = GraphProto {
        node: vec![
            node("MatMul", &["x", "wk"], "k", vec![]),
            node("Reshape", &["k", "heads"], "k4", vec![]),
            node(
                "Transpose",
                &["k4"],
                "kt",
                vec![ints("perm", &[0, 2, 1, 3])],
            ),
            node(
                "Concat",
                &["past_key_values.0.key", "kt"],
                "present.0.key",
                vec![int("axis", 2)],
            ),
            node("Softmax", &["attention_mask"], "mask_out", vec![]),
        ],
        name: "g".into(),
        input: vec![
            named_input("x", &["batch_size", "sequence_length", "64"]),
            named_input(
                "past_key_values.0.key",
                &["batch_size", "4", "past_sequence_length", "16"],
            ),
            named_input(
                "attention_mask",
                &["batch_size", "past_sequence_length + sequence_length"],
            ),
        ],
        initializer: vec![init("wk", &[64, 64], 1), {
            let mut t = init("heads", &[4], 7);
            t.raw_data = [1i64, -1, 4, 16]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            t
        }],
        ..Default::default()
    };
    g.output = ["present.0.key", "mask_out"]
        .iter()
        .map(|o| ValueInfoProto {
            name: o.to_string(),
            r#type: None,
        })
        .collect();
    let bytes = encode(g);
    let run = |phase: crate::hf::LlmPhase, seq: Option<u64>, context: Option<u64>| {
        let opts = TraceOptions {
            seq,
            context,
            llm_phase: phase,
            ..TraceOptions::default()
        };
        load_onnx("t.onnx", &bytes, &opts).map_err(|e| e.to_string())
    };
    use crate::hf::LlmPhase;
    // A decode step after 2,048 cached tokens: one new token, a 2,049-long cache.
    let t = run(LlmPhase::Both, None, Some(2048)).unwrap();
    assert_eq!(out(&t, "present.0.key").0, [1, 4, 2049, 16]);
    assert_eq!(out(&t, "mask_out").0, [1, 2049]);
    assert_eq!(out(&t, "k").0, [1, 1, 64]);
    // --phase decode without --context: the cache is --seq long.
    let t = run(LlmPhase::Decode, Some(128), None).unwrap();
    assert_eq!(out(&t, "present.0.key").0, [1, 4, 129, 16]);
    // Prefill: --seq new tokens, an empty cache.
    let t = run(LlmPhase::Prefill, Some(8), None).unwrap();
    assert_eq!(out(&t, "present.0.key").0, [1, 4, 8, 16]);
    assert_eq!(out(&t, "mask_out").0, [1, 8]);
}

#[test]
fn qdq_folding_keeps_float_types_and_refuses_shared_tensors() {
    let inits = || {
        vec![
            init("s", &[], 1),
            init("zp", &[], 3),
            init("w", &[8, 8], 3),
            init("b", &[8], 6),
        ]
    };
    let x = [("x", &[1i64, 8][..])];
    // A dequantized activation beside a float one: the Add is a float op writing float; a
    // weight's DQ read first (a Gather of an int8 table) is float to the reader too.
    let t = trace(&graph_with(
        vec![
            node("MatMul", &["x", "wd"], "m", vec![]),
            node("DequantizeLinear", &["w", "s", "zp"], "wd", vec![]),
            node("QuantizeLinear", &["m", "s", "zp"], "mq", vec![]),
            node("DequantizeLinear", &["mq", "s", "zp"], "md", vec![]),
            node("Add", &["md", "x"], "y", vec![]),
            node("Mul", &["wd2", "y"], "z", vec![]),
            node("DequantizeLinear", &["b", "s"], "wd2", vec![]),
            node("DequantizeLinear", &["b", "s"], "wd3", vec![]),
            node("Add", &["z", "wd3"], "out", vec![]),
        ],
        &x,
        inits(),
        &["out"],
    ))
    .unwrap();
    assert_eq!(out(&t, "m").1, DType::Int8, "stored quantized");
    let add = t.ops.iter().find(|o| o.name.ends_with("Add_y")).unwrap();
    assert_eq!(add.dtype, DType::F32, "one input is float");
    assert_eq!(out(&t, "y").1, DType::F32);
    assert_eq!(
        out(&t, "z").1,
        DType::F32,
        "a weight's DQ is float to its reader"
    );
    // The int32 vector read through two DQs is one parameter.
    assert_eq!(t.tensors.iter().filter(|x| x.name == "b").count(), 1);
    // A QuantizeLinear beside another reader of the tensor (here behind an Identity), or one of
    // two QuantizeLinears, stays an op and the tensor stays float.
    for (extra, second) in [
        (node("Identity", &["m"], "alias", vec![]), "alias"),
        (node("QuantizeLinear", &["m", "s", "zp"], "q2", vec![]), "m"),
    ] {
        let t = trace(&graph_with(
            vec![
                node("MatMul", &["x", "w"], "m", vec![]),
                extra,
                node("QuantizeLinear", &[second, "s", "zp"], "mq", vec![]),
                node("DequantizeLinear", &["mq", "s", "zp"], "md", vec![]),
                node("Relu", &["m"], "r", vec![]),
                node("Add", &["md", "r"], "out", vec![]),
            ],
            &x,
            inits(),
            &["out", "q2"],
        ))
        .unwrap();
        // (Behind an Identity the tensor carries the later name.)
        assert_eq!(out(&t, second).1, DType::F32, "{second}");
        assert!(
            t.ops.iter().any(|o| o.name.ends_with("QuantizeLinear_mq")),
            "{second}"
        );
    }
}

#[test]
fn contrib_attributes_that_overflow_are_errors() {
    let big = i64::MAX;
    let gqa = graph_with(
        vec![ms(node(
            "GroupQueryAttention",
            &["q"],
            "y",
            vec![int("num_heads", big), int("kv_num_heads", big)],
        ))],
        &[("q", &[1, 1, 64])],
        vec![],
        &["y"],
    );
    let e = trace(&gqa).unwrap_err();
    assert!(e.contains("overflows"), "{e}");
    // MultiHeadAttention has no 3-D packed QKV form (ONNX Runtime refuses it too).
    let mha = graph_with(
        vec![ms(node(
            "MultiHeadAttention",
            &["q"],
            "y",
            vec![int("num_heads", 4)],
        ))],
        &[("q", &[1, 1, 192])],
        vec![],
        &["y"],
    );
    let e = trace(&mha).unwrap_err();
    assert!(e.contains("without key and value"), "{e}");
    let attn = graph_with(
        vec![ms(node(
            "Attention",
            &["x", "w"],
            "y",
            vec![
                int("num_heads", 1),
                ints("qkv_hidden_sizes", &[big, big, 26]),
            ],
        ))],
        &[("x", &[1, 2, 8])],
        vec![init("w", &[8, 24], 1)],
        &["y"],
    );
    let e = trace(&attn).unwrap_err();
    assert!(e.contains("do not fit together"), "{e}");
    // MatMulNBits: B must hold what N, K, bits and block_size say.
    let nbits = graph_with(
        vec![ms(node(
            "MatMulNBits",
            &["a", "b", "scales"],
            "y",
            vec![
                int("K", 64),
                int("N", 64),
                int("bits", 4),
                int("block_size", 32),
            ],
        ))],
        &[("a", &[1, 64])],
        vec![init("b", &[32, 2, 16], 2), init("scales", &[64], 1)],
        &["y"],
    );
    let e = trace(&nbits).unwrap_err();
    assert!(e.contains("B is [32, 2, 16]"), "{e}");
}

fn int64_init(name: &str, values: &[i64]) -> TensorProto {
    let mut t = init(name, &[values.len() as i64], 7);
    t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t
}

#[test]
fn pads_computed_by_reversing_a_table_of_pairs_fold() {
    // How PyTorch's TorchScript exporter writes F.pad (Swin-T's window pads): torch's
    // last-dim-first (begin, end) pairs reshaped to [4, 2], rows reversed (Slice, step -1),
    // transposed and flattened into ONNX's all-begins-then-all-ends order.
    let nodes = vec![
        node("Reshape", &["pairs", "table"], "t2", vec![]),
        node(
            "Slice",
            &["t2", "minus1", "far", "zero", "minus1"],
            "rev",
            vec![],
        ),
        node("Transpose", &["rev"], "tr", vec![ints("perm", &[1, 0])]),
        node("Reshape", &["tr", "flat"], "pads", vec![]),
        node("Pad", &["x", "pads"], "y", vec![]),
    ];
    let inits = vec![
        int64_init("pairs", &[0, 1, 0, 2, 0, 3, 0, 4]),
        int64_init("table", &[-1, 2]),
        int64_init("minus1", &[-1]),
        int64_init("far", &[i64::MIN + 1]),
        int64_init("zero", &[0]),
        int64_init("flat", &[-1]),
    ];
    let t = trace(&graph_with(nodes, &[("x", &[2, 3, 4, 5])], inits, &["y"])).unwrap();
    // Pads [0, 0, 0, 0, 4, 3, 2, 1]: the last dim gets 1 at its end, the first 4.
    assert_eq!(out(&t, "y").0, [6, 6, 6, 6]);
}

#[test]
fn folded_slices_and_transposes_keep_values_in_any_rank() {
    use super::ops::movement::fold_index_map;
    // [[1, 2, 3], [4, 5, 6]] transposed: [[1, 4], [2, 5], [3, 6]].
    let v = [1, 2, 3, 4, 5, 6];
    let tr = fold_index_map(&[2, 3], &[3, 2], &v, |_, i| i, |d| [1, 0][d]);
    assert_eq!(tr.unwrap(), [1, 4, 2, 5, 3, 6]);
    // Columns 2 then 0 (start 2, step -2) of every row: [[3, 1], [6, 4]].
    let start = [0, 2];
    let step = [1, -2];
    let sl = fold_index_map(&[2, 3], &[2, 2], &v, |a, i| start[a] + i * step[a], |d| d);
    assert_eq!(sl.unwrap(), [3, 1, 6, 4]);
    // Values that do not fill the shape fold to nothing rather than to a wrong table.
    assert!(fold_index_map(&[2, 3], &[3, 2], &v[..5], |_, i| i, |d| [1, 0][d]).is_none());
}

#[test]
fn embed_layer_normalization_looks_up_rows_then_normalises() {
    let mut n = ms(node(
        "EmbedLayerNormalization",
        &[
            "ids", "seg", "word", "pos", "segtab", "gamma", "beta", "mask",
        ],
        "y",
        vec![],
    ));
    n.output.push("mask_index".into());
    let g = graph_with(
        vec![n],
        &[("ids", &[2, 16]), ("seg", &[2, 16]), ("mask", &[2, 16])],
        vec![
            init("word", &[100, 32], 1),
            init("pos", &[64, 32], 1),
            init("segtab", &[2, 32], 1),
            init("gamma", &[32], 1),
            init("beta", &[32], 1),
        ],
        &["y", "mask_index"],
    );
    let t = trace(&g).unwrap();
    assert_eq!(out(&t, "y").0, [2, 16, 32]);
    assert_eq!(out(&t, "mask_index").0, [2]);
    // Three lookups of 32 rows each (not the whole tables), then one LayerNorm.
    let lookups: Vec<_> = t
        .ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Embedding { rows: 32, dim: 32 }))
        .collect();
    assert_eq!(lookups.len(), 3);
    assert!(matches!(
        t.ops.last().unwrap().kind,
        OpKind::Norm {
            kind: NormKind::Layer,
            elems: 1024
        }
    ));
    assert_eq!(t.totals().params, (100 + 64 + 2) * 32 + 2 * 32);
    // A table whose width is not the word table's is an error naming it.
    let bad = graph_with(
        vec![ms(node(
            "EmbedLayerNormalization",
            &["ids", "", "word", "pos", "", "gamma", "beta"],
            "y",
            vec![],
        ))],
        &[("ids", &[2, 16])],
        vec![
            init("word", &[100, 32], 1),
            init("pos", &[64, 16], 1),
            init("gamma", &[32], 1),
            init("beta", &[32], 1),
        ],
        &["y"],
    );
    let e = trace(&bad).unwrap_err();
    assert!(e.contains("position_embedding [64, 16]"), "{e}");
}

#[test]
fn gather_block_quantized_looks_up_rows_of_a_narrow_table() {
    // A uint8 table holding two 4-bit values a byte: [1000, 64] bytes = 1000 rows of 128 values,
    // scales per 32 values along axis 1; 2 x 8 token ids.
    let gbq = |scales: &[i64], bits: i64| {
        graph_with(
            vec![ms(node(
                "GatherBlockQuantized",
                &["table", "ids", "scales"],
                "y",
                vec![
                    int("block_size", 32),
                    int("gather_axis", 0),
                    int("quantize_axis", 1),
                    int("bits", bits),
                ],
            ))],
            &[("ids", &[2, 8])],
            vec![init("table", &[1000, 64], 2), init("scales", scales, 1)],
            &["y"],
        )
    };
    let t = trace(&gbq(&[1000, 4], 4)).unwrap();
    assert_eq!(out(&t, "y").0, [2, 8, 128]);
    let op = &t.ops[0];
    assert!(matches!(op.kind, OpKind::Embedding { rows: 16, dim: 128 }));
    let table = t.tensor(op.weights[0]);
    assert_eq!((table.dtype, table.bytes()), (DType::Int4, 64_000));
    assert_eq!(t.totals().weight_bytes, 64_000 + 1000 * 4 * 4);
    let e = trace(&gbq(&[1000, 2], 4)).unwrap_err();
    assert!(
        e.contains("scales are [1000, 2]") && e.contains("[1000, 4]"),
        "{e}"
    );
    let e = trace(&gbq(&[1000, 4], 2)).unwrap_err();
    assert!(e.contains("`bits` is 2"), "{e}");
}

#[test]
fn folded_tables_refuse_bad_perms_and_clamp_negative_slices_as_onnx_does() {
    let table = |nodes: Vec<NodeProto>, inits: Vec<TensorProto>| {
        trace(&graph_with(nodes, &[("x", &[1])], inits, &["y"]))
    };
    // A repeated perm is an error naming it, not a panic.
    let e = table(
        vec![
            node("Transpose", &["t"], "tt", vec![ints("perm", &[0, 0])]),
            node("Reshape", &["tt", "flat"], "v", vec![]),
            node("Expand", &["x", "v"], "y", vec![]),
        ],
        vec![
            {
                let mut t = int64_init("t", &[1, 2, 3, 4, 5, 6]);
                t.dims = vec![2, 3];
                t
            },
            int64_init("flat", &[-1]),
        ],
    )
    .unwrap_err();
    assert!(e.contains("not a permutation"), "{e}");
    // Step -1 from a start before the beginning: ONNX clamps the start to 0, one element.
    let t = table(
        vec![
            node("Slice", &["t", "s", "e", "a", "st"], "v", vec![]),
            node("Expand", &["x", "v"], "y", vec![]),
        ],
        vec![
            int64_init("t", &[3, 5, 7, 2]),
            int64_init("s", &[-10]),
            int64_init("e", &[-10]),
            int64_init("a", &[0]),
            int64_init("st", &[-1]),
        ],
    )
    .unwrap();
    assert_eq!(out(&t, "y").0, [3]);
    // Steps known only at run time are not taken as 1.
    let e = trace(&graph_with(
        vec![node("Slice", &["x", "s", "e", "a", "st"], "y", vec![])],
        &[("x", &[2, 4]), ("st", &[1])],
        vec![
            int64_init("s", &[0]),
            int64_init("e", &[100]),
            int64_init("a", &[1]),
        ],
        &["y"],
    ))
    .unwrap_err();
    assert!(e.contains("constant axes and steps"), "{e}");
}

#[test]
fn tied_int4_embedding_is_one_table_read_two_ways() {
    // onnxruntime-genai's tied embeddings: the LM head's packed int4 weight [V, K/32, 16] is
    // reshaped to [V, K/2] bytes for GatherBlockQuantized and read by MatMulNBits as it is.
    let (v, k) = (1024i64, 256i64);
    let nodes = vec![
        node("Reshape", &["w_q4", "shp"], "table", vec![]),
        ms(node(
            "GatherBlockQuantized",
            &["table", "ids", "w_scale"],
            "emb",
            vec![int("bits", 4), int("block_size", 32)],
        )),
        ms(node(
            "MatMulNBits",
            &["emb", "w_q4", "w_scale"],
            "y",
            vec![
                int("K", k),
                int("N", v),
                int("bits", 4),
                int("block_size", 32),
            ],
        )),
    ];
    let inits = vec![
        init("w_q4", &[v, k / 32, 16], 2),
        init("w_scale", &[v, k / 32], 1),
        int64_init("shp", &[v, k / 2]),
    ];
    let t = trace(&graph_with(nodes, &[("ids", &[1, 8])], inits, &["y"])).unwrap();
    assert_eq!(out(&t, "emb").0, [1, 8, 256]);
    assert_eq!(out(&t, "y").0, [1, 8, 1024]);
    // One table of V x K int4 values (V x K / 2 bytes) and its scales, counted once.
    assert_eq!(t.totals().weight_bytes, (v * k / 2 + v * k / 32 * 4) as u64);
    assert!(t
        .ops
        .iter()
        .all(|op| t.tensor(op.weights[0]).dtype == DType::Int4));
    assert_eq!(
        t.ops.len(),
        2,
        "the reshape of a weight is an alias, not an op"
    );
}

#[test]
fn gather_block_quantized_checks_scale_and_zero_point_layouts() {
    let gbq = |scales: &[i64], zp: Option<&[i64]>, gather_axis: i64| {
        let mut inputs = vec!["table", "ids", "scales"];
        let mut inits = vec![init("table", &[100, 32], 2), init("scales", scales, 1)];
        if let Some(z) = zp {
            inputs.push("zp");
            inits.push(init("zp", z, 2));
        }
        trace(&graph_with(
            vec![ms(node(
                "GatherBlockQuantized",
                &inputs,
                "y",
                vec![
                    int("block_size", 32),
                    int("gather_axis", gather_axis),
                    int("quantize_axis", 1),
                ],
            ))],
            &[("ids", &[4])],
            inits,
            &["y"],
        ))
    };
    // [100, 64] int4 values: scales [100, 2], zero points packed two a byte: [100, 1].
    assert_eq!(
        out(&gbq(&[100, 2], Some(&[100, 1]), 0).unwrap(), "y").0,
        [4, 64]
    );
    let e = gbq(&[2, 100], None, 0).unwrap_err();
    assert!(e.contains("scales are [2, 100]"), "{e}");
    let e = gbq(&[100, 2], Some(&[100, 2]), 0).unwrap_err();
    assert!(e.contains("zero_points are [100, 2]"), "{e}");
    let e = gbq(&[100, 2], None, 1).unwrap_err();
    assert!(e.contains("gathered on axis 0"), "{e}");
}

#[test]
fn errors_downstream_of_an_unsupported_op_say_so_and_others_do_not() {
    // An error in a node that does not read the unknown op's output is reported as itself.
    let g = graph_with(
        vec![
            node("FrobnicateV2", &["x"], "h", vec![]),
            node("MatMul", &["x", "w"], "y", vec![]),
        ],
        &[("x", &[4])],
        vec![init("w", &[16, 8], 1)],
        &["y", "h"],
    );
    let e = trace(&g).unwrap_err();
    assert!(e.contains("MatMul") && !e.contains("FrobnicateV2"), "{e}");
    // With --allow-unknown, an error downstream names the guessed op.
    let g = graph_with(
        vec![
            node("FrobnicateV2", &["x"], "h", vec![]),
            node("MatMul", &["h", "w"], "y", vec![]),
        ],
        &[("x", &[4])],
        vec![init("w", &[16, 8], 1)],
        &["y"],
    );
    // The unknown op's output is guessed from its input ([4]), which MatMul cannot take with a
    // [16, 8] weight: the error names the unknown op, not MatMul's shapes...
    let e = trace(&g).unwrap_err();
    assert!(
        e.contains("FrobnicateV2") && !e.contains("cannot multiply"),
        "{e}"
    );
    // ...and with --allow-unknown, MatMul's error says where its input came from.
    let opts = TraceOptions {
        allow_unknown: true,
        ..TraceOptions::default()
    };
    let e = load_onnx("t.onnx", &g, &opts).unwrap_err().to_string();
    assert!(e.contains("guessed shape: FrobnicateV2"), "{e}");
}

#[test]
fn a_shape_fed_as_an_integer_graph_input_names_the_export_option() {
    // What torch.onnx.export(..., export_params=False) with constant folding writes: the folded
    // shape of an Expand becomes an input without a value.
    let mut shape_input = super::malformed_tests::value("onnx::Expand_8432", &[4]);
    if let Some(t) = shape_input
        .r#type
        .as_mut()
        .and_then(|t| t.tensor_type.as_mut())
    {
        t.elem_type = 7;
    }
    let g = encode(GraphProto {
        node: vec![node("Expand", &["x", "onnx::Expand_8432"], "y", vec![])],
        name: "g".into(),
        input: vec![
            super::malformed_tests::value("x", &[1, 3, 1, 1]),
            shape_input,
        ],
        output: vec![ValueInfoProto {
            name: "y".into(),
            r#type: None,
        }],
        ..Default::default()
    });
    let e = trace(&g).unwrap_err();
    assert!(
        e.contains("`onnx::Expand_8432`") && e.contains("do_constant_folding=False"),
        "{e}"
    );
}

#[test]
fn rotary_caches_are_read_a_row_per_position() {
    // GroupQueryAttention with do_rotary: 4 query heads over 2 KV heads of 16, one new token;
    // cos/sin caches of 4,096 positions x 8. The step reads one row of each, not 32 KiB tables.
    let mut n = ms(node(
        "GroupQueryAttention",
        &[
            "q", "k", "v", "past_k", "past_v", "seqlens", "total", "cos", "sin",
        ],
        "y",
        vec![
            int("num_heads", 4),
            int("kv_num_heads", 2),
            int("do_rotary", 1),
        ],
    ));
    n.output
        .extend(["present_k".to_string(), "present_v".to_string()]);
    let t = trace(&graph_with(
        vec![n],
        &[
            ("q", &[1, 1, 64]),
            ("k", &[1, 1, 32]),
            ("v", &[1, 1, 32]),
            ("past_k", &[1, 2, 15, 16]),
            ("past_v", &[1, 2, 15, 16]),
            ("seqlens", &[1]),
            ("total", &[1]),
        ],
        vec![init("cos", &[4096, 8], 1), init("sin", &[4096, 8], 1)],
        &["y", "present_k", "present_v"],
    ))
    .unwrap();
    let lookups: Vec<_> = t
        .ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Embedding { rows: 1, dim: 8 }))
        .collect();
    assert_eq!(lookups.len(), 2, "one row of cos and one of sin");
    let attn = t.ops.last().unwrap();
    assert!(matches!(attn.kind, OpKind::Attention { .. }));
    assert!(
        attn.weights.is_empty(),
        "the tables are read through the lookups"
    );
    // The caches are constants: not parameters, and still held in memory.
    assert_eq!(t.totals().params, 0);
    assert_eq!(out(&t, "present_k").0, [1, 2, 16, 16]);
}
