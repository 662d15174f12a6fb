//! `flexprice-collector blobl`: try a mapping on JSON lines, the way `bento blobl` does.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use flexprice_collector::bloblang::{Mapping, MessageEnv, Outcome};
use flexprice_collector::document::{Map, Value};

pub fn run(mapping: Option<String>, file: Option<PathBuf>) -> ExitCode {
    let src = match (mapping, file) {
        (Some(m), None) => m,
        (None, Some(f)) => match std::fs::read_to_string(&f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("failed to read mapping file {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("blobl: give the mapping with -m 'mapping' or -f file.blobl (one of them)");
            return ExitCode::from(2);
        }
    };
    let mapping = match Mapping::compile(&src) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("failed to parse mapping: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = Vec::new();
    let mut reader = stdin.lock();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("failed to read stdin: {e}");
                return ExitCode::FAILURE;
            }
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let raw = line.clone();
        // Like Bento, a line that is not JSON is still a message: `this` fails, `content()` works.
        let input = Value::from_json_bytes(&raw).unwrap_or(Value::Null);
        let mut meta = Map::new();
        let result = mapping.exec(
            &input,
            MessageEnv {
                meta: &mut meta,
                origin: None,
                raw: &raw,
                error: None,
            },
        );
        let written = match result {
            Ok(Outcome::Doc(Value::Str(s))) => writeln!(out, "{s}"),
            Ok(Outcome::Doc(Value::Bytes(b))) => {
                out.write_all(&b).and_then(|_| out.write_all(b"\n"))
            }
            Ok(Outcome::Doc(v)) => writeln!(out, "{}", v.to_json_string()),
            Ok(Outcome::Unchanged) => out.write_all(&raw).and_then(|_| out.write_all(b"\n")),
            Ok(Outcome::Deleted) => writeln!(out),
            Err(e) => {
                let _ = out.flush();
                eprintln!("failed to execute map: {e}");
                Ok(())
            }
        };
        if written.and_then(|_| out.flush()).is_err() {
            return ExitCode::SUCCESS; // stdout closed (e.g. piped into head)
        }
    }
    ExitCode::SUCCESS
}
