//! Rule text → nf_tables expressions, for exactly the statements switchyard's per-service
//! rules use (see `rules/service.rs`); anything else is [`Unsupported`] and the caller falls
//! back to `nft -f`. The text stays the one source of truth: golden files, logs and the
//! fallback read the same string this module encodes.
//!
//! Supported, in any order: `ip|ip6 saddr [!=] @set`, `numgen random|inc mod N == 0`,
//! `fib saddr type local`, `meta l4proto tcp|udp|sctp`, `update @set { ip|ip6 saddr }`,
//! `dnat to ADDR:PORT` / `dnat to [ADDR6]:PORT`,
//! `dnat ip|ip6 to numgen random mod N map @set`, `jump|goto CHAIN`, `drop`, `accept`,
//! `return`, and a trailing `comment "…"`.

use std::net::{IpAddr, SocketAddr};

use super::Unsupported;
use super::wire::Attrs;
use crate::nft::transaction::Family;

// Registers (`enum nft_registers`).
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG_2: u32 = 2;
/// `NFT_REG32_01`: the second 32-bit word of register 1.
const REG32_01: u32 = 9;
/// `NFT_BYTEORDER_HTON`.
const BYTEORDER_HTON: u32 = 1;

// Verdict codes (`enum nft_verdicts` and netfilter's NF_*), as the kernel reads them (i32).
const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;
const NFT_RETURN: i32 = -5;

/// `NFT_PAYLOAD_NETWORK_HEADER`.
const PAYLOAD_NETWORK: u32 = 1;
/// `NFT_META_L4PROTO`.
const META_L4PROTO: u32 = 16;
/// `NFT_LOOKUP_F_INV`.
const LOOKUP_INV: u32 = 1;
/// `NFT_DYNSET_OP_UPDATE`.
const DYNSET_UPDATE: u32 = 1;
/// `NFT_FIB_RESULT_ADDRTYPE` and `NFTA_FIB_F_SADDR`.
const FIB_ADDRTYPE: u32 = 3;
const FIB_F_SADDR: u32 = 1;
/// `RTN_LOCAL`.
const RTN_LOCAL: u32 = 2;
/// `NFT_NG_INCREMENTAL` / `NFT_NG_RANDOM`.
const NG_INC: u32 = 0;
const NG_RANDOM: u32 = 1;
/// `NFT_NAT_DNAT`.
const NAT_DNAT: u32 = 1;
/// `NFTA_LIST_ELEM`.
pub(super) const LIST_ELEM: u16 = 1;
/// `NFTNL_UDATA_RULE_COMMENT`.
const UDATA_RULE_COMMENT: u8 = 0;

/// The `NFPROTO_*` number of a family.
pub(super) fn nfproto(family: Family) -> u8 {
    match family {
        Family::Ip => 2,
        Family::Ip6 => 10,
    }
}

/// One expression: its kernel name and its `NFTA_EXPR_DATA` attributes.
struct Expr {
    name: &'static str,
    data: Attrs,
}

fn expr(name: &'static str, fill: impl FnOnce(&mut Attrs)) -> Expr {
    let mut data = Attrs::default();
    fill(&mut data);
    Expr { name, data }
}

/// `NFTA_DATA_VALUE` inside a nested data attribute.
fn data_value(attrs: &mut Attrs, kind: u16, value: &[u8]) {
    attrs.nest(kind, |d| {
        d.bytes(1, value);
    });
}

/// A verdict (`NFTA_DATA_VERDICT`) inside a nested data attribute of kind `kind`.
pub(super) fn verdict_data(attrs: &mut Attrs, kind: u16, code: i32, chain: Option<&str>) {
    attrs.nest(kind, |d| {
        d.nest(2, |v| {
            v.bytes(1, &code.to_be_bytes());
            if let Some(chain) = chain {
                v.str(2, chain);
            }
        });
    });
}

fn cmp_eq(value: &[u8]) -> Expr {
    expr("cmp", |a| {
        a.be32(1, REG_1).be32(2, 0);
        data_value(a, 3, value);
    })
}

fn saddr(family: Family) -> Expr {
    let (offset, len) = match family {
        Family::Ip => (12, 4),
        Family::Ip6 => (8, 16),
    };
    expr("payload", |a| {
        a.be32(1, REG_1)
            .be32(2, PAYLOAD_NETWORK)
            .be32(3, offset)
            .be32(4, len);
    })
}

fn verdict(code: i32, chain: Option<&str>) -> Expr {
    expr("immediate", |a| {
        a.be32(1, REG_VERDICT);
        verdict_data(a, 2, code, chain);
    })
}

fn immediate(reg: u32, value: &[u8]) -> Expr {
    expr("immediate", |a| {
        a.be32(1, reg);
        data_value(a, 2, value);
    })
}

/// The protocol number of an nft protocol name.
pub(super) fn proto_number(name: &str) -> Option<u8> {
    match name {
        "tcp" => Some(6),
        "udp" => Some(17),
        "sctp" => Some(132),
        _ => None,
    }
}

