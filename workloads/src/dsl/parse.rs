//! Grammar of the network DSL (parsed with `nom`), producing an AST with byte offsets.
//!
//! ```text
//! file   := sep* (stmt sep+)* stmt?
//! stmt   := 'network' IDENT | 'let' IDENT '=' expr | 'input' '[' expr,* ']' [IDENT]
//!         | 'block' IDENT '(' IDENT,* ')' body | 'repeat' expr body
//!         | 'residual' body ['shortcut' body] | 'gate' body | 'scope' IDENT body
//!         | 'if' expr body ['else' body]
//!         | IDENT '(' expr,* ')' ['as' IDENT]          -- block call
//!         | IDENT (expr | IDENT '=' expr)*              -- op
//! body   := '{' sep* (stmt sep+)* stmt? '}'
//! expr   := sum [('=='|'!=') sum] ; sum := term (('+'|'-') term)* ; term := atom (('*'|'/'|'%') atom)* ; atom := INT | IDENT | '(' expr ')'
//! ```
//! Separators are newlines and `;`; `#` starts a comment.

use nom::{
    branch::alt,
    bytes::complete::{tag, take_while, take_while1},
    character::complete::{char, digit1, one_of},
    combinator::{opt, recognize},
    multi::{many0, separated_list0},
    sequence::{delimited, pair, preceded},
    IResult, Parser,
};

/// Maximum nesting of braces and parentheses, so hostile input cannot overflow the stack.
pub const MAX_NESTING: usize = 64;

/// Most `+ - * / %` operators in one expression: a flat chain builds a tree as deep as it is long,
/// and evaluating or dropping a 100,000-term one overflows the stack.
pub const MAX_OPERATORS: usize = 1000;

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Int(i64),
    Var(String, usize),
    Bin(Box<Expr>, char, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Pos(Expr),
    Kw(String, Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Network(String),
    Let(String, Expr),
    Input {
        dims: Vec<Expr>,
        dtype: Option<String>,
    },
    Block {
        name: String,
        params: Vec<String>,
        body: Vec<Stmt>,
    },
    Repeat {
        count: Expr,
        body: Vec<Stmt>,
    },
    Residual {
        body: Vec<Stmt>,
        shortcut: Option<Vec<Stmt>>,
    },
    Gate {
        body: Vec<Stmt>,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    Scope {
        name: String,
        body: Vec<Stmt>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
        alias: Option<String>,
    },
    Op {
        name: String,
        args: Vec<Arg>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    /// Byte offset of the statement's first character in the source.
    pub pos: usize,
}

type Res<'a, T> = IResult<&'a str, T>;

/// Parsing context: the whole source, for turning remaining input into byte offsets.
struct Ctx<'s> {
    src: &'s str,
}

impl Ctx<'_> {
    fn pos(&self, rest: &str) -> usize {
        self.src.len() - rest.len()
    }
}

fn comment(i: &str) -> Res<'_, &str> {
    recognize(pair(char('#'), take_while(|c| c != '\n'))).parse(i)
}

/// Horizontal space, line continuations and comments.
fn sp(i: &str) -> Res<'_, ()> {
    let (i, _) = many0(alt((
        take_while1(|c| c == ' ' || c == '\t' || c == '\r'),
        tag("\\\n"),
        comment,
    )))
    .parse(i)?;
    Ok((i, ()))
}

fn sep(i: &str) -> Res<'_, ()> {
    let (i, _) = many0(preceded(sp, one_of("\n;"))).parse(i)?;
    let (i, _) = sp(i)?;
    Ok((i, ()))
}

fn ident(i: &str) -> Res<'_, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
    ))
    .parse(i)
}

fn tok<'a, O, P>(p: P) -> impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>
where
    P: Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
{
    preceded(sp, p)
}

fn keyword<'a>(
    kw: &'static str,
) -> impl Parser<&'a str, Output = &'a str, Error = nom::error::Error<&'a str>> {
    move |i: &'a str| {
        let (rest, id) = tok(ident).parse(i)?;
        if id == kw {
            Ok((rest, id))
        } else {
            Err(nom::Err::Error(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Tag,
            )))
        }
    }
}

