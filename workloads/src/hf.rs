//! Hugging Face `config.json` front-end for decoder LLMs (llama, mistral, mixtral, qwen2, gpt2,
//! gptj, falcon).
//!
//! Expands a config into prefill and/or decode traces: embeddings, per-layer norms, Q/K/V projections
//! (GQA), RoPE, KV-cache writes and reads, attention, output projection, dense or MoE MLP, final norm
//! and LM head. Weight tensors are created once and shared by both phases, so parameters count once.
//! Conventions: prefill computes logits for the last token only (what serving engines do); a decode
//! step processes one new token per sequence against `context` cached tokens; MoE routing is assumed
//! uniform (each touched expert receives an equal share of the token-expert assignments).

use serde_json::Value;

use crate::builder::TraceBuilder;
use crate::error::{Result, WorkloadError};
use crate::ir::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlmPhase {
    Prefill,
    Decode,
    Both,
}

impl LlmPhase {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "prefill" => LlmPhase::Prefill,
            "decode" => LlmPhase::Decode,
            "both" => LlmPhase::Both,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LlmShape {
    pub batch: u64,
    /// Prompt tokens processed in prefill.
    pub prompt: u64,
    /// Tokens already cached when the decode step runs.
    pub context: u64,
    pub phase: LlmPhase,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// RMSNorm, RoPE, gated SiLU MLP, untied or tied head (llama, mistral, qwen2, mixtral).
    Llama,
    /// LayerNorm with bias, learned positions, GELU MLP, fused biased qkv (gpt2).
    Gpt2,
    /// GPT-J: one LayerNorm feeding attention and a GELU MLP side by side (parallel residual),
    /// rotary positions, unbiased Q/K/V/O, biased MLP and LM head (HF `GPTJForCausalLM`).
    Gptj,
    /// Falcon: parallel attention and GELU MLP, rotary positions, multi-query or grouped KV heads;
    /// `new_decoder_architecture` gives the MLP its own LayerNorm (HF `FalconForCausalLM`).
    Falcon,
}

impl Family {
    fn norm_kind(self) -> NormKind {
        match self {
            Family::Llama => NormKind::Rms,
            _ => NormKind::Layer,
        }
    }

