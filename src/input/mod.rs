//! Inputs: where messages come from. Each runs on its own thread and pushes messages, in
//! chunks, into a bounded channel; a full channel blocks it (backpressure).
//!
//! The registry is [`InputConfig`]: a component is its file plus one line there.

pub mod file;
pub mod generate;
pub mod kafka;
pub mod lines;
pub mod stdin;

use crate::config::Problems;
use crate::pipeline::Input;

crate::one_of! {
    /// `input:` — exactly one of these.
    pub struct InputConfig of InputKind as InputSpec, via InputSection = "InputSection" ("input") {
        kafka => Kafka(kafka::KafkaConfig),
        generate => Generate(generate::GenerateConfig),
        stdin => Stdin(stdin::StdinConfig),
        file => File(file::FileConfig),
    }
}

/// What every input component's config does: check itself and become the input, ready to run
/// (no I/O: connecting and opening happen when it runs).
pub trait InputSpec {
    fn plan(&self, path: &str, problems: &mut Problems) -> Option<Box<dyn Input>>;
}

impl InputConfig {
    /// Plan the input at `path` (`input`).
    pub fn plan(&self, path: &str, problems: &mut Problems) -> Option<Box<dyn Input>> {
        self.component
            .spec()
            .plan(&format!("{path}.{}", self.component.name()), problems)
    }
}
