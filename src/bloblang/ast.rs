//! The compiled form of a mapping: what the parser produces and the evaluator walks.
//!
//! Names are resolved at compile time: functions and methods to function pointers, `let`
//! variables to slots, lambda parameters to ids, paths to pre-split segments. Evaluating a
//! message never looks at the mapping text again.

use super::eval::{Cx, Val, R};
use crate::document::Value;

/// One step of a path. `this.items.0` indexes an array or reads key `"0"` of an object.
#[derive(Clone, Debug)]
pub struct Seg {
    pub key: String,
    pub index: Option<i64>,
}

impl Seg {
    pub fn key(k: impl Into<String>) -> Seg {
        let key = k.into();
        let index = key.parse().ok();
        Seg { key, index }
    }
}

/// A method implementation: receiver, unevaluated arguments (`None` = not given), context.
pub type MethodFn = for<'a, 's> fn(&Cx<'a, 's>, Val<'a>, &'a [Option<Expr>]) -> R<'a>;
/// A function implementation.
pub type FuncFn = for<'a, 's> fn(&Cx<'a, 's>, &'a [Option<Expr>]) -> R<'a>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Coalesce,
}

#[derive(Clone)]
pub enum Expr {
    Lit(Value),
    This(Box<[Seg]>),
    Root(Box<[Seg]>),
    /// A lambda parameter (by id) and a path into it.
    Local(u32, Box<[Seg]>),
    /// `$name.path`: slot, name (for errors), path.
    Var(usize, String, Box<[Seg]>),
    /// `@name`, `@`.
    Meta(Option<String>),
    Get(Box<Expr>, Box<[Seg]>),
    Index(Box<Expr>, Box<Expr>),
    Call {
        name: &'static str,
        f: FuncFn,
        args: Vec<Option<Expr>>,
    },
    Method {
        recv: Box<Expr>,
        name: &'static str,
        f: MethodFn,
        args: Vec<Option<Expr>>,
    },
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    If(Vec<(Expr, Expr)>, Option<Box<Expr>>),
    Match(Option<Box<Expr>>, Vec<(Pat, Expr)>),
    Array(Vec<Expr>),
    Object(Vec<(Expr, Expr)>),
    /// `name -> body`: parameter id and body. Only meaningful as a method argument.
    Lambda(u32, Box<Expr>),
    /// `recv.(body)`: body evaluated with `this` (or the lambda parameter) bound to `recv`.
    Bracket(Box<Expr>, Box<Expr>),
    /// `recv.or(alt)`: `alt` when `recv` is null, deleted, nothing or an error.
    Or(Box<Expr>, Box<Expr>),
    /// `recv.catch(alt)`: `alt` when `recv` failed with an error.
    Catch(Box<Expr>, Box<Expr>),
    /// `named_map` applied via `.apply("name")` is resolved at run time by name.
    Apply(Box<Expr>, String),
    /// A regular expression given as a string literal, compiled once with the mapping. It
    /// evaluates to its pattern (the string literal it replaced).
    Regex(Box<regex::Regex>, Value),
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(self))
    }
}

impl Expr {
    /// Call `f` on each expression directly inside this one (arguments, operands, branches,
    /// match conditions, lambda bodies), in source order.
    pub fn for_each_child<'e>(&'e self, f: &mut impl FnMut(&'e Expr)) {
        match self {
            Expr::Lit(_)
            | Expr::Regex(..)
            | Expr::This(_)
            | Expr::Root(_)
            | Expr::Local(..)
            | Expr::Var(..)
            | Expr::Meta(_)
            | Expr::Apply(..) => {}
            Expr::Get(x, _) | Expr::Not(x) | Expr::Neg(x) | Expr::Lambda(_, x) => f(x),
            Expr::Index(a, b)
            | Expr::Bin(_, a, b)
            | Expr::Bracket(a, b)
            | Expr::Or(a, b)
            | Expr::Catch(a, b) => {
                f(a);
                f(b);
            }
            Expr::Call { args, .. } => args.iter().flatten().for_each(f),
            Expr::Method { recv, args, .. } => {
                f(recv);
                args.iter().flatten().for_each(f);
            }
            Expr::If(branches, otherwise) => {
                for (c, v) in branches {
                    f(c);
                    f(v);
                }
                if let Some(o) = otherwise {
                    f(o);
                }
            }
            Expr::Match(subject, arms) => {
                if let Some(s) = subject {
                    f(s);
                }
                for (pat, v) in arms {
                    if let Pat::Cond(c) = pat {
                        f(c);
                    }
                    f(v);
                }
            }
            Expr::Array(items) => items.iter().for_each(f),
            Expr::Object(kvs) => {
                for (k, v) in kvs {
                    f(k);
                    f(v);
                }
            }
        }
    }

