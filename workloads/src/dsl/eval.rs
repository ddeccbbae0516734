//! Evaluates a parsed DSL program into a trace. Ops act on the "current" tensor, like a
//! `torch.nn.Sequential`; `residual`, `gate` and blocks give the branching real networks need.

use std::collections::HashMap;

use super::parse::{line_col, Arg, Expr, Stmt, StmtKind};
use crate::builder::{ConvSpec, PoolWindow, TraceBuilder};
use crate::error::{Result, WorkloadError};
use crate::ir::*;

pub use crate::ir::MAX_OPS;
/// Deepest block-call nesting (blocks may call blocks, but never unboundedly).
pub const MAX_CALL_DEPTH: usize = 64;

pub struct Evaluator<'a> {
    file: &'a str,
    src: &'a str,
    b: TraceBuilder,
    vars: Vec<HashMap<String, i64>>,
    fixed: HashMap<String, i64>,
    blocks: HashMap<String, (Vec<String>, Vec<Stmt>)>,
    calls: HashMap<String, u32>,
    cur: Option<TensorId>,
    depth: usize,
    name: Option<String>,
}

impl<'a> Evaluator<'a> {
    /// `fixed` holds variables set from outside (`batch`, `seq`): `let` cannot override them.
    pub fn new(file: &'a str, src: &'a str, fixed: HashMap<String, i64>) -> Self {
        Evaluator {
            file,
            src,
            b: TraceBuilder::new(""),
            vars: vec![HashMap::new()],
            fixed,
            blocks: HashMap::new(),
            calls: HashMap::new(),
            cur: None,
            depth: 0,
            name: None,
        }
    }

    pub fn run(mut self, stmts: &[Stmt], default_name: &str) -> Result<Trace> {
        self.exec_all(stmts)?;
        if self.b.ops_len() == 0 {
            return Err(self.err(
                self.src.len(),
                "the network has no operations",
                "add ops after `input [...]`",
            ));
        }
        let mut t = self.b.finish();
        t.name = self.name.unwrap_or_else(|| default_name.to_string());
        Ok(t)
    }

    fn err(&self, pos: usize, msg: impl Into<String>, hint: impl Into<String>) -> WorkloadError {
        perr((self.file, self.src), pos, msg, hint)
    }

    fn at(&self, pos: usize, e: WorkloadError) -> WorkloadError {
        pat((self.file, self.src), pos, e)
    }

