//! When a `mapping` may run in place.
//!
//! The Flexprice docs' mappings start with `root = this` and then edit a few fields. Run
//! literally, that deep-copies every event (and later frees the original), which was a fifth
//! of a processor thread's time. If no later statement reads, through `this`, a path that an
//! earlier statement (after the first) has already assigned, then `this` and `root` hold the
//! same value at every read, and the mapping gives exactly the result of a `mutation` of the
//! same statements minus the first one: the input can be moved into `root` instead of copied.
//!
//! The check is conservative: any read it cannot place (a whole `this`, a named map applied
//! to something) counts as overlapping every earlier write.
//!
//! Within such a mutation, `root.properties = this.properties.map_each(…)` reads the field it
//! then overwrites: [`mark_edits`] finds those statements so the field's value is moved into
//! the method chain instead of copied (the seed mapping copied every property key and string
//! value of every event just to drop the originals a moment later).

use std::collections::hash_map::{Entry, HashMap};

use super::ast::{Expr, Seg, Stmt, Target};

/// True when `stmts` is `root = this` followed by statements that never read, through `this`,
/// a path an earlier one of them wrote.
pub fn moves_input(stmts: &[Stmt]) -> bool {
    let Some((first, rest)) = stmts.split_first() else {
        return false;
    };
    let copies_this = matches!(
        first,
        Stmt::Assign { target: Target::Root(path), expr: Expr::This(segs), .. }
            if path.is_empty() && segs.is_empty()
    );
    copies_this && independent(rest, &mut Writes::default())
}

/// Walk statements in order, checking each one's reads against the writes so far.
fn independent<'s>(stmts: &'s [Stmt], writes: &mut Writes<'s>) -> bool {
    for stmt in stmts {
        match stmt {
            Stmt::Assign { target, expr, .. } => {
                if !reads_ok(expr, writes) {
                    return false;
                }
                if let Target::Root(path) = target {
                    writes.insert(path);
                }
            }
            Stmt::Let { expr, .. } => {
                if !reads_ok(expr, writes) {
                    return false;
                }
            }
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                // Conditions are all evaluated before any block runs; every block's writes
                // count for what follows, whichever runs.
                if !branches.iter().all(|(cond, _)| reads_ok(cond, writes)) {
                    return false;
                }
                for block in branches.iter().map(|(_, b)| b).chain(otherwise) {
                    if !independent(block, writes) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

/// The `root` paths written so far, as a tree of their keys, so that checking a read costs
/// its own length rather than the number of writes before it (a list checked against every
/// earlier write made `moves_input` quadratic in the mapping's length).
#[derive(Default)]
struct Writes<'s> {
    /// Node 0 is the root (the empty path); the others are created by [`Writes::insert`].
    nodes: Vec<WriteNode<'s>>,
}

#[derive(Default)]
struct WriteNode<'s> {
    /// A write ends here.
    end: bool,
    children: HashMap<&'s str, usize>,
}

impl<'s> Writes<'s> {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn insert(&mut self, path: &'s [String]) {
        if self.nodes.is_empty() {
            self.nodes.push(WriteNode::default());
        }
        let mut at = 0;
        for key in path {
            let next = self.nodes.len();
            at = match self.nodes[at].children.entry(key.as_str()) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    e.insert(next);
                    self.nodes.push(WriteNode::default());
                    next
                }
            };
        }
        self.nodes[at].end = true;
    }

    /// Some write is a prefix of `read` or has `read` as a prefix (reading `a` sees a write
    /// to `a.b`, and reading `a.b` sees a write to `a`).
    fn overlaps(&self, read: &[Seg]) -> bool {
        let mut at = 0;
        for seg in read {
            let Some(node) = self.nodes.get(at) else {
                return false;
            };
            if node.end {
                return true;
            }
            match node.children.get(seg.key.as_str()) {
                Some(&next) => at = next,
                None => return false,
            }
        }
        // `read` ended on a node, and every node lies on the path of a write.
        !self.nodes.is_empty()
    }
}

/// Methods an edit may chain: none of them reads anything but its receiver and its lambda,
/// and none can give "nothing" (which would leave the field as it was, and a moved-out value
/// cannot be put back).
const EDIT_METHODS: &[&str] = &[
    "map_each",
    "map_each_key",
    "string",
    "number",
    "uppercase",
    "lowercase",
    "trim",
];

/// Mark (at any depth of `if` blocks) the assignments `root.P = this.P.m(…)…`: a chain of
/// [`EDIT_METHODS`] on exactly the field it assigns, whose arguments are lambdas that read
/// neither `this` nor `root`. Run as a mutation, such a statement may move the field's value
/// into the chain: nothing else in it can see that the field is gone meanwhile, and if the
/// chain fails the whole mapping fails and the document is dropped.
pub fn mark_edits(stmts: &mut [Stmt]) {
    for stmt in stmts {
        match stmt {
            Stmt::Assign {
                target: Target::Root(path),
                expr,
                edit,
                ..
            } => *edit = !path.is_empty() && edits(expr, path),
            Stmt::Assign { .. } | Stmt::Let { .. } => {}
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                for (_, block) in branches.iter_mut() {
                    mark_edits(block);
                }
                if let Some(block) = otherwise {
                    mark_edits(block);
                }
            }
        }
    }
}

