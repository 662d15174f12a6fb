//! The evaluator: walks the compiled tree for one message.
//!
//! Values are [`Cow`]s: a path into the input (`this.a.b`) borrows, only computed values are
//! owned. A lambda over an owned collection moves the elements instead of cloning them.
//! `deleted()` and "nothing" (an `if` without `else` that was not taken) travel as [`Fail`]
//! variants next to errors, so every place that must treat them specially sees them.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;

use super::ast::{describe, BinOp, Expr, MethodFn, Pat, Seg, Stmt};
use crate::document::{Map, Value};
use crate::pipeline::Origin;

pub type Val<'a> = Cow<'a, Value>;

/// Why an expression produced no plain value.
#[derive(Clone, Debug, PartialEq)]
pub enum Fail {
    Error(String),
    /// `deleted()`: remove the target (drop the message when the target is `root`).
    Deleted,
    /// No value at all (an `if` without `else`, no `match` arm): the assignment is skipped.
    Nothing,
}

impl Fail {
    pub fn msg(m: impl Into<String>) -> Fail {
        Fail::Error(m.into())
    }
}

pub type R<'a> = Result<Val<'a>, Fail>;

pub static NULL: Value = Value::Null;

/// What `this` (or a lambda parameter) is bound to. `map_each` over an object binds each entry
/// as `{"key": k, "value": v}` without building that object unless a mapping needs it whole.
#[derive(Clone, Copy, Debug)]
pub enum Subj<'a> {
    V(&'a Value),
    Kv(&'a str, &'a Value),
}

impl<'a> Subj<'a> {
    pub fn path(self, segs: &[Seg]) -> Val<'a> {
        match self {
            Subj::V(v) => Cow::Borrowed(lookup(v, segs)),
            Subj::Kv(k, v) => match segs.split_first() {
                None => {
                    let mut m = Map::new();
                    m.insert("key".into(), Value::Str(k.to_string()));
                    m.insert("value".into(), v.clone());
                    Cow::Owned(Value::Object(m))
                }
                Some((s, rest)) if s.key == "key" && rest.is_empty() => {
                    Cow::Owned(Value::Str(k.to_string()))
                }
                Some((s, rest)) if s.key == "value" => Cow::Borrowed(lookup(v, rest)),
                Some(_) => Cow::Borrowed(&NULL),
            },
        }
    }
}

/// A lambda parameter in scope.
pub struct Local<'a, 's> {
    pub id: u32,
    pub subj: Subj<'a>,
    pub next: Option<&'s Local<'a, 's>>,
}

/// Everything about the message outside the document: metadata, source, raw payload.
pub struct Env<'a> {
    /// Metadata as it was when the mapping started (`meta("x")`).
    pub meta_in: &'a Map,
    /// Metadata as the mapping has set it so far (`@x`).
    pub meta_out: &'a Map,
    /// The source metadata (`kafka_*`), unless the mapping cleared all metadata.
    pub origin: Option<&'a Origin>,
    pub raw: &'a [u8],
    /// Bento's error flag of the message (`error()`, `errored()`).
    pub error: Option<&'a str>,
    pub maps: &'a HashMap<String, Vec<Stmt>>,
}

/// The evaluation context of one expression. `'a` is what values may borrow from (the input,
/// the mapping, variables); `'s` is the scope of lambda parameters, which results never borrow.
#[derive(Clone, Copy)]
pub struct Cx<'a, 's> {
    pub this: Subj<'a>,
    /// The document being built (`root.x` reads); `None` before anything was assigned.
    pub root: Option<&'a Value>,
    pub vars: &'a [Option<Value>],
    pub env: &'a Env<'a>,
    pub locals: Option<&'s Local<'a, 's>>,
}

/// Follow a path through objects and arrays; anything missing reads as null.
pub fn lookup<'v>(mut v: &'v Value, segs: &[Seg]) -> &'v Value {
    for s in segs {
        v = match v {
            Value::Object(m) => match m.get(&s.key) {
                Some(x) => x,
                None => return &NULL,
            },
            Value::Array(a) => match s.index.and_then(|i| index_of(a.len(), i)) {
                Some(i) => &a[i],
                None => return &NULL,
            },
            _ => return &NULL,
        };
    }
    v
}

/// Same as [`lookup`] on an owned value: moves the part out instead of cloning it.
pub fn take_path(mut v: Value, segs: &[Seg]) -> Value {
    for s in segs {
        v = match v {
            Value::Object(mut m) => match m.remove(&s.key) {
                Some(x) => x,
                None => return Value::Null,
            },
            Value::Array(mut a) => match s.index.and_then(|i| index_of(a.len(), i)) {
                Some(i) => a.swap_remove(i),
                None => return Value::Null,
            },
            _ => return Value::Null,
        };
    }
    v
}

/// Array index, negative counting from the end.
pub fn index_of(len: usize, i: i64) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

