//! Email through SMTP (lettre) or the local `sendmail`: multipart text +
//! HTML, everything from the feed escaped in HTML and stripped of control
//! characters in headers, the delivery id as `Message-ID`,
//! `Auto-Submitted: auto-generated`. The SMTP side keeps one connection open
//! between messages, so a batch of deliveries is one SMTP session.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSendmailTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::SendError;
use super::template::Templates;
use crate::config::{Daemon, Email, EmailTransport, Security, Smtp};
use crate::model::Payload;

/// Subjects longer than this are cut: mail clients show less anyway, and a
/// feed must not be able to send a kilobyte-long header.
const MAX_SUBJECT_CHARS: usize = 200;

enum Transport {
    Smtp(Box<SmtpSession>),
    Sendmail(AsyncSendmailTransport<Tokio1Executor>),
}

/// One SMTP connection, kept open between the messages of a batch and
/// opened again when the server has closed it: a burst of alerts is one
/// SMTP session, not fifty. (lettre's pool returns a connection from a
/// spawned task, so a message sent right after another often opened a new
/// one.)
struct SmtpSession {
    config: Smtp,
    timeout: std::time::Duration,
    hello: ClientId,
    credentials: Option<Credentials>,
    /// Taken out while a message is being sent: a send cut short by the
    /// deadline drops its connection instead of leaving it half-way.
    idle: tokio::sync::Mutex<Option<AsyncSmtpConnection>>,
}

impl SmtpSession {
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let host = &self.config.host;
        let tls = || TlsParameters::new(host.clone()).map_err(|e| classify(&e));
        let wrapper = match self.config.security {
            Security::Tls => Some(tls()?),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (host.as_str(), self.config.port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        )
        .await
        .map_err(|e| classify(&e))?;
        if self.config.security == Security::StartTls {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(SendError::temporary(
                    "SMTP: the server does not offer STARTTLS, which security = \"starttls\" requires",
                ));
            }
            conn.starttls(tls()?, &self.hello)
                .await
                .map_err(|e| classify(&e))?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(conn)
    }

    async fn send(&self, message: &Message) -> Result<Response, SendError> {
        let mut idle = self.idle.lock().await;
        let mut reused = None;
        if let Some(mut conn) = idle.take() {
            if !conn.has_broken() && conn.test_connected().await {
                reused = Some(conn);
            } else {
                conn.abort().await;
            }
        }
        let mut conn = match reused {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match conn.send(message.envelope(), &message.formatted()).await {
            Ok(response) => {
                *idle = Some(conn);
                Ok(response)
            }
            Err(e) => {
                conn.abort().await;
                Err(classify(&e))
            }
        }
    }
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
                let credentials = smtp.username.as_ref().map(|user| {
                    let password = smtp
                        .password
                        .as_ref()
                        .map(|p| p.expose_secret().to_string())
                        .unwrap_or_default();
                    Credentials::new(user.clone(), password)
                });
                Transport::Smtp(Box::new(SmtpSession {
                    config: smtp.clone(),
                    timeout: daemon.timeout,
                    hello: ClientId::default(),
                    credentials,
                    idle: tokio::sync::Mutex::new(None),
                }))
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
                let sending = tokio::time::timeout(self.deadline, t.send(&message));
                match sending.await {
                    Ok(Ok(response)) => Ok(format!(
                        "SMTP {} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    )),
                    Ok(Err(e)) => Err(e),
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
