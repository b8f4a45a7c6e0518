//! `NEWSET` bodies from typed [`SetSpec`]s: sets and verdict maps keyed by addresses,
//! protocols, ports and their concatenations (`type ipv4_addr . inet_proto . inet_service :
//! verdict ; comment …`, `type ipv4_addr ; flags interval`, affinity sets with
//! `flags dynamic,timeout`), and endpoint maps
//! (`typeof numgen random mod N : ip daddr . tcp dport ; flags interval ; comment …`).
//! Every set type the transaction accepts is encoded; only user data too long for its
//! one-byte length (a comment over 253 bytes) is [`Unsupported`] and goes through `nft`.
//!
//! An endpoint map's `typeof` lives only in the set's user data, which the kernel stores and
//! `nft list` reads back to print the types. We write it the way nft 1.0.6 does (checked
//! byte for byte against its batch, and by `tests/nft_kernel.rs`, which lists tables built by
//! both paths): little-endian u32 values in one-byte type / one-byte length records.

use std::time::Duration;

use super::Unsupported;
use super::wire::Attrs;
use crate::model::Protocol;
use crate::nft::ast::{DataType, KeyType, SetFlag, ValueType};
use crate::nft::transaction::{Family, SetSpec, TableId};

// `NFT_SET_*` flags.
const SET_INTERVAL: u32 = 0x4;
const SET_MAP: u32 = 0x8;
const SET_TIMEOUT: u32 = 0x10;
const SET_EVAL: u32 = 0x20;

// nft's data type numbers; a concatenation is `(first << 6) | second`.
const TYPE_INTEGER: u32 = 4;
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_INET_PROTO: u32 = 12;
const TYPE_INET_SERVICE: u32 = 13;
/// `NFT_DATA_VERDICT`: a verdict map's data type.
const DATA_VERDICT: u32 = 0xffff_ff00;

// nft's user-data records (`NFTNL_UDATA_SET_*`).
const UDATA_KEY_BYTEORDER: u8 = 0;
const UDATA_DATA_BYTEORDER: u8 = 1;
const UDATA_KEY_TYPEOF: u8 = 3;
const UDATA_DATA_TYPEOF: u8 = 4;
const UDATA_DATA_INTERVAL: u8 = 6;
const UDATA_COMMENT: u8 = 7;
/// `BYTEORDER_HOST_ENDIAN`: the numgen key.
const HOST_ENDIAN: u32 = 1;

// Expression kinds and fields as nft records them in `typeof` user data.
const EXPR_PAYLOAD: u32 = 7;
const EXPR_CONCAT: u32 = 13;
const EXPR_NUMGEN: u32 = 23;
const NUMGEN_RANDOM: u32 = 1;
const DESC_IP: u32 = 12;
const DESC_IP6: u32 = 13;
const IP_DADDR: u32 = 12;
const IP6_DADDR: u32 = 9;
const DESC_TCP: u32 = 8;
const DESC_UDP: u32 = 6;
const DESC_SCTP: u32 = 10;
const TRANSPORT_DPORT: u32 = 2;

/// The `NEWSET` attributes for `spec`, created as set `id` of the batch.
pub(super) fn message(
    table: TableId,
    name: &str,
    spec: &SetSpec,
    id: u32,
) -> Result<Attrs, Unsupported> {
    let mut attrs = Attrs::default();
    attrs.str(1, &table.name()).str(2, name);
    match (&spec.key_type, spec.value_type) {
        (KeyType::Type(types), None | Some(ValueType::Verdict)) => {
            typed_set(&mut attrs, types, spec)?;
        }
        (KeyType::NumgenRandom { modulus }, Some(ValueType::DaddrDport { family, proto }))
            if family == table.family =>
        {
            endpoint_map(&mut attrs, family, proto, *modulus, spec)?;
        }
        _ => {
            return Err(Unsupported::new(format!(
                "set {name}: {} in an {} table",
                spec.key_type, table.family
            )));
        }
    }
    attrs.be32(10, id);
    Ok(attrs)
}

/// A data type's nft type number and length in a concatenated key (padded to registers).
fn type_number(t: DataType) -> (u32, u32) {
    match t {
        DataType::Ipv4Addr => (TYPE_IPADDR, 4),
        DataType::Ipv6Addr => (TYPE_IP6ADDR, 16),
        // Protocols and ports take a whole 32-bit register in a concatenation.
        DataType::InetProto => (TYPE_INET_PROTO, 4),
        DataType::InetService => (TYPE_INET_SERVICE, 4),
    }
}

/// The `NFT_SET_*` bit of a flag.
fn flag_bit(flag: SetFlag) -> u32 {
    match flag {
        SetFlag::Dynamic => SET_EVAL,
        SetFlag::Timeout => SET_TIMEOUT,
        SetFlag::Interval => SET_INTERVAL,
    }
}

