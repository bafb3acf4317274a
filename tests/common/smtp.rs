//! `SmtpServer`: a small, real SMTP server (a subset of RFC 5321) that
//! records the messages it accepts.
//!
//! It speaks EHLO/HELO, MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP,
//! QUIT and AUTH PLAIN/LOGIN (any credentials; the username is recorded),
//! answers `502` to anything else, and takes several messages per connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::{MessageParser, PartType};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{ServerTask, bind, lock, stopped};

/// A message the server accepted (`250` after DATA).
#[derive(Debug, Clone)]
pub struct SmtpMessage {
    /// Reverse path from `MAIL FROM:<…>` (empty for the null sender `<>`).
    pub from: String,
    /// Forward paths from each accepted `RCPT TO:<…>`.
    pub to: Vec<String>,
    /// The raw RFC 5322 message, dot-unstuffed, ending with CRLF.
    pub data: Vec<u8>,
    /// Username given with AUTH on this connection, if any.
    pub auth_user: Option<String>,
    /// Argument of the last EHLO/HELO on this connection.
    pub helo: Option<String>,
    /// Number of the connection that carried it (1 for the first accepted).
    pub connection: usize,
}

impl SmtpMessage {
    /// The message parsed by mail-parser.
    pub fn parse(&self) -> mail_parser::Message<'_> {
        parse(self)
    }

    /// Subject, headers and body parts, for short assertions.
    pub fn parsed(&self) -> ParsedMail {
        ParsedMail::from(&parse(self))
    }
}

/// Parses a recorded message; panics if mail-parser cannot.
pub fn parse(msg: &SmtpMessage) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(&msg.data)
        .expect("the recorded message is not parseable RFC 5322")
}

/// What tests usually assert on in an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// Decoded `Subject` (RFC 2047 words decoded).
    pub subject: Option<String>,
    /// Top-level header fields in order: (name as sent, raw value with
    /// leading and trailing whitespace trimmed; folding kept).
    pub headers: Vec<(String, String)>,
    /// The first `text/plain` part, decoded.
    pub text: Option<String>,
    /// The first `text/html` part, decoded.
    pub html: Option<String>,
}

impl ParsedMail {
    /// Raw value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Raw values of every header called `name` (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl From<&mail_parser::Message<'_>> for ParsedMail {
    fn from(message: &mail_parser::Message<'_>) -> Self {
        let raw = message.raw_message();
        let headers = message
            .headers()
            .iter()
            .map(|h| {
                let (start, end) = (h.offset_start as usize, h.offset_end as usize);
                let value = raw.get(start..end).unwrap_or_default();
                let value = String::from_utf8_lossy(value).trim().to_owned();
                (h.name.as_str().to_owned(), value)
            })
            .collect();
        let mut text = None;
        let mut html = None;
        for part in &message.parts {
            match &part.body {
                PartType::Text(t) if text.is_none() && is_plain(part) => {
                    text = Some(t.to_string());
                }
                PartType::Html(h) if html.is_none() => html = Some(h.to_string()),
                _ => {}
            }
        }
        ParsedMail {
            subject: message.subject().map(str::to_owned),
            headers,
            text,
            html,
        }
    }
}

fn is_plain(part: &mail_parser::MessagePart<'_>) -> bool {
    use mail_parser::MimeHeaders;
    part.content_type().is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text")
            && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
    })
}

pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: ServerTask,
}

/// A failure the server plays once, at the stage it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer the next connection with this reply (e.g. `421 4.3.2 busy`)
    /// instead of the greeting, and close it.
    Greeting(String),
    /// Answer the next RCPT with this reply (e.g. `451 4.3.0 try later`).
    Rcpt(String),
    /// Read the next message, then close the connection without answering
    /// the final dot; the message is not accepted.
    DropAfterData,
    /// Read the next message, then never answer (until the client leaves).
    StallAfterData,
}

