//! vigie at scale: `vigie once` (the release binary, as a child process)
//! over N local feeds of 20 articles — RSS, Atom and JSON Feed, French and
//! English, spread over 100 host names — served by an in-process server
//! that honours `ETag`, alerts going to a local webhook receiver. For each
//! N it measures three cycles:
//!
//! - cold: every article new (`first_run = "alert"`), one in ten matches;
//! - unchanged: every feed answers `304`;
//! - 10 % changed: one feed in ten gained one article;
//!
//! and prints wall time, CPU seconds (user + sys, from `wait4`), peak RSS
//! and requests per second. Then rss2email (if `r2e` is installed:
//! `scripts/bench-scale.sh` installs Debian's package) polls the first
//! 1,000 feeds, cold, delivering every entry to a local SMTP sink, and the
//! ratio of throughputs is printed. A figure printer, not a timed test:
//!
//!     cargo bench --bench scale -- 1000 10000
//!
//! (Default: 1000; `--no-rss2email` skips the comparison.) Only the measured
//! program's process is timed, never the servers. `VIGIE_BENCH_LOG=info`
//! sets vigie's log level and `VIGIE_BENCH_KEEP=/tmp/prefix` keeps each
//! cycle's log.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{FeedServer, SmtpServer, WebhookReceiver};

const ARTICLES: usize = 20;
const HOSTS: usize = 100;

/// The text of article `i` of feed `n`: one in ten is about the Minusma.
fn article(n: usize, i: usize, french: bool) -> (String, String) {
    let minusma = (n + i).is_multiple_of(10);
    match (minusma, french) {
        (true, true) => (
            format!("Mali : étape {i} du retrait des Casques bleus de la Minusma"),
            "Un haut responsable de l’ONU est arrivé à Bamako ; le convoi a quitté la base de Tessalit \
             et le calendrier du retrait est confirmé."
                .into(),
        ),
        (true, false) => (
            format!("Mali: step {i} in the withdrawal of Minusma peacekeepers"),
            "A senior UN official arrived in Bamako as the convoy left the Tessalit base; the \
             withdrawal timetable is confirmed."
                .into(),
        ),
        (false, true) => (
            format!("Chronique {i} : la saison des pluies et les récoltes au Sahel"),
            "Les agriculteurs de la région de Ségou attendent les semences promises ; les prix du mil \
             restent élevés sur les marchés de Mopti."
                .into(),
        ),
        (false, false) => (
            format!("Column {i}: the rainy season and the harvest in the Sahel"),
            "Farmers in the Ségou region are waiting for the promised seed; millet prices remain high \
             in the markets of Mopti."
                .into(),
        ),
    }
}

/// Feed `n` with `count` articles, newest first, in one of three formats.
fn feed(n: usize, count: usize) -> (&'static str, String) {
    let french = n.is_multiple_of(2);
    let lang = if french { "fr" } else { "en" };
    let filler = if french {
        " Texte de remplissage pour donner au résumé la longueur d’une vraie dépêche.".repeat(3)
    } else {
        " Filler text to give the summary the length of a real wire story.".repeat(3)
    };
    let items = (0..count).rev().map(|i| {
        let (title, text) = article(n, i, french);
        let link = format!("https://news{n}.example.org/{lang}/story/{i}");
        let minute = i % 60;
        (title, format!("{text}{filler}"), link, minute, i)
    });
    match n % 3 {
        0 => {
            let mut body = String::new();
            for (title, text, link, minute, i) in items {
                body.push_str(&format!(
                    "<item><title>{title}</title><link>{link}</link>\
                     <guid isPermaLink=\"false\">news{n}-{i}</guid>\
                     <pubDate>Sat, 19 Aug 2023 10:{minute:02}:00 GMT</pubDate>\
                     <description>&lt;p&gt;{text}&lt;/p&gt;</description></item>"
                ));
            }
            (
                "application/rss+xml; charset=utf-8",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
                     <title>News {n}</title><link>https://news{n}.example.org/</link>\
                     <description>Wire</description><language>{lang}</language>{body}</channel></rss>"
                ),
            )
        }
        1 => {
            let mut body = String::new();
            for (title, text, link, minute, i) in items {
                body.push_str(&format!(
                    "<entry><title>{title}</title><link rel=\"alternate\" href=\"{link}\"/>\
                     <id>tag:news{n}.example.org,2023:{i}</id>\
                     <published>2023-08-19T10:{minute:02}:00Z</published>\
                     <updated>2023-08-19T10:{minute:02}:00Z</updated>\
                     <author><name>Desk {n}</name></author>\
                     <summary type=\"html\">&lt;p&gt;{text}&lt;/p&gt;</summary></entry>"
                ));
            }
            (
                "application/atom+xml; charset=utf-8",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                     <feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{lang}\">\
                     <title>News {n}</title><id>tag:news{n}.example.org,2023:feed</id>\
                     <updated>2023-08-19T11:00:00Z</updated>{body}</feed>"
                ),
            )
        }
        _ => {
            let items: Vec<serde_json::Value> = items
                .map(|(title, text, link, minute, i)| {
                    serde_json::json!({
                        "id": format!("news{n}-{i}"), "url": link, "title": title,
                        "content_html": format!("<p>{text}</p>"),
                        "date_published": format!("2023-08-19T10:{minute:02}:00Z"),
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "version": "https://jsonfeed.org/version/1.1",
                "title": format!("News {n}"), "language": lang,
                "home_page_url": format!("https://news{n}.example.org/"), "items": items,
            });
            ("application/feed+json", doc.to_string())
        }
    }
}