    fn gated_mlp(self) -> bool {
        self == Family::Llama
    }
}

#[derive(Clone, Debug)]
pub struct HfConfig {
    pub model_type: String,
    family: Family,
    pub hidden: u64,
    pub intermediate: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub vocab: u64,
    pub max_positions: u64,
    pub tie_embeddings: bool,
    pub qkv_bias: bool,
    /// Biases on the attention output and the MLP projections.
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// A bias on the LM head (GPT-J).
    pub head_bias: bool,
    /// Rotary position embeddings on Q and K (off for learned positions and for ALiBi).
    pub rope: bool,
    /// Attention and MLP read the same block input and add into the residual together
    /// (GPT-J, Falcon); under tensor parallelism their partial sums share one all-reduce.
    pub parallel_block: bool,
    /// In a parallel block, the MLP has its own norm (Falcon's `new_decoder_architecture`)
    /// instead of sharing the attention's.
    pub mlp_norm: bool,
    pub sliding_window: Option<u64>,
    pub experts: u64,
    pub experts_per_token: u64,
    pub dtype: DType,
    /// Tensor-parallel degree this config describes one GPU of (1: the whole model).
    pub tp: u64,
    /// Share of routed tokens each expert receives (MoE); `None`: balanced.
    pub expert_load: Option<Vec<f64>>,
    /// Expert parallelism over the `tp` GPUs (vLLM's `--enable-expert-parallel`): each GPU holds
    /// `experts / tp` whole experts instead of a `1/tp` slice of every one; this config is the
    /// busiest GPU's for the traced shape (see [`HfConfig::expert_group`]).
    pub expert_parallel: bool,
}

/// Upper bound on a config's layer count: real models have < 200; this catches corrupt files early.
const MAX_LAYERS: u64 = 10_000;
/// Upper bound on routed experts (the largest public MoE configs have a few hundred).
const MAX_EXPERTS: u64 = 4096;
/// Tokens at which an expert's GEMMs turn from reading weights to computing: an H100's ridge,
/// 989 TFLOP/s bf16 over 3.35 TB/s = 295 FLOP per byte, and a bf16 weight does 2 FLOP per token
/// per 2 bytes (A100: 153). Only used to pick the busiest GPU under expert parallelism.
const RIDGE_TOKENS: f64 = 295.0;

impl HfConfig {
    pub fn from_json(file: &str, text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| WorkloadError::Parse {
            file: file.to_string(),
            line: e.line(),
            col: e.column(),
            msg: format!("invalid JSON: {e}"),
            hint: "a Hugging Face config.json is a single JSON object".into(),
        })?;
        let obj = v
            .as_object()
            .ok_or_else(|| invalid(file, "top level", "expected a JSON object", ""))?;
        let model_type = obj
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(
                    file,
                    "field `model_type`",
                    "missing",
                    "add e.g. \"model_type\": \"llama\"",
                )
            })?
            .to_string();
        let family = match model_type.as_str() {
            "llama" | "mistral" | "mixtral" | "qwen2" | "qwen2_moe" | "qwen3" => Family::Llama,
            "gpt2" => Family::Gpt2,
            "gptj" => Family::Gptj,
            "falcon" | "RefinedWeb" | "RefinedWebModel" => Family::Falcon,
            other => return Err(invalid(
                file,
                "field `model_type`",
                &format!("unsupported model type `{other}`"),
                "supported: llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, gpt2, gptj, falcon",
            )),
        };
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| obj.get(*k).filter(|v| !v.is_null()))
        };
        let num = |keys: &[&str], default: Option<u64>| -> Result<u64> {
            match get(keys) {
                None => default.ok_or_else(|| {
                    invalid(
                        file,
                        &format!("field `{}`", keys[0]),
                        "missing",
                        &format!("add \"{}\": <positive integer>", keys[0]),
                    )
                }),
                Some(v) => match v.as_u64() {
                    Some(n) if n > 0 => Ok(n),
                    _ => Err(invalid(
                        file,
                        &format!("field `{}`", keys[0]),
                        &format!("must be a positive integer, got {v}"),
                        "use the value from the model card",
                    )),
                },
            }
        };
        let flag = |key: &str, default: bool| -> Result<bool> {
            match get(&[key]) {
                None => Ok(default),
                Some(v) => v.as_bool().ok_or_else(|| {
                    invalid(
                        file,
                        &format!("field `{key}`"),
                        &format!("must be true or false, got {v}"),
                        "use a JSON boolean",
                    )
                }),
            }
        };
        let hidden = num(&["hidden_size", "n_embd", "n_embed"], None)?;
        let heads = num(&["num_attention_heads", "n_head"], None)?;
        let layers = num(&["num_hidden_layers", "n_layer"], None)?;
        if layers > MAX_LAYERS {
            return Err(invalid(
                file,
                "field `num_hidden_layers`",
                &format!("{layers} layers is beyond any real model"),
                "check the value",
            ));
        }
        let vocab = num(&["vocab_size"], None)?;
        let intermediate = match family {
            Family::Gpt2 | Family::Gptj => num(&["n_inner"], Some(4 * hidden))?,
            Family::Falcon => num(&["ffn_hidden_size"], Some(4 * hidden))?,
            Family::Llama => num(&["intermediate_size"], None)?,
        };
        // Falcon's new decoder architecture groups KV heads (`num_kv_heads`); the original one is
        // multi-query (one KV head) unless `multi_query` is false. Configs of the RefinedWeb era
        // say `n_head_kv` instead of the flag (HF's converter reads it so).
        let falcon_new = family == Family::Falcon
            && flag("new_decoder_architecture", obj.contains_key("n_head_kv"))?;
        let kv_key = if family == Family::Falcon {
            "num_kv_heads"
        } else {
            "num_key_value_heads"
        };
        let kv_heads = match family {
            Family::Falcon if falcon_new => num(&["num_kv_heads", "n_head_kv"], Some(heads))?,
            Family::Falcon if flag("multi_query", true)? => 1,
            _ => num(&[kv_key], Some(heads))?,
        };
        let head_dim = num(&["head_dim"], Some(hidden / heads))?;
        if hidden % heads != 0 && get(&["head_dim"]).is_none() {
            return Err(invalid(
                file,
                "field `num_attention_heads`",
                &format!("{heads} heads do not divide hidden_size {hidden}"),
                "set head_dim",
            ));
        }
        if heads % kv_heads != 0 {
            return Err(invalid(
                file,
                &format!("field `{kv_key}`"),
                &format!("{kv_heads} must divide num_attention_heads {heads}"),
                "",
            ));
        }
        // Falcon was trained on 2,048 tokens (HF `FalconConfig`'s default).
        let default_positions = if family == Family::Falcon { 2048 } else { 4096 };
        let max_positions = num(
            &["max_position_embeddings", "n_positions"],
            Some(default_positions),
        )?;
        let tie_embeddings = flag(
            "tie_word_embeddings",
            matches!(family, Family::Gpt2 | Family::Falcon),
        )?;
        let falcon_bias = family == Family::Falcon && flag("bias", false)?;
        let qkv_bias = match family {
            Family::Gpt2 => true,
            Family::Gptj => false,
            Family::Falcon => falcon_bias,
            Family::Llama => flag("attention_bias", model_type.starts_with("qwen2"))?,
        };
        let (o_bias, mlp_bias) = match family {
            Family::Gpt2 => (true, true),
            Family::Gptj => (false, true),
            Family::Falcon => (falcon_bias, falcon_bias),
            Family::Llama => (false, false),
        };
        let rope = match family {
            Family::Gpt2 => false,
            Family::Falcon => !flag("alibi", false)?,
            Family::Llama | Family::Gptj => true,
        };
        let parallel_block = match family {
            Family::Gptj => true,
            Family::Falcon => falcon_new || flag("parallel_attn", true)?,
            Family::Llama | Family::Gpt2 => false,
        };
        // Falcon's new architecture gives the MLP its own norm unless `num_ln_in_parallel_attn`
        // is 1 (Falcon2-11B).
        let mlp_norm =
            !parallel_block || (falcon_new && num(&["num_ln_in_parallel_attn"], Some(2))? == 2);
        let sliding_window = if get(&["use_sliding_window"]).and_then(Value::as_bool) == Some(false)
        {
            None
        } else {
            get(&["sliding_window"]).and_then(Value::as_u64)
        };
        let experts = num(&["num_local_experts", "num_experts"], Some(1))?;
        if experts > MAX_EXPERTS {
            return Err(invalid(
                file,
                "field `num_local_experts`",
                &format!("{experts} experts is beyond any real model"),
                &format!("use at most {MAX_EXPERTS}"),
            ));
        }
        // A layer is at most about 64 ops plus 3 per expert over both phases (60 layers of 2,048
        // experts traced to 371,167): refuse before building what would exhaust memory (10,000
        // layers of 4,096 experts each are both within their own limits). The builder's own cap
        // catches what this estimate misses.
        let ops = layers.saturating_mul(64 + 3 * experts);
        if ops > crate::ir::MAX_OPS as u64 {
            return Err(invalid(
                file,
                "fields `num_hidden_layers` and `num_local_experts`",
                &format!(
                    "{layers} layers of {experts} experts make about {ops} ops, more than the {} vchip costs",
                    crate::ir::MAX_OPS
                ),
                "check the values",
            ));
        }
        let experts_per_token = num(&["num_experts_per_tok"], Some(1))?.min(experts);
        let dtype = get(&["torch_dtype", "dtype"])
            .and_then(Value::as_str)
            .and_then(DType::parse)
            .unwrap_or(DType::F16);
        Ok(HfConfig {
            model_type,
            family,
            hidden,
            intermediate,
            layers,
            heads,
            kv_heads,
            head_dim,
            vocab,
            max_positions,
            tie_embeddings,
            qkv_bias,
            o_bias,
            mlp_bias,
            head_bias: family == Family::Gptj,
            rope,
            parallel_block,
            mlp_norm,
            sliding_window,
            experts,
            experts_per_token,
            dtype,
            tp: 1,
            expert_load: None,
            expert_parallel: false,
        })
    }

    /// Expert parallelism over `tp` GPUs: experts are placed whole, `experts / tp` consecutive
    /// ones per GPU (vLLM's and Megatron's placement), while attention stays tensor-parallel;
    /// each GPU runs its experts on the tokens routed to them (the hidden state is replicated
    /// after the attention all-reduce), and the all-reduce after the MoE block sums the GPUs'
    /// expert outputs. Apply before [`HfConfig::tensor_parallel`], which then leaves the
    /// experts' width whole.
    pub fn with_expert_parallel(mut self, tp: u64) -> Result<HfConfig> {
        if self.experts <= 1 {
            return Err(WorkloadError::Option(format!(
                "--expert-parallel: `{}` has no routed experts; it applies to MoE models (mixtral-8x7b)",
                self.model_type
            )));
        }
        if tp <= 1 {
            return Err(WorkloadError::Option(
                "--expert-parallel spreads the experts over the --tp GPUs: give --tp N (N > 1)"
                    .into(),
            ));
        }
        if self.tp > 1 {
            return Err(WorkloadError::Option(
                "expert parallelism is chosen before the tensor-parallel split, not after".into(),
            ));
        }
        if !self.experts.is_multiple_of(tp) {
            return Err(WorkloadError::Option(format!(
                "--expert-parallel: {} experts do not spread evenly over {tp} GPUs; use a --tp that divides {}",
                self.experts, self.experts
            )));
        }
        self.expert_parallel = true;
        Ok(self)
    }

    /// Experts per GPU: all of them, or under expert parallelism `experts / tp`.
    fn experts_per_gpu(&self) -> u64 {
        if self.expert_parallel {
            self.experts / self.tp.max(1)
        } else {
            self.experts
        }
    }

    /// The experts this config's GPU holds for a trace of `shape`: all of them, or under expert
    /// parallelism the busiest GPU's group, the one whose experts cost most for the tokens the
    /// shape routes (every phase it traces). The busiest GPU sets the MoE block's pace: the others
    /// wait for it at the all-reduce. An expert costs the larger of reading its weights and its
    /// tokens' work, in units of one weight read: `max(1, tokens / RIDGE_TOKENS)` (so a batch-1
    /// decode's busiest GPU is the one touching most experts, a prefill's the one with most
    /// tokens); ties go to the first group.
    pub fn expert_group(&self, shape: &LlmShape) -> std::ops::Range<u64> {
        let per = self.experts_per_gpu();
        if !self.expert_parallel || per == 0 {
            return 0..self.experts;
        }
        let mut cost = vec![0.0; (self.experts / per) as usize];
        let mut phase = |new: u64| {
            let tokens = shape.batch.saturating_mul(new);
            let counts =
                self.tokens_per_expert(tokens, tokens.saturating_mul(self.experts_per_token));
            for (e, &n) in counts.iter().enumerate() {
                if n > 0 {
                    cost[e / per as usize] += (n as f64 / RIDGE_TOKENS).max(1.0);
                }
            }
        };
        if matches!(shape.phase, LlmPhase::Prefill | LlmPhase::Both) {
            phase(shape.prompt);
        }
        if matches!(shape.phase, LlmPhase::Decode | LlmPhase::Both) {
            phase(1);
        }
        let group =
            (0..cost.len()).fold(0, |best, g| if cost[g] > cost[best] { g } else { best }) as u64;
        group * per..(group + 1) * per
    }

    /// Routes tokens to experts by `spec`: `balanced` (the default), `zipf:S` (expert i gets a
    /// share proportional to 1/(i+1)^S, the skew routers show in practice), or one share per expert
    /// (`0.4,0.2,...`, normalised).
    pub fn with_expert_load(mut self, spec: &str) -> Result<HfConfig> {
        let bad = |msg: String| WorkloadError::Option(format!("--expert-load `{spec}`: {msg}"));
        if self.experts <= 1 {
            return Err(bad(format!(
                "`{}` has no routed experts; the option applies to MoE models (mixtral-8x7b)",
                self.model_type
            )));
        }
        let n = self.experts as usize;
        let shares: Vec<f64> = if spec == "balanced" {
            vec![1.0; n]
        } else if let Some(s) = spec.strip_prefix("zipf:") {
            let a: f64 = s
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite() && (0.0..=10.0).contains(a))
                .ok_or_else(|| bad("the Zipf exponent must be a number from 0 to 10".into()))?;
            (0..n).map(|i| 1.0 / ((i + 1) as f64).powf(a)).collect()
        } else {
            let v: Vec<f64> = spec
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad("use balanced, zipf:S, or one share per expert".into()))?;
            if v.len() != n || v.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err(bad(format!("give {n} non-negative shares, one per expert")));
            }
            v
        };
        let total: f64 = shares.iter().sum();
        if total <= 0.0 {
            return Err(bad("the shares sum to zero".into()));
        }
        self.expert_load = Some(shares.iter().map(|x| x / total).collect());
        Ok(self)
    }

    /// Tokens each expert processes for `assignments` routed token-expert pairs of `tokens`
    /// tokens: largest remainders, so the counts add up exactly. Balanced: spread evenly over the
    /// experts touched. A token's top-k experts are distinct, so no expert gets more than
    /// `tokens`: a share beyond that goes to the others by their shares.
    fn tokens_per_expert(&self, tokens: u64, assignments: u64) -> Vec<u64> {
        let n = self.experts as usize;
        match &self.expert_load {
            None => {
                // Fewer assignments than experts touch as many experts, spread evenly over the
                // expert indices (not the first ones): routing does not favour low indices, and
                // under expert parallelism each GPU's group then gets its fair share.
                let touched = assignments.min(self.experts);
                let each = assignments.div_ceil(touched.max(1));
                let mut counts = vec![0; n];
                for i in 0..touched {
                    counts[(i * self.experts / touched) as usize] = each;
                }
                counts
            }
            Some(shares) => {
                let cap = tokens as f64;
                let mut exact: Vec<f64> = shares.iter().map(|s| s * assignments as f64).collect();
                // Water-filling: cap, and hand the excess to the uncapped experts by share.
                for _ in 0..n {
                    let excess: f64 = exact.iter().map(|x| (x - cap).max(0.0)).sum();
                    if excess <= 0.0 {
                        break;
                    }
                    let uncapped: Vec<usize> = (0..n).filter(|&e| exact[e] < cap).collect();
                    if uncapped.is_empty() {
                        break;
                    }
                    let open: f64 = uncapped.iter().map(|&e| shares[e]).sum();
                    for x in exact.iter_mut() {
                        *x = x.min(cap);
                    }
                    // The excess goes by share, or evenly where the shares left are all zero
                    // (a token's second choice must go somewhere).
                    for &e in &uncapped {
                        exact[e] += if open > 0.0 {
                            excess * shares[e] / open
                        } else {
                            excess / uncapped.len() as f64
                        };
                    }
                }
                let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
                let mut left = assignments.saturating_sub(counts.iter().sum());
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| {
                    (exact[b] - exact[b].floor())
                        .total_cmp(&(exact[a] - exact[a].floor()))
                        .then(a.cmp(&b))
                });
                // Each pass gives every expert below the cap one more, until none is left.
                while left > 0 && counts.iter().any(|&c| c < tokens) {
                    for &e in &order {
                        if left > 0 && counts[e] < tokens {
                            counts[e] += 1;
                            left -= 1;
                        }
                    }
                }
                counts
            }
        }
    }

    /// One GPU's share under Megatron tensor parallelism over `tp` GPUs: attention heads, the
    /// MLP's intermediate width and the vocabulary split `tp` ways (column-parallel Q/K/V, gate/up
    /// and head; row-parallel O and down, each followed by an all-reduce of the hidden state). KV
    /// heads split too, or are replicated when there are fewer of them than GPUs (`tp` a multiple
    /// of them), as Megatron and vLLM do.
    pub fn tensor_parallel(&self, tp: u64) -> Result<HfConfig> {
        if tp <= 1 {
            return Ok(self.clone());
        }
        let bad = |what: String| {
            WorkloadError::Option(format!(
                "--tp {tp}: {what}; use a tensor-parallel degree that divides it"
            ))
        };
        if !self.heads.is_multiple_of(tp) {
            return Err(bad(format!(
                "{} attention heads do not split over {tp} devices",
                self.heads
            )));
        }
        if self.expert_parallel && !self.experts.is_multiple_of(tp) {
            return Err(bad(format!(
                "{} experts do not spread evenly over {tp} devices",
                self.experts
            )));
        }
        if !self.expert_parallel && !self.intermediate.is_multiple_of(tp) {
            return Err(bad(format!(
                "the MLP width {} does not split over {tp} devices",
                self.intermediate
            )));
        }
        let kv_heads = if self.kv_heads.is_multiple_of(tp) {
            self.kv_heads / tp
        } else if tp.is_multiple_of(self.kv_heads) {
            1
        } else {
            return Err(bad(format!(
                "{} KV heads neither split over nor replicate onto {tp} devices",
                self.kv_heads
            )));
        };
        Ok(HfConfig {
            heads: self.heads / tp,
            kv_heads,
            intermediate: if self.expert_parallel {
                self.intermediate
            } else {
                self.intermediate / tp
            },
            vocab: self.vocab.div_ceil(tp),
            tp,
            ..self.clone()
        })
    }

    /// Expands the config into a trace for the requested phase(s).
    pub fn trace(&self, name: &str, shape: &LlmShape) -> Result<Trace> {
        if shape.batch == 0 || shape.prompt == 0 {
            return Err(WorkloadError::Option(
                "batch and sequence length must be positive".into(),
            ));
        }
        let mut b = TraceBuilder::new(name);
        b.act_dtype = self.dtype;
        b.weight_dtype = self.dtype;
        let w = self.weights(&mut b, self.expert_group(shape))?;
        if matches!(shape.phase, LlmPhase::Prefill | LlmPhase::Both) {
            b.phase = Phase::Prefill;
            b.push_scope("prefill");
            self.forward(&mut b, &w, shape.batch, shape.prompt, 0)?;
            b.pop_scope();
        }
        if matches!(shape.phase, LlmPhase::Decode | LlmPhase::Both) {
            b.phase = Phase::Decode;
            b.push_scope("decode");
            self.forward(&mut b, &w, shape.batch, 1, shape.context)?;
            b.pop_scope();
        }
        Ok(b.finish())
    }

    fn weights(&self, b: &mut TraceBuilder, group: std::ops::Range<u64>) -> Result<Weights> {
        let (d, hd) = (self.hidden, self.head_dim);
        let (q_out, kv_out) = (self.heads * hd, self.kv_heads * hd);
        let embed = b.weight("model.embed_tokens", "weight", vec![self.vocab, d])?;
        let pos_embed = match self.family {
            Family::Gpt2 => Some(b.weight("wpe", "weight", vec![self.max_positions, d])?),
            _ => None,
        };
        let ln_bias = self.family.norm_kind() == NormKind::Layer;
        let mut layers = Vec::new();
        for l in 0..self.layers {
            let p = format!("model.layers.{l}");
            let norm = |b: &mut TraceBuilder, n: &str| -> Result<Lin> {
                Ok(Lin {
                    w: b.weight(&format!("{p}.{n}"), "weight", vec![d])?,
                    bias: if ln_bias {
                        Some(b.weight(&format!("{p}.{n}"), "bias", vec![d])?)
                    } else {
                        None
                    },
                })
            };
            let ln1 = norm(b, "input_layernorm")?;
            let ln2 = if self.mlp_norm {
                Some(norm(b, "post_attention_layernorm")?)
            } else {
                None
            };
            let qkv_bias = self.qkv_bias;
            let (q, k, v) = (
                lin(b, &format!("{p}.self_attn.q_proj"), q_out, d, qkv_bias)?,
                lin(b, &format!("{p}.self_attn.k_proj"), kv_out, d, qkv_bias)?,
                lin(b, &format!("{p}.self_attn.v_proj"), kv_out, d, qkv_bias)?,
            );
            let o = lin(b, &format!("{p}.self_attn.o_proj"), d, q_out, self.o_bias)?;
            let router = if self.experts > 1 {
                Some(lin(
                    b,
                    &format!("{p}.block_sparse_moe.gate"),
                    self.experts,
                    d,
                    false,
                )?)
            } else {
                None
            };
            let mut experts = Vec::new();
            for e in group.clone() {
                let ep = if self.experts > 1 {
                    format!("{p}.block_sparse_moe.experts.{e}")
                } else {
                    format!("{p}.mlp")
                };
                let gate = if self.family.gated_mlp() {
                    Some(lin(
                        b,
                        &format!("{ep}.gate_proj"),
                        self.intermediate,
                        d,
                        false,
                    )?)
                } else {
                    None
                };
                let mb = self.mlp_bias;
                let up = lin(b, &format!("{ep}.up_proj"), self.intermediate, d, mb)?;
                let down = lin(b, &format!("{ep}.down_proj"), d, self.intermediate, mb)?;
                experts.push(Mlp { gate, up, down });
            }
            layers.push(LayerWeights {
                ln1,
                ln2,
                q,
                k,
                v,
                o,
                router,
                experts,
            });
        }
        let final_norm = Lin {
            w: b.weight("model.norm", "weight", vec![d])?,
            bias: if ln_bias {
                Some(b.weight("model.norm", "bias", vec![d])?)
            } else {
                None
            },
        };
        let head = Lin {
            w: if self.tie_embeddings {
                embed
            } else {
                b.weight("lm_head", "weight", vec![self.vocab, d])?
            },
            bias: if self.head_bias {
                Some(b.weight("lm_head", "bias", vec![self.vocab])?)
            } else {
                None
            },
        };
        Ok(Weights {
            embed,
            pos_embed,
            layers,
            final_norm,
            head,
            expert_group: group,
        })
    }

    fn forward(
        &self,
        b: &mut TraceBuilder,
        w: &Weights,
        batch: u64,
        new: u64,
        cached: u64,
    ) -> Result<()> {
        let d = self.hidden;
        let kv_len_full = cached.checked_add(new).ok_or(WorkloadError::Overflow {
            what: "context length".into(),
        })?;
        let kv_len = self
            .sliding_window
            .map_or(kv_len_full, |wnd| kv_len_full.min(wnd));
        let ids = b.input("input_ids", vec![batch, new], DType::Int64)?;
        let mut x = embed_op(b, "embed_tokens", ids, w.embed, d)?;
        if let Some(pe) = w.pos_embed {
            let shape = b.shape(x).to_vec();
            let name = b.qualify("embed_positions", "");
            x = b.push_op(
                name,
                OpKind::Embedding {
                    rows: batch * new,
                    dim: d,
                },
                vec![x],
                vec![pe],
                vec![shape],
            )?[0];
        }
        let norm_kind = self.family.norm_kind();
        for (l, lw) in w.layers.iter().enumerate() {
            b.push_scope_fmt(format_args!("layers.{l}"));
            let h = norm_op(b, "input_layernorm", x, &lw.ln1, norm_kind)?;
            let mut q = lin_op(b, "self_attn.q_proj", h, &lw.q)?;
            let mut k = lin_op(b, "self_attn.k_proj", h, &lw.k)?;
            let v = lin_op(b, "self_attn.v_proj", h, &lw.v)?;
            if self.rope {
                q = b.eltwise("self_attn.rope_q", EltOp::Rope, &[q])?;
                k = b.eltwise("self_attn.rope_k", EltOp::Rope, &[k])?;
            }
            let kv_new = b.shape(k)[2] * 2;
            b.movement(
                "self_attn.kv_cache_write",
                MoveKind::KvCacheWrite,
                &[k, v],
                vec![batch, new, kv_new],
            )?;
            let (kc, vc) = if cached == 0 {
                (k, v)
            } else {
                let kvw = self.kv_heads * self.head_dim;
                let base = b.qualify("self_attn", "");
                let dt = b.act_dtype;
                let kc = b.add_tensor(
                    format!("{base}.k_cache"),
                    vec![batch, kv_len, kvw],
                    dt,
                    TensorRole::KvCache,
                )?;
                let vc = b.add_tensor(
                    format!("{base}.v_cache"),
                    vec![batch, kv_len, kvw],
                    dt,
                    TensorRole::KvCache,
                )?;
                (kc, vc)
            };
            let a = b.attention("self_attn.attn", q, kc, vc, self.heads, self.kv_heads, true)?;
            let o = lin_op(b, "self_attn.o_proj", a, &lw.o)?;
            if self.parallel_block {
                // x + attn(ln(x)) + mlp(ln'(x)): both branches are row-parallel partial sums
                // under tensor parallelism, added first and reduced once.
                let hm = match &lw.ln2 {
                    Some(ln2) => norm_op(b, "mlp_layernorm", x, ln2, norm_kind)?,
                    None => h,
                };
                let m = self.mlp_or_moe(b, hm, lw, w, batch * new)?;
                let sum = b.eltwise("parallel_sum", EltOp::Add, &[o, m])?;
                let sum = self.all_reduce(b, "all_reduce", sum)?;
                x = b.eltwise("residual", EltOp::Add, &[x, sum])?;
            } else {
                let o = self.all_reduce(b, "self_attn.all_reduce", o)?;
                x = b.eltwise("residual_attn", EltOp::Add, &[x, o])?;
                let ln2 = lw.ln2.as_ref().unwrap_or(&lw.ln1);
                let h2 = norm_op(b, "post_attention_layernorm", x, ln2, norm_kind)?;
                let m = self.mlp_or_moe(b, h2, lw, w, batch * new)?;
                let m = self.all_reduce(b, "mlp.all_reduce", m)?;
                x = b.eltwise("residual_mlp", EltOp::Add, &[x, m])?;
            }
            b.pop_scope();
        }
        // Serving engines compute logits for the last position only.
        let last = if new > 1 {
            b.movement("last_token", MoveKind::Slice, &[x], vec![batch, 1, d])?
        } else {
            x
        };
        let n = norm_op(b, "norm", last, &w.final_norm, norm_kind)?;
        lin_op(b, "lm_head", n, &w.head)?;
        Ok(())
    }

    fn mlp_or_moe(
        &self,
        b: &mut TraceBuilder,
        h: TensorId,
        lw: &LayerWeights,
        w: &Weights,
        tokens: u64,
    ) -> Result<TensorId> {
        match &lw.router {
            None => mlp_op(b, "mlp", h, &lw.experts[0]),
            Some(router) => self.moe(b, h, router, w, &lw.experts, tokens),
        }
    }

    /// The all-reduce of a row-parallel output over the tensor-parallel group (none on one GPU).
    fn all_reduce(&self, b: &mut TraceBuilder, name: &str, t: TensorId) -> Result<TensorId> {
        if self.tp <= 1 {
            return Ok(t);
        }
        let shape = b.shape(t).to_vec();
        b.movement(name, MoveKind::AllReduce { group: self.tp }, &[t], shape)
    }

    fn moe(
        &self,
        b: &mut TraceBuilder,
        h: TensorId,
        router: &Lin,
        w: &Weights,
        experts: &[Mlp],
        tokens: u64,
    ) -> Result<TensorId> {
        let d = self.hidden;
        let logits = lin_op(b, "block_sparse_moe.gate", h, router)?;
        b.softmax("block_sparse_moe.routing", logits)?;
        let assignments = tokens.saturating_mul(self.experts_per_token);
        let counts = self.tokens_per_expert(tokens, assignments);
        let mut outs = Vec::new();
        let mut local = 0u64;
        for (e, mlp) in w.expert_group.clone().zip(experts) {
            let n = counts.get(e as usize).copied().unwrap_or(0);
            local = local.saturating_add(n);
            if n == 0 {
                continue;
            }
            let xe = b.movement(
                &format!("block_sparse_moe.dispatch.{e}"),
                MoveKind::Gather,
                &[h],
                vec![n, d],
            )?;
            outs.push(mlp_op(
                b,
                &format!("block_sparse_moe.experts.{e}"),
                xe,
                mlp,
            )?);
        }
        let shape = b.shape(h).to_vec();
        let name = b.qualify("block_sparse_moe.combine", "");
        // Every routed token's expert outputs are summed: all of them here, or under expert
        // parallelism this GPU's (the all-reduce adds the others').
        let elems = if self.expert_parallel {
            local.saturating_mul(d)
        } else {
            checked_numel(&shape)
                .unwrap_or(0)
                .saturating_mul(self.experts_per_token)
        };
        Ok(b.push_op(
            name,
            OpKind::Elementwise {
                op: EltOp::Add,
                elems,
            },
            outs,
            vec![],
            vec![shape],
        )?[0])
    }
}