    /// `pred` holds for this expression or any inside it.
    pub fn any(&self, pred: &impl Fn(&Expr) -> bool) -> bool {
        if pred(self) {
            return true;
        }
        let mut found = false;
        self.for_each_child(&mut |c| found = found || c.any(pred));
        found
    }

    /// Reads the message's metadata (`@`, `meta(…)`, `metadata(…)`, `root_meta(…)`), which
    /// falls back to the source's (Kafka key, headers, …).
    pub fn reads_metadata(&self) -> bool {
        self.any(&|e| match e {
            Expr::Meta(_) => true,
            Expr::Call { name, .. } => matches!(*name, "meta" | "metadata" | "root_meta"),
            _ => false,
        })
    }
}

impl Stmt {
    /// Every expression of this statement and of the statements nested in it.
    pub fn for_each_expr<'e>(&'e self, f: &mut impl FnMut(&'e Expr)) {
        match self {
            Stmt::Assign { expr, .. } | Stmt::Let { expr, .. } => f(expr),
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                for (cond, body) in branches {
                    f(cond);
                    body.iter().for_each(|s| s.for_each_expr(f));
                }
                otherwise.iter().flatten().for_each(|s| s.for_each_expr(f));
            }
        }
    }
}

/// A short description of an expression, for error messages (`field this.a`, `number literal`).
pub fn describe(e: &Expr) -> String {
    fn path(root: &str, segs: &[Seg]) -> String {
        let mut s = root.to_string();
        for seg in segs {
            s.push('.');
            s.push_str(&seg.key);
        }
        s
    }
    match e {
        Expr::Lit(v) => format!("{} literal", v.kind()),
        Expr::This(p) => format!("field {}", path("this", p)),
        Expr::Root(p) => format!("field {}", path("root", p)),
        Expr::Local(_, p) => format!("field {}", path("<lambda parameter>", p)),
        Expr::Var(_, n, p) => format!("variable {}", path(&format!("${n}"), p)),
        Expr::Meta(Some(n)) => format!("metadata value @{n}"),
        Expr::Meta(None) => "metadata".into(),
        Expr::Call { name, .. } => format!("function {name}"),
        Expr::Method { name, .. } => format!("method {name}"),
        _ => "expression".into(),
    }
}

#[derive(Clone, Debug)]
pub enum Pat {
    /// `_`
    Any,
    /// A literal: equality with the subject.
    Value(Value),
    /// A boolean query evaluated with `this` bound to the subject.
    Cond(Expr),
}

#[derive(Clone, Debug)]
pub enum Target {
    /// `root.a.b` (empty path = `root`).
    Root(Box<[String]>),
    /// `meta foo` / `@foo`; `None` = all metadata.
    Meta(Option<String>),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Assign {
        target: Target,
        expr: Expr,
        line: usize,
        /// `root.P = this.P.m(…)…`, a field rewritten from its own value only: run as a
        /// mutation (where `this` is `root`), the field's value is moved into the method
        /// chain instead of copied (see [`super::inplace::mark_edits`]).
        edit: bool,
    },
    Let {
        slot: usize,
        expr: Expr,
        line: usize,
    },
    If {
        branches: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
        line: usize,
    },
}
