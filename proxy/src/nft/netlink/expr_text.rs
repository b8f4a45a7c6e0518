//! Rule text → nf_tables expressions, for exactly the statements switchyard's per-service
//! rules use (see `rules/service.rs`); anything else is [`Unsupported`] and the caller falls
//! back to `nft -f`. The text stays the one source of truth: golden files, logs and the
//! fallback read the same string this module encodes.
//!
//! Supported, in any order: lookups of a selector or a concatenation of selectors
//! (`ip|ip6 saddr|daddr`, `meta l4proto`, `th dport`) in a set (`@set`, `!= @set` for one
//! selector) or verdict map (`vmap @set`), `ip|ip6 daddr != ADDR[/LEN]` (byte-aligned
//! prefixes), `numgen random|inc mod N == 0`, `fib saddr|daddr type local`,
//! `meta l4proto tcp|udp|sctp`, `meta mark & M == V`, `meta mark set meta mark | V` and `^ V`,
//! `ct state new`, `ct status dnat`, `update @set { ip|ip6 saddr }`,
//! `dnat to ADDR:PORT` / `dnat to [ADDR6]:PORT`,
//! `dnat ip|ip6 to numgen random mod N map @set`, `masquerade [fully-random]`, `reject`,
//! `jump|goto CHAIN`, `drop`, `accept`, `return`, and a trailing `comment "…"`. The
//! registers are the ones nft picks, so both paths give the kernel the same rule.

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

/// `NFT_PAYLOAD_NETWORK_HEADER` / `NFT_PAYLOAD_TRANSPORT_HEADER`.
const PAYLOAD_NETWORK: u32 = 1;
const PAYLOAD_TRANSPORT: u32 = 2;
/// `NFT_META_MARK` / `NFT_META_L4PROTO`.
const META_MARK: u32 = 3;
const META_L4PROTO: u32 = 16;
/// `NFT_CT_STATE` / `NFT_CT_STATUS`.
const CT_STATE: u32 = 0;
const CT_STATUS: u32 = 2;
/// `NF_CT_STATE_BIT(IP_CT_NEW)` and `IPS_DST_NAT`.
const CT_STATE_NEW: u32 = 8;
const CT_STATUS_DNAT: u32 = 0x20;
/// `NFT_CMP_EQ` / `NFT_CMP_NEQ`.
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
/// `NF_NAT_RANGE_PROTO_RANDOM_FULLY`.
const NAT_RANDOM_FULLY: u32 = 0x10;
/// `NFT_REJECT_ICMP_UNREACH`, with ICMP's and ICMPv6's port-unreachable codes.
const REJECT_ICMP_UNREACH: u32 = 0;
const ICMP_PORT_UNREACH: u8 = 3;
const ICMPV6_PORT_UNREACH: u8 = 4;
/// `NFT_LOOKUP_F_INV`.
const LOOKUP_INV: u32 = 1;
/// `NFT_DYNSET_OP_UPDATE`.
const DYNSET_UPDATE: u32 = 1;
/// `NFT_FIB_RESULT_ADDRTYPE` and `NFTA_FIB_F_SADDR`.
const FIB_ADDRTYPE: u32 = 3;
const FIB_F_SADDR: u32 = 1;
const FIB_F_DADDR: u32 = 2;
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
    cmp(CMP_EQ, value)
}

fn cmp(op: u32, value: &[u8]) -> Expr {
    expr("cmp", |a| {
        a.be32(1, REG_1).be32(2, op);
        data_value(a, 3, value);
    })
}

/// `reg 1 = (reg 1 & mask) ^ xor` over 32 bits (values in host order, as nft sends them).
fn bitwise(mask: u32, xor: u32) -> Expr {
    expr("bitwise", |a| {
        a.be32(1, REG_1).be32(2, REG_1).be32(3, 4);
        data_value(a, 4, &mask.to_ne_bytes());
        data_value(a, 5, &xor.to_ne_bytes());
    })
}

fn meta_load(key: u32, reg: u32) -> Expr {
    expr("meta", |a| {
        a.be32(1, reg).be32(2, key);
    })
}

