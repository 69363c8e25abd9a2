//! S14 property tests of the address classifier: random addresses inside every blocked
//! range and every IPv6 form carrying one are refused, public ones pass, allow CIDRs are
//! the only exception. The ranges are written out here again, from the RFCs, on purpose.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use copythat_core::url_policy::{check_address, classify};
use ipnet::IpNet;
use proptest::prelude::*;

/// IPv4 blocks that must never be connected to.
const V4_BLOCKED: &[(&str, u8)] = &[
    ("0.0.0.0", 8),
    ("10.0.0.0", 8),
    ("100.64.0.0", 10),
    ("127.0.0.0", 8),
    ("169.254.0.0", 16),
    ("172.16.0.0", 12),
    ("192.0.0.0", 24),
    ("192.0.2.0", 24),
    ("192.88.99.0", 24),
    ("192.168.0.0", 16),
    ("198.18.0.0", 15),
    ("198.51.100.0", 24),
    ("203.0.113.0", 24),
    ("224.0.0.0", 4),
    ("240.0.0.0", 4),
    ("255.255.255.255", 32),
];

/// First octets whose whole /8 is ordinary public unicast space.
fn public_first_octet() -> impl Strategy<Value = u8> {
    prop_oneof![
        1u8..=9,
        11u8..=99,
        101u8..=126,
        128u8..=168,
        170u8..=171,
        173u8..=191,
        193u8..=197,
        199u8..=202,
        204u8..=223,
    ]
}

/// IPv6 blocks refused whatever they carry.
const V6_BLOCKED: &[(&str, u8)] = &[
    ("::", 128),
    ("::1", 128),
    ("::", 96),
    ("::ffff:0:0:0", 96),
    ("64:ff9b:1::", 48),
    ("100::", 64),
    ("2001::", 32),
    ("2001::", 23),
    ("2001:db8::", 32),
    ("2002::", 16),
    ("3fff::", 20),
    ("fc00::", 7),
    ("fe80::", 10),
    ("fec0::", 10),
    ("ff00::", 8),
    ("4000::", 2),
    ("8000::", 1),
];

/// Global unicast blocks handed out by the registries, with no special range inside.
const V6_PUBLIC: &[(&str, u8)] = &[("2400::", 6), ("2a00::", 7), ("2c00::", 6)];

fn v4_in(net: &str, prefix: u8, bits: u32) -> Ipv4Addr {
    let base = u32::from(net.parse::<Ipv4Addr>().unwrap());
    let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from((base & !host) | (bits & host))
}

fn v6_in(net: &str, prefix: u8, bits: u128) -> Ipv6Addr {
    let base = u128::from(net.parse::<Ipv6Addr>().unwrap());
    let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from((base & !host) | (bits & host))
}

fn blocked_v4() -> impl Strategy<Value = Ipv4Addr> {
    (0..V4_BLOCKED.len(), any::<u32>()).prop_map(|(i, bits)| {
        let (net, prefix) = V4_BLOCKED[i];
        v4_in(net, prefix, bits)
    })
}

fn public_v4() -> impl Strategy<Value = Ipv4Addr> {
    (public_first_octet(), any::<[u8; 3]>()).prop_map(|(a, [b, c, d])| Ipv4Addr::new(a, b, c, d))
}

fn public_v6() -> impl Strategy<Value = Ipv6Addr> {
    (0..V6_PUBLIC.len(), any::<u128>()).prop_map(|(i, bits)| {
        let (net, prefix) = V6_PUBLIC[i];
        v6_in(net, prefix, bits)
    })
}

