//! Email through SMTP (lettre) or the local `sendmail`: multipart text +
//! HTML, everything from the feed escaped in HTML and stripped of control
//! characters in headers, the delivery id as `Message-ID`,
//! `Auto-Submitted: auto-generated`. The SMTP transport keeps a pool, so a
//! batch of deliveries reuses one connection.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::SendError;
use super::template::Templates;
use crate::config::{Daemon, Email, EmailTransport, Security};
use crate::model::Payload;

/// Subjects longer than this are cut: mail clients show less anyway, and a
/// feed must not be able to send a kilobyte-long header.
const MAX_SUBJECT_CHARS: usize = 200;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Sendmail(AsyncSendmailTransport<Tokio1Executor>),
}

pub struct EmailChannel {
    transport: Transport,
    from: Mailbox,
    to: Vec<Mailbox>,
    templates: Templates,
    /// The whole transaction, connect to final reply.
    deadline: std::time::Duration,
}

impl EmailChannel {
    pub fn new(
        config: &Email,
        daemon: &Daemon,
        templates: Templates,
    ) -> Result<EmailChannel, String> {
        let transport = match &config.transport {
            EmailTransport::Smtp(smtp) => {
                let builder = match smtp.security {
                    Security::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                    Security::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                            .map_err(|e| e.to_string())?
                    }
                    Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                        .map_err(|e| e.to_string())?,
                };
                // One connection, kept open between the messages of a batch:
                // a burst of alerts is one SMTP session, not fifty.
                let mut builder = builder
                    .port(smtp.port)
                    .timeout(Some(daemon.timeout))
                    .pool_config(PoolConfig::new().max_size(1));
                if let Some(user) = &smtp.username {
                    let password = smtp
                        .password
                        .as_ref()
                        .map(|p| p.expose_secret().to_string())
                        .unwrap_or_default();
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                Transport::Smtp(builder.build())
            }
            EmailTransport::Sendmail(command) => {
                Transport::Sendmail(AsyncSendmailTransport::<Tokio1Executor>::new_with_command(
                    command.as_os_str(),
                ))
            }
        };
        Ok(EmailChannel {
            transport,
            from: config.from.clone(),
            to: config.to.clone(),
            templates,
            deadline: daemon.timeout.saturating_mul(2),
        })
    }

    pub fn message(&self, id: &str, payload: &Payload) -> Result<Message, SendError> {
        let permanent =
            |e: super::template::TemplateError| SendError::permanent(format!("template: {e}"));
        let subject = header_text(&self.templates.subject(id, payload).map_err(permanent)?);
        let text = self.templates.body(id, payload).map_err(permanent)?;
        let html = self.templates.html(id, payload).map_err(permanent)?;
        let domain = self.from.email.domain().to_string();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!("<{id}@{domain}>")))
            .date_now()
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let built = match html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html)),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            ),
        };
        built.map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
    }

    /// Sends one message; returns what the server answered.
    pub async fn send(&self, id: &str, payload: &Payload) -> Result<String, SendError> {
        let message = self.message(id, payload)?;
        // lettre's timeout bounds each network step, not the whole
        // transaction: a server dripping its replies could hold a send past
        // the outbox claim, and another process would send it again.
        let sent = match &self.transport {
            Transport::Smtp(t) => {
                let sending = tokio::time::timeout(self.deadline, t.send(message));
                match sending.await {
                    Ok(Ok(response)) => Ok(format!(
                        "SMTP {} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    )),
                    Ok(Err(e)) => Err(classify(&e)),
                    Err(_) => Err(SendError::temporary(format!(
                        "SMTP: no complete answer within {:?}",
                        self.deadline
                    ))),
                }
            }
            Transport::Sendmail(t) => {
                match tokio::time::timeout(self.deadline, t.send(message)).await {
                    Ok(Ok(())) => Ok("sendmail accepted the message".to_string()),
                    // A local mailer that fails is a setup problem the admin
                    // can fix; the delivery waits for it.
                    Ok(Err(e)) => Err(SendError::temporary(format!("sendmail: {e}"))),
                    Err(_) => Err(SendError::temporary(format!(
                        "sendmail did not finish within {:?}",
                        self.deadline
                    ))),
                }
            }
        };
        sent.map(|answer| crate::normalize::truncate_chars(&answer, 300))
    }
}

/// SMTP 5xx is permanent; 4xx, timeouts, refused or dropped connections and
/// TLS trouble may pass.
pub fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let message = format!("SMTP: {e}");
    if e.is_permanent() {
        SendError::permanent(message)
    } else {
        SendError::temporary(message)
    }
}

/// Text bound for a header: one line, no control characters, bounded.
pub fn header_text(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = crate::normalize::one_line(&clean);
    crate::normalize::truncate_chars(&line, MAX_SUBJECT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_cannot_carry_a_header() {
        assert_eq!(
            header_text("Minusma\r\nBcc: victim@example.com"),
            "Minusma Bcc: victim@example.com"
        );
        assert_eq!(header_text("a\u{0}b\u{7}c"), "a b c");
    }
}