impl<'s> Ctx<'s> {
    fn expr<'a>(&self, i: &'a str, depth: usize) -> Res<'a, Expr> {
        let (i, lhs) = self.sum(i, depth)?;
        match tok(alt((tag("=="), tag("!=")))).parse(i) {
            Ok((r, op)) => {
                let (r, rhs) = self.sum(r, depth)?;
                let c = if op == "==" { '=' } else { '!' };
                Ok((r, Expr::Bin(Box::new(lhs), c, Box::new(rhs))))
            }
            Err(_) => Ok((i, lhs)),
        }
    }

    fn sum<'a>(&self, i: &'a str, depth: usize) -> Res<'a, Expr> {
        let (mut i, mut lhs) = self.term(i, depth)?;
        let mut operators = 0usize;
        loop {
            match tok(one_of("+-")).parse(i) {
                Ok((r, op)) => {
                    operators += 1;
                    if operators > MAX_OPERATORS {
                        return Err(nom::Err::Failure(nom::error::Error::new(
                            i,
                            nom::error::ErrorKind::Many1Count,
                        )));
                    }
                    let (r, rhs) = self.term(r, depth)?;
                    lhs = Expr::Bin(Box::new(lhs), op, Box::new(rhs));
                    i = r;
                }
                Err(_) => return Ok((i, lhs)),
            }
        }
    }

    fn term<'a>(&self, i: &'a str, depth: usize) -> Res<'a, Expr> {
        let (mut i, mut lhs) = self.atom(i, depth)?;
        let mut operators = 0usize;
        loop {
            match tok(one_of("*/%")).parse(i) {
                Ok((r, op)) => {
                    operators += 1;
                    if operators > MAX_OPERATORS {
                        return Err(nom::Err::Failure(nom::error::Error::new(
                            i,
                            nom::error::ErrorKind::Many1Count,
                        )));
                    }
                    let (r, rhs) = self.atom(r, depth)?;
                    lhs = Expr::Bin(Box::new(lhs), op, Box::new(rhs));
                    i = r;
                }
                Err(_) => return Ok((i, lhs)),
            }
        }
    }

    fn atom<'a>(&self, i: &'a str, depth: usize) -> Res<'a, Expr> {
        if depth > MAX_NESTING {
            return Err(nom::Err::Failure(nom::error::Error::new(
                i,
                nom::error::ErrorKind::TooLarge,
            )));
        }
        let (i, _) = sp(i)?;
        if let Some(r) = i.strip_prefix('-') {
            let (r, e) = self.atom(r, depth + 1)?;
            return Ok((r, Expr::Bin(Box::new(Expr::Int(0)), '-', Box::new(e))));
        }
        if let Ok((r, d)) = digit1::<&str, nom::error::Error<&str>>(i) {
            return match d.parse::<i64>() {
                Ok(v) => Ok((r, Expr::Int(v))),
                Err(_) => Err(nom::Err::Failure(nom::error::Error::new(
                    i,
                    nom::error::ErrorKind::Digit,
                ))),
            };
        }
        if let Ok((r, id)) = ident(i) {
            return Ok((r, Expr::Var(id.to_string(), self.pos(i))));
        }
        let (r, _) = char('(').parse(i)?;
        let (r, e) = self.expr(r, depth + 1)?;
        let (r, _) = tok(char(')')).parse(r)?;
        Ok((r, e))
    }

    fn body<'a>(&self, i: &'a str, depth: usize) -> Res<'a, Vec<Stmt>> {
        if depth > MAX_NESTING {
            return Err(nom::Err::Failure(nom::error::Error::new(
                i,
                nom::error::ErrorKind::TooLarge,
            )));
        }
        let (i, _) = tok(char('{')).parse(i)?;
        let (i, stmts) = self.stmts(i, depth + 1)?;
        let (i, _) = sep(i)?;
        let (i, _) = tok(char('}')).parse(i)?;
        Ok((i, stmts))
    }

    fn stmts<'a>(&self, mut i: &'a str, depth: usize) -> Res<'a, Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            let (r, _) = sep(i)?;
            if r.is_empty() || r.starts_with('}') {
                return Ok((r, out));
            }
            let (r, s) = match self.stmt(r, depth) {
                Ok(v) => v,
                // A statement that does not parse is a hard failure at its position.
                Err(nom::Err::Error(e)) => return Err(nom::Err::Failure(e)),
                Err(e) => return Err(e),
            };
            out.push(s);
            // A statement must end at a separator, a closing brace or the end of input.
            let (r2, _) = sp(r)?;
            if !(r2.is_empty()
                || r2.starts_with('\n')
                || r2.starts_with(';')
                || r2.starts_with('}'))
            {
                return Err(nom::Err::Failure(nom::error::Error::new(
                    r2,
                    nom::error::ErrorKind::Eof,
                )));
            }
            i = r2;
        }
    }

    fn stmt<'a>(&self, i: &'a str, depth: usize) -> Res<'a, Stmt> {
        let (i, _) = sp(i)?;
        let pos = self.pos(i);
        let (after_kw, word) = ident(i)?;
        let kind;
        let rest;
        match word {
            "network" => {
                let (r, n) = tok(ident).parse(after_kw)?;
                kind = StmtKind::Network(n.to_string());
                rest = r;
            }
            "let" => {
                let (r, n) = tok(ident).parse(after_kw)?;
                let (r, _) = tok(char('=')).parse(r)?;
                let (r, e) = self.expr(r, depth)?;
                kind = StmtKind::Let(n.to_string(), e);
                rest = r;
            }
            "input" => {
                let (r, dims) = delimited(
                    tok(char('[')),
                    separated_list0(tok(char(',')), |x| self.expr(x, depth)),
                    tok(char(']')),
                )
                .parse(after_kw)?;
                let (r, dt) = opt(tok(ident)).parse(r)?;
                kind = StmtKind::Input {
                    dims,
                    dtype: dt.map(str::to_string),
                };
                rest = r;
            }
            "block" => {
                let (r, n) = tok(ident).parse(after_kw)?;
                let (r, params) = delimited(
                    tok(char('(')),
                    separated_list0(tok(char(',')), tok(ident)),
                    tok(char(')')),
                )
                .parse(r)?;
                let (r, body) = self.body(r, depth)?;
                kind = StmtKind::Block {
                    name: n.to_string(),
                    params: params.into_iter().map(str::to_string).collect(),
                    body,
                };
                rest = r;
            }
            "repeat" => {
                let (r, count) = self.expr(after_kw, depth)?;
                let (r, body) = self.body(r, depth)?;
                kind = StmtKind::Repeat { count, body };
                rest = r;
            }
            "residual" => {
                let (r, body) = self.body(after_kw, depth)?;
                let (r, shortcut) = match keyword("shortcut").parse(r) {
                    Ok((r2, _)) => {
                        let (r3, b) = self.body(r2, depth)?;
                        (r3, Some(b))
                    }
                    Err(_) => (r, None),
                };
                kind = StmtKind::Residual { body, shortcut };
                rest = r;
            }
            "if" => {
                let (r, cond) = self.expr(after_kw, depth)?;
                let (r, then) = self.body(r, depth)?;
                let (r, otherwise) = match keyword("else").parse(r) {
                    Ok((r2, _)) => self.body(r2, depth)?,
                    Err(_) => (r, Vec::new()),
                };
                kind = StmtKind::If {
                    cond,
                    then,
                    otherwise,
                };
                rest = r;
            }
            "gate" => {
                let (r, body) = self.body(after_kw, depth)?;
                kind = StmtKind::Gate { body };
                rest = r;
            }
            "scope" => {
                let (r, n) = tok(ident).parse(after_kw)?;
                let (r, body) = self.body(r, depth)?;
                kind = StmtKind::Scope {
                    name: n.to_string(),
                    body,
                };
                rest = r;
            }
            _ if after_kw.starts_with('(') => {
                let (r, args) = delimited(
                    char('('),
                    separated_list0(tok(char(',')), |x| self.expr(x, depth)),
                    tok(char(')')),
                )
                .parse(after_kw)?;
                let (r, alias) = opt(preceded(
                    keyword("as"),
                    tok(take_while1(|c: char| {
                        c.is_ascii_alphanumeric() || c == '_' || c == '.'
                    })),
                ))
                .parse(r)?;
                kind = StmtKind::Call {
                    name: word.to_string(),
                    args,
                    alias: alias.map(str::to_string),
                };
                rest = r;
            }
            _ => {
                let (r, args) = many0(|x| self.arg(x, depth)).parse(after_kw)?;
                kind = StmtKind::Op {
                    name: word.to_string(),
                    args,
                };
                rest = r;
            }
        }
        Ok((rest, Stmt { kind, pos }))
    }

    fn arg<'a>(&self, i: &'a str, depth: usize) -> Res<'a, Arg> {
        let (i, _) = sp(i)?;
        if let Ok((r, k)) = ident(i) {
            if let Ok((r2, _)) = char::<&str, nom::error::Error<&str>>('=').parse(r) {
                let (r3, e) = self.expr(r2, depth)?;
                return Ok((r3, Arg::Kw(k.to_string(), e)));
            }
        }
        let (r, e) = self.expr(i, depth)?;
        Ok((r, Arg::Pos(e)))
    }
}

