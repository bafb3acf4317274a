//! Secrets (passwords, webhook URLs, tokens): written inline or read from the
//! environment, a file, or a systemd credential. Resolved once at load; the
//! value is kept in a `SecretString` and never formatted.

use std::ops::Range;

use secrecy::SecretString;

use super::diag::ConfigError;
use super::raw::RawSecret;

pub fn resolve(
    raw: &RawSecret,
    span: Range<usize>,
    path: &str,
) -> Result<SecretString, ConfigError> {
    let value = match raw {
        RawSecret::Literal(value) => value.clone(),
        RawSecret::From(from) => {
            let given = [&from.env, &from.file, &from.credential]
                .iter()
                .filter(|v| v.is_some())
                .count();
            if given != 1 {
                return Err(ConfigError::new(
                    Some(span),
                    path,
                    "a secret takes exactly one of env, file or credential",
                ));
            }
            if let Some(name) = &from.env {
                std::env::var(name).map_err(|_| {
                    ConfigError::new(
                        Some(span.clone()),
                        path,
                        format!("environment variable {name} is not set"),
                    )
                })?
            } else if let Some(file) = &from.file {
                read_trimmed(file).map_err(|e| {
                    ConfigError::new(
                        Some(span.clone()),
                        path,
                        format!("cannot read secret file {file}: {e}"),
                    )
                })?
            } else {
                let name = from.credential.as_deref().unwrap_or_default();
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                    ConfigError::new(
                        Some(span.clone()),
                        path,
                        format!("credential {name} needs $CREDENTIALS_DIRECTORY, which is not set"),
                    )
                    .hint("systemd sets it for units with LoadCredential=; outside systemd use { env } or { file }")
                })?;
                if name.is_empty() || name.contains('/') {
                    return Err(ConfigError::new(
                        Some(span),
                        path,
                        "invalid credential name",
                    ));
                }
                let file = std::path::Path::new(&dir).join(name);
                read_trimmed(&file.to_string_lossy()).map_err(|e| {
                    ConfigError::new(
                        Some(span.clone()),
                        path,
                        format!("cannot read credential {name}: {e}"),
                    )
                })?
            }
        }
    };
    if value.is_empty() {
        return Err(ConfigError::new(Some(span), path, "the secret is empty"));
    }
    Ok(SecretString::from(value))
}

/// The most a secret file may hold: `{ file = "/dev/zero" }` must end in
/// an error, not read forever.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Secret files usually end with a newline that is not part of the secret.
fn read_trimmed(path: &str) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(std::io::Error::other("larger than 64 KiB: not a secret"));
    }
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}
