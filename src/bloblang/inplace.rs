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

use super::ast::{Expr, Pat, Seg, Stmt, Target};

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
    copies_this && independent(rest, &mut Vec::new())
}

/// Walk statements in order, checking each one's reads against the writes so far.
fn independent(stmts: &[Stmt], writes: &mut Vec<Vec<String>>) -> bool {
    for stmt in stmts {
        match stmt {
            Stmt::Assign { target, expr, .. } => {
                if !reads_ok(expr, writes) {
                    return false;
                }
                if let Target::Root(path) = target {
                    writes.push(path.to_vec());
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

fn reads_ok(e: &Expr, writes: &[Vec<String>]) -> bool {
    if writes.is_empty() {
        return true;
    }
    let mut reads: Vec<Option<&[Seg]>> = Vec::new();
    this_reads(e, &mut reads);
    reads.iter().all(|r| match r {
        None => false,
        Some(segs) => writes.iter().all(|w| !overlaps(segs, w)),
    })
}

/// One path is a prefix of the other: reading `a` sees a write to `a.b`, and reading `a.b`
/// sees a write to `a`.
fn overlaps(read: &[Seg], write: &[String]) -> bool {
    read.iter().zip(write).all(|(r, w)| r.key == *w)
}

/// Every `this` path read in `e` (`None`: a read that cannot be placed).
fn this_reads<'e>(e: &'e Expr, out: &mut Vec<Option<&'e [Seg]>>) {
    let mut each = |x: &'e Expr| this_reads(x, out);
    match e {
        Expr::Lit(_)
        | Expr::Regex(..)
        | Expr::Root(_)
        | Expr::Local(..)
        | Expr::Var(..)
        | Expr::Meta(_) => {}
        Expr::This(p) => out.push(Some(p)),
        Expr::Get(x, _) | Expr::Not(x) | Expr::Neg(x) | Expr::Lambda(_, x) => each(x),
        Expr::Index(a, b)
        | Expr::Bin(_, a, b)
        | Expr::Bracket(a, b)
        | Expr::Or(a, b)
        | Expr::Catch(a, b) => {
            this_reads(a, out);
            this_reads(b, out);
        }
        Expr::Call { args, .. } => args.iter().flatten().for_each(|a| this_reads(a, out)),
        Expr::Method { recv, args, .. } => {
            this_reads(recv, out);
            args.iter().flatten().for_each(|a| this_reads(a, out));
        }
        Expr::If(branches, otherwise) => {
            for (c, v) in branches {
                this_reads(c, out);
                this_reads(v, out);
            }
            if let Some(o) = otherwise {
                this_reads(o, out);
            }
        }
        Expr::Match(subject, arms) => {
            if let Some(s) = subject {
                this_reads(s, out);
            }
            for (pat, v) in arms {
                if let Pat::Cond(c) = pat {
                    this_reads(c, out);
                }
                this_reads(v, out);
            }
        }
        Expr::Array(items) => items.iter().for_each(|a| this_reads(a, out)),
        Expr::Object(kvs) => {
            for (k, v) in kvs {
                this_reads(k, out);
                this_reads(v, out);
            }
        }
        Expr::Apply(..) => out.push(None),
    }
}

#[cfg(test)]
mod tests {
    use super::moves_input;
    use crate::bloblang::parser::parse_mapping;

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

    #[test]
    fn only_a_first_whole_copy_qualifies() {
        assert!(!moves("root.a = this.a"));
        assert!(!moves("root = this.a\nroot.b = 1"));
        assert!(!moves("root.a = 1\nroot = this"));
    }
}
