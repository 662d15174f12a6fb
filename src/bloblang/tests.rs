use super::*;

fn run(m: &str, input: &str) -> Result<Outcome, String> {
    let mapping = Mapping::compile(m).map_err(|e| e.to_string())?;
    let mut buf = input.as_bytes().to_vec();
    let v = Value::from_json_slice(&mut buf).map_err(|e| e.to_string())?;
    mapping.exec_value(&v).map_err(|e| e.0)
}

fn doc(m: &str, input: &str) -> String {
    match run(m, input) {
        Ok(Outcome::Doc(v)) => v.to_json_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn seed_mappings() {
    assert_eq!(
        doc(
            "root.properties = this.properties.map_each(p -> p.value.string())",
            r#"{"properties":{"a":1,"b":"x","c":true}}"#
        ),
        r#"{"properties":{"a":"1","b":"x","c":"true"}}"#
    );
    let filter = "root = if this.status >= 200 && this.status < 300 { this } else { deleted() }";
    assert_eq!(doc(filter, r#"{"status":204}"#), r#"{"status":204}"#);
    assert_eq!(run(filter, r#"{"status":404}"#), Ok(Outcome::Deleted));
}

#[test]
fn parse_error_points_at_the_column() {
    let e = Mapping::compile("root = this.foo.uppercase(")
        .err()
        .map(|e| e.short());
    assert_eq!(
        e.as_deref(),
        Some("line 1 char 27: expected `)` to close the arguments of method `uppercase` at 1:17, found end of mapping")
    );
}

/// Compile (and run) `m` on a thread with the main thread's usual 8 MiB stack, where configs
/// are compiled: a mapping nested past the limit must fail with a located error, not
/// overflow the stack and abort the process.
fn compile_on_main_sized_stack(m: String) -> Result<String, String> {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || match run(&m, r#"{"a":1}"#) {
            Ok(Outcome::Doc(v)) => Ok(v.to_json_string()),
            Ok(other) => Ok(format!("{other:?}")),
            Err(e) => Err(e),
        })
        .expect("thread")
        .join()
        .expect("no panic")
}

#[test]
fn deeply_nested_or_chained_mappings_fail_with_a_located_error() {
    let n = 100_000;
    let cases = [
        format!("root = {}{}", "[".repeat(n), "]".repeat(n)),
        format!("root = {}1{}", "(".repeat(n), ")".repeat(n)),
        format!("root = {}true", "!".repeat(n)),
        format!("root = {}1", "-".repeat(n)),
        format!("root = \"a\"{}", ".string()".repeat(n)),
        format!("root = {}1", "this.a + ".repeat(n)),
        format!("root = this{}", "[0]".repeat(n)),
        format!("root = {}1{}", "if true { ".repeat(n), "}".repeat(n)),
        format!("{}root = 1{}", "if true {\n".repeat(n), "\n}".repeat(n)),
    ];
    for m in cases {
        let err = compile_on_main_sized_stack(m.clone()).expect_err("too deep");
        assert!(
            err.contains("nested or chained too deeply") && err.contains("line "),
            "{err} for {}",
            &m[..40]
        );
    }
    // Well inside the limit still works.
    let ok = format!("root = {}1{}", "[".repeat(100), "]".repeat(100));
    let out = compile_on_main_sized_stack(ok).expect("100 levels compile");
    assert!(out.starts_with("[[[[") && out.contains('1'));
    let chain = format!("root = \"a\"{}", ".uppercase()".repeat(200));
    assert_eq!(compile_on_main_sized_stack(chain).as_deref(), Ok("\"A\""));
}

#[test]
fn large_and_tiny_floats_are_written_as_json_that_parses_back() {
    for (f, want) in [
        (2.5e115, "2.5e+115"),
        (-6.3e206, "-6.3e+206"),
        (1e19, "1e+19"),
        (-9.266460721916178e18, "-9.266460721916178e+18"),
        (1e18, "1e+18"),
        (9.99e17, "999000000000000000"),
        (1e-7, "1e-7"),
        (1.5e15, "1500000000000000"),
        (123.25, "123.25"),
        (4.0, "4"),
    ] {
        let mut out = Vec::new();
        Value::Float(f).write_json(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), want);
        let back = Value::from_json_slice(&mut out).expect("parses back");
        match back {
            Value::Float(g) => assert_eq!(g, f),
            // Written as we print it, so read back with that text kept (`1e+18`).
            Value::RawNumber(g, text) => {
                assert_eq!(g, f);
                assert_eq!(&*text, want);
            }
            Value::Int(i) => assert_eq!(i as f64, f),
            other => panic!("{other:?}"),
        }
    }
}

/// The deepest document the parser lets through (1023 levels, objects and arrays mixed) goes
/// through every recursive step — conversion, a mapping's clone, `write_json`, `Drop` — on a
/// quarter of a processor thread's stack, in a debug build (it overflows 1 MiB there).
/// 10 000 levels are refused by the parser before any of that.
#[test]
fn deepest_accepted_document_fits_a_processor_thread_stack() {
    let deep = |n: usize| {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(if i % 2 == 0 { "{\"a\":" } else { "[" });
        }
        s.push('1');
        for i in (0..n).rev() {
            s.push(if i % 2 == 0 { '}' } else { ']' });
        }
        s
    };
    let ok = deep(crate::document::MAX_JSON_DEPTH - 1);
    let too_deep = deep(10_000);
    std::thread::Builder::new()
        .stack_size(crate::pipeline::PROCESSOR_STACK / 4)
        .spawn(move || {
            let mapping = Mapping::compile("root = this\nroot.b = this.a").expect("compiles");
            let mut buf = ok.clone().into_bytes();
            let v = Value::from_json_slice(&mut buf).expect("1023 levels parse");
            let out = match mapping.exec_value(&v).expect("runs") {
                Outcome::Doc(d) => d,
                other => panic!("{other:?}"),
            };
            let mut json = Vec::new();
            out.write_json(&mut json);
            assert!(json.len() > ok.len());
            drop((v, out));
            let mut buf = too_deep.into_bytes();
            let err = Value::from_json_slice(&mut buf).expect_err("10 000 levels refused");
            assert!(err.contains("nested deeper than 1024 levels"), "{err}");
        })
        .expect("thread")
        .join()
        .expect("no stack overflow, no panic");
}

#[test]
fn a_mapping_says_whether_it_reads_metadata() {
    let reads = |src: &str| Mapping::compile(src).expect(src).reads_metadata();
    for src in [
        "root.k = @kafka_key",
        "root = @",
        "root.t = meta(\"tenant\")",
        "root.t = metadata(\"tenant\")",
        "root.t = root_meta(\"tenant\")",
        "root = if @kafka_key == \"a\" { this } else { deleted() }",
        "if meta(\"x\") != null { root.a = 1 }",
        "root.p = this.props.map_each(p -> p.value + @suffix)",
        "root = match this { this.a == @x => 1, _ => 2 }",
        "map m {\n  root.k = @kafka_key\n}\nroot = this.apply(\"m\")",
        "let k = @kafka_key\nroot.k = $k",
    ] {
        assert!(reads(src), "{src}");
    }
    for src in [
        "root = this",
        "root.properties = this.properties.map_each(p -> p.value.string())",
        "meta tenant = \"a\"\nroot = this",
        "root.s = \"@kafka_key meta(x)\"",
    ] {
        assert!(!reads(src), "{src}");
    }
}

/// `n` statements `root.fI = this.aI` (after `first`), then one that fails at run time:
/// compiled on a thread given a generous bound, run on an input with every field. The bound
/// only keeps a quadratic compile (minutes at this size, more in a debug build) from hanging
/// the test run; a linear one takes a second or two in a debug build.
fn compile_long_mapping(first: &str, n: usize) -> Mapping {
    let mut src = String::from(first);
    let mut input = String::from("{");
    for i in 0..n {
        src.push_str(&format!("root.f{i} = this.a{i}\n"));
        input.push_str(&format!("\"a{i}\":{i},"));
    }
    src.push_str("root.last = this.a0.uppercase()\n");
    input.push_str("\"z\":0}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Mapping::compile(&src));
    });
    let compiled = rx.recv_timeout(std::time::Duration::from_secs(120));
    let Ok(Ok(mapping)) = compiled else {
        let why = compiled.map(|r| r.map(|_| ()));
        panic!("{n} statements did not compile within 120 s: {why:?}");
    };
    // The runtime error of the last statement names its line.
    let mut buf = input.into_bytes();
    let v = Value::from_json_slice(&mut buf).expect("input parses");
    let err = mapping.exec_value(&v).expect_err("uppercase of a number");
    let last = first.lines().count() + n + 1;
    assert!(err.0.contains(&format!("line {last}")), "{}", err.0);
    mapping
}

/// Compiling is linear in the mapping's length: every statement used to find its line by
/// counting the line breaks from the start of the mapping (40 000 statements took half a
/// minute in a release build).
#[test]
fn a_long_mapping_compiles_in_linear_time() {
    compile_long_mapping("", 100_000);
}

/// The same for a mapping that starts with `root = this`: deciding whether it may run in
/// place checked each read against every earlier write.
#[test]
fn a_long_in_place_mapping_compiles_in_linear_time() {
    let mapping = compile_long_mapping("root = this\n", 100_000);
    assert!(
        mapping.inner.in_place,
        "no statement reads back an earlier write"
    );
}