/// A `type …` set or verdict map: key type (a concatenation is `(first << 6) | next`, the
/// length the sum of the padded lengths), flags, timeout, and the comment as user data.
fn typed_set(attrs: &mut Attrs, types: &[DataType], spec: &SetSpec) -> Result<(), Unsupported> {
    let mut key_type = 0;
    let mut key_len = 0;
    for t in types {
        let (kind, len) = type_number(*t);
        key_type = (key_type << 6) | kind;
        key_len += len;
    }
    if let [one] = types {
        // A lone protocol or port is its own length, not a register's.
        key_len = match one {
            DataType::InetProto => 1,
            DataType::InetService => 2,
            DataType::Ipv4Addr | DataType::Ipv6Addr => key_len,
        };
    }
    let mut flags = 0;
    if spec.value_type.is_some() {
        flags |= SET_MAP;
    }
    for flag in &spec.flags {
        flags |= flag_bit(*flag);
    }
    attrs.be32(3, flags).be32(4, key_type).be32(5, key_len);
    if flags & SET_MAP != 0 {
        attrs.be32(6, DATA_VERDICT);
    }
    if let Some(timeout) = spec.timeout {
        attrs.be64(11, timeout_ms(timeout));
    }
    if flags & SET_EVAL != 0 {
        // nft gives dynamic sets this size when none is set; match it so both paths agree.
        attrs.nest(9, |desc| {
            desc.be32(1, 65535);
        });
    }
    if let Some(comment) = spec.comment.as_deref().filter(|c| !c.is_empty()) {
        let mut text = comment.as_bytes().to_vec();
        text.push(0);
        let mut udata = Vec::new();
        record(&mut udata, UDATA_COMMENT, &text)?;
        attrs.bytes(13, &udata);
    }
    Ok(())
}

fn timeout_ms(timeout: Duration) -> u64 {
    // nft reads `Ns` timeouts: whole seconds, at least one (render.rs does the same).
    timeout.as_secs().max(1) * 1000
}

/// An endpoint map: key `numgen random mod N`, data `ADDR . PORT`, its flags (interval),
/// commented.
fn endpoint_map(
    attrs: &mut Attrs,
    family: Family,
    proto: Protocol,
    modulus: u32,
    spec: &SetSpec,
) -> Result<(), Unsupported> {
    if spec.flags != [SetFlag::Interval] || spec.timeout.is_some() {
        // Not a shape the generator builds; nft knows how to declare it.
        return Err(Unsupported::new(format!(
            "endpoint map with flags {:?} and timeout {:?}",
            spec.flags, spec.timeout
        )));
    }
    let proto_desc = match proto {
        Protocol::Tcp => DESC_TCP,
        Protocol::Udp => DESC_UDP,
        Protocol::Sctp => DESC_SCTP,
    };
    let (addr_type, addr_len, addr_desc, addr_field) = match family {
        Family::Ip => (TYPE_IPADDR, 4, DESC_IP, IP_DADDR),
        Family::Ip6 => (TYPE_IP6ADDR, 16, DESC_IP6, IP6_DADDR),
    };
    let comment = spec.comment.as_deref().unwrap_or_default();
    let mut udata = Vec::with_capacity(128);
    record(&mut udata, UDATA_KEY_BYTEORDER, &HOST_ENDIAN.to_le_bytes())?;
    record(&mut udata, UDATA_DATA_BYTEORDER, &0u32.to_le_bytes())?;
    let mut numgen = Vec::new();
    record(&mut numgen, 0, &NUMGEN_RANDOM.to_le_bytes())?;
    record(&mut numgen, 1, &modulus.to_le_bytes())?;
    record(&mut numgen, 2, &0u32.to_le_bytes())?;
    record(
        &mut udata,
        UDATA_KEY_TYPEOF,
        &typeof_expr(EXPR_NUMGEN, &numgen)?,
    )?;
    let mut concat = Vec::new();
    record(&mut concat, 0, &payload(addr_desc, addr_field)?)?;
    record(&mut concat, 1, &payload(proto_desc, TRANSPORT_DPORT)?)?;
    record(
        &mut udata,
        UDATA_DATA_TYPEOF,
        &typeof_expr(EXPR_CONCAT, &concat)?,
    )?;
    record(&mut udata, UDATA_DATA_INTERVAL, &0u32.to_le_bytes())?;
    if !comment.is_empty() {
        let mut text = comment.as_bytes().to_vec();
        text.push(0);
        record(&mut udata, UDATA_COMMENT, &text)?;
    }
    attrs
        .be32(3, SET_INTERVAL | SET_MAP)
        .be32(4, TYPE_INTEGER)
        .be32(5, 4)
        .be32(6, (addr_type << 6) | TYPE_INET_SERVICE)
        // The port takes a whole 32-bit register in a concatenation.
        .be32(7, addr_len + 4)
        .bytes(13, &udata);
    Ok(())
}

