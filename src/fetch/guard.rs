//! Where a fetch may go. Hosts the config names are the admin's choice and
//! trusted whatever they resolve to; any other host — one only a redirect
//! leads to — must be public: a redirect to a loopback, private or
//! link-local address (an intranet service, a cloud metadata endpoint) is
//! refused. IP literals are checked hop by hop in the redirect policy; names
//! are checked where they are resolved, so a public name pointing at
//! `127.0.0.1` is caught too.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::{Host, Url};

/// Why a redirect or an address was refused: carried inside reqwest's error
/// and recovered by [`super::Fetcher`] to build the typed error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A redirect hop, or a host only a page led to, on a non-public
    /// address (the resolver cannot tell which of the two it serves).
    #[error("{what} address ({host}) refused: only the hosts the config names may be non-public")]
    Private { host: String, what: &'static str },
    #[error("redirect to a \"{0}:\" URL refused")]
    Scheme(String),
    #[error("redirect loop")]
    Loop,
    #[error("too many redirects (more than {0})")]
    TooMany(usize),
}

/// The hosts a config names (lowercase), trusted whatever they resolve to.
#[derive(Debug, Clone, Default)]
pub struct Trusted(Arc<HashSet<String>>);

impl Trusted {
    pub fn new<'a>(urls: impl IntoIterator<Item = &'a Url>) -> Trusted {
        Trusted(Arc::new(
            urls.into_iter()
                .filter_map(|u| u.host_str())
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        ))
    }

    fn contains(&self, host: &str) -> bool {
        self.0
            .contains(host.trim_end_matches('.').to_ascii_lowercase().as_str())
    }
}

/// What kind of non-public address `ip` is, or `None` when it is public.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => non_public_v4(v4),
            None => non_public_v6(v6),
        },
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // 100.64.0.0/10 is carrier-grade NAT: private in practice.
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 || a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("reserved")
    } else {
        None
    }
}

/// `localhost` and `*.localhost` are this machine (RFC 6761 §6.3): they are
/// answered without asking DNS, which gives tests and local setups as many
/// distinct loopback host names as they want.
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A host on this machine: a loopback address, `localhost` or
/// `*.localhost`.
pub fn is_local(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => is_localhost(name),
        None => false,
    }
}

/// Whether a link a page led to may be fetched: http(s) only, and no IP
/// literal on a non-public address unless the config names that host.
/// Names are checked when they are resolved ([`GuardedResolver`]).
pub fn check_link(url: &Url, trusted: &Trusted) -> Result<(), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme(url.scheme().to_string()));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    let host = url.host_str().unwrap_or_default();
    match non_public(ip) {
        Some(what) if !trusted.contains(host) => Err(Refusal::Private {
            host: host.to_string(),
            what,
        }),
        _ => Ok(()),
    }
}

/// The redirect policy: at most `max` hops, no loop, http(s) only, and no
/// untrusted hop to a non-public IP literal (names are checked by
/// [`GuardedResolver`]).
pub fn redirect_policy(max: usize, trusted: Trusted) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        let url = attempt.url();
        if !matches!(url.scheme(), "http" | "https") {
            let scheme = url.scheme().to_string();
            return attempt.error(Refusal::Scheme(scheme));
        }
        if attempt.previous().contains(url) {
            return attempt.error(Refusal::Loop);
        }
        if attempt.previous().len() > max {
            return attempt.error(Refusal::TooMany(max));
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        let host = url.host_str().unwrap_or_default();
        if let Some(what) = ip.and_then(non_public)
            && !trusted.contains(host)
        {
            let host = host.to_string();
            return attempt.error(Refusal::Private { host, what });
        }
        attempt.follow()
    })
}

/// Resolves names with the system resolver (and `*.localhost` itself), and
/// drops the non-public addresses of a name the config does not name.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub trusted: Trusted,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let trusted = self.trusted.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = if is_localhost(&host) {
                vec![
                    SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
                ]
            } else {
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect()
            };
            if trusted {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let refused = addrs.iter().find_map(|a| non_public(a.ip()));
            let public: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| non_public(a.ip()).is_none())
                .collect();
            match (public.is_empty(), refused) {
                (true, Some(what)) => Err(Box::new(Refusal::Private { host, what }) as _),
                _ => Ok(Box::new(public.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        let cases = [
            ("127.0.0.1", Some("loopback")),
            ("127.8.9.10", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("0.0.0.0", Some("reserved")),
            ("::1", Some("loopback")),
            ("fd00::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("8.8.8.8", None),
            ("193.51.224.1", None),
            ("2001:4860:4860::8888", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(non_public(ip.parse().unwrap()), expected, "{ip}");
        }
    }

    #[test]
    fn links_to_non_public_ip_literals_are_refused_unless_named() {
        let listing = Url::parse("http://127.0.0.1:8080/").unwrap();
        let trusted = Trusted::new([&listing]);
        let ok = |u: &str| check_link(&Url::parse(u).unwrap(), &trusted);
        assert!(ok("http://127.0.0.1:8080/article/1").is_ok());
        assert!(ok("https://www.abamako.com/news/1").is_ok());
        assert!(ok("http://93.184.216.34/a").is_ok());
        for refused in [
            "http://127.0.0.2/a",
            "http://10.0.0.1/a",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/a",
        ] {
            assert!(ok(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn trusted_hosts_ignore_case_and_a_final_dot() {
        let url = Url::parse("http://Intranet.Example.ORG./feed").unwrap();
        let trusted = Trusted::new([&url]);
        assert!(trusted.contains("intranet.example.org"));
        assert!(!trusted.contains("example.org"));
        assert!(is_localhost("feed7.localhost"));
        assert!(!is_localhost("localhost.example.org"));
    }
}