/// Parses a whole DSL source. On failure returns the byte offset and a description.
pub fn parse_program(src: &str) -> Result<Vec<Stmt>, (usize, String)> {
    let ctx = Ctx { src };
    match ctx.stmts(src, 0) {
        Ok((rest, stmts)) => {
            if rest.trim().is_empty() {
                Ok(stmts)
            } else {
                Err((ctx.pos(rest), format!("unexpected `{}`", first_token(rest))))
            }
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let what = match e.code {
                nom::error::ErrorKind::TooLarge => {
                    format!("nesting deeper than {MAX_NESTING} levels")
                }
                nom::error::ErrorKind::Digit => "integer literal out of range".to_string(),
                nom::error::ErrorKind::Many1Count => {
                    format!("more than {MAX_OPERATORS} operators in one expression; use `let` to name parts of it")
                }
                _ if e.input.is_empty() => {
                    "unexpected end of input (unclosed `{`, `(` or `[`?)".to_string()
                }
                _ => format!("unexpected `{}`", first_token(e.input)),
            };
            Err((ctx.pos(e.input), what))
        }
        Err(nom::Err::Incomplete(_)) => Err((src.len(), "unexpected end of input".into())),
    }
}

fn first_token(s: &str) -> String {
    let s = s.trim_start_matches([' ', '\t']);
    if s.starts_with('\n') {
        return "end of line".into();
    }
    let t: String = s
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(20)
        .collect();
    if t.is_empty() {
        "end of input".into()
    } else {
        t
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src[..src.floor_char_boundary_compat(pos)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}
