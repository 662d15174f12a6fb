//! Inputs: where messages come from. Each runs on its own thread and pushes [`Message`]s, in
//! chunks, into a bounded channel; a full channel blocks it (backpressure).

pub mod file;
pub mod generate;
pub mod kafka;
pub mod lines;
pub mod stdin;

use crate::config::Problems;
use crate::pipeline::Input;

crate::one_of! {
    /// `input:` — exactly one of these.
    pub enum InputConfig via InputSection = "InputSection" ("input") {
        kafka => Kafka(kafka::KafkaConfig),
        generate => Generate(generate::GenerateConfig),
        stdin => Stdin(stdin::StdinConfig),
        file => File(file::FileConfig),
    }
}

impl InputConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        match self {
            InputConfig::Kafka(c) => c.validate(&format!("{path}.kafka"), p),
            InputConfig::Generate(c) => c.validate(&format!("{path}.generate"), p),
            InputConfig::Stdin(_) => {}
            InputConfig::File(c) => c.validate(&format!("{path}.file"), p),
        }
    }

    /// Build the input. Errors name the problem (unreachable file, bad mapping, …).
    /// `metadata`: a processor reads message metadata, so the source's (a Kafka message's key
    /// and headers, which cost a copy and a parse each) must come along.
    pub fn build(&self, metadata: bool) -> anyhow::Result<Box<dyn Input>> {
        Ok(match self {
            InputConfig::Kafka(c) => Box::new(kafka::KafkaInput::new(c.clone(), metadata)?),
            InputConfig::Generate(c) => Box::new(generate::GenerateInput::new(c)?),
            InputConfig::Stdin(c) => Box::new(stdin::StdinInput::new(c)),
            InputConfig::File(c) => Box::new(file::FileInput::new(c)),
        })
    }
}
