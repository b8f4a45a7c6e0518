//! Typed rules ([`Rule`]) → nf_tables expressions. Every statement the rule generator can build
//! is encoded with the registers nft picks, so both paths give the kernel the same rule
//! (`tests/nft_kernel.rs` lists tables built both ways and compares). The only statement
//! shape left to `nft` ([`Unsupported`]) is an address compare with a prefix that is not
//! byte-aligned, which the generator never builds (its one compare is loopback: `/8`, `/128`).

use std::net::IpAddr;

use super::Unsupported;
use super::wire::Attrs;
use crate::model::Protocol;
use crate::nft::ast::{FibAddr, NumgenMode, Rule, Selector, Stmt, Verdict};
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
/// `NFT_REJECT_TCP_RST`.
const REJECT_TCP_RST: u32 = 1;
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

/// The IP protocol number of a service protocol.
pub(super) fn proto_number(proto: Protocol) -> u8 {
    match proto {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// The kernel's verdict code and chain of a verdict.
pub(super) fn verdict_code(verdict: &Verdict) -> (i32, Option<&str>) {
    match verdict {
        Verdict::Accept => (NF_ACCEPT, None),
        Verdict::Drop => (NF_DROP, None),
        Verdict::Return => (NFT_RETURN, None),
        Verdict::Jump(chain) => (NFT_JUMP, Some(chain)),
        Verdict::Goto(chain) => (NFT_GOTO, Some(chain)),
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
pub(super) fn verdict_data(attrs: &mut Attrs, kind: u16, verdict: &Verdict) {
    let (code, chain) = verdict_code(verdict);
    attrs.nest(kind, |d| {
        d.nest(2, |v| {
            v.bytes(1, &code.to_be_bytes());
            if let Some(chain) = chain {
                v.str(2, chain);
            }
        });
    });
}

fn cmp(op: u32, value: &[u8]) -> Expr {
    expr("cmp", |a| {
        a.be32(1, REG_1).be32(2, op);
        data_value(a, 3, value);
    })
}

fn cmp_eq(value: &[u8]) -> Expr {
    cmp(CMP_EQ, value)
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

fn payload(base: u32, offset: u32, len: u32, reg: u32) -> Expr {
    expr("payload", |a| {
        a.be32(1, reg).be32(2, base).be32(3, offset).be32(4, len);
    })
}

/// Network header offset of the source or destination address, and the address length.
fn address_field(family: Family, source: bool) -> (u32, u32) {
    match (family, source) {
        (Family::Ip, true) => (12, 4),
        (Family::Ip, false) => (16, 4),
        (Family::Ip6, true) => (8, 16),
        (Family::Ip6, false) => (24, 16),
    }
}

/// A selector, checked against the table's family.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// Address: network header offset and length.
    Address {
        offset: u32,
        len: u32,
    },
    L4proto,
    Dport,
}

impl Load {
    fn of(family: Family, selector: Selector) -> Result<Load, Unsupported> {
        let address = |of: Family, source: bool| {
            if of != family {
                return Err(Unsupported::new(format!("{selector} in an {family} table")));
            }
            let (offset, len) = address_field(family, source);
            Ok(Load::Address { offset, len })
        };
        match selector {
            Selector::Saddr(of) => address(of, true),
            Selector::Daddr(of) => address(of, false),
            Selector::L4proto => Ok(Load::L4proto),
            Selector::Dport => Ok(Load::Dport),
        }
    }

    /// 32-bit register words the value takes in a concatenation.
    fn words(self) -> u32 {
        match self {
            Load::Address { len, .. } => len.div_ceil(4),
            Load::L4proto | Load::Dport => 1,
        }
    }

    fn load(self, reg: u32) -> Expr {
        match self {
            Load::Address { offset, len } => payload(PAYLOAD_NETWORK, offset, len, reg),
            Load::L4proto => meta_load(META_L4PROTO, reg),
            Load::Dport => payload(PAYLOAD_TRANSPORT, 2, 2, reg),
        }
    }
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

/// Loads `keys`, concatenated, from register 1 on.
fn load_concat(
    family: Family,
    keys: &[Selector],
    exprs: &mut Vec<Expr>,
) -> Result<(), Unsupported> {
    let mut word = 0;
    for key in keys {
        let load = Load::of(family, *key)?;
        exprs.push(load.load(concat_register(word)));
        word += load.words();
    }
    Ok(())
}

/// The bytes of `addr` that a compare with a byte-aligned prefix of `len` bits looks at (nft
/// loads only those); `None` for other prefixes or the other family.
fn prefix_bytes(family: Family, addr: IpAddr, len: u8) -> Option<Vec<u8>> {
    let bytes = match (addr, family) {
        (IpAddr::V4(v4), Family::Ip) => v4.octets().to_vec(),
        (IpAddr::V6(v6), Family::Ip6) => v6.octets().to_vec(),
        _ => return None,
    };
    let bits = usize::from(len);
    if bits == 0 || !bits.is_multiple_of(8) || bits > bytes.len() * 8 {
        return None;
    }
    let keep = bits / 8;
    bytes[keep..]
        .iter()
        .all(|b| *b == 0)
        .then(|| bytes[..keep].to_vec())
}

fn lookup(set: &str, dreg: Option<u32>, inverted: bool) -> Expr {
    expr("lookup", |a| {
        a.str(1, set).be32(2, REG_1);
        if let Some(dreg) = dreg {
            a.be32(3, dreg);
        }
        if inverted {
            a.be32(5, LOOKUP_INV);
        }
    })
}

fn numgen(mode: NumgenMode, modulus: u32) -> Expr {
    let mode = match mode {
        NumgenMode::Random => NG_RANDOM,
        NumgenMode::Inc => NG_INC,
    };
    expr("numgen", |a| {
        a.be32(1, REG_1).be32(2, modulus).be32(3, mode);
    })
}

fn immediate(reg: u32, value: &[u8]) -> Expr {
    expr("immediate", |a| {
        a.be32(1, reg);
        data_value(a, 2, value);
    })
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

/// Appends the expressions of one statement.
fn encode_stmt(family: Family, stmt: &Stmt, exprs: &mut Vec<Expr>) -> Result<(), Unsupported> {
    match stmt {
        Stmt::Lookup { keys, set, negate } => {
            load_concat(family, keys, exprs)?;
            exprs.push(lookup(set, None, *negate));
        }
        Stmt::Vmap { keys, map } => {
            load_concat(family, keys, exprs)?;
            exprs.push(lookup(map, Some(REG_VERDICT), false));
        }
        Stmt::AddrNot { selector, net } => {
            let Load::Address { offset, .. } = Load::of(family, *selector)? else {
                return Err(Unsupported::new(format!("{stmt}: not an address")));
            };
            // nft loads only the prefix's bytes.
            let bytes = prefix_bytes(family, net.addr(), net.prefix_len())
                .ok_or_else(|| Unsupported::new(format!("{stmt}: prefix not byte-aligned")))?;
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            exprs.push(payload(PAYLOAD_NETWORK, offset, len, REG_1));
            exprs.push(cmp(CMP_NEQ, &bytes));
        }
        Stmt::Numgen {
            mode,
            modulus,
            value,
        } => {
            exprs.push(numgen(*mode, *modulus));
            exprs.push(cmp_eq(&value.to_ne_bytes()));
        }
        Stmt::FibLocal(addr) => {
            let flags = match addr {
                FibAddr::Saddr => FIB_F_SADDR,
                FibAddr::Daddr => FIB_F_DADDR,
            };
            exprs.push(expr("fib", |a| {
                a.be32(1, REG_1).be32(2, FIB_ADDRTYPE).be32(3, flags);
            }));
            exprs.push(cmp_eq(&RTN_LOCAL.to_ne_bytes()));
        }
        Stmt::L4proto(proto) => {
            exprs.push(meta_load(META_L4PROTO, REG_1));
            exprs.push(cmp_eq(&[proto_number(*proto)]));
        }
        Stmt::MarkAnd { mask, value } => {
            exprs.push(meta_load(META_MARK, REG_1));
            exprs.push(bitwise(*mask, 0));
            exprs.push(cmp_eq(&value.to_ne_bytes()));
        }
        Stmt::CtStateNew | Stmt::CtStatusDnat => {
            let (key, bit) = match stmt {
                Stmt::CtStateNew => (CT_STATE, CT_STATE_NEW),
                _ => (CT_STATUS, CT_STATUS_DNAT),
            };
            exprs.push(ct_load(key));
            exprs.push(bitwise(bit, 0));
            exprs.push(cmp(CMP_NEQ, &0u32.to_ne_bytes()));
        }
        Stmt::MarkOr(bits) | Stmt::MarkXor(bits) => {
            let (mask, xor) = match stmt {
                Stmt::MarkOr(_) => (!bits, *bits),
                _ => (u32::MAX, *bits),
            };
            exprs.push(meta_load(META_MARK, REG_1));
            exprs.push(bitwise(mask, xor));
            exprs.push(expr("meta", |a| {
                a.be32(2, META_MARK).be32(3, REG_1);
            }));
        }
        Stmt::Update { set, key } => {
            exprs.push(Load::of(family, *key)?.load(REG_1));
            exprs.push(expr("dynset", |a| {
                a.str(1, set).be32(3, DYNSET_UPDATE).be32(4, REG_1);
            }));
        }
        Stmt::Dnat(target) => {
            let addr = match (target.ip(), family) {
                (IpAddr::V4(v4), Family::Ip) => v4.octets().to_vec(),
                (IpAddr::V6(v6), Family::Ip6) => v6.octets().to_vec(),
                _ => {
                    return Err(Unsupported::new(format!("{stmt} in an {family} table")));
                }
            };
            exprs.push(immediate(REG_1, &addr));
            exprs.push(immediate(REG_2, &target.port().to_be_bytes()));
            exprs.push(dnat_from(family, REG_2));
        }
        Stmt::DnatMap {
            family: of,
            modulus,
            map,
        } => {
            if *of != family {
                return Err(Unsupported::new(format!("{stmt} in an {family} table")));
            }
            // The endpoint map's value is `addr . port`, loaded into consecutive registers.
            exprs.push(numgen(NumgenMode::Random, *modulus));
            exprs.push(expr("byteorder", |a| {
                a.be32(1, REG_1)
                    .be32(2, REG_1)
                    .be32(3, BYTEORDER_HTON)
                    .be32(4, 4)
                    .be32(5, 4);
            }));
            exprs.push(lookup(map, Some(REG_1), false));
            // The port follows the address: the next 32-bit register after an IPv4
            // address, the next 128-bit one after an IPv6 address.
            let port_reg = match family {
                Family::Ip => REG32_01,
                Family::Ip6 => REG_2,
            };
            exprs.push(dnat_from(family, port_reg));
        }
        Stmt::Masquerade { fully_random } => {
            exprs.push(expr("masq", |a| {
                if *fully_random {
                    a.be32(1, NAT_RANDOM_FULLY);
                }
            }));
        }
        Stmt::Reject => {
            let code = match family {
                Family::Ip => ICMP_PORT_UNREACH,
                Family::Ip6 => ICMPV6_PORT_UNREACH,
            };
            exprs.push(expr("reject", |a| {
                a.be32(1, REJECT_ICMP_UNREACH).bytes(2, &[code]);
            }));
        }
        Stmt::RejectTcpReset => {
            exprs.push(expr("reject", |a| {
                a.be32(1, REJECT_TCP_RST);
            }));
        }
        Stmt::Verdict(verdict) => {
            exprs.push(expr("immediate", |a| {
                a.be32(1, REG_VERDICT);
                verdict_data(a, 2, verdict);
            }));
        }
    }
    Ok(())
}

/// The `NFTA_RULE_EXPRESSIONS` and optional `NFTA_RULE_USERDATA` of `rule` in `family`.
pub(super) fn encode_rule(
    family: Family,
    rule: &Rule,
) -> Result<(Attrs, Option<Vec<u8>>), Unsupported> {
    let mut exprs: Vec<Expr> = Vec::new();
    for stmt in &rule.stmts {
        encode_stmt(family, stmt, &mut exprs)?;
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
    let userdata = match &rule.comment {
        None => None,
        Some(text) => {
            let len = u8::try_from(text.len() + 1)
                .map_err(|_| Unsupported::new("rule comment longer than 254 bytes"))?;
            let mut tlv = vec![UDATA_RULE_COMMENT, len];
            tlv.extend_from_slice(text.as_bytes());
            tlv.push(0);
            Some(tlv)
        }
    };
    Ok((list, userdata))
}

#[cfg(test)]
mod tests;
