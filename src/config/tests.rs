use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_str_named("test.yaml", text, &no_env)
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
    let c = Config::from_str_named("t.yaml", text, &env).expect("valid");
    let OutputConfig::Flexprice(f) = &c.output else {
        panic!("flexprice")
    };
    assert_eq!(f.api_host, "localhost:8080");
    assert_eq!(f.api_key.expose(), "sk_live_very_secret");
    let echoed = c.to_redacted_yaml();
    assert!(!echoed.contains("sk_live_very_secret"), "{echoed}");
    assert!(echoed.contains(secret::REDACTED), "{echoed}");
    assert!(!format!("{c:?}").contains("sk_live_very_secret"));
}
