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
