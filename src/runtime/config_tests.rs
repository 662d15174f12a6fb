use super::*;
use crate::config::{ConfigErrors, REDACTED};
use crate::output::OutputKind;
use crate::runtime::Plan;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Plan::from_text("test.yaml", text, &no_env).map(|p| p.config)
}

#[test]
fn minimal_stdin_stdout_config_parses_with_defaults() {
    let c = parse("input:\n  stdin: {}\noutput:\n  stdout: {}\n").expect("valid");
    assert_eq!(c.shutdown_timeout.get(), std::time::Duration::from_secs(20));
    assert_eq!(c.logger.format, "logfmt");
    assert!(c.http.enabled);
}

#[test]
fn misspelled_field_points_at_its_line_with_a_hint() {
    let text =
        "input:\n  kafka:\n    adresses: [localhost:9092]\n    topics: [t]\noutput:\n  drop: {}\n";
    let errs = parse(text).expect_err("typo").0;
    let e = &errs[0];
    assert_eq!((e.line, e.column), (3, 5), "{e}");
    assert!(e.message.contains("unknown field `adresses`"), "{e}");
    assert!(e.message.contains("did you mean `addresses`?"), "{e}");
}

#[test]
fn misspelled_component_gets_a_hint() {
    let errs = parse("input:\n  stdin: {}\noutput:\n  flexprise: {}\n")
        .expect_err("typo")
        .0;
    assert!(
        errs[0].message.contains("did you mean `flexprice`?"),
        "{}",
        errs[0]
    );
    assert_eq!(errs[0].line, 4);
}

#[test]
fn bad_duration_and_negative_count_are_clear() {
    let text = "input:\n  stdin: {}\noutput:\n  flexprice:\n    api_key: k\n    timeout: 5x\n";
    let e = &parse(text).expect_err("bad duration").0[0];
    assert!(e.message.contains("invalid duration `5x`"), "{e}");
    assert_eq!(e.line, 6, "{e}");
    let text =
        "input:\n  stdin: {}\noutput:\n  flexprice:\n    api_key: k\n    max_in_flight: -3\n";
    let e = &parse(text).expect_err("negative").0[0];
    assert!(e.message.contains("-3"), "{e}");
    assert_eq!(e.line, 6, "{e}");
}

#[test]
fn semantic_errors_are_all_reported_with_locations() {
    let text = "input:\n  stdin: {}\noutput:\n  flexprice:\n    api_host: https://api.example.com\n    api_key: \"\"\n    max_in_flight: 0\n";
    let errs = parse(text).expect_err("invalid").0;
    let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 3, "{msgs:#?}");
    assert!(
        msgs[0].starts_with("test.yaml:5:5: output.flexprice.api_host:"),
        "{msgs:#?}"
    );
    assert!(msgs[0].contains("has a scheme"), "{msgs:#?}");
    assert!(msgs[1].contains("api_key"), "{msgs:#?}");
    assert!(msgs[2].starts_with("test.yaml:7:5:"), "{msgs:#?}");
}

#[test]
fn env_vars_fill_values_and_secrets_never_echo() {
    let env = |k: &str| (k == "FLEXPRICE_API_KEY").then(|| "sk_live_very_secret".to_string());
    let text = "input:\n  stdin: {}\noutput:\n  flexprice:\n    api_host: ${FLEXPRICE_API_HOST:localhost:8080}\n    api_key: ${FLEXPRICE_API_KEY}\n    scheme: http\n";
    let c = Plan::from_text("t.yaml", text, &env).expect("valid").config;
    let OutputKind::Flexprice(f) = &c.output.component else {
        panic!("flexprice")
    };
    assert_eq!(f.api_host, "localhost:8080");
    assert_eq!(f.api_key.expose(), "sk_live_very_secret");
    let echoed = c.to_redacted_yaml();
    assert!(!echoed.contains("sk_live_very_secret"), "{echoed}");
    assert!(echoed.contains(REDACTED), "{echoed}");
    assert!(!format!("{c:?}").contains("sk_live_very_secret"));
}