fn path_of<'a>(v: Val<'a>, segs: &[Seg]) -> Val<'a> {
    if segs.is_empty() {
        return v;
    }
    match v {
        Cow::Borrowed(r) => Cow::Borrowed(lookup(r, segs)),
        Cow::Owned(o) => Cow::Owned(take_path(o, segs)),
    }
}

/// Call a method on its receiver's value; errors name the receiver and the method.
fn apply_method<'a>(
    recv: &Expr,
    name: &str,
    f: MethodFn,
    args: &'a [Option<Expr>],
    v: Val<'a>,
    cx: &Cx<'a, '_>,
) -> R<'a> {
    f(cx, v, args).map_err(|e| match e {
        Fail::Error(m) if !m.starts_with("field ") && !m.starts_with("method ") => {
            Fail::Error(format!("{}: {name}: {m}", describe(recv)))
        }
        other => other,
    })
}

/// An edit's method chain (see [`super::inplace::mark_edits`]) run on `field`, the value
/// moved out of the field the chain reads: what `eval` gives on the chain, without the copy.
fn eval_edit<'a>(e: &'a Expr, field: Value, cx: &Cx<'a, '_>) -> R<'a> {
    match e {
        Expr::Method {
            recv,
            f,
            args,
            name,
            ..
        } => {
            let v = match &**recv {
                Expr::This(_) => Cow::Owned(field),
                inner => as_value(inner, eval_edit(inner, field, cx))?,
            };
            apply_method(recv, name, *f, args, v, cx)
        }
        // Not an edit (`mark_edits` only marks method chains): evaluated as written.
        other => eval(other, cx),
    }
}

/// Move the value at `path` out of `doc` (null left in its place); null when there is none.
fn take_field(doc: &mut Value, path: &[String]) -> Value {
    let mut cur = doc;
    for key in path {
        match cur {
            Value::Object(m) => match m.get_mut(key) {
                Some(v) => cur = v,
                None => return Value::Null,
            },
            _ => return Value::Null,
        }
    }
    std::mem::replace(cur, Value::Null)
}

/// Evaluate to a plain value: `deleted()` and nothing become errors (for operands).
pub fn value<'a>(e: &'a Expr, cx: &Cx<'a, '_>) -> R<'a> {
    as_value(e, eval(e, cx))
}

/// `e`'s result as a plain value (see [`value`]).
fn as_value<'a>(e: &Expr, r: R<'a>) -> R<'a> {
    match r {
        Err(Fail::Deleted) => Err(Fail::msg(format!(
            "{}: expected a value, got deleted()",
            describe(e)
        ))),
        Err(Fail::Nothing) => Err(Fail::msg(format!(
            "{}: expected a value, got nothing",
            describe(e)
        ))),
        other => other,
    }
}

