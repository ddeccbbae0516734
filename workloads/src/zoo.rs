//! The built-in model zoo, embedded in the binary. CNNs and encoders are written in the DSL;
//! decoder LLMs are Hugging Face `config.json` files expanded by the HF front-end.

use std::collections::HashMap;

use crate::error::{Result, WorkloadError};
use crate::hf::{HfConfig, LlmShape};
use crate::ir::Trace;

pub enum Source {
    Dsl(&'static str),
    HfConfig(&'static str),
}

pub struct ZooEntry {
    pub name: &'static str,
    pub description: &'static str,
    pub source: Source,
}

macro_rules! dsl {
    ($name:literal, $file:literal, $desc:literal) => {
        ZooEntry {
            name: $name,
            description: $desc,
            source: Source::Dsl(include_str!(concat!("../zoo/", $file))),
        }
    };
}
macro_rules! hf {
    ($name:literal, $file:literal, $desc:literal) => {
        ZooEntry {
            name: $name,
            description: $desc,
            source: Source::HfConfig(include_str!(concat!("../zoo/", $file))),
        }
    };
}

pub static ZOO: &[ZooEntry] = &[
    dsl!("resnet18", "resnet18.vnet", "ResNet-18, ImageNet 224x224"),
    dsl!(
        "resnet50",
        "resnet50.vnet",
        "ResNet-50 v1.5, ImageNet 224x224"
    ),
    dsl!(
        "mobilenet_v2",
        "mobilenet_v2.vnet",
        "MobileNetV2 1.0, 224x224"
    ),
    dsl!(
        "mobilenet_v3_large",
        "mobilenet_v3_large.vnet",
        "MobileNetV3-Large, 224x224"
    ),
    dsl!(
        "efficientnet_b0",
        "efficientnet_b0.vnet",
        "EfficientNet-B0, 224x224"
    ),
    dsl!("vit_b_16", "vit_b_16.vnet", "ViT-B/16, 224x224"),
    dsl!(
        "bert-base",
        "bert_base.vnet",
        "BERT-base encoder, seq 128 (--seq)"
    ),
    hf!(
        "llama-2-7b",
        "llama-2-7b.json",
        "Llama-2-7B decoder (prefill + decode)"
    ),
    hf!(
        "llama-2-70b",
        "llama-2-70b.json",
        "Llama-2-70B decoder, GQA 8 kv heads"
    ),
    hf!(
        "gpt-j-6b",
        "gpt-j-6b.json",
        "GPT-J-6B decoder, parallel attention and MLP"
    ),
    hf!(
        "falcon-180b",
        "falcon-180b.json",
        "Falcon-180B decoder, parallel blocks, GQA 8 kv heads"
    ),
    hf!(
        "mixtral-8x7b",
        "mixtral-8x7b.json",
        "Mixtral-8x7B MoE, top-2 of 8 experts"
    ),
    dsl!(
        "resnet8",
        "resnet8_cifar.vnet",
        "MLPerf Tiny IC: ResNet-8, CIFAR-10 32x32"
    ),
    dsl!(
        "mobilenet_v1_025_vww",
        "mobilenet_v1_025_vww.vnet",
        "MLPerf Tiny VWW: MobileNetV1-0.25, 96x96"
    ),
    dsl!(
        "ds_cnn_kws",
        "ds_cnn_kws.vnet",
        "MLPerf Tiny KWS: DS-CNN, 49x10 MFCC"
    ),
    dsl!(
        "fc_autoencoder",
        "fc_autoencoder.vnet",
        "MLPerf Tiny AD: FC autoencoder, 640 inputs"
    ),
];

/// The zoo entry called `name`, ignoring case, `-` and `_` (compared in place: every model a
/// query loads is looked up here first).
pub fn find(name: &str) -> Option<&'static ZooEntry> {
    let norm = |s: &'static str| s.bytes().filter(|b| !matches!(b, b'-' | b'_'));
    let wanted = || name.bytes().filter(|b| !matches!(b, b'-' | b'_'));
    ZOO.iter().find(|e| {
        norm(e.name)
            .map(|b| b.to_ascii_lowercase())
            .eq(wanted().map(|b| b.to_ascii_lowercase()))
    })
}

/// Options that shape a trace: batch, sequence/context lengths, LLM phase.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    pub batch: u64,
    /// Sequence length (encoders), prompt length (LLM prefill). `None` = the model's default.
    pub seq: Option<u64>,
    /// Tokens already in the KV cache for LLM decode. `None` = equal to `seq`.
    pub context: Option<u64>,
    pub llm_phase: crate::hf::LlmPhase,
    /// ONNX: cost unknown ops at zero instead of failing.
    pub allow_unknown: bool,
    /// LLM configs: tensor-parallel degree (the trace is one GPU's share, with all-reduces).
    pub tp: u64,
    /// MoE configs: how routed tokens spread over the experts (`HfConfig::with_expert_load`).
    pub expert_load: Option<String>,
    /// MoE configs: experts placed whole over the `tp` GPUs (`HfConfig::with_expert_parallel`).
    pub expert_parallel: bool,
    /// ONNX: values for symbolic input dimensions, by the exporter's names (`--dim batch=8`).
    pub dims: Vec<(String, u64)>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            batch: 1,
            seq: None,
            context: None,
            llm_phase: crate::hf::LlmPhase::Both,
            allow_unknown: false,
            tp: 1,
            expert_load: None,
            expert_parallel: false,
            dims: Vec::new(),
        }
    }
}

impl TraceOptions {
    pub fn dsl_vars(&self) -> HashMap<String, i64> {
        let mut v = HashMap::new();
        v.insert("batch".to_string(), self.batch.min(i64::MAX as u64) as i64);
        if let Some(s) = self.seq {
            v.insert("seq".to_string(), s.min(i64::MAX as u64) as i64);
        }
        v
    }

    /// `cfg` as these options shape it: expert placement, tensor-parallel share, expert load.
    pub fn llm_config(&self, cfg: HfConfig) -> Result<HfConfig> {
        let cfg = if self.expert_parallel {
            cfg.with_expert_parallel(self.tp)?
        } else {
            cfg
        };
        let cfg = cfg.tensor_parallel(self.tp)?;
        match &self.expert_load {
            Some(spec) => cfg.with_expert_load(spec),
            None => Ok(cfg),
        }
    }

    pub fn llm_shape(&self) -> LlmShape {
        let prompt = self.seq.unwrap_or(512);
        LlmShape {
            batch: self.batch,
            prompt,
            context: self.context.unwrap_or(prompt),
            phase: self.llm_phase,
        }
    }
}

pub fn load(entry: &ZooEntry, opts: &TraceOptions) -> Result<Trace> {
    let file = format!("zoo:{}", entry.name);
    match entry.source {
        Source::Dsl(src) => {
            let mut t = crate::dsl::parse_dsl(&file, src, opts.dsl_vars())?;
            t.name = entry.name.to_string();
            Ok(t)
        }
        Source::HfConfig(json) => {
            let cfg = opts.llm_config(HfConfig::from_json(&file, json)?)?;
            cfg.trace(entry.name, &opts.llm_shape())
        }
    }
}

pub fn load_by_name(name: &str, opts: &TraceOptions) -> Result<Trace> {
    let entry = find(name).ok_or_else(|| {
        let hint = crate::suggest(name, ZOO.iter().map(|e| e.name))
            .map_or(String::new(), |s| format!(". Did you mean `{s}`?"));
        WorkloadError::UnknownModel(name.to_string(), hint)
    })?;
    load(entry, opts)
}