/// `lint` of a file with mistakes in three sections reports all three, each at its place,
/// and a Bloblang error inside a `mapping: |` block at its line and column in the file.
#[test]
fn every_problem_of_a_file_is_reported_at_its_place() {
    let text = "\
input:
  kafka:
    adresses: [localhost:9092]
    topics: [t]
pipeline:
  threads: 0
  processors:
    - mapping: |
        root = this
        root.x = this.y.!
    - mutation: 'root.a = 1'
    - bogus: {}
output:
  flexprice:
    api_key: k
    max_in_flight: 0
";
    let errs = parse(text).expect_err("invalid").0;
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let at = |needle: &str| {
        errs.iter()
            .find(|e| e.message.contains(needle))
            .map(|e| (e.line, e.column))
            .unwrap_or_else(|| panic!("no error about {needle}: {shown:#?}"))
    };
    assert_eq!(at("unknown field `adresses`"), (3, 5), "{shown:#?}");
    assert_eq!(at("pipeline.threads"), (6, 3), "{shown:#?}");
    // `root.x = this.y.!` — the error is at the `!` after the last `.` of line 2 of the mapping.
    let (line, col) = at("bad mapping");
    assert_eq!(line, 10, "{shown:#?}");
    assert!((23..=25).contains(&col), "column {col}: {shown:#?}");
    assert_eq!(at("unknown field `bogus`"), (12, 7), "{shown:#?}");
    assert_eq!(at("max_in_flight"), (16, 5), "{shown:#?}");
    assert_eq!(errs.len(), 5, "{shown:#?}");
    assert!(
        shown.iter().all(|s| s.starts_with("test.yaml:")),
        "{shown:#?}"
    );
}

#[test]
fn resources_resolve_by_label_and_a_missing_one_is_named() {
    let ok = "\
input:
  stdin: {}
pipeline:
  processors:
    - resource: stamp
output:
  fallback:
    - stdout: {}
    - resource: dlq
output_resources:
  - label: dlq
    drop: {}
processor_resources:
  - label: stamp
    mutation: 'root.stamped = true'
";
    parse(ok).expect("resources resolve");
    let bad = ok.replace("- resource: dlq", "- resource: dql");
    let errs = parse(&bad).expect_err("unknown resource").0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].message.contains("no output resource `dql`"),
        "{}",
        errs[0]
    );
    assert!(
        errs[0].message.contains("dlq"),
        "names what there is: {}",
        errs[0]
    );
    assert_eq!(errs[0].line, 9, "{}", errs[0]);
    let looped = ok.replace("mutation: 'root.stamped = true'", "resource: stamp");
    let errs = parse(&looped).expect_err("a loop").0;
    assert!(
        errs.iter().any(|e| e.message.contains("refers to itself")),
        "{errs:?}"
    );
}

/// Rate limits and caches are shared by label: a `rate_limit` processor and `cache`
/// processors resolve them, and a wrong label is named with what there is.
#[test]
fn rate_limits_and_caches_resolve_by_label() {
    let ok = "\
input:
  stdin: {}
pipeline:
  processors:
    - rate_limit: {resource: slow}
    - cache: {resource: seen, operator: add, key: '${! json(\"id\") }'}
output:
  stdout: {}
rate_limit_resources:
  - label: slow
    local: {count: 10, interval: 1s}
cache_resources:
  - label: seen
    memory: {default_ttl: 60s}
";
    parse(ok).expect("resolves");
    let bad = ok
        .replace("{resource: slow}", "{resource: fast}")
        .replace("{resource: seen,", "{resource: sen,");
    let errs = parse(&bad).expect_err("unknown labels").0;
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 2, "{shown:#?}");
    assert!(
        shown[0].contains("no rate limit resource `fast`") && shown[0].contains("slow"),
        "{shown:#?}"
    );
    assert!(
        shown[1].contains("no cache resource `sen`") && shown[1].contains("seen"),
        "{shown:#?}"
    );
    assert_eq!((errs[0].line, errs[1].line), (5, 6), "{shown:#?}");
}