fn ct_load(key: u32) -> Expr {
    expr("ct", |a| {
        a.be32(1, REG_1).be32(2, key);
    })
}

/// One value a rule can load: (expression kind, load into register, length in bytes).
#[derive(Debug, Clone, Copy)]
enum Selector {
    /// `ip|ip6 saddr|daddr`: network header offset and length.
    Address { offset: u32, len: u32 },
    /// `meta l4proto`.
    L4proto,
    /// `th dport`.
    Dport,
}

impl Selector {
    /// The selector at `t[i..]` and how many tokens it takes.
    fn parse(family: Family, t: &[&str], i: usize) -> Option<(Selector, usize)> {
        let (addr_len, saddr, daddr) = match family {
            Family::Ip => (4, 12, 16),
            Family::Ip6 => (16, 8, 24),
        };
        match (t.get(i), t.get(i + 1)) {
            (Some(f), Some(&"saddr")) if *f == family.as_str() => Some((
                Selector::Address {
                    offset: saddr,
                    len: addr_len,
                },
                2,
            )),
            (Some(f), Some(&"daddr")) if *f == family.as_str() => Some((
                Selector::Address {
                    offset: daddr,
                    len: addr_len,
                },
                2,
            )),
            (Some(&"meta"), Some(&"l4proto")) => Some((Selector::L4proto, 2)),
            (Some(&"th"), Some(&"dport")) => Some((Selector::Dport, 2)),
            _ => None,
        }
    }

    /// 32-bit register words the value takes in a concatenation.
    fn words(self) -> u32 {
        match self {
            Selector::Address { len, .. } => len.div_ceil(4),
            Selector::L4proto | Selector::Dport => 1,
        }
    }

    fn load(self, reg: u32) -> Expr {
        match self {
            Selector::Address { offset, len } => payload(PAYLOAD_NETWORK, offset, len, reg),
            Selector::L4proto => meta_load(META_L4PROTO, reg),
            Selector::Dport => payload(PAYLOAD_TRANSPORT, 2, 2, reg),
        }
    }
}

fn payload(base: u32, offset: u32, len: u32, reg: u32) -> Expr {
    expr("payload", |a| {
        a.be32(1, reg).be32(2, base).be32(3, offset).be32(4, len);
    })
}

/// The register nft names for the 32-bit word `word` of a concatenation: a 128-bit register
/// (`NFT_REG_1`...) where the word starts one, else the 32-bit one (`NFT_REG32_00` is 8).
fn concat_register(word: u32) -> u32 {
    if word.is_multiple_of(4) {
        REG_1 + word / 4
    } else {
        8 + word
    }
}

/// `ADDR` or `ADDR/LEN` of `family` as the bytes a byte-aligned prefix compares (nft loads
/// only those bytes and compares them; other prefix lengths are not supported).
fn prefix_bytes(family: Family, text: &str) -> Option<Vec<u8>> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
        None => (text, None),
    };
    let bytes = match (addr.parse::<IpAddr>().ok()?, family) {
        (IpAddr::V4(v4), Family::Ip) => v4.octets().to_vec(),
        (IpAddr::V6(v6), Family::Ip6) => v6.octets().to_vec(),
        _ => return None,
    };
    let bits = len.unwrap_or(bytes.len() as u32 * 8);
    if bits == 0 || !bits.is_multiple_of(8) || bits as usize > bytes.len() * 8 {
        return None;
    }
    let keep = (bits / 8) as usize;
    bytes[keep..]
        .iter()
        .all(|b| *b == 0)
        .then(|| bytes[..keep].to_vec())
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