/// `e` is a chain of edit methods whose innermost receiver is `this.<path>`.
fn edits(e: &Expr, path: &[String]) -> bool {
    let Expr::Method {
        recv, name, args, ..
    } = e
    else {
        return false;
    };
    let args_ok = args.iter().all(|a| match a {
        Some(Expr::Lambda(_, body)) => {
            let mut reads = Vec::new();
            this_reads(body, &mut reads);
            reads.is_empty() && !reads_root(body)
        }
        _ => false,
    });
    if !EDIT_METHODS.contains(name) || !args_ok {
        return false;
    }
    match &**recv {
        Expr::This(segs) => {
            segs.len() == path.len()
                && segs
                    .iter()
                    .zip(path)
                    .all(|(s, p)| s.index.is_none() && s.key == *p)
        }
        inner => edits(inner, path),
    }
}

/// `e` reads `root` (or may, through a named map) anywhere.
fn reads_root(e: &Expr) -> bool {
    e.any(&|x| matches!(x, Expr::Root(_) | Expr::Apply(..)))
}

fn reads_ok(e: &Expr, writes: &Writes<'_>) -> bool {
    if writes.is_empty() {
        return true;
    }
    let mut reads: Vec<Option<&[Seg]>> = Vec::new();
    this_reads(e, &mut reads);
    reads.iter().all(|r| match r {
        None => false,
        Some(segs) => !writes.overlaps(segs),
    })
}

/// Every `this` path read in `e` (`None`: a read that cannot be placed).
fn this_reads<'e>(e: &'e Expr, out: &mut Vec<Option<&'e [Seg]>>) {
    match e {
        Expr::This(p) => out.push(Some(p)),
        Expr::Apply(..) => out.push(None),
        _ => e.for_each_child(&mut |x| this_reads(x, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::{mark_edits, moves_input};
    use crate::bloblang::ast::Stmt;
    use crate::bloblang::parser::parse_mapping;

    /// Which top-level statements `mark_edits` marks.
    fn edits(src: &str) -> Vec<bool> {
        let mut p = parse_mapping(src).expect("mapping compiles");
        mark_edits(&mut p.stmts);
        p.stmts
            .iter()
            .map(|s| matches!(s, Stmt::Assign { edit: true, .. }))
            .collect()
    }

    #[test]
    fn a_field_rewritten_from_itself_is_an_edit() {
        assert_eq!(
            edits("root = this\nroot.properties = this.properties.map_each(p -> p.value.string())"),
            [false, true]
        );
        assert_eq!(edits("root.a.b = this.a.b.string().uppercase()"), [true]);
        assert_eq!(
            edits("root.a = this.a.map_each_key(k -> k.lowercase())"),
            [true]
        );
    }

    #[test]
    fn anything_else_is_not() {
        for src in [
            // another field, a longer or shorter path, an index
            "root.a = this.b.string()",
            "root.a = this.a.b.string()",
            "root.a.b = this.a.string()",
            "root.a = this.a.0.string()",
            // no method, a method outside the list, a method that reads something else
            "root.a = this.a",
            "root.a = this.a.filter(x -> x.value > 1)",
            "root.a = this.a.map_each(x -> x.value + this.b)",
            "root.a = this.a.map_each(x -> root.b)",
            "root.a = this.a.map_each(this.value.string())",
            "root.a = this.a.string() + \"x\"",
            "root.a = this.a.string().catch(\"\")",
            "root = this.string()",
            "meta a = this.a.string()",
        ] {
            assert_eq!(edits(src), [false], "{src}");
        }
    }

    fn moves(src: &str) -> bool {
        let p = parse_mapping(src).expect("mapping compiles");
        moves_input(&p.stmts)
    }

    #[test]
    fn the_docs_seed_mapping_runs_in_place() {
        assert!(moves(
            "root = this\nroot.properties = this.properties.map_each(p -> p.value.string())"
        ));
        assert!(moves("root = this\nroot.a = this.b\nroot.c = this.d.e"));
        assert!(moves("root = this\nroot.a.b = 1\nroot.c = this.a.c"));
    }

    #[test]
    fn a_read_of_an_earlier_write_keeps_the_copy() {
        assert!(!moves("root = this\nroot.a = 1\nroot.b = this.a"));
        assert!(!moves("root = this\nroot.a = 1\nroot.b = this.a.x"));
        assert!(!moves("root = this\nroot.a.x = 1\nroot.b = this.a"));
        assert!(!moves("root = this\nroot.a = 1\nroot.b = this"));
        assert!(!moves("root = this\nroot = {}\nroot.b = this.x"));
        assert!(!moves(
            "root = this\nif this.x > 1 { root.a = 1 }\nroot.b = this.a.or(2)"
        ));
        assert!(!moves(
            "root = this\nroot.a = 1\nlet v = this.a\nroot.b = $v"
        ));
    }

    /// A read overlaps a write when one path is a prefix of the other, whatever was written
    /// before or after it, at whatever depth.
    #[test]
    fn reads_are_checked_against_all_earlier_writes() {
        let writes = "root = this\nroot.x.y = 1\nroot.a.b = 1\nroot.items.0 = 1\nroot.z = 1\n";
        for (read, moves_it) in [
            ("this.a.c", true),
            ("this.b", true),
            ("this.x.z.y", true),
            ("this.items.1", true),
            ("this.a.b.c", false),
            ("this.a.b", false),
            ("this.a", false),
            ("this.x", false),
            ("this.items", false),
            ("this.items.0", false),
            ("this.z.w", false),
            ("this", false),
        ] {
            let src = format!("{writes}root.r = {read}");
            assert_eq!(moves(&src), moves_it, "{read}");
        }
        // A read before the write it overlaps is fine.
        assert!(moves("root = this\nroot.b = this.a.b\nroot.a = 1"));
    }

    #[test]
    fn only_a_first_whole_copy_qualifies() {
        assert!(!moves("root.a = this.a"));
        assert!(!moves("root = this.a\nroot.b = 1"));
        assert!(!moves("root.a = 1\nroot = this"));
    }
}