struct Shared {
    messages: Mutex<Vec<SmtpMessage>>,
    /// Every message sent to the server, accepted or not.
    attempts: Mutex<Vec<Vec<u8>>>,
    faults: Mutex<VecDeque<Fault>>,
    count: watch::Sender<usize>,
    fail_next_data: Mutex<VecDeque<String>>,
    connections: AtomicUsize,
    commands: Mutex<Vec<String>>,
}

impl SmtpServer {
    /// Starts a server on `127.0.0.1` and a free port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts a server on `127.0.0.1:port`, e.g. to bring a "down" relay
    /// back on the same port.
    pub async fn start_on(port: u16) -> Self {
        let listener = bind(port).await;
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            messages: Mutex::new(Vec::new()),
            attempts: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            count: watch::channel(0).0,
            fail_next_data: Mutex::new(VecDeque::new()),
            connections: AtomicUsize::new(0),
            commands: Mutex::new(Vec::new()),
        });
        let (stop, rx) = watch::channel(false);
        let accept = {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                    let shared = shared.clone();
                    let stop = stopped(rx.clone());
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = session(stream, &shared, id) => {}
                            () = stop => {}
                        }
                    });
                }
            })
        };
        Self {
            addr,
            shared,
            task: ServerTask::new(accept, stop),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Messages accepted so far, in order.
    pub fn messages(&self) -> Vec<SmtpMessage> {
        lock(&self.shared.messages).clone()
    }

    /// Waits until `n` messages have been accepted; false on timeout.
    /// Uses tokio time: do not call it with the clock paused.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.count.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|&count| count >= n)).await,
            Ok(Ok(_))
        )
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every command line received, in order, uppercased verb kept as sent
    /// (AUTH credentials are not recorded; message data is not included).
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// The next DATA is answered with this reply (e.g. `"451 4.3.0 try again
    /// later"` or `"554 5.7.1 rejected"`) instead of `250`, and its message
    /// is not recorded. Calls queue up: one per DATA.
    pub fn fail_next_data(&self, code_and_text: &str) {
        let reply = code_and_text.trim_end().to_owned();
        assert!(
            reply.len() >= 3 && reply.as_bytes()[..3].iter().all(u8::is_ascii_digit),
            "an SMTP reply starts with a 3-digit code: {reply:?}"
        );
        lock(&self.shared.fail_next_data).push_back(reply);
    }

    /// Queues a fault; faults are played in order, each at its stage.
    pub fn fault(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// Every message data sent to the server, accepted or refused.
    pub fn attempts(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.attempts).clone()
    }

    /// Stops the server and waits until its port and connections are closed.
    pub async fn stop(self) {
        self.task.stop().await;
    }
}

const EHLO_KEYWORDS: &[&str] = &[
    "PIPELINING",
    "8BITMIME",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "AUTH PLAIN LOGIN",
];

struct Transaction {
    from: String,
    to: Vec<String>,
}