/// A selector or concatenation at `t[i..]` and what is done with it: a set lookup
/// (`@set`, `!= @set`), a verdict map (`vmap @set`), a protocol (`meta l4proto tcp`) or an
/// address compare (`ip daddr != 127.0.0.0/8`). Returns the index after it.
fn selectors(family: Family, t: &[&str], mut i: usize, exprs: &mut Vec<Expr>) -> Option<usize> {
    let mut parts = Vec::new();
    loop {
        let (selector, used) = Selector::parse(family, t, i)?;
        parts.push(selector);
        i += used;
        if t.get(i) != Some(&".") {
            break;
        }
        i += 1;
    }
    let mut word = 0;
    for part in &parts {
        exprs.push(part.load(concat_register(word)));
        word += part.words();
    }
    let single = parts.len() == 1;
    let lookup = |set: &str, inverted: bool, verdict_map: bool| {
        let set = set.to_owned();
        expr("lookup", move |a| {
            a.str(1, &set).be32(2, REG_1);
            if verdict_map {
                a.be32(3, REG_VERDICT);
            }
            if inverted {
                a.be32(5, LOOKUP_INV);
            }
        })
    };
    match (t.get(i), t.get(i + 1)) {
        (Some(&"vmap"), Some(set)) => {
            exprs.push(lookup(set_name(set).ok()?, false, true));
            Some(i + 2)
        }
        (Some(&"!="), Some(set)) if single && set.starts_with('@') => {
            exprs.push(lookup(set_name(set).ok()?, true, false));
            Some(i + 2)
        }
        (Some(&"!="), Some(addr)) if single => {
            let Selector::Address { offset, .. } = parts[0] else {
                return None;
            };
            let bytes = prefix_bytes(family, addr)?;
            // nft loads only the prefix's bytes.
            exprs.pop();
            exprs.push(payload(PAYLOAD_NETWORK, offset, bytes.len() as u32, REG_1));
            exprs.push(cmp(CMP_NEQ, &bytes));
            Some(i + 2)
        }
        (Some(set), _) if set.starts_with('@') => {
            exprs.push(lookup(set_name(set).ok()?, false, false));
            Some(i + 1)
        }
        (Some(proto), _) if single && matches!(parts[0], Selector::L4proto) => {
            exprs.push(cmp_eq(&[proto_number(proto)?]));
            Some(i + 1)
        }
        _ => None,
    }
}