pub fn eval<'a>(e: &'a Expr, cx: &Cx<'a, '_>) -> R<'a> {
    match e {
        Expr::Lit(v) => Ok(Cow::Borrowed(v)),
        Expr::This(p) => Ok(cx.this.path(p)),
        Expr::Root(p) => Ok(Cow::Borrowed(cx.root.map_or(&NULL, |r| lookup(r, p)))),
        Expr::Local(id, p) => {
            let mut l = cx.locals;
            while let Some(local) = l {
                if local.id == *id {
                    return Ok(local.subj.path(p));
                }
                l = local.next;
            }
            Err(Fail::msg("lambda parameter used outside its lambda"))
        }
        Expr::Var(slot, name, p) => match cx.vars.get(*slot).and_then(Option::as_ref) {
            Some(v) => Ok(Cow::Borrowed(lookup(v, p))),
            None => Err(Fail::msg(format!("variable `{name}` is undefined"))),
        },
        Expr::Meta(name) => Ok(super::functions::meta_value(cx, name.as_deref(), true)),
        Expr::Get(inner, p) => Ok(path_of(value(inner, cx)?, p)),
        Expr::Index(inner, idx) => {
            let v = value(inner, cx)?;
            let i = value(idx, cx)?;
            index_value(v, &i)
        }
        Expr::Call { f, args, .. } => f(cx, args),
        Expr::Method {
            recv,
            f,
            args,
            name,
            ..
        } => match value(recv, cx) {
            Ok(v) => apply_method(recv, name, *f, args, v, cx),
            // Bento's `number(default)` and `bool(default)` give the default when the value
            // they convert fails too, not only when the conversion does.
            Err(Fail::Error(e)) => match args.first() {
                Some(Some(d)) if matches!(*name, "number" | "bool") => value(d, cx),
                _ => Err(Fail::Error(e)),
            },
            Err(e) => Err(e),
        },
        Expr::Bin(op, l, r) => binary(*op, l, r, cx),
        Expr::Not(inner) => match &*value(inner, cx)? {
            Value::Bool(b) => Ok(Cow::Owned(Value::Bool(!b))),
            other => Err(Fail::msg(format!(
                "{}: expected bool value, got {}",
                describe(inner),
                kind_with_value(other)
            ))),
        },
        Expr::Neg(inner) => match &*value(inner, cx)? {
            Value::Int(i) => Ok(Cow::Owned(Value::Int(i.wrapping_neg()))),
            Value::Float(f) | Value::RawNumber(f, _) => Ok(Cow::Owned(Value::Float(-f))),
            other => Err(Fail::msg(format!(
                "{}: expected number value, got {}",
                describe(inner),
                kind_with_value(other)
            ))),
        },
        Expr::If(branches, otherwise) => {
            for (cond, body) in branches {
                if if_condition(cond, cx)? {
                    return eval(body, cx);
                }
            }
            match otherwise {
                Some(b) => eval(b, cx),
                None => Err(Fail::Nothing),
            }
        }
        Expr::Match(subject, arms) => {
            let subj_val = match subject {
                Some(s) => Some(value(s, cx)?),
                None => None,
            };
            let inner_cx;
            let cx2 = match &subj_val {
                Some(v) => {
                    inner_cx = Cx {
                        this: Subj::V(v),
                        ..*cx
                    };
                    &inner_cx
                }
                None => cx,
            };
            for (pat, body) in arms {
                let hit = match pat {
                    Pat::Any => true,
                    // A literal pattern (folded: `2 > 1` is the literal `true`) is compared
                    // with the subject, or without one with `this`, as Bento does: in
                    // `match { true => … }` the case is `this == true`, not a condition.
                    Pat::Value(v) => match &subj_val {
                        Some(s) => equal(s, v),
                        None => equal(&cx.this.path(&[]), v),
                    },
                    // A case that is not a bool (null, a number) is no match, as in Bento.
                    Pat::Cond(c) => matches!(&*value(c, cx2)?, Value::Bool(true)),
                };
                if hit {
                    return eval(body, cx2).map(|v| Cow::Owned(v.into_owned()));
                }
            }
            Err(Fail::Nothing)
        }
        Expr::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                match eval(it, cx) {
                    Ok(v) => out.push(v.into_owned()),
                    Err(Fail::Deleted | Fail::Nothing) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(Cow::Owned(Value::Array(out)))
        }
        Expr::Object(items) => {
            let mut out = Map::new();
            for (k, v) in items {
                let key = match &*value(k, cx)? {
                    Value::Str(s) => s.clone(),
                    other => {
                        return Err(Fail::msg(format!(
                            "object keys must be strings, got {}",
                            kind_with_value(other)
                        )))
                    }
                };
                match eval(v, cx) {
                    Ok(v) => {
                        out.insert(key, v.into_owned());
                    }
                    Err(Fail::Deleted | Fail::Nothing) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(Cow::Owned(Value::Object(out)))
        }
        Expr::Lambda(..) => Err(Fail::msg(
            "a lambda (`x -> ...`) can only be given to a method such as map_each",
        )),
        Expr::Bracket(recv, body) => {
            let v = value(recv, cx)?;
            let r = call(cx, body, Subj::V(&v))?;
            Ok(Cow::Owned(r.into_owned()))
        }
        Expr::Apply(recv, name) => {
            let v = value(recv, cx)?;
            let Some(stmts) = cx.env.maps.get(name) else {
                return Err(Fail::msg(format!("map `{name}` was not found")));
            };
            let _depth = MapDepth::enter(name)?;
            let mut st = State::new(cx.vars.len());
            st.vars.clone_from_slice(cx.vars);
            let mut meta = cx.env.meta_out.clone();
            run_stmts(stmts, Some(&v), &mut st, cx.env, &mut meta).map_err(|e| Fail::msg(e.0))?;
            match st.root {
                RootState::Deleted => Err(Fail::Deleted),
                RootState::Unset => Err(Fail::Nothing),
                RootState::Set(v) => Ok(Cow::Owned(v)),
                RootState::Input => Ok(Cow::Owned(v.into_owned())),
            }
        }
        Expr::Or(recv, alt) => match eval(recv, cx) {
            Ok(v) if !matches!(*v, Value::Null) => Ok(v),
            _ => eval(alt, cx),
        },
        // In the fallback `this` is the error's message, as in Bento (`.catch(this)` gives it).
        Expr::Catch(recv, alt) => match eval(recv, cx) {
            Err(Fail::Error(e)) => {
                let why = Value::Str(e);
                call(cx, alt, Subj::V(&why)).map(|v| Cow::Owned(v.into_owned()))
            }
            other => other,
        },
        Expr::Regex(_, pattern) => Ok(Cow::Borrowed(pattern)),
    }
}

/// How deep `.apply()` may nest, as in Bento (its maximum of map stacks).
pub const MAX_MAP_DEPTH: u32 = 5000;
/// How much of the thread's stack nested `.apply()` calls may take, counted from the first
/// one. Each level takes a few kilobytes (over ten in a debug build), so on the 2 MiB of a
/// default thread the count alone would overflow first: a mapping recursing without end gets
/// a catchable error instead of taking the process down. 1 MiB leaves the rest of the stack to
/// whatever the innermost map does.
pub const MAP_STACK_BUDGET: usize = 1 << 20;

thread_local! {
    /// Nested `.apply()` levels on this thread, and the stack address of the first.
    static MAP_DEPTH: Cell<(u32, usize)> = const { Cell::new((0, 0)) };
}

/// One level of `.apply()` on this thread, left when dropped (also when unwinding on an error).
struct MapDepth;

impl MapDepth {
    fn enter(name: &str) -> Result<MapDepth, Fail> {
        let marker = 0u8;
        let here = std::ptr::addr_of!(marker) as usize;
        let (depth, base) = MAP_DEPTH.with(|d| {
            let (n, base) = d.get();
            let base = if n == 0 { here } else { base };
            d.set((n + 1, base));
            (n + 1, base)
        });
        let guard = MapDepth;
        // The stack grows down on every target this runs on.
        let used = base.saturating_sub(here);
        if depth > MAX_MAP_DEPTH || used > MAP_STACK_BUDGET {
            return Err(Fail::msg(format!(
                "entering map {name} exceeded the maximum nesting of maps ({depth} deep), \
                 which could be due to unbounded recursion: give the recursion a condition \
                 that ends it"
            )));
        }
        Ok(guard)
    }
}

impl Drop for MapDepth {
    fn drop(&mut self) {
        MAP_DEPTH.with(|d| {
            let (n, base) = d.get();
            d.set((n.saturating_sub(1), base));
        });
    }
}

/// Evaluate `f` for one element: a lambda binds its parameter, any other query rebinds `this`.
pub fn call<'a, 'b>(cx: &Cx<'a, '_>, f: &'a Expr, subj: Subj<'b>) -> R<'b>
where
    'a: 'b,
{
    match f {
        Expr::Lambda(id, body) => {
            let local = Local {
                id: *id,
                subj,
                next: cx.locals,
            };
            let cx2 = Cx {
                locals: Some(&local),
                ..*cx
            };
            // `p -> p.path.method(…)` (the seed's `p -> p.value.string()`): the receiver is
            // the parameter itself, so it is read straight from `subj`, without the
            // evaluator's dispatch and the scope walk: this runs once per entry of `map_each`.
            if let Expr::Method {
                recv,
                f,
                args,
                name,
            } = &**body
            {
                if let Expr::Local(param, segs) = &**recv {
                    if param == id {
                        return apply_method(recv, name, *f, args, subj.path(segs), &cx2);
                    }
                }
            }
            eval(body, &cx2)
        }
        other => {
            let cx2 = Cx { this: subj, ..*cx };
            eval(other, &cx2)
        }
    }
}

fn truthy<'a>(e: &'a Expr, cx: &Cx<'a, '_>) -> Result<bool, Fail> {
    // `&&` and `||` straight on booleans (the same short-circuit and errors as `binary`),
    // without a `Value::Bool` built and matched at every level of a condition.
    if let Some(b) = and_or(e, cx)? {
        return Ok(b);
    }
    match &*value(e, cx)? {
        Value::Bool(b) => Ok(*b),
        other => Err(not_bool(e, other)),
    }
}

