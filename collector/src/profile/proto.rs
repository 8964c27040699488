//! The protobuf encoding, only what `profile.proto` needs: varints,
//! length-delimited fields (strings and nested messages) and packed
//! repeated integers.

/// A message being written: fields appended in order.
#[derive(Default)]
pub(crate) struct Message {
    buf: Vec<u8>,
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Message {
    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// An integer field (`uint64`, or `int64` with a non-negative value;
    /// a negative `int64` is its two's complement, as protobuf encodes it).
    /// Zero is left out, as proto3 does.
    pub(crate) fn int(&mut self, field: u32, v: u64) -> &mut Self {
        if v != 0 {
            self.key(field, 0);
            varint(&mut self.buf, v);
        }
        self
    }

    /// A `bool` field; false is left out.
    pub(crate) fn bool(&mut self, field: u32, v: bool) -> &mut Self {
        self.int(field, u64::from(v))
    }

    /// Length-delimited bytes: a string or an encoded message. Written even
    /// when empty (a repeated string such as the string table needs it).
    pub(crate) fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, 2);
        varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// A nested message.
    pub(crate) fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// A packed repeated integer field; nothing if `vs` is empty.
    pub(crate) fn packed(&mut self, field: u32, vs: impl IntoIterator<Item = u64>) -> &mut Self {
        let mut inner = Vec::new();
        for v in vs {
            varint(&mut inner, v);
        }
        if !inner.is_empty() {
            self.bytes(field, &inner);
        }
        self
    }

    /// The encoded message.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_protobufs() {
        let mut m = Message::default();
        m.int(1, 150);
        assert_eq!(
            m.into_bytes(),
            [0x08, 0x96, 0x01],
            "the protobuf guide's example"
        );
        let mut m = Message::default();
        m.bytes(2, b"testing");
        assert_eq!(m.into_bytes(), b"\x12\x07testing");
        let mut m = Message::default();
        m.packed(4, [3, 270, 86942]);
        assert_eq!(
            m.into_bytes(),
            [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]
        );
        let mut m = Message::default();
        m.int(1, 0).bool(2, false);
        assert!(m.into_bytes().is_empty(), "defaults are left out");
    }
}