/// `meta mark & M == V` and `meta mark set meta mark | V` / `^ V` at `t[i..]`; returns the
/// index after it.
fn mark(t: &[&str], i: usize, exprs: &mut Vec<Expr>) -> Option<usize> {
    let hex = |text: &str| u32::from_str_radix(text.strip_prefix("0x")?, 16).ok();
    match t.get(i + 2..)? {
        ["&", mask, "==", value, ..] => {
            exprs.push(meta_load(META_MARK, REG_1));
            exprs.push(bitwise(hex(mask)?, 0));
            exprs.push(cmp_eq(&hex(value)?.to_ne_bytes()));
            Some(i + 6)
        }
        ["set", "meta", "mark", op, value, ..] => {
            let value = hex(value)?;
            let (mask, xor) = match *op {
                "|" => (!value, value),
                "^" => (u32::MAX, value),
                _ => return None,
            };
            exprs.push(meta_load(META_MARK, REG_1));
            exprs.push(bitwise(mask, xor));
            exprs.push(expr("meta", |a| {
                a.be32(2, META_MARK).be32(3, REG_1);
            }));
            Some(i + 7)
        }
        _ => None,
    }
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
            _ if Selector::parse(family, &t, i).is_some() && t.get(i) != Some(&"meta")
                || (t.get(i..i + 3) == Some(&["meta", "l4proto", "."][..])) =>
            {
                i = selectors(family, &t, i, &mut exprs).ok_or_else(|| bad(i))?;
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
                let flags = match t.get(i + 1) {
                    Some(&"saddr") => FIB_F_SADDR,
                    Some(&"daddr") => FIB_F_DADDR,
                    _ => return Err(bad(i + 1)),
                };
                if t.get(i + 2..i + 4) != Some(&["type", "local"][..]) {
                    return Err(bad(i));
                }
                exprs.push(expr("fib", |a| {
                    a.be32(1, REG_1).be32(2, FIB_ADDRTYPE).be32(3, flags);
                }));
                exprs.push(cmp_eq(&RTN_LOCAL.to_ne_bytes()));
                i += 4;
            }
            "meta" if t.get(i + 1) == Some(&"mark") => {
                i = mark(&t, i, &mut exprs).ok_or_else(|| bad(i))?;
            }
            "ct" => {
                let (key, bit) = match (t.get(i + 1), t.get(i + 2)) {
                    (Some(&"state"), Some(&"new")) => (CT_STATE, CT_STATE_NEW),
                    (Some(&"status"), Some(&"dnat")) => (CT_STATUS, CT_STATUS_DNAT),
                    _ => return Err(bad(i + 1)),
                };
                exprs.push(ct_load(key));
                exprs.push(bitwise(bit, 0));
                exprs.push(cmp(CMP_NEQ, &0u32.to_ne_bytes()));
                i += 3;
            }
            "masquerade" => {
                let fully_random = t.get(i + 1) == Some(&"fully-random");
                exprs.push(expr("masq", |a| {
                    if fully_random {
                        a.be32(1, NAT_RANDOM_FULLY);
                    }
                }));
                i += if fully_random { 2 } else { 1 };
            }
            "reject" => {
                let code = match family {
                    Family::Ip => ICMP_PORT_UNREACH,
                    Family::Ip6 => ICMPV6_PORT_UNREACH,
                };
                exprs.push(expr("reject", |a| {
                    a.be32(1, REJECT_ICMP_UNREACH).bytes(2, &[code]);
                }));
                i += 1;
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
            // The main table's and the shards' static rules.
            "ip daddr @cluster-ips reject comment \"no such port on this ClusterIP\"",
            "ip daddr @service-cidrs drop comment \"unallocated ClusterIP\"",
            "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @m",
            "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
            "ct state new jump check-cluster-ips",
            "ct status dnat ip saddr . ip daddr @hairpin-endpoints meta mark set meta mark | 0x00004000",
            "meta mark & 0x00004000 == 0x00000000 return",
            "meta mark set meta mark ^ 0x00004000",
            "masquerade fully-random",
            "reject",
            "meta l4proto . th dport @service-nodeports fib daddr type local ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
        ] {
            assert!(encode_rule(Family::Ip, rule).is_ok(), "{rule}");
        }
        for rule in [
            "fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @m",
            "ip6 daddr . meta l4proto . th dport vmap @service-ips",
            "ct status dnat ip6 saddr . ip6 daddr @hairpin-endpoints meta mark set meta mark | 0x00004000",
            "reject",
        ] {
            assert!(encode_rule(Family::Ip6, rule).is_ok(), "{rule}");
        }
        assert!(encode_rule(Family::Ip6, "meta l4proto tcp dnat to [fd00::1]:80").is_ok());
        let map_pick = "meta l4proto udp dnat ip6 to numgen random mod 65536 map @xep-A";
        assert!(encode_rule(Family::Ip6, map_pick).is_ok());
    }

    /// Concatenations use the registers nft picks (`nft --debug=netlink`): 128-bit register
    /// names where a word starts one, 32-bit names elsewhere.
    #[test]
    fn concatenations_use_nfts_registers() {
        assert_eq!(
            [0, 1, 2, 4, 5].map(concat_register),
            [REG_1, 9, 10, REG_2, 13]
        );
        assert_eq!(prefix_bytes(Family::Ip, "127.0.0.0/8"), Some(vec![127]));
        assert_eq!(prefix_bytes(Family::Ip6, "::1").map(|b| b.len()), Some(16));
        assert_eq!(prefix_bytes(Family::Ip, "10.96.0.0/12"), None);
        assert_eq!(prefix_bytes(Family::Ip, "10.96.0.1/16"), None);
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
            "ip daddr != 10.96.0.0/12 drop",
            "ip daddr != @a . @b drop",
            "ct state established accept",
            "ct status snat accept",
            "meta mark set 0x1",
            "meta mark & 0x1 != 0x0 return",
            "ip daddr . meta l4proto tcp drop",
            "th dport 80 drop",
            "masquerade random",
        ] {
            assert!(encode_rule(Family::Ip, rule).is_err(), "{rule}");
        }
        assert!(encode_rule(Family::Ip6, "meta l4proto tcp dnat to 10.0.0.1:80").is_err());
    }
}