/// An `if` expression's condition: as [`truthy`], but `null` is false (Bento allows it there,
/// not in an `if` statement).
fn if_condition<'a>(e: &'a Expr, cx: &Cx<'a, '_>) -> Result<bool, Fail> {
    if let Some(b) = and_or(e, cx)? {
        return Ok(b);
    }
    match &*value(e, cx)? {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        other => Err(not_bool(e, other)),
    }
}

/// `l && r`, `l || r` (short-circuit), or `None` for any other expression.
fn and_or<'a>(e: &'a Expr, cx: &Cx<'a, '_>) -> Result<Option<bool>, Fail> {
    Ok(match e {
        Expr::Bin(BinOp::And, l, r) => Some(bool_operand(l, cx)? && bool_operand(r, cx)?),
        Expr::Bin(BinOp::Or, l, r) => Some(bool_operand(l, cx)? || bool_operand(r, cx)?),
        _ => None,
    })
}

/// An operand of `&&` or `||`, read as Bento's `IGetBool` does: a bool, or a number (true
/// unless zero; an input number unless written `0`).
fn bool_operand<'a>(e: &'a Expr, cx: &Cx<'a, '_>) -> Result<bool, Fail> {
    if let Some(b) = and_or(e, cx)? {
        return Ok(b);
    }
    match &*value(e, cx)? {
        Value::Bool(b) => Ok(*b),
        Value::Int(i) => Ok(*i != 0),
        Value::Float(f) => Ok(*f != 0.0),
        Value::RawNumber(_, text) => Ok(&**text != "0"),
        other => Err(not_bool(e, other)),
    }
}

