//! Recursive-descent parser: tokens to the compiled tree in [`super::ast`].
//!
//! Operator precedence follows Bento: `* / % |` bind tightest, then `+ -`, then comparisons,
//! then `&&`, then `||`. Line breaks end statements, except inside brackets and after an
//! operator; a line starting with `.method()` continues the expression above it.

use std::collections::HashMap;

use super::ast::{BinOp, Expr, Pat, Seg, Stmt, Target};
use super::error::{line_col, ParseError};
use super::lexer::{lex, Tok, Token};
use super::{functions, methods};
use crate::document::{Map, Value};

/// The result of compiling a mapping.
pub struct Parsed {
    pub stmts: Vec<Stmt>,
    pub maps: HashMap<String, Vec<Stmt>>,
    pub nvars: usize,
}

pub fn parse_mapping(src: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser::new(src)?;
    let stmt_err = match p.statements(true) {
        Ok(stmts) => {
            return Ok(Parsed {
                stmts,
                maps: p.maps,
                nvars: p.vars.len(),
            })
        }
        Err(e) => e,
    };
    // As in Bento, a mapping that is one query (`this.doc`, a bare `match … { }`) is short for
    // `root = <query>`. Of the two readings' errors, the one that got further is shown.
    match parse_query(src) {
        Ok((expr, nvars)) => {
            let line = src
                .lines()
                .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map_or(1, |i| i + 1);
            Ok(Parsed {
                stmts: vec![Stmt::Assign {
                    target: Target::Root(Box::new([])),
                    expr,
                    line,
                    edit: false,
                }],
                maps: HashMap::new(),
                nvars,
            })
        }
        Err(q) if (q.line, q.column) > (stmt_err.line, stmt_err.column) => Err(q),
        Err(_) => Err(stmt_err),
    }
}

/// Parse a single query (for `${! ... }` interpolations).
pub fn parse_query(src: &str) -> Result<(Expr, usize), ParseError> {
    let mut p = Parser::new(src)?;
    p.nl_depth = 1;
    let e = p.expr()?;
    p.expect(&Tok::Eof, "the end of the query")?;
    Ok((e, p.vars.len()))
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    /// > 0 inside brackets, where line breaks are plain whitespace.
    nl_depth: usize,
    vars: HashMap<String, usize>,
    params: Vec<(String, u32)>,
    next_param: u32,
    maps: HashMap<String, Vec<Stmt>>,
    /// Current nesting of expressions and blocks, bounded by [`MAX_NESTING`].
    depth: usize,
    /// Where each argument of the call just parsed starts (by parameter), for errors about it.
    last_args_at: Vec<Option<usize>>,
    /// Byte offset of the start of each line after the first (each `\n` + 1), for
    /// [`Parser::line`]: every statement records its line, and counting the line breaks
    /// before it from the start of the mapping made compiling quadratic in its length.
    line_starts: Vec<usize>,
}

