//! Kafka client settings every client of the collector shares, the input's consumer and
//! every producer (the `kafka` output, the dead-letter topic): brokers, TLS, SASL (with
//! OAUTHBEARER tokens), and raw `librdkafka_options`, turned into librdkafka properties in one
//! place, checked in one place, with Bento's field names.

use std::collections::BTreeMap;
use std::error::Error;

use rdkafka::client::OAuthToken;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::config::{Problems, Secret};

/// The settings of one client, borrowed from its component's config.
pub struct Client<'a> {
    /// Broker addresses; an item may hold several, comma-separated.
    pub addresses: &'a [String],
    pub client_id: &'a str,
    pub tls: &'a Tls,
    pub sasl: &'a Sasl,
    /// Applied last, over everything the collector sets.
    pub librdkafka_options: &'a BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub skip_cert_verify: bool,
    #[serde(default)]
    pub root_cas_file: String,
    #[serde(default)]
    pub client_certs: Vec<ClientCert>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCert {
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
    /// Inline PEM certificate (instead of `cert_file`).
    #[serde(default)]
    pub cert: String,
    /// Inline PEM private key (instead of `key_file`).
    #[serde(default)]
    pub key: Secret,
    #[serde(default)]
    pub password: Secret,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    /// `none` (default), `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`.
    #[serde(default)]
    pub mechanism: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: Secret,
    /// Static token for `OAUTHBEARER`.
    #[serde(default)]
    pub access_token: Secret,
}

/// `bootstrap.servers` from Bento's `addresses` (items may be comma-separated lists).
pub fn bootstrap(addresses: &[String]) -> String {
    addresses
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

impl Client<'_> {
    /// The librdkafka properties these settings mean: brokers, client id, security protocol,
    /// TLS files, SASL credentials. The caller adds its role's own (group, acks, …) and then
    /// [`Client::apply_options`].
    ///
    /// Secrets (SASL password, key password, inline key) are in the returned map because
    /// librdkafka needs them; `ClientConfig`'s `Debug` omits librdkafka's sensitive keys, and
    /// this map is never logged.
    pub fn properties(&self, who: &str) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", bootstrap(self.addresses));
        cfg.set("client.id", self.client_id);
        let mechanism = self.sasl.mechanism();
        let protocol = match (self.tls.enabled, mechanism.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        cfg.set("security.protocol", protocol);
        let tls = self.tls;
        if tls.enabled {
            if !tls.root_cas_file.is_empty() {
                cfg.set("ssl.ca.location", &tls.root_cas_file);
            }
            if tls.skip_cert_verify {
                tracing::warn!(
                    "{who}.tls.skip_cert_verify is on: the brokers' certificates are not checked"
                );
                cfg.set("enable.ssl.certificate.verification", "false");
                cfg.set("ssl.endpoint.identification.algorithm", "none");
            }
            if let Some(cert) = tls.client_certs.first() {
                if !cert.cert_file.is_empty() {
                    cfg.set("ssl.certificate.location", &cert.cert_file);
                }
                if !cert.cert.is_empty() {
                    cfg.set("ssl.certificate.pem", &cert.cert);
                }
                if !cert.key_file.is_empty() {
                    cfg.set("ssl.key.location", &cert.key_file);
                }
                if !cert.key.is_empty() {
                    cfg.set("ssl.key.pem", cert.key.expose());
                }
                if !cert.password.is_empty() {
                    cfg.set("ssl.key.password", cert.password.expose());
                }
            }
        }
        if let Some(m) = mechanism {
            cfg.set("sasl.mechanism", m);
            if m == "OAUTHBEARER" {
                // The token itself is handed over by the client context's refresh callback
                // ([`Sasl::oauth_token`]).
            } else {
                if m == "PLAIN" && !tls.enabled {
                    // Bento allows it too, but say so: PLAIN sends the password as it is.
                    tracing::warn!("{who}.sasl PLAIN without tls: the password crosses the network in clear text; set `tls: {{enabled: true}}`");
                }
                cfg.set("sasl.username", &self.sasl.user);
                cfg.set("sasl.password", self.sasl.password.expose());
            }
        }
        cfg
    }

    /// `librdkafka_options`, over everything else (the escape hatch).
    pub fn apply_options(&self, cfg: &mut ClientConfig) {
        for (k, v) in self.librdkafka_options {
            cfg.set(k, v);
        }
    }

    /// Every problem with these settings, at `path` (the component's).
    pub fn check(&self, path: &str, p: &mut Problems) {
        if self.addresses.iter().all(|a| a.trim().is_empty()) {
            p.add(
                format!("{path}.addresses"),
                "at least one broker address is required",
            );
        }
        if self.tls.client_certs.len() > 1 {
            p.add(
                format!("{path}.tls.client_certs"),
                "librdkafka takes one client certificate; give at most one",
            );
        }
        for (i, c) in self.tls.client_certs.iter().enumerate() {
            if !c.cert_file.is_empty() && !c.cert.is_empty() {
                p.add(
                    format!("{path}.tls.client_certs.{i}"),
                    "give either `cert_file` or `cert`, not both",
                );
            }
            if !c.key_file.is_empty() && !c.key.is_empty() {
                p.add(
                    format!("{path}.tls.client_certs.{i}"),
                    "give either `key_file` or `key`, not both",
                );
            }
        }
        let m = self.sasl.mechanism.as_str();
        if !matches!(
            m,
            "" | "none" | "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "OAUTHBEARER"
        ) {
            p.add(
                format!("{path}.sasl.mechanism"),
                format!("unsupported mechanism `{m}`; use one of none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"),
            );
        }
        if m == "OAUTHBEARER" && self.sasl.access_token.is_empty() {
            p.add(
                format!("{path}.sasl.access_token"),
                "OAUTHBEARER needs a static `access_token`",
            );
        }
        if matches!(m, "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") && self.sasl.user.is_empty() {
            p.add(format!("{path}.sasl.user"), format!("{m} needs a `user`"));
        }
    }
}

impl Sasl {
    /// The mechanism, unless none is configured.
    pub fn mechanism(&self) -> Option<&str> {
        match self.mechanism.as_str() {
            "" | "none" => None,
            m => Some(m),
        }
    }

    /// The OAUTHBEARER token librdkafka asks a client context for: the static `access_token`,
    /// for `user` (or, without one, the client id).
    pub fn oauth_token(&self, client_id: &str) -> Result<OAuthToken, Box<dyn Error>> {
        if self.access_token.is_empty() {
            return Err("sasl.mechanism is OAUTHBEARER but no access_token is configured".into());
        }
        let principal = if self.user.is_empty() {
            client_id
        } else {
            &self.user
        };
        // A static token has no known expiry: librdkafka asks again at 80% of this lifetime
        // and gets the same token.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Ok(OAuthToken {
            token: self.access_token.expose().to_string(),
            principal_name: principal.to_string(),
            lifetime_ms: now_ms + 3_600_000,
        })
    }
}

/// librdkafka's log lines, at their level, under the `librdkafka` target.
pub fn log(level: RDKafkaLogLevel, fac: &str, msg: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, "{msg}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{msg}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", fac, "{msg}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{msg}"),
    }
}