fn not_bool(e: &Expr, got: &Value) -> Fail {
    Fail::msg(format!(
        "{}: expected bool value, got {}",
        describe(e),
        kind_with_value(got)
    ))
}

/// `number (5)`, `string ("abc")`: how Bento names a value in type errors.
pub fn kind_with_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Array(_) | Value::Object(_) => v.kind().into(),
        _ => {
            let mut s = v.to_json_string();
            if s.len() > 40 {
                let mut cut = 40;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
            format!("{} ({})", v.kind(), s)
        }
    }
}

fn index_value<'a>(v: Val<'a>, i: &Value) -> R<'a> {
    match (&*v, i) {
        (Value::Array(a), Value::Int(n)) => {
            let Some(k) = index_of(a.len(), *n) else {
                return Err(Fail::msg(format!(
                    "index {n} is out of bounds for an array of length {}",
                    a.len()
                )));
            };
            Ok(match v {
                Cow::Borrowed(Value::Array(a)) => Cow::Borrowed(&a[k]),
                Cow::Owned(Value::Array(mut a)) => Cow::Owned(a.swap_remove(k)),
                _ => Cow::Owned(Value::Null),
            })
        }
        (Value::Object(_), Value::Str(k)) => Ok(path_of(v, &[Seg::key(k.clone())])),
        (Value::Str(s), Value::Int(n)) => {
            let chars: Vec<char> = s.chars().collect();
            match index_of(chars.len(), *n) {
                Some(k) => Ok(Cow::Owned(Value::Str(chars[k].to_string()))),
                None => Err(Fail::msg(format!("index {n} is out of bounds"))),
            }
        }
        (other, idx) => Err(Fail::msg(format!(
            "cannot index {} with {}",
            other.kind(),
            idx.kind()
        ))),
    }
}

/// Bento equality: numbers compare by value across int and float, other types must match.
/// The bytes of a string or byte array.
fn text_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Str(s) => Some(s.as_bytes()),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// `a == b` as Bento's `ICompare(a, b)`: numbers by value, text with bytes, arrays and objects
/// deeply, and a bool on the left against a number as its truth (`true == 5`, but not
/// `5 == true`: Bento's comparison is not symmetric there).
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(x), Value::Int(y)) => *x == (*y != 0),
        (Value::Bool(x), Value::Float(y)) => *x == (*y != 0.0),
        (Value::Bool(x), Value::RawNumber(_, t)) => *x == (&**t != "0"),
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::RawNumber(x, _), other) | (other, Value::RawNumber(x, _)) => {
            equal(&Value::Float(*x), other)
        }
        (Value::Str(x), Value::Bytes(y)) | (Value::Bytes(y), Value::Str(x)) => x.as_bytes() == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && equal(v1, v2))
        }
        _ => a == b,
    }
}

fn op_name(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "add",
        BinOp::Sub => "subtract",
        BinOp::Mul => "multiply",
        BinOp::Div => "divide",
        BinOp::Mod => "modulo",
        BinOp::And => "boolean and",
        BinOp::Or => "boolean or",
        BinOp::Coalesce => "coalesce",
        _ => "compare",
    }
}

/// An operand of a binary operator: the usual field and literal without a trip through the
/// whole evaluator (conditions like `this.status >= 200` are most of a filter's work).
#[inline]
fn operand<'a>(e: &'a Expr, cx: &Cx<'a, '_>) -> R<'a> {
    match e {
        Expr::Lit(v) => Ok(Cow::Borrowed(v)),
        Expr::This(p) => Ok(cx.this.path(p)),
        _ => value(e, cx),
    }
}