/// Deepest expression tree a mapping may build: nested brackets, unary operators and blocks,
/// plus the links of one method chain or operator chain. The parser, the evaluator and
/// `Drop` recurse once per level, so without a bound a pasted or generated mapping like
/// `[[[[…` 1000 levels deep (or `.string()` 100 000 times) overflowed the stack and aborted
/// the process instead of failing with a located error. Real mappings nest a handful of
/// levels; 256 keeps the recursion inside the main thread's stack even in debug builds.
pub const MAX_NESTING: usize = 256;

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Result<Parser<'s>, ParseError> {
        Ok(Parser {
            src,
            toks: lex(src)?,
            pos: 0,
            nl_depth: 0,
            vars: HashMap::new(),
            params: Vec::new(),
            next_param: 0,
            maps: HashMap::new(),
            depth: 0,
            last_args_at: Vec::new(),
            line_starts: src
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1)
                .collect(),
        })
    }

    /// The current token index; past the end it stays on the final `Eof`.
    fn cur(&self) -> usize {
        self.pos.min(self.toks.len() - 1)
    }

    fn skip_nl_if_nested(&mut self) {
        if self.nl_depth > 0 {
            self.skip_newlines();
        }
    }

    fn skip_newlines(&mut self) {
        while self.toks[self.cur()].tok == Tok::Newline {
            self.pos += 1;
        }
        self.pos = self.cur();
    }

    fn peek(&mut self) -> &Tok {
        self.skip_nl_if_nested();
        &self.toks[self.cur()].tok
    }

    fn peek_at(&mut self, n: usize) -> &Tok {
        self.skip_nl_if_nested();
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    fn at(&mut self) -> usize {
        self.skip_nl_if_nested();
        self.toks[self.cur()].at
    }

    fn bump(&mut self) -> Tok {
        self.skip_nl_if_nested();
        let t = self.toks[self.cur()].tok.clone();
        self.pos += 1;
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn err<T>(&mut self, expected: &str) -> Result<T, ParseError> {
        let at = self.at();
        let found = self.toks[self.cur()].tok.describe();
        Err(ParseError::at(
            self.src,
            at,
            format!("expected {expected}, found {found}"),
        ))
    }

    /// Run `f` one nesting level deeper, failing at the token where [`MAX_NESTING`] is passed.
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_NESTING {
            let at = self.at();
            return Err(ParseError::at(
                self.src,
                at,
                format!("mapping is nested or chained too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn expect(&mut self, t: &Tok, expected: &str) -> Result<(), ParseError> {
        if self.eat(t) {
            Ok(())
        } else {
            self.err(expected)
        }
    }

    fn pos_str(&self, at: usize) -> String {
        let (l, c) = line_col(self.src, at);
        format!("{l}:{c}")
    }

    /// 1-based line of a byte offset (the line of [`line_col`], by binary search).
    fn line(&self, at: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= at) + 1
    }

    /// Statements until the end of the mapping (`top`) or a closing `}`.
    fn statements(&mut self, top: bool) -> Result<Vec<Stmt>, ParseError> {
        self.nested(|p| p.statements_inner(top))
    }

    fn statements_inner(&mut self, top: bool) -> Result<Vec<Stmt>, ParseError> {
        let saved = std::mem::replace(&mut self.nl_depth, 0);
        let mut out = Vec::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                Tok::Eof if top => break,
                Tok::RBrace if !top => break,
                Tok::Eof => break,
                _ => {}
            }
            if let Some(s) = self.statement()? {
                out.push(s);
            }
            match self.peek() {
                Tok::Newline => {}
                Tok::Eof => {}
                Tok::RBrace if !top => {}
                _ => return self.err("a line break after the statement"),
            }
        }
        self.nl_depth = saved;
        Ok(out)
    }

    fn statement(&mut self) -> Result<Option<Stmt>, ParseError> {
        let start = self.at();
        let line = self.line(start);
        match self.peek().clone() {
            Tok::Ident(k) if k == "let" => {
                self.bump();
                let name = match self.bump() {
                    Tok::Ident(n) | Tok::Str(n) => n,
                    _ => {
                        self.pos -= 1;
                        return self.err("a variable name after `let`");
                    }
                };
                self.expect(&Tok::Assign, "`=` after the variable name")?;
                let expr = self.expr()?;
                let n = self.vars.len();
                let slot = *self.vars.entry(name).or_insert(n);
                Ok(Some(Stmt::Let { slot, expr, line }))
            }
            // `meta.foo = …` is not metadata: as in Bento it is the path `root.meta.foo`.
            Tok::Ident(k) if k == "meta" && !matches!(self.peek_at(1), Tok::LParen | Tok::Dot) => {
                self.bump();
                let name = match self.peek().clone() {
                    Tok::Assign => None,
                    Tok::Ident(n) | Tok::Str(n) => {
                        self.bump();
                        Some(n)
                    }
                    _ => return self.err("a metadata key or `=` after `meta`"),
                };
                self.expect(&Tok::Assign, "`=` after the metadata key")?;
                let expr = self.expr()?;
                Ok(Some(Stmt::Assign {
                    target: Target::Meta(name),
                    expr,
                    line,
                    edit: false,
                }))
            }
            Tok::Meta(name) => {
                self.bump();
                self.expect(&Tok::Assign, "`=` after the metadata key")?;
                let expr = self.expr()?;
                Ok(Some(Stmt::Assign {
                    target: Target::Meta(name),
                    expr,
                    line,
                    edit: false,
                }))
            }
            Tok::Ident(k) if k == "map" && matches!(self.peek_at(1), Tok::Ident(_)) => {
                self.bump();
                let Tok::Ident(name) = self.bump() else {
                    return self.err("a map name");
                };
                let open = self.at();
                self.expect(&Tok::LBrace, "`{` to open the map body")?;
                let body = self.statements(false)?;
                if !self.eat(&Tok::RBrace) {
                    let p = self.pos_str(open);
                    return self.err(&format!("`}}` to close the map `{name}` opened at {p}"));
                }
                self.maps.insert(name, body);
                Ok(None)
            }
            Tok::Ident(k) if k == "import" => Err(ParseError::at(
                self.src,
                start,
                "`import` is not supported: paste the imported maps into the mapping",
            )),
            Tok::Ident(k) if k == "if" => {
                self.bump();
                let mut branches = Vec::new();
                let mut otherwise = None;
                let mut open_at = start;
                loop {
                    let cond = self.expr()?;
                    self.expect(&Tok::LBrace, "`{` to open the `if` block")?;
                    let body = self.statements(false)?;
                    if !self.eat(&Tok::RBrace) {
                        let p = self.pos_str(open_at);
                        return self.err(&format!("`}}` to close the `if` block opened at {p}"));
                    }
                    branches.push((cond, body));
                    if !matches!(self.peek(), Tok::Ident(k) if k == "else") {
                        break;
                    }
                    self.bump();
                    if matches!(self.peek(), Tok::Ident(k) if k == "if") {
                        open_at = self.at();
                        self.bump();
                        continue;
                    }
                    let open = self.at();
                    self.expect(&Tok::LBrace, "`{` or `if` after `else`")?;
                    let body = self.statements(false)?;
                    if !self.eat(&Tok::RBrace) {
                        let p = self.pos_str(open);
                        return self.err(&format!("`}}` to close the `else` block opened at {p}"));
                    }
                    otherwise = Some(body);
                    break;
                }
                Ok(Some(Stmt::If {
                    branches,
                    otherwise,
                    line,
                }))
            }
            Tok::Ident(k) => {
                // An assignment target: `root.a.b`, `this.a` (same as root), or a bare path.
                self.bump();
                let mut path: Vec<String> = Vec::new();
                if k != "root" && k != "this" {
                    path.push(k);
                }
                while self.eat(&Tok::Dot) {
                    match self.bump() {
                        Tok::Ident(n) | Tok::Str(n) => path.push(n),
                        Tok::Int(i) => path.push(i.to_string()),
                        _ => {
                            self.pos -= 1;
                            return self.err("a field name after `.`");
                        }
                    }
                }
                if !self.eat(&Tok::Assign) {
                    return self.err("`=` (an assignment such as `root.foo = this.bar`)");
                }
                let expr = self.expr()?;
                Ok(Some(Stmt::Assign {
                    target: Target::Root(path.into()),
                    expr,
                    line,
                    edit: false,
                }))
            }
            Tok::Str(k) => {
                self.bump();
                let mut path = vec![k];
                while self.eat(&Tok::Dot) {
                    match self.bump() {
                        Tok::Ident(n) | Tok::Str(n) => path.push(n),
                        _ => {
                            self.pos -= 1;
                            return self.err("a field name after `.`");
                        }
                    }
                }
                self.expect(&Tok::Assign, "`=`")?;
                let expr = self.expr()?;
                Ok(Some(Stmt::Assign {
                    target: Target::Root(path.into()),
                    expr,
                    line,
                    edit: false,
                }))
            }
            _ => self.err("a statement (`root = ...`, `let x = ...`, `meta x = ...`, `if ...`)"),
        }
    }

    pub fn expr(&mut self) -> Result<Expr, ParseError> {
        self.binary(0)
    }

    fn binary(&mut self, level: u8) -> Result<Expr, ParseError> {
        if level > 3 {
            return self.unary();
        }
        let saved = self.depth;
        let r = self.binary_links(level);
        self.depth = saved;
        r
    }

    /// `a + b + c …` folds into a left-leaning tree one level deeper per operator.
    fn binary_links(&mut self, level: u8) -> Result<Expr, ParseError> {
        let start = self.at();
        let mut lhs = self.binary(level + 1)?;
        loop {
            let op = match (level, self.peek()) {
                // `&&` and `||` share one level, left to right, as in Bento:
                // `true || false && false` is `(true || false) && false`, false.
                (0, Tok::Or) => BinOp::Or,
                (0, Tok::And) => BinOp::And,
                (1, Tok::Eq) => BinOp::Eq,
                (1, Tok::Ne) => BinOp::Ne,
                (1, Tok::Lt) => BinOp::Lt,
                (1, Tok::Le) => BinOp::Le,
                (1, Tok::Gt) => BinOp::Gt,
                (1, Tok::Ge) => BinOp::Ge,
                (2, Tok::Plus) => BinOp::Add,
                (2, Tok::Minus) => BinOp::Sub,
                (3, Tok::Star) => BinOp::Mul,
                (3, Tok::Slash) => BinOp::Div,
                (3, Tok::Percent) => BinOp::Mod,
                (3, Tok::Pipe) => BinOp::Coalesce,
                _ => return Ok(lhs),
            };
            self.link()?;
            self.bump();
            self.skip_newlines();
            let rhs = self.binary(level + 1)?;
            lhs = fold(op, lhs, rhs).map_err(|e| ParseError::at(self.src, start, e))?;
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.nested(Self::unary_inner)
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Tok::Bang => {
                self.bump();
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Tok::Minus => {
                self.bump();
                // The minus applies to the whole chain, as in Bento: `-5.9.ceil()` is
                // `-(5.9.ceil())`, -6.
                let inner = self.unary()?;
                Ok(match inner {
                    Expr::Lit(Value::Int(i)) => Expr::Lit(Value::Int(-i)),
                    Expr::Lit(Value::Float(f)) => Expr::Lit(Value::Float(-f)),
                    other => Expr::Neg(Box::new(other)),
                })
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let e = self.primary()?;
        self.postfix_tail(e)
    }

    /// Each method call or index wraps the expression so far in one more tree level (the
    /// evaluator recurses through it), so links count against [`MAX_NESTING`] too, until
    /// the chain ends.
    fn postfix_tail(&mut self, e: Expr) -> Result<Expr, ParseError> {
        let saved = self.depth;
        let r = self.postfix_links(e);
        self.depth = saved;
        r
    }

    /// One more level of expression tree that does not recurse in the parser.
    fn link(&mut self) -> Result<(), ParseError> {
        self.nested(|_| Ok(()))?;
        self.depth += 1;
        Ok(())
    }

    fn postfix_links(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        loop {
            // A line starting with `.` continues the expression.
            if self.nl_depth == 0 && self.toks[self.cur()].tok == Tok::Newline {
                let mut j = self.cur();
                while self.toks[j].tok == Tok::Newline {
                    j += 1;
                }
                if self.toks[j].tok == Tok::Dot {
                    self.pos = j;
                }
            }
            match self.peek().clone() {
                Tok::Dot => {
                    self.bump();
                    // A `.` ending a line continues the chain on the next, as in Bento.
                    while self.toks[self.pos].tok == Tok::Newline {
                        self.pos += 1;
                    }
                    let seg_at = self.at();
                    match self.bump() {
                        Tok::Ident(name) if *self.peek() == Tok::LParen => {
                            self.link()?;
                            e = self.method(e, name, seg_at)?;
                        }
                        Tok::Ident(n) | Tok::Str(n) => e = extend_path(e, Seg::key(n)),
                        Tok::Int(i) => e = extend_path(e, Seg::key(i.to_string())),
                        Tok::LParen => {
                            self.link()?;
                            self.nl_depth += 1;
                            let body = self.lambda_or_expr()?;
                            self.nl_depth -= 1;
                            self.expect(&Tok::RParen, "`)` to close `.(`")?;
                            e = Expr::Bracket(Box::new(e), Box::new(body));
                        }
                        _ => {
                            self.pos -= 1;
                            return self.err("a field name or method after `.`");
                        }
                    }
                }
                Tok::LBracket => {
                    self.link()?;
                    self.bump();
                    self.nl_depth += 1;
                    let idx = self.expr()?;
                    self.nl_depth -= 1;
                    self.expect(&Tok::RBracket, "`]` to close the index")?;
                    e = Expr::Index(Box::new(e), Box::new(idx));
                }
                _ => return Ok(e),
            }
        }
    }

    /// Arguments of a call: positional or `name: value`, mapped onto the parameter list.
    fn args(
        &mut self,
        what: &str,
        params: &[&str],
        name_at: usize,
    ) -> Result<Vec<Option<Expr>>, ParseError> {
        self.expect(&Tok::LParen, "`(`")?;
        self.nl_depth += 1;
        let mut out: Vec<Option<Expr>> = Vec::new();
        let mut out_at: Vec<Option<usize>> = Vec::new();
        let mut named = false;
        while !matches!(self.peek(), Tok::RParen | Tok::Eof) {
            let arg_at = self.at();
            if let (Tok::Ident(n), Tok::Colon) = (self.peek().clone(), self.peek_at(1).clone()) {
                self.bump();
                self.bump();
                let Some(i) = params.iter().position(|p| *p == n) else {
                    return Err(ParseError::at(
                        self.src,
                        arg_at,
                        format!(
                            "{what} has no parameter `{n}`; its parameters are: {}",
                            params.join(", ")
                        ),
                    ));
                };
                named = true;
                if out.len() <= i {
                    out.resize(i + 1, None);
                    out_at.resize(i + 1, None);
                }
                out_at[i] = Some(self.at());
                out[i] = Some(self.lambda_or_expr()?);
            } else {
                if named {
                    return Err(ParseError::at(
                        self.src,
                        arg_at,
                        "positional arguments cannot follow named ones",
                    ));
                }
                out_at.push(Some(arg_at));
                out.push(Some(self.lambda_or_expr()?));
            }
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.nl_depth -= 1;
        if !self.eat(&Tok::RParen) {
            let p = self.pos_str(name_at);
            return self.err(&format!("`)` to close the arguments of {what} at {p}"));
        }
        self.last_args_at = out_at;
        if out.len() > params.len() && !params.contains(&"...") {
            return Err(ParseError::at(
                self.src,
                name_at,
                format!(
                    "{what} takes at most {} argument{}, got {}",
                    params.len(),
                    if params.len() == 1 { "" } else { "s" },
                    out.len()
                ),
            ));
        }
        Ok(out)
    }

    fn lambda_or_expr(&mut self) -> Result<Expr, ParseError> {
        if let (Tok::Ident(n), Tok::Arrow) = (self.peek().clone(), self.peek_at(1).clone()) {
            self.bump();
            self.bump();
            self.skip_newlines();
            let id = self.next_param;
            self.next_param += 1;
            self.params.push((n, id));
            let body = self.expr();
            self.params.pop();
            return Ok(Expr::Lambda(id, Box::new(body?)));
        }
        self.expr()
    }

    fn method(&mut self, recv: Expr, name: String, at: usize) -> Result<Expr, ParseError> {
        match name.as_str() {
            "or" | "catch" => {
                let args = self.args(&format!("method `{name}`"), &["default"], at)?;
                let Some(Some(alt)) = args.into_iter().next() else {
                    return Err(ParseError::at(
                        self.src,
                        at,
                        format!("method `{name}` needs one argument"),
                    ));
                };
                let (r, a) = (Box::new(recv), Box::new(alt));
                return Ok(if name == "or" {
                    Expr::Or(r, a)
                } else {
                    Expr::Catch(r, a)
                });
            }
            "apply" => {
                let args = self.args("method `apply`", &["mapping"], at)?;
                return match args.into_iter().next() {
                    Some(Some(Expr::Lit(Value::Str(m)))) => Ok(Expr::Apply(Box::new(recv), m)),
                    _ => Err(ParseError::at(
                        self.src,
                        at,
                        "method `apply` needs the name of a map as a string literal",
                    )),
                };
            }
            _ => {}
        }
        let Some(spec) = methods::lookup(&name) else {
            return Err(ParseError::at(
                self.src,
                at,
                format!(
                    "unrecognised method `{name}`{}",
                    suggest(&name, methods::names())
                ),
            ));
        };
        let mut args = self.args(&format!("method `{}`", spec.name), spec.params, at)?;
        check_required(self.src, at, spec.name, spec.required, &args)?;
        if let Some(prepare) = methods::prepare(spec.name) {
            // Literal arguments checked (and regexes compiled) once, here, as Bento does.
            if let Err((i, msg)) = prepare(&mut args) {
                let arg_at = self.last_args_at.get(i).copied().flatten().unwrap_or(at);
                return Err(ParseError::at(self.src, arg_at, msg));
            }
        }
        Ok(Expr::Method {
            recv: Box::new(recv),
            name: spec.name,
            f: spec.f,
            args,
        })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let at = self.at();
        match self.bump() {
            Tok::Int(i) => Ok(Expr::Lit(Value::Int(i))),
            Tok::Float(f) => Ok(Expr::Lit(Value::Float(f))),
            Tok::Str(s) => Ok(Expr::Lit(Value::Str(s))),
            Tok::Var(n) => match self.vars.get(&n) {
                Some(slot) => Ok(Expr::Var(*slot, n, Box::new([]))),
                None => {
                    // Variables may be read in a named map before any `let` runs.
                    let slot = self.vars.len();
                    self.vars.insert(n.clone(), slot);
                    Ok(Expr::Var(slot, n, Box::new([])))
                }
            },
            Tok::Meta(n) => Ok(Expr::Meta(n)),
            Tok::LParen => {
                self.nl_depth += 1;
                let e = self.lambda_or_expr()?;
                self.nl_depth -= 1;
                if !self.eat(&Tok::RParen) {
                    let p = self.pos_str(at);
                    return self.err(&format!("`)` to close the `(` opened at {p}"));
                }
                Ok(e)
            }
            Tok::LBracket => {
                self.nl_depth += 1;
                let mut items = Vec::new();
                while !matches!(self.peek(), Tok::RBracket | Tok::Eof) {
                    items.push(self.expr()?);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                self.nl_depth -= 1;
                if !self.eat(&Tok::RBracket) {
                    let p = self.pos_str(at);
                    return self.err(&format!("`,` or `]` to close the array opened at {p}"));
                }
                Ok(fold_array(items))
            }
            Tok::LBrace => {
                self.nl_depth += 1;
                let mut items = Vec::new();
                while !matches!(self.peek(), Tok::RBrace | Tok::Eof) {
                    let key = match self.peek().clone() {
                        Tok::Str(s) => {
                            self.bump();
                            Expr::Lit(Value::Str(s))
                        }
                        _ => self.expr()?,
                    };
                    self.expect(&Tok::Colon, "`:` after the object key")?;
                    let v = self.expr()?;
                    items.push((key, v));
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                self.nl_depth -= 1;
                if !self.eat(&Tok::RBrace) {
                    let p = self.pos_str(at);
                    return self.err(&format!("`,` or `}}` to close the object opened at {p}"));
                }
                Ok(fold_object(items))
            }
            Tok::Ident(k) => self.ident(k, at),
            _ => {
                self.pos -= 1;
                self.err("a value (a literal, a path such as `this.foo`, a function call, ...)")
            }
        }
    }

    fn ident(&mut self, k: String, at: usize) -> Result<Expr, ParseError> {
        match k.as_str() {
            "true" => return Ok(Expr::Lit(Value::Bool(true))),
            "false" => return Ok(Expr::Lit(Value::Bool(false))),
            "null" => return Ok(Expr::Lit(Value::Null)),
            "this" => return Ok(Expr::This(Box::new([]))),
            "root" => return Ok(Expr::Root(Box::new([]))),
            "if" => return self.if_expr(at),
            "match" => return self.match_expr(at),
            _ => {}
        }
        if *self.peek() == Tok::LParen {
            let Some(spec) = functions::lookup(&k) else {
                return Err(ParseError::at(
                    self.src,
                    at,
                    format!(
                        "unrecognised function `{k}`{}",
                        suggest(&k, functions::names())
                    ),
                ));
            };
            let args = self.args(&format!("function `{}`", spec.name), spec.params, at)?;
            check_required(self.src, at, spec.name, spec.required, &args)?;
            return Ok(Expr::Call {
                name: spec.name,
                f: spec.f,
                args,
            });
        }
        if let Some((_, id)) = self.params.iter().rev().find(|(n, _)| *n == k) {
            return Ok(Expr::Local(*id, Box::new([])));
        }
        // A bare name is a path relative to `this` (Bento's older syntax).
        Ok(Expr::This(Box::new([Seg::key(k)])))
    }

    fn block_expr(&mut self, what: &str, open_at: usize) -> Result<Expr, ParseError> {
        self.expect(&Tok::LBrace, &format!("`{{` to open the `{what}` block"))?;
        self.nl_depth += 1;
        let e = self.expr()?;
        self.nl_depth -= 1;
        if !self.eat(&Tok::RBrace) {
            let p = self.pos_str(open_at);
            return self.err(&format!("`}}` to close the `{what}` block opened at {p}"));
        }
        Ok(e)
    }

    fn if_expr(&mut self, at: usize) -> Result<Expr, ParseError> {
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.expr()?;
            let body = self.block_expr("if", at)?;
            branches.push((cond, body));
            // `else` may follow on the same line or the next one.
            let mut j = self.cur();
            while self.toks[j].tok == Tok::Newline {
                j += 1;
            }
            if !matches!(&self.toks[j].tok, Tok::Ident(k) if k == "else") {
                break;
            }
            self.pos = j + 1;
            if matches!(self.peek(), Tok::Ident(k) if k == "if") {
                self.bump();
                continue;
            }
            let else_at = self.toks[j].at;
            otherwise = Some(Box::new(self.block_expr("else", else_at)?));
            break;
        }
        Ok(Expr::If(branches, otherwise))
    }

    fn match_expr(&mut self, at: usize) -> Result<Expr, ParseError> {
        let subject = if *self.peek() == Tok::LBrace {
            // `match {"a": 1} { … }` matches on an object literal, as Bento reads it: the
            // subject is what parses as an expression followed by `{`; otherwise the `{`
            // opens the cases of a match without a subject.
            let (pos, nl_depth) = (self.pos, self.nl_depth);
            match self.expr() {
                Ok(e) if *self.peek() == Tok::LBrace => Some(Box::new(e)),
                _ => {
                    self.pos = pos;
                    self.nl_depth = nl_depth;
                    None
                }
            }
        } else {
            Some(Box::new(self.expr()?))
        };
        self.expect(&Tok::LBrace, "`{` to open the `match` block")?;
        self.nl_depth += 1;
        let mut arms = Vec::new();
        while *self.peek() != Tok::RBrace && *self.peek() != Tok::Eof {
            let pat = if matches!(self.peek(), Tok::Ident(k) if k == "_")
                && *self.peek_at(1) == Tok::FatArrow
            {
                self.bump();
                Pat::Any
            } else {
                match self.expr()? {
                    Expr::Lit(v) => Pat::Value(v),
                    other => Pat::Cond(other),
                }
            };
            self.expect(&Tok::FatArrow, "`=>` after the match pattern")?;
            let body = self.expr()?;
            arms.push((pat, body));
            self.eat(&Tok::Comma);
        }
        self.nl_depth -= 1;
        if !self.eat(&Tok::RBrace) {
            let p = self.pos_str(at);
            return self.err(&format!("`}}` to close the `match` block opened at {p}"));
        }
        Ok(Expr::Match(subject, arms))
    }
}

fn check_required(
    src: &str,
    at: usize,
    name: &str,
    required: usize,
    args: &[Option<Expr>],
) -> Result<(), ParseError> {
    for i in 0..required {
        if args.get(i).is_none_or(Option::is_none) {
            return Err(ParseError::at(
                src,
                at,
                format!(
                    "`{name}` needs {required} argument{}, got {}",
                    if required == 1 { "" } else { "s" },
                    args.iter().filter(|a| a.is_some()).count()
                ),
            ));
        }
    }
    Ok(())
}

fn suggest(name: &str, known: impl Iterator<Item = &'static str>) -> String {
    known
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, k)| *d <= 1.max(k.len() / 3))
        .min()
        .map_or(String::new(), |(_, k)| format!("; did you mean `{k}`?"))
}

fn extend_path(e: Expr, seg: Seg) -> Expr {
    match e {
        Expr::This(p) => Expr::This(push(p, seg)),
        Expr::Root(p) => Expr::Root(push(p, seg)),
        Expr::Local(id, p) => Expr::Local(id, push(p, seg)),
        Expr::Var(s, n, p) => Expr::Var(s, n, push(p, seg)),
        Expr::Get(inner, p) => Expr::Get(inner, push(p, seg)),
        other => Expr::Get(Box::new(other), Box::new([seg])),
    }
}

fn push(p: Box<[Seg]>, seg: Seg) -> Box<[Seg]> {
    let mut v = p.into_vec();
    v.push(seg);
    v.into()
}

/// Constant-fold operators on literals (as Bento does), so `"a" + "b"` costs nothing per message;
/// an operator that cannot work on its literals (`"a" + 1`) is an error when parsing, as in Bento.
fn fold(op: BinOp, l: Expr, r: Expr) -> Result<Expr, String> {
    let e = Expr::Bin(op, Box::new(l), Box::new(r));
    if let Expr::Bin(_, l, r) = &e {
        // The operands are not copied to try this: a chain of operators on a long literal
        // (`"…" + "a" + "b" …`) would copy the growing literal once per link.
        if matches!((&**l, &**r), (Expr::Lit(_), Expr::Lit(_)))
            && !matches!(op, BinOp::And | BinOp::Or | BinOp::Coalesce)
        {
            if let Some(v) = super::eval_const(&e)? {
                return Ok(Expr::Lit(v));
            }
        }
    }
    Ok(e)
}

fn fold_array(items: Vec<Expr>) -> Expr {
    if items.iter().all(|e| matches!(e, Expr::Lit(_))) {
        return Expr::Lit(Value::Array(
            items
                .into_iter()
                .map(|e| match e {
                    Expr::Lit(v) => v,
                    _ => Value::Null,
                })
                .collect(),
        ));
    }
    Expr::Array(items)
}

fn fold_object(items: Vec<(Expr, Expr)>) -> Expr {
    if items
        .iter()
        .all(|(k, v)| matches!(k, Expr::Lit(Value::Str(_))) && matches!(v, Expr::Lit(_)))
    {
        let mut m = Map::new();
        for (k, v) in items {
            if let (Expr::Lit(Value::Str(k)), Expr::Lit(v)) = (k, v) {
                m.insert(k, v);
            }
        }
        return Expr::Lit(Value::Object(m));
    }
    Expr::Object(items)
}