/// What one run of a child process cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// The peak resident set of process `pid` so far (`VmHWM`, KiB), if it
/// still runs.
fn vm_hwm(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `cmd` to its end and measures it alone: `wait4` gives the child's
/// own CPU time; its peak RSS is sampled from `/proc` (`VmHWM`), because
/// `ru_maxrss` would count this process's memory, shared by the child
/// between its spawn and its exec.
fn measure(cmd: &mut Command) -> (Cost, i32) {
    let start = Instant::now();
    // Reaped below by wait4, which std's Child cannot do.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn");
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            // Until the child is a zombie (no more Vm lines) or reaped.
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match vm_hwm(pid) {
                    Some(kib) => peak = peak.max(kib),
                    None if peak > 0 => break,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped (std's Child is never
    // waited on); status and usage are valid for writes.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(reaped as u32, pid, "wait4");
    let wall = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_rss_kib = sampler.join().expect("sampler");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (
        Cost {
            wall,
            cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
            max_rss_kib,
        },
        code,
    )
}

fn print_row(label: &str, feeds: usize, cost: Cost) {
    println!(
        "  {label:<22} wall {:>8.2} s   cpu {:>7.2} s   peak RSS {:>6.1} MiB   {:>8.0} req/s",
        cost.wall.as_secs_f64(),
        cost.cpu.as_secs_f64(),
        cost.max_rss_kib as f64 / 1024.0,
        feeds as f64 / cost.wall.as_secs_f64()
    );
}

/// Spawns `vigie once` on `config` in a blocking thread (the servers keep
/// running on the runtime) and measures it.
async fn vigie_once(config: &Path, label: &str, feeds: usize) -> Cost {
    let config = config.to_path_buf();
    let log = config.with_extension("log");
    let log_path = log.clone();
    let (cost, code) = tokio::task::spawn_blocking(move || {
        let stderr = std::fs::File::create(&log).expect("log file");
        let stdout = stderr.try_clone().expect("log file");
        measure(
            Command::new(env!("CARGO_BIN_EXE_vigie"))
                .args(["once", "--config"])
                .arg(&config)
                .env(
                    "RUST_LOG",
                    std::env::var("VIGIE_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdout(stdout)
                .stderr(stderr),
        )
    })
    .await
    .expect("measure");
    if let Ok(keep) = std::env::var("VIGIE_BENCH_KEEP") {
        let _ = std::fs::copy(&log_path, format!("{keep}.{}.log", label.replace(' ', "-")));
    }
    if code != 0 {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Deliveries") || l.contains("error") || l.contains("WARN"))
            .take(10)
            .collect();
        panic!(
            "vigie once failed ({label}), exit {code}:\n{}",
            tail.join("\n")
        );
    }
    print_row(label, feeds, cost);
    cost
}

async fn bench_vigie(n: usize, dir: &Path) -> Cost {
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let mut config = format!(
        "[daemon]\nstate = \"{}\"\nfirst_run = \"alert\"\ntimeout = \"60s\"\n\n\
         [notifiers.hook]\ntype = \"webhook\"\nurl = \"{}\"\n\n\
         [rules.minusma]\nkeywords = [\"Minusma\", \"Casques bleus\", \"peacekeepers\"]\nnotify = [\"hook\"]\n\n\
         [rules.sahel]\nkeywords = [\"Tombouctou\", \"Kidal\"]\nexclude = [\"football\"]\nnotify = [\"hook\"]\n\n",
        dir.join("vigie.db").display(),
        hook.url()
    );
    let generate = std::time::Instant::now();
    for i in 0..n {
        let path = format!("/feed/{i}");
        let (content_type, body) = feed(i, ARTICLES);
        feeds.set(&path, content_type, body);
        // *.localhost names are loopback (RFC 6761): many hosts, one server.
        config.push_str(&format!(
            "[sources.feed-{i}]\nurl = \"http://h{}.localhost:{}{path}\"\n\n",
            i % HOSTS,
            feeds.port()
        ));
    }
    let path = dir.join("vigie.toml");
    std::fs::write(&path, config).unwrap();
    println!(
        "\nvigie once, {n} feeds × {ARTICLES} articles over {HOSTS} hosts (generated in {:.1} s):",
        generate.elapsed().as_secs_f64()
    );
    let cold = vigie_once(&path, "cold (all new)", n).await;
    let alerts = hook.delivered().len();
    let unchanged = vigie_once(&path, "unchanged (all 304)", n).await;
    for i in (0..n).step_by(10) {
        let (content_type, body) = feed(i, ARTICLES + 1);
        feeds.set(&format!("/feed/{i}"), content_type, body);
    }
    let changed = vigie_once(&path, "10% changed", n).await;
    println!(
        "  alerts delivered: {alerts} cold, {} after the 10% change",
        hook.delivered().len() - alerts
    );
    let _ = (unchanged, changed);
    cold
}

/// rss2email, cold, on the first `n` feeds at 127.0.0.1, delivering every
/// entry by SMTP to a local sink. `None` (with the reason printed) when it
/// cannot run.
async fn bench_rss2email(n: usize, dir: &Path) -> Option<Cost> {
    let r2e = which("r2e")?;
    let feeds = FeedServer::start().await;
    let smtp = SmtpServer::start().await;
    let mut config = format!(
        "[DEFAULT]\nfrom = vigie-bench@example.org\nto = desk@example.org\n\
         email-protocol = smtp\nsmtp-server = 127.0.0.1:{}\nsmtp-auth = False\nsmtp-ssl = False\n\n",
        smtp.port()
    );
    for i in 0..n {
        let path = format!("/feed/{i}");
        let (content_type, body) = feed(i, ARTICLES);
        feeds.set(&path, content_type, body);
        config.push_str(&format!("[feed.feed-{i}]\nurl = {}\n\n", feeds.url(&path)));
    }
    let cfg = dir.join("rss2email.cfg");
    let data = dir.join("rss2email.json");
    std::fs::write(&cfg, config).unwrap();
    println!(
        "\nrss2email ({}), {n} feeds, cold, every entry mailed to a local SMTP sink:",
        r2e.display()
    );
    let (cost, code) = {
        let (cfg, data, r2e) = (cfg.clone(), data.clone(), r2e.clone());
        let log = dir.join("rss2email.log");
        tokio::task::spawn_blocking(move || {
            let stderr = std::fs::File::create(&log).expect("log file");
            measure(
                Command::new(&r2e)
                    .arg("-c")
                    .arg(&cfg)
                    .arg("-d")
                    .arg(&data)
                    .arg("run")
                    .stdout(Stdio::null())
                    .stderr(stderr),
            )
        })
        .await
        .ok()?
    };
    if code != 0 {
        println!(
            "  r2e exited with {code}: {}",
            std::fs::read_to_string(dir.join("rss2email.log"))
                .unwrap_or_default()
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
        return None;
    }
    print_row("cold (all new)", n, cost);
    println!("  emails received: {}", smtp.messages().len());
    Some(cost)
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        println!(
            "\nrss2email: `{program}` is not installed (scripts/bench-scale.sh installs it); skipped"
        );
    }
    found
}

#[tokio::main]
async fn main() {
    let mut counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if counts.is_empty() {
        counts.push(1000);
    }
    let mut cold_1000 = None;
    for &n in &counts {
        let dir = tempfile::tempdir().expect("tempdir");
        let cold = bench_vigie(n, dir.path()).await;
        if n == 1000 {
            cold_1000 = Some(cold);
        }
    }
    if std::env::args().any(|a| a == "--no-rss2email") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let vigie = match cold_1000 {
        Some(c) => c,
        None => bench_vigie(1000, dir.path()).await,
    };
    if let Some(r2e) = bench_rss2email(1000, dir.path()).await {
        println!(
            "\ncold cycle on 1,000 feeds: vigie {:.1} feeds/s, rss2email {:.1} feeds/s: {:.1}× (wall); \
             CPU {:.2} s vs {:.2} s: {:.1}×",
            1000.0 / vigie.wall.as_secs_f64(),
            1000.0 / r2e.wall.as_secs_f64(),
            r2e.wall.as_secs_f64() / vigie.wall.as_secs_f64(),
            vigie.cpu.as_secs_f64(),
            r2e.cpu.as_secs_f64(),
            r2e.cpu.as_secs_f64() / vigie.cpu.as_secs_f64(),
        );
    }
}