fn binary<'a>(op: BinOp, l: &'a Expr, r: &'a Expr, cx: &Cx<'a, '_>) -> R<'a> {
    let boolean = |b: bool| Ok(Cow::Owned(Value::Bool(b)));
    match op {
        BinOp::And => {
            if !bool_operand(l, cx)? {
                return boolean(false);
            }
            return boolean(bool_operand(r, cx)?);
        }
        BinOp::Or => {
            if bool_operand(l, cx)? {
                return boolean(true);
            }
            return boolean(bool_operand(r, cx)?);
        }
        BinOp::Coalesce => {
            return match eval(l, cx) {
                Ok(v) if !matches!(*v, Value::Null) => Ok(v),
                _ => eval(r, cx),
            }
        }
        _ => {}
    }
    let lv = operand(l, cx)?;
    let rv = operand(r, cx)?;
    let type_err = || {
        Fail::msg(format!(
            "cannot {} types {} (from {}) and {} (from {})",
            op_name(op),
            lv.kind_or_null(),
            describe(l),
            rv.kind_or_null(),
            describe(r)
        ))
    };
    let num = |v: &Value| v.as_f64();
    let out = match op {
        BinOp::Eq => Value::Bool(equal(&lv, &rv)),
        BinOp::Ne => Value::Bool(!equal(&lv, &rv)),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ord = match (&*lv, &*rv) {
                (Value::Int(a), Value::Int(b)) => a.partial_cmp(b),
                (Value::Str(a), Value::Str(b)) => a.partial_cmp(b),
                // Bytes compare as text with text, as in Bento.
                (a, b) if text_bytes(a).is_some() && text_bytes(b).is_some() => {
                    text_bytes(a).partial_cmp(&text_bytes(b))
                }
                (a, b) => match (num(a), num(b)) {
                    (Some(x), Some(y)) => x.partial_cmp(&y),
                    _ => return Err(type_err()),
                },
            };
            let Some(ord) = ord else {
                return boolean(false);
            };
            Value::Bool(match op {
                BinOp::Lt => ord.is_lt(),
                BinOp::Le => ord.is_le(),
                BinOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        // Integers wrap around at 64 bits as Go's int64 does in Bento
        // (9223372036854775807 + 1 is -9223372036854775808).
        BinOp::Add => match (&*lv, &*rv) {
            (Value::Str(a), Value::Str(b)) => {
                let mut s = String::with_capacity(a.len() + b.len());
                s.push_str(a);
                s.push_str(b);
                Value::Str(s)
            }
            // Text and bytes concatenate to text, as in Bento.
            (a @ (Value::Str(_) | Value::Bytes(_)), b @ (Value::Str(_) | Value::Bytes(_))) => {
                let mut out = text_bytes(a).unwrap_or_default().to_vec();
                out.extend_from_slice(text_bytes(b).unwrap_or_default());
                Value::Str(String::from_utf8_lossy(&out).into_owned())
            }
            (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_add(*b)),
            (a, b) => match (num(a), num(b)) {
                (Some(x), Some(y)) => Value::Float(x + y),
                _ => return Err(type_err()),
            },
        },
        BinOp::Sub => match (&*lv, &*rv) {
            (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_sub(*b)),
            (a, b) => match (num(a), num(b)) {
                (Some(x), Some(y)) => Value::Float(x - y),
                _ => return Err(type_err()),
            },
        },
        BinOp::Mul => match (&*lv, &*rv) {
            (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_mul(*b)),
            (a, b) => match (num(a), num(b)) {
                (Some(x), Some(y)) => Value::Float(x * y),
                _ => return Err(type_err()),
            },
        },
        BinOp::Div => match (num(&lv), num(&rv)) {
            (Some(_), Some(0.0)) => return Err(Fail::msg("attempted to divide by zero")),
            (Some(x), Some(y)) => Value::Float(x / y),
            _ => return Err(type_err()),
        },
        BinOp::Mod => {
            let int = |v: &Value| match v {
                Value::Int(i) => Some(*i),
                Value::Float(f) | Value::RawNumber(f, _) => Some(*f as i64),
                _ => None,
            };
            match (int(&lv), int(&rv)) {
                (Some(_), Some(0)) => return Err(Fail::msg("attempted to divide by zero")),
                (Some(x), Some(y)) => Value::Int(x.wrapping_rem(y)),
                _ => return Err(type_err()),
            }
        }
        BinOp::And | BinOp::Or | BinOp::Coalesce => unreachable_op(),
    };
    Ok(Cow::Owned(out))
}

/// The short-circuit operators return before the operands are evaluated as values.
fn unreachable_op() -> Value {
    Value::Null
}

trait KindOrNull {
    fn kind_or_null(&self) -> &'static str;
}
impl KindOrNull for Val<'_> {
    fn kind_or_null(&self) -> &'static str {
        self.kind()
    }
}

/// The document a mapping is building.
#[derive(Debug)]
pub enum RootState {
    /// Nothing assigned yet: a mapping that ends here passes its input on.
    Unset,
    Deleted,
    Set(Value),
    /// `root = this`, or an expression that gave the input itself back (`root = if ok {
    /// this } else { deleted() }`), and no edit since: the document is the input. The caller
    /// copies it, or moves it when it owns the input, instead of a copy being made here.
    Input,
}

/// Per-run mutable state.
pub struct State {
    pub root: RootState,
    pub vars: Vec<Option<Value>>,
    /// Set when the mapping replaced or removed all metadata (hides the source metadata).
    pub meta_cleared: bool,
}

impl State {
    pub fn new(nvars: usize) -> State {
        State {
            root: RootState::Unset,
            vars: vec![None; nvars],
            meta_cleared: false,
        }
    }
}

/// A runtime error, already worded for the user (`failed assignment (line 3): ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecError(pub String);

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExecError {}

/// What a statement's expression gave.
enum Assigned {
    Value(Value),
    /// The input document itself, not copied (see [`RootState::Input`]).
    Input,
}

impl Assigned {
    fn into_value(self, input: Option<&Value>) -> Value {
        match self {
            Assigned::Value(v) => v,
            Assigned::Input => input.cloned().unwrap_or(Value::Null),
        }
    }
}

