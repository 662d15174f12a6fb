//! The Bloblang mapping language: parser, compiler and evaluator.
//!
//! A mapping is compiled once ([`Mapping::compile`]) and evaluated per message
//! ([`Mapping::exec`]) with no re-parsing: paths are pre-split, functions and methods resolved
//! to function pointers, literals folded.

mod ast;
pub mod error;
mod eval;
mod functions;
mod inplace;
pub mod interp;
mod lexer;
mod methods;
mod parser;
mod random;

use std::collections::HashMap;
use std::sync::Arc;

use crate::document::{Map, Value};
pub use error::ParseError;
pub use eval::ExecError;

use crate::pipeline::Origin;
use eval::{Cx, Env, RootState, State, Subj};

/// What a mapping made of a message.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The new document.
    Doc(Value),
    /// `root = deleted()`: drop the message.
    Deleted,
    /// The mapping never assigned `root`: the input passes on unchanged.
    Unchanged,
}

/// A compiled mapping, shared read-only by all processor threads.
#[derive(Clone)]
pub struct Mapping {
    inner: Arc<Compiled>,
}

struct Compiled {
    stmts: Vec<ast::Stmt>,
    maps: HashMap<String, Vec<ast::Stmt>>,
    nvars: usize,
    /// `root = this` followed by edits that never read back what they wrote: run as a
    /// mutation of the moved input (see [`inplace`]).
    in_place: bool,
}

/// The message around the document: metadata (read and written), source, raw payload.
pub struct MessageEnv<'a> {
    pub meta: &'a mut Map,
    pub origin: Option<&'a Origin>,
    pub raw: &'a [u8],
    /// Bento's error flag: what an earlier processor failed the message with.
    pub error: Option<&'a str>,
}

impl Mapping {
    pub fn compile(src: &str) -> Result<Mapping, ParseError> {
        let mut p = parser::parse_mapping(src)?;
        inplace::mark_edits(&mut p.stmts);
        Ok(Mapping {
            inner: Arc::new(Compiled {
                in_place: inplace::moves_input(&p.stmts),
                stmts: p.stmts,
                maps: p.maps,
                nvars: p.nvars,
            }),
        })
    }

    /// Reads metadata anywhere (named maps included): only then does a message's source
    /// metadata (Kafka key and headers) need to be carried to the processors.
    pub fn reads_metadata(&self) -> bool {
        let c = &*self.inner;
        let mut found = false;
        for s in c.stmts.iter().chain(c.maps.values().flatten()) {
            s.for_each_expr(&mut |e| found = found || e.reads_metadata());
        }
        found
    }

    /// Whether [`Mapping::exec_replace`] runs on the input moved into `root` (a mapping that
    /// starts with `root = this` and never reads back its edits): a failure midway then
    /// leaves the document half edited.
    pub fn runs_in_place(&self) -> bool {
        self.inner.in_place
    }

    /// Run as a `mapping`: build a new document from `input`.
    pub fn exec(&self, input: &Value, msg: MessageEnv<'_>) -> Result<Outcome, ExecError> {
        let st = self.run(&self.inner.stmts, Some(input), None, msg)?;
        Ok(match st.root {
            RootState::Input => Outcome::Doc(input.clone()),
            _ => outcome(st),
        })
    }

    /// Run as a `mapping` with the result replacing the input in `doc` (what the `mapping`
    /// processor does). Same result as [`Mapping::exec`], without its copies: a mapping that
    /// starts with `root = this` and never reads back its own edits runs on the input moved
    /// into `root`, and a root that is the input itself (`root = this`, a filter's `this`, or
    /// no `root` at all) leaves `doc` as it is. Returns false when the mapping deleted the
    /// message; `doc` then still holds the input (or what is left of it), dropped with the
    /// message.
    pub fn exec_replace(&self, doc: &mut Value, msg: MessageEnv<'_>) -> Result<bool, ExecError> {
        let st = match self.inner.stmts.split_first() {
            Some((_, rest)) if self.inner.in_place => {
                let input = std::mem::replace(doc, Value::Null);
                self.run(rest, None, Some(input), msg)?
            }
            _ => self.run(&self.inner.stmts, Some(doc), None, msg)?,
        };
        match st.root {
            RootState::Set(v) => {
                *doc = v;
                Ok(true)
            }
            RootState::Deleted => Ok(false),
            // The document is the input: nothing to move or copy.
            RootState::Unset | RootState::Input => Ok(true),
        }
    }

    /// [`Mapping::exec_replace`] on an owned input: a mapping that leaves `root` unassigned
    /// gives the input back as [`Outcome::Doc`].
    pub fn exec_owned(&self, mut input: Value, msg: MessageEnv<'_>) -> Result<Outcome, ExecError> {
        Ok(if self.exec_replace(&mut input, msg)? {
            Outcome::Doc(input)
        } else {
            Outcome::Deleted
        })
    }

