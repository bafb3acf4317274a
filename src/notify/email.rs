//! Email through SMTP (lettre): multipart text + HTML, everything from the
//! feed escaped in HTML and stripped of control characters in headers, the
//! delivery id as `Message-ID`, `Auto-Submitted: auto-generated`. The
//! transport keeps a pool, so a batch reuses one connection.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::SendError;
use super::template::Templates;
use crate::config::{Daemon, Email, Security};
use crate::model::Alert;

/// Subjects longer than this are cut: mail clients show less anyway, and a
/// feed must not be able to send a kilobyte-long header.
const MAX_SUBJECT_CHARS: usize = 200;

pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    templates: Templates,
    /// The whole SMTP transaction, connect to final reply.
    deadline: std::time::Duration,
}

impl EmailChannel {
    pub fn new(config: &Email, daemon: &Daemon) -> Result<EmailChannel, String> {
        let smtp = &config.smtp;
        let builder = match smtp.security {
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| e.to_string())?,
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| e.to_string())?,
        };
        let mut builder = builder.port(smtp.port).timeout(Some(daemon.timeout));
        if let Some(user) = &smtp.username {
            let password = smtp
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let templates = Templates::new(&config.subject).map_err(|e| e.to_string())?;
        Ok(EmailChannel {
            transport: builder.build(),
            from: config.from.clone(),
            to: config.to.clone(),
            templates,
            deadline: daemon.timeout.saturating_mul(2),
        })
    }

    pub fn message(&self, id: &str, alert: &Alert) -> Result<Message, SendError> {
        let render = |name: &str| {
            self.templates
                .render(name, id, alert)
                .map_err(|e| SendError::permanent(e.to_string()))
        };
        let subject = header_text(&render("subject.txt")?);
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
        builder
            .multipart(MultiPart::alternative_plain_html(
                render("body.txt")?,
                render("body.html")?,
            ))
            .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
    }

    pub async fn send(&self, id: &str, alert: &Alert) -> Result<(), SendError> {
        let message = self.message(id, alert)?;
        // lettre's timeout bounds each network step, not the whole
        // transaction: a server dripping its replies could hold a send past
        // the outbox claim, and another process would send it again.
        match tokio::time::timeout(self.deadline, self.transport.send(message)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| classify(&e)),
            Err(_) => Err(SendError::temporary(format!(
                "SMTP: no complete answer within {:?}",
                self.deadline
            ))),
        }
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
