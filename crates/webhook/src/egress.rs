//! Where outbound requests may go: the egress policy that keeps webhooks
//! (URLs an administrator typed, or pasted from somewhere) from reaching
//! the server's own network.
//!
//! By default a destination must be `https`, and every address it
//! resolves to must be public: not loopback, unspecified, link-local
//! (which holds the cloud metadata address 169.254.169.254), private
//! (RFC 1918, unique-local IPv6), shared (CGNAT), multicast, broadcast,
//! documentation or benchmarking space, nor an IPv4 address mapped or
//! translated into IPv6. The check runs on the resolved addresses, inside
//! the HTTP client's resolver, so the address checked is the address
//! connected to (no DNS rebinding between check and connect); IP-literal
//! URLs, which skip the resolver, are checked before the request. The
//! client never follows redirects, so a redirect cannot lead past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The egress policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Egress {
    /// Allow plain `http` destinations (development only).
    pub allow_http: bool,
    /// Allow loopback, private and link-local destinations (development
    /// and tests only: it opens the server's own network to whoever
    /// configures a webhook).
    pub allow_private: bool,
}

/// What a refused destination is called in the delivery log: the same
/// words whatever the reason, so the log is not a map of the network.
pub const REFUSED: &str = "destination refused by the egress policy";

impl Egress {
    /// Check a URL before it is stored or contacted: scheme, and a host
    /// that is not an address (or name) the policy forbids. Names are
    /// checked again, resolved, at every connection.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(
                "only https destinations are allowed (the operator can allow http for development)"
                    .into(),
            ),
            other => return Err(format!("scheme {other:?} is not http(s)")),
        }
        if self.allow_private {
            return Ok(());
        }
        match parsed.host() {
            None => Err("the URL has no host".into()),
            Some(url::Host::Ipv4(ip)) if forbidden(IpAddr::V4(ip)) => Err(refused_host()),
            Some(url::Host::Ipv6(ip)) if forbidden(IpAddr::V6(ip)) => Err(refused_host()),
            Some(url::Host::Domain(d)) if local_name(d) => Err(refused_host()),
            Some(_) => Ok(()),
        }
    }
}

fn refused_host() -> String {
    "the destination is a loopback, private, link-local or otherwise non-public address, which the egress policy refuses".into()
}

/// Names that always mean this machine or its network.
fn local_name(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost"
        || d.ends_with(".localhost")
        || d.ends_with(".local")
        || d.ends_with(".internal")
        || d.ends_with(".home.arpa")
}

/// Whether the policy forbids connecting to `ip` (when private
/// destinations are not allowed).
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // shared address space (RFC 6598)
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (RFC 6890)
        || (a == 192 && b == 0 && c == 0)
        // benchmarking (RFC 2544)
        || (a == 198 && (b == 18 || b == 19))
        // reserved (240/4)
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // unique local fc00::/7 (holds cloud metadata such as fd00:ec2::254)
        || (s[0] & 0xfe00) == 0xfc00
        // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfe80
        // site-local fec0::/10 (deprecated)
        || (s[0] & 0xffc0) == 0xfec0
        // documentation 2001:db8::/32
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16: they
        // carry an IPv4 address that may be private
        || (s[0..6] == [0, 0, 0, 0, 0, 0])
        || (s[0] == 0x0064 && s[1] == 0xff9b)
        || s[0] == 0x2002
}

/// A resolver that answers only the public addresses of a name (all of
/// its addresses when private destinations are allowed), and fails when
/// none is left.
pub struct PolicyResolver {
    pub egress: Egress,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.egress;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| egress.allow_private || !forbidden(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(REFUSED.into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver for a client built under `egress`.
pub fn resolver(egress: Egress) -> Arc<PolicyResolver> {
    Arc::new(PolicyResolver { egress })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_ranges() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(forbidden(ip), "{ip} should be forbidden");
        }
        for ip in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!forbidden(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn urls() {
        let strict = Egress::default();
        assert!(strict.check_url("https://hooks.example.com/x").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://LOCALHOST./x",
            "https://169.254.169.254/latest/meta-data",
            "https://2130706433/x",
            "https://0x7f.0.0.1/x",
            "ftp://example.com/x",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad} should be refused");
        }
        let dev = Egress {
            allow_http: true,
            allow_private: true,
        };
        assert!(dev.check_url("http://127.0.0.1:8080/x").is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_after_resolution() {
        // The resolver knows nothing of the name: it resolves it (through
        // the system's resolver, /etc/hosts here) and drops loopback.
        let strict = PolicyResolver {
            egress: Egress::default(),
        };
        let e = strict
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        assert_eq!(e.to_string(), REFUSED);
        let dev = PolicyResolver {
            egress: Egress {
                allow_http: true,
                allow_private: true,
            },
        };
        let found: Vec<SocketAddr> = dev
            .resolve("localhost".parse().unwrap())
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .collect();
        assert!(found.iter().all(|a| a.ip().is_loopback()) && !found.is_empty());
    }
}