fn set_name(token: &str) -> Result<&str, Unsupported> {
    token
        .strip_prefix('@')
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Unsupported::new(format!("expected @set, got {token:?}")))
}

/// Splits a rule into tokens and its trailing comment.
fn tokens(rule: &str) -> Result<(Vec<&str>, Option<&str>), Unsupported> {
    let (body, comment) = match rule.find(" comment \"") {
        Some(i) => {
            let text = &rule[i + " comment \"".len()..];
            let text = text
                .strip_suffix('"')
                .filter(|t| !t.contains('"'))
                .ok_or_else(|| Unsupported::new("comment is not last or has quotes"))?;
            (&rule[..i], Some(text))
        }
        None => (rule, None),
    };
    Ok((body.split_whitespace().collect(), comment))
}

/// DNAT to the address in register 1 and the port in `port_reg`.
fn dnat_from(family: Family, port_reg: u32) -> Expr {
    let nfproto = u32::from(nfproto(family));
    expr("nat", |a| {
        a.be32(1, NAT_DNAT)
            .be32(2, nfproto)
            .be32(3, REG_1)
            .be32(5, port_reg);
    })
}

/// The `NFTA_RULE_EXPRESSIONS` and optional `NFTA_RULE_USERDATA` of `rule` in `family`.
pub(super) fn encode_rule(
    family: Family,
    rule: &str,
) -> Result<(Attrs, Option<Vec<u8>>), Unsupported> {
    let (t, comment) = tokens(rule)?;
    let fam = family.as_str();
    let mut exprs: Vec<Expr> = Vec::new();
    let mut i = 0;
    let bad =
        |at: usize| Unsupported::new(format!("unsupported rule text at token {at}: {rule:?}"));
    while i < t.len() {
        match t[i] {
            f if f == fam && t.get(i + 1) == Some(&"saddr") => {
                let (inverted, set_at) = if t.get(i + 2) == Some(&"!=") {
                    (true, i + 3)
                } else {
                    (false, i + 2)
                };
                let set = set_name(t.get(set_at).ok_or_else(|| bad(set_at))?)?.to_owned();
                exprs.push(saddr(family));
                exprs.push(expr("lookup", |a| {
                    a.str(1, &set).be32(2, REG_1);
                    if inverted {
                        a.be32(5, LOOKUP_INV);
                    }
                }));
                i = set_at + 1;
            }
            "numgen" => {
                let mode = match t.get(i + 1) {
                    Some(&"random") => NG_RANDOM,
                    Some(&"inc") => NG_INC,
                    _ => return Err(bad(i + 1)),
                };
                let modulus: u32 = match (t.get(i + 2), t.get(i + 3)) {
                    (Some(&"mod"), Some(n)) => n.parse().map_err(|_| bad(i + 3))?,
                    _ => return Err(bad(i + 2)),
                };
                let value: u32 = match (t.get(i + 4), t.get(i + 5)) {
                    (Some(&"=="), Some(v)) => v.parse().map_err(|_| bad(i + 5))?,
                    _ => return Err(bad(i + 4)),
                };
                exprs.push(expr("numgen", |a| {
                    a.be32(1, REG_1).be32(2, modulus).be32(3, mode);
                }));
                exprs.push(cmp_eq(&value.to_ne_bytes()));
                i += 6;
            }
            "fib" => {
                if t.get(i + 1..i + 4) != Some(&["saddr", "type", "local"][..]) {
                    return Err(bad(i));
                }
                exprs.push(expr("fib", |a| {
                    a.be32(1, REG_1).be32(2, FIB_ADDRTYPE).be32(3, FIB_F_SADDR);
                }));
                exprs.push(cmp_eq(&RTN_LOCAL.to_ne_bytes()));
                i += 4;
            }
            "meta" => {
                let proto = match (t.get(i + 1), t.get(i + 2)) {
                    (Some(&"l4proto"), Some(p)) => proto_number(p).ok_or_else(|| bad(i + 2))?,
                    _ => return Err(bad(i + 1)),
                };
                exprs.push(expr("meta", |a| {
                    a.be32(1, REG_1).be32(2, META_L4PROTO);
                }));
                exprs.push(cmp_eq(&[proto]));
                i += 3;
            }
            "update" => {
                let set = set_name(t.get(i + 1).ok_or_else(|| bad(i + 1))?)?.to_owned();
                if t.get(i + 2..i + 6) != Some(&["{", fam, "saddr", "}"][..]) {
                    return Err(bad(i + 2));
                }
                exprs.push(saddr(family));
                exprs.push(expr("dynset", |a| {
                    a.str(1, &set).be32(3, DYNSET_UPDATE).be32(4, REG_1);
                }));
                i += 6;
            }
            "dnat" if t.get(i + 1) == Some(&fam) => {
                // `dnat ip to numgen random mod N map @set`: the endpoint map's value is
                // `addr . port`, loaded into consecutive registers.
                let shaped = t.get(i + 2..i + 6) == Some(&["to", "numgen", "random", "mod"][..])
                    && t.get(i + 7) == Some(&"map");
                if !shaped {
                    return Err(bad(i + 2));
                }
                let modulus: u32 = t[i + 6].parse().map_err(|_| bad(i + 6))?;
                let set = set_name(t.get(i + 8).ok_or_else(|| bad(i + 8))?)?.to_owned();
                exprs.push(expr("numgen", |a| {
                    a.be32(1, REG_1).be32(2, modulus).be32(3, NG_RANDOM);
                }));
                exprs.push(expr("byteorder", |a| {
                    a.be32(1, REG_1)
                        .be32(2, REG_1)
                        .be32(3, BYTEORDER_HTON)
                        .be32(4, 4)
                        .be32(5, 4);
                }));
                exprs.push(expr("lookup", |a| {
                    a.str(1, &set).be32(2, REG_1).be32(3, REG_1);
                }));
                // The port follows the address: the next 32-bit register after an IPv4
                // address, the next 128-bit one after an IPv6 address.
                let proto_reg = match family {
                    Family::Ip => REG32_01,
                    Family::Ip6 => REG_2,
                };
                exprs.push(dnat_from(family, proto_reg));
                i += 9;
            }
            "dnat" => {
                if t.get(i + 1) != Some(&"to") {
                    return Err(bad(i + 1));
                }
                let target: SocketAddr = t
                    .get(i + 2)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad(i + 2))?;
                let addr = match (target.ip(), family) {
                    (IpAddr::V4(v4), Family::Ip) => v4.octets().to_vec(),
                    (IpAddr::V6(v6), Family::Ip6) => v6.octets().to_vec(),
                    _ => return Err(bad(i + 2)),
                };
                exprs.push(immediate(REG_1, &addr));
                exprs.push(immediate(REG_2, &target.port().to_be_bytes()));
                exprs.push(dnat_from(family, REG_2));
                i += 3;
            }
            "jump" | "goto" => {
                let chain = t.get(i + 1).ok_or_else(|| bad(i + 1))?;
                let code = if t[i] == "jump" { NFT_JUMP } else { NFT_GOTO };
                exprs.push(verdict(code, Some(chain)));
                i += 2;
            }
            "drop" => {
                exprs.push(verdict(NF_DROP, None));
                i += 1;
            }
            "accept" => {
                exprs.push(verdict(NF_ACCEPT, None));
                i += 1;
            }
            "return" => {
                exprs.push(verdict(NFT_RETURN, None));
                i += 1;
            }
            _ => return Err(bad(i)),
        }
    }
    if exprs.is_empty() {
        return Err(Unsupported::new("empty rule"));
    }
    let mut list = Attrs::default();
    for e in exprs {
        list.nest(LIST_ELEM, |elem| {
            elem.str(1, e.name);
            let data = e.data.into_bytes();
            elem.nest(2, |d| {
                d.raw(&data);
            });
        });
    }
    let userdata = comment.map(|text| {
        let mut tlv = vec![
            UDATA_RULE_COMMENT,
            u8::try_from(text.len() + 1).unwrap_or(u8::MAX),
        ];
        tlv.extend_from_slice(text.as_bytes());
        tlv.push(0);
        tlv
    });
    Ok((list, userdata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_shape_we_generate_encodes() {
        for rule in [
            "ip saddr != @cluster-cidrs jump mark-for-masquerade",
            "ip saddr @affinity-X update @affinity-X { ip saddr } meta l4proto tcp dnat to 10.0.0.1:80",
            "numgen random mod 3 == 0 meta l4proto udp dnat to 10.0.0.1:53",
            "numgen inc mod 2 == 0 update @a { ip saddr } meta l4proto tcp dnat to 10.0.0.2:80",
            "fib saddr type local goto service-X",
            "drop comment \"no local endpoints for externalTrafficPolicy Local\"",
            "goto service-X",
            "meta l4proto tcp dnat ip to numgen random mod 65536 map @ep-ABC",
        ] {
            assert!(encode_rule(Family::Ip, rule).is_ok(), "{rule}");
        }
        assert!(encode_rule(Family::Ip6, "meta l4proto tcp dnat to [fd00::1]:80").is_ok());
        let map_pick = "meta l4proto udp dnat ip6 to numgen random mod 65536 map @xep-A";
        assert!(encode_rule(Family::Ip6, map_pick).is_ok());
    }

    #[test]
    fn anything_else_is_unsupported() {
        for rule in [
            "ip saddr != { 10.0.0.0/8 } jump x",
            "counter",
            "numgen random mod x == 0 drop",
            "meta l4proto icmp drop",
            "dnat to 10.0.0.1",
            "ip6 saddr @s drop",
            "dnat ip6 to numgen random mod 65536 map @m",
            "dnat ip to numgen inc mod 65536 map @m",
            "dnat ip to numgen random mod 65536 vmap @m",
            "dnat ip to numgen random mod 65536 map",
        ] {
            assert!(encode_rule(Family::Ip, rule).is_err(), "{rule}");
        }
        assert!(encode_rule(Family::Ip6, "meta l4proto tcp dnat to 10.0.0.1:80").is_err());
    }
}