    fn lookup(&self, name: &str) -> Option<i64> {
        if let Some(v) = self.fixed.get(name) {
            return Some(*v);
        }
        self.vars.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn eval(&self, e: &Expr, pos: usize) -> Result<i64> {
        Ok(match e {
            Expr::Int(v) => *v,
            Expr::Var(n, p) => self.lookup(n).ok_or_else(|| {
                self.err(
                    *p,
                    format!("unknown variable `{n}`"),
                    "define it with `let` or as a block parameter",
                )
            })?,
            Expr::Bin(l, op, r) => {
                let (a, b) = (self.eval(l, pos)?, self.eval(r, pos)?);
                let v = match op {
                    '+' => a.checked_add(b),
                    '-' => a.checked_sub(b),
                    '*' => a.checked_mul(b),
                    '/' | '%' if b == 0 => return Err(self.err(pos, "division by zero", "")),
                    '/' => a.checked_div(b),
                    '=' => Some((a == b) as i64),
                    '!' => Some((a != b) as i64),
                    _ => a.checked_rem(b),
                };
                v.ok_or_else(|| self.err(pos, "arithmetic overflow in expression", ""))?
            }
        })
    }

    fn eval_dim(&self, e: &Expr, pos: usize, what: &str) -> Result<u64> {
        let v = self.eval(e, pos)?;
        if v <= 0 {
            return Err(self.err(
                pos,
                format!("{what} must be positive, got {v}"),
                "use a size of at least 1",
            ));
        }
        Ok(v as u64)
    }

    fn cur(&self, pos: usize) -> Result<TensorId> {
        self.cur.ok_or_else(|| {
            self.err(
                pos,
                "no input tensor yet",
                "start the network with `input [C, H, W]`",
            )
        })
    }

    fn exec_all(&mut self, stmts: &[Stmt]) -> Result<()> {
        for s in stmts {
            self.exec(s)?;
            if self.b.ops_len() > MAX_OPS {
                return Err(self.err(
                    s.pos,
                    format!("more than {MAX_OPS} ops"),
                    "reduce repeat counts",
                ));
            }
        }
        Ok(())
    }

    fn exec(&mut self, s: &Stmt) -> Result<()> {
        let pos = s.pos;
        match &s.kind {
            StmtKind::Network(n) => self.name = Some(n.clone()),
            StmtKind::Let(n, e) => {
                let v = self.eval(e, pos)?;
                if let Some(scope) = self.vars.last_mut() {
                    scope.insert(n.clone(), v);
                }
            }
            StmtKind::Input { dims, dtype } => {
                let mut shape = vec![self.lookup("batch").unwrap_or(1).max(1) as u64];
                for d in dims {
                    shape.push(self.eval_dim(d, pos, "input dimension")?);
                }
                let dt = match dtype.as_deref() {
                    None => self.b.act_dtype,
                    Some("ids") => DType::Int64,
                    Some(d) => DType::parse(d).ok_or_else(|| {
                        self.err(
                            pos,
                            format!("unknown dtype `{d}`"),
                            "use f32, f16, bf16, fp8, int8, int4 or ids",
                        )
                    })?,
                };
                let t = self
                    .b
                    .input("input", shape, dt)
                    .map_err(|e| self.at(pos, e))?;
                self.cur = Some(t);
            }
            StmtKind::Block { name, params, body } => {
                self.blocks
                    .insert(name.clone(), (params.clone(), body.clone()));
            }
            StmtKind::Repeat { count, body } => {
                let n = self.eval(count, pos)?;
                if !(0..=1_000_000).contains(&n) {
                    return Err(self.err(
                        pos,
                        format!("repeat count {n} out of range"),
                        "use 0 to 1000000",
                    ));
                }
                for _ in 0..n {
                    self.exec_all(body)?;
                }
            }
            StmtKind::Residual { body, shortcut } => {
                let x = self.cur(pos)?;
                self.exec_all(body)?;
                let y = self.cur(pos)?;
                self.cur = Some(x);
                if let Some(sc) = shortcut {
                    self.b.push_scope("downsample");
                    let r = self.exec_all(sc);
                    self.b.pop_scope();
                    r?;
                }
                let skip = self.cur(pos)?;
                let out = self
                    .b
                    .eltwise("", EltOp::Add, &[y, skip])
                    .map_err(|e| self.at(pos, e))?;
                self.cur = Some(out);
            }
            StmtKind::Gate { body } => {
                let x = self.cur(pos)?;
                self.b.push_scope("se");
                let r = self.exec_all(body);
                self.b.pop_scope();
                r?;
                let g = self.cur(pos)?;
                let out = self
                    .b
                    .eltwise("", EltOp::Mul, &[x, g])
                    .map_err(|e| self.at(pos, e))?;
                self.cur = Some(out);
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                if self.eval(cond, pos)? != 0 {
                    self.exec_all(then)?;
                } else {
                    self.exec_all(otherwise)?;
                }
            }
            StmtKind::Scope { name, body } => {
                self.b.push_scope(name);
                let r = self.exec_all(body);
                self.b.pop_scope();
                r?;
            }
            StmtKind::Call { name, args, alias } => self.call(pos, name, args, alias.as_deref())?,
            StmtKind::Op { name, args } => self.op(pos, name, args)?,
        }
        Ok(())
    }

    fn call(&mut self, pos: usize, name: &str, args: &[Expr], alias: Option<&str>) -> Result<()> {
        let Some((params, body)) = self.blocks.get(name).cloned() else {
            return Err(self.err(
                pos,
                format!("unknown block `{name}`"),
                "define it with `block NAME(params) { ... }` before calling it",
            ));
        };
        if params.len() != args.len() {
            return Err(self.err(
                pos,
                format!(
                    "block `{name}` takes {} argument(s), got {}",
                    params.len(),
                    args.len()
                ),
                "",
            ));
        }
        if self.depth >= MAX_CALL_DEPTH {
            return Err(self.err(
                pos,
                format!("block calls nested deeper than {MAX_CALL_DEPTH} (recursive block?)"),
                "remove the recursion",
            ));
        }
        let mut scope = HashMap::new();
        for (p, a) in params.iter().zip(args) {
            scope.insert(p.clone(), self.eval(a, pos)?);
        }
        let n = self.calls.entry(name.to_string()).or_insert(0);
        // `as layer.` / `as layer_` number repeated calls: layer.0, layer.1, ...
        let scope_name = match alias {
            Some(a) if a.ends_with('.') || a.ends_with('_') => {
                let k = self.calls.entry(format!("as {a}")).or_insert(0);
                *k += 1;
                format!("{a}{}", *k - 1)
            }
            Some(a) => a.to_string(),
            None => {
                *n += 1;
                format!("{name}{}", *n - 1)
            }
        };
        self.vars.push(scope);
        self.b.push_scope(&scope_name);
        self.depth += 1;
        let r = self.exec_all(&body);
        self.depth -= 1;
        self.b.pop_scope();
        self.vars.pop();
        r
    }

    fn op(&mut self, pos: usize, op: &str, args: &[Arg]) -> Result<()> {
        let mut positional = Vec::new();
        // In source order (a hash map made "no parameter `x`" name a random one of several).
        let mut kw: Vec<(&str, i64)> = Vec::new();
        let mut label = String::new();
        for a in args {
            match a {
                Arg::Pos(e) => positional.push(self.eval(e, pos)?),
                Arg::Kw(k, Expr::Var(v, _)) if k == "name" => label = v.clone(),
                Arg::Kw(k, Expr::Int(v)) if k == "name" => label = v.to_string(),
                Arg::Kw(k, e) => {
                    let v = self.eval(e, pos)?;
                    match kw.iter_mut().find(|(name, _)| *name == k.as_str()) {
                        Some(slot) => slot.1 = v,
                        None => kw.push((k.as_str(), v)),
                    }
                }
            }
        }
        let spec = OpSpec {
            op,
            pos,
            positional,
            kw,
        };
        let x = self.cur(pos)?;
        let out = self.apply(&spec, x, &label)?;
        self.cur = Some(out);
        Ok(())
    }

    fn apply(&mut self, s: &OpSpec, x: TensorId, label: &str) -> Result<TensorId> {
        let pos = s.pos;
        let loc = (self.file, self.src);
        let known: &[&str] = match s.op {
            "conv" => &["k", "kh", "kw", "s", "p", "ph", "pw", "g", "d", "bias"],
            "dwconv" => &["k", "s", "p", "d", "m", "bias"],
            "maxpool" | "avgpool" => &["k", "s", "p", "ceil"],
            "linear" => &["bias"],
            "attention" => &["heads", "causal"],
            "ln" => &["bias"],
            _ => &[],
        };
        if let Some((k, _)) = s.kw.iter().find(|(k, _)| !known.contains(k)) {
            return Err(perr(
                loc,
                pos,
                format!("`{}` has no parameter `{k}`", s.op),
                if known.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("allowed: {}", known.join(", "))
                },
            ));
        }
        let b = &mut self.b;
        let r = match s.op {
            "conv" | "dwconv" => {
                let c_in = b.shape(x).get(1).copied().unwrap_or(0);
                let k = s.get("k", 1)?;
                let d = s.get("d", 1)?;
                let (c_out, groups) = if s.op == "conv" {
                    (s.pos_arg(0, "output channels")?, s.get("g", 1)?)
                } else {
                    (c_in * s.get("m", 1)?, c_in)
                };
                let (kh, kw) = (s.get("kh", k)?, s.get("kw", k)?);
                let p = s.get("p", u64::MAX)?;
                let same = |k: u64| if p == u64::MAX { d * k.saturating_sub(1) / 2 } else { p };
                let spec = ConvSpec {
                    c_out,
                    kh,
                    kw,
                    stride: (s.get("s", 1)?, s.get("s", 1)?),
                    pad: (s.get("ph", same(kh))?, s.get("pw", same(kw))?),
                    dilation: (d, d),
                    groups,
                    bias: s.get("bias", 0)? != 0,
                };
                b.conv2d(label, x, spec)
            }
            "bn" => b.batchnorm(label, x),
            "ln" => b.norm_last(label, x, NormKind::Layer, s.get("bias", 1)? != 0),
            "rmsnorm" => b.norm_last(label, x, NormKind::Rms, false),
            "relu" | "relu6" | "gelu" | "silu" | "swish" | "sigmoid" | "hsigmoid" | "hswish" | "tanh" => {
                let e = match s.op {
                    "relu" => EltOp::Relu,
                    "relu6" => EltOp::Relu6,
                    "gelu" => EltOp::Gelu,
                    "silu" | "swish" => EltOp::Silu,
                    "sigmoid" => EltOp::Sigmoid,
                    "hsigmoid" => EltOp::HardSigmoid,
                    "hswish" => EltOp::HardSwish,
                    _ => EltOp::Tanh,
                };
                b.eltwise(label, e, &[x])
            }
            "maxpool" | "avgpool" => {
                let k = s.get("k", 2)?;
                let kind = if s.op == "maxpool" { PoolKind::Max } else { PoolKind::Avg };
                let window = PoolWindow { k, stride: s.get("s", k)?, pad: s.get("p", 0)?, ceil_mode: s.get("ceil", 0)? != 0 };
                b.pool(label, x, kind, window)
            }
            "gap" => b.global_avg_pool(label, x),
            "flatten" => {
                let sh = b.shape(x).to_vec();
                let rest: u64 = sh[1..].iter().product();
                b.reshape(label, x, vec![sh[0], rest])
            }
            "linear" => {
                let out = s.pos_arg(0, "output features")?;
                b.linear(label, x, out, s.get("bias", 1)? != 0)
            }
            "softmax" => b.softmax(label, x),
            "dropout" | "identity" => Ok(x),
            "tokens" => {
                let sh = b.shape(x).to_vec();
                let [n, c, h, w] = sh[..] else {
                    return Err(perr(loc, pos, "`tokens` needs an NCHW input", ""));
                };
                b.movement(label, MoveKind::Transpose, &[x], vec![n, h * w, c])
            }
            "cls" => {
                let sh = b.shape(x).to_vec();
                let [n, t, d] = sh[..] else {
                    return Err(perr(loc, pos, "`cls` needs a [batch, tokens, dim] input", ""));
                };
                let name = b.qualify(label, "class_token");
                let w = b.weight(&name, "weight", vec![1, 1, d]).map_err(|e| pat(loc, pos, e))?;
                let kind = OpKind::DataMovement {
                    kind: MoveKind::Concat,
                    elems: n * (t + 1) * d,
                };
                b.push_op(name, kind, vec![x], vec![w], vec![vec![n, t + 1, d]]).map(|v| v[0])
            }
            "posemb" => {
                let sh = b.shape(x).to_vec();
                let pshape = [vec![1], sh[1..].to_vec()].concat();
                b.eltwise_param(if label.is_empty() { "pos_embedding" } else { label }, EltOp::Add, x, pshape)
            }
            "embed" => {
                let vocab = s.pos_arg(0, "vocabulary size")?;
                let dim = s.pos_arg(1, "embedding width")?;
                b.embedding(label, x, vocab, dim)
            }
            "addembed" => {
                let rows = s.pos_arg(0, "table rows")?;
                let sh = b.shape(x).to_vec();
                let d = *sh.last().unwrap_or(&1);
                let name = b.qualify(label, "embed");
                let table = b.weight(&name, "weight", vec![rows, d]).map_err(|e| pat(loc, pos, e))?;
                let tokens = sh.iter().rev().skip(1).product();
                let kind = OpKind::Embedding { rows: tokens, dim: d };
                b.push_op(name, kind, vec![x], vec![table], vec![sh]).map(|v| v[0])
            }
            "attention" => {
                let heads = s.get("heads", 1)?;
                let sh = b.shape(x).to_vec();
                let [n, t, d3] = sh[..] else {
                    return Err(perr(loc, pos, "`attention` needs a [batch, tokens, 3*dim] input (after a qkv linear)", ""));
                };
                if d3 % 3 != 0 {
                    return Err(perr(loc, pos, format!("attention input width {d3} is not 3*dim"), "put `linear 3*D` before `attention`"));
                }
                let d = d3 / 3;
                let split_name = b.qualify("", "qkv_split");
                let kind = OpKind::DataMovement {
                    kind: MoveKind::Split,
                    elems: n * t * d3,
                };
                let v = b
                    .push_op(split_name, kind, vec![x], vec![], vec![vec![n, t, d]; 3])
                    .map_err(|e| pat(loc, pos, e))?;
                b.attention(label, v[0], v[1], v[2], heads, heads, s.get("causal", 0)? != 0)
            }
            "token0" => {
                let sh = b.shape(x).to_vec();
                let [n, _, d] = sh[..] else {
                    return Err(perr(loc, pos, "`token0` needs a [batch, tokens, dim] input", ""));
                };
                b.movement(label, MoveKind::Slice, &[x], vec![n, d])
            }
            other => {
                return Err(perr(loc,
                    pos,
                    format!("unknown operation `{other}`"),
                    "use one of conv, dwconv, bn, ln, rmsnorm, relu, relu6, gelu, silu, sigmoid, hsigmoid, hswish, tanh, maxpool, avgpool, gap, flatten, linear, softmax, dropout, tokens, cls, posemb, embed, addembed, attention, token0, or call a block",
                ))
            }
        };
        r.map_err(|e| pat(loc, pos, e))
    }
}