/// The forms that write an IPv4 address inside an IPv6 one, all refused outright
/// because their destination is not (only) that IPv4 address.
fn refused_embeddings(v4: Ipv4Addr, noise: u128) -> Vec<(&'static str, Ipv6Addr)> {
    let v4 = u128::from(u32::from(v4));
    let noise16 = noise & 0xffff;
    vec![
        ("IPv4-compatible", Ipv6Addr::from(v4)),
        ("IPv4-translated", Ipv6Addr::from((0xffff << 64) | v4)),
        // RFC 6052 /48 layout: 24 bits, the reserved u octet, then 8 bits.
        (
            "local-use NAT64",
            Ipv6Addr::from((0x0064_ff9b_0001u128 << 80) | ((v4 >> 8) << 64) | ((v4 & 0xff) << 48)),
        ),
        (
            "6to4",
            Ipv6Addr::from((0x2002u128 << 112) | (v4 << 80) | (noise & ((1 << 80) - 1))),
        ),
        (
            "Teredo (server)",
            Ipv6Addr::from((0x2001_0000u128 << 96) | (v4 << 64) | (noise16 << 32)),
        ),
        (
            "Teredo (client)",
            Ipv6Addr::from((0x2001_0000u128 << 96) | (noise16 << 32) | (!v4 & 0xffff_ffff)),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn s14_every_address_in_a_blocked_v4_range_is_refused(ip in blocked_v4()) {
        prop_assert!(classify(IpAddr::V4(ip)).is_err(), "{ip}");
        prop_assert!(check_address(IpAddr::V4(ip), &[]).is_err(), "{ip}");
    }

    #[test]
    fn s14_public_v4_addresses_are_allowed(ip in public_v4()) {
        prop_assert_eq!(classify(IpAddr::V4(ip)), Ok(()), "{}", ip);
    }

    #[test]
    fn s14_every_address_in_a_blocked_v6_range_is_refused(
        i in 0..V6_BLOCKED.len(),
        bits in any::<u128>(),
    ) {
        let (net, prefix) = V6_BLOCKED[i];
        let ip = v6_in(net, prefix, bits);
        prop_assert!(classify(IpAddr::V6(ip)).is_err(), "{ip} in {net}/{prefix}");
    }

    #[test]
    fn s14_public_v6_addresses_are_allowed(ip in public_v6()) {
        prop_assert_eq!(classify(IpAddr::V6(ip)), Ok(()), "{}", ip);
    }

    #[test]
    fn s14_mapped_and_nat64_forms_are_classified_as_the_v4_they_carry(
        blocked in blocked_v4(),
        public in public_v4(),
    ) {
        let nat64 = |v4: Ipv4Addr| {
            Ipv6Addr::from((0x0064_ff9bu128 << 96) | u128::from(u32::from(v4)))
        };
        for form in [blocked.to_ipv6_mapped(), nat64(blocked)] {
            let refused = classify(IpAddr::V6(form));
            prop_assert!(refused.is_err(), "{form} carries {blocked}");
            prop_assert!(refused.unwrap_err().via.is_some());
        }
        for form in [public.to_ipv6_mapped(), nat64(public)] {
            prop_assert_eq!(classify(IpAddr::V6(form)), Ok(()), "{} carries {}", form, public);
        }
    }

    #[test]
    fn s14_other_v6_forms_carrying_v4_are_refused_whatever_they_carry(
        v4 in prop_oneof![blocked_v4(), public_v4()],
        noise in any::<u128>(),
    ) {
        for (form, ip) in refused_embeddings(v4, noise) {
            prop_assert!(classify(IpAddr::V6(ip)).is_err(), "{form} {ip} carrying {v4}");
        }
    }

    #[test]
    fn s14_allow_cidrs_are_the_only_exception(
        ip in blocked_v4(),
        other in blocked_v4(),
        prefix in 8u8..=32,
    ) {
        let net = IpNet::new(IpAddr::V4(ip), prefix).unwrap().trunc();
        let allow = [net];
        prop_assert_eq!(check_address(IpAddr::V4(ip), &allow), Ok(()));
        prop_assert_eq!(check_address(IpAddr::V6(ip.to_ipv6_mapped()), &allow), Ok(()));
        if !net.contains(&IpAddr::V4(other)) {
            prop_assert!(check_address(IpAddr::V4(other), &allow).is_err(), "{other} outside {net}");
        }
    }

    #[test]
    fn s14_v6_allow_cidrs_are_the_only_exception(
        i in 0..V6_BLOCKED.len(),
        bits in any::<u128>(),
        other_bits in any::<u128>(),
        prefix in 16u8..=128,
    ) {
        let (net, net_prefix) = V6_BLOCKED[i];
        let ip = v6_in(net, net_prefix, bits);
        let other = v6_in(net, net_prefix, other_bits);
        let allowed = IpNet::new(IpAddr::V6(ip), prefix).unwrap().trunc();
        prop_assert_eq!(check_address(IpAddr::V6(ip), &[allowed]), Ok(()));
        if !allowed.contains(&IpAddr::V6(other)) {
            prop_assert!(check_address(IpAddr::V6(other), &[allowed]).is_err());
        }
    }

    /// Whatever the standard library already knows to be non-public is refused.
    #[test]
    fn s14_std_special_addresses_are_refused(v4 in any::<u32>(), v6 in any::<u128>()) {
        let v4 = Ipv4Addr::from(v4);
        if v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_broadcast()
            || v4.is_documentation() || v4.is_unspecified() || v4.is_multicast()
        {
            prop_assert!(classify(IpAddr::V4(v4)).is_err(), "{v4}");
        }
        let v6 = Ipv6Addr::from(v6);
        if v6.is_loopback() || v6.is_unspecified() || v6.is_multicast()
            || v6.is_unique_local() || v6.is_unicast_link_local()
        {
            prop_assert!(classify(IpAddr::V6(v6)).is_err(), "{v6}");
        }
    }
}