/// Which block of an `if` statement runs.
enum Block {
    Branch(usize),
    Otherwise,
}

/// Run statements. `input` is `this`; `None` means `this` is the document itself (mutation).
pub fn run_stmts(
    stmts: &[Stmt],
    input: Option<&Value>,
    st: &mut State,
    env: &Env<'_>,
    meta: &mut Map,
) -> Result<(), ExecError> {
    use super::ast::Target;
    for stmt in stmts {
        // An edit run as a mutation (`this` is `root`): the field moves into the chain.
        let field = match (stmt, input, &mut st.root) {
            (
                Stmt::Assign {
                    target: Target::Root(path),
                    edit: true,
                    ..
                },
                None,
                RootState::Set(doc),
            ) => Some(take_field(doc, path)),
            _ => None,
        };
        // The context borrows the state immutably for one statement; the result is owned
        // before the state is written.
        let (line, result, chosen) = {
            let root_ref = match &st.root {
                RootState::Set(v) => Some(v),
                RootState::Input => input,
                _ => None,
            };
            let this = match input {
                Some(v) => v,
                None => root_ref.unwrap_or(&NULL),
            };
            let env2 = Env {
                meta_in: env.meta_in,
                meta_out: meta,
                origin: if st.meta_cleared { None } else { env.origin },
                raw: env.raw,
                error: env.error,
                maps: env.maps,
            };
            let cx = Cx {
                this: Subj::V(this),
                root: root_ref,
                vars: &st.vars,
                env: &env2,
                locals: None,
            };
            match stmt {
                Stmt::Assign {
                    target: Target::Root(path),
                    expr,
                    line,
                    ..
                } if path.is_empty() => (
                    *line,
                    eval(expr, &cx).map(|v| match v {
                        Cow::Borrowed(v) if input.is_some_and(|i| std::ptr::eq(i, v)) => {
                            Assigned::Input
                        }
                        v => Assigned::Value(v.into_owned()),
                    }),
                    Ok(Block::Otherwise),
                ),
                Stmt::Assign { expr, line, .. } | Stmt::Let { expr, line, .. } => (
                    *line,
                    match field {
                        Some(field) => eval_edit(expr, field, &cx),
                        None => eval(expr, &cx),
                    }
                    .map(|v| Assigned::Value(v.into_owned())),
                    Ok(Block::Otherwise),
                ),
                Stmt::If { branches, line, .. } => {
                    let mut chosen = Ok(Block::Otherwise);
                    for (i, (cond, _)) in branches.iter().enumerate() {
                        match truthy(cond, &cx) {
                            Ok(true) => {
                                chosen = Ok(Block::Branch(i));
                                break;
                            }
                            Ok(false) | Err(Fail::Deleted | Fail::Nothing) => {}
                            Err(Fail::Error(e)) => {
                                chosen = Err(ExecError(format!(
                                    "failed if condition (line {line}): {e}"
                                )));
                                break;
                            }
                        }
                    }
                    (*line, Err(Fail::Nothing), chosen)
                }
            }
        };
        match stmt {
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                let block = match chosen? {
                    Block::Branch(i) => Some(&branches[i].1),
                    Block::Otherwise => otherwise.as_ref(),
                };
                if let Some(b) = block {
                    run_stmts(b, input, st, env, meta)?;
                }
            }
            Stmt::Let { slot, .. } => match result {
                Ok(v) => st.vars[*slot] = Some(v.into_value(input)),
                Err(Fail::Error(e)) => {
                    return Err(ExecError(format!("failed assignment (line {line}): {e}")))
                }
                Err(Fail::Deleted) => st.vars[*slot] = None,
                Err(Fail::Nothing) => {}
            },
            Stmt::Assign { target, .. } => {
                let v = match result {
                    Ok(Assigned::Input) => {
                        st.root = RootState::Input;
                        continue;
                    }
                    Ok(v) => Some(v.into_value(input)),
                    Err(Fail::Deleted) => None,
                    Err(Fail::Nothing) => continue,
                    Err(Fail::Error(e)) => {
                        return Err(ExecError(format!("failed assignment (line {line}): {e}")))
                    }
                };
                match target {
                    Target::Root(path) => {
                        if matches!(st.root, RootState::Input) && !path.is_empty() {
                            // An edit of the input: from here on root is its own copy.
                            st.root = RootState::Set(input.cloned().unwrap_or(Value::Null));
                        }
                        assign_root(&mut st.root, path, v).map_err(|e| {
                            ExecError(format!("failed assignment (line {line}): {e}"))
                        })?
                    }
                    Target::Meta(None) => match v {
                        None => {
                            meta.clear();
                            st.meta_cleared = true;
                        }
                        Some(Value::Object(m)) => {
                            *meta = m;
                            st.meta_cleared = true;
                        }
                        Some(other) => {
                            return Err(ExecError(format!(
                                "failed assignment (line {line}): setting all metadata needs an object, got {}",
                                other.kind()
                            )))
                        }
                    },
                    Target::Meta(Some(k)) => match v {
                        None => {
                            meta.remove(k);
                        }
                        Some(v) => {
                            meta.insert(k.clone(), v);
                        }
                    },
                }
            }
        }
    }
    Ok(())
}