struct Lin {
    w: TensorId,
    bias: Option<TensorId>,
}

struct Mlp {
    gate: Option<Lin>,
    up: Lin,
    down: Lin,
}

struct LayerWeights {
    ln1: Lin,
    /// The MLP's own norm; `None` where a parallel block's MLP shares `ln1`'s output.
    ln2: Option<Lin>,
    q: Lin,
    k: Lin,
    v: Lin,
    o: Lin,
    router: Option<Lin>,
    experts: Vec<Mlp>,
}

struct Weights {
    embed: TensorId,
    pos_embed: Option<TensorId>,
    layers: Vec<LayerWeights>,
    final_norm: Lin,
    head: Lin,
    /// The experts (global indices) each layer's `experts` hold, in order.
    expert_group: std::ops::Range<u64>,
}

fn invalid(file: &str, place: &str, msg: &str, hint: &str) -> WorkloadError {
    WorkloadError::Invalid {
        file: file.to_string(),
        place: place.to_string(),
        msg: msg.to_string(),
        hint: hint.to_string(),
    }
}

fn lin(b: &mut TraceBuilder, name: &str, out: u64, inp: u64, bias: bool) -> Result<Lin> {
    Ok(Lin {
        w: b.weight(name, "weight", vec![out, inp])?,
        bias: if bias {
            Some(b.weight(name, "bias", vec![out])?)
        } else {
            None
        },
    })
}