/// One user-data record: type, length, value (nft's `nftnl_udata` layout).
fn record(out: &mut Vec<u8>, kind: u8, value: &[u8]) -> Result<(), Unsupported> {
    let len = u8::try_from(value.len())
        .map_err(|_| Unsupported::new("set user data record longer than 255 bytes"))?;
    out.push(kind);
    out.push(len);
    out.extend_from_slice(value);
    Ok(())
}

/// A `typeof` expression record: its kind, then its own records.
fn typeof_expr(kind: u32, inner: &[u8]) -> Result<Vec<u8>, Unsupported> {
    let mut out = Vec::new();
    record(&mut out, 0, &kind.to_le_bytes())?;
    record(&mut out, 1, inner)?;
    Ok(out)
}

/// A header field (`ip daddr`, `tcp dport`): a payload expression of protocol `desc`.
fn payload(desc: u32, field: u32) -> Result<Vec<u8>, Unsupported> {
    let mut fields = Vec::new();
    record(&mut fields, 0, &desc.to_le_bytes())?;
    record(&mut fields, 1, &field.to_le_bytes())?;
    typeof_expr(EXPR_PAYLOAD, &fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_spec(family: Family, comment: &str) -> SetSpec {
        SetSpec {
            key_type: KeyType::NumgenRandom { modulus: 65536 },
            value_type: Some(ValueType::DaddrDport {
                family,
                proto: Protocol::Tcp,
            }),
            flags: vec![SetFlag::Interval],
            timeout: None,
            comment: Some(comment.into()),
        }
    }

    /// The user data nft 1.0.6 sends for
    /// `typeof numgen random mod 65536 : ip daddr . tcp dport ; … comment "ns/a/tcp/80"`.
    const NFT_IP_TCP_UDATA: &[u8] = b"\x00\x04\x01\x00\x00\x00\x01\x04\x00\x00\x00\x00\x03\x1a\
        \x00\x04\x17\x00\x00\x00\x01\x12\x00\x04\x01\x00\x00\x00\x01\x04\x00\x00\x01\x00\x02\x04\
        \x00\x00\x00\x00\x04\x34\x00\x04\x0d\x00\x00\x00\x01\x2c\x00\x14\x00\x04\x07\x00\x00\x00\
        \x01\x0c\x00\x04\x0c\x00\x00\x00\x01\x04\x0c\x00\x00\x00\x01\x14\x00\x04\x07\x00\x00\x00\
        \x01\x0c\x00\x04\x08\x00\x00\x00\x01\x04\x02\x00\x00\x00\x06\x04\x00\x00\x00\x00\x07\x0c\
        ns/a/tcp/80\x00";

    #[test]
    fn endpoint_map_user_data_matches_nft() -> Result<(), Unsupported> {
        let table = TableId::main(Family::Ip);
        let spec = endpoint_spec(Family::Ip, "ns/a/tcp/80");
        let attrs = message(table, "ep-A", &spec, 1)?.into_bytes();
        assert!(
            attrs
                .windows(NFT_IP_TCP_UDATA.len())
                .any(|w| w == NFT_IP_TCP_UDATA),
            "{attrs:02x?}"
        );
        Ok(())
    }

    #[test]
    fn concatenated_keys_sum_padded_lengths() -> Result<(), Unsupported> {
        let table = TableId::main(Family::Ip);
        let spec = SetSpec {
            key_type: KeyType::of([DataType::InetProto, DataType::InetService]),
            value_type: Some(ValueType::Verdict),
            flags: Vec::new(),
            timeout: None,
            comment: None,
        };
        let attrs = message(table, "m", &spec, 1)?.into_bytes();
        // NFTA_SET_KEY_TYPE (4): inet_proto << 6 | inet_service; NFTA_SET_KEY_LEN (5): 8.
        let key_type = [8, 0, 4, 0, 0, 0, 3, 13];
        let key_len = [8, 0, 5, 0, 0, 0, 0, 8];
        assert!(attrs.windows(8).any(|w| w == key_type), "{attrs:02x?}");
        assert!(attrs.windows(8).any(|w| w == key_len), "{attrs:02x?}");
        Ok(())
    }

    #[test]
    fn mismatched_or_unbuilt_shapes_are_unsupported() {
        let table = TableId::main(Family::Ip);
        let wrong_family = endpoint_spec(Family::Ip6, "x");
        assert!(message(table, "ep-A", &wrong_family, 1).is_err());
        let timed = SetSpec {
            timeout: Some(Duration::from_secs(5)),
            ..endpoint_spec(Family::Ip, "x")
        };
        assert!(message(table, "ep-A", &timed, 1).is_err());
        let data_map = SetSpec {
            key_type: KeyType::of([DataType::InetProto]),
            ..endpoint_spec(Family::Ip, "x")
        };
        assert!(message(table, "m", &data_map, 1).is_err());
        let long_comment = endpoint_spec(Family::Ip, &"c".repeat(300));
        assert!(message(table, "ep-A", &long_comment, 1).is_err());
    }
}