/// One SMTP session. Any I/O error or a vanished client just ends it.
async fn session(stream: TcpStream, shared: &Shared, connection: usize) -> std::io::Result<()> {
    let (reader, mut w) = stream.into_split();
    let mut r = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut helo: Option<String> = None;
    let mut auth_user: Option<String> = None;
    let mut tx: Option<Transaction> = None;

    if let Some(Fault::Greeting(refusal)) = take_fault(shared, |f| matches!(f, Fault::Greeting(_)))
    {
        reply(&mut w, &refusal).await?;
        return Ok(());
    }
    reply(&mut w, "220 127.0.0.1 ESMTP vigie-test ready").await?;
    loop {
        let Some(line) = read_line(&mut r, &mut buf).await? else {
            return Ok(());
        };
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        let recorded = if verb == "AUTH" {
            format!("AUTH {}", arg.split_whitespace().next().unwrap_or(""))
        } else {
            line.clone()
        };
        lock(&shared.commands).push(recorded);

        match verb.as_str() {
            "EHLO" | "HELO" if arg.is_empty() => reply(&mut w, "501 5.5.4 domain required").await?,
            "EHLO" => {
                helo = Some(arg.to_owned());
                tx = None;
                let mut text = format!("250-127.0.0.1 greets {arg}\r\n");
                for (i, keyword) in EHLO_KEYWORDS.iter().enumerate() {
                    let sep = if i + 1 == EHLO_KEYWORDS.len() {
                        ' '
                    } else {
                        '-'
                    };
                    text.push_str(&format!("250{sep}{keyword}\r\n"));
                }
                w.write_all(text.as_bytes()).await?;
            }
            "HELO" => {
                helo = Some(arg.to_owned());
                tx = None;
                reply(&mut w, "250 127.0.0.1").await?;
            }
            "MAIL" => match (&tx, path_arg(arg, "FROM:")) {
                (Some(_), _) => reply(&mut w, "503 5.5.1 MAIL already given").await?,
                (None, Some(from)) => {
                    tx = Some(Transaction {
                        from,
                        to: Vec::new(),
                    });
                    reply(&mut w, "250 2.1.0 OK").await?;
                }
                (None, None) => reply(&mut w, "501 5.5.4 syntax: MAIL FROM:<address>").await?,
            },
            "RCPT" => match (&mut tx, path_arg(arg, "TO:")) {
                (None, _) => reply(&mut w, "503 5.5.1 need MAIL first").await?,
                (Some(t), Some(to)) if !to.is_empty() => {
                    if let Some(Fault::Rcpt(refusal)) =
                        take_fault(shared, |f| matches!(f, Fault::Rcpt(_)))
                    {
                        reply(&mut w, &refusal).await?;
                        continue;
                    }
                    t.to.push(to);
                    reply(&mut w, "250 2.1.5 OK").await?;
                }
                (Some(_), _) => reply(&mut w, "501 5.5.4 syntax: RCPT TO:<address>").await?,
            },
            "DATA" => {
                let Some(t) = tx.take_if(|t| !t.to.is_empty()) else {
                    reply(&mut w, "503 5.5.1 need RCPT first").await?;
                    continue;
                };
                reply(&mut w, "354 end data with <CR><LF>.<CR><LF>").await?;
                let Some(data) = read_data(&mut r, &mut buf).await? else {
                    return Ok(()); // client left in the middle of DATA
                };
                lock(&shared.attempts).push(data.clone());
                match take_fault(shared, |f| {
                    matches!(f, Fault::DropAfterData | Fault::StallAfterData)
                }) {
                    Some(Fault::DropAfterData) => return Ok(()),
                    Some(_) => {
                        // Until the client gives up and closes.
                        let mut sink = Vec::new();
                        let _ = r.read_until(b'\n', &mut sink).await;
                        return Ok(());
                    }
                    None => {}
                }
                let failure = lock(&shared.fail_next_data).pop_front();
                if let Some(failure) = failure {
                    reply(&mut w, &failure).await?;
                    continue;
                }
                let message = SmtpMessage {
                    from: t.from,
                    to: t.to,
                    data,
                    auth_user: auth_user.clone(),
                    helo: helo.clone(),
                    connection,
                };
                let queued = {
                    let mut messages = lock(&shared.messages);
                    messages.push(message);
                    messages.len()
                };
                shared.count.send_replace(queued);
                reply(&mut w, &format!("250 2.0.0 OK queued as {queued}")).await?;
            }
            "RSET" => {
                tx = None;
                reply(&mut w, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut w, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(&mut w, "221 2.0.0 bye").await?;
                return Ok(());
            }
            "AUTH" if auth_user.is_some() => {
                reply(&mut w, "503 5.5.1 already authenticated").await?
            }
            "AUTH" => {
                let mut words = arg.split_whitespace();
                let mechanism = words.next().unwrap_or("");
                let initial = words.next();
                match authenticate(mechanism, initial, &mut w, &mut r, &mut buf).await? {
                    Auth::User(user) => {
                        auth_user = Some(user);
                        reply(&mut w, "235 2.7.0 authentication successful").await?;
                    }
                    Auth::Cancelled => reply(&mut w, "501 5.7.0 authentication cancelled").await?,
                    Auth::Undecodable => reply(&mut w, "501 5.5.2 cannot decode response").await?,
                    Auth::Unsupported => {
                        reply(&mut w, "504 5.5.4 unrecognized authentication type").await?;
                    }
                }
            }
            _ => reply(&mut w, "502 5.5.2 command not recognized").await?,
        }
    }
}

/// Pops the first queued fault if `stage` accepts it.
fn take_fault(shared: &Shared, stage: impl Fn(&Fault) -> bool) -> Option<Fault> {
    let mut faults = lock(&shared.faults);
    if faults.front().is_some_and(stage) {
        faults.pop_front()
    } else {
        None
    }
}

enum Auth {
    User(String),
    Cancelled,
    Undecodable,
    Unsupported,
}

/// Runs an AUTH exchange; any credentials are accepted.
async fn authenticate(
    mechanism: &str,
    initial: Option<&str>,
    w: &mut (impl AsyncWrite + Unpin),
    r: &mut (impl AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<Auth> {
    let initial = initial.map(str::to_owned);
    let user = if mechanism.eq_ignore_ascii_case("PLAIN") {
        let response = match initial {
            Some(initial) => initial,
            None => match challenge(w, r, buf, "334 ").await? {
                Some(response) => response,
                None => return Ok(Auth::Cancelled),
            },
        };
        // authzid NUL authcid NUL password
        decode_base64(&response).and_then(|plain| {
            let mut fields = plain.split(|&b| b == 0);
            let (_, user, _) = (fields.next()?, fields.next()?, fields.next()?);
            Some(user.to_vec())
        })
    } else if mechanism.eq_ignore_ascii_case("LOGIN") {
        let user = match initial {
            Some(initial) => initial,
            // "Username:"
            None => match challenge(w, r, buf, "334 VXNlcm5hbWU6").await? {
                Some(user) => user,
                None => return Ok(Auth::Cancelled),
            },
        };
        // "Password:"
        if challenge(w, r, buf, "334 UGFzc3dvcmQ6").await?.is_none() {
            return Ok(Auth::Cancelled);
        }
        decode_base64(&user)
    } else {
        return Ok(Auth::Unsupported);
    };
    Ok(match user {
        Some(user) => Auth::User(String::from_utf8_lossy(&user).into_owned()),
        None => Auth::Undecodable,
    })
}

async fn reply(w: &mut (impl AsyncWrite + Unpin), text: &str) -> std::io::Result<()> {
    w.write_all(format!("{text}\r\n").as_bytes()).await
}

/// Reads one line without its line ending; `None` at end of stream.
async fn read_line(
    r: &mut (impl AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<String>> {
    buf.clear();
    if r.read_until(b'\n', buf).await? == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(buf);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// Sends an AUTH challenge and reads the answer: `None` when the client
/// cancels with `*` (or leaves).
async fn challenge(
    w: &mut (impl AsyncWrite + Unpin),
    r: &mut (impl AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
    prompt: &str,
) -> std::io::Result<Option<String>> {
    reply(w, prompt).await?;
    let answer = read_line(r, buf).await?;
    Ok(answer.filter(|a| a.trim() != "*"))
}

/// Reads message data up to the line `.`, undoing dot-stuffing. `None` if
/// the client leaves first.
async fn read_data(
    r: &mut (impl AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', buf).await? == 0 || !buf.ends_with(b"\n") {
            return Ok(None);
        }
        if buf == b".\r\n" || buf == b".\n" {
            return Ok(Some(data));
        }
        let line = buf.strip_prefix(b".").unwrap_or(buf);
        data.extend_from_slice(line);
    }
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>` (prefix case-insensitive).
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_owned())
    } else {
        let address = rest.split_whitespace().next()?;
        Some(address.to_owned())
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