/// `root.<path> = v` (`None`: `deleted()`), by Bento's rules: missing or null fields on the
/// way become objects, array elements are addressed by index (`-` appends), and a path
/// through any other value (a string, a number, an array by a non-index, a deleted root) is
/// an error, not an overwrite. Deleting what is not there does nothing.
fn assign_root(root: &mut RootState, path: &[String], v: Option<Value>) -> Result<(), String> {
    if path.is_empty() {
        *root = match v {
            Some(v) => RootState::Set(v),
            None => RootState::Deleted,
        };
        return Ok(());
    }
    let Some(v) = v else {
        if let RootState::Set(doc) = root {
            delete_path(doc, path);
        }
        return Ok(());
    };
    match root {
        RootState::Deleted => {
            return Err(format!(
                "unable to set target path {} as the root was deleted (`root = deleted()` earlier)",
                path.join(".")
            ))
        }
        RootState::Set(d) if !matches!(d, Value::Null) => {}
        _ => *root = RootState::Set(Value::Object(Map::new())),
    }
    let RootState::Set(doc) = root else {
        return Ok(());
    };
    set_path(doc, path, v)
}

fn set_path(doc: &mut Value, path: &[String], v: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut cur = doc;
    for (i, seg) in parents.iter().enumerate() {
        cur = step_into(cur, path, i, seg)?;
    }
    match cur {
        // An existing field is overwritten in place (no key copy to insert).
        Value::Object(m) => match m.get_mut(last) {
            Some(slot) => *slot = v,
            None => {
                m.insert(last.clone(), v);
            }
        },
        Value::Array(a) if last == "-" => a.push(v),
        Value::Array(a) => {
            let len = a.len();
            match last.parse::<usize>().ok().filter(|&x| x < len) {
                Some(i) => a[i] = v,
                None => return Err(not_an_index(path, parents.len(), len)),
            }
        }
        other => return Err(non_object(path, parents.len(), other.kind())),
    }
    Ok(())
}

/// One step of [`set_path`] down to the parent of the assigned field: `path[i]` of `cur`.
fn step_into<'v>(
    cur: &'v mut Value,
    path: &[String],
    i: usize,
    seg: &str,
) -> Result<&'v mut Value, String> {
    match cur {
        Value::Object(m) => {
            if m.get(seg).is_none_or(|x| matches!(x, Value::Null)) {
                m.insert(seg.to_string(), Value::Object(Map::new()));
            }
            m.get_mut(seg)
                .ok_or_else(|| format!("field {seg} vanished"))
        }
        Value::Array(a) => {
            if seg == "-" {
                a.push(Value::Object(Map::new()));
                return a.last_mut().ok_or_else(|| "empty array".to_string());
            }
            let len = a.len();
            let Some(idx) = seg.parse::<usize>().ok().filter(|&x| x < len) else {
                return Err(not_an_index(path, i, len));
            };
            if matches!(a[idx], Value::Null) {
                return Err(format!(
                    "unable to set target path {}: {} is null",
                    path.join("."),
                    path[..=i].join(".")
                ));
            }
            Ok(&mut a[idx])
        }
        other => Err(non_object(path, i, other.kind())),
    }
}

fn non_object(path: &[String], at: usize, kind: &str) -> String {
    format!(
        "unable to set target path {} as the value of {} was a non-object type ({kind})",
        path.join("."),
        described(&path[..at]),
    )
}

fn not_an_index(path: &[String], at: usize, len: usize) -> String {
    format!(
        "unable to set target path {}: {} is an array of {len} and `{}` is not an index of it",
        path.join("."),
        described(&path[..at]),
        path[at]
    )
}

/// A path prefix as the errors of [`set_path`] name it.
fn described(prefix: &[String]) -> String {
    if prefix.is_empty() {
        "the root".into()
    } else {
        prefix.join(".")
    }
}

/// `root.<path> = deleted()`: remove the field (or array element) if it is there.
fn delete_path(doc: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = doc;
    for seg in parents {
        let next = match cur {
            Value::Object(m) => m.get_mut(seg),
            Value::Array(a) => seg.parse::<i64>().ok().and_then(|i| {
                let i = index_of(a.len(), i)?;
                a.get_mut(i)
            }),
            _ => None,
        };
        let Some(next) = next else { return };
        cur = next;
    }
    match cur {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Some(i) = last.parse::<i64>().ok().and_then(|i| index_of(a.len(), i)) {
                a.remove(i);
            }
        }
        _ => {}
    }
}