    /// Run as a `mutation`: edit `doc` in place. Returns false when the mapping deleted it.
    pub fn mutate(&self, doc: &mut Value, msg: MessageEnv<'_>) -> Result<bool, ExecError> {
        let start = std::mem::replace(doc, Value::Null);
        let st = self.run(&self.inner.stmts, None, Some(start), msg)?;
        match st.root {
            RootState::Set(v) => {
                *doc = v;
                Ok(true)
            }
            RootState::Deleted => Ok(false),
            // `Input` needs an input separate from `root`, which a mutation has not.
            RootState::Unset | RootState::Input => Ok(true),
        }
    }

    fn run(
        &self,
        stmts: &[ast::Stmt],
        input: Option<&Value>,
        start: Option<Value>,
        msg: MessageEnv<'_>,
    ) -> Result<State, ExecError> {
        let mut st = State::new(self.inner.nvars);
        if let Some(doc) = start {
            st.root = RootState::Set(doc);
        }
        let meta_in = msg.meta.clone();
        let env = Env {
            meta_in: &meta_in,
            meta_out: &meta_in,
            origin: msg.origin,
            raw: msg.raw,
            error: msg.error,
            maps: &self.inner.maps,
        };
        eval::run_stmts(stmts, input, &mut st, &env, msg.meta)?;
        Ok(st)
    }

    /// Convenience for tests and the `blobl` command: a message without metadata or source.
    pub fn exec_value(&self, input: &Value) -> Result<Outcome, ExecError> {
        let mut meta = Map::new();
        let raw = input.to_json_string();
        self.exec(
            input,
            MessageEnv {
                meta: &mut meta,
                origin: None,
                raw: raw.as_bytes(),
                error: None,
            },
        )
    }
}

/// The outcome of a run whose root is not [`RootState::Input`] (the callers handle that).
fn outcome(st: State) -> Outcome {
    match st.root {
        RootState::Set(v) => Outcome::Doc(v),
        RootState::Deleted => Outcome::Deleted,
        RootState::Unset | RootState::Input => Outcome::Unchanged,
    }
}

/// A message as a query or an interpolation reads it (nothing of it is changed).
#[derive(Clone, Copy)]
pub struct MessageRef<'a> {
    pub doc: &'a Value,
    pub meta: &'a Map,
    pub origin: Option<&'a Origin>,
    pub raw: &'a [u8],
    pub error: Option<&'a str>,
}

/// A single query (`this.a + 1`), as used by `${! ... }` interpolations.
#[derive(Clone)]
pub struct Query {
    expr: Arc<ast::Expr>,
    nvars: usize,
}

impl Query {
    pub fn compile(src: &str) -> Result<Query, ParseError> {
        let (expr, nvars) = parser::parse_query(src)?;
        Ok(Query {
            expr: Arc::new(expr),
            nvars,
        })
    }

    /// Reads metadata (see [`Mapping::reads_metadata`]).
    pub fn reads_metadata(&self) -> bool {
        self.expr.reads_metadata()
    }

    /// Evaluate against a message; `None` when it yields no value.
    pub fn eval(&self, m: &MessageRef<'_>) -> Result<Option<Value>, String> {
        let maps = HashMap::new();
        let doc = m.doc;
        let env = Env {
            meta_in: m.meta,
            meta_out: m.meta,
            origin: m.origin,
            raw: m.raw,
            error: m.error,
            maps: &maps,
        };
        let vars = vec![None; self.nvars];
        let cx = Cx {
            this: Subj::V(doc),
            root: Some(doc),
            vars: &vars,
            env: &env,
            locals: None,
        };
        match eval::eval(&self.expr, &cx) {
            Ok(v) => Ok(Some(v.into_owned())),
            Err(eval::Fail::Error(e)) => Err(e),
            Err(_) => Ok(None),
        }
    }
}

/// Evaluate an expression made only of literals (constant folding at compile time): its value,
/// `None` when it gives none, or its error (`"a" + 1`, which Bento reports when parsing).
fn eval_const(e: &ast::Expr) -> Result<Option<Value>, String> {
    let maps = HashMap::new();
    let meta = Map::new();
    let env = Env {
        meta_in: &meta,
        meta_out: &meta,
        origin: None,
        raw: b"",
        error: None,
        maps: &maps,
    };
    let null = Value::Null;
    let cx = Cx {
        this: Subj::V(&null),
        root: None,
        vars: &[],
        env: &env,
        locals: None,
    };
    match eval::eval(e, &cx) {
        Ok(v) => Ok(Some(v.into_owned())),
        Err(eval::Fail::Error(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
