//! Netlink message building for nf_tables: little-endian headers, big-endian attribute
//! payloads where the kernel wants network order, nested attributes, 4-byte alignment. Only
//! builds bytes; never touches a socket.

/// `NFNL_SUBSYS_NFTABLES`: the subsystem in the high byte of every message type.
const SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN` / `NFNL_MSG_BATCH_END`.
const BATCH_BEGIN: u16 = 0x10;
const BATCH_END: u16 = 0x11;

/// `NLM_F_REQUEST`.
pub const F_REQUEST: u16 = 0x1;
/// `NLM_F_CREATE`.
pub const F_CREATE: u16 = 0x400;
/// `NLM_F_APPEND`.
pub const F_APPEND: u16 = 0x800;

/// nf_tables message types (`enum nf_tables_msg_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum MsgType {
    /// `NFT_MSG_NEWTABLE`.
    NewTable = 0,
    /// `NFT_MSG_DELTABLE`.
    DelTable = 2,
    /// `NFT_MSG_NEWCHAIN`.
    NewChain = 3,
    /// `NFT_MSG_DELCHAIN`.
    DelChain = 5,
    /// `NFT_MSG_NEWRULE`.
    NewRule = 6,
    /// `NFT_MSG_DELRULE`.
    DelRule = 8,
    /// `NFT_MSG_NEWSET`.
    NewSet = 9,
    /// `NFT_MSG_DELSET`.
    DelSet = 11,
    /// `NFT_MSG_NEWSETELEM`.
    NewSetElem = 12,
    /// `NFT_MSG_DELSETELEM`.
    DelSetElem = 14,
    /// `NFT_MSG_GETGEN`.
    GetGen = 16,
}

/// Attribute payloads and nesting, appended to one buffer.
#[derive(Debug, Default, Clone)]
pub struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    fn header(&mut self, kind: u16, len: usize) {
        // Attribute lengths are u16 by definition; callers keep payloads far below 64 KiB
        // (the batch is capped well under that per message).
        let len = u16::try_from(len + 4).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&kind.to_le_bytes());
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// Raw bytes.
    pub fn bytes(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        self.header(kind, data.len());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, kind: u16, text: &str) -> &mut Self {
        self.header(kind, text.len() + 1);
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(0);
        self.pad();
        self
    }

    /// Already encoded attributes, appended as they are.
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(encoded);
        self
    }

    /// A big-endian u32.
    pub fn be32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    /// A big-endian u64.
    pub fn be64(&mut self, kind: u16, value: u64) -> &mut Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    /// A nested attribute filled by `fill`.
    pub fn nest(&mut self, kind: u16, fill: impl FnOnce(&mut Attrs)) -> &mut Self {
        let start = self.buf.len();
        self.header(kind | NLA_F_NESTED, 0);
        let mut inner = Attrs::default();
        fill(&mut inner);
        self.buf.extend_from_slice(&inner.buf);
        let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
        self.buf[start..start + 2].copy_from_slice(&len.to_le_bytes());
        self
    }

    /// The encoded attributes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// `NLA_F_NESTED`.
const NLA_F_NESTED: u16 = 0x8000;

/// A batch of nf_tables messages: begin, the messages, end.
#[derive(Debug, Clone)]
pub struct Batch {
    buf: Vec<u8>,
    first: u32,
    seq: u32,
    messages: usize,
}

impl Batch {
    /// A batch whose sequence numbers start at `seq`.
    pub fn new(seq: u32) -> Batch {
        let mut batch = Batch {
            buf: Vec::with_capacity(4096),
            first: seq,
            seq,
            messages: 0,
        };
        batch.message(BATCH_BEGIN, F_REQUEST, 0, &[], SUBSYS_NFTABLES);
        batch
    }

    fn message(&mut self, kind: u16, flags: u16, family: u8, attrs: &[u8], res_id: u16) {
        let len = 16 + 4 + attrs.len();
        self.buf
            .extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
        self.buf.extend_from_slice(&kind.to_le_bytes());
        self.buf.extend_from_slice(&flags.to_le_bytes());
        self.buf.extend_from_slice(&self.seq.to_le_bytes());
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        // struct nfgenmsg: family, version, res_id (big endian).
        self.buf.push(family);
        self.buf.push(0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        self.buf.extend_from_slice(attrs);
        self.seq = self.seq.wrapping_add(1);
    }

    /// Appends one nf_tables message for address family `family` (`NFPROTO_*`).
    pub fn push(&mut self, kind: MsgType, flags: u16, family: u8, attrs: Attrs) {
        let kind = (SUBSYS_NFTABLES << 8) | kind as u16;
        self.message(kind, F_REQUEST | flags, family, &attrs.into_bytes(), 0);
        self.messages += 1;
    }

    /// The sequence number of the batch-begin message; message i has `first + 1 + i`.
    pub fn first_seq(&self) -> u32 {
        self.first
    }

    /// Number of nf_tables messages (without begin and end).
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Closes the batch; returns the bytes and the next free sequence number.
    pub fn finish(mut self) -> (Vec<u8>, u32) {
        self.message(BATCH_END, F_REQUEST, 0, &[], SUBSYS_NFTABLES);
        (self.buf, self.seq)
    }

    /// Bytes so far.
    pub fn size(&self) -> usize {
        self.buf.len()
    }
}

/// A lone `NFT_MSG_GETGEN` request with sequence `seq`: its answer comes after every reply to
/// a batch sent before it.
pub fn get_gen(seq: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(20);
    buf.extend_from_slice(&20u32.to_le_bytes());
    buf.extend_from_slice(&((SUBSYS_NFTABLES << 8) | MsgType::GetGen as u16).to_le_bytes());
    buf.extend_from_slice(&F_REQUEST.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_aligned_and_nested_lengths_cover_their_children() {
        let mut attrs = Attrs::default();
        attrs.str(1, "ab").nest(2, |inner| {
            inner.be32(1, 7);
        });
        let bytes = attrs.into_bytes();
        // "ab\0" -> len 7, padded to 8; nest header 4 + child 8 = 12.
        assert_eq!(&bytes[0..4], &[7, 0, 1, 0]);
        assert_eq!(&bytes[4..8], b"ab\0\0");
        assert_eq!(&bytes[8..12], &[12, 0, 2, 0x80]);
        assert_eq!(&bytes[12..16], &[8, 0, 1, 0]);
        assert_eq!(&bytes[16..20], &[0, 0, 0, 7]);
    }

    #[test]
    fn batch_is_framed_by_begin_and_end() {
        let mut batch = Batch::new(100);
        let mut attrs = Attrs::default();
        attrs.str(1, "t");
        batch.push(MsgType::NewTable, F_CREATE, 2, attrs);
        assert_eq!(batch.messages(), 1);
        let (bytes, next) = batch.finish();
        assert_eq!(next, 103);
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), BATCH_BEGIN);
        let second = 20;
        assert_eq!(
            u16::from_le_bytes([bytes[second + 4], bytes[second + 5]]),
            10 << 8
        );
        assert_eq!(&bytes[bytes.len() - 20..bytes.len() - 16], &[20, 0, 0, 0]);
        assert_eq!(
            &bytes[bytes.len() - 16..bytes.len() - 14],
            &[BATCH_END as u8, 0]
        );
    }
}