struct OpSpec<'s> {
    op: &'s str,
    pos: usize,
    positional: Vec<i64>,
    kw: Vec<(&'s str, i64)>,
}

impl OpSpec<'_> {
    fn get(&self, k: &str, default: u64) -> Result<u64> {
        match self.kw.iter().find(|(name, _)| *name == k).map(|(_, v)| v) {
            None => Ok(default),
            Some(&v) if v >= 0 => Ok(v as u64),
            Some(&v) => Err(WorkloadError::Shape {
                op: self.op.to_string(),
                msg: format!("`{k}={v}` must not be negative"),
            }),
        }
    }

    fn pos_arg(&self, i: usize, what: &str) -> Result<u64> {
        match self.positional.get(i) {
            Some(&v) if v > 0 => Ok(v as u64),
            Some(&v) => Err(WorkloadError::Shape {
                op: self.op.to_string(),
                msg: format!("{what} must be positive, got {v}"),
            }),
            None => Err(WorkloadError::Shape {
                op: self.op.to_string(),
                msg: format!("missing {what} (argument {})", i + 1),
            }),
        }
    }
}

type Loc<'a> = (&'a str, &'a str);

fn perr(
    loc: Loc<'_>,
    pos: usize,
    msg: impl Into<String>,
    hint: impl Into<String>,
) -> WorkloadError {
    let (line, col) = line_col(loc.1, pos);
    WorkloadError::Parse {
        file: loc.0.to_string(),
        line,
        col,
        msg: msg.into(),
        hint: hint.into(),
    }
}

/// Wraps a builder error (shape problems) with the statement's position.
fn pat(loc: Loc<'_>, pos: usize, e: WorkloadError) -> WorkloadError {
    perr(
        loc,
        pos,
        e.to_string(),
        "check the layer's parameters against its input shape",
    )
}