fn lin_op(b: &mut TraceBuilder, name: &str, x: TensorId, l: &Lin) -> Result<TensorId> {
    let y = b.linear_with(name, x, l.w)?;
    if let Some(bias) = l.bias {
        // Bias add is fused into the GEMM epilogue: attach the tensor to the GEMM op.
        b.attach_weight(bias);
    }
    Ok(y)
}

fn norm_op(
    b: &mut TraceBuilder,
    name: &str,
    x: TensorId,
    l: &Lin,
    kind: NormKind,
) -> Result<TensorId> {
    let shape = b.shape(x).to_vec();
    let name = b.qualify(name, "");
    let elems = checked_numel(&shape).unwrap_or(0);
    let mut w = vec![l.w];
    w.extend(l.bias);
    Ok(b.push_op(name, OpKind::Norm { kind, elems }, vec![x], w, vec![shape])?[0])
}

fn embed_op(
    b: &mut TraceBuilder,
    name: &str,
    ids: TensorId,
    table: TensorId,
    d: u64,
) -> Result<TensorId> {
    let mut shape = b.shape(ids).to_vec();
    let rows = checked_numel(&shape).unwrap_or(0);
    shape.push(d);
    let name = b.qualify(name, "");
    Ok(b.push_op(
        name,
        OpKind::Embedding { rows, dim: d },
        vec![ids],
        vec![table],
        vec![shape],
    )?[0])
}

fn mlp_op(b: &mut TraceBuilder, name: &str, x: TensorId, m: &Mlp) -> Result<TensorId> {
    let up = lin_op(b, &format!("{name}.up_proj"), x, &m.up)?;
    let hidden = match &m.gate {
        Some(g) => {
            let gate = lin_op(b, &format!("{name}.gate_proj"), x, g)?;
            let act = b.eltwise(&format!("{name}.act"), EltOp::Silu, &[gate])?;
            b.eltwise(&format!("{name}.mul"), EltOp::Mul, &[act, up])?
        }
        None => b.eltwise(&format!("{name}.act"), EltOp::Gelu, &[up])?,
    };
    lin_op(b, &format!("{name}.down_proj"), hidden, &m.down)
}
